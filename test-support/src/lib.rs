//! Shared test harness. See [`postgres::TestPostgres`].
pub mod postgres;
