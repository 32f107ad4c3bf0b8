//! Shared test harness: [`postgres::TestPostgres`] starts a throwaway PostgreSQL cluster;
//! [`oracle`] loads data into it and compares what dozerc computes with what PostgreSQL computes.
pub mod oracle;
pub mod postgres;
