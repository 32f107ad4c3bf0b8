//! Shared test harness: [`postgres::TestPostgres`] starts a throwaway PostgreSQL cluster and
//! [`mariadb::TestMariaDb`] a throwaway MariaDB server; [`s3::TestS3`] an S3 protocol server
//! (moto);
//! [`oracle`] loads data into it and compares what dozerc computes with what PostgreSQL computes.
pub mod mariadb;
pub mod oracle;
pub mod postgres;
pub mod s3;
