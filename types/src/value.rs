//! A dynamically typed value, for the edges of the system: API filters and responses, JSON, dumps,
//! the oracle comparisons in tests. Rows on the hot path are generated typed structs instead.

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeDelta, Utc};
use rust_decimal::Decimal;

use crate::SqlType;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Boolean(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Decimal(Decimal),
    String(String),
    Text(String),
    Binary(Vec<u8>),
    Timestamp(DateTime<Utc>),
    Date(NaiveDate),
    Json(serde_json::Value),
    Duration(TimeDelta),
}

impl Value {
    /// The value's type; `None` for NULL, which belongs to every type.
    pub fn ty(&self) -> Option<SqlType> {
        Some(match self {
            Value::Null => return None,
            Value::Boolean(_) => SqlType::Boolean,
            Value::Int(_) => SqlType::Int,
            Value::UInt(_) => SqlType::UInt,
            Value::Float(_) => SqlType::Float,
            Value::Decimal(_) => SqlType::Decimal,
            Value::String(_) => SqlType::String,
            Value::Text(_) => SqlType::Text,
            Value::Binary(_) => SqlType::Binary,
            Value::Timestamp(_) => SqlType::Timestamp,
            Value::Date(_) => SqlType::Date,
            Value::Json(_) => SqlType::Json,
            Value::Duration(_) => SqlType::Duration,
        })
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The JSON form of the REST API (Dozer's): decimals as strings (exact), timestamps RFC 3339,
    /// dates `YYYY-MM-DD`, binary as a byte array, durations as `{"value", "time_unit"}`; a float
    /// that JSON cannot hold (NaN, ±inf) as a string.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Boolean(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::UInt(u) => J::from(*u),
            Value::Float(f) => {
                serde_json::Number::from_f64(*f).map_or_else(|| J::String(f.to_string()), J::Number)
            }
            Value::Decimal(d) => J::String(d.to_string()),
            Value::String(s) | Value::Text(s) => J::String(s.clone()),
            Value::Binary(b) => J::from(b.clone()),
            Value::Timestamp(t) => J::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            Value::Date(d) => J::String(d.format("%Y-%m-%d").to_string()),
            Value::Json(j) => j.clone(),
            Value::Duration(d) => serde_json::json!({
                "value": d.num_nanoseconds().map_or_else(|| d.num_milliseconds().to_string(), |n| n.to_string()),
                "time_unit": if d.num_nanoseconds().is_some() { "Nanoseconds" } else { "Milliseconds" },
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_forms() {
        assert_eq!(
            Value::Decimal(Decimal::new(1050, 2)).to_json(),
            serde_json::json!("10.50")
        );
        let t = DateTime::from_timestamp(1_323_435_000, 0).unwrap();
        assert_eq!(
            Value::Timestamp(t).to_json(),
            serde_json::json!("2011-12-09T12:50:00Z")
        );
        assert_eq!(Value::Float(f64::NAN).to_json(), serde_json::json!("NaN"));
        assert_eq!(Value::Int(-3).ty(), Some(SqlType::Int));
        assert_eq!(Value::Null.ty(), None);
    }
}
