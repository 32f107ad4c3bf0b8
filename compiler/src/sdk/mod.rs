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

/// A generated file that differs from what is on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stale {
    pub path: PathBuf,
    /// `false`: the file is missing.
    pub exists: bool,
}

impl Sdk {
    /// Writes the files under `dir` (the config's directory), leaving unchanged ones untouched;
    /// returns how many were written.
    pub fn write(&self, dir: &Path) -> std::io::Result<usize> {
        crate::codegen::write_changed(dir, &self.files)
    }

    /// The files under `dir` that are missing or differ from what the config generates now.
    pub fn check(&self, dir: &Path) -> Vec<Stale> {
        self.files
            .iter()
            .filter_map(|(path, text)| {
                let target = dir.join(path);
                match std::fs::read(&target) {
                    Ok(old) if old == text.as_bytes() => None,
                    Ok(_) => Some(Stale {
                        path: target,
                        exists: true,
                    }),
                    Err(_) => Some(Stale {
                        path: target,
                        exists: false,
                    }),
                }
            })
            .collect()
    }
}
