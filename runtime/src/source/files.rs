//! `!LocalStorage` tables: every file with the table's extension in its folder, read in the order
//! the files arrived, then followed for new files and for data appended to any of them.
//!
//! The reader is exact about where it is: [`FileStates`] hold, for every file read, the byte
//! offset of its next unread record and its line number; which files have something new, and in
//! which order, is their rule (see [`super::file_states`]). Record boundaries are
//! `dozer_types::text`'s: `\n`, `\r\n` and `\r` line breaks, a byte order mark at the start,
//! quoted line breaks inside CSV fields.
//!
//! Only complete records are consumed. A record that runs to the end of the data, without its
//! line break yet, may still be being written and is left for a later read — unless the file is
//! complete: the app reads the files as they are (`run --once`), the file's marker exists, or it
//! has not grown for the table's quiet period (`quiet_period`, [`super::file_table::DEFAULT_QUIET_PERIOD`]). A file
//! whose last line has no line break therefore still yields its last record. Should a writer then
//! continue that line after all, the continuation is reported as an unreadable record instead of
//! being read as a record of its own.
//!
//! Records come out raw ([`RawRecord`]): turning fields into typed values, and reporting a bad
//! value with its file, line and column, is the generated code's job.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use dozer_folder::Object;
use dozer_types::text::{bom_len, LineScanner, Scan};

use super::chunk::{RawRecord, SourceError};
use super::csv::{self, CsvLayout};
use super::file_chunk::{FileChunk, FilePosition, Parsed};
use super::file_states::{content_check, nanos, Candidate, FileState, FileStates};
use super::file_table::{FileFormat, FileTable};
use super::folder::{self, folder_error};
use super::parquet::{self, ParquetRead};

/// Reads a table's files on from their states.
pub struct FileReader {
    table: FileTable,
    states: FileStates,
    /// The files with something to read at the last listing, oldest first; the first is being
    /// read.
    queue: VecDeque<Candidate>,
    /// How the CSV file being read maps its fields to the table's columns.
    layout: Option<CsvLayout>,
    /// The files are as they will stay (`run --once`): the end of each is the end of its last
    /// record.
    as_they_are: bool,
    /// Each file's size when it was first seen at that size with an unfinished last line, to tell
    /// when it stopped growing.
    growth: HashMap<String, (u64, Instant)>,
    read_window: u64,
    /// The files whose start an object store fetched together last ([`FileReader::prefetch_ahead`]).
    prefetched: HashSet<String>,
    /// Average bytes per record of the last text chunk (0: none read yet), so a read looks at
    /// about one chunk's bytes rather than the whole window.
    record_bytes: u64,
}

/// How long an unreadable Parquet file may stay unchanged before it is an error rather than a
/// file still being written. (Writers that take longer should write under another name and
/// rename, or use a marker file.)
const PARQUET_GRACE: Duration = Duration::from_secs(60);

/// Whether a file was last modified at least `after` ago.
fn unmodified_for(file: &Object, after: Duration) -> bool {
    SystemTime::now()
        .duration_since(file.modified)
        .is_ok_and(|age| age >= after)
}

/// What is left to read of a table (`info`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pending {
    /// Bytes not read yet, of every file.
    pub bytes: u64,
    /// They are last lines without a line break yet.
    pub open_last_line: bool,
}

impl FileReader {
    pub fn new(table: FileTable, states: FileStates) -> Self {
        FileReader {
            table,
            states,
            queue: VecDeque::new(),
            layout: None,
            as_they_are: false,
            growth: HashMap::new(),
            read_window: READ_WINDOW,
            prefetched: HashSet::new(),
            record_bytes: 0,
        }
    }

    /// Changes how many bytes one read looks at (tests use tiny windows).
    pub fn with_read_window(mut self, bytes: u64) -> Self {
        self.read_window = bytes.max(1);
        self
    }

    /// Changes the table's quiet period (tests).
    pub fn with_quiet_period(mut self, quiet: Duration) -> Self {
        self.table.quiet_period = quiet;
        self
    }

    /// Reads the files as they are now: nothing more is written to them, so a last line without
    /// a line break is a record right away (`run --once`).
    pub fn reading_files_as_they_are(mut self) -> Self {
        self.read_files_as_they_are();
        self
    }

    /// What has been read of each file, with the changes not taken yet.
    pub fn states(&self) -> &FileStates {
        &self.states
    }

    /// The file states set and forgotten since the last call, to commit with the records read.
    pub fn take_updates(&mut self) -> Vec<(String, Option<FileState>)> {
        self.states.take_updates()
    }

    pub fn table(&self) -> &FileTable {
        &self.table
    }

    /// [`FileReader::reading_files_as_they_are`], in place.
    pub fn read_files_as_they_are(&mut self) {
        self.as_they_are = true;
    }

    /// Whether the file has stopped growing: unmodified for the quiet period, or seen at its size
    /// by this reader for that long (a check that does not trust the file's clock).
    fn quiet(&mut self, name: &str, meta: &Object) -> bool {
        if self.table.marker_extension.is_some() || self.table.folder.stores_whole_files() {
            return true; // its marker says it is complete, or its store only keeps whole files
        }
        let quiet = self.table.quiet_period;
        if unmodified_for(meta, quiet) {
            return true;
        }
        let len = meta.size;
        match self.growth.get(name) {
            Some((seen, since)) if *seen == len => since.elapsed() >= quiet,
            _ => {
                self.growth.insert(name.to_string(), (len, Instant::now()));
                quiet.is_zero()
            }
        }
    }

    /// The next records (at most `max_records`, from one file), or `None` when everything written
    /// so far has been read. Call again later to follow new data.
    pub fn next_chunk(&mut self, max_records: usize) -> Result<Option<FileChunk>, SourceError> {
        let mut listed = false;
        loop {
            let Some(candidate) = self.queue.front() else {
                if listed {
                    return Ok(None);
                }
                let listing = folder::list(&self.table)?;
                self.queue = self.states.plan(&self.table, &listing)?.into();
                self.prefetch_ahead()?;
                if !self.growth.is_empty() {
                    let listed: HashSet<&str> = listing.iter().map(|e| e.name.as_str()).collect();
                    self.growth.retain(|name, _| listed.contains(name.as_str()));
                }
                listed = true;
                continue;
            };
            let start = candidate.position.clone();
            let listed = Object {
                name: start.file.clone(),
                size: candidate.size,
                modified: candidate.modified,
                id: candidate.id.clone(),
            };
            match self.read_file(&start, &listed, max_records)? {
                Some(chunk) if chunk.end != start => {
                    if let Some(front) = self.queue.front_mut() {
                        front.position = chunk.end.clone();
                    }
                    if !chunk.records.is_empty() {
                        return Ok(Some(chunk));
                    }
                    // Blank lines or a header only: look again.
                }
                // Nothing to read in this file now: on to the next.
                _ => {
                    self.queue.pop_front();
                    self.prefetch_ahead()?;
                }
            }
        }
    }

    /// Has an object store fetch the next files to read together (their first bytes), once the
    /// one being read is the last fetched: one round trip for [`PREFETCH`] small objects.
    fn prefetch_ahead(&mut self) -> Result<(), SourceError> {
        if !self.table.folder.stores_whole_files() {
            return Ok(());
        }
        let Some(front) = self.queue.front() else {
            return Ok(());
        };
        if self.prefetched.contains(&front.position.file) {
            return Ok(());
        }
        self.prefetched.clear();
        let next: Vec<(String, u64)> = self
            .queue
            .iter()
            .take(PREFETCH)
            .filter(|c| c.position.offset == 0)
            .map(|c| (c.position.file.clone(), c.size))
            .collect();
        self.prefetched.extend(
            self.queue
                .iter()
                .take(PREFETCH)
                .map(|c| c.position.file.clone()),
        );
        self.table.folder.prefetch(&next).map_err(folder_error)
    }

    /// The next records of one file from `start` (`listed` as the last listing saw it), with
    /// its state updated; `None` when it has nothing to read now.
    fn read_file(
        &mut self,
        start: &FilePosition,
        listed: &Object,
        max_records: usize,
    ) -> Result<Option<FileChunk>, SourceError> {
        let name = start.file.as_str();
        let folder = self.table.folder.clone();
        // A local file may have grown since the listing; a stored object is as it was listed
        // (a replaced one has a new tag, which the next listing finds).
        let meta = if folder.stores_whole_files() {
            listed.clone()
        } else {
            match folder.stat(name).map_err(folder_error)? {
                Some(meta) => meta,
                None => return Ok(None), // deleted since the listing: forgotten at the next one
            }
        };
        let (chunk, complete) = if self.table.format == FileFormat::Parquet {
            let complete = self.as_they_are
                || self.table.marker_extension.is_some()
                || folder.stores_whole_files()
                || unmodified_for(&meta, self.table.quiet_period.max(PARQUET_GRACE));
            let read = parquet::read(
                &folder,
                &meta,
                (&self.table.columns, parquet::Absent::Error),
                start,
                max_records,
                complete,
            )?;
            match read {
                ParquetRead::Rows(chunk) => {
                    let all = chunk.records.is_empty();
                    (chunk, all)
                }
                ParquetRead::Unfinished => return Ok(None),
            }
        } else {
            let complete = self.as_they_are || self.quiet(name, &meta);
            let mut at = start.clone();
            if !self.at_records(&mut at, &meta, complete)? {
                return Ok(None); // no header yet, or none ever (a complete empty file)
            }
            let chunk = self.read_from(&at, meta.size, max_records, complete)?;
            if !chunk.records.is_empty() && chunk.end.offset > at.offset {
                self.record_bytes = (chunk.end.offset - at.offset) / chunk.records.len() as u64;
            }
            (chunk, false)
        };
        let parquet = self.table.format == FileFormat::Parquet;
        let known = self.states.get(name);
        if chunk.end != *start || (complete && known.is_none_or(|s| !s.complete)) {
            let check_end = if parquet { meta.size } else { chunk.end.offset };
            // An object store tells objects apart by their entity tag: no bytes to compare.
            let check = if meta.id.is_empty() {
                content_check(&folder, name, check_end)?
            } else {
                0
            };
            let state = FileState {
                offset: chunk.end.offset,
                line: chunk.end.line,
                open_line: chunk.end.open_line,
                size: meta.size,
                modified: nanos(meta.modified),
                id: meta.id.clone(),
                check,
                complete,
            };
            self.states.set(name, state);
        }
        Ok(Some(chunk))
    }

    /// Moves `at` to a record of a text file: a file's first record comes after its byte order
    /// mark and (CSV) its header, whose layout is read here. `false` while the file has no
    /// header yet.
    fn at_records(
        &mut self,
        at: &mut FilePosition,
        meta: &Object,
        complete: bool,
    ) -> Result<bool, SourceError> {
        let name = at.file.as_str();
        let folder = &self.table.folder;
        let data_start = match self.table.format {
            FileFormat::Csv {
                delimiter,
                has_header,
            } => {
                if self.layout.as_ref().is_none_or(|l| l.file != *name) {
                    self.layout = CsvLayout::read(
                        folder,
                        name,
                        meta.size,
                        &self.table.columns,
                        delimiter,
                        has_header,
                        complete,
                    )?;
                }
                match &self.layout {
                    Some(layout) => layout.data_start,
                    None => return Ok(false),
                }
            }
            // Parquet positions count rows, not bytes: nothing to skip.
            FileFormat::Parquet => return Ok(true),
            FileFormat::JsonLines if at.offset > 0 => return Ok(true),
            FileFormat::JsonLines => {
                let start = folder
                    .read(name, 0..3.min(meta.size))
                    .map_err(folder_error)?;
                (bom_len(&start) as u64, 1)
            }
        };
        if at.offset == 0 {
            (at.offset, at.line) = data_start;
        }
        Ok(true)
    }

    /// Reads the next records of `start`'s file (now `len` bytes) from `start`, through a
    /// bounded window (so a chunk costs about its own size in I/O, however large the file).
    fn read_from(
        &self,
        start: &FilePosition,
        len: u64,
        max_records: usize,
        complete: bool,
    ) -> Result<FileChunk, SourceError> {
        let start = start.clone();
        let folder = &self.table.folder;
        let path = folder.location(&start.file);
        if start.offset > len {
            return Err(SourceError {
                file: Some(path.clone()),
                line: None,
                message: format!(
                    "the file shrank below the position already read ({} bytes); files must only grow",
                    start.offset
                ),
            });
        }
        let remaining = len - start.offset;
        // About the bytes of `max_records` records (a quarter more, and the whole window until
        // a record size is known); widened below if even one record does not fit.
        let estimate = match self.record_bytes {
            0 => self.read_window,
            n => n.saturating_mul(max_records as u64).saturating_mul(5) / 4 + 4096,
        };
        let mut window = estimate.min(self.read_window).min(remaining);
        loop {
            let bytes = folder
                .read(&start.file, start.offset..start.offset + window)
                .map_err(folder_error)?;
            let at_end = bytes.len() as u64 == remaining;
            // The end of the window is the end of a record only at the end of a complete file.
            let last = at_end && complete;
            // A line continued after its first part was read as the file's last record.
            let (continued, skip) = match after_open_line(start.open_line, &bytes, last) {
                AfterOpenLine::Ends => (None, 0),
                AfterOpenLine::Continued(n) => (
                    Some((start.line, RawRecord::Malformed(format!(
                        "this line was continued after its first part had been read as a record (the file had not grown for {:?} with its last line unterminated); the continuation is not read. Writers should end each line before pausing, or raise the table's `quiet_period`",
                        self.table.quiet_period
                    )))),
                    n,
                ),
                AfterOpenLine::Unfinished if !at_end && window < remaining => {
                    window = (window * 2).min(remaining);
                    continue;
                }
                AfterOpenLine::Unfinished => {
                    return Ok(FileChunk {
                        file: Arc::from(start.file.as_str()),
                        records: vec![],
                        end: start,
                    })
                }
            };
            let budget = max_records.saturating_sub(usize::from(continued.is_some()));
            let body = &bytes[skip..];
            let mut parsed = match &self.table.format {
                FileFormat::JsonLines => parse_json_lines(body, start.line, budget, last),
                FileFormat::Parquet => {
                    return Err(SourceError {
                        file: Some(path),
                        line: None,
                        message: "internal: a Parquet file read as text".into(),
                    })
                }
                FileFormat::Csv { delimiter, .. } => {
                    let Some(layout) = &self.layout else {
                        return Err(SourceError {
                            file: Some(path),
                            line: None,
                            message: "internal: a CSV file read before its header".into(),
                        });
                    };
                    csv::parse(layout, body, start.line, budget, *delimiter, last)
                }
            };
            parsed.consumed += skip as u64;
            if let Some(record) = continued {
                parsed.records.insert(0, record);
            }
            // Nothing fit in the window (one record is longer than it): widen it and read again.
            if parsed.consumed == 0 && !at_end && window < remaining {
                window = (window * 2).min(remaining);
                continue;
            }
            let end = FilePosition {
                file: start.file.clone(),
                offset: start.offset + parsed.consumed,
                line: parsed.line,
                // Nothing read: still as it was; only a continuation read: the line is closed
                // (its line break comes next); else as the last record read left it.
                open_line: match (skip, parsed.consumed == skip as u64) {
                    (0, true) => start.open_line,
                    (_, true) => false,
                    _ => parsed.open_line,
                },
            };
            return Ok(FileChunk {
                file: Arc::from(start.file.as_str()),
                records: parsed.records,
                end,
            });
        }
    }

    /// What is left to read of `table` with `states` (for `info`).
    pub fn pending(table: &FileTable, states: &FileStates) -> Result<Pending, SourceError> {
        if table.format == FileFormat::Parquet {
            return Ok(Pending::default());
        }
        let mut pending = Pending {
            bytes: 0,
            open_last_line: true,
        };
        for entry in folder::list(table)?.iter().filter(|e| e.ready) {
            let offset = states.get(&entry.name).map_or(0, |s| s.offset);
            let rest = entry.size.saturating_sub(offset);
            if rest == 0 {
                continue;
            }
            pending.bytes += rest;
            if pending.open_last_line && rest <= READ_WINDOW {
                let bytes = table
                    .folder
                    .read(&entry.name, offset..entry.size)
                    .map_err(folder_error)?;
                pending.open_last_line = !bytes.iter().any(|b| *b == b'\n' || *b == b'\r');
            } else {
                pending.open_last_line = false;
            }
        }
        pending.open_last_line &= pending.bytes > 0;
        Ok(pending)
    }
}

/// How the bytes after a position begin.
enum AfterOpenLine {
    /// As usual: the position is not after an open line, or the bytes start with the line break
    /// that ends it (or there are none yet).
    Ends,
    /// With this many bytes that continue the open line, up to its line break (or the end of
    /// final data).
    Continued(usize),
    /// With bytes that continue the open line, whose line break is not written yet.
    Unfinished,
}

fn after_open_line(open_line: bool, bytes: &[u8], last: bool) -> AfterOpenLine {
    if !open_line {
        return AfterOpenLine::Ends;
    }
    match bytes.iter().position(|b| *b == b'\n' || *b == b'\r') {
        Some(0) => AfterOpenLine::Ends,
        Some(n) => AfterOpenLine::Continued(n),
        None if bytes.is_empty() => AfterOpenLine::Ends,
        None if last => AfterOpenLine::Continued(bytes.len()),
        None => AfterOpenLine::Unfinished,
    }
}

/// How many of the next objects to read an object store is asked for at once.
const PREFETCH: usize = 16;

/// How much of a file one read looks at; doubled when a single record is longer.
const READ_WINDOW: u64 = 8 << 20;

/// The JSON lines of a window that starts at a line boundary on line `line`, at most
/// `max_records` of them (blank lines skipped); `last` when no byte can follow the window. A
/// line that is not UTF-8 is a malformed record, so the bad-record policy applies to it.
fn parse_json_lines(bytes: &[u8], line: u64, max_records: usize, last: bool) -> Parsed {
    let mut scanner = LineScanner::new(bytes, last, line);
    let mut records = vec![];
    let mut open_line = false;
    while records.len() < max_records {
        let Scan::Record(l) = scanner.next_line() else {
            break;
        };
        open_line = !l.terminated;
        if l.text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record = match std::str::from_utf8(l.text) {
            Ok(text) => RawRecord::Json(text.to_string()),
            Err(e) => RawRecord::Malformed(format!(
                "not valid UTF-8 (byte {} of the line)",
                e.valid_up_to() + 1
            )),
        };
        records.push((l.line, record));
    }
    let (consumed, line) = scanner.consumed();
    Parsed {
        records,
        consumed: consumed as u64,
        line,
        open_line,
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::io::Write;
    use std::path::Path;

    use super::*;
    use crate::codec::{Decode, Encode, Reader};
    use crate::source::file_table::DEFAULT_QUIET_PERIOD;

    fn table(dir: &Path, format: FileFormat) -> FileTable {
        let extension = if format == FileFormat::JsonLines {
            ".jsonl"
        } else {
            ".csv"
        }
        .to_string();
        FileTable {
            folder: dozer_folder::Folder::local(dir),
            extension,
            format,
            columns: vec!["a".into(), "b".into()],
            quiet_period: DEFAULT_QUIET_PERIOD,
            marker_extension: None,
        }
    }

    fn csv_table(dir: &Path) -> FileTable {
        table(
            dir,
            FileFormat::Csv {
                delimiter: b',',
                has_header: true,
            },
        )
    }

    /// Every record from now on as (file, line, first field).
    fn drain(reader: &mut FileReader, max: usize) -> Vec<(String, u64, String)> {
        let mut out = vec![];
        while let Some(chunk) = reader.next_chunk(max).unwrap() {
            assert!(chunk.records.len() <= max);
            for (line, r) in chunk.records {
                let first = match r {
                    RawRecord::Csv(r) => String::from_utf8_lossy(&r[0]).into_owned(),
                    RawRecord::Json(t) => t,
                    RawRecord::Values(v) => format!("{:?}", v[0]),
                    RawRecord::Malformed(m) => m,
                };
                out.push((chunk.file.to_string(), line, first));
            }
        }
        out
    }

    fn rec(file: &str, line: u64, v: &str) -> (String, u64, String) {
        (file.to_string(), line, v.to_string())
    }

    /// Writes `text` to `dir/name`, last modified `secs` seconds after a fixed time: tests give
    /// files their arrival order (file systems keep modification times in clock ticks, which
    /// files written one after the other often share).
    fn write_at(dir: &Path, name: &str, text: &str, secs: u64) {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs);
        File::options()
            .append(true)
            .open(&path)
            .unwrap()
            .set_modified(at)
            .unwrap();
    }

    /// The states as a restarted reader finds them committed.
    fn committed(reader: &FileReader) -> FileStates {
        let mut states = reader.states().clone();
        states.take_updates();
        states
    }

    fn state<'a>(reader: &'a FileReader, file: &str) -> &'a FileState {
        reader.states().get(file).unwrap()
    }

    #[test]
    fn files_are_read_in_arrival_order_whatever_their_names_and_resume_exactly() {
        let dir = tempfile::tempdir().unwrap();
        write_at(
            dir.path(),
            "zz-upload.csv",
            "a,b\n1,x\n\"2\nmultiline\",y\n",
            0,
        );
        write_at(dir.path(), "aa-upload.csv", "a,b\n3,x\n4,y\n", 10);
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let mut reader = FileReader::new(csv_table(dir.path()), FileStates::default());
        let first = reader.next_chunk(1).unwrap().unwrap();
        assert_eq!(first.records.len(), 1);
        assert_eq!(&*first.file, "zz-upload.csv");
        // Restart from the states after the first record: the rest, nothing twice.
        let mut resumed = FileReader::new(csv_table(dir.path()), committed(&reader));
        assert_eq!(
            drain(&mut resumed, 2),
            vec![
                rec("zz-upload.csv", 3, "2\nmultiline"),
                rec("aa-upload.csv", 2, "3"),
                rec("aa-upload.csv", 3, "4")
            ]
        );
        let last = state(&resumed, "aa-upload.csv");
        assert_eq!((last.offset, last.line, last.open_line), (12, 4, false));
        assert_eq!(resumed.states().len(), 2);
        // The states survive their encoding.
        let mut bytes = vec![];
        last.encode(&mut bytes);
        assert_eq!(&FileState::decode(&mut Reader::new(&bytes)).unwrap(), last);
    }

    #[test]
    fn a_new_file_is_read_whatever_its_name_and_a_deleted_one_is_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        write_at(dir.path(), "b.csv", "a,b\n1,x\n", 0);
        write_at(dir.path(), "c.csv", "a,b\n2,x\n", 1);
        let mut reader = FileReader::new(csv_table(dir.path()), FileStates::default());
        assert_eq!(drain(&mut reader, 10).len(), 2);
        // A file named before the ones read, arriving later, is read; after a restart too.
        write_at(dir.path(), "a.csv", "a,b\n3,x\n", 2);
        let mut reader = FileReader::new(csv_table(dir.path()), committed(&reader));
        assert_eq!(drain(&mut reader, 10), vec![rec("a.csv", 2, "3")]);
        assert_eq!(drain(&mut reader, 10), vec![]);
        // Read files may go away; that loses nothing, and their states go with them.
        std::fs::remove_file(dir.path().join("b.csv")).unwrap();
        assert_eq!(drain(&mut reader, 10), vec![]);
        assert!(reader.states().get("b.csv").is_none());
        let updates = reader.take_updates();
        assert!(
            updates.contains(&("b.csv".to_string(), None)),
            "{updates:?}"
        );
        // A file created later under a forgotten name is a new file.
        write_at(dir.path(), "b.csv", "a,b\n4,x\n", 3);
        assert_eq!(drain(&mut reader, 10), vec![rec("b.csv", 2, "4")]);
    }

    #[test]
    fn data_appended_to_an_earlier_file_is_read_after_newer_files_arrived() {
        let dir = tempfile::tempdir().unwrap();
        write_at(dir.path(), "host-1.csv", "a,b\n1,x\n", 0);
        write_at(dir.path(), "host-2.csv", "a,b\n2,x\n", 1);
        let mut reader = FileReader::new(csv_table(dir.path()), FileStates::default());
        assert_eq!(drain(&mut reader, 10).len(), 2);
        // Both writers go on; the earlier file's new line is read from where it stopped.
        let mut f = File::options()
            .append(true)
            .open(dir.path().join("host-1.csv"))
            .unwrap();
        f.write_all(b"3,y\n").unwrap();
        let mut reader = FileReader::new(csv_table(dir.path()), committed(&reader));
        assert_eq!(drain(&mut reader, 10), vec![rec("host-1.csv", 3, "3")]);
    }

    #[test]
    fn a_file_rewritten_replaced_or_shrunk_after_reading_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        write_at(dir.path(), "1.csv", "a,b\n1,x\n2,y\n", 0);
        let mut reader = FileReader::new(csv_table(dir.path()), FileStates::default());
        assert_eq!(drain(&mut reader, 10).len(), 2);
        let read = committed(&reader);
        for (text, says) in [
            ("a,b\n1,x\n", "shrank"),                          // truncated
            ("a,b\n9,x\n2,y\n", "rewritten or replaced"),      // same length, new rows
            ("a,b\n1,x\n7,y\n8,z\n", "rewritten or replaced"), // longer, read part changed
        ] {
            write_at(dir.path(), "1.csv", text, 5);
            let err = FileReader::new(csv_table(dir.path()), read.clone())
                .next_chunk(10)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("1.csv") && err.contains(says),
                "{text:?}: {err}"
            );
        }
        // Rewritten with the read part as it was and rows added: that is an append.
        write_at(dir.path(), "1.csv", "a,b\n1,x\n2,y\n3,z\n", 6);
        let mut reader = FileReader::new(csv_table(dir.path()), read.clone());
        assert_eq!(drain(&mut reader, 10), vec![rec("1.csv", 4, "3")]);
        // Touched only: nothing to read, no error.
        write_at(dir.path(), "1.csv", "a,b\n1,x\n2,y\n", 7);
        let mut reader = FileReader::new(csv_table(dir.path()), read);
        assert_eq!(drain(&mut reader, 10), vec![]);
    }

    #[test]
    fn appended_data_and_new_files_are_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.csv");
        std::fs::write(&path, "a,b\n1,x\n2,y").unwrap(); // the last line is still being written
        let mut reader = FileReader::new(csv_table(dir.path()), FileStates::default())
            .with_quiet_period(Duration::from_secs(3600));
        assert_eq!(drain(&mut reader, 10), vec![rec("1.csv", 2, "1")]);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"2\n3,z\n").unwrap();
        assert_eq!(
            drain(&mut reader, 10),
            vec![rec("1.csv", 3, "2"), rec("1.csv", 4, "3")]
        );
        assert_eq!(drain(&mut reader, 10), vec![]);
        std::fs::write(dir.path().join("2.csv"), "a,b\n5,w\n").unwrap();
        assert_eq!(drain(&mut reader, 10), vec![rec("2.csv", 2, "5")]);
    }

    #[test]
    fn with_markers_a_file_is_read_once_its_marker_exists_and_whole() {
        let dir = tempfile::tempdir().unwrap();
        let table = FileTable {
            marker_extension: Some(".marker".into()),
            ..csv_table(dir.path())
        };
        // Complete, with a last line still without its line break: not read before its marker.
        std::fs::write(dir.path().join("1.csv"), "a,b\n1,x\n2,y").unwrap();
        std::fs::write(dir.path().join("2.csv"), "a,b\n3,z\n").unwrap();
        let mut reader = FileReader::new(table, FileStates::default())
            .with_quiet_period(Duration::from_secs(3600));
        assert_eq!(drain(&mut reader, 10), vec![]);
        // A marker of another name, or of the data's own extension, marks nothing.
        std::fs::write(dir.path().join("1.csv.bak"), "").unwrap();
        assert_eq!(drain(&mut reader, 10), vec![]);
        std::fs::write(dir.path().join("1.marker"), "").unwrap();
        // The marker says the file is finished: its last line is a record at once.
        assert_eq!(
            drain(&mut reader, 10),
            vec![rec("1.csv", 2, "1"), rec("1.csv", 3, "2")]
        );
        std::fs::write(dir.path().join("2.marker"), "").unwrap();
        assert_eq!(drain(&mut reader, 10), vec![rec("2.csv", 2, "3")]);
        // Marker files are never read as data.
        assert_eq!(drain(&mut reader, 10), vec![]);
    }

    #[test]
    fn a_final_line_without_newline_is_read_once_the_file_is_complete() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("1.csv"), "a,b\n1,x\n2,y").unwrap();
        let mut reader = FileReader::new(csv_table(dir.path()), FileStates::default())
            .with_quiet_period(Duration::ZERO);
        assert_eq!(
            drain(&mut reader, 10),
            vec![rec("1.csv", 2, "1"), rec("1.csv", 3, "2")]
        );
        assert_eq!(state(&reader, "1.csv").offset, 11);
        assert_eq!(drain(&mut reader, 10), vec![]);
        // A later file does not complete an earlier one (its writer may go on): the open last
        // line waits while the later file is read.
        std::fs::write(dir.path().join("3.csv"), "a,b\n7,x\n8,y").unwrap();
        std::fs::write(dir.path().join("4.csv"), "a,b\n9,x\n").unwrap();
        let mut reader = FileReader::new(csv_table(dir.path()), committed(&reader))
            .with_quiet_period(Duration::from_secs(3600));
        let mut got = drain(&mut reader, 10);
        got.sort();
        assert_eq!(got, vec![rec("3.csv", 2, "7"), rec("4.csv", 2, "9")]);
        let mut once =
            FileReader::new(csv_table(dir.path()), committed(&reader)).reading_files_as_they_are();
        assert_eq!(drain(&mut once, 10), vec![rec("3.csv", 3, "8")]);
    }

    #[test]
    fn small_windows_read_every_record_exactly_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("a,b\n");
        for i in 0..200 {
            match i % 3 {
                0 => text.push_str(&format!("{i},plain\n")),
                1 => text.push_str(&format!("\"{i}\",\"quoted\nover\nlines\"\n")),
                _ => text.push_str(&format!("{i},{}\n", "long".repeat(i % 40))),
            }
        }
        std::fs::write(dir.path().join("1.csv"), &text).unwrap();
        let read = |window: u64| {
            let mut reader = FileReader::new(csv_table(dir.path()), FileStates::default())
                .with_quiet_period(Duration::ZERO)
                .with_read_window(window);
            let records = drain(&mut reader, 7);
            (records, reader.states().get("1.csv").cloned())
        };
        let (whole, end) = read(1 << 30);
        assert_eq!(whole.len(), 200);
        for window in [1, 5, 16, 64, 333] {
            assert_eq!(
                read(window),
                (whole.clone(), end.clone()),
                "window of {window} bytes"
            );
        }
    }

    #[test]
    fn a_header_mismatch_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("1.csv"), "a,c\n1,x\n").unwrap();
        let mut reader = FileReader::new(csv_table(dir.path()), FileStates::default());
        let err = reader.next_chunk(10).unwrap_err().to_string();
        assert!(
            err.contains("1.csv:1: the header has no column `b` (it has a, c)"),
            "{err}"
        );
    }

    #[test]
    fn csv_columns_are_read_by_header_name_also_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        // The table reads `a` and `b`; this file has them reordered, among others.
        std::fs::write(dir.path().join("1.csv"), "b,x,a\nb1,x1,1\nb2,x2\nb3,x3,3\n").unwrap();
        std::fs::write(dir.path().join("2.csv"), "a,b\n4,b4\n").unwrap();
        let fields = |r: &RawRecord| match r {
            RawRecord::Csv(f) => f
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect::<Vec<_>>()
                .join("|"),
            RawRecord::Malformed(m) => format!("malformed: {m}"),
            other => panic!("{other:?}"),
        };
        let mut reader = FileReader::new(csv_table(dir.path()), FileStates::default());
        let first = reader.next_chunk(1).unwrap().unwrap();
        assert_eq!(fields(&first.records[0].1), "1|b1");
        // A restart in the middle of the file reads its header again.
        let mut resumed = FileReader::new(csv_table(dir.path()), committed(&reader));
        let mut rest = vec![];
        while let Some(chunk) = resumed.next_chunk(10).unwrap() {
            rest.extend(
                chunk
                    .records
                    .iter()
                    .map(|(line, r)| format!("{}:{line} {}", chunk.file, fields(r))),
            );
        }
        assert_eq!(
            rest,
            [
                "1.csv:3 malformed: 2 fields, the header has 3",
                "1.csv:4 3|b3",
                "2.csv:2 4|b4"
            ]
        );
    }

    #[test]
    fn a_header_still_being_written_is_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("1.csv"), "a,").unwrap();
        let mut reader = FileReader::new(csv_table(dir.path()), FileStates::default())
            .with_quiet_period(Duration::from_secs(3600));
        assert!(reader.next_chunk(10).unwrap().is_none());
        std::fs::write(dir.path().join("1.csv"), "a,b\n1,2\n").unwrap();
        assert_eq!(reader.next_chunk(10).unwrap().unwrap().records.len(), 1);
    }

    #[test]
    fn json_lines_skip_blank_lines_and_keep_line_numbers() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("1.jsonl"),
            "{\"a\":1}\n\n  \r\n{\"a\":2}\r\n",
        )
        .unwrap();
        let mut reader = FileReader::new(
            table(dir.path(), FileFormat::JsonLines),
            FileStates::default(),
        );
        assert_eq!(
            drain(&mut reader, 10),
            vec![
                rec("1.jsonl", 1, "{\"a\":1}"),
                rec("1.jsonl", 4, "{\"a\":2}")
            ]
        );
        assert_eq!(state(&reader, "1.jsonl").line, 5);
    }

    /// Every record of a reader that reads the files as they are, as (line, fields joined by `|`).
    fn records_of(table: FileTable) -> Vec<(u64, String)> {
        let mut reader = FileReader::new(table, FileStates::default()).reading_files_as_they_are();
        let mut out = vec![];
        while let Some(chunk) = reader.next_chunk(3).unwrap() {
            for (line, r) in chunk.records {
                out.push((line, shown(&r)));
            }
        }
        out
    }

    fn shown(r: &RawRecord) -> String {
        match r {
            RawRecord::Csv(f) => f
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect::<Vec<_>>()
                .join("|"),
            RawRecord::Json(t) => t.clone(),
            RawRecord::Malformed(m) => format!("malformed: {m}"),
            RawRecord::Values(v) => format!("{v:?}"),
        }
    }

    #[test]
    fn every_line_ending_and_a_byte_order_mark_read_every_record() {
        for eol in ["\n", "\r\n", "\r"] {
            for bom in ["", "\u{feff}"] {
                for final_break in [true, false] {
                    let dir = tempfile::tempdir().unwrap();
                    let mut text = format!("{bom}a,b{eol}1,x{eol}{eol}\"2{eol}two\",y{eol}3,z");
                    if final_break {
                        text.push_str(eol);
                    }
                    std::fs::write(dir.path().join("1.csv"), &text).unwrap();
                    let case = format!("{eol:?} bom {bom:?} final break {final_break}");
                    assert_eq!(
                        records_of(csv_table(dir.path())),
                        [
                            (2, "1|x".to_string()),
                            (4, format!("2{eol}two|y")),
                            (6, "3|z".to_string())
                        ],
                        "{case}"
                    );
                    let mut json = format!("{bom}{{\"a\":1}}{eol}{eol}{{\"a\":2}}");
                    if final_break {
                        json.push_str(eol);
                    }
                    std::fs::write(dir.path().join("1.jsonl"), &json).unwrap();
                    assert_eq!(
                        records_of(table(dir.path(), FileFormat::JsonLines)),
                        [(1, "{\"a\":1}".to_string()), (3, "{\"a\":2}".to_string())],
                        "{case}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_crlf_header_is_not_mistaken_for_the_first_data_line() {
        // Python's csv module writes `\r\n`; the first data row used to be taken for the header.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("1.csv"), "b,a\r\n1,x\r\n2,y\r\n").unwrap();
        let mut reader = FileReader::new(csv_table(dir.path()), FileStates::default());
        let chunk = reader.next_chunk(10).unwrap().unwrap();
        let got: Vec<_> = chunk.records.iter().map(|(l, r)| (*l, shown(r))).collect();
        assert_eq!(got, [(2, "x|1".to_string()), (3, "y|2".to_string())]);
        assert_eq!((chunk.end.offset, chunk.end.line), (15, 4));
    }

    #[test]
    fn empty_header_only_and_blank_leading_files_are_read_in_turn() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("1.csv"), "").unwrap();
        std::fs::write(dir.path().join("2.csv"), "a,b\r\n").unwrap();
        std::fs::write(dir.path().join("3.csv"), "\n\r\na,b\n1,x\n").unwrap();
        std::fs::write(dir.path().join("4.csv"), "\u{feff}a,b").unwrap();
        let mut reader = FileReader::new(csv_table(dir.path()), FileStates::default())
            .with_quiet_period(Duration::from_secs(3600));
        assert_eq!(drain(&mut reader, 10), vec![rec("3.csv", 4, "1")]);
        // The last file has a header still without its line break: nothing to read, no error.
        assert!(reader.states().get("4.csv").is_none());
        std::fs::write(dir.path().join("4.csv"), "\u{feff}a,b\n2,y\n").unwrap();
        assert_eq!(drain(&mut reader, 10), vec![rec("4.csv", 2, "2")]);
        // A file that is empty when read is read again once it has data.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("1.csv"), "").unwrap();
        let mut reader = FileReader::new(csv_table(dir.path()), FileStates::default())
            .with_quiet_period(Duration::ZERO);
        assert_eq!(drain(&mut reader, 10), vec![]);
        std::fs::write(dir.path().join("1.csv"), "b,a\n1,x\n").unwrap();
        assert_eq!(drain(&mut reader, 10), vec![rec("1.csv", 2, "x")]);
    }

    /// A file written in two parts, cut at every byte of its last record: the record is read
    /// once, whole, whatever a reader saw in between.
    #[test]
    fn a_record_written_in_two_parts_is_read_once_at_every_cut() {
        for eol in ["\n", "\r\n", "\r"] {
            let cases = [
                (
                    csv_table as fn(&Path) -> FileTable,
                    "1.csv",
                    format!("a,b{eol}1,x{eol}"),
                    format!("\"2,{eol}two\",\"y\"\"\"{eol}"),
                    format!("2,{eol}two|y\""),
                ),
                (
                    |d: &Path| table(d, FileFormat::JsonLines),
                    "1.jsonl",
                    format!("{{\"a\":1}}{eol}"),
                    format!("{{\"a\": \"two\"}}{eol}"),
                    "{\"a\": \"two\"}".to_string(),
                ),
            ];
            for (make_table, name, head, last, want) in cases {
                for cut in 0..=last.len() {
                    let dir = tempfile::tempdir().unwrap();
                    let path = dir.path().join(name);
                    std::fs::write(&path, [head.as_bytes(), &last.as_bytes()[..cut]].concat())
                        .unwrap();
                    let mut reader = FileReader::new(make_table(dir.path()), FileStates::default())
                        .with_quiet_period(Duration::from_secs(3600));
                    let mut got = drain_shown(&mut reader);
                    let mut f = std::fs::OpenOptions::new()
                        .append(true)
                        .open(&path)
                        .unwrap();
                    f.write_all(&last.as_bytes()[cut..]).unwrap();
                    got.extend(drain_shown(&mut reader));
                    // Resuming from the stored position after a restart reads nothing twice.
                    let mut resumed = FileReader::new(make_table(dir.path()), committed(&reader))
                        .reading_files_as_they_are();
                    got.extend(drain_shown(&mut resumed));
                    assert_eq!(got.len(), 2, "{name} {eol:?} cut at {cut}: {got:?}");
                    assert_eq!(got[1], want, "{name} {eol:?} cut at {cut}");
                }
            }
        }
    }

    fn drain_shown(reader: &mut FileReader) -> Vec<String> {
        let mut out = vec![];
        while let Some(chunk) = reader.next_chunk(10).unwrap() {
            out.extend(chunk.records.iter().map(|(_, r)| shown(r)));
        }
        out
    }

    #[test]
    fn a_last_line_without_line_break_is_read_once_the_file_stops_growing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.csv");
        std::fs::write(&path, "a,b\n1,x\n2,y").unwrap();
        let quiet = Duration::from_millis(300);
        let mut reader =
            FileReader::new(csv_table(dir.path()), FileStates::default()).with_quiet_period(quiet);
        assert_eq!(drain(&mut reader, 10), vec![rec("1.csv", 2, "1")]);
        let pending = FileReader::pending(&csv_table(dir.path()), reader.states()).unwrap();
        assert_eq!(
            pending,
            Pending {
                bytes: 3,
                open_last_line: true
            }
        );
        // Unchanged for the quiet period (by this reader's own clock): the line is a record.
        std::thread::sleep(quiet + Duration::from_millis(50));
        assert_eq!(drain(&mut reader, 10), vec![rec("1.csv", 3, "2")]);
        assert!(state(&reader, "1.csv").open_line);
        assert_eq!(
            FileReader::pending(&csv_table(dir.path()), reader.states()).unwrap(),
            Pending::default()
        );
        // The writer ends the line after all: nothing more to read, the next line is read.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"\r\n3,z\n").unwrap();
        assert_eq!(drain(&mut reader, 10), vec![rec("1.csv", 4, "3")]);
        assert!(!state(&reader, "1.csv").open_line);
        // `run --once` reads the files as they are: an unterminated last line at once.
        f.write_all(b"4,w").unwrap();
        let mut once = FileReader::new(csv_table(dir.path()), committed(&reader))
            .with_quiet_period(Duration::from_secs(3600))
            .reading_files_as_they_are();
        assert_eq!(drain(&mut once, 10), vec![rec("1.csv", 5, "4")]);
        // A line continued after its first part was read is reported, never read as a record.
        f.write_all(b"ww,v\n5,u\n").unwrap();
        let mut after = FileReader::new(csv_table(dir.path()), committed(&once))
            .with_quiet_period(Duration::from_secs(3600));
        let chunk = after.next_chunk(10).unwrap().unwrap();
        let got: Vec<_> = chunk.records.iter().map(|(l, r)| (*l, shown(r))).collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            got[0].0 == 5 && got[0].1.starts_with("malformed: this line was continued"),
            "{got:?}"
        );
        assert_eq!(got[1], (6, "5|u".to_string()));
    }

    #[test]
    fn json_lines_that_are_not_utf8_are_malformed_records() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("1.jsonl"),
            b"{\"a\":1}\n{\"a\":\"\xE9\"}\n{\"a\":3}\n",
        )
        .unwrap();
        let got = records_of(table(dir.path(), FileFormat::JsonLines));
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[1],
            (
                2,
                "malformed: not valid UTF-8 (byte 7 of the line)".to_string()
            )
        );
    }
}
