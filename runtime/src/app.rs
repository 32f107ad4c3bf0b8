//! The app driver: sources → the generated pipeline → endpoint tables, one chunk per transaction.
//!
//! Generated code implements [`Pipeline`] (typed rows, operator wiring); everything here is generic
//! and compiled once. For each chunk a source yields, [`Runner::step`] runs the pipeline *and* stores
//! the source's position after the chunk in one write transaction, so after a crash (even SIGKILL)
//! the app resumes exactly after the last committed chunk: nothing is ingested twice or missed.

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
use crate::source::files::{Chunk, FilePosition, FileReader, FileTable, SourceError};
use crate::store::{BatchError, Store, StoreError};
use crate::table::{RecordChange, Table};

/// A source of the app.
#[derive(Clone, Debug)]
pub struct SourceDef {
    pub name: String,
    pub table: FileTable,
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
pub const STORE_LAYOUT: u32 = 2;

pub struct Runner {
    store: Arc<Store>,
    pipeline: Arc<dyn Pipeline>,
    meta: Database<Bytes, Bytes>,
    positions: Database<Bytes, Bytes>,
    readers: Vec<FileReader>,
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
    pub fn open(
        home: &Path,
        map_size: Option<usize>,
        open: OpenPipeline<'_>,
        skip_bad_records: bool,
    ) -> Result<Runner, PipelineError> {
        let store = Store::open(&home.join("store"), map_size)?;
        let (pipeline, positions, meta, event_log) = store.write(|txn| -> Result<_, PipelineError> {
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
            Ok((pipeline, positions, meta, event_log))
        })?;
        let pipeline: Arc<dyn Pipeline> = Arc::from(pipeline);
        let mut readers = vec![];
        {
            let view = store.read()?;
            for s in pipeline.sources() {
                let position = match positions.get(&view, s.name.as_bytes())? {
                    Some(bytes) => FilePosition::decode(&mut Reader::new(bytes))?,
                    None => FilePosition::default(),
                };
                readers.push(FileReader::new(s.table.clone(), position));
            }
        }
        let ingested = vec![0; readers.len()];
        Ok(Runner {
            store: Arc::new(store),
            pipeline,
            meta,
            positions,
            readers,
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

    /// Each source's committed position.
    pub fn positions(&self) -> Result<Vec<FilePosition>, PipelineError> {
        let view = self.store.read()?;
        self.pipeline
            .sources()
            .iter()
            .map(|s| match self.positions.get(&view, s.name.as_bytes())? {
                Some(bytes) => Ok(FilePosition::decode(&mut Reader::new(bytes))?),
                None => Ok(FilePosition::default()),
            })
            .collect()
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
        for source in 0..self.readers.len() {
            let Some(chunk) = self.readers[source].next_chunk(self.chunk_records)? else {
                continue;
            };
            let name = self.pipeline.sources()[source].name.clone();
            let mut position = vec![];
            chunk.end.encode(&mut position);
            let (pipeline, positions) = (&self.pipeline, self.positions);
            let log = self.log_events.then_some(self.event_log);
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            // The closure may run twice (the map grew): count bad records per attempt.
            let (bad, newest) = self.store.write(|txn| {
                let mut bad = BadRecords::new(self.bad.skipping());
                let mut changes = vec![];
                pipeline.apply(txn, source, &chunk, &mut bad, &mut changes)?;
                positions.put(txn, name.as_bytes(), &position)?;
                let newest = match log {
                    Some(log) => Some(log.append(txn, now_ms, &changes)?),
                    None => None,
                };
                Ok::<_, PipelineError>((bad, newest))
            })?;
            self.bad.absorb(bad);
            if let (Some(notifier), Some(newest)) = (&self.notifier, newest) {
                notifier.committed(newest);
            }
            self.ingested[source] += chunk.records.len() as u64;
            stats.chunks += 1;
            stats.records += chunk.records.len() as u64;
        }
        Ok(stats)
    }

    /// Steps until every source is caught up.
    pub fn run_until_caught_up(&mut self) -> Result<StepStats, PipelineError> {
        let mut total = StepStats::default();
        loop {
            let s = self.step()?;
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
