//! A checkpoint: the table's state at a version as one Parquet file (or several parts), one action
//! per row in nested columns — `add` (a struct with a map of partition values), `metaData`,
//! `protocol`. A checkpoint's `remove` rows are tombstones for vacuuming and do not change what
//! the table holds, so they are not read.

use std::collections::BTreeMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{Array, MapArray, StructArray};
use dozer_folder::{Folder, FolderFile, Object};
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;

use crate::action::{Action, AddFile, Metadata, Protocol};

/// The actions of the checkpoint part `file` of `folder` (the table's `_delta_log` entries are
/// named from the table's folder).
pub(crate) fn read_part(folder: &Folder, file: &Object) -> Result<Vec<Action>, String> {
    let input = FolderFile::open(folder, &file.name, file.size).map_err(|e| e.message)?;
    let options = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
    let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(input, options)
        .map_err(|e| format!("not a readable Parquet checkpoint: {e}"))?;
    let fields = builder.parquet_schema().root_schema().get_fields();
    let roots: Vec<usize> = (0..fields.len())
        .filter(|&i| matches!(fields[i].name(), "add" | "metaData" | "protocol"))
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|e| e.to_string())?;
    let mut actions = vec![];
    for batch in reader {
        let batch = batch.map_err(|e| e.to_string())?;
        if let Some(add) = batch.column_by_name("add") {
            adds(add.as_struct(), &mut actions)?;
        }
        if let Some(meta) = batch.column_by_name("metaData") {
            metadata(meta.as_struct(), &mut actions)?;
        }
        if let Some(protocol) = batch.column_by_name("protocol") {
            protocols(protocol.as_struct(), &mut actions)?;
        }
    }
    Ok(actions)
}

fn child<'a>(s: &'a StructArray, name: &str) -> Result<&'a dyn Array, String> {
    s.column_by_name(name)
        .map(|c| c.as_ref())
        .ok_or_else(|| format!("the checkpoint has no `{name}` field where one is expected"))
}

fn string(a: &dyn Array, row: usize) -> Option<String> {
    if a.is_null(row) {
        return None;
    }
    a.as_string_opt::<i32>()
        .map(|s| s.value(row).to_string())
        .or_else(|| a.as_string_opt::<i64>().map(|s| s.value(row).to_string()))
}

fn long(a: &dyn Array, row: usize) -> Option<i64> {
    if a.is_null(row) {
        return None;
    }
    a.as_primitive_opt::<Int64Type>()
        .map(|a| a.value(row))
        .or_else(|| {
            a.as_primitive_opt::<Int32Type>()
                .map(|a| a.value(row).into())
        })
}

fn strings(a: &dyn Array, row: usize) -> Vec<String> {
    if a.is_null(row) {
        return vec![];
    }
    let Some(list) = a.as_list_opt::<i32>() else {
        return vec![];
    };
    let values = list.value(row);
    (0..values.len())
        .filter_map(|i| string(values.as_ref(), i))
        .collect()
}

fn map(a: &MapArray, row: usize) -> BTreeMap<String, Option<String>> {
    if a.is_null(row) {
        return BTreeMap::new();
    }
    let entries = a.value(row);
    let (keys, values) = (entries.column(0), entries.column(1));
    (0..entries.len())
        .filter_map(|i| Some((string(keys.as_ref(), i)?, string(values.as_ref(), i))))
        .collect()
}

fn adds(add: &StructArray, actions: &mut Vec<Action>) -> Result<(), String> {
    let path = child(add, "path")?;
    let size = child(add, "size")?;
    let modified = child(add, "modificationTime")?;
    let partition_values = child(add, "partitionValues")?.as_map_opt();
    let stats = add.column_by_name("stats");
    let dv = add.column_by_name("deletionVector");
    for row in 0..add.len() {
        if add.is_null(row) {
            continue;
        }
        let Some(p) = string(path, row) else { continue };
        actions.push(Action::Add(AddFile::new(
            &p,
            partition_values.map(|m| map(m, row)).unwrap_or_default(),
            long(size, row).unwrap_or(0),
            long(modified, row).unwrap_or(0),
            true,
            stats.and_then(|s| string(s.as_ref(), row)).as_deref(),
            dv.is_some_and(|d| !d.is_null(row)),
        )?));
    }
    Ok(())
}

fn metadata(meta: &StructArray, actions: &mut Vec<Action>) -> Result<(), String> {
    let schema = child(meta, "schemaString")?;
    let partitions = child(meta, "partitionColumns")?;
    let configuration = meta.column_by_name("configuration");
    for row in 0..meta.len() {
        if meta.is_null(row) {
            continue;
        }
        let Some(schema) = string(schema, row) else {
            continue;
        };
        let configuration = configuration
            .and_then(|c| c.as_map_opt())
            .map(|m| map(m, row))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?)))
            .collect();
        actions.push(Action::Metadata(Metadata::new(
            &schema,
            strings(partitions, row),
            configuration,
        )?));
    }
    Ok(())
}

fn protocols(protocol: &StructArray, actions: &mut Vec<Action>) -> Result<(), String> {
    let reader = child(protocol, "minReaderVersion")?;
    let features = protocol.column_by_name("readerFeatures");
    for row in 0..protocol.len() {
        if protocol.is_null(row) {
            continue;
        }
        actions.push(Action::Protocol(Protocol {
            min_reader_version: long(reader, row).unwrap_or(1) as i32,
            reader_features: features
                .map(|f| strings(f.as_ref(), row))
                .unwrap_or_default(),
        }));
    }
    Ok(())
}
