//! What an endpoint is: its name, REST path, columns, key and indexes.
//!
//! One description serves every side that needs it: the compiler builds it from the checked plan
//! (and writes the OpenAPI document and `.proto` files from it), generated code hands the same
//! value to the runtime, and the runtime's servers, executor and token scopes read it. So the
//! document a client generates code from and the API it talks to cannot disagree.

use crate::SqlType;

/// A column of an endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldDef {
    /// The SQL name, as queries and filters spell it.
    pub name: String,
    pub ty: SqlType,
    pub nullable: bool,
}

impl FieldDef {
    pub fn new(name: impl Into<String>, ty: SqlType, nullable: bool) -> Self {
        FieldDef {
            name: name.into(),
            ty,
            nullable,
        }
    }
}

/// An endpoint of an app.
#[derive(Clone, Debug, PartialEq)]
pub struct EndpointSchema {
    pub name: String,
    /// The REST path, e.g. `/trips`.
    pub path: String,
    pub fields: Vec<FieldDef>,
    /// The primary key's fields; `None` when records are identified by id only (no key), and empty
    /// for a single-row result.
    pub primary_key: Option<Vec<usize>>,
    /// Secondary indexes, numbered as in the table.
    pub indexes: Vec<IndexDef>,
    /// The `Cache-Control` of its read answers (the endpoint's `cache_control` key); `None`:
    /// [`DEFAULT_CACHE_CONTROL`].
    pub cache_control: Option<String>,
}

/// How read answers may be cached unless an endpoint says otherwise: kept, but revalidated
/// (by `ETag`) before every use, so that no cache ever serves a stale answer.
pub const DEFAULT_CACHE_CONTROL: &str = "no-cache";

impl EndpointSchema {
    /// The `Cache-Control` of the endpoint's read answers.
    pub fn cache_control(&self) -> &str {
        self.cache_control
            .as_deref()
            .unwrap_or(DEFAULT_CACHE_CONTROL)
    }
}

/// A secondary index of an endpoint's table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexDef {
    /// Sorted by these fields' values, in order.
    Sorted(Vec<usize>),
    /// One entry per word of a text field.
    FullText(usize),
}
