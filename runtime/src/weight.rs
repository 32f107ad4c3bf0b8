//! The change model every layer speaks: a row with a weight.
//!
//! Sources, operators and endpoint tables exchange batches of weighted rows (an insert is +1, a
//! delete −1, an update −old +new), so every operator is a function from an input batch to an
//! output batch and a retraction flows through the pipeline exactly like an insert.

/// The multiplicity change of a row: +n inserts n copies, −n deletes n copies.
pub type Weight = i64;
