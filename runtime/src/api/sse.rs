//! `GET <path>/events`: an endpoint's live changes as Server-Sent Events, for browsers and the
//! generated SDKs, which then need no gRPC. The stream is gRPC `OnEvent`'s ([`super::events`]):
//! the same events in the same order, the same positions, event types, `$filter` and token scope.
//!
//! ```text
//! GET /orders/events?type=INSERT_ONLY&filter={"total":{"$gt":100}}&resume_after=41
//!
//! id: 42
//! data: {"position":42,"type":"INSERT","endpoint":"orders","old":null,"new":{...}}
//! ```
//!
//! Each change is one message event; its `id` is its position, so a browser's `EventSource`
//! resumes by itself (it sends `Last-Event-ID`, which takes precedence over `?resume_after=`).
//! The stream opens with an `id:` of the position it follows from and no data, so a client that
//! loses the connection before the first change still resumes exactly there (a browser's
//! `EventSource` takes the id without dispatching an event).
//! Refusals known before the stream starts are HTTP errors (400 for a bad filter or position,
//! 410 for a position past the retention); a failure later (the subscriber fell behind the
//! retention) is a last `event: error` whose data is `{"error", "status"}`, then the end.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query as UrlQuery, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tonic::codegen::tokio_stream::StreamExt as _;

use super::events::{self, EventTypes};
use super::http::{endpoint_grant, record_json, ApiError, JsonForm};
use super::state::ApiState;
use crate::table::ChangeKind;

/// The query parameters of `GET <path>/events`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsParams {
    /// A `$filter` as JSON.
    filter: Option<String>,
    /// `ALL` (default), `INSERT_ONLY`, `UPDATE_ONLY` or `DELETE_ONLY`.
    #[serde(rename = "type")]
    types: Option<String>,
    /// The position of the last event seen.
    resume_after: Option<String>,
}

/// The name of an operation in events, as gRPC's `OperationType` spells it.
pub fn operation_name(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Insert => "INSERT",
        ChangeKind::Update => "UPDATE",
        ChangeKind::Delete => "DELETE",
    }
}

/// How often an idle stream sends a comment, so that proxies keep it open and a dead client is
/// noticed.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub async fn events(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    endpoint: usize,
    UrlQuery(params): UrlQuery<EventsParams>,
) -> Result<Response, ApiError> {
    let grant = endpoint_grant(&state, &headers, endpoint)?;
    let name = state.pipeline.endpoints()[endpoint].name.clone();
    let types = match params.types.as_deref() {
        None => EventTypes::All,
        Some(t) => EventTypes::from_name(t).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "`type`: `{t}` is not an event type; expected ALL, INSERT_ONLY, UPDATE_ONLY or DELETE_ONLY"
            ))
        })?,
    };
    let subscription = events::subscription(&state, grant, &name, types, params.filter.as_deref())?;
    let position = |what: &str, text: &str| {
        text.trim().parse::<u64>().map_err(|_| {
            ApiError::BadRequest(format!(
                "{what}: `{text}` is not an event position (a whole number)"
            ))
        })
    };
    let resume_after = match headers.get("last-event-id") {
        Some(v) => Some(position(
            "the `Last-Event-ID` header",
            v.to_str().unwrap_or("(not text)"),
        )?),
        None => params
            .resume_after
            .as_deref()
            .map(|t| position("`resume_after`", t))
            .transpose()?,
    };
    let (feed, after) = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || events::start(&state, resume_after))
            .await
            .map_err(|e| ApiError::Internal(format!("the request's worker failed: {e}")))??
    };
    let form = JsonForm::of(&headers);
    let schema_of = state.clone();
    let stream = events::follow(
        state,
        feed,
        vec![subscription],
        after,
        move |s, e, (kind, old, new)| {
            let schema = &schema_of.pipeline.endpoints()[s.endpoint];
            let record = |values: &Vec<dozer_types::Value>, version: u32| {
                record_json(schema, &s.grant, form, values, e.id, version)
            };
            let data = json!({
                "position": e.position,
                "type": operation_name(kind),
                "endpoint": s.name,
                "old": old.map(|o| record(o, e.version.saturating_sub(1))),
                "new": record(new, e.version),
            });
            Ok(SseEvent::default()
                .id(e.position.to_string())
                .data(data.to_string()))
        },
    )
    .map(|m| {
        m.unwrap_or_else(|status| {
            let status = ApiError::from(status).status();
            SseEvent::default()
                .event("error")
                .data(json!({"error": status.1, "status": status.0}).to_string())
        })
    });
    let opening = SseEvent::default().id(after.to_string());
    let stream = tonic::codegen::tokio_stream::once(opening)
        .chain(stream)
        .map(Ok::<_, Infallible>);
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    // Proxies that buffer answers (nginx) pass this one through as it is written.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}
