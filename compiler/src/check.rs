//! The front-end pipeline: config → catalog → SQL → endpoint checks. `dozerc check` is this plus
//! printing; `dozerc build` (next) starts from its result.
//!
//! [`check_config`] is pure (no I/O): given decoded config and a catalog it binds the SQL and checks
//! the endpoints. Tests and the fuzzer use it with in-memory files; [`check_paths`] adds file reading,
//! source introspection and the lock file, and runs code generation in memory
//! ([`check_generated`]), so that everything `build` would refuse is refused here, located.

use std::path::{Path, PathBuf};

use crate::catalog::{self, lock::LOCK_FILE_NAME, Catalog, LockMode};
use crate::codegen;
use crate::config::{self, Config, Endpoint, SecondaryIndex};
use crate::diagnostic::{Diagnostic, Diagnostics, SourceMap};
use crate::program::Program;
use crate::sql::plan::{Field, Key, PlanSchema};
use crate::sql::{self, BoundQuery, BoundSql};
use crate::types::SqlType;

/// Everything the front end produced.
#[derive(Debug)]
pub struct Checked {
    pub config: Option<Config>,
    pub catalog: Catalog,
    pub queries: Vec<BoundQuery>,
}

/// The columns of a table an endpoint may serve: an INTO table or a source.
fn table_fields(queries: &[BoundQuery], catalog: &Catalog, name: &str) -> Option<Vec<Field>> {
    if let Some(q) = queries.iter().find(|q| q.into == name) {
        return Some(q.plan.schema.fields.clone());
    }
    let entry = catalog.sources.get(name)?;
    Some(PlanSchema::source_fields(&entry.schema, None))
}

#[derive(Clone, Copy, Debug, Default)]
pub struct CheckOptions {
    pub lock_mode: LockMode,
}

/// Reads the config files, resolves sources (through `dozer.lock` beside the first file), binds the
/// SQL and checks the endpoints.
pub fn check_paths(
    paths: &[PathBuf],
    opts: CheckOptions,
    map: &mut SourceMap,
    diags: &mut Diagnostics,
) -> Checked {
    let env = |k: &str| std::env::var(k).ok();
    let Some(config) = config::load(paths, map, &env, diags) else {
        return Checked {
            config: None,
            catalog: Catalog::default(),
            queries: vec![],
        };
    };
    let lock_path = config.base_dir.join(LOCK_FILE_NAME);
    let catalog = catalog::resolve(&config, opts.lock_mode, Some(&lock_path), diags);
    let queries = check_config(&config, &catalog, diags);
    check_generated(&config, &catalog, &queries, diags);
    Checked {
        config: Some(config),
        catalog,
        queries,
    }
}

/// Generates the app's code in memory from a config that checked without errors, and reports
/// what code generation refuses (features not compiled yet) at the place that asks for them.
pub fn check_generated(
    config: &Config,
    catalog: &Catalog,
    queries: &[BoundQuery],
    diags: &mut Diagnostics,
) {
    if diags.has_errors() {
        return;
    }
    let options = codegen::EmitOptions {
        runtime_dir: Path::new("."),
        config_name: "dozer-config.yaml",
        base_dir: &config.base_dir,
    };
    let program = Program::new(config, catalog, queries);
    if let Err(e) = codegen::emit(&program, &options) {
        diags.push(e.diagnostic());
    }
}

/// Binds the SQL and checks the endpoints against the resolved schemas. No I/O.
pub fn check_config(
    config: &Config,
    catalog: &Catalog,
    diags: &mut Diagnostics,
) -> Vec<BoundQuery> {
    for source in &config.sources {
        check_source_types(catalog, source, diags);
    }
    let bound = sql::bind(config, catalog, diags);
    for ep in &config.endpoints {
        check_endpoint(config, catalog, &bound, ep, diags);
    }
    bound.queries
}

/// Column types a source may have that apps cannot hold yet.
fn check_source_types(catalog: &Catalog, source: &config::Source, diags: &mut Diagnostics) {
    let Some(entry) = catalog.sources.get(&source.name.value) else {
        return;
    };
    for c in &entry.schema.columns {
        if c.ty == SqlType::Duration {
            diags.push(
                Diagnostic::error(
                    "catalog::unsupported-type",
                    format!(
                        "not supported yet: duration-typed columns (column `{}` of source `{}`)",
                        c.name, source.name.value
                    ),
                )
                .label(source.name.span, format!("`{}` is a duration", c.name))
                .help("durations are window sizes and TTLs today; leave the column out with `columns:`"),
            );
        }
    }
}

fn check_endpoint(
    config: &Config,
    catalog: &Catalog,
    bound: &BoundSql,
    ep: &Endpoint,
    diags: &mut Diagnostics,
) {
    let name = &ep.table_name.value;
    let declared = &bound.declared;
    let Some(fields) = table_fields(&bound.queries, catalog, name) else {
        if declared.contains(name) || config.sources.iter().any(|s| &s.name.value == name) {
            return; // the table exists but failed to bind or resolve; that was reported
        }
        let mut candidates: Vec<&str> = declared.iter().map(String::as_str).collect();
        candidates.extend(config.sources.iter().map(|s| s.name.value.as_str()));
        let mut d = Diagnostic::error(
            "config::unknown-endpoint-table",
            format!(
                "endpoint `{}` serves table `{name}`, which does not exist",
                ep.name.value
            ),
        )
        .label(
            ep.table_name.span,
            "no source or SELECT ... INTO has this name",
        );
        d = d.suggest(name, &candidates, |names| {
            if names.is_empty() {
                "add `SELECT ... INTO <table>` under `sql:` or a source with this name".into()
            } else {
                format!("tables: {}", names.join(", "))
            }
        });
        diags.push(d);
        return;
    };
    let check_field =
        |field: &config::Spanned<String>, role: &str, diags: &mut Diagnostics| -> Option<SqlType> {
            match fields.iter().find(|f| f.name == field.value) {
                Some(f) => Some(f.ty),
                None => {
                    let mut d = Diagnostic::error(
                        "config::unknown-endpoint-column",
                        format!(
                            "{role} `{}` of endpoint `{}` is not a column of `{name}`",
                            field.value, ep.name.value
                        ),
                    )
                    .label(field.span, "no such column");
                    let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
                    d = d.suggest(&field.value, &names, |names| {
                        format!("columns of `{name}`: {}", names.join(", "))
                    });
                    diags.push(d);
                    None
                }
            }
        };
    if let Some(pk) = &ep.primary_key {
        for f in pk {
            check_field(f, "primary key column", diags);
        }
    }
    for f in &ep.skip_default {
        check_field(f, "`skip_default` field", diags);
    }
    for ix in &ep.secondary {
        for f in ix.fields() {
            let ty = check_field(f, "index field", diags);
            if let (SecondaryIndex::FullText { .. }, Some(ty)) = (ix, ty) {
                if !ty.is_string() {
                    diags.push(
                        Diagnostic::error(
                            "config::full-text-type",
                            format!(
                                "a `!FullText` index needs a string column; `{}` is {ty}",
                                f.value
                            ),
                        )
                        .label(f.span, format!("this column is {ty}"))
                        .help("use `!SortedInverted` for non-text columns"),
                    );
                }
            }
        }
    }
    if ep.primary_key.is_none() {
        if let Some(q) = bound.queries.iter().find(|q| &q.into == name) {
            if q.plan.schema.key == Key::Synthetic {
                diags.push(
                    Diagnostic::note(
                        "config::synthetic-key",
                        format!("`{name}` has no primary key; endpoint `{}` identifies records by id only", ep.name.value),
                    )
                    .label(ep.table_name.span, "no key derived")
                    .help("GROUP BY, a source primary key kept through the query, or `index.primary_key` gives one"),
                );
            }
        }
    }
}
