//! A `!LocalStorage` table as a [`Source`]: its files, read in arrival order on from the
//! committed [`FileStates`].
//!
//! A batch holds the records of one or more files (many small files make one commit, not one
//! each) and the states of the files it read, which [`Source::apply`] writes in the batch's
//! transaction. What the runner stores under the source's position key is a summary for people:
//! the last file position read and how many files have states.

use heed::types::Bytes;
use heed::{Database, Env, RwTxn, WithoutTls};

use super::chunk::{Chunk, SourceError};
use super::file_chunk::FilePosition;
use super::file_states::{content_check, nanos, store_error, FileState, FileStates};
use super::file_table::{FileFormat, FileTable};
use super::files::FileReader;
use super::folder;
use super::interface::{Sink, Source};
use crate::codec::{Decode, DecodeError, Encode, Reader};
use crate::error::OpError;

/// The files of one table, feeding one app source.
pub struct FileSource {
    /// The app source it feeds, and its name (the position key).
    source: usize,
    name: String,
    reader: FileReader,
    db: Database<Bytes, Bytes>,
    /// The last position read, committed or in the ready batch.
    last: Option<FilePosition>,
    ready: Option<Batch>,
}

/// Records read and not committed yet, with the file states after them.
struct Batch {
    chunks: Vec<Chunk>,
    updates: Vec<(String, Option<FileState>)>,
    last: Option<FilePosition>,
}

/// What the runner stores under the position key: the last position read and the number of files
/// read. It starts with a non-canonical varint (`80 00`), which no position stored before file
/// states existed can start with: those began with the file name's length.
struct Summary {
    last: Option<FilePosition>,
    files: u64,
}

const SUMMARY_TAG: [u8; 2] = [0x80, 0x00];

/// A position stored before file states existed: files were read in name order, every file
/// before `file` was read to its end.
struct NameOrderPosition {
    file: String,
    offset: u64,
    line: u64,
    open_line: bool,
}

enum Committed {
    Summary(Summary),
    NameOrder(NameOrderPosition),
}

fn decode_committed(bytes: &[u8]) -> Result<Committed, DecodeError> {
    if let Some(rest) = bytes.strip_prefix(&SUMMARY_TAG) {
        let r = &mut Reader::new(rest);
        return Ok(Committed::Summary(Summary {
            last: Option::<FilePosition>::decode(r)?,
            files: u64::decode(r)?,
        }));
    }
    // Later fields may be missing from positions stored by earlier versions.
    let r = &mut Reader::new(bytes);
    let file = String::decode(r)?;
    let offset = u64::decode(r)?;
    let line = u64::decode(r)?;
    if !r.is_empty() {
        Option::<u64>::decode(r)?; // how many files sorted before `file`
    }
    let open_line = !r.is_empty() && bool::decode(r)?;
    Ok(Committed::NameOrder(NameOrderPosition {
        file,
        offset,
        line,
        open_line,
    }))
}

impl Encode for Summary {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&SUMMARY_TAG);
        self.last.encode(out);
        self.files.encode(out);
    }
}

impl FileSource {
    /// Opens the table's files with the states committed in the store (`committed`: the summary
    /// stored under the position key, `None` when nothing was read yet).
    pub fn open(
        env: &Env<WithoutTls>,
        txn: &mut RwTxn,
        source: usize,
        name: &str,
        table: FileTable,
        committed: Option<&[u8]>,
    ) -> Result<Self, SourceError> {
        let db = FileStates::database(env, txn).map_err(store_error)?;
        let mut states = FileStates::load(db, txn, name)?;
        let committed = committed
            .map(|bytes| decode_committed(bytes).map_err(|e| unreadable(name, e)))
            .transpose()?;
        let last = match committed {
            Some(Committed::Summary(s)) => s.last,
            Some(Committed::NameOrder(p)) if states.is_empty() => {
                states = name_order_states(&table, &p)?;
                let updates = states.take_updates();
                FileStates::store(db, txn, name, &updates).map_err(store_error)?;
                Some(FilePosition {
                    file: p.file,
                    offset: p.offset,
                    line: p.line,
                    open_line: p.open_line,
                })
            }
            Some(Committed::NameOrder(_)) | None => None,
        };
        Ok(FileSource {
            source,
            name: name.to_string(),
            reader: FileReader::new(table, states),
            db,
            last,
            ready: None,
        })
    }
}

/// The file states a position stored before them stands for: every file before its file (in
/// name order) read to its end, its file up to its offset.
fn name_order_states(table: &FileTable, p: &NameOrderPosition) -> Result<FileStates, SourceError> {
    let mut states = FileStates::default();
    let parquet = table.format == FileFormat::Parquet;
    for entry in folder::list(table)?.iter().filter(|e| e.ready) {
        if entry.name > p.file {
            continue;
        }
        let current = entry.name == p.file;
        let (offset, line, open_line) = match (current, parquet) {
            (true, _) => (p.offset, p.line, p.open_line),
            (false, true) => (0, 0, false),
            (false, false) => {
                let (breaks, open) = count_lines(table, &entry.name, entry.size)?;
                (entry.size, breaks + 1, open)
            }
        };
        let check_end = if parquet { entry.size } else { offset };
        states.set(
            &entry.name,
            FileState {
                offset,
                line,
                open_line,
                size: entry.size,
                modified: nanos(entry.modified),
                id: entry.id.clone(),
                check: content_check(&table.folder, &entry.name, check_end)?,
                complete: parquet && !current,
            },
        );
    }
    Ok(states)
}

/// The line breaks of file `name` (`len` bytes) of the table (`dozer_types::text`'s count, read
/// a window at a time so a large file costs no memory) and whether its last line has none.
fn count_lines(table: &FileTable, name: &str, len: u64) -> Result<(u64, bool), SourceError> {
    let read = table.folder.reader(name, 0..len);
    count_breaks(read, 1 << 20).map_err(|e| super::chunk::io_error(&table.folder.location(name), e))
}

fn count_breaks(mut read: impl std::io::Read, window: usize) -> std::io::Result<(u64, bool)> {
    let mut buf = vec![0u8; window];
    let (mut breaks, mut last) = (0u64, None);
    loop {
        let n = read.read(&mut buf)?;
        if n == 0 {
            break;
        }
        breaks += dozer_types::text::line_breaks(&buf[..n]);
        // A `\r\n` split between two windows counted twice.
        if last == Some(b'\r') && buf[0] == b'\n' {
            breaks -= 1;
        }
        last = Some(buf[n - 1]);
    }
    Ok((breaks, last.is_some_and(|b| b != b'\n' && b != b'\r')))
}

fn unreadable(name: &str, e: DecodeError) -> SourceError {
    SourceError {
        file: None,
        line: None,
        message: format!("the stored position of source `{name}` is unreadable: {e}"),
    }
}

impl<E: From<SourceError> + From<OpError>> Source<E> for FileSource {
    fn position_key(&self) -> &str {
        &self.name
    }

    fn next_batch(&mut self, max_records: usize) -> Result<bool, SourceError> {
        if self.ready.is_none() {
            let mut chunks = vec![];
            let mut records = 0;
            let mut last = None;
            while records < max_records {
                let Some(chunk) = self.reader.next_chunk(max_records - records)? else {
                    break;
                };
                records += chunk.records.len();
                let (chunk, end) = chunk.into_chunk();
                chunks.push(chunk);
                last = Some(end);
            }
            let updates = self.reader.take_updates();
            if !chunks.is_empty() || !updates.is_empty() {
                self.ready = Some(Batch {
                    chunks,
                    updates,
                    last,
                });
            }
        }
        Ok(self.ready.is_some())
    }

    fn batch_position(&self) -> Vec<u8> {
        let last = self
            .ready
            .as_ref()
            .and_then(|b| b.last.clone())
            .or_else(|| self.last.clone());
        let mut out = vec![];
        Summary {
            last,
            files: self.reader.states().len() as u64,
        }
        .encode(&mut out);
        out
    }

    fn apply(&self, txn: &mut RwTxn, sink: &mut Sink<'_, E>) -> Result<u64, E> {
        let Some(batch) = &self.ready else {
            return Ok(0);
        };
        FileStates::store(self.db, txn, &self.name, &batch.updates).map_err(OpError::from)?;
        let mut records = 0;
        for chunk in &batch.chunks {
            sink(txn, self.source, chunk)?;
            records += chunk.records.len() as u64;
        }
        Ok(records)
    }

    fn acknowledge(&mut self) {
        if let Some(batch) = self.ready.take() {
            if batch.last.is_some() {
                self.last = batch.last;
            }
        }
    }

    fn describe(&self, committed: Option<&[u8]>) -> Result<Vec<(usize, String)>, SourceError> {
        let table = self.reader.table();
        let summary = committed
            .map(|bytes| decode_committed(bytes).map_err(|e| unreadable(&self.name, e)))
            .transpose()?;
        let files = self.reader.states().len();
        let mut text = match (summary.is_some(), &self.last) {
            (false, _) | (true, None) => format!("nothing read yet ({})", table.folder.describe()),
            (true, Some(p)) if table.format == FileFormat::Parquet => {
                format!(
                    "read up to {} row {} ({files} file(s) read)",
                    p.file, p.line
                )
            }
            (true, Some(p)) => format!(
                "read up to {} line {} (byte {}; {files} file(s) read)",
                p.file, p.line, p.offset
            ),
        };
        // What is committed is known from the store alone; what is left to read needs the
        // folder, which may not be there where the store is looked at (a container started
        // without the data mounted, say).
        match FileReader::pending(table, self.reader.states()) {
            Ok(pending) if pending.open_last_line => text.push_str(&format!(
                "; {} byte(s) pending: a last line without a line break, read once its file has not grown for {:?} (or by `run --once`)",
                pending.bytes, table.quiet_period
            )),
            Ok(pending) if pending.bytes > 0 => {
                text.push_str(&format!("; {} byte(s) not read yet", pending.bytes));
            }
            Ok(_) => {}
            Err(e) => text.push_str(&format!("; unread data unknown: {e}")),
        }
        Ok(vec![(self.source, text)])
    }

    fn reading_as_it_is(&mut self) {
        self.reader.read_files_as_they_are();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::pipeline::PipelineError;
    use crate::store::Store;

    fn table(dir: &std::path::Path) -> FileTable {
        FileTable {
            folder: dozer_folder::Folder::local(dir),
            extension: ".csv".into(),
            format: FileFormat::Csv {
                delimiter: b',',
                has_header: true,
            },
            columns: vec!["a".into(), "b".into()],
            quiet_period: Duration::ZERO,
            marker_extension: None,
        }
    }

    /// Opens the source on `store` with `committed`, commits one batch of at most `max` records
    /// the way the runner does, and returns its records' first fields and the stored summary.
    fn commit_batch(
        store: &Store,
        dir: &std::path::Path,
        committed: Option<Vec<u8>>,
        max: usize,
    ) -> (Vec<String>, Option<Vec<u8>>) {
        let mut source = store
            .write(|txn| {
                FileSource::open(store.env(), txn, 0, "t", table(dir), committed.as_deref())
                    .map_err(PipelineError::from)
            })
            .unwrap();
        if !Source::<PipelineError>::next_batch(&mut source, max).unwrap() {
            return (vec![], committed);
        }
        let position = Source::<PipelineError>::batch_position(&source);
        let mut firsts = vec![];
        store
            .write(|txn| {
                firsts.clear();
                Source::<PipelineError>::apply(&source, txn, &mut |_, _, chunk| {
                    for (_, r) in &chunk.records {
                        if let crate::source::chunk::RawRecord::Csv(r) = r {
                            firsts.push(String::from_utf8_lossy(&r[0]).into_owned());
                        }
                    }
                    Ok(())
                })
            })
            .unwrap();
        Source::<PipelineError>::acknowledge(&mut source);
        (firsts, Some(position))
    }

    /// Commits batches of at most `max` records until the files are read: (records, batches).
    pub(super) fn commit_all(store: &Store, dir: &std::path::Path, max: usize) -> (usize, usize) {
        let (mut records, mut batches) = (0, 0);
        let mut committed = None;
        loop {
            let (read, after) = commit_batch(store, dir, committed.clone(), max);
            if read.is_empty() {
                return (records, batches);
            }
            records += read.len();
            batches += 1;
            committed = after;
        }
    }

    #[test]
    fn small_files_share_a_batch_and_a_restart_reads_nothing_twice() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..5 {
            std::fs::write(dir.path().join(format!("{i}.csv")), format!("a,b\n{i},x\n")).unwrap();
        }
        let store_dir = tempfile::tempdir().unwrap();
        let store = Store::open(store_dir.path(), None).unwrap();
        let (first, committed) = commit_batch(&store, dir.path(), None, 3);
        assert_eq!(first.len(), 3, "{first:?}");
        let (rest, committed) = commit_batch(&store, dir.path(), committed, 100);
        let mut all = [first, rest].concat();
        all.sort();
        assert_eq!(all, ["0", "1", "2", "3", "4"]);
        let (none, _) = commit_batch(&store, dir.path(), committed, 100);
        assert!(none.is_empty(), "{none:?}");
    }

    #[test]
    fn lines_are_counted_alike_whatever_the_window() {
        let text = b"a,b\r\n1\r2\n\r\n3";
        for window in 1..=text.len() {
            assert_eq!(
                count_breaks(&text[..], window).unwrap(),
                (4, true),
                "{window}"
            );
        }
        assert_eq!(count_breaks(&b"a\r\n"[..], 3).unwrap(), (1, false));
        assert_eq!(count_breaks(&b""[..], 3).unwrap(), (0, false));
    }

    #[test]
    fn a_position_stored_in_name_order_becomes_file_states() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("1.csv"), "a,b\r\n1,x\r\n2,y").unwrap();
        std::fs::write(dir.path().join("2.csv"), "a,b\n3,x\n4,y\n").unwrap();
        // What an earlier version stored after reading 1.csv and the first row of 2.csv.
        let mut old = vec![];
        "2.csv".encode(&mut old);
        8u64.encode(&mut old);
        3u64.encode(&mut old);
        Some(1u64).encode(&mut old);
        false.encode(&mut old);
        let store_dir = tempfile::tempdir().unwrap();
        let store = Store::open(store_dir.path(), None).unwrap();
        let (rest, committed) = commit_batch(&store, dir.path(), Some(old), 100);
        assert_eq!(rest, ["4"]);
        // Data appended to the file read in full before is read, with its line numbers.
        let mut f = std::fs::File::options()
            .append(true)
            .open(dir.path().join("1.csv"))
            .unwrap();
        std::io::Write::write_all(&mut f, b"\r\n5,z\r\n").unwrap();
        let (appended, _) = commit_batch(&store, dir.path(), committed, 100);
        assert_eq!(appended, ["5"]);
        let view = store.read().unwrap();
        let db = store
            .env()
            .open_database::<Bytes, Bytes>(&view, Some(super::super::file_states::DATABASE))
            .unwrap()
            .unwrap();
        let states = FileStates::load(db, &view, "t").unwrap();
        assert_eq!(states.get("1.csv").unwrap().line, 5);
    }
}

#[cfg(test)]
mod measure {
    use std::time::Instant;

    use super::tests::commit_all;
    use crate::store::Store;

    /// Figures for the closing note (`cargo test -p dozer-runtime --release --lib -- --ignored
    /// --nocapture measure_many_files`): reading and committing 10,000 small files against one
    /// file of the same rows, to show a commit costs the files it read, not every file known.
    /// Prints, asserts nothing about time.
    #[test]
    #[ignore = "a measurement, not a test"]
    fn measure_many_files() {
        for (files, rows) in [(10_000usize, 10usize), (1, 100_000)] {
            let dir = tempfile::tempdir().unwrap();
            for f in 0..files {
                let mut text = String::from("a,b\n");
                for r in 0..rows {
                    text.push_str(&format!("{f}-{r},x\n"));
                }
                std::fs::write(dir.path().join(format!("{f:x}.csv")), text).unwrap();
            }
            let store_dir = tempfile::tempdir().unwrap();
            let store = Store::open(store_dir.path(), None).unwrap();
            let started = Instant::now();
            let (records, batches) = commit_all(&store, dir.path(), 10_000);
            let secs = started.elapsed().as_secs_f64();
            assert_eq!(records, files * rows);
            eprintln!(
                "{files} file(s) of {rows} rows: {batches} batches, {:.0} files/s, {:.0} rows/s",
                files as f64 / secs,
                records as f64 / secs
            );
        }
    }
}
