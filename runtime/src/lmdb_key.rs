//! Keys longer than LMDB allows.
//!
//! LMDB keys are at most [`MAX_KEY`] bytes, but a primary key, index key or group key built from a
//! long string is not. A key that does not fit its room is stored shortened: its first bytes and a
//! 128-bit hash of the whole key. Order is kept up to the cut (keys that differ before it compare
//! as before, and `keycode` keys are prefix-free, so no whole key is a prefix of a shortened one);
//! keys that share everything up to the cut sort by hash, so readers that need order among them
//! ([`is_shortened`] tells) compare the full keys, which the stores keep in their values. Two keys
//! with one shortened form are a hash collision, which the stores check for and report rather than
//! merge.

use std::borrow::Cow;

use xxhash_rust::xxh3::xxh3_128;

/// The longest key LMDB accepts (its default `MDB_MAXKEYSIZE`).
pub const MAX_KEY: usize = 511;

const HASH: usize = 16;

/// `key` if it has at most `room - 16` bytes, else its first `room - 16` bytes and its hash
/// (`room` bytes). `room` must exceed 16.
pub fn bounded(key: &[u8], room: usize) -> Cow<'_, [u8]> {
    let cut = room - HASH;
    if key.len() <= cut {
        return Cow::Borrowed(key);
    }
    let mut out = Vec::with_capacity(room);
    out.extend_from_slice(&key[..cut]);
    out.extend_from_slice(&xxh3_128(key).to_be_bytes());
    Cow::Owned(out)
}

/// Whether a key stored in `room` bytes was shortened by [`bounded`].
pub fn is_shortened(stored: &[u8], room: usize) -> bool {
    stored.len() > room - HASH
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_stay_and_long_ones_fit_and_keep_order_up_to_the_cut() {
        assert_eq!(bounded(b"abc", MAX_KEY), Cow::Borrowed(b"abc".as_slice()));
        let a = vec![b'a'; 2000];
        let mut b = a.clone();
        b[100] = b'b';
        let (sa, sb) = (bounded(&a, MAX_KEY), bounded(&b, MAX_KEY));
        assert_eq!(sa.len(), MAX_KEY);
        assert!(is_shortened(&sa, MAX_KEY) && !is_shortened(b"abc", MAX_KEY));
        assert!(sa < sb, "a difference before the cut decides");
        let mut c = a.clone();
        c[1999] = b'c';
        assert_ne!(
            bounded(&c, MAX_KEY),
            sa,
            "a difference after the cut still separates"
        );
        let exact = vec![b'x'; MAX_KEY - HASH];
        assert!(!is_shortened(&bounded(&exact, MAX_KEY), MAX_KEY));
    }
}
