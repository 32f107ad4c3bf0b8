//! Listing a file table's folder: every file with the table's extension, with what the reader
//! needs to tell files apart and order them by arrival (size, modification time).
//!
//! The listing is the only place the reader learns which files exist; what it does with them
//! (which are new, which grew, which were replaced) is [`super::file_states`]' rule.

use std::path::Path;
use std::time::SystemTime;

use super::chunk::{io_error, SourceError};
use super::file_table::FileTable;

/// One data file of a table, as the folder lists it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub size: u64,
    /// When it was last written: files are read in the order they arrived, oldest first (ties by
    /// name).
    pub modified: SystemTime,
    /// What tells this object from another one under the same name where the store says so (an
    /// object store's entity tag); empty for local files, which are told apart by their content
    /// (see [`super::file_states`]).
    pub id: String,
    /// Whether it may be read: with markers (Dozer's `marker_extension`), only once its marker
    /// exists. A data file without its marker is still listed, so that it is not taken for a
    /// deleted one.
    pub ready: bool,
}

/// The table's data files, in no particular order.
pub fn list(table: &FileTable) -> Result<Vec<Entry>, SourceError> {
    list_local(
        &table.dir,
        &table.extension,
        table.marker_extension.as_deref(),
    )
}

fn list_local(
    dir: &Path,
    extension: &str,
    marker: Option<&str>,
) -> Result<Vec<Entry>, SourceError> {
    let mut files = vec![];
    for entry in std::fs::read_dir(dir).map_err(|e| io_error(dir, e))? {
        let Ok(entry) = entry else { continue };
        let Ok(name) = entry.file_name().into_string() else {
            continue; // not UTF-8: not a name a table file can have
        };
        // A file deleted between the listing and this look is simply not there.
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        files.push((name, meta));
    }
    let names: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    let data: std::collections::HashSet<&str> =
        dozer_types::marker::table_files(&names, extension, None)
            .into_iter()
            .collect();
    let ready: std::collections::HashSet<&str> =
        dozer_types::marker::table_files(&names, extension, marker)
            .into_iter()
            .collect();
    Ok(files
        .iter()
        .filter(|(name, _)| data.contains(name.as_str()))
        .map(|(name, meta)| Entry {
            name: name.clone(),
            size: meta.len(),
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            id: String::new(),
            ready: ready.contains(name.as_str()),
        })
        .collect())
}
