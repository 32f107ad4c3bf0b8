//! The checked program: everything code generation needs, resolved once after a clean check —
//! the app's settings, every source with its schema and how to read it, the queries in the order
//! they are computed, and the endpoints with their keys, indexes and conflict rules.
//!
//! Code generation reads this and the plans only; it never looks at the config or the sources
//! again, so what it emits cannot disagree with what `check` validated.

use std::path::PathBuf;

use crate::catalog::read::SourceRead;
use crate::catalog::{Catalog, TableSchema};
use crate::config::{self, Config, Cors, OnBadRecord};
use crate::diagnostic::Span;
use crate::sql::BoundQuery;

/// An app, ready for code generation.
#[derive(Clone, Debug)]
pub struct Program {
    /// The app's name as the config writes it.
    pub app_name: String,
    /// Where the app keeps its store, as the config writes it (`home_dir`).
    pub home_dir: String,
    /// The directory relative paths of the config are resolved against.
    pub base_dir: PathBuf,
    /// The sources, in config order.
    pub sources: Vec<ProgramSource>,
    /// The queries, each after the queries whose results it reads.
    pub queries: Vec<BoundQuery>,
    /// The endpoints, in config order.
    pub endpoints: Vec<ProgramEndpoint>,
    pub settings: Settings,
}

/// A source: its schema and how the app reads it.
#[derive(Clone, Debug)]
pub struct ProgramSource {
    pub name: String,
    pub schema: TableSchema,
    /// `None`: a kind of source apps do not read yet (check reports it where the config names it).
    pub read: Option<SourceRead>,
}

/// An endpoint as the config declares it, by column name (code generation numbers the columns).
#[derive(Clone, Debug)]
pub struct ProgramEndpoint {
    pub name: String,
    pub path: String,
    /// The source or INTO table it serves.
    pub table: String,
    /// Where the config names the endpoint.
    pub at: Span,
    /// `index.primary_key`, when the config gives one.
    pub primary_key: Option<Vec<String>>,
    /// Conflict resolution of a declared primary key: insert, update, delete.
    pub on_insert: OnConflict,
    pub on_update: OnConflict,
    pub on_delete: OnConflict,
    /// Fields without Dozer's default sorted index (`index.skip_default`).
    pub skip_default: Vec<String>,
    pub secondary: Vec<Secondary>,
    /// The `Cache-Control` of its read answers (`None`: the runtime's default).
    pub cache_control: Option<String>,
}

/// What a change that conflicts with the table does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnConflict {
    Nothing,
    Apply,
    Fail,
}

/// A secondary index the config asks for.
#[derive(Clone, Debug)]
pub enum Secondary {
    Sorted(Vec<String>),
    FullText { field: String, at: Span },
}

/// The app's settings (the config's `api`, `flags`, `app` and cache sections).
#[derive(Clone, Debug)]
pub struct Settings {
    pub map_size: Option<u64>,
    pub skip_bad_records: bool,
    /// Source records per transaction (`app.commit_size`), if the config sets it.
    pub commit_size: Option<u64>,
    pub rest_host: String,
    pub rest_port: u16,
    pub grpc_host: String,
    pub grpc_port: u16,
    /// `api.rest.cors`, `api.grpc.cors` (the gRPC one applies to gRPC-Web, which browsers call).
    pub rest_cors: Cors,
    pub grpc_cors: Cors,
    /// `api.rest.enabled`, `api.grpc.enabled`.
    pub rest_enabled: bool,
    pub grpc_enabled: bool,
    pub default_limit: u64,
    pub max_limit: u64,
    pub max_scan: u64,
    pub jwt_secret: JwtSecret,
    pub jwt_leeway_ms: Option<i64>,
    pub token_ttl_ms: Option<i64>,
    pub event_retention_ms: Option<i64>,
    /// `flags.dynamic`: typed gRPC services per endpoint.
    pub typed_grpc: bool,
    pub grpc_web: bool,
    pub push_events: bool,
    pub authenticate_reflection: bool,
}

/// Where the app's JWT secret comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwtSecret {
    /// No authentication (unless DOZER_MASTER_SECRET is set when the app starts).
    None,
    /// Written in the config (and so compiled in).
    Literal(String),
    /// Read from this environment variable when the app starts.
    Env(String),
}

impl Program {
    /// The program of a config that checked: its sources' schemas and reads from `catalog`,
    /// `queries` as the binder ordered them.
    pub fn new(config: &Config, catalog: &Catalog, queries: &[BoundQuery]) -> Program {
        let sources = config
            .sources
            .iter()
            .filter_map(|s| {
                let entry = catalog.sources.get(&s.name.value)?;
                Some(ProgramSource {
                    name: s.name.value.clone(),
                    schema: entry.schema.clone(),
                    read: entry.read.clone(),
                })
            })
            .collect();
        let endpoints = config.endpoints.iter().map(endpoint).collect();
        let api = &config.api;
        let settings = Settings {
            map_size: config.cache_max_map_size.as_ref().map(|m| m.value),
            skip_bad_records: config.app.on_bad_record == OnBadRecord::Skip,
            commit_size: config.app.commit_size,
            rest_host: api.rest.host.clone(),
            rest_port: api.rest.port,
            grpc_host: api.grpc.host.clone(),
            grpc_port: api.grpc.port,
            rest_cors: api.rest.cors.clone(),
            grpc_cors: api.grpc.cors.clone(),
            rest_enabled: api.rest.enabled,
            grpc_enabled: api.grpc.enabled,
            default_limit: api.default_max_num_records,
            max_limit: api.max_limit,
            max_scan: api.max_scan,
            jwt_secret: match (&api.jwt_secret_env, &api.jwt_secret) {
                (Some(var), _) => JwtSecret::Env(var.clone()),
                (None, Some(secret)) => JwtSecret::Literal(secret.value.clone()),
                (None, None) => JwtSecret::None,
            },
            jwt_leeway_ms: api.jwt_leeway_ms.as_ref().map(|m| m.value),
            token_ttl_ms: api.token_ttl_ms.as_ref().map(|m| m.value),
            event_retention_ms: api.event_retention_ms.as_ref().map(|m| m.value),
            typed_grpc: config.flags.dynamic,
            grpc_web: api.grpc.web.unwrap_or(config.flags.grpc_web),
            push_events: config.flags.push_events,
            authenticate_reflection: config.flags.authenticate_server_reflection,
        };
        Program {
            app_name: config.app_name().to_string(),
            home_dir: config
                .home_dir
                .as_ref()
                .map_or("./.dozer", |h| h.value.as_str())
                .to_string(),
            base_dir: config.base_dir.clone(),
            sources,
            queries: queries.to_vec(),
            endpoints,
            settings,
        }
    }

    /// The app's name as a binary and crate name: `[a-z0-9_-]` only.
    pub fn binary_name(&self) -> String {
        binary_name(&self.app_name)
    }

    pub fn source(&self, name: &str) -> Option<&ProgramSource> {
        self.sources.iter().find(|s| s.name == name)
    }
}

/// `app_name` as a binary and crate name: `[a-z0-9_-]` only, not starting with a digit.
pub fn binary_name(app_name: &str) -> String {
    let name: String = app_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("app-{name}")
    } else {
        name
    }
}

fn endpoint(ep: &config::Endpoint) -> ProgramEndpoint {
    let names = |v: &[config::Spanned<String>]| v.iter().map(|s| s.value.clone()).collect();
    let cr = ep.conflict_resolution;
    ProgramEndpoint {
        name: ep.name.value.clone(),
        path: ep.path.value.clone(),
        table: ep.table_name.value.clone(),
        at: ep.name.span,
        primary_key: ep.primary_key.as_deref().map(names),
        on_insert: match cr.on_insert {
            config::OnInsert::Nothing => OnConflict::Nothing,
            config::OnInsert::Update => OnConflict::Apply,
            config::OnInsert::Panic => OnConflict::Fail,
        },
        on_update: match cr.on_update {
            config::OnUpdate::Nothing => OnConflict::Nothing,
            config::OnUpdate::Upsert => OnConflict::Apply,
            config::OnUpdate::Panic => OnConflict::Fail,
        },
        on_delete: match cr.on_delete {
            config::OnDelete::Nothing => OnConflict::Nothing,
            config::OnDelete::Panic => OnConflict::Fail,
        },
        skip_default: names(&ep.skip_default),
        cache_control: ep.cache_control.as_ref().map(|c| c.value.clone()),
        secondary: ep
            .secondary
            .iter()
            .map(|ix| match ix {
                config::SecondaryIndex::SortedInverted { fields, .. } => {
                    Secondary::Sorted(names(fields))
                }
                config::SecondaryIndex::FullText { field, .. } => Secondary::FullText {
                    field: field.value.clone(),
                    at: field.span,
                },
            })
            .collect(),
    }
}
