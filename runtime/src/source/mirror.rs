//! The rows of each replicated source table (PostgreSQL, MySQL) as the pipeline last saw them,
//! in the app's store.
//!
//! A replication stream does not always say what a row was before it changed: PostgreSQL's
//! update of a keyed table carries only the new row (and the old key when the key changed), a
//! delete only the key, a TRUNCATE nothing, and an update leaves unchanged large (TOASTed) values
//! out. MySQL's binlog carries whole old rows, but decoded from a different encoding than the
//! snapshot's. The pipeline needs the old rows exactly as it saw them to retract them, so every
//! table's rows are kept here, updated in the same transaction as everything else: by primary
//! key, or, for a table without one (whose changes must carry whole old rows), as a multiset of
//! rows.

use heed::types::Bytes;
use heed::{Database, Env, RwTxn, WithoutTls};
use xxhash_rust::xxh3::xxh3_128;

use crate::codec::{Decode, Encode, Reader};
use crate::error::OpError;
use crate::lmdb_key::{bounded, MAX_KEY};
use crate::ops::counted;
use crate::weight::Weight;
use dozer_types::{keycode, SqlType, Value};

/// A table's rows.
#[derive(Clone, Copy)]
pub struct Mirror {
    rows: Database<Bytes, Bytes>,
}

/// A change of one row, with each column in the source's column order (`None`: the stream did
/// not carry the column — a key-only old row's other columns, or an unchanged TOAST value).
#[derive(Clone, Debug, PartialEq)]
pub enum RowChange {
    Insert(Vec<Option<Value>>),
    Update {
        old: Option<OldValues>,
        new: Vec<Option<Value>>,
    },
    Delete(OldValues),
    Truncate,
}

#[derive(Clone, Debug, PartialEq)]
pub enum OldValues {
    Key(Vec<Option<Value>>),
    Full(Vec<Option<Value>>),
}

/// What the mirror needs to know of a table.
pub struct Shape<'a> {
    pub name: &'a str,
    pub types: &'a [SqlType],
    /// Column indices of the primary key (empty: none).
    pub primary_key: &'a [usize],
}

impl Mirror {
    /// Opens (or creates) the mirror kept in the store's database `database`.
    pub fn open(
        env: &Env<WithoutTls>,
        txn: &mut RwTxn,
        database: &str,
    ) -> Result<Mirror, heed::Error> {
        Ok(Mirror {
            rows: env.create_database(txn, Some(database))?,
        })
    }

    fn key(shape: &Shape<'_>, row: &[Value]) -> Vec<u8> {
        let mut key = vec![];
        for &i in shape.primary_key {
            keycode::encode_value(&mut key, &row[i]);
        }
        key
    }

    fn encode(row: &[Value]) -> Vec<u8> {
        let mut out = vec![];
        (row.len() as u64).encode(&mut out);
        for v in row {
            v.encode(&mut out);
        }
        out
    }

    fn decode(bytes: &[u8]) -> Result<Vec<Value>, OpError> {
        let mut r = Reader::new(bytes);
        let n = u64::decode(&mut r)?;
        (0..n).map(|_| Ok(Value::decode(&mut r)?)).collect()
    }

    /// The stored row of a primary key (`key` is its `keycode` form).
    fn get(&self, txn: &RwTxn, key: &[u8]) -> Result<Option<Vec<Value>>, OpError> {
        let Some(bytes) = self.rows.get(txn, &bounded(key, MAX_KEY))? else {
            return Ok(None);
        };
        let mut r = Reader::new(bytes);
        let stored_key = Vec::<u8>::decode(&mut r)?;
        if stored_key != key {
            return Err(OpError::Inconsistent(
                "128-bit hash collision between two primary keys".into(),
            ));
        }
        let row = Vec::<u8>::decode(&mut r)?;
        Ok(Some(Self::decode(&row)?))
    }

    fn put(&self, txn: &mut RwTxn, key: &[u8], row: &[Value]) -> Result<(), OpError> {
        let mut bytes = vec![];
        key.encode(&mut bytes);
        Self::encode(row).encode(&mut bytes);
        self.rows.put(txn, &bounded(key, MAX_KEY), &bytes)?;
        Ok(())
    }

    fn remove(&self, txn: &mut RwTxn, key: &[u8]) -> Result<(), OpError> {
        self.rows.delete(txn, &bounded(key, MAX_KEY))?;
        Ok(())
    }

    /// Adds `w` copies of a row of a table without a primary key.
    fn count(
        &self,
        txn: &mut RwTxn,
        shape: &Shape<'_>,
        row: &[Value],
        w: Weight,
    ) -> Result<(), OpError> {
        let payload = Self::encode(row);
        let key = xxh3_128(&payload).to_be_bytes();
        counted::add(
            &self.rows,
            txn,
            &key,
            &payload,
            w,
            &format!("rows of `{}`", shape.name),
        )?;
        Ok(())
    }

    /// Applies one change: the mirror follows it, and the weighted whole rows it means for the
    /// pipeline come out (an update is the old row retracted and the new one inserted).
    pub fn apply(
        &self,
        txn: &mut RwTxn,
        shape: &Shape<'_>,
        change: RowChange,
        out: &mut Vec<(Vec<Value>, Weight)>,
    ) -> Result<(), OpError> {
        let keyed = !shape.primary_key.is_empty();
        let missing = |what: &str| {
            OpError::Inconsistent(format!(
                "a change of `{}` names a row that was never seen ({what}); the store and the replication slot disagree — delete the store to read the table again",
                shape.name
            ))
        };
        match change {
            RowChange::Insert(new) => {
                let new = whole(new, None, shape)?;
                if keyed {
                    let key = Self::key(shape, &new);
                    if let Some(old) = self.get(txn, &key)? {
                        // Only possible if the store and the stream overlap; keep the newest.
                        out.push((old, -1));
                    }
                    self.put(txn, &key, &new)?;
                } else {
                    self.count(txn, shape, &new, 1)?;
                }
                out.push((new, 1));
            }
            RowChange::Update { old, new } => {
                if keyed {
                    let old_key = match &old {
                        Some(OldValues::Key(k) | OldValues::Full(k)) => key_of(shape, k)?,
                        None => key_of(shape, &new)?,
                    };
                    let old_row = self
                        .get(txn, &old_key)?
                        .ok_or_else(|| missing("an update"))?;
                    let new = whole(new, Some(&old_row), shape)?;
                    self.remove(txn, &old_key)?;
                    self.put(txn, &Self::key(shape, &new), &new)?;
                    out.push((old_row, -1));
                    out.push((new, 1));
                } else {
                    let Some(OldValues::Full(old)) = old else {
                        return Err(needs_full(shape));
                    };
                    let old = whole(old, None, shape)?;
                    let new = whole(new, Some(&old), shape)?;
                    self.count(txn, shape, &old, -1)?;
                    self.count(txn, shape, &new, 1)?;
                    out.push((old, -1));
                    out.push((new, 1));
                }
            }
            RowChange::Delete(old) => {
                if keyed {
                    let (OldValues::Key(k) | OldValues::Full(k)) = &old;
                    let key = key_of(shape, k)?;
                    let row = self.get(txn, &key)?.ok_or_else(|| missing("a delete"))?;
                    self.remove(txn, &key)?;
                    out.push((row, -1));
                } else {
                    let OldValues::Full(old) = old else {
                        return Err(needs_full(shape));
                    };
                    let old = whole(old, None, shape)?;
                    self.count(txn, shape, &old, -1)?;
                    out.push((old, -1));
                }
            }
            RowChange::Truncate => {
                let mut all = vec![];
                for entry in self.rows.iter(txn)? {
                    let (_, bytes) = entry?;
                    let mut r = Reader::new(bytes);
                    if keyed {
                        let _key = Vec::<u8>::decode(&mut r)?;
                        all.push((Self::decode(&Vec::<u8>::decode(&mut r)?)?, 1));
                    } else {
                        let (count, payload) = counted::decode(bytes)?;
                        all.push((Self::decode(&payload)?, count));
                    }
                }
                self.rows.clear(txn)?;
                out.extend(all.into_iter().map(|(row, count)| (row, -count)));
            }
        }
        Ok(())
    }
}

/// Whole rows with their weights, in the order the pipeline is to see them.
pub type WeightedRows = Vec<(Vec<Value>, Weight)>;

/// Applies the changes of whole transactions, in commit order, to the mirrors of a connection's
/// tables (`mirrors[i]` with `shapes[i]`), and returns each table's weighted rows for the
/// pipeline, in the same order.
pub fn apply_changes<'c>(
    txn: &mut RwTxn,
    mirrors: &[Mirror],
    shapes: &[Shape<'_>],
    changes: impl IntoIterator<Item = &'c (usize, RowChange)>,
) -> Result<Vec<WeightedRows>, OpError> {
    let mut per_table: Vec<WeightedRows> = vec![vec![]; mirrors.len()];
    for (table, change) in changes {
        mirrors[*table].apply(txn, &shapes[*table], change.clone(), &mut per_table[*table])?;
    }
    Ok(per_table)
}

fn needs_full(shape: &Shape<'_>) -> OpError {
    OpError::Inconsistent(format!(
        "`{}` has no primary key, so its updates and deletes must carry whole old rows: on PostgreSQL run `ALTER TABLE {} REPLICA IDENTITY FULL;`, on MySQL set `binlog_row_image=FULL`",
        shape.name, shape.name
    ))
}

/// The primary key of a row whose key columns the stream carried.
fn key_of(shape: &Shape<'_>, row: &[Option<Value>]) -> Result<Vec<u8>, OpError> {
    let mut key = vec![];
    for &i in shape.primary_key {
        let v = row.get(i).and_then(Option::as_ref).ok_or_else(|| {
            OpError::Inconsistent(format!(
                "a change of `{}` lacks its primary key column {i}",
                shape.name
            ))
        })?;
        keycode::encode_value(&mut key, v);
    }
    Ok(key)
}

/// A whole row: columns the stream left out (unchanged TOAST values) taken from `old`.
fn whole(
    row: Vec<Option<Value>>,
    old: Option<&[Value]>,
    shape: &Shape<'_>,
) -> Result<Vec<Value>, OpError> {
    row.into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            Some(v) => Ok(v),
            None => old.and_then(|o| o.get(i)).cloned().ok_or_else(|| {
                OpError::Inconsistent(format!(
                    "a change of `{}` left column {i} out and no earlier value is known",
                    shape.name
                ))
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn v(i: i64, s: &str) -> Vec<Option<Value>> {
        vec![Some(Value::Int(i)), Some(Value::String(s.into()))]
    }

    #[test]
    fn old_rows_come_from_the_mirror() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), None).unwrap();
        let types = [SqlType::Int, SqlType::String];
        let keyed = Shape {
            name: "t",
            types: &types,
            primary_key: &[0],
        };
        let bag = Shape {
            name: "u",
            types: &types,
            primary_key: &[],
        };
        let (m, n) = store
            .write_batch(|txn| {
                Ok((
                    Mirror::open(store.env(), txn, "t")?,
                    Mirror::open(store.env(), txn, "u")?,
                ))
            })
            .unwrap();
        let run = |mirror: Mirror, shape: &Shape<'_>, c: RowChange| {
            store
                .write(|txn| {
                    let mut out = vec![];
                    mirror.apply(txn, shape, c.clone(), &mut out)?;
                    Ok::<_, OpError>(out)
                })
                .unwrap()
        };
        let row = |i: i64, s: &str| vec![Value::Int(i), Value::String(s.into())];
        assert_eq!(
            run(m, &keyed, RowChange::Insert(v(1, "a"))),
            [(row(1, "a"), 1)]
        );
        // An update with no old row, and one leaving a column out (unchanged TOAST).
        assert_eq!(
            run(
                m,
                &keyed,
                RowChange::Update {
                    old: None,
                    new: v(1, "b")
                }
            ),
            [(row(1, "a"), -1), (row(1, "b"), 1)]
        );
        assert_eq!(
            run(
                m,
                &keyed,
                RowChange::Update {
                    old: Some(OldValues::Key(vec![Some(Value::Int(1)), None])),
                    new: vec![Some(Value::Int(2)), None]
                }
            ),
            [(row(1, "b"), -1), (row(2, "b"), 1)]
        );
        assert_eq!(
            run(
                m,
                &keyed,
                RowChange::Delete(OldValues::Key(vec![Some(Value::Int(2)), None]))
            ),
            [(row(2, "b"), -1)]
        );
        run(m, &keyed, RowChange::Insert(v(3, "c")));
        run(m, &keyed, RowChange::Insert(v(4, "d")));
        let mut gone = run(m, &keyed, RowChange::Truncate);
        gone.sort_by_key(|(r, _)| format!("{r:?}"));
        assert_eq!(gone, [(row(3, "c"), -1), (row(4, "d"), -1)]);
        assert!(store
            .write(|txn| {
                let mut out = vec![];
                m.apply(
                    txn,
                    &keyed,
                    RowChange::Delete(OldValues::Key(v(9, "z"))),
                    &mut out,
                )
            })
            .is_err());

        // Without a primary key: a multiset, whole old rows required.
        run(n, &bag, RowChange::Insert(v(1, "a")));
        run(n, &bag, RowChange::Insert(v(1, "a")));
        assert_eq!(
            run(n, &bag, RowChange::Delete(OldValues::Full(v(1, "a")))),
            [(row(1, "a"), -1)]
        );
        assert_eq!(run(n, &bag, RowChange::Truncate), [(row(1, "a"), -1)]);
        let err = store
            .write(|txn| {
                let mut out = vec![];
                n.apply(
                    txn,
                    &bag,
                    RowChange::Update {
                        old: None,
                        new: v(1, "a"),
                    },
                    &mut out,
                )
            })
            .unwrap_err()
            .to_string();
        assert!(err.contains("REPLICA IDENTITY FULL"), "{err}");
    }
}
