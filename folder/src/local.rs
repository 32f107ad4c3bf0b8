//! A folder on local disk: `std::fs`, no runtime. A file deleted between a listing and a look at
//! it is simply not there.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;
use std::time::SystemTime;

use bytes::Bytes;

use super::{FolderError, Object};

fn error(location: &Path, e: std::io::Error) -> FolderError {
    FolderError {
        location: location.to_path_buf(),
        message: e.to_string(),
    }
}

fn object(name: String, meta: &std::fs::Metadata) -> Object {
    Object {
        name,
        size: meta.len(),
        modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        id: String::new(),
    }
}

pub(super) fn list(dir: &Path) -> Result<Vec<Object>, FolderError> {
    let mut files = vec![];
    for entry in std::fs::read_dir(dir).map_err(|e| error(dir, e))? {
        let Ok(entry) = entry else { continue };
        let Ok(name) = entry.file_name().into_string() else {
            continue; // not UTF-8: not a name a table file can have
        };
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_file() {
            files.push(object(name, &meta));
        }
    }
    Ok(files)
}

pub(super) fn stat(dir: &Path, name: &str) -> Result<Option<Object>, FolderError> {
    let path = dir.join(name);
    match std::fs::metadata(&path) {
        Ok(meta) => Ok(Some(object(name.to_string(), &meta))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(error(&path, e)),
    }
}

pub(super) fn read(dir: &Path, name: &str, range: Range<u64>) -> Result<Bytes, FolderError> {
    let path = dir.join(name);
    let mut file = File::open(&path).map_err(|e| error(&path, e))?;
    file.seek(SeekFrom::Start(range.start))
        .map_err(|e| error(&path, e))?;
    let mut bytes = Vec::with_capacity((range.end - range.start).min(64 << 20) as usize);
    file.take(range.end - range.start)
        .read_to_end(&mut bytes)
        .map_err(|e| error(&path, e))?;
    Ok(Bytes::from(bytes))
}
