//! Cacheable reads. Every read answer carries a weak `ETag` made of the endpoint table's committed
//! version (read in the answer's own transaction) and a hash of what the request asked — route,
//! key or body, token and JSON form — so two requests share a tag only when they get the same
//! answer. A request whose `If-None-Match` names the current tag is answered `304 Not Modified`
//! before anything is read or encoded. `Cache-Control` is the endpoint's (default `no-cache`:
//! caches keep answers but revalidate them), and `Vary` names the request headers that change the
//! answer, so a CDN in front of the app serves repeated reads and never one user's rows to another.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use dozer_types::EndpointSchema;
use xxhash_rust::xxh3::Xxh3;

use super::http::{JsonForm, INT64_HEADER};
use crate::table::TableVersion;

/// What identifies a request's answer besides the table's version.
#[derive(Clone, Debug)]
pub struct Conditional {
    request: u64,
    if_none_match: Option<HeaderValue>,
}

impl Conditional {
    /// `route` and `input` (a key or a body) name what is read; the token and the JSON form
    /// change the answer too.
    pub fn of(headers: &HeaderMap, route: &str, input: &[u8]) -> Conditional {
        let mut h = Xxh3::new();
        for part in [route.as_bytes(), input] {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part);
        }
        let token = headers
            .get(header::AUTHORIZATION)
            .map_or(&[][..], HeaderValue::as_bytes);
        h.update(token);
        h.update(&[u8::from(JsonForm::of(headers).int64_as_string)]);
        Conditional {
            request: h.digest(),
            if_none_match: headers.get(header::IF_NONE_MATCH).cloned(),
        }
    }

    /// The answer's tag at `version`.
    pub fn etag(&self, version: TableVersion) -> String {
        format!(
            "W/\"{:x}-{:x}-{:016x}\"",
            version.stamp, version.changes, self.request
        )
    }

    /// Whether the requester already holds the answer tagged `etag` (weak comparison).
    pub fn is_current(&self, etag: &str) -> bool {
        let Some(list) = self.if_none_match.as_ref().and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let opaque = |t: &str| t.trim().trim_start_matches("W/").to_string();
        let ours = opaque(etag);
        list.split(',')
            .any(|t| t.trim() == "*" || opaque(t) == ours)
    }
}

/// The caching headers of a read answer (200 or 304).
pub fn cache_headers(response: &mut Response, etag: &str, schema: &EndpointSchema, auth: bool) {
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(schema.cache_control()) {
        h.insert(header::CACHE_CONTROL, v);
    }
    let vary = if auth {
        HeaderValue::from_static("authorization, x-dozer-int64")
    } else {
        HeaderValue::from_static(INT64_HEADER)
    };
    h.append(header::VARY, vary);
}

/// `304 Not Modified` for a requester that holds the current answer.
pub fn not_modified(etag: &str, schema: &EndpointSchema, auth: bool) -> Response {
    let mut r = StatusCode::NOT_MODIFIED.into_response();
    cache_headers(&mut r, etag, schema, auth);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conditional(if_none_match: Option<&str>, token: Option<&str>) -> Conditional {
        let mut h = HeaderMap::new();
        if let Some(t) = if_none_match {
            h.insert(header::IF_NONE_MATCH, HeaderValue::from_str(t).unwrap());
        }
        if let Some(t) = token {
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(t).unwrap());
        }
        Conditional::of(&h, "/items/query", b"{}")
    }

    #[test]
    fn tags_follow_version_request_and_token() {
        let v = TableVersion {
            stamp: 7,
            changes: 3,
        };
        let a = conditional(None, None).etag(v);
        assert_eq!(a, conditional(None, None).etag(v));
        assert_ne!(a, conditional(None, Some("Bearer x")).etag(v));
        let later = TableVersion { changes: 4, ..v };
        assert_ne!(a, conditional(None, None).etag(later));
        assert!(conditional(Some(&a), None).is_current(&a));
        // Weak comparison, lists, and `*`.
        let strong = a.trim_start_matches("W/").to_string();
        assert!(conditional(Some(&format!("\"x\", {strong}")), None).is_current(&a));
        assert!(conditional(Some("*"), None).is_current(&a));
        assert!(!conditional(Some("\"x\""), None).is_current(&a));
        assert!(!conditional(None, None).is_current(&a));
    }
}
