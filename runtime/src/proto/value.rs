//! Values on the wire and back: Dozer's `dozer.types.Value` (a oneof; NULL is unset) for the
//! API's answers, and the typed value a pushed one stands for in a column of a known type (the
//! `!Grpc` source). One mapping, both ways.

use chrono::{DateTime, NaiveDate, Utc};
use dozer_types::{Decimal, SqlType, Value};

use super::types::{self as pb, value::Value as V};

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

/// The value `wire` stands for in a column of type `ty`; an error says what was sent instead
/// (the caller names the column). Integers widen to decimals and floats, and a string is read
/// as a date, timestamp or decimal in their usual text forms, as Dozer's clients send them.
pub fn typed(wire: pb::Value, ty: SqlType) -> Result<Value, String> {
    let Some(v) = wire.value else {
        return Ok(Value::Null);
    };
    let wrong = |v: &V| format!("expects {ty}, got {}", sent(v));
    Ok(match (ty, v) {
        (SqlType::Boolean, V::BoolValue(b)) => Value::Boolean(b),
        (SqlType::Int, V::IntValue(i)) => Value::Int(i),
        (SqlType::Int, V::UintValue(u)) => {
            Value::Int(i64::try_from(u).map_err(|_| format!("{u} is out of range for int"))?)
        }
        (SqlType::UInt, V::UintValue(u)) => Value::UInt(u),
        (SqlType::UInt, V::IntValue(i)) => {
            Value::UInt(u64::try_from(i).map_err(|_| format!("{i} is out of range for uint"))?)
        }
        (SqlType::Float, V::FloatValue(f)) => Value::Float(f),
        (SqlType::Float, V::IntValue(i)) => Value::Float(i as f64),
        (SqlType::Decimal, V::DecimalValue(d)) => Value::Decimal(decimal(&d)?),
        (SqlType::Decimal, V::IntValue(i)) => Value::Decimal(Decimal::from(i)),
        (SqlType::Decimal, V::StringValue(s)) => Value::Decimal(
            s.trim()
                .parse()
                .map_err(|_| format!("`{s}` is not a decimal"))?,
        ),
        (SqlType::String, V::StringValue(s)) => Value::String(s),
        (SqlType::Text, V::StringValue(s)) => Value::Text(s),
        (SqlType::Binary, V::BytesValue(b)) => Value::Binary(b),
        (SqlType::Timestamp, V::TimestampValue(t)) => Value::Timestamp(
            DateTime::<Utc>::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(u32::MAX))
                .ok_or_else(|| format!("{}s {}ns is not a valid timestamp", t.seconds, t.nanos))?,
        ),
        (SqlType::Timestamp, V::StringValue(s)) => Value::Timestamp(
            dozer_types::parse::parse_timestamp(s.trim())
                .ok_or_else(|| format!("`{s}` is not a timestamp (e.g. 2024-01-31 10:00:00)"))?,
        ),
        (SqlType::Date, V::DateValue(s) | V::StringValue(s)) => Value::Date(
            NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                .map_err(|_| format!("`{s}` is not a date (YYYY-MM-DD)"))?,
        ),
        (SqlType::Json, V::JsonValue(j)) => Value::Json(from_json(j)),
        (SqlType::Json, V::StringValue(s)) => {
            Value::Json(serde_json::from_str(&s).map_err(|e| format!("`{s}` is not JSON: {e}"))?)
        }
        (_, v) => return Err(wrong(&v)),
    })
}

/// What a wire value is, for messages.
fn sent(v: &V) -> String {
    match v {
        V::UintValue(u) => format!("uint_value {u}"),
        V::Uint128Value(s) => format!("uint_128_value {s}"),
        V::IntValue(i) => format!("int_value {i}"),
        V::Int128Value(s) => format!("int_128_value {s}"),
        V::FloatValue(f) => format!("float_value {f}"),
        V::BoolValue(b) => format!("bool_value {b}"),
        V::StringValue(s) => format!("string_value {s:?}"),
        V::BytesValue(b) => format!("bytes_value of {} bytes", b.len()),
        V::DecimalValue(_) => "decimal_value".into(),
        V::TimestampValue(_) => "timestamp_value".into(),
        V::DateValue(d) => format!("date_value {d:?}"),
        V::PointValue(_) => "point_value".into(),
        V::DurationValue(_) => "duration_value".into(),
        V::JsonValue(_) => "json_value".into(),
    }
}

/// Dozer's decimal layout back into a decimal.
fn decimal(d: &pb::RustDecimal) -> Result<Decimal, String> {
    if d.scale > 28 {
        return Err(format!("decimal scale {} is above 28", d.scale));
    }
    Ok(Decimal::from_parts(d.lo, d.mid, d.hi, d.negative, d.scale))
}

/// `google.protobuf.Value` as JSON.
fn from_json(j: prost_types::Value) -> serde_json::Value {
    use prost_types::value::Kind;
    match j.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::BoolValue(b)) => serde_json::Value::Bool(b),
        Some(Kind::NumberValue(n)) => serde_json::Number::from_f64(n)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Some(Kind::StringValue(s)) => serde_json::Value::String(s),
        Some(Kind::ListValue(l)) => {
            serde_json::Value::Array(l.values.into_iter().map(from_json).collect())
        }
        Some(Kind::StructValue(s)) => serde_json::Value::Object(
            s.fields
                .into_iter()
                .map(|(k, v)| (k, from_json(v)))
                .collect(),
        ),
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

    #[test]
    fn values_come_back_as_they_went() {
        let t = DateTime::from_timestamp(1_700_000_000, 250_000_000).unwrap();
        for (v, ty) in [
            (Value::Decimal("-12.34".parse().unwrap()), SqlType::Decimal),
            (Value::Timestamp(t), SqlType::Timestamp),
            (
                Value::Date(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()),
                SqlType::Date,
            ),
            (
                Value::Json(serde_json::json!({"a": [1.5, null, "x"]})),
                SqlType::Json,
            ),
            (Value::Int(-3), SqlType::Int),
            (Value::Null, SqlType::String),
        ] {
            assert_eq!(typed(value(&v), ty), Ok(v));
        }
        let err = typed(value(&Value::String("x".into())), SqlType::Int).unwrap_err();
        assert_eq!(err, "expects int, got string_value \"x\"");
        assert_eq!(
            typed(value(&Value::Int(-1)), SqlType::UInt).unwrap_err(),
            "-1 is out of range for uint"
        );
    }
}
