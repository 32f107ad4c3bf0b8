//! The app driver: sources → the generated pipeline → endpoint tables, one batch per transaction.
//!
//! Generated code implements [`Pipeline`] (typed rows, operator wiring); everything here is generic
//! and compiled once. For each batch a source yields — a chunk of a file, or whole upstream
//! transactions of a PostgreSQL connection (possibly across several tables) — [`Runner::step`]
//! runs the pipeline *and* stores the source's position after the batch in one write
//! transaction, so after a crash (even SIGKILL) the app resumes exactly after the last committed
//! batch: nothing is ingested twice or missed.

use std::path::Path;
use std::sync::Arc;

use dozer_types::{SqlType, Value};
use heed::types::Bytes;
use heed::{Database, Env, RoTxn, RwTxn, WithoutTls};

use crate::api::events::EventNotifier;
use crate::api::EndpointSchema;
use crate::codec::{Decode, DecodeError, Encode, Reader};
use crate::event_log::EventLog;
use crate::ops::OpError;
use crate::source::fields::{BadRecord, BadRecords};
use crate::source::files::{Chunk, FileFormat, FilePosition, FileReader, FileTable, SourceError};
use crate::source::postgres::{lsn_text, PgPosition, PgSource, PgTable, Wake};
use crate::store::{BatchError, Store, StoreError};
use crate::table::{RecordChange, Table};

/// A source of the app.
#[derive(Clone, Debug)]
pub struct SourceDef {
    pub name: String,
    pub kind: SourceKind,
}

#[derive(Clone, Debug)]
// A handful per app, made once: boxing would only add noise to the generated code.
#[allow(clippy::large_enum_variant)]
pub enum SourceKind {
    /// Files of a `!LocalStorage` table.
    Files(FileTable),
    /// A table of a `!Postgres` connection.
    Postgres(PgTable),
}

/// One batch applied inside a store transaction: the pipeline's work, collecting bad records
/// and the endpoints' record changes (for the event log).
type ApplyBatch<'a, R> = dyn FnMut(&mut RwTxn, &mut BadRecords, &mut Vec<(usize, RecordChange)>) -> Result<R, PipelineError>
    + 'a;

/// How the runner reads a source (or, for PostgreSQL, all tables of one connection).
#[allow(clippy::large_enum_variant)] // one per source, made once
enum SourceReader {
    Files { source: usize, reader: FileReader },
    Postgres(Box<PgSource>),
}

/// A column of an endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldDef {
    pub name: String,
    pub ty: SqlType,
    pub nullable: bool,
}

/// What generated code provides: typed parsing of source records, the operators between sources
/// and endpoint tables, and decoding of stored rows for reads.
pub trait Pipeline: Send + Sync {
    fn sources(&self) -> &[SourceDef];

    /// The endpoints, in config order: names, paths, fields, keys and indexes.
    fn endpoints(&self) -> &[EndpointSchema];

    fn table(&self, endpoint: usize) -> &Table;

    /// Parses the records of a chunk of source `source` and applies them to every query reading
    /// that source, inside `txn`. Unreadable records go to `bad`; the endpoints' record changes
    /// (endpoint index, change) to `changes`.
    fn apply(
        &self,
        txn: &mut RwTxn,
        source: usize,
        chunk: &Chunk,
        bad: &mut BadRecords,
        changes: &mut Vec<(usize, RecordChange)>,
    ) -> Result<(), PipelineError>;

    /// The values of a stored row of an endpoint.
    fn decode(&self, endpoint: usize, row: &[u8]) -> Result<Vec<Value>, DecodeError>;

    /// Identifies the sources, queries and endpoints the code was generated for. Operator state
    /// and results in a store are only meaningful for the pipeline that built them, so a store
    /// built by another one is refused rather than silently mixed.
    fn fingerprint(&self) -> &str;
}

/// Opens the generated pipeline's operators and tables inside a write transaction (a generated
/// `fn`; may be called more than once).
pub type OpenPipeline<'a> =
    &'a dyn Fn(&Env<WithoutTls>, &mut RwTxn) -> Result<Box<dyn Pipeline>, OpError>;

#[derive(Debug)]
pub enum PipelineError {
    Op(OpError),
    BadRecord(BadRecord),
    Source(SourceError),
    Decode(DecodeError),
    /// Writing output (a dump) failed.
    Output(std::io::Error),
}

impl std::fmt::Display for PipelineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PipelineError::Op(e) => e.fmt(f),
            PipelineError::BadRecord(e) => write!(
                f,
                "unreadable record at {e} (set `app.on_bad_record: skip` to skip such records)"
            ),
            PipelineError::Source(e) => e.fmt(f),
            PipelineError::Decode(e) => e.fmt(f),
            PipelineError::Output(e) => write!(f, "writing output: {e}"),
        }
    }
}

impl std::error::Error for PipelineError {}

impl From<OpError> for PipelineError {
    fn from(e: OpError) -> Self {
        PipelineError::Op(e)
    }
}

impl From<StoreError> for PipelineError {
    fn from(e: StoreError) -> Self {
        PipelineError::Op(OpError::Store(e))
    }
}

impl From<heed::Error> for PipelineError {
    fn from(e: heed::Error) -> Self {
        PipelineError::Op(e.into())
    }
}

impl From<BadRecord> for PipelineError {
    fn from(e: BadRecord) -> Self {
        PipelineError::BadRecord(e)
    }
}

impl From<SourceError> for PipelineError {
    fn from(e: SourceError) -> Self {
        PipelineError::Source(e)
    }
}

impl From<DecodeError> for PipelineError {
    fn from(e: DecodeError) -> Self {
        PipelineError::Decode(e)
    }
}

impl BatchError for PipelineError {
    fn is_map_full(&self) -> bool {
        matches!(self, PipelineError::Op(e) if e.is_map_full())
    }
}

/// What one [`Runner::step`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepStats {
    pub chunks: u64,
    pub records: u64,
    /// A source has not caught up yet although it had nothing to apply (a PostgreSQL snapshot
    /// being copied, a stream not yet at the server's position).
    pub busy: bool,
}

const FINGERPRINT: &[u8] = b"pipeline.fingerprint";
const PHASE: &[u8] = b"phase";
const STREAMING: &[u8] = b"Streaming";

/// Dozer's phase of an app: `Snapshotting` until every source has been caught up once, then
/// `Streaming`.
pub fn phase(
    meta: Database<Bytes, Bytes>,
    txn: &RoTxn<WithoutTls>,
) -> Result<&'static str, heed::Error> {
    Ok(match meta.get(txn, PHASE)? {
        Some(STREAMING) => "Streaming",
        _ => "Snapshotting",
    })
}

/// The version of the runtime's own store layout (operator state, tables, indexes), stored with
/// the pipeline's fingerprint: a store written by a runtime with another layout is refused like
/// one from another pipeline. Bump it with every change to what the runtime writes.
pub const STORE_LAYOUT: u32 = 3;

pub struct Runner {
    store: Arc<Store>,
    pipeline: Arc<dyn Pipeline>,
    meta: Database<Bytes, Bytes>,
    positions: Database<Bytes, Bytes>,
    readers: Vec<SourceReader>,
    /// Woken by sources with something to apply.
    wake: Wake,
    bad: BadRecords,
    chunk_records: usize,
    /// Records ingested per source by this runner.
    ingested: Vec<u64>,
    /// The store's event log, and whether this runner writes committed changes to it.
    event_log: EventLog,
    log_events: bool,
    /// Told of each commit's newest log position (when this process serves events).
    notifier: Option<EventNotifier>,
}

/// How long committed changes stay in the event log unless the config says otherwise.
pub const DEFAULT_EVENT_RETENTION: std::time::Duration = std::time::Duration::from_secs(3600);

impl Runner {
    /// Opens the app's store under `home` and the pipeline in it, and resumes every source from its
    /// committed position.
    ///
    /// The store is opened a first time with room for [`crate::store::MAX_DBS`] databases, which
    /// creates those of a new store, and again with room for just the databases it holds (every
    /// transaction LMDB begins costs a slot per possible database).
    pub fn open(
        home: &Path,
        map_size: Option<usize>,
        open: OpenPipeline<'_>,
        skip_bad_records: bool,
    ) -> Result<Runner, PipelineError> {
        let first = Self::open_for(
            home,
            map_size,
            open,
            skip_bad_records,
            crate::store::MAX_DBS,
        )?;
        // Room for a few more than it holds: nothing creates databases after opening, the spare
        // slots are only a margin.
        let databases = first.store.databases()?.saturating_add(8);
        if databases >= crate::store::MAX_DBS {
            return Ok(first);
        }
        let Runner { store, .. } = first;
        match Arc::try_unwrap(store) {
            Ok(store) => store.close(),
            Err(_) => {
                return Err(PipelineError::Op(OpError::Inconsistent(
                    "internal error: the store is still in use while the app opens".into(),
                )))
            }
        }
        Self::open_for(home, map_size, open, skip_bad_records, databases)
    }

    fn open_for(
        home: &Path,
        map_size: Option<usize>,
        open: OpenPipeline<'_>,
        skip_bad_records: bool,
        databases: u32,
    ) -> Result<Runner, PipelineError> {
        let store = Store::open_for(&home.join("store"), map_size, databases)?;
        let wake = Wake::default();
        let (pipeline, positions, meta, event_log, mut pg) = store.write(|txn| -> Result<_, PipelineError> {
            let positions = store.env().create_database(txn, Some("source.positions"))?;
            let meta: Database<Bytes, Bytes> =
                store.env().create_database(txn, Some("app.meta"))?;
            let event_log = EventLog::open(store.env(), txn, meta, DEFAULT_EVENT_RETENTION)?;
            let pipeline = open(store.env(), txn)?;
            let ours = format!("layout {STORE_LAYOUT}, pipeline {}", pipeline.fingerprint());
            let ours = ours.as_bytes();
            match meta.get(txn, FINGERPRINT)? {
                None => meta.put(txn, FINGERPRINT, ours)?,
                Some(theirs) if theirs == ours => {}
                Some(theirs) => {
                    return Err(PipelineError::Op(OpError::Inconsistent(format!(
                        "the store in {} was built by a different version of this app ({}; this binary is {}): its state and results do not fit these queries. Delete that directory to rebuild everything from the sources",
                        home.join("store").display(),
                        String::from_utf8_lossy(theirs),
                        String::from_utf8_lossy(ours)
                    ))))
                }
            }
            // PostgreSQL tables, one reader per connection (a transaction may span its tables).
            let mut by_connection: Vec<Vec<(usize, PgTable)>> = vec![];
            for (i, s) in pipeline.sources().iter().enumerate() {
                if let SourceKind::Postgres(t) = &s.kind {
                    match by_connection.iter_mut().find(|g| g[0].1.connection.name == t.connection.name) {
                        Some(g) => g.push((i, t.clone())),
                        None => by_connection.push(vec![(i, t.clone())]),
                    }
                }
            }
            let mut pg = vec![];
            for tables in by_connection {
                let key = PgSource::position_key(&tables[0].1.connection);
                let position = match positions.get(txn, key.as_bytes())? {
                    Some(bytes) => Some(PgPosition::decode(&mut Reader::new(bytes))?),
                    None => None,
                };
                let spool = home.join("spool").join(&tables[0].1.connection.name);
                pg.push(PgSource::open(store.env(), txn, tables, position, spool, wake.clone())?);
            }
            Ok((pipeline, positions, meta, event_log, pg))
        })?;
        let pipeline: Arc<dyn Pipeline> = Arc::from(pipeline);
        let mut readers = vec![];
        {
            let view = store.read()?;
            for (i, s) in pipeline.sources().iter().enumerate() {
                match &s.kind {
                    SourceKind::Files(table) => {
                        let position = match positions.get(&view, s.name.as_bytes())? {
                            Some(bytes) => FilePosition::decode(&mut Reader::new(bytes))?,
                            None => FilePosition::default(),
                        };
                        readers.push(SourceReader::Files {
                            source: i,
                            reader: FileReader::new(table.clone(), position),
                        });
                    }
                    SourceKind::Postgres(_) => {
                        // One reader for all tables of a connection, where its first table is.
                        if let Some(at) = pg.iter().position(|p| p.sources().next() == Some(i)) {
                            readers.push(SourceReader::Postgres(Box::new(pg.remove(at))));
                        }
                    }
                }
            }
        }
        let ingested = vec![0; pipeline.sources().len()];
        Ok(Runner {
            store: Arc::new(store),
            pipeline,
            meta,
            positions,
            readers,
            wake,
            bad: BadRecords::new(skip_bad_records),
            chunk_records: 10_000,
            ingested,
            event_log,
            log_events: false,
            notifier: None,
        })
    }

    /// Writes every committed batch's record changes to the event log, each kept for `retention`.
    pub fn with_event_log(mut self, retention: std::time::Duration) -> Self {
        self.event_log = self.event_log.with_retention(retention);
        self.log_events = true;
        self
    }

    /// Tells `notifier` of every commit's newest event log position.
    pub fn with_notifier(mut self, notifier: EventNotifier) -> Self {
        self.notifier = Some(notifier);
        self
    }

    /// The store's event log (written only `with_event_log`).
    pub fn event_log(&self) -> EventLog {
        self.event_log
    }

    /// Reads every file source as its files are now, to their ends (`run --once`): nothing more
    /// will be written to them, so a last line without a line break is a record at once.
    pub fn reading_files_as_they_are(mut self) -> Self {
        self.readers = std::mem::take(&mut self.readers)
            .into_iter()
            .map(|r| match r {
                SourceReader::Files { source, reader } => SourceReader::Files {
                    source,
                    reader: reader.reading_files_as_they_are(),
                },
                other => other,
            })
            .collect();
        self
    }

    /// Records per chunk (= per transaction).
    pub fn with_chunk_records(mut self, n: usize) -> Self {
        self.chunk_records = n.max(1);
        self
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn pipeline(&self) -> &Arc<dyn Pipeline> {
        &self.pipeline
    }

    /// The app's metadata database (fingerprint, phase).
    pub fn meta(&self) -> Database<Bytes, Bytes> {
        self.meta
    }

    /// Records that every source has been caught up once: the API's phase is `Streaming` from now
    /// on (also for `api` processes reading the store).
    pub fn mark_streaming(&self) -> Result<(), PipelineError> {
        let meta = self.meta;
        self.store
            .write(|txn| meta.put(txn, PHASE, STREAMING).map_err(PipelineError::from))
    }

    pub fn bad_records(&self) -> &BadRecords {
        &self.bad
    }

    /// Records ingested per source (in source order) since this runner opened.
    pub fn ingested(&self) -> &[u64] {
        &self.ingested
    }

    /// Rows per source for progress: those applied, plus those a PostgreSQL snapshot has copied
    /// but not applied yet.
    pub fn progress(&self) -> Vec<u64> {
        let mut rows = self.ingested.clone();
        for r in &self.readers {
            if let SourceReader::Postgres(pg) = r {
                for (source, copied) in pg.copying() {
                    rows[source] += copied;
                }
            }
        }
        rows
    }

    /// Where each source stands, for people (`info`), in source order.
    pub fn positions(&self) -> Result<Vec<String>, PipelineError> {
        let view = self.store.read()?;
        self.pipeline
            .sources()
            .iter()
            .map(|s| match &s.kind {
                SourceKind::Files(table) => {
                    let (mut text, p) = match self.positions.get(&view, s.name.as_bytes())? {
                        Some(bytes) => {
                            let p = FilePosition::decode(&mut Reader::new(bytes))?;
                            let text = match table.format {
                                FileFormat::Parquet => {
                                    format!("read up to {} row {}", p.file, p.line)
                                }
                                _ => format!(
                                    "read up to {} line {} (byte {})",
                                    p.file, p.line, p.offset
                                ),
                            };
                            (text, p)
                        }
                        None => (
                            format!("nothing read yet ({})", table.dir.display()),
                            FilePosition::default(),
                        ),
                    };
                    let pending = FileReader::pending(table, &p)?;
                    if pending.open_last_line {
                        text.push_str(&format!(
                            "; {} byte(s) pending: a last line without a line break, read once the file has not grown for {:?} (or by `run --once`)",
                            pending.bytes, table.quiet_period
                        ));
                    } else if pending.bytes > 0 {
                        text.push_str(&format!("; {} byte(s) not read yet", pending.bytes));
                    }
                    Ok(text)
                }
                SourceKind::Postgres(t) => {
                    let key = PgSource::position_key(&t.connection);
                    match self.positions.get(&view, key.as_bytes())? {
                        Some(bytes) => {
                            let p = PgPosition::decode(&mut Reader::new(bytes))?;
                            Ok(format!(
                                "{} replicated up to LSN {} (slot `{}`)",
                                t.display(),
                                lsn_text(p.lsn),
                                t.connection.slot
                            ))
                        }
                        None => Ok(format!("{}: no snapshot yet", t.display())),
                    }
                }
            })
            .collect()
    }

    /// Waits up to `timeout` for a source to have something (PostgreSQL sources say so as soon
    /// as a transaction arrives; files are looked at again after the timeout).
    pub fn wait(&self, timeout: std::time::Duration) {
        self.wake.wait(timeout);
    }

    /// Row counts of the endpoints, in endpoint order.
    pub fn row_counts(&self) -> Result<Vec<u64>, PipelineError> {
        let view = self.store.read()?;
        (0..self.pipeline.endpoints().len())
            .map(|i| Ok(self.pipeline.table(i).len(&view)?))
            .collect()
    }

    /// Reads at most one chunk from every source and commits each (results and position) in its
    /// own transaction. A zero result means every source is caught up.
    pub fn step(&mut self) -> Result<StepStats, PipelineError> {
        let mut stats = StepStats::default();
        for r in 0..self.readers.len() {
            match &mut self.readers[r] {
                SourceReader::Files { source, reader } => {
                    let source = *source;
                    let Some(chunk) = reader.next_chunk(self.chunk_records)? else {
                        continue;
                    };
                    let name = self.pipeline.sources()[source].name.clone();
                    let mut position = vec![];
                    chunk.end.encode(&mut position);
                    let pipeline = self.pipeline.clone();
                    self.commit(&name, &position, &mut |txn, bad, changes| {
                        pipeline.apply(txn, source, &chunk, bad, changes)
                    })?;
                    self.ingested[source] += chunk.records.len() as u64;
                    stats.chunks += 1;
                    stats.records += chunk.records.len() as u64;
                }
                SourceReader::Postgres(pg) => {
                    let Some(batch) = pg.next_batch(self.chunk_records)? else {
                        stats.busy |= !pg.caught_up();
                        continue;
                    };
                    let key = PgSource::position_key(pg.connection());
                    let mut position = vec![];
                    PgPosition { lsn: batch.end() }.encode(&mut position);
                    let SourceReader::Postgres(pg) = &mut self.readers[r] else {
                        unreachable!("the reader was matched above")
                    };
                    let pg: &PgSource = pg;
                    let pipeline = self.pipeline.clone();
                    let mut per_source = vec![0u64; self.ingested.len()];
                    let count = |per_source: &mut Vec<u64>, source: usize, chunk: &Chunk| {
                        per_source[source] += chunk.records.len() as u64;
                    };
                    let (store, positions, log, notifier, skipping) = (
                        self.store.clone(),
                        self.positions,
                        self.log_events.then_some(self.event_log),
                        self.notifier.clone(),
                        self.bad.skipping(),
                    );
                    let (bad, newest, records) = Self::commit_with(
                        &store,
                        positions,
                        log,
                        skipping,
                        &key,
                        &position,
                        &mut |txn, bad, changes| {
                            per_source.iter_mut().for_each(|n| *n = 0);
                            pg.apply(txn, &batch, &mut |txn, source, chunk| {
                                count(&mut per_source, source, chunk);
                                pipeline.apply(txn, source, chunk, bad, changes)
                            })
                        },
                    )?;
                    self.bad.absorb(bad);
                    if let (Some(notifier), Some(newest)) = (&notifier, newest) {
                        notifier.committed(newest);
                    }
                    if let SourceReader::Postgres(pg) = &mut self.readers[r] {
                        pg.committed(&batch);
                    }
                    for (i, n) in per_source.into_iter().enumerate() {
                        self.ingested[i] += n;
                    }
                    stats.chunks += 1;
                    stats.records += records;
                }
            }
        }
        Ok(stats)
    }

    /// Runs `apply` (the pipeline on one batch) and stores `position` under `key`, with the
    /// batch's record changes in the event log, in one write transaction.
    fn commit(
        &mut self,
        key: &str,
        position: &[u8],
        apply: &mut ApplyBatch<'_, ()>,
    ) -> Result<(), PipelineError> {
        let (bad, newest, _) = Self::commit_with(
            &self.store,
            self.positions,
            self.log_events.then_some(self.event_log),
            self.bad.skipping(),
            key,
            position,
            &mut |txn, bad, changes| apply(txn, bad, changes).map(|()| 0),
        )?;
        self.bad.absorb(bad);
        if let (Some(notifier), Some(newest)) = (&self.notifier, newest) {
            notifier.committed(newest);
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn commit_with(
        store: &Store,
        positions: Database<Bytes, Bytes>,
        log: Option<EventLog>,
        skipping: bool,
        key: &str,
        position: &[u8],
        apply: &mut ApplyBatch<'_, u64>,
    ) -> Result<(BadRecords, Option<u64>, u64), PipelineError> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        // The closure may run twice (the map grew): count bad records per attempt.
        store.write(|txn| {
            let mut bad = BadRecords::new(skipping);
            let mut changes = vec![];
            let records = apply(txn, &mut bad, &mut changes)?;
            positions.put(txn, key.as_bytes(), position)?;
            let newest = match log {
                Some(log) => Some(log.append(txn, now_ms, &changes)?),
                None => None,
            };
            Ok::<_, PipelineError>((bad, newest, records))
        })
    }

    /// Steps until every source is caught up.
    pub fn run_until_caught_up(&mut self) -> Result<StepStats, PipelineError> {
        let mut total = StepStats::default();
        loop {
            let s = self.step()?;
            if s.busy {
                self.wait(std::time::Duration::from_millis(50));
                continue;
            }
            if s.chunks == 0 {
                return Ok(total);
            }
            total.chunks += s.chunks;
            total.records += s.records;
        }
    }

    /// The rows of an endpoint as JSON objects (with Dozer's record id and version), in key order.
    pub fn dump(&self, endpoint: &str, out: &mut dyn std::io::Write) -> Result<u64, PipelineError> {
        let index = self
            .pipeline
            .endpoints()
            .iter()
            .position(|e| e.name == endpoint)
            .ok_or_else(|| {
                PipelineError::Op(OpError::Inconsistent(format!("no endpoint `{endpoint}`")))
            })?;
        let view = self.store.read()?;
        dump_table(self.pipeline.as_ref(), index, &view, out)
    }
}

fn dump_table(
    p: &dyn Pipeline,
    index: usize,
    txn: &RoTxn<WithoutTls>,
    out: &mut dyn std::io::Write,
) -> Result<u64, PipelineError> {
    let fields = &p.endpoints()[index].fields;
    let mut n = 0;
    for record in p.table(index).scan(txn)? {
        let record = record?;
        let values = p.decode(index, &record.row)?;
        let mut object = serde_json::Map::new();
        for (f, v) in fields.iter().zip(values) {
            object.insert(f.name.clone(), v.to_json());
        }
        object.insert("__dozer_record_id".into(), record.id.into());
        object.insert("__dozer_record_version".into(), record.version.into());
        let line = serde_json::Value::Object(object).to_string();
        writeln!(out, "{line}").map_err(PipelineError::Output)?;
        n += 1;
    }
    Ok(n)
}
