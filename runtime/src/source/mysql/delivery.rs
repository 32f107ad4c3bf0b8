//! What the binlog thread ([`super::worker`]'s) hands the runner's side: a snapshot's spool
//! files, then whole source transactions.

use std::path::PathBuf;

use super::connection::BinlogPosition;
use crate::source::mirror::RowChange;

/// One source transaction: its changes in order, by table (an index into the connection's
/// tables), and the binlog position after its commit.
#[derive(Debug)]
pub struct Transaction {
    pub end: BinlogPosition,
    pub changes: Vec<(usize, RowChange)>,
}

/// What the worker hands the runner.
#[derive(Debug)]
pub enum Delivery {
    /// Every table's rows (spool files of encoded rows, by table) consistent with `position`.
    Snapshot {
        files: Vec<(usize, PathBuf)>,
        position: BinlogPosition,
    },
    Transaction(Transaction),
    /// Everything the server had when streaming started has been delivered (`run --once`).
    CaughtUp,
}
