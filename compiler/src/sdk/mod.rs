//! Typed client SDKs, generated from the compiled API contract and meant to be committed.
//!
//! The contract is what the binary serves: each endpoint's [`EndpointSchema`] (the same one the
//! OpenAPI document and the REST server are made from) and the SQL it came from. From it this
//! module writes three packages beside the config:
//!
//! - `sdk/typescript/` ([`typescript`]): ESM JavaScript with `.d.ts` types, no dependency but
//!   `fetch`. A generic client (`client.js`, the same for every app) and the app's endpoints
//!   (`index.js`/`index.d.ts`): record, filter and sort types per endpoint, so a wrong field name
//!   or `$gt` on a field the API does not order is a compile error.
//! - `sdk/python/` ([`python`]): a PEP 561 typed package on `httpx`, a frozen dataclass per
//!   record, `TypedDict` filters, sync and `asyncio` clients.
//! - `sdk/react/` ([`react`]): hooks on top of the TypeScript package.
//!
//! How values travel (the server and the SDKs agree on it): 64-bit integers are exact
//! (`bigint` in TypeScript, which asks the server for them as strings with
//! `X-Dozer-Int64: string`; `int` in Python); decimals are strings in TypeScript and `Decimal` in
//! Python; timestamps are RFC 3339 strings (UTC, `Z`) in TypeScript and aware `datetime`s in
//! Python; dates `YYYY-MM-DD`; binary is an array of bytes on the wire (`Uint8Array`/`bytes`).
//!
//! Output is deterministic and only depends on the contract, so `dozerc sdk --check` can tell a
//! committed SDK that no longer matches its config.

mod contract;
mod names;
mod python;
mod react;
mod typescript;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use contract::{KeyRead, SdkEndpoint, SdkInput};

/// The folder, beside the config, that holds the generated SDKs.
pub const SDK_DIR: &str = "sdk";

/// The files of the SDKs, by path relative to the config's directory (`sdk/...`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sdk {
    pub files: BTreeMap<String, String>,
}

/// Generates every SDK.
pub fn generate(input: &SdkInput) -> Sdk {
    let mut files = BTreeMap::new();
    for (lang, package) in [
        ("typescript", typescript::generate(input)),
        ("python", python::generate(input)),
        ("react", react::generate(input)),
    ] {
        for (path, text) in package {
            files.insert(format!("{SDK_DIR}/{lang}/{path}"), text);
        }
    }
    Sdk { files }
}

/// A file under `sdk/` that is not what the config generates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stale {
    pub path: PathBuf,
    pub how: Staleness,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Staleness {
    /// Generated, with other contents on disk.
    Differs,
    /// Generated, not on disk.
    Missing,
    /// On disk, not generated (left by an earlier config: an app renamed, an endpoint dropped).
    NotGenerated,
}

/// What a package manager or a local build leaves inside a package folder: never the SDK's,
/// never reported or removed.
const LOCAL_ARTIFACTS: &[&str] = &[
    "node_modules",
    "__pycache__",
    ".mypy_cache",
    ".venv",
    "dist",
    "build",
];

impl Sdk {
    /// Writes the files under `dir` (the config's directory), leaving unchanged ones untouched,
    /// and removes the files under `sdk/` it no longer generates (the folder is the generator's);
    /// returns how many files were written or removed.
    pub fn write(&self, dir: &Path) -> std::io::Result<usize> {
        let written = crate::codegen::write_changed(dir, &self.files)?;
        let stray = self.not_generated(dir);
        for path in &stray {
            std::fs::remove_file(path)?;
            // Folders left empty go too (an old package's `src/<name>/`).
            let mut parent = path.parent();
            while let Some(p) = parent.filter(|p| p.starts_with(dir.join(SDK_DIR))) {
                if std::fs::remove_dir(p).is_err() {
                    break;
                }
                parent = p.parent();
            }
        }
        Ok(written + stray.len())
    }

    /// Files under `dir/sdk/` that the config does not generate, local build artifacts aside.
    fn not_generated(&self, dir: &Path) -> Vec<PathBuf> {
        fn walk(path: &Path, found: &mut Vec<PathBuf>) {
            let Ok(entries) = std::fs::read_dir(path) else {
                return;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if LOCAL_ARTIFACTS.contains(&name.as_str()) || name.ends_with(".egg-info") {
                    continue;
                }
                match entry.file_type() {
                    Ok(t) if t.is_dir() => walk(&entry.path(), found),
                    Ok(_) => found.push(entry.path()),
                    Err(_) => {}
                }
            }
        }
        let mut found = vec![];
        walk(&dir.join(SDK_DIR), &mut found);
        found.retain(|p| {
            p.strip_prefix(dir)
                .map(|rel| {
                    !self
                        .files
                        .contains_key(&rel.to_string_lossy().replace('\\', "/"))
                })
                .unwrap_or(false)
        });
        found.sort();
        found
    }

    /// The files under `dir` that are missing or differ from what the config generates now.
    pub fn check(&self, dir: &Path) -> Vec<Stale> {
        let mut stale: Vec<Stale> = self
            .files
            .iter()
            .filter_map(|(path, text)| {
                let target = dir.join(path);
                let how = match std::fs::read(&target) {
                    Ok(old) if old == text.as_bytes() => return None,
                    Ok(_) => Staleness::Differs,
                    Err(_) => Staleness::Missing,
                };
                Some(Stale { path: target, how })
            })
            .collect();
        stale.extend(self.not_generated(dir).into_iter().map(|path| Stale {
            path,
            how: Staleness::NotGenerated,
        }));
        stale
    }
}
