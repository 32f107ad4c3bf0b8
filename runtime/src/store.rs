//! The LMDB store: one environment per app under its home directory.
//!
//! - **One batch, one write transaction.** [`Store::write`] runs a closure in a write transaction
//!   and commits it; operator state, endpoint tables, indexes and source positions written in it
//!   become visible together, and readers ([`Store::read`]) only ever see whole batches (LMDB MVCC).
//!   A crash (even SIGKILL) loses nothing committed and leaves nothing half-applied.
//! - **The map grows by itself.** LMDB needs a fixed map size. When a batch fills it, the
//!   transaction is aborted, the map is doubled, and the closure runs again from scratch — "map full"
//!   never reaches the user. The closure must therefore be re-runnable (it reads its input again).
//! - **Resizing is safe.** LMDB allows a resize only while this process has no transaction open.
//!   Every transaction holds the store's gate shared; a resize holds it exclusively. Readers in other
//!   processes (`dump` while `run` runs) adopt the new size when LMDB tells them it changed.

use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard};

use heed::{Env, EnvOpenOptions, MdbError, RoTxn, RwTxn, WithoutTls};

/// Initial map size when the config sets none: virtual address space only, the file stays sparse.
pub const DEFAULT_MAP_SIZE: usize = 1 << 30;
/// Map sizes are multiples of this, which is a multiple of every page size in use (LMDB requires
/// page multiples), and doubling keeps them so.
const MAP_GRANULE: usize = 1 << 20;
/// Named databases (operator states, tables, indexes, positions) one app may have.
pub const MAX_DBS: u32 = 4096;

#[derive(Debug)]
pub struct StoreError {
    context: String,
    source: heed::Error,
}

impl StoreError {
    fn new(context: impl Into<String>, source: heed::Error) -> Self {
        StoreError {
            context: context.into(),
            source,
        }
    }

    pub fn heed(&self) -> &heed::Error {
        &self.source
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.context, self.source)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl From<heed::Error> for StoreError {
    fn from(e: heed::Error) -> Self {
        StoreError::new("LMDB", e)
    }
}

/// An error a batch closure may return: it wraps store errors and tells whether it is LMDB's
/// "map full", which [`Store::write`] handles by growing the map and running the batch again.
pub trait BatchError: From<StoreError> {
    fn is_map_full(&self) -> bool;
}

impl BatchError for StoreError {
    fn is_map_full(&self) -> bool {
        is_map_full(&self.source)
    }
}

fn is_map_full(e: &heed::Error) -> bool {
    matches!(e, heed::Error::Mdb(MdbError::MapFull))
}

fn is_map_resized(e: &heed::Error) -> bool {
    matches!(e, heed::Error::Mdb(MdbError::MapResized))
}

pub struct Store {
    env: Env<WithoutTls>,
    /// Held shared by every transaction, exclusively by a resize.
    gate: RwLock<()>,
    path: PathBuf,
}

/// A consistent read-only view: the state after some whole batch.
pub struct ReadView<'s> {
    // Declared before the guard: the transaction ends before the gate is released.
    txn: RoTxn<'s, WithoutTls>,
    _gate: RwLockReadGuard<'s, ()>,
}

impl<'s> std::ops::Deref for ReadView<'s> {
    type Target = RoTxn<'s, WithoutTls>;

    fn deref(&self) -> &Self::Target {
        &self.txn
    }
}

impl Store {
    /// Opens (or creates) the store in directory `path` with at least `map_size` bytes of map and
    /// room for [`MAX_DBS`] named databases.
    pub fn open(path: &Path, map_size: Option<usize>) -> Result<Store, StoreError> {
        Self::open_for(path, map_size, MAX_DBS)
    }

    /// Like [`Store::open`] with room for `databases` named databases. LMDB allocates and zeroes
    /// a slot per possible database in every transaction it begins (about 50 bytes each), so a
    /// store opened for the databases it has makes each read of the API that much cheaper: with
    /// 4096 slots, zeroing 200 KB was a tenth of a by-key request's time.
    pub fn open_for(
        path: &Path,
        map_size: Option<usize>,
        databases: u32,
    ) -> Result<Store, StoreError> {
        std::fs::create_dir_all(path).map_err(|e| {
            StoreError::new(format!("creating {}", path.display()), heed::Error::Io(e))
        })?;
        let size = map_size
            .unwrap_or(DEFAULT_MAP_SIZE)
            .max(MAP_GRANULE)
            .div_ceil(MAP_GRANULE)
            * MAP_GRANULE;
        let mut options = EnvOpenOptions::new().read_txn_without_tls();
        options.map_size(size).max_dbs(databases);
        // SAFETY: LMDB's rules for an environment are upheld by the runtime: the directory is the
        // app's own home (not shared with another program), it is local (LMDB's lock file does not
        // work over network filesystems, as documented for users), and it is opened by a single
        // `Store` per process.
        #[allow(unsafe_code)]
        let env = unsafe { options.open(path) }
            .map_err(|e| StoreError::new(format!("opening the store at {}", path.display()), e))?;
        Ok(Store {
            env,
            gate: RwLock::new(()),
            path: path.to_path_buf(),
        })
    }

    pub fn env(&self) -> &Env<WithoutTls> {
        &self.env
    }

    /// How many named databases the store holds (the entries of LMDB's main database).
    pub fn databases(&self) -> Result<u32, StoreError> {
        let view = self.read()?;
        let main: Option<heed::Database<heed::types::Bytes, heed::types::DecodeIgnore>> = self
            .env
            .open_database(&view, None)
            .map_err(|e| StoreError::new("opening the store's main database", e))?;
        let n = match main {
            Some(db) => db
                .len(&view)
                .map_err(|e| StoreError::new("counting the store's databases", e))?,
            None => 0,
        };
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Closes the environment, waiting until LMDB has let go of it (so the same directory can be
    /// opened again in this process).
    pub fn close(self) {
        let Store { env, .. } = self;
        env.prepare_for_closing().wait();
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn map_size(&self) -> usize {
        self.env.info().map_size
    }

    fn gate(&self) -> RwLockReadGuard<'_, ()> {
        // A panic while holding the gate cannot leave LMDB inconsistent (the transaction aborts on
        // drop), so a poisoned gate is still usable.
        self.gate.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `batch` in one write transaction and commits it. If the map fills up, the transaction
    /// is aborted, the map grows, and `batch` runs again.
    pub fn write<R, E: BatchError>(
        &self,
        mut batch: impl FnMut(&mut RwTxn) -> Result<R, E>,
    ) -> Result<R, E> {
        loop {
            let outcome = {
                let _gate = self.gate();
                let mut txn = self
                    .env
                    .write_txn()
                    .map_err(|e| StoreError::new("starting a write transaction", e))?;
                // On an error the transaction is dropped, which aborts it.
                batch(&mut txn).and_then(|r| {
                    txn.commit()
                        .map(|()| r)
                        .map_err(|e| StoreError::new("committing a batch", e).into())
                })
            };
            match outcome {
                Err(e) if e.is_map_full() => self.grow()?,
                other => return other,
            }
        }
    }

    /// Like [`Store::write`] for closures whose only errors are the store's.
    pub fn write_batch<R>(
        &self,
        batch: impl FnMut(&mut RwTxn) -> Result<R, heed::Error>,
    ) -> Result<R, StoreError> {
        let mut batch = batch;
        self.write(|txn| batch(txn).map_err(|e| StoreError::new("writing a batch", e)))
    }

    /// A read-only view of the latest committed batch.
    pub fn read(&self) -> Result<ReadView<'_>, StoreError> {
        loop {
            let gate = self.gate();
            match self.env.read_txn() {
                Ok(txn) => return Ok(ReadView { txn, _gate: gate }),
                Err(e) if is_map_resized(&e) => {
                    drop(gate);
                    self.adopt_new_size()?;
                }
                Err(e) => return Err(StoreError::new("starting a read transaction", e)),
            }
        }
    }

    /// Doubles the map. Waits until no transaction of this process is open.
    fn grow(&self) -> Result<(), StoreError> {
        let _exclusive = self.gate.write().unwrap_or_else(|p| p.into_inner());
        let new_size = self.map_size().saturating_mul(2);
        // SAFETY: the exclusive gate guarantees no transaction of this process is open.
        #[allow(unsafe_code)]
        unsafe { self.env.resize(new_size) }
            .map_err(|e| StoreError::new(format!("growing the store map to {new_size} bytes"), e))
    }

    /// Another process grew the map: take its size (LMDB reads it from the file when given 0).
    fn adopt_new_size(&self) -> Result<(), StoreError> {
        let _exclusive = self.gate.write().unwrap_or_else(|p| p.into_inner());
        // SAFETY: as in `grow`.
        #[allow(unsafe_code)]
        unsafe { self.env.resize(0) }
            .map_err(|e| StoreError::new("adopting the store's new map size", e))
    }
}

#[cfg(test)]
mod tests {
    use heed::byteorder::BigEndian;
    use heed::types::{Bytes, U64};
    use heed::Database;

    use super::*;

    type Table = Database<U64<BigEndian>, Bytes>;

    #[test]
    fn the_map_grows_instead_of_failing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Some(1 << 20)).unwrap();
        let table: Table = store
            .write_batch(|txn| store.env().create_database(txn, Some("t")))
            .unwrap();
        let initial = store.map_size();
        let value = vec![7u8; 4096];
        // 16 batches of 1 MiB each: 16x the initial map.
        for batch in 0..16u64 {
            store
                .write_batch(|txn| {
                    for i in 0..256u64 {
                        table.put(txn, &(batch * 256 + i), &value)?;
                    }
                    Ok(())
                })
                .unwrap();
        }
        assert!(
            store.map_size() >= 16 * initial,
            "map size {} after growth",
            store.map_size()
        );
        let view = store.read().unwrap();
        assert_eq!(table.len(&view).unwrap(), 16 * 256);
    }

    #[test]
    fn a_store_reopens_with_room_for_just_its_databases() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), None).unwrap();
        assert_eq!(store.databases().unwrap(), 0);
        let tables: Vec<Table> = store
            .write_batch(|txn| {
                (0..3)
                    .map(|i| store.env().create_database(txn, Some(&format!("t{i}"))))
                    .collect()
            })
            .unwrap();
        store
            .write_batch(|txn| tables[2].put(txn, &7, b"kept"))
            .unwrap();
        assert_eq!(store.databases().unwrap(), 3);
        store.close();

        let store = Store::open_for(dir.path(), None, 3).unwrap();
        let view = store.read().unwrap();
        let opened: Vec<Table> = (0..3)
            .map(|i| {
                store
                    .env()
                    .open_database(&view, Some(&format!("t{i}")))
                    .unwrap()
                    .unwrap()
            })
            .collect();
        assert_eq!(opened[2].get(&view, &7).unwrap(), Some(&b"kept"[..]));
    }

    #[test]
    fn a_failed_batch_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), None).unwrap();
        let table: Table = store
            .write_batch(|txn| store.env().create_database(txn, Some("t")))
            .unwrap();
        #[derive(Debug)]
        enum Failure {
            BadRow,
            Store(StoreError),
        }
        impl From<StoreError> for Failure {
            fn from(e: StoreError) -> Self {
                Failure::Store(e)
            }
        }
        impl BatchError for Failure {
            fn is_map_full(&self) -> bool {
                matches!(self, Failure::Store(e) if e.is_map_full())
            }
        }
        let result: Result<(), Failure> = store.write(|txn| {
            table
                .put(txn, &1, b"half")
                .map_err(|e| Failure::Store(e.into()))?;
            Err(Failure::BadRow)
        });
        assert!(matches!(result, Err(Failure::BadRow)));
        assert_eq!(table.get(&store.read().unwrap(), &1).unwrap(), None);
    }

    #[test]
    fn readers_see_whole_batches_while_the_map_grows() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(Store::open(dir.path(), Some(1 << 20)).unwrap());
        let table: Table = store
            .write_batch(|txn| store.env().create_database(txn, Some("t")))
            .unwrap();
        let reader = {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut seen = 0;
                while seen < 40 * 64 {
                    let view = store.read().unwrap();
                    let n = table.len(&view).unwrap();
                    assert_eq!(n % 64, 0, "a reader saw part of a batch: {n} rows");
                    assert!(n >= seen);
                    seen = n;
                }
            })
        };
        let value = vec![1u8; 4096];
        for batch in 0..40u64 {
            store
                .write_batch(|txn| {
                    for i in 0..64u64 {
                        table.put(txn, &(batch * 64 + i), &value)?;
                    }
                    Ok(())
                })
                .unwrap();
        }
        reader.join().unwrap();
        assert!(store.map_size() > 1 << 20);
    }

    #[test]
    fn data_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), Some(1 << 20)).unwrap();
            let table: Table = store
                .write_batch(|txn| store.env().create_database(txn, Some("t")))
                .unwrap();
            store
                .write_batch(|txn| table.put(txn, &42, b"answer"))
                .unwrap();
        }
        let store = Store::open(dir.path(), Some(1 << 20)).unwrap();
        let view = store.read().unwrap();
        let table: Table = store
            .env()
            .open_database(&view, Some("t"))
            .unwrap()
            .unwrap();
        assert_eq!(table.get(&view, &42).unwrap(), Some(&b"answer"[..]));
    }
}
