//! Typed gRPC services: one per endpoint, `dozer.generated.<endpoint>.<Endpoint>` with `count`,
//! `query` and `on_event` (and `token` when the app has authentication), over messages whose
//! fields are the endpoint's columns.
//!
//! Access is checked as on the common service: a token's row scope limits every method. A token
//! limited to some fields may `count` but not `query` or `on_event`: the record message carries
//! every column (NOT NULL ones are not `optional`), so a hidden one could not be left out; such a
//! token reads through the common service or REST.
//!
//! The messages are compiled into the app: dozerc writes a `.proto` file per endpoint and the
//! prost structs generated from it, and implements [`TypedMessages`] ([`super::messages`]) with them (a row's values
//! into its record message, records and events into encoded answers). Everything else is here and
//! compiled once: request decoding (the request messages have the same shape for every endpoint),
//! query execution and event streams shared with the common service, and the routing. Answers
//! leave the generated code already encoded, so this module never needs the generated types.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http;
use prost::bytes::BufMut as _;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::BoxFuture;
use tonic::server::{Grpc, ServerStreamingService, UnaryService};
use tonic::{Request, Response, Status};

use super::messages::{Mismatch, TypedEvent, TypedMessages};
use super::service::{endpoint_grant, issue_status, operation_type, query, read, subscription};
use crate::api::auth::{Access, EndpointAccess, EndpointGrant, AUTH_OFF};
use crate::api::events;
use crate::api::state::ApiState;
use crate::proto::types as pb;

/// `Query<Endpoint>Request`, the same for every endpoint.
#[derive(Clone, PartialEq, prost::Message)]
pub struct QueryRequest {
    #[prost(string, optional, tag = "1")]
    pub query: Option<String>,
}

/// `Count<Endpoint>Response`, the same for every endpoint.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CountResponse {
    #[prost(uint64, tag = "1")]
    pub count: u64,
}

/// `<Endpoint>TokenRequest`, the same for every endpoint: a token for this endpoint alone.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TokenRequest {
    /// A `$filter` as JSON: the rows the token may read (none: every row).
    #[prost(string, optional, tag = "1")]
    pub filter: Option<String>,
    /// The fields the token may read (none: every field).
    #[prost(string, repeated, tag = "2")]
    pub fields: Vec<String>,
    /// The token's lifetime in seconds (default `api.token_ttl`).
    #[prost(uint64, optional, tag = "3")]
    pub ttl_seconds: Option<u64>,
}

/// `<Endpoint>TokenResponse`, the same for every endpoint.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TokenResponse {
    #[prost(string, tag = "1")]
    pub token: String,
}

/// `<Endpoint>EventRequest`, the same for every endpoint.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EventRequest {
    #[prost(enumeration = "pb::EventType", tag = "1")]
    pub r#type: i32,
    #[prost(string, optional, tag = "2")]
    pub filter: Option<String>,
    #[prost(uint64, optional, tag = "3")]
    pub resume_after: Option<u64>,
}

/// Requests decoded as `D`, answers passed through as the generated code encoded them.
struct TypedCodec<D>(PhantomData<fn() -> D>);

impl<D> Default for TypedCodec<D> {
    fn default() -> Self {
        TypedCodec(PhantomData)
    }
}

impl<D: prost::Message + Default + Send + 'static> Codec for TypedCodec<D> {
    type Encode = Vec<u8>;
    type Decode = D;
    type Encoder = Encoded;
    type Decoder = Decoding<D>;

    fn encoder(&mut self) -> Encoded {
        Encoded
    }

    fn decoder(&mut self) -> Decoding<D> {
        Decoding(PhantomData)
    }
}

struct Encoded;

impl Encoder for Encoded {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

struct Decoding<D>(PhantomData<fn() -> D>);

impl<D: prost::Message + Default> Decoder for Decoding<D> {
    type Item = D;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<D>, Status> {
        D::decode(src)
            .map(Some)
            .map_err(|e| Status::invalid_argument(format!("the request does not decode: {e}")))
    }
}

/// One endpoint's typed service.
#[derive(Clone)]
pub struct TypedService {
    state: Arc<ApiState>,
    messages: &'static dyn TypedMessages,
    endpoint: usize,
}

/// A typed method's service with the request's checked access.
struct Granted(TypedService, EndpointGrant);

impl Granted {
    /// Refuses a token that hides fields: typed records carry every column.
    fn whole_records(&self) -> Result<(), Status> {
        if self.1.visible().is_none() {
            return Ok(());
        }
        let name = &self.0.state.pipeline.endpoints()[self.0.endpoint].name;
        Err(Status::permission_denied(format!(
            "the token may read only some fields of `{name}`, and typed records carry all of them; read through dozer.common.CommonGrpcService (or REST), which leave the other fields out"
        )))
    }
}

impl TypedService {
    pub fn new(
        state: Arc<ApiState>,
        messages: &'static dyn TypedMessages,
        endpoint: usize,
    ) -> Self {
        TypedService {
            state,
            messages,
            endpoint,
        }
    }

    fn internal(e: Mismatch) -> Status {
        Status::internal(e.to_string())
    }
}

struct Count(Granted);

impl UnaryService<QueryRequest> for Count {
    type Response = Vec<u8>;
    type Future = BoxFuture<Response<Vec<u8>>, Status>;

    fn call(&mut self, request: Request<QueryRequest>) -> Self::Future {
        let Granted(s, grant) = &self.0;
        let (s, grant) = (s.clone(), grant.clone());
        Box::pin(async move {
            let q = query(&s.state, &grant, request.get_ref().query.as_deref())?;
            let count = read(&s.state, &grant, move |ex, txn| {
                ex.count(txn, q.filter.as_ref())
            })
            .await?;
            Ok(Response::new(prost::Message::encode_to_vec(
                &CountResponse { count },
            )))
        })
    }
}

struct Query(Granted);

impl UnaryService<QueryRequest> for Query {
    type Response = Vec<u8>;
    type Future = BoxFuture<Response<Vec<u8>>, Status>;

    fn call(&mut self, request: Request<QueryRequest>) -> Self::Future {
        let checked = self.0.whole_records();
        let Granted(s, grant) = &self.0;
        let (s, grant) = (s.clone(), grant.clone());
        Box::pin(async move {
            checked?;
            let q = query(&s.state, &grant, request.get_ref().query.as_deref())?;
            let limit = s.state.settings.default_limit;
            let records = read(&s.state, &grant, move |ex, txn| ex.query(txn, &q, limit)).await?;
            let answer = s
                .messages
                .query_response(s.endpoint, &records)
                .map_err(TypedService::internal)?;
            Ok(Response::new(answer))
        })
    }
}

struct OnEvent(Granted);

impl ServerStreamingService<EventRequest> for OnEvent {
    type Response = Vec<u8>;
    type ResponseStream = tonic::codegen::BoxStream<Vec<u8>>;
    type Future = BoxFuture<Response<Self::ResponseStream>, Status>;

    fn call(&mut self, request: Request<EventRequest>) -> Self::Future {
        let checked = self.0.whole_records();
        let Granted(s, grant) = &self.0;
        let (s, grant) = (s.clone(), grant.clone());
        Box::pin(async move {
            checked?;
            let r = request.into_inner();
            let name = s.state.pipeline.endpoints()[s.endpoint].name.clone();
            let sub = subscription(&s.state, grant, &name, r.r#type, r.filter.as_deref())?;
            let (feed, after) = events::start(&s.state, r.resume_after)?;
            let (messages, endpoint) = (s.messages, s.endpoint);
            let stream = events::follow(
                s.state.clone(),
                feed,
                vec![sub],
                after,
                move |_, e, (kind, old, new)| {
                    messages
                        .event(
                            endpoint,
                            &TypedEvent {
                                typ: operation_type(kind) as i32,
                                old: old.map(Vec::as_slice),
                                old_version: e.version.saturating_sub(1),
                                new,
                                version: e.version,
                                id: e.id,
                                position: e.position,
                            },
                        )
                        .map_err(TypedService::internal)
                },
            );
            Ok(Response::new(
                Box::pin(stream) as tonic::codegen::BoxStream<Vec<u8>>
            ))
        })
    }
}

/// `token`: a token for this endpoint alone, for a requester with `All` access.
struct Token(TypedService, Option<Vec<u8>>);

impl UnaryService<TokenRequest> for Token {
    type Response = Vec<u8>;
    type Future = BoxFuture<Response<Vec<u8>>, Status>;

    fn call(&mut self, request: Request<TokenRequest>) -> Self::Future {
        let s = self.0.clone();
        let authorization = self.1.clone();
        Box::pin(async move {
            let Some(auth) = &s.state.auth else {
                return Err(Status::unimplemented(AUTH_OFF));
            };
            let requester = auth
                .requester(authorization.as_deref())
                .map_err(|e| Status::unauthenticated(e.to_string()))?;
            let r = request.into_inner();
            let filter = match r.filter.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(text) => Some(serde_json::from_str(text).map_err(|e| {
                    Status::invalid_argument(format!("`filter` is not valid JSON: {e}"))
                })?),
            };
            let name = s.state.pipeline.endpoints()[s.endpoint].name.clone();
            let access = Access::Custom(
                [(
                    name,
                    EndpointAccess {
                        filter,
                        fields: r.fields,
                    },
                )]
                .into(),
            );
            let ttl = r
                .ttl_seconds
                .map_or(auth.token_ttl, std::time::Duration::from_secs);
            let (token, _) = auth
                .issue_for(&requester, &access, ttl)
                .map_err(issue_status)?;
            Ok(Response::new(prost::Message::encode_to_vec(
                &TokenResponse { token },
            )))
        })
    }
}

impl tonic::codegen::Service<http::Request<Body>> for TypedService {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let s = self.clone();
        let method = req
            .uri()
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let authorization = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(|v| v.as_bytes().to_vec());
        Box::pin(async move {
            if method == "token" {
                return Ok(Grpc::new(TypedCodec::<TokenRequest>::default())
                    .unary(Token(s, authorization), req)
                    .await);
            }
            let grant = crate::api::state::authenticate(&s.state, authorization.as_deref())
                .map_err(|e| Status::unauthenticated(e.to_string()))
                .and_then(|g| endpoint_grant(&s.state, &g, s.endpoint));
            let g = match grant {
                Ok(g) => Granted(s, g),
                Err(status) => return Ok(status.into_http()),
            };
            Ok(match method.as_str() {
                "count" => {
                    Grpc::new(TypedCodec::<QueryRequest>::default())
                        .unary(Count(g), req)
                        .await
                }
                "query" => {
                    Grpc::new(TypedCodec::<QueryRequest>::default())
                        .unary(Query(g), req)
                        .await
                }
                "on_event" => {
                    Grpc::new(TypedCodec::<EventRequest>::default())
                        .server_streaming(OnEvent(g), req)
                        .await
                }
                other => Status::unimplemented(format!(
                    "no method `{other}`; the typed services have count, query, on_event and (with authentication) token"
                ))
                .into_http(),
            })
        })
    }
}

/// Adds every endpoint's typed service to the gRPC routes.
pub fn add_services(
    mut routes: tonic::service::Routes,
    state: &Arc<ApiState>,
    messages: &'static dyn TypedMessages,
) -> tonic::service::Routes {
    for (i, e) in state.pipeline.endpoints().iter().enumerate() {
        let router = std::mem::take(routes.axum_router_mut());
        *routes.axum_router_mut() = router.route_service(
            &format!("/{}/{{*method}}", dozer_types::grpc::service(&e.name)),
            TypedService::new(state.clone(), messages, i),
        );
    }
    routes
}
