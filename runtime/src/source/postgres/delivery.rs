//! What the replication thread ([`super::worker`]'s) hands the runner's side: a snapshot's spool
//! files, then whole upstream transactions.

use std::path::PathBuf;

use crate::source::mirror::RowChange;

/// One upstream transaction: its changes in order, by table (an index into the connection's
/// tables).
#[derive(Debug)]
pub struct Transaction {
    pub end_lsn: u64,
    /// Commit time, microseconds since the Unix epoch.
    pub commit_time_us: i64,
    pub changes: Vec<(usize, RowChange)>,
}

/// What the worker hands the runner.
#[derive(Debug)]
pub enum Delivery {
    /// Every table's rows (spool files of COPY's text format, by table) consistent with `lsn`.
    Snapshot {
        files: Vec<(usize, PathBuf)>,
        lsn: u64,
    },
    Transaction(Transaction),
    /// Everything the server had when streaming started has been delivered (`run --once`).
    CaughtUp,
}
