//! MySQL values as the source's typed values. The snapshot (binary protocol) and the binlog
//! encode the same column differently — an unsigned `INT` is a `UInt` in one and a wrapped `Int`
//! in the other, a `TIMESTAMP` a date in one and epoch seconds as text in the other, a `FLOAT` an
//! `f32` in both — so both go through this one conversion, which gives one value for one stored
//! datum whichever way it came.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use dozer_types::{SqlType, Value};
use mysql_async::Value as My;
use rust_decimal::Decimal;

/// How a column is converted: its type, its integer width (0: not an integer) and sign, and
/// the character set its text arrives in.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    pub ty: SqlType,
    pub int_bits: u8,
    pub unsigned: bool,
    pub charset: Charset,
}

impl Column {
    /// The column's integer from its bits as they were read: the binlog does not say whether an
    /// integer is signed, so an unsigned one may arrive negative (`INT UNSIGNED` 4294967295 as
    /// -1) and a signed one as unsigned (`MEDIUMINT` -1 as 16777215).
    fn integer(&self, i: i64) -> i64 {
        let bits = u32::from(self.int_bits);
        if !(8..64).contains(&bits) {
            return i;
        }
        if self.unsigned && i < 0 {
            i + (1i64 << bits)
        } else if !self.unsigned && i >= 1i64 << (bits - 1) {
            i - (1i64 << bits)
        } else {
            i
        }
    }
}

/// The character set of a column's text as it arrives. The snapshot's connection asks for
/// `utf8mb4`, so the server converts every column; the binlog carries each column's bytes in the
/// column's own character set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charset {
    /// utf8mb4, utf8mb3, ascii (and every column of the snapshot).
    Utf8,
    /// MySQL's `latin1`, which is Windows-1252.
    Latin1,
}

impl Charset {
    /// The character set of a column named by `information_schema` (`None`: no text column);
    /// `Err` with the name when it is one that is not read yet.
    pub fn of(name: Option<&str>) -> Result<Charset, String> {
        match name.map(str::to_ascii_lowercase).as_deref() {
            None | Some("utf8mb4" | "utf8mb3" | "utf8" | "ascii" | "binary") => Ok(Charset::Utf8),
            Some("latin1") => Ok(Charset::Latin1),
            Some(other) => Err(other.to_string()),
        }
    }
}

/// Windows-1252's characters for the bytes 0x80–0x9F (the rest of latin1 is Unicode's first 256
/// code points); MySQL maps the five bytes Windows-1252 leaves undefined to the C1 controls.
const CP1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}', '\u{017D}', '\u{008F}',
    '\u{0090}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
];

fn latin1(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            0x80..=0x9F => CP1252_HIGH[usize::from(b - 0x80)],
            _ => char::from(b),
        })
        .collect()
}

/// `v` as a value of the column's type, or why it is not one.
pub fn value(column: Column, v: My) -> Result<Value, String> {
    if let My::NULL = v {
        return Ok(Value::Null);
    }
    let mismatch = |v: &My| format!("a {} value where {} was expected", kind(v), column.ty);
    Ok(match column.ty {
        SqlType::Boolean => match v {
            My::Int(i) => Value::Boolean(column.integer(i) != 0),
            My::UInt(u) => Value::Boolean(u != 0),
            // BIT(1) from the binlog and the snapshot alike.
            My::Bytes(b) if b.len() == 1 => Value::Boolean(b[0] != 0),
            other => return Err(mismatch(&other)),
        },
        SqlType::Int => match v {
            My::Int(i) => Value::Int(column.integer(i)),
            My::UInt(u) => Value::Int(column.integer(
                i64::try_from(u).map_err(|_| format!("{u} does not fit a 64-bit integer"))?,
            )),
            // YEAR arrives as text from the binlog.
            My::Bytes(b) => Value::Int(
                text(&b)?
                    .parse()
                    .map_err(|_| format!("`{}` is not an integer", String::from_utf8_lossy(&b)))?,
            ),
            other => return Err(mismatch(&other)),
        },
        SqlType::UInt => match v {
            // BIGINT UNSIGNED from the binlog: the bits of the unsigned value.
            My::Int(i) => Value::UInt(i as u64),
            My::UInt(u) => Value::UInt(u),
            other => return Err(mismatch(&other)),
        },
        SqlType::Float => match v {
            // The shortest text of the `f32` read as an `f64`: FLOAT 0.1 is 0.1, as MySQL shows it.
            My::Float(f) => Value::Float(f.to_string().parse().unwrap_or(f as f64)),
            My::Double(d) => Value::Float(d),
            other => return Err(mismatch(&other)),
        },
        SqlType::Decimal => match v {
            My::Bytes(b) => {
                let t = text(&b)?;
                Value::Decimal(
                    Decimal::from_str_exact(t)
                        .or_else(|_| Decimal::from_scientific(t))
                        .map_err(|e| format!("`{t}` as a decimal: {e}"))?,
                )
            }
            My::Int(i) => Value::Decimal(Decimal::from(i)),
            My::UInt(u) => Value::Decimal(Decimal::from(u)),
            other => return Err(mismatch(&other)),
        },
        SqlType::String | SqlType::Text => {
            let s = match v {
                My::Bytes(b) if column.charset == Charset::Latin1 => latin1(&b),
                My::Bytes(b) => String::from_utf8(b).map_err(|e| {
                    format!("text that is not UTF-8 ({e}); is the column's character set utf8mb4?")
                })?,
                other => return Err(mismatch(&other)),
            };
            if column.ty == SqlType::Text {
                Value::Text(s)
            } else {
                Value::String(s)
            }
        }
        SqlType::Binary => match v {
            My::Bytes(b) => Value::Binary(b),
            other => return Err(mismatch(&other)),
        },
        SqlType::Json => match v {
            My::Bytes(b) => Value::Json(
                serde_json::from_slice(&b).map_err(|e| format!("a JSON column's text: {e}"))?,
            ),
            other => return Err(mismatch(&other)),
        },
        SqlType::Date => match v {
            My::Date(y, m, d, ..) => Value::Date(date(y, m, d)?),
            other => return Err(mismatch(&other)),
        },
        SqlType::Timestamp => match v {
            My::Date(y, mo, d, h, mi, s, us) => {
                let t = date(y, mo, d)?
                    .and_hms_micro_opt(h.into(), mi.into(), s.into(), us)
                    .ok_or_else(|| format!("{h}:{mi}:{s}.{us:06} is not a time of day"))?;
                Value::Timestamp(t.and_utc())
            }
            // A TIMESTAMP column from the binlog: seconds since the epoch, as text.
            My::Bytes(b) => {
                let t = text(&b)?;
                let (secs, micros) = t.split_once('.').unwrap_or((t, "0"));
                let secs: i64 = secs
                    .parse()
                    .map_err(|_| format!("`{t}` is not a number of seconds"))?;
                // Microseconds: the fraction's first six digits, padded with zeros.
                let micros: String = micros
                    .chars()
                    .chain(std::iter::repeat('0'))
                    .take(6)
                    .collect();
                let micros: u32 = micros
                    .parse()
                    .map_err(|_| format!("`{t}` is not a number of seconds"))?;
                Value::Timestamp(
                    DateTime::<Utc>::from_timestamp(secs, micros * 1000)
                        .ok_or_else(|| format!("{t} seconds is out of range"))?,
                )
            }
            My::Int(secs) => Value::Timestamp(
                DateTime::<Utc>::from_timestamp(secs, 0)
                    .ok_or_else(|| format!("{secs} seconds is out of range"))?,
            ),
            other => return Err(mismatch(&other)),
        },
        SqlType::Duration => match v {
            My::Time(negative, days, h, m, s, us) => {
                let micros = (((i64::from(days) * 24 + i64::from(h)) * 60 + i64::from(m)) * 60
                    + i64::from(s))
                    * 1_000_000
                    + i64::from(us);
                Value::Duration(TimeDelta::microseconds(if negative {
                    -micros
                } else {
                    micros
                }))
            }
            other => return Err(mismatch(&other)),
        },
    })
}

fn text(b: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(b).map_err(|e| format!("not UTF-8: {e}"))
}

/// `0000-00-00` (MySQL's zero date, allowed in lenient modes) has no calendar date.
fn date(y: u16, m: u8, d: u8) -> Result<NaiveDate, String> {
    NaiveDate::from_ymd_opt(y.into(), m.into(), d.into()).ok_or_else(|| {
        format!("{y:04}-{m:02}-{d:02} is not a calendar date (MySQL's zero dates have no value here; store NULL instead)")
    })
}

fn kind(v: &My) -> &'static str {
    match v {
        My::NULL => "NULL",
        My::Bytes(_) => "text or bytes",
        My::Int(_) => "signed integer",
        My::UInt(_) => "unsigned integer",
        My::Float(_) => "FLOAT",
        My::Double(_) => "DOUBLE",
        My::Date(..) => "date/time",
        My::Time(..) => "TIME",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(ty: SqlType, int_bits: u8, unsigned: bool) -> Column {
        Column {
            ty,
            int_bits,
            unsigned,
            charset: Charset::Utf8,
        }
    }

    #[test]
    fn latin1_is_windows_1252() {
        let c = Column {
            charset: Charset::Latin1,
            ..col(SqlType::String, 0, false)
        };
        assert_eq!(
            value(c, My::Bytes(b"caf\xe9 \x80 \x81".to_vec())).unwrap(),
            Value::String("café € \u{81}".into())
        );
        assert_eq!(Charset::of(Some("utf8mb4")), Ok(Charset::Utf8));
        assert_eq!(Charset::of(Some("gbk")), Err("gbk".into()));
    }

    #[test]
    fn the_binlog_and_the_snapshot_give_one_value() {
        // INT UNSIGNED 4294967295: UInt from the binary protocol, Int(-1) from the binlog.
        let c = col(SqlType::Int, 32, true);
        assert_eq!(
            value(c, My::UInt(4294967295)).unwrap(),
            Value::Int(4294967295)
        );
        assert_eq!(value(c, My::Int(-1)).unwrap(), Value::Int(4294967295));
        // MEDIUMINT -8388607: Int from the binary protocol, its unsigned bits from the binlog.
        let c = col(SqlType::Int, 24, false);
        assert_eq!(value(c, My::Int(-8388607)).unwrap(), Value::Int(-8388607));
        assert_eq!(value(c, My::Int(8388609)).unwrap(), Value::Int(-8388607));
        assert_eq!(value(c, My::Int(8388607)).unwrap(), Value::Int(8388607));
        // BIGINT UNSIGNED.
        let c = col(SqlType::UInt, 64, true);
        assert_eq!(value(c, My::Int(-1)).unwrap(), Value::UInt(u64::MAX));
        assert_eq!(value(c, My::UInt(u64::MAX)).unwrap(), Value::UInt(u64::MAX));
        // TIMESTAMP(3): a UTC date from the snapshot, epoch seconds from the binlog.
        let c = col(SqlType::Timestamp, 0, false);
        let a = value(c, My::Date(2024, 1, 2, 3, 4, 5, 123_000)).unwrap();
        let b = value(c, My::Bytes(b"1704164645.123000".to_vec())).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            value(c, My::Bytes(b"1704164645".to_vec())).unwrap(),
            value(c, My::Date(2024, 1, 2, 3, 4, 5, 0)).unwrap()
        );
        // A fraction shorter than six digits is padded (TIMESTAMP(1) 05.5 is 500 000 µs).
        assert_eq!(
            value(c, My::Bytes(b"1704164645.5".to_vec())).unwrap(),
            value(c, My::Date(2024, 1, 2, 3, 4, 5, 500_000)).unwrap()
        );
        // FLOAT 0.1 is 0.1.
        assert_eq!(
            value(col(SqlType::Float, 0, false), My::Float(0.1)).unwrap(),
            Value::Float(0.1)
        );
        assert_eq!(
            value(
                col(SqlType::Decimal, 0, false),
                My::Bytes(b"-12.50".to_vec())
            )
            .unwrap(),
            Value::Decimal(Decimal::new(-1250, 2))
        );
        assert_eq!(
            value(col(SqlType::Boolean, 0, false), My::Int(1)).unwrap(),
            Value::Boolean(true)
        );
        assert_eq!(
            value(col(SqlType::Int, 0, false), My::Bytes(b"2024".to_vec())).unwrap(),
            Value::Int(2024)
        );
        assert_eq!(
            value(
                col(SqlType::Duration, 0, false),
                My::Time(true, 1, 2, 0, 0, 5)
            )
            .unwrap(),
            Value::Duration(TimeDelta::microseconds(-(26 * 3_600_000_000 + 5)))
        );
    }

    #[test]
    fn what_does_not_fit_is_explained() {
        let e = value(col(SqlType::Date, 0, false), My::Date(0, 0, 0, 0, 0, 0, 0)).unwrap_err();
        assert!(e.contains("zero dates"), "{e}");
        let e = value(col(SqlType::String, 0, false), My::Bytes(vec![0xff])).unwrap_err();
        assert!(e.contains("UTF-8"), "{e}");
        let e = value(col(SqlType::Int, 0, false), My::Double(1.0)).unwrap_err();
        assert!(e.contains("DOUBLE"), "{e}");
    }
}
