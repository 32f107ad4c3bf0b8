//! DISTINCT (and UNION without ALL): a row is in the output once while its input multiplicity is
//! positive. State: row multiplicities in LMDB, keyed by a stable hash of the row (rows can be longer
//! than an LMDB key) with the row's bytes stored and compared, as in [`super::join`].

use std::collections::BTreeMap;

use heed::types::Bytes;
use heed::{Database, Env, RwTxn, WithoutTls};
use xxhash_rust::xxh3::xxh3_128;

use super::{counted, OpError, Weight};

pub struct Distinct {
    rows: Database<Bytes, Bytes>,
}

impl Distinct {
    pub fn open(env: &Env<WithoutTls>, txn: &mut RwTxn, name: &str) -> Result<Self, OpError> {
        Ok(Distinct {
            rows: env.create_database(txn, Some(&format!("{name}.rows")))?,
        })
    }

    /// Applies changes (encoded rows) and returns the output changes: +1 for a row that appeared,
    /// −1 for a row that disappeared.
    pub fn apply(
        &self,
        txn: &mut RwTxn,
        input: Vec<(Vec<u8>, Weight)>,
    ) -> Result<Vec<(Vec<u8>, Weight)>, OpError> {
        let mut delta: BTreeMap<Vec<u8>, Weight> = BTreeMap::new();
        for (row, w) in input {
            *delta.entry(row).or_insert(0) += w;
        }
        let mut out = vec![];
        for (row, w) in delta {
            if w == 0 {
                continue;
            }
            let key = xxh3_128(&row).to_be_bytes();
            let (before, after) = counted::add(&self.rows, txn, &key, &row, w, "rows")?;
            match (before > 0, after > 0) {
                (false, true) => out.push((row, 1)),
                (true, false) => out.push((row, -1)),
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
                    input.push((vec![v; 3], w));
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
