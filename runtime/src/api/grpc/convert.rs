//! Values and schemas in Dozer's protobuf shapes.

use dozer_types::{SqlType, Value};

use crate::api::auth::EndpointGrant;
use crate::api::exec::RecordOut;
use crate::proto::types as pb;
pub use crate::proto::value::{json, rust_decimal, timestamp, value};
use dozer_types::FieldDef;

/// Dozer's type enum for a field type.
pub fn field_type(ty: SqlType) -> pb::Type {
    match ty {
        SqlType::Boolean => pb::Type::Boolean,
        SqlType::Int => pb::Type::Int,
        SqlType::UInt => pb::Type::UInt,
        SqlType::Float => pb::Type::Float,
        SqlType::Decimal => pb::Type::Decimal,
        SqlType::String => pb::Type::String,
        SqlType::Text => pb::Type::Text,
        SqlType::Binary => pb::Type::Binary,
        SqlType::Timestamp => pb::Type::Timestamp,
        SqlType::Date => pb::Type::Date,
        SqlType::Json => pb::Type::Json,
        SqlType::Duration => pb::Type::Duration,
    }
}

pub fn field_definitions(fields: &[FieldDef]) -> Vec<pb::FieldDefinition> {
    fields
        .iter()
        .map(|f| pb::FieldDefinition {
            typ: field_type(f.ty) as i32,
            name: f.name.clone(),
            nullable: f.nullable,
        })
        .collect()
}

/// A row's values of the fields the grant shows.
pub fn values(row: &[Value], grant: &EndpointGrant) -> Vec<pb::Value> {
    match grant.visible() {
        None => row.iter().map(value).collect(),
        Some(v) => row
            .iter()
            .zip(v)
            .filter(|(_, &shown)| shown)
            .map(|(x, _)| value(x))
            .collect(),
    }
}

/// A record with the values of the fields the grant shows.
pub fn record(r: &RecordOut, grant: &EndpointGrant) -> pb::Record {
    pb::Record {
        values: values(&r.values, grant),
        id: r.id,
        version: r.version,
    }
}
