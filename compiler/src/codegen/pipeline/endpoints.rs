//! Endpoints: each endpoint's schema (as the runtime, the OpenAPI document and the `.proto` files
//! see it), its keys and indexes, and how a relation's changes reach its tables.

use std::fmt::Write as _;

use super::{EndpointInfo, PipelineGen};
use crate::codegen::error::CodegenError;
use crate::codegen::names::{camel, comment};
use crate::program::{OnConflict, ProgramEndpoint, Secondary};
use crate::sql::plan::Key;
use crate::types::SqlType;
use dozer_types::{EndpointSchema, FieldDef, IndexDef};

impl PipelineGen<'_> {
    pub(super) fn endpoints(&self) -> Result<Vec<EndpointInfo>, CodegenError> {
        let mut out = vec![];
        for ep in &self.program.endpoints {
            out.push(self.endpoint(ep)?);
        }
        Ok(out)
    }

    pub(super) fn endpoint(&self, ep: &ProgramEndpoint) -> Result<EndpointInfo, CodegenError> {
        let table = &ep.table;
        let (ty, plan_key) = if let Some((ty, key)) = self.tables.get(table) {
            (*ty, key.clone())
        } else if let Some(s) = self.sources.iter().find(|s| &s.name == table) {
            let pk = self
                .program
                .source(table)
                .map_or(&[][..], |s| &s.schema.primary_key[..])
                .to_vec();
            (
                s.ty,
                if pk.is_empty() {
                    Key::Synthetic
                } else {
                    Key::Columns(pk)
                },
            )
        } else {
            return Err(CodegenError::Internal(format!("endpoint table `{table}`")));
        };
        let t = &self.types[ty];
        let position = |name: &str| {
            t.sql_names
                .iter()
                .position(|n| n == name)
                .ok_or_else(|| CodegenError::Internal(format!("column `{name}` of `{table}`")))
        };
        let (key, policy) = match &ep.primary_key {
            Some(cols) => {
                let idx = cols
                    .iter()
                    .map(|c| position(c))
                    .collect::<Result<Vec<_>, _>>()?;
                let rule = |c: OnConflict| match c {
                    OnConflict::Nothing => "Nothing",
                    OnConflict::Apply => "Apply",
                    OnConflict::Fail => "Fail",
                };
                let (on_insert, on_update, on_delete) =
                    (rule(ep.on_insert), rule(ep.on_update), rule(ep.on_delete));
                (
                    Some(idx),
                    format!("ConflictPolicy {{ on_insert: OnConflict::{on_insert}, on_update: OnConflict::{on_update}, on_delete: OnConflict::{on_delete} }}"),
                )
            }
            None => (
                match plan_key {
                    Key::Columns(c) => Some(c),
                    Key::Singleton => Some(vec![]),
                    Key::Synthetic => None,
                },
                "ConflictPolicy::STRICT".to_string(),
            ),
        };
        // Dozer's default: a sorted index per field (not for JSON or binary), unless skipped.
        let mut indexes = vec![];
        for (i, f) in t.fields.iter().enumerate() {
            let skipped = ep.skip_default.iter().any(|s| *s == t.sql_names[i]);
            if !skipped && !matches!(f.ty, SqlType::Json | SqlType::Binary) {
                indexes.push(IndexDef::Sorted(vec![i]));
            }
        }
        for ix in &ep.secondary {
            match ix {
                Secondary::Sorted(fields) => {
                    let idx = fields
                        .iter()
                        .map(|c| position(c))
                        .collect::<Result<Vec<_>, _>>()?;
                    let idx = IndexDef::Sorted(idx);
                    if !indexes.contains(&idx) {
                        indexes.push(idx);
                    }
                }
                Secondary::FullText { field, at } => {
                    let i = position(field)?;
                    if !matches!(t.fields[i].ty, SqlType::String | SqlType::Text) {
                        return Err(CodegenError::unsupported(
                            format!(
                                "a `!FullText` index on `{}` of endpoint `{}`, which is {}, not text",
                                field, ep.name, t.fields[i].ty
                            ),
                            *at,
                        ));
                    }
                    let idx = IndexDef::FullText(i);
                    if !indexes.contains(&idx) {
                        indexes.push(idx);
                    }
                }
            }
        }
        let fields = t
            .fields
            .iter()
            .zip(&t.sql_names)
            .map(|(f, n)| FieldDef::new(n.clone(), f.ty, f.nullable))
            .collect();
        Ok(EndpointInfo {
            schema: EndpointSchema {
                name: ep.name.clone(),
                path: ep.path.clone(),
                fields,
                primary_key: key,
                indexes,
                cache_control: ep.cache_control.clone(),
            },
            at: ep.at,
            table: table.clone(),
            ty,
            keys_struct: format!("{}Keys", camel(&ep.name)),
            policy,
        })
    }

    pub(super) fn keys_impl(&self, e: &EndpointInfo) -> String {
        let t = &self.types[e.ty];
        let key_of = |cols: &[usize]| {
            let parts: Vec<String> = cols
                .iter()
                .map(|&i| format!("&r.{}", t.fields[i].ident))
                .collect();
            format!("row::key_of(&[{}])", parts.join(", "))
        };
        let pk = match &e.schema.primary_key {
            Some(cols) => format!(
                "let r: {} = row::decode(bytes)?; Ok({})",
                t.name,
                key_of(cols)
            ),
            None => "Ok(Vec::new())".to_string(),
        };
        let entries: Vec<String> = e
            .schema
            .indexes
            .iter()
            .enumerate()
            .map(|(k, ix)| match ix {
                IndexDef::Sorted(cols) => format!("out.push(({k}, {}));", key_of(cols)),
                IndexDef::FullText(i) => {
                    format!("row::word_keys(&r.{}, {k}, out);", t.fields[*i].ident)
                }
            })
            .collect();
        let index_body = if entries.is_empty() {
            "Ok(())".to_string()
        } else {
            format!(
                "let r: {} = row::decode(bytes)?; {} Ok(())",
                t.name,
                entries.concat()
            )
        };
        let key_doc = match &e.schema.primary_key {
            Some(cols) if cols.is_empty() => "the empty key (one row)".to_string(),
            Some(cols) => cols
                .iter()
                .map(|&i| t.sql_names[i].clone())
                .collect::<Vec<_>>()
                .join(", "),
            None => "none: records are identified by id".to_string(),
        };
        let ix_doc: Vec<String> = e
            .schema
            .indexes
            .iter()
            .map(|ix| match ix {
                IndexDef::Sorted(cols) => format!(
                    "({})",
                    cols.iter()
                        .map(|&i| t.sql_names[i].clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                IndexDef::FullText(i) => format!("full text ({})", t.sql_names[*i]),
            })
            .collect();
        format!(
            "/// Keys of endpoint `{}`. Primary key: {}. Secondary indexes: {}.\nstruct {};\nimpl RowKeys for {} {{ fn primary_key(&self, bytes: &[u8]) -> Result<Vec<u8>, OpError> {{ {pk} }} fn index_keys(&self, bytes: &[u8], out: &mut Vec<(usize, Vec<u8>)>) -> Result<(), OpError> {{ {index_body} }} }}\n",
            comment(&e.schema.name),
            comment(&key_doc),
            comment(&if ix_doc.is_empty() { "none".to_string() } else { ix_doc.join(", ") }),
            e.keys_struct,
            e.keys_struct
        )
    }

    /// Code that applies a relation's changes (`rows`) to the tables of the endpoints serving it,
    /// encoding the rows once however many endpoints there are.
    pub(super) fn store_changes(
        &self,
        endpoints: &[EndpointInfo],
        relation: &str,
        rows: &str,
    ) -> String {
        let serving: Vec<(usize, &EndpointInfo)> = endpoints
            .iter()
            .enumerate()
            .filter(|(ei, _)| self.program.endpoints[*ei].table == relation)
            .collect();
        if serving.is_empty() {
            return String::new();
        }
        let mut code = format!("let encoded = row::encode_changes(&{rows});");
        for (k, (ei, e)) in serving.iter().enumerate() {
            let changes = if k + 1 == serving.len() {
                "encoded"
            } else {
                "encoded.clone()"
            };
            write!(
                code,
                "changes.extend(self.tables[{ei}].apply(txn, &{}, {changes})?.into_iter().map(|c| ({ei}, c)));",
                e.keys_struct
            )
            .ok();
        }
        format!("{{ {code} }}")
    }
}

/// The Rust expression of an endpoint's schema, as the generated pipeline hands it to the runtime.
pub(super) fn schema_literal(e: &EndpointSchema) -> String {
    let list = |cols: &[usize]| {
        cols.iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let fields: Vec<String> = e
        .fields
        .iter()
        .map(|f| {
            format!(
                "FieldDef {{ name: {:?}.into(), ty: SqlType::{:?}, nullable: {} }}",
                f.name, f.ty, f.nullable
            )
        })
        .collect();
    let primary_key = match &e.primary_key {
        Some(cols) => format!("Some(Vec::from([{}]))", list(cols)),
        None => "None".to_string(),
    };
    let indexes: Vec<String> = e
        .indexes
        .iter()
        .map(|ix| match ix {
            IndexDef::Sorted(cols) => format!("IndexDef::Sorted(Vec::from([{}]))", list(cols)),
            IndexDef::FullText(i) => format!("IndexDef::FullText({i})"),
        })
        .collect();
    let cache_control = match &e.cache_control {
        Some(c) => format!("Some({c:?}.into())"),
        None => "None".to_string(),
    };
    format!(
        "EndpointSchema {{ name: {:?}.into(), path: {:?}.into(), fields: Vec::from([{}]), primary_key: {primary_key}, indexes: Vec::from([{}]), cache_control: {cache_control} }}",
        e.name,
        e.path,
        fields.join(", "),
        indexes.join(", ")
    )
}
