//! What the file readers (CSV, JSON lines, Parquet) hand on: records with the exact position
//! after them.

use std::sync::Arc;

use super::chunk::{Chunk, RawRecord};
use crate::codec::{Decode, DecodeError, Encode, Reader};

/// Where reading one file stopped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilePosition {
    pub file: String,
    /// Byte offset of the next unread record in `file` (Parquet: rows read).
    pub offset: u64,
    /// 1-based line number at `offset` (Parquet: the next row's number).
    pub line: u64,
    /// The last record read ran to the end of the file without a line break (the file was
    /// complete then): data appended right after it would continue that line.
    pub open_line: bool,
}

impl Encode for FilePosition {
    fn encode(&self, out: &mut Vec<u8>) {
        self.file.encode(out);
        self.offset.encode(out);
        self.line.encode(out);
        self.open_line.encode(out);
    }
}

impl Decode for FilePosition {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(FilePosition {
            file: String::decode(r)?,
            offset: u64::decode(r)?,
            line: u64::decode(r)?,
            open_line: bool::decode(r)?,
        })
    }
}

/// Records read from one file, and the position after them.
#[derive(Clone, Debug)]
pub struct FileChunk {
    /// The file's name.
    pub file: Arc<str>,
    /// Each record with its 1-based line number (Parquet: row number).
    pub records: Vec<(u64, RawRecord)>,
    pub end: FilePosition,
}

impl FileChunk {
    /// The records as the pipeline takes them (every weight +1: files only append).
    pub fn into_chunk(self) -> (Chunk, FilePosition) {
        let chunk = Chunk {
            origin: self.file,
            records: self.records,
            weights: vec![],
        };
        (chunk, self.end)
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
