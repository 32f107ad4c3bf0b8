//! The event log: every committed batch's record changes, kept in the store for a retention period
//! so that `OnEvent` subscribers can resume where they left off.
//!
//! Each change gets a **position**: consecutive numbers from 1 over all endpoints, in commit order.
//! A batch's changes are one LMDB entry keyed by the position of its first change (big-endian, so
//! entries sort in commit order), written in the batch's own write transaction: the log never holds
//! a change whose results are not committed, and never misses one that is. Entries older than the
//! retention are deleted as new batches commit. Positions survive restarts (the next one is kept in
//! the app's metadata), so a subscriber can resume across a restart of the app too.
//!
//! Readers only ever use short read transactions (a few entries at a time), so a subscriber that
//! reads slowly holds neither the pipeline nor LMDB's free pages; one that falls behind the
//! retention is told exactly which positions are gone.

use std::ops::Bound;
use std::time::Duration;

use heed::types::Bytes;
use heed::{Database, Env, RoTxn, RwTxn, WithoutTls};

use crate::codec::{Decode, DecodeError, Encode, Reader};
use crate::error::OpError;
use crate::table::{ChangeKind, RecordChange};

const NEXT_POSITION: &[u8] = b"events.next";

/// How long committed changes stay in the event log unless the config says otherwise.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(3600);

/// The log in an app's store.
#[derive(Clone, Copy)]
pub struct EventLog {
    entries: Database<Bytes, Bytes>,
    meta: Database<Bytes, Bytes>,
    retention: Duration,
}

/// One change as the log keeps it (rows encoded as the endpoint's table stores them).
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedChange {
    pub position: u64,
    pub endpoint: usize,
    pub change: RecordChange,
}

/// What a reader finds after a position.
#[derive(Debug, PartialEq)]
pub enum Read {
    /// Changes after the position, in order (empty: nothing new yet).
    Changes(Vec<LoggedChange>),
    /// The changes from `after + 1` to `first - 1` were dropped by the retention.
    Gone { first: u64 },
    /// The position has not been reached (the newest is `newest`).
    Future { newest: u64 },
}

impl EventLog {
    /// Opens (or creates) the log; `meta` is the app's metadata database.
    pub fn open(
        env: &Env<WithoutTls>,
        txn: &mut RwTxn,
        meta: Database<Bytes, Bytes>,
        retention: Duration,
    ) -> Result<EventLog, heed::Error> {
        let entries = env.create_database(txn, Some("events.log"))?;
        Ok(EventLog {
            entries,
            meta,
            retention,
        })
    }

    pub fn retention(&self) -> Duration {
        self.retention
    }

    /// The same log, trimmed to `retention` as batches commit.
    pub fn with_retention(self, retention: Duration) -> EventLog {
        EventLog { retention, ..self }
    }

    /// Appends a committed batch's changes (inside the batch's transaction) and drops entries
    /// older than the retention. `now_ms` is the commit time in milliseconds since the epoch.
    /// Returns the newest position.
    pub fn append(
        &self,
        txn: &mut RwTxn,
        now_ms: i64,
        changes: &[(usize, RecordChange)],
    ) -> Result<u64, OpError> {
        let first = self.next(txn)?;
        if changes.is_empty() {
            return Ok(first - 1);
        }
        let mut value = Vec::with_capacity(16 + changes.len() * 64);
        now_ms.encode(&mut value);
        (changes.len() as u64).encode(&mut value);
        for (endpoint, c) in changes {
            (*endpoint as u64).encode(&mut value);
            let kind: u64 = match c.kind {
                ChangeKind::Insert => 0,
                ChangeKind::Update => 1,
                ChangeKind::Delete => 2,
            };
            kind.encode(&mut value);
            c.id.encode(&mut value);
            u64::from(c.version).encode(&mut value);
            c.old.encode(&mut value);
            c.new.encode(&mut value);
        }
        self.entries.put(txn, &first.to_be_bytes(), &value)?;
        let next = first + changes.len() as u64;
        self.meta.put(txn, NEXT_POSITION, &next.to_be_bytes())?;
        self.trim(txn, now_ms)?;
        Ok(next - 1)
    }

    /// Deletes the entries committed before the retention period.
    fn trim(&self, txn: &mut RwTxn, now_ms: i64) -> Result<(), OpError> {
        let keep_ms = i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX);
        let cutoff = now_ms.saturating_sub(keep_ms);
        let mut expired = None;
        for entry in self.entries.iter(txn)? {
            let (key, value) = entry?;
            if i64::decode(&mut Reader::new(value))? >= cutoff {
                break;
            }
            expired = Some(key.to_vec());
        }
        if let Some(last) = expired {
            let through: (Bound<&[u8]>, Bound<&[u8]>) = (Bound::Unbounded, Bound::Included(&last));
            self.entries.delete_range(txn, &through)?;
        }
        Ok(())
    }

    fn next(&self, txn: &RoTxn<WithoutTls>) -> Result<u64, OpError> {
        Ok(match self.meta.get(txn, NEXT_POSITION)? {
            Some(b) => u64::from_be_bytes(
                b.try_into()
                    .map_err(|_| DecodeError("event log position"))?,
            ),
            None => 1,
        })
    }

    /// The newest position (0 before the first change).
    pub fn newest(&self, txn: &RoTxn<WithoutTls>) -> Result<u64, OpError> {
        Ok(self.next(txn)? - 1)
    }

    /// Up to about `max` changes after position `after`, whole entries at a time.
    pub fn read_after(
        &self,
        txn: &RoTxn<WithoutTls>,
        after: u64,
        max: usize,
    ) -> Result<Read, OpError> {
        let newest = self.newest(txn)?;
        if after > newest {
            return Ok(Read::Future { newest });
        }
        if after == newest {
            return Ok(Read::Changes(vec![]));
        }
        let wanted = after + 1;
        // The entry holding `wanted` starts at or before it; entries are contiguous.
        let start = match self
            .entries
            .get_lower_than_or_equal_to(txn, &wanted.to_be_bytes())?
        {
            Some((key, _)) => key_position(key)?,
            None => wanted,
        };
        let first_kept = match self.entries.first(txn)? {
            Some((key, _)) => key_position(key)?,
            None => newest + 1,
        };
        if first_kept > wanted {
            return Ok(Read::Gone { first: first_kept });
        }
        let mut out = vec![];
        let start = start.to_be_bytes();
        let from: (Bound<&[u8]>, Bound<&[u8]>) = (Bound::Included(&start), Bound::Unbounded);
        for entry in self.entries.range(txn, &from)? {
            let (key, value) = entry?;
            let first = key_position(key)?;
            let mut r = Reader::new(value);
            let _time = i64::decode(&mut r)?;
            let count = u64::decode(&mut r)?;
            for position in first..first.saturating_add(count) {
                let endpoint = usize::try_from(u64::decode(&mut r)?)
                    .map_err(|_| DecodeError("event endpoint"))?;
                let kind = match u64::decode(&mut r)? {
                    0 => ChangeKind::Insert,
                    1 => ChangeKind::Update,
                    2 => ChangeKind::Delete,
                    _ => return Err(DecodeError("event kind").into()),
                };
                let id = u64::decode(&mut r)?;
                let version = u32::try_from(u64::decode(&mut r)?)
                    .map_err(|_| DecodeError("event version"))?;
                let old = Option::<Vec<u8>>::decode(&mut r)?;
                let new = Option::<Vec<u8>>::decode(&mut r)?;
                if position > after {
                    out.push(LoggedChange {
                        position,
                        endpoint,
                        change: RecordChange {
                            kind,
                            id,
                            version,
                            old,
                            new,
                        },
                    });
                }
            }
            if out.len() >= max {
                break;
            }
        }
        Ok(Read::Changes(out))
    }
}

fn key_position(key: &[u8]) -> Result<u64, DecodeError> {
    key.try_into()
        .map(u64::from_be_bytes)
        .map_err(|_| DecodeError("event log key"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn change(id: u64) -> (usize, RecordChange) {
        (
            (id % 2) as usize,
            RecordChange {
                kind: ChangeKind::Update,
                id,
                version: 2,
                old: Some(vec![1, 2]),
                new: Some(vec![3]),
            },
        )
    }

    fn positions(r: Read) -> Vec<u64> {
        match r {
            Read::Changes(c) => c.iter().map(|c| c.position).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn readers_resume_from_any_position_until_retention_drops_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), None).unwrap();
        let log = store
            .write_batch(|txn| {
                let meta = store
                    .env()
                    .create_database(txn, Some(crate::meta::META_DB))?;
                EventLog::open(store.env(), txn, meta, Duration::from_secs(60))
            })
            .unwrap();
        let append = |at_s: i64, ids: std::ops::Range<u64>| {
            let changes: Vec<_> = ids.map(change).collect();
            store
                .write(|txn| log.append(txn, at_s * 1000, &changes))
                .unwrap()
        };
        assert_eq!(append(0, 0..3), 3);
        assert_eq!(append(10, 0..0), 3, "an empty batch takes no position");
        assert_eq!(append(20, 3..5), 5);
        let view = store.read().unwrap();
        assert_eq!(
            positions(log.read_after(&view, 0, 100).unwrap()),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(positions(log.read_after(&view, 2, 100).unwrap()), [3, 4, 5]);
        assert_eq!(positions(log.read_after(&view, 3, 1).unwrap()), [4, 5]);
        assert!(positions(log.read_after(&view, 5, 100).unwrap()).is_empty());
        assert_eq!(
            log.read_after(&view, 6, 100).unwrap(),
            Read::Future { newest: 5 }
        );
        let Read::Changes(c) = log.read_after(&view, 3, 100).unwrap() else {
            panic!()
        };
        assert_eq!(c[0].endpoint, 1);
        assert_eq!(c[0].change, change(3).1);
        drop(view);
        // 70 s: the first batch (0 s) is past the retention, the second (20 s) is not.
        assert_eq!(append(70, 5..6), 6);
        let view = store.read().unwrap();
        assert_eq!(
            log.read_after(&view, 1, 100).unwrap(),
            Read::Gone { first: 4 }
        );
        assert_eq!(positions(log.read_after(&view, 3, 100).unwrap()), [4, 5, 6]);
        drop(view);
        assert_eq!(
            append(200, 6..7),
            7,
            "positions go on after everything expired"
        );
        let view = store.read().unwrap();
        assert_eq!(positions(log.read_after(&view, 6, 100).unwrap()), [7]);
        assert_eq!(
            log.read_after(&view, 5, 100).unwrap(),
            Read::Gone { first: 7 }
        );
    }
}
