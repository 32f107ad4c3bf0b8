//! A prefix of an S3 bucket (AWS, or any S3-compatible store at `endpoint`: MinIO, R2, Ceph,
//! moto) through `object_store`'s S3 client, which signs requests, follows listing pages and
//! retries with backoff.
//!
//! Credentials, region and endpoint come from the config where it gives them, else from the
//! standard `AWS_*` environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`, `AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`), read when the
//! first request is made — never when the app is compiled.

use std::collections::VecDeque;
use std::future::Future;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, RetryConfig};

use super::{Credential, FolderError, Object, Patience};

/// Where a table's objects are: every object directly under `prefix` in `bucket`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Location {
    /// The connection's name, for messages.
    pub connection: String,
    pub bucket: String,
    /// The table's folder in the bucket, without leading or trailing `/` (empty: the bucket's
    /// top level).
    pub prefix: String,
    pub region: Option<String>,
    /// An S3-compatible store's URL (`http://127.0.0.1:9000`); `None`: AWS (or
    /// `AWS_ENDPOINT_URL`).
    pub endpoint: Option<String>,
    pub access_key_id: Credential,
    pub secret_access_key: Credential,
}

pub struct S3Folder {
    location: S3Location,
    patience: Patience,
    /// Made at the first request (see the module's docs); an error is kept and repeated.
    client: OnceLock<Result<Arc<dyn ObjectStore>, String>>,
    runtime: OnceLock<Result<tokio::runtime::Runtime, String>>,
    /// The last pieces read, newest last: a reader asks for a file's header, its first bytes and
    /// its records in turn, and a small object's first request fetches all of it, so they cost
    /// one request together. Cleared by every listing (an object deleted and stored again under
    /// its name must not be read from the old one's bytes).
    recent: Mutex<VecDeque<Piece>>,
}

/// Bytes of an object read before: `bytes` from `start`, and whether they run to its end.
struct Piece {
    name: String,
    start: u64,
    bytes: Bytes,
    to_end: bool,
}

/// How many bytes of pieces are kept, at most (the newest piece is kept whatever its size).
const RECENT_BYTES: usize = 32 << 20;

/// Keeps `piece` as the newest, dropping the oldest beyond [`RECENT_BYTES`].
fn keep(recent: &mut VecDeque<Piece>, piece: Piece) {
    recent.push_back(piece);
    let mut total: usize = recent.iter().map(|p| p.bytes.len()).sum();
    while total > RECENT_BYTES && recent.len() > 1 {
        if let Some(old) = recent.pop_front() {
            total -= old.bytes.len();
        }
    }
}

/// The least one request fetches.
const MIN_FETCH: u64 = 1 << 20;

impl Piece {
    /// `range` of `name`, if this piece holds it (or all of it there is).
    fn get(&self, name: &str, range: &Range<u64>) -> Option<Bytes> {
        let end = self.start + self.bytes.len() as u64;
        if self.name != name || range.start < self.start || (range.end > end && !self.to_end) {
            return None;
        }
        let from = (range.start.min(end) - self.start) as usize;
        let to = (range.end.min(end) - self.start) as usize;
        Some(self.bytes.slice(from..to))
    }
}

impl std::fmt::Debug for S3Folder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Folder")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl S3Folder {
    pub(super) fn new(location: S3Location, patience: Patience) -> S3Folder {
        S3Folder {
            location,
            patience,
            client: OnceLock::new(),
            runtime: OnceLock::new(),
            recent: Mutex::new(VecDeque::new()),
        }
    }

    pub fn location(&self) -> &S3Location {
        &self.location
    }

    /// `s3://bucket/prefix/name`.
    pub(super) fn url(&self, name: &str) -> String {
        let l = &self.location;
        match (l.prefix.is_empty(), name.is_empty()) {
            (true, _) => format!("s3://{}/{name}", l.bucket),
            (false, true) => format!("s3://{}/{}/", l.bucket, l.prefix),
            (false, false) => format!("s3://{}/{}/{name}", l.bucket, l.prefix),
        }
    }

    /// The object's key: names come from listings as stored, so they are taken as they are
    /// (re-encoding one would name another object); the prefix is the config's.
    fn key(&self, name: &str) -> ObjectPath {
        let key = if self.location.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.location.prefix)
        };
        ObjectPath::parse(&key).unwrap_or_else(|_| ObjectPath::from(key))
    }

    fn error(&self, name: &str, message: String) -> FolderError {
        FolderError {
            location: PathBuf::from(self.url(name)),
            message,
        }
    }

    fn client(&self) -> Result<&Arc<dyn ObjectStore>, FolderError> {
        self.client
            .get_or_init(|| self.build())
            .as_ref()
            .map_err(|m| self.error("", m.clone()))
    }

    fn build(&self) -> Result<Arc<dyn ObjectStore>, String> {
        let l = &self.location;
        let conn = &l.connection;
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(&l.bucket)
            .with_retry(RetryConfig {
                retry_timeout: self.patience.retry_for(),
                ..RetryConfig::default()
            });
        if let Some(region) = &l.region {
            b = b.with_region(region);
        }
        if let Some(endpoint) = &l.endpoint {
            b = b
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let key = l
            .access_key_id
            .resolve("access_key_id")
            .map_err(|m| format!("connection `{conn}`: {m}"))?;
        let secret = l
            .secret_access_key
            .resolve("secret_access_key")
            .map_err(|m| format!("connection `{conn}`: {m}"))?;
        if let Some(key) = key {
            b = b.with_access_key_id(key);
        }
        if let Some(secret) = secret {
            b = b.with_secret_access_key(secret);
        }
        let store = b
            .build()
            .map_err(|e| format!("connection `{conn}`: invalid S3 settings: {e}"))?;
        Ok(Arc::new(store))
    }

    /// Runs a request to its end on the folder's runtime (from a thread of its own when the
    /// caller is already inside a tokio runtime, which cannot block on another).
    fn block<T: Send>(&self, f: impl Future<Output = T> + Send) -> Result<T, FolderError> {
        let runtime = self
            .runtime
            .get_or_init(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the S3 client's runtime: {e}"))
            })
            .as_ref()
            .map_err(|m| self.error("", m.clone()))?;
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| {
                s.spawn(|| runtime.block_on(f))
                    .join()
                    .map_err(|_| self.error("", "the S3 request's thread panicked".into()))
            })
        } else {
            Ok(runtime.block_on(f))
        }
    }

    fn object(&self, meta: &ObjectMeta) -> Option<Object> {
        let name = meta.location.filename()?.to_string();
        let modified = u64::try_from(meta.last_modified.timestamp_nanos_opt()?)
            .ok()
            .map_or(UNIX_EPOCH, |n| {
                UNIX_EPOCH + std::time::Duration::from_nanos(n)
            });
        Some(Object {
            name,
            size: meta.size,
            modified: modified.max(UNIX_EPOCH),
            // A store without entity tags still has versions or, at worst, times.
            id: meta
                .e_tag
                .clone()
                .or_else(|| meta.version.clone())
                .unwrap_or_else(|| meta.last_modified.to_rfc3339()),
        })
    }

    /// The objects directly under the prefix, or under `sub` below it.
    pub(super) fn list(&self, sub: Option<&str>) -> Result<Vec<Object>, FolderError> {
        self.recent().clear();
        let client = self.client()?;
        let prefix = match sub {
            Some(sub) => Some(self.key(sub)),
            None => (!self.location.prefix.is_empty()).then(|| self.key_of_prefix()),
        };
        let listed = self
            .block(client.list_with_delimiter(prefix.as_ref()))?
            .map_err(|e| self.failure(sub.unwrap_or(""), "list", e))?;
        Ok(listed
            .objects
            .iter()
            .filter_map(|m| self.object(m))
            .collect())
    }

    fn key_of_prefix(&self) -> ObjectPath {
        ObjectPath::from(self.location.prefix.as_str())
    }

    pub(super) fn stat(&self, name: &str) -> Result<Option<Object>, FolderError> {
        let client = self.client()?;
        let key = self.key(name);
        match self.block(client.head(&key))? {
            Ok(meta) => Ok(self.object(&meta)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.failure(name, "look at", e)),
        }
    }

    /// Fetches the start of each of `files` (name, size) at once, so that reading them one after
    /// the other waits for one round trip instead of one each.
    pub(super) fn prefetch(&self, files: &[(String, u64)]) -> Result<(), FolderError> {
        let wanted: Vec<&(String, u64)> = files
            .iter()
            .filter(|(name, size)| {
                *size > 0 && !self.recent().iter().any(|p| p.get(name, &(0..1)).is_some())
            })
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let client = self.client()?;
        let gets = wanted.iter().map(|(name, size)| {
            let key = self.key(name);
            let fetch = 0..(*size).min(MIN_FETCH);
            async move { (fetch.clone(), client.get_range(&key, fetch).await) }
        });
        let fetched = self.block(futures_util::future::join_all(gets))?;
        let mut recent = self.recent();
        for ((name, _), (fetch, got)) in wanted.iter().zip(fetched) {
            let bytes = match got {
                Ok(bytes) => bytes,
                // Gone since the listing, or unreadable: the read of it says so, or not.
                Err(_) => continue,
            };
            keep(
                &mut recent,
                Piece {
                    name: name.clone(),
                    start: 0,
                    to_end: (bytes.len() as u64) < fetch.end,
                    bytes,
                },
            );
        }
        Ok(())
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, VecDeque<Piece>> {
        self.recent.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn read(&self, name: &str, range: Range<u64>) -> Result<Bytes, FolderError> {
        if let Some(bytes) = self.recent().iter().rev().find_map(|p| p.get(name, &range)) {
            return Ok(bytes);
        }
        let client = self.client()?;
        let key = self.key(name);
        // At least MIN_FETCH: a request's cost is its round trip more than its bytes.
        let fetch = range.start..range.end.max(range.start + MIN_FETCH);
        // A range that runs past the end is clipped by the store; one that starts past it is
        // refused (416): nothing there to read.
        let bytes = match self.block(client.get_range(&key, fetch.clone()))? {
            Ok(bytes) => bytes,
            Err(e) if is_past_the_end(&e) => Bytes::new(),
            Err(e) => return Err(self.failure(name, "read", e)),
        };
        let piece = Piece {
            name: name.to_string(),
            start: fetch.start,
            to_end: (bytes.len() as u64) < fetch.end - fetch.start,
            bytes,
        };
        let wanted = piece.get(name, &range).unwrap_or_default();
        keep(&mut self.recent(), piece);
        Ok(wanted)
    }

    /// An object store's error, said as what to fix where the store's answer tells.
    fn failure(&self, name: &str, doing: &str, e: object_store::Error) -> FolderError {
        let l = &self.location;
        let text = e.to_string();
        let at = l.endpoint.as_deref().unwrap_or("AWS S3");
        let message = if text.contains("NoSuchBucket") {
            format!(
                "bucket `{}` does not exist at {at}: create it, or fix `bucket_name` of connection `{}`{}",
                l.bucket,
                l.connection,
                if l.endpoint.is_none() { " (or its `region`)" } else { "" }
            )
        } else if [
            "SignatureDoesNotMatch",
            "InvalidAccessKeyId",
            "InvalidClientTokenId",
            "AuthorizationHeaderMalformed",
        ]
        .iter()
        .any(|code| text.contains(code))
            || matches!(e, object_store::Error::Unauthenticated { .. })
        {
            format!(
                "{at} refused the credentials of connection `{}` ({}): check `access_key_id` and `secret_access_key` in its `details`, or the AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY the app runs with",
                l.connection,
                code(&text).unwrap_or("unauthenticated"),
            )
        } else if matches!(e, object_store::Error::PermissionDenied { .. }) {
            format!(
                "{at} denied connection `{}` permission to {doing} it ({}): its credentials need s3:ListBucket on the bucket and s3:GetObject on the table's objects",
                l.connection,
                code(&text).unwrap_or("access denied"),
            )
        } else {
            format!("cannot {doing} it at {at}: {text}")
        };
        self.error(name, message)
    }
}

/// The S3 error code in a store's answer (`<Code>NoSuchBucket</Code>`), if it has one.
fn code(text: &str) -> Option<&str> {
    let start = text.find("<Code>")? + "<Code>".len();
    let end = text[start..].find("</Code>")? + start;
    Some(&text[start..end])
}

fn is_past_the_end(e: &object_store::Error) -> bool {
    let text = e.to_string();
    text.contains("416") || text.contains("InvalidRange") || text.contains("StartTooLarge")
}
