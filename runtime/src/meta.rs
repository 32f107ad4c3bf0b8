//! The app's metadata database in the store: which pipeline built the store, and Dozer's phase
//! of the app. The runner writes it; `api` processes and the servers read it.

use heed::types::Bytes;
use heed::{Database, RoTxn, RwTxn, WithoutTls};

/// The metadata database.
pub type Meta = Database<Bytes, Bytes>;

/// The database's name in the store.
pub const META_DB: &str = "app.meta";

const FINGERPRINT: &[u8] = b"pipeline.fingerprint";
const PHASE: &[u8] = b"phase";
const STREAMING: &[u8] = b"Streaming";

/// Dozer's phase of an app: `Snapshotting` until every source has been caught up once, then
/// `Streaming`.
pub fn phase(meta: Meta, txn: &RoTxn<WithoutTls>) -> Result<&'static str, heed::Error> {
    Ok(match meta.get(txn, PHASE)? {
        Some(STREAMING) => "Streaming",
        _ => "Snapshotting",
    })
}

/// Records that every source has been caught up once.
pub fn set_streaming(meta: Meta, txn: &mut RwTxn) -> Result<(), heed::Error> {
    meta.put(txn, PHASE, STREAMING)
}

/// Stores `ours` as the store's fingerprint if it has none yet; else returns the one it has when
/// that differs.
pub fn claim_fingerprint(
    meta: Meta,
    txn: &mut RwTxn,
    ours: &[u8],
) -> Result<Result<(), Vec<u8>>, heed::Error> {
    match meta.get(txn, FINGERPRINT)? {
        None => meta.put(txn, FINGERPRINT, ours).map(Ok),
        Some(theirs) if theirs == ours => Ok(Ok(())),
        Some(theirs) => Ok(Err(theirs.to_vec())),
    }
}
