//! Checks between config sections that need no source schemas and no SQL: unique names, sources that
//! name existing connections and tables, endpoint paths. (Endpoint tables and key columns are checked
//! in [`crate::check`], once the SQL is bound.)

use std::collections::HashMap;

use super::decode::Spanned;
use super::model::{Config, ConnectionKind};
use crate::diagnostic::{Diagnostic, Diagnostics};

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
            let names: Vec<&str> = config.connections.iter().map(|c| c.name.as_str()).collect();
            let mut d = Diagnostic::error(
                "config::unknown-connection",
                format!(
                    "source `{}` uses connection `{}`, which is not defined",
                    source.name.value, source.connection.value
                ),
            )
            .label(source.connection.span, "unknown connection");
            d = d.suggest(&source.connection.value, &names, |names| {
                if names.is_empty() {
                    "define it under `connections:` with a `name:` and a `config: !Kind`".into()
                } else {
                    format!("defined connections: {}", names.join(", "))
                }
            });
            diags.push(d);
            continue;
        };
        match &conn.kind {
            ConnectionKind::Files(ls) => {
                if ls.table(&source.table_name.value).is_none() {
                    let mut d = Diagnostic::error(
                        "config::unknown-table",
                        format!(
                            "connection `{}` has no table `{}`",
                            conn.name.value, source.table_name.value
                        ),
                    )
                    .label(source.table_name.span, "no such table in the connection")
                    .label(conn.name.span, "connection defined here");
                    let names: Vec<&str> = ls.tables.iter().map(|t| t.name.as_str()).collect();
                    d = d.suggest(&source.table_name.value, &names, |_| {
                        "add it under the connection's `tables:` as `!Table { name, config: !CSV {...} }`".into()
                    });
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
            ConnectionKind::Grpc(_) => {
                if let Some(columns) = source.columns.as_ref().and_then(|c| c.first()) {
                    diags.push(
                        Diagnostic::error(
                            "config::grpc-columns",
                            "not supported yet: `columns:` on a source of a `!Grpc` connection (requests carry every column of the schema)",
                        )
                        .label(columns.span, "a column selection")
                        .help("remove `columns:` and select the columns in SQL"),
                    );
                }
                if let Some(schema) = &source.schema {
                    diags.push(
                        Diagnostic::error("config::schema-on-grpc", "`schema` applies to database sources only")
                            .label(schema.span, "not used by gRPC sources")
                            .help("remove `schema`; a gRPC source's columns come from the connection's `schemas`"),
                    );
                }
            }
            ConnectionKind::Postgres(_) | ConnectionKind::MySql(_) => {}
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
                    "supported connection kinds: !Postgres, !MySQL, !LocalStorage and !S3Storage (CSV, JSONL, Parquet, Delta), !DeltaLake, !Grpc",
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
