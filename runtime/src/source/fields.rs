//! Typed values from raw records: what generated code calls to turn a CSV field or a JSON-lines
//! member into a struct field.
//!
//! The text grammar is `dozer_types::parse` — the one schema inference used — so a column inferred
//! as `decimal` always reads as one. An empty CSV field is NULL; NULL in a non-nullable column, or a
//! value that does not parse, is a [`BadValue`] that names the column; the caller adds file, line
//! and column number and applies the app's bad-record policy ([`BadRecords`]).

use chrono::{DateTime, NaiveDate, Utc};
use dozer_types::parse::{parse_value, ParseError};
use dozer_types::{Decimal, SqlType, Value};

use super::chunk::{Chunk, RawRecord};
use crate::weight::Weight;

/// A field that could not become its column's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadValue {
    pub message: String,
}

/// A type a column can hold, read from CSV text or a JSON value.
pub trait FromField: Sized {
    const TYPE: SqlType;

    fn from_value(v: Value) -> Option<Self>;

    /// A non-NULL CSV field.
    fn from_text(text: &str) -> Result<Self, BadValue> {
        let value = parse_value(Self::TYPE, text).map_err(|e: ParseError| BadValue {
            message: e.to_string(),
        })?;
        Self::from_value(value).ok_or_else(|| BadValue {
            message: format!("`{text}` is not a valid {}", Self::TYPE),
        })
    }

    /// A non-null JSON value: numbers and booleans as themselves, strings parsed as text.
    fn from_json(v: &serde_json::Value) -> Result<Self, BadValue> {
        let bad = || BadValue {
            message: format!("{v} is not a valid {}", Self::TYPE),
        };
        match v {
            serde_json::Value::String(s) if Self::TYPE != SqlType::Json => Self::from_text(s),
            serde_json::Value::Number(n) if Self::TYPE != SqlType::Json => {
                Self::from_text(&n.to_string())
            }
            serde_json::Value::Bool(b) if Self::TYPE == SqlType::Boolean => {
                Self::from_text(if *b { "true" } else { "false" })
            }
            other if Self::TYPE == SqlType::Json => {
                Self::from_value(Value::Json(other.clone())).ok_or_else(bad)
            }
            _ => Err(bad()),
        }
    }

    /// A non-NULL value of a typed source (Parquet): the column's own type, or one that converts
    /// without loss (a narrower integer, an integer into a decimal or float, text parsed as for CSV).
    fn from_typed(v: Value) -> Result<Self, BadValue> {
        let v = match (v, Self::TYPE) {
            (Value::String(s) | Value::Text(s), SqlType::Json) => {
                return serde_json::from_str(&s)
                    .map_err(|e| BadValue {
                        message: format!("not valid JSON: {e}"),
                    })
                    .and_then(|j| Self::from_json_value(j));
            }
            (Value::String(s) | Value::Text(s), ty)
                if ty != SqlType::String && ty != SqlType::Text =>
            {
                return Self::from_text(&s);
            }
            (Value::Int(i), SqlType::Float) => Value::Float(i as f64),
            (Value::Int(i), SqlType::Decimal) => Value::Decimal(i.into()),
            (Value::UInt(u), SqlType::Decimal) => Value::Decimal(u.into()),
            (Value::Int(i), SqlType::UInt) if i >= 0 => Value::UInt(i as u64),
            (Value::UInt(u), SqlType::Int) if i64::try_from(u).is_ok() => Value::Int(u as i64),
            (v, _) => v,
        };
        let found = v.ty();
        Self::from_value(v).ok_or_else(|| BadValue {
            message: format!(
                "a {} value, but the column is {}",
                found.map_or("NULL".to_string(), |t| t.to_string()),
                Self::TYPE
            ),
        })
    }

    fn from_json_value(j: serde_json::Value) -> Result<Self, BadValue> {
        Self::from_value(Value::Json(j)).ok_or_else(|| BadValue {
            message: format!("JSON where the column is {}", Self::TYPE),
        })
    }
}

macro_rules! from_field {
    ($t:ty, $ty:expr, $variant:ident) => {
        impl FromField for $t {
            const TYPE: SqlType = $ty;

            fn from_value(v: Value) -> Option<Self> {
                match v {
                    Value::$variant(x) => Some(x),
                    _ => None,
                }
            }
        }
    };
}

from_field!(bool, SqlType::Boolean, Boolean);
from_field!(i64, SqlType::Int, Int);
from_field!(u64, SqlType::UInt, UInt);
from_field!(f64, SqlType::Float, Float);
from_field!(Decimal, SqlType::Decimal, Decimal);
from_field!(String, SqlType::String, String);
from_field!(Vec<u8>, SqlType::Binary, Binary);
from_field!(DateTime<Utc>, SqlType::Timestamp, Timestamp);
from_field!(NaiveDate, SqlType::Date, Date);
from_field!(serde_json::Value, SqlType::Json, Json);

/// A CSV field for a non-nullable column.
pub fn csv_required<T: FromField>(field: &[u8]) -> Result<T, BadValue> {
    let text = std::str::from_utf8(field).map_err(|_| BadValue {
        message: "not valid UTF-8".into(),
    })?;
    if text.is_empty() {
        return Err(BadValue {
            message: "empty, but the column is NOT NULL".into(),
        });
    }
    T::from_text(text)
}

/// A CSV field for a nullable column (empty = NULL).
pub fn csv_nullable<T: FromField>(field: &[u8]) -> Result<Option<T>, BadValue> {
    if field.is_empty() {
        return Ok(None);
    }
    csv_required(field).map(Some)
}

/// A JSON member for a non-nullable column.
pub fn json_required<T: FromField>(v: Option<&serde_json::Value>) -> Result<T, BadValue> {
    match v {
        None | Some(serde_json::Value::Null) => Err(BadValue {
            message: "missing or null, but the column is NOT NULL".into(),
        }),
        Some(v) => T::from_json(v),
    }
}

/// A JSON member for a nullable column (missing or null = NULL).
pub fn json_nullable<T: FromField>(v: Option<&serde_json::Value>) -> Result<Option<T>, BadValue> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => T::from_json(v).map(Some),
    }
}

/// One unreadable record, located.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRecord {
    pub file: String,
    pub line: u64,
    /// 1-based column number (field position); `None` for record-level problems.
    pub column: Option<usize>,
    pub column_name: Option<String>,
    pub message: String,
}

impl std::fmt::Display for BadRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(c) = self.column {
            write!(f, ":{c}")?;
        }
        if let Some(name) = &self.column_name {
            write!(f, " (column `{name}`)")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for BadRecord {}

/// The app's policy for unreadable records (`app.on_bad_record`): stop at the first, or report,
/// count and skip them. Never silent.
#[derive(Debug)]
pub struct BadRecords {
    skip: bool,
    skipped: u64,
    /// The first few skipped records, kept for `info` and logs.
    pub examples: Vec<BadRecord>,
}

const KEPT_EXAMPLES: usize = 20;

impl BadRecords {
    pub fn new(skip: bool) -> Self {
        BadRecords {
            skip,
            skipped: 0,
            examples: vec![],
        }
    }

    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Whether the policy is to skip bad records.
    pub fn skipping(&self) -> bool {
        self.skip
    }

    /// Adds the counts and examples of another collector (one transaction's).
    pub fn absorb(&mut self, other: BadRecords) {
        self.skipped += other.skipped;
        let room = KEPT_EXAMPLES.saturating_sub(self.examples.len());
        self.examples.extend(other.examples.into_iter().take(room));
    }

    /// Handles one bad record: `Err` stops the pipeline (policy `fail`); `Ok` skips it (policy
    /// `skip`), after counting it and keeping it as an example if there are few.
    pub fn handle(&mut self, bad: BadRecord) -> Result<(), BadRecord> {
        if !self.skip {
            return Err(bad);
        }
        self.skipped += 1;
        if self.examples.len() < KEPT_EXAMPLES {
            self.examples.push(bad);
        }
        Ok(())
    }
}

/// Where a record came from; builds located [`BadRecord`]s. Generated parsers call its methods
/// once per column, so a bad value names file, line, column number and column name.
#[derive(Clone, Copy, Debug)]
pub struct RecordAt<'a> {
    pub file: &'a str,
    pub line: u64,
}

impl RecordAt<'_> {
    fn bad(&self, column: Option<(usize, &str)>, message: String) -> BadRecord {
        BadRecord {
            file: self.file.to_string(),
            line: self.line,
            column: column.map(|(i, _)| i + 1),
            column_name: column.map(|(_, n)| n.to_string()),
            message,
        }
    }

    /// The fields of a CSV record that must have `columns` fields.
    pub fn csv<'r>(
        &self,
        record: &'r RawRecord,
        columns: usize,
    ) -> Result<&'r csv::ByteRecord, BadRecord> {
        match record {
            RawRecord::Csv(fields) if fields.len() == columns => Ok(fields),
            RawRecord::Csv(fields) => Err(self.bad(
                None,
                format!("{} fields, the table has {columns}", fields.len()),
            )),
            RawRecord::Malformed(m) => Err(self.bad(None, m.clone())),
            _ => Err(self.bad(None, "not a CSV record".into())),
        }
    }

    pub fn csv_required<T: FromField>(
        &self,
        fields: &csv::ByteRecord,
        i: usize,
        name: &str,
    ) -> Result<T, BadRecord> {
        csv_required(fields.get(i).unwrap_or_default())
            .map_err(|e| self.bad(Some((i, name)), e.message))
    }

    pub fn csv_nullable<T: FromField>(
        &self,
        fields: &csv::ByteRecord,
        i: usize,
        name: &str,
    ) -> Result<Option<T>, BadRecord> {
        csv_nullable(fields.get(i).unwrap_or_default())
            .map_err(|e| self.bad(Some((i, name)), e.message))
    }

    /// A JSON-lines record: one object.
    pub fn json(
        &self,
        record: &RawRecord,
    ) -> Result<serde_json::Map<String, serde_json::Value>, BadRecord> {
        let line = match record {
            RawRecord::Json(line) => line,
            RawRecord::Malformed(m) => return Err(self.bad(None, m.clone())),
            _ => return Err(self.bad(None, "not a JSON-lines record".into())),
        };
        match serde_json::from_str(line) {
            Ok(serde_json::Value::Object(map)) => Ok(map),
            Ok(_) => Err(self.bad(None, "not a JSON object".into())),
            Err(e) => Err(self.bad(None, format!("invalid JSON: {e}"))),
        }
    }

    pub fn json_required<T: FromField>(
        &self,
        object: &serde_json::Map<String, serde_json::Value>,
        i: usize,
        name: &str,
    ) -> Result<T, BadRecord> {
        json_required(object.get(name)).map_err(|e| self.bad(Some((i, name)), e.message))
    }

    pub fn json_nullable<T: FromField>(
        &self,
        object: &serde_json::Map<String, serde_json::Value>,
        i: usize,
        name: &str,
    ) -> Result<Option<T>, BadRecord> {
        json_nullable(object.get(name)).map_err(|e| self.bad(Some((i, name)), e.message))
    }
}

impl RecordAt<'_> {
    /// The values of a typed record (a Parquet row) of a table with `columns` columns.
    pub fn values<'r>(
        &self,
        record: &'r RawRecord,
        columns: usize,
    ) -> Result<&'r [Value], BadRecord> {
        match record {
            RawRecord::Values(values) if values.len() == columns => Ok(values),
            RawRecord::Values(values) => Err(self.bad(
                None,
                format!("{} values, the table has {columns} columns", values.len()),
            )),
            _ => Err(self.bad(None, "not a Parquet row".into())),
        }
    }

    pub fn value_required<T: FromField>(
        &self,
        values: &[Value],
        i: usize,
        name: &str,
    ) -> Result<T, BadRecord> {
        match values.get(i) {
            None | Some(Value::Null) => {
                Err(self.bad(Some((i, name)), "NULL, but the column is NOT NULL".into()))
            }
            Some(v) => T::from_typed(v.clone()).map_err(|e| self.bad(Some((i, name)), e.message)),
        }
    }

    pub fn value_nullable<T: FromField>(
        &self,
        values: &[Value],
        i: usize,
        name: &str,
    ) -> Result<Option<T>, BadRecord> {
        match values.get(i) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => T::from_typed(v.clone())
                .map(Some)
                .map_err(|e| self.bad(Some((i, name)), e.message)),
        }
    }
}

/// Parses every record of a chunk into typed rows (weight +1: files only append), applying the
/// bad-record policy.
pub fn parse_chunk<T>(
    chunk: &Chunk,
    bad: &mut BadRecords,
    parse: impl Fn(RecordAt<'_>, &RawRecord) -> Result<T, BadRecord>,
) -> Result<Vec<(T, Weight)>, BadRecord> {
    let mut rows = Vec::with_capacity(chunk.records.len());
    for (i, (line, record)) in chunk.records.iter().enumerate() {
        let at = RecordAt {
            file: &chunk.origin,
            line: *line,
        };
        match parse(at, record) {
            Ok(row) => rows.push((row, chunk.weights.get(i).copied().unwrap_or(1))),
            Err(e) => bad.handle(e)?,
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields() {
        assert_eq!(csv_required::<i64>(b"42"), Ok(42));
        assert_eq!(csv_required::<Decimal>(b"2.55"), Ok(Decimal::new(255, 2)));
        assert_eq!(csv_nullable::<i64>(b""), Ok(None));
        assert_eq!(csv_required::<f64>(b"42"), Ok(42.0));
        let err = csv_required::<i64>(b"").unwrap_err();
        assert!(err.message.contains("NOT NULL"), "{err:?}");
        let err = csv_required::<NaiveDate>(b"2011-02-30").unwrap_err();
        assert!(err.message.contains("not a valid date"), "{err:?}");
        assert!(csv_required::<String>(&[0xff]).is_err());
        let ts = csv_required::<DateTime<Utc>>(b"2010-12-01 08:26:00").unwrap();
        assert_eq!(ts.to_rfc3339(), "2010-12-01T08:26:00+00:00");
    }

    #[test]
    fn json_members() {
        let v = serde_json::json!({"n": 3, "d": "2.50", "f": 1.5, "b": true, "s": "x", "j": [1], "z": null});
        assert_eq!(json_required::<i64>(v.get("n")), Ok(3));
        assert_eq!(
            json_required::<Decimal>(v.get("d")),
            Ok(Decimal::new(250, 2))
        );
        assert_eq!(json_required::<Decimal>(v.get("n")), Ok(Decimal::from(3)));
        assert_eq!(json_required::<f64>(v.get("f")), Ok(1.5));
        assert_eq!(json_required::<bool>(v.get("b")), Ok(true));
        assert_eq!(
            json_required::<serde_json::Value>(v.get("j")),
            Ok(serde_json::json!([1]))
        );
        assert_eq!(json_nullable::<String>(v.get("z")), Ok(None));
        assert_eq!(json_nullable::<String>(v.get("missing")), Ok(None));
        assert!(json_required::<i64>(v.get("f")).is_err());
        assert!(json_required::<i64>(v.get("s")).is_err());
        assert!(json_required::<i64>(v.get("z")).is_err());
    }

    #[test]
    fn bad_record_policy() {
        let bad = BadRecord {
            file: "sales.csv".into(),
            line: 7,
            column: Some(4),
            column_name: Some("Quantity".into()),
            message: "`x` is not a valid int".into(),
        };
        assert_eq!(
            bad.to_string(),
            "sales.csv:7:4 (column `Quantity`): `x` is not a valid int"
        );
        assert!(BadRecords::new(false).handle(bad.clone()).is_err());
        let mut skip = BadRecords::new(true);
        for _ in 0..30 {
            skip.handle(bad.clone()).unwrap();
        }
        assert_eq!(skip.skipped(), 30);
        assert_eq!(skip.examples.len(), KEPT_EXAMPLES);
    }
}
