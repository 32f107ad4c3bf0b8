//! An order-preserving ("memcomparable") byte encoding of values, for LMDB keys.
//!
//! Comparing two encodings byte-wise gives the same answer as comparing the values (SQL order,
//! NULL first), and every encoding is self-delimiting, so a composite key is the concatenation of
//! its columns' encodings and a prefix of columns is a prefix of bytes (range scans on the leading
//! columns of an index work). Generated code calls the per-type functions on typed fields; the API
//! encodes [`Value`]s with [`encode_value`] — both produce the same bytes.
//!
//! Layout: a NULL is `0x00`; any other value is `0x01` followed by its type's form:
//! - integers, timestamps (µs since epoch), dates (days), durations (ns): big-endian with the sign
//!   bit flipped;
//! - floats: IEEE bits, sign-flipped (positive) or inverted (negative); `-0.0` is `0.0`, every NaN is
//!   one value above `+inf`;
//! - decimals: sign class, then a base-10 exponent and digit string (inverted for negatives), so
//!   `2.5` and `2.50` encode alike;
//! - strings, binary, JSON text: bytes with `0x00` escaped as `0x00 0xFF`, ended by `0x00 0x00`.

use chrono::{DateTime, Datelike as _, NaiveDate, TimeDelta, Utc};
use rust_decimal::Decimal;

use crate::Value;

const NULL: u8 = 0x00;
const PRESENT: u8 = 0x01;

pub fn encode_null(out: &mut Vec<u8>) {
    out.push(NULL);
}

pub fn encode_bool(out: &mut Vec<u8>, v: bool) {
    out.extend([PRESENT, u8::from(v)]);
}

pub fn encode_i64(out: &mut Vec<u8>, v: i64) {
    out.push(PRESENT);
    out.extend(((v as u64) ^ (1 << 63)).to_be_bytes());
}

pub fn encode_u64(out: &mut Vec<u8>, v: u64) {
    out.push(PRESENT);
    out.extend(v.to_be_bytes());
}

pub fn encode_f64(out: &mut Vec<u8>, v: f64) {
    let v = if v == 0.0 { 0.0 } else { v }; // -0.0 == 0.0
    let bits = if v.is_nan() {
        u64::MAX // above +inf (0xFFF0... after the flip)
    } else if v.is_sign_negative() {
        !v.to_bits()
    } else {
        v.to_bits() ^ (1 << 63)
    };
    out.push(PRESENT);
    out.extend(bits.to_be_bytes());
}

pub fn encode_decimal(out: &mut Vec<u8>, v: Decimal) {
    out.push(PRESENT);
    if v.is_zero() {
        out.push(0x01);
        return;
    }
    // v = ±0.d1d2…dn × 10^exp with d1 ≠ 0 and dn ≠ 0: the digits of the mantissa without its
    // trailing zeros, and exp = (number of mantissa digits) − scale. Written from the integer
    // mantissa into a stack buffer (formatting the decimal as text was a visible part of every
    // aggregate's and index's key).
    let mut mantissa = v.mantissa().unsigned_abs();
    let scale = v.scale() as i32;
    let mut buf = [0u8; 40];
    let mut start = buf.len();
    while mantissa > 0 {
        start -= 1;
        buf[start] = b'0' + (mantissa % 10) as u8;
        mantissa /= 10;
    }
    let all = &buf[start..];
    let exp = all.len() as i32 - scale; // magnitude order, within ±29
    let end = all.iter().rposition(|d| *d != b'0').map_or(0, |i| i + 1);
    let digits = &all[..end];
    let exp_byte = (exp + 64) as u8;
    if v.is_sign_positive() {
        out.push(0x02);
        out.push(exp_byte);
        out.extend_from_slice(digits);
        out.push(0x00);
    } else {
        out.push(0x00);
        out.push(!exp_byte);
        out.extend(digits.iter().map(|d| !d));
        out.push(0xFF);
    }
}

pub fn encode_bytes(out: &mut Vec<u8>, v: &[u8]) {
    out.push(PRESENT);
    for &b in v {
        if b == 0 {
            out.extend([0x00, 0xFF]);
        } else {
            out.push(b);
        }
    }
    out.extend([0x00, 0x00]);
}

pub fn encode_str(out: &mut Vec<u8>, v: &str) {
    encode_bytes(out, v.as_bytes());
}

pub fn encode_timestamp(out: &mut Vec<u8>, v: DateTime<Utc>) {
    encode_i64(out, v.timestamp_micros());
}

pub fn encode_date(out: &mut Vec<u8>, v: NaiveDate) {
    encode_i64(out, i64::from(v.num_days_from_ce()));
}

pub fn encode_duration(out: &mut Vec<u8>, v: TimeDelta) {
    encode_i64(
        out,
        v.num_nanoseconds().unwrap_or(if v < TimeDelta::zero() {
            i64::MIN
        } else {
            i64::MAX
        }),
    );
}

/// Encodes a dynamic value; the same bytes as the typed functions.
pub fn encode_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => encode_null(out),
        Value::Boolean(b) => encode_bool(out, *b),
        Value::Int(i) => encode_i64(out, *i),
        Value::UInt(u) => encode_u64(out, *u),
        Value::Float(f) => encode_f64(out, *f),
        Value::Decimal(d) => encode_decimal(out, *d),
        Value::String(s) | Value::Text(s) => encode_str(out, s),
        Value::Binary(b) => encode_bytes(out, b),
        Value::Timestamp(t) => encode_timestamp(out, *t),
        Value::Date(d) => encode_date(out, *d),
        Value::Json(j) => encode_str(out, &j.to_string()),
        Value::Duration(d) => encode_duration(out, *d),
    }
}

/// The key of several values (a composite primary key or index entry).
pub fn encode_key(values: &[Value]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * 10);
    for v in values {
        encode_value(&mut out, v);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::cmp::Ordering;

    use proptest::prelude::*;

    use super::*;

    fn key(v: &Value) -> Vec<u8> {
        encode_key(std::slice::from_ref(v))
    }

    fn decimal() -> impl Strategy<Value = Decimal> {
        (any::<i64>(), 0u32..=18).prop_map(|(m, s)| Decimal::new(m, s))
    }

    /// The encoding as first written, through the decimal's text: what stores hold.
    fn decimal_through_text(v: Decimal) -> Vec<u8> {
        let mut out = vec![PRESENT];
        if v.is_zero() {
            out.push(0x01);
            return out;
        }
        let text = v.abs().normalize().to_string();
        let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
        let all: String = format!("{int}{frac}");
        let leading = all.len() - all.trim_start_matches('0').len();
        let digits = all.trim_start_matches('0').trim_end_matches('0');
        let exp_byte = (int.len() as i32 - leading as i32 + 64) as u8;
        if v.is_sign_positive() {
            out.extend([0x02, exp_byte]);
            out.extend(digits.bytes());
            out.push(0x00);
        } else {
            out.extend([0x00, !exp_byte]);
            out.extend(digits.bytes().map(|d| !d));
            out.push(0xFF);
        }
        out
    }

    proptest! {
        #[test]
        fn decimals_encode_as_through_their_text(lo: u64, hi: u32, negative: bool, scale in 0u32..=28) {
            let v = Decimal::from_parts(lo as u32, (lo >> 32) as u32, hi >> (hi % 33).min(31), negative, scale);
            let mut out = vec![];
            encode_decimal(&mut out, v);
            prop_assert_eq!(out, decimal_through_text(v), "{}", v);
        }

        #[test]
        fn ints_keep_order(a: i64, b: i64) {
            prop_assert_eq!(key(&Value::Int(a)).cmp(&key(&Value::Int(b))), a.cmp(&b));
        }

        #[test]
        fn uints_keep_order(a: u64, b: u64) {
            prop_assert_eq!(key(&Value::UInt(a)).cmp(&key(&Value::UInt(b))), a.cmp(&b));
        }

        #[test]
        fn floats_keep_order(a in any::<f64>().prop_filter("not NaN", |f| !f.is_nan()), b in any::<f64>().prop_filter("not NaN", |f| !f.is_nan())) {
            prop_assert_eq!(key(&Value::Float(a)).cmp(&key(&Value::Float(b))), a.partial_cmp(&b).unwrap_or(Ordering::Equal));
        }

        #[test]
        fn decimals_keep_order(a in decimal(), b in decimal()) {
            prop_assert_eq!(key(&Value::Decimal(a)).cmp(&key(&Value::Decimal(b))), a.cmp(&b), "{} vs {}", a, b);
        }

        #[test]
        fn strings_keep_order_and_are_prefix_free(a in "\\PC{0,8}|[\\x00a]{0,4}", b in "\\PC{0,8}|[\\x00a]{0,4}", x: i64) {
            prop_assert_eq!(key(&Value::String(a.clone())).cmp(&key(&Value::String(b.clone()))), a.cmp(&b));
            // Composite keys order by the first column, then the second.
            let ka = encode_key(&[Value::String(a.clone()), Value::Int(x)]);
            let kb = encode_key(&[Value::String(b.clone()), Value::Int(x.wrapping_add(1))]);
            prop_assert_eq!(ka.cmp(&kb), a.cmp(&b).then(x.cmp(&x.wrapping_add(1))));
        }

        #[test]
        fn timestamps_keep_order(a in -10_000_000_000i64..10_000_000_000, b in -10_000_000_000i64..10_000_000_000) {
            let t = |s| Value::Timestamp(DateTime::from_timestamp(s, 0).unwrap());
            prop_assert_eq!(key(&t(a)).cmp(&key(&t(b))), a.cmp(&b));
        }
    }

    #[test]
    fn special_cases() {
        let k = |v: Value| key(&v);
        assert!(k(Value::Null) < k(Value::Int(i64::MIN)));
        assert!(k(Value::Null) < k(Value::String(String::new())));
        assert_eq!(k(Value::Float(-0.0)), k(Value::Float(0.0)));
        assert!(k(Value::Float(f64::INFINITY)) < k(Value::Float(f64::NAN)));
        assert!(k(Value::Float(f64::NEG_INFINITY)) < k(Value::Float(-1e300)));
        assert_eq!(
            k(Value::Decimal(Decimal::new(25, 1))),
            k(Value::Decimal(Decimal::new(250, 2)))
        );
        assert!(k(Value::Decimal(Decimal::new(-1, 0))) < k(Value::Decimal(Decimal::ZERO)));
        assert!(k(Value::Decimal(Decimal::MAX)) > k(Value::Decimal(Decimal::new(1, 28))));
        assert!(k(Value::Decimal(Decimal::MIN)) < k(Value::Decimal(Decimal::new(-1, 28))));
        assert!(k(Value::String("a".into())) < k(Value::String("a\0".into())));
        assert!(k(Value::String("a\0".into())) < k(Value::String("ab".into())));
        assert!(k(Value::Boolean(false)) < k(Value::Boolean(true)));
    }
}
