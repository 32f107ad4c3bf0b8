//! A file table as the generated code declares it: its folder (local or in an object store), which files belong to it, their
//! format and the table's columns. The reader, the listing and the file states all take it.

use std::time::Duration;

use dozer_folder::Folder;

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
    /// Where its files are: a local directory, or a prefix of an object store's bucket.
    pub folder: Folder,
    /// Files whose name ends with this belong to the table (e.g. `.csv`).
    pub extension: String,
    pub format: FileFormat,
    /// The table's columns, in order: what a CSV header must say, the Parquet columns to read.
    pub columns: Vec<String>,
    /// How long a file must stay the same size before a last line without its line break counts
    /// as a record (the table's `quiet_period`).
    pub quiet_period: Duration,
    /// Dozer's `marker_extension`: a data file belongs to the table only once a file of its name
    /// with this extension instead of the table's exists (`a.csv` once `a.marker` does); its
    /// writer has finished it then, so its last line needs no quiet period.
    pub marker_extension: Option<String>,
}

/// How long a file must stay the same size, unless its table says otherwise, before a last line
/// without its line break counts as a record.
pub const DEFAULT_QUIET_PERIOD: Duration = Duration::from_secs(2);
