//! The services: `dozer.common.CommonGrpcService` (every endpoint through dynamic values) and
//! `dozer.health.HealthGrpcService`. Requests run like REST's: the same query language and
//! executor, one read transaction each, on a blocking thread, and the same access checks: the
//! `authorization` metadata is the REST `Authorization` header.

use std::sync::Arc;
use std::time::Duration;

use tonic::codegen::tokio_stream;
use tonic::codegen::BoxStream;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use super::convert;
use crate::api::auth::{Access, EndpointGrant, Grant, IssueError, AUTH_OFF};
use crate::api::events::{self, EventTypes, Subscription};
use crate::api::exec::{ExecError, Executor};
use crate::api::query::{parse_query, Query};
use crate::api::state::ApiState;
use crate::api::state::{authenticate, read_endpoint};
use crate::proto::auth::auth_grpc_service_server::AuthGrpcService;
use crate::proto::auth::{GetAuthTokenRequest, GetAuthTokenResponse};
use crate::proto::common::common_grpc_service_server::CommonGrpcService;
use crate::proto::common::{
    CountResponse, GetEndpointsRequest, GetEndpointsResponse, GetFieldsRequest, GetFieldsResponse,
    OnEventRequest, QueryRequest, QueryResponse,
};
use crate::proto::health::health_check_response::ServingStatus;
use crate::proto::health::health_grpc_service_server::HealthGrpcService;
use crate::proto::health::{HealthCheckRequest, HealthCheckResponse};
use crate::proto::types::{EventType, Operation, OperationType, Record};
use crate::table::ChangeKind;

pub struct Common {
    pub state: Arc<ApiState>,
}

impl Common {
    /// The endpoint named `name`, and the request's access to it. An unknown name is NOT_FOUND
    /// with the names the token may read (not the others).
    fn endpoint(&self, grant: &Arc<Grant>, name: &str) -> Result<EndpointGrant, Status> {
        let endpoints = self.state.pipeline.endpoints();
        let endpoint = endpoints
            .iter()
            .position(|e| e.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = endpoints
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| grant.sees(*i))
                    .map(|(_, e)| e.name.as_str())
                    .collect();
                Status::not_found(format!(
                    "no endpoint `{name}`; the app has {}",
                    names.join(", ")
                ))
            })?;
        endpoint_grant(&self.state, grant, endpoint)
    }

    /// The access and parsed query of a request.
    fn request(&self, r: &Request<QueryRequest>) -> Result<(EndpointGrant, Query), Status> {
        let grant = grant(&self.state, r.metadata())?;
        let grant = self.endpoint(&grant, &r.get_ref().endpoint)?;
        let q = query(&self.state, &grant, r.get_ref().query.as_deref())?;
        Ok((grant, q))
    }
}

/// What the bearer of a request's `authorization` metadata may read (UNAUTHENTICATED without a
/// valid token when the app has authentication).
pub fn grant(state: &ApiState, metadata: &MetadataMap) -> Result<Arc<Grant>, Status> {
    let authorization = metadata.get("authorization").map(|v| v.as_bytes());
    authenticate(state, authorization).map_err(|e| Status::unauthenticated(e.to_string()))
}

/// The access to `endpoint` (PERMISSION_DENIED when the token's scope leaves it out).
pub fn endpoint_grant(
    state: &ApiState,
    grant: &Arc<Grant>,
    endpoint: usize,
) -> Result<EndpointGrant, Status> {
    grant.to_endpoint(endpoint).ok_or_else(|| {
        Status::permission_denied(format!(
            "the token does not give access to `{}`",
            state.pipeline.endpoints()[endpoint].name
        ))
    })
}

/// A request's query text (JSON; none or empty is the empty query) parsed against the granted
/// endpoint's fields.
pub fn query(state: &ApiState, grant: &EndpointGrant, text: Option<&str>) -> Result<Query, Status> {
    let json = match text.map(str::trim) {
        None | Some("") => serde_json::Value::Null,
        Some(text) => serde_json::from_str(text)
            .map_err(|e| Status::invalid_argument(format!("`query` is not valid JSON: {e}")))?,
    };
    let fields = &state.pipeline.endpoints()[grant.endpoint()].fields;
    parse_query(&json, fields, grant.visible(), state.settings.limits)
        .map_err(|e| Status::invalid_argument(e.to_string()))
}

/// Runs `f` with the granted endpoint's executor in one read transaction, on a blocking thread.
pub async fn read<T: Send + 'static>(
    state: &Arc<ApiState>,
    grant: &EndpointGrant,
    f: impl FnOnce(&Executor<'_>, &heed::RoTxn<heed::WithoutTls>) -> Result<T, ExecError>
        + Send
        + 'static,
) -> Result<T, Status> {
    let state = state.clone();
    let grant = grant.clone();
    tokio::task::spawn_blocking(move || read_endpoint(&state, &grant, f))
        .await
        .map_err(|e| Status::internal(format!("the request's worker failed: {e}")))?
        .map_err(status)
}

fn status(e: ExecError) -> Status {
    match e {
        ExecError::TooExpensive(m) => Status::failed_precondition(m),
        ExecError::BadCursor(_) => Status::not_found(e.to_string()),
        ExecError::Store(e) => Status::internal(format!("reading the store: {e}")),
    }
}

pub fn operation_type(kind: ChangeKind) -> OperationType {
    match kind {
        ChangeKind::Insert => OperationType::Insert,
        ChangeKind::Delete => OperationType::Delete,
        ChangeKind::Update => OperationType::Update,
    }
}

/// One endpoint of an `OnEvent` request: its event type, then [`events::subscription`].
pub fn subscription(
    state: &ApiState,
    grant: EndpointGrant,
    name: &str,
    event_type: i32,
    filter: Option<&str>,
) -> Result<Subscription, Status> {
    let types = match EventType::try_from(event_type) {
        Ok(EventType::All) => EventTypes::All,
        Ok(EventType::InsertOnly) => EventTypes::InsertOnly,
        Ok(EventType::UpdateOnly) => EventTypes::UpdateOnly,
        Ok(EventType::DeleteOnly) => EventTypes::DeleteOnly,
        Err(_) => {
            return Err(Status::invalid_argument(format!(
                "unknown event type {event_type} for `{name}`"
            )))
        }
    };
    events::subscription(state, grant, name, types, filter)
}

#[tonic::async_trait]
impl CommonGrpcService for Common {
    async fn count(
        &self,
        request: Request<QueryRequest>,
    ) -> Result<Response<CountResponse>, Status> {
        let (grant, q) = self.request(&request)?;
        let count = read(&self.state, &grant, move |ex, txn| {
            ex.count(txn, q.filter.as_ref())
        })
        .await?;
        Ok(Response::new(CountResponse { count }))
    }

    async fn query(
        &self,
        request: Request<QueryRequest>,
    ) -> Result<Response<QueryResponse>, Status> {
        let (grant, q) = self.request(&request)?;
        let limit = self.state.settings.default_limit;
        let records = read(&self.state, &grant, move |ex, txn| ex.query(txn, &q, limit)).await?;
        let fields = &self.state.pipeline.endpoints()[grant.endpoint()].fields;
        Ok(Response::new(QueryResponse {
            fields: convert::field_definitions(&grant.project(fields)),
            records: records.iter().map(|r| convert::record(r, &grant)).collect(),
        }))
    }

    type OnEventStream = BoxStream<Operation>;

    /// Every committed change of the requested endpoints, in commit order, as the subscriber's
    /// filter and event type select it, from now on or after `resume_after` (see
    /// [`crate::api::events`]).
    async fn on_event(
        &self,
        request: Request<OnEventRequest>,
    ) -> Result<Response<Self::OnEventStream>, Status> {
        let grant = grant(&self.state, request.metadata())?;
        let request = request.into_inner();
        if request.endpoints.is_empty() {
            return Err(Status::invalid_argument(
                "`endpoints` names no endpoint to follow",
            ));
        }
        let mut subscriptions = vec![];
        for (name, f) in &request.endpoints {
            subscriptions.push(subscription(
                &self.state,
                self.endpoint(&grant, name)?,
                name,
                f.r#type,
                f.filter.as_deref(),
            )?);
        }
        let (feed, after) = events::start(&self.state, request.resume_after)?;
        let stream = events::follow(
            self.state.clone(),
            feed,
            subscriptions,
            after,
            |s, e, (kind, old, new)| {
                let record = |values: &Vec<dozer_types::Value>, version: u32| Record {
                    values: convert::values(values, &s.grant),
                    id: e.id,
                    version,
                };
                Ok(Operation {
                    typ: operation_type(kind) as i32,
                    old: old.map(|o| record(o, e.version.saturating_sub(1))),
                    new: Some(record(new, e.version)),
                    endpoint_name: s.name.clone(),
                    position: e.position,
                })
            },
        );
        Ok(Response::new(Box::pin(stream)))
    }

    /// The endpoints the token may read.
    async fn get_endpoints(
        &self,
        request: Request<GetEndpointsRequest>,
    ) -> Result<Response<GetEndpointsResponse>, Status> {
        let grant = grant(&self.state, request.metadata())?;
        Ok(Response::new(GetEndpointsResponse {
            endpoints: self
                .state
                .pipeline
                .endpoints()
                .iter()
                .enumerate()
                .filter(|(i, _)| grant.sees(*i))
                .map(|(_, e)| e.name.clone())
                .collect(),
        }))
    }

    async fn get_fields(
        &self,
        request: Request<GetFieldsRequest>,
    ) -> Result<Response<GetFieldsResponse>, Status> {
        let grant = grant(&self.state, request.metadata())?;
        let grant = self.endpoint(&grant, &request.get_ref().endpoint)?;
        let endpoint = grant.endpoint();
        // The fields the token may read, numbered among themselves.
        let e =
            crate::api::auth::visible_schema(&self.state.pipeline.endpoints()[endpoint], &grant);
        Ok(Response::new(GetFieldsResponse {
            primary_index: e
                .primary_key
                .iter()
                .flatten()
                .map(|&i| i32::try_from(i).unwrap_or(i32::MAX))
                .collect(),
            fields: convert::field_definitions(&e.fields),
        }))
    }
}

/// `dozer.auth.AuthGrpcService`: tokens for scoped access, issued to `All` tokens.
pub struct Auth {
    pub state: Arc<ApiState>,
}

#[tonic::async_trait]
impl AuthGrpcService for Auth {
    async fn get_auth_token(
        &self,
        request: Request<GetAuthTokenRequest>,
    ) -> Result<Response<GetAuthTokenResponse>, Status> {
        let Some(auth) = &self.state.auth else {
            return Err(Status::unimplemented(AUTH_OFF));
        };
        let authorization = request
            .metadata()
            .get("authorization")
            .map(|v| v.as_bytes());
        let requester = auth
            .requester(authorization)
            .map_err(|e| Status::unauthenticated(e.to_string()))?;
        let r = request.into_inner();
        let access: Access = serde_json::from_str(&r.access_filter).map_err(|e| {
            Status::invalid_argument(format!(
                "`access_filter` is not an access: {e}; send \"All\" or {{\"Custom\": {{\"<endpoint>\": {{\"filter\": {{...}}, \"fields\": [...]}}}}}}"
            ))
        })?;
        let ttl = r.ttl_seconds.map_or(auth.token_ttl, Duration::from_secs);
        let (token, _) = auth
            .issue_for(&requester, &access, ttl)
            .map_err(issue_status)?;
        Ok(Response::new(GetAuthTokenResponse { token }))
    }
}

/// A refused token request.
pub fn issue_status(e: IssueError) -> Status {
    match e {
        IssueError::NotAllowed => Status::permission_denied(e.to_string()),
        IssueError::BadAccess(m) => Status::invalid_argument(m),
    }
}

pub struct Health;

fn serving() -> HealthCheckResponse {
    HealthCheckResponse {
        status: ServingStatus::Serving as i32,
    }
}

#[tonic::async_trait]
impl HealthGrpcService for Health {
    async fn health_check(
        &self,
        _request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(serving()))
    }

    #[allow(non_camel_case_types)]
    type healthWatchStream = BoxStream<HealthCheckResponse>;

    async fn health_watch(
        &self,
        _request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::healthWatchStream>, Status> {
        // The status never changes while the server runs: say it once and keep the stream open.
        let stream = tokio_stream::StreamExt::chain(
            tokio_stream::once(Ok(serving())),
            tokio_stream::pending(),
        );
        Ok(Response::new(Box::pin(stream)))
    }
}
