//! What a decoded `dozer-config.yaml` is: the app's connections, sources, SQL, endpoints and
//! settings, each value with the span it was written at. Key names follow Dozer (see
//! `shared/spec/dozer-compat.md`, section 1); keys marked "dozerc" are our extensions.
//! [`super::sections`] decodes YAML into these types.

use std::path::{Path, PathBuf};

use super::decode::Spanned;
use crate::diagnostic::{FileId, Span};
use crate::types::SqlType;
use crate::yaml::Scalar;

/// Where a piece of SQL text came from, to map positions inside it back to a file.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlOrigin {
    /// A `.sql` file: the text is the file's text.
    File(FileId),
    /// A YAML scalar (the `sql:` key); offsets map each char back into the YAML file.
    Yaml { file: FileId, scalar: Scalar },
}

/// One block of SQL statements.
#[derive(Clone, Debug, PartialEq)]
pub struct SqlText {
    pub text: String,
    pub origin: SqlOrigin,
}

impl SqlText {
    /// The file span of the byte range `start..end` of this SQL text.
    pub fn span(&self, start: usize, end: usize) -> Span {
        match &self.origin {
            SqlOrigin::File(file) => Span::new(*file, start, end),
            SqlOrigin::Yaml { file, scalar } => {
                let s = scalar.offset_of(start);
                // End after the last character of the range (which may be several bytes long).
                let last = self
                    .text
                    .get(..end)
                    .and_then(|t| t.char_indices().next_back());
                let e = match last {
                    Some((i, c)) if end > start => scalar.offset_of(i) + c.len_utf8(),
                    _ => s,
                };
                Span::new(*file, s, e.max(s))
            }
        }
    }

    /// Span of the whole text (for problems that concern all of it).
    pub fn whole(&self) -> Span {
        self.span(0, self.text.len())
    }
}

/// The decoded configuration of one app.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub version: Option<Spanned<u64>>,
    pub app_name: Option<Spanned<String>>,
    pub home_dir: Option<Spanned<String>>,
    pub cache_dir: Option<Spanned<String>>,
    pub cache_max_map_size: Option<Spanned<u64>>,
    pub connections: Vec<Connection>,
    pub sources: Vec<Source>,
    pub sql: Vec<SqlText>,
    pub endpoints: Vec<Endpoint>,
    pub api: Api,
    pub flags: Flags,
    pub app: AppOptions,
    /// Directory that relative paths in the config are resolved against.
    pub base_dir: PathBuf,
    /// The YAML files the config was read from (the first one names the app).
    pub files: Vec<FileId>,
}

impl Config {
    pub fn app_name(&self) -> &str {
        self.app_name.as_ref().map_or("app", |n| n.value.as_str())
    }

    pub fn connection(&self, name: &str) -> Option<&Connection> {
        self.connections.iter().find(|c| c.name.value == name)
    }

    pub fn resolve_path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Connection {
    pub name: Spanned<String>,
    /// The whole entry's first line.
    pub span: Span,
    /// The `config:` value (where its `!Kind` tag is).
    pub kind_span: Span,
    pub kind: ConnectionKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ConnectionKind {
    Postgres(Box<PostgresConfig>),
    MySql(Box<MySqlConfig>),
    /// `!LocalStorage` and `!S3Storage`: tables of files in folders.
    Files(FileStorage),
    /// `!Grpc`: rows pushed to the app's ingestion server.
    Grpc(Box<GrpcConfig>),
    /// Kinds whose keys are known but that have no connector yet (`!MySQL`, `!S3Storage`, ...);
    /// using them in a source is a "not supported yet" error.
    Unsupported {
        kind: String,
    },
}

impl ConnectionKind {
    pub fn kind_name(&self) -> &str {
        match self {
            ConnectionKind::Postgres(_) => "Postgres",
            ConnectionKind::MySql(_) => "MySQL",
            ConnectionKind::Grpc(_) => "Grpc",
            ConnectionKind::Files(files) => match files.store {
                FileStore::Local { .. } => "LocalStorage",
                FileStore::S3(_) => "S3Storage",
                FileStore::DeltaLake => "DeltaLake",
            },
            ConnectionKind::Unsupported { kind } => kind,
        }
    }
}

/// A `!Grpc` connection: Dozer's push ingestion server, `IngestService`, on `host:port`, taking
/// rows of the tables its `schemas` declare.
#[derive(Clone, Debug, PartialEq)]
pub struct GrpcConfig {
    /// Default `0.0.0.0`, as Dozer's.
    pub host: Option<Spanned<String>>,
    /// Default 8085, as Dozer's.
    pub port: Option<Spanned<u64>>,
    pub schemas: GrpcSchemas,
    /// `default` (Dozer's `IngestRequest` rows) or `arrow`.
    pub adapter: Option<Spanned<String>>,
}

impl GrpcConfig {
    pub const DEFAULT_HOST: &'static str = "0.0.0.0";
    pub const DEFAULT_PORT: u16 = 8085;
}

/// Where a `!Grpc` connection's schemas are: JSON written in the YAML, or a file beside it.
#[derive(Clone, Debug, PartialEq)]
pub enum GrpcSchemas {
    /// `schemas: !Inline '{"users": {...}}'`.
    Inline(Spanned<String>),
    /// `schemas: !Path ./schemas.json` (relative to the config's folder).
    Path(Spanned<String>),
}

/// A `!MySQL` connection (MySQL or MariaDB), as Dozer's keys write it.
#[derive(Clone, Debug, PartialEq)]
pub struct MySqlConfig {
    /// `mysql://user:password@host:3306/database`.
    pub url: Spanned<String>,
    /// The replica id the app reads the binlog as (default
    /// [`MySqlConfig::default_server_id`]).
    pub server_id: Option<Spanned<u64>>,
    /// The environment variable the URL's password came from (`mysql://app:{{MYSQL_PASSWORD}}@…`):
    /// the app reads it when it starts instead of having the secret compiled in.
    pub password_env: Option<String>,
}

impl MySqlConfig {
    /// A replica id derived from the app's and the connection's names, so that two apps on one
    /// server do not collide by default: in 1 000 000 … 4 294 967 295, above the small ids that
    /// people give their servers by hand.
    pub fn default_server_id(app: &str, connection: &str) -> u32 {
        let h = format!("{app}/{connection}")
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        1_000_000 + (h % (u64::from(u32::MAX) - 1_000_000)) as u32
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PostgresConfig {
    pub user: Option<Spanned<String>>,
    pub password: Option<Spanned<String>>,
    pub host: Option<Spanned<String>>,
    pub port: Option<Spanned<u64>>,
    pub database: Option<Spanned<String>>,
    pub sslmode: Option<Spanned<String>>,
    /// `sslrootcert`: the PEM file of the CAs to trust (`verify-ca`, `verify-full`), relative
    /// to the config's directory unless absolute.
    pub sslrootcert: Option<Spanned<String>>,
    pub connection_url: Option<Spanned<String>>,
    pub schema: Option<Spanned<String>>,
    /// The environment variable `password` came from (`password: "{{PG_PASSWORD}}"`): the app
    /// reads it when it starts instead of having the secret compiled in.
    pub password_env: Option<String>,
    /// The app's replication slot and publication on this server (dozerc extensions; default
    /// [`PostgresConfig::default_replication_name`]).
    pub replication_slot: Option<Spanned<String>>,
    pub publication: Option<Spanned<String>>,
}

impl PostgresConfig {
    /// `dozer_<app>_<connection>`, lowercased, other characters as `_`, at most 63 bytes (the
    /// longest name PostgreSQL keeps).
    pub fn default_replication_name(app: &str, connection: &str) -> String {
        let mut name: String = format!("dozer_{app}_{connection}")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        name.truncate(63);
        name
    }
}

/// A connection whose tables are files: every table a folder of files under the store's root.
#[derive(Clone, Debug, PartialEq)]
pub struct FileStorage {
    pub store: FileStore,
    pub tables: Vec<FileTable>,
}

/// Where a file connection's folders are.
#[derive(Clone, Debug, PartialEq)]
pub enum FileStore {
    /// `!LocalStorage { details: { path } }`: folders under `path` on the app's disk.
    Local { path: Spanned<String> },
    /// `!S3Storage { details: {...} }`: prefixes of a bucket.
    S3(Box<S3Details>),
    /// `!DeltaLake { tables: [{ name, path }] }`: each table's `path` is its own, a folder on the
    /// app's disk or an `s3://bucket/prefix` URL (credentials and region from the app's `AWS_*`
    /// environment).
    DeltaLake,
}

/// `details` of an `!S3Storage` connection: Dozer's keys, and `endpoint` for S3-compatible
/// stores. Credentials and region not given here come from the app's `AWS_*` environment.
#[derive(Clone, Debug, PartialEq)]
pub struct S3Details {
    pub bucket_name: Spanned<String>,
    pub region: Option<Spanned<String>>,
    /// An S3-compatible store's URL (`http://127.0.0.1:9000`), instead of AWS.
    pub endpoint: Option<Spanned<String>>,
    pub access_key_id: Option<Spanned<String>>,
    pub secret_access_key: Option<Spanned<String>>,
    /// The environment variables the keys came from (`{{AWS_SECRET_ACCESS_KEY}}`): the app reads
    /// them when it starts instead of having them compiled in.
    pub access_key_id_env: Option<String>,
    pub secret_access_key_env: Option<String>,
}

impl FileStorage {
    /// The table of this name.
    pub fn table(&self, name: &str) -> Option<&FileTable> {
        self.tables.iter().find(|t| t.name.value == name)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Parquet,
    JsonLines,
    Delta,
}

impl FileFormat {
    pub fn default_extension(self) -> &'static str {
        match self {
            FileFormat::Csv => ".csv",
            FileFormat::Parquet => ".parquet",
            FileFormat::JsonLines => ".jsonl",
            FileFormat::Delta => "",
        }
    }
}

/// A `!Table` of a file connection: every file with `extension` in folder `path`.
#[derive(Clone, Debug, PartialEq)]
pub struct FileTable {
    pub name: Spanned<String>,
    pub format: FileFormat,
    pub format_span: Span,
    pub path: Spanned<String>,
    pub extension: String,
    /// dozerc: CSV files have a header line (default true).
    pub has_header: bool,
    /// dozerc: CSV field delimiter (default `,`).
    pub delimiter: u8,
    /// dozerc: types that override the inferred ones, by column name.
    pub column_types: Vec<ColumnOverride>,
    /// dozerc (CSV, JSON lines): how long the last file must stay the same size before a last
    /// line without its line break counts as a record (`quiet_period: 2 SECONDS`), in
    /// milliseconds; `None`: the runtime's default.
    pub quiet_period_ms: Option<Spanned<i64>>,
    /// `marker_extension: .marker` (or `marker_file: true`, which means `.marker`): a data file
    /// is read only once a file of its name with this extension instead of its own exists.
    pub marker_extension: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ColumnOverride {
    pub name: Spanned<String>,
    pub ty: Spanned<SqlType>,
    pub nullable: Option<bool>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Source {
    pub name: Spanned<String>,
    pub table_name: Spanned<String>,
    pub connection: Spanned<String>,
    pub columns: Option<Vec<Spanned<String>>>,
    pub schema: Option<Spanned<String>>,
    pub span: Span,
}

impl Source {
    /// The MySQL database the source's table is in: the source's `schema`, else the URL's.
    pub fn mysql_database<'a>(&'a self, url_database: &'a str) -> &'a str {
        self.schema
            .as_ref()
            .map_or(url_database, |s| s.value.as_str())
    }

    /// The PostgreSQL schema the source's table is in: the source's `schema`, else the
    /// connection's, else `public`.
    pub fn postgres_schema<'a>(&'a self, pg: &'a PostgresConfig) -> &'a str {
        self.schema
            .as_ref()
            .or(pg.schema.as_ref())
            .map_or("public", |s| s.value.as_str())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Endpoint {
    pub name: Spanned<String>,
    pub path: Spanned<String>,
    pub table_name: Spanned<String>,
    pub primary_key: Option<Vec<Spanned<String>>>,
    pub skip_default: Vec<Spanned<String>>,
    pub secondary: Vec<SecondaryIndex>,
    pub conflict_resolution: ConflictResolution,
    /// The `Cache-Control` of its read answers (dozerc's; Dozer had none).
    pub cache_control: Option<Spanned<String>>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SecondaryIndex {
    SortedInverted {
        fields: Vec<Spanned<String>>,
        span: Span,
    },
    FullText {
        field: Spanned<String>,
        span: Span,
    },
}

impl SecondaryIndex {
    pub fn fields(&self) -> Vec<&Spanned<String>> {
        match self {
            SecondaryIndex::SortedInverted { fields, .. } => fields.iter().collect(),
            SecondaryIndex::FullText { field, .. } => vec![field],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OnInsert {
    #[default]
    Nothing,
    Update,
    Panic,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OnUpdate {
    #[default]
    Nothing,
    Upsert,
    Panic,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OnDelete {
    #[default]
    Nothing,
    Panic,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ConflictResolution {
    pub on_insert: OnInsert,
    pub on_update: OnUpdate,
    pub on_delete: OnDelete,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServerAddr {
    pub host: String,
    pub port: u16,
    /// `cors`: which browser origins may call the server (Dozer's boolean; a list of origins is
    /// dozerc's extension). Default: any origin, as Dozer.
    pub cors: Cors,
    /// `enabled: false`: the server is not started.
    pub enabled: bool,
    /// `api.grpc.web`: gRPC-Web on the gRPC port (`None`: `flags.grpc_web` decides).
    pub web: Option<bool>,
}

impl ServerAddr {
    fn new(port: u16) -> ServerAddr {
        ServerAddr {
            host: "0.0.0.0".into(),
            port,
            cors: Cors::AnyOrigin,
            enabled: true,
            web: None,
        }
    }
}

/// A server's CORS policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cors {
    /// `cors: false`: no CORS headers; browsers refuse cross-origin calls.
    Off,
    /// `cors: true` (the default): any origin.
    AnyOrigin,
    /// `cors: [https://app.example.com, ...]`: these origins only.
    Origins(Vec<String>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Api {
    /// `api_security: !Jwt <secret>`.
    pub jwt_secret: Option<Spanned<String>>,
    /// The environment variable the secret came from (`!Jwt "{{JWT_SECRET}}"`): the app reads it
    /// when it starts instead of holding the secret.
    pub jwt_secret_env: Option<String>,
    /// dozerc: slack on token expiry for clocks that differ (`jwt_leeway: 5 SECONDS`), in ms.
    pub jwt_leeway_ms: Option<Spanned<i64>>,
    /// dozerc: lifetime of tokens issued through the API when the request names none
    /// (`token_ttl: 1 DAY`), in ms.
    pub token_ttl_ms: Option<Spanned<i64>>,
    pub rest: ServerAddr,
    pub grpc: ServerAddr,
    pub default_max_num_records: u64,
    /// dozerc: how long the event log keeps committed changes for `OnEvent` subscribers that
    /// resume (`event_retention: 1 HOUR`), in milliseconds.
    pub event_retention_ms: Option<Spanned<i64>>,
    /// dozerc: the largest `$limit` a query may ask for.
    pub max_limit: u64,
    /// dozerc: records one request may read without an index before it is refused.
    pub max_scan: u64,
}

impl Default for Api {
    fn default() -> Self {
        Api {
            jwt_secret: None,
            jwt_secret_env: None,
            jwt_leeway_ms: None,
            token_ttl_ms: None,
            rest: ServerAddr::new(8080),
            grpc: ServerAddr::new(50051),
            default_max_num_records: 50,
            event_retention_ms: None,
            max_limit: dozer_types::openapi::DEFAULT_MAX_LIMIT,
            max_scan: 1_000_000,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Flags {
    pub dynamic: bool,
    pub grpc_web: bool,
    pub push_events: bool,
    pub authenticate_server_reflection: bool,
}

impl Default for Flags {
    fn default() -> Self {
        Flags {
            dynamic: true,
            grpc_web: true,
            push_events: true,
            authenticate_server_reflection: false,
        }
    }
}

/// What to do with a source row that cannot be read (unparsable value, wrong column count).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OnBadRecord {
    /// Stop the pipeline with the row's file, line and column.
    #[default]
    Fail,
    /// Report it, count it, and go on.
    Skip,
}

/// The `app:` section: pipeline tuning.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct AppOptions {
    pub app_buffer_size: Option<u64>,
    pub commit_size: Option<u64>,
    pub commit_timeout: Option<u64>,
    pub error_threshold: Option<u64>,
    /// dozerc: what to do with unreadable source rows.
    pub on_bad_record: OnBadRecord,
}
