//! Incremental operators. Changes flow as batches of weighted rows (insert = +1, delete = −1, an
//! update = −old +new); each operator turns an input batch into an output batch inside the batch's
//! write transaction, keeping whatever state it needs in LMDB.

pub mod aggregate;
pub(crate) mod counted;
pub mod distinct;
#[cfg(test)]
mod equal_values;
pub mod join;
pub mod ttl;
pub mod window;

/// The multiplicity change of a row: +n inserts n copies, −n deletes n copies.
pub type Weight = i64;

/// Why an operator could not apply a batch. The batch is then not committed.
#[derive(Debug)]
pub enum OpError {
    Store(crate::store::StoreError),
    Decode(crate::codec::DecodeError),
    /// A value left its type's range (e.g. an integer SUM beyond 64 bits).
    Overflow(String),
    /// A retraction of something that was never inserted: the input broke the protocol.
    Inconsistent(String),
    /// An expression failed as PostgreSQL's would (division by zero, a value out of range, text
    /// that is not a number...).
    Eval(String),
}

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpError::Store(e) => e.fmt(f),
            OpError::Decode(e) => e.fmt(f),
            OpError::Overflow(m) => write!(f, "overflow: {m}"),
            OpError::Inconsistent(m) => write!(f, "inconsistent input: {m}"),
            OpError::Eval(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for OpError {}

impl From<crate::store::StoreError> for OpError {
    fn from(e: crate::store::StoreError) -> Self {
        OpError::Store(e)
    }
}

impl From<heed::Error> for OpError {
    fn from(e: heed::Error) -> Self {
        OpError::Store(e.into())
    }
}

impl From<crate::codec::DecodeError> for OpError {
    fn from(e: crate::codec::DecodeError) -> Self {
        OpError::Decode(e)
    }
}

impl crate::store::BatchError for OpError {
    fn is_map_full(&self) -> bool {
        matches!(self, OpError::Store(e) if e.is_map_full())
    }
}
