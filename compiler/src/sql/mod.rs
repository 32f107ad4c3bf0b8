//! The SQL front end: `SELECT ... INTO` statements → typed logical plans.
//!
//! [`parse`] splits every SQL text into statements at top-level `;` (using sqlparser's tokenizer, so
//! strings and comments are respected) and parses each one on its own, so one syntax error does not
//! hide the others. [`bind`] resolves names against the catalog and the other statements' `INTO`
//! tables, infers types and nullability, derives output keys and builds [`plan::Plan`]s. Positions
//! in sqlparser's AST are mapped back through [`crate::config::SqlText`] to the YAML or `.sql` file.

mod bind;
mod expr;
mod parse;
pub mod plan;
pub mod prune;

pub use bind::{bind, BoundQuery, BoundSql};
pub use parse::{parse, ParsedStatement, SqlSource};
