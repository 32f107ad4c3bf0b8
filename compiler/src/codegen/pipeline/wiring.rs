//! The wiring: `open` (sources, endpoint tables, operator state) and the `Pipeline` impl that runs
//! a batch through every query reading its source.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::endpoints::schema_literal;
use super::{table_ident, EndpointInfo, PipelineGen, SourceRead};
use crate::catalog::read::FileFormat;
use crate::catalog::read::FileRead;
use crate::codegen::error::CodegenError;
use crate::sql::BoundQuery;
use crate::types::SqlType;

impl PipelineGen<'_> {
    pub(super) fn open_fn(&self, endpoints: &[EndpointInfo]) -> Result<String, CodegenError> {
        let mut sources = vec![];
        for s in &self.sources {
            let t = &self.types[s.ty];
            sources.push(match &s.read {
                SourceRead::Files(FileRead {
                    folder,
                    extension,
                    format,
                    has_header,
                    delimiter,
                    quiet_period_ms,
                    marker_extension,
                }) => {
                    let quiet = match quiet_period_ms {
                        Some(ms) => format!("std::time::Duration::from_millis({ms})"),
                        None => "DEFAULT_QUIET_PERIOD".to_string(),
                    };
                    let format = match format {
                        FileFormat::JsonLines => "FileFormat::JsonLines".to_string(),
                        FileFormat::Parquet => "FileFormat::Parquet".to_string(),
                        _ => format!(
                            "FileFormat::Csv {{ delimiter: {}, has_header: {has_header} }}",
                            byte_literal(*delimiter),
                        ),
                    };
                    let columns: Vec<String> = t
                        .sql_names
                        .iter()
                        .map(|n| format!("{n:?}.into()"))
                        .collect();
                    format!(
                        "SourceDef {{ name: {:?}.into(), kind: SourceKind::Files(FileTable {{ folder: {}, extension: {extension:?}.into(), format: {format}, columns: Vec::from([{}]), quiet_period: {quiet}, marker_extension: {} }}) }}",
                        s.name,
                        super::sources::folder(folder),
                        columns.join(", "),
                        match marker_extension {
                            Some(m) => format!("Some({m:?}.into())"),
                            None => "None".into(),
                        }
                    )
                }
                SourceRead::Postgres(table) => source_def(&s.name, "Postgres", table),
                SourceRead::MySql(table) => source_def(&s.name, "MySql", table),
                SourceRead::Grpc(table) => source_def(&s.name, "Grpc", table),
                SourceRead::Delta(table) => source_def(&s.name, "Delta", table),
            });
        }
        let mut eps = vec![];
        let mut tables = vec![];
        for e in endpoints {
            eps.push(schema_literal(&e.schema));
            tables.push(format!(
                "Table::open(env, txn, {:?}, KeyKind::{}, {}, {})?",
                e.schema.name,
                if e.schema.primary_key.is_some() {
                    "Primary"
                } else {
                    "Synthetic"
                },
                e.policy,
                e.schema.indexes.len()
            ));
        }
        let ops: Vec<String> = self
            .ops
            .iter()
            .map(|(f, _, open)| format!("{f}: {open}"))
            .collect();
        Ok(format!(
            "/// Opens (or creates) the pipeline's operator state and endpoint tables in `txn`. Source paths are relative to `base`, the config's directory.\npub fn open(base: &Path, env: &Env<WithoutTls>, txn: &mut RwTxn) -> Result<Box<dyn Pipeline>, OpError> {{ Ok(Box::new(Generated {{ sources: Vec::from([{}]), endpoints: Vec::from([{}]), tables: Vec::from([{}]), {} }})) }}\n",
            sources.join(", "),
            eps.join(", "),
            tables.join(", "),
            ops.join(", ")
        ))
    }

    pub(super) fn pipeline_impl(
        &self,
        endpoints: &[EndpointInfo],
        queries: &[&BoundQuery],
    ) -> Result<String, CodegenError> {
        let mut arms = String::new();
        for (si, s) in self.sources.iter().enumerate() {
            // Queries this source reaches, directly or through other queries' tables.
            let mut reached: BTreeSet<String> = BTreeSet::from([s.name.clone()]);
            let mut body = format!(
                "d.{} = parse_chunk(chunk, bad, parse_{})?;",
                s.ident, s.ident
            );
            for (qi, q) in queries.iter().enumerate() {
                let mut reads = false;
                q.plan.visit_scans(&mut |t, _| reads |= reached.contains(t));
                if !reads {
                    continue;
                }
                reached.insert(q.into.clone());
                write!(body, "let out = self.q{qi}(txn, &d)?;").ok();
                body.push_str(&self.store_changes(endpoints, &q.into, "out"));
                if self.inputs.contains_key(&table_ident(&q.into)) {
                    write!(body, "d.{} = out;", table_ident(&q.into)).ok();
                }
            }
            body.push_str(&self.store_changes(endpoints, &s.name, &format!("d.{}", s.ident)));
            write!(arms, "{si} => {{ {body} }}").ok();
        }
        let mut decode_arms = String::new();
        for (ei, e) in endpoints.iter().enumerate() {
            let t = &self.types[e.ty];
            let values: Vec<String> = t
                .fields
                .iter()
                .map(|f| {
                    if f.ty == SqlType::Text {
                        if f.nullable {
                            format!("row::text(r.{})", f.ident)
                        } else {
                            format!("row::text(Some(r.{}))", f.ident)
                        }
                    } else {
                        format!("r.{}.into_value()", f.ident)
                    }
                })
                .collect();
            write!(
                decode_arms,
                "{ei} => {{ let r = {}::decode(&mut Reader::new(bytes))?; Ok(Vec::from([{}])) }}",
                t.name,
                values.join(", ")
            )
            .ok();
        }
        Ok(format!(
            "impl Pipeline for Generated {{
                fn sources(&self) -> &[SourceDef] {{ &self.sources }}
                fn endpoints(&self) -> &[EndpointSchema] {{ &self.endpoints }}
                fn table(&self, endpoint: usize) -> &Table {{ &self.tables[endpoint] }}
                fn fingerprint(&self) -> &str {{ FINGERPRINT }}
                /// Runs one chunk of a source through every query that reads it (directly or through another query's results), then into the endpoint tables.
                fn apply(&self, txn: &mut RwTxn, source: usize, chunk: &Chunk, bad: &mut BadRecords, changes: &mut Vec<(usize, RecordChange)>) -> Result<(), PipelineError> {{
                    let mut d = Delta::default();
                    match source {{ {arms} _ => {{}} }}
                    Ok(())
                }}
                fn decode(&self, endpoint: usize, bytes: &[u8]) -> Result<Vec<Value>, DecodeError> {{
                    match endpoint {{ {decode_arms} _ => Err(DecodeError(\"no such endpoint\")) }}
                }}
            }}\n"
        ))
    }
}

pub(super) fn byte_literal(b: u8) -> String {
    format!("b{:?}", b as char)
}

/// A source's `SourceDef` literal, of the `SourceKind` variant `kind` around `table`.
fn source_def(name: &str, kind: &str, table: &str) -> String {
    format!("SourceDef {{ name: {name:?}.into(), kind: SourceKind::{kind}({table}) }}")
}
