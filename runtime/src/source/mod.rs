//! Sources: where rows come from. Every connector implements [`interface::Source`]: it yields
//! batches of raw records ([`chunk`]) together with the position after them, and the runner
//! commits a batch's results and that position in one transaction.

mod arrow_values;
pub mod chunk;
mod csv;
pub mod delta;
pub mod fields;
pub mod file_chunk;
pub mod file_source;
pub mod file_states;
pub mod file_table;
pub mod files;
mod folder;
pub mod grpc;
pub mod interface;
mod io_thread;
pub mod mirror;
pub mod mysql;
mod parquet;
#[cfg(test)]
mod parquet_reading;
pub mod password;
pub mod postgres;
pub mod wake;
