//! dozerc: compiles a Dozer-style `dozer-config.yaml` and its SQL into an app-specific binary.
//!
//! The front end is a pipeline of small layers, each reporting located [`diagnostic`]s:
//! [`yaml`] → [`config`] → [`catalog`] → [`sql`] → [`check`], which hands code generation a
//! [`program`]; [`codegen`] emits the app crate
//! and [`builder`] compiles it with cargo. [`registry`] holds what SQL may call and convert, for
//! the binder and the code generator alike. See `docs/architecture.md`.

pub mod builder;
pub mod catalog;
pub mod check;
pub mod codegen;
pub mod config;
pub mod diagnostic;
pub mod image;
pub mod program;
pub mod registry;
pub mod sdk;
pub mod sql;
pub mod types;
pub mod yaml;
