//! MySQL and MariaDB sources: a consistent snapshot of every table of a connection tied to its
//! binlog position, then every committed change from the row-based binlog, applied one source
//! transaction at a time.
//!
//! - **Gap-free start.** The tables are copied inside one `START TRANSACTION WITH CONSISTENT
//!   SNAPSHOT` whose binlog position the server reports (MariaDB's `binlog_snapshot_file` and
//!   `binlog_snapshot_position`, lock-free; on MySQL the position is read under a brief
//!   `FLUSH TABLES WITH READ LOCK`). The binlog is read from exactly there, so every
//!   transaction is either in the snapshot or in the stream, never both or neither. The copy
//!   goes to spool files and is applied in one store transaction, so the API never shows half a
//!   snapshot, and a crash during it leaves nothing behind (the next start takes a new one).
//! - **Exactly once.** A connection's position in the store is the binlog file and offset after
//!   the last applied transaction's commit (`XID` event, or `COMMIT` for non-transactional
//!   tables), committed with the transaction's results. After any restart the stream resumes
//!   from there: no transaction is applied twice or skipped, and no new snapshot is taken.
//! - **Whole transactions.** Row events are collected until their transaction's commit and then
//!   delivered whole; several may share a store transaction, one is never split, so a
//!   transaction over several tables is never half visible.
//! - **Old rows.** The binlog carries whole old rows (`binlog_row_image=FULL`), but decoded from
//!   another encoding than the snapshot's; each table's rows are mirrored in the store
//!   ([`mirror`](super::mirror)), so updates and deletes retract exactly what the pipeline saw.
//! - **Failures.** Settings and privileges the stream needs (`log_bin`, `binlog_format=ROW`,
//!   `binlog_row_image=FULL`, REPLICATION SLAVE/CLIENT), missing tables, a purged binlog and
//!   schema changes stop the app with what to run. A lost connection later is retried with
//!   backoff, each attempt logged, from the last delivered position.
//!
//! The connection's I/O runs on a thread with its own tokio runtime ([`worker`]); it hands whole
//! transactions to the runner through a bounded channel and wakes it.

mod connection;
mod delivery;
mod spool;
pub mod value;
mod worker;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use dozer_types::Value;
use heed::{Env, RwTxn, WithoutTls};

pub use self::connection::{quote, BinlogPosition, MySqlConnection, MySqlTable};
use self::delivery::{Delivery, Transaction};
use self::spool::SpoolReader;
use super::chunk::{Chunk, RawRecord, SourceError};
use super::interface::{Sink, Source};
use super::mirror::{apply_changes, Mirror, RowChange, Shape};
use super::wake::Wake;
use crate::codec::{Decode, Encode, Reader};
use crate::error::OpError;
use crate::weight::Weight;

/// What one store transaction applies of a connection.
pub enum MySqlBatch {
    Snapshot {
        files: Vec<(usize, PathBuf)>,
        position: BinlogPosition,
    },
    Transactions(Vec<Transaction>),
}

impl MySqlBatch {
    /// The position after the batch.
    pub fn end(&self) -> Option<&BinlogPosition> {
        match self {
            MySqlBatch::Snapshot { position, .. } => Some(position),
            MySqlBatch::Transactions(t) => t.last().map(|t| &t.end),
        }
    }
}

/// Rows per chunk handed to the pipeline while a snapshot is applied.
const SNAPSHOT_CHUNK: usize = 10_000;

/// The tables of one connection, as the runner drives them.
pub struct MySqlSource {
    connection: MySqlConnection,
    /// Where the store keeps the connection's position.
    key: String,
    /// The batch next to apply (see [`Source`]).
    ready: Option<MySqlBatch>,
    /// (source index in the app, table).
    tables: Vec<(usize, MySqlTable)>,
    mirrors: Vec<Mirror>,
    position: Option<BinlogPosition>,
    spool: PathBuf,
    rx: Option<std::sync::mpsc::Receiver<Result<Delivery, SourceError>>>,
    /// Rows of each table copied by a snapshot not applied yet.
    copied: Arc<Vec<AtomicU64>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    wake: Wake,
    caught_up: bool,
    /// A transaction received but not applied yet (it did not fit the last batch).
    held: Option<Transaction>,
}

impl MySqlSource {
    /// The position key of a connection in the store.
    pub fn key_of(connection: &MySqlConnection) -> String {
        format!("mysql:{}", connection.name)
    }

    /// Opens the tables of one connection (source index in the app, table) from the
    /// connection's committed position (`None`: no snapshot applied yet). Reading starts at the
    /// first [`Source::next_batch`].
    pub fn open(
        env: &Env<WithoutTls>,
        txn: &mut RwTxn,
        tables: Vec<(usize, MySqlTable)>,
        committed: Option<&[u8]>,
        spool: PathBuf,
        wake: Wake,
    ) -> Result<MySqlSource, OpError> {
        let connection = tables[0].1.connection.clone();
        let position = match committed {
            Some(bytes) => Some(BinlogPosition::decode(&mut Reader::new(bytes))?),
            None => None,
        };
        let count = tables.len();
        let mirrors = tables
            .iter()
            .map(|(_, t)| {
                Mirror::open(
                    env,
                    txn,
                    &format!("mysql.rows.{}.{}", connection.name, t.display()),
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(MySqlSource {
            key: Self::key_of(&connection),
            ready: None,
            connection,
            tables,
            mirrors,
            position,
            spool,
            rx: None,
            copied: Arc::new((0..count).map(|_| AtomicU64::new(0)).collect()),
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
            wake,
            caught_up: false,
            held: None,
        })
    }

    fn start(&mut self) -> Result<(), SourceError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(64);
        let job = worker::Job {
            connection: self.connection.clone(),
            password: self.connection.password()?,
            tables: self.tables.iter().map(|(_, t)| t.clone()).collect(),
            position: self.position.clone(),
            spool: self.spool.clone(),
            copied: self.copied.clone(),
            stop: self.stop.clone(),
            wake: self.wake.clone(),
            tx,
        };
        let thread = std::thread::Builder::new()
            .name(format!("mysql {}", self.connection.name))
            .spawn(move || worker::run(job))
            .map_err(|e| SourceError {
                file: None,
                line: None,
                message: format!("cannot start the MySQL thread: {e}"),
            })?;
        self.rx = Some(rx);
        self.thread = Some(thread);
        Ok(())
    }

    /// The next batch: the snapshot, or the transactions received so far (at most about
    /// `max_records` changes, but never part of one). `None` while nothing new is there.
    fn receive(&mut self, max_records: usize) -> Result<Option<MySqlBatch>, SourceError> {
        if self.rx.is_none() {
            self.start()?;
        }
        let mut txns: Vec<Transaction> = self.held.take().into_iter().collect();
        let mut records: usize = txns.iter().map(|t| t.changes.len()).sum();
        let rx = self.rx.as_ref().ok_or_else(|| gone(&self.connection))?;
        while records < max_records {
            match rx.try_recv() {
                Ok(Ok(Delivery::Snapshot { files, position })) => {
                    if !txns.is_empty() {
                        return Err(SourceError {
                            file: None,
                            line: None,
                            message: "internal error: a snapshot arrived after streamed changes"
                                .into(),
                        });
                    }
                    return Ok(Some(MySqlBatch::Snapshot { files, position }));
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
        Ok((!txns.is_empty()).then_some(MySqlBatch::Transactions(txns)))
    }

    fn shapes<'a>(&'a self, names: &'a [String]) -> Vec<Shape<'a>> {
        self.tables
            .iter()
            .zip(names)
            .map(|((_, t), name)| Shape {
                name,
                types: &t.types,
                primary_key: &t.primary_key,
            })
            .collect()
    }

    /// Applies a batch inside the store transaction: the mirrors follow it and the pipeline gets
    /// each table's weighted rows. Re-runnable (the store may run a batch again after growing
    /// its map).
    fn apply_batch<E: From<SourceError> + From<OpError>>(
        &self,
        txn: &mut RwTxn,
        batch: &MySqlBatch,
        apply: &mut Sink<'_, E>,
    ) -> Result<u64, E> {
        let names: Vec<String> = self.tables.iter().map(|(_, t)| t.display()).collect();
        let shapes = self.shapes(&names);
        let mut applied = 0u64;
        match batch {
            MySqlBatch::Snapshot { files, position } => {
                for (table, path) in files {
                    let (source, t) = &self.tables[*table];
                    let spool_error = |e: std::io::Error| SourceError {
                        file: Some(path.clone()),
                        line: None,
                        message: format!("reading the snapshot spool: {e}"),
                    };
                    let mut reader =
                        SpoolReader::open(path, t.columns.len()).map_err(spool_error)?;
                    let mut rows = vec![];
                    while let Some(values) = reader.next_row().map_err(spool_error)? {
                        let change = RowChange::Insert(values.into_iter().map(Some).collect());
                        self.mirrors[*table].apply(txn, &shapes[*table], change, &mut rows)?;
                        if rows.len() >= SNAPSHOT_CHUNK {
                            applied += rows.len() as u64;
                            apply(txn, *source, &chunk(t, position, std::mem::take(&mut rows)))?;
                        }
                    }
                    applied += rows.len() as u64;
                    apply(txn, *source, &chunk(t, position, rows))?;
                }
            }
            MySqlBatch::Transactions(txns) => {
                let per_table = apply_changes(
                    txn,
                    &self.mirrors,
                    &shapes,
                    txns.iter().flat_map(|t| &t.changes),
                )?;
                let Some(end) = batch.end() else {
                    return Ok(0);
                };
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

    /// After the store committed `batch`: the new position; a snapshot's spool is removed.
    fn committed(&mut self, batch: MySqlBatch) {
        self.position = batch.end().cloned().or(self.position.take());
        if let MySqlBatch::Snapshot { files, .. } = batch {
            self.copied
                .iter()
                .for_each(|n| n.store(0, Ordering::Relaxed));
            for (_, path) in files {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

impl<E: From<SourceError> + From<OpError>> Source<E> for MySqlSource {
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
        if let Some(end) = self.ready.as_ref().and_then(MySqlBatch::end) {
            end.encode(&mut out);
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
            self.committed(batch);
        }
    }

    fn busy(&self) -> bool {
        !(self.caught_up && self.held.is_none())
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
            Some(bytes) => Some(
                BinlogPosition::decode(&mut Reader::new(bytes)).map_err(|e| SourceError {
                    file: None,
                    line: None,
                    message: format!(
                        "the stored position of connection `{}` is unreadable: {e}",
                        self.connection.name
                    ),
                })?,
            ),
            None => None,
        };
        Ok(self
            .tables
            .iter()
            .map(|(source, t)| {
                let text = match &position {
                    Some(p) => format!("{} replicated up to binlog position {p}", t.display()),
                    None => format!("{}: no snapshot yet", t.display()),
                };
                (*source, text)
            })
            .collect())
    }
}

impl Drop for MySqlSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.rx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn gone(c: &MySqlConnection) -> SourceError {
    SourceError {
        file: None,
        line: None,
        message: format!("the MySQL thread of connection `{}` ended", c.name),
    }
}

/// Weighted rows as a chunk for the generated parser (rows of values, like Parquet's).
fn chunk(t: &MySqlTable, at: &BinlogPosition, rows: Vec<(Vec<Value>, Weight)>) -> Chunk {
    let (records, weights): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .map(|(values, w)| ((at.offset, RawRecord::Values(values)), w))
        .unzip();
    Chunk {
        origin: Arc::from(format!("mysql {} at binlog position {at}", t.display()).as_str()),
        records,
        weights,
    }
}
