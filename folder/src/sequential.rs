//! A byte range of a folder's file as a [`Read`]: windows of it fetched as they are needed, so a
//! scan of a large file (or object) costs one window of memory and one request per window.

use std::io::{Cursor, Read};
use std::ops::Range;

use bytes::Bytes;

use super::Folder;

/// How much one request reads.
const WINDOW: u64 = 1 << 20;

pub struct FolderRead {
    folder: Folder,
    name: String,
    at: u64,
    end: u64,
    buffer: Cursor<Bytes>,
}

impl FolderRead {
    pub fn new(folder: Folder, name: String, range: Range<u64>) -> FolderRead {
        FolderRead {
            folder,
            name,
            at: range.start,
            end: range.end,
            buffer: Cursor::new(Bytes::new()),
        }
    }
}

impl Read for FolderRead {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.buffer.read(out)?;
        if n > 0 || out.is_empty() || self.at >= self.end {
            return Ok(n);
        }
        let to = (self.at + WINDOW).min(self.end);
        let bytes = self
            .folder
            .read(&self.name, self.at..to)
            .map_err(std::io::Error::other)?;
        if bytes.is_empty() {
            self.at = self.end; // it ends before the range does
            return Ok(0);
        }
        self.at += bytes.len() as u64;
        self.buffer = Cursor::new(bytes);
        self.buffer.read(out)
    }
}
