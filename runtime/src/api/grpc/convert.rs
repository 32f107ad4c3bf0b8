//! Values and schemas in Dozer's protobuf shapes.

use dozer_types::{SqlType, Value};

use super::proto::types::{self as pb, value::Value as V};
use crate::api::auth::EndpointGrant;
use crate::api::exec::RecordOut;
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

/// A value on the wire; NULL is an unset oneof.
pub fn value(v: &Value) -> pb::Value {
    let value = match v {
        Value::Null => None,
        Value::Boolean(b) => Some(V::BoolValue(*b)),
        Value::Int(i) => Some(V::IntValue(*i)),
        Value::UInt(u) => Some(V::UintValue(*u)),
        Value::Float(f) => Some(V::FloatValue(*f)),
        Value::Decimal(d) => Some(V::DecimalValue(rust_decimal(d))),
        Value::String(s) | Value::Text(s) => Some(V::StringValue(s.clone())),
        Value::Binary(b) => Some(V::BytesValue(b.clone())),
        Value::Timestamp(t) => Some(V::TimestampValue(timestamp(t))),
        Value::Date(d) => Some(V::DateValue(d.format("%Y-%m-%d").to_string())),
        Value::Json(j) => Some(V::JsonValue(json(j))),
        Value::Duration(_) => match v.to_json() {
            serde_json::Value::Object(o) => Some(V::DurationValue(pb::DurationType {
                value: o["value"].as_str().unwrap_or_default().to_string(),
                time_unit: o["time_unit"].as_str().unwrap_or_default().to_string(),
            })),
            _ => None,
        },
    };
    pb::Value { value }
}

/// A decimal in Dozer's layout: a 96-bit mantissa in three words, its scale and sign.
pub fn rust_decimal(d: &dozer_types::Decimal) -> pb::RustDecimal {
    let m = d.mantissa().unsigned_abs();
    pb::RustDecimal {
        scale: d.scale(),
        lo: m as u32,
        mid: (m >> 32) as u32,
        hi: (m >> 64) as u32,
        negative: d.is_sign_negative(),
    }
}

pub fn timestamp(t: &chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// JSON as `google.protobuf.Value`.
pub fn json(j: &serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match j {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(*b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => Kind::StringValue(s.clone()),
        serde_json::Value::Array(a) => Kind::ListValue(prost_types::ListValue {
            values: a.iter().map(json).collect(),
        }),
        serde_json::Value::Object(o) => Kind::StructValue(prost_types::Struct {
            fields: o.iter().map(|(k, v)| (k.clone(), json(v))).collect(),
        }),
    };
    prost_types::Value { kind: Some(kind) }
}

/// A record with the values of the fields the grant shows.
pub fn record(r: &RecordOut, grant: &EndpointGrant) -> pb::Record {
    pb::Record {
        values: values(&r.values, grant),
        id: r.id,
        version: r.version,
    }
}

#[cfg(test)]
mod tests {
    use dozer_types::Decimal;

    use super::*;

    #[test]
    fn decimals_keep_dozers_layout() {
        let d: Decimal = "-79228162514264337593543950335".parse().unwrap();
        let Some(V::DecimalValue(w)) = value(&Value::Decimal(d)).value else {
            panic!()
        };
        assert_eq!(
            (w.lo, w.mid, w.hi, w.negative, w.scale),
            (u32::MAX, u32::MAX, u32::MAX, true, 0)
        );
        let Some(V::DecimalValue(w)) = value(&Value::Decimal("1.05".parse().unwrap())).value else {
            panic!()
        };
        assert_eq!((w.lo, w.scale), (105, 2));
        assert_eq!(value(&Value::Null).value, None);
    }
}
