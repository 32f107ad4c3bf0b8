//! What every server reads: the store, the pipeline's endpoints, settings, the event feed and
//! token checks; and the two steps every read takes through it (who is asking, and one read
//! transaction scoped to what they may see).

use std::sync::Arc;

use heed::{RoTxn, WithoutTls};

use super::auth::{bearer, AuthError, Authorizer, EndpointGrant, Grant};
use super::exec::{ExecError, Executor};
use super::feed::EventFeed;
use super::grpc::messages::TypedMessages;
use super::settings::ApiSettings;
use crate::error::OpError;
use crate::meta::Meta;
use crate::pipeline::Pipeline;
use crate::store::Store;

/// What every handler reads.
pub struct ApiState {
    /// The app's name (the OpenAPI document's title).
    pub app: String,
    pub store: Arc<Store>,
    pub pipeline: Arc<dyn Pipeline>,
    pub meta: Meta,
    pub settings: ApiSettings,
    /// The event log, for `OnEvent` (`None` when `flags.push_events` is off).
    pub events: Option<EventFeed>,
    /// The endpoints' typed gRPC messages (`None` with `flags.dynamic: false`).
    pub typed: Option<&'static dyn TypedMessages>,
    /// Token checks; `None`: the app has no authentication.
    pub auth: Option<Authorizer>,
    /// Turns true when the server shuts down: live change streams end then, so that a graceful
    /// shutdown (which waits for open responses) is not held open by subscribers, who reconnect
    /// from their last position.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

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
