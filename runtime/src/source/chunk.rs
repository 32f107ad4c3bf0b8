//! What a source hands the pipeline: chunks of raw records with the position after them, and
//! the errors of reading them. Every reader (files, Parquet, PostgreSQL) speaks this vocabulary;
//! the generated code turns the records into typed rows.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::codec::{Decode, DecodeError, Encode, Reader};

/// Where reading stopped. Files before `file` in name order are fully read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilePosition {
    pub file: String,
    /// Byte offset of the next unread record in `file`.
    pub offset: u64,
    /// 1-based line number at `offset`.
    pub line: u64,
    /// How many files sorted before `file` when it was last listed: a new file among them would
    /// never be read, and is reported instead of silently skipped. (`None`: not listed yet, or a
    /// position stored before this was kept.)
    pub files_before: Option<u64>,
    /// The last record read ran to the end of the file without a line break (the file was
    /// complete then): data appended right after it would continue that line.
    pub open_line: bool,
}

impl Encode for FilePosition {
    fn encode(&self, out: &mut Vec<u8>) {
        self.file.encode(out);
        self.offset.encode(out);
        self.line.encode(out);
        self.files_before.encode(out);
        self.open_line.encode(out);
    }
}

impl Decode for FilePosition {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        // Later fields may be missing from positions stored by earlier versions.
        Ok(FilePosition {
            file: String::decode(r)?,
            offset: u64::decode(r)?,
            line: u64::decode(r)?,
            files_before: if r.is_empty() {
                None
            } else {
                Option::<u64>::decode(r)?
            },
            open_line: !r.is_empty() && bool::decode(r)?,
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum RawRecord {
    Csv(::csv::ByteRecord),
    Json(String),
    /// A Parquet row: one value per table column, in the table's order.
    Values(Vec<dozer_types::Value>),
    /// A record the reader could not split into the table's columns, and why.
    Malformed(String),
}

/// Records read from one file (or one table's changes), and the position after them.
#[derive(Clone, Debug)]
pub struct Chunk {
    /// Where the records come from, for messages (a file, or a PostgreSQL table).
    pub file: Arc<str>,
    /// Each record with its 1-based line number (file sources).
    pub records: Vec<(u64, RawRecord)>,
    pub end: FilePosition,
    /// Each record's weight (+1 insert, −1 retraction); empty: all +1, as files only append.
    pub weights: Vec<crate::ops::Weight>,
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

/// Records parsed from a window of a text file, and how far they reach.
pub(crate) struct Parsed {
    pub records: Vec<(u64, RawRecord)>,
    /// Bytes of the window consumed.
    pub consumed: u64,
    /// The line number after them.
    pub line: u64,
    /// The last record consumed ended without a line break.
    pub open_line: bool,
}
