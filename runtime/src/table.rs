//! An endpoint's materialized table: what the API reads.
//!
//! - `records`: primary key (`keycode`) → record id, version, encoded row. Tables whose result has
//!   no key ([`KeyKind::Synthetic`]) are keyed by record id, and a row-hash index finds a copy of a
//!   row to delete.
//! - `ids`: record id → primary key, for reads by id and `$after` cursors. Ids are assigned once
//!   per key and never reused; versions start at 1 and grow with every update (Dozer's
//!   `__dozer_record_id` / `__dozer_record_version`).
//! - one database per secondary index: index key ++ primary key → (), maintained in the same
//!   transaction as the record, so a query never misses a committed row (Dozer built indexes
//!   asynchronously and could).
//!
//! Rows are encoded by generated code; the table asks a [`RowKeys`] implementation (generated) for
//! a row's primary key and index keys, so this code is compiled once for all apps.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Bound;

use heed::byteorder::BigEndian;
use heed::types::{Bytes, Unit, U64};
use heed::{Database, Env, RoTxn, RwTxn, WithoutTls};
use xxhash_rust::xxh3::xxh3_128;

use crate::codec::{Decode, DecodeError, Encode, Reader};
use crate::error::OpError;
use crate::lmdb_key;
use crate::weight::Weight;

/// Keys of a row, computed by generated code from the typed row.
pub trait RowKeys {
    /// The `keycode` primary key of an encoded row (unused for synthetic-key tables).
    fn primary_key(&self, row: &[u8]) -> Result<Vec<u8>, OpError>;
    /// The secondary index entries of an encoded row: (index number, `keycode` key). A sorted
    /// index has one entry per row, a full-text index one per distinct word.
    fn index_keys(&self, row: &[u8], out: &mut Vec<(usize, Vec<u8>)>) -> Result<(), OpError>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Primary,
    /// No key: every inserted row is a new record.
    Synthetic,
}

/// What to do when a change does not fit the table (the endpoint's `conflict_resolution`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnConflict {
    /// Ignore the change.
    Nothing,
    /// Insert of an existing key: update it. Update of a missing key: insert it.
    Apply,
    /// Stop the pipeline with an error.
    Fail,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConflictPolicy {
    pub on_insert: OnConflict,
    pub on_update: OnConflict,
    pub on_delete: OnConflict,
}

impl ConflictPolicy {
    /// For query results, whose keys are derived and cannot conflict: any conflict is a bug.
    pub const STRICT: ConflictPolicy = ConflictPolicy {
        on_insert: OnConflict::Fail,
        on_update: OnConflict::Fail,
        on_delete: OnConflict::Fail,
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Insert,
    Update,
    Delete,
}

/// One record change, for event streams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordChange {
    pub kind: ChangeKind,
    pub id: u64,
    pub version: u32,
    pub old: Option<Vec<u8>>,
    pub new: Option<Vec<u8>>,
}

/// A stored record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub id: u64,
    pub version: u32,
    pub row: Vec<u8>,
}

pub struct Table {
    kind: KeyKind,
    policy: ConflictPolicy,
    records: Database<Bytes, Bytes>,
    ids: Database<U64<BigEndian>, Bytes>,
    meta: Database<Bytes, Bytes>,
    /// Synthetic tables: row hash ++ id → ().
    copies: Database<Bytes, Unit>,
    /// [`index_entry`] → primary key.
    indexes: Vec<Database<Bytes, Bytes>>,
}

const NEXT_ID: &[u8] = b"next_id";
const VERSION: &[u8] = b"version";

/// Which committed contents of a table a reader sees: the stamp of the table's first change (its
/// creation time, so that a store made anew never repeats an old store's versions) and the number
/// of batches that have changed it since. Equal versions of a table are equal contents: HTTP
/// caches validate answers by it (`ETag`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TableVersion {
    pub stamp: u64,
    pub changes: u64,
}

/// Record ids handed out during one batch; the counter is written back once at its end.
struct Ids {
    next: u64,
    first: u64,
}

impl Ids {
    fn take(&mut self) -> u64 {
        self.next += 1;
        self.next - 1
    }
}

/// The LMDB key of a record. LMDB has no empty keys; the one table whose key is empty (a global
/// aggregate's single row) stores it as one zero byte, which no other key of that table can be.
/// Keys longer than LMDB allows are shortened ([`lmdb_key`]).
fn stored_key(key: &[u8]) -> Cow<'_, [u8]> {
    if key.is_empty() {
        Cow::Borrowed(&[0])
    } else {
        lmdb_key::bounded(key, lmdb_key::MAX_KEY)
    }
}

/// A range of index entries (index key ++ primary key).
pub type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// Primary keys read from an index.
pub type Keys<'t> = Box<dyn Iterator<Item = Result<Vec<u8>, OpError>> + 't>;

/// An index entry's LMDB key: index key ++ primary key, shortened if long. Its value is the
/// primary key.
fn index_entry(ix: &[u8], key: &[u8]) -> Vec<u8> {
    let full = [ix, key].concat();
    match lmdb_key::bounded(&full, lmdb_key::MAX_KEY) {
        Cow::Borrowed(_) => full,
        Cow::Owned(short) => short,
    }
}

fn as_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k.as_slice()),
        Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn encode_record(r: &Record) -> Vec<u8> {
    let mut out = Vec::with_capacity(r.row.len() + 12);
    r.id.encode(&mut out);
    u64::from(r.version).encode(&mut out);
    out.extend_from_slice(&r.row);
    out
}

fn decode_record(bytes: &[u8]) -> Result<Record, OpError> {
    let mut r = Reader::new(bytes);
    let id = u64::decode(&mut r)?;
    let version = u32::try_from(u64::decode(&mut r)?)
        .map_err(|_| OpError::Inconsistent("record version out of range".into()))?;
    let row = bytes[bytes.len() - r.remaining()..].to_vec();
    Ok(Record { id, version, row })
}

impl Table {
    pub fn open(
        env: &Env<WithoutTls>,
        txn: &mut RwTxn,
        name: &str,
        kind: KeyKind,
        policy: ConflictPolicy,
        indexes: usize,
    ) -> Result<Self, OpError> {
        let db = |txn: &mut RwTxn, suffix: &str| {
            env.create_database::<Bytes, Bytes>(txn, Some(&format!("{name}.{suffix}")))
        };
        Ok(Table {
            kind,
            policy,
            records: db(txn, "records")?,
            ids: env.create_database(txn, Some(&format!("{name}.ids")))?,
            meta: db(txn, "meta")?,
            copies: env.create_database(txn, Some(&format!("{name}.copies")))?,
            indexes: (0..indexes)
                .map(|i| env.create_database(txn, Some(&format!("{name}.index{i}"))))
                .collect::<Result<_, _>>()?,
        })
    }

    pub fn get(&self, txn: &RoTxn<WithoutTls>, key: &[u8]) -> Result<Option<Record>, OpError> {
        self.records
            .get(txn, &stored_key(key))?
            .map(decode_record)
            .transpose()
    }

    pub fn get_by_id(&self, txn: &RoTxn<WithoutTls>, id: u64) -> Result<Option<Record>, OpError> {
        match self.ids.get(txn, &id)? {
            Some(key) => self.get(txn, key),
            None => Ok(None),
        }
    }

    pub fn len(&self, txn: &RoTxn<WithoutTls>) -> Result<u64, OpError> {
        Ok(self.records.len(txn)?)
    }

    pub fn is_empty(&self, txn: &RoTxn<WithoutTls>) -> Result<bool, OpError> {
        Ok(self.records.is_empty(txn)?)
    }

    /// All records in primary-key order.
    pub fn scan<'t>(
        &self,
        txn: &'t RoTxn<WithoutTls>,
    ) -> Result<impl Iterator<Item = Result<Record, OpError>> + 't, OpError> {
        Ok(self
            .records
            .iter(txn)?
            .map(|e| e.map_err(OpError::from).and_then(|(_, v)| decode_record(v))))
    }

    /// Primary keys of the records whose index `index` key starts with `prefix`, in index order —
    /// and, where index keys are longer than LMDB's keys, possibly of records that only share the
    /// first ~500 bytes with it: callers check what they read.
    pub fn index_prefix<'t>(
        &self,
        txn: &'t RoTxn<WithoutTls>,
        index: usize,
        prefix: &[u8],
    ) -> Result<impl Iterator<Item = Result<Vec<u8>, OpError>> + 't, OpError> {
        let scan = &prefix[..prefix.len().min(lmdb_key::MAX_KEY - 16)];
        Ok(self
            .index(index)?
            .prefix_iter(txn, scan)?
            .map(|e| e.map(|(_, key)| key.to_vec()).map_err(OpError::from)))
    }

    /// Primary keys of the records whose index entry (index key ++ primary key) lies within
    /// `range`, in index order or reversed; like [`Table::index_prefix`], a superset where keys
    /// are long.
    pub fn index_range<'t>(
        &self,
        txn: &'t RoTxn<WithoutTls>,
        index: usize,
        range: KeyRange,
        reverse: bool,
    ) -> Result<Keys<'t>, OpError> {
        let cut = |b: Bound<Vec<u8>>, upper: bool| match b {
            Bound::Unbounded => Bound::Unbounded,
            // A bound past LMDB's key length is widened to its cut (entries cut there sort by hash).
            Bound::Included(k) | Bound::Excluded(k) if k.len() > lmdb_key::MAX_KEY - 16 => {
                let mut k = k[..lmdb_key::MAX_KEY - 16].to_vec();
                if upper {
                    k.push(0xFF);
                }
                Bound::Included(k)
            }
            other => other,
        };
        let range = (cut(range.0, false), cut(range.1, true));
        let borrowed: (Bound<&[u8]>, Bound<&[u8]>) = (as_ref(&range.0), as_ref(&range.1));
        let db = self.index(index)?;
        let map = |e: Result<(&[u8], &[u8]), heed::Error>| {
            e.map(|(_, key)| key.to_vec()).map_err(OpError::from)
        };
        Ok(if reverse {
            Box::new(db.rev_range(txn, &borrowed)?.map(map))
        } else {
            Box::new(db.range(txn, &borrowed)?.map(map))
        })
    }

    /// Record ids and primary keys from id `from` on, in id order (insertion order).
    pub fn ids_from<'t>(
        &self,
        txn: &'t RoTxn<WithoutTls>,
        from: u64,
    ) -> Result<impl Iterator<Item = Result<(u64, Vec<u8>), OpError>> + 't, OpError> {
        Ok(self
            .ids
            .range(txn, &(from..))?
            .map(|e| e.map(|(id, key)| (id, key.to_vec())).map_err(OpError::from)))
    }

    fn index(&self, index: usize) -> Result<&Database<Bytes, Bytes>, OpError> {
        self.indexes.get(index).ok_or_else(|| {
            OpError::Inconsistent(format!("the table has no secondary index #{index}"))
        })
    }

    /// The committed version of the table's contents.
    pub fn version(&self, txn: &RoTxn<WithoutTls>) -> Result<TableVersion, OpError> {
        let Some(b) = self.meta.get(txn, VERSION)? else {
            return Ok(TableVersion::default());
        };
        let (stamp, changes) = b
            .split_at_checked(8)
            .and_then(|(s, c)| Some((s.try_into().ok()?, c.try_into().ok()?)))
            .ok_or(DecodeError("table version"))?;
        Ok(TableVersion {
            stamp: u64::from_be_bytes(stamp),
            changes: u64::from_be_bytes(changes),
        })
    }

    /// Counts one more batch that changed the table.
    fn bump_version(&self, txn: &mut RwTxn) -> Result<(), OpError> {
        let mut v = self.version(txn)?;
        if v.stamp == 0 {
            v.stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| {
                    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
                });
        }
        v.changes += 1;
        let bytes = [v.stamp.to_be_bytes(), v.changes.to_be_bytes()].concat();
        self.meta.put(txn, VERSION, &bytes)?;
        Ok(())
    }

    /// The table's next record id, read once per batch ([`Ids`] hands them out and writes the
    /// counter back once).
    fn ids_for_batch(&self, txn: &RwTxn) -> Result<Ids, OpError> {
        let next = match self.meta.get(txn, NEXT_ID)? {
            Some(b) => u64::decode(&mut Reader::new(b))?,
            None => 1,
        };
        Ok(Ids { next, first: next })
    }

    fn store_ids(&self, txn: &mut RwTxn, ids: Ids) -> Result<(), OpError> {
        if ids.next != ids.first {
            let mut bytes = vec![];
            ids.next.encode(&mut bytes);
            self.meta.put(txn, NEXT_ID, &bytes)?;
        }
        Ok(())
    }

    fn put(
        &self,
        txn: &mut RwTxn,
        keys: &dyn RowKeys,
        key: &[u8],
        record: &Record,
    ) -> Result<(), OpError> {
        self.records
            .put(txn, &stored_key(key), &encode_record(record))?;
        self.ids.put(txn, &record.id, key)?;
        for (i, ix) in self.index_entries(keys, &record.row)? {
            self.indexes[i].put(txn, &index_entry(&ix, key), key)?;
        }
        Ok(())
    }

    fn remove(
        &self,
        txn: &mut RwTxn,
        keys: &dyn RowKeys,
        key: &[u8],
        record: &Record,
    ) -> Result<(), OpError> {
        self.records.delete(txn, &stored_key(key))?;
        self.ids.delete(txn, &record.id)?;
        for (i, ix) in self.index_entries(keys, &record.row)? {
            self.indexes[i].delete(txn, &index_entry(&ix, key))?;
        }
        Ok(())
    }

    /// Replaces `old` by `new` under the same key and id: the record is overwritten in place and
    /// only the index entries that differ are touched (an update of one column leaves the other
    /// columns' indexes alone, which is most of the work of an update on a wide, indexed table).
    fn replace(
        &self,
        txn: &mut RwTxn,
        keys: &dyn RowKeys,
        key: &[u8],
        old: &Record,
        new: &Record,
    ) -> Result<(), OpError> {
        debug_assert_eq!(old.id, new.id);
        self.records
            .put(txn, &stored_key(key), &encode_record(new))?;
        let mut before = self.index_entries(keys, &old.row)?;
        let mut after = self.index_entries(keys, &new.row)?;
        before.sort_unstable();
        after.sort_unstable();
        for (i, ix) in before.iter().filter(|e| after.binary_search(e).is_err()) {
            self.indexes[*i].delete(txn, &index_entry(ix, key))?;
        }
        for (i, ix) in after.iter().filter(|e| before.binary_search(e).is_err()) {
            self.indexes[*i].put(txn, &index_entry(ix, key), key)?;
        }
        Ok(())
    }

    fn index_entries(
        &self,
        keys: &dyn RowKeys,
        row: &[u8],
    ) -> Result<Vec<(usize, Vec<u8>)>, OpError> {
        let mut entries = vec![];
        keys.index_keys(row, &mut entries)?;
        if let Some((i, _)) = entries.iter().find(|(i, _)| *i >= self.indexes.len()) {
            return Err(OpError::Inconsistent(format!(
                "an entry for secondary index #{i}; the table has {}",
                self.indexes.len()
            )));
        }
        Ok(entries)
    }

    fn conflict(&self, what: OnConflict, message: &str) -> Result<bool, OpError> {
        match what {
            OnConflict::Nothing => Ok(false),
            OnConflict::Apply => Ok(true),
            OnConflict::Fail => Err(OpError::Inconsistent(message.to_string())),
        }
    }

    /// Applies row changes (encoded rows, weights) and returns the record changes.
    pub fn apply(
        &self,
        txn: &mut RwTxn,
        keys: &dyn RowKeys,
        changes: Vec<(Vec<u8>, Weight)>,
    ) -> Result<Vec<RecordChange>, OpError> {
        let out = match self.kind {
            KeyKind::Primary => self.apply_keyed(txn, keys, changes)?,
            KeyKind::Synthetic => self.apply_synthetic(txn, keys, changes)?,
        };
        if !out.is_empty() {
            self.bump_version(txn)?;
        }
        Ok(out)
    }

    fn apply_keyed(
        &self,
        txn: &mut RwTxn,
        keys: &dyn RowKeys,
        changes: Vec<(Vec<u8>, Weight)>,
    ) -> Result<Vec<RecordChange>, OpError> {
        // Per key: the rows deleted and inserted by this batch (consolidated).
        let mut per_key: BTreeMap<Vec<u8>, BTreeMap<Vec<u8>, Weight>> = BTreeMap::new();
        for (row, w) in changes {
            let key = keys.primary_key(&row)?;
            *per_key.entry(key).or_default().entry(row).or_insert(0) += w;
        }
        let mut ids = self.ids_for_batch(txn)?;
        let mut out = vec![];
        for (key, rows) in per_key {
            let had_delete = rows.values().any(|w| *w < 0);
            let mut inserted: Vec<&Vec<u8>> = rows
                .iter()
                .filter(|(_, w)| **w > 0)
                .map(|(r, _)| r)
                .collect();
            let duplicates = inserted.len() > 1 || rows.values().any(|w| *w > 1);
            if duplicates {
                // Several rows for one key in one batch: keep the first or the last, or fail.
                match self.policy.on_insert {
                    OnConflict::Fail => {
                        return Err(OpError::Inconsistent(
                            "several rows with one primary key in one batch".into(),
                        ))
                    }
                    OnConflict::Nothing => inserted.truncate(1),
                    OnConflict::Apply => {
                        inserted.drain(..inserted.len().saturating_sub(1));
                    }
                }
            }
            let new_row = inserted.first().map(|r| (*r).clone());
            let stored = stored_key(&key);
            let old = self
                .records
                .get(txn, &stored)?
                .map(decode_record)
                .transpose()?;
            if let Some(old) = &old {
                if lmdb_key::is_shortened(&stored, lmdb_key::MAX_KEY)
                    && keys.primary_key(&old.row)? != key
                {
                    return Err(OpError::Inconsistent(
                        "128-bit hash collision between two long primary keys".into(),
                    ));
                }
            }
            match (old, new_row) {
                (Some(old), None) if had_delete => {
                    self.remove(txn, keys, &key, &old)?;
                    out.push(RecordChange {
                        kind: ChangeKind::Delete,
                        id: old.id,
                        version: old.version,
                        old: Some(old.row),
                        new: None,
                    });
                }
                (None, None) if had_delete => {
                    self.conflict(
                        self.policy.on_delete,
                        "delete of a key that is not in the table",
                    )?;
                }
                // Nothing changed in net (a row inserted and deleted again).
                (_, None) => {}
                // An update, or an insert of a key that exists.
                (Some(old), Some(row)) => {
                    let apply = had_delete
                        || self.conflict(
                            self.policy.on_insert,
                            "insert of a key that is already in the table",
                        )?;
                    if apply && row != old.row {
                        let new = Record {
                            id: old.id,
                            version: old.version + 1,
                            row,
                        };
                        self.replace(txn, keys, &key, &old, &new)?;
                        out.push(RecordChange {
                            kind: ChangeKind::Update,
                            id: new.id,
                            version: new.version,
                            old: Some(old.row),
                            new: Some(new.row),
                        });
                    }
                }
                // An insert, or an update of a key that does not exist.
                (None, Some(row)) => {
                    let apply = !had_delete
                        || self.conflict(
                            self.policy.on_update,
                            "update of a key that is not in the table",
                        )?;
                    if apply {
                        let record = Record {
                            id: ids.take(),
                            version: 1,
                            row,
                        };
                        self.put(txn, keys, &key, &record)?;
                        out.push(RecordChange {
                            kind: ChangeKind::Insert,
                            id: record.id,
                            version: 1,
                            old: None,
                            new: Some(record.row),
                        });
                    }
                }
            }
        }
        self.store_ids(txn, ids)?;
        Ok(out)
    }

    fn apply_synthetic(
        &self,
        txn: &mut RwTxn,
        keys: &dyn RowKeys,
        changes: Vec<(Vec<u8>, Weight)>,
    ) -> Result<Vec<RecordChange>, OpError> {
        let mut consolidated: BTreeMap<Vec<u8>, Weight> = BTreeMap::new();
        for (row, w) in changes {
            *consolidated.entry(row).or_insert(0) += w;
        }
        let mut ids = self.ids_for_batch(txn)?;
        let mut out = vec![];
        for (row, w) in consolidated {
            let hash = xxh3_128(&row).to_be_bytes();
            if w > 0 {
                for _ in 0..w {
                    let record = Record {
                        id: ids.take(),
                        version: 1,
                        row: row.clone(),
                    };
                    let key = record.id.to_be_bytes();
                    self.put(txn, keys, &key, &record)?;
                    self.copies.put(txn, &[&hash[..], &key].concat(), &())?;
                    out.push(RecordChange {
                        kind: ChangeKind::Insert,
                        id: record.id,
                        version: 1,
                        old: None,
                        new: Some(row.clone()),
                    });
                }
            } else {
                // Delete the newest copies of the row.
                let copies: Vec<Vec<u8>> = self
                    .copies
                    .rev_prefix_iter(txn, &hash)?
                    .take(w.unsigned_abs() as usize)
                    .map(|e| e.map(|(k, ())| k.to_vec()))
                    .collect::<Result<_, _>>()?;
                if (copies.len() as u64) < w.unsigned_abs() {
                    self.conflict(
                        self.policy.on_delete,
                        "delete of a row that is not in the table",
                    )?;
                }
                for copy in copies {
                    let key = &copy[hash.len()..];
                    let Some(old) = self
                        .records
                        .get(txn, &stored_key(key))?
                        .map(decode_record)
                        .transpose()?
                    else {
                        return Err(OpError::Inconsistent(
                            "a row copy without its record".into(),
                        ));
                    };
                    if old.row != row {
                        return Err(OpError::Inconsistent(
                            "128-bit hash collision between two rows".into(),
                        ));
                    }
                    self.copies.delete(txn, &copy)?;
                    self.remove(txn, keys, key, &old)?;
                    out.push(RecordChange {
                        kind: ChangeKind::Delete,
                        id: old.id,
                        version: old.version,
                        old: Some(old.row),
                        new: None,
                    });
                }
            }
        }
        self.store_ids(txn, ids)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use dozer_types::keycode;
    use proptest::prelude::*;

    use super::*;
    use crate::store::Store;

    /// Test rows: (key, value, note); the primary key is `key`, one index on `value`.
    type Row = (i64, i64, Option<String>);

    fn encode(r: &Row) -> Vec<u8> {
        let mut out = vec![];
        r.0.encode(&mut out);
        r.1.encode(&mut out);
        r.2.encode(&mut out);
        out
    }

    fn decode(b: &[u8]) -> Row {
        let mut r = Reader::new(b);
        (
            i64::decode(&mut r).unwrap(),
            i64::decode(&mut r).unwrap(),
            Option::decode(&mut r).unwrap(),
        )
    }

    struct Keys;

    impl RowKeys for Keys {
        fn primary_key(&self, row: &[u8]) -> Result<Vec<u8>, OpError> {
            let mut k = vec![];
            keycode::encode_i64(&mut k, decode(row).0);
            Ok(k)
        }

        fn index_keys(&self, row: &[u8], out: &mut Vec<(usize, Vec<u8>)>) -> Result<(), OpError> {
            let mut k = vec![];
            keycode::encode_i64(&mut k, decode(row).1);
            out.push((0, k));
            Ok(())
        }
    }

    /// Keys from the note: a long string primary key and a long string index.
    struct LongKeys;

    impl RowKeys for LongKeys {
        fn primary_key(&self, row: &[u8]) -> Result<Vec<u8>, OpError> {
            let mut k = vec![];
            keycode::encode_str(&mut k, decode(row).2.as_deref().unwrap_or_default());
            Ok(k)
        }

        fn index_keys(&self, row: &[u8], out: &mut Vec<(usize, Vec<u8>)>) -> Result<(), OpError> {
            out.push((0, self.primary_key(row)?));
            Ok(())
        }
    }

    /// Primary key `key`, a full-text index on the note.
    struct WordKeys;

    impl RowKeys for WordKeys {
        fn primary_key(&self, row: &[u8]) -> Result<Vec<u8>, OpError> {
            Keys.primary_key(row)
        }

        fn index_keys(&self, row: &[u8], out: &mut Vec<(usize, Vec<u8>)>) -> Result<(), OpError> {
            crate::row::word_keys(&decode(row).2, 0, out);
            Ok(())
        }
    }

    #[test]
    fn full_text_entries_follow_updates_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), None).unwrap();
        let table = open(&store, KeyKind::Primary, ConflictPolicy::STRICT);
        let note = |k: i64, text: Option<&str>| encode(&(k, 0, text.map(str::to_string)));
        let apply = |changes: Vec<(Vec<u8>, Weight)>| {
            store
                .write(|txn| table.apply(txn, &WordKeys, changes.clone()))
                .unwrap();
        };
        let with_word = |w: &str| -> Vec<i64> {
            let txn = store.env().read_txn().unwrap();
            let mut key = vec![];
            keycode::encode_str(&mut key, w);
            table
                .index_prefix(&txn, 0, &key)
                .unwrap()
                .map(|k| {
                    i64::decode(&mut Reader::new(
                        &table.get(&txn, &k.unwrap()).unwrap().unwrap().row,
                    ))
                    .unwrap()
                })
                .collect()
        };
        apply(vec![
            (note(1, Some("Red apple, red pear")), 1),
            (note(2, Some("green apple")), 1),
            (note(3, None), 1),
        ]);
        assert_eq!(with_word("apple"), [1, 2]);
        assert_eq!(with_word("red"), [1]);
        apply(vec![
            (note(1, Some("Red apple, red pear")), -1),
            (note(1, Some("blue")), 1),
            (note(2, Some("green apple")), -1),
        ]);
        assert!(with_word("apple").is_empty() && with_word("red").is_empty());
        assert_eq!(with_word("blue"), [1]);
    }

    #[test]
    fn keys_longer_than_lmdb_allows_are_stored_and_found() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), None).unwrap();
        let table = open(&store, KeyKind::Primary, ConflictPolicy::STRICT);
        // Keys that differ only after 2000 bytes.
        let row = |c: char, v: i64| (0, v, Some(format!("{}{c}", "x".repeat(2000))));
        let pk = |c: char| LongKeys.primary_key(&encode(&row(c, 0))).unwrap();
        store
            .write(|txn| {
                table.apply(
                    txn,
                    &LongKeys,
                    ['a', 'b', 'c'].map(|c| (encode(&row(c, 1)), 1)).to_vec(),
                )
            })
            .unwrap();
        let changes = store
            .write(|txn| {
                table.apply(
                    txn,
                    &LongKeys,
                    vec![
                        (encode(&row('b', 1)), -1),
                        (encode(&row('b', 2)), 1),
                        (encode(&row('c', 1)), -1),
                    ],
                )
            })
            .unwrap();
        let kinds: Vec<ChangeKind> = changes.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, [ChangeKind::Update, ChangeKind::Delete]);
        let txn = store.env().read_txn().unwrap();
        assert_eq!(table.len(&txn).unwrap(), 2);
        let b = table.get(&txn, &pk('b')).unwrap().unwrap();
        assert_eq!((decode(&b.row).1, b.version), (2, 2));
        assert!(table.get(&txn, &pk('c')).unwrap().is_none());
        // The index finds each long key (with the others that share its first ~500 bytes: the
        // reader checks what it reads).
        for c in ['a', 'b'] {
            let found: Vec<Vec<u8>> = table
                .index_prefix(&txn, 0, &pk(c))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert!(found.contains(&pk(c)) && found.len() == 2, "{c}");
        }
        let all = table
            .index_prefix(&txn, 0, &pk('a')[..100])
            .unwrap()
            .count();
        assert_eq!(all, 2);
    }

    fn open(store: &Store, kind: KeyKind, policy: ConflictPolicy) -> Table {
        store
            .write(|txn| Table::open(store.env(), txn, "t", kind, policy, 1))
            .unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn keyed_tables_follow_upserts_and_deletes(
            batches in prop::collection::vec(prop::collection::vec((0i64..6, 0i64..4, proptest::option::of("[a-c]"), prop::bool::weighted(0.75)), 0..8), 1..10)
        ) {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path(), Some(1 << 20)).unwrap();
            let table = open(&store, KeyKind::Primary, ConflictPolicy::STRICT);
            let mut model: BTreeMap<i64, Row> = BTreeMap::new();
            let mut ids: BTreeMap<i64, u64> = BTreeMap::new();
            let mut versions: BTreeMap<i64, u32> = BTreeMap::new();
            for batch in batches {
                // One change per key per batch, as a keyed query result produces.
                let mut touched = BTreeSet::new();
                let mut changes = vec![];
                for (k, v, note, upsert) in batch {
                    if !touched.insert(k) {
                        continue;
                    }
                    let old = model.get(&k).cloned();
                    if let Some(old) = &old {
                        changes.push((encode(old), -1));
                    }
                    if upsert {
                        let row = (k, v, note);
                        changes.push((encode(&row), 1));
                        if old.as_ref() != Some(&row) {
                            *versions.entry(k).or_insert(0) += 1;
                        }
                        model.insert(k, row);
                    } else if model.remove(&k).is_some() {
                        versions.remove(&k);
                    }
                }
                store.write(|txn| table.apply(txn, &Keys, changes.clone())).unwrap();
                let view = store.read().unwrap();
                let records: Vec<Record> = table.scan(&view).unwrap().collect::<Result<_, _>>().unwrap();
                let rows: BTreeMap<i64, Row> = records.iter().map(|r| (decode(&r.row).0, decode(&r.row))).collect();
                prop_assert_eq!(&rows, &model);
                for r in &records {
                    let k = decode(&r.row).0;
                    // Ids are stable per key; versions count the key's changes.
                    prop_assert_eq!(*ids.entry(k).or_insert(r.id), r.id);
                    prop_assert_eq!(r.version, versions[&k]);
                    let by_id = table.get_by_id(&view, r.id).unwrap();
                    prop_assert_eq!(by_id.as_ref(), Some(r));
                }
                ids.retain(|k, _| model.contains_key(k));
                // The index holds exactly (value, key) of every record.
                let mut indexed = BTreeSet::new();
                for v in 0..4 {
                    let mut prefix = vec![];
                    keycode::encode_i64(&mut prefix, v);
                    for pk in table.index_prefix(&view, 0, &prefix).unwrap() {
                        indexed.insert((v, pk.unwrap()));
                    }
                }
                let want: BTreeSet<(i64, Vec<u8>)> = model.values().map(|r| (r.1, Keys.primary_key(&encode(r)).unwrap())).collect();
                prop_assert_eq!(indexed, want);
            }
        }

        #[test]
        fn keyless_tables_hold_a_multiset(batches in prop::collection::vec(prop::collection::vec((0i64..3, prop::bool::weighted(0.6)), 0..8), 1..10)) {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path(), Some(1 << 20)).unwrap();
            let table = open(&store, KeyKind::Synthetic, ConflictPolicy::STRICT);
            let mut model: BTreeMap<i64, i64> = BTreeMap::new();
            for batch in batches {
                let mut changes = vec![];
                for (v, insert) in batch {
                    let count = model.entry(v).or_insert(0);
                    let w = if insert || *count == 0 { 1 } else { -1 };
                    *count += w;
                    changes.push((encode(&(v, v, None)), w));
                }
                store.write(|txn| table.apply(txn, &Keys, changes.clone())).unwrap();
                let view = store.read().unwrap();
                let mut counts: BTreeMap<i64, i64> = BTreeMap::new();
                let mut seen_ids = BTreeSet::new();
                for r in table.scan(&view).unwrap() {
                    let r = r.unwrap();
                    prop_assert!(seen_ids.insert(r.id));
                    *counts.entry(decode(&r.row).0).or_insert(0) += 1;
                }
                model.retain(|_, c| *c != 0);
                prop_assert_eq!(&counts, &model);
            }
        }
    }

    #[test]
    fn conflict_policies() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), None).unwrap();
        let row = |v: i64| encode(&(1, v, None));
        let strict = open(&store, KeyKind::Primary, ConflictPolicy::STRICT);
        store
            .write(|txn| strict.apply(txn, &Keys, vec![(row(1), 1)]))
            .unwrap();
        let err = store
            .write(|txn| strict.apply(txn, &Keys, vec![(row(2), 1)]))
            .unwrap_err();
        assert!(matches!(err, OpError::Inconsistent(_)), "{err}");

        let lenient = ConflictPolicy {
            on_insert: OnConflict::Apply,
            on_update: OnConflict::Apply,
            on_delete: OnConflict::Nothing,
        };
        let table = store
            .write(|txn| Table::open(store.env(), txn, "lenient", KeyKind::Primary, lenient, 1))
            .unwrap();
        store
            .write(|txn| table.apply(txn, &Keys, vec![(row(1), 1)]))
            .unwrap();
        // An insert of an existing key updates it; a delete of a missing key is ignored.
        let changes = store
            .write(|txn| table.apply(txn, &Keys, vec![(row(2), 1)]))
            .unwrap();
        assert_eq!(changes[0].kind, ChangeKind::Update);
        assert_eq!(changes[0].version, 2);
        let changes = store
            .write(|txn| table.apply(txn, &Keys, vec![(encode(&(9, 0, None)), -1)]))
            .unwrap();
        assert!(changes.is_empty());
        let view = store.read().unwrap();
        assert!(
            table.index_prefix(&view, 5, &[]).is_err(),
            "a missing index is an error, not a panic"
        );
    }
}
