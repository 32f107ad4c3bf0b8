//! Reading endpoints: the query language ([`query`]), its execution against endpoint tables
//! ([`exec`]), who may read what ([`auth`]) and the servers ([`rest`], [`grpc`]). Servers are thin
//! layers over the first three, so every read path filters, sorts, pages and enforces a token's
//! scope alike: a read needs an [`auth::EndpointGrant`], and [`read_endpoint`] hands its row scope
//! to the executor.

pub mod auth;
pub mod etag;
pub mod events;
pub mod exec;
pub mod feed;
pub mod grpc;
pub mod http;
pub mod probe;
pub mod query;
pub mod rest;
pub mod settings;
pub mod sse;
pub mod state;
