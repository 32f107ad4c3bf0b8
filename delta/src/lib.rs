//! Delta Lake tables, read from their transaction log through a [`dozer_folder::Folder`] (a local
//! directory or a prefix of an S3-compatible store), so the compiler and the app agree on what a
//! table is: the compiler takes its schema from the newest version's `metaData`, the app reads the
//! data files of the version it starts at, then each new commit's added files as inserts and its
//! removed files as retractions of their rows.
//!
//! What is read here is the part of the Delta protocol that decides a table's rows: JSON commits,
//! classic and multi-part Parquet checkpoints, partition values, and the protocol's reader
//! version and features. A table asking for more (deletion vectors in use, column mapping, V2
//! checkpoints, type widening, a reader version above 3) is refused with "not supported yet",
//! never read wrong.
//!
//! Data files are immutable once committed, so a removed file read again gives exactly the rows
//! its add gave: that is what makes a remove's retraction exact, and why a file removed by a
//! commit must still be there when the commit is read (vacuum keeps removed files for 7 days by
//! default).

mod action;
mod checkpoint;
mod log;
mod partition;
mod schema;

pub use action::{Action, AddFile, Metadata, Protocol, RemoveFile};
pub use log::{Commit, DeltaLog, TableState, LOG_DIR};
pub use partition::partition_value;
pub use schema::{DeltaField, DeltaType};
