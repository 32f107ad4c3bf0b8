//! Answering a [`Query`] from an endpoint's table inside one read transaction.
//!
//! The planner picks where candidates come from — a primary-key lookup, a secondary index
//! (equality, range or `$in` on an index's first field; a word of a `!FullText` index), an index
//! already in the requested order, or the records in id order — and the executor decodes each
//! candidate and checks the *whole* filter on it, so an index only ever narrows what is read and
//! can never change an answer. Every query is answered: without a usable index the records are
//! scanned, up to a cap on records read per request; past the cap the query is refused with the
//! index that would serve it.
//!
//! A scoped token's row filter ([`Executor::scope`]) is part of every read: ANDed into queries and
//! counts, checked on key lookups and on `$after` cursors, so a row outside the scope does not
//! exist for the request (a by-key read of it is "not found", not "forbidden").
//!
//! Order: `$order_by` fields, ties broken by primary key (descending after a descending last
//! field); without `$order_by`, record id order (insertion order), which is also what an `$after`
//! cursor continues.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::ops::Bound;

use dozer_types::{keycode, Value};
use heed::{RoTxn, WithoutTls};

use super::query::{CompareOp, Filter, Query};
use crate::codec::DecodeError;
use crate::error::OpError;
use crate::row::words;
use crate::table::{KeyRange, Record, Table};
use dozer_types::{EndpointSchema, IndexDef};

/// A record as the API returns it.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordOut {
    pub id: u64,
    pub version: u32,
    pub values: Vec<Value>,
}

#[derive(Debug)]
pub enum ExecError {
    /// The query would read more records than one request may; the message names an index.
    TooExpensive(String),
    /// An `$after` cursor that names no record.
    BadCursor(u64),
    Store(OpError),
}

impl std::fmt::Display for ExecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExecError::TooExpensive(m) => f.write_str(m),
            ExecError::BadCursor(id) => write!(
                f,
                "`$after`: record {id} does not exist (any more); start again without `$after`"
            ),
            ExecError::Store(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ExecError {}

impl From<OpError> for ExecError {
    fn from(e: OpError) -> Self {
        ExecError::Store(e)
    }
}

impl From<DecodeError> for ExecError {
    fn from(e: DecodeError) -> Self {
        ExecError::Store(e.into())
    }
}

impl From<heed::Error> for ExecError {
    fn from(e: heed::Error) -> Self {
        ExecError::Store(e.into())
    }
}

/// Decodes a stored row of the endpoint into its values.
pub type DecodeRow<'a> = &'a dyn Fn(&[u8]) -> Result<Vec<Value>, DecodeError>;

/// Reads one endpoint's table.
pub struct Executor<'a> {
    pub table: &'a Table,
    pub schema: &'a EndpointSchema,
    pub decode: DecodeRow<'a>,
    /// Records one request may read before it is refused.
    pub max_scan: usize,
    /// The request's row scope (a scoped token's filter): no read sees a row outside it.
    pub scope: Option<&'a Filter>,
}

/// Called with each candidate (primary key, record); returns whether to go on.
type Visit<'a> = dyn FnMut(&[u8], Record) -> Result<bool, ExecError> + 'a;

/// Where candidates come from.
#[derive(Clone, Debug, PartialEq)]
enum Access {
    /// These primary keys.
    Keys(Vec<Vec<u8>>),
    /// Index entries within a range (several ranges for `$in`).
    Index {
        index: usize,
        ranges: Vec<KeyRange>,
        /// Entries come in the query's order (the index leads with the `$order_by` field).
        ordered: bool,
        reverse: bool,
    },
    /// Every record in id order.
    Ids,
}

impl Executor<'_> {
    /// The records the query asks for; `default_limit` when it sets none.
    pub fn query(
        &self,
        txn: &RoTxn<WithoutTls>,
        q: &Query,
        default_limit: usize,
    ) -> Result<Vec<RecordOut>, ExecError> {
        let limit = q.limit.unwrap_or(default_limit);
        if limit == 0 {
            return Ok(vec![]);
        }
        let filter = self.scoped(q.filter.as_ref());
        let filter = filter.as_deref();
        let access = self.plan(filter, &q.order_by);
        let streaming = match &access {
            Access::Ids => q.order_by.is_empty(),
            Access::Index { ordered, .. } => *ordered,
            Access::Keys(_) => false,
        };
        let cursor = match q.after {
            Some(id) => Some(self.cursor(txn, id, &q.order_by)?),
            None => None,
        };
        let want = q.skip.saturating_add(limit);
        let mut found: Vec<(Vec<u8>, RecordOut)> = vec![];
        let mut read = 0usize;
        self.candidates(
            txn,
            &access,
            q.after.filter(|_| q.order_by.is_empty()),
            &mut |key, record| {
                read += 1;
                if read > self.max_scan {
                    return Err(self.too_expensive(q));
                }
                let values = (self.decode)(&record.row)?;
                if filter.is_some_and(|f| !matches(f, &values)) {
                    return Ok(true);
                }
                let out = RecordOut {
                    id: record.id,
                    version: record.version,
                    values,
                };
                if let Some(c) = &cursor {
                    if self.compare(&q.order_by, (&out, key), (&c.0, &c.1)) != Ordering::Greater {
                        return Ok(true);
                    }
                }
                found.push((key.to_vec(), out));
                Ok(!(streaming && found.len() >= want))
            },
        )?;
        if !streaming {
            found.sort_by(|a, b| self.compare(&q.order_by, (&a.1, &a.0), (&b.1, &b.0)));
        }
        Ok(found
            .into_iter()
            .skip(q.skip)
            .take(limit)
            .map(|(_, r)| r)
            .collect())
    }

    /// How many records the filter matches.
    pub fn count(
        &self,
        txn: &RoTxn<WithoutTls>,
        filter: Option<&Filter>,
    ) -> Result<u64, ExecError> {
        let filter = self.scoped(filter);
        let Some(filter) = filter.as_deref() else {
            return Ok(self.table.len(txn)?);
        };
        let access = self.plan(Some(filter), &[]);
        let (mut n, mut read) = (0u64, 0usize);
        self.candidates(txn, &access, None, &mut |_, record| {
            read += 1;
            if read > self.max_scan {
                return Err(self.too_expensive(&Query {
                    filter: Some(filter.clone()),
                    ..Query::default()
                }));
            }
            if matches(filter, &(self.decode)(&record.row)?) {
                n += 1;
            }
            Ok(true)
        })?;
        Ok(n)
    }

    /// A record by primary key values (`GET <path>/{id}`); `None` when absent.
    pub fn by_key(
        &self,
        txn: &RoTxn<WithoutTls>,
        key: &[Value],
    ) -> Result<Option<RecordOut>, ExecError> {
        let Some(record) = self.table.get(txn, &keycode::encode_key(key))? else {
            return Ok(None);
        };
        self.in_scope(RecordOut {
            id: record.id,
            version: record.version,
            values: (self.decode)(&record.row)?,
        })
    }

    /// A record by its record id.
    pub fn by_id(&self, txn: &RoTxn<WithoutTls>, id: u64) -> Result<Option<RecordOut>, ExecError> {
        let Some(record) = self.table.get_by_id(txn, id)? else {
            return Ok(None);
        };
        self.in_scope(RecordOut {
            id: record.id,
            version: record.version,
            values: (self.decode)(&record.row)?,
        })
    }

    /// The record, unless it lies outside the request's scope.
    fn in_scope(&self, r: RecordOut) -> Result<Option<RecordOut>, ExecError> {
        Ok(self
            .scope
            .is_none_or(|s| matches(s, &r.values))
            .then_some(r))
    }

    /// A request's filter with the scope ANDed in.
    fn scoped<'q>(&'q self, filter: Option<&'q Filter>) -> Option<Cow<'q, Filter>> {
        match (self.scope, filter) {
            (None, f) => f.map(Cow::Borrowed),
            (Some(s), None) => Some(Cow::Borrowed(s)),
            (Some(s), Some(f)) => Some(Cow::Owned(Filter::And(vec![s.clone(), f.clone()]))),
        }
    }

    /// The cursor record and its primary key.
    fn cursor(
        &self,
        txn: &RoTxn<WithoutTls>,
        id: u64,
        order_by: &[(usize, bool)],
    ) -> Result<(RecordOut, Vec<u8>), ExecError> {
        if order_by.is_empty() {
            // Id order: the cursor is the id itself (the record may be gone).
            return Ok((
                RecordOut {
                    id,
                    version: 0,
                    values: vec![],
                },
                vec![],
            ));
        }
        let key = self
            .table
            .ids_from(txn, id)?
            .next()
            .transpose()?
            .filter(|(found, _)| *found == id)
            .map(|(_, key)| key)
            .ok_or(ExecError::BadCursor(id))?;
        let record = self.table.get(txn, &key)?.ok_or(ExecError::BadCursor(id))?;
        // A cursor on a row outside the scope would reveal where that row sorts.
        let record = self
            .in_scope(RecordOut {
                id,
                version: record.version,
                values: (self.decode)(&record.row)?,
            })?
            .ok_or(ExecError::BadCursor(id))?;
        Ok((record, key))
    }

    /// Query order: the `$order_by` fields, then primary key in the direction of the last of them
    /// (as an index on the field, read forwards or backwards, has them); or record id.
    fn compare(
        &self,
        order_by: &[(usize, bool)],
        a: (&RecordOut, &[u8]),
        b: (&RecordOut, &[u8]),
    ) -> Ordering {
        if order_by.is_empty() {
            return a.0.id.cmp(&b.0.id);
        }
        for &(field, desc) in order_by {
            let o = value_key(&a.0.values[field]).cmp(&value_key(&b.0.values[field]));
            let o = if desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        let o = a.1.cmp(b.1);
        if order_by.last().is_some_and(|(_, desc)| *desc) {
            o.reverse()
        } else {
            o
        }
    }

    fn too_expensive(&self, q: &Query) -> ExecError {
        let fields = &self.schema.fields;
        let hint = match (first_condition_field(q.filter.as_ref()), q.order_by.first()) {
            (Some(f), _) => format!(
                "add a secondary index on `{}` to the endpoint (`index: {{ secondary: {{ create: [ !SortedInverted {{ fields: [{}] }} ] }} }}`), or narrow the filter",
                fields[f].name, fields[f].name
            ),
            (None, Some((f, _))) => format!(
                "sorting by `{}` needs a secondary index that starts with it (`!SortedInverted {{ fields: [{}] }}`)",
                fields[*f].name, fields[*f].name
            ),
            (None, None) => "narrow the query with a filter".to_string(),
        };
        ExecError::TooExpensive(format!(
            "this query reads more than {} records of `{}`; {hint}",
            self.max_scan, self.schema.name
        ))
    }

    /// Chooses where candidates come from.
    fn plan(&self, filter: Option<&Filter>, order_by: &[(usize, bool)]) -> Access {
        let conjuncts: Vec<&Filter> = match filter {
            Some(Filter::And(parts)) => parts.iter().collect(),
            Some(f) => vec![f],
            None => vec![],
        };
        // A complete primary key by equality (or a one-field key by `$in`).
        if let Some(pk) = &self.schema.primary_key {
            if !pk.is_empty() {
                if let Some(keys) = key_lookups(pk, &conjuncts) {
                    return Access::Keys(keys);
                }
            }
        }
        let mut best: Option<(u8, Access)> = None;
        for c in &conjuncts {
            if let Some((rank, access)) = self.index_access(c, order_by) {
                if best.as_ref().is_none_or(|(r, _)| rank < *r) {
                    best = Some((rank, access));
                }
            }
        }
        if let Some((_, access)) = best {
            return access;
        }
        // An index in the requested order.
        if let [(field, desc)] = order_by {
            let exact = IndexDef::Sorted(vec![*field]);
            if let Some(index) = self.schema.indexes.iter().position(|ix| *ix == exact) {
                return Access::Index {
                    index,
                    ranges: vec![(Bound::Unbounded, Bound::Unbounded)],
                    ordered: true,
                    reverse: *desc,
                };
            }
        }
        Access::Ids
    }

    /// An index that serves one condition, ranked (equality first).
    fn index_access(&self, c: &Filter, order_by: &[(usize, bool)]) -> Option<(u8, Access)> {
        // Entries of an index on exactly this field come in the query's order when it orders by
        // that field alone.
        let single_order = |field: usize, index: usize| -> (bool, bool) {
            match order_by {
                [(f, desc)]
                    if *f == field
                        && self.schema.indexes[index] == IndexDef::Sorted(vec![field]) =>
                {
                    (true, *desc)
                }
                _ => (false, false),
            }
        };
        match c {
            Filter::Compare { field, op, value } if !value.is_null() && *op != CompareOp::Ne => {
                let index = self.sorted_index_on(*field)?;
                let k = value_key(value);
                let range = match op {
                    CompareOp::Eq => (Bound::Included(k.clone()), Bound::Included(past(&k))),
                    CompareOp::Lt => (Bound::Unbounded, Bound::Excluded(k)),
                    CompareOp::Lte => (Bound::Unbounded, Bound::Included(past(&k))),
                    CompareOp::Gt | CompareOp::Gte => (Bound::Included(k), Bound::Unbounded),
                    CompareOp::Ne => return None,
                };
                let (ordered, reverse) = single_order(*field, index);
                let rank = if *op == CompareOp::Eq { 1 } else { 3 };
                Some((
                    rank,
                    Access::Index {
                        index,
                        ranges: vec![range],
                        ordered,
                        reverse,
                    },
                ))
            }
            Filter::In { field, values } if !values.iter().any(Value::is_null) => {
                let index = self.sorted_index_on(*field)?;
                let mut keys: Vec<Vec<u8>> = values.iter().map(value_key).collect();
                keys.sort();
                keys.dedup();
                let ranges = keys
                    .into_iter()
                    .map(|k| {
                        let hi = past(&k);
                        (Bound::Included(k), Bound::Included(hi))
                    })
                    .collect();
                let (ordered, reverse) = single_order(*field, index);
                Some((
                    2,
                    Access::Index {
                        index,
                        ranges,
                        ordered,
                        reverse,
                    },
                ))
            }
            Filter::Words { field, words, all }
                if !words.is_empty() && (*all || words.len() == 1) =>
            {
                let index = self
                    .schema
                    .indexes
                    .iter()
                    .position(|ix| *ix == IndexDef::FullText(*field))?;
                let mut k = vec![];
                keycode::encode_str(&mut k, &words[0]);
                let hi = past(&k);
                Some((
                    2,
                    Access::Index {
                        index,
                        ranges: vec![(Bound::Included(k), Bound::Included(hi))],
                        ordered: false,
                        reverse: false,
                    },
                ))
            }
            _ => None,
        }
    }

    fn sorted_index_on(&self, field: usize) -> Option<usize> {
        self.schema
            .indexes
            .iter()
            .position(|ix| matches!(ix, IndexDef::Sorted(cols) if cols.first() == Some(&field)))
    }

    /// Calls `f` with each candidate (primary key, record) until it returns `false`.
    fn candidates(
        &self,
        txn: &RoTxn<WithoutTls>,
        access: &Access,
        after_id: Option<u64>,
        f: &mut Visit<'_>,
    ) -> Result<(), ExecError> {
        match access {
            Access::Keys(keys) => {
                for key in keys {
                    if let Some(record) = self.table.get(txn, key)? {
                        if !f(key, record)? {
                            break;
                        }
                    }
                }
            }
            Access::Ids => {
                let from = after_id.map_or(0, |id| id.saturating_add(1));
                for entry in self.table.ids_from(txn, from)? {
                    let (_, key) = entry?;
                    if let Some(record) = self.table.get(txn, &key)? {
                        if !f(&key, record)? {
                            break;
                        }
                    }
                }
            }
            Access::Index {
                index,
                ranges,
                reverse,
                ..
            } => {
                // Shortened (long) entries may appear in more than one range, or twice.
                let mut seen = std::collections::HashSet::new();
                let ordered: Vec<&KeyRange> = if *reverse {
                    ranges.iter().rev().collect()
                } else {
                    ranges.iter().collect()
                };
                'ranges: for range in ordered {
                    for key in self
                        .table
                        .index_range(txn, *index, range.clone(), *reverse)?
                    {
                        let key = key?;
                        if !seen.insert(key.clone()) {
                            continue;
                        }
                        if let Some(record) = self.table.get(txn, &key)? {
                            if !f(&key, record)? {
                                break 'ranges;
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// The bytes just past every key that starts with `k`: `keycode` values start with 0x00 or 0x01,
/// so nothing that extends `k` reaches `k ++ [0xFF]`.
fn past(k: &[u8]) -> Vec<u8> {
    let mut out = k.to_vec();
    out.push(0xFF);
    out
}

fn value_key(v: &Value) -> Vec<u8> {
    let mut k = vec![];
    keycode::encode_value(&mut k, v);
    k
}

/// Primary keys from equality (or `$in` for a one-field key) on every key field.
fn key_lookups(pk: &[usize], conjuncts: &[&Filter]) -> Option<Vec<Vec<u8>>> {
    let eq = |field: usize| {
        conjuncts.iter().find_map(|c| match c {
            Filter::Compare {
                field: f,
                op: CompareOp::Eq,
                value,
            } if *f == field && !value.is_null() => Some(vec![value.clone()]),
            Filter::In { field: f, values } if *f == field && pk.len() == 1 => {
                Some(values.iter().filter(|v| !v.is_null()).cloned().collect())
            }
            _ => None,
        })
    };
    if pk.len() == 1 {
        let values = eq(pk[0])?;
        let mut keys: Vec<Vec<u8>> = values
            .iter()
            .map(|v| keycode::encode_key(std::slice::from_ref(v)))
            .collect();
        keys.sort();
        keys.dedup();
        return Some(keys);
    }
    let mut values = vec![];
    for &f in pk {
        values.push(eq(f)?.pop()?);
    }
    Some(vec![keycode::encode_key(&values)])
}

/// The field of the first condition of a filter (for an index hint).
fn first_condition_field(filter: Option<&Filter>) -> Option<usize> {
    match filter? {
        Filter::And(parts) | Filter::Or(parts) => {
            parts.iter().find_map(|p| first_condition_field(Some(p)))
        }
        Filter::Not(inner) => first_condition_field(Some(inner)),
        Filter::Compare { field, .. } | Filter::In { field, .. } | Filter::Words { field, .. } => {
            Some(*field)
        }
    }
}

/// Whether a row's values satisfy a filter.
pub fn matches(filter: &Filter, values: &[Value]) -> bool {
    match filter {
        Filter::And(parts) => parts.iter().all(|p| matches(p, values)),
        Filter::Or(parts) => parts.iter().any(|p| matches(p, values)),
        Filter::Not(inner) => !matches(inner, values),
        Filter::Compare { field, op, value } => {
            let v = &values[*field];
            match (op, v.is_null(), value.is_null()) {
                (CompareOp::Eq, a, b) if a || b => a && b,
                (CompareOp::Ne, a, b) if a || b => a != b,
                (_, true, _) => false,
                _ => {
                    let o = value_key(v).cmp(&value_key(value));
                    match op {
                        CompareOp::Eq => o == Ordering::Equal,
                        CompareOp::Ne => o != Ordering::Equal,
                        CompareOp::Lt => o == Ordering::Less,
                        CompareOp::Lte => o != Ordering::Greater,
                        CompareOp::Gt => o == Ordering::Greater,
                        CompareOp::Gte => o != Ordering::Less,
                    }
                }
            }
        }
        Filter::In {
            field,
            values: list,
        } => {
            let v = value_key(&values[*field]);
            list.iter().any(|x| value_key(x) == v)
        }
        Filter::Words {
            field,
            words: want,
            all,
        } => {
            let text = match &values[*field] {
                Value::String(s) | Value::Text(s) => s,
                _ => return false,
            };
            let have = words(text);
            if *all {
                want.iter().all(|w| have.contains(w))
            } else {
                want.iter().any(|w| have.contains(w))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use dozer_types::SqlType;
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::api::query::{parse_filter, parse_query, QueryLimits};
    use crate::codec::{Decode, Encode, Reader};
    use crate::store::Store;
    use crate::table::{ConflictPolicy, KeyKind, OnConflict, RowKeys};
    use dozer_types::FieldDef;

    const UPSERT: ConflictPolicy = ConflictPolicy {
        on_insert: OnConflict::Apply,
        on_update: OnConflict::Apply,
        on_delete: OnConflict::Nothing,
    };

    /// Rows: id (key), name (nullable), price, note (text for word search).
    type Row = (i64, Option<String>, i64, String);

    fn values(r: &Row) -> Vec<Value> {
        vec![
            Value::Int(r.0),
            r.1.clone().map_or(Value::Null, Value::String),
            Value::Int(r.2),
            Value::String(r.3.clone()),
        ]
    }

    fn encode(r: &Row) -> Vec<u8> {
        let mut out = vec![];
        for v in values(r) {
            v.encode(&mut out);
        }
        out
    }

    fn decode(bytes: &[u8]) -> Result<Vec<Value>, DecodeError> {
        let mut r = Reader::new(bytes);
        (0..4).map(|_| Value::decode(&mut r)).collect()
    }

    fn schema(indexes: Vec<IndexDef>) -> EndpointSchema {
        EndpointSchema {
            name: "items".into(),
            path: "/items".into(),
            fields: [
                ("id", SqlType::Int, false),
                ("name", SqlType::String, true),
                ("price", SqlType::Int, false),
                ("note", SqlType::String, false),
            ]
            .into_iter()
            .map(|(n, ty, nullable)| FieldDef {
                name: n.into(),
                ty,
                nullable,
            })
            .collect(),
            primary_key: Some(vec![0]),
            indexes,
            cache_control: None,
        }
    }

    struct Keys(Vec<IndexDef>);

    impl RowKeys for Keys {
        fn primary_key(&self, row: &[u8]) -> Result<Vec<u8>, OpError> {
            Ok(keycode::encode_key(&decode(row)?[..1]))
        }

        fn index_keys(&self, row: &[u8], out: &mut Vec<(usize, Vec<u8>)>) -> Result<(), OpError> {
            let v = decode(row)?;
            for (i, ix) in self.0.iter().enumerate() {
                match ix {
                    IndexDef::Sorted(cols) => {
                        let parts: Vec<Value> = cols.iter().map(|&c| v[c].clone()).collect();
                        out.push((i, keycode::encode_key(&parts)));
                    }
                    IndexDef::FullText(f) => {
                        let Value::String(s) = &v[*f] else { continue };
                        crate::row::word_keys(s, i, out);
                    }
                }
            }
            Ok(())
        }
    }

    fn index_sets() -> Vec<Vec<IndexDef>> {
        vec![
            vec![],
            vec![
                IndexDef::Sorted(vec![1]),
                IndexDef::Sorted(vec![2]),
                IndexDef::FullText(3),
            ],
            vec![IndexDef::Sorted(vec![2, 1]), IndexDef::Sorted(vec![1, 2])],
        ]
    }

    /// The brute-force answer: filter everything, sort by the query's order, page.
    fn model(rows: &[(u64, Row)], q: &Query, ex: &Executor<'_>) -> Vec<u64> {
        let mut all: Vec<(Vec<u8>, RecordOut)> = rows
            .iter()
            .map(|(id, r)| {
                (
                    keycode::encode_key(&values(r)[..1]),
                    RecordOut {
                        id: *id,
                        version: 1,
                        values: values(r),
                    },
                )
            })
            .filter(|(_, r)| q.filter.as_ref().is_none_or(|f| matches(f, &r.values)))
            .collect();
        all.sort_by(|a, b| ex.compare(&q.order_by, (&a.1, &a.0), (&b.1, &b.0)));
        let start = match q.after {
            None => 0,
            Some(after) => {
                if q.order_by.is_empty() {
                    all.iter()
                        .position(|(_, r)| r.id > after)
                        .unwrap_or(all.len())
                } else {
                    let at = all.iter().position(|(_, r)| r.id == after);
                    match at {
                        Some(i) => i + 1,
                        // The cursor row does not match the filter: find its place among all rows.
                        None => {
                            let (_, c) = rows.iter().find(|(id, _)| *id == after).expect("cursor");
                            let ck = keycode::encode_key(&values(c)[..1]);
                            let cr = RecordOut {
                                id: after,
                                version: 1,
                                values: values(c),
                            };
                            all.iter()
                                .position(|(k, r)| {
                                    ex.compare(&q.order_by, (r, k), (&cr, &ck)) == Ordering::Greater
                                })
                                .unwrap_or(all.len())
                        }
                    }
                }
            }
        };
        all.into_iter()
            .skip(start)
            .skip(q.skip)
            .take(q.limit.unwrap_or(50))
            .map(|(_, r)| r.id)
            .collect()
    }

    fn filter_strategy() -> impl Strategy<Value = serde_json::Value> {
        let name = prop_oneof![Just(json!(null)), "[a-c]".prop_map(|s| json!(s))];
        let leaf = prop_oneof![
            (0i64..30).prop_map(|v| json!({"id": v})),
            prop::collection::vec(0i64..30, 0..4).prop_map(|v| json!({"id": {"$in": v}})),
            name.clone().prop_map(|n| json!({"name": n})),
            name.prop_map(|n| json!({"name": {"$ne": n}})),
            ("\\$(lt|lte|gt|gte|eq|ne)", 0i64..10).prop_map(|(op, v)| json!({"price": {op: v}})),
            prop::collection::vec(0i64..10, 1..4).prop_map(|v| json!({"price": {"$in": v}})),
            "[a-c]".prop_map(|w| json!({"name": {"$gte": w}})),
            prop_oneof![Just("red"), Just("green"), Just("red apple"), Just("pear")]
                .prop_map(|w| json!({"note": {"$contains": w}})),
            Just(json!({"note": {"$matches_any": ["pear", "green"]}})),
        ];
        leaf.prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..3).prop_map(|v| json!({"$and": v})),
                prop::collection::vec(inner.clone(), 1..3).prop_map(|v| json!({"$or": v})),
                inner.prop_map(|f| json!({"$not": f})),
            ]
        })
    }

    fn query_strategy() -> impl Strategy<Value = serde_json::Value> {
        let order = prop_oneof![
            Just(json!(null)),
            Just(json!({"price": "asc"})),
            Just(json!({"price": "desc"})),
            Just(json!({"name": "desc", "price": "asc"})),
            Just(json!({"name": "asc"})),
        ];
        (
            proptest::option::of(filter_strategy()),
            order,
            0usize..4,
            1usize..6,
            proptest::option::of(0u64..32),
        )
            .prop_map(|(f, o, skip, limit, after)| {
                let mut q = serde_json::Map::new();
                if let Some(f) = f {
                    q.insert("$filter".into(), f);
                }
                if !o.is_null() {
                    q.insert("$order_by".into(), o);
                }
                q.insert("$limit".into(), json!(limit));
                match after {
                    Some(a) => q.insert("$after".into(), json!(a)),
                    None => q.insert("$skip".into(), json!(skip)),
                };
                serde_json::Value::Object(q)
            })
    }

    fn row_strategy() -> impl Strategy<Value = Row> {
        (
            0i64..30,
            proptest::option::of("[a-c]"),
            0i64..10,
            prop_oneof![
                Just("red apple"),
                Just("green Apple pie"),
                Just("pear"),
                Just("")
            ],
        )
            .prop_map(|(id, n, p, t)| (id, n, p, t.to_string()))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn every_plan_gives_the_brute_force_answer(
            rows in prop::collection::vec(row_strategy(), 0..25),
            deleted in prop::collection::vec(0i64..30, 0..5),
            queries in prop::collection::vec(query_strategy(), 1..6),
            scope in proptest::option::of(filter_strategy()),
        ) {
            for indexes in index_sets() {
                let dir = tempfile::tempdir().unwrap();
                let store = Store::open(dir.path(), None).unwrap();
                let keys = Keys(indexes.clone());
                let table = store
                    .write(|txn| Table::open(store.env(), txn, "t", KeyKind::Primary, UPSERT, indexes.len()))
                    .unwrap();
                let batch: Vec<(Vec<u8>, i64)> = rows.iter().map(|r| (encode(r), 1)).collect();
                store.write(|txn| table.apply(txn, &keys, batch.clone())).unwrap();
                let view = store.read().unwrap();
                // The live rows with their ids (one row per key survives a batch).
                let mut live: Vec<(u64, Row)> = vec![];
                for entry in table.ids_from(&view, 0).unwrap() {
                    let (id, key) = entry.unwrap();
                    let rec = table.get(&view, &key).unwrap().unwrap();
                    let v = decode(&rec.row).unwrap();
                    let (Value::Int(k), Value::Int(p), Value::String(t)) = (&v[0], &v[2], &v[3]) else { panic!("{v:?}") };
                    let n = match &v[1] { Value::String(n) => Some(n.clone()), _ => None };
                    live.push((id, (*k, n, *p, t.clone())));
                }
                drop(view);
                let dels: Vec<(Vec<u8>, i64)> = live.iter().filter(|(_, r)| deleted.contains(&r.0)).map(|(_, r)| (encode(r), -1)).collect();
                store.write(|txn| table.apply(txn, &keys, dels.clone())).unwrap();
                live.retain(|(_, r)| !deleted.contains(&r.0));
                let view = store.read().unwrap();
                let schema = schema(indexes.clone());
                // A token's scope: the answers are those over the rows inside it, and a key
                // lookup finds exactly those rows.
                let scope = scope.as_ref().map(|s| {
                    parse_filter(s, &schema.fields, None, QueryLimits::default()).unwrap().unwrap()
                });
                let ex = Executor { table: &table, schema: &schema, decode: &decode, max_scan: 1_000, scope: scope.as_ref() };
                for (_, r) in &live {
                    let found = ex.by_key(&view, &values(r)[..1]).unwrap().is_some();
                    prop_assert_eq!(found, scope.as_ref().is_none_or(|f| matches(f, &values(r))));
                }
                live.retain(|(_, r)| scope.as_ref().is_none_or(|f| matches(f, &values(r))));
                for qj in &queries {
                    let q = parse_query(qj, &schema.fields, None, QueryLimits::default()).unwrap();
                    let cursor_gone = q.after.is_some_and(|a| !q.order_by.is_empty() && !live.iter().any(|(id, _)| *id == a));
                    match ex.query(&view, &q, 50) {
                        Err(ExecError::BadCursor(_)) if cursor_gone => {}
                        Err(e) => prop_assert!(false, "{qj}: {e}"),
                        Ok(got) => {
                            let got: Vec<u64> = got.iter().map(|r| r.id).collect();
                            prop_assert_eq!(got, model(&live, &q, &ex), "{} with indexes {:?}", qj, indexes);
                        }
                    }
                    let n = ex.count(&view, q.filter.as_ref()).unwrap();
                    let want = live.iter().filter(|(_, r)| q.filter.as_ref().is_none_or(|f| matches(f, &values(r)))).count();
                    prop_assert_eq!(n as usize, want, "count {}", qj);
                }
            }
        }
    }

    #[test]
    fn a_scan_past_the_cap_names_the_index_to_add() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), None).unwrap();
        let table = store
            .write(|txn| Table::open(store.env(), txn, "t", KeyKind::Primary, UPSERT, 0))
            .unwrap();
        let rows: Vec<(Vec<u8>, i64)> = (0..50)
            .map(|i| (encode(&(i, None, i % 7, String::new())), 1))
            .collect();
        store
            .write(|txn| table.apply(txn, &Keys(vec![]), rows.clone()))
            .unwrap();
        let schema = schema(vec![]);
        let ex = Executor {
            table: &table,
            schema: &schema,
            decode: &decode,
            max_scan: 10,
            scope: None,
        };
        let view = store.read().unwrap();
        let q = parse_query(
            &json!({"$filter": {"price": 3}}),
            &schema.fields,
            None,
            QueryLimits::default(),
        )
        .unwrap();
        let e = ex.query(&view, &q, 50).unwrap_err().to_string();
        assert!(
            e.contains("more than 10 records") && e.contains("secondary index on `price`"),
            "{e}"
        );
        // A key lookup reads one record, whatever the cap.
        let q = parse_query(
            &json!({"$filter": {"id": 3}}),
            &schema.fields,
            None,
            QueryLimits::default(),
        )
        .unwrap();
        assert_eq!(ex.query(&view, &q, 50).unwrap().len(), 1);
    }
}
