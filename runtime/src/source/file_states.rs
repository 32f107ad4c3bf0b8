//! What has been read of each file of a file table: the table's committed position, and the rule
//! that decides from a listing which files have something new.
//!
//! Files are known by name, and read in the order they arrived (oldest modification time first,
//! ties by name), whatever their names: users drop files named by upload id, customer or hash.
//! Each file read has a [`FileState`]: how far it was read (byte offset and line; Parquet: rows),
//! and a check of its content up to there. The states live in the store's `source.files`
//! database, one entry per file, written in the transaction of the batch that read the file, so a
//! commit costs the files it touched rather than every file the table has ever read.
//!
//! The rule, documented in `docs/config.md`:
//! - a file without a state is new, and read from its start;
//! - data appended to any file is read, also after newer files arrived (several writers may
//!   append to files of their own at once);
//! - a file whose read part changed (it shrank, or its first and last read bytes differ from what
//!   was read: it was rewritten or replaced; an object store's entity tag changed) stops the
//!   table with an error that names it: its rows are in the results already, and rows are only
//!   ever added from files. Deleting it, or renaming it, goes on;
//! - a deleted file is forgotten: a file created later under its name is a new file;
//! - a renamed file is a new file under its new name, read from its start. Writers that write
//!   under a temporary name and rename when done should use a name without the table's
//!   extension (`x.csv.tmp` → `x.csv`), or a marker file.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use heed::types::Bytes;
use heed::{Database, Env, RoTxn, RwTxn, WithoutTls};
use xxhash_rust::xxh3::xxh3_64;

use dozer_folder::Folder;

use super::chunk::SourceError;
use super::file_chunk::FilePosition;
use super::file_table::{FileFormat, FileTable};
use super::folder::{folder_error, Entry};
use crate::codec::{Decode, DecodeError, Encode, Reader};

/// The store's database of file states, keyed by `source name \0 file name`.
pub const DATABASE: &str = "source.files";

/// How much of a file's start and of the bytes before its read offset the content check covers.
const CHECKED_BYTES: u64 = 64;

/// What has been read of one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileState {
    /// Byte offset of the next unread record (Parquet: rows read).
    pub offset: u64,
    /// 1-based line number at `offset` (Parquet: the next row's number).
    pub line: u64,
    /// The last record read ran to the end of the file without a line break.
    pub open_line: bool,
    /// The file's size when it was last read.
    pub size: u64,
    /// Its modification time then (nanoseconds since the epoch): an unchanged time spares the
    /// content check.
    pub modified: i64,
    /// The object store's entity tag (empty for local files).
    pub id: String,
    /// A hash of the file's first bytes and of those before `offset` (Parquet: before its end).
    pub check: u64,
    /// Parquet: every row was read (a Parquet file is never appended to).
    pub complete: bool,
}

impl Encode for FileState {
    fn encode(&self, out: &mut Vec<u8>) {
        self.offset.encode(out);
        self.line.encode(out);
        self.open_line.encode(out);
        self.size.encode(out);
        self.modified.encode(out);
        self.id.encode(out);
        self.check.encode(out);
        self.complete.encode(out);
    }
}

impl Decode for FileState {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(FileState {
            offset: u64::decode(r)?,
            line: u64::decode(r)?,
            open_line: bool::decode(r)?,
            size: u64::decode(r)?,
            modified: i64::decode(r)?,
            id: String::decode(r)?,
            check: u64::decode(r)?,
            complete: bool::decode(r)?,
        })
    }
}

/// A file with something to read, and where to read it from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub position: FilePosition,
    pub modified: SystemTime,
    /// Its size and entity tag as listed (an object store's object cannot change without a new
    /// tag, so the listing is all a reader needs to know of it).
    pub size: u64,
    pub id: String,
}

/// Every file state of one table, and the changes not committed yet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileStates {
    states: BTreeMap<String, FileState>,
    /// File states set (`Some`) or forgotten (`None`) since the last [`FileStates::take_updates`].
    updates: BTreeMap<String, Option<FileState>>,
}

/// Nanoseconds since the epoch.
pub fn nanos(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

impl FileStates {
    pub fn get(&self, file: &str) -> Option<&FileState> {
        self.states.get(file)
    }

    /// Files with a state.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &FileState)> {
        self.states.iter()
    }

    pub fn set(&mut self, file: &str, state: FileState) {
        self.updates.insert(file.to_string(), Some(state.clone()));
        self.states.insert(file.to_string(), state);
    }

    fn forget(&mut self, file: &str) {
        self.states.remove(file);
        self.updates.insert(file.to_string(), None);
    }

    /// The states set and forgotten since the last call, to commit with the batch that read them.
    pub fn take_updates(&mut self) -> Vec<(String, Option<FileState>)> {
        std::mem::take(&mut self.updates).into_iter().collect()
    }

    /// Decides from `listing` which files have something to read, oldest first, and forgets the
    /// files that are gone. A file whose read part changed is an error.
    pub fn plan(
        &mut self,
        table: &FileTable,
        listing: &[Entry],
    ) -> Result<Vec<Candidate>, SourceError> {
        let listed: std::collections::HashSet<&str> =
            listing.iter().map(|e| e.name.as_str()).collect();
        let gone: Vec<String> = self
            .states
            .keys()
            .filter(|n| !listed.contains(n.as_str()))
            .cloned()
            .collect();
        for name in gone {
            self.forget(&name);
        }
        let parquet = table.format == FileFormat::Parquet;
        let mut candidates = vec![];
        for entry in listing.iter().filter(|e| e.ready) {
            let Some(state) = self.states.get(&entry.name) else {
                candidates.push(Candidate {
                    position: FilePosition {
                        file: entry.name.clone(),
                        offset: 0,
                        line: 1,
                        open_line: false,
                    },
                    modified: entry.modified,
                    size: entry.size,
                    id: entry.id.clone(),
                });
                continue;
            };
            let path = table.folder.location(&entry.name);
            if !entry.id.is_empty() || !state.id.is_empty() {
                if entry.id != state.id {
                    return Err(replaced(&path, state, parquet));
                }
            } else if parquet {
                if entry.size != state.size
                    || (nanos(entry.modified) != state.modified
                        && content_check(&table.folder, &entry.name, state.size)? != state.check)
                {
                    return Err(replaced(&path, state, parquet));
                }
            } else if entry.size < state.offset {
                return Err(SourceError {
                    file: Some(path),
                    line: None,
                    message: format!(
                        "the file shrank below the position already read ({} bytes); files must only grow. Its rows are in the results already: put new rows in a new file; delete or rename this one to go on",
                        state.offset
                    ),
                });
            } else if nanos(entry.modified) != state.modified
                && content_check(&table.folder, &entry.name, state.offset)? != state.check
            {
                return Err(replaced(&path, state, parquet));
            }
            let unread = if parquet {
                !state.complete
            } else {
                entry.size > state.offset
            };
            if unread {
                candidates.push(Candidate {
                    position: FilePosition {
                        file: entry.name.clone(),
                        offset: state.offset,
                        line: state.line,
                        open_line: state.open_line,
                    },
                    modified: entry.modified,
                    size: entry.size,
                    id: entry.id.clone(),
                });
            }
        }
        candidates
            .sort_by(|a, b| (a.modified, &a.position.file).cmp(&(b.modified, &b.position.file)));
        Ok(candidates)
    }

    /// The states of `source` kept in `db`.
    pub fn load(
        db: Database<Bytes, Bytes>,
        txn: &RoTxn<WithoutTls>,
        source: &str,
    ) -> Result<FileStates, SourceError> {
        let prefix = key(source, "");
        let mut states = FileStates::default();
        let iter = db.prefix_iter(txn, &prefix).map_err(store_error)?;
        for item in iter {
            let (k, v) = item.map_err(store_error)?;
            let name = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            let state = FileState::decode(&mut Reader::new(v)).map_err(|e| SourceError {
                file: None,
                line: None,
                message: format!(
                    "the stored state of file `{name}` of source `{source}` is unreadable: {e}"
                ),
            })?;
            states.states.insert(name, state);
        }
        Ok(states)
    }

    /// Writes `updates` (from [`FileStates::take_updates`]) of `source` to `db`.
    pub fn store(
        db: Database<Bytes, Bytes>,
        txn: &mut RwTxn,
        source: &str,
        updates: &[(String, Option<FileState>)],
    ) -> heed::Result<()> {
        for (file, state) in updates {
            let k = key(source, file);
            match state {
                Some(state) => {
                    let mut v = vec![];
                    state.encode(&mut v);
                    db.put(txn, &k, &v)?;
                }
                None => {
                    db.delete(txn, &k)?;
                }
            }
        }
        Ok(())
    }

    /// The store's database of file states.
    pub fn database(
        env: &Env<WithoutTls>,
        txn: &mut RwTxn,
    ) -> heed::Result<Database<Bytes, Bytes>> {
        env.create_database(txn, Some(DATABASE))
    }
}

fn key(source: &str, file: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(source.len() + 1 + file.len());
    k.extend_from_slice(source.as_bytes());
    k.push(0);
    k.extend_from_slice(file.as_bytes());
    k
}

/// The store failed while file states were read or opened.
pub(super) fn store_error(e: heed::Error) -> SourceError {
    SourceError {
        file: None,
        line: None,
        message: format!("the store's file states could not be read: {e}"),
    }
}

fn replaced(path: &Path, state: &FileState, parquet: bool) -> SourceError {
    let read = if parquet {
        format!("{} row(s)", state.offset)
    } else {
        format!("{} byte(s)", state.offset)
    };
    SourceError {
        file: Some(path.to_path_buf()),
        line: None,
        message: format!(
            "the file changed after {read} of it had been read: it was rewritten or replaced, not appended to. Its earlier rows are in the results already, and rows are only ever added from files, so its new content is not read. Put new rows in a new file (or append them to this one); to go on, restore it, delete it, or rename it (a renamed file is read as a new one)"
        ),
    }
}

/// A hash of the first bytes of file `name` of `folder` and of those before `end`: the part already
/// read is unchanged when this is.
pub fn content_check(folder: &Folder, name: &str, end: u64) -> Result<u64, SourceError> {
    let checked = 2 * CHECKED_BYTES;
    if end <= checked {
        // The first bytes and the last ones before `end` are all of them: one read.
        let bytes = folder.read(name, 0..end).map_err(folder_error)?;
        return Ok(xxh3_64(&bytes));
    }
    let mut bytes = folder
        .read(name, 0..CHECKED_BYTES)
        .map_err(folder_error)?
        .to_vec();
    bytes.extend_from_slice(
        &folder
            .read(name, end - CHECKED_BYTES..end)
            .map_err(folder_error)?,
    );
    Ok(xxh3_64(&bytes))
}
