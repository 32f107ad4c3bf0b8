//! JWT authentication and scoped access (`api.api_security: !Jwt <secret>`).
//!
//! A token is an HS256 JWT whose claims name the app (`aud`), who asked (`sub`), when it expires
//! (`exp`, in seconds since the epoch, checked with `api.jwt_leeway` of slack) and what it may
//! read (`access`): `"All"`, or per endpoint a row filter (a `$filter`) and the fields it may see:
//!
//! ```json
//! {"Custom": {"orders": {"filter": {"customer_id": 7}, "fields": ["id", "total"]}}}
//! ```
//!
//! Servers turn a request's `Authorization: Bearer <token>` into a [`Grant`] once, and every read
//! path takes its endpoint's [`Scope`] from it: the executor ANDs the row filter into every
//! query, count, key lookup and cursor (a row outside the scope does not exist for the request),
//! event subscriptions AND it into their filter (so a row moving across it is a DELETE or an
//! INSERT), query parsing refuses hidden fields, and answers leave them out. Refusals never echo
//! the token.
//!
//! The signature is HMAC-SHA256 from RustCrypto behind jsonwebtoken's provider interface
//! ([`HS256_ONLY`]): HS256 is the only algorithm accepted, so the crate's RSA/ECDSA/EdDSA
//! backends are not compiled at all.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dozer_types::{EndpointSchema, IndexDef};
use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::query::{parse_filter, Filter, QueryLimits};

/// What a token may read: everything, or some endpoints' rows and fields (Dozer's shape).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Access {
    All,
    Custom(BTreeMap<String, EndpointAccess>),
}

/// A scoped token's access to one endpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointAccess {
    /// A `$filter` every read of the endpoint is limited to; none: every row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Json>,
    /// The fields the token may read; empty: all of them (as in Dozer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

/// A token's claims.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The app the token is for.
    pub aud: String,
    /// Who the token was issued to (the master token's holder, for tokens issued through the API).
    pub sub: String,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Expires at, seconds since the epoch.
    pub exp: u64,
    pub access: Access,
}

/// Why a request is not authenticated (401 / UNAUTHENTICATED). The messages never hold the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthError {
    Missing,
    /// Not `Bearer <token>`, or not a JWT.
    Malformed(&'static str),
    Expired {
        exp: u64,
    },
    BadSignature,
    WrongAudience,
    /// Signed by this app but not usable here: an unknown algorithm, claims of another shape, or
    /// a scope that no longer fits an endpoint after a rebuild.
    Invalid(String),
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthError::Missing => f.write_str(
                "authentication required: send `Authorization: Bearer <token>` (the app's `token --all` command prints one)",
            ),
            AuthError::Malformed(why) => write!(f, "invalid token: {why}"),
            AuthError::Expired { exp } => {
                let at = chrono::DateTime::from_timestamp(i64::try_from(*exp).unwrap_or(i64::MAX), 0)
                    .map_or_else(|| exp.to_string(), |t| t.to_rfc3339());
                write!(f, "invalid token: it expired at {at}; ask for a new one")
            }
            AuthError::BadSignature => {
                f.write_str("invalid token: its signature does not match this app's secret")
            }
            AuthError::WrongAudience => f.write_str("invalid token: it was issued for another app"),
            AuthError::Invalid(why) => write!(f, "invalid token: {why}"),
        }
    }
}

impl std::error::Error for AuthError {}

/// A token that cannot be issued (400 / INVALID_ARGUMENT), or a requester that may not ask (403).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IssueError {
    BadAccess(String),
    NotAllowed,
}

impl std::fmt::Display for IssueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IssueError::BadAccess(m) => f.write_str(m),
            IssueError::NotAllowed => {
                f.write_str("only a token with `All` access may issue tokens")
            }
        }
    }
}

/// What one request may read, resolved against the app's endpoints.
#[derive(Debug)]
pub enum Grant {
    All,
    /// One entry per endpoint (in the app's order); `None`: the endpoint is not in the scope.
    Scoped(Vec<Option<Scope>>),
}

/// A scoped token's access to one endpoint, resolved against its schema.
#[derive(Clone, Debug, PartialEq)]
pub struct Scope {
    /// The rows the token may read; `None`: every row.
    pub filter: Option<Filter>,
    /// Per field, whether the token may read it; `None`: every field.
    pub visible: Option<Vec<bool>>,
}

impl Grant {
    /// The grant of requests to an app without authentication, and of `All` tokens.
    pub fn all() -> Arc<Grant> {
        static ALL: std::sync::OnceLock<Arc<Grant>> = std::sync::OnceLock::new();
        ALL.get_or_init(|| Arc::new(Grant::All)).clone()
    }

    /// The grant's access to `endpoint`, or `None` when the token may not read it at all.
    pub fn to_endpoint(self: &Arc<Self>, endpoint: usize) -> Option<EndpointGrant> {
        self.sees(endpoint).then(|| EndpointGrant {
            grant: self.clone(),
            endpoint,
        })
    }

    /// Whether the endpoint is readable at all with this grant.
    pub fn sees(&self, endpoint: usize) -> bool {
        match self {
            Grant::All => true,
            Grant::Scoped(scopes) => scopes.get(endpoint).is_some_and(Option::is_some),
        }
    }
}

/// A request's checked access to one endpoint: only [`Grant::to_endpoint`] makes one, so holding
/// it means the endpoint may be read, within [`EndpointGrant::scope`].
#[derive(Clone, Debug)]
pub struct EndpointGrant {
    grant: Arc<Grant>,
    endpoint: usize,
}

impl EndpointGrant {
    pub fn endpoint(&self) -> usize {
        self.endpoint
    }

    /// The scope; `None`: the whole endpoint.
    pub fn scope(&self) -> Option<&Scope> {
        match &*self.grant {
            Grant::All => None,
            Grant::Scoped(scopes) => scopes[self.endpoint].as_ref(),
        }
    }

    /// The rows the request may read (`None`: all of them).
    pub fn filter(&self) -> Option<&Filter> {
        self.scope().and_then(|s| s.filter.as_ref())
    }

    /// Per field, whether the request may read it (`None`: every field).
    pub fn visible(&self) -> Option<&[bool]> {
        self.scope().and_then(|s| s.visible.as_deref())
    }

    /// `filter` limited to the scope's rows (event subscriptions).
    pub fn restrict(&self, filter: Option<Filter>) -> Option<Filter> {
        match (self.filter(), filter) {
            (None, f) => f,
            (Some(s), None) => Some(s.clone()),
            (Some(s), Some(f)) => Some(Filter::And(vec![s.clone(), f])),
        }
    }

    /// The items of the visible fields (values of a row, field definitions).
    pub fn project<T: Clone>(&self, items: &[T]) -> Vec<T> {
        match self.visible() {
            None => items.to_vec(),
            Some(v) => items
                .iter()
                .zip(v)
                .filter(|(_, &shown)| shown)
                .map(|(x, _)| x.clone())
                .collect(),
        }
    }
}

/// Resolves `access` against the endpoints: filters parsed against the endpoint's fields (a
/// scope's filter may use fields it hides), field names checked.
pub fn resolve(
    access: &Access,
    endpoints: &[EndpointSchema],
    limits: QueryLimits,
) -> Result<Grant, String> {
    let custom = match access {
        Access::All => return Ok(Grant::All),
        Access::Custom(c) => c,
    };
    let mut scopes: Vec<Option<Scope>> = vec![None; endpoints.len()];
    for (name, a) in custom {
        let Some(i) = endpoints.iter().position(|e| &e.name == name) else {
            let names: Vec<&str> = endpoints.iter().map(|e| e.name.as_str()).collect();
            return Err(format!(
                "the access names no endpoint `{name}`; the app has {}",
                names.join(", ")
            ));
        };
        let e = &endpoints[i];
        let filter = match &a.filter {
            None => None,
            Some(json) => parse_filter(json, &e.fields, None, limits)
                .map_err(|err| format!("the filter for `{name}`: {err}"))?,
        };
        let visible = if a.fields.is_empty() {
            None
        } else {
            let mut v = vec![false; e.fields.len()];
            for f in &a.fields {
                let Some(j) = e.fields.iter().position(|x| &x.name == f) else {
                    let names: Vec<&str> = e.fields.iter().map(|x| x.name.as_str()).collect();
                    return Err(format!(
                        "the fields for `{name}`: no field `{f}`; the endpoint has {}",
                        names.join(", ")
                    ));
                };
                v[j] = true;
            }
            Some(v)
        };
        scopes[i] = Some(Scope { filter, visible });
    }
    Ok(Grant::Scoped(scopes))
}

/// The token of an `Authorization` header value (`Bearer <token>`).
pub fn bearer(header: Option<&[u8]>) -> Result<&str, AuthError> {
    let value = header.ok_or(AuthError::Missing)?;
    if value.len() > MAX_TOKEN_BYTES + 16 {
        return Err(AuthError::Malformed("the token is too long"));
    }
    let text = std::str::from_utf8(value)
        .map_err(|_| AuthError::Malformed("the Authorization header is not text"))?;
    let (scheme, token) = text.trim().split_once(' ').ok_or(AuthError::Malformed(
        "expected `Authorization: Bearer <token>`",
    ))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Malformed(
            "expected the `Bearer` scheme: `Authorization: Bearer <token>`",
        ));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthError::Malformed("the bearer token is empty"));
    }
    Ok(token)
}

/// The answer to a token request when the app has no authentication.
pub const AUTH_OFF: &str =
    "authentication is off for this app (no `api.api_security`), so there are no tokens to issue";

/// Longest token accepted; real ones are a few hundred bytes.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Verified tokens kept, so a client that sends the same token on every request pays one hash
/// lookup instead of a signature check and two JSON parses.
const CACHE_ENTRIES: usize = 4096;

/// Verified tokens: the token text, its expiry and its grant.
type TokenCache = HashMap<Box<str>, (u64, Arc<Grant>)>;

/// Issues and verifies the app's tokens.
pub struct Authorizer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    audience: String,
    leeway: u64,
    /// Lifetime of a token issued through the API when the request names none.
    pub token_ttl: Duration,
    endpoints: Vec<EndpointSchema>,
    limits: QueryLimits,
    /// Verified tokens (the whole token text, signature included) and their grants.
    cache: Mutex<TokenCache>,
}

impl Authorizer {
    /// The authorizer of app `app` with its secret; fails on an empty secret.
    pub fn new(
        app: &str,
        secret: &[u8],
        leeway: Duration,
        token_ttl: Duration,
        endpoints: Vec<EndpointSchema>,
        limits: QueryLimits,
    ) -> Result<Authorizer, String> {
        if secret.is_empty() {
            return Err("the JWT secret is empty; set `api.api_security: !Jwt <secret>` or DOZER_MASTER_SECRET to a long random string".into());
        }
        // Ours, or already installed by an earlier authorizer of this process.
        let _ = HS256_ONLY.install_default();
        let encoding = EncodingKey::from_secret(secret).map_err(|e| e.to_string())?;
        let decoding = DecodingKey::from_secret(secret).map_err(|e| e.to_string())?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[app]);
        validation.set_required_spec_claims(&["exp", "aud", "sub"]);
        validation.leeway = leeway.as_secs();
        Ok(Authorizer {
            encoding,
            decoding,
            validation,
            audience: app.to_string(),
            leeway: leeway.as_secs(),
            token_ttl,
            endpoints,
            limits,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// A signed token with `access` for `ttl` (at most until `not_after`, when given).
    pub fn issue(
        &self,
        access: &Access,
        subject: &str,
        ttl: Duration,
        not_after: Option<u64>,
    ) -> Result<(String, Claims), IssueError> {
        resolve(access, &self.endpoints, self.limits).map_err(IssueError::BadAccess)?;
        if ttl.is_zero() {
            return Err(IssueError::BadAccess(
                "the token's lifetime must be at least one second".into(),
            ));
        }
        let iat = now();
        let exp = iat
            .saturating_add(ttl.as_secs())
            .min(not_after.unwrap_or(u64::MAX));
        let claims = Claims {
            aud: self.audience.clone(),
            sub: subject.to_string(),
            iat,
            exp,
            access: access.clone(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| IssueError::BadAccess(format!("signing the token: {e}")))?;
        Ok((token, claims))
    }

    /// A token issued at a requester's request: only `All` tokens may ask, and the new token
    /// expires no later than the requester's.
    pub fn issue_for(
        &self,
        requester: &Claims,
        access: &Access,
        ttl: Duration,
    ) -> Result<(String, Claims), IssueError> {
        if requester.access != Access::All {
            return Err(IssueError::NotAllowed);
        }
        self.issue(access, &requester.sub, ttl, Some(requester.exp))
    }

    /// The claims of the token in a request's `Authorization` header (who asks for a token).
    pub fn requester(&self, authorization: Option<&[u8]>) -> Result<Claims, AuthError> {
        self.verify(bearer(authorization)?)
    }

    /// The claims of a valid token.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed("the token is too long"));
        }
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| match e.into_kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired {
                    exp: expiry_of(token).unwrap_or(0),
                },
                ErrorKind::InvalidSignature => AuthError::BadSignature,
                ErrorKind::InvalidAudience => AuthError::WrongAudience,
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    AuthError::Invalid("only HS256 tokens are accepted".into())
                }
                ErrorKind::MissingRequiredClaim(c) => {
                    AuthError::Invalid(format!("the claim `{c}` is missing"))
                }
                ErrorKind::InvalidClaimFormat(c) => {
                    AuthError::Invalid(format!("the claim `{c}` has the wrong type"))
                }
                ErrorKind::Json(_) => AuthError::Invalid(
                    "its header or claims are not dozerc's (claims `aud`, `sub`, `iat`, `exp`, `access`)".into(),
                ),
                _ => AuthError::Malformed("not a JWT (three base64url parts separated by dots)"),
            })
    }

    /// What the bearer of `token` may read (verified, resolved, cached).
    pub fn grant(&self, token: &str) -> Result<Arc<Grant>, AuthError> {
        let now = now();
        if let Some((exp, grant)) = self.cache().get(token) {
            if now <= exp.saturating_add(self.leeway) {
                return Ok(grant.clone());
            }
            return Err(AuthError::Expired { exp: *exp });
        }
        let claims = self.verify(token)?;
        let grant = match &claims.access {
            Access::All => Grant::all(),
            access => Arc::new(resolve(access, &self.endpoints, self.limits).map_err(|e| {
                AuthError::Invalid(format!("its access does not fit this app: {e}"))
            })?),
        };
        let mut cache = self.cache();
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(token.into(), (claims.exp, grant.clone()));
        Ok(grant)
    }

    /// The claims and grant of `token` (for issuing: the requester's expiry bounds the new one).
    pub fn claims(&self, token: &str) -> Result<Claims, AuthError> {
        self.verify(token)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, TokenCache> {
        // A panic while holding the lock cannot leave the map inconsistent (inserts are whole).
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The `exp` of a token whose signature checked out (for the message of an expired token).
fn expiry_of(token: &str) -> Option<u64> {
    #[derive(Deserialize)]
    struct Exp {
        exp: u64,
    }
    jsonwebtoken::dangerous::insecure_decode::<Exp>(token)
        .ok()
        .map(|d| d.claims.exp)
}

/// Parses a duration of the command line: `90s`, `15m`, `24h`, `30d` (a bare number is seconds).
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; write e.g. 3600s, 90m, 24h or 30d"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("unknown unit in `{text}`; use s, m, h or d")),
    };
    let total = n.checked_mul(secs).filter(|&t| t > 0).ok_or_else(|| {
        format!("`{text}`: a token lives at least one second and at most a few centuries")
    })?;
    Ok(Duration::from_secs(total))
}

/// jsonwebtoken's crypto provider for HS256 alone (HMAC-SHA256 from RustCrypto).
pub static HS256_ONLY: CryptoProvider = CryptoProvider {
    signer_factory: |alg, key| match alg {
        Algorithm::HS256 => Ok(Box::new(Hs256(mac(key.as_bytes())?))),
        _ => Err(ErrorKind::UnsupportedAlgorithm.into()),
    },
    verifier_factory: |alg, key| match alg {
        Algorithm::HS256 => Ok(Box::new(Hs256(mac(key.try_get_as_bytes()?)?))),
        _ => Err(ErrorKind::UnsupportedAlgorithm.into()),
    },
    key_utils: jsonwebtoken::crypto::KeyUtils::new_unimplemented(),
};

type HmacSha256 = Hmac<sha2::Sha256>;

fn mac(secret: &[u8]) -> jsonwebtoken::errors::Result<HmacSha256> {
    HmacSha256::new_from_slice(secret).map_err(|_| ErrorKind::InvalidKeyFormat.into())
}

struct Hs256(HmacSha256);

impl signature::Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let mut m = self.0.clone();
        m.update(msg);
        Ok(m.finalize().into_bytes().to_vec())
    }
}

impl signature::Verifier<Vec<u8>> for Hs256 {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        let mut m = self.0.clone();
        m.update(msg);
        // Constant-time comparison.
        m.verify_slice(signature)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

/// An endpoint's schema as a grant sees it: only its visible fields, indexes over them, and the
/// primary key when every key field is visible.
pub fn visible_schema(e: &EndpointSchema, grant: &EndpointGrant) -> EndpointSchema {
    let Some(visible) = grant.visible() else {
        return e.clone();
    };
    let mut renumber = vec![None; e.fields.len()];
    let mut n = 0;
    for (i, shown) in visible.iter().enumerate() {
        if *shown {
            renumber[i] = Some(n);
            n += 1;
        }
    }
    let map = |cols: &[usize]| {
        cols.iter()
            .map(|&c| renumber[c])
            .collect::<Option<Vec<_>>>()
    };
    EndpointSchema {
        name: e.name.clone(),
        path: e.path.clone(),
        fields: grant.project(&e.fields),
        primary_key: e.primary_key.as_deref().and_then(map),
        indexes: e
            .indexes
            .iter()
            .filter_map(|ix| match ix {
                IndexDef::Sorted(cols) => map(cols).map(IndexDef::Sorted),
                IndexDef::FullText(c) => renumber[*c].map(IndexDef::FullText),
            })
            .collect(),
        cache_control: e.cache_control.clone(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use dozer_types::FieldDef;
    use dozer_types::SqlType;

    fn endpoints() -> Vec<EndpointSchema> {
        let field = |name: &str, ty| FieldDef {
            name: name.into(),
            ty,
            nullable: false,
        };
        vec![
            EndpointSchema {
                name: "orders".into(),
                path: "/orders".into(),
                fields: vec![
                    field("id", SqlType::Int),
                    field("customer", SqlType::String),
                    field("total", SqlType::Int),
                ],
                primary_key: Some(vec![0]),
                indexes: vec![],
                cache_control: None,
            },
            EndpointSchema {
                name: "customers".into(),
                path: "/customers".into(),
                fields: vec![field("name", SqlType::String)],
                primary_key: Some(vec![0]),
                indexes: vec![],
                cache_control: None,
            },
        ]
    }

    fn authorizer(app: &str, secret: &str) -> Authorizer {
        Authorizer::new(
            app,
            secret.as_bytes(),
            Duration::from_secs(5),
            Duration::from_secs(3600),
            endpoints(),
            QueryLimits::default(),
        )
        .unwrap()
    }

    fn token(auth: &Authorizer, access: &Access) -> String {
        auth.issue(access, "test", Duration::from_secs(60), None)
            .unwrap()
            .0
    }

    fn custom(j: Json) -> Access {
        serde_json::from_value(json!({ "Custom": j })).unwrap()
    }

    #[test]
    fn tokens_verify_only_with_their_app_and_secret_until_they_expire() {
        let auth = authorizer("shop", "s3cret");
        let t = token(&auth, &Access::All);
        let claims = auth.verify(&t).unwrap();
        assert_eq!(
            (claims.aud.as_str(), &claims.access),
            ("shop", &Access::All)
        );
        // Seconds, not milliseconds: one minute from now.
        assert!(
            claims.exp >= now() + 59 && claims.exp <= now() + 61,
            "{claims:?}"
        );
        assert!(matches!(*auth.grant(&t).unwrap(), Grant::All));

        assert_eq!(
            authorizer("shop", "other").verify(&t),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            authorizer("blog", "s3cret").verify(&t),
            Err(AuthError::WrongAudience)
        );
        // Expired beyond the leeway; a token within the leeway still passes.
        let old = now() - 60;
        let (t, _) = auth
            .issue(&Access::All, "t", Duration::from_secs(60), Some(old))
            .unwrap();
        assert_eq!(auth.verify(&t), Err(AuthError::Expired { exp: old }));
        assert_eq!(auth.grant(&t).unwrap_err(), AuthError::Expired { exp: old });
        let (t, _) = auth
            .issue(&Access::All, "t", Duration::from_secs(60), Some(now() - 2))
            .unwrap();
        assert!(auth.verify(&t).is_ok());
    }

    #[test]
    fn a_cached_grant_still_expires() {
        let auth = Authorizer::new(
            "shop",
            b"k",
            Duration::ZERO,
            Duration::from_secs(60),
            endpoints(),
            QueryLimits::default(),
        )
        .unwrap();
        let (t, claims) = auth
            .issue(&Access::All, "t", Duration::from_secs(1), None)
            .unwrap();
        assert!(auth.grant(&t).is_ok());
        std::thread::sleep(Duration::from_millis(2100));
        assert_eq!(
            auth.grant(&t).unwrap_err(),
            AuthError::Expired { exp: claims.exp }
        );
    }

    #[test]
    fn other_algorithms_and_unsigned_tokens_are_refused() {
        use base64::Engine as _;
        let b64 = |j: Json| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(j.to_string());
        let auth = authorizer("shop", "s3cret");
        let claims =
            json!({"aud": "shop", "sub": "x", "iat": 0, "exp": now() + 60, "access": "All"});
        for alg in ["none", "HS512", "RS256"] {
            let t = format!(
                "{}.{}.",
                b64(json!({"alg": alg, "typ": "JWT"})),
                b64(claims.clone())
            );
            let e = auth.verify(&t).unwrap_err();
            assert!(
                matches!(e, AuthError::Invalid(_) | AuthError::Malformed(_)),
                "{alg}: {e:?}"
            );
        }
        // A payload changed after signing.
        let t = token(&auth, &Access::All);
        let parts: Vec<&str> = t.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64(
                json!({"aud": "shop", "sub": "x", "iat": 0, "exp": now() + 99_999, "access": "All"})
            ),
            parts[2]
        );
        assert_eq!(auth.verify(&forged), Err(AuthError::BadSignature));
    }

    #[test]
    fn scopes_resolve_against_the_endpoints() {
        let g = resolve(
            &custom(json!({"orders": {"filter": {"customer": "ann"}, "fields": ["id", "total"]}})),
            &endpoints(),
            QueryLimits::default(),
        )
        .unwrap();
        let g = Arc::new(g);
        assert!(g.to_endpoint(1).is_none());
        let e = g.to_endpoint(0).unwrap();
        assert_eq!(e.visible(), Some(&[true, false, true][..]));
        assert!(e.filter().is_some());
        assert_eq!(e.project(&[1, 2, 3]), vec![1, 3]);

        let bad = |j: Json| resolve(&custom(j), &endpoints(), QueryLimits::default()).unwrap_err();
        assert!(bad(json!({"nope": {}})).contains("no endpoint `nope`"));
        assert!(bad(json!({"orders": {"fields": ["x"]}})).contains("no field `x`"));
        assert!(bad(json!({"orders": {"filter": {"total": "many"}}})).contains("`$filter.total`"));
        assert!(
            serde_json::from_value::<Access>(json!({"Custom": {"orders": {"rows": 1}}})).is_err()
        );
    }

    #[test]
    fn only_all_tokens_issue_and_never_past_their_own_expiry() {
        let auth = authorizer("shop", "s3cret");
        let (_, master) = auth
            .issue(&Access::All, "ops", Duration::from_secs(100), None)
            .unwrap();
        let scoped = custom(json!({"customers": {}}));
        let (t, c) = auth
            .issue_for(&master, &scoped, Duration::from_secs(10_000))
            .unwrap();
        assert_eq!((c.exp, c.sub.as_str()), (master.exp, "ops"));
        let holder = auth.verify(&t).unwrap();
        assert_eq!(
            auth.issue_for(&holder, &Access::All, Duration::from_secs(10)),
            Err(IssueError::NotAllowed)
        );
        assert!(matches!(
            auth.issue_for(&master, &custom(json!({"x": {}})), Duration::from_secs(10)),
            Err(IssueError::BadAccess(_))
        ));
    }

    #[test]
    fn bearer_headers() {
        assert_eq!(bearer(None), Err(AuthError::Missing));
        assert_eq!(bearer(Some(b"Bearer abc")), Ok("abc"));
        assert_eq!(bearer(Some(b"bearer  abc ")), Ok("abc"));
        assert!(matches!(
            bearer(Some(b"Basic abc")),
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(
            bearer(Some(b"Bearer ")),
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(bearer(Some(b"abc")), Err(AuthError::Malformed(_))));
        assert!(matches!(
            bearer(Some(&[0xff, b' ', b'a'])),
            Err(AuthError::Malformed(_))
        ));
    }

    #[test]
    fn ttls() {
        assert_eq!(parse_ttl("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_ttl("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert!(parse_ttl("0s").is_err());
        assert!(parse_ttl("1y").is_err());
        assert!(parse_ttl("h").is_err());
        assert!(parse_ttl("99999999999999999999d").is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any header value or token text: an answer, never a panic, and never a grant unless it
        /// is the token that was issued.
        #[test]
        fn no_input_panics_or_passes(
            text in "\\PC{0,200}",
            cut in 0usize..400,
            flip in 0usize..400,
            byte in any::<u8>(),
        ) {
            let auth = authorizer("shop", "s3cret");
            let _ = bearer(Some(text.as_bytes()));
            prop_assert!(auth.grant(&text).is_err());
            let t = token(&auth, &Access::All);
            let mut bytes = t.clone().into_bytes();
            let i = flip % bytes.len();
            if bytes[i] != byte {
                bytes[i] = byte;
                let mutated = String::from_utf8_lossy(&bytes).into_owned();
                // Base64 has slack in a part's last character: a change there may decode to
                // the same bytes, which is the same token.
                use base64::Engine as _;
                let decoded = |t: &str| -> Option<Vec<Vec<u8>>> {
                    t.split('.')
                        .map(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p).ok())
                        .collect()
                };
                if decoded(&mutated) != decoded(&t) {
                    prop_assert!(auth.verify(&mutated).is_err(), "{mutated}");
                }
            }
            prop_assert!(auth.verify(&t[..cut.min(t.len())]).is_err() || cut >= t.len());
        }
    }
}
