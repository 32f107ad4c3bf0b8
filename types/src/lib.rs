//! Value types shared by the dozerc compiler and the runtime it links into every app.
//!
//! One crate holds what both sides must agree on, so they cannot drift apart:
//! - [`SqlType`]: the column types (Dozer's field types) and their widening rules;
//! - [`parse`]: reading values from text — the compiler's CSV schema inference and the runtime's
//!   CSV ingestion use the same functions, so a column inferred as `decimal` always reads as one;
//! - [`Value`]: a dynamically typed value for the edges (API filters, JSON, dumps); the hot path
//!   works on generated typed structs instead;
//! - [`keycode`]: an order-preserving byte encoding for LMDB keys and secondary indexes;
//! - [`endpoint`]: what an endpoint is (columns, key, indexes), built by the compiler and served
//!   by the runtime;
//! - [`openapi`] and [`grpc`]: the API's OpenAPI document and typed gRPC service names;
//! - [`text`]: where CSV records and JSON lines begin and end (line breaks, byte order marks,
//!   records still being written), for sampling and ingestion alike.
//!
//! The crate is small on purpose (chrono, rust_decimal, serde, csv-core): the compiler depends on
//! it too.

mod date_part;
pub mod endpoint;
pub mod grpc;
pub mod keycode;
pub mod marker;
pub mod openapi;
pub mod parse;
mod sql_type;
pub mod text;
mod value;

pub use date_part::DatePart;
pub use endpoint::{EndpointSchema, FieldDef, IndexDef, DEFAULT_CACHE_CONTROL};
pub use rust_decimal::Decimal;
pub use sql_type::SqlType;
pub use value::Value;
