//! `dozer.lock`: the resolved source schemas, written beside the config.
//!
//! JSON with one column per line and sources in name order, so that a schema change is a small,
//! readable diff in review. Only schemas are stored — never credentials.

use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;

use super::schema::{Catalog, SourceEntry, TableSchema};
use crate::diagnostic::{Diagnostic, Diagnostics};

pub const LOCK_FILE_NAME: &str = "dozer.lock";
const LOCK_VERSION: u64 = 1;

#[derive(Deserialize)]
struct LockFile {
    version: u64,
    sources: std::collections::BTreeMap<String, LockedSource>,
}

#[derive(Deserialize)]
struct LockedSource {
    definition: String,
    #[serde(flatten)]
    schema: TableSchema,
}

/// Reads the lock file; `None` when absent. A corrupt file is a warning (it is then re-resolved).
pub fn read(path: &Path, diags: &mut Diagnostics) -> Option<Catalog> {
    let text = std::fs::read_to_string(path).ok()?;
    match serde_json::from_str::<LockFile>(&text) {
        Ok(lock) if lock.version == LOCK_VERSION => Some(Catalog {
            sources: lock
                .sources
                .into_iter()
                .map(|(k, v)| {
                    (
                        k,
                        SourceEntry {
                            definition: v.definition,
                            schema: v.schema,
                            read: None,
                        },
                    )
                })
                .collect(),
        }),
        Ok(lock) => {
            diags.push(Diagnostic::warning(
                "catalog::lock-version",
                format!("`{}` has version {}, this dozerc writes {LOCK_VERSION}; resolving sources again", path.display(), lock.version),
            ).help("the lock file is rewritten in this version's format; commit the new one"));
            None
        }
        Err(e) => {
            diags.push(
                Diagnostic::warning(
                    "catalog::lock-corrupt",
                    format!("ignoring unreadable `{}`: {e}", path.display()),
                )
                .help("delete it; dozerc writes a fresh one"),
            );
            None
        }
    }
}

/// Renders the lock file deterministically.
pub fn render(catalog: &Catalog) -> String {
    let q = |s: &str| serde_json::to_string(s).expect("strings serialize");
    let mut out = String::new();
    let _ = writeln!(out, "{{\n  \"version\": {LOCK_VERSION},\n  \"sources\": {{");
    let n = catalog.sources.len();
    for (i, (name, entry)) in catalog.sources.iter().enumerate() {
        let _ = writeln!(out, "    {}: {{", q(name));
        let _ = writeln!(out, "      \"definition\": {},", q(&entry.definition));
        let _ = writeln!(out, "      \"columns\": [");
        let cols = &entry.schema.columns;
        for (j, c) in cols.iter().enumerate() {
            let _ = writeln!(
                out,
                "        {{ \"name\": {}, \"type\": \"{}\", \"nullable\": {} }}{}",
                q(&c.name),
                c.ty.name(),
                c.nullable,
                if j + 1 < cols.len() { "," } else { "" }
            );
        }
        let pk: Vec<String> = entry
            .schema
            .primary_key
            .iter()
            .map(usize::to_string)
            .collect();
        let image = &entry.schema.row_image;
        if image.is_empty() {
            let _ = writeln!(out, "      ],\n      \"primary_key\": [{}]", pk.join(", "));
        } else {
            let _ = writeln!(out, "      ],\n      \"primary_key\": [{}],", pk.join(", "));
            let _ = writeln!(out, "      \"row_image\": [");
            for (j, c) in image.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "        {{ \"position\": {}, \"int_bits\": {}, \"unsigned\": {} }}{}",
                    c.position,
                    c.int_bits,
                    c.unsigned,
                    if j + 1 < image.len() { "," } else { "" }
                );
            }
            let _ = writeln!(out, "      ]");
        }
        let _ = writeln!(out, "    }}{}", if i + 1 < n { "," } else { "" });
    }
    out.push_str("  }\n}\n");
    out
}

pub fn write(path: &Path, catalog: &Catalog) -> std::io::Result<()> {
    let text = render(catalog);
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    // Write-then-rename, so a crash never leaves a half-written lock file.
    let tmp = path.with_extension("lock.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(tmp, path)
}

/// A one-line summary of how a schema changed, for the `--locked` error.
pub fn describe_change(old: &TableSchema, new: &TableSchema) -> String {
    let mut parts = vec![];
    for c in &new.columns {
        match old.columns.iter().find(|o| o.name == c.name) {
            None => parts.push(format!("column `{}` added", c.name)),
            Some(o) if o.ty != c.ty => {
                parts.push(format!("`{}` is now {} (was {})", c.name, c.ty, o.ty))
            }
            Some(o) if o.nullable != c.nullable => parts.push(format!(
                "`{}` is now {}",
                c.name,
                if c.nullable { "nullable" } else { "NOT NULL" }
            )),
            Some(_) => {}
        }
    }
    for o in &old.columns {
        if !new.columns.iter().any(|c| c.name == o.name) {
            parts.push(format!("column `{}` removed", o.name));
        }
    }
    if old.primary_key_names() != new.primary_key_names() {
        parts.push(format!(
            "primary key is now ({})",
            new.primary_key_names().join(", ")
        ));
    }
    if parts.is_empty() {
        parts.push("column order changed".into());
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::schema::{Column, ImageColumn};
    use crate::types::SqlType;

    #[test]
    fn render_then_read_round_trips() {
        let mut catalog = Catalog::default();
        catalog.sources.insert(
            "users".into(),
            SourceEntry {
                definition: "postgres u@h:5432/db public.users columns=*".into(),
                schema: TableSchema {
                    columns: vec![
                        Column {
                            name: "id".into(),
                            ty: SqlType::Int,
                            nullable: false,
                        },
                        Column {
                            name: "na\"me".into(),
                            ty: SqlType::String,
                            nullable: true,
                        },
                    ],
                    primary_key: vec![0],
                    // As a MySQL table's: the columns' places in the binlog's row images.
                    row_image: vec![
                        ImageColumn {
                            position: 0,
                            int_bits: 32,
                            unsigned: true,
                        },
                        ImageColumn {
                            position: 2,
                            int_bits: 0,
                            unsigned: false,
                        },
                    ],
                },
                read: None,
            },
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE_NAME);
        write(&path, &catalog).unwrap();
        let mut d = Diagnostics::default();
        assert_eq!(read(&path, &mut d), Some(catalog));
        assert!(!d.has_errors());
    }
}
