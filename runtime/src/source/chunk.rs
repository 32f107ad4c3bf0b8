//! What every source hands the pipeline: chunks of raw records, and the errors of reading them.
//! Every connector (files, Parquet, PostgreSQL) speaks this vocabulary, each with a position type
//! of its own; the generated code turns the records into typed rows.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::weight::Weight;

#[derive(Clone, Debug, PartialEq)]
pub enum RawRecord {
    Csv(::csv::ByteRecord),
    Json(String),
    /// A Parquet row: one value per table column, in the table's order.
    Values(Vec<dozer_types::Value>),
    /// A record the reader could not split into the table's columns, and why.
    Malformed(String),
}

/// Records of one table of a source, as the pipeline takes them.
#[derive(Clone, Debug)]
pub struct Chunk {
    /// Where the records come from, for messages (a file, or a PostgreSQL table at an LSN).
    pub origin: Arc<str>,
    /// Each record with where it is in `origin`, for messages: its 1-based line (text files),
    /// its row number (Parquet), the LSN of its transaction (PostgreSQL).
    pub records: Vec<(u64, RawRecord)>,
    /// Each record's weight (+1 insert, −1 retraction); empty: all +1, as files only append.
    pub weights: Vec<Weight>,
}

/// A file could not be read or does not have the table's shape.
#[derive(Debug)]
pub struct SourceError {
    pub file: Option<PathBuf>,
    pub line: Option<u64>,
    pub message: String,
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{}:{line}: {}", file.display(), self.message),
            (Some(file), None) => write!(f, "{}: {}", file.display(), self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for SourceError {}

pub(crate) fn io_error(path: &Path, e: std::io::Error) -> SourceError {
    SourceError {
        file: Some(path.to_path_buf()),
        line: None,
        message: e.to_string(),
    }
}
