//! What generated code names of the runtime: the one list behind the `use` line of every emitted
//! pipeline and behind the type names a generated struct may not take.
//!
//! The runtime gathers everything emitted code needs in `dozer_runtime::contract`; this is its
//! mirror on the compiler's side. A generated struct named like an imported item (a source called
//! `table` would give `Table`) would not compile, so struct names avoid every name here.

/// The items emitted `src/pipeline.rs` imports from `dozer_runtime::contract`.
pub const PIPELINE_IMPORTS: &[&str] = &[
    "row",
    "serde_json",
    "sql",
    "window",
    "AggKind",
    "Aggregate",
    "BadRecord",
    "BadRecords",
    "Chunk",
    "ConflictPolicy",
    "Credential",
    "DateTime",
    "Decimal",
    "Decode",
    "DecodeError",
    "DeltaTable",
    "Distinct",
    "Encode",
    "EndpointSchema",
    "Env",
    "FieldDef",
    "FileFormat",
    "FileTable",
    "Folder",
    "GrpcConnection",
    "GrpcTable",
    "IndexDef",
    "Join",
    "JoinInput",
    "JoinKind",
    "KeyKind",
    "MySqlConnection",
    "MySqlTable",
    "NaiveDate",
    "OnConflict",
    "OpError",
    "Password",
    "Patience",
    "PgConnection",
    "PgTable",
    "PgTls",
    "Pipeline",
    "PipelineError",
    "RawRecord",
    "Reader",
    "RecordAt",
    "RecordChange",
    "RowKeys",
    "RwTxn",
    "S3Location",
    "SourceDef",
    "SourceKind",
    "SqlType",
    "SqlValue",
    "SslMode",
    "Table",
    "Ttl",
    "Utc",
    "Value",
    "Weight",
    "WithoutTls",
    "DEFAULT_QUIET_PERIOD",
    "parse_chunk",
];

/// Names emitted code uses from Rust's prelude and `std`, and its own fixed items.
const OTHER_NAMES: &[&str] = &[
    "Box",
    "Err",
    "Generated",
    "None",
    "Ok",
    "Option",
    "Path",
    "Result",
    "Some",
    "String",
    "Vec",
    "Delta",
];

/// The `use` line of an emitted pipeline.
pub fn pipeline_use() -> String {
    format!(
        "use dozer_runtime::contract::{{{}}};\n",
        PIPELINE_IMPORTS.join(", ")
    )
}

/// Type names a generated struct may not take.
pub fn reserved_type_names() -> impl Iterator<Item = String> {
    PIPELINE_IMPORTS
        .iter()
        .chain(OTHER_NAMES)
        .filter(|n| n.starts_with(|c: char| c.is_ascii_uppercase()))
        .map(|n| n.to_string())
}
