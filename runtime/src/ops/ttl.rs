//! TTL(input, time, '1 DAY'): rows whose time is older than the newest time seen minus the TTL are
//! retracted downstream, so aggregates over a TTL drop them (event time, not wall-clock time: a
//! replay computes the same results).
//!
//! State: live rows in time order (`time ++ row hash` → count and row) and the watermark (the newest
//! time of any inserted row). A row older than the cutoff when it arrives is never emitted; the
//! watermark only moves forward, so an expired row stays expired, and a late delete of it is a
//! no-op. A row expires once `time + ttl <= watermark` (Dozer's rule): a row exactly at
//! `watermark − ttl` is gone. Every inserted row advances the watermark, so results do not depend
//! on how the input is cut into batches.

use std::collections::BTreeMap;
use std::ops::Bound;

use heed::types::Bytes;
use heed::{Database, Env, RwTxn, WithoutTls};
use xxhash_rust::xxh3::xxh3_128;

use super::counted;
use crate::codec::{Decode, Encode, Reader};
use crate::error::OpError;
use crate::weight::Weight;

const WATERMARK: &[u8] = b"watermark";

pub struct Ttl {
    ttl: i64,
    rows: Database<Bytes, Bytes>,
    meta: Database<Bytes, Bytes>,
}

fn time_key(t: i64) -> [u8; 8] {
    ((t as u64) ^ (1 << 63)).to_be_bytes()
}

impl Ttl {
    /// `ttl` in the same unit as the times given to [`Ttl::apply`] (microseconds in apps).
    pub fn open(
        env: &Env<WithoutTls>,
        txn: &mut RwTxn,
        name: &str,
        ttl: i64,
    ) -> Result<Self, OpError> {
        Ok(Ttl {
            ttl,
            rows: env.create_database(txn, Some(&format!("{name}.rows")))?,
            meta: env.create_database(txn, Some(&format!("{name}.meta")))?,
        })
    }

    pub fn watermark(&self, txn: &RwTxn) -> Result<Option<i64>, OpError> {
        match self.meta.get(txn, WATERMARK)? {
            Some(bytes) => Ok(Some(i64::decode(&mut Reader::new(bytes))?)),
            None => Ok(None),
        }
    }

    /// Applies changes `(time, row, weight)`; returns the output changes per encoded row. Only
    /// rows that are still live at the end of the batch are encoded (`encode`): a snapshot of
    /// historical data is mostly older than the cutoff, and skips that work.
    pub fn apply<R>(
        &self,
        txn: &mut RwTxn,
        input: Vec<(i64, R, Weight)>,
        encode: impl Fn(&R) -> Vec<u8>,
    ) -> Result<Vec<(Vec<u8>, Weight)>, OpError> {
        let old_watermark = self.watermark(txn)?;
        // Every inserted row moves the watermark, even one deleted again in the same batch, so the
        // result does not depend on how the input was cut into batches.
        let new_watermark = input
            .iter()
            .filter(|(_, _, w)| *w > 0)
            .map(|(t, _, _)| *t)
            .fold(old_watermark, |m, t| Some(m.map_or(t, |m| m.max(t))));
        // Rows at or before the cutoff have expired: `time + ttl <= watermark`.
        let new_cutoff = new_watermark.map(|wm| wm.saturating_sub(self.ttl));
        let live = |t: i64| new_cutoff.is_none_or(|cutoff| t > cutoff);
        // A change at or before the batch's new cutoff is expired by the end of the batch: an
        // insert would be stored and evicted again, a delete of a stored row only takes part of
        // what its eviction below retracts anyway. Either way its net effect is nothing, so it
        // never touches the store (a snapshot of historical data mostly skips the state).
        let mut delta: BTreeMap<(i64, Vec<u8>), Weight> = BTreeMap::new();
        for (t, row, w) in input {
            if live(t) {
                *delta.entry((t, encode(&row))).or_insert(0) += w;
            }
        }
        let mut out: BTreeMap<Vec<u8>, Weight> = BTreeMap::new();
        for ((t, row), w) in delta {
            if w == 0 {
                continue;
            }
            let mut key = time_key(t).to_vec();
            key.extend(xxh3_128(&row).to_be_bytes());
            counted::add(&self.rows, txn, &key, &row, w, "rows")?;
            *out.entry(row).or_insert(0) += w;
        }
        if let (true, Some(cutoff)) = (new_watermark != old_watermark, new_cutoff) {
            let mut bytes = vec![];
            new_watermark.unwrap_or(i64::MIN).encode(&mut bytes);
            self.meta.put(txn, WATERMARK, &bytes)?;
            // Evict everything now at or before the cutoff: the front of the time-ordered rows
            // (keys are time ++ row hash, so every key of time `cutoff` sorts before the next).
            let end = time_key(cutoff.saturating_add(1));
            let mut expired = vec![];
            let end: &[u8] = &end;
            let before_cutoff: (Bound<&[u8]>, Bound<&[u8]>) =
                (Bound::Unbounded, Bound::Excluded(end));
            for entry in self.rows.range(txn, &before_cutoff)? {
                let (key, bytes) = entry?;
                let (count, row) = counted::decode(bytes)?;
                expired.push((key.to_vec(), row, count));
            }
            for (key, row, count) in expired {
                self.rows.delete(txn, &key)?;
                *out.entry(row).or_insert(0) -= count;
            }
        }
        Ok(out.into_iter().filter(|(_, w)| *w != 0).collect())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::store::Store;

    #[test]
    fn a_row_expires_once_its_time_plus_the_ttl_reaches_the_newest_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some(1 << 20)).unwrap();
        let op = store
            .write(|txn| Ttl::open(store.env(), txn, "ttl", 10))
            .unwrap();
        let apply = |input: Vec<(i64, Vec<u8>, Weight)>| {
            store
                .write(|txn| op.apply(txn, input.clone(), |r: &Vec<u8>| r.clone()))
                .unwrap()
        };
        assert_eq!(
            apply(vec![(100, vec![1], 1), (105, vec![2], 1)]),
            [(vec![1], 1), (vec![2], 1)]
        );
        // Newest 109: 100 + 10 > 109, both live.
        assert_eq!(apply(vec![(109, vec![3], 1)]), [(vec![3], 1)]);
        // Newest 110: 100 + 10 <= 110, the row at exactly `newest − ttl` goes.
        assert_eq!(
            apply(vec![(110, vec![4], 1)]),
            [(vec![1], -1), (vec![4], 1)]
        );
        // A late row at the cutoff is expired on arrival; one just after it is not.
        assert_eq!(
            apply(vec![(100, vec![5], 1), (101, vec![6], 1)]),
            [(vec![6], 1)]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn output_is_the_live_rows_within_the_ttl(
            batches in prop::collection::vec(prop::collection::vec((0i64..40, 0u8..3, prop::bool::weighted(0.7), any::<usize>()), 0..8), 1..12),
            ttl in 0i64..15,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path(), Some(1 << 20)).unwrap();
            let op = store.write(|txn| Ttl::open(store.env(), txn, "ttl", ttl)).unwrap();
            let mut live: Vec<(i64, u8)> = vec![];
            let mut watermark: Option<i64> = None;
            let mut view: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
            let row = |(t, v): (i64, u8)| vec![v, t as u8];
            for batch in batches {
                let mut input = vec![];
                for (t, v, insert, idx) in batch {
                    if insert || live.is_empty() {
                        live.push((t, v));
                        watermark = Some(watermark.map_or(t, |m| m.max(t)));
                        input.push((t, row((t, v)), 1));
                    } else {
                        let (t, v) = live.swap_remove(idx % live.len());
                        input.push((t, row((t, v)), -1));
                    }
                }
                for (r, w) in store.write(|txn| op.apply(txn, input.clone(), |r: &Vec<u8>| r.clone())).unwrap() {
                    *view.entry(r).or_insert(0) += w;
                }
                prop_assert!(view.values().all(|w| *w >= 0), "a row's multiplicity went negative");
                view.retain(|_, w| *w != 0);
                let mut want: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
                for (t, v) in live.iter().filter(|(t, _)| watermark.is_none_or(|m| t + ttl > m)) {
                    *want.entry(row((*t, *v))).or_insert(0) += 1;
                }
                prop_assert_eq!(&view, &want);
            }
        }
    }
}
