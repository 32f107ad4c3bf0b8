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

use std::fs::File;
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
use dozer_types::{Decimal, Value};
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;

use super::chunk::{Chunk, FilePosition, RawRecord, SourceError};

/// What one read of a Parquet file found.
pub(super) enum ParquetRead {
    /// The file has no footer yet: its writer has not finished it.
    Unfinished,
    Rows(Chunk),
}

fn error(path: &Path, row: Option<u64>, message: String) -> SourceError {
    SourceError {
        file: Some(path.to_path_buf()),
        line: row,
        message,
    }
}

/// Reads up to `max_records` rows of `columns` from `start` on (rows of one row group at most).
/// An unreadable file is [`ParquetRead::Unfinished`] unless `complete` says it cannot change any
/// more, when it is an error.
pub(super) fn read(
    path: &Path,
    columns: &[String],
    start: &FilePosition,
    max_records: usize,
    complete: bool,
) -> Result<ParquetRead, SourceError> {
    let file = File::open(path).map_err(|e| error(path, None, e.to_string()))?;
    // The file's own schema decides the arrow types (no dictionary or view layouts from an
    // embedded arrow schema), which keeps the conversions below few.
    let options = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
    let builder = match ParquetRecordBatchReaderBuilder::try_new_with_options(file, options) {
        Ok(b) => b,
        Err(_) if !complete => return Ok(ParquetRead::Unfinished),
        Err(e) => {
            return Err(error(
                path,
                None,
                format!("not a readable Parquet file: {e}"),
            ))
        }
    };
    let done = Chunk {
        file: Arc::from(start.file.as_str()),
        records: vec![],
        end: start.clone(),
        weights: vec![],
    };
    // The row group holding row `offset`, and where it starts.
    let mut group_start = 0u64;
    let mut group = None;
    for (i, rg) in builder.metadata().row_groups().iter().enumerate() {
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
    let schema = builder.parquet_schema();
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
    Ok(ParquetRead::Rows(Chunk {
        file: done.file,
        records,
        end: FilePosition {
            file: start.file.clone(),
            offset: start.offset + read,
            line: start.line + read,
            files_before: start.files_before,
            open_line: false,
        },
        weights: vec![],
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use arrow_array::{
        ArrayRef, BooleanArray, Date32Array, Decimal128Array, Int32Array, Int64Array, RecordBatch,
        StringArray, TimestampMillisecondArray, UInt64Array,
    };
    use parquet::arrow::ArrowWriter;
    use parquet::basic::Compression;
    use parquet::file::properties::WriterProperties;

    use super::*;
    use crate::source::files::{FileFormat, FileReader, FileTable};

    const COLUMNS: [&str; 7] = ["id", "name", "amount", "at", "day", "ok", "big"];

    /// Rows `ids` in row groups of three, snappy-compressed (what pyarrow writes by default).
    fn write(path: &Path, ids: std::ops::Range<i64>) {
        let n = ids.clone().count();
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("id", Arc::new(Int64Array::from_iter_values(ids.clone()))),
            (
                "name",
                Arc::new(StringArray::from_iter(
                    ids.clone().map(|i| (i % 2 == 0).then(|| format!("n{i}"))),
                )),
            ),
            (
                "amount",
                Arc::new(
                    Decimal128Array::from_iter_values(ids.clone().map(|i| i as i128 * 101))
                        .with_precision_and_scale(10, 2)
                        .unwrap(),
                ),
            ),
            (
                "at",
                Arc::new(TimestampMillisecondArray::from_iter_values(
                    ids.clone().map(|i| 1_700_000_000_000 + i * 1000),
                )),
            ),
            (
                "day",
                Arc::new(Date32Array::from_iter_values(
                    ids.clone().map(|i| 19_000 + i as i32),
                )),
            ),
            (
                "ok",
                Arc::new(BooleanArray::from_iter(
                    ids.clone().map(|i| Some(i % 3 == 0)),
                )),
            ),
            (
                "big",
                Arc::new(UInt64Array::from_iter_values(
                    ids.clone().map(|i| u64::MAX - i as u64),
                )),
            ),
            // A column the table does not read.
            (
                "extra",
                Arc::new(Int32Array::from_iter_values((0..n as i32).rev())),
            ),
        ];
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(3))
            .set_compression(Compression::SNAPPY)
            .build();
        let file = File::create(path).unwrap();
        let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
    }

    fn table(dir: &Path) -> FileTable {
        FileTable {
            dir: dir.to_path_buf(),
            extension: ".parquet".into(),
            format: FileFormat::Parquet,
            columns: COLUMNS.iter().map(|c| c.to_string()).collect(),
            quiet_period: crate::source::files::DEFAULT_QUIET_PERIOD,
        }
    }

    /// Every row from now on as (file, row number, id), checking chunk sizes.
    fn drain(reader: &mut FileReader, max: usize) -> Vec<(String, u64, i64)> {
        let mut out = vec![];
        while let Some(chunk) = reader.next_chunk(max).unwrap() {
            assert!(!chunk.records.is_empty() && chunk.records.len() <= max);
            for (row, record) in chunk.records {
                let RawRecord::Values(v) = record else {
                    panic!("{record:?}")
                };
                assert_eq!(v.len(), COLUMNS.len());
                let Value::Int(id) = v[0] else {
                    panic!("{v:?}")
                };
                out.push((chunk.file.to_string(), row, id));
            }
        }
        out
    }

    #[test]
    fn rows_convert_to_values_of_their_types() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("a.parquet"), 1..3);
        let mut reader = FileReader::new(table(dir.path()), FilePosition::default());
        let chunk = reader.next_chunk(10).unwrap().unwrap();
        let rows: Vec<&Vec<Value>> = chunk
            .records
            .iter()
            .map(|(_, r)| match r {
                RawRecord::Values(v) => v,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            rows[0],
            &vec![
                Value::Int(1),
                Value::Null,
                Value::Decimal(Decimal::new(101, 2)),
                Value::Timestamp(DateTime::from_timestamp_millis(1_700_000_001_000).unwrap()),
                Value::Date(NaiveDate::from_ymd_opt(2022, 1, 9).unwrap()),
                Value::Boolean(false),
                Value::UInt(u64::MAX - 1),
            ]
        );
        assert_eq!(rows[1][1], Value::String("n2".into()));
        assert_eq!(chunk.end.offset, 2);
    }

    #[test]
    fn chunks_stay_in_row_groups_and_resume_by_row_number() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("1.parquet"), 0..7); // row groups of 3, 3, 1
        let mut reader = FileReader::new(table(dir.path()), FilePosition::default());
        let first = reader.next_chunk(2).unwrap().unwrap();
        assert_eq!(first.records.len(), 2);
        let second = reader.next_chunk(2).unwrap().unwrap();
        assert_eq!(
            second.records.len(),
            1,
            "the first row group ends after row 3"
        );
        // A restart from the position after the first chunk reads the rest exactly once.
        let mut resumed = FileReader::new(table(dir.path()), first.end.clone());
        let rest = drain(&mut resumed, 2);
        let ids: Vec<i64> = rest.iter().map(|r| r.2).collect();
        assert_eq!(ids, vec![2, 3, 4, 5, 6]);
        assert_eq!(rest[0], ("1.parquet".into(), 3, 2));
        // A new file is followed; the finished one is not read again.
        write(&dir.path().join("2.parquet"), 100..102);
        let ids: Vec<i64> = drain(&mut resumed, 100).iter().map(|r| r.2).collect();
        assert_eq!(ids, vec![100, 101]);
        assert_eq!(resumed.position().file, "2.parquet");
        assert_eq!(resumed.position().offset, 2);
    }

    #[test]
    fn an_unfinished_last_file_waits_and_a_broken_earlier_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("1.parquet"), 0..2);
        // A writer has started the next file: no footer yet.
        std::fs::write(dir.path().join("2.parquet"), b"PAR1 partial").unwrap();
        let mut reader = FileReader::new(table(dir.path()), FilePosition::default())
            .with_quiet_period(Duration::from_secs(3600));
        assert_eq!(drain(&mut reader, 10).len(), 2);
        assert!(reader.next_chunk(10).unwrap().is_none());
        // Once a later file exists, the broken one cannot be finished any more.
        write(&dir.path().join("3.parquet"), 5..6);
        let err = reader.next_chunk(10).unwrap_err();
        assert!(err.to_string().contains("2.parquet"), "{err}");
        assert!(
            err.to_string().contains("not a readable Parquet file"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_column_names_file_and_column() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("1.parquet"), 0..2);
        let mut t = table(dir.path());
        t.columns.push("missing".into());
        let err = FileReader::new(t, FilePosition::default())
            .next_chunk(10)
            .unwrap_err();
        assert!(err.to_string().contains("1.parquet"), "{err}");
        assert!(err.to_string().contains("no column `missing`"), "{err}");
    }
}
