//! Reading values from text: CSV fields, YAML overrides, SQL literals, durations.
//!
//! [`classify`] (schema inference) and [`parse_value`] (ingestion) are two views of one grammar:
//! whatever `classify` calls type `T` parses as `T`, and as every type `T` widens to. Property tests
//! below hold them to that.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use rust_decimal::Decimal;

use crate::{SqlType, Value};

/// The most significant digits a decimal may have (rust_decimal's 96-bit mantissa holds 28 for sure).
pub const DECIMAL_DIGITS: usize = 28;

/// `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    (s.len() == 10)
        .then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .flatten()
}

/// RFC 3339, or `YYYY-MM-DD[ T]HH:MM[:SS[.fff]]` without offset (read as UTC).
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    if let Some(t) = parse_plain_timestamp(s.as_bytes()) {
        return Some(t);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|fmt| NaiveDateTime::parse_from_str(s, fmt).ok())
    .map(|t| t.and_utc())
}

/// The common form without a zone, `YYYY-MM-DD HH:MM[:SS[.fraction]]` (or with `T`), read by hand:
/// files hold millions of these, and chrono's format-string parser costs more per value than the
/// rest of reading a CSV field. `None` for anything else (the general path decides).
fn parse_plain_timestamp(b: &[u8]) -> Option<DateTime<Utc>> {
    fn num(b: &[u8]) -> Option<u32> {
        b.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    }
    if b.len() < 16
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b' ' | b'T')
        || b[13] != b':'
    {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(num(&b[..4])? as i32, num(&b[5..7])?, num(&b[8..10])?)?;
    let (hour, minute) = (num(&b[11..13])?, num(&b[14..16])?);
    let (mut second, mut nanos) = (0, 0);
    match &b[16..] {
        [] => {}
        [b':', s1, s2, rest @ ..] => {
            second = num(&[*s1, *s2])?;
            match rest {
                [] => {}
                [b'.', digits @ ..] if !digits.is_empty() && digits.len() <= 9 => {
                    nanos = num(digits)? * 10u32.pow(9 - digits.len() as u32);
                }
                _ => return None,
            }
        }
        _ => return None,
    }
    let time = chrono::NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    Some(date.and_time(time).and_utc())
}

/// A timestamp, or a date read as its midnight (UTC), as PostgreSQL reads `'2011-01-01'` where a
/// timestamp is expected.
pub fn parse_timestamp_or_date(s: &str) -> Option<DateTime<Utc>> {
    parse_timestamp(s).or_else(|| {
        parse_date(s)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
    })
}

/// The narrowest type that reads a (non-empty) text field. Numbers with a decimal point are
/// `decimal` (exact, as money must be); exponents, `inf` and `nan` are `float`; numbers with
/// leading zeros stay `string` so codes like `02134` keep their zeros.
pub fn classify(s: &str) -> SqlType {
    let t = s.trim();
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    let leading_zero = digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0.");
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if leading_zero {
            return SqlType::String;
        }
        return if t.parse::<i64>().is_ok() {
            SqlType::Int
        } else if digits.len() <= DECIMAL_DIGITS {
            SqlType::Decimal
        } else {
            SqlType::Float
        };
    }
    if let Some((int, frac)) = digits.split_once('.') {
        let ok = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if ok(int) && ok(frac) && !(int.is_empty() && frac.is_empty()) && !leading_zero {
            return if int.len() + frac.len() <= DECIMAL_DIGITS {
                SqlType::Decimal
            } else {
                SqlType::Float
            };
        }
    }
    let lower = t.to_ascii_lowercase();
    if matches!(lower.as_str(), "true" | "false") {
        return SqlType::Boolean;
    }
    let special = matches!(
        lower.trim_start_matches(['-', '+']),
        "inf" | "infinity" | "nan"
    );
    if !leading_zero && (lower.contains('e') || special) && t.parse::<f64>().is_ok() {
        return SqlType::Float;
    }
    if parse_date(t).is_some() {
        return SqlType::Date;
    }
    if parse_timestamp(t).is_some() {
        return SqlType::Timestamp;
    }
    SqlType::String
}

/// Why a text field could not be read as its column's type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub ty: SqlType,
    pub text: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: String = self.text.chars().take(60).collect();
        write!(f, "`{shown}` is not a valid {}", self.ty)?;
        let hint = match self.ty {
            SqlType::Date => " (expected YYYY-MM-DD)",
            SqlType::Timestamp => " (expected YYYY-MM-DD HH:MM:SS or RFC 3339)",
            SqlType::Decimal => " (expected a number with at most 28 digits)",
            SqlType::Boolean => " (expected true/false)",
            SqlType::Duration => " (expected e.g. '5 MINUTES')",
            _ => "",
        };
        f.write_str(hint)
    }
}

impl std::error::Error for ParseError {}

/// Reads a non-empty text field as type `ty` (empty fields are NULL; the caller decides that).
pub fn parse_value(ty: SqlType, s: &str) -> Result<Value, ParseError> {
    let t = s.trim();
    let fail = || ParseError {
        ty,
        text: s.to_string(),
    };
    Ok(match ty {
        SqlType::Boolean => match t.to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "1" => Value::Boolean(true),
            "false" | "f" | "no" | "n" | "0" => Value::Boolean(false),
            _ => return Err(fail()),
        },
        SqlType::Int => Value::Int(t.parse().map_err(|_| fail())?),
        SqlType::UInt => Value::UInt(t.parse().map_err(|_| fail())?),
        SqlType::Float => Value::Float(t.parse().map_err(|_| fail())?),
        SqlType::Decimal => Value::Decimal(parse_decimal(t).ok_or_else(fail)?),
        SqlType::String => Value::String(s.to_string()),
        SqlType::Text => Value::Text(s.to_string()),
        SqlType::Binary => Value::Binary(match t.strip_prefix("\\x") {
            Some(hex) => decode_hex(hex).ok_or_else(fail)?,
            None => s.as_bytes().to_vec(),
        }),
        SqlType::Timestamp => Value::Timestamp(parse_timestamp_or_date(t).ok_or_else(fail)?),
        SqlType::Date => Value::Date(parse_date(t).ok_or_else(fail)?),
        SqlType::Json => Value::Json(serde_json::from_str(t).map_err(|_| fail())?),
        SqlType::Duration => Value::Duration(parse_duration(t).ok_or_else(fail)?),
    })
}

/// A decimal in plain or scientific notation, exactly (no rounding: too many digits is an error).
pub fn parse_decimal(s: &str) -> Option<Decimal> {
    let d = if s.contains(['e', 'E']) {
        Decimal::from_scientific(s).ok()?
    } else {
        Decimal::from_str_exact(s).ok()?
    };
    Some(d)
}

/// `00ff` as bytes (`None`: odd length or not hex).
pub fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A duration as Dozer writes them: `'<n> <unit>'` with unit MILLISECOND(S), SECOND(S), MINUTE(S),
/// HOUR(S) or DAY(S); `n` > 0.
pub fn parse_duration(s: &str) -> Option<TimeDelta> {
    let mut parts = s.split_whitespace();
    let n: i64 = parts.next()?.parse().ok()?;
    let unit = parts.next()?.to_ascii_uppercase();
    if parts.next().is_some() || n <= 0 {
        return None;
    }
    let ms: i64 = match unit.strip_suffix('S').unwrap_or(&unit) {
        "MILLISECOND" => 1,
        "SECOND" => 1_000,
        "MINUTE" => 60_000,
        "HOUR" => 3_600_000,
        "DAY" => 86_400_000,
        _ => return None,
    };
    TimeDelta::try_milliseconds(n.checked_mul(ms)?)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The general path alone: what the hand-written one must agree with.
    fn chrono_timestamp(s: &str) -> Option<DateTime<Utc>> {
        [
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M",
            "%Y-%m-%dT%H:%M",
        ]
        .iter()
        .find_map(|fmt| NaiveDateTime::parse_from_str(s, fmt).ok())
        .map(|t| t.and_utc())
    }

    proptest! {
        #[test]
        fn plain_timestamps_read_as_chrono_reads_them(
            y in 0u32..10000, mo in 0u32..14, d in 0u32..33, h in 0u32..26, mi in 0u32..61, sec in 0u32..62,
            frac in proptest::option::of("[0-9]{1,10}"), t in any::<bool>(), seconds in any::<bool>(),
        ) {
            let mut text = format!("{y:04}-{mo:02}-{d:02}{}{h:02}:{mi:02}", if t { 'T' } else { ' ' });
            if seconds {
                text.push_str(&format!(":{sec:02}"));
                if let Some(f) = frac {
                    text.push('.');
                    text.push_str(&f);
                }
            }
            let fast = parse_plain_timestamp(text.as_bytes());
            if fast.is_some() {
                prop_assert_eq!(fast, chrono_timestamp(&text), "{}", text);
            }
            prop_assert_eq!(parse_timestamp(&text), chrono_timestamp(&text), "{}", text);
        }
    }

    #[test]
    fn plain_timestamp_edges() {
        for text in [
            "2024-02-29 23:59:59.5",
            "2023-02-29 10:00",
            "2024-01-01T00:00:00.123456789",
            "2024-01-01 00:00:",
            "2024-01-01 00:00:00.",
            "2024-1-01 00:00",
        ] {
            assert_eq!(parse_timestamp(text), chrono_timestamp(text), "{text}");
        }
    }

    #[test]
    fn classify_fields() {
        let cases = [
            ("42", SqlType::Int),
            ("-7", SqlType::Int),
            ("2.55", SqlType::Decimal),
            ("1e9", SqlType::Float),
            ("NaN", SqlType::Float),
            ("02134", SqlType::String),
            ("0", SqlType::Int),
            ("0.5", SqlType::Decimal),
            ("true", SqlType::Boolean),
            ("2011-12-09", SqlType::Date),
            ("2011-12-09 12:50:00", SqlType::Timestamp),
            ("2011-12-09T12:50:00+02:00", SqlType::Timestamp),
            ("85123A", SqlType::String),
            ("e", SqlType::String),
            ("99999999999999999999", SqlType::Decimal),
            ("1234567890123456789012345678901", SqlType::Float),
        ];
        for (text, ty) in cases {
            assert_eq!(classify(text), ty, "{text}");
        }
    }

    #[test]
    fn values_parse() {
        assert_eq!(
            parse_value(SqlType::Decimal, "2.50"),
            Ok(Value::Decimal(Decimal::new(250, 2)))
        );
        assert_eq!(
            parse_value(SqlType::Boolean, "yes"),
            Ok(Value::Boolean(true))
        );
        assert_eq!(
            parse_value(SqlType::Binary, "\\x0aff"),
            Ok(Value::Binary(vec![10, 255]))
        );
        assert!(parse_value(SqlType::Int, "1.5").is_err());
        for edge in ["5.", ".5", "-0.0", "+.5"] {
            assert_eq!(classify(edge), SqlType::Decimal, "{edge}");
            assert!(parse_value(SqlType::Decimal, edge).is_ok(), "{edge}");
        }
        assert!(parse_value(SqlType::Date, "2011-13-01").is_err());
        let ts = parse_value(SqlType::Timestamp, "2011-01-01").unwrap();
        assert_eq!(
            ts,
            Value::Timestamp(parse_timestamp("2011-01-01T00:00:00Z").unwrap())
        );
        assert_eq!(
            parse_value(SqlType::Int, "x").unwrap_err().to_string(),
            "`x` is not a valid int"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1 DAY"), TimeDelta::try_days(1));
        assert_eq!(parse_duration("5 minutes"), TimeDelta::try_minutes(5));
        assert_eq!(
            parse_duration("250 MILLISECONDS"),
            TimeDelta::try_milliseconds(250)
        );
        assert_eq!(parse_duration("1 FORTNIGHT"), None);
        assert_eq!(parse_duration("0 SECONDS"), None);
        assert_eq!(parse_duration("9223372036854775807 DAYS"), None);
    }

    /// The types a classified value must also read as (its widenings).
    fn widenings(t: SqlType) -> Vec<SqlType> {
        let mut v = vec![t, SqlType::String];
        match t {
            SqlType::Int => v.extend([SqlType::Decimal, SqlType::Float]),
            SqlType::Decimal => v.push(SqlType::Float),
            SqlType::Date => v.push(SqlType::Timestamp),
            _ => {}
        }
        v
    }

    proptest! {
        #[test]
        fn classified_text_parses_as_its_type_and_widenings(
            s in prop_oneof![
                "[-+]?[0-9]{1,30}",
                "[-+]?[0-9]{0,15}\\.[0-9]{0,15}",
                "[-+]?[0-9]{1,5}[eE][-+]?[0-9]{1,3}",
                "(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])( [01][0-9]:[0-5][0-9](:[0-5][0-9](\\.[0-9]{1,6})?)?)?",
                "(true|false|TRUE|False|inf|-inf|NaN)",
                "\\PC{0,12}",
            ]
        ) {
            prop_assume!(!s.trim().is_empty());
            let ty = classify(&s);
            for w in widenings(ty) {
                prop_assert!(parse_value(w, &s).is_ok(), "`{}` classified {} but does not parse as {}", s, ty, w);
            }
        }
    }
}
