//! A Parquet file of a folder, as the `parquet` crate reads one: byte ranges at offsets.
//!
//! A local file is read in place. An object is read by ranged requests, and since every request
//! to a store costs a round trip, the reader asks for what it is about to decode up front — the
//! object's tail (footer and metadata) when it is opened, a row group's column chunks through
//! [`FolderFile::prefetch`] — and serves the decoder's many small reads from those pieces.

use std::fs::File;
use std::io::{Cursor, Read};
use std::ops::Range;
use std::sync::Mutex;

use bytes::Bytes;
use parquet::errors::ParquetError;
use parquet::file::reader::{ChunkReader, Length};

use super::{Folder, FolderError, FolderRead};

/// How much of an object's end is fetched when it is opened: the footer and, for all but very
/// wide files, the metadata before it, in one request.
const TAIL: u64 = 64 << 10;

/// Ranges closer than this are fetched as one.
const COALESCE_GAP: u64 = 1 << 20;

pub struct FolderFile {
    inner: Inner,
    len: u64,
}

enum Inner {
    Local(File),
    Remote {
        folder: Folder,
        name: String,
        /// Fetched pieces: (offset, bytes).
        pieces: Mutex<Vec<(u64, Bytes)>>,
    },
}

fn external(e: FolderError) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl FolderFile {
    /// `name` of `folder`, `len` bytes long (as listed).
    pub fn open(folder: &Folder, name: &str, len: u64) -> Result<FolderFile, FolderError> {
        let inner = match folder {
            Folder::Local(dir) => {
                let path = dir.join(name);
                Inner::Local(File::open(&path).map_err(|e| FolderError {
                    location: path.clone(),
                    message: e.to_string(),
                })?)
            }
            Folder::S3(_) => {
                let from = len.saturating_sub(TAIL);
                let tail = folder.read(name, from..len)?;
                Inner::Remote {
                    folder: folder.clone(),
                    name: name.to_string(),
                    pieces: Mutex::new(vec![(from, tail)]),
                }
            }
        };
        Ok(FolderFile { inner, len })
    }

    /// Fetches `ranges` (a row group's column chunks) now, nearby ones in one request, so that
    /// decoding them needs no further round trips. Nothing to do for a local file.
    pub fn prefetch(&self, ranges: &[Range<u64>]) -> Result<(), FolderError> {
        let Inner::Remote {
            folder,
            name,
            pieces,
        } = &self.inner
        else {
            return Ok(());
        };
        let mut sorted: Vec<Range<u64>> = ranges
            .iter()
            .filter(|r| !r.is_empty())
            .map(|r| r.start..r.end.min(self.len))
            .collect();
        sorted.sort_by_key(|r| r.start);
        let mut merged: Vec<Range<u64>> = vec![];
        for r in sorted {
            match merged.last_mut() {
                Some(last) if r.start <= last.end + COALESCE_GAP => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        let mut fetched = vec![];
        for r in merged {
            if self.cached(r.start, r.end - r.start).is_none() {
                fetched.push((r.start, folder.read(name, r)?));
            }
        }
        pieces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(fetched);
        Ok(())
    }

    /// The bytes at `start..start+len` if a fetched piece holds them all.
    fn cached(&self, start: u64, len: u64) -> Option<Bytes> {
        let Inner::Remote { pieces, .. } = &self.inner else {
            return None;
        };
        let pieces = pieces.lock().unwrap_or_else(|p| p.into_inner());
        pieces.iter().find_map(|(at, bytes)| {
            let end = at + bytes.len() as u64;
            (start >= *at && start + len <= end)
                .then(|| bytes.slice((start - at) as usize..(start - at + len) as usize))
        })
    }
}

impl FolderFile {
    /// What a fetched piece holds from `start` on (empty: none holds `start`).
    fn held_from(&self, start: u64) -> Bytes {
        let Inner::Remote { pieces, .. } = &self.inner else {
            return Bytes::new();
        };
        let pieces = pieces.lock().unwrap_or_else(|p| p.into_inner());
        pieces
            .iter()
            .find_map(|(at, bytes)| {
                let end = at + bytes.len() as u64;
                (start >= *at && start < end).then(|| bytes.slice((start - at) as usize..))
            })
            .unwrap_or_default()
    }
}

impl Length for FolderFile {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for FolderFile {
    type T = Box<dyn Read + Send>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        match &self.inner {
            Inner::Local(file) => Ok(Box::new(ChunkReader::get_read(file, start)?)),
            Inner::Remote { folder, name, .. } => {
                // What a fetched piece holds from `start` on, then further reads from the store.
                let held = self.held_from(start);
                let rest = FolderRead::new(
                    folder.clone(),
                    name.clone(),
                    start + held.len() as u64..self.len,
                );
                Ok(Box::new(Cursor::new(held).chain(rest)))
            }
        }
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        match &self.inner {
            Inner::Local(file) => ChunkReader::get_bytes(file, start, length),
            Inner::Remote { folder, name, .. } => {
                if let Some(bytes) = self.cached(start, length as u64) {
                    return Ok(bytes);
                }
                let bytes = folder
                    .read(name, start..start + length as u64)
                    .map_err(external)?;
                if bytes.len() < length {
                    return Err(ParquetError::EOF(format!(
                        "{} ends at {} bytes, before {}",
                        folder.location(name).display(),
                        start + bytes.len() as u64,
                        start + length as u64
                    )));
                }
                Ok(bytes)
            }
        }
    }
}
