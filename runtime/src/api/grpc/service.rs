//! The services: `dozer.common.CommonGrpcService` (every endpoint through dynamic values) and
//! `dozer.health.HealthGrpcService`. Requests run like REST's: the same query language and
//! executor, one read transaction each, on a blocking thread.

use std::sync::Arc;

use tonic::codegen::tokio_stream;
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status};

use super::convert;
use super::proto::common::common_grpc_service_server::CommonGrpcService;
use super::proto::common::{
    CountResponse, GetEndpointsRequest, GetEndpointsResponse, GetFieldsRequest, GetFieldsResponse,
    OnEventRequest, QueryRequest, QueryResponse,
};
use super::proto::health::health_check_response::ServingStatus;
use super::proto::health::health_grpc_service_server::HealthGrpcService;
use super::proto::health::{HealthCheckRequest, HealthCheckResponse};
use super::proto::types::{EventType, Operation, OperationType, Record};
use crate::api::events::{self, EventTypes, Subscription};
use crate::api::exec::{ExecError, Executor};
use crate::api::query::{parse_filter, parse_query, Query};
use crate::api::read_endpoint;
use crate::api::rest::ApiState;
use crate::table::ChangeKind;

pub struct Common {
    pub state: Arc<ApiState>,
}

impl Common {
    fn endpoint(&self, name: &str) -> Result<usize, Status> {
        let endpoints = self.state.pipeline.endpoints();
        endpoints
            .iter()
            .position(|e| e.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = endpoints.iter().map(|e| e.name.as_str()).collect();
                Status::not_found(format!(
                    "no endpoint `{name}`; the app has {}",
                    names.join(", ")
                ))
            })
    }

    /// The endpoint and parsed query of a request.
    fn request(&self, r: &QueryRequest) -> Result<(usize, Query), Status> {
        let endpoint = self.endpoint(&r.endpoint)?;
        Ok((endpoint, query(&self.state, endpoint, r.query.as_deref())?))
    }
}

/// A request's query text (JSON; none or empty is the empty query) parsed against an endpoint.
pub fn query(state: &ApiState, endpoint: usize, text: Option<&str>) -> Result<Query, Status> {
    let json = match text.map(str::trim) {
        None | Some("") => serde_json::Value::Null,
        Some(text) => serde_json::from_str(text)
            .map_err(|e| Status::invalid_argument(format!("`query` is not valid JSON: {e}")))?,
    };
    let fields = &state.pipeline.endpoints()[endpoint].fields;
    parse_query(&json, fields, state.settings.limits)
        .map_err(|e| Status::invalid_argument(e.to_string()))
}

/// Runs `f` with the endpoint's executor in one read transaction, on a blocking thread.
pub async fn read<T: Send + 'static>(
    state: &Arc<ApiState>,
    endpoint: usize,
    f: impl FnOnce(&Executor<'_>, &heed::RoTxn<heed::WithoutTls>) -> Result<T, ExecError>
        + Send
        + 'static,
) -> Result<T, Status> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || read_endpoint(&state, endpoint, f))
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

/// One endpoint of an `OnEvent` request: its event type and `$filter` checked against the
/// endpoint's fields.
pub fn subscription(
    state: &ApiState,
    endpoint: usize,
    name: &str,
    event_type: i32,
    filter: Option<&str>,
) -> Result<Subscription, Status> {
    let filter = match filter.map(str::trim) {
        None | Some("") => None,
        Some(text) => {
            let json: serde_json::Value = serde_json::from_str(text).map_err(|e| {
                Status::invalid_argument(format!("the filter of `{name}` is not valid JSON: {e}"))
            })?;
            parse_filter(
                &json,
                &state.pipeline.endpoints()[endpoint].fields,
                state.settings.limits,
            )
            .map_err(|e| Status::invalid_argument(format!("the filter of `{name}`: {e}")))?
        }
    };
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
    Ok(Subscription {
        endpoint,
        name: name.to_string(),
        filter,
        types,
    })
}

#[tonic::async_trait]
impl CommonGrpcService for Common {
    async fn count(
        &self,
        request: Request<QueryRequest>,
    ) -> Result<Response<CountResponse>, Status> {
        let (endpoint, q) = self.request(request.get_ref())?;
        let count = read(&self.state, endpoint, move |ex, txn| {
            ex.count(txn, q.filter.as_ref())
        })
        .await?;
        Ok(Response::new(CountResponse { count }))
    }

    async fn query(
        &self,
        request: Request<QueryRequest>,
    ) -> Result<Response<QueryResponse>, Status> {
        let (endpoint, q) = self.request(request.get_ref())?;
        let limit = self.state.settings.default_limit;
        let records = read(&self.state, endpoint, move |ex, txn| {
            ex.query(txn, &q, limit)
        })
        .await?;
        Ok(Response::new(QueryResponse {
            fields: convert::field_definitions(&self.state.pipeline.endpoints()[endpoint].fields),
            records: records.iter().map(convert::record).collect(),
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
        let request = request.into_inner();
        if request.endpoints.is_empty() {
            return Err(Status::invalid_argument(
                "`endpoints` names no endpoint to follow",
            ));
        }
        let mut subscriptions = vec![];
        for (name, f) in &request.endpoints {
            let endpoint = self.endpoint(name)?;
            subscriptions.push(subscription(
                &self.state,
                endpoint,
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
                    values: values.iter().map(convert::value).collect(),
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

    async fn get_endpoints(
        &self,
        _request: Request<GetEndpointsRequest>,
    ) -> Result<Response<GetEndpointsResponse>, Status> {
        Ok(Response::new(GetEndpointsResponse {
            endpoints: self
                .state
                .pipeline
                .endpoints()
                .iter()
                .map(|e| e.name.clone())
                .collect(),
        }))
    }

    async fn get_fields(
        &self,
        request: Request<GetFieldsRequest>,
    ) -> Result<Response<GetFieldsResponse>, Status> {
        let e = &self.state.pipeline.endpoints()[self.endpoint(&request.get_ref().endpoint)?];
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
