//! Code generation: a checked config → the source of an app crate.
//!
//! The crate has `src/pipeline.rs` (generated Rust, see [`pipeline`]); with typed gRPC services
//! (`flags.dynamic`) a `.proto` file per endpoint under `proto/` and their messages in
//! `src/typed.rs` (see [`proto`] and [`typed`]); `Cargo.toml`, `src/main.rs` and `README.md` from
//! the askama templates in `templates/app/`; and the app's OpenAPI document.
//! Output is deterministic — same input, byte-identical files — so rebuilding an unchanged app
//! touches nothing and cargo has nothing to do.

mod contract;
mod error;
mod expr;
mod names;
mod pipeline;
mod proto;
mod typed;

use std::collections::BTreeMap;
use std::path::Path;

use askama::Template;

use crate::program::{JwtSecret, Program};
use crate::sql::BoundQuery;

pub use error::CodegenError;
pub use names::{camel, snake, unique};
pub use pipeline::{fingerprint, ApiEndpoint};

/// Where the emitted crate finds things; everything else comes from the config.
#[derive(Clone, Debug)]
pub struct EmitOptions<'a> {
    /// The `dozer-runtime` crate directory.
    pub runtime_dir: &'a Path,
    /// The config file as the user named it (for comments).
    pub config_name: &'a str,
    /// The config's directory, absolute (source paths and `home_dir` are relative to it).
    pub base_dir: &'a Path,
}

/// The files of an app crate, by path relative to the crate directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppCrate {
    pub files: BTreeMap<String, String>,
    /// The functions of `src/pipeline.rs` by the line they begin on (1-based, in line order),
    /// each with the query it was generated for (an index into the queries as given; `None`
    /// for the wiring every query shares).
    pub query_lines: Vec<(usize, Option<usize>)>,
}

impl AppCrate {
    /// The query whose generated code holds line `line` (1-based) of `src/pipeline.rs`.
    pub fn query_at(&self, line: usize) -> Option<usize> {
        let after = self
            .query_lines
            .partition_point(|(first, _)| *first <= line);
        after.checked_sub(1).and_then(|i| self.query_lines[i].1)
    }
}

/// Every function of the formatted `src/pipeline.rs` with the query it belongs to: the generator
/// names each plan node's method `q<query>_n<node>`.
fn query_lines(code: &str) -> Vec<(usize, Option<usize>)> {
    let mut out = vec![];
    for (i, line) in code.lines().enumerate() {
        let line = line.trim_start();
        let Some(rest) = line
            .strip_prefix("fn ")
            .or_else(|| line.strip_prefix("pub fn "))
        else {
            continue;
        };
        let query = rest.strip_prefix('q').and_then(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            rest[digits.len()..]
                .starts_with("_n")
                .then(|| digits.parse::<usize>().ok())
                .flatten()
        });
        out.push((i + 1, query));
    }
    out
}

#[derive(Template)]
#[template(path = "app/Cargo.toml", escape = "none")]
struct CargoToml<'a> {
    app_name: &'a str,
    crate_name: &'a str,
    config_path: &'a str,
    runtime_path: &'a str,
}

#[derive(Template)]
#[template(path = "app/main.rs", escape = "none")]
struct MainRs<'a> {
    app_name: &'a str,
    app_name_literal: String,
    config_path: &'a str,
    base_dir: String,
    home_dir: String,
    map_size: String,
    skip_bad_records: bool,
    batch_records: u64,
    rest_host: String,
    rest_port: u16,
    grpc_host: String,
    grpc_port: u16,
    /// `CorsPolicy::...` expressions.
    rest_cors: String,
    grpc_cors: String,
    rest_enabled: bool,
    grpc_enabled: bool,
    default_limit: u64,
    max_limit: u64,
    max_scan: u64,
    /// `Some(dozer_runtime::contract::Secret::...)` or `None`.
    jwt_secret: String,
    jwt_leeway: String,
    token_ttl: String,
    authenticate_reflection: bool,
    grpc_web: bool,
    push_events: bool,
    event_retention: String,
    /// The crate has `src/typed.rs` (typed gRPC services).
    typed: bool,
}

#[derive(Template)]
#[template(path = "app/README.md", escape = "none")]
struct Readme<'a> {
    app_name: &'a str,
    config_path: &'a str,
    /// (name, path, table)
    endpoints: Vec<(String, String, String)>,
}

/// A server's CORS policy as the runtime's `CorsPolicy`.
fn cors_policy(cors: &crate::config::Cors) -> String {
    match cors {
        crate::config::Cors::Off => "CorsPolicy::Off".into(),
        crate::config::Cors::AnyOrigin => "CorsPolicy::AnyOrigin".into(),
        crate::config::Cors::Origins(list) => format!(
            "CorsPolicy::Origins(Vec::from([{}]))",
            list.iter()
                .map(|o| format!("{o:?}.into()"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A configured duration as Rust, or `default`.
fn duration_or(ms: Option<i64>, default: &str) -> String {
    match ms {
        Some(ms) => format!("std::time::Duration::from_millis({})", ms.max(0)),
        None => default.into(),
    }
}

/// Source records per transaction when the config sets no `app.commit_size`.
pub const DEFAULT_BATCH_RECORDS: u64 = 10_000;

/// The crate's copy of the app's OpenAPI document (dozerc also writes it next to the config).
pub const OPENAPI_FILE: &str = "openapi.json";

/// The folder of the crate's `.proto` files (dozerc also copies them next to the config).
pub const PROTO_DIR: &str = "proto";

/// The endpoints the app serves, with their schemas exactly as the binary, its OpenAPI document
/// and the SDKs see them.
pub fn api_endpoints(program: &Program) -> Result<Vec<ApiEndpoint>, CodegenError> {
    let ordered: Vec<&BoundQuery> = program.queries.iter().collect();
    let (_, api) = pipeline::PipelineGen::new(program).generate(&ordered, "")?;
    Ok(api)
}

/// Generates the app crate for a checked config.
pub fn emit(program: &Program, opts: &EmitOptions<'_>) -> Result<AppCrate, CodegenError> {
    let queries = &program.queries;
    let ordered: Vec<&BoundQuery> = queries.iter().collect();
    let (code, api) = pipeline::PipelineGen::new(program).generate(&ordered, opts.config_name)?;
    let print = fingerprint(&code);
    let code = format!("{code}\n/// Identifies this pipeline's state layout in the store.\nconst FINGERPRINT: &str = \"{print}\";\n");
    let file = syn::parse_file(&code).map_err(|e| {
        let line = e.span().start().line;
        let context = code.lines().nth(line.saturating_sub(1)).unwrap_or_default();
        CodegenError::Internal(format!(
            "generated code does not parse: {e} at line {line}: {context}"
        ))
    })?;
    let pipeline_rs = prettyplease::unparse(&file);
    let query_lines = query_lines(&pipeline_rs);

    let app_name = program.app_name.as_str();
    let bin_name = program.binary_name();
    let settings = &program.settings;
    // Cargo identifies a path crate by its name and its path relative to its workspace, which is
    // the same for every app crate; apps sharing the target directory under one name would share
    // fingerprints and artifacts (one app's build taken for another's). The app's folder in the
    // name keeps them apart.
    let crate_name = format!(
        "{bin_name}-{}",
        &fingerprint(&opts.base_dir.display().to_string())[..8]
    );
    let render = |r: Result<String, askama::Error>| {
        r.map(|mut s| {
            if !s.ends_with('\n') {
                s.push('\n');
            }
            s
        })
        .map_err(|e| CodegenError::Internal(format!("template: {e}")))
    };
    let runtime_path = opts.runtime_dir.display().to_string().replace('\\', "/");
    let cargo_toml = render(
        CargoToml {
            app_name: &bin_name,
            crate_name: &crate_name,
            config_path: opts.config_name,
            runtime_path: &runtime_path,
        }
        .render(),
    )?;
    let home = program.home_dir.as_str();
    // Typed gRPC services (`flags.dynamic`, on by default as in Dozer).
    let typed = if settings.typed_grpc {
        Some(typed::generate(
            &api,
            queries,
            opts.config_name,
            settings.jwt_secret != JwtSecret::None,
        )?)
    } else {
        None
    };
    let main_rs = render(
        MainRs {
            app_name: &bin_name,
            app_name_literal: format!("{app_name:?}"),
            config_path: opts.config_name,
            base_dir: format!("{:?}", opts.base_dir.display().to_string()),
            home_dir: format!("{:?}", home.trim_start_matches("./")),
            map_size: match settings.map_size {
                Some(m) => format!("Some({m})"),
                None => "None".into(),
            },
            skip_bad_records: settings.skip_bad_records,
            batch_records: settings.commit_size.unwrap_or(DEFAULT_BATCH_RECORDS),
            rest_host: format!("{:?}", settings.rest_host),
            rest_port: settings.rest_port,
            grpc_host: format!("{:?}", settings.grpc_host),
            grpc_port: settings.grpc_port,
            rest_cors: cors_policy(&settings.rest_cors),
            grpc_cors: cors_policy(&settings.grpc_cors),
            rest_enabled: settings.rest_enabled,
            grpc_enabled: settings.grpc_enabled,
            default_limit: settings.default_limit,
            max_limit: settings.max_limit,
            max_scan: settings.max_scan,
            jwt_secret: match &settings.jwt_secret {
                JwtSecret::Env(var) => {
                    format!("Some(dozer_runtime::contract::Secret::Env({var:?}.into()))")
                }
                JwtSecret::Literal(secret) => {
                    format!("Some(dozer_runtime::contract::Secret::Literal({secret:?}.into()))")
                }
                JwtSecret::None => "None".into(),
            },
            jwt_leeway: duration_or(settings.jwt_leeway_ms, "AuthSettings::default().leeway"),
            token_ttl: duration_or(settings.token_ttl_ms, "AuthSettings::default().token_ttl"),
            authenticate_reflection: settings.authenticate_reflection,
            grpc_web: settings.grpc_web,
            push_events: settings.push_events,
            typed: typed.is_some(),
            event_retention: match settings.event_retention_ms {
                Some(ms) => format!("std::time::Duration::from_millis({ms})"),
                None => "dozer_runtime::contract::DEFAULT_EVENT_RETENTION".into(),
            },
        }
        .render(),
    )?;
    let readme = render(
        Readme {
            app_name: &bin_name,
            config_path: opts.config_name,
            endpoints: program
                .endpoints
                .iter()
                .map(|e| (e.name.clone(), e.path.clone(), e.table.clone()))
                .collect(),
        }
        .render(),
    )?;
    let mut files = BTreeMap::new();
    if let Some(typed) = typed {
        files.insert("src/typed.rs".to_string(), typed.rust);
        for (path, text) in typed.protos {
            files.insert(format!("{PROTO_DIR}/{path}"), text);
        }
    }
    // The push ingestion service, for the clients of the app's `!Grpc` connections.
    let pushed = program
        .sources
        .iter()
        .any(|s| matches!(s.read, Some(crate::catalog::read::SourceRead::Grpc(_))));
    if pushed {
        for (path, text) in [
            ("dozer/types.proto", proto::TYPES_PROTO),
            ("dozer/ingest.proto", proto::INGEST_PROTO),
        ] {
            files.insert(format!("{PROTO_DIR}/{path}"), text.to_string());
        }
    }
    files.insert("Cargo.toml".to_string(), cargo_toml);
    files.insert("README.md".to_string(), readme);
    files.insert("src/main.rs".to_string(), main_rs);
    files.insert("src/pipeline.rs".to_string(), pipeline_rs);
    // The API's OpenAPI document, exactly as the binary serves it (same generator, same inputs).
    let endpoints: Vec<_> = api.iter().map(|e| e.schema.clone()).collect();
    let doc = dozer_types::openapi::document(app_name, &endpoints, settings.max_limit, None);
    let mut openapi = serde_json::to_string_pretty(&doc)
        .map_err(|e| CodegenError::Internal(format!("OpenAPI document: {e}")))?;
    openapi.push('\n');
    files.insert(OPENAPI_FILE.to_string(), openapi);
    Ok(AppCrate { files, query_lines })
}

impl AppCrate {
    /// Writes the files under `dir`, leaving files whose content is unchanged untouched (so cargo
    /// sees nothing to rebuild). Returns how many files were written.
    pub fn write(&self, dir: &Path) -> std::io::Result<usize> {
        write_changed(dir, &self.files)
    }
}

/// Writes `files` (paths relative to `dir`) whose content differs from what is on disk, so that
/// tools watching them (cargo, git) see only real changes. Returns how many were written.
pub fn write_changed(dir: &Path, files: &BTreeMap<String, String>) -> std::io::Result<usize> {
    let mut written = 0;
    for (path, text) in files {
        let target = dir.join(path);
        if std::fs::read(&target).is_ok_and(|old| old == text.as_bytes()) {
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, text)?;
        written += 1;
    }
    Ok(written)
}
