//! PostgreSQL sources: a consistent snapshot of every table of a connection, then every committed
//! change through logical replication, applied one upstream transaction at a time.
//!
//! - **Gap-free start.** The replication slot is created on a replication session with an
//!   exported snapshot; every table is copied (`COPY`) inside one REPEATABLE READ transaction set
//!   to that snapshot, and streaming starts at the slot's consistent point. Every transaction is
//!   therefore either in the snapshot or in the stream, never both or neither. The copy goes to
//!   spool files first and is applied in one store transaction, so the API never shows half a
//!   snapshot and a crash during it leaves nothing behind (the next start takes a new one).
//! - **Exactly once.** A connection's position in the store is the end LSN of the last applied
//!   transaction, committed with the transaction's results. After a restart the stream resumes
//!   from there, and transactions at or before it are skipped. The server is told a position is
//!   flushed only after the store commit that contains it, so the slot keeps every WAL record that
//!   is not applied yet.
//! - **Whole transactions.** Changes are collected until their transaction's commit and then
//!   delivered whole; several small ones may share a store transaction, one is never split.
//! - **Old rows.** Each table's rows are mirrored in the store ([`mirror`]), so updates and deletes
//!   retract what the pipeline saw even when the stream carries only keys (or leaves unchanged
//!   TOAST values out).
//! - **Failures.** Problems that need the user (wrong `wal_level`, missing privileges or tables,
//!   too weak a REPLICA IDENTITY, no free replication slot) stop the app with what to run. A lost
//!   connection later is retried with backoff, each attempt logged, from the committed position.
//!
//! The connection's I/O runs on a thread with its own tokio runtime ([`worker`]); it hands whole
//! transactions to the runner through a bounded channel and wakes it.

mod connection;
mod delivery;
pub mod pgoutput;
pub mod text;
mod tuples;
mod worker;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use dozer_types::Value;
use heed::{Env, RwTxn, WithoutTls};

pub use self::connection::{lsn_text, quote, PgConnection, PgPosition, PgTable};
use self::delivery::{Delivery, Transaction};
use super::chunk::{Chunk, RawRecord, SourceError};
use super::interface::{Sink, Source};
use super::mirror::{apply_changes, Mirror, RowChange, Shape};
use super::wake::Wake;
use crate::codec::{Decode, Encode, Reader};
use crate::error::OpError;
use crate::weight::Weight;

impl PgConnection {
    /// Drops this app's replication slot and publication on the server (the app is retired).
    /// Returns what was done, a line per object.
    pub fn retire(&self) -> Result<Vec<String>, SourceError> {
        worker::retire(self, &self.password()?)
    }
}

/// What one store transaction applies of a connection.
pub enum PgBatch {
    Snapshot {
        files: Vec<(usize, PathBuf)>,
        lsn: u64,
    },
    Transactions(Vec<Transaction>),
}

impl PgBatch {
    /// The position after the batch.
    pub fn end(&self) -> u64 {
        match self {
            PgBatch::Snapshot { lsn, .. } => *lsn,
            PgBatch::Transactions(t) => t.last().map_or(0, |t| t.end_lsn),
        }
    }

    /// Records in the batch (snapshot: unknown until read, so 0).
    pub fn records(&self) -> usize {
        match self {
            PgBatch::Snapshot { .. } => 0,
            PgBatch::Transactions(t) => t.iter().map(|t| t.changes.len()).sum(),
        }
    }
}

/// Rows per chunk handed to the pipeline while a snapshot is applied.
const SNAPSHOT_CHUNK: usize = 10_000;

/// The tables of one connection, as the runner drives them.
pub struct PgSource {
    connection: PgConnection,
    /// Where the store keeps the connection's position.
    key: String,
    /// The batch next to apply (see [`Source`]).
    ready: Option<PgBatch>,
    /// (source index in the app, table).
    tables: Vec<(usize, PgTable)>,
    mirrors: Vec<Mirror>,
    position: Option<PgPosition>,
    spool: PathBuf,
    rx: Option<std::sync::mpsc::Receiver<Result<Delivery, SourceError>>>,
    /// The end LSN of the last transaction the store committed (the worker reports it flushed).
    committed: Arc<AtomicU64>,
    /// Rows of each table copied by a snapshot not applied yet.
    copied: Arc<Vec<AtomicU64>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    wake: Wake,
    caught_up: bool,
    /// A transaction received but not applied yet (it did not fit the last batch).
    held: Option<Transaction>,
}

impl PgSource {
    /// The position key of a connection in the store.
    pub fn key_of(connection: &PgConnection) -> String {
        format!("postgres:{}", connection.name)
    }

    /// Opens the tables of one connection (source index in the app, table) from the connection's
    /// committed position (`None`: no snapshot applied yet). Replication starts at the first
    /// [`Source::next_batch`].
    pub fn open(
        env: &Env<WithoutTls>,
        txn: &mut RwTxn,
        tables: Vec<(usize, PgTable)>,
        committed: Option<&[u8]>,
        spool: PathBuf,
        wake: Wake,
    ) -> Result<PgSource, OpError> {
        let connection = tables[0].1.connection.clone();
        let position = match committed {
            Some(bytes) => Some(PgPosition::decode(&mut Reader::new(bytes))?),
            None => None,
        };
        let count = tables.len();
        let mirrors = tables
            .iter()
            .map(|(_, t)| {
                Mirror::open(
                    env,
                    txn,
                    &format!("postgres.rows.{}.{}", connection.name, t.display()),
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(PgSource {
            key: Self::key_of(&connection),
            ready: None,
            connection,
            tables,
            mirrors,
            position,
            spool,
            rx: None,
            committed: Arc::new(AtomicU64::new(position.map_or(0, |p| p.lsn))),
            copied: Arc::new((0..count).map(|_| AtomicU64::new(0)).collect()),
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
            wake,
            caught_up: false,
            held: None,
        })
    }

    pub fn connection(&self) -> &PgConnection {
        &self.connection
    }

    pub fn position(&self) -> Option<PgPosition> {
        self.position
    }

    /// Whether everything the server had when streaming started has been applied.
    pub fn caught_up(&self) -> bool {
        self.caught_up && self.held.is_none()
    }

    fn start(&mut self) -> Result<(), SourceError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(64);
        let job = worker::Job {
            connection: self.connection.clone(),
            password: self.connection.password()?,
            tables: self.tables.iter().map(|(_, t)| t.clone()).collect(),
            position: self.position.map(|p| p.lsn),
            spool: self.spool.clone(),
            committed: self.committed.clone(),
            copied: self.copied.clone(),
            stop: self.stop.clone(),
            wake: self.wake.clone(),
            tx,
        };
        let thread = std::thread::Builder::new()
            .name(format!("postgres {}", self.connection.name))
            .spawn(move || worker::run(job))
            .map_err(|e| SourceError {
                file: None,
                line: None,
                message: format!("cannot start the PostgreSQL thread: {e}"),
            })?;
        self.rx = Some(rx);
        self.thread = Some(thread);
        Ok(())
    }

    /// The next batch: the snapshot, or the transactions received so far (at most about
    /// `max_records` changes, but never part of one). `None` while nothing new is there.
    fn receive(&mut self, max_records: usize) -> Result<Option<PgBatch>, SourceError> {
        if self.rx.is_none() {
            self.start()?;
        }
        let mut txns: Vec<Transaction> = self.held.take().into_iter().collect();
        let mut records: usize = txns.iter().map(|t| t.changes.len()).sum();
        let rx = self.rx.as_ref().ok_or_else(|| gone(&self.connection))?;
        while records < max_records {
            match rx.try_recv() {
                Ok(Ok(Delivery::Snapshot { files, lsn })) => {
                    if !txns.is_empty() {
                        return Err(SourceError {
                            file: None,
                            line: None,
                            message: "internal error: a snapshot arrived after streamed changes"
                                .into(),
                        });
                    }
                    return Ok(Some(PgBatch::Snapshot { files, lsn }));
                }
                Ok(Ok(Delivery::Transaction(t))) => {
                    if records > 0 && records + t.changes.len() > max_records {
                        self.held = Some(t);
                        break;
                    }
                    records += t.changes.len();
                    txns.push(t);
                }
                Ok(Ok(Delivery::CaughtUp)) => self.caught_up = true,
                Ok(Err(e)) => return Err(e),
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    return Err(gone(&self.connection))
                }
            }
        }
        Ok((!txns.is_empty()).then_some(PgBatch::Transactions(txns)))
    }

    /// Applies a batch inside the store transaction: the mirrors follow it and the pipeline gets
    /// each table's weighted rows (`apply(source, chunk)`). Re-runnable (the store may run a batch
    /// again after growing its map).
    fn apply_batch<E: From<SourceError> + From<OpError>>(
        &self,
        txn: &mut RwTxn,
        batch: &PgBatch,
        apply: &mut Sink<'_, E>,
    ) -> Result<u64, E> {
        let mut applied = 0u64;
        match batch {
            PgBatch::Snapshot { files, .. } => {
                for (table, path) in files {
                    let (source, t) = &self.tables[*table];
                    let shape = Shape {
                        name: &t.display(),
                        types: &t.types,
                        primary_key: &t.primary_key,
                    };
                    let file = std::fs::File::open(path).map_err(|e| spool_error(path, e))?;
                    let mut rows = vec![];
                    let mut line_no = 0u64;
                    for line in std::io::BufRead::split(std::io::BufReader::new(file), b'\n') {
                        let line = line.map_err(|e| spool_error(path, e))?;
                        line_no += 1;
                        let fields =
                            text::copy_fields(&line).map_err(|m| copy_error(t, line_no, m))?;
                        if fields.len() != t.types.len() {
                            return Err(copy_error(
                                t,
                                line_no,
                                format!(
                                    "{} fields, the source has {} columns",
                                    fields.len(),
                                    t.types.len()
                                ),
                            )
                            .into());
                        }
                        let values = fields
                            .iter()
                            .zip(&t.types)
                            .map(|(f, ty)| match f {
                                None => Ok(Some(Value::Null)),
                                Some(text) => text::value(*ty, text).map(Some),
                            })
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(|m| copy_error(t, line_no, m))?;
                        self.mirrors[*table].apply(
                            txn,
                            &shape,
                            RowChange::Insert(values),
                            &mut rows,
                        )?;
                        if rows.len() >= SNAPSHOT_CHUNK {
                            applied += rows.len() as u64;
                            apply(txn, *source, &chunk(t, 0, std::mem::take(&mut rows)))?;
                        }
                    }
                    applied += rows.len() as u64;
                    apply(txn, *source, &chunk(t, 0, rows))?;
                }
            }
            PgBatch::Transactions(txns) => {
                // Each table's shape once per batch, not per change (its name is formatted).
                let names: Vec<String> = self.tables.iter().map(|(_, t)| t.display()).collect();
                let shapes: Vec<Shape<'_>> = self
                    .tables
                    .iter()
                    .zip(&names)
                    .map(|((_, t), name)| Shape {
                        name,
                        types: &t.types,
                        primary_key: &t.primary_key,
                    })
                    .collect();
                let per_table = apply_changes(
                    txn,
                    &self.mirrors,
                    &shapes,
                    txns.iter().flat_map(|t| &t.changes),
                )?;
                let end = batch.end();
                for (table, rows) in per_table.into_iter().enumerate() {
                    if rows.is_empty() {
                        continue;
                    }
                    applied += rows.len() as u64;
                    let (source, t) = &self.tables[table];
                    apply(txn, *source, &chunk(t, end, rows))?;
                }
            }
        }
        Ok(applied)
    }

    /// After the store committed `batch`: the new position, reported to the server as flushed.
    fn committed(&mut self, batch: &PgBatch) {
        let end = batch.end();
        self.position = Some(PgPosition { lsn: end });
        self.committed.fetch_max(end, Ordering::SeqCst);
        if let PgBatch::Snapshot { files, .. } = batch {
            self.copied
                .iter()
                .for_each(|n| n.store(0, Ordering::Relaxed));
            for (_, path) in files {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

impl<E: From<SourceError> + From<OpError>> Source<E> for PgSource {
    fn position_key(&self) -> &str {
        &self.key
    }

    fn next_batch(&mut self, max_records: usize) -> Result<bool, SourceError> {
        if self.ready.is_none() {
            self.ready = self.receive(max_records)?;
        }
        Ok(self.ready.is_some())
    }

    fn batch_position(&self) -> Vec<u8> {
        let mut out = vec![];
        if let Some(batch) = &self.ready {
            PgPosition { lsn: batch.end() }.encode(&mut out);
        }
        out
    }

    fn apply(&self, txn: &mut RwTxn, sink: &mut Sink<'_, E>) -> Result<u64, E> {
        match &self.ready {
            Some(batch) => self.apply_batch(txn, batch, sink),
            None => Ok(0),
        }
    }

    fn acknowledge(&mut self) {
        if let Some(batch) = self.ready.take() {
            self.committed(&batch);
        }
    }

    fn busy(&self) -> bool {
        !self.caught_up()
    }

    fn reading_ahead(&self) -> Vec<(usize, u64)> {
        self.tables
            .iter()
            .zip(self.copied.iter())
            .map(|((s, _), n)| (*s, n.load(Ordering::Relaxed)))
            .collect()
    }

    fn describe(&self, committed: Option<&[u8]>) -> Result<Vec<(usize, String)>, SourceError> {
        let position = match committed {
            Some(bytes) => {
                Some(
                    PgPosition::decode(&mut Reader::new(bytes)).map_err(|e| SourceError {
                        file: None,
                        line: None,
                        message: format!(
                            "the stored position of connection `{}` is unreadable: {e}",
                            self.connection.name
                        ),
                    })?,
                )
            }
            None => None,
        };
        Ok(self
            .tables
            .iter()
            .map(|(source, t)| {
                let text = match position {
                    Some(p) => format!(
                        "{} replicated up to LSN {} (slot `{}`)",
                        t.display(),
                        lsn_text(p.lsn),
                        t.connection.slot
                    ),
                    None => format!("{}: no snapshot yet", t.display()),
                };
                (*source, text)
            })
            .collect())
    }
}

impl Drop for PgSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.rx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn gone(c: &PgConnection) -> SourceError {
    SourceError {
        file: None,
        line: None,
        message: format!("the PostgreSQL thread of connection `{}` ended", c.name),
    }
}

fn spool_error(path: &std::path::Path, e: std::io::Error) -> SourceError {
    SourceError {
        file: Some(path.to_path_buf()),
        line: None,
        message: format!("reading the snapshot spool: {e}"),
    }
}

fn copy_error(t: &PgTable, line: u64, message: String) -> SourceError {
    SourceError {
        file: None,
        line: None,
        message: format!("snapshot of {}, row {line}: {message}", t.display()),
    }
}

/// Weighted rows as a chunk for the generated parser (rows of Values, like Parquet's).
fn chunk(t: &PgTable, lsn: u64, rows: Vec<(Vec<Value>, Weight)>) -> Chunk {
    let (records, weights): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .map(|(values, w)| ((lsn, RawRecord::Values(values)), w))
        .unzip();
    Chunk {
        origin: Arc::from(format!("postgres {} at LSN {}", t.display(), lsn_text(lsn)).as_str()),
        records,
        weights,
    }
}
