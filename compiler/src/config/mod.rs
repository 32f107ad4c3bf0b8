//! The app configuration: Dozer's `dozer-config.yaml` format, decoded with spans.
//!
//! Loading goes: read files → substitute `{{ENV}}` and parse YAML ([`crate::yaml`]) → merge several
//! files (mappings merge key by key, lists concatenate, the later scalar wins; every file's `sql` and
//! every `queries/*.sql` file is kept as its own [`SqlText`] so SQL errors point into the right file)
//! → decode into [`Config`] ([`decode`]) → check references between sections ([`validate`]).
//!
//! Paths in the config (`home_dir`, file-source folders) are relative to the directory of the first
//! config file, so `dozerc check examples/app/dozer-config.yaml` works from anywhere.

pub mod decode;
mod model;
mod sections;
pub mod validate;

use std::path::{Path, PathBuf};

pub use decode::Spanned;
pub use model::*;

use crate::diagnostic::{Diagnostic, Diagnostics, FileId, SourceMap, Span};
use crate::yaml::{self, Node, NodeKind, Scalar};

/// Reads the config files (and the `queries/*.sql` files beside the first one) into the source map
/// and decodes them. I/O errors become diagnostics. Returns `None` when nothing could be decoded.
pub fn load(
    paths: &[PathBuf],
    map: &mut SourceMap,
    env: &dyn Fn(&str) -> Option<String>,
    diags: &mut Diagnostics,
) -> Option<Config> {
    let mut yaml_files = vec![];
    for path in paths {
        match std::fs::read_to_string(path) {
            Ok(text) => yaml_files.push(map.add(path.display().to_string(), text)),
            Err(e) => diags.push(
                Diagnostic::error("config::unreadable", format!("cannot read config file `{}`: {e}", path.display()))
                    .help("pass the path of a dozer-config.yaml, or run dozerc in the folder that has one"),
            ),
        }
    }
    if yaml_files.is_empty() {
        return None;
    }
    let base_dir = paths[0].parent().map(Path::to_path_buf).unwrap_or_default();
    let mut sql_files = vec![];
    let queries = base_dir.join("queries");
    if let Ok(entries) = std::fs::read_dir(&queries) {
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        found.sort();
        for p in found {
            match std::fs::read_to_string(&p) {
                Ok(text) => sql_files.push(map.add(p.display().to_string(), text)),
                Err(e) => diags.push(
                    Diagnostic::error(
                        "config::unreadable",
                        format!("cannot read SQL file `{}`: {e}", p.display()),
                    )
                    .help("SQL files in `queries/` must be readable UTF-8 text"),
                ),
            }
        }
    }
    Some(from_files(
        &yaml_files,
        &sql_files,
        base_dir,
        map,
        env,
        diags,
    ))
}

/// Decodes already-read files. Pure: no I/O, so it is what tests and the fuzzer call.
pub fn from_files(
    yaml_files: &[FileId],
    sql_files: &[FileId],
    base_dir: PathBuf,
    map: &SourceMap,
    env: &dyn Fn(&str) -> Option<String>,
    diags: &mut Diagnostics,
) -> Config {
    let mut sql = vec![];
    let mut merged: Option<Node> = None;
    let mut unparsable = false;
    for &file in yaml_files {
        let Some(mut root) = yaml::parse(file, &map.file(file).text, env, diags) else {
            unparsable = true;
            continue;
        };
        if let NodeKind::Map(entries) = &mut root.kind {
            // Take `sql` out before merging: each file's SQL keeps its own origin.
            if let Some(i) = entries
                .iter()
                .position(|(k, _)| k.as_scalar().is_some_and(|s| s.value == "sql"))
            {
                let (_, node) = entries.remove(i);
                match node.kind {
                    NodeKind::Scalar(scalar) if !scalar.is_null() => sql.push(SqlText {
                        text: scalar.value.clone(),
                        origin: SqlOrigin::Yaml { file, scalar },
                    }),
                    NodeKind::Scalar(_) => {}
                    _ => diags.push(
                        Diagnostic::error(
                            "config::wrong-type",
                            "expected a string of SQL statements for `sql`",
                        )
                        .label(node.span, "expected a string")
                        .help(
                            "write the statements as a block: `sql: |` followed by indented lines",
                        ),
                    ),
                }
            }
        } else if !root.as_scalar().is_some_and(Scalar::is_null) {
            diags.push(
                Diagnostic::error(
                    "config::wrong-type",
                    "a config file must be a mapping of top-level keys",
                )
                .label(root.span, "expected keys such as `app_name:`")
                .help("a config starts with `version: 1` and `app_name: ...` on their own lines"),
            );
            continue;
        }
        merged = Some(match merged {
            None => root,
            Some(prev) => merge(prev, root),
        });
    }
    for &file in sql_files {
        sql.push(SqlText {
            text: map.file(file).text.clone(),
            origin: SqlOrigin::File(file),
        });
    }
    let first = yaml_files.first().copied().unwrap_or(0);
    let root = merged.unwrap_or(Node {
        kind: NodeKind::Map(vec![]),
        tag: None,
        span: Span::new(first, 0, 0),
    });
    // A file that is not valid YAML would only add follow-on errors (missing keys); report the
    // syntax error alone.
    let mut quiet = Diagnostics::default();
    let mut config = sections::decode_root(&root, if unparsable { &mut quiet } else { diags });
    config.sql = sql;
    config.base_dir = base_dir;
    config.files = yaml_files.to_vec();
    if !unparsable {
        validate::validate(&config, diags);
    }
    config
}

/// Merges a later file's tree into an earlier one: mappings key by key, lists concatenated, anything
/// else replaced by the later value.
fn merge(earlier: Node, later: Node) -> Node {
    match (earlier.kind, later.kind) {
        (NodeKind::Map(mut a), NodeKind::Map(b)) => {
            for (k, v) in b {
                let key = k.as_scalar().map(|s| s.value.clone());
                match a
                    .iter()
                    .position(|(ka, _)| ka.as_scalar().map(|s| &s.value) == key.as_ref())
                {
                    Some(i) if key.is_some() => {
                        let (ka, va) = a.remove(i);
                        a.insert(i, (ka, merge(va, v)));
                    }
                    _ => a.push((k, v)),
                }
            }
            Node {
                kind: NodeKind::Map(a),
                tag: later.tag.or(earlier.tag),
                span: earlier.span,
            }
        }
        (NodeKind::Seq(mut a), NodeKind::Seq(b)) => {
            a.extend(b);
            Node {
                kind: NodeKind::Seq(a),
                tag: earlier.tag,
                span: earlier.span,
            }
        }
        (_, kind) => Node {
            kind,
            tag: later.tag,
            span: later.span,
        },
    }
}
