//! A table's transaction log, `_delta_log/` in its folder: version `v` is the commit file
//! `{v:020}.json`; a checkpoint `{v:020}.checkpoint.parquet` (or its parts
//! `{v:020}.checkpoint.{i:010}.{n:010}.parquet`) holds the whole state at `v`, so the state at a
//! version is the newest checkpoint at or before it plus the commits after that checkpoint.
//! Writers may delete commits older than a checkpoint (log retention), so a reader never assumes
//! version 0 is still there.

use std::collections::{BTreeMap, BTreeSet};

use dozer_folder::{Folder, FolderError, Object};

use crate::action::{parse_commit, Action, AddFile, Metadata, Protocol};
use crate::checkpoint;

/// The folder of the log, below the table's folder.
pub const LOG_DIR: &str = "_delta_log";

/// One version's commit: its actions in the order the writer wrote them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    pub version: u64,
    pub actions: Vec<Action>,
}

/// What the table is at a version: its protocol, metadata and data files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableState {
    pub version: u64,
    pub protocol: Protocol,
    pub metadata: Metadata,
    /// By path.
    pub files: BTreeMap<String, AddFile>,
}

/// A Delta table's log in its folder (a local directory, or a prefix in an object store).
#[derive(Clone, Debug)]
pub struct DeltaLog {
    folder: Folder,
}

/// What a listing of the log found: the commits there, and the complete checkpoints.
struct Listing {
    commits: BTreeMap<u64, Object>,
    /// Each version's checkpoint parts, only where every part is there.
    checkpoints: BTreeMap<u64, Vec<Object>>,
}

fn version_of(name: &str) -> Option<(u64, &str)> {
    let digits = name.get(..20)?;
    digits
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| digits.parse().ok().map(|v| (v, &name[20..])))?
}

impl DeltaLog {
    pub fn new(folder: Folder) -> DeltaLog {
        DeltaLog { folder }
    }

    /// The table's folder; data file paths are names in it.
    pub fn folder(&self) -> &Folder {
        &self.folder
    }

    fn error(&self, name: &str, message: impl Into<String>) -> FolderError {
        FolderError {
            location: self.folder.location(&format!("{LOG_DIR}/{name}")),
            message: message.into(),
        }
    }

    fn list(&self) -> Result<Listing, FolderError> {
        let mut commits = BTreeMap::new();
        let mut parts: BTreeMap<u64, (u64, Vec<Object>)> = BTreeMap::new();
        for object in self.folder.list_in(LOG_DIR)? {
            let Some((version, rest)) = version_of(&object.name) else {
                continue;
            };
            if rest == ".json" {
                commits.insert(version, object);
            } else if rest == ".checkpoint.parquet" {
                parts.insert(version, (1, vec![object]));
            } else if let Some(part) = rest
                .strip_prefix(".checkpoint.")
                .and_then(|r| r.strip_suffix(".parquet"))
            {
                // `{i:010}.{n:010}`: part i of n. A V2 checkpoint (`.checkpoint.{uuid}`) is
                // refused by its table feature, so it is never needed here.
                let Some((_, n)) = part.split_once('.') else {
                    continue;
                };
                let (Ok(n), true) = (n.parse::<u64>(), part.len() == 21) else {
                    continue;
                };
                let entry = parts.entry(version).or_insert((n, vec![]));
                if entry.0 == n {
                    entry.1.push(object);
                }
            }
        }
        let checkpoints = parts
            .into_iter()
            .filter(|(_, (n, objects))| objects.len() as u64 == *n)
            .map(|(v, (_, objects))| (v, objects))
            .collect();
        Ok(Listing {
            commits,
            checkpoints,
        })
    }

    /// The table's newest version; an error that says so when the folder holds no Delta table.
    pub fn latest_version(&self) -> Result<u64, FolderError> {
        let listing = self.list()?;
        let newest = listing
            .commits
            .keys()
            .chain(listing.checkpoints.keys())
            .max()
            .copied();
        newest.ok_or_else(|| FolderError {
            location: self.folder.location(LOG_DIR),
            message: "no Delta table here: the folder has no `_delta_log/` with commits (check the table's `path`)".into(),
        })
    }

    /// The table at its newest version.
    pub fn state(&self) -> Result<TableState, FolderError> {
        let version = self.latest_version()?;
        self.state_at(version)
    }

    /// The table at `version`: the newest checkpoint at or before it, then the commits after.
    pub fn state_at(&self, version: u64) -> Result<TableState, FolderError> {
        let listing = self.list()?;
        let checkpoint = listing.checkpoints.range(..=version).next_back();
        let (mut protocol, mut metadata, mut files) = (None, None, BTreeMap::new());
        let from = match checkpoint {
            Some((&at, parts)) => {
                for part in parts {
                    let name = format!("{LOG_DIR}/{}", part.name);
                    let object = Object {
                        name: name.clone(),
                        ..part.clone()
                    };
                    let actions = checkpoint::read_part(&self.folder, &object)
                        .map_err(|e| self.error(&part.name, e))?;
                    for action in actions {
                        match action {
                            Action::Add(add) => {
                                files.insert(add.path.clone(), add);
                            }
                            Action::Metadata(m) => metadata = Some(m),
                            Action::Protocol(p) => protocol = Some(p),
                            Action::Remove(_) => {}
                        }
                    }
                }
                at + 1
            }
            None => 0,
        };
        for v in from..=version {
            let name = format!("{v:020}.json");
            let Some(object) = listing.commits.get(&v) else {
                return Err(self.error(
                    &name,
                    match checkpoint {
                        None if v == 0 => "the log's first commits are gone (log retention) and no checkpoint covers them; the table cannot be read from here".to_string(),
                        _ => format!("version {v} is missing from the log"),
                    },
                ));
            };
            for action in self.read_commit(object)? {
                fold(&mut files, &mut protocol, &mut metadata, action);
            }
        }
        let (Some(protocol), Some(metadata)) = (protocol, metadata) else {
            return Err(self.error(
                "",
                format!("the log up to version {version} has no `protocol` and `metaData`"),
            ));
        };
        let state = TableState {
            version,
            protocol,
            metadata,
            files,
        };
        state
            .check_readable()
            .map_err(|e| self.error(&format!("{version:020}.json"), e))?;
        Ok(state)
    }

    fn read_commit(&self, object: &Object) -> Result<Vec<Action>, FolderError> {
        let name = format!("{LOG_DIR}/{}", object.name);
        let bytes = self.folder.read(&name, 0..object.size)?;
        let text =
            std::str::from_utf8(&bytes).map_err(|_| self.error(&object.name, "not UTF-8"))?;
        parse_commit(text).map_err(|e| self.error(&object.name, e))
    }

    /// Version `version`'s commit; `None` while it has not been written.
    pub fn commit(&self, version: u64) -> Result<Option<Commit>, FolderError> {
        let name = format!("{LOG_DIR}/{version:020}.json");
        let Some(object) = self.folder.stat(&name)? else {
            return Ok(None);
        };
        let object = Object {
            name: format!("{version:020}.json"),
            ..object
        };
        Ok(Some(Commit {
            version,
            actions: self.read_commit(&object)?,
        }))
    }
}

/// One action's effect on a table's state.
fn fold(
    files: &mut BTreeMap<String, AddFile>,
    protocol: &mut Option<Protocol>,
    metadata: &mut Option<Metadata>,
    action: Action,
) {
    match action {
        Action::Add(add) => {
            files.insert(add.path.clone(), add);
        }
        Action::Remove(remove) => {
            files.remove(&remove.path);
        }
        Action::Metadata(m) => *metadata = Some(m),
        Action::Protocol(p) => *protocol = Some(p),
    }
}

/// The reader features a table may use and still be read here. `deletionVectors` only while no
/// file has one (checked per file); `columnMapping` only in mode `none`.
const READABLE_FEATURES: &[&str] = &[
    "timestampNtz",
    "vacuumProtocolCheck",
    "deletionVectors",
    "columnMapping",
];

impl TableState {
    /// The state after `commit`, the next version's.
    pub fn apply(&mut self, commit: &Commit) -> Result<(), String> {
        let (mut protocol, mut metadata) =
            (Some(self.protocol.clone()), Some(self.metadata.clone()));
        for action in &commit.actions {
            fold(
                &mut self.files,
                &mut protocol,
                &mut metadata,
                action.clone(),
            );
        }
        if let (Some(p), Some(m)) = (protocol, metadata) {
            self.protocol = p;
            self.metadata = m;
        }
        self.version = commit.version;
        self.check_readable()
    }

    /// Whether this reader understands what the table's protocol asks of readers; a clear
    /// "not supported yet" otherwise.
    pub fn check_readable(&self) -> Result<(), String> {
        let p = &self.protocol;
        if p.min_reader_version > 3 {
            return Err(format!(
                "not supported yet: Delta reader version {} (this reader knows versions 1 to 3)",
                p.min_reader_version
            ));
        }
        if let Some(f) = p
            .reader_features
            .iter()
            .find(|f| !READABLE_FEATURES.contains(&f.as_str()))
        {
            return Err(format!("not supported yet: the Delta table feature `{f}`"));
        }
        let mapping = self
            .metadata
            .configuration
            .get("delta.columnMapping.mode")
            .map_or("none", String::as_str);
        if mapping != "none" {
            return Err(format!(
                "not supported yet: column mapping (`delta.columnMapping.mode` is `{mapping}`)"
            ));
        }
        Ok(())
    }

    /// The table's data files in the order they were written (then by path).
    pub fn files_in_order(&self) -> Vec<&AddFile> {
        let mut files: Vec<&AddFile> = self.files.values().collect();
        files.sort_by(|a, b| (a.modification_time, &a.path).cmp(&(b.modification_time, &b.path)));
        files
    }

    /// The partition columns, as a set.
    pub fn partition_columns(&self) -> BTreeSet<&str> {
        self.metadata
            .partition_columns
            .iter()
            .map(String::as_str)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROTOCOL: &str = r#"{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}"#;

    fn metadata(configuration: &str) -> String {
        format!(
            r#"{{"metaData":{{"id":"t","format":{{"provider":"parquet","options":{{}}}},"schemaString":"{{\"type\":\"struct\",\"fields\":[{{\"name\":\"id\",\"type\":\"long\",\"nullable\":true,\"metadata\":{{}}}}]}}","partitionColumns":[],"configuration":{configuration},"createdTime":1}}}}"#
        )
    }

    fn add(path: &str, time: i64) -> String {
        format!(
            r#"{{"add":{{"path":"{path}","partitionValues":{{}},"size":10,"modificationTime":{time},"dataChange":true,"stats":"{{\"numRecords\":3}}"}}}}"#
        )
    }

    fn remove(path: &str) -> String {
        format!(r#"{{"remove":{{"path":"{path}","deletionTimestamp":9,"dataChange":true}}}}"#)
    }

    fn write_commits(dir: &std::path::Path, commits: &[Vec<String>]) {
        let log = dir.join(LOG_DIR);
        std::fs::create_dir_all(&log).unwrap();
        for (v, lines) in commits.iter().enumerate() {
            std::fs::write(log.join(format!("{v:020}.json")), lines.join("\n")).unwrap();
        }
    }

    fn paths(state: &TableState) -> Vec<&str> {
        state
            .files_in_order()
            .iter()
            .map(|f| f.path.as_str())
            .collect()
    }

    #[test]
    fn each_version_is_the_files_added_and_not_yet_removed() {
        let dir = tempfile::tempdir().unwrap();
        write_commits(
            dir.path(),
            &[
                vec![PROTOCOL.into(), metadata("{}"), add("b.parquet", 1)],
                vec![add("a.parquet", 2)],
                vec![remove("b.parquet"), add("c%20d.parquet", 3)],
            ],
        );
        let log = DeltaLog::new(Folder::local(dir.path()));
        assert_eq!(log.latest_version().unwrap(), 2);
        assert_eq!(paths(&log.state_at(0).unwrap()), ["b.parquet"]);
        // In the order written, not by name.
        assert_eq!(paths(&log.state_at(1).unwrap()), ["b.parquet", "a.parquet"]);
        let newest = log.state().unwrap();
        assert_eq!(newest.version, 2);
        assert_eq!(paths(&newest), ["a.parquet", "c d.parquet"]);
        assert_eq!(newest.files["a.parquet"].num_records, Some(3));
        // The state at 1 with commit 2 applied is the state at 2.
        let mut stepped = log.state_at(1).unwrap();
        stepped.apply(&log.commit(2).unwrap().unwrap()).unwrap();
        assert_eq!(stepped, newest);
        assert_eq!(log.commit(3).unwrap(), None);
    }

    #[test]
    fn missing_commits_and_foreign_folders_are_errors_that_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let log = DeltaLog::new(Folder::local(dir.path()));
        let err = log.latest_version().unwrap_err();
        assert!(
            err.message.contains("no Delta table here"),
            "{}",
            err.message
        );
        write_commits(
            dir.path(),
            &[
                vec![PROTOCOL.into(), metadata("{}")],
                vec![add("a.parquet", 1)],
                vec![add("b.parquet", 2)],
            ],
        );
        let gap = dir.path().join(LOG_DIR).join(format!("{:020}.json", 1));
        std::fs::remove_file(&gap).unwrap();
        let err = log.state().unwrap_err();
        assert!(
            err.message.contains("version 1 is missing"),
            "{}",
            err.message
        );
        std::fs::remove_file(dir.path().join(LOG_DIR).join(format!("{:020}.json", 0))).unwrap();
        let err = log.state().unwrap_err();
        assert!(
            err.message.contains("no checkpoint covers them"),
            "{}",
            err.message
        );
    }

    #[test]
    fn an_incomplete_multi_part_checkpoint_is_passed_over() {
        let dir = tempfile::tempdir().unwrap();
        write_commits(
            dir.path(),
            &[
                vec![PROTOCOL.into(), metadata("{}"), add("a.parquet", 1)],
                vec![add("b.parquet", 2)],
            ],
        );
        // Part 1 of 2 only (a writer still at it): unusable, and never opened.
        let part = dir
            .path()
            .join(LOG_DIR)
            .join(format!("{:020}.checkpoint.{:010}.{:010}.parquet", 1, 1, 2));
        std::fs::write(part, b"not parquet").unwrap();
        let log = DeltaLog::new(Folder::local(dir.path()));
        assert_eq!(paths(&log.state().unwrap()), ["a.parquet", "b.parquet"]);
    }

    #[test]
    fn column_mapping_is_not_supported_yet() {
        let dir = tempfile::tempdir().unwrap();
        write_commits(
            dir.path(),
            &[vec![
                r#"{"protocol":{"minReaderVersion":2,"minWriterVersion":5}}"#.into(),
                metadata(r#"{"delta.columnMapping.mode":"name"}"#),
            ]],
        );
        let err = DeltaLog::new(Folder::local(dir.path()))
            .state()
            .unwrap_err();
        assert!(
            err.message.starts_with("not supported yet: column mapping"),
            "{}",
            err.message
        );
    }
}
