//! A file table's folder: a directory on local disk, or a prefix of an S3-compatible object
//! store's bucket. Both are read the same way — list the folder, look at one file, read a byte
//! range of it — so that the compiler samples a table's schema and the app reads its records
//! through one interface, whichever store holds them.
//!
//! Reading is blocking: the compiler's catalog and the app's file source run on plain threads.
//! An object store's requests run on the folder's own small tokio runtime ([`s3`]).
//!
//! What a listing says is all a reader learns of which files exist; how names, sizes, times and
//! entity tags are turned into "new", "grown" or "replaced" is the reader's rule, not the
//! folder's.

mod chunk_reader;
mod credential;
mod local;
mod s3;
mod sequential;

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

pub use chunk_reader::FolderFile;
pub use credential::Credential;
pub use s3::{S3Folder, S3Location};
pub use sequential::FolderRead;

/// One file of a folder, as a listing or a look at it found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// The file's name inside the folder (no folder part).
    pub name: String,
    pub size: u64,
    /// When it was last written (an object store: when the object was stored).
    pub modified: SystemTime,
    /// What tells this object from another one under the same name, where the store says so (an
    /// object store's entity tag); empty for local files.
    pub id: String,
}

/// Why a folder or a file in it could not be read, said so that the user knows what to fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FolderError {
    /// The file or folder it is about (a path, or an `s3://bucket/key` URL).
    pub location: PathBuf,
    pub message: String,
}

impl fmt::Display for FolderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location.display(), self.message)
    }
}

impl std::error::Error for FolderError {}

/// Where a table's files are.
#[derive(Clone, Debug)]
pub enum Folder {
    Local(PathBuf),
    S3(Arc<S3Folder>),
}

/// How long an object store's failing requests are retried (with backoff) before they are an
/// error: a build wants an answer soon, a running app rides out a store's hiccup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Patience {
    Build,
    Run,
}

impl Patience {
    fn retry_for(self) -> Duration {
        match self {
            Patience::Build => Duration::from_secs(10),
            Patience::Run => Duration::from_secs(180),
        }
    }
}

impl Folder {
    pub fn local(dir: impl Into<PathBuf>) -> Folder {
        Folder::Local(dir.into())
    }

    /// The folder of an S3 location. Nothing is requested yet: credentials are resolved and the
    /// client is made at the first request, so a missing variable is that request's error.
    pub fn s3(location: S3Location, patience: Patience) -> Folder {
        Folder::S3(Arc::new(S3Folder::new(location, patience)))
    }

    /// Whether every file is complete once it is listed: an object store stores an object whole,
    /// so it never shows one half written (and nothing is ever appended to it).
    pub fn stores_whole_files(&self) -> bool {
        matches!(self, Folder::S3(_))
    }

    /// Every file directly in the folder (not in folders below it), in no particular order.
    pub fn list(&self) -> Result<Vec<Object>, FolderError> {
        match self {
            Folder::Local(dir) => local::list(dir),
            Folder::S3(s3) => s3.list(None),
        }
    }

    /// Every file directly in the folder `sub` below this one (`_delta_log`), by its name there;
    /// empty when there is no such folder.
    pub fn list_in(&self, sub: &str) -> Result<Vec<Object>, FolderError> {
        match self {
            Folder::Local(dir) => match dir.join(sub).is_dir() {
                true => local::list(&dir.join(sub)),
                false => Ok(vec![]),
            },
            Folder::S3(s3) => s3.list(Some(sub)),
        }
    }

    /// The file `name` as it is now; `None` when it does not exist (any more).
    pub fn stat(&self, name: &str) -> Result<Option<Object>, FolderError> {
        match self {
            Folder::Local(dir) => local::stat(dir, name),
            Folder::S3(s3) => s3.stat(name),
        }
    }

    /// The bytes of `name` in `range`, fewer when the file ends before the range does.
    pub fn read(&self, name: &str, range: Range<u64>) -> Result<Bytes, FolderError> {
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        match self {
            Folder::Local(dir) => local::read(dir, name, range),
            Folder::S3(s3) => s3.read(name, range),
        }
    }

    /// Fetches the start of each of `files` (name, size) now, all at once, where that saves
    /// round trips (an object store); later reads of those bytes need no request. Nothing to do
    /// for a local folder.
    pub fn prefetch(&self, files: &[(String, u64)]) -> Result<(), FolderError> {
        match self {
            Folder::Local(_) => Ok(()),
            Folder::S3(s3) => s3.prefetch(files),
        }
    }

    /// `range` of `name` as a [`std::io::Read`], fetched a window at a time.
    pub fn reader(&self, name: &str, range: Range<u64>) -> FolderRead {
        FolderRead::new(self.clone(), name.to_string(), range)
    }

    /// Where `name` is, for messages: a path, or an `s3://bucket/key` URL.
    pub fn location(&self, name: &str) -> PathBuf {
        match self {
            Folder::Local(dir) => dir.join(name),
            Folder::S3(s3) => PathBuf::from(s3.url(name)),
        }
    }

    /// Where the folder itself is, for messages.
    pub fn describe(&self) -> String {
        match self {
            Folder::Local(dir) => dir.display().to_string(),
            Folder::S3(s3) => s3.url(""),
        }
    }

    /// The local directory, if the folder is one.
    pub fn local_dir(&self) -> Option<&Path> {
        match self {
            Folder::Local(dir) => Some(dir),
            Folder::S3(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_folder_lists_its_files_and_reads_ranges() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.csv"), b"id\n1\n2\n").unwrap();
        std::fs::create_dir(dir.path().join("below")).unwrap();
        let folder = Folder::local(dir.path());
        let listed = folder.list().unwrap();
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!((listed[0].name.as_str(), listed[0].size), ("a.csv", 7));
        assert_eq!(&folder.read("a.csv", 3..5).unwrap()[..], b"1\n");
        assert_eq!(&folder.read("a.csv", 5..100).unwrap()[..], b"2\n");
        assert_eq!(folder.read("a.csv", 7..9).unwrap().len(), 0);
        assert_eq!(folder.stat("gone.csv").unwrap(), None);
        assert_eq!(folder.stat("a.csv").unwrap().unwrap().size, 7);
        assert!(!folder.stores_whole_files());
    }
}
