//! What every HTTP route shares: failures as responses, who is asking, and records as JSON.

use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use dozer_types::{EndpointSchema, Value};
use serde_json::{json, Map, Value as Json};
use tonic::{Code, Status};

use super::auth::{AuthError, EndpointGrant, Grant};
use super::exec::{ExecError, RecordOut};
use super::query::QueryError;
use super::state::{authenticate, ApiState};

/// An API failure as an HTTP response: `{"error": ...}` with its status.
pub enum ApiError {
    BadRequest(String),
    Unauthorized(AuthError),
    Forbidden(String),
    NotFound(String),
    /// What was asked for is gone for good (an event position past the retention).
    Gone(String),
    Unprocessable(String),
    Unavailable(String),
    Internal(String),
}

impl ApiError {
    /// The HTTP status and the message.
    pub fn status(&self) -> (u16, String) {
        let (status, message) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
            ApiError::Unauthorized(e) => (StatusCode::UNAUTHORIZED, e.to_string()),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m.clone()),
            ApiError::Gone(m) => (StatusCode::GONE, m.clone()),
            ApiError::Unprocessable(m) => (StatusCode::UNPROCESSABLE_ENTITY, m.clone()),
            ApiError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m.clone()),
            ApiError::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, m.clone()),
        };
        (status.as_u16(), message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = self.status();
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = json_response(status, &json!({ "error": message }));
        if let ApiError::Unauthorized(e) = self {
            let challenge = match e {
                AuthError::Missing => "Bearer",
                _ => "Bearer error=\"invalid_token\"",
            };
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        r
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

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        ApiError::Unauthorized(e)
    }
}

/// The event feed's refusals (shared with gRPC) as HTTP statuses.
impl From<Status> for ApiError {
    fn from(s: Status) -> Self {
        let m = s.message().to_string();
        match s.code() {
            Code::InvalidArgument => ApiError::BadRequest(m),
            Code::OutOfRange => ApiError::Gone(m),
            Code::NotFound => ApiError::NotFound(m),
            Code::PermissionDenied => ApiError::Forbidden(m),
            Code::FailedPrecondition | Code::Aborted | Code::Unavailable => {
                ApiError::Unavailable(m)
            }
            _ => ApiError::Internal(m),
        }
    }
}

pub fn json_response(status: StatusCode, body: &Json) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"null".to_vec());
    (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// What the request's token may read.
pub fn grant(state: &ApiState, headers: &HeaderMap) -> Result<Arc<Grant>, ApiError> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    Ok(authenticate(state, authorization)?)
}

/// The request's access to `endpoint`: 401 without a valid token, 403 when the token's scope
/// leaves the endpoint out.
pub fn endpoint_grant(
    state: &ApiState,
    headers: &HeaderMap,
    endpoint: usize,
) -> Result<EndpointGrant, ApiError> {
    grant(state, headers)?.to_endpoint(endpoint).ok_or_else(|| {
        ApiError::Forbidden(format!(
            "the token does not give access to `{}`",
            state.pipeline.endpoints()[endpoint].name
        ))
    })
}

/// The request header that asks for 64-bit integers as JSON strings (`X-Dozer-Int64: string`).
pub const INT64_HEADER: &str = "x-dozer-int64";

/// How an answer writes values in JSON.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct JsonForm {
    /// `int` and `uint` values as strings of digits, for clients whose numbers are doubles
    /// (JavaScript's lose integers beyond 2^53); the generated TypeScript SDK asks for it.
    pub int64_as_string: bool,
}

impl JsonForm {
    /// The form a request asks for.
    pub fn of(headers: &HeaderMap) -> JsonForm {
        JsonForm {
            int64_as_string: headers
                .get(INT64_HEADER)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"string")),
        }
    }

    pub fn value(self, v: &Value) -> Json {
        match v {
            Value::Int(i) if self.int64_as_string => Json::String(i.to_string()),
            Value::UInt(u) if self.int64_as_string => Json::String(u.to_string()),
            v => v.to_json(),
        }
    }
}

/// A record as Dozer's REST API shows it: its fields (those the grant shows),
/// `__dozer_record_id` and `__dozer_record_version`.
pub fn record_json(
    schema: &EndpointSchema,
    grant: &EndpointGrant,
    form: JsonForm,
    values: &[Value],
    id: u64,
    version: u32,
) -> Json {
    let mut o = Map::with_capacity(schema.fields.len() + 2);
    let visible = grant.visible();
    for (i, (f, v)) in schema.fields.iter().zip(values).enumerate() {
        if visible.is_none_or(|v| v[i]) {
            o.insert(f.name.clone(), form.value(v));
        }
    }
    // Record ids count records from 1: they stay below 2^53 and are numbers in every form.
    o.insert("__dozer_record_id".into(), json!(id));
    o.insert("__dozer_record_version".into(), json!(version));
    Json::Object(o)
}

/// [`record_json`] of a record read by a query.
pub fn record_out_json(
    schema: &EndpointSchema,
    grant: &EndpointGrant,
    form: JsonForm,
    r: &RecordOut,
) -> Json {
    record_json(schema, grant, form, &r.values, r.id, r.version)
}
