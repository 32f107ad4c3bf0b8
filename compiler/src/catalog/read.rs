//! How the app reads each source, resolved once from the config: a file table's folder, format
//! and options, a PostgreSQL table with its connection, replication slot and publication, or a
//! MySQL table with its connection and replica id.
//!
//! The catalog resolves it beside the source's schema, so code generation takes both from one
//! place and never looks at connections again.

use std::time::Duration;

use crate::config::{self, Config, ConnectionKind, FileStore, MySqlConfig, PostgresConfig, Source};
use dozer_pg_tls::{PgTls, SslMode};

/// How long dozerc waits for a PostgreSQL server to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and how the app reads one source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceRead {
    Files(FileRead),
    /// A Delta Lake table (`!Delta` table of a `!LocalStorage`/`!S3Storage` connection, or a
    /// table of `!DeltaLake`): the folder holding its `_delta_log/`.
    Delta(FileFolder),
    Postgres(PgRead),
    MySql(MySqlRead),
    Grpc(GrpcRead),
}

/// A table of a `!Grpc` connection: where the app's ingestion server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrpcRead {
    /// The connection's name in the config.
    pub connection: String,
    pub host: String,
    pub port: u16,
    /// The schema's name, as requests give it.
    pub table: String,
}

/// How a table's files are written (a Delta table's are its log's: [`SourceRead::Delta`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    JsonLines,
    Parquet,
}

/// The files of a `!LocalStorage` or `!S3Storage` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRead {
    pub folder: FileFolder,
    /// Files whose name ends with this belong to the table (e.g. `.csv`).
    pub extension: String,
    pub format: FileFormat,
    pub has_header: bool,
    pub delimiter: u8,
    /// The table's `quiet_period` in milliseconds; `None`: the runtime's default.
    pub quiet_period_ms: Option<i64>,
    /// Data files wait for a marker of this extension (`marker_extension`).
    pub marker_extension: Option<String>,
}

/// Where a file table's files are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileFolder {
    /// The connection's path and the table's, joined as the config writes them (relative to the
    /// config's directory unless absolute).
    Local(String),
    /// The bucket, the table's prefix (its `path` without leading `./` or slashes), and where
    /// the credentials come from.
    S3(Box<dozer_folder::S3Location>),
}

impl FileFolder {
    /// The folder itself, to read now (the compiler samples it); a relative local path starts at
    /// the config's directory.
    pub fn open(&self, config: &Config) -> dozer_folder::Folder {
        match self {
            FileFolder::Local(dir) => dozer_folder::Folder::local(config.resolve_path(dir)),
            FileFolder::S3(s3) => {
                dozer_folder::Folder::s3((**s3).clone(), dozer_folder::Patience::Build)
            }
        }
    }
}

/// A table of a `!Postgres` connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgRead {
    /// The connection's name in the config.
    pub connection: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Password,
    pub database: String,
    /// The app's replication slot and publication on the server.
    pub slot: String,
    pub publication: String,
    pub schema: String,
    pub table: String,
    /// `sslmode` and `sslrootcert` (as the config writes the path: the app resolves a relative
    /// one against its base directory).
    pub tls_mode: SslMode,
    pub root_cert: Option<String>,
}

/// A table of a `!MySQL` connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MySqlRead {
    /// The connection's name in the config.
    pub connection: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Password,
    /// The URL's database.
    pub database: String,
    /// The replica id the app reads the binlog as.
    pub server_id: u32,
    /// The table's database (the source's `schema`, else the URL's) and name.
    pub schema: String,
    pub table: String,
}

/// A `mysql://` URL's parts, percent-decoded.
pub struct MySqlUrl {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    pub database: String,
}

/// Replaces the password of a connection URL (`postgresql://`, `mysql://`), for messages and the
/// lock file.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((creds, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    let user = creds.split(':').next().unwrap_or("");
    format!("{scheme}://{user}@{host}")
}

/// Reads `mysql://user:password@host:port/database`.
pub fn mysql_url(url: &str) -> Result<MySqlUrl, String> {
    let opts =
        mysql_async::Opts::from_url(url).map_err(|e| format!("`{}`: {e}", redact_url(url)))?;
    let database = opts.db_name().map(str::to_string).ok_or_else(|| {
        "the URL names no database; add it after the host: mysql://user:password@host:3306/<database>".to_string()
    })?;
    Ok(MySqlUrl {
        host: opts.ip_or_hostname().to_string(),
        port: opts.tcp_port(),
        user: opts.user().unwrap_or("root").to_string(),
        password: opts.pass().map(str::to_string),
        database,
    })
}

/// Where the app finds a connection's password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Password {
    None,
    /// Written in the config (and so compiled in).
    Literal(String),
    /// Read from this environment variable when the app starts (the config said `{{VAR}}`).
    Env(String),
}

/// A credential from a config value and the variable it came from, if any.
fn credential(
    value: Option<&crate::config::Spanned<String>>,
    env: Option<&String>,
) -> dozer_folder::Credential {
    match (env, value) {
        (Some(var), _) => dozer_folder::Credential::Env(var.clone()),
        (None, Some(v)) => dozer_folder::Credential::Literal(v.value.clone()),
        (None, None) => dozer_folder::Credential::None,
    }
}

/// How the app reads `source`; `None` when its connection or table is missing or of a kind apps
/// do not read yet (config validation and the catalog report those, located).
pub fn reading(config: &Config, source: &Source) -> Option<SourceRead> {
    let conn = config.connection(&source.connection.value)?;
    match &conn.kind {
        ConnectionKind::Files(ls) => {
            let table = ls.table(&source.table_name.value)?;
            let folder = table_folder(&conn.name.value, ls, table);
            let format = match table.format {
                config::FileFormat::Csv => FileFormat::Csv,
                config::FileFormat::JsonLines => FileFormat::JsonLines,
                config::FileFormat::Parquet => FileFormat::Parquet,
                config::FileFormat::Delta => return Some(SourceRead::Delta(folder)),
            };
            Some(SourceRead::Files(FileRead {
                folder,
                extension: table.extension.clone(),
                format,
                has_header: table.has_header,
                delimiter: table.delimiter,
                quiet_period_ms: table.quiet_period_ms.as_ref().map(|q| q.value),
                marker_extension: table.marker_extension.clone(),
            }))
        }
        ConnectionKind::Postgres(pg) => {
            let schema = source.postgres_schema(pg);
            pg_read(
                config,
                &conn.name.value,
                pg,
                schema,
                &source.table_name.value,
            )
            .map(SourceRead::Postgres)
        }
        ConnectionKind::MySql(my) => {
            let url = mysql_url(&my.url.value).ok()?;
            let password = match (&my.password_env, &url.password) {
                (Some(var), _) => Password::Env(var.clone()),
                (None, Some(p)) => Password::Literal(p.clone()),
                (None, None) => Password::None,
            };
            Some(SourceRead::MySql(MySqlRead {
                connection: conn.name.value.clone(),
                server_id: my.server_id.as_ref().map_or_else(
                    || MySqlConfig::default_server_id(config.app_name(), &conn.name.value),
                    |s| s.value as u32,
                ),
                schema: source.mysql_database(&url.database).to_string(),
                table: source.table_name.value.clone(),
                host: url.host,
                port: url.port,
                user: url.user,
                password,
                database: url.database,
            }))
        }
        ConnectionKind::Grpc(g) => Some(SourceRead::Grpc(GrpcRead {
            connection: conn.name.value.clone(),
            host: g
                .host
                .as_ref()
                .map_or(config::GrpcConfig::DEFAULT_HOST, |h| h.value.as_str())
                .to_string(),
            port: g
                .port
                .as_ref()
                .map_or(config::GrpcConfig::DEFAULT_PORT, |p| p.value as u16),
            table: source.table_name.value.clone(),
        })),
        ConnectionKind::Unsupported { .. } => None,
    }
}

/// Where a file table's files are: the connection's folder or bucket with the table's path.
fn table_folder(
    connection: &str,
    ls: &config::FileStorage,
    table: &config::FileTable,
) -> FileFolder {
    match &ls.store {
        FileStore::Local { path } => FileFolder::Local(
            std::path::Path::new(&path.value)
                .join(&table.path.value)
                .display()
                .to_string(),
        ),
        FileStore::DeltaLake => match table.path.value.strip_prefix("s3://") {
            None => FileFolder::Local(table.path.value.clone()),
            Some(url) => {
                let (bucket, prefix) = url.split_once('/').unwrap_or((url, ""));
                FileFolder::S3(Box::new(dozer_folder::S3Location {
                    connection: connection.to_string(),
                    bucket: bucket.to_string(),
                    prefix: prefix.trim_matches('/').to_string(),
                    region: None,
                    endpoint: None,
                    access_key_id: dozer_folder::Credential::None,
                    secret_access_key: dozer_folder::Credential::None,
                }))
            }
        },
        FileStore::S3(s3) => FileFolder::S3(Box::new(dozer_folder::S3Location {
            connection: connection.to_string(),
            bucket: s3.bucket_name.value.clone(),
            prefix: table
                .path
                .value
                .trim_start_matches("./")
                .trim_matches('/')
                .to_string(),
            region: s3.region.as_ref().map(|r| r.value.clone()),
            endpoint: s3.endpoint.as_ref().map(|e| e.value.clone()),
            access_key_id: credential(s3.access_key_id.as_ref(), s3.access_key_id_env.as_ref()),
            secret_access_key: credential(
                s3.secret_access_key.as_ref(),
                s3.secret_access_key_env.as_ref(),
            ),
        })),
    }
}

fn pg_read(
    config: &Config,
    connection: &str,
    pg: &PostgresConfig,
    schema: &str,
    table: &str,
) -> Option<PgRead> {
    let cfg = client_config(pg).ok()?;
    let tls = tls_of(pg).ok()?;
    let (host, port) = host_port(&cfg);
    let user = cfg.get_user().unwrap_or("postgres").to_string();
    let database = cfg.get_dbname().unwrap_or(&user).to_string();
    let password = match (&pg.password_env, cfg.get_password()) {
        (Some(var), _) => Password::Env(var.clone()),
        (None, Some(p)) => Password::Literal(String::from_utf8_lossy(p).into_owned()),
        (None, None) => Password::None,
    };
    let default_name = PostgresConfig::default_replication_name(config.app_name(), connection);
    let name_or_default = |s: &Option<crate::config::Spanned<String>>| {
        s.as_ref().map_or(default_name.clone(), |s| s.value.clone())
    };
    Some(PgRead {
        connection: connection.to_string(),
        host,
        port,
        user,
        password,
        database,
        slot: name_or_default(&pg.replication_slot),
        publication: name_or_default(&pg.publication),
        schema: schema.to_string(),
        table: table.to_string(),
        tls_mode: tls.mode,
        root_cert: tls.root_cert.map(|p| p.display().to_string()),
    })
}

/// Builds the client configuration from the YAML keys (or `connection_url`).
pub fn client_config(pg: &PostgresConfig) -> Result<tokio_postgres::Config, String> {
    let mut cfg = match &pg.connection_url {
        // Its TLS parameters are `tls_of`'s (tokio-postgres refuses the verify modes).
        Some(url) => dozer_pg_tls::split_url(&url.value)
            .0
            .parse::<tokio_postgres::Config>()
            .map_err(|e| format!("invalid connection_url: {e}"))?,
        None => tokio_postgres::Config::new(),
    };
    if let Some(v) = &pg.user {
        cfg.user(&v.value);
    }
    if let Some(v) = &pg.password {
        cfg.password(&v.value);
    }
    if let Some(v) = &pg.database {
        cfg.dbname(&v.value);
    }
    if let Some(v) = &pg.host {
        cfg.host(&v.value);
    }
    if cfg.get_hosts().is_empty() {
        cfg.host("localhost");
    }
    if let Some(v) = &pg.port {
        cfg.port(v.value as u16);
    }
    cfg.connect_timeout(CONNECT_TIMEOUT);
    cfg.application_name("dozerc");
    Ok(cfg)
}

/// How a connection uses TLS: `sslmode` and `sslrootcert` as keys, else as `connection_url`
/// parameters, else libpq's default (`prefer`). The root certificate's path is as written.
pub fn tls_of(pg: &PostgresConfig) -> Result<PgTls, String> {
    let (_, url_mode, url_root) = pg
        .connection_url
        .as_ref()
        .map(|u| dozer_pg_tls::split_url(&u.value))
        .unwrap_or_default();
    let mode = match pg.sslmode.as_ref().map(|m| m.value.clone()).or(url_mode) {
        None => SslMode::default(),
        Some(name) => SslMode::parse(&name).ok_or_else(|| {
            format!(
                "invalid sslmode `{name}` in connection_url (one of {})",
                SslMode::NAMES.join(", ")
            )
        })?,
    };
    let root_cert = pg
        .sslrootcert
        .as_ref()
        .map(|r| r.value.clone())
        .or(url_root)
        .map(std::path::PathBuf::from);
    Ok(PgTls { mode, root_cert })
}

/// The server a configuration connects to: its (first) host or socket directory, and port.
pub fn host_port(cfg: &tokio_postgres::Config) -> (String, u16) {
    let host = match cfg.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    (host, cfg.get_ports().first().copied().unwrap_or(5432))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_lake_tables_are_folders_or_s3_urls_read_with_the_aws_variables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dozer-config.yaml");
        std::fs::write(
            &path,
            "version: 1\napp_name: lake\nconnections:\n  - name: lake\n    config: !DeltaLake\n      tables:\n        - name: orders\n          path: ./lake/orders\n        - name: events\n          path: s3://shop-data/tables/events/\nsources:\n  - name: orders\n    table_name: orders\n    connection: lake\n  - name: events\n    table_name: events\n    connection: lake\n",
        )
        .unwrap();
        let mut map = crate::diagnostic::SourceMap::default();
        let mut diags = crate::diagnostic::Diagnostics::default();
        let config = crate::config::load(&[path], &mut map, &|_| None, &mut diags).unwrap();
        assert!(!diags.has_errors(), "{:?}", diags.sorted());
        assert_eq!(
            reading(&config, &config.sources[0]),
            Some(SourceRead::Delta(FileFolder::Local("./lake/orders".into())))
        );
        let Some(SourceRead::Delta(FileFolder::S3(s3))) = reading(&config, &config.sources[1])
        else {
            panic!("{:?}", reading(&config, &config.sources[1]));
        };
        assert_eq!(
            (s3.bucket.as_str(), s3.prefix.as_str()),
            ("shop-data", "tables/events")
        );
        assert_eq!(s3.access_key_id, dozer_folder::Credential::None);
        assert_eq!(s3.endpoint, None);
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("postgresql://u:secret@h:5432/db"),
            "postgresql://u@h:5432/db"
        );
        assert_eq!(redact_url("postgresql://h/db"), "postgresql://h/db");
        assert_eq!(
            redact_url("mysql://app:secret@db:3306/shop"),
            "mysql://app@db:3306/shop"
        );
    }
}
