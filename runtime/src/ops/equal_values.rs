//! Values that SQL calls equal but that are written differently — decimals of mixed scale (`2.5`,
//! `2.50`, `2.500`), `0` and `-0.0`, floats `0.0` and `-0.0` — through every stateful operator
//! that compares values: GROUP BY (with MIN, MAX, COUNT(DISTINCT), SUM), DISTINCT and joins.
//!
//! Random inserts and deletes of such rows, batch after batch. Every operator must agree with a
//! brute-force computation over numeric equality, never stop with an "inconsistent input", and
//! retract exactly the rows it emitted (the output multiset, by bytes, never goes negative), so
//! the endpoint tables downstream stay consistent.

use std::collections::{BTreeMap, BTreeSet};

use dozer_types::{keycode, Decimal, Value};
use proptest::prelude::*;

use super::aggregate::{AggKind, Aggregate};
use super::distinct::Distinct;
use super::join::{Join, JoinInput, JoinKind};
use crate::codec::{Decode, Encode, Reader};
use crate::store::Store;
use crate::weight::Weight;

/// Spellings of a few numbers: index / 4 is the number, index % 4 the spelling.
fn decimal(i: u8) -> Decimal {
    let spellings: [[&str; 4]; 3] = [
        ["0", "0.0", "-0.00", "0.000"],
        ["2.5", "2.50", "2.500", "2.5000"],
        ["-1", "-1.0", "-1.00", "-1.000"],
    ];
    spellings[usize::from(i / 4) % 3][usize::from(i % 4)]
        .parse()
        .unwrap()
}

fn float(i: u8) -> f64 {
    [0.0, -0.0, 1.5, 1.5][usize::from(i % 4)]
}

/// A row: a decimal, a float, and an id (distinct rows with equal values).
type Row = (u8, u8, u8);

fn key(d: Decimal) -> Vec<u8> {
    let mut k = vec![];
    keycode::encode_decimal(&mut k, d);
    k
}

fn row_bytes(r: Row) -> Vec<u8> {
    let mut out = vec![];
    decimal(r.0).encode(&mut out);
    float(r.1).encode(&mut out);
    out
}

/// Random batches of inserts and deletes (a delete removes a random live row, as inserted).
fn batches() -> impl Strategy<Value = Vec<Vec<(bool, Row, usize)>>> {
    prop::collection::vec(
        prop::collection::vec(
            (
                prop::bool::weighted(0.65),
                (0u8..12, 0u8..4, 0u8..3),
                any::<usize>(),
            ),
            0..10,
        ),
        1..10,
    )
}

/// Applies a batch to the live rows; returns the weighted changes.
fn changes(live: &mut Vec<Row>, batch: Vec<(bool, Row, usize)>) -> Vec<(Row, Weight)> {
    let mut out = vec![];
    for (insert, row, at) in batch {
        if insert || live.is_empty() {
            live.push(row);
            out.push((row, 1));
        } else {
            out.push((live.swap_remove(at % live.len()), -1));
        }
    }
    out
}

/// Adds weighted rows to a view of an operator's output (by bytes); no row may go negative.
fn absorb(view: &mut BTreeMap<Vec<u8>, i64>, out: impl IntoIterator<Item = (Vec<u8>, Weight)>) {
    for (row, w) in out {
        let n = view.entry(row).or_insert(0);
        *n += w;
        assert!(
            *n >= 0,
            "an output row was retracted more often than emitted"
        );
    }
    view.retain(|_, n| *n != 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn group_by_agrees_with_numeric_equality(batches in batches()) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some(1 << 22)).unwrap();
        let kinds = vec![AggKind::CountStar, AggKind::SumDecimal, AggKind::Min, AggKind::Max, AggKind::CountDistinct, AggKind::SumFloat];
        let agg = store.write(|txn| Aggregate::open(store.env(), txn, "agg", kinds.clone(), false)).unwrap();
        let mut live = vec![];
        // group key → (group spelling, aggregate values), as the output says.
        let mut view: BTreeMap<Vec<u8>, (Decimal, Vec<Value>)> = BTreeMap::new();
        for batch in batches {
            let input = changes(&mut live, batch);
            let out = store.write(|txn| {
                let mut b = agg.batch();
                for ((d, f, _), w) in &input {
                    let (d, f) = (decimal(*d), float(*f));
                    b.add(&key(d), |g| d.encode(g), [Value::Null, Value::Decimal(d), Value::Decimal(d), Value::Decimal(d), Value::Float(f), Value::Float(f)], *w)?;
                }
                b.apply(txn)
            }).unwrap();
            for change in out {
                let group = Decimal::decode(&mut Reader::new(&change.group)).unwrap();
                let k = key(group);
                if let Some(old) = change.old {
                    let shown = view.remove(&k).expect("a retracted group was shown");
                    prop_assert_eq!(shown.1, old);
                }
                if let Some(new) = change.new {
                    prop_assert!(view.insert(k, (group, new)).is_none());
                }
            }
            // Brute force: groups of numerically equal keys.
            let mut want: BTreeMap<Vec<u8>, Vec<(Decimal, f64)>> = BTreeMap::new();
            for (d, f, _) in &live {
                want.entry(key(decimal(*d))).or_default().push((decimal(*d), float(*f)));
            }
            prop_assert_eq!(view.len(), want.len());
            for (k, rows) in &want {
                let (group, values) = &view[k];
                prop_assert_eq!(*group, rows[0].0, "the group shows one of its equal values");
                let distinct: BTreeSet<Vec<u8>> = rows.iter().map(|(_, f)| {
                    let mut b = vec![];
                    keycode::encode_f64(&mut b, *f);
                    b
                }).collect();
                let min = rows.iter().map(|r| r.0).min().unwrap();
                let max = rows.iter().map(|r| r.0).max().unwrap();
                prop_assert_eq!(&values[0], &Value::Int(rows.len() as i64));
                prop_assert_eq!(&values[1], &Value::Decimal(rows.iter().map(|r| r.0).sum()));
                prop_assert_eq!(&values[2], &Value::Decimal(min));
                prop_assert_eq!(&values[3], &Value::Decimal(max));
                prop_assert_eq!(&values[4], &Value::Int(distinct.len() as i64));
                let sum: f64 = rows.iter().map(|r| r.1).sum();
                prop_assert!(matches!(values[5], Value::Float(s) if (s - sum).abs() < 1e-9));
            }
        }
    }

    #[test]
    fn distinct_keeps_one_row_per_equal_class(batches in batches()) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some(1 << 22)).unwrap();
        let op = store.write(|txn| Distinct::open(store.env(), txn, "d")).unwrap();
        let mut live = vec![];
        let mut view = BTreeMap::new();
        for batch in batches {
            let input: Vec<_> = changes(&mut live, batch)
                .into_iter()
                .map(|(r, w)| {
                    let mut k = key(decimal(r.0));
                    keycode::encode_f64(&mut k, float(r.1));
                    (k, row_bytes(r), w)
                })
                .collect();
            let out = store.write(|txn| op.apply(txn, input.clone())).unwrap();
            absorb(&mut view, out);
            let classes: BTreeSet<(Vec<u8>, Vec<u8>)> = live
                .iter()
                .map(|r| {
                    let mut f = vec![];
                    keycode::encode_f64(&mut f, float(r.1));
                    (key(decimal(r.0)), f)
                })
                .collect();
            prop_assert_eq!(view.len(), classes.len());
            prop_assert!(view.values().all(|n| *n == 1));
            let shown: BTreeSet<(Vec<u8>, Vec<u8>)> = view
                .keys()
                .map(|bytes| {
                    let mut r = Reader::new(bytes);
                    let (d, f) = (Decimal::decode(&mut r).unwrap(), f64::decode(&mut r).unwrap());
                    let mut fk = vec![];
                    keycode::encode_f64(&mut fk, f);
                    (key(d), fk)
                })
                .collect();
            prop_assert_eq!(shown, classes);
        }
    }

    #[test]
    fn joins_match_equal_keys_whatever_their_spelling(left in batches(), right in batches()) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some(1 << 22)).unwrap();
        let join = store.write(|txn| Join::open(store.env(), txn, "j", JoinKind::Left)).unwrap();
        let (mut live_l, mut live_r) = (vec![], vec![]);
        let mut view = BTreeMap::new();
        let n = left.len().max(right.len());
        let (mut left, mut right) = (left.into_iter(), right.into_iter());
        for _ in 0..n {
            let inputs = |live: &mut Vec<Row>, batch: Option<Vec<(bool, Row, usize)>>| -> Vec<JoinInput> {
                changes(live, batch.unwrap_or_default())
                    .into_iter()
                    .map(|(r, w)| JoinInput { key: Some(key(decimal(r.0))), row: vec![r.0, r.1, r.2], weight: w })
                    .collect()
            };
            let l = inputs(&mut live_l, left.next());
            let r = inputs(&mut live_r, right.next());
            let out = store.write(|txn| join.apply(txn, l.clone(), r.clone())).unwrap();
            absorb(&mut view, out.into_iter().map(|o| {
                let mut bytes = o.left.unwrap_or_default();
                bytes.push(0xFF);
                bytes.extend(o.right.unwrap_or_default());
                (bytes, o.weight)
            }));
            // Brute force: every left row with every right row of a numerically equal key, or
            // NULL-padded.
            let mut want: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
            for a in &live_l {
                let matches: Vec<&Row> = live_r.iter().filter(|b| decimal(b.0) == decimal(a.0)).collect();
                let mut l = vec![a.0, a.1, a.2];
                l.push(0xFF);
                if matches.is_empty() {
                    *want.entry(l.clone()).or_insert(0) += 1;
                }
                for b in matches {
                    let mut row = l.clone();
                    row.extend([b.0, b.1, b.2]);
                    *want.entry(row).or_insert(0) += 1;
                }
            }
            prop_assert_eq!(&view, &want);
        }
    }
}
