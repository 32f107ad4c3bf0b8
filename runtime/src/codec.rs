//! The compact binary form of stored values (LMDB values: records, accumulators, join state).
//!
//! Generated record structs encode field by field with [`Encode`] and decode with [`Decode`], so
//! the generated code is a flat list of calls and no serde derive is expanded per entity (that
//! expansion is what makes per-app builds slow). This form is *not* order-preserving; keys use
//! [`dozer_types::keycode`].
//!
//! Integers are zig-zag LEB128 varints, lengths are varints, `Option` is a presence byte, floats and
//! decimals are fixed-width little-endian, timestamps are microseconds since the epoch.

use chrono::{DateTime, NaiveDate, Utc};
use dozer_types::Value;
use rust_decimal::Decimal;

/// Stored bytes that do not decode: a bug or a damaged store, never user input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "corrupt stored value: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

/// Reads values back from a byte slice.
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < n {
            return Err(DecodeError("value ends early"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.take(1)?[0];
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError("varint too long"))
    }

    fn len(&mut self) -> Result<usize, DecodeError> {
        usize::try_from(self.varint()?).map_err(|_| DecodeError("length too large"))
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub trait Encode {
    fn encode(&self, out: &mut Vec<u8>);
}

pub trait Decode: Sized {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

impl Encode for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
}

impl Decode for bool {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.take(1)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError("invalid boolean")),
        }
    }
}

impl Encode for i64 {
    fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, ((*self << 1) ^ (*self >> 63)) as u64);
    }
}

impl Decode for i64 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let z = r.varint()?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }
}

/// Fixed 16 bytes: wide sums are rare enough that a varint buys nothing.
impl Encode for i128 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend(self.to_le_bytes());
    }
}

impl Decode for i128 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(i128::from_le_bytes(r.array()?))
    }
}

impl Encode for u64 {
    fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, *self);
    }
}

impl Decode for u64 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.varint()
    }
}

impl Encode for f64 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend(self.to_le_bytes());
    }
}

impl Decode for f64 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(f64::from_le_bytes(r.array()?))
    }
}

impl Encode for Decimal {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend(self.serialize());
    }
}

impl Decode for Decimal {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let bytes: [u8; 16] = r.array()?;
        // `serialize` stores flags (scale ≤ 28, sign) in the first 4 bytes; reject what it never writes.
        if bytes[2] > 28 || bytes[0] != 0 || bytes[1] != 0 || bytes[3] & 0x7f != 0 {
            return Err(DecodeError("invalid decimal"));
        }
        Ok(Decimal::deserialize(bytes))
    }
}

impl Encode for str {
    fn encode(&self, out: &mut Vec<u8>) {
        self.as_bytes().encode(out);
    }
}

impl Encode for String {
    fn encode(&self, out: &mut Vec<u8>) {
        self.as_str().encode(out);
    }
}

impl Decode for String {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = r.len()?;
        String::from_utf8(r.take(n)?.to_vec()).map_err(|_| DecodeError("invalid UTF-8"))
    }
}

impl Encode for [u8] {
    fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.len() as u64);
        out.extend_from_slice(self);
    }
}

impl Encode for Vec<u8> {
    fn encode(&self, out: &mut Vec<u8>) {
        self.as_slice().encode(out);
    }
}

impl Decode for Vec<u8> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = r.len()?;
        Ok(r.take(n)?.to_vec())
    }
}

impl Encode for DateTime<Utc> {
    fn encode(&self, out: &mut Vec<u8>) {
        self.timestamp_micros().encode(out);
    }
}

impl Decode for DateTime<Utc> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        DateTime::from_timestamp_micros(i64::decode(r)?)
            .ok_or(DecodeError("timestamp out of range"))
    }
}

impl Encode for NaiveDate {
    fn encode(&self, out: &mut Vec<u8>) {
        i64::from(chrono::Datelike::num_days_from_ce(self)).encode(out);
    }
}

impl Decode for NaiveDate {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let days = i32::try_from(i64::decode(r)?).map_err(|_| DecodeError("date out of range"))?;
        NaiveDate::from_num_days_from_ce_opt(days).ok_or(DecodeError("date out of range"))
    }
}

impl Encode for serde_json::Value {
    fn encode(&self, out: &mut Vec<u8>) {
        self.to_string().encode(out);
    }
}

impl Decode for serde_json::Value {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        serde_json::from_str(&String::decode(r)?).map_err(|_| DecodeError("invalid JSON"))
    }
}

impl<T: Encode> Encode for Option<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                v.encode(out);
            }
        }
    }
}

impl<T: Decode> Decode for Option<T> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.take(1)?[0] {
            0 => Ok(None),
            1 => Ok(Some(T::decode(r)?)),
            _ => Err(DecodeError("invalid option tag")),
        }
    }
}

/// Dynamic values (MIN/MAX state, API edges): a type tag, then the type's form.
impl Encode for Value {
    fn encode(&self, out: &mut Vec<u8>) {
        let tag: u8 = match self {
            Value::Null => 0,
            Value::Boolean(_) => 1,
            Value::Int(_) => 2,
            Value::UInt(_) => 3,
            Value::Float(_) => 4,
            Value::Decimal(_) => 5,
            Value::String(_) => 6,
            Value::Text(_) => 7,
            Value::Binary(_) => 8,
            Value::Timestamp(_) => 9,
            Value::Date(_) => 10,
            Value::Json(_) => 11,
            Value::Duration(_) => 12,
        };
        out.push(tag);
        match self {
            Value::Null => {}
            Value::Boolean(v) => v.encode(out),
            Value::Int(v) => v.encode(out),
            Value::UInt(v) => v.encode(out),
            Value::Float(v) => v.encode(out),
            Value::Decimal(v) => v.encode(out),
            Value::String(v) | Value::Text(v) => v.encode(out),
            Value::Binary(v) => v.encode(out),
            Value::Timestamp(v) => v.encode(out),
            Value::Date(v) => v.encode(out),
            Value::Json(v) => v.encode(out),
            Value::Duration(v) => v.num_nanoseconds().unwrap_or(i64::MAX).encode(out),
        }
    }
}

impl Decode for Value {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.take(1)?[0] {
            0 => Value::Null,
            1 => Value::Boolean(bool::decode(r)?),
            2 => Value::Int(i64::decode(r)?),
            3 => Value::UInt(u64::decode(r)?),
            4 => Value::Float(f64::decode(r)?),
            5 => Value::Decimal(Decimal::decode(r)?),
            6 => Value::String(String::decode(r)?),
            7 => Value::Text(String::decode(r)?),
            8 => Value::Binary(Vec::decode(r)?),
            9 => Value::Timestamp(DateTime::decode(r)?),
            10 => Value::Date(NaiveDate::decode(r)?),
            11 => Value::Json(serde_json::Value::decode(r)?),
            12 => Value::Duration(chrono::TimeDelta::nanoseconds(i64::decode(r)?)),
            _ => return Err(DecodeError("invalid value tag")),
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn round_trip<T: Encode + Decode + PartialEq + std::fmt::Debug>(v: T) {
        let mut out = vec![];
        v.encode(&mut out);
        let mut r = Reader::new(&out);
        assert_eq!(T::decode(&mut r).unwrap(), v);
        assert!(r.is_empty(), "trailing bytes after {v:?}");
    }

    proptest! {
        #[test]
        fn values_round_trip(i: i64, u: u64, f in any::<f64>().prop_filter("not NaN", |f| !f.is_nan()), s in "\\PC{0,20}", b: Vec<u8>, o: Option<i64>, m: i64, scale in 0u32..=28) {
            round_trip(i);
            round_trip(u);
            round_trip(f);
            round_trip(s);
            round_trip(b);
            round_trip(o);
            round_trip(Decimal::new(m, scale));
            round_trip(DateTime::from_timestamp_micros(i / 4).unwrap_or_default());
        }

        #[test]
        fn garbage_never_panics(bytes: Vec<u8>) {
            let _ = i64::decode(&mut Reader::new(&bytes));
            let _ = String::decode(&mut Reader::new(&bytes));
            let _ = Decimal::decode(&mut Reader::new(&bytes));
            let _ = Option::<DateTime<Utc>>::decode(&mut Reader::new(&bytes));
            let _ = NaiveDate::decode(&mut Reader::new(&bytes));
            let _ = serde_json::Value::decode(&mut Reader::new(&bytes));
        }
    }

    #[test]
    fn small_integers_are_small() {
        let mut out = vec![];
        (-1i64).encode(&mut out);
        5i64.encode(&mut out);
        assert_eq!(out.len(), 2);
        round_trip(i64::MIN);
        round_trip(NaiveDate::from_ymd_opt(2011, 12, 9).unwrap());
        round_trip(serde_json::json!({"a": [1, 2]}));
        round_trip(Decimal::MAX);
        round_trip(-Decimal::new(255, 2));
        for v in [
            Value::Null,
            Value::Int(-4),
            Value::String("é".into()),
            Value::Decimal(Decimal::new(-12, 1)),
            Value::Boolean(true),
        ] {
            round_trip(v);
        }
    }
}
