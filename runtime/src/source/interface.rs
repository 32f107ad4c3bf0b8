//! The interface every connector implements, so the runner drives them all alike.
//!
//! A source reads on its own (a replication thread, a directory it polls) and hands the runner
//! one batch at a time. The runner asks for the next batch ([`Source::next_batch`]), applies its
//! chunks to the pipeline ([`Source::apply`]) and stores the position after it
//! ([`Source::batch_position`]) in one write transaction, then tells the source the batch is
//! committed ([`Source::acknowledge`]; a replication source reports it flushed upstream only
//! then). A position is the source's own type — an LSN, a binlog file and offset — stored encoded
//! under [`Source::position_key`]; what does not fit one value (a file table's state per file) the
//! source writes to a database of its own in [`Source::apply`], in the same transaction. Each
//! source is opened again from the position it last committed: after any crash it resumes
//! exactly after the last committed batch.
//!
//! `E` is the runner's error type; the source's own failures convert into it, so the interface
//! does not depend on the pipeline that consumes it.

use heed::RwTxn;

use super::chunk::{Chunk, SourceError};
use crate::error::OpError;

/// What a source's batch is handed to, chunk by chunk: the app source (table) each chunk belongs
/// to, and its records.
pub type Sink<'a, E> = dyn FnMut(&mut RwTxn, usize, &Chunk) -> Result<(), E> + 'a;

/// A source of records with an exact, committable position.
pub trait Source<E: From<SourceError> + From<OpError>>: Send {
    /// The key the store keeps this source's committed position under.
    fn position_key(&self) -> &str;

    /// Makes the next batch ready, of about `max_records` records at most; `false` when there is
    /// nothing to apply now. A ready batch stays ready until it is acknowledged.
    fn next_batch(&mut self, max_records: usize) -> Result<bool, SourceError>;

    /// The position after the ready batch, encoded.
    fn batch_position(&self) -> Vec<u8>;

    /// Hands the ready batch to `sink` inside the store's write transaction, and returns how many
    /// records it held. It may run more than once for one batch (the store runs a transaction
    /// again after growing its map), and must hand the same records each time.
    fn apply(&self, txn: &mut RwTxn, sink: &mut Sink<'_, E>) -> Result<u64, E>;

    /// The ready batch was committed together with its position.
    fn acknowledge(&mut self);

    /// Whether the source has nothing more for now although it is not caught up yet (a snapshot
    /// being copied, a stream not yet at the server's position).
    fn busy(&self) -> bool {
        false
    }

    /// Records read ahead but not applied yet, by app source (for progress).
    fn reading_ahead(&self) -> Vec<(usize, u64)> {
        vec![]
    }

    /// Where each app source it feeds stands, for people (`info`), given its committed position
    /// (`None`: nothing committed yet).
    fn describe(&self, committed: Option<&[u8]>) -> Result<Vec<(usize, String)>, SourceError>;

    /// Nothing more will be written to the source (`run --once` on files): what looks unfinished
    /// at its end is read as it is.
    fn reading_as_it_is(&mut self) {}
}
