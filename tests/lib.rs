//! End-to-end and corpus tests for dozerc live in `tests/*.rs`; this library is intentionally empty.
