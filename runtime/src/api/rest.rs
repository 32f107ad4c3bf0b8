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
//! | `GET <path>/events` | live changes as Server-Sent Events ([`super::sse`]) |
//! | `GET`/`POST <path>/oapi`, `GET /openapi.json` | OpenAPI 3.1 documents (`dozer_types::openapi`) |
//! | `POST /auth/token` | a token for the access in the body (needs an `All` token) |
//!
//! With `api.api_security`, every route but `/health` needs `Authorization: Bearer <token>`
//! (401 without a valid one); a scoped token reads only its endpoints (403 for the others; `GET /`
//! and the OpenAPI documents show only those, with only its fields), only its rows (a by-key read
//! of another row is 404) and only its fields (the others are left out of records, and filtering
//! or sorting on them is a 400).
//!
//! Read answers (`GET`, `query`, `count`) are cacheable: an `ETag` of the table's committed version
//! and the request, `304` for a current `If-None-Match`, the endpoint's `Cache-Control`
//! ([`super::etag`]). `X-Dozer-Int64: string` asks for 64-bit integers as strings
//! ([`super::http::JsonForm`]).
//!
//! Each request is answered from one LMDB read transaction on a blocking thread, so it sees whole
//! batches only, never waits for the pipeline, and never makes the pipeline wait. Bad requests get
//! 400 with `{"error": ...}` naming the offending key; a query too expensive without an index gets
//! 422 naming the index to add.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query as UrlQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use dozer_types::parse::parse_value;
use dozer_types::Value;
use heed::{RoTxn, WithoutTls};
use serde_json::{json, Value as Json};
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use super::auth::visible_schema;
use super::auth::{parse_ttl, Access, EndpointGrant, IssueError, AUTH_OFF};
use super::etag::{cache_headers, not_modified, Conditional};
use super::exec::{ExecError, Executor, RecordOut};
use super::http::{endpoint_grant, grant, json_response, record_out_json, ApiError, JsonForm};
use super::query::parse_query;
use super::sse;
use super::state::{read_endpoint, ApiState};
use crate::meta::phase;
use dozer_types::EndpointSchema;

type Shared = Arc<ApiState>;

/// The REST router for every endpoint of the app.
pub fn router(state: Shared) -> Router {
    let mut app = Router::new()
        .route("/", get(paths))
        .route("/health", get(health))
        .route("/auth/token", post(issue_token))
        .route(
            "/openapi.json",
            get(|s: State<Shared>, h: HeaderMap| openapi(s, h, None)),
        );
    for (i, e) in state.pipeline.endpoints().iter().enumerate() {
        let path = if e.path.starts_with('/') {
            e.path.clone()
        } else {
            format!("/{}", e.path)
        };
        app = app
            .route(
                &path,
                get(move |s: State<Shared>, h: HeaderMap| list(s, h, i)),
            )
            .route(
                &format!("{path}/{{key}}"),
                get(move |s: State<Shared>, h: HeaderMap, key: Path<String>| by_key(s, h, i, key)),
            )
            .route(
                &format!("{path}/query"),
                post(move |s: State<Shared>, h: HeaderMap, body: Bytes| query(s, h, i, body)),
            )
            .route(
                &format!("{path}/count"),
                post(move |s: State<Shared>, h: HeaderMap, body: Bytes| count(s, h, i, body)),
            )
            .route(
                &format!("{path}/events"),
                get(
                    move |s: State<Shared>, h: HeaderMap, q: UrlQuery<sse::EventsParams>| {
                        sse::events(s, h, i, q)
                    },
                ),
            )
            .route(
                &format!("{path}/phase"),
                post(move |s: State<Shared>, h: HeaderMap| phase_route(s, h, i)),
            )
            .route(
                &format!("{path}/oapi"),
                get(move |s: State<Shared>, h: HeaderMap| openapi(s, h, Some(i)))
                    .post(move |s: State<Shared>, h: HeaderMap| openapi(s, h, Some(i))),
            );
    }
    let timeout = state.settings.timeout;
    let max_body = state.settings.max_body;
    let cors = state.settings.rest_cors.layer();
    app.fallback(not_found)
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(CompressionLayer::new())
        .layer(cors)
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

/// Runs `f` with a read transaction and the granted endpoint's executor on a blocking thread.
async fn read<T: Send + 'static>(
    state: Shared,
    grant: EndpointGrant,
    f: impl FnOnce(&Executor<'_>, &heed::RoTxn<heed::WithoutTls>) -> Result<T, ExecError>
        + Send
        + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(move || read_endpoint(&state, &grant, f))
        .await
        .map_err(|e| ApiError::Internal(format!("the request's worker failed: {e}")))?
        .map_err(ApiError::from)
}

/// A read's answer: fresh, or "the one you hold is current"; with its tag either way.
enum Answer<T> {
    Fresh(T, String),
    Current(String),
}

/// `f` behind the request's validator: the table's version is read first, in the same
/// transaction, and when the requester holds the current answer nothing else is read.
fn validated<T>(
    conditional: Conditional,
    f: impl FnOnce(&Executor<'_>, &RoTxn<WithoutTls>) -> Result<T, ExecError>,
) -> impl FnOnce(&Executor<'_>, &RoTxn<WithoutTls>) -> Result<Answer<T>, ExecError> {
    move |ex, txn| {
        let tag = conditional.etag(ex.table.version(txn).map_err(ExecError::Store)?);
        if conditional.is_current(&tag) {
            return Ok(Answer::Current(tag));
        }
        Ok(Answer::Fresh(f(ex, txn)?, tag))
    }
}

/// An answer as a response with its caching headers: 304, or `body` of the fresh value.
fn answer<T>(
    state: &ApiState,
    endpoint: usize,
    answer: Answer<T>,
    body: impl FnOnce(T) -> Json,
) -> Response {
    let schema = &state.pipeline.endpoints()[endpoint];
    let auth = state.auth.is_some();
    match answer {
        Answer::Current(tag) => not_modified(&tag, schema, auth),
        Answer::Fresh(value, tag) => {
            let mut r = json_response(StatusCode::OK, &body(value));
            cache_headers(&mut r, &tag, schema, auth);
            r
        }
    }
}

/// A request body as JSON: an empty one is `null` (blanks alone are not JSON: a 400).
fn body_json(body: &[u8]) -> Result<Json, ApiError> {
    if body.is_empty() {
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

/// The paths of the endpoints the token may read.
async fn paths(State(state): State<Shared>, headers: HeaderMap) -> Result<Response, ApiError> {
    let grant = grant(&state, &headers)?;
    let paths: Vec<&str> = state
        .pipeline
        .endpoints()
        .iter()
        .enumerate()
        .filter(|(i, _)| grant.sees(*i))
        .map(|(_, e)| e.path.as_str())
        .collect();
    Ok(json_response(StatusCode::OK, &json!(paths)))
}

async fn health() -> Response {
    json_response(StatusCode::OK, &json!({ "status": "SERVING" }))
}

/// The app's OpenAPI document (the one dozerc wrote next to the config), or one endpoint's; for a
/// scoped token, only its endpoints and fields.
async fn openapi(
    State(state): State<Shared>,
    headers: HeaderMap,
    only: Option<usize>,
) -> Result<Response, ApiError> {
    let grant = grant(&state, &headers)?;
    if let Some(i) = only {
        endpoint_grant(&state, &headers, i)?;
    }
    let endpoints = state.pipeline.endpoints();
    let (shown, described): (Vec<usize>, Vec<EndpointSchema>) = endpoints
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            let g = grant.to_endpoint(i)?;
            Some((i, visible_schema(e, &g)))
        })
        .unzip();
    let doc = dozer_types::openapi::document(
        &state.app,
        &described,
        state.settings.limits.max_limit as u64,
        only.and_then(|i| shown.iter().position(|j| *j == i)),
    );
    Ok(json_response(StatusCode::OK, &doc))
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route; `GET /` lists the endpoints".into())
}

async fn list(
    State(state): State<Shared>,
    headers: HeaderMap,
    endpoint: usize,
) -> Result<Response, ApiError> {
    let grant = endpoint_grant(&state, &headers, endpoint)?;
    let limit = state.settings.default_limit;
    let conditional = Conditional::of(&headers, "list", &[]);
    let found = read(
        state.clone(),
        grant.clone(),
        validated(conditional, move |ex, txn| {
            ex.query(txn, &super::query::Query::default(), limit)
        }),
    )
    .await?;
    let form = JsonForm::of(&headers);
    Ok(answer(&state, endpoint, found, |records| {
        records_json(&state, &grant, form, &records)
    }))
}

fn records_json(
    state: &ApiState,
    grant: &EndpointGrant,
    form: JsonForm,
    records: &[RecordOut],
) -> Json {
    let schema = &state.pipeline.endpoints()[grant.endpoint()];
    Json::Array(
        records
            .iter()
            .map(|r| record_out_json(schema, grant, form, r))
            .collect(),
    )
}

async fn by_key(
    State(state): State<Shared>,
    headers: HeaderMap,
    endpoint: usize,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let grant = endpoint_grant(&state, &headers, endpoint)?;
    let schema = &state.pipeline.endpoints()[endpoint];
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
    // Outside the token's scope a row does not exist: the same 404 as for a missing one. One
    // B-tree lookup: done on this worker, as the hop to a blocking thread would cost more than
    // the read (queries, which may scan, go through `read`).
    let conditional = Conditional::of(&headers, "key", key.as_bytes());
    let found = read_endpoint(
        &state,
        &grant,
        validated(conditional, |ex, txn| match lookup {
            Lookup::Id(id) => ex.by_id(txn, id),
            Lookup::Key(k) => ex.by_key(txn, &k),
        }),
    )?;
    let found = match found {
        Answer::Fresh(None, _) => {
            return Err(ApiError::NotFound(format!(
                "`{}` has no record with key `{key}`",
                schema.name
            )))
        }
        Answer::Fresh(Some(r), tag) => Answer::Fresh(r, tag),
        Answer::Current(tag) => Answer::Current(tag),
    };
    let form = JsonForm::of(&headers);
    Ok(answer(&state, endpoint, found, |r| {
        record_out_json(schema, &grant, form, &r)
    }))
}

enum Lookup {
    Id(u64),
    Key(Vec<Value>),
}

async fn query(
    State(state): State<Shared>,
    headers: HeaderMap,
    endpoint: usize,
    body: Bytes,
) -> Result<Response, ApiError> {
    let grant = endpoint_grant(&state, &headers, endpoint)?;
    let json = body_json(&body)?;
    let schema = &state.pipeline.endpoints()[endpoint];
    let q = parse_query(
        &json,
        &schema.fields,
        grant.visible(),
        state.settings.limits,
    )?;
    let limit = state.settings.default_limit;
    let conditional = Conditional::of(&headers, "query", &body);
    let found = read(
        state.clone(),
        grant.clone(),
        validated(conditional, move |ex, txn| ex.query(txn, &q, limit)),
    )
    .await?;
    let form = JsonForm::of(&headers);
    Ok(answer(&state, endpoint, found, |records| {
        records_json(&state, &grant, form, &records)
    }))
}

async fn count(
    State(state): State<Shared>,
    headers: HeaderMap,
    endpoint: usize,
    body: Bytes,
) -> Result<Response, ApiError> {
    let grant = endpoint_grant(&state, &headers, endpoint)?;
    let json = body_json(&body)?;
    let schema = &state.pipeline.endpoints()[endpoint];
    // A count takes a whole query (as Dozer's clients send it); only its filter matters.
    let filter = parse_query(
        &json,
        &schema.fields,
        grant.visible(),
        state.settings.limits,
    )?
    .filter;
    let conditional = Conditional::of(&headers, "count", &body);
    let found = read(
        state.clone(),
        grant,
        validated(conditional, move |ex, txn| ex.count(txn, filter.as_ref())),
    )
    .await?;
    Ok(answer(&state, endpoint, found, |n| json!(n)))
}

async fn phase_route(
    State(state): State<Shared>,
    headers: HeaderMap,
    endpoint: usize,
) -> Result<Response, ApiError> {
    endpoint_grant(&state, &headers, endpoint)?;
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

/// `?ttl=` of `POST /auth/token`.
#[derive(serde::Deserialize)]
struct TokenParams {
    ttl: Option<String>,
}

/// `POST /auth/token`: a token with the access in the body, for a requester with `All` access;
/// it lives `?ttl=` (e.g. `3600`, `90m`, `24h`; default `api.token_ttl`) and never past the
/// requester's own token.
async fn issue_token(
    State(state): State<Shared>,
    headers: HeaderMap,
    UrlQuery(params): UrlQuery<TokenParams>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(auth) = &state.auth else {
        return Err(ApiError::NotFound(AUTH_OFF.into()));
    };
    let requester = auth.requester(
        headers
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes),
    )?;
    let json = body_json(&body)?;
    let access: Access = serde_json::from_value(json).map_err(|e| {
        ApiError::BadRequest(format!(
            "the body is not an access: {e}; send \"All\" or {{\"Custom\": {{\"<endpoint>\": {{\"filter\": {{...}}, \"fields\": [...]}}}}}}"
        ))
    })?;
    let ttl = match params.ttl.as_deref() {
        None => auth.token_ttl,
        Some(t) => parse_ttl(t).map_err(|e| ApiError::BadRequest(format!("`ttl`: {e}")))?,
    };
    let (token, claims) = auth
        .issue_for(&requester, &access, ttl)
        .map_err(|e| match e {
            IssueError::NotAllowed => ApiError::Forbidden(e.to_string()),
            IssueError::BadAccess(m) => ApiError::BadRequest(m),
        })?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "token": token, "expires_at": expires_at(claims.exp) }),
    ))
}

/// An `exp` claim as RFC 3339.
pub fn expires_at(exp: u64) -> String {
    chrono::DateTime::from_timestamp(i64::try_from(exp).unwrap_or(i64::MAX), 0)
        .map_or_else(|| exp.to_string(), |t| t.to_rfc3339())
}
