//! Casts: the conversions SQL may ask for (`CAST(x AS t)`, `x::t`, and the widenings the binder
//! inserts), and the runtime function that performs each.
//!
//! A cast of NULL is NULL of the target type, whatever the types; every other value goes through
//! [`cast`]. The binder accepts exactly the pairs it returns, code generation emits exactly the
//! call it names.

use crate::types::SqlType;

/// How a non-NULL value of one type becomes another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cast {
    /// The value already has the target's representation (same type, or text to text).
    Same,
    /// A call of `sql::<function>` on the value.
    Call {
        function: &'static str,
        /// The function takes the target's Rust type as a type argument (`parse_text::<i64>`).
        generic: bool,
        /// It can fail at run time with PostgreSQL's error (text that is not a number, a value
        /// out of the target's range).
        fails: bool,
    },
}

const fn call(function: &'static str, fails: bool) -> Option<Cast> {
    Some(Cast::Call {
        function,
        generic: false,
        fails,
    })
}

const fn generic(function: &'static str) -> Option<Cast> {
    Some(Cast::Call {
        function,
        generic: true,
        fails: true,
    })
}

/// The cast from `from` to `to`; `None` when SQL cannot convert one into the other.
pub fn cast(from: SqlType, to: SqlType) -> Option<Cast> {
    use SqlType::*;
    match (from, to) {
        (a, b) if a == b || (a.is_string() && b.is_string()) => Some(Cast::Same),
        // Durations are window sizes and TTLs, never values.
        (Duration, _) | (_, Duration) => None,
        (_, String | Text) => call("to_text", false),
        (String | Text, _) => generic("parse_text"),
        (_, Json) => call("to_json", false),
        (Json, _) => generic("from_json"),
        (a, b) if a.is_numeric() && b.is_numeric() => match b {
            Int => call("to_i64", true),
            UInt => call("to_u64", true),
            Float => call("to_f64", true),
            _ => call("to_decimal", true),
        },
        (Date, Timestamp) => call("to_timestamp", false),
        (Timestamp, Date) => call("to_date", false),
        (Boolean, Int) => call("bool_to_int", false),
        (Int, Boolean) => call("int_to_bool", false),
        _ => None,
    }
}

/// Whether the binder converts `from` to `to` by itself where a `to` is expected: numbers widen,
/// a date is a timestamp at midnight, text is text. Every such pair has a [`cast`].
pub fn widens(from: SqlType, to: SqlType) -> bool {
    SqlType::numeric_supertype(from, to) == Some(to)
        || (from == SqlType::Date && to == SqlType::Timestamp)
        || (from.is_string() && to.is_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_widening_is_a_cast() {
        for from in SqlType::ALL {
            for to in SqlType::ALL {
                if widens(from, to) {
                    assert!(
                        cast(from, to).is_some(),
                        "{from} widens to {to} without a cast"
                    );
                }
            }
        }
    }

    #[test]
    fn the_matrix() {
        assert_eq!(cast(SqlType::Int, SqlType::Int), Some(Cast::Same));
        assert_eq!(cast(SqlType::Text, SqlType::String), Some(Cast::Same));
        assert_eq!(cast(SqlType::Boolean, SqlType::Date), None);
        assert_eq!(cast(SqlType::Date, SqlType::Duration), None);
        // Text parses into anything, anything prints as text; JSON likewise.
        for t in SqlType::ALL.into_iter().filter(|t| *t != SqlType::Duration) {
            assert!(cast(SqlType::String, t).is_some(), "text to {t}");
            assert!(cast(t, SqlType::String).is_some(), "{t} to text");
            assert!(cast(SqlType::Json, t).is_some(), "json to {t}");
        }
    }
}
