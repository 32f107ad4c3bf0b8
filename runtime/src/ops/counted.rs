//! Rows with multiplicities, stored under hash-derived keys (LMDB keys are at most 511 bytes, rows
//! are not): the value holds the count and the full payload, and every update compares the stored
//! payload with the given one, so a hash collision is an error and never merges two rows.

use heed::types::Bytes;
use heed::{Database, RwTxn};

use crate::codec::{Decode, DecodeError, Encode, Reader};
use crate::error::OpError;
use crate::weight::Weight;

/// Reads an entry: (count, payload).
pub(crate) fn decode(bytes: &[u8]) -> Result<(Weight, Vec<u8>), DecodeError> {
    let mut r = Reader::new(bytes);
    Ok((i64::decode(&mut r)?, Vec::<u8>::decode(&mut r)?))
}

/// Adds `w` to the count of `payload` under `key`, deleting the entry at zero. Returns the counts
/// before and after. `what` names the rows in errors.
pub(crate) fn add(
    db: &Database<Bytes, Bytes>,
    txn: &mut RwTxn,
    key: &[u8],
    payload: &[u8],
    w: Weight,
    what: &str,
) -> Result<(Weight, Weight), OpError> {
    let before = match db.get(txn, key)? {
        Some(bytes) => {
            let (count, stored) = decode(bytes)?;
            if stored != payload {
                return Err(OpError::Inconsistent(format!(
                    "128-bit hash collision between two {what}"
                )));
            }
            count
        }
        None => 0,
    };
    let after = before
        .checked_add(w)
        .ok_or_else(|| OpError::Overflow(format!("the multiplicity of {what}")))?;
    if after < 0 {
        return Err(OpError::Inconsistent(format!(
            "{what} deleted more often than inserted"
        )));
    }
    if after == 0 {
        db.delete(txn, key)?;
    } else {
        let mut bytes = Vec::with_capacity(payload.len() + 12);
        after.encode(&mut bytes);
        payload.encode(&mut bytes);
        db.put(txn, key, &bytes)?;
    }
    Ok((before, after))
}
