//! Shared test harness: [`postgres::TestPostgres`] starts a throwaway PostgreSQL cluster and
//! [`mariadb::TestMariaDb`] a throwaway MariaDB server; [`s3::TestS3`] an S3 protocol server
//! (moto);
//! [`oracle`] loads data into it and compares what dozerc computes with what PostgreSQL computes.
pub mod mariadb;
pub mod oracle;
pub mod postgres;
pub mod s3;

/// A port on 127.0.0.1 nothing listens on now (the servers the tests start bind it).
pub fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}
