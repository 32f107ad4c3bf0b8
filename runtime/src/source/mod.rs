//! Sources: where rows come from. Each yields chunks of raw records together with the position
//! after them; the pipeline commits a chunk's results and that position in one transaction.

mod chunk;
mod csv;
pub mod fields;
pub mod files;
mod parquet;
pub mod postgres;
