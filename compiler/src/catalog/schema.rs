//! What the catalog holds: every source's columns (name, type, nullability) and primary key,
//! with the definition they were resolved from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::read::SourceRead;
use crate::diagnostic::{Diagnostic, Span};
use crate::types::SqlType;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: SqlType,
    pub nullable: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSchema {
    pub columns: Vec<Column>,
    /// Indices into `columns`, in key order; empty when the source has no primary key.
    #[serde(default)]
    pub primary_key: Vec<usize>,
    /// Per column, where it sits in a MySQL table's binlog row images (empty for other
    /// sources).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub row_image: Vec<ImageColumn>,
}

/// Where a MySQL column sits in the binlog's row images, and what its integers are: the binlog
/// writes them without saying whether they are signed (unless `binlog_row_metadata=FULL`), so
/// the reader needs the width and the sign to read them back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageColumn {
    /// Its 0-based index among the table's columns.
    pub position: usize,
    /// Its width in bits when it is an integer column (8, 16, 24, 32, 64), else 0.
    #[serde(default)]
    pub int_bits: u8,
    #[serde(default)]
    pub unsigned: bool,
}

impl TableSchema {
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    pub fn primary_key_names(&self) -> Vec<&str> {
        self.primary_key
            .iter()
            .map(|&i| self.columns[i].name.as_str())
            .collect()
    }
}

/// A resolved source: its schema, the definition it was resolved from, and how the app reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceEntry {
    /// A description of where the schema came from (connection, table, options); the lock file
    /// entry is reused only while this is unchanged.
    pub definition: String,
    pub schema: TableSchema,
    /// Resolved from the config with the schema (`None`: a kind of source apps do not read yet,
    /// reported where the config names it; and in entries read back from the lock file).
    pub read: Option<SourceRead>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalog {
    /// By source name (the name SQL uses).
    pub sources: BTreeMap<String, SourceEntry>,
}

/// How the lock file is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LockMode {
    /// Use the lock file's schema for every source whose definition is unchanged; resolve the others
    /// live and update the lock file.
    #[default]
    Normal,
    /// Resolve every source live; it is an error if any schema differs from the lock file (or the
    /// lock file lacks it). The lock file is not written.
    Locked,
    /// Resolve every source live and rewrite the lock file.
    Refresh,
}

pub(crate) fn unknown_column(
    table: &str,
    column: &str,
    span: Span,
    schema: &TableSchema,
) -> Diagnostic {
    let mut d = Diagnostic::error(
        "catalog::unknown-column",
        format!("table `{table}` has no column `{column}`"),
    )
    .label(span, "no such column");
    let names: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
    d = d.suggest(column, &names, |names| {
        format!("its columns are: {}", names.join(", "))
    });
    d
}
