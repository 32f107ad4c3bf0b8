//! What generated code provides to the typed gRPC services ([`TypedMessages`]: its prost
//! messages, encoded), and the conversions it calls per column to fill them.

use dozer_types::Value;

use super::convert;
use crate::api::exec::RecordOut;
use crate::proto::types as pb;

/// A stored value that does not fit its column's message field: a bug, never user input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch(pub String);

impl Mismatch {
    pub fn endpoint(endpoint: usize) -> Mismatch {
        Mismatch(format!("no typed messages for endpoint {endpoint}"))
    }

    pub fn arity(endpoint: &str, want: usize, got: usize) -> Mismatch {
        Mismatch(format!(
            "a row of `{endpoint}` has {got} values; its record message has {want} fields"
        ))
    }

    fn value(want: &str, got: &Value) -> Mismatch {
        Mismatch(format!("expected {want}, found {got:?}"))
    }
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "typed message: {}", self.0)
    }
}

/// A change as a typed `<Endpoint>Event` carries it.
pub struct TypedEvent<'a> {
    /// `dozer.types.OperationType` as seen by the subscriber (after its filter).
    pub typ: i32,
    pub old: Option<&'a [Value]>,
    pub old_version: u32,
    pub new: &'a [Value],
    pub version: u32,
    pub id: u64,
    pub position: u64,
}

/// What generated code provides: every endpoint's typed answers, encoded.
pub trait TypedMessages: Send + Sync {
    /// The encoded `FileDescriptorSet` of the endpoints' `.proto` files (for reflection).
    fn descriptor_set(&self) -> &'static [u8];
    /// `Query<Endpoint>Response` with `records` of `endpoint`.
    fn query_response(&self, endpoint: usize, records: &[RecordOut]) -> Result<Vec<u8>, Mismatch>;
    /// `<Endpoint>Event` of a change of `endpoint`.
    fn event(&self, endpoint: usize, event: &TypedEvent<'_>) -> Result<Vec<u8>, Mismatch>;
}

// Column values into message fields (generated code calls these per column). NULL is `None`;
// a value of another type than the column's is a `Mismatch`.

/// `fn $name(&Value) -> Result<Option<$out>, Mismatch>` for the variants `$variant` of `Value`.
macro_rules! field {
    ($name:ident -> $out:ty, $what:literal, $($variant:ident)|+ => |$v:ident| $convert:expr) => {
        pub fn $name(value: &Value) -> Result<Option<$out>, Mismatch> {
            match value {
                Value::Null => Ok(None),
                $(Value::$variant($v))|+ => Ok(Some($convert)),
                other => Err(Mismatch::value($what, other)),
            }
        }
    };
}

field!(boolean -> bool, "a boolean", Boolean => |b| *b);
field!(int -> i64, "an int", Int => |i| *i);
field!(uint -> u64, "a uint", UInt => |u| *u);
field!(float -> f64, "a float", Float => |f| *f);
field!(string -> String, "a string", String | Text => |s| s.clone());
field!(bytes -> Vec<u8>, "binary", Binary => |b| b.clone());
field!(decimal -> pb::RustDecimal, "a decimal", Decimal => |d| convert::rust_decimal(d));
field!(timestamp -> prost_types::Timestamp, "a timestamp", Timestamp => |t| convert::timestamp(t));
// Dates as `YYYY-MM-DD`, as Dozer sends them.
field!(date -> String, "a date", Date => |d| d.format("%Y-%m-%d").to_string());
// SQL NULL of a JSON column is `None`; JSON's own null is `Value::Json(null)`.
field!(json -> prost_types::Value, "JSON", Json => |j| convert::json(j));

/// The value of a NOT NULL column.
pub fn required<T>(v: Option<T>, column: &str) -> Result<T, Mismatch> {
    v.ok_or_else(|| Mismatch(format!("NULL in NOT NULL column `{column}`")))
}
