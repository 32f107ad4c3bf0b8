//! Decoding the sections of `dozer-config.yaml` into the [`super::model`] types: unknown keys,
//! wrong types and bad values become located diagnostics, and decoding goes on past them.

use std::path::PathBuf;

use super::decode::{Decoder, Fields, Spanned};
use super::model::*;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::types::SqlType;
use crate::yaml::{Node, NodeKind};

const ROOT_KEYS: &[&str] = &[
    "version",
    "app_name",
    "home_dir",
    "cache_dir",
    "connections",
    "sources",
    "sql",
    "endpoints",
    "api",
    "flags",
    "cache_max_map_size",
    "app",
    "telemetry",
    "udfs",
    "cloud",
];

const CONNECTION_KINDS: &[&str] = &[
    "Postgres",
    "LocalStorage",
    "MySQL",
    "S3Storage",
    "Kafka",
    "Grpc",
    "Snowflake",
    "MongoDB",
    "DeltaLake",
    "Ethereum",
    "Dozer",
];

pub(super) fn decode_root(root: &Node, diags: &mut Diagnostics) -> Config {
    let mut d = Decoder { diags };
    let mut config = Config {
        version: None,
        app_name: None,
        home_dir: None,
        cache_dir: None,
        cache_max_map_size: None,
        connections: vec![],
        sources: vec![],
        sql: vec![],
        endpoints: vec![],
        api: Api::default(),
        flags: Flags::default(),
        app: AppOptions::default(),
        base_dir: PathBuf::new(),
        files: vec![],
    };
    let Some(f) = d.fields(root, "the config", ROOT_KEYS) else {
        return config;
    };
    d.no_tag(root, "the config");

    if let Some(n) = d.required(&f, "version", "1") {
        if let Some(v) = d.uint(n, "`version`", u64::MAX) {
            if v.value != 1 {
                d.error(
                    Diagnostic::error(
                        "config::version",
                        format!("config version {} is not supported", v.value),
                    )
                    .label(v.span, "unsupported version")
                    .help("dozerc reads version 1 configs: write `version: 1`"),
                );
            }
            config.version = Some(v);
        }
    }
    if let Some(n) = d.required(&f, "app_name", "my-app") {
        config.app_name = d.name(n, "`app_name`");
        if let Some(name) = &config.app_name {
            let ok = name
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok {
                d.error(
                    Diagnostic::error(
                        "config::app-name",
                        format!(
                            "app_name `{}` has characters a crate name cannot have",
                            name.value
                        ),
                    )
                    .label(name.span, "invalid app name")
                    .help(
                        "use letters, digits, `-` and `_` only: the name becomes the binary's name",
                    ),
                );
            }
        }
    }
    config.home_dir = f.get("home_dir").and_then(|n| d.name(n, "`home_dir`"));
    config.cache_dir = f.get("cache_dir").and_then(|n| d.name(n, "`cache_dir`"));
    config.cache_max_map_size = f
        .get("cache_max_map_size")
        .and_then(|n| d.uint(n, "`cache_max_map_size`", u64::MAX));

    if let Some(n) = f.get("connections") {
        for (i, c) in d.list(n, "`connections`").iter().enumerate() {
            if let Some(conn) = decode_connection(&mut d, c, i) {
                config.connections.push(conn);
            }
        }
    }
    if let Some(n) = f.get("sources") {
        for (i, s) in d.list(n, "`sources`").iter().enumerate() {
            if let Some(src) = decode_source(&mut d, s, i) {
                config.sources.push(src);
            }
        }
    }
    if let Some(n) = f.get("endpoints") {
        for (i, e) in d.list(n, "`endpoints`").iter().enumerate() {
            if let Some(ep) = decode_endpoint(&mut d, e, i) {
                config.endpoints.push(ep);
            }
        }
    }
    if let Some(n) = f.get("api") {
        config.api = decode_api(&mut d, n);
    }
    if let Some(n) = f.get("flags") {
        config.flags = decode_flags(&mut d, n);
    }
    if let Some(n) = f.get("app") {
        config.app = decode_app(&mut d, n);
    }
    if let Some(n) = f.get("telemetry") {
        if d.fields(n, "`telemetry`", &["trace", "metrics"])
            .is_some_and(|t| t.get("trace").is_some() || t.get("metrics").is_some())
        {
            d.error(
                Diagnostic::warning(
                    "config::telemetry-ignored",
                    "not supported yet: telemetry export; the `telemetry` section is ignored",
                )
                .label(n.span, "ignored")
                .help("remove the `telemetry` section to silence this warning"),
            );
        }
    }
    if let Some(n) = f.get("cloud") {
        let span = f.key_span("cloud").unwrap_or(n.span);
        d.error(
            Diagnostic::warning("config::ignored-key", "`cloud` (Dozer Cloud's deployment settings) has no effect in dozerc")
                .label(span, "ignored")
                .help("deploy the app binary, or its image from `dozerc build --image`; remove the section"),
        );
    }
    if let Some(n) = f.get("udfs") {
        if !d.list(n, "`udfs`").is_empty() {
            d.error(
                Diagnostic::error("config::unsupported", "not supported yet: user-defined functions (`udfs`)")
                    .label(n.span, "not supported yet")
                    .help("remove the `udfs` section; the built-in scalar functions are listed in docs/sql.md"),
            );
        }
    }
    config
}

fn decode_connection(d: &mut Decoder, node: &Node, i: usize) -> Option<Connection> {
    let what = format!("connection #{}", i + 1);
    let f = d.fields(node, &what, &["name", "config"])?;
    let name = d
        .required(&f, "name", "my_connection")
        .and_then(|n| d.name(n, "the connection `name`"));
    let what = name
        .as_ref()
        .map_or(what, |n| format!("connection `{}`", n.value));
    let config = d.required(&f, "config", "!Postgres { ... }")?;
    let kind = d.tag(config, &format!("the config of {what}"), CONNECTION_KINDS)?;
    let kind = match kind.as_str() {
        "Postgres" => ConnectionKind::Postgres(Box::new(decode_postgres(d, config, &what)?)),
        "MySQL" => ConnectionKind::MySql(Box::new(decode_mysql(d, config, &what)?)),
        "LocalStorage" => ConnectionKind::Files(decode_local_storage(d, config, &what)?),
        "S3Storage" => ConnectionKind::Files(decode_s3_storage(d, config, &what)?),
        "DeltaLake" => ConnectionKind::Files(decode_delta_lake(d, config, &what)?),
        "Grpc" => ConnectionKind::Grpc(Box::new(decode_grpc(d, config, &what)?)),
        other => {
            let keys: Option<&[&str]> = match other {
                "Kafka" => Some(&["broker", "schema_registry_url"]),
                _ => None,
            };
            if let Some(keys) = keys {
                d.fields(config, &format!("the `!{other}` config of {what}"), keys);
            }
            ConnectionKind::Unsupported {
                kind: other.to_string(),
            }
        }
    };
    Some(Connection {
        name: name?,
        span: node.span,
        kind_span: config.span,
        kind,
    })
}

fn opt_string(d: &mut Decoder, f: &Fields, key: &str, what: &str) -> Option<Spanned<String>> {
    f.get(key)
        .and_then(|n| d.string(n, &format!("`{key}` of {what}")))
}

/// A slot or publication name: what `CREATE_REPLICATION_SLOT` accepts (lowercase letters, digits,
/// `_`, at most 63), so it is usable unquoted everywhere.
fn replication_name(d: &mut Decoder, f: &Fields, key: &str, what: &str) -> Option<Spanned<String>> {
    let name = opt_string(d, f, key, what)?;
    let ok = !name.value.is_empty()
        && name.value.len() <= 63
        && name
            .value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !ok {
        d.error(
            Diagnostic::error(
                "config::bad-replication-name",
                format!("`{key}` of {what} must be 1 to 63 lowercase letters, digits or `_`"),
            )
            .label(name.span, "not a valid name")
            .help(format!(
                "e.g. `{key}: {}`",
                PostgresConfig::default_replication_name("app", "pg")
            )),
        );
        return None;
    }
    Some(name)
}

fn decode_postgres(d: &mut Decoder, node: &Node, what: &str) -> Option<PostgresConfig> {
    let keys = [
        "user",
        "password",
        "host",
        "port",
        "database",
        "sslmode",
        "sslrootcert",
        "connection_url",
        "schema",
        "replication_slot",
        "publication",
    ];
    let f = d.fields(node, &format!("the `!Postgres` config of {what}"), &keys)?;
    let pg = PostgresConfig {
        user: opt_string(d, &f, "user", what),
        password: opt_string(d, &f, "password", what),
        host: opt_string(d, &f, "host", what),
        port: f
            .get("port")
            .and_then(|n| d.uint(n, "`port`", u64::from(u16::MAX))),
        database: opt_string(d, &f, "database", what),
        sslmode: f
            .get("sslmode")
            .and_then(|n| d.choice(n, "sslmode", &dozer_pg_tls::SslMode::NAMES)),
        sslrootcert: opt_string(d, &f, "sslrootcert", what),
        connection_url: opt_string(d, &f, "connection_url", what),
        schema: opt_string(d, &f, "schema", what),
        password_env: f
            .get("password")
            .and_then(|n| n.as_scalar())
            .and_then(|s| s.env.clone())
            .or_else(|| {
                // `postgresql://app:{{PG_PASSWORD}}@db/shop`: the URL's password read by the app
                // from the variable, as a `password:` key would be.
                let url = f.get("connection_url")?.as_scalar()?;
                let (start, end) = url_password(&url.value)?;
                url.env_parts
                    .iter()
                    .find(|p| (p.start, p.end) == (start, end))
                    .map(|p| p.name.clone())
            }),
        replication_slot: replication_name(d, &f, "replication_slot", what),
        publication: replication_name(d, &f, "publication", what),
    };
    if pg.connection_url.is_none() {
        for key in ["user", "database"] {
            let missing = match key {
                "user" => pg.user.is_none(),
                _ => pg.database.is_none(),
            };
            if missing {
                d.error(
                    Diagnostic::error("config::missing-key", format!("the `!Postgres` config of {what} is missing `{key}`"))
                        .label(f.span, format!("`{key}` is missing here"))
                        .help(format!("add `{key}: ...`, or give the whole `connection_url: postgresql://user:password@host:5432/db`")),
                );
            }
        }
    }
    Some(pg)
}

fn decode_mysql(d: &mut Decoder, node: &Node, what: &str) -> Option<MySqlConfig> {
    let f = d.fields(
        node,
        &format!("the `!MySQL` config of {what}"),
        &["url", "server_id"],
    )?;
    let url_node = d.required(&f, "url", "mysql://user:password@host:3306/database")?;
    let url = d.string(url_node, &format!("`url` of {what}"))?;
    if !url.value.starts_with("mysql://") {
        d.error(
            Diagnostic::error(
                "config::mysql-url",
                format!("`url` of {what} must start with `mysql://`"),
            )
            .label(url.span, "not a mysql:// URL")
            .help("the form is mysql://user:password@host:3306/database"),
        );
        return None;
    }
    let password_env = url_node.as_scalar().and_then(|u| {
        let (start, end) = url_password(&u.value)?;
        u.env_parts
            .iter()
            .find(|p| (p.start, p.end) == (start, end))
            .map(|p| p.name.clone())
    });
    let server_id = f.get("server_id").and_then(|n| {
        let id = d.uint(n, "`server_id`", u64::from(u32::MAX))?;
        if id.value == 0 {
            d.error(
                Diagnostic::error("config::mysql-server-id", "`server_id` 0 is refused by the server for a replica")
                    .label(id.span, "must be 1 or more")
                    .help("pick an id no other server or replica of this server uses, or leave `server_id` out for one derived from the app's name"),
            );
            return None;
        }
        Some(id)
    });
    Some(MySqlConfig {
        url,
        server_id,
        password_env,
    })
}

fn decode_local_storage(d: &mut Decoder, node: &Node, what: &str) -> Option<FileStorage> {
    let f = d.fields(
        node,
        &format!("the `!LocalStorage` config of {what}"),
        &["details", "tables"],
    )?;
    let details = d.required(&f, "details", "{ path: ./data }");
    let path = details.and_then(|n| {
        let df = d.fields(n, &format!("`details` of {what}"), &["path"])?;
        d.required(&df, "path", "./data")
            .and_then(|p| d.name(p, "`details.path`"))
    });
    let tables = decode_file_tables(d, &f, what);
    Some(FileStorage {
        store: FileStore::Local { path: path? },
        tables,
    })
}

/// `!S3Storage { details: { bucket_name, region, access_key_id, secret_access_key, endpoint },
/// tables }`: Dozer's keys, `endpoint` ours (S3-compatible stores). Every key but the bucket may
/// be left to the app's `AWS_*` environment.
fn decode_s3_storage(d: &mut Decoder, node: &Node, what: &str) -> Option<FileStorage> {
    let f = d.fields(
        node,
        &format!("the `!S3Storage` config of {what}"),
        &["details", "tables"],
    )?;
    let details = d.required(
        &f,
        "details",
        "{ bucket_name: my-bucket, region: us-east-1 }",
    )?;
    let df = d.fields(
        details,
        &format!("`details` of {what}"),
        &[
            "bucket_name",
            "region",
            "endpoint",
            "access_key_id",
            "secret_access_key",
        ],
    )?;
    let bucket_name = d
        .required(&df, "bucket_name", "my-bucket")
        .and_then(|n| d.name(n, "`details.bucket_name`"));
    let env = |key: &str| {
        df.get(key)
            .and_then(|n| n.as_scalar())
            .and_then(|s| s.env.clone())
    };
    let endpoint = opt_string(d, &df, "endpoint", what);
    if let Some(e) = endpoint
        .as_ref()
        .filter(|e| !(e.value.starts_with("http://") || e.value.starts_with("https://")))
    {
        d.error(
            Diagnostic::error(
                "config::invalid-value",
                "`endpoint` must be a URL starting with http:// or https://",
            )
            .label(e.span, "not an http(s) URL")
            .help(
                "write the store's address with its scheme, e.g. `endpoint: http://127.0.0.1:9000`",
            ),
        );
    }
    let details = S3Details {
        bucket_name: bucket_name?,
        region: opt_string(d, &df, "region", what),
        endpoint,
        access_key_id: opt_string(d, &df, "access_key_id", what),
        secret_access_key: opt_string(d, &df, "secret_access_key", what),
        access_key_id_env: env("access_key_id"),
        secret_access_key_env: env("secret_access_key"),
    };
    let tables = decode_file_tables(d, &f, what);
    Some(FileStorage {
        store: FileStore::S3(Box::new(details)),
        tables,
    })
}

/// `!Grpc { host, port, schemas: !Inline '<json>' | !Path <file>, adapter }`, Dozer's keys.
fn decode_grpc(d: &mut Decoder, node: &Node, what: &str) -> Option<GrpcConfig> {
    let f = d.fields(
        node,
        &format!("the `!Grpc` config of {what}"),
        &["host", "port", "schemas", "adapter"],
    )?;
    let schemas_node = d.required(&f, "schemas", "!Path ./schemas.json")?;
    let kind = d.tag(
        schemas_node,
        &format!("`schemas` of {what}"),
        &["Inline", "Path"],
    )?;
    let text = d.string(schemas_node, &format!("`schemas` of {what}"))?;
    let schemas = match kind.as_str() {
        "Inline" => GrpcSchemas::Inline(text),
        _ => GrpcSchemas::Path(text),
    };
    Some(GrpcConfig {
        host: opt_string(d, &f, "host", what),
        port: f
            .get("port")
            .and_then(|n| d.uint(n, "`port`", u64::from(u16::MAX))),
        schemas,
        adapter: f
            .get("adapter")
            .and_then(|n| d.choice(n, "adapter", &["default", "arrow"])),
    })
}

/// `!DeltaLake { tables: [{ name, path }] }`, Dozer's keys: each table a folder holding a
/// `_delta_log/`, on the app's disk or at an `s3://bucket/prefix` URL.
fn decode_delta_lake(d: &mut Decoder, node: &Node, what: &str) -> Option<FileStorage> {
    let f = d.fields(
        node,
        &format!("the `!DeltaLake` config of {what}"),
        &["tables"],
    )?;
    let mut tables = vec![];
    if let Some(t) = d.required(&f, "tables", "[{ name: orders, path: ./lake/orders }]") {
        for (i, tn) in d.list(t, "`tables`").iter().enumerate() {
            let what = format!("table #{} of {what}", i + 1);
            let Some(tf) = d.fields(tn, &what, &["name", "path"]) else {
                continue;
            };
            let name = d
                .required(&tf, "name", "orders")
                .and_then(|n| d.name(n, "the table `name`"));
            let path = d
                .required(&tf, "path", "./lake/orders")
                .and_then(|n| d.name(n, "the table `path`"));
            if let Some(p) = &path {
                let bucket = p
                    .value
                    .strip_prefix("s3://")
                    .map(|r| r.split('/').next().unwrap_or(""));
                if bucket == Some("") || (p.value.contains("://") && bucket.is_none()) {
                    d.error(
                        Diagnostic::error("config::invalid-value", "a Delta table's `path` is a folder or an `s3://bucket/prefix` URL")
                            .label(p.span, "not a folder or an s3:// URL with a bucket")
                            .help("e.g. `path: ./lake/orders` or `path: s3://my-bucket/lake/orders`; for another S3-compatible store use `!S3Storage` (with `endpoint`) and `!Delta { path }` tables"),
                    );
                    continue;
                }
            }
            let (Some(name), Some(path)) = (name, path) else {
                continue;
            };
            tables.push(FileTable {
                name,
                format: FileFormat::Delta,
                format_span: tn.span,
                path,
                extension: String::new(),
                has_header: false,
                delimiter: b',',
                column_types: vec![],
                quiet_period_ms: None,
                marker_extension: None,
            });
        }
    }
    Some(FileStorage {
        store: FileStore::DeltaLake,
        tables,
    })
}

fn decode_file_tables(d: &mut Decoder, f: &Fields, what: &str) -> Vec<FileTable> {
    let mut tables = vec![];
    if let Some(t) = d.required(
        f,
        "tables",
        "[!Table { name: t, config: !CSV { path: t, extension: .csv } }]",
    ) {
        for (i, tn) in d.list(t, "`tables`").iter().enumerate() {
            if let Some(table) = decode_file_table(d, tn, i, what) {
                tables.push(table);
            }
        }
    }
    tables
}

fn decode_file_table(d: &mut Decoder, node: &Node, i: usize, conn: &str) -> Option<FileTable> {
    if node.tag.is_some() {
        d.tag(node, &format!("table #{} of {conn}", i + 1), &["Table"]);
    }
    let what = format!("table #{} of {conn}", i + 1);
    let f = d.fields(node, &what, &["name", "config"])?;
    let name = d
        .required(&f, "name", "my_table")
        .and_then(|n| d.name(n, "the table `name`"));
    let config = d.required(&f, "config", "!CSV { path: my_table, extension: .csv }")?;
    let kind = d.tag(
        config,
        &format!("the config of {what}"),
        &["CSV", "Parquet", "JSONL", "Delta"],
    )?;
    let format = match kind.as_str() {
        "CSV" => FileFormat::Csv,
        "Parquet" => FileFormat::Parquet,
        "JSONL" => FileFormat::JsonLines,
        _ => FileFormat::Delta,
    };
    let keys: &[&str] = match format {
        FileFormat::Csv => &[
            "path",
            "extension",
            "marker_extension",
            "marker_file",
            "has_header",
            "delimiter",
            "columns",
            "quiet_period",
        ],
        FileFormat::JsonLines => &[
            "path",
            "extension",
            "marker_extension",
            "marker_file",
            "columns",
            "quiet_period",
        ],
        FileFormat::Parquet => &["path", "extension", "marker_extension", "marker_file"],
        FileFormat::Delta => &["path"],
    };
    let cf = d.fields(config, &format!("the `!{kind}` config of {what}"), keys)?;
    let path = d
        .required(&cf, "path", "folder_with_files")
        .and_then(|n| d.name(n, "the table `path`"));
    let mut extension = cf
        .get("extension")
        .and_then(|n| d.name(n, "`extension`"))
        .map_or_else(|| format.default_extension().to_string(), |s| s.value);
    if !extension.is_empty() && !extension.starts_with('.') {
        extension.insert(0, '.');
    }
    // Dozer's markers: `a.csv` is read once `a.marker` exists (the writer creates the marker
    // after the data file is complete).
    let marker_file = cf
        .get("marker_file")
        .and_then(|n| d.bool(n, "`marker_file`"));
    let mut marker_extension = match cf
        .get("marker_extension")
        .and_then(|n| d.name(n, "`marker_extension`"))
    {
        Some(m) if m.value.trim_start_matches('.') == extension.trim_start_matches('.') => {
            d.error(
                Diagnostic::error(
                    "config::marker-extension",
                    "the marker extension is the data files' own",
                )
                .label(m.span, "every data file would be its own marker")
                .help("use another extension for markers, e.g. `marker_extension: .marker`"),
            );
            None
        }
        Some(m) => Some(m.value),
        None => (marker_file == Some(true)).then(|| ".marker".to_string()),
    };
    if marker_file == Some(false) {
        marker_extension = None;
    }
    if let Some(m) = marker_extension.as_mut().filter(|m| !m.starts_with('.')) {
        m.insert(0, '.');
    }
    let has_header = cf
        .get("has_header")
        .and_then(|n| d.bool(n, "`has_header`"))
        .unwrap_or(true);
    let delimiter = match cf.get("delimiter").and_then(|n| d.string(n, "`delimiter`")) {
        Some(s) if s.value.len() == 1 && s.value.is_ascii() => s.value.as_bytes()[0],
        Some(s) => {
            d.error(
                Diagnostic::error(
                    "config::invalid-value",
                    "the CSV `delimiter` must be a single ASCII character",
                )
                .label(s.span, "not one ASCII character")
                .help("for tab-separated files write `delimiter: \"\\t\"`"),
            );
            b','
        }
        None => b',',
    };
    let column_types = cf
        .get("columns")
        .map(|n| decode_column_overrides(d, n))
        .unwrap_or_default();
    let quiet_period_ms = cf
        .get("quiet_period")
        .and_then(|n| d.duration(n, "`quiet_period`"));
    Some(FileTable {
        name: name?,
        format,
        format_span: config.span,
        path: path?,
        extension,
        has_header,
        delimiter,
        column_types,
        quiet_period_ms,
        marker_extension,
    })
}

/// `columns: { Name: int, Other: { type: decimal, nullable: true } }`
fn decode_column_overrides(d: &mut Decoder, node: &Node) -> Vec<ColumnOverride> {
    let NodeKind::Map(entries) = &node.kind else {
        d.fields(node, "`columns`", &[]);
        return vec![];
    };
    let mut out = vec![];
    for (k, v) in entries {
        let Some(name) = d.name(k, "a column name in `columns`") else {
            continue;
        };
        let (ty_node, nullable) = match &v.kind {
            NodeKind::Map(_) => {
                let Some(f) = d.fields(
                    v,
                    &format!("the override of column `{}`", name.value),
                    &["type", "nullable"],
                ) else {
                    continue;
                };
                let nullable = f.get("nullable").and_then(|n| d.bool(n, "`nullable`"));
                (d.required(&f, "type", "decimal"), nullable)
            }
            _ => (Some(v), None),
        };
        let Some(ty_node) = ty_node else { continue };
        let Some(ty_name) = d.string(ty_node, "a column type") else {
            continue;
        };
        match SqlType::from_name(&ty_name.value) {
            Some(ty) => out.push(ColumnOverride {
                name,
                ty: Spanned::new(ty, ty_name.span),
                nullable,
            }),
            None => {
                let names: Vec<&str> = SqlType::ALL.iter().map(|t| t.name()).collect();
                let mut diag = Diagnostic::error(
                    "config::unknown-type",
                    format!("unknown column type `{}`", ty_name.value),
                )
                .label(ty_name.span, "unknown type");
                diag = diag.suggest(&ty_name.value, &names, |names| {
                    format!("types: {}", names.join(", "))
                });
                d.error(diag);
            }
        }
    }
    out
}

fn decode_source(d: &mut Decoder, node: &Node, i: usize) -> Option<Source> {
    let what = format!("source #{}", i + 1);
    let f = d.fields(
        node,
        &what,
        &[
            "name",
            "table_name",
            "connection",
            "columns",
            "schema",
            "refresh_config",
        ],
    )?;
    if let Some(n) = f.get("refresh_config") {
        // Dozer's only variant: sources are followed as they change, which is what dozerc does.
        let real_time = match (&n.tag, n.as_scalar()) {
            (Some(tag), _) => tag.trim_start_matches('!') == "RealTime",
            (None, Some(s)) => s.value == "RealTime",
            _ => false,
        };
        if !real_time {
            // A bare tag has no value, and so no span of its own: the key's.
            let span = f.key_span("refresh_config").unwrap_or(n.span);
            d.error(
                Diagnostic::error("config::refresh-config", "`refresh_config` can only be `!RealTime`")
                    .label(span, "expected !RealTime")
                    .help("sources are followed as they change (Dozer's `RealTime`, its only variant); write `refresh_config: !RealTime` or remove the key"),
            );
        }
    }
    let name = d
        .required(&f, "name", "my_table")
        .and_then(|n| d.name(n, "the source `name`"));
    let what = name
        .as_ref()
        .map_or(what, |n| format!("source `{}`", n.value));
    let table_name = d
        .required(&f, "table_name", "my_table")
        .and_then(|n| d.name(n, &format!("`table_name` of {what}")));
    let connection = d
        .required(&f, "connection", "my_connection")
        .and_then(|n| d.name(n, &format!("`connection` of {what}")));
    let columns = f
        .get("columns")
        .map(|n| d.string_list(n, &format!("`columns` of {what}")));
    let columns = columns.filter(|c| !c.is_empty());
    let schema = f
        .get("schema")
        .and_then(|n| d.name(n, &format!("`schema` of {what}")));
    Some(Source {
        name: name?,
        table_name: table_name?,
        connection: connection?,
        columns,
        schema,
        span: node.span,
    })
}

/// Dozer's endpoint keys that have nothing to do in dozerc: accepted, with a warning saying why.
fn ignored_endpoint_keys(d: &mut Decoder, f: &Fields) {
    if let Some(n) = f.get("version") {
        let _ = d.uint(n, "`version`", u64::from(u32::MAX));
        let span = f.key_span("version").unwrap_or(n.span);
        d.error(
            Diagnostic::warning("config::ignored-key", "an endpoint's `version` has no effect in dozerc")
                .label(span, "ignored")
                .help("an endpoint is served at its `path` as the app was built; a changed query is a new build (and a new store); remove the key"),
        );
    }
    if let Some(n) = f.get("log_reader_options") {
        let _ = d.fields(
            n,
            "`log_reader_options`",
            &["batch_size", "timeout_in_millis", "buffer_size"],
        );
        let span = f.key_span("log_reader_options").unwrap_or(n.span);
        d.error(
            Diagnostic::warning("config::ignored-key", "`log_reader_options` has no effect in dozerc")
                .label(span, "ignored")
                .help("the API reads endpoint tables from the store, with no log reader between; remove the key"),
        );
    }
}

fn decode_endpoint(d: &mut Decoder, node: &Node, i: usize) -> Option<Endpoint> {
    let what = format!("endpoint #{}", i + 1);
    let f = d.fields(
        node,
        &what,
        &[
            "name",
            "path",
            "table_name",
            "index",
            "conflict_resolution",
            "cache_control",
            "version",
            "log_reader_options",
        ],
    )?;
    ignored_endpoint_keys(d, &f);
    let name = d
        .required(&f, "name", "my_endpoint")
        .and_then(|n| d.name(n, "the endpoint `name`"));
    let what = name
        .as_ref()
        .map_or(what, |n| format!("endpoint `{}`", n.value));
    let path = d
        .required(&f, "path", "/my_endpoint")
        .and_then(|n| d.name(n, &format!("`path` of {what}")));
    let table_name = d
        .required(&f, "table_name", "my_table")
        .and_then(|n| d.name(n, &format!("`table_name` of {what}")));
    let mut primary_key = None;
    let mut skip_default = vec![];
    let mut secondary = vec![];
    if let Some(index) = f.get("index") {
        if let Some(fi) = d.fields(
            index,
            &format!("`index` of {what}"),
            &["primary_key", "secondary"],
        ) {
            primary_key = fi
                .get("primary_key")
                .map(|n| d.string_list(n, "`primary_key`"));
            if let Some(sec) = fi.get("secondary") {
                if let Some(fs) = d.fields(sec, "`index.secondary`", &["skip_default", "create"]) {
                    if let Some(n) = fs.get("skip_default") {
                        skip_default = d.string_list(n, "`skip_default`");
                    }
                    if let Some(n) = fs.get("create") {
                        for item in d.list(n, "`create`") {
                            if let Some(ix) = decode_secondary_index(d, item) {
                                secondary.push(ix);
                            }
                        }
                    }
                }
            }
        }
    }
    let mut conflict_resolution = ConflictResolution::default();
    if let Some(cr) = f.get("conflict_resolution") {
        if let Some(fc) = d.fields(
            cr,
            "`conflict_resolution`",
            &["on_insert", "on_update", "on_delete"],
        ) {
            if let Some(v) = fc
                .get("on_insert")
                .and_then(|n| d.choice(n, "`on_insert` action", &["Nothing", "Update", "Panic"]))
            {
                conflict_resolution.on_insert = match v.value.as_str() {
                    "Update" => OnInsert::Update,
                    "Panic" => OnInsert::Panic,
                    _ => OnInsert::Nothing,
                };
            }
            if let Some(v) = fc
                .get("on_update")
                .and_then(|n| d.choice(n, "`on_update` action", &["Nothing", "Upsert", "Panic"]))
            {
                conflict_resolution.on_update = match v.value.as_str() {
                    "Upsert" => OnUpdate::Upsert,
                    "Panic" => OnUpdate::Panic,
                    _ => OnUpdate::Nothing,
                };
            }
            if let Some(v) = fc
                .get("on_delete")
                .and_then(|n| d.choice(n, "`on_delete` action", &["Nothing", "Panic"]))
            {
                conflict_resolution.on_delete = if v.value == "Panic" {
                    OnDelete::Panic
                } else {
                    OnDelete::Nothing
                };
            }
        }
    }
    let cache_control = f
        .get("cache_control")
        .and_then(|n| d.string(n, &format!("`cache_control` of {what}")))
        .and_then(|v| {
            // A header value: visible ASCII and blanks (RFC 9110).
            let bad = v.value.bytes().find(|b| !(b" \t".contains(b) || b.is_ascii_graphic()));
            if bad.is_none() && !v.value.trim().is_empty() {
                return Some(v);
            }
            d.error(
                Diagnostic::error(
                    "config::bad-cache-control",
                    format!("`cache_control` of {what} is not an HTTP header value"),
                )
                .label(v.span, "printable ASCII only, and not empty")
                .help("give directives like `no-cache` or `public, max-age=5, stale-while-revalidate=30`"),
            );
            None
        });
    Some(Endpoint {
        name: name?,
        path: path?,
        table_name: table_name?,
        cache_control,
        primary_key,
        skip_default,
        secondary,
        conflict_resolution,
        span: node.span,
    })
}

fn decode_secondary_index(d: &mut Decoder, node: &Node) -> Option<SecondaryIndex> {
    let kind = d.tag(node, "a secondary index", &["SortedInverted", "FullText"])?;
    if kind == "SortedInverted" {
        let f = d.fields(node, "a `!SortedInverted` index", &["fields"])?;
        let fields = d
            .required(&f, "fields", "[a, b]")
            .map(|n| d.string_list(n, "`fields`"))?;
        if fields.is_empty() {
            d.error(
                Diagnostic::error(
                    "config::empty-index",
                    "a `!SortedInverted` index needs at least one field",
                )
                .label(node.span, "no fields")
                .help("list the fields to sort by: `fields: [a, b]`"),
            );
        }
        Some(SecondaryIndex::SortedInverted {
            fields,
            span: node.span,
        })
    } else {
        let f = d.fields(node, "a `!FullText` index", &["field"])?;
        let field = d
            .required(&f, "field", "description")
            .and_then(|n| d.name(n, "`field`"))?;
        Some(SecondaryIndex::FullText {
            field,
            span: node.span,
        })
    }
}

/// The byte range of the password in a `scheme://user:password@host/...` URL (PostgreSQL's and
/// MySQL's).
fn url_password(url: &str) -> Option<(usize, usize)> {
    let authority = url.find("://")? + 3;
    let end = url[authority..]
        .find(['/', '?'])
        .map_or(url.len(), |i| authority + i);
    let at = url[authority..end].rfind('@')? + authority;
    let colon = url[authority..at].find(':')? + authority;
    Some((colon + 1, at))
}

fn decode_server(
    d: &mut Decoder,
    node: &Node,
    what: &str,
    default: ServerAddr,
    grpc: bool,
) -> ServerAddr {
    let mut out = default;
    let keys: &[&str] = if grpc {
        &["port", "host", "cors", "enabled", "web"]
    } else {
        &["port", "host", "cors", "enabled"]
    };
    if let Some(f) = d.fields(node, what, keys) {
        if let Some(n) = f.get("cors") {
            if let Some(cors) = decode_cors(d, n, &format!("`cors` of {what}")) {
                out.cors = cors;
            }
        }
        if let Some(v) = f
            .get("enabled")
            .and_then(|n| d.bool(n, &format!("`enabled` of {what}")))
        {
            out.enabled = v;
        }
        if let Some(v) = f
            .get("web")
            .and_then(|n| d.bool(n, &format!("`web` of {what}")))
        {
            out.web = Some(v);
        }
        if let Some(p) = f
            .get("port")
            .and_then(|n| d.uint(n, "`port`", u64::from(u16::MAX)))
        {
            out.port = p.value as u16;
        }
        if let Some(h) = f.get("host").and_then(|n| d.name(n, "`host`")) {
            out.host = h.value;
        }
    }
    out
}

/// `cors: true|false` (Dozer's), or a list of the origins allowed (`https://app.example.com`,
/// `http://localhost:5173`; `"*"` is any).
fn decode_cors(d: &mut Decoder, node: &Node, what: &str) -> Option<Cors> {
    if let NodeKind::Seq(_) = &node.kind {
        let mut origins = vec![];
        for origin in d.string_list(node, what) {
            let text = origin.value.trim_end_matches('/');
            if text == "*" {
                return Some(Cors::AnyOrigin);
            }
            let valid = text.split_once("://").is_some_and(|(scheme, rest)| {
                matches!(scheme, "http" | "https")
                    && !rest.is_empty()
                    && !rest.contains(['/', '?', '#', ' '])
            });
            if !valid {
                d.error(
                    Diagnostic::error(
                        "config::cors-origin",
                        format!("`{}` is not an origin", origin.value),
                    )
                    .label(origin.span, "expected scheme://host[:port]")
                    .help("an origin is what a browser sends in `Origin`: e.g. `https://app.example.com` or `http://localhost:5173`, no path"),
                );
                continue;
            }
            origins.push(text.to_string());
        }
        return Some(Cors::Origins(origins));
    }
    Some(
        if d.bool(node, &format!("{what} (true, false or a list of origins)"))? {
            Cors::AnyOrigin
        } else {
            Cors::Off
        },
    )
}

fn decode_api(d: &mut Decoder, node: &Node) -> Api {
    let mut api = Api::default();
    let Some(f) = d.fields(
        node,
        "`api`",
        &[
            "api_security",
            "rest",
            "grpc",
            "app_grpc",
            "default_max_num_records",
            "event_retention",
            "max_limit",
            "max_scan",
            "jwt_leeway",
            "token_ttl",
        ],
    ) else {
        return api;
    };
    if let Some(sec) = f.get("api_security") {
        if d.tag(sec, "`api_security`", &["Jwt"]).is_some() {
            api.jwt_secret = d.string(sec, "the JWT secret");
            if api.jwt_secret.as_ref().is_some_and(|s| s.value.is_empty()) {
                d.error(
                    Diagnostic::error("config::empty-secret", "the JWT secret is empty")
                        .label(sec.span, "anyone could sign tokens with it")
                        .help("write a long random string, or `\"{{JWT_SECRET}}\"` to take it from the environment when building"),
                );
                api.jwt_secret = None;
            }
            api.jwt_secret_env = sec.as_scalar().and_then(|s| s.env.clone());
        }
    }
    if let Some(n) = f.get("jwt_leeway") {
        api.jwt_leeway_ms = d.duration(n, "`jwt_leeway`");
    }
    if let Some(n) = f.get("token_ttl") {
        api.token_ttl_ms = d.duration(n, "`token_ttl`");
        if let Some(t) = api.token_ttl_ms.as_ref().filter(|t| t.value < 1000) {
            d.error(
                Diagnostic::error("config::token-ttl", "`token_ttl` is shorter than a second")
                    .label(t.span, "token expiry is counted in seconds")
                    .help("give it at least 1 SECOND"),
            );
        }
    }
    if let Some(n) = f.get("rest") {
        api.rest = decode_server(d, n, "`api.rest`", api.rest.clone(), false);
    }
    if let Some(n) = f.get("grpc") {
        api.grpc = decode_server(d, n, "`api.grpc`", api.grpc.clone(), true);
    }
    if let Some(n) = f.get("app_grpc") {
        // Dozer's internal log server, which its `dozer run api` processes read from.
        let _ = d.fields(n, "`api.app_grpc`", &["port", "host"]);
        let span = f.key_span("app_grpc").unwrap_or(n.span);
        d.error(
            Diagnostic::warning(
                "config::ignored-key",
                "`api.app_grpc` has no effect in dozerc",
            )
            .label(span, "ignored")
            .help("`<app> api` processes read the store directly, with no log server between; remove the key"),
        );
    }
    let default_span = f.get("default_max_num_records").map(|n| n.span);
    if let Some(n) = f
        .get("default_max_num_records")
        .and_then(|n| d.uint(n, "`default_max_num_records`", 1_000_000))
    {
        api.default_max_num_records = n.value;
    }
    if let Some(n) = f.get("event_retention") {
        api.event_retention_ms = d.duration(n, "`event_retention`");
    }
    if let Some(n) = f
        .get("max_limit")
        .and_then(|n| d.uint(n, "`max_limit`", 1_000_000))
    {
        api.max_limit = n.value;
    }
    if let Some(n) = f
        .get("max_scan")
        .and_then(|n| d.uint(n, "`max_scan`", u64::from(u32::MAX)))
    {
        api.max_scan = n.value;
    }
    if let Some(span) = default_span.filter(|_| api.default_max_num_records > api.max_limit) {
        d.error(
            Diagnostic::error(
                "config::default-above-max",
                format!(
                    "`default_max_num_records` is {}, above `max_limit` ({})",
                    api.default_max_num_records, api.max_limit
                ),
            )
            .label(span, "more than a query may ask for")
            .help("lower it, or raise `api.max_limit`"),
        );
    }
    api
}

fn decode_flags(d: &mut Decoder, node: &Node) -> Flags {
    let mut flags = Flags::default();
    let keys = [
        "dynamic",
        "grpc_web",
        "push_events",
        "authenticate_server_reflection",
    ];
    let Some(f) = d.fields(
        node,
        "`flags`",
        &[&keys[..], &["enable_probabilistic_optimizations"]].concat(),
    ) else {
        return flags;
    };
    if let Some(n) = f.get("enable_probabilistic_optimizations") {
        let _ = d.fields(
            n,
            "`flags.enable_probabilistic_optimizations`",
            &["in_sets", "in_joins", "in_aggregations"],
        );
        let span = f
            .key_span("enable_probabilistic_optimizations")
            .unwrap_or(n.span);
        d.error(
            Diagnostic::warning(
                "config::ignored-key",
                "`flags.enable_probabilistic_optimizations` has no effect in dozerc",
            )
            .label(span, "ignored")
            .help("dozerc keeps every result exact (no approximate sets, joins or aggregates); remove the key"),
        );
    }
    for key in keys {
        if let Some(v) = f
            .get(key)
            .and_then(|n| d.bool(n, &format!("`flags.{key}`")))
        {
            match key {
                "dynamic" => flags.dynamic = v,
                "grpc_web" => flags.grpc_web = v,
                "push_events" => flags.push_events = v,
                _ => flags.authenticate_server_reflection = v,
            }
        }
    }
    flags
}

fn decode_app(d: &mut Decoder, node: &Node) -> AppOptions {
    let mut app = AppOptions::default();
    let keys = [
        "app_buffer_size",
        "commit_size",
        "commit_timeout",
        "error_threshold",
        "persist_queue_capacity",
        "max_num_records_before_persist",
        "max_interval_before_persist_in_seconds",
        "on_bad_record",
        "data_storage",
    ];
    let Some(f) = d.fields(node, "`app`", &keys) else {
        return app;
    };
    let num = |d: &mut Decoder, key: &str| {
        f.get(key)
            .and_then(|n| d.uint(n, &format!("`app.{key}`"), u64::MAX))
            .map(|v| v.value)
    };
    if let Some(n) = f.get("data_storage") {
        // Dozer's `!Local` / `!S3 { region, bucket_name }`: where it kept its pipeline logs.
        let _ = d.tag(n, "`app.data_storage`", &["Local", "S3"]);
        let span = f.key_span("data_storage").unwrap_or(n.span);
        d.error(
            Diagnostic::warning(
                "config::ignored-key",
                "`app.data_storage` has no effect in dozerc",
            )
            .label(span, "ignored")
            .help("dozerc keeps no pipeline log beside its store (`home_dir`); remove the key"),
        );
    }
    app.app_buffer_size = num(d, "app_buffer_size");
    app.commit_size = num(d, "commit_size");
    if app.commit_size == Some(0) {
        let span = f.key_span("commit_size").unwrap_or(f.span);
        d.error(
            Diagnostic::error(
                "config::out-of-range",
                "`app.commit_size` must be at least 1",
            )
            .label(span, "zero")
            .help("give the number of source records per transaction, e.g. 10000"),
        );
    }
    app.commit_timeout = num(d, "commit_timeout");
    app.error_threshold = num(d, "error_threshold");
    // Dozer's buffering and persistence tuning: dozerc commits every source batch atomically as
    // soon as it is read, so these have nothing to tune. Accepted for compatibility, with a
    // warning rather than silence.
    let ignored = [
        (
            "app_buffer_size",
            "dozerc passes each source chunk through the whole pipeline at once",
        ),
        (
            "commit_timeout",
            "dozerc commits each source chunk or transaction as soon as it is read",
        ),
        (
            "error_threshold",
            "use `app.on_bad_record: skip` to skip (and count) unreadable records",
        ),
        (
            "persist_queue_capacity",
            "dozerc persists every source transaction or file chunk atomically",
        ),
        (
            "max_num_records_before_persist",
            "dozerc persists every source transaction or file chunk atomically",
        ),
        (
            "max_interval_before_persist_in_seconds",
            "dozerc persists every source transaction or file chunk atomically",
        ),
    ];
    for (key, why) in ignored {
        if f.get(key).is_some() {
            let span = f.key_span(key).unwrap_or(f.span);
            d.error(
                Diagnostic::warning(
                    "config::ignored-key",
                    format!("`app.{key}` has no effect in dozerc"),
                )
                .label(span, "ignored")
                .help(format!("{why}; remove the key")),
            );
        }
    }
    for key in [
        "persist_queue_capacity",
        "max_num_records_before_persist",
        "max_interval_before_persist_in_seconds",
    ] {
        num(d, key);
    }
    if let Some(v) = f
        .get("on_bad_record")
        .and_then(|n| d.choice(n, "`on_bad_record` action", &["fail", "skip"]))
    {
        app.on_bad_record = if v.value == "skip" {
            OnBadRecord::Skip
        } else {
            OnBadRecord::Fail
        };
    }
    app
}
