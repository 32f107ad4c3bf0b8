//! Why a batch could not be applied. The batch is then not committed, so the store never holds
//! half of one.

use crate::codec::DecodeError;
use crate::store::{BatchError, StoreError};

/// Why an operator, a table or an expression could not apply a batch.
#[derive(Debug)]
pub enum OpError {
    Store(StoreError),
    Decode(DecodeError),
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

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> Self {
        OpError::Store(e)
    }
}

impl From<heed::Error> for OpError {
    fn from(e: heed::Error) -> Self {
        OpError::Store(e.into())
    }
}

impl From<DecodeError> for OpError {
    fn from(e: DecodeError) -> Self {
        OpError::Decode(e)
    }
}

impl BatchError for OpError {
    fn is_map_full(&self) -> bool {
        matches!(self, OpError::Store(e) if e.is_map_full())
    }
}
