//! DISTINCT (and UNION without ALL): a row is in the output once while its input multiplicity is
//! positive.
//!
//! Rows are the same when SQL says they are equal, not when their bytes are: `2.5` and `2.50`, or
//! `0.0` and `-0.0`, are one row. So each input row comes with its `keycode` key (equal values,
//! equal bytes) beside its encoded form, and the state counts keys. The output shows the spelling
//! of the row that made the key appear, and retracts exactly that row when the key's count falls
//! to zero, whichever spelling is deleted last.
//!
//! State: per key, under a stable 128-bit hash of it (keys can be longer than an LMDB key), the
//! count, the full key (compared on every lookup, so a hash collision is an error, never a merge)
//! and the row shown.

use std::collections::BTreeMap;

use heed::types::Bytes;
use heed::{Database, Env, RwTxn, WithoutTls};
use xxhash_rust::xxh3::xxh3_128;

use crate::codec::{Decode, Encode, Reader};
use crate::error::OpError;
use crate::weight::Weight;

pub struct Distinct {
    rows: Database<Bytes, Bytes>,
}

/// A key's changes in one batch: their net weight and the first row inserted with it.
struct Pending {
    weight: Weight,
    first_inserted: Option<Vec<u8>>,
}

impl Distinct {
    pub fn open(env: &Env<WithoutTls>, txn: &mut RwTxn, name: &str) -> Result<Self, OpError> {
        Ok(Distinct {
            rows: env.create_database(txn, Some(&format!("{name}.rows")))?,
        })
    }

    /// Applies changes `(key, encoded row, weight)` and returns the output changes: +1 for a row
    /// whose key appeared, −1 for the row shown for a key that disappeared.
    pub fn apply(
        &self,
        txn: &mut RwTxn,
        input: Vec<(Vec<u8>, Vec<u8>, Weight)>,
    ) -> Result<Vec<(Vec<u8>, Weight)>, OpError> {
        let mut delta: BTreeMap<Vec<u8>, Pending> = BTreeMap::new();
        for (key, row, w) in input {
            let p = delta.entry(key).or_insert(Pending {
                weight: 0,
                first_inserted: None,
            });
            p.weight = p
                .weight
                .checked_add(w)
                .ok_or_else(|| OpError::Overflow("the multiplicity of a row".into()))?;
            if w > 0 && p.first_inserted.is_none() {
                p.first_inserted = Some(row);
            }
        }
        let mut out = vec![];
        for (key, p) in delta {
            if p.weight == 0 {
                continue;
            }
            let db_key = xxh3_128(&key).to_be_bytes();
            let (before, shown) = match self.rows.get(txn, &db_key)? {
                Some(bytes) => {
                    let mut r = Reader::new(bytes);
                    let count = i64::decode(&mut r)?;
                    if Vec::<u8>::decode(&mut r)? != key {
                        return Err(OpError::Inconsistent(
                            "128-bit hash collision between two rows".into(),
                        ));
                    }
                    (count, Some(Vec::<u8>::decode(&mut r)?))
                }
                None => (0, None),
            };
            let after = before
                .checked_add(p.weight)
                .ok_or_else(|| OpError::Overflow("the multiplicity of a row".into()))?;
            if after < 0 {
                return Err(OpError::Inconsistent(
                    "a row deleted more often than inserted".into(),
                ));
            }
            let shown = match shown.or(p.first_inserted) {
                Some(row) => row,
                None => {
                    return Err(OpError::Inconsistent(
                        "a row deleted more often than inserted".into(),
                    ))
                }
            };
            if after == 0 {
                self.rows.delete(txn, &db_key)?;
            } else {
                let mut bytes = Vec::with_capacity(key.len() + shown.len() + 24);
                after.encode(&mut bytes);
                key.encode(&mut bytes);
                shown.encode(&mut bytes);
                self.rows.put(txn, &db_key, &bytes)?;
            }
            match (before > 0, after > 0) {
                (false, true) => out.push((shown, 1)),
                (true, false) => out.push((shown, -1)),
                _ => {}
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::store::Store;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn output_is_the_set_of_live_rows(batches in prop::collection::vec(prop::collection::vec((0u8..5, prop::bool::weighted(0.6)), 0..10), 1..10)) {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path(), Some(1 << 20)).unwrap();
            let op = store.write(|txn| Distinct::open(store.env(), txn, "d")).unwrap();
            let mut live: BTreeMap<u8, i64> = BTreeMap::new();
            let mut view: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
            for batch in batches {
                let mut input = vec![];
                for (v, insert) in batch {
                    let count = live.entry(v).or_insert(0);
                    let w = if insert || *count == 0 { 1 } else { -1 };
                    *count += w;
                    input.push((vec![v], vec![v; 3], w));
                }
                for (row, w) in store.write(|txn| op.apply(txn, input.clone())).unwrap() {
                    *view.entry(row).or_insert(0) += w;
                }
                view.retain(|_, w| *w != 0);
                let want: BTreeMap<Vec<u8>, i64> = live.iter().filter(|(_, c)| **c > 0).map(|(v, _)| (vec![*v; 3], 1)).collect();
                prop_assert_eq!(&view, &want);
            }
        }
    }
}
