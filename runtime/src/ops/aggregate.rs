//! GROUP BY with COUNT(*), COUNT, COUNT(DISTINCT), SUM, AVG, MIN, MAX — incrementally, with
//! retractions.
//!
//! State lives in LMDB, so it may be larger than memory:
//! - `groups`: group key → the group's encoded values, its row count and each accumulator's state
//!   (counts, sums);
//! - `multisets`: (accumulator, group key, value key) → (count, value), for MIN, MAX and
//!   COUNT(DISTINCT). MIN is the first entry of the group's range and MAX the last, so deleting the
//!   current minimum is exact and costs one range lookup.
//!
//! A batch is pre-aggregated in memory per group, then every touched group is read, updated and
//! written once; the operator reports the groups whose output row changed (old row out, new row in).
//! A grouped aggregate's row disappears with its last input row; a global aggregate (no GROUP BY)
//! always has exactly one row, also over no input (COUNT 0, SUM NULL), as in SQL.
//!
//! Integer sums are kept in 128 bits, so intermediate sums never overflow; only a final SUM beyond
//! 64 bits is an error. Float sums under retraction accumulate rounding error (as any running sum).

use std::collections::{BTreeMap, HashMap};

use dozer_types::keycode;
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use crate::lmdb_key;
use dozer_types::{Decimal, Value};
use heed::types::Bytes;
use heed::{Database, Env, RoTxn, RwTxn, WithoutTls};

use crate::codec::{Decode, Encode, Reader};
use crate::error::OpError;
use crate::weight::Weight;

/// What one accumulator computes; dozerc picks the variant from the argument's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggKind {
    CountStar,
    Count,
    CountDistinct,
    /// SUM of integers: `int`.
    SumInt,
    SumDecimal,
    SumFloat,
    /// AVG of integers or decimals: `decimal`.
    AvgDecimal,
    AvgFloat,
    Min,
    Max,
}

impl AggKind {
    fn uses_multiset(self) -> bool {
        matches!(self, AggKind::CountDistinct | AggKind::Min | AggKind::Max)
    }
}

/// One input row: its group key (`keycode` bytes), its group values (encoded, handed back in the
/// output), one argument per accumulator (`Value::Null` for COUNT(*)), and its weight.
#[derive(Clone, Debug)]
pub struct AggRow {
    pub key: Vec<u8>,
    pub group: Vec<u8>,
    pub args: Vec<Value>,
    pub weight: Weight,
}

/// A group whose output row changed: retract `old` (if any), insert `new` (if any). Rows are the
/// accumulator values in order; `group` is the group's encoded values.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupChange {
    pub group: Vec<u8>,
    pub old: Option<Vec<Value>>,
    pub new: Option<Vec<Value>>,
}

pub struct Aggregate {
    kinds: Vec<AggKind>,
    global: bool,
    groups: Database<Bytes, Bytes>,
    multisets: Database<Bytes, Bytes>,
}

/// Per-accumulator state, stored in the group's record.
#[derive(Clone, Debug, PartialEq)]
enum AccState {
    /// COUNT(*), MIN, MAX: nothing beyond the row count / the multiset.
    None,
    /// COUNT(x): non-null values; COUNT(DISTINCT x): distinct non-null values.
    Count(i64),
    Int {
        sum: i128,
        n: i64,
    },
    Dec {
        sum: Decimal,
        n: i64,
    },
    Float {
        sum: f64,
        n: i64,
    },
}

struct GroupState {
    /// The group's values as the row that created the group wrote them.
    group: Vec<u8>,
    rows: i64,
    accs: Vec<AccState>,
    /// The full group key, kept when its LMDB key is shortened (to tell hash collisions).
    long_key: Option<Vec<u8>>,
}

/// One batch of an [`Aggregate`]'s input. Rows of a group already seen in the batch cost no
/// allocation: generated code passes its key in a reused buffer and writes the group's values
/// only for a group new to the batch.
pub struct AggBatch<'a> {
    agg: &'a Aggregate,
    pending: HashMap<Vec<u8>, Pending, Xxh3DefaultBuilder>,
}

impl AggBatch<'_> {
    /// Adds a row of group `key` (`keycode` bytes) with one argument per aggregate (`Value::Null`
    /// for COUNT(*)) and weight `w`; `group` encodes the group's values when the group is new.
    pub fn add(
        &mut self,
        key: &[u8],
        group: impl FnOnce(&mut Vec<u8>),
        args: impl IntoIterator<Item = Value>,
        w: Weight,
    ) -> Result<(), OpError> {
        let agg = self.agg;
        let p = match self.pending.get_mut(key) {
            Some(p) => p,
            None => {
                let mut g = vec![];
                group(&mut g);
                self.pending
                    .entry(key.to_vec())
                    .or_insert_with(|| agg.new_pending(g))
            }
        };
        p.rows = p
            .rows
            .checked_add(w)
            .ok_or_else(|| overflow("a group's row count"))?;
        let mut n = 0;
        for (i, (kind, arg)) in agg.kinds.iter().zip(args).enumerate() {
            n += 1;
            if arg.is_null() {
                continue; // every aggregate but COUNT(*) ignores NULLs; COUNT(*) uses `rows`
            }
            if kind.uses_multiset() {
                let mut k = vec![];
                keycode::encode_value(&mut k, &arg);
                let e = p.values[i].entry(k).or_insert((0, arg));
                e.0 =
                    e.0.checked_add(w)
                        .ok_or_else(|| overflow("a value count"))?;
                continue;
            }
            add(&mut p.accs[i], &arg, w)?;
        }
        if n != agg.kinds.len() {
            return Err(OpError::Inconsistent(format!(
                "{n} aggregate arguments for {} aggregates",
                agg.kinds.len()
            )));
        }
        Ok(())
    }

    /// Applies the batch; returns the changed groups in key order.
    pub fn apply(self, txn: &mut RwTxn) -> Result<Vec<GroupChange>, OpError> {
        let agg = self.agg;
        let mut pending: Vec<(Vec<u8>, Pending)> = self.pending.into_iter().collect();
        // A global aggregate has its row from the first batch on, even an empty one.
        if agg.global && pending.is_empty() && agg.groups.get(txn, &[GROUP_KEY_MARKER])?.is_none() {
            pending.push((vec![], agg.new_pending(vec![])));
        }
        pending.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut changes = vec![];
        for (key, p) in pending {
            if let Some(change) = agg.apply_group(txn, &key, p)? {
                changes.push(change);
            }
        }
        Ok(changes)
    }
}

/// A batch's changes to one group, before they are applied.
struct Pending {
    group: Vec<u8>,
    rows: i64,
    accs: Vec<AccState>,
    /// For multiset accumulators: value key → (weight, value).
    values: Vec<BTreeMap<Vec<u8>, (Weight, Value)>>,
}

fn zero_state(kind: AggKind) -> AccState {
    match kind {
        AggKind::CountStar | AggKind::Min | AggKind::Max => AccState::None,
        AggKind::Count | AggKind::CountDistinct => AccState::Count(0),
        AggKind::SumInt => AccState::Int { sum: 0, n: 0 },
        AggKind::SumDecimal | AggKind::AvgDecimal => AccState::Dec {
            sum: Decimal::ZERO,
            n: 0,
        },
        AggKind::SumFloat | AggKind::AvgFloat => AccState::Float { sum: 0.0, n: 0 },
    }
}

fn overflow(what: &str) -> OpError {
    OpError::Overflow(format!("{what} does not fit its type"))
}

impl Aggregate {
    /// Opens (or creates) the operator's state databases, named after `name`.
    pub fn open(
        env: &Env<WithoutTls>,
        txn: &mut RwTxn,
        name: &str,
        kinds: Vec<AggKind>,
        global: bool,
    ) -> Result<Self, OpError> {
        if kinds.len() > usize::from(u8::MAX) {
            return Err(OpError::Inconsistent(format!(
                "{} aggregates in one query; at most 255 are supported",
                kinds.len()
            )));
        }
        let groups = env.create_database(txn, Some(&format!("{name}.groups")))?;
        let multisets = env.create_database(txn, Some(&format!("{name}.multisets")))?;
        Ok(Aggregate {
            kinds,
            global,
            groups,
            multisets,
        })
    }

    /// Applies a batch and returns the changed groups in key order.
    pub fn apply(
        &self,
        txn: &mut RwTxn,
        rows: impl IntoIterator<Item = AggRow>,
    ) -> Result<Vec<GroupChange>, OpError> {
        let mut batch = self.batch();
        for row in rows {
            let group = row.group;
            batch.add(
                &row.key,
                |g| g.extend_from_slice(&group),
                row.args,
                row.weight,
            )?;
        }
        batch.apply(txn)
    }

    /// Collects a batch's rows, consolidated per group in memory, for [`AggBatch::apply`].
    pub fn batch(&self) -> AggBatch<'_> {
        AggBatch {
            agg: self,
            pending: HashMap::default(),
        }
    }

    fn new_pending(&self, group: Vec<u8>) -> Pending {
        Pending {
            group,
            rows: 0,
            accs: self.kinds.iter().map(|&k| zero_state(k)).collect(),
            values: self.kinds.iter().map(|_| BTreeMap::new()).collect(),
        }
    }

    fn apply_group(
        &self,
        txn: &mut RwTxn,
        key: &[u8],
        p: Pending,
    ) -> Result<Option<GroupChange>, OpError> {
        // LMDB keys cannot be empty, and a global aggregate's group key is: prefix a marker byte.
        let short = lmdb_key::bounded(key, lmdb_key::MAX_KEY - 1);
        let mut db_key = Vec::with_capacity(short.len() + 1);
        db_key.push(GROUP_KEY_MARKER);
        db_key.extend_from_slice(&short);
        // A shortened key stands for its group only if the group's full key is the same: the
        // state keeps it. (The group's values are no test: equal values may be written
        // differently, `2.5` and `2.50`, `0.0` and `-0.0`, and the group keeps its first spelling.)
        let long_key = lmdb_key::is_shortened(&short, lmdb_key::MAX_KEY - 1).then_some(key);
        let stored = match self.groups.get(txn, &db_key)? {
            Some(bytes) => Some(self.decode_state(bytes, long_key.is_some())?),
            None => None,
        };
        if let (Some(stored), Some(key)) = (&stored, long_key) {
            if stored.long_key.as_deref() != Some(key) {
                return Err(OpError::Inconsistent(
                    "128-bit hash collision between two long group keys".into(),
                ));
            }
        }
        let existed = stored.is_some();
        let mut state = stored.unwrap_or_else(|| GroupState {
            group: p.group.clone(),
            rows: 0,
            accs: self.kinds.iter().map(|&k| zero_state(k)).collect(),
            long_key: long_key.map(<[u8]>::to_vec),
        });
        let old = if existed {
            Some(self.output(txn, key, &state)?)
        } else {
            None
        };

        state.rows = state
            .rows
            .checked_add(p.rows)
            .ok_or_else(|| overflow("a group's row count"))?;
        if state.rows < 0 {
            return Err(OpError::Inconsistent(
                "more rows deleted from a group than it had".into(),
            ));
        }
        for (i, (acc, delta)) in state.accs.iter_mut().zip(p.accs).enumerate() {
            merge(acc, delta)?;
            let values = &p.values[i];
            if !values.is_empty() {
                let distinct_delta = self.apply_multiset(txn, i, key, values)?;
                if let AccState::Count(n) = acc {
                    *n += distinct_delta;
                }
            }
        }
        let alive = state.rows > 0 || self.global;
        let new = if alive {
            Some(self.output(txn, key, &state)?)
        } else {
            None
        };
        if alive {
            let mut bytes = vec![];
            self.encode_state(&state, &mut bytes);
            self.groups.put(txn, &db_key, &bytes)?;
        } else if existed {
            self.groups.delete(txn, &db_key)?;
        }
        Ok((old != new).then(|| GroupChange {
            group: state.group,
            old,
            new,
        }))
    }

    /// Applies value-count changes to one accumulator's multiset for one group; returns the change
    /// in the number of distinct values.
    fn apply_multiset(
        &self,
        txn: &mut RwTxn,
        acc: usize,
        group_key: &[u8],
        values: &BTreeMap<Vec<u8>, (Weight, Value)>,
    ) -> Result<i64, OpError> {
        let mut distinct = 0;
        let mut key = multiset_prefix(acc, group_key);
        let prefix_len = key.len();
        let room = lmdb_key::MAX_KEY - prefix_len;
        for (value_key, (w, value)) in values {
            if *w == 0 {
                continue;
            }
            key.truncate(prefix_len);
            let short = lmdb_key::bounded(value_key, room);
            key.extend_from_slice(&short);
            // The entry keeps the spelling of the value that created it (`2.5` stays `2.5` when
            // `2.50` is added): MIN and MAX show one spelling until the value leaves the group.
            // The new entry is built while the stored one is borrowed: one copy, as before.
            let stored = self.multisets.get(txn, &key)?;
            let (before, stored_value) = match stored {
                Some(bytes) => {
                    let mut r = Reader::new(bytes);
                    let count = i64::decode(&mut r)?;
                    let value_bytes = &bytes[bytes.len() - r.remaining()..];
                    if lmdb_key::is_shortened(&short, room) && value_key_of(&mut r)? != *value_key {
                        return Err(OpError::Inconsistent(
                            "128-bit hash collision between two long values".into(),
                        ));
                    }
                    (count, Some(value_bytes))
                }
                None => (0, None),
            };
            let after = before
                .checked_add(*w)
                .ok_or_else(|| overflow("a value count"))?;
            if after < 0 {
                return Err(OpError::Inconsistent(
                    "a value was deleted more often than inserted".into(),
                ));
            }
            let entry = (after > 0).then(|| {
                let mut bytes = Vec::with_capacity(stored_value.map_or(16, <[u8]>::len) + 9);
                after.encode(&mut bytes);
                match stored_value {
                    Some(v) => bytes.extend_from_slice(v),
                    None => value.encode(&mut bytes),
                }
                bytes
            });
            match entry {
                None => {
                    self.multisets.delete(txn, &key)?;
                    distinct -= 1;
                }
                Some(bytes) => {
                    self.multisets.put(txn, &key, &bytes)?;
                    distinct += i64::from(before == 0);
                }
            }
        }
        Ok(distinct)
    }

    /// The first (MIN) or last (MAX) value of a group's multiset.
    fn extreme(
        &self,
        txn: &RoTxn<WithoutTls>,
        acc: usize,
        group_key: &[u8],
        last: bool,
    ) -> Result<Value, OpError> {
        let prefix = multiset_prefix(acc, group_key);
        let room = lmdb_key::MAX_KEY - prefix.len();
        let entry = if last {
            self.multisets
                .rev_prefix_iter(txn, &prefix)?
                .next()
                .transpose()?
        } else {
            self.multisets
                .prefix_iter(txn, &prefix)?
                .next()
                .transpose()?
        };
        let Some((key, bytes)) = entry else {
            return Ok(Value::Null);
        };
        let value = |bytes: &[u8]| -> Result<Value, OpError> {
            let mut r = Reader::new(bytes);
            let _count = i64::decode(&mut r)?;
            Ok(Value::decode(&mut r)?)
        };
        if !lmdb_key::is_shortened(&key[prefix.len()..], room) {
            return value(bytes);
        }
        // A long value: entries that share its cut sort by hash, so compare them whole.
        let cut = &key[..prefix.len() + room - 16];
        let mut best: Option<(Vec<u8>, Value)> = None;
        for entry in self.multisets.prefix_iter(txn, cut)? {
            let v = value(entry?.1)?;
            let mut k = vec![];
            keycode::encode_value(&mut k, &v);
            if best.as_ref().is_none_or(|(b, _)| (k > *b) == last) {
                best = Some((k, v));
            }
        }
        Ok(best.map_or(Value::Null, |(_, v)| v))
    }

    fn output(
        &self,
        txn: &RoTxn<WithoutTls>,
        key: &[u8],
        state: &GroupState,
    ) -> Result<Vec<Value>, OpError> {
        let mut out = Vec::with_capacity(self.kinds.len());
        for (i, (kind, acc)) in self.kinds.iter().zip(&state.accs).enumerate() {
            out.push(match (kind, acc) {
                (AggKind::CountStar, _) => Value::Int(state.rows),
                (AggKind::Count | AggKind::CountDistinct, AccState::Count(n)) => Value::Int(*n),
                (AggKind::SumInt, AccState::Int { sum, n }) if *n > 0 => {
                    Value::Int(i64::try_from(*sum).map_err(|_| overflow("an integer SUM"))?)
                }
                (AggKind::SumDecimal, AccState::Dec { sum, n }) if *n > 0 => Value::Decimal(*sum),
                (AggKind::SumFloat, AccState::Float { sum, n }) if *n > 0 => Value::Float(*sum),
                (AggKind::AvgDecimal, AccState::Dec { sum, n }) if *n > 0 => Value::Decimal(
                    sum.checked_div(Decimal::from(*n))
                        .ok_or_else(|| overflow("an AVG"))?,
                ),
                (AggKind::AvgFloat, AccState::Float { sum, n }) if *n > 0 => {
                    Value::Float(sum / *n as f64)
                }
                (AggKind::Min, _) => self.extreme(txn, i, key, false)?,
                (AggKind::Max, _) => self.extreme(txn, i, key, true)?,
                _ => Value::Null,
            });
        }
        Ok(out)
    }

    fn encode_state(&self, s: &GroupState, out: &mut Vec<u8>) {
        s.group.encode(out);
        s.rows.encode(out);
        for acc in &s.accs {
            match acc {
                AccState::None => {}
                AccState::Count(n) => n.encode(out),
                AccState::Int { sum, n } => {
                    sum.encode(out);
                    n.encode(out);
                }
                AccState::Dec { sum, n } => {
                    sum.encode(out);
                    n.encode(out);
                }
                AccState::Float { sum, n } => {
                    sum.encode(out);
                    n.encode(out);
                }
            }
        }
        if let Some(key) = &s.long_key {
            key.encode(out);
        }
    }

    fn decode_state(&self, bytes: &[u8], long_key: bool) -> Result<GroupState, OpError> {
        let mut r = Reader::new(bytes);
        let group = Vec::<u8>::decode(&mut r)?;
        let rows = i64::decode(&mut r)?;
        let mut accs = Vec::with_capacity(self.kinds.len());
        for &kind in &self.kinds {
            accs.push(match zero_state(kind) {
                AccState::None => AccState::None,
                AccState::Count(_) => AccState::Count(i64::decode(&mut r)?),
                AccState::Int { .. } => AccState::Int {
                    sum: i128::decode(&mut r)?,
                    n: i64::decode(&mut r)?,
                },
                AccState::Dec { .. } => AccState::Dec {
                    sum: Decimal::decode(&mut r)?,
                    n: i64::decode(&mut r)?,
                },
                AccState::Float { .. } => AccState::Float {
                    sum: f64::decode(&mut r)?,
                    n: i64::decode(&mut r)?,
                },
            });
        }
        let long_key = if long_key {
            Some(Vec::<u8>::decode(&mut r)?)
        } else {
            None
        };
        Ok(GroupState {
            group,
            rows,
            accs,
            long_key,
        })
    }
}

const GROUP_KEY_MARKER: u8 = b'g';

/// Room for the group key in a multiset entry's key; the rest is the value's.
const MULTISET_GROUP_ROOM: usize = 128;

fn multiset_prefix(acc: usize, group_key: &[u8]) -> Vec<u8> {
    let group = lmdb_key::bounded(group_key, MULTISET_GROUP_ROOM);
    let mut k = Vec::with_capacity(group.len() + 24);
    k.push(acc as u8);
    k.extend_from_slice(&group);
    k
}

/// The `keycode` key of the value stored in a multiset entry (after its count).
fn value_key_of(r: &mut Reader<'_>) -> Result<Vec<u8>, OpError> {
    let v = Value::decode(r)?;
    let mut k = vec![];
    keycode::encode_value(&mut k, &v);
    Ok(k)
}

/// Folds one weighted argument into an accumulator's pending state.
fn add(acc: &mut AccState, arg: &Value, w: Weight) -> Result<(), OpError> {
    match (acc, arg) {
        (AccState::Count(n), _) => *n = n.checked_add(w).ok_or_else(|| overflow("a COUNT"))?,
        (AccState::Int { sum, n }, Value::Int(v)) => {
            *sum += i128::from(*v) * i128::from(w);
            *n += w;
        }
        (AccState::Dec { sum, n }, v) => {
            let d = match v {
                Value::Decimal(d) => *d,
                Value::Int(i) => Decimal::from(*i),
                other => {
                    return Err(OpError::Inconsistent(format!(
                        "decimal aggregate over {other:?}"
                    )))
                }
            };
            *sum = d
                .checked_mul(Decimal::from(w))
                .and_then(|x| sum.checked_add(x))
                .ok_or_else(|| overflow("a decimal SUM"))?;
            *n += w;
        }
        (AccState::Float { sum, n }, v) => {
            let f = match v {
                Value::Float(f) => *f,
                Value::Int(i) => *i as f64,
                other => {
                    return Err(OpError::Inconsistent(format!(
                        "float aggregate over {other:?}"
                    )))
                }
            };
            *sum += f * w as f64;
            *n += w;
        }
        (AccState::None, _) => {}
        (AccState::Int { .. }, other) => {
            return Err(OpError::Inconsistent(format!("integer SUM over {other:?}")))
        }
    }
    Ok(())
}

/// Adds a batch's pending accumulator state to the stored state.
fn merge(acc: &mut AccState, delta: AccState) -> Result<(), OpError> {
    match (acc, delta) {
        (AccState::None, AccState::None) => {}
        (AccState::Count(a), AccState::Count(b)) => {
            *a = a.checked_add(b).ok_or_else(|| overflow("a COUNT"))?
        }
        (AccState::Int { sum, n }, AccState::Int { sum: s, n: m }) => {
            *sum = sum
                .checked_add(s)
                .ok_or_else(|| overflow("an integer SUM"))?;
            *n += m;
        }
        (AccState::Dec { sum, n }, AccState::Dec { sum: s, n: m }) => {
            *sum = sum
                .checked_add(s)
                .ok_or_else(|| overflow("a decimal SUM"))?;
            *n += m;
        }
        (AccState::Float { sum, n }, AccState::Float { sum: s, n: m }) => {
            *sum += s;
            *n += m;
        }
        _ => return Err(OpError::Inconsistent("accumulator kinds differ".into())),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::store::Store;

    #[derive(Clone, Debug, PartialEq)]
    struct Row {
        group: i64,
        int: Option<i64>,
        dec: Option<Decimal>,
        text: Option<String>,
    }

    const KINDS: [AggKind; 11] = [
        AggKind::CountStar,
        AggKind::Count,
        AggKind::CountDistinct,
        AggKind::SumInt,
        AggKind::SumDecimal,
        AggKind::AvgDecimal,
        AggKind::Min,
        AggKind::Max,
        AggKind::SumFloat,
        AggKind::AvgFloat,
        AggKind::Max,
    ];

    fn opt<T>(v: Option<T>, f: impl Fn(T) -> Value) -> Value {
        v.map_or(Value::Null, f)
    }

    /// The arguments of KINDS for one row.
    fn args(r: &Row) -> Vec<Value> {
        let int = || opt(r.int, Value::Int);
        let float = || opt(r.int, |i| Value::Float(i as f64));
        let text = || opt(r.text.clone(), Value::String);
        vec![
            Value::Null,
            int(),
            text(),
            int(),
            opt(r.dec, Value::Decimal),
            int(),
            text(),
            int(),
            float(),
            float(),
            text(),
        ]
    }

    /// What SQL says the aggregates of these rows are.
    fn expected(rows: &[&Row]) -> Vec<Value> {
        let ints: Vec<i64> = rows.iter().filter_map(|r| r.int).collect();
        let decs: Vec<Decimal> = rows.iter().filter_map(|r| r.dec).collect();
        let texts: Vec<&String> = rows.iter().filter_map(|r| r.text.as_ref()).collect();
        let distinct: std::collections::BTreeSet<&&String> = texts.iter().collect();
        let non_empty = |v: Value, any: bool| if any { v } else { Value::Null };
        let int_sum: i64 = ints.iter().sum();
        vec![
            Value::Int(rows.len() as i64),
            Value::Int(ints.len() as i64),
            Value::Int(distinct.len() as i64),
            non_empty(Value::Int(int_sum), !ints.is_empty()),
            non_empty(Value::Decimal(decs.iter().sum()), !decs.is_empty()),
            non_empty(
                Value::Decimal(
                    Decimal::from(int_sum)
                        .checked_div(Decimal::from(ints.len().max(1) as i64))
                        .unwrap(),
                ),
                !ints.is_empty(),
            ),
            texts
                .iter()
                .min()
                .map_or(Value::Null, |s| Value::String((*s).clone())),
            ints.iter().max().map_or(Value::Null, |i| Value::Int(*i)),
            non_empty(Value::Float(int_sum as f64), !ints.is_empty()),
            non_empty(
                Value::Float(int_sum as f64 / ints.len().max(1) as f64),
                !ints.is_empty(),
            ),
            texts
                .iter()
                .max()
                .map_or(Value::Null, |s| Value::String((*s).clone())),
        ]
    }

    fn row_strategy() -> impl Strategy<Value = Row> {
        (
            0i64..4,
            proptest::option::weighted(0.8, -50i64..50),
            proptest::option::weighted(0.8, (-5000i64..5000).prop_map(|m| Decimal::new(m, 2))),
            proptest::option::weighted(0.8, "[a-d]{0,2}"),
        )
            .prop_map(|(group, int, dec, text)| Row {
                group,
                int,
                dec,
                text,
            })
    }

    /// (insert?, row to insert, index of the row to delete)
    type Op = (bool, Row, usize);

    fn run(batches: Vec<Vec<Op>>, global: bool) -> Result<(), TestCaseError> {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some(1 << 20)).unwrap();
        let agg = store
            .write(|txn| Aggregate::open(store.env(), txn, "agg", KINDS.to_vec(), global))
            .unwrap();
        let mut live: Vec<Row> = vec![];
        let mut view: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
        for batch in batches {
            let mut input = vec![];
            for (insert, row, idx) in batch {
                if insert || live.is_empty() {
                    input.push((row.clone(), 1));
                    live.push(row);
                } else {
                    let row = live.swap_remove(idx % live.len());
                    input.push((row, -1));
                }
            }
            let rows: Vec<AggRow> = input
                .iter()
                .map(|(r, w)| {
                    let g = if global { 0 } else { r.group };
                    let mut key = vec![];
                    if !global {
                        keycode::encode_i64(&mut key, g);
                    }
                    let mut group = vec![];
                    if !global {
                        g.encode(&mut group);
                    }
                    AggRow {
                        key,
                        group,
                        args: args(r),
                        weight: *w,
                    }
                })
                .collect();
            let changes = store.write(|txn| agg.apply(txn, rows.clone())).unwrap();
            for c in changes {
                let g = if global {
                    0
                } else {
                    i64::decode(&mut Reader::new(&c.group)).unwrap()
                };
                if let Some(old) = c.old {
                    prop_assert_eq!(
                        view.remove(&g),
                        Some(old),
                        "retracted a row that was not current"
                    );
                }
                if let Some(new) = c.new {
                    prop_assert!(
                        view.insert(g, new).is_none(),
                        "inserted a second row for a group"
                    );
                }
            }
            let mut want: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
            if global {
                want.insert(0, expected(&live.iter().collect::<Vec<_>>()));
            } else {
                for g in 0..4 {
                    let rows: Vec<&Row> = live.iter().filter(|r| r.group == g).collect();
                    if !rows.is_empty() {
                        want.insert(g, expected(&rows));
                    }
                }
            }
            prop_assert_eq!(&view, &want);
        }
        Ok(())
    }

    fn batches() -> impl Strategy<Value = Vec<Vec<Op>>> {
        prop::collection::vec(
            prop::collection::vec(
                (prop::bool::weighted(0.6), row_strategy(), any::<usize>()),
                0..12,
            ),
            1..12,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn grouped_aggregates_match_recomputation(b in batches()) {
            run(b, false)?;
        }

        #[test]
        fn global_aggregates_match_recomputation(b in batches()) {
            run(b, true)?;
        }
    }

    #[test]
    fn long_group_keys_and_long_values_keep_min_max_and_distinct_counts_exact() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), None).unwrap();
        let kinds = vec![AggKind::Min, AggKind::Max, AggKind::CountDistinct];
        let agg = store
            .write(|txn| Aggregate::open(store.env(), txn, "agg", kinds.clone(), false))
            .unwrap();
        // Two groups whose keys differ only after 1000 bytes; values that differ only at the end.
        let group = |g: char| format!("{}{g}", "k".repeat(1000));
        let value = |v: char| Value::String(format!("{}{v}", "v".repeat(900)));
        let row = |g: char, v: char, w| {
            let key = keycode::encode_key(&[Value::String(group(g))]);
            AggRow {
                group: key.clone(),
                key,
                args: vec![value(v), value(v), value(v)],
                weight: w,
            }
        };
        let last =
            |changes: Vec<GroupChange>| changes.into_iter().map(|c| c.new).collect::<Vec<_>>();
        let out = store
            .write(|txn| agg.apply(txn, ['c', 'a', 'e', 'b'].map(|v| row('1', v, 1))))
            .unwrap();
        assert_eq!(
            last(out),
            [Some(vec![value('a'), value('e'), Value::Int(4)])]
        );
        store
            .write(|txn| agg.apply(txn, vec![row('2', 'z', 1)]))
            .unwrap();
        // Deleting the current minimum and maximum of group 1 leaves the next ones.
        let out = store
            .write(|txn| agg.apply(txn, vec![row('1', 'a', -1), row('1', 'e', -1)]))
            .unwrap();
        assert_eq!(
            last(out),
            [Some(vec![value('b'), value('c'), Value::Int(2)])]
        );
    }

    #[test]
    fn deleting_more_than_inserted_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), None).unwrap();
        let agg = store
            .write(|txn| Aggregate::open(store.env(), txn, "agg", vec![AggKind::Min], false))
            .unwrap();
        let row = |w| AggRow {
            key: vec![1],
            group: vec![],
            args: vec![Value::Int(1)],
            weight: w,
        };
        store.write(|txn| agg.apply(txn, vec![row(1)])).unwrap();
        let err = store
            .write(|txn| agg.apply(txn, vec![row(-2)]))
            .unwrap_err();
        assert!(matches!(err, OpError::Inconsistent(_)), "{err}");
    }

    #[test]
    fn integer_sums_overflow_only_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), None).unwrap();
        let agg = store
            .write(|txn| Aggregate::open(store.env(), txn, "agg", vec![AggKind::SumInt], true))
            .unwrap();
        let row = |v, w| AggRow {
            key: vec![],
            group: vec![],
            args: vec![Value::Int(v)],
            weight: w,
        };
        // MAX + MAX - MAX in one batch: the intermediate overflows 64 bits, the result does not.
        let changes = store
            .write(|txn| agg.apply(txn, vec![row(i64::MAX, 2), row(i64::MAX, -1)]))
            .unwrap();
        assert_eq!(changes[0].new, Some(vec![Value::Int(i64::MAX)]));
        let err = store
            .write(|txn| agg.apply(txn, vec![row(1, 1)]))
            .unwrap_err();
        assert!(matches!(err, OpError::Overflow(_)), "{err}");
    }
}
