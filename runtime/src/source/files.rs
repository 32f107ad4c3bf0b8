//! `!LocalStorage` tables: every file with the table's extension in its folder, read in name order,
//! then followed for new files and for data appended to the last one.
//!
//! The reader is exact about where it is: a [`FilePosition`] names the file being read, the byte
//! offset of the next unread record and its line number; every earlier file (in name order) is done.
//! Only complete lines are consumed — a record still being written (no final newline yet) is left
//! for the next poll — unless the file is complete: a later file exists, or it has not changed for
//! [`DEFAULT_IDLE_AFTER`] (so a file without a trailing newline still yields its last record). Records come out raw ([`RawRecord`]): turning fields into typed values, and
//! reporting a bad value with its file, line and column, is the generated code's job.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::parquet::{self, ParquetRead};
use crate::codec::{Decode, DecodeError, Encode, Reader};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileFormat {
    Csv {
        delimiter: u8,
        has_header: bool,
    },
    JsonLines,
    /// Rows are numbered instead of lines: a position's `offset` counts the rows read.
    Parquet,
}

#[derive(Clone, Debug)]
pub struct FileTable {
    pub dir: PathBuf,
    /// Files whose name ends with this belong to the table (e.g. `.csv`).
    pub extension: String,
    pub format: FileFormat,
    /// The table's columns, in order: what a CSV header must say, the Parquet columns to read.
    pub columns: Vec<String>,
}

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
}

impl Encode for FilePosition {
    fn encode(&self, out: &mut Vec<u8>) {
        self.file.encode(out);
        self.offset.encode(out);
        self.line.encode(out);
        self.files_before.encode(out);
    }
}

impl Decode for FilePosition {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(FilePosition {
            file: String::decode(r)?,
            offset: u64::decode(r)?,
            line: u64::decode(r)?,
            files_before: if r.is_empty() {
                None
            } else {
                Option::<u64>::decode(r)?
            },
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum RawRecord {
    Csv(csv::ByteRecord),
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

fn io_error(path: &Path, e: std::io::Error) -> SourceError {
    SourceError {
        file: Some(path.to_path_buf()),
        line: None,
        message: e.to_string(),
    }
}

/// Reads a table's files from a position on.
pub struct FileReader {
    table: FileTable,
    position: FilePosition,
    /// How the current CSV file's fields map to the table's columns.
    layout: Option<CsvLayout>,
    idle_after: Duration,
    read_window: u64,
    /// Average bytes per record of the last text chunk (0: none read yet), so a read looks at
    /// about one chunk's bytes rather than the whole window.
    record_bytes: u64,
}

/// How long the last file must be unchanged before a final line without newline counts as a record.
pub const DEFAULT_IDLE_AFTER: Duration = Duration::from_secs(2);

/// How long an unreadable last Parquet file may stay unchanged before it is an error rather than
/// a file still being written. (Writers that take longer should write under another name and
/// rename, or use a marker file.)
const PARQUET_GRACE: Duration = Duration::from_secs(60);

fn idle(path: &Path, after: Duration) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| {
            SystemTime::now()
                .duration_since(t)
                .is_ok_and(|age| age >= after)
        })
}

impl FileReader {
    pub fn new(table: FileTable, position: FilePosition) -> Self {
        FileReader {
            table,
            position,
            layout: None,
            idle_after: DEFAULT_IDLE_AFTER,
            read_window: READ_WINDOW,
            record_bytes: 0,
        }
    }

    /// Changes how many bytes one read looks at (tests use tiny windows).
    pub fn with_read_window(mut self, bytes: u64) -> Self {
        self.read_window = bytes.max(1);
        self
    }

    /// Changes how long the last file must be unchanged before its final line counts (tests).
    pub fn with_idle_after(mut self, idle_after: Duration) -> Self {
        self.idle_after = idle_after;
        self
    }

    pub fn position(&self) -> &FilePosition {
        &self.position
    }

    /// The table's files, in name order.
    fn files(&self) -> Result<Vec<String>, SourceError> {
        let entries =
            std::fs::read_dir(&self.table.dir).map_err(|e| io_error(&self.table.dir, e))?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(&self.table.extension))
            .collect();
        names.sort();
        Ok(names)
    }

    /// The next records (at most `max_records`, from one file), or `None` when everything written
    /// so far has been read. Call again later to follow new data.
    pub fn next_chunk(&mut self, max_records: usize) -> Result<Option<Chunk>, SourceError> {
        loop {
            let files = self.files()?;
            self.check_no_file_before(&files)?;
            // The current file, or the first one after it.
            let Some(at) = files.iter().position(|n| *n >= self.position.file) else {
                return Ok(None);
            };
            let name = &files[at];
            if *name != self.position.file {
                self.position = FilePosition {
                    file: name.clone(),
                    offset: 0,
                    line: 1,
                    files_before: Some(at as u64),
                };
            }
            let later = files.iter().find(|n| **n > self.position.file).cloned();
            let path = self.table.dir.join(name);
            // A file is complete when a later one exists or it has not changed for a while; only
            // then is a last line without a newline a record (otherwise it may still be written).
            let chunk = if self.table.format == FileFormat::Parquet {
                match self.read_parquet(&path, later.is_some(), max_records)? {
                    Some(chunk) => chunk,
                    None => return Ok(None),
                }
            } else {
                let complete = later.is_some() || idle(&path, self.idle_after);
                if let FileFormat::Csv {
                    delimiter,
                    has_header,
                } = self.table.format
                {
                    if self.layout.as_ref().is_none_or(|l| l.file != *name) {
                        self.layout = CsvLayout::of(
                            &path,
                            name,
                            &self.table.columns,
                            delimiter,
                            has_header,
                            complete,
                        )?;
                    }
                    if self.layout.is_none() {
                        return Ok(None); // the header line is still being written
                    }
                }
                let chunk = self.read_from(&path, max_records, complete)?;
                if !chunk.records.is_empty() && chunk.end.offset > self.position.offset {
                    self.record_bytes =
                        (chunk.end.offset - self.position.offset) / chunk.records.len() as u64;
                }
                chunk
            };
            let progressed = chunk.end != self.position;
            self.position = chunk.end.clone();
            if !chunk.records.is_empty() {
                return Ok(Some(chunk));
            }
            if progressed {
                continue; // a header or blank lines: look again
            }
            match later {
                Some(next) => {
                    self.position = FilePosition {
                        file: next,
                        offset: 0,
                        line: 1,
                        files_before: Some(at as u64 + 1),
                    }
                }
                None => return Ok(None),
            }
        }
    }

    /// Files are read once, in name order: a file that appears before the one being read would
    /// never be read. That is an error naming it, not a silent loss (deleting read files is fine).
    fn check_no_file_before(&mut self, files: &[String]) -> Result<(), SourceError> {
        let before = &files[..files.partition_point(|n| *n < self.position.file)];
        let count = before.len() as u64;
        match self.position.files_before {
            Some(known) if count > known => {
                let newest = before
                    .iter()
                    .max_by_key(|n| {
                        std::fs::metadata(self.table.dir.join(n))
                            .and_then(|m| m.modified())
                            .ok()
                    })
                    .cloned()
                    .unwrap_or_default();
                Err(SourceError {
                    file: Some(self.table.dir.join(&newest)),
                    line: None,
                    message: format!(
                        "{} new file(s) sort before `{}`, which is being read (this one is the newest); files are read once, in name order, so it would never be read. Name new files so that they sort after the existing ones (a timestamp or counter in the name), or delete the app's store to read everything again",
                        count - known,
                        self.position.file
                    ),
                })
            }
            _ => {
                self.position.files_before = Some(count);
                Ok(())
            }
        }
    }

    /// The next rows of a Parquet file; `None` while its writer has not finished it.
    fn read_parquet(
        &self,
        path: &Path,
        later: bool,
        max_records: usize,
    ) -> Result<Option<Chunk>, SourceError> {
        // A Parquet file is unreadable until its footer is written; give a slow writer time
        // before calling the last file broken.
        let complete = later || idle(path, self.idle_after.max(PARQUET_GRACE));
        match parquet::read(
            path,
            &self.table.columns,
            &self.position,
            max_records,
            complete,
        )? {
            ParquetRead::Rows(chunk) => Ok(Some(chunk)),
            ParquetRead::Unfinished => Ok(None),
        }
    }

    /// Reads the next records of `path` from the current position, through a bounded window (so a
    /// chunk costs about its own size in I/O, however large the file).
    fn read_from(
        &self,
        path: &Path,
        max_records: usize,
        complete: bool,
    ) -> Result<Chunk, SourceError> {
        let mut file = File::open(path).map_err(|e| io_error(path, e))?;
        let len = file.metadata().map_err(|e| io_error(path, e))?.len();
        let start = self.position.clone();
        if start.offset > len {
            return Err(SourceError {
                file: Some(path.to_path_buf()),
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
            file.seek(SeekFrom::Start(start.offset))
                .map_err(|e| io_error(path, e))?;
            let mut bytes = Vec::with_capacity(window as usize + 1);
            (&mut file)
                .take(window)
                .read_to_end(&mut bytes)
                .map_err(|e| io_error(path, e))?;
            let at_end = bytes.len() as u64 == remaining;
            if at_end && complete {
                if bytes.last().is_some_and(|b| *b != b'\n') {
                    bytes.push(b'\n'); // a final line without newline is a record
                }
            } else {
                let whole_lines = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                bytes.truncate(whole_lines);
            }
            let parsed = match &self.table.format {
                FileFormat::JsonLines => parse_json_lines(path, &bytes, &start, max_records)?,
                FileFormat::Parquet => {
                    return Err(SourceError {
                        file: Some(path.to_path_buf()),
                        line: None,
                        message: "internal: a Parquet file read as text".into(),
                    })
                }
                FileFormat::Csv {
                    delimiter,
                    has_header,
                } => self.parse_csv(
                    path,
                    &bytes,
                    &start,
                    max_records,
                    *delimiter,
                    *has_header,
                    at_end,
                )?,
            };
            // Nothing fit in the window (one record is longer than it): widen it and read again.
            if parsed.consumed == 0 && !at_end && window < remaining {
                window = (window * 2).min(remaining);
                continue;
            }
            let end = FilePosition {
                file: start.file.clone(),
                // A synthetic final newline is not in the file.
                offset: start.offset + parsed.consumed.min(remaining),
                line: start.line + parsed.lines,
                files_before: start.files_before,
            };
            return Ok(Chunk {
                file: Arc::from(start.file.as_str()),
                records: parsed.records,
                end,
                weights: vec![],
            });
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn parse_csv(
        &self,
        path: &Path,
        bytes: &[u8],
        start: &FilePosition,
        max_records: usize,
        delimiter: u8,
        has_header: bool,
        at_end: bool,
    ) -> Result<Parsed, SourceError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .delimiter(delimiter)
            .flexible(true)
            .from_reader(bytes);
        let mut record = csv::ByteRecord::new();
        let mut records = vec![];
        // Position (bytes, lines) after the last record taken, and before it.
        let (mut after, mut before) = ((0u64, 0u64), (0u64, 0u64));
        let mut last_pushed = false;
        while records.len() < max_records {
            let line = start.line + reader.position().line() - 1;
            let more = reader
                .read_byte_record(&mut record)
                .map_err(|e| SourceError {
                    file: Some(path.to_path_buf()),
                    line: Some(line),
                    message: e.to_string(),
                })?;
            if !more {
                break;
            }
            before = after;
            after = (reader.position().byte(), reader.position().line() - 1);
            last_pushed = false;
            if has_header && start.offset == 0 && line == 1 {
                continue; // the header: read by `CsvLayout::of`
            }
            if record.len() == 1 && record[0].is_empty() {
                continue; // an empty line
            }
            let raw = match &self.layout {
                Some(layout) => layout.project(&record),
                None => RawRecord::Csv(record.clone()),
            };
            records.push((line, raw));
            last_pushed = true;
        }
        // Inside the file, a record that ends where the window ends may have been cut there (a quoted
        // field can hold a newline): leave it for the next read.
        if !at_end && after.0 > 0 && after.0 == bytes.len() as u64 {
            if last_pushed {
                records.pop();
            }
            after = before;
        }
        Ok(Parsed {
            records,
            consumed: after.0,
            lines: after.1,
        })
    }
}

/// Where a CSV file's fields go: the file's header names its columns, and the table reads its
/// own columns (all of them, or those `columns:` selects) by name, in any order.
#[derive(Clone, Debug)]
struct CsvLayout {
    file: String,
    /// Fields of a record of this file.
    width: Option<usize>,
    /// The field of each table column; `None` when the file's columns are the table's.
    projection: Option<Vec<usize>>,
}

impl CsvLayout {
    /// The layout of `path`, from its header line; `None` while that line is incomplete.
    fn of(
        path: &Path,
        file: &str,
        columns: &[String],
        delimiter: u8,
        has_header: bool,
        complete: bool,
    ) -> Result<Option<CsvLayout>, SourceError> {
        let error = |message: String| SourceError {
            file: Some(path.to_path_buf()),
            line: Some(1),
            message,
        };
        let names: Vec<String> = if has_header {
            let Some(line) = first_line(path, complete)? else {
                return Ok(None);
            };
            if line.is_empty() {
                // An empty file: nothing to read.
                return Ok(Some(CsvLayout {
                    file: file.to_string(),
                    width: None,
                    projection: None,
                }));
            }
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .delimiter(delimiter)
                .from_reader(line.as_slice());
            let mut header = csv::ByteRecord::new();
            reader
                .read_byte_record(&mut header)
                .map_err(|e| error(format!("unreadable header: {e}")))?;
            header
                .iter()
                .map(|f| String::from_utf8_lossy(f).trim().to_string())
                .collect()
        } else {
            // Without a header, columns are named by position: `column_1`, `column_2`, ...
            let last = columns
                .iter()
                .filter_map(|c| c.strip_prefix("column_")?.parse::<usize>().ok())
                .max()
                .unwrap_or(0);
            (1..=last).map(|i| format!("column_{i}")).collect()
        };
        if names == columns {
            return Ok(Some(CsvLayout {
                file: file.to_string(),
                width: None,
                projection: None,
            }));
        }
        let mut projection = Vec::with_capacity(columns.len());
        for c in columns {
            let i = names.iter().position(|n| n == c).ok_or_else(|| {
                error(format!(
                    "the header has no column `{c}` (it has {}); every file of a table needs the table's columns",
                    names.join(", ")
                ))
            })?;
            projection.push(i);
        }
        Ok(Some(CsvLayout {
            file: file.to_string(),
            width: has_header.then_some(names.len()),
            projection: Some(projection),
        }))
    }

    fn project(&self, record: &csv::ByteRecord) -> RawRecord {
        let Some(projection) = &self.projection else {
            return RawRecord::Csv(record.clone());
        };
        match self.width {
            Some(width) if record.len() != width => {
                return RawRecord::Malformed(format!(
                    "{} fields, the header has {width}",
                    record.len()
                ))
            }
            None if projection.iter().any(|&i| i >= record.len()) => {
                return RawRecord::Malformed(format!("only {} fields", record.len()))
            }
            _ => {}
        }
        let mut out = csv::ByteRecord::with_capacity(record.as_slice().len(), projection.len());
        for &i in projection {
            out.push_field(&record[i]);
        }
        RawRecord::Csv(out)
    }
}

/// The first line of a file (without its newline); `None` while it has no newline yet and the
/// file is not complete.
fn first_line(path: &Path, complete: bool) -> Result<Option<Vec<u8>>, SourceError> {
    let mut file = File::open(path).map_err(|e| io_error(path, e))?;
    let mut line = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = file.read(&mut buf).map_err(|e| io_error(path, e))?;
        if n == 0 {
            return Ok(complete.then_some(line));
        }
        if let Some(end) = buf[..n].iter().position(|b| *b == b'\n') {
            line.extend_from_slice(&buf[..end]);
            return Ok(Some(line));
        }
        line.extend_from_slice(&buf[..n]);
    }
}

/// How much of a file one read looks at; doubled when a single record is longer.
const READ_WINDOW: u64 = 8 << 20;

/// Records parsed from a window, and how far they reach.
struct Parsed {
    records: Vec<(u64, RawRecord)>,
    /// Bytes of the window consumed.
    consumed: u64,
    /// Lines consumed.
    lines: u64,
}

fn parse_json_lines(
    path: &Path,
    bytes: &[u8],
    start: &FilePosition,
    max_records: usize,
) -> Result<Parsed, SourceError> {
    let mut records = vec![];
    let (mut consumed, mut lines) = (0usize, 0u64);
    for (i, b) in bytes.iter().enumerate() {
        if *b != b'\n' {
            continue;
        }
        if records.len() == max_records {
            break;
        }
        let line = &bytes[consumed..i];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !line.iter().all(u8::is_ascii_whitespace) {
            let text = String::from_utf8(line.to_vec()).map_err(|_| SourceError {
                file: Some(path.to_path_buf()),
                line: Some(start.line + lines),
                message: "not valid UTF-8".into(),
            })?;
            records.push((start.line + lines, RawRecord::Json(text)));
        }
        lines += 1;
        consumed = i + 1;
    }
    Ok(Parsed {
        records,
        consumed: consumed as u64,
        lines,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn table(dir: &Path, format: FileFormat) -> FileTable {
        let extension = if format == FileFormat::JsonLines {
            ".jsonl"
        } else {
            ".csv"
        }
        .to_string();
        FileTable {
            dir: dir.to_path_buf(),
            extension,
            format,
            columns: vec!["a".into(), "b".into()],
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

    #[test]
    fn files_are_read_in_order_and_resume_exactly() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("2.csv"), "a,b\n3,x\n4,y\n").unwrap();
        std::fs::write(dir.path().join("1.csv"), "a,b\n1,x\n\"2\nmultiline\",y\n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let mut reader = FileReader::new(csv_table(dir.path()), FilePosition::default());
        let first = reader.next_chunk(1).unwrap().unwrap();
        assert_eq!(first.records.len(), 1);
        // Restart from the position after the first record: the rest, nothing twice.
        let mut resumed = FileReader::new(csv_table(dir.path()), first.end.clone());
        assert_eq!(
            drain(&mut resumed, 2),
            vec![
                rec("1.csv", 3, "2\nmultiline"),
                rec("2.csv", 2, "3"),
                rec("2.csv", 3, "4")
            ]
        );
        assert_eq!(
            resumed.position(),
            &FilePosition {
                file: "2.csv".into(),
                offset: 12,
                line: 4,
                files_before: Some(1),
            }
        );
    }

    #[test]
    fn appended_data_and_new_files_are_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.csv");
        std::fs::write(&path, "a,b\n1,x\n2,y").unwrap(); // the last line is still being written
        let mut reader = FileReader::new(csv_table(dir.path()), FilePosition::default())
            .with_idle_after(Duration::from_secs(3600));
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
    fn a_new_file_that_sorts_before_the_current_one_is_an_error_not_a_loss() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.csv"), "a,b\n1,x\n").unwrap();
        std::fs::write(dir.path().join("c.csv"), "a,b\n2,x\n").unwrap();
        let mut reader = FileReader::new(csv_table(dir.path()), FilePosition::default());
        assert_eq!(drain(&mut reader, 10).len(), 2);
        // Read files may go away; that loses nothing.
        std::fs::remove_file(dir.path().join("b.csv")).unwrap();
        assert_eq!(drain(&mut reader, 10), vec![]);
        // After a restart too: the position remembers how many files came before.
        let mut bytes = vec![];
        reader.position().encode(&mut bytes);
        let position = FilePosition::decode(&mut Reader::new(&bytes)).unwrap();
        assert_eq!(position.files_before, Some(0));
        std::fs::write(dir.path().join("a.csv"), "a,b\n3,x\n").unwrap();
        let err = FileReader::new(csv_table(dir.path()), position)
            .next_chunk(10)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("a.csv") && err.contains("would never be read"),
            "{err}"
        );
        // A position stored before the count was kept adopts the files as they are.
        let mut old = vec![];
        "c.csv".encode(&mut old);
        8u64.encode(&mut old);
        3u64.encode(&mut old);
        let old = FilePosition::decode(&mut Reader::new(&old)).unwrap();
        assert_eq!(old.files_before, None);
        let mut reader = FileReader::new(csv_table(dir.path()), old);
        assert_eq!(drain(&mut reader, 10), vec![]);
        assert_eq!(reader.position().files_before, Some(1));
    }

    #[test]
    fn a_final_line_without_newline_is_read_once_the_file_is_complete() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("1.csv"), "a,b\n1,x\n2,y").unwrap();
        let mut reader = FileReader::new(csv_table(dir.path()), FilePosition::default())
            .with_idle_after(Duration::ZERO);
        assert_eq!(
            drain(&mut reader, 10),
            vec![rec("1.csv", 2, "1"), rec("1.csv", 3, "2")]
        );
        assert_eq!(reader.position().offset, 11);
        assert_eq!(drain(&mut reader, 10), vec![]);
        // A later file also completes an earlier one.
        std::fs::write(dir.path().join("3.csv"), "a,b\n7,x\n8,y").unwrap();
        std::fs::write(dir.path().join("4.csv"), "a,b\n9,x\n").unwrap();
        let mut reader = FileReader::new(csv_table(dir.path()), reader.position().clone())
            .with_idle_after(Duration::from_secs(3600));
        assert_eq!(
            drain(&mut reader, 10),
            vec![
                rec("3.csv", 2, "7"),
                rec("3.csv", 3, "8"),
                rec("4.csv", 2, "9")
            ]
        );
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
            let mut reader = FileReader::new(csv_table(dir.path()), FilePosition::default())
                .with_idle_after(Duration::ZERO)
                .with_read_window(window);
            let records = drain(&mut reader, 7);
            (records, reader.position().clone())
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
        let mut reader = FileReader::new(csv_table(dir.path()), FilePosition::default());
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
        let mut reader = FileReader::new(csv_table(dir.path()), FilePosition::default());
        let first = reader.next_chunk(1).unwrap().unwrap();
        assert_eq!(fields(&first.records[0].1), "1|b1");
        // A restart in the middle of the file reads its header again.
        let mut resumed = FileReader::new(csv_table(dir.path()), first.end);
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
        let mut reader = FileReader::new(csv_table(dir.path()), FilePosition::default())
            .with_idle_after(Duration::from_secs(3600));
        assert!(reader.next_chunk(10).unwrap().is_none());
        std::fs::write(dir.path().join("1.csv"), "a,b\n1,2\n").unwrap();
        assert_eq!(reader.next_chunk(10).unwrap().unwrap().records.len(), 1);
    }

    #[test]
    fn a_shrunk_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("1.csv"), "a,b\n1,x\n").unwrap();
        let position = FilePosition {
            file: "1.csv".into(),
            offset: 100,
            line: 9,
            files_before: None,
        };
        let err = FileReader::new(csv_table(dir.path()), position)
            .next_chunk(10)
            .unwrap_err()
            .to_string();
        assert!(err.contains("shrank"), "{err}");
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
            FilePosition::default(),
        );
        assert_eq!(
            drain(&mut reader, 10),
            vec![
                rec("1.jsonl", 1, "{\"a\":1}"),
                rec("1.jsonl", 4, "{\"a\":2}")
            ]
        );
        assert_eq!(reader.position().line, 5);
    }
}
