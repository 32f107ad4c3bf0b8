//! The column types of dozerc: what a column of a source or of a SQL result can hold.
//!
//! They follow Dozer's field types (and so the gRPC `dozer.types.Type` enum), which keeps the wire
//! format compatible; names in diagnostics are the SQL-ish lower-case ones users write in overrides.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqlType {
    Boolean,
    /// Signed 64-bit integer.
    Int,
    /// Unsigned 64-bit integer (Parquet `UINT_64`).
    UInt,
    /// 64-bit IEEE float.
    Float,
    /// Exact decimal (up to 28 significant digits, as `rust_decimal`).
    Decimal,
    String,
    /// A string meant for full-text search; behaves as `String` in SQL.
    Text,
    Binary,
    /// A point in time with offset (stored as UTC).
    Timestamp,
    Date,
    Json,
    /// A length of time (`window` sizes, `INTERVAL`s).
    Duration,
}

impl SqlType {
    pub const ALL: [SqlType; 12] = [
        SqlType::Boolean,
        SqlType::Int,
        SqlType::UInt,
        SqlType::Float,
        SqlType::Decimal,
        SqlType::String,
        SqlType::Text,
        SqlType::Binary,
        SqlType::Timestamp,
        SqlType::Date,
        SqlType::Json,
        SqlType::Duration,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SqlType::Boolean => "boolean",
            SqlType::Int => "int",
            SqlType::UInt => "uint",
            SqlType::Float => "float",
            SqlType::Decimal => "decimal",
            SqlType::String => "string",
            SqlType::Text => "text",
            SqlType::Binary => "binary",
            SqlType::Timestamp => "timestamp",
            SqlType::Date => "date",
            SqlType::Json => "json",
            SqlType::Duration => "duration",
        }
    }

    /// Parses a type name as written in a YAML override or a `CAST`; accepts common SQL synonyms.
    pub fn from_name(name: &str) -> Option<SqlType> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "bool" | "boolean" => SqlType::Boolean,
            "int" | "integer" | "bigint" | "int8" | "int4" | "int2" | "smallint" | "i64" => {
                SqlType::Int
            }
            "uint" | "u64" => SqlType::UInt,
            "float" | "double" | "double precision" | "real" | "float4" | "float8" | "f64" => {
                SqlType::Float
            }
            "decimal" | "numeric" => SqlType::Decimal,
            "string" | "varchar" | "char" | "character varying" | "uuid" => SqlType::String,
            "text" => SqlType::Text,
            "binary" | "bytea" | "bytes" | "blob" => SqlType::Binary,
            "timestamp" | "timestamptz" | "datetime" => SqlType::Timestamp,
            "date" => SqlType::Date,
            "json" | "jsonb" => SqlType::Json,
            "duration" | "interval" => SqlType::Duration,
            _ => return None,
        })
    }

    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            SqlType::Int | SqlType::UInt | SqlType::Float | SqlType::Decimal
        )
    }

    pub fn is_string(self) -> bool {
        matches!(self, SqlType::String | SqlType::Text)
    }

    /// Whether the API filters on values of this type (`$eq`, `$in`, …).
    pub fn is_filterable(self) -> bool {
        !matches!(self, SqlType::Binary | SqlType::Duration)
    }

    /// Whether the API orders values of this type: `$lt`, `$lte`, `$gt`, `$gte` and `$order_by`
    /// take it. The OpenAPI document and the generated SDKs offer those only where this holds.
    pub fn is_orderable(self) -> bool {
        self.is_filterable() && self != SqlType::Json
    }

    pub fn is_temporal(self) -> bool {
        matches!(self, SqlType::Timestamp | SqlType::Date)
    }

    /// The common type two numeric types widen to (Int < Decimal < Float, as in PostgreSQL).
    pub fn numeric_supertype(a: SqlType, b: SqlType) -> Option<SqlType> {
        use SqlType::*;
        if !a.is_numeric() || !b.is_numeric() {
            return None;
        }
        Some(match (a, b) {
            (x, y) if x == y => x,
            (Float, _) | (_, Float) => Float,
            (Decimal, _) | (_, Decimal) => Decimal,
            // Int and UInt: the signed type, as values beyond i64 are rare and checked at run time.
            _ => Int,
        })
    }

    /// The common type of two values that must be compared or unified (CASE branches, UNION
    /// columns, COALESCE arguments, IN lists), if there is one.
    pub fn common_supertype(a: SqlType, b: SqlType) -> Option<SqlType> {
        use SqlType::*;
        if a == b {
            return Some(a);
        }
        if let Some(t) = SqlType::numeric_supertype(a, b) {
            return Some(t);
        }
        match (a, b) {
            (String, Text) | (Text, String) => Some(String),
            (Date, Timestamp) | (Timestamp, Date) => Some(Timestamp),
            _ => None,
        }
    }
}

impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in SqlType::ALL {
            assert_eq!(SqlType::from_name(t.name()), Some(t));
        }
    }

    #[test]
    fn widening() {
        use SqlType::*;
        assert_eq!(SqlType::numeric_supertype(Int, Decimal), Some(Decimal));
        assert_eq!(SqlType::numeric_supertype(Decimal, Float), Some(Float));
        assert_eq!(SqlType::numeric_supertype(Int, String), None);
        assert_eq!(SqlType::common_supertype(Date, Timestamp), Some(Timestamp));
    }
}
