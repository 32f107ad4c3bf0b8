//! The compiler's integration tests, as one test binary (one link instead of one per file): the
//! `dozerc` binary end to end, and the catalog against real files and a real PostgreSQL.

mod cli;
mod file_catalog;
mod postgres_catalog;
