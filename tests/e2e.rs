//! dozerc's end-to-end tests, as one test binary: every module below drives the real compiler and
//! the apps it builds against real servers (PostgreSQL, MariaDB, and the Python readers and clients). One
//! binary links the tree once instead of once per file, and its tests share the harness's threads
//! (and the apps' build) instead of running file after file.

mod apps;
mod auth;
mod corpus;
mod delta_sources;
mod file_sources;
mod fuzz_smoke;
mod grpc_ingest;
mod image;
mod module_graph;
mod mysql_cdc;
mod oracle_example;
mod postgres_cdc;
mod postgres_tls;
mod rest_api;
mod sdk;
mod sql_cases;
