//! Checks between config sections that need no source schemas and no SQL: unique names, sources that
//! name existing connections and tables, endpoint paths. (Endpoint tables and key columns are checked
//! in [`crate::check`], once the SQL is bound.)

use std::collections::HashMap;

use super::{Config, ConnectionKind, Spanned};
use crate::diagnostic::{did_you_mean, Diagnostic, Diagnostics};

pub fn validate(config: &Config, diags: &mut Diagnostics) {
    unique(
        config.connections.iter().map(|c| &c.name),
        "connection",
        diags,
    );
    unique(config.sources.iter().map(|s| &s.name), "source", diags);
    unique(config.endpoints.iter().map(|e| &e.name), "endpoint", diags);
    unique(
        config.endpoints.iter().map(|e| &e.path),
        "endpoint path",
        diags,
    );

    for source in &config.sources {
        let Some(conn) = config.connection(&source.connection.value) else {
            let names = config.connections.iter().map(|c| c.name.as_str());
            let mut d = Diagnostic::error(
                "config::unknown-connection",
                format!(
                    "source `{}` uses connection `{}`, which is not defined",
                    source.name.value, source.connection.value
                ),
            )
            .label(source.connection.span, "unknown connection");
            d = match did_you_mean(&source.connection.value, names) {
                Some(h) => d.help(h),
                None if config.connections.is_empty() => {
                    d.help("define it under `connections:` with a `name:` and a `config: !Kind`")
                }
                None => d.help(format!(
                    "defined connections: {}",
                    config
                        .connections
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            };
            diags.push(d);
            continue;
        };
        match &conn.kind {
            ConnectionKind::LocalStorage(ls) => {
                if !ls
                    .tables
                    .iter()
                    .any(|t| t.name.value == source.table_name.value)
                {
                    let mut d = Diagnostic::error(
                        "config::unknown-table",
                        format!(
                            "connection `{}` has no table `{}`",
                            conn.name.value, source.table_name.value
                        ),
                    )
                    .label(source.table_name.span, "no such table in the connection")
                    .label(conn.name.span, "connection defined here");
                    d = match did_you_mean(&source.table_name.value, ls.tables.iter().map(|t| t.name.as_str())) {
                        Some(h) => d.help(h),
                        None => d.help("add it under the connection's `tables:` as `!Table { name, config: !CSV {...} }`"),
                    };
                    diags.push(d);
                }
                if let Some(schema) = &source.schema {
                    diags.push(
                        Diagnostic::error("config::schema-on-files", "`schema` applies to database sources only")
                            .label(schema.span, "not used by file sources")
                            .help("remove `schema`; to set column types of a file, use `columns:` in the table's `!CSV` config"),
                    );
                }
            }
            ConnectionKind::Postgres(_) => {}
            ConnectionKind::Unsupported { kind } => diags.push(
                Diagnostic::error(
                    "config::unsupported-connection",
                    format!(
                        "not supported yet: `!{kind}` connections (source `{}`)",
                        source.name.value
                    ),
                )
                .label(conn.kind_span, "not supported yet")
                .label(source.connection.span, "used by this source")
                .help(
                    "supported connection kinds: !Postgres and !LocalStorage (CSV, JSONL, Parquet)",
                ),
            ),
        }
    }

    for ep in &config.endpoints {
        if !ep.path.value.starts_with('/')
            || ep.path.value.contains(char::is_whitespace)
            || ep.path.value.contains('{')
        {
            diags.push(
                Diagnostic::error(
                    "config::endpoint-path",
                    format!("endpoint path `{}` is not a valid route", ep.path.value),
                )
                .label(ep.path.span, "invalid path")
                .help("a path starts with `/` and has no spaces or `{`, e.g. `/trips`"),
            );
        }
        if ep.path.value == "/" || ep.path.value.starts_with("/auth") || ep.path.value == "/health"
        {
            diags.push(
                Diagnostic::error("config::endpoint-path", format!("endpoint path `{}` is reserved", ep.path.value))
                    .label(ep.path.span, "reserved by the API server")
                    .help("`/`, `/health` and `/auth/...` are served by dozerc itself; choose another path"),
            );
        }
    }
}

fn unique<'a>(
    names: impl Iterator<Item = &'a Spanned<String>>,
    what: &str,
    diags: &mut Diagnostics,
) {
    let mut seen: HashMap<&str, &Spanned<String>> = HashMap::new();
    for n in names {
        if let Some(first) = seen.get(n.value.as_str()) {
            diags.push(
                Diagnostic::error(
                    "config::duplicate-name",
                    format!("{what} `{}` is defined twice", n.value),
                )
                .label(n.span, "defined again here")
                .label(first.span, "first defined here")
                .help(format!("give each {what} a unique name")),
            );
        } else {
            seen.insert(&n.value, n);
        }
    }
}
