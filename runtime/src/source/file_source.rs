//! A `!LocalStorage` table as a [`Source`]: its files, read in name order from the committed
//! [`FilePosition`] on.

use super::chunk::{Chunk, SourceError};
use super::file_chunk::FilePosition;
use super::files::{FileFormat, FileReader, FileTable};
use super::interface::{Sink, Source};
use crate::codec::{Decode, Encode, Reader};
use crate::error::OpError;

/// The files of one table, feeding one app source.
pub struct FileSource {
    /// The app source it feeds, and its name (the position key).
    source: usize,
    name: String,
    reader: FileReader,
    ready: Option<(Chunk, FilePosition)>,
}

impl FileSource {
    /// Opens the table's files after `committed` (a stored [`FilePosition`]; `None`: from the
    /// first file).
    pub fn open(
        source: usize,
        name: &str,
        table: FileTable,
        committed: Option<&[u8]>,
    ) -> Result<Self, SourceError> {
        let position = decode_position(name, committed)?;
        Ok(FileSource {
            source,
            name: name.to_string(),
            reader: FileReader::new(table, position),
            ready: None,
        })
    }
}

fn decode_position(name: &str, committed: Option<&[u8]>) -> Result<FilePosition, SourceError> {
    match committed {
        None => Ok(FilePosition::default()),
        Some(bytes) => FilePosition::decode(&mut Reader::new(bytes)).map_err(|e| SourceError {
            file: None,
            line: None,
            message: format!("the stored position of source `{name}` is unreadable: {e}"),
        }),
    }
}

impl<E: From<SourceError> + From<OpError>> Source<E> for FileSource {
    fn position_key(&self) -> &str {
        &self.name
    }

    fn next_batch(&mut self, max_records: usize) -> Result<bool, SourceError> {
        if self.ready.is_none() {
            self.ready = self
                .reader
                .next_chunk(max_records)?
                .map(|chunk| chunk.into_chunk());
        }
        Ok(self.ready.is_some())
    }

    fn batch_position(&self) -> Vec<u8> {
        let mut out = vec![];
        if let Some((_, end)) = &self.ready {
            end.encode(&mut out);
        }
        out
    }

    fn apply(&self, txn: &mut heed::RwTxn, sink: &mut Sink<'_, E>) -> Result<u64, E> {
        let Some((chunk, _)) = &self.ready else {
            return Ok(0);
        };
        sink(txn, self.source, chunk)?;
        Ok(chunk.records.len() as u64)
    }

    fn acknowledge(&mut self) {
        self.ready = None;
    }

    fn describe(&self, committed: Option<&[u8]>) -> Result<Vec<(usize, String)>, SourceError> {
        let table = self.reader.table();
        let p = decode_position(&self.name, committed)?;
        let mut text = match (committed, &table.format) {
            (None, _) => format!("nothing read yet ({})", table.dir.display()),
            (Some(_), FileFormat::Parquet) => format!("read up to {} row {}", p.file, p.line),
            (Some(_), _) => format!("read up to {} line {} (byte {})", p.file, p.line, p.offset),
        };
        // What is committed is known from the store alone; what is left to read needs the
        // folder, which may not be there where the store is looked at (a container started
        // without the data mounted, say).
        match FileReader::pending(table, &p) {
            Ok(pending) if pending.open_last_line => text.push_str(&format!(
                "; {} byte(s) pending: a last line without a line break, read once the file has not grown for {:?} (or by `run --once`)",
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
