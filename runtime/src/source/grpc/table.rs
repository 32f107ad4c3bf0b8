//! What generated code declares of a `!Grpc` connection and its tables.

use dozer_types::SqlType;

/// A `!Grpc` connection: where its ingestion server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrpcConnection {
    /// The connection's name in the config.
    pub name: String,
    pub host: String,
    pub port: u16,
}

/// A table of a `!Grpc` connection (a schema of its `schemas`), as an app source reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrpcTable {
    pub connection: GrpcConnection,
    /// The schema's name: requests name it in `schema_name`.
    pub table: String,
    pub columns: Vec<String>,
    pub types: Vec<SqlType>,
    pub nullable: Vec<bool>,
    /// Column indices of the primary key (empty: none).
    pub primary_key: Vec<usize>,
}
