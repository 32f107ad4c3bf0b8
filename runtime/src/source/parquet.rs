//! Parquet tables: rows of a file, read through arrow record batches, become [`RawRecord::Values`].
//!
//! A Parquet file cannot be appended to, and it is readable only once its writer has finished it
//! (the footer comes last). So a table grows by new files, and a file is read by row number: the
//! position's `offset` counts the rows already read and `line` is the 1-based number of the next
//! row. A chunk stays inside one row group, so reading on from a position decodes one row group,
//! not the file up to it.
//!
//! Arrow types become [`Value`]s by what they are (any integer width is `Int`, any string layout
//! `String`, ...); the generated parser then checks each value against its column's SQL type, so a
//! file whose column changed type is reported with the file, row and column.

use std::path::Path;
use std::sync::Arc;

use dozer_folder::{Folder, FolderFile, Object};
use dozer_types::Value;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;

use super::arrow_values::push_values;
use super::chunk::{RawRecord, SourceError};
use super::file_chunk::{FileChunk, FilePosition};
use super::folder::folder_error;

/// What one read of a Parquet file found.
pub(super) enum ParquetRead {
    /// The file has no footer yet: its writer has not finished it.
    Unfinished,
    Rows(FileChunk),
}

fn error(path: &Path, row: Option<u64>, message: String) -> SourceError {
    SourceError {
        file: Some(path.to_path_buf()),
        line: row,
        message,
    }
}

/// What a column the file does not have means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Absent {
    /// Every file of a file table has all of the table's columns.
    Error,
    /// The file was written before the column was added to its table (Delta Lake): NULL.
    Null,
}

/// Reads up to `max_records` rows of `columns` from `start` on (rows of one row group at most)
/// of `file` in `folder`. An unreadable file is [`ParquetRead::Unfinished`] unless `complete`
/// says it cannot change any more, when it is an error.
pub(super) fn read(
    folder: &Folder,
    file: &Object,
    (columns, absent): (&[String], Absent),
    start: &FilePosition,
    max_records: usize,
    complete: bool,
) -> Result<ParquetRead, SourceError> {
    let location = folder.location(&file.name);
    let path = location.as_path();
    let input = FolderFile::open(folder, &file.name, file.size).map_err(folder_error)?;
    // The file's own schema decides the arrow types (no dictionary or view layouts from an
    // embedded arrow schema), which keeps the conversions below few.
    let options = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
    let metadata = match ArrowReaderMetadata::load(&input, options) {
        Ok(metadata) => metadata,
        Err(_) if !complete => return Ok(ParquetRead::Unfinished),
        Err(e) => {
            return Err(error(
                path,
                None,
                format!("not a readable Parquet file: {e}"),
            ))
        }
    };
    let done = FileChunk {
        file: Arc::from(start.file.as_str()),
        records: vec![],
        end: start.clone(),
    };
    // The row group holding row `offset`, and where it starts.
    let mut group_start = 0u64;
    let mut group = None;
    for (i, rg) in metadata.metadata().row_groups().iter().enumerate() {
        let rows = rg.num_rows().max(0) as u64;
        if start.offset < group_start + rows {
            group = Some((i, rows));
            break;
        }
        group_start += rows;
    }
    let Some((group, group_rows)) = group else {
        return Ok(ParquetRead::Rows(done)); // every row is read
    };
    let schema = metadata.parquet_schema();
    let mut roots = Vec::with_capacity(columns.len());
    for name in columns {
        let root = (0..schema.root_schema().get_fields().len())
            .find(|&i| schema.root_schema().get_fields()[i].name() == name);
        if root.is_none() && absent == Absent::Error {
            return Err(error(
                path,
                None,
                format!("the file has no column `{name}`; all files of a table need the table's columns"),
            ));
        }
        roots.extend(root);
    }
    let mask = ProjectionMask::roots(schema, roots.iter().copied());
    // The group's chunks of the columns read, fetched at once (an object store's round trips).
    let chunks: Vec<std::ops::Range<u64>> = metadata.metadata().row_groups()[group]
        .columns()
        .iter()
        .enumerate()
        .filter(|(leaf, _)| mask.leaf_included(*leaf))
        .map(|(_, c)| {
            let (from, len) = c.byte_range();
            from..from + len
        })
        .collect();
    input
        .prefetch(&chunks)
        .map_err(|e| error(path, Some(start.line), e.message))?;
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(input, metadata);
    let within = (start.offset - group_start) as usize;
    let take = max_records
        .max(1)
        .min((group_start + group_rows - start.offset) as usize);
    let reader = builder
        .with_projection(mask)
        .with_row_groups(vec![group])
        .with_offset(within)
        .with_limit(take)
        .with_batch_size(take.min(8192))
        .build()
        .map_err(|e| error(path, Some(start.line), e.to_string()))?;
    let mut records = Vec::with_capacity(take);
    for batch in reader {
        let batch = batch.map_err(|e| error(path, Some(start.line), e.to_string()))?;
        let first = start.line + records.len() as u64;
        let mut rows: Vec<Vec<Value>> = (0..batch.num_rows())
            .map(|_| Vec::with_capacity(columns.len()))
            .collect();
        for name in columns {
            let Some(array) = batch.column_by_name(name) else {
                rows.iter_mut().for_each(|row| row.push(Value::Null)); // [`Absent::Null`]
                continue;
            };
            push_values(array.as_ref(), &mut rows).map_err(|message| {
                error(path, Some(first), format!("column `{name}`: {message}"))
            })?;
        }
        for (i, row) in rows.into_iter().enumerate() {
            records.push((first + i as u64, RawRecord::Values(row)));
        }
    }
    let read = records.len() as u64;
    Ok(ParquetRead::Rows(FileChunk {
        file: done.file,
        records,
        end: FilePosition {
            file: start.file.clone(),
            offset: start.offset + read,
            line: start.line + read,
            open_line: false,
        },
    }))
}

/// The number of rows of `file` in `folder`, from its footer.
pub(super) fn row_count(folder: &Folder, file: &Object) -> Result<u64, SourceError> {
    let location = folder.location(&file.name);
    let input = FolderFile::open(folder, &file.name, file.size).map_err(folder_error)?;
    let options = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
    let metadata = ArrowReaderMetadata::load(&input, options).map_err(|e| {
        error(
            location.as_path(),
            None,
            format!("not a readable Parquet file: {e}"),
        )
    })?;
    Ok(metadata.metadata().file_metadata().num_rows().max(0) as u64)
}
