//! What the SDKs are generated from: each endpoint's schema as the binary serves it, its SQL,
//! and the names of the packages.

use dozer_types::{EndpointSchema, SqlType};

use crate::codegen::{self, CodegenError};
use crate::program::Program;

/// One endpoint as the SDKs see it.
#[derive(Clone, Debug)]
pub struct SdkEndpoint {
    pub schema: EndpointSchema,
    /// The source or `SELECT ... INTO` table it serves.
    pub table: String,
    /// The statement that fills the table; `None` when the endpoint serves a source directly.
    pub sql: Option<String>,
}

impl SdkEndpoint {
    /// How a record is read by key: by its one key field, by record id (no key), or not at all
    /// (a composite key, or a single-row result).
    pub fn key(&self) -> KeyRead<'_> {
        match &self.schema.primary_key {
            None => KeyRead::RecordId,
            Some(k) if k.len() == 1 => {
                let field = &self.schema.fields[k[0]];
                KeyRead::Field(&field.name, field.ty)
            }
            Some(_) => KeyRead::None,
        }
    }

    /// What the doc comments say the records are.
    pub fn origin(&self) -> String {
        match &self.sql {
            Some(_) => format!("the rows of `{}`", self.table),
            None => format!("the rows of source `{}`", self.table),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRead<'a> {
    Field(&'a str, SqlType),
    RecordId,
    None,
}

/// What every SDK is generated from.
#[derive(Clone, Debug)]
pub struct SdkInput {
    pub app_name: String,
    /// The REST API's address by default (`http://localhost:<api.rest.port>`).
    pub default_url: String,
    pub endpoints: Vec<SdkEndpoint>,
}

impl SdkInput {
    /// The contract of a checked program: the endpoint schemas as the binary serves them.
    pub fn new(program: &Program) -> Result<SdkInput, CodegenError> {
        let endpoints = codegen::api_endpoints(program)?
            .into_iter()
            .map(|e| {
                let sql = program
                    .queries
                    .iter()
                    .find(|q| q.into == e.table)
                    .map(|q| q.sql.trim().to_string());
                SdkEndpoint {
                    schema: e.schema,
                    table: e.table,
                    sql,
                }
            })
            .collect();
        Ok(SdkInput {
            app_name: program.app_name.clone(),
            default_url: format!("http://localhost:{}", program.settings.rest_port),
            endpoints,
        })
    }
}

/// The SQL of an endpoint as comment lines (`prefix` before each), or where its rows come from.
pub fn sql_lines(endpoint: &SdkEndpoint) -> Vec<String> {
    match &endpoint.sql {
        Some(sql) => sql.lines().map(|l| l.trim_end().to_string()).collect(),
        None => vec![],
    }
}

/// A package name for npm and PyPI: lower case, `-` for anything else.
pub fn package_name(app_name: &str) -> String {
    let mut out = String::new();
    for c in app_name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-');
    if out.is_empty() {
        "dozer-app".into()
    } else {
        out.into()
    }
}

/// The npm package name of an app's TypeScript SDK.
pub fn npm_name(app_name: &str) -> String {
    format!("{}-client", package_name(app_name))
}

/// The name by which the SDKs' generic code decodes a field's JSON value (`client.js`'s
/// `decodeValue`, `_client.py`'s `_DECODERS`): the type's SQL name.
pub fn kind(ty: SqlType) -> &'static str {
    ty.name()
}
