//! The messages of PostgreSQL's `pgoutput` logical decoding plugin (protocol version 1), as the
//! replication stream carries them inside XLogData: relations (a table's columns), row changes and
//! truncates. Transaction boundaries (Begin/Commit) arrive as their own events from the
//! replication client; everything else is decoded here.
//!
//! Values come in text form (the plugin's default), one per column, each `NULL`, "unchanged TOAST
//! value" (an update that did not touch a large column: the old value stands) or text.

use std::fmt;

/// A column as a Relation message describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelationColumn {
    pub name: String,
    pub type_oid: u32,
    pub type_modifier: i32,
    /// Part of the replica identity (the key old rows are identified by).
    pub key: bool,
}

/// `REPLICA IDENTITY` of a table: what old-row data updates and deletes carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicaIdentity {
    /// The primary key.
    Default,
    /// Nothing: updates and deletes cannot be published.
    Nothing,
    /// The whole old row.
    Full,
    /// A unique index's columns.
    Index,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relation {
    pub id: u32,
    pub namespace: String,
    pub name: String,
    pub identity: ReplicaIdentity,
    pub columns: Vec<RelationColumn>,
}

/// One column's value in a tuple.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Datum {
    Null,
    /// An unchanged TOASTed value (updates only): the old row's value stands.
    Unchanged,
    Text(String),
}

pub type Tuple = Vec<Datum>;

/// The old row an update or delete carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OldRow {
    /// Only the replica identity's columns (the others are NULL).
    Key(Tuple),
    /// The whole row (`REPLICA IDENTITY FULL`).
    Full(Tuple),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Relation(Relation),
    Insert {
        relation: u32,
        new: Tuple,
    },
    Update {
        relation: u32,
        /// Absent when the identity did not change and is not FULL.
        old: Option<OldRow>,
        new: Tuple,
    },
    Delete {
        relation: u32,
        old: OldRow,
    },
    Truncate {
        relations: Vec<u32>,
    },
    /// Messages that change nothing the pipeline reads (types, origins, logical messages, and
    /// transaction boundaries when they come through here).
    Other(u8),
}

/// A message that does not decode: the server speaks another protocol version, or the stream is
/// damaged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "undecodable pgoutput message: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < n {
            return Err(DecodeError(format!("it ends inside {what}")));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u8(&mut self, what: &str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }

    fn i16(&mut self, what: &str) -> Result<i16, DecodeError> {
        let b = self.take(2, what)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self, what: &str) -> Result<i32, DecodeError> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, DecodeError> {
        Ok(self.i32(what)? as u32)
    }

    /// A NUL-terminated string.
    fn string(&mut self, what: &str) -> Result<String, DecodeError> {
        let end = self
            .bytes
            .iter()
            .position(|b| *b == 0)
            .ok_or_else(|| DecodeError(format!("{what} has no terminating NUL")))?;
        let s = String::from_utf8(self.bytes[..end].to_vec())
            .map_err(|_| DecodeError(format!("{what} is not UTF-8")))?;
        self.bytes = &self.bytes[end + 1..];
        Ok(s)
    }

    fn tuple(&mut self) -> Result<Tuple, DecodeError> {
        let n = self.i16("a tuple's column count")?;
        let n = usize::try_from(n).map_err(|_| DecodeError("negative column count".into()))?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(match self.u8("a column's kind")? {
                b'n' => Datum::Null,
                b'u' => Datum::Unchanged,
                b't' => {
                    let len = usize::try_from(self.i32("a value's length")?)
                        .map_err(|_| DecodeError("negative value length".into()))?;
                    let bytes = self.take(len, "a value")?;
                    Datum::Text(
                        String::from_utf8(bytes.to_vec())
                            .map_err(|_| DecodeError("a text value is not UTF-8".into()))?,
                    )
                }
                b'b' => {
                    return Err(DecodeError(
                        "a binary value (the stream must use text values)".into(),
                    ))
                }
                k => return Err(DecodeError(format!("unknown column kind {:?}", k as char))),
            });
        }
        Ok(out)
    }
}

/// Decodes one pgoutput message.
pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
    let mut c = Cursor { bytes };
    let tag = c.u8("the message tag")?;
    Ok(match tag {
        b'R' => {
            let id = c.u32("the relation id")?;
            let namespace = c.string("the namespace")?;
            let name = c.string("the relation name")?;
            let identity = match c.u8("the replica identity")? {
                b'd' => ReplicaIdentity::Default,
                b'n' => ReplicaIdentity::Nothing,
                b'f' => ReplicaIdentity::Full,
                b'i' => ReplicaIdentity::Index,
                k => {
                    return Err(DecodeError(format!(
                        "unknown replica identity {:?}",
                        k as char
                    )))
                }
            };
            let n = c.i16("the column count")?;
            let mut columns = vec![];
            for _ in 0..n.max(0) {
                let flags = c.u8("a column's flags")?;
                columns.push(RelationColumn {
                    name: c.string("a column name")?,
                    type_oid: c.u32("a column type")?,
                    type_modifier: c.i32("a column type modifier")?,
                    key: flags & 1 == 1,
                });
            }
            Message::Relation(Relation {
                id,
                namespace,
                name,
                identity,
                columns,
            })
        }
        b'I' => {
            let relation = c.u32("the relation id")?;
            match c.u8("the new tuple marker")? {
                b'N' => {}
                k => {
                    return Err(DecodeError(format!(
                        "insert without a new tuple ({:?})",
                        k as char
                    )))
                }
            }
            Message::Insert {
                relation,
                new: c.tuple()?,
            }
        }
        b'U' => {
            let relation = c.u32("the relation id")?;
            let mut old = None;
            let new = loop {
                match c.u8("an update's tuple marker")? {
                    b'K' => old = Some(OldRow::Key(c.tuple()?)),
                    b'O' => old = Some(OldRow::Full(c.tuple()?)),
                    b'N' => break c.tuple()?,
                    k => {
                        return Err(DecodeError(format!(
                            "unknown update tuple marker {:?}",
                            k as char
                        )))
                    }
                }
            };
            Message::Update { relation, old, new }
        }
        b'D' => {
            let relation = c.u32("the relation id")?;
            let old = match c.u8("a delete's tuple marker")? {
                b'K' => OldRow::Key(c.tuple()?),
                b'O' => OldRow::Full(c.tuple()?),
                k => {
                    return Err(DecodeError(format!(
                        "unknown delete tuple marker {:?}",
                        k as char
                    )))
                }
            };
            Message::Delete { relation, old }
        }
        b'T' => {
            let n = c.i32("the relation count")?;
            let _options = c.u8("the truncate options")?;
            let mut relations = vec![];
            for _ in 0..n.max(0) {
                relations.push(c.u32("a relation id")?);
            }
            Message::Truncate { relations }
        }
        other => Message::Other(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds messages the way the server writes them.
    #[derive(Default)]
    struct Wire(Vec<u8>);

    impl Wire {
        fn u8(mut self, b: u8) -> Self {
            self.0.push(b);
            self
        }
        fn i16(mut self, v: i16) -> Self {
            self.0.extend(v.to_be_bytes());
            self
        }
        fn i32(mut self, v: i32) -> Self {
            self.0.extend(v.to_be_bytes());
            self
        }
        fn string(mut self, s: &str) -> Self {
            self.0.extend(s.as_bytes());
            self.0.push(0);
            self
        }
        fn text(self, s: &str) -> Self {
            let mut w = self.u8(b't').i32(s.len() as i32);
            w.0.extend(s.as_bytes());
            w
        }
    }

    #[test]
    fn relations_and_changes_decode() {
        let relation = Wire::default()
            .u8(b'R')
            .i32(16385)
            .string("public")
            .string("orders")
            .u8(b'd')
            .i16(2)
            .u8(1)
            .string("id")
            .i32(20)
            .i32(-1)
            .u8(0)
            .string("note")
            .i32(25)
            .i32(-1);
        assert_eq!(
            decode(&relation.0).unwrap(),
            Message::Relation(Relation {
                id: 16385,
                namespace: "public".into(),
                name: "orders".into(),
                identity: ReplicaIdentity::Default,
                columns: vec![
                    RelationColumn {
                        name: "id".into(),
                        type_oid: 20,
                        type_modifier: -1,
                        key: true
                    },
                    RelationColumn {
                        name: "note".into(),
                        type_oid: 25,
                        type_modifier: -1,
                        key: false
                    },
                ],
            })
        );
        let insert = Wire::default()
            .u8(b'I')
            .i32(16385)
            .u8(b'N')
            .i16(2)
            .text("7")
            .u8(b'n');
        assert_eq!(
            decode(&insert.0).unwrap(),
            Message::Insert {
                relation: 16385,
                new: vec![Datum::Text("7".into()), Datum::Null]
            }
        );
        let update = Wire::default()
            .u8(b'U')
            .i32(16385)
            .u8(b'K')
            .i16(2)
            .text("7")
            .u8(b'n')
            .u8(b'N')
            .i16(2)
            .text("8")
            .u8(b'u');
        assert_eq!(
            decode(&update.0).unwrap(),
            Message::Update {
                relation: 16385,
                old: Some(OldRow::Key(vec![Datum::Text("7".into()), Datum::Null])),
                new: vec![Datum::Text("8".into()), Datum::Unchanged]
            }
        );
        let plain_update = Wire::default().u8(b'U').i32(1).u8(b'N').i16(1).text("x");
        assert!(matches!(
            decode(&plain_update.0).unwrap(),
            Message::Update { old: None, .. }
        ));
        let delete = Wire::default()
            .u8(b'D')
            .i32(16385)
            .u8(b'O')
            .i16(1)
            .text("7");
        assert_eq!(
            decode(&delete.0).unwrap(),
            Message::Delete {
                relation: 16385,
                old: OldRow::Full(vec![Datum::Text("7".into())])
            }
        );
        let truncate = Wire::default().u8(b'T').i32(2).u8(0).i32(1).i32(2);
        assert_eq!(
            decode(&truncate.0).unwrap(),
            Message::Truncate {
                relations: vec![1, 2]
            }
        );
        assert_eq!(decode(b"Yxyz").unwrap(), Message::Other(b'Y'));
    }

    #[test]
    fn damaged_messages_are_errors_not_panics() {
        let insert = Wire::default()
            .u8(b'I')
            .i32(1)
            .u8(b'N')
            .i16(1)
            .text("12345");
        for cut in 0..insert.0.len() {
            assert!(decode(&insert.0[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode(
            &Wire::default()
                .u8(b'I')
                .i32(1)
                .u8(b'N')
                .i16(1)
                .u8(b'b')
                .i32(1)
                .u8(0)
                .0
        )
        .is_err());
        assert!(decode(&Wire::default().u8(b'R').i32(1).string("a").0).is_err());
    }
}
