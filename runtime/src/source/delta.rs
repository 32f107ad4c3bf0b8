//! A `!DeltaLake` table as a [`Source`]: the table's data files at the version the app first
//! starts at, then every later commit — its added files' rows as inserts, its removed files' rows
//! as retractions — one commit at a time and never split, so a `DELETE` or `UPDATE` (a file
//! removed, its surviving rows added back in a new file) is never half visible.
//!
//! The position is the version applied and, while the first version's files are still being
//! read, the file and row reached among them (in the order they were written); the files of a
//! version are fixed by the log, so a restart reads on exactly where the last commit stopped.
//! A commit that only rearranges rows (`dataChange: false`: compaction, `OPTIMIZE`) changes no
//! row and is passed over. Rows are read in [`Source::apply`], inside the store's transaction and
//! a piece at a time, so a commit of any size is applied whole without being held in memory.

use std::ops::Range;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use dozer_delta::{Action, AddFile, Commit, DeltaLog, TableState};
use dozer_folder::{Folder, Object};
use dozer_types::{SqlType, Value};
use heed::RwTxn;

use super::chunk::{Chunk, RawRecord, SourceError};
use super::file_chunk::FilePosition;
use super::folder::folder_error;
use super::interface::{Sink, Source};
use super::parquet::{self, Absent, ParquetRead};
use crate::codec::{Decode, DecodeError, Encode, Reader};
use crate::error::OpError;
use crate::weight::Weight;

/// A Delta table as the generated code declares it.
#[derive(Clone, Debug)]
pub struct DeltaTable {
    /// The table's folder (the one holding `_delta_log/`).
    pub folder: Folder,
    /// The columns the app reads, in its order (partition columns among them).
    pub columns: Vec<String>,
    /// Their SQL types, as the app was built for them.
    pub types: Vec<SqlType>,
}

/// How many rows one read hands the pipeline at most.
const READ_ROWS: usize = 8192;

/// Where the source stands: `version` is applied, or — while `snapshot` is set — being read, up
/// to that file (in [`TableState::files_in_order`]) and row.
#[derive(Clone, Debug, PartialEq, Eq)]
struct DeltaPosition {
    version: u64,
    snapshot: Option<(u64, u64)>,
}

impl Encode for DeltaPosition {
    fn encode(&self, out: &mut Vec<u8>) {
        self.version.encode(out);
        self.snapshot.is_some().encode(out);
        if let Some((file, row)) = self.snapshot {
            file.encode(out);
            row.encode(out);
        }
    }
}

impl Decode for DeltaPosition {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = u64::decode(r)?;
        let snapshot = match bool::decode(r)? {
            true => Some((u64::decode(r)?, u64::decode(r)?)),
            false => None,
        };
        Ok(DeltaPosition { version, snapshot })
    }
}

/// Rows `rows` of a data file, with the weight they go to the pipeline with.
#[derive(Clone, Debug)]
struct Piece {
    file: AddFile,
    rows: Range<u64>,
    weight: Weight,
    /// Each app column's partition value (`None`: read from the file), from the table's
    /// metadata when the file was added.
    template: Vec<Option<Value>>,
}

struct Batch {
    pieces: Vec<Piece>,
    end: DeltaPosition,
    /// The table after the batch's commits (none when it read the first version's files).
    state: Option<TableState>,
}

pub struct DeltaSource {
    source: usize,
    name: String,
    table: DeltaTable,
    log: DeltaLog,
    /// The table at `at.version`.
    state: TableState,
    /// The committed position.
    at: DeltaPosition,
    ready: Option<Batch>,
}

impl DeltaSource {
    /// The table, from the position it last committed (`None`: from its newest version).
    pub fn open(
        source: usize,
        name: &str,
        table: DeltaTable,
        committed: Option<&[u8]>,
    ) -> Result<DeltaSource, SourceError> {
        let log = DeltaLog::new(table.folder.clone());
        let at = match committed {
            Some(bytes) => {
                DeltaPosition::decode(&mut Reader::new(bytes)).map_err(|e| SourceError {
                    file: None,
                    line: None,
                    message: format!(
                        "the stored position of Delta table `{name}` is unreadable: {e}"
                    ),
                })?
            }
            None => DeltaPosition {
                version: log.latest_version().map_err(folder_error)?,
                snapshot: Some((0, 0)),
            },
        };
        let state = log.state_at(at.version).map_err(folder_error)?;
        let source = DeltaSource {
            source,
            name: name.to_string(),
            table,
            log,
            state,
            at,
            ready: None,
        };
        source.check_columns(&source.state)?;
        Ok(source)
    }

    fn error(&self, version: u64, message: String) -> SourceError {
        SourceError {
            file: Some(
                self.table
                    .folder
                    .location(&format!("{}/{version:020}.json", dozer_delta::LOG_DIR)),
            ),
            line: None,
            message,
        }
    }

    /// The app's columns are still the table's, with the types the app was built for.
    fn check_columns(&self, state: &TableState) -> Result<(), SourceError> {
        for (name, ty) in self.table.columns.iter().zip(&self.table.types) {
            let field = state.metadata.schema.iter().find(|f| &f.name == name);
            let Some(field) = field else {
                return Err(self.error(
                    state.version,
                    format!(
                        "the Delta table no longer has column `{name}` (its schema changed at version {}); build the app again with `dozerc build` and start it with a new store",
                        state.version
                    ),
                ));
            };
            match field.data_type.sql_type() {
                None => {
                    return Err(self.error(
                        state.version,
                        format!(
                            "not supported yet: column `{name}` of type {}",
                            field.data_type.describe()
                        ),
                    ))
                }
                Some(now) if now != *ty => {
                    return Err(self.error(
                        state.version,
                        format!(
                            "column `{name}` of the Delta table is now of type {} ({now}; the app was built for {ty}) since version {}; build the app again with `dozerc build` and start it with a new store",
                            field.data_type.describe(),
                            state.version
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    fn check_file(&self, version: u64, file: &AddFile) -> Result<(), SourceError> {
        if file.deletion_vector {
            return Err(self.error(
                version,
                format!(
                    "not supported yet: deletion vectors (data file `{}` has one); disable them with `ALTER TABLE … SET TBLPROPERTIES ('delta.enableDeletionVectors' = false)` and purge them (`REORG TABLE … APPLY (PURGE)`)",
                    file.path
                ),
            ));
        }
        Ok(())
    }

    /// A file's row count: its statistics', else its footer's.
    fn rows_of(&self, file: &AddFile) -> Result<u64, SourceError> {
        if let Some(n) = file.num_records {
            return Ok(n);
        }
        parquet::row_count(&self.table.folder, &object(file))
    }

    /// The next pieces of the first version's files, about `max_records` rows.
    fn plan_snapshot(
        &self,
        (file, row): (u64, u64),
        max_records: usize,
    ) -> Result<Batch, SourceError> {
        let files = self.state.files_in_order();
        let (mut file, mut row) = (file as usize, row);
        let mut pieces = vec![];
        let mut rows = 0u64;
        while file < files.len() && rows < max_records as u64 {
            let f = files[file];
            self.check_file(self.state.version, f)?;
            let total = self.rows_of(f)?;
            let take = (total.saturating_sub(row)).min(max_records as u64 - rows);
            if take > 0 {
                pieces.push(Piece {
                    file: f.clone(),
                    rows: row..row + take,
                    weight: 1,
                    template: self.template(&self.state, f)?,
                });
                rows += take;
                row += take;
            }
            if row >= total {
                (file, row) = (file + 1, 0);
            }
        }
        let snapshot = (file < files.len()).then_some((file as u64, row));
        Ok(Batch {
            pieces,
            end: DeltaPosition {
                version: self.state.version,
                snapshot,
            },
            state: None,
        })
    }

    /// The commits after the applied version that are there, whole, about `max_records` rows
    /// (at least one commit); `None` when there is no new commit.
    fn plan_commits(&self, max_records: usize) -> Result<Option<Batch>, SourceError> {
        // Most polls find no new commit: one request, and the table's state is not copied.
        let next = |version: u64| self.log.commit(version + 1).map_err(folder_error);
        let Some(mut commit) = next(self.state.version)? else {
            return Ok(None);
        };
        let mut state = self.state.clone();
        let mut pieces = vec![];
        let mut rows = 0u64;
        loop {
            // Removed files are looked up in the table before the commit, added ones take the
            // partition columns of the table after it.
            rows += self.removed_pieces(&state, &commit, &mut pieces)?;
            state
                .apply(&commit)
                .map_err(|e| self.error(commit.version, e))?;
            self.check_columns(&state)?;
            rows += self.added_pieces(&state, &commit, &mut pieces)?;
            if rows >= max_records as u64 {
                break;
            }
            match next(state.version)? {
                Some(c) => commit = c,
                None => break,
            }
        }
        Ok(Some(Batch {
            pieces,
            end: DeltaPosition {
                version: state.version,
                snapshot: None,
            },
            state: Some(state),
        }))
    }

    /// The retractions of the files `commit` removes from the table `before` it; the rows they
    /// hold (as far as statistics say).
    fn removed_pieces(
        &self,
        before: &TableState,
        commit: &Commit,
        pieces: &mut Vec<Piece>,
    ) -> Result<u64, SourceError> {
        let mut rows = 0;
        for action in &commit.actions {
            let Action::Remove(remove) = action else {
                continue;
            };
            if !remove.data_change {
                continue;
            }
            let Some(file) = before.files.get(&remove.path) else {
                return Err(self.error(
                    commit.version,
                    format!(
                        "the commit removes data file `{}`, which the table did not hold",
                        remove.path
                    ),
                ));
            };
            if remove.deletion_vector {
                let with_vector = AddFile {
                    deletion_vector: true,
                    ..file.clone()
                };
                self.check_file(commit.version, &with_vector)?;
            }
            rows += file.num_records.unwrap_or(1);
            pieces.push(Piece {
                file: file.clone(),
                rows: 0..u64::MAX,
                weight: -1,
                template: self.template(before, file)?,
            });
        }
        Ok(rows)
    }

    /// The inserts of the files `commit` adds, in the table `after` it; the rows they hold.
    fn added_pieces(
        &self,
        after: &TableState,
        commit: &Commit,
        pieces: &mut Vec<Piece>,
    ) -> Result<u64, SourceError> {
        let mut rows = 0;
        for action in &commit.actions {
            let Action::Add(add) = action else {
                continue;
            };
            if !add.data_change {
                continue;
            }
            self.check_file(commit.version, add)?;
            rows += add.num_records.unwrap_or(1);
            pieces.push(Piece {
                file: add.clone(),
                rows: 0..u64::MAX,
                weight: 1,
                template: self.template(after, add)?,
            });
        }
        Ok(rows)
    }

    /// Reads `piece` a few thousand rows at a time into `sink`; the rows read.
    fn read_piece<E: From<SourceError> + From<OpError>>(
        &self,
        txn: &mut RwTxn,
        piece: &Piece,
        sink: &mut Sink<'_, E>,
    ) -> Result<u64, E> {
        let object = object(&piece.file);
        let file_columns: Vec<String> = self
            .table
            .columns
            .iter()
            .zip(piece.template.iter())
            .filter(|(_, fixed)| fixed.is_none())
            .map(|(c, _)| c.clone())
            .collect();
        let origin: Arc<str> = Arc::from(
            self.table
                .folder
                .location(&piece.file.path)
                .display()
                .to_string(),
        );
        let mut at = FilePosition {
            file: piece.file.path.clone(),
            offset: piece.rows.start,
            line: piece.rows.start + 1,
            open_line: false,
        };
        let mut total = 0;
        while at.offset < piece.rows.end {
            let want = (piece.rows.end - at.offset).min(READ_ROWS as u64) as usize;
            let read = parquet::read(
                &self.table.folder,
                &object,
                (&file_columns, Absent::Null),
                &at,
                want,
                true,
            )?;
            let ParquetRead::Rows(chunk) = read else {
                // Only a file still being written is `Unfinished`, and a committed one is not.
                return Err(SourceError {
                    file: Some(self.table.folder.location(&piece.file.path)),
                    line: None,
                    message: "the committed data file is unreadable".into(),
                }
                .into());
            };
            if chunk.records.is_empty() {
                break; // the file's end
            }
            let records: Vec<(u64, RawRecord)> = chunk
                .records
                .into_iter()
                .map(|(line, record)| (line, with_partition_values(record, &piece.template)))
                .collect();
            let n = records.len();
            let weights = match piece.weight {
                1 => vec![],
                w => vec![w; n],
            };
            sink(
                txn,
                self.source,
                &Chunk {
                    origin: origin.clone(),
                    records,
                    weights,
                },
            )?;
            total += n as u64;
            at = chunk.end;
        }
        Ok(total)
    }

    /// Each app column's partition value for the rows of `file` (`None`: read from the file).
    fn template(
        &self,
        state: &TableState,
        file: &AddFile,
    ) -> Result<Vec<Option<Value>>, SourceError> {
        let partitioned = state.partition_columns();
        self.table
            .columns
            .iter()
            .map(|name| {
                if !partitioned.contains(name.as_str()) {
                    return Ok(None);
                }
                let ty = &state
                    .metadata
                    .schema
                    .iter()
                    .find(|f| &f.name == name)
                    .expect("columns are checked against the schema")
                    .data_type;
                let raw = file.partition_values.get(name).cloned().flatten();
                dozer_delta::partition_value(ty, raw.as_deref())
                    .map(Some)
                    .map_err(|e| SourceError {
                        file: Some(self.table.folder.location(&file.path)),
                        line: None,
                        message: format!("partition column `{name}`: {e}"),
                    })
            })
            .collect()
    }
}

/// A data file as its folder's object (the log gives its size; no request is needed).
fn object(file: &AddFile) -> Object {
    Object {
        name: file.path.clone(),
        size: file.size,
        modified: UNIX_EPOCH
            + std::time::Duration::from_millis(file.modification_time.max(0) as u64),
        id: String::new(),
    }
}

/// A row read from a file, with the partition columns' values put in their places.
fn with_partition_values(record: RawRecord, template: &[Option<Value>]) -> RawRecord {
    if template.iter().all(Option::is_none) {
        return record;
    }
    let RawRecord::Values(read) = record else {
        return record;
    };
    let mut read = read.into_iter();
    RawRecord::Values(
        template
            .iter()
            .map(|fixed| match fixed {
                Some(v) => v.clone(),
                None => read.next().unwrap_or(Value::Null),
            })
            .collect(),
    )
}

impl<E: From<SourceError> + From<OpError>> Source<E> for DeltaSource {
    fn position_key(&self) -> &str {
        &self.name
    }

    fn next_batch(&mut self, max_records: usize) -> Result<bool, SourceError> {
        if self.ready.is_none() {
            let max = max_records.max(1);
            self.ready = match self.at.snapshot {
                Some(at) => Some(self.plan_snapshot(at, max)?),
                None => self.plan_commits(max)?,
            };
        }
        Ok(self.ready.is_some())
    }

    fn batch_position(&self) -> Vec<u8> {
        let mut out = vec![];
        self.ready
            .as_ref()
            .map_or(&self.at, |b| &b.end)
            .encode(&mut out);
        out
    }

    fn apply(&self, txn: &mut RwTxn, sink: &mut Sink<'_, E>) -> Result<u64, E> {
        let Some(batch) = &self.ready else {
            return Ok(0);
        };
        let mut records = 0;
        for piece in &batch.pieces {
            records += self.read_piece(txn, piece, sink)?;
        }
        Ok(records)
    }

    fn acknowledge(&mut self) {
        if let Some(batch) = self.ready.take() {
            self.at = batch.end;
            if let Some(state) = batch.state {
                self.state = state;
            }
        }
    }

    fn describe(&self, committed: Option<&[u8]>) -> Result<Vec<(usize, String)>, SourceError> {
        let what = match committed.map(|b| DeltaPosition::decode(&mut Reader::new(b))) {
            None => "nothing read yet".to_string(),
            Some(Err(e)) => format!("unreadable position: {e}"),
            Some(Ok(DeltaPosition {
                version,
                snapshot: None,
            })) => format!("{}: version {version}", self.table.folder.describe()),
            Some(Ok(DeltaPosition {
                version,
                snapshot: Some((file, row)),
            })) => format!(
                "{}: reading version {version}, file {} of {}, row {row}",
                self.table.folder.describe(),
                file + 1,
                self.state.files.len()
            ),
        };
        Ok(vec![(self.source, what)])
    }
}
