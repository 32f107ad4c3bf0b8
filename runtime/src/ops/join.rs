//! INNER, LEFT and RIGHT equi-joins, incrementally, with retractions.
//!
//! Both sides' rows are kept in LMDB by join key, with multiplicities. For a batch, per join key:
//! the join changes by `ΔL ⋈ R_old + L_new ⋈ ΔR` (every change counted once), and for an outer join
//! the NULL-padded rows of the preserved side change only when the other side's rows for that key go
//! from none to some or back — so the common case (the other side stays non-empty) costs nothing
//! extra. Rows whose join key has a NULL never match (SQL: NULL = NULL is not true); they need no
//! state and appear NULL-padded when their side is preserved.
//!
//! The operator works on encoded rows (`codec`) and `keycode` join keys, so it is compiled once for
//! every app; generated code encodes inputs and decodes outputs. LMDB keys are at most 511 bytes, so
//! state is keyed by stable 128-bit hashes (xxh3) of the join key and of the row; the real bytes are
//! stored in the value and compared on every lookup, so a hash collision is reported as an error and
//! can never produce a wrong row.

use std::collections::BTreeMap;

use heed::types::Bytes;
use heed::{Database, Env, RwTxn, WithoutTls};
use xxhash_rust::xxh3::xxh3_128;

use super::counted;
use crate::codec::{Decode, Encode, Reader};
use crate::error::OpError;
use crate::weight::Weight;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinKind {
    Inner,
    Left,
    Right,
}

/// One changed input row: `key` is the `keycode` encoding of its join columns (`None` when one of
/// them is NULL), `row` its encoded values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinInput {
    pub key: Option<Vec<u8>>,
    pub row: Vec<u8>,
    pub weight: Weight,
}

/// One output change: a left row and a right row (`None` = the NULL-padded side) and a weight.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct JoinOutput {
    pub left: Option<Vec<u8>>,
    pub right: Option<Vec<u8>>,
    pub weight: Weight,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Left = 0,
    Right = 1,
}

pub struct Join {
    kind: JoinKind,
    rows: Database<Bytes, Bytes>,
}

/// A side's rows for one join key: row bytes → multiplicity.
type Rows = BTreeMap<Vec<u8>, Weight>;

/// Output accumulated for a batch: (left, right) → weight.
type Changes = BTreeMap<(Option<Vec<u8>>, Option<Vec<u8>>), Weight>;

fn emit(
    out: &mut Changes,
    left: Option<&[u8]>,
    right: Option<&[u8]>,
    w: Weight,
) -> Result<(), OpError> {
    if w == 0 {
        return Ok(());
    }
    let e = out
        .entry((left.map(<[u8]>::to_vec), right.map(<[u8]>::to_vec)))
        .or_insert(0);
    *e = e
        .checked_add(w)
        .ok_or_else(|| OpError::Overflow("a join output multiplicity".into()))?;
    Ok(())
}

fn product(a: Weight, b: Weight) -> Result<Weight, OpError> {
    a.checked_mul(b)
        .ok_or_else(|| OpError::Overflow("a join output multiplicity".into()))
}

impl Join {
    pub fn open(
        env: &Env<WithoutTls>,
        txn: &mut RwTxn,
        name: &str,
        kind: JoinKind,
    ) -> Result<Self, OpError> {
        let rows = env.create_database(txn, Some(&format!("{name}.rows")))?;
        Ok(Join { kind, rows })
    }

    fn preserves(&self, side: Side) -> bool {
        matches!(
            (self.kind, side),
            (JoinKind::Left, Side::Left) | (JoinKind::Right, Side::Right)
        )
    }

    /// Applies changes to both sides and returns the join's changes (weights summed per output row,
    /// zeros dropped), in a deterministic order.
    pub fn apply(
        &self,
        txn: &mut RwTxn,
        left: Vec<JoinInput>,
        right: Vec<JoinInput>,
    ) -> Result<Vec<JoinOutput>, OpError> {
        let mut out = Changes::new();
        // Per join key: (ΔL, ΔR), identical rows consolidated.
        let mut deltas: BTreeMap<Vec<u8>, (Rows, Rows)> = BTreeMap::new();
        for (side, inputs) in [(Side::Left, left), (Side::Right, right)] {
            for input in inputs {
                let Some(key) = input.key else {
                    // A NULL join key matches nothing: padded if this side is preserved, else dropped.
                    if self.preserves(side) {
                        let (l, r) = if side == Side::Left {
                            (Some(&input.row[..]), None)
                        } else {
                            (None, Some(&input.row[..]))
                        };
                        emit(&mut out, l, r, input.weight)?;
                    }
                    continue;
                };
                let entry = deltas.entry(key).or_default();
                let rows = if side == Side::Left {
                    &mut entry.0
                } else {
                    &mut entry.1
                };
                *rows.entry(input.row).or_insert(0) += input.weight;
            }
        }
        for (key, (dl, dr)) in deltas {
            self.apply_key(txn, &key, dl, dr, &mut out)?;
        }
        Ok(out
            .into_iter()
            .filter(|(_, w)| *w != 0)
            .map(|((left, right), weight)| JoinOutput {
                left,
                right,
                weight,
            })
            .collect())
    }

    fn apply_key(
        &self,
        txn: &mut RwTxn,
        key: &[u8],
        dl: Rows,
        dr: Rows,
        out: &mut Changes,
    ) -> Result<(), OpError> {
        let dl: Rows = dl.into_iter().filter(|(_, w)| *w != 0).collect();
        let dr: Rows = dr.into_iter().filter(|(_, w)| *w != 0).collect();
        // The left rows are needed for `L_new ⋈ ΔR`, and by outer joins for the padding.
        let need_left = !dr.is_empty() || self.kind != JoinKind::Inner;
        let l_old = if need_left {
            self.load(txn, Side::Left, key)?
        } else {
            Rows::new()
        };
        let r_old = self.load(txn, Side::Right, key)?;
        // ΔL ⋈ R_old
        for (l, wl) in &dl {
            for (r, cr) in &r_old {
                emit(out, Some(l), Some(r), product(*wl, *cr)?)?;
            }
        }
        let l_new = merged(&l_old, &dl);
        // L_new ⋈ ΔR
        for (r, wr) in &dr {
            for (l, cl) in &l_new {
                emit(out, Some(l), Some(r), product(*cl, *wr)?)?;
            }
        }
        let r_new = merged(&r_old, &dr);
        self.store(txn, Side::Left, key, &dl)?;
        self.store(txn, Side::Right, key, &dr)?;

        // The preserved side's rows are NULL-padded exactly while the other side has none.
        let (side, rows_old, rows_new, delta, other_old, other_new) = match self.kind {
            JoinKind::Inner => return Ok(()),
            JoinKind::Left => (Side::Left, &l_old, &l_new, &dl, &r_old, &r_new),
            JoinKind::Right => (Side::Right, &r_old, &r_new, &dr, &l_old, &l_new),
        };
        let padded = |out: &mut Changes, row: &[u8], w: Weight| match side {
            Side::Left => emit(out, Some(row), None, w),
            Side::Right => emit(out, None, Some(row), w),
        };
        match (other_old.is_empty(), other_new.is_empty()) {
            // Still unmatched: only the changed rows' padding changes.
            (true, true) => {
                for (row, w) in delta {
                    padded(out, row, *w)?;
                }
            }
            // Newly matched: the old padded rows go.
            (true, false) => {
                for (row, c) in rows_old {
                    padded(out, row, -c)?;
                }
            }
            // Newly unmatched: the current rows come back padded.
            (false, true) => {
                for (row, c) in rows_new {
                    padded(out, row, *c)?;
                }
            }
            (false, false) => {}
        }
        Ok(())
    }

    fn prefix(side: Side, key: &[u8]) -> Vec<u8> {
        let mut p = Vec::with_capacity(33);
        p.push(side as u8);
        p.extend(xxh3_128(key).to_be_bytes());
        p
    }

    /// A side's rows for a join key.
    fn load(&self, txn: &RwTxn, side: Side, key: &[u8]) -> Result<Rows, OpError> {
        let mut rows = Rows::new();
        for entry in self.rows.prefix_iter(txn, &Self::prefix(side, key))? {
            let (_, bytes) = entry?;
            let (count, stored_key, row) = decode_entry(bytes)?;
            if stored_key == key {
                rows.insert(row, count);
            }
        }
        Ok(rows)
    }

    /// Adds multiplicity changes to a side's stored rows for a join key.
    fn store(&self, txn: &mut RwTxn, side: Side, key: &[u8], delta: &Rows) -> Result<(), OpError> {
        let mut db_key = Self::prefix(side, key);
        let prefix_len = db_key.len();
        for (row, w) in delta {
            db_key.truncate(prefix_len);
            db_key.extend(xxh3_128(row).to_be_bytes());
            counted::add(
                &self.rows,
                txn,
                &db_key,
                &payload(key, row),
                *w,
                "join rows",
            )?;
        }
        Ok(())
    }
}

/// What is stored for a row: its join key and its bytes.
fn payload(key: &[u8], row: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + row.len() + 8);
    key.encode(&mut out);
    row.encode(&mut out);
    out
}

fn decode_entry(bytes: &[u8]) -> Result<(Weight, Vec<u8>, Vec<u8>), OpError> {
    let (count, payload) = counted::decode(bytes)?;
    let mut r = Reader::new(&payload);
    Ok((
        count,
        Vec::<u8>::decode(&mut r)?,
        Vec::<u8>::decode(&mut r)?,
    ))
}

/// `rows + delta`, dropping rows whose multiplicity becomes zero.
fn merged(rows: &Rows, delta: &Rows) -> Rows {
    let mut out = rows.clone();
    for (row, w) in delta {
        let e = out.entry(row.clone()).or_insert(0);
        *e += w;
        if *e == 0 {
            out.remove(row);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use dozer_types::keycode;
    use proptest::prelude::*;

    use super::*;
    use crate::store::Store;

    /// A test row: (join key, payload); duplicates are allowed (multisets).
    type Row = (Option<i64>, i64);

    fn encode(r: &Row) -> Vec<u8> {
        let mut out = vec![];
        r.0.encode(&mut out);
        r.1.encode(&mut out);
        out
    }

    fn input(r: &Row, weight: Weight) -> JoinInput {
        let key = r.0.map(|k| {
            let mut out = vec![];
            keycode::encode_i64(&mut out, k);
            out
        });
        JoinInput {
            key,
            row: encode(r),
            weight,
        }
    }

    type Multiset = BTreeMap<(Option<Vec<u8>>, Option<Vec<u8>>), Weight>;

    fn brute_force(kind: JoinKind, left: &[Row], right: &[Row]) -> Multiset {
        let mut out = Multiset::new();
        let mut add = |l: Option<&Row>, r: Option<&Row>| {
            *out.entry((l.map(encode), r.map(encode))).or_insert(0) += 1
        };
        let matches = |a: &Row, b: &Row| a.0.is_some() && a.0 == b.0;
        for l in left {
            for r in right.iter().filter(|r| matches(l, r)) {
                add(Some(l), Some(r));
            }
        }
        if kind == JoinKind::Left {
            for l in left.iter().filter(|l| !right.iter().any(|r| matches(l, r))) {
                add(Some(l), None);
            }
        }
        if kind == JoinKind::Right {
            for r in right.iter().filter(|r| !left.iter().any(|l| matches(l, r))) {
                add(None, Some(r));
            }
        }
        out
    }

    /// (left side?, insert?, row, index of the row to delete)
    type Op = (bool, bool, Row, usize);

    fn run(kind: JoinKind, batches: Vec<Vec<Op>>) -> Result<(), TestCaseError> {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some(1 << 20)).unwrap();
        let join = store
            .write(|txn| Join::open(store.env(), txn, "join", kind))
            .unwrap();
        let (mut left, mut right): (Vec<Row>, Vec<Row>) = (vec![], vec![]);
        let mut view = Multiset::new();
        for batch in batches {
            let (mut dl, mut dr) = (vec![], vec![]);
            for (is_left, insert, row, idx) in batch {
                let (live, delta) = if is_left {
                    (&mut left, &mut dl)
                } else {
                    (&mut right, &mut dr)
                };
                if insert || live.is_empty() {
                    delta.push(input(&row, 1));
                    live.push(row);
                } else {
                    let row = live.swap_remove(idx % live.len());
                    delta.push(input(&row, -1));
                }
            }
            let changes = store
                .write(|txn| join.apply(txn, dl.clone(), dr.clone()))
                .unwrap();
            for c in changes {
                let e = view.entry((c.left, c.right)).or_insert(0);
                *e += c.weight;
                prop_assert!(*e >= 0, "a join row's multiplicity went negative");
            }
            view.retain(|_, w| *w != 0);
            prop_assert_eq!(&view, &brute_force(kind, &left, &right));
        }
        Ok(())
    }

    fn batches() -> impl Strategy<Value = Vec<Vec<Op>>> {
        let row = (proptest::option::weighted(0.85, 0i64..3), 0i64..3);
        prop::collection::vec(
            prop::collection::vec(
                (
                    any::<bool>(),
                    prop::bool::weighted(0.6),
                    row,
                    any::<usize>(),
                ),
                0..10,
            ),
            1..12,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn inner_join_matches_recomputation(b in batches()) {
            run(JoinKind::Inner, b)?;
        }

        #[test]
        fn left_join_matches_recomputation(b in batches()) {
            run(JoinKind::Left, b)?;
        }

        #[test]
        fn right_join_matches_recomputation(b in batches()) {
            run(JoinKind::Right, b)?;
        }
    }

    #[test]
    fn long_keys_and_rows_fit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), None).unwrap();
        let join = store
            .write(|txn| Join::open(store.env(), txn, "join", JoinKind::Inner))
            .unwrap();
        let key = vec![7u8; 4000];
        let l = JoinInput {
            key: Some(key.clone()),
            row: vec![1u8; 10_000],
            weight: 1,
        };
        let r = JoinInput {
            key: Some(key),
            row: vec![2u8; 10_000],
            weight: 1,
        };
        let out = store
            .write(|txn| join.apply(txn, vec![l.clone()], vec![r.clone()]))
            .unwrap();
        assert_eq!(
            out,
            vec![JoinOutput {
                left: Some(l.row),
                right: Some(r.row),
                weight: 1
            }]
        );
    }
}
