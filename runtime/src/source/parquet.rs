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

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, Int8Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrowPrimitiveType};
use arrow_schema::{DataType, TimeUnit};
use chrono::{DateTime, NaiveDate};
use dozer_folder::{Folder, FolderFile, Object};
use dozer_types::{Decimal, Value};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;

use super::chunk::{RawRecord, SourceError};
use super::file_chunk::{FileChunk, FilePosition};

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

/// Reads up to `max_records` rows of `columns` from `start` on (rows of one row group at most)
/// of `file` in `folder`. An unreadable file is [`ParquetRead::Unfinished`] unless `complete`
/// says it cannot change any more, when it is an error.
pub(super) fn read(
    folder: &Folder,
    file: &Object,
    columns: &[String],
    start: &FilePosition,
    max_records: usize,
    complete: bool,
) -> Result<ParquetRead, SourceError> {
    let location = folder.location(&file.name);
    let path = location.as_path();
    let input = FolderFile::open(folder, &file.name, file.size).map_err(|e| SourceError {
        file: Some(e.location),
        line: None,
        message: e.message,
    })?;
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
            .find(|&i| schema.root_schema().get_fields()[i].name() == name)
            .ok_or_else(|| {
                error(
                    path,
                    None,
                    format!("the file has no column `{name}`; all files of a table need the table's columns"),
                )
            })?;
        roots.push(root);
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
            let array = batch.column_by_name(name).ok_or_else(|| {
                error(path, None, format!("column `{name}` missing from a batch"))
            })?;
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

/// Appends each row's value of `array` to that row.
fn push_values(array: &dyn Array, rows: &mut [Vec<Value>]) -> Result<(), String> {
    fn each(array: &dyn Array, rows: &mut [Vec<Value>], value: impl Fn(usize) -> Value) {
        for (i, row) in rows.iter_mut().enumerate() {
            row.push(if array.is_null(i) {
                Value::Null
            } else {
                value(i)
            });
        }
    }
    fn primitive<T: ArrowPrimitiveType>(
        array: &dyn Array,
        rows: &mut [Vec<Value>],
        value: impl Fn(T::Native) -> Value,
    ) {
        let a = array.as_primitive::<T>();
        each(array, rows, |i| value(a.value(i)));
    }
    fn checked<T: ArrowPrimitiveType>(
        array: &dyn Array,
        rows: &mut [Vec<Value>],
        value: impl Fn(T::Native) -> Option<Value>,
        what: &str,
    ) -> Result<(), String> {
        let a = array.as_primitive::<T>();
        for (i, row) in rows.iter_mut().enumerate() {
            row.push(if a.is_null(i) {
                Value::Null
            } else {
                value(a.value(i))
                    .ok_or_else(|| format!("{:?} is out of range for {what}", a.value(i)))?
            });
        }
        Ok(())
    }
    let timestamp = |t: Option<DateTime<chrono::Utc>>| t.map(Value::Timestamp);
    match array.data_type() {
        DataType::Boolean => {
            let a = array.as_boolean();
            each(array, rows, |i| Value::Boolean(a.value(i)));
        }
        DataType::Int8 => primitive::<Int8Type>(array, rows, |v| Value::Int(v.into())),
        DataType::Int16 => primitive::<Int16Type>(array, rows, |v| Value::Int(v.into())),
        DataType::Int32 => primitive::<Int32Type>(array, rows, |v| Value::Int(v.into())),
        DataType::Int64 => primitive::<Int64Type>(array, rows, Value::Int),
        DataType::UInt8 => primitive::<UInt8Type>(array, rows, |v| Value::Int(v.into())),
        DataType::UInt16 => primitive::<UInt16Type>(array, rows, |v| Value::Int(v.into())),
        DataType::UInt32 => primitive::<UInt32Type>(array, rows, |v| Value::Int(v.into())),
        DataType::UInt64 => primitive::<UInt64Type>(array, rows, Value::UInt),
        DataType::Float32 => primitive::<Float32Type>(array, rows, |v| Value::Float(v.into())),
        DataType::Float64 => primitive::<Float64Type>(array, rows, Value::Float),
        DataType::Decimal128(_, scale) => {
            let scale = u32::try_from(*scale).map_err(|_| {
                format!("decimals with a negative scale ({scale}) are not supported yet")
            })?;
            checked::<Decimal128Type>(
                array,
                rows,
                |v| {
                    Decimal::try_from_i128_with_scale(v, scale)
                        .ok()
                        .map(Value::Decimal)
                },
                "a decimal (at most 28 digits)",
            )?;
        }
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            each(array, rows, |i| Value::String(a.value(i).to_string()));
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            each(array, rows, |i| Value::String(a.value(i).to_string()));
        }
        DataType::Binary => {
            let a = array.as_binary::<i32>();
            each(array, rows, |i| Value::Binary(a.value(i).to_vec()));
        }
        DataType::LargeBinary => {
            let a = array.as_binary::<i64>();
            each(array, rows, |i| Value::Binary(a.value(i).to_vec()));
        }
        DataType::FixedSizeBinary(_) => {
            let a = array.as_fixed_size_binary();
            each(array, rows, |i| Value::Binary(a.value(i).to_vec()));
        }
        DataType::Date32 => checked::<Date32Type>(
            array,
            rows,
            |days| {
                NaiveDate::from_num_days_from_ce_opt(days.checked_add(UNIX_EPOCH_DAYS)?)
                    .map(Value::Date)
            },
            "a date",
        )?,
        DataType::Date64 => checked::<Date64Type>(
            array,
            rows,
            |ms| DateTime::from_timestamp_millis(ms).map(|t| Value::Date(t.date_naive())),
            "a date",
        )?,
        DataType::Timestamp(unit, _) => match unit {
            TimeUnit::Second => checked::<TimestampSecondType>(
                array,
                rows,
                |s| timestamp(DateTime::from_timestamp(s, 0)),
                "a timestamp",
            )?,
            TimeUnit::Millisecond => checked::<TimestampMillisecondType>(
                array,
                rows,
                |ms| timestamp(DateTime::from_timestamp_millis(ms)),
                "a timestamp",
            )?,
            TimeUnit::Microsecond => checked::<TimestampMicrosecondType>(
                array,
                rows,
                |us| timestamp(DateTime::from_timestamp_micros(us)),
                "a timestamp",
            )?,
            TimeUnit::Nanosecond => checked::<TimestampNanosecondType>(
                array,
                rows,
                |ns| Some(Value::Timestamp(DateTime::from_timestamp_nanos(ns))),
                "a timestamp",
            )?,
        },
        other => return Err(format!("not supported yet: Parquet/arrow type {other}")),
    }
    Ok(())
}

/// Days from 0001-01-01 (chrono's day 1) to 1970-01-01.
const UNIX_EPOCH_DAYS: i32 = 719_163;
