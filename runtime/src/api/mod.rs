//! Reading endpoints: the query language ([`query`]), its execution against endpoint tables
//! ([`exec`]), who may read what ([`auth`]) and the servers ([`rest`], [`grpc`]). Servers are thin
//! layers over the first three, so every read path filters, sorts, pages and enforces a token's
//! scope alike: a read needs an [`auth::EndpointGrant`], and [`read_endpoint`] hands its row scope
//! to the executor.

pub mod auth;
pub mod events;
pub mod exec;
pub mod grpc;
pub mod query;
pub mod rest;

use std::sync::Arc;

use heed::{RoTxn, WithoutTls};

use self::auth::{bearer, AuthError, EndpointGrant, Grant};
use self::exec::{ExecError, Executor};
use self::rest::ApiState;
use crate::app::FieldDef;
use crate::ops::OpError;

/// What the bearer of a request's `Authorization` header may read: everything when the app has
/// no authentication.
pub fn authenticate(
    state: &ApiState,
    authorization: Option<&[u8]>,
) -> Result<Arc<Grant>, AuthError> {
    match &state.auth {
        None => Ok(Grant::all()),
        Some(auth) => auth.grant(bearer(authorization)?),
    }
}

/// Runs `f` with the granted endpoint's executor inside one read transaction: everything a
/// request reads comes from one committed batch, and nothing outside the grant's row scope.
/// Blocking: servers call it on a blocking thread.
pub fn read_endpoint<T>(
    state: &ApiState,
    grant: &EndpointGrant,
    f: impl FnOnce(&Executor<'_>, &RoTxn<WithoutTls>) -> Result<T, ExecError>,
) -> Result<T, ExecError> {
    let endpoint = grant.endpoint();
    let view = state
        .store
        .read()
        .map_err(|e| ExecError::Store(OpError::Store(e)))?;
    let p = state.pipeline.as_ref();
    let decode = |row: &[u8]| p.decode(endpoint, row);
    let ex = Executor {
        table: p.table(endpoint),
        schema: &p.endpoints()[endpoint],
        decode: &decode,
        max_scan: state.settings.max_scan,
        scope: grant.filter(),
    };
    f(&ex, &view)
}

/// What the API knows of an endpoint (generated code describes each one).
#[derive(Clone, Debug, PartialEq)]
pub struct EndpointSchema {
    pub name: String,
    /// The REST path, e.g. `/trips`.
    pub path: String,
    pub fields: Vec<FieldDef>,
    /// The primary key's fields; `None` when records are identified by id only (no key), and empty
    /// for a single-row result.
    pub primary_key: Option<Vec<usize>>,
    /// Secondary indexes, numbered as in the table.
    pub indexes: Vec<IndexDef>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexDef {
    /// Sorted by these fields' values, in order.
    Sorted(Vec<usize>),
    /// One entry per word of a text field.
    FullText(usize),
}

impl EndpointSchema {
    /// The description the OpenAPI generator takes.
    pub fn openapi(&self) -> dozer_types::openapi::Endpoint<'_> {
        dozer_types::openapi::Endpoint {
            name: &self.name,
            path: &self.path,
            fields: self
                .fields
                .iter()
                .map(|f| (f.name.as_str(), f.ty, f.nullable))
                .collect(),
            primary_key: self.primary_key.clone(),
        }
    }
}
