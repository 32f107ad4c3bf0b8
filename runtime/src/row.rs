//! The bridge between generated typed rows and the runtime's byte-oriented operators.
//!
//! Every Rust type a generated struct field can have implements [`SqlValue`]: its order-preserving
//! key bytes (`keycode`, for group, join and primary keys), and conversion to and from the dynamic
//! [`Value`] that aggregates and the edges (dumps, the API) use. `Option<T>` is the nullable form of
//! `T`, so generated code never special-cases NULL when it builds keys or reads aggregate results.

use chrono::{DateTime, NaiveDate, Utc};
use dozer_types::{keycode, Decimal, Value};

use crate::codec::{Decode, Encode};
use crate::error::OpError;
use crate::weight::Weight;

pub trait SqlValue: Encode + Decode + Clone {
    /// Appends the value's `keycode` form.
    fn key(&self, out: &mut Vec<u8>);
    fn into_value(self) -> Value;
    /// The typed value of `v`; `None` if `v` is of another type (or NULL for a non-null type).
    fn from_value(v: Value) -> Option<Self>;
    /// Whether the value is SQL NULL.
    fn is_null(&self) -> bool {
        false
    }
}

macro_rules! sql_value {
    ($t:ty, $variant:ident, |$s:ident, $out:ident| $key:expr) => {
        impl SqlValue for $t {
            fn key(&self, $out: &mut Vec<u8>) {
                let $s = self;
                $key
            }

            fn into_value(self) -> Value {
                Value::$variant(self)
            }

            fn from_value(v: Value) -> Option<Self> {
                match v {
                    Value::$variant(x) => Some(x),
                    _ => None,
                }
            }
        }
    };
}

sql_value!(bool, Boolean, |v, out| keycode::encode_bool(out, *v));
sql_value!(i64, Int, |v, out| keycode::encode_i64(out, *v));
sql_value!(u64, UInt, |v, out| keycode::encode_u64(out, *v));
sql_value!(f64, Float, |v, out| keycode::encode_f64(out, *v));
sql_value!(Decimal, Decimal, |v, out| keycode::encode_decimal(out, *v));
sql_value!(Vec<u8>, Binary, |v, out| keycode::encode_bytes(out, v));
sql_value!(
    DateTime<Utc>,
    Timestamp,
    |v, out| keycode::encode_timestamp(out, *v)
);
sql_value!(NaiveDate, Date, |v, out| keycode::encode_date(out, *v));
sql_value!(serde_json::Value, Json, |v, out| keycode::encode_str(
    out,
    &v.to_string()
));

/// `String` stands for both `string` and `text` columns; generated code marks text columns with
/// [`text`] where the distinction is visible (API values).
impl SqlValue for String {
    fn key(&self, out: &mut Vec<u8>) {
        keycode::encode_str(out, self);
    }

    fn into_value(self) -> Value {
        Value::String(self)
    }

    fn from_value(v: Value) -> Option<Self> {
        match v {
            Value::String(s) | Value::Text(s) => Some(s),
            _ => None,
        }
    }
}

impl<T: SqlValue> SqlValue for Option<T> {
    fn key(&self, out: &mut Vec<u8>) {
        match self {
            None => keycode::encode_null(out),
            Some(v) => v.key(out),
        }
    }

    fn into_value(self) -> Value {
        match self {
            None => Value::Null,
            Some(v) => v.into_value(),
        }
    }

    fn from_value(v: Value) -> Option<Self> {
        match v {
            Value::Null => Some(None),
            v => T::from_value(v).map(Some),
        }
    }

    fn is_null(&self) -> bool {
        self.is_none()
    }
}

/// A `text` column's value as the API shows it.
pub fn text(v: Option<String>) -> Value {
    v.map_or(Value::Null, Value::Text)
}

/// The typed value of an aggregate's output (`T` is `Option<_>` where the aggregate is nullable).
pub fn agg_value<T: SqlValue>(v: Option<Value>) -> Result<T, OpError> {
    let v =
        v.ok_or_else(|| OpError::Inconsistent("an aggregate returned too few values".into()))?;
    let shown = format!("{v:?}");
    T::from_value(v).ok_or_else(|| {
        OpError::Inconsistent(format!(
            "an aggregate returned {shown}, not the type the query was compiled for"
        ))
    })
}

/// The join key of several values: `None` when one is NULL (SQL: NULL matches nothing).
pub fn join_key(values: &[&dyn KeyPart]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(values.len() * 9);
    for v in values {
        if v.null() {
            return None;
        }
        v.append(&mut out);
    }
    Some(out)
}

/// Object-safe view of [`SqlValue`]'s key part, for [`join_key`] and [`key_of`].
pub trait KeyPart {
    fn null(&self) -> bool;
    fn append(&self, out: &mut Vec<u8>);
}

impl<T: SqlValue> KeyPart for T {
    fn null(&self) -> bool {
        self.is_null()
    }

    fn append(&self, out: &mut Vec<u8>) {
        self.key(out);
    }
}

/// The `keycode` key of several values (group keys, primary keys, index entries).
pub fn key_of(values: &[&dyn KeyPart]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * 9);
    key_into(&mut out, values);
    out
}

/// [`key_of`] into a reused buffer (cleared first).
pub fn key_into(out: &mut Vec<u8>, values: &[&dyn KeyPart]) {
    out.clear();
    for v in values {
        v.append(out);
    }
}

/// The words of a text for full-text search: maximal runs of letters and digits, lowercased, each
/// once, in first-seen order. A `$contains` query splits its text the same way.
pub fn words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() {
            continue;
        }
        let word = word.to_lowercase();
        if !out.contains(&word) {
            out.push(word);
        }
    }
    out
}

/// A string field, NULL or not (what a full-text index reads).
pub trait MaybeText {
    fn maybe_text(&self) -> Option<&str>;
}

impl MaybeText for String {
    fn maybe_text(&self) -> Option<&str> {
        Some(self)
    }
}

impl MaybeText for Option<String> {
    fn maybe_text(&self) -> Option<&str> {
        self.as_deref()
    }
}

/// Full-text index entries of a text field: one `keycode` key per word, for index `index`.
pub fn word_keys(text: &dyn MaybeText, index: usize, out: &mut Vec<(usize, Vec<u8>)>) {
    let Some(text) = text.maybe_text() else {
        return;
    };
    for word in words(text) {
        let mut key = Vec::with_capacity(word.len() + 3);
        dozer_types::keycode::encode_str(&mut key, &word);
        out.push((index, key));
    }
}

#[cfg(test)]
mod word_tests {
    #[test]
    fn words_are_lowercased_alphanumeric_runs_each_once() {
        assert_eq!(
            super::words("Hello, WORLD! hello-world 42x Straße"),
            ["hello", "world", "42x", "straße"]
        );
        assert!(super::words(" -- ").is_empty());
    }
}

/// Encodes a row (operators that keep rows store them in this form).
pub fn encode<T: Encode + ?Sized>(row: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    row.encode(&mut out);
    out
}

/// Encodes a batch of changes for an endpoint table.
pub fn encode_changes<T: Encode>(changes: &[(T, Weight)]) -> Vec<(Vec<u8>, Weight)> {
    changes.iter().map(|(r, w)| (encode(r), *w)).collect()
}

/// Decodes a row stored by [`encode`].
pub fn decode<T: Decode>(bytes: &[u8]) -> Result<T, OpError> {
    Ok(T::decode(&mut crate::codec::Reader::new(bytes))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_the_dynamic_encoding() {
        let typed = key_of(&[&5i64, &Some("a".to_string()), &None::<f64>]);
        let dynamic = keycode::encode_key(&[Value::Int(5), Value::String("a".into()), Value::Null]);
        assert_eq!(typed, dynamic);
        assert_eq!(join_key(&[&1i64, &None::<i64>]), None);
        assert_eq!(join_key(&[&1i64]), Some(key_of(&[&1i64])));
    }

    #[test]
    fn aggregate_values_are_typed() {
        assert_eq!(agg_value::<i64>(Some(Value::Int(3))).unwrap(), 3);
        assert_eq!(agg_value::<Option<i64>>(Some(Value::Null)).unwrap(), None);
        assert!(agg_value::<i64>(Some(Value::Null)).is_err());
        assert!(agg_value::<i64>(None).is_err());
    }
}
