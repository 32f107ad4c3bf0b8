//! Everything generated code names of the runtime, in one place.
//!
//! An emitted app crate imports from this module only (`use dozer_runtime::contract::{...}`), so
//! the boundary between generated and generic code is this file: what a pipeline implements
//! ([`Pipeline`]), how it describes its sources and endpoints, the operators it wires, the row
//! keys, conversions and SQL functions its expressions call, and the crates its types come from
//! (one pinned version of each, whatever the app). Moving a type inside the runtime changes this
//! file, not the code generator.

// The crates generated code's types come from.
pub use chrono;
pub use dozer_types;
pub use heed;
pub use prost;
pub use prost_types;
pub use rust_decimal;
pub use serde_json;

pub use chrono::{DateTime, NaiveDate, Utc};
pub use dozer_types::{EndpointSchema, FieldDef, IndexDef, SqlType, Value};
pub use heed::{Env, RwTxn, WithoutTls};
pub use rust_decimal::Decimal;

// What a pipeline is and what it is made of.
pub use crate::codec::{Decode, DecodeError, Encode, Reader};
pub use crate::error::OpError;
pub use crate::ops::aggregate::{AggKind, Aggregate};
pub use crate::ops::distinct::Distinct;
pub use crate::ops::join::{Join, JoinInput, JoinKind};
pub use crate::ops::ttl::Ttl;
pub use crate::ops::window;
pub use crate::pipeline::{
    OpenPipeline, OpenPipelineAt, Pipeline, PipelineError, SourceDef, SourceKind,
};
pub use crate::row::{self, SqlValue};
pub use crate::sql;
pub use crate::table::{ConflictPolicy, KeyKind, OnConflict, RecordChange, RowKeys, Table};
pub use crate::weight::Weight;

// Sources: how a pipeline says where its rows come from, and how it parses them.
pub use crate::source::chunk::{Chunk, RawRecord};
pub use crate::source::delta::DeltaTable;
pub use crate::source::fields::{parse_chunk, BadRecord, BadRecords, RecordAt};
pub use crate::source::file_table::{FileFormat, FileTable, DEFAULT_QUIET_PERIOD};
pub use crate::source::grpc::{GrpcConnection, GrpcTable};
pub use crate::source::mysql::{MySqlConnection, MySqlTable};
pub use crate::source::password::Password;
pub use crate::source::postgres::{PgConnection, PgTable};
pub use dozer_folder::{Credential, Folder, Patience, S3Location};
pub use dozer_pg_tls::{PgTls, SslMode};

// The typed gRPC services' messages (`typed`: the per-column conversions).
pub use crate::api::exec::RecordOut;
pub use crate::api::grpc::messages::{self as typed, Mismatch, TypedEvent, TypedMessages};
pub use crate::proto::types as proto_types;

// The binary's entry point and its settings.
pub use crate::api::query::QueryLimits;
pub use crate::api::settings::{ApiSettings, AuthSettings, CorsPolicy, Secret};
pub use crate::cli::{self, AppSpec};
pub use crate::event_log::DEFAULT_RETENTION as DEFAULT_EVENT_RETENTION;
