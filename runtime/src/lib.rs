//! Runtime linked into every app binary that `dozerc build` emits.
//!
//! Generic code lives here and is compiled once; the code generated per app stays small, and names
//! all it uses of the runtime through one module, [`contract`]. The modules, lowest first:
//! - [`weight`] and [`error`]: the change model (weighted rows) and why a batch fails;
//! - [`store`]: the LMDB environment that holds operator state, endpoint tables, indexes and source
//!   positions, committed one source batch per write transaction;
//! - [`codec`]: the compact binary form of field values that generated records are stored in;
//! - [`ops`]: incremental operators over batches of weighted rows: GROUP BY aggregation, equi-joins,
//!   DISTINCT, TTL and window assignment;
//! - [`row`] and [`sql`]: what generated rows and expressions call (keys, conversions, SQL
//!   functions with PostgreSQL's semantics);
//! - [`lmdb_key`]: keys longer than LMDB's 511 bytes, shortened with a hash;
//! - [`table`]: an endpoint's materialized table with record ids, versions and secondary indexes;
//! - [`proto`]: Dozer's protobuf wire shapes, for the API and the push ingestion source alike;
//! - [`source`]: sources with exact, committable positions behind one interface
//!   ([`source::interface::Source`]: CSV, JSON-lines and Parquet files, Delta tables,
//!   PostgreSQL, MySQL, gRPC push ingestion);
//! - [`pipeline`]: what generated code implements ([`pipeline::Pipeline`]);
//! - [`meta`] and [`notify`]: the store's app metadata (fingerprint, phase), and how a commit
//!   reaches this process's live subscribers;
//! - [`app`]: the driver — each source batch's results and position in one transaction;
//! - [`event_log`]: every committed record change with its position, kept for a retention period
//!   (what `OnEvent` subscribers read and resume from);
//! - [`api`]: the query language, its execution over endpoint tables, and the REST and gRPC
//!   servers;
//! - [`cli`]: the app binary's command line (`run`, `api`, `dump`, `info`).
//!
//! See docs/architecture.md for how they fit together.

/// Every app allocates small, short-lived buffers for each row (keys, encoded rows, decoded
/// values) and each request; glibc's malloc and free were a sixth of the pipeline's time in
/// profiles, mimalloc's thread-local free lists take much of that away.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod api;
pub mod app;
pub mod cli;
pub mod codec;
pub mod contract;
pub mod error;
pub mod event_log;
pub mod lmdb_key;
pub mod meta;
pub mod notify;
pub mod ops;
pub mod pipeline;
pub mod proto;
pub mod row;
pub mod source;
pub mod sql;
pub mod store;
pub mod table;
pub mod weight;
