//! The REST API (axum): Dozer's routes over every endpoint.
//!
//! | route | answer |
//! |---|---|
//! | `GET /` | the endpoints' paths |
//! | `GET /health` | `{"status": "SERVING"}` |
//! | `GET <path>` | the first `default_max_num_records` records |
//! | `GET <path>/{key}` | one record by primary key (by record id for keyless results), else 404 |
//! | `POST <path>/query` | a query (body may be empty) → records |
//! | `POST <path>/count` | a query's `$filter` → a bare number |
//! | `POST <path>/phase` | `"Snapshotting"` or `"Streaming"` |
//! | `GET`/`POST <path>/oapi`, `GET /openapi.json` | OpenAPI 3.1 documents (`dozer_types::openapi`) |
//!
//! Each request is answered from one LMDB read transaction on a blocking thread, so it sees whole
//! batches only, never waits for the pipeline, and never makes the pipeline wait. Bad requests get
//! 400 with `{"error": ...}` naming the offending key; a query too expensive without an index gets
//! 422 naming the index to add.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use dozer_types::parse::parse_value;
use dozer_types::Value;
use heed::types::Bytes as LmdbBytes;
use heed::Database;
use serde_json::{json, Map, Value as Json};
use tower_http::compression::CompressionLayer;
use tower_http::cors::CorsLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use super::exec::{ExecError, Executor, RecordOut};
use super::query::{parse_query, QueryError, QueryLimits};
use super::EndpointSchema;
use crate::app::{phase, Pipeline};
use crate::store::Store;

/// How the API serves (from the config's `api` section and the command line).
#[derive(Clone, Debug)]
pub struct ApiSettings {
    /// The REST server's address (`api.rest.host`).
    pub host: String,
    pub rest_port: u16,
    /// The gRPC server's address and port (`api.grpc`).
    pub grpc_host: String,
    pub grpc_port: u16,
    /// `flags.grpc_web`: the gRPC port also speaks gRPC-Web (HTTP/1.1, for browsers).
    pub grpc_web: bool,
    /// Records a query returns when it sets no `$limit` (`api.default_max_num_records`).
    pub default_limit: usize,
    pub limits: QueryLimits,
    /// Records one request may read before it is refused with an index hint.
    pub max_scan: usize,
    /// Largest request body, in bytes.
    pub max_body: usize,
    pub timeout: Duration,
    /// The config asks for JWT authentication (`api.api_security`).
    pub requires_auth: bool,
    /// `flags.push_events`: committed changes go to the event log and `OnEvent` serves them.
    pub push_events: bool,
    /// How long the event log keeps a change (`api.event_retention`).
    pub event_retention: Duration,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            host: "0.0.0.0".into(),
            rest_port: 8080,
            grpc_host: "0.0.0.0".into(),
            grpc_port: 50051,
            grpc_web: true,
            default_limit: 50,
            limits: QueryLimits::default(),
            max_scan: 1_000_000,
            max_body: 1 << 20,
            timeout: Duration::from_secs(30),
            requires_auth: false,
            push_events: true,
            event_retention: crate::app::DEFAULT_EVENT_RETENTION,
        }
    }
}

/// What every handler reads.
pub struct ApiState {
    /// The app's name (the OpenAPI document's title).
    pub app: String,
    pub store: Arc<Store>,
    pub pipeline: Arc<dyn Pipeline>,
    pub meta: Database<LmdbBytes, LmdbBytes>,
    pub settings: ApiSettings,
    /// The event log, for `OnEvent` (`None` when `flags.push_events` is off).
    pub events: Option<super::events::EventFeed>,
    /// The endpoints' typed gRPC messages (`None` with `flags.dynamic: false`).
    pub typed: Option<&'static dyn super::grpc::typed::TypedMessages>,
}

type Shared = Arc<ApiState>;

/// The REST router for every endpoint of the app.
pub fn router(state: Shared) -> Router {
    let mut app = Router::new()
        .route("/", get(paths))
        .route("/health", get(health))
        .route("/openapi.json", get(|s: State<Shared>| openapi(s, None)));
    for (i, e) in state.pipeline.endpoints().iter().enumerate() {
        let path = if e.path.starts_with('/') {
            e.path.clone()
        } else {
            format!("/{}", e.path)
        };
        app = app
            .route(&path, get(move |s: State<Shared>| list(s, i)))
            .route(
                &format!("{path}/{{key}}"),
                get(move |s: State<Shared>, key: Path<String>| by_key(s, i, key)),
            )
            .route(
                &format!("{path}/query"),
                post(move |s: State<Shared>, body: Bytes| query(s, i, body)),
            )
            .route(
                &format!("{path}/count"),
                post(move |s: State<Shared>, body: Bytes| count(s, i, body)),
            )
            .route(&format!("{path}/phase"), post(phase_route))
            .route(
                &format!("{path}/oapi"),
                get(move |s: State<Shared>| openapi(s, Some(i)))
                    .post(move |s: State<Shared>| openapi(s, Some(i))),
            );
    }
    let timeout = state.settings.timeout;
    let max_body = state.settings.max_body;
    app.fallback(not_found)
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(CompressionLayer::new())
        .layer(CorsLayer::permissive())
}

/// Serves until `shutdown` completes, then lets requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Shared,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt as _;
    // No Nagle: a response written in pieces must not wait for the client's delayed ACK.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// An API failure as an HTTP response.
enum ApiError {
    BadRequest(String),
    NotFound(String),
    Unprocessable(String),
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ApiError::Unprocessable(m) => (StatusCode::UNPROCESSABLE_ENTITY, m),
            ApiError::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, m),
        };
        json_response(status, &json!({ "error": message }))
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

impl From<ExecError> for ApiError {
    fn from(e: ExecError) -> Self {
        match e {
            ExecError::TooExpensive(m) => ApiError::Unprocessable(m),
            ExecError::BadCursor(_) => ApiError::NotFound(e.to_string()),
            ExecError::Store(e) => ApiError::Internal(format!("reading the store: {e}")),
        }
    }
}

fn json_response(status: StatusCode, body: &Json) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"null".to_vec());
    (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// A record as Dozer's REST API shows it: its fields, `__dozer_record_id` and
/// `__dozer_record_version`.
pub fn record_json(schema: &EndpointSchema, r: &RecordOut) -> Json {
    let mut o = Map::with_capacity(schema.fields.len() + 2);
    for (f, v) in schema.fields.iter().zip(&r.values) {
        o.insert(f.name.clone(), v.to_json());
    }
    o.insert("__dozer_record_id".into(), json!(r.id));
    o.insert("__dozer_record_version".into(), json!(r.version));
    Json::Object(o)
}

/// Runs `f` with a read transaction and the endpoint's executor on a blocking thread.
async fn read<T: Send + 'static>(
    state: Shared,
    endpoint: usize,
    f: impl FnOnce(&Executor<'_>, &heed::RoTxn<heed::WithoutTls>) -> Result<T, ExecError>
        + Send
        + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(move || super::read_endpoint(&state, endpoint, f))
        .await
        .map_err(|e| ApiError::Internal(format!("the request's worker failed: {e}")))?
        .map_err(ApiError::from)
}

/// A request body as JSON: empty is `null`.
fn body_json(body: &[u8]) -> Result<Json, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Json::Null);
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::BadRequest(format!(
            "the body is not valid JSON: {e} (line {}, column {})",
            e.line(),
            e.column()
        ))
    })
}

async fn paths(State(state): State<Shared>) -> Response {
    let paths: Vec<&str> = state
        .pipeline
        .endpoints()
        .iter()
        .map(|e| e.path.as_str())
        .collect();
    json_response(StatusCode::OK, &json!(paths))
}

async fn health() -> Response {
    json_response(StatusCode::OK, &json!({ "status": "SERVING" }))
}

/// The app's OpenAPI document (the one dozerc wrote next to the config), or one endpoint's.
async fn openapi(State(state): State<Shared>, only: Option<usize>) -> Response {
    let endpoints: Vec<_> = state
        .pipeline
        .endpoints()
        .iter()
        .map(|e| e.openapi())
        .collect();
    let doc = dozer_types::openapi::document(
        &state.app,
        &endpoints,
        state.settings.limits.max_limit as u64,
        only,
    );
    json_response(StatusCode::OK, &doc)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route; `GET /` lists the endpoints".into())
}

async fn list(State(state): State<Shared>, endpoint: usize) -> Result<Response, ApiError> {
    let limit = state.settings.default_limit;
    let st = state.clone();
    let records = read(state, endpoint, move |ex, txn| {
        let q = super::query::Query::default();
        ex.query(txn, &q, limit)
    })
    .await?;
    Ok(records_response(&st, endpoint, &records))
}

fn records_response(state: &ApiState, endpoint: usize, records: &[RecordOut]) -> Response {
    let schema = &state.pipeline.endpoints()[endpoint];
    let body: Vec<Json> = records.iter().map(|r| record_json(schema, r)).collect();
    json_response(StatusCode::OK, &Json::Array(body))
}

async fn by_key(
    State(state): State<Shared>,
    endpoint: usize,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let schema = state.pipeline.endpoints()[endpoint].clone();
    let lookup = match &schema.primary_key {
        // Keyless results: records are addressed by id.
        None => Lookup::Id(key.parse::<u64>().map_err(|_| {
            ApiError::BadRequest(format!(
                "`{}` has no primary key; address its records by record id (a number), not `{key}`",
                schema.name
            ))
        })?),
        Some(cols) if cols.len() == 1 => {
            let f = &schema.fields[cols[0]];
            let value = parse_value(f.ty, &key).map_err(|e| {
                ApiError::BadRequest(format!("the key `{key}` is not a valid `{}` ({}): {e}", f.name, f.ty))
            })?;
            Lookup::Key(vec![value])
        }
        Some(cols) if cols.is_empty() => {
            return Err(ApiError::BadRequest(format!(
                "`{}` has one row and no key; read it with GET {}",
                schema.name, schema.path
            )))
        }
        Some(_) => {
            return Err(ApiError::BadRequest(format!(
                "not supported yet: composite keys in the path (`{}`); use POST {}/query with a `$filter` on the key fields",
                schema.name, schema.path
            )))
        }
    };
    let name = schema.name.clone();
    let found = read(state.clone(), endpoint, move |ex, txn| match lookup {
        Lookup::Id(id) => ex.by_id(txn, id),
        Lookup::Key(k) => ex.by_key(txn, &k),
    })
    .await?;
    match found {
        Some(r) => Ok(json_response(StatusCode::OK, &record_json(&schema, &r))),
        None => Err(ApiError::NotFound(format!(
            "`{name}` has no record with key `{key}`"
        ))),
    }
}

enum Lookup {
    Id(u64),
    Key(Vec<Value>),
}

async fn query(
    State(state): State<Shared>,
    endpoint: usize,
    body: Bytes,
) -> Result<Response, ApiError> {
    let json = body_json(&body)?;
    let schema = &state.pipeline.endpoints()[endpoint];
    let q = parse_query(&json, &schema.fields, state.settings.limits)?;
    let limit = state.settings.default_limit;
    let st = state.clone();
    let records = read(state, endpoint, move |ex, txn| ex.query(txn, &q, limit)).await?;
    Ok(records_response(&st, endpoint, &records))
}

async fn count(
    State(state): State<Shared>,
    endpoint: usize,
    body: Bytes,
) -> Result<Response, ApiError> {
    let json = body_json(&body)?;
    let schema = &state.pipeline.endpoints()[endpoint];
    // A count takes a whole query (as Dozer's clients send it); only its filter matters.
    let filter = parse_query(&json, &schema.fields, state.settings.limits)?.filter;
    let n = read(state, endpoint, move |ex, txn| {
        ex.count(txn, filter.as_ref())
    })
    .await?;
    Ok(json_response(StatusCode::OK, &json!(n)))
}

async fn phase_route(State(state): State<Shared>) -> Result<Response, ApiError> {
    let st = state.clone();
    let phase = tokio::task::spawn_blocking(move || {
        let view = st
            .store
            .read()
            .map_err(|e| ApiError::Internal(format!("reading the store: {e}")))?;
        phase(st.meta, &view).map_err(|e| ApiError::Internal(format!("reading the store: {e}")))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("the request's worker failed: {e}")))??;
    Ok(json_response(StatusCode::OK, &json!(phase)))
}
