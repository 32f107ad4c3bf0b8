//! PostgreSQL's text forms: values as `COPY ... TO STDOUT` and the replication stream write them
//! (in sessions set to ISO dates, UTC and hex bytea), and the lines of COPY's text format.
//!
//! One reader serves the snapshot and the stream, so a row reads the same whichever way it came.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use dozer_types::parse::decode_hex;
use dozer_types::{Decimal, SqlType, Value};

/// Session settings that fix the text forms this module reads.
pub const SESSION_OPTIONS: &str =
    "-c DateStyle=ISO,MDY -c TimeZone=UTC -c bytea_output=hex -c extra_float_digits=1";

/// A column's text as a value of the column's type.
pub fn value(ty: SqlType, text: &str) -> Result<Value, String> {
    let bad = || format!("`{text}` is not a {ty} value");
    Ok(match ty {
        SqlType::Boolean => match text {
            "t" => Value::Boolean(true),
            "f" => Value::Boolean(false),
            _ => return Err(bad()),
        },
        SqlType::Int => Value::Int(text.parse().map_err(|_| bad())?),
        SqlType::UInt => Value::UInt(text.parse().map_err(|_| bad())?),
        SqlType::Float => Value::Float(match text {
            "NaN" => f64::NAN,
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            _ => text.parse().map_err(|_| bad())?,
        }),
        SqlType::Decimal => match text {
            "NaN" | "Infinity" | "-Infinity" => {
                return Err(format!(
                    "numeric `{text}` has no decimal value (dozerc decimals are finite numbers)"
                ))
            }
            _ => Value::Decimal(text.parse::<Decimal>().map_err(|_| {
                format!("numeric `{text}` does not fit a decimal (28 significant digits)")
            })?),
        },
        SqlType::String | SqlType::Text => Value::String(text.to_string()),
        SqlType::Binary => {
            let hex = text.strip_prefix("\\x").ok_or_else(bad)?;
            Value::Binary(decode_hex(hex).ok_or_else(bad)?)
        }
        SqlType::Timestamp => Value::Timestamp(timestamp(text).ok_or_else(|| {
            format!(
                "`{text}` is not a timestamp dozerc can hold (infinite and BC timestamps are not)"
            )
        })?),
        SqlType::Date => {
            Value::Date(NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
                format!("`{text}` is not a date dozerc can hold (infinite and BC dates are not)")
            })?)
        }
        SqlType::Json => Value::Json(
            serde_json::from_str(text).map_err(|e| format!("`{text}` is not JSON: {e}"))?,
        ),
        SqlType::Duration => return Err(format!("not supported yet: duration columns (`{text}`)")),
    })
}

/// `timestamptz` (`2024-01-02 03:04:05.5+00`, also with `+05:30`) or `timestamp` (no offset,
/// taken as UTC).
fn timestamp(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z") {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

/// The fields of one line of COPY's text format (without its newline): tab-separated, `\N` for
/// NULL, backslash escapes undone.
pub fn copy_fields(line: &[u8]) -> Result<Vec<Option<String>>, String> {
    let mut out = vec![];
    for field in line.split(|b| *b == b'\t') {
        if field == b"\\N" {
            out.push(None);
            continue;
        }
        let mut bytes = Vec::with_capacity(field.len());
        let mut i = 0;
        while i < field.len() {
            let b = field[i];
            if b != b'\\' {
                bytes.push(b);
                i += 1;
                continue;
            }
            let Some(&next) = field.get(i + 1) else {
                return Err("a COPY field ends with a lone backslash".into());
            };
            i += 2;
            match next {
                b'b' => bytes.push(8),
                b'f' => bytes.push(12),
                b'n' => bytes.push(b'\n'),
                b'r' => bytes.push(b'\r'),
                b't' => bytes.push(b'\t'),
                b'v' => bytes.push(11),
                b'0'..=b'7' => {
                    let mut v = u32::from(next - b'0');
                    for _ in 0..2 {
                        match field.get(i) {
                            Some(d @ b'0'..=b'7') => {
                                v = v * 8 + u32::from(d - b'0');
                                i += 1;
                            }
                            _ => break,
                        }
                    }
                    bytes.push(v as u8);
                }
                b'x' => {
                    let mut v = 0u32;
                    let mut digits = 0;
                    while digits < 2 {
                        match field.get(i).and_then(|d| (*d as char).to_digit(16)) {
                            Some(d) => {
                                v = v * 16 + d;
                                i += 1;
                                digits += 1;
                            }
                            None => break,
                        }
                    }
                    if digits == 0 {
                        bytes.push(b'x');
                    } else {
                        bytes.push(v as u8);
                    }
                }
                other => bytes.push(other),
            }
        }
        out.push(Some(
            String::from_utf8(bytes).map_err(|_| "a COPY field is not UTF-8".to_string())?,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_text_forms_read_as_values() {
        assert_eq!(value(SqlType::Boolean, "t"), Ok(Value::Boolean(true)));
        assert_eq!(value(SqlType::Int, "-42"), Ok(Value::Int(-42)));
        assert_eq!(
            value(SqlType::Decimal, "12.50"),
            Ok(Value::Decimal(Decimal::new(1250, 2)))
        );
        assert!(value(SqlType::Decimal, "NaN").is_err());
        assert!(
            matches!(value(SqlType::Float, "-Infinity"), Ok(Value::Float(f)) if f == f64::NEG_INFINITY)
        );
        assert_eq!(
            value(SqlType::Binary, "\\x00ff"),
            Ok(Value::Binary(vec![0, 255]))
        );
        let t = |s: &str| match value(SqlType::Timestamp, s) {
            Ok(Value::Timestamp(t)) => t.to_rfc3339(),
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(
            t("2024-01-02 03:04:05.5+00"),
            "2024-01-02T03:04:05.500+00:00"
        );
        assert_eq!(t("2024-01-02 03:04:05+05:30"), "2024-01-01T21:34:05+00:00");
        assert_eq!(t("2024-01-02 03:04:05"), "2024-01-02T03:04:05+00:00");
        assert!(value(SqlType::Timestamp, "infinity").is_err());
        assert!(value(SqlType::Date, "2024-01-02 BC").is_err());
        assert_eq!(
            value(SqlType::Json, r#"{"a": [1, null]}"#),
            Ok(Value::Json(serde_json::json!({"a": [1, null]})))
        );
    }

    #[test]
    fn copy_lines_split_and_unescape() {
        assert_eq!(
            copy_fields(b"1\t\\N\ta\\tb\\nc\\\\d\t\\101\\x41"),
            Ok(vec![
                Some("1".into()),
                None,
                Some("a\tb\nc\\d".into()),
                Some("AA".into())
            ])
        );
        assert_eq!(copy_fields(b""), Ok(vec![Some(String::new())]));
        assert!(copy_fields(b"a\\").is_err());
    }
}
