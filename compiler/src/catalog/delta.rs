//! Schemas of Delta Lake tables: the columns of the newest version's `metaData`, read from the
//! table's log through `dozer_delta` — the reader the app itself uses, so what the compiler
//! type-checks against is what the app reads. Partition columns are columns like any other; a
//! column of a type without a SQL type here (struct, array, map, decimals over 28 digits) is
//! refused only when the source selects it.
//!
//! A table this reader cannot read right (deletion vectors in use, column mapping, a reader
//! feature it does not know) is refused here, at the table's position in the YAML, rather than
//! when the app meets it.

use dozer_delta::DeltaLog;

use super::read::FileFolder;
use super::schema::{Column, TableSchema};
use crate::config::{Config, FileTable, Source};
use crate::diagnostic::{Diagnostic, Diagnostics};

/// The schema of the Delta table in `folder`; `None` with a diagnostic when it cannot be read.
pub(super) fn infer(
    config: &Config,
    table: &FileTable,
    source: &Source,
    folder: &FileFolder,
    diags: &mut Diagnostics,
) -> Option<TableSchema> {
    let folder = folder.open(config);
    let error = |message: String, help: &str| {
        Diagnostic::error("catalog::delta-table", message)
            .label(table.path.span, "this Delta table")
            .help(help.to_string())
    };
    let state = match DeltaLog::new(folder.clone()).state() {
        Ok(s) => s,
        Err(e) => {
            let help = if e.message.starts_with("not supported yet") {
                "read a copy of the table without the feature, e.g. one written by `deltalake.write_deltalake` with default options"
            } else {
                "`path` names the folder holding the table's `_delta_log/` (relative paths start at the config file's folder)"
            };
            diags.push(error(
                format!(
                    "Delta table `{}`: {}: {}",
                    table.name.value,
                    e.location.display(),
                    e.message
                ),
                help,
            ));
            return None;
        }
    };
    if let Some(file) = state.files.values().find(|f| f.deletion_vector) {
        diags.push(error(
            format!(
                "not supported yet: deletion vectors (data file `{}` of Delta table `{}` has one)",
                file.path, table.name.value
            ),
            "purge them (`REORG TABLE … APPLY (PURGE)` in Spark), or turn them off with `delta.enableDeletionVectors = false` and rewrite the files",
        ));
        return None;
    }
    let mut columns = Vec::with_capacity(state.metadata.schema.len());
    let selected = |name: &str| {
        source
            .columns
            .as_ref()
            .is_none_or(|cols| cols.iter().any(|c| c.value == name))
    };
    for field in &state.metadata.schema {
        let Some(ty) = field.data_type.sql_type() else {
            // A column the source leaves out is never read.
            if !selected(&field.name) {
                continue;
            }
            diags.push(error(
                format!(
                    "not supported yet: column `{}` of Delta table `{}` has type `{}`",
                    field.name,
                    table.name.value,
                    field.data_type.describe()
                ),
                "select the other columns with the source's `columns:` list, or write this one as a string",
            ));
            return None;
        };
        columns.push(Column {
            name: field.name.clone(),
            ty,
            nullable: field.nullable,
        });
    }
    Some(TableSchema {
        columns,
        primary_key: vec![],
        row_image: vec![],
    })
}
