//! The actions of a Delta log that decide what a table holds: `add` and `remove` of data files,
//! `metaData` (schema, partition columns, table properties) and `protocol` (what a reader must
//! understand). A commit is a JSON file of one action per line; other actions (`commitInfo`,
//! `txn`, `cdc`, `domainMetadata`, …) do not change the table's rows and are passed over.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::schema::{parse_schema, DeltaField};

/// A data file that is part of the table from its commit on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddFile {
    /// The file's path relative to the table's folder, decoded (the log writes it URL-encoded).
    pub path: String,
    /// Each partition column's value for every row of the file, as the log writes it (`None`:
    /// NULL).
    pub partition_values: BTreeMap<String, Option<String>>,
    pub size: u64,
    /// When the file was written, in milliseconds since the epoch.
    pub modification_time: i64,
    /// `false` when the commit only rearranges rows that were already there (compaction).
    pub data_change: bool,
    /// The file's row count, from its statistics where the writer kept them.
    pub num_records: Option<u64>,
    /// Whether some of the file's rows are marked deleted by a deletion vector.
    pub deletion_vector: bool,
}

/// A data file that is no longer part of the table from its commit on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoveFile {
    pub path: String,
    /// Where the writer repeated them (`extendedFileMetadata`).
    pub partition_values: Option<BTreeMap<String, Option<String>>>,
    pub data_change: bool,
    pub deletion_vector: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    pub schema: Vec<DeltaField>,
    pub partition_columns: Vec<String>,
    pub configuration: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protocol {
    pub min_reader_version: i32,
    /// The reader features the table uses (reader version 3).
    pub reader_features: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Add(AddFile),
    Remove(RemoveFile),
    Metadata(Metadata),
    Protocol(Protocol),
}

#[derive(Deserialize)]
struct Line {
    add: Option<RawAdd>,
    remove: Option<RawRemove>,
    #[serde(rename = "metaData")]
    meta_data: Option<RawMetadata>,
    protocol: Option<RawProtocol>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAdd {
    path: String,
    #[serde(default)]
    partition_values: BTreeMap<String, Option<String>>,
    size: i64,
    #[serde(default)]
    modification_time: i64,
    #[serde(default = "yes")]
    data_change: bool,
    stats: Option<String>,
    deletion_vector: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRemove {
    path: String,
    partition_values: Option<BTreeMap<String, Option<String>>>,
    #[serde(default = "yes")]
    data_change: bool,
    deletion_vector: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMetadata {
    schema_string: String,
    #[serde(default)]
    partition_columns: Vec<String>,
    #[serde(default)]
    configuration: BTreeMap<String, Option<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProtocol {
    min_reader_version: i32,
    reader_features: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}

/// A path as the log writes it (an RFC 2396 URI relative to the table), as a name in its folder.
pub(crate) fn decode_path(path: &str) -> Result<String, String> {
    if path.contains("://") || path.starts_with('/') {
        return Err(format!(
            "not supported yet: data file `{path}` is outside the table's folder (a shallow clone)"
        ));
    }
    percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map(|p| p.into_owned())
        .map_err(|_| format!("data file path `{path}` is not UTF-8 once decoded"))
}

/// The number of records an `add` action's statistics (a JSON string) give.
pub(crate) fn num_records(stats: Option<&str>) -> Option<u64> {
    let stats: serde_json::Value = serde_json::from_str(stats?).ok()?;
    stats.get("numRecords")?.as_u64()
}

impl AddFile {
    pub(crate) fn new(
        path: &str,
        partition_values: BTreeMap<String, Option<String>>,
        size: i64,
        modification_time: i64,
        data_change: bool,
        stats: Option<&str>,
        deletion_vector: bool,
    ) -> Result<AddFile, String> {
        Ok(AddFile {
            path: decode_path(path)?,
            partition_values,
            size: u64::try_from(size).map_err(|_| format!("data file `{path}` has size {size}"))?,
            modification_time,
            data_change,
            num_records: num_records(stats),
            deletion_vector,
        })
    }
}

impl Metadata {
    pub(crate) fn new(
        schema_string: &str,
        partition_columns: Vec<String>,
        configuration: BTreeMap<String, String>,
    ) -> Result<Metadata, String> {
        Ok(Metadata {
            schema: parse_schema(schema_string)?,
            partition_columns,
            configuration,
        })
    }
}

/// The actions of one commit file, in their order.
pub(crate) fn parse_commit(text: &str) -> Result<Vec<Action>, String> {
    let mut actions = vec![];
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |e: String| format!("line {}: {e}", i + 1);
        let parsed: Line = serde_json::from_str(line).map_err(|e| at(e.to_string()))?;
        if let Some(a) = parsed.add {
            actions.push(Action::Add(
                AddFile::new(
                    &a.path,
                    a.partition_values,
                    a.size,
                    a.modification_time,
                    a.data_change,
                    a.stats.as_deref(),
                    a.deletion_vector.is_some_and(|d| !d.is_null()),
                )
                .map_err(at)?,
            ));
        }
        if let Some(r) = parsed.remove {
            actions.push(Action::Remove(RemoveFile {
                path: decode_path(&r.path).map_err(at)?,
                partition_values: r.partition_values,
                data_change: r.data_change,
                deletion_vector: r.deletion_vector.is_some_and(|d| !d.is_null()),
            }));
        }
        if let Some(m) = parsed.meta_data {
            let configuration = m
                .configuration
                .into_iter()
                .filter_map(|(k, v)| Some((k, v?)))
                .collect();
            actions.push(Action::Metadata(
                Metadata::new(&m.schema_string, m.partition_columns, configuration).map_err(at)?,
            ));
        }
        if let Some(p) = parsed.protocol {
            actions.push(Action::Protocol(Protocol {
                min_reader_version: p.min_reader_version,
                reader_features: p.reader_features.unwrap_or_default(),
            }));
        }
    }
    Ok(actions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_of_deltalake_python_gives_its_actions() {
        let text = concat!(
            r#"{"commitInfo":{"timestamp":1796409210270,"operation":"DELETE"}}"#,
            "\n",
            r#"{"add":{"path":"day=2024-01-01/part-00000-e9dc.zstd.parquet","partitionValues":{"day":"2024-01-01"},"size":1117,"modificationTime":1796409210270,"dataChange":true,"stats":"{\"numRecords\":2,\"minValues\":{}}","tags":null,"deletionVector":null}}"#,
            "\n",
            r#"{"remove":{"path":"part%20one.parquet","dataChange":true,"deletionTimestamp":1,"extendedFileMetadata":true,"partitionValues":{},"size":1089}}"#,
            "\n"
        );
        let actions = parse_commit(text).unwrap();
        assert_eq!(actions.len(), 2);
        let Action::Add(add) = &actions[0] else {
            panic!("{actions:?}")
        };
        assert_eq!(add.path, "day=2024-01-01/part-00000-e9dc.zstd.parquet");
        assert_eq!(add.num_records, Some(2));
        assert_eq!(add.partition_values["day"].as_deref(), Some("2024-01-01"));
        assert!(!add.deletion_vector);
        let Action::Remove(remove) = &actions[1] else {
            panic!("{actions:?}")
        };
        assert_eq!(remove.path, "part one.parquet");
        assert!(remove.data_change);
    }

    #[test]
    fn a_file_outside_the_table_is_not_supported_yet() {
        let err = decode_path("s3://other/part-0.parquet").unwrap_err();
        assert!(err.starts_with("not supported yet"), "{err}");
    }
}
