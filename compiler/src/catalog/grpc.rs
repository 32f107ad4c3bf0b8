//! Schemas of `!Grpc` tables: the connection's `schemas` JSON, as Dozer's default adapter writes
//! it — an object of tables, each `{ "schema": { "fields": [{ "name", "typ", "nullable" }],
//! "primary_index": [..] } }` — or its arrow adapter (a list of `{ "name", "schema" }` whose
//! fields have Arrow `data_type`s), written inline in the YAML or in a file beside it. There is no
//! live source to ask: what the JSON says is what clients must send.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::schema::{Column, TableSchema};
use crate::config::{Config, GrpcConfig, GrpcSchemas, Source, Spanned};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::types::SqlType;

/// The JSON of a connection's schemas: its text and what to call it in messages.
fn schemas_text(config: &Config, grpc: &GrpcConfig) -> Result<(String, String), String> {
    match &grpc.schemas {
        GrpcSchemas::Inline(text) => Ok((text.value.clone(), "the inline `schemas`".into())),
        GrpcSchemas::Path(path) => {
            let file = config.resolve_path(&path.value);
            std::fs::read_to_string(&file)
                .map(|text| (text, format!("`{}`", file.display())))
                .map_err(|e| format!("cannot read the schemas file `{}`: {e}", file.display()))
        }
    }
}

fn schemas_span(grpc: &GrpcConfig) -> &Spanned<String> {
    match &grpc.schemas {
        GrpcSchemas::Inline(s) | GrpcSchemas::Path(s) => s,
    }
}

/// Every table the connection's schemas declare, by name.
pub fn tables(config: &Config, grpc: &GrpcConfig) -> Result<BTreeMap<String, TableSchema>, String> {
    let (text, what) = schemas_text(config, grpc)?;
    let json: Json = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{what} is not JSON: {e} (line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    let entries: Vec<(String, &Json)> = match &json {
        Json::Object(tables) => tables.iter().map(|(n, t)| (n.clone(), t)).collect(),
        // The arrow adapter's form: a list of `{ "name", "schema" }`.
        Json::Array(tables) => tables
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let name = t
                    .get("name")
                    .and_then(Json::as_str)
                    .ok_or_else(|| format!("{what}: table #{} has no `name`", i + 1))?;
                Ok((name.to_string(), t))
            })
            .collect::<Result<_, String>>()?,
        _ => {
            return Err(format!(
                "{what} must be a JSON object of tables: {{\"users\": {{\"schema\": {{\"fields\": [...]}}}}}}"
            ))
        }
    };
    entries
        .into_iter()
        .map(|(name, t)| {
            let schema = table(&name, t).map_err(|e| format!("{what}, table `{name}`: {e}"))?;
            Ok((name, schema))
        })
        .collect()
}

/// A field's SQL type from Dozer's `typ` (`"Int"`) or, in the arrow adapter's form, its Arrow
/// `data_type` (`"Int64"`, `"Utf8"`, `{"Timestamp": ["Millisecond", null]}`, ...).
fn field_type(column: &str, f: &Json) -> Result<SqlType, String> {
    if let Some(typ) = f.get("typ").and_then(Json::as_str) {
        return SqlType::from_name(typ)
            .filter(|t| *t != SqlType::Duration)
            .ok_or_else(|| match typ {
                "Point" | "U128" | "I128" | "Duration" => format!("not supported yet: field `{column}` of type `{typ}`"),
                _ => format!("field `{column}` has type `{typ}`, which is none of Int, UInt, Float, Boolean, String, Text, Binary, Decimal, Timestamp, Date, Json"),
            });
    }
    let Some(data_type) = f.get("data_type") else {
        return Err(format!(
            "field `{column}` has no `typ` (e.g. \"Int\", \"String\")"
        ));
    };
    let name = match data_type {
        Json::String(s) => s.as_str(),
        // `{"Timestamp": [unit, zone]}`, `{"Decimal128": [precision, scale]}`.
        Json::Object(o) => o.keys().next().map_or("", String::as_str),
        _ => "",
    };
    Ok(match name {
        "Boolean" => SqlType::Boolean,
        "Int8" | "Int16" | "Int32" | "Int64" | "UInt8" | "UInt16" | "UInt32" => SqlType::Int,
        "UInt64" => SqlType::UInt,
        "Float16" | "Float32" | "Float64" => SqlType::Float,
        "Decimal128" => SqlType::Decimal,
        "Utf8" | "LargeUtf8" | "Utf8View" => SqlType::String,
        "Binary" | "LargeBinary" | "FixedSizeBinary" => SqlType::Binary,
        "Date32" | "Date64" => SqlType::Date,
        "Timestamp" | "Datetime" => SqlType::Timestamp,
        _ => {
            return Err(format!(
                "not supported yet: field `{column}` of Arrow type {data_type}"
            ))
        }
    })
}

fn table(name: &str, t: &Json) -> Result<TableSchema, String> {
    let schema = t
        .get("schema")
        .ok_or("no `schema` object (`{\"schema\": {\"fields\": [...]}}`)")?;
    let fields = schema
        .get("fields")
        .and_then(Json::as_array)
        .ok_or("`schema` has no `fields` list")?;
    let mut columns = Vec::with_capacity(fields.len());
    for (i, f) in fields.iter().enumerate() {
        let column = f
            .get("name")
            .and_then(Json::as_str)
            .ok_or_else(|| format!("field #{} has no `name`", i + 1))?;
        let ty = field_type(column, f)?;
        if columns.iter().any(|c: &Column| c.name == column) {
            return Err(format!("field `{column}` is declared twice"));
        }
        columns.push(Column {
            name: column.to_string(),
            ty,
            nullable: f.get("nullable").and_then(Json::as_bool).unwrap_or(true),
        });
    }
    if columns.is_empty() {
        return Err(format!("table `{name}` has no fields"));
    }
    let primary_key = match schema.get("primary_index") {
        None | Some(Json::Null) => vec![],
        Some(Json::Array(ix)) => ix
            .iter()
            .map(|i| {
                i.as_u64()
                    .map(|i| i as usize)
                    .filter(|i| *i < columns.len())
                    .ok_or_else(|| {
                        format!(
                            "`primary_index` entry {i} is not a field's position (0 to {})",
                            columns.len() - 1
                        )
                    })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("`primary_index` must be a list of field positions".into()),
    };
    Ok(TableSchema {
        columns,
        primary_key,
        row_image: vec![],
    })
}

/// The schema of `source`'s table; `None` with a diagnostic at the connection's `schemas`.
pub(super) fn schema(
    config: &Config,
    grpc: &GrpcConfig,
    source: &Source,
    diags: &mut Diagnostics,
) -> Option<TableSchema> {
    let at = schemas_span(grpc);
    let all = match tables(config, grpc) {
        Ok(t) => t,
        Err(message) => {
            diags.push(
                Diagnostic::error("catalog::grpc-schemas", message)
                    .label(at.span, "these schemas")
                    .help("write Dozer's format: {\"users\": {\"schema\": {\"fields\": [{\"name\": \"id\", \"typ\": \"Int\", \"nullable\": false}], \"primary_index\": [0]}}}"),
            );
            return None;
        }
    };
    match all.get(&source.table_name.value) {
        Some(schema) => Some(schema.clone()),
        None => {
            let names: Vec<&str> = all.keys().map(String::as_str).collect();
            diags.push(
                Diagnostic::error(
                    "catalog::grpc-unknown-table",
                    format!(
                        "the connection's schemas declare no table `{}` (they declare: {})",
                        source.table_name.value,
                        names.join(", ")
                    ),
                )
                .label(source.table_name.span, "no such schema")
                .label(at.span, "the schemas")
                .help("add the table to the schemas, or fix `table_name`"),
            );
            None
        }
    }
}
