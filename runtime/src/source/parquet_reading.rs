//! Parquet files read through the [`super::files::FileReader`]: row groups, nullable columns,
//! resuming by row, files still being written.

use std::time::Duration;

use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Int32Array, Int64Array, RecordBatch,
    StringArray, TimestampMillisecondArray, UInt64Array,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate};
use dozer_types::{Decimal, Value};

use super::chunk::RawRecord;
use super::file_states::FileStates;
use super::file_table::{FileFormat, FileTable};
use super::files::FileReader;

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
        folder: dozer_folder::Folder::local(dir),
        extension: ".parquet".into(),
        format: FileFormat::Parquet,
        columns: COLUMNS.iter().map(|c| c.to_string()).collect(),
        quiet_period: crate::source::file_table::DEFAULT_QUIET_PERIOD,
        marker_extension: None,
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
    let mut reader = FileReader::new(table(dir.path()), FileStates::default());
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
    let mut reader = FileReader::new(table(dir.path()), FileStates::default());
    let first = reader.next_chunk(2).unwrap().unwrap();
    assert_eq!(first.records.len(), 2);
    let after_first = reader.states().clone();
    let second = reader.next_chunk(2).unwrap().unwrap();
    assert_eq!(
        second.records.len(),
        1,
        "the first row group ends after row 3"
    );
    // A restart from the states committed after the first chunk reads the rest exactly once.
    let mut resumed = FileReader::new(table(dir.path()), after_first);
    let rest = drain(&mut resumed, 2);
    let ids: Vec<i64> = rest.iter().map(|r| r.2).collect();
    assert_eq!(ids, vec![2, 3, 4, 5, 6]);
    assert_eq!(rest[0], ("1.parquet".into(), 3, 2));
    // A new file is followed; the finished one is not read again.
    write(&dir.path().join("2.parquet"), 100..102);
    let ids: Vec<i64> = drain(&mut resumed, 100).iter().map(|r| r.2).collect();
    assert_eq!(ids, vec![100, 101]);
    let state = resumed.states().get("2.parquet").unwrap();
    assert_eq!((state.offset, state.complete), (2, true));
    assert!(resumed.states().get("1.parquet").unwrap().complete);
}

#[test]
fn an_unfinished_file_waits_while_later_ones_are_read_and_is_an_error_once_final() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("1.parquet"), 0..2);
    // A writer has started the next file: no footer yet.
    std::fs::write(dir.path().join("2.parquet"), b"PAR1 partial").unwrap();
    let mut reader = FileReader::new(table(dir.path()), FileStates::default())
        .with_quiet_period(Duration::from_secs(3600));
    assert_eq!(drain(&mut reader, 10).len(), 2);
    assert!(reader.next_chunk(10).unwrap().is_none());
    // A later file is read meanwhile: the unfinished one waits for its writer.
    write(&dir.path().join("3.parquet"), 5..6);
    let ids: Vec<i64> = drain(&mut reader, 10).iter().map(|r| r.2).collect();
    assert_eq!(ids, vec![5]);
    // Read as it is (or once unchanged for its grace period), it is broken: an error.
    let err = FileReader::new(table(dir.path()), reader.states().clone())
        .reading_files_as_they_are()
        .next_chunk(10)
        .unwrap_err();
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
    let err = FileReader::new(t, FileStates::default())
        .next_chunk(10)
        .unwrap_err();
    assert!(err.to_string().contains("1.parquet"), "{err}");
    assert!(err.to_string().contains("no column `missing`"), "{err}");
}
