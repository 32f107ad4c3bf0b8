//! PostgreSQL as the oracle: load the same data dozerc reads, let PostgreSQL compute the same query,
//! and compare the two results as multisets of rows.
//!
//! Values come back as [`dozer_types::Value`] so they compare directly with what dozerc serves;
//! [`diff_rows`] compares decimals by value (`2.50` = `2.5`), floats with a relative tolerance
//! (sums of floats depend on the order of addition), and reports the rows that differ.

use std::path::Path;

use dozer_types::{SqlType, Value};
use postgres::types::Type;
use postgres::{Client, NoTls, Row};

use crate::postgres::TestPostgres;

impl TestPostgres {
    /// A synchronous client on database `db`.
    pub fn connect(&self, db: &str) -> Result<Client, String> {
        Client::connect(&self.url(db), NoTls)
            .map_err(|e| format!("connecting to the test PostgreSQL: {e}"))
    }
}

/// The PostgreSQL type that holds a dozerc column type.
pub fn pg_type(ty: SqlType) -> &'static str {
    match ty {
        SqlType::Boolean => "boolean",
        SqlType::Int => "bigint",
        SqlType::UInt => "numeric(20)",
        SqlType::Float => "double precision",
        SqlType::Decimal => "numeric",
        SqlType::String | SqlType::Text => "text",
        SqlType::Binary => "bytea",
        SqlType::Timestamp => "timestamptz",
        SqlType::Date => "date",
        SqlType::Json => "jsonb",
        SqlType::Duration => "interval",
    }
}

/// Creates `table` with the given columns and loads a CSV file with a header line into it (every
/// empty field is NULL, as dozerc reads it).
pub fn load_csv(
    client: &mut Client,
    table: &str,
    columns: &[(&str, SqlType, bool)],
    csv: &Path,
) -> Result<u64, String> {
    let cols: Vec<String> = columns
        .iter()
        .map(|(name, ty, nullable)| {
            format!(
                "\"{name}\" {}{}",
                pg_type(*ty),
                if *nullable { "" } else { " NOT NULL" }
            )
        })
        .collect();
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS \"{table}\"; CREATE TABLE \"{table}\" ({});",
            cols.join(", ")
        ))
        .map_err(|e| format!("creating {table}: {e}"))?;
    let names: Vec<String> = columns.iter().map(|(n, _, _)| format!("\"{n}\"")).collect();
    let copy = format!(
        "COPY \"{table}\" ({}) FROM STDIN WITH (FORMAT csv, HEADER true)",
        names.join(", ")
    );
    let mut writer = client
        .copy_in(&copy)
        .map_err(|e| format!("COPY into {table}: {e}"))?;
    let mut file =
        std::fs::File::open(csv).map_err(|e| format!("reading {}: {e}", csv.display()))?;
    std::io::copy(&mut file, &mut writer).map_err(|e| format!("COPY into {table}: {e}"))?;
    writer
        .finish()
        .map_err(|e| format!("COPY into {table}: {e}"))
}

/// Runs a query and returns its rows as values.
pub fn query_values(client: &mut Client, sql: &str) -> Result<Vec<Vec<Value>>, String> {
    let rows = client
        .query(sql, &[])
        .map_err(|e| format!("oracle query failed: {e}\n{sql}"))?;
    rows.iter().map(row_values).collect()
}

fn row_values(row: &Row) -> Result<Vec<Value>, String> {
    (0..row.len())
        .map(|i| {
            let col = &row.columns()[i];
            let ty = col.type_();
            let err = |e: postgres::Error| format!("column {} ({ty}): {e}", col.name());
            macro_rules! get {
                ($t:ty, $wrap:expr) => {
                    row.try_get::<_, Option<$t>>(i)
                        .map_err(err)?
                        .map_or(Value::Null, $wrap)
                };
            }
            Ok(match *ty {
                Type::BOOL => get!(bool, Value::Boolean),
                Type::INT2 => get!(i16, |v| Value::Int(v.into())),
                Type::INT4 => get!(i32, |v| Value::Int(v.into())),
                Type::INT8 => get!(i64, Value::Int),
                Type::FLOAT4 => get!(f32, |v| Value::Float(v.into())),
                Type::FLOAT8 => get!(f64, Value::Float),
                Type::NUMERIC => get!(rust_decimal::Decimal, Value::Decimal),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
                    get!(String, Value::String)
                }
                Type::BYTEA => get!(Vec<u8>, Value::Binary),
                Type::TIMESTAMPTZ => get!(chrono::DateTime<chrono::Utc>, Value::Timestamp),
                Type::TIMESTAMP => get!(chrono::NaiveDateTime, |v| Value::Timestamp(v.and_utc())),
                Type::DATE => get!(chrono::NaiveDate, Value::Date),
                Type::JSON | Type::JSONB => get!(serde_json::Value, Value::Json),
                _ => {
                    return Err(format!(
                        "column {}: type {ty} is not mapped; cast it in the oracle query",
                        col.name()
                    ))
                }
            })
        })
        .collect()
}

/// Whether two values are the same result: decimals by value, floats within a relative 1e-9,
/// an integer equal to a decimal of the same value (PostgreSQL's SUM(bigint) is numeric).
pub fn same_value(a: &Value, b: &Value) -> bool {
    use rust_decimal::prelude::ToPrimitive;
    let close = |x: f64, y: f64| {
        x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs()) || (x.is_nan() && y.is_nan())
    };
    match (a, b) {
        (Value::Decimal(x), Value::Decimal(y)) => x == y,
        (Value::Int(x), Value::Decimal(y)) | (Value::Decimal(y), Value::Int(x)) => {
            rust_decimal::Decimal::from(*x) == *y
        }
        (Value::Float(x), Value::Float(y)) => close(*x, *y),
        (Value::Float(x), Value::Decimal(y)) | (Value::Decimal(y), Value::Float(x)) => {
            y.to_f64().is_some_and(|y| close(*x, y))
        }
        (Value::String(x) | Value::Text(x), Value::String(y) | Value::Text(y)) => x == y,
        _ => a == b,
    }
}

fn same_row(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_value(x, y))
}

/// A row's form for exact matching, `None` when it holds a float (those match within a
/// tolerance). Integers and decimals are written by value, strings and texts alike.
fn canonical(row: &[Value]) -> Option<String> {
    let mut key = String::new();
    for v in row {
        match v {
            Value::Float(_) => return None,
            Value::Int(i) => key.push_str(&format!("n{i}")),
            Value::Decimal(d) => key.push_str(&format!("n{}", d.normalize())),
            Value::String(s) | Value::Text(s) => key.push_str(&format!("s{s:?}")),
            other => key.push_str(&format!("{other:?}")),
        }
        key.push('\u{1}');
    }
    Some(key)
}

/// Compares two results as multisets of rows. `None` when they match, else a report of the rows
/// only in one of them (at most 20 of each).
pub fn diff_rows(actual: &[Vec<Value>], expected: &[Vec<Value>]) -> Option<String> {
    // Rows without floats match exactly on a canonical form (numbers by value): pair those
    // through a map, so large results compare in linear time; the rest pairwise.
    let mut exact: std::collections::HashMap<String, Vec<&Vec<Value>>> = Default::default();
    let mut unmatched: Vec<&Vec<Value>> = vec![];
    for row in expected {
        match canonical(row) {
            Some(k) => exact.entry(k).or_default().push(row),
            None => unmatched.push(row),
        }
    }
    let mut rest: Vec<&Vec<Value>> = vec![];
    for row in actual {
        let paired = canonical(row)
            .and_then(|k| exact.get_mut(&k))
            .and_then(|rows| rows.pop());
        if paired.is_none() {
            rest.push(row);
        }
    }
    unmatched.extend(exact.into_values().flatten());
    let mut extra: Vec<&Vec<Value>> = vec![];
    for row in rest {
        match unmatched.iter().position(|e| same_row(row, e)) {
            Some(i) => {
                unmatched.swap_remove(i);
            }
            None => extra.push(row),
        }
    }
    if extra.is_empty() && unmatched.is_empty() {
        return None;
    }
    let show = |rows: &[&Vec<Value>]| -> String {
        rows.iter()
            .take(20)
            .map(|r| {
                format!(
                    "  {}\n",
                    serde_json::Value::Array(r.iter().map(Value::to_json).collect())
                )
            })
            .collect()
    };
    Some(format!(
        "{} actual rows, {} expected; {} rows only in the actual result:\n{}{} rows only in the expected result:\n{}",
        actual.len(),
        expected.len(),
        extra.len(),
        show(&extra),
        unmatched.len(),
        show(&unmatched)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    #[test]
    fn rows_compare_as_multisets_with_numeric_tolerance() {
        let a = vec![
            vec![Value::Int(1), Value::Decimal(Decimal::new(250, 2))],
            vec![Value::Int(1), Value::Decimal(Decimal::new(250, 2))],
        ];
        let b = vec![
            vec![Value::Int(1), Value::Decimal(Decimal::new(25, 1))],
            vec![
                Value::Decimal(Decimal::ONE),
                Value::Decimal(Decimal::new(25, 1)),
            ],
        ];
        assert_eq!(diff_rows(&a, &b), None);
        let c = vec![vec![Value::Int(1), Value::Decimal(Decimal::new(25, 1))]];
        let report = diff_rows(&a, &c).unwrap();
        assert!(
            report.contains("1 rows only in the actual result"),
            "{report}"
        );
        assert!(same_value(&Value::Float(0.1 + 0.2), &Value::Float(0.3)));
        assert!(!same_value(&Value::Float(0.3), &Value::Float(0.31)));
    }
}
