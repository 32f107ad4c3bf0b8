//! What a `!Postgres` connection and its tables are as an app uses them, and where a
//! connection's replication stands.

use dozer_pg_tls::PgTls;
use dozer_types::SqlType;

use crate::codec::{Decode, DecodeError, Encode, Reader};
use crate::source::chunk::SourceError;
pub use crate::source::password::Password;

/// A `!Postgres` connection as an app uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgConnection {
    /// The connection's name in the config.
    pub name: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Password,
    pub database: String,
    /// The app's replication slot and publication on this server.
    pub slot: String,
    pub publication: String,
    /// `sslmode` and `sslrootcert` (resolved against the app's base directory).
    pub tls: PgTls,
}

impl PgConnection {
    pub fn password(&self) -> Result<String, SourceError> {
        self.password.resolve(&self.name)
    }
}

/// A PostgreSQL table a source reads.
#[derive(Clone, Debug)]
pub struct PgTable {
    pub connection: PgConnection,
    pub schema: String,
    pub table: String,
    /// The source's columns, in order, and their types.
    pub columns: Vec<String>,
    pub types: Vec<SqlType>,
    /// Column indices of the primary key (empty: the table has none).
    pub primary_key: Vec<usize>,
}

impl PgTable {
    /// `schema.table`, quoted for SQL.
    pub fn qualified(&self) -> String {
        format!("{}.{}", quote(&self.schema), quote(&self.table))
    }

    /// `schema.table` for messages.
    pub fn display(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }
}

/// An SQL identifier, quoted.
pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Where a connection's replication stands in the store: the end LSN of the last applied
/// transaction (or the snapshot's consistent point). No position: no snapshot applied yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PgPosition {
    pub lsn: u64,
}

impl Encode for PgPosition {
    fn encode(&self, out: &mut Vec<u8>) {
        1u64.encode(out); // layout version
        self.lsn.encode(out);
    }
}

impl Decode for PgPosition {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match u8::try_from(u64::decode(r)?) {
            Ok(1) => Ok(PgPosition {
                lsn: u64::decode(r)?,
            }),
            _ => Err(DecodeError("PostgreSQL position layout")),
        }
    }
}

/// `0/16B3748`, as PostgreSQL writes LSNs.
pub fn lsn_text(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)
}
