//! The source catalog: the schema (columns, types, nullability, primary key) of every source.
//!
//! Schemas come from the real sources — PostgreSQL's system catalog, Parquet footers, a sample of CSV
//! and JSON-lines files — and are pinned in `dozer.lock` beside the config, so a later build needs no
//! live source and a changed source is noticed (`--locked`). See [`LockMode`]. With each schema the
//! catalog resolves how the app reads the source ([`read`]), so later stages never look at
//! connections again.

mod delta;
pub mod files;
pub mod grpc;
pub mod lock;
pub(crate) mod mysql;
pub(crate) mod postgres;
pub mod read;
mod schema;

use std::path::PathBuf;

use crate::config::{Config, ConnectionKind, Source};
use crate::diagnostic::{Diagnostic, Diagnostics};

use self::schema::unknown_column;
pub use self::schema::{Catalog, Column, ImageColumn, LockMode, SourceEntry, TableSchema};

/// Resolves the schema of every source of the config.
pub fn resolve(
    config: &Config,
    mode: LockMode,
    lock_path: Option<&PathBuf>,
    diags: &mut Diagnostics,
) -> Catalog {
    let locked = lock_path
        .and_then(|p| lock::read(p, diags))
        .unwrap_or_default();
    let mut catalog = Catalog::default();
    let mut changed = false;
    for source in &config.sources {
        let Some(conn) = config.connection(&source.connection.value) else {
            continue;
        };
        let definition = definition(config, source);
        let Some(definition) = definition else {
            continue;
        };
        let from_lock = locked
            .sources
            .get(&source.name.value)
            .filter(|e| e.definition == definition);
        if mode == LockMode::Normal {
            if let Some(entry) = from_lock {
                let entry = SourceEntry {
                    read: read::reading(config, source),
                    ..entry.clone()
                };
                catalog.sources.insert(source.name.value.clone(), entry);
                continue;
            }
        }
        let live = match &conn.kind {
            ConnectionKind::Postgres(pg) => postgres::introspect(config, conn, pg, source, diags),
            ConnectionKind::MySql(my) => mysql::introspect(conn, my, source, diags),
            ConnectionKind::Files(files) => files::infer(config, files, source, diags),
            ConnectionKind::Grpc(g) => grpc::schema(config, g, source, diags),
            ConnectionKind::Unsupported { .. } => None, // reported by config validation
        };
        let Some(schema) = live.map(|s| select_columns(s, source, diags)) else {
            continue;
        };
        if mode == LockMode::Locked {
            match from_lock {
                None => diags.push(
                    Diagnostic::error(
                        "catalog::not-locked",
                        format!("source `{}` is not in the lock file (or its definition changed)", source.name.value),
                    )
                    .label(source.name.span, "not locked")
                    .help("run `dozerc check` without --locked to update dozer.lock, review the diff, commit it"),
                ),
                Some(entry) if entry.schema != schema => diags.push(
                    Diagnostic::error(
                        "catalog::schema-changed",
                        format!("the schema of source `{}` changed since dozer.lock was written", source.name.value),
                    )
                    .label(source.name.span, lock::describe_change(&entry.schema, &schema))
                    .help("if the change is intended, run `dozerc check --refresh` and commit the new dozer.lock"),
                ),
                Some(_) => {}
            }
        }
        changed |= from_lock.map(|e| &e.schema) != Some(&schema);
        catalog.sources.insert(
            source.name.value.clone(),
            SourceEntry {
                definition,
                schema,
                read: read::reading(config, source),
            },
        );
    }
    let stale = locked
        .sources
        .keys()
        .any(|k| !catalog.sources.contains_key(k));
    let complete = catalog.sources.len() == config.sources.len();
    if let Some(path) = lock_path {
        if mode != LockMode::Locked && complete && (changed || stale || !path.exists()) {
            if let Err(e) = lock::write(path, &catalog) {
                diags.push(Diagnostic::warning(
                    "catalog::lock-write",
                    format!("could not write the lock file `{}`: {e}", path.display()),
                ).help("make the config's folder writable; until then every check reads the sources live"));
            }
        }
    }
    catalog
}

/// The definition string of a source: everything about its configuration that can change its schema
/// (but no secret).
fn definition(config: &Config, source: &Source) -> Option<String> {
    let conn = config.connection(&source.connection.value)?;
    let columns = source.columns.as_ref().map_or(String::from("*"), |c| {
        c.iter()
            .map(|c| c.value.as_str())
            .collect::<Vec<_>>()
            .join(",")
    });
    Some(match &conn.kind {
        ConnectionKind::Postgres(pg) => {
            let v = |s: &Option<crate::config::Spanned<String>>| {
                s.as_ref().map_or("", |s| s.value.as_str()).to_string()
            };
            let url = pg
                .connection_url
                .as_ref()
                .map(|u| read::redact_url(&u.value));
            let target = url.unwrap_or_else(|| {
                format!(
                    "{}@{}:{}/{}",
                    v(&pg.user),
                    v(&pg.host),
                    pg.port.as_ref().map_or(5432, |p| p.value),
                    v(&pg.database)
                )
            });
            let schema = source.postgres_schema(pg);
            format!(
                "postgres {target} {schema}.{} columns={columns}",
                source.table_name.value
            )
        }
        ConnectionKind::MySql(my) => {
            let url = read::mysql_url(&my.url.value).ok();
            let database = url.as_ref().map_or("", |u| u.database.as_str());
            format!(
                "mysql {} {}.{} columns={columns}",
                read::redact_url(&my.url.value),
                source.mysql_database(database),
                source.table_name.value
            )
        }
        ConnectionKind::Files(ls) => {
            let t = ls.table(&source.table_name.value)?;
            let root = match &ls.store {
                crate::config::FileStore::Local { path } => path.value.clone(),
                crate::config::FileStore::S3(s3) => format!("s3://{}", s3.bucket_name.value),
                crate::config::FileStore::DeltaLake => "delta-lake".into(),
            };
            let overrides: Vec<String> = t
                .column_types
                .iter()
                .map(|o| {
                    format!(
                        "{}:{}{}",
                        o.name.value,
                        o.ty.value,
                        o.nullable.map_or("", |n| if n { "?" } else { "!" })
                    )
                })
                .collect();
            format!(
                "files {:?} {}/{}/*{} header={} delimiter={:?} types=[{}] columns={columns}",
                t.format,
                root,
                t.path.value,
                t.extension,
                t.has_header,
                t.delimiter as char,
                overrides.join(",")
            )
        }
        // The schemas are the source: a changed schema is a changed definition.
        ConnectionKind::Grpc(g) => {
            let schema = grpc::tables(config, g)
                .ok()
                .and_then(|mut t| t.remove(&source.table_name.value))
                .and_then(|s| serde_json::to_string(&s).ok())
                .unwrap_or_default();
            format!("grpc {} {schema}", source.table_name.value)
        }
        ConnectionKind::Unsupported { kind } => kind.clone(),
    })
}

/// Applies a source's `columns:` selection (in the order listed); unknown columns are errors.
fn select_columns(schema: TableSchema, source: &Source, diags: &mut Diagnostics) -> TableSchema {
    let Some(selected) = &source.columns else {
        return schema;
    };
    let mut out = TableSchema::default();
    let mut map = vec![None; schema.columns.len()];
    for name in selected {
        match schema.columns.iter().position(|c| c.name == name.value) {
            Some(i) if map[i].is_none() => {
                map[i] = Some(out.columns.len());
                out.columns.push(schema.columns[i].clone());
                if let Some(image) = schema.row_image.get(i) {
                    out.row_image.push(*image);
                }
            }
            Some(_) => diags.push(
                Diagnostic::error(
                    "catalog::duplicate-column",
                    format!("column `{}` is selected twice", name.value),
                )
                .label(name.span, "selected again")
                .help("list each column once in `columns:`"),
            ),
            None => diags.push(unknown_column(
                &source.table_name.value,
                &name.value,
                name.span,
                &schema,
            )),
        }
    }
    let pk: Option<Vec<usize>> = schema.primary_key.iter().map(|&i| map[i]).collect();
    match pk {
        Some(pk) => out.primary_key = pk,
        None => diags.push(
            Diagnostic::warning(
                "catalog::primary-key-dropped",
                format!(
                    "`columns` of source `{}` leaves out primary key column(s) {}; its rows get a synthetic key",
                    source.name.value,
                    schema.primary_key_names().join(", ")
                ),
            )
            .label(source.name.span, "primary key not selected")
            .help("add the primary key columns to `columns:`"),
        ),
    }
    out
}
