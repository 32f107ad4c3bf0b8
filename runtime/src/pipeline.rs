//! The contract between generated code and the runtime: what a generated pipeline provides.
//!
//! `dozerc build` emits one type implementing [`Pipeline`] per app (typed rows, the operators
//! between sources and endpoint tables); the runner ([`crate::app`]) drives it and the servers
//! ([`crate::api`]) read its tables through it. Generated code names all of this through
//! [`crate::contract`].

use std::path::Path;

use dozer_types::{EndpointSchema, Value};
use heed::{Env, RwTxn, WithoutTls};

use crate::codec::DecodeError;
use crate::error::OpError;
use crate::source::chunk::{Chunk, SourceError};
use crate::source::delta::DeltaTable;
use crate::source::fields::{BadRecord, BadRecords};
use crate::source::file_table::FileTable;
use crate::source::grpc::GrpcTable;
use crate::source::mysql::MySqlTable;
use crate::source::postgres::PgTable;
use crate::store::{BatchError, StoreError};
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
    /// Files of a `!LocalStorage` or `!S3Storage` table.
    Files(FileTable),
    /// A table of a `!Postgres` connection.
    Postgres(PgTable),
    /// A table of a `!MySQL` connection (MySQL or MariaDB).
    MySql(MySqlTable),
    /// A table of a `!DeltaLake` connection.
    Delta(DeltaTable),
    /// A schema of a `!Grpc` connection (rows pushed to the app).
    Grpc(GrpcTable),
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

/// The generated `fn` behind [`OpenPipeline`], given the directory its relative source paths are
/// resolved against (the config's directory, or `--base-dir` when the app runs elsewhere: in a
/// container, say).
pub type OpenPipelineAt<'a> =
    &'a dyn Fn(&Path, &Env<WithoutTls>, &mut RwTxn) -> Result<Box<dyn Pipeline>, OpError>;

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
