//! Listing a file table's folder: every file with the table's extension, with what the reader
//! needs to tell files apart and order them by arrival (size, modification time).
//!
//! The listing is the only place the reader learns which files exist; what it does with them
//! (which are new, which grew, which were replaced) is [`super::file_states`]' rule.

use std::collections::HashSet;
use std::time::SystemTime;

use super::chunk::SourceError;
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
    let files = table.folder.list().map_err(folder_error)?;
    let names: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
    let extension = &table.extension;
    let data: HashSet<&str> = dozer_types::marker::table_files(&names, extension, None)
        .into_iter()
        .collect();
    let ready: HashSet<&str> =
        dozer_types::marker::table_files(&names, extension, table.marker_extension.as_deref())
            .into_iter()
            .collect();
    Ok(files
        .into_iter()
        .filter(|f| data.contains(f.name.as_str()))
        .map(|f| Entry {
            ready: ready.contains(f.name.as_str()),
            name: f.name,
            size: f.size,
            modified: f.modified,
            id: f.id,
        })
        .collect())
}

/// A folder's error as a source's.
pub(super) fn folder_error(e: dozer_folder::FolderError) -> SourceError {
    SourceError {
        file: Some(e.location),
        line: None,
        message: e.message,
    }
}
