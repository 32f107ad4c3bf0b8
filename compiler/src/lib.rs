pub mod catalog;
pub mod config;
pub mod diagnostic;
pub mod types;
pub mod yaml;
