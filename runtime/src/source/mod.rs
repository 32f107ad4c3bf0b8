//! Sources: where rows come from. Every connector implements [`interface::Source`]: it yields
//! batches of raw records ([`chunk`]) together with the position after them, and the runner
//! commits a batch's results and that position in one transaction.

pub mod chunk;
mod csv;
pub mod fields;
pub mod file_chunk;
pub mod file_source;
pub mod files;
pub mod interface;
mod parquet;
#[cfg(test)]
mod parquet_reading;
pub mod postgres;
pub mod wake;
