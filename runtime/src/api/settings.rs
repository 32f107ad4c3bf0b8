//! How the API serves: addresses, limits, authentication and event retention, from the config's
//! `api` section (as generated code states them) and the command line.

use std::time::Duration;

use super::query::QueryLimits;
use crate::event_log::DEFAULT_RETENTION;

/// How the API serves (from the config's `api` section and the command line).
#[derive(Clone, Debug)]
pub struct ApiSettings {
    /// The REST server's address (`api.rest.host`).
    pub host: String,
    pub rest_port: u16,
    /// The gRPC server's address and port (`api.grpc`).
    pub grpc_host: String,
    pub grpc_port: u16,
    /// `flags.grpc_web` (or `api.grpc.web`): the gRPC port also speaks gRPC-Web (HTTP/1.1, for
    /// browsers).
    pub grpc_web: bool,
    /// Which browser origins may call the REST server, and gRPC-Web (`api.rest.cors`,
    /// `api.grpc.cors`).
    pub rest_cors: CorsPolicy,
    pub grpc_cors: CorsPolicy,
    /// `api.rest.enabled`, `api.grpc.enabled`: `false` does not start that server.
    pub rest_enabled: bool,
    pub grpc_enabled: bool,
    /// Records a query returns when it sets no `$limit` (`api.default_max_num_records`).
    pub default_limit: usize,
    pub limits: QueryLimits,
    /// Records one request may read before it is refused with an index hint.
    pub max_scan: usize,
    /// Largest request body, in bytes.
    pub max_body: usize,
    pub timeout: Duration,
    /// JWT authentication (`api.api_security`; DOZER_MASTER_SECRET turns it on too).
    pub auth: AuthSettings,
    /// `flags.authenticate_server_reflection`: gRPC reflection needs a token too.
    pub authenticate_reflection: bool,
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
            rest_cors: CorsPolicy::AnyOrigin,
            grpc_cors: CorsPolicy::AnyOrigin,
            rest_enabled: true,
            grpc_enabled: true,
            default_limit: 50,
            limits: QueryLimits::default(),
            max_scan: 1_000_000,
            max_body: 1 << 20,
            timeout: Duration::from_secs(30),
            auth: AuthSettings::default(),
            authenticate_reflection: false,
            push_events: true,
            event_retention: DEFAULT_RETENTION,
        }
    }
}

/// Which browser origins may call a server (the config's `cors`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CorsPolicy {
    /// No CORS headers: browsers refuse calls from other origins.
    Off,
    /// Any origin (Dozer's `cors: true`, the default).
    AnyOrigin,
    /// Only these origins (`scheme://host[:port]`); a preflight from another one gets no
    /// `Access-Control-Allow-Origin`.
    Origins(Vec<String>),
}

impl CorsPolicy {
    /// The tower layer that answers preflights and marks answers as the policy says (for
    /// [`CorsPolicy::Off`], one that allows no origin, so browsers refuse). Request headers are allowed by echoing the preflight's list, because
    /// `*` does not cover `Authorization` (the Fetch standard), and every answer header is
    /// readable by the page (`ETag` for the SDKs' cache, `grpc-status` for gRPC-Web). No
    /// credentials: tokens travel in `Authorization`, not in cookies.
    pub fn layer(&self) -> tower_http::cors::CorsLayer {
        use axum::http::HeaderValue;
        use tower_http::cors::{AllowHeaders, AllowOrigin, Any, CorsLayer};
        let origin = match self {
            CorsPolicy::Off => return CorsLayer::new(),
            CorsPolicy::AnyOrigin => AllowOrigin::any(),
            CorsPolicy::Origins(origins) => AllowOrigin::list(
                origins
                    .iter()
                    .filter_map(|o| HeaderValue::from_str(o).ok())
                    .collect::<Vec<_>>(),
            ),
        };
        CorsLayer::new()
            .allow_origin(origin)
            .allow_methods(Any)
            .allow_headers(AllowHeaders::mirror_request())
            .expose_headers(Any)
            .max_age(std::time::Duration::from_secs(3600))
    }
}

/// How tokens are checked and issued.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// The config's secret (`api.api_security: !Jwt <secret>`); `None`: no authentication unless
    /// DOZER_MASTER_SECRET is set.
    pub secret: Option<Secret>,
    /// Slack on `exp` for clocks that differ (`api.jwt_leeway`).
    pub leeway: Duration,
    /// Lifetime of tokens issued through the API when the request names none (`api.token_ttl`).
    pub token_ttl: Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            secret: None,
            leeway: Duration::from_secs(5),
            token_ttl: Duration::from_secs(24 * 3600),
        }
    }
}

/// A JWT secret as the config gives it: written in it, or an environment variable (`{{VAR}}`),
/// read when the app starts so that the binary does not hold it.
#[derive(Clone)]
pub enum Secret {
    Literal(String),
    Env(String),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Literal(_) => f.write_str("Literal(..)"),
            Secret::Env(var) => write!(f, "Env({var:?})"),
        }
    }
}

/// The environment variable that sets (and overrides) the JWT secret, as in Dozer.
pub const MASTER_SECRET_ENV: &str = "DOZER_MASTER_SECRET";

impl AuthSettings {
    /// The secret to use now: DOZER_MASTER_SECRET, else the config's; `None` when the app has no
    /// authentication.
    pub fn secret(&self) -> Result<Option<Vec<u8>>, String> {
        if let Some(v) = std::env::var_os(MASTER_SECRET_ENV) {
            return Ok(Some(v.into_encoded_bytes()));
        }
        match &self.secret {
            None => Ok(None),
            Some(Secret::Literal(s)) => Ok(Some(s.clone().into_bytes())),
            Some(Secret::Env(var)) => match std::env::var_os(var) {
                Some(v) => Ok(Some(v.into_encoded_bytes())),
                None => Err(format!(
                    "the JWT secret comes from the environment variable {var} (`api.api_security` in the config), which is not set; set it (or {MASTER_SECRET_ENV}) and start again"
                )),
            },
        }
    }
}
