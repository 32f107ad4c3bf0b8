//! Incremental operators. Each turns an input batch of weighted rows ([`crate::weight`]) into an
//! output batch inside the batch's write transaction, keeping whatever state it needs in LMDB.

pub mod aggregate;
pub(crate) mod counted;
pub mod distinct;
#[cfg(test)]
mod equal_values;
pub mod join;
pub mod ttl;
pub mod window;
