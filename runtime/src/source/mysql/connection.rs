//! What a `!MySQL` connection and its tables are as an app uses them, and where a connection's
//! binlog stream stands.

use std::cmp::Ordering;

use dozer_types::SqlType;

use crate::codec::{Decode, DecodeError, Encode, Reader};
use crate::source::chunk::SourceError;
use crate::source::password::Password;

/// A `!MySQL` connection (MySQL or MariaDB) as an app uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MySqlConnection {
    /// The connection's name in the config.
    pub name: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Password,
    /// The database of the URL (tables are read from it unless a source names its own `schema`).
    pub database: String,
    /// The replica id the app registers with when it reads the binlog (`server_id`); unique
    /// among the server's replicas.
    pub server_id: u32,
}

impl MySqlConnection {
    pub fn password(&self) -> Result<String, SourceError> {
        self.password.resolve(&self.name)
    }

    /// `host:port`, for messages.
    pub fn target(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// A table a MySQL source reads.
#[derive(Clone, Debug)]
pub struct MySqlTable {
    pub connection: MySqlConnection,
    pub database: String,
    pub table: String,
    /// The source's columns, in the table's order, and their types.
    pub columns: Vec<String>,
    pub types: Vec<SqlType>,
    /// Per column: its index among the table's columns (the binlog's row images carry them all,
    /// in the table's order).
    pub positions: Vec<usize>,
    /// Per column: its width in bits when it is an integer column (8, 16, 24, 32, 64), else 0,
    /// and whether it is unsigned. The binlog writes integers without saying whether they are
    /// signed (unless `binlog_row_metadata=FULL`), so a value read from it may be the other
    /// one of the same bits.
    pub int_bits: Vec<u8>,
    pub unsigned: Vec<bool>,
    /// Column indices of the primary key (empty: the table has none).
    pub primary_key: Vec<usize>,
}

impl MySqlTable {
    /// `db.table`, quoted for SQL.
    pub fn qualified(&self) -> String {
        format!("{}.{}", quote(&self.database), quote(&self.table))
    }

    /// `db.table` for messages.
    pub fn display(&self) -> String {
        format!("{}.{}", self.database, self.table)
    }
}

/// An identifier, quoted for MySQL.
pub fn quote(ident: &str) -> String {
    format!("`{}`", ident.replace('`', "``"))
}

/// A place in the server's binlog: a file and a byte offset in it. The position stored with the
/// results is the end of the last applied transaction, where the next one starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinlogPosition {
    pub file: String,
    pub offset: u64,
}

impl BinlogPosition {
    /// Binlog files are `<base>.<sequence>`: ordered by their sequence number, then offset.
    pub fn cmp_order(&self, other: &BinlogPosition) -> Ordering {
        let seq = |f: &str| {
            f.rsplit_once('.')
                .and_then(|(_, n)| n.parse::<u64>().ok())
                .unwrap_or(0)
        };
        seq(&self.file)
            .cmp(&seq(&other.file))
            .then(self.offset.cmp(&other.offset))
    }
}

impl std::fmt::Display for BinlogPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.offset)
    }
}

impl Encode for BinlogPosition {
    fn encode(&self, out: &mut Vec<u8>) {
        1u64.encode(out); // layout version
        self.file.encode(out);
        self.offset.encode(out);
    }
}

impl Decode for BinlogPosition {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match u8::try_from(u64::decode(r)?) {
            Ok(1) => Ok(BinlogPosition {
                file: String::decode(r)?,
                offset: u64::decode(r)?,
            }),
            _ => Err(DecodeError("MySQL binlog position layout")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_order_by_file_sequence_then_offset() {
        let p = |f: &str, o| BinlogPosition {
            file: f.into(),
            offset: o,
        };
        assert_eq!(
            p("bin.000009", 900).cmp_order(&p("bin.000010", 4)),
            Ordering::Less
        );
        assert_eq!(
            p("bin.000010", 900).cmp_order(&p("bin.000010", 4)),
            Ordering::Greater
        );
        let mut bytes = vec![];
        p("mysql-bin.000002", 1777).encode(&mut bytes);
        assert_eq!(
            BinlogPosition::decode(&mut Reader::new(&bytes)).unwrap(),
            p("mysql-bin.000002", 1777)
        );
    }
}
