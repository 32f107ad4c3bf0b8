//! Which files of a folder belong to a file table (Dozer's `marker_extension`): those ending with
//! the table's extension, and with markers only those whose marker exists (`a.csv` once
//! `a.marker` does). The compiler infers a schema from these files and the runtime reads them, so
//! the rule is stated once.

use std::collections::HashSet;

/// The names among `names` that are the table's data files, in the order given.
pub fn table_files<'a>(names: &'a [String], extension: &str, marker: Option<&str>) -> Vec<&'a str> {
    let marked: Option<HashSet<&str>> =
        marker.map(|m| names.iter().filter_map(|n| n.strip_suffix(m)).collect());
    names
        .iter()
        .filter(|n| {
            n.strip_suffix(extension)
                .is_some_and(|stem| marked.as_ref().is_none_or(|marked| marked.contains(stem)))
        })
        .map(String::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_file_counts_once_its_marker_exists() {
        let names: Vec<String> = [
            "1.csv",
            "1.done",
            "2.csv",
            "2.csv.done",
            "3.done",
            "notes.txt",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(table_files(&names, ".csv", None), ["1.csv", "2.csv"]);
        assert_eq!(table_files(&names, ".csv", Some(".done")), ["1.csv"]);
    }
}
