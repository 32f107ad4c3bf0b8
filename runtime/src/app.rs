//! The app driver: sources → the generated pipeline → endpoint tables, one batch per transaction.
//!
//! Generated code implements [`Pipeline`] (typed rows, operator wiring); everything here is generic
//! and compiled once. For each batch a source yields — a chunk of a file, or whole upstream
//! transactions of a PostgreSQL connection (possibly across several tables) — [`Runner::step`]
//! runs the pipeline *and* stores the source's position after the batch in one write
//! transaction, so after a crash (even SIGKILL) the app resumes exactly after the last committed
//! batch: nothing is ingested twice or missed. Every source is driven through
//! [`Source`], whatever its connector.

use std::path::Path;
use std::sync::Arc;

use heed::types::Bytes;
use heed::{Database, RoTxn, RwTxn, WithoutTls};

use crate::error::OpError;
use crate::event_log::{EventLog, DEFAULT_RETENTION};
use crate::meta::{self, Meta, META_DB};
use crate::notify::EventNotifier;
use crate::pipeline::{OpenPipeline, Pipeline, PipelineError, SourceDef, SourceKind};
use crate::source::chunk::Chunk;
use crate::source::delta::DeltaSource;
use crate::source::fields::BadRecords;
use crate::source::file_source::FileSource;
use crate::source::grpc::GrpcSource;
use crate::source::interface::Source;
use crate::source::mysql::MySqlSource;
use crate::source::postgres::PgSource;
use crate::source::wake::Wake;
use crate::store::Store;
use crate::table::RecordChange;

/// One batch applied inside a store transaction: the pipeline's work, collecting bad records
/// and the endpoints' record changes (for the event log).
type ApplyBatch<'a> = dyn FnMut(
        &mut RwTxn,
        &mut BadRecords,
        &mut Vec<(usize, RecordChange)>,
    ) -> Result<u64, PipelineError>
    + 'a;

/// What one [`Runner::step`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepStats {
    pub chunks: u64,
    pub records: u64,
    /// A source has not caught up yet although it had nothing to apply (a PostgreSQL snapshot
    /// being copied, a stream not yet at the server's position).
    pub busy: bool,
}

/// The version of the runtime's own store layout (operator state, tables, indexes), stored with
/// the pipeline's fingerprint: a store written by a runtime with another layout is refused like
/// one from another pipeline. Bump it with every change to what the runtime writes.
pub const STORE_LAYOUT: u32 = 3;

pub struct Runner {
    store: Arc<Store>,
    pipeline: Arc<dyn Pipeline>,
    meta: Meta,
    positions: Database<Bytes, Bytes>,
    /// The app's sources as connectors read them: one per file table, one per PostgreSQL
    /// connection (feeding all of its tables).
    readers: Vec<Box<dyn Source<PipelineError>>>,
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
        // Sources may hold the store's environment (a `!Grpc` source's nested transactions):
        // they go first, or closing would wait for them.
        let Runner { store, readers, .. } = first;
        drop(readers);
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
        let (pipeline, positions, meta, event_log, readers) = store.write(|txn| -> Result<_, PipelineError> {
            let positions = store.env().create_database(txn, Some("source.positions"))?;
            let meta: Meta = store.env().create_database(txn, Some(META_DB))?;
            let event_log = EventLog::open(store.env(), txn, meta, DEFAULT_RETENTION)?;
            let pipeline = open(store.env(), txn)?;
            let ours = format!("layout {STORE_LAYOUT}, pipeline {}", pipeline.fingerprint());
            if let Err(theirs) = meta::claim_fingerprint(meta, txn, ours.as_bytes())? {
                return Err(PipelineError::Op(OpError::Inconsistent(format!(
                    "the store in {} was built by a different version of this app ({}; this binary is {ours}): its state and results do not fit these queries. Delete that directory to rebuild everything from the sources",
                    home.join("store").display(),
                    String::from_utf8_lossy(&theirs),
                ))));
            }
            let mut readers: Vec<Box<dyn Source<PipelineError>>> = vec![];
            let sources = pipeline.sources();
            for (i, s) in sources.iter().enumerate() {
                match &s.kind {
                    SourceKind::Files(table) => {
                        let committed = positions.get(txn, s.name.as_bytes())?.map(<[u8]>::to_vec);
                        readers.push(Box::new(FileSource::open(
                            store.env(),
                            txn,
                            i,
                            &s.name,
                            table.clone(),
                            committed.as_deref(),
                        )?));
                    }
                    SourceKind::Delta(table) => {
                        let committed = positions.get(txn, s.name.as_bytes())?.map(<[u8]>::to_vec);
                        readers.push(Box::new(DeltaSource::open(
                            i,
                            &s.name,
                            table.clone(),
                            committed.as_deref(),
                        )?));
                    }
                    // One reader for all tables of a connection (a transaction may span them),
                    // where its first table is.
                    SourceKind::Postgres(t) => {
                        let Some(tables) = connection_tables(sources, i, |k| match k {
                            SourceKind::Postgres(p) => Some((p, p.connection.name.as_str())),
                            _ => None,
                        }) else {
                            continue;
                        };
                        let key = PgSource::key_of(&t.connection);
                        let committed = positions.get(txn, key.as_bytes())?.map(<[u8]>::to_vec);
                        let spool = home.join("spool").join(&t.connection.name);
                        readers.push(Box::new(PgSource::open(
                            store.env(),
                            txn,
                            tables,
                            committed.as_deref(),
                            spool,
                            wake.clone(),
                        )?));
                    }
                    SourceKind::Grpc(t) => {
                        let Some(tables) = connection_tables(sources, i, |k| match k {
                            SourceKind::Grpc(g) => Some((g, g.connection.name.as_str())),
                            _ => None,
                        }) else {
                            continue;
                        };
                        let key = GrpcSource::key_of(&t.connection);
                        let committed = positions.get(txn, key.as_bytes())?.map(<[u8]>::to_vec);
                        readers.push(Box::new(GrpcSource::open(
                            store.env(),
                            txn,
                            tables,
                            committed.as_deref(),
                            wake.clone(),
                        )?));
                    }
                    SourceKind::MySql(t) => {
                        let Some(tables) = connection_tables(sources, i, |k| match k {
                            SourceKind::MySql(m) => Some((m, m.connection.name.as_str())),
                            _ => None,
                        }) else {
                            continue;
                        };
                        let key = MySqlSource::key_of(&t.connection);
                        let committed = positions.get(txn, key.as_bytes())?.map(<[u8]>::to_vec);
                        let spool = home.join("spool").join(format!("mysql-{}", t.connection.name));
                        readers.push(Box::new(MySqlSource::open(
                            store.env(),
                            txn,
                            tables,
                            committed.as_deref(),
                            spool,
                            wake.clone(),
                        )?));
                    }
                }
            }
            Ok((pipeline, positions, meta, event_log, readers))
        })?;
        let pipeline: Arc<dyn Pipeline> = Arc::from(pipeline);
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
        for r in &mut self.readers {
            r.reading_as_it_is();
        }
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
    pub fn meta(&self) -> Meta {
        self.meta
    }

    /// Records that every source has been caught up once: the API's phase is `Streaming` from now
    /// on (also for `api` processes reading the store).
    pub fn mark_streaming(&self) -> Result<(), PipelineError> {
        let meta = self.meta;
        self.store
            .write(|txn| meta::set_streaming(meta, txn).map_err(PipelineError::from))
    }

    pub fn bad_records(&self) -> &BadRecords {
        &self.bad
    }

    /// Records ingested per source (in source order) since this runner opened.
    pub fn ingested(&self) -> &[u64] {
        &self.ingested
    }

    /// Rows per source for progress: those applied, plus those a source has read ahead (a
    /// PostgreSQL snapshot being copied) but not applied yet.
    pub fn progress(&self) -> Vec<u64> {
        let mut rows = self.ingested.clone();
        for r in &self.readers {
            for (source, ahead) in r.reading_ahead() {
                rows[source] += ahead;
            }
        }
        rows
    }

    /// Where each source stands, for people (`info`), in source order.
    pub fn positions(&self) -> Result<Vec<String>, PipelineError> {
        let view = self.store.read()?;
        let mut texts = vec![String::new(); self.pipeline.sources().len()];
        for r in &self.readers {
            let committed = self.positions.get(&view, r.position_key().as_bytes())?;
            for (source, text) in r.describe(committed)? {
                texts[source] = text;
            }
        }
        Ok(texts)
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

    /// Reads at most one batch from every source and commits each (results and position) in its
    /// own transaction. A zero result means every source is caught up.
    pub fn step(&mut self) -> Result<StepStats, PipelineError> {
        let mut stats = StepStats::default();
        for r in 0..self.readers.len() {
            if !self.readers[r].next_batch(self.chunk_records)? {
                stats.busy |= self.readers[r].busy();
                continue;
            }
            let reader = &self.readers[r];
            let key = reader.position_key().to_string();
            let position = reader.batch_position();
            let pipeline = self.pipeline.clone();
            let mut per_source = vec![0u64; self.ingested.len()];
            let (bad, newest, records) = Self::commit(
                &self.store,
                self.positions,
                self.log_events.then_some(self.event_log),
                self.bad.skipping(),
                &key,
                &position,
                &mut |txn, bad, changes| {
                    per_source.iter_mut().for_each(|n| *n = 0);
                    reader.apply(txn, &mut |txn, source, chunk: &Chunk| {
                        per_source[source] += chunk.records.len() as u64;
                        pipeline.apply(txn, source, chunk, bad, changes)
                    })
                },
            )?;
            self.readers[r].acknowledge();
            self.bad.absorb(bad);
            if let (Some(notifier), Some(newest)) = (&self.notifier, newest) {
                notifier.committed(newest);
            }
            for (i, n) in per_source.into_iter().enumerate() {
                self.ingested[i] += n;
            }
            stats.chunks += 1;
            stats.records += records;
        }
        Ok(stats)
    }

    /// Runs `apply` (the pipeline on one batch) and stores `position` under `key`, with the
    /// batch's record changes in the event log, in one write transaction.
    #[allow(clippy::too_many_arguments)]
    fn commit(
        store: &Store,
        positions: Database<Bytes, Bytes>,
        log: Option<EventLog>,
        skipping: bool,
        key: &str,
        position: &[u8],
        apply: &mut ApplyBatch<'_>,
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

/// The tables of the connection of source `i` (`pick`: a source's table of this kind and its
/// connection's name), with their source indices; `None` unless `i` is the connection's first
/// source, which its one reader belongs to.
fn connection_tables<T: Clone>(
    sources: &[SourceDef],
    i: usize,
    pick: impl Fn(&SourceKind) -> Option<(&T, &str)>,
) -> Option<Vec<(usize, T)>> {
    let (_, name) = pick(&sources[i].kind)?;
    let same = |s: &SourceDef| pick(&s.kind).is_some_and(|(_, n)| n == name);
    if sources[..i].iter().any(same) {
        return None;
    }
    Some(
        sources
            .iter()
            .enumerate()
            .filter(|(_, s)| same(s))
            .filter_map(|(j, s)| pick(&s.kind).map(|(t, _)| (j, t.clone())))
            .collect(),
    )
}
