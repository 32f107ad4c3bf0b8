//! CSV files of a `!LocalStorage` table: the header that maps a file's fields to the table's
//! columns, and the records of a window of a file.
//!
//! Record boundaries, line numbers and byte order marks are `dozer_types::text`'s, the same the
//! compiler's schema inference samples with. The header is the file's first record (after a byte
//! order mark and any blank lines), wherever it ends — a header line ending in `\r\n` is no
//! different from one ending in `\n`, and the data starts right after it, so no data line is ever
//! taken for the header.

use dozer_folder::Folder;
use dozer_types::text::{bom_len, CsvRecord, CsvScanner, Scan};

use super::chunk::{RawRecord, SourceError};
use super::file_chunk::Parsed;
use super::folder::folder_error;

/// Where a CSV file's fields go: the file's header names its columns, and the table reads its
/// own columns (all of them, or those `columns:` selects) by name, in any order.
#[derive(Clone, Debug)]
pub(super) struct CsvLayout {
    /// The file this layout is of.
    pub file: String,
    /// Fields of a record of this file (when it has a header that differs from the table).
    width: Option<usize>,
    /// The field of each table column; `None` when the file's columns are the table's.
    projection: Option<Vec<usize>>,
    /// Byte offset and line number of the first data record (after the byte order mark and the
    /// header).
    pub data_start: (u64, u64),
}

/// How much of a file's start is read for its header; doubled while the header is longer.
const HEADER_WINDOW: usize = 64 << 10;

impl CsvLayout {
    /// The layout of file `file` of `folder` (`len` bytes now) from its header record; `None` while there is none: the header is
    /// still being written, or (when `complete`) the file has no records at all.
    #[allow(clippy::too_many_arguments)]
    pub fn read(
        folder: &Folder,
        file: &str,
        len: u64,
        columns: &[String],
        delimiter: u8,
        has_header: bool,
        complete: bool,
    ) -> Result<Option<CsvLayout>, SourceError> {
        let found = if has_header {
            header(folder, file, len, delimiter, complete)?
        } else {
            let start = folder.read(file, 0..3.min(len)).map_err(folder_error)?;
            if start.len() < 3 && !complete {
                return Ok(None); // a byte order mark may still be on its way
            }
            // Without a header, columns are named by position: `column_1`, `column_2`, ...
            let last = columns
                .iter()
                .filter_map(|c| c.strip_prefix("column_")?.parse::<usize>().ok())
                .max()
                .unwrap_or(0);
            Some(Header {
                names: (1..=last).map(|i| format!("column_{i}")).collect(),
                line: 1,
                data_start: (bom_len(&start) as u64, 1),
            })
        };
        let Some(Header {
            names,
            line: header_line,
            data_start,
        }) = found
        else {
            return Ok(None);
        };
        let error = |message: String| SourceError {
            file: Some(folder.location(file)),
            line: Some(header_line),
            message,
        };
        let mut layout = CsvLayout {
            file: file.to_string(),
            width: None,
            projection: None,
            data_start,
        };
        if names == columns {
            return Ok(Some(layout));
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
        layout.width = has_header.then_some(names.len());
        layout.projection = Some(projection);
        Ok(Some(layout))
    }

    fn project(&self, record: &CsvRecord<'_>) -> RawRecord {
        let Some(projection) = &self.projection else {
            let mut out = csv::ByteRecord::with_capacity(record.field_bytes(), record.len());
            for field in record.iter() {
                out.push_field(field);
            }
            return RawRecord::Csv(out);
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
        let mut out = csv::ByteRecord::with_capacity(record.field_bytes(), projection.len());
        for &i in projection {
            out.push_field(record.get(i).unwrap_or_default());
        }
        RawRecord::Csv(out)
    }
}

/// What a CSV file's first record says.
struct Header {
    names: Vec<String>,
    /// Its line (blank lines may come before it).
    line: u64,
    /// Byte offset and line of the data after it.
    data_start: (u64, u64),
}

/// A CSV file's header record (after a byte order mark and blank lines); `None` while the file
/// has no complete first record (still being written or, when `complete`, empty).
fn header(
    folder: &Folder,
    file: &str,
    len: u64,
    delimiter: u8,
    complete: bool,
) -> Result<Option<Header>, SourceError> {
    let mut want = HEADER_WINDOW;
    loop {
        let bytes = folder
            .read(file, 0..(want as u64).min(len))
            .map_err(folder_error)?;
        let whole = bytes.len() as u64 >= len;
        let bom = bom_len(&bytes);
        let mut scanner = CsvScanner::new(&bytes[bom..], whole && complete, 1, delimiter);
        match scanner.next_record() {
            Scan::Record(record) => {
                let (names, line) = (record.header_names(), record.line);
                let (consumed, data_line) = scanner.consumed();
                return Ok(Some(Header {
                    names,
                    line,
                    data_start: ((bom + consumed) as u64, data_line),
                }));
            }
            Scan::Incomplete if !whole => want *= 2,
            Scan::Incomplete | Scan::End => return Ok(None),
        }
    }
}

/// The records of a window of a CSV file that starts at a record boundary on line `line`, at most
/// `max_records` of them; `last` when no byte can follow the window.
pub(super) fn parse(
    layout: &CsvLayout,
    bytes: &[u8],
    line: u64,
    max_records: usize,
    delimiter: u8,
    last: bool,
) -> Parsed {
    let mut scanner = CsvScanner::new(bytes, last, line, delimiter);
    let mut records = Vec::new();
    let mut open_line = false;
    while records.len() < max_records {
        match scanner.next_record() {
            Scan::Record(record) => {
                open_line = !record.terminated;
                records.push((record.line, layout.project(&record)));
            }
            Scan::Incomplete | Scan::End => break,
        }
    }
    let (consumed, line) = scanner.consumed();
    Parsed {
        records,
        consumed: consumed as u64,
        line,
        open_line,
    }
}
