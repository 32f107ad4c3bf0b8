//! TUMBLE and HOP: which windows a timestamp falls into. Stateless: generated code calls these per
//! row and emits one output row per window (with `window_start`, `window_end`).
//!
//! Windows are aligned to the Unix epoch: a tumbling window of size `s` starting at `k·s` covers
//! `[k·s, (k+1)·s)`; hopping windows of size `s` start every `h` and cover `[k·h, k·h + s)`.
//! Times are microseconds since the epoch; sizes must be positive (dozerc checks durations).

/// The start of the tumbling window of `size` that holds `t`.
pub fn tumble(t: i64, size: i64) -> i64 {
    t.div_euclid(size) * size
}

/// The starts of every hopping window (`hop`, `size`) that holds `t`, earliest first.
pub fn hop(t: i64, hop: i64, size: i64) -> impl Iterator<Item = i64> {
    let last = t.div_euclid(hop) * hop; // the latest window starting at or before t
                                        // A window starting at s holds t iff s ≤ t < s + size, i.e. s > t − size.
    let first = (t - size).div_euclid(hop) * hop + hop;
    (0..)
        .map(move |i| first + i * hop)
        .take_while(move |s| *s <= last)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn examples() {
        const DAY: i64 = 86_400_000_000;
        assert_eq!(tumble(DAY + 5, DAY), DAY);
        assert_eq!(tumble(-1, DAY), -DAY);
        assert_eq!(hop(10, 5, 15).collect::<Vec<_>>(), vec![0, 5, 10]);
        assert_eq!(hop(14, 5, 10).collect::<Vec<_>>(), vec![5, 10]);
        assert_eq!(hop(15, 5, 10).collect::<Vec<_>>(), vec![10, 15]);
    }

    proptest! {
        #[test]
        fn windows_hold_their_timestamps(t in -1_000_000i64..1_000_000, h in 1i64..1000, k in 1i64..10) {
            let size = h * k;
            let w = tumble(t, size);
            prop_assert!(w <= t && t < w + size && w % size == 0);
            let starts: Vec<i64> = hop(t, h, size).collect();
            // Exactly the windows that hold t: `size / hop` of them when size is a multiple of hop.
            prop_assert_eq!(starts.len() as i64, k);
            for s in starts {
                prop_assert!(s <= t && t < s + size && s.rem_euclid(h) == 0);
            }
        }
    }
}
