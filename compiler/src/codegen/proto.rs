//! The `.proto` file of each endpoint's typed gRPC service.
//!
//! Dozer's shape (package `dozer.generated.<endpoint>`, a service named after the endpoint with
//! `count`, `query` and `on_event`), over a record message whose fields are the endpoint's columns
//! with their real types: `optional` exactly where a column is nullable, decimals as
//! `dozer.types.RustDecimal`, timestamps as `google.protobuf.Timestamp`, JSON as
//! `google.protobuf.Value`. Field numbers follow column order, so a client generated from one
//! build reads the next as long as columns are only added at the end.
//!
//! These files are the source of truth for the typed messages: [`super::typed`] compiles them
//! with protox and generates the Rust messages from the result with prost-build.

use std::fmt::Write as _;

use dozer_types::grpc;

use super::error::CodegenError;
use super::names::unique;
use super::pipeline::ApiEndpoint;
use crate::sql::BoundQuery;
use crate::types::SqlType;

/// The runtime's shared protobuf types (records, values, event types), which the endpoint files
/// import as `dozer/types.proto`.
pub const TYPES_PROTO: &str = include_str!("../../../runtime/proto/dozer/types.proto");
/// The runtime's common and health services (for clients; the app serves them).
pub const COMMON_PROTO: &str = include_str!("../../../runtime/proto/dozer/common.proto");
pub const HEALTH_PROTO: &str = include_str!("../../../runtime/proto/dozer/health.proto");
pub const AUTH_PROTO: &str = include_str!("../../../runtime/proto/dozer/auth.proto");
/// The push ingestion service of `!Grpc` connections (for clients; the app serves it).
pub const INGEST_PROTO: &str = include_str!("../../../runtime/proto/dozer/ingest.proto");

/// The names in one endpoint's file.
#[derive(Clone, Debug)]
pub struct ProtoNames {
    /// `dozer/generated/<endpoint>.proto`.
    pub file: String,
    pub package: String,
    pub service: String,
    /// The record message (`<Endpoint>Record`) and its field names, in column order.
    pub record: String,
    pub fields: Vec<String>,
    pub with_id: String,
    pub query_request: String,
    pub query_response: String,
    pub count_response: String,
    pub event_request: String,
    pub event: String,
    pub token_request: String,
    pub token_response: String,
}

impl ProtoNames {
    pub fn of(e: &ApiEndpoint) -> ProtoNames {
        let ident = grpc::identifier(&e.schema.name);
        let p = grpc::pascal(&e.schema.name);
        // The version field keeps Dozer's name; a column of that name gives way.
        let fields = unique(
            [VERSION_FIELD.to_string()]
                .into_iter()
                .chain(e.schema.fields.iter().map(|f| grpc::identifier(&f.name))),
        );
        ProtoNames {
            file: format!("dozer/generated/{ident}.proto"),
            package: grpc::package(&e.schema.name),
            service: p.clone(),
            record: format!("{p}Record"),
            fields: fields[1..].to_vec(),
            with_id: format!("{p}RecordWithId"),
            query_request: format!("Query{p}Request"),
            query_response: format!("Query{p}Response"),
            count_response: format!("Count{p}Response"),
            event_request: format!("{p}EventRequest"),
            event: format!("{p}Event"),
            token_request: format!("{p}TokenRequest"),
            token_response: format!("{p}TokenResponse"),
        }
    }
}

/// Dozer's name for the record version field, the record message's last field.
pub const VERSION_FIELD: &str = "__dozer_record_version";

/// The protobuf type of a column's values.
fn proto_type(ty: SqlType) -> Result<&'static str, CodegenError> {
    Ok(match ty {
        SqlType::Boolean => "bool",
        SqlType::Int => "int64",
        SqlType::UInt => "uint64",
        SqlType::Float => "double",
        SqlType::Decimal => "dozer.types.RustDecimal",
        SqlType::String | SqlType::Text => "string",
        SqlType::Binary => "bytes",
        SqlType::Timestamp => "google.protobuf.Timestamp",
        SqlType::Date => "string",
        SqlType::Json => "google.protobuf.Value",
        SqlType::Duration => "dozer.types.DurationType",
    })
}

/// Whether protobuf needs `optional` to tell NULL from a value (message fields always can).
fn is_scalar(ty: SqlType) -> bool {
    !matches!(
        ty,
        SqlType::Decimal | SqlType::Timestamp | SqlType::Json | SqlType::Duration
    )
}

/// Every line of `text` as a `//` comment, indented.
fn comment(out: &mut String, indent: &str, text: &str) {
    for line in text.trim().lines() {
        let line = line.trim_end();
        if line.is_empty() {
            writeln!(out, "{indent}//").ok();
        } else {
            writeln!(out, "{indent}// {line}").ok();
        }
    }
}

/// The `.proto` file of endpoint `e`'s typed service; `with_token`: the app has authentication,
/// and the service issues tokens for the endpoint.
pub fn endpoint_proto(
    e: &ApiEndpoint,
    queries: &[BoundQuery],
    config_name: &str,
    with_token: bool,
) -> Result<(ProtoNames, String), CodegenError> {
    let n = ProtoNames::of(e);
    let mut out = String::new();
    comment(
        &mut out,
        "",
        &format!(
            "The typed gRPC service of endpoint `{}` (REST path {}), generated by dozerc from {config_name}.\nDo not edit: change the config or SQL and run `dozerc build` again.",
            e.schema.name, e.schema.path
        ),
    );
    out.push_str("syntax = \"proto3\";\n\n");
    writeln!(out, "package {};\n", n.package).ok();
    out.push_str("import \"dozer/types.proto\";\n");
    let uses = |t: SqlType| e.schema.fields.iter().any(|f| f.ty == t);
    if uses(SqlType::Timestamp) {
        out.push_str("import \"google/protobuf/timestamp.proto\";\n");
    }
    if uses(SqlType::Json) {
        out.push_str("import \"google/protobuf/struct.proto\";\n");
    }
    out.push('\n');
    comment(
        &mut out,
        "",
        &format!(
            "Queries, counts and follows the records of `{}`.",
            e.schema.name
        ),
    );
    writeln!(out, "service {} {{", n.service).ok();
    comment(
        &mut out,
        "  ",
        "Counts the records that the query's `$filter` selects (all of them without one).",
    );
    writeln!(
        out,
        "  rpc count({}) returns ({});",
        n.query_request, n.count_response
    )
    .ok();
    comment(&mut out, "  ", "The records a query selects: JSON with `$filter`, `$order_by`, `$limit`, `$skip`, `$after`\n(the first `api.default_max_num_records` records without one).");
    writeln!(
        out,
        "  rpc query({}) returns ({});",
        n.query_request, n.query_response
    )
    .ok();
    comment(&mut out, "  ", "Every committed change of the records from now on, or after `resume_after`, that the\nevent type and `filter` select.");
    writeln!(
        out,
        "  rpc on_event({}) returns (stream {});",
        n.event_request, n.event
    )
    .ok();
    if with_token {
        comment(&mut out, "  ", "A token that reads only this endpoint, within `filter` and `fields` (the caller's token\nmust have `All` access).");
        writeln!(
            out,
            "  rpc token({}) returns ({});",
            n.token_request, n.token_response
        )
        .ok();
    }
    out.push_str("}\n\n");

    comment(&mut out, "", "Request of `count` and `query`.");
    writeln!(out, "message {} {{", n.query_request).ok();
    comment(&mut out, "  ", "The query as JSON.");
    out.push_str("  optional string query = 1;\n}\n\n");

    comment(&mut out, "", "Answer of `count`.");
    writeln!(
        out,
        "message {} {{\n  uint64 count = 1;\n}}\n",
        n.count_response
    )
    .ok();

    comment(
        &mut out,
        "",
        "Answer of `query`: the records in the query's order.",
    );
    writeln!(
        out,
        "message {} {{\n  repeated {} records = 1;\n}}\n",
        n.query_response, n.with_id
    )
    .ok();

    comment(&mut out, "", "Request of `on_event`.");
    writeln!(out, "message {} {{", n.event_request).ok();
    comment(
        &mut out,
        "  ",
        "Which changes: all, or only inserts, updates or deletes.",
    );
    out.push_str("  dozer.types.EventType type = 1;\n");
    comment(
        &mut out,
        "  ",
        "A `$filter` as JSON; a record entering or leaving it is an insert or a delete.",
    );
    out.push_str("  optional string filter = 2;\n");
    comment(
        &mut out,
        "  ",
        "Start after this event position (a `position` received before).",
    );
    out.push_str("  optional uint64 resume_after = 3;\n}\n\n");

    if with_token {
        comment(&mut out, "", "Request of `token`.");
        writeln!(out, "message {} {{", n.token_request).ok();
        comment(
            &mut out,
            "  ",
            "A `$filter` as JSON: the rows the token may read (none: every row).",
        );
        out.push_str("  optional string filter = 1;\n");
        comment(
            &mut out,
            "  ",
            "The fields the token may read (none: every field).",
        );
        out.push_str("  repeated string fields = 2;\n");
        comment(&mut out, "  ", "The token's lifetime in seconds (default `api.token_ttl`; never past the caller's token).");
        out.push_str("  optional uint64 ttl_seconds = 3;\n}\n\n");
        comment(&mut out, "", "Answer of `token`.");
        writeln!(
            out,
            "message {} {{\n  string token = 1;\n}}\n",
            n.token_response
        )
        .ok();
    }

    comment(&mut out, "", "One committed change of a record.");
    writeln!(out, "message {} {{", n.event).ok();
    out.push_str("  dozer.types.OperationType typ = 1;\n");
    comment(&mut out, "  ", "The record before an update.");
    writeln!(out, "  optional {} old = 2;", n.record).ok();
    comment(
        &mut out,
        "  ",
        "The record after the change (the deleted record for a delete).",
    );
    writeln!(out, "  optional {} new = 3;", n.record).ok();
    comment(&mut out, "  ", "The record's id.");
    out.push_str("  uint64 id = 4;\n");
    comment(
        &mut out,
        "  ",
        "The change's position in the app's event log, to resume after.",
    );
    out.push_str("  uint64 position = 5;\n}\n\n");

    let source = queries.iter().find(|q| q.into == e.table).map_or_else(
        || format!("Rows of source `{}`.", e.table),
        |q| format!("Rows of `{}`:\n{}", e.table, q.sql.trim()),
    );
    comment(
        &mut out,
        "",
        &format!(
            "A record of `{}`; nullable columns are `optional`.\n{source}",
            e.schema.name
        ),
    );
    writeln!(out, "message {} {{", n.record).ok();
    for (i, (f, field)) in e.schema.fields.iter().zip(&n.fields).enumerate() {
        let (name, ty, nullable) = (&f.name, &f.ty, &f.nullable);
        if field != name {
            comment(&mut out, "  ", &format!("Column `{name}`."));
        }
        let label = if *nullable && is_scalar(*ty) {
            "optional "
        } else {
            ""
        };
        writeln!(out, "  {label}{} {field} = {};", proto_type(*ty)?, i + 1).ok();
    }
    comment(&mut out, "  ", "Increases with every change of the record.");
    writeln!(
        out,
        "  uint32 {VERSION_FIELD} = {};\n}}\n",
        e.schema.fields.len() + 1
    )
    .ok();

    comment(&mut out, "", "A record and its id.");
    writeln!(
        out,
        "message {} {{\n  uint64 id = 1;\n  {} record = 2;\n}}",
        n.with_id, n.record
    )
    .ok();
    Ok((n, out))
}
