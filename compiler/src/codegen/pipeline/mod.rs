//! The app's `pipeline.rs`: a typed row struct per source and per relation, one method per plan
//! node that turns the batch's input changes into the node's output changes, and the
//! `dozer_runtime::contract::Pipeline` implementation that wires sources to queries to endpoint tables.
//!
//! Dataflow: a batch carries the changed rows of one source (`Delta`). Each query reachable from
//! that source runs once, in dependency order; a node's method calls its inputs' methods (or reads
//! the batch directly at a scan), so every node sees exactly the changes of its inputs. Queries
//! that read another query's INTO table read its changes from the `Delta` too. Stateful nodes
//! (aggregates, joins, DISTINCT, TTL) hand encoded rows to the runtime's operators, which keep
//! their state in the batch's LMDB transaction; everything else is straight-line Rust over the
//! generated structs.
//!
//! This file holds the generator's state and the order of the output; [`sources`] the source
//! rows and parsers, [`nodes`] the plan nodes, [`endpoints`] the endpoint schemas, keys and
//! tables, [`wiring`] `open` and the `Pipeline` impl.

mod endpoints;
mod nodes;
mod sources;
mod wiring;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::contract;
use super::error::CodegenError;
use super::expr::RowField;
use super::names::{camel, comment, field_type, snake, unique};
use crate::catalog::read::FileRead;
use crate::diagnostic::Span;
use crate::program::Program;
use crate::sql::plan::{Field, Key, ScanKind};
use crate::sql::prune::prune;
use crate::sql::BoundQuery;
use dozer_types::EndpointSchema;

/// A generated row struct.
struct RowType {
    name: String,
    doc: String,
    fields: Vec<RowField>,
    /// The SQL names, for endpoint schemas and parsers.
    sql_names: Vec<String>,
}

/// What reading a node's output looks like in its parent.
struct NodeOut {
    ty: usize,
    /// An expression that yields the node's changes: `d.sales` (borrowed) or a method call
    /// (owned `Vec`).
    source: String,
    owned: bool,
}

impl NodeOut {
    /// The `for` loop header over the node's changes, binding `r` (the row) and `w` (weight).
    fn each(&self) -> String {
        if self.owned {
            format!("for (r, w) in {}", self.source)
        } else {
            format!("for &(ref r, w) in {}.iter()", self.source)
        }
    }

    /// The row as `&T`.
    fn row_ref(&self) -> &'static str {
        if self.owned {
            "&r"
        } else {
            "r"
        }
    }

    fn row_owned(&self) -> &'static str {
        if self.owned {
            "r"
        } else {
            "r.clone()"
        }
    }
}

/// An endpoint as the API serves it (the same description the runtime is handed, the OpenAPI
/// document and the `.proto` files are written from), and the table it serves.
#[derive(Clone, Debug)]
pub struct ApiEndpoint {
    pub schema: EndpointSchema,
    /// The source or INTO table it serves.
    pub table: String,
    /// Where the config names the endpoint.
    pub at: Span,
}

struct SourceInfo {
    name: String,
    /// `Delta` field and parser suffix.
    ident: String,
    ty: usize,
    read: SourceRead,
}

/// Where a source's rows come from, as the runtime is told.
enum SourceRead {
    Files(FileRead),
    /// A `PgTable { .. }` expression.
    Postgres(String),
    /// A `MySqlTable { .. }` expression.
    MySql(String),
    /// A `DeltaTable { .. }` expression.
    Delta(String),
    /// A `GrpcTable { .. }` expression.
    Grpc(String),
}

struct EndpointInfo {
    /// Name, path, fields, primary key (`None` = synthetic) and indexes.
    schema: EndpointSchema,
    at: Span,
    table: String,
    ty: usize,
    keys_struct: String,
    policy: String,
}

pub struct PipelineGen<'a> {
    program: &'a Program,
    types: Vec<RowType>,
    type_names: BTreeSet<String>,
    sources: Vec<SourceInfo>,
    /// Delta field ident → row type, for sources and INTO tables read by other queries.
    inputs: BTreeMap<String, usize>,
    /// INTO table → its output row type and the key its plan derives.
    tables: BTreeMap<String, (usize, Key)>,
    /// Operator fields: (field name, type, open expression).
    ops: Vec<(String, String, String)>,
    methods: Vec<String>,
    query: usize,
    node: usize,
}

/// FNV-1a: a stable fingerprint (std's hashers are not guaranteed stable across releases).
pub fn fingerprint(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

impl<'a> PipelineGen<'a> {
    pub fn new(program: &'a Program) -> Self {
        PipelineGen {
            program,
            types: vec![],
            type_names: contract::reserved_type_names().collect(),
            sources: vec![],
            inputs: BTreeMap::new(),
            tables: BTreeMap::new(),
            ops: vec![],
            methods: vec![],
            query: 0,
            node: 0,
        }
    }

    fn add_type(
        &mut self,
        hint: &str,
        doc: String,
        fields: &[Field],
    ) -> Result<usize, CodegenError> {
        let mut name = camel(hint);
        let mut k = 2;
        while self.type_names.contains(&name) {
            name = format!("{}{k}", camel(hint));
            k += 1;
        }
        self.type_names.insert(name.clone());
        let idents = unique(fields.iter().map(|f| snake(&f.name)));
        let mut row_fields = vec![];
        for (f, ident) in fields.iter().zip(idents) {
            field_type(f.ty, f.nullable)?; // reject unsupported types early
            row_fields.push(RowField {
                ident,
                ty: f.ty,
                nullable: f.nullable,
            });
        }
        self.types.push(RowType {
            name,
            doc,
            fields: row_fields,
            sql_names: fields.iter().map(|f| f.name.clone()).collect(),
        });
        Ok(self.types.len() - 1)
    }

    /// Generates the whole file (unformatted Rust).
    /// The app's `pipeline.rs`, and what the API documents of each endpoint.
    pub fn generate(
        mut self,
        queries: &[&BoundQuery],
        config_name: &str,
    ) -> Result<(String, Vec<ApiEndpoint>), CodegenError> {
        // Sources that a query or an endpoint reads, in config order.
        let mut used: BTreeSet<String> = BTreeSet::new();
        for q in queries {
            q.plan.visit_scans(&mut |t, k| {
                if k == ScanKind::Source {
                    used.insert(t.to_string());
                }
            });
        }
        for ep in &self.program.endpoints {
            if self.program.source(&ep.table).is_some() {
                used.insert(ep.table.clone());
            }
        }
        let program = self.program;
        for s in &program.sources {
            if used.contains(&s.name) {
                self.add_source(s)?;
            }
        }
        // INTO tables that other queries read.
        let mut read_tables: BTreeSet<String> = BTreeSet::new();
        for q in queries {
            q.plan.visit_scans(&mut |t, k| {
                if k == ScanKind::Table {
                    read_tables.insert(t.to_string());
                }
            });
        }
        for (i, q) in queries.iter().enumerate() {
            self.query = i;
            self.node = 0;
            // Operators get only the columns something above them reads.
            let out = self.plan(&prune(&q.plan), &q.into, &q.sql)?;
            // The query's entry point: its root node's changes as an owned Vec.
            let ty = &self.types[out.ty].name;
            let body = if out.owned {
                out.source.clone()
            } else {
                format!("{}.clone()", out.source)
            };
            self.methods.push(format!(
                "/// `{}`: the changes of `{}` for this batch.\nfn q{i}(&self, txn: &mut RwTxn, d: &Delta) -> Result<Vec<({ty}, Weight)>, OpError> {{ Ok({body}) }}",
                comment(&q.into), comment(&q.into)
            ));
            self.tables
                .insert(q.into.clone(), (out.ty, q.plan.schema.key.clone()));
            if read_tables.contains(&q.into) {
                self.inputs.insert(table_ident(&q.into), out.ty);
            }
        }
        let endpoints = self.endpoints()?;
        let api: Vec<ApiEndpoint> = endpoints
            .iter()
            .map(|e| ApiEndpoint {
                schema: e.schema.clone(),
                table: e.table.clone(),
                at: e.at,
            })
            .collect();

        let mut code = String::new();
        writeln!(
            code,
            "//! The pipeline of app `{}`, generated by dozerc from `{}`. Do not edit: change the config or SQL and run `dozerc build` again.",
            comment(&self.program.app_name),
            comment(config_name)
        )
        .ok();
        code.push_str(PRELUDE);
        code.push_str(&contract::pipeline_use());
        for t in &self.types {
            code.push_str(&row_struct(t)?);
        }
        for s in &self.sources {
            code.push_str(&self.parser(s)?);
        }
        for e in &endpoints {
            code.push_str(&self.keys_impl(e));
        }
        // The batch.
        code.push_str("/// The changes of one batch, per input relation (only one source's are non-empty).\n#[derive(Default)]\nstruct Delta {");
        for (ident, ty) in &self.inputs {
            write!(code, "{ident}: Vec<({}, Weight)>,", self.types[*ty].name).ok();
        }
        code.push_str("}\n");
        // The operators and tables.
        code.push_str("pub struct Generated { sources: Vec<SourceDef>, endpoints: Vec<EndpointSchema>, tables: Vec<Table>,");
        for (field, ty, _) in &self.ops {
            write!(code, "{field}: {ty},").ok();
        }
        code.push_str("}\n");
        code.push_str(&self.open_fn(&endpoints)?);
        code.push_str("impl Generated {");
        for m in &self.methods {
            code.push_str(m);
            code.push('\n');
        }
        code.push_str("}\n");
        code.push_str(&self.pipeline_impl(&endpoints, queries)?);
        Ok((code, api))
    }

    fn next_method(&mut self) -> String {
        self.node += 1;
        format!("q{}_n{}", self.query, self.node)
    }

    fn add_op(&mut self, method: &str, ty: &str, open: String) -> String {
        let field = format!("{method}_{}", ty.to_lowercase());
        self.ops.push((field.clone(), ty.to_string(), open));
        field
    }

    fn method(&mut self, name: &str, doc: &str, ty: usize, body: String) -> NodeOut {
        let tname = &self.types[ty].name;
        self.methods.push(format!(
            "/// {}\nfn {name}(&self, txn: &mut RwTxn, d: &Delta) -> Result<Vec<({tname}, Weight)>, OpError> {{ let mut out = Vec::new(); {body} Ok(out) }}",
            comment(doc).replace('\n', "\n/// ")
        ));
        NodeOut {
            ty,
            source: format!("self.{name}(txn, d)?"),
            owned: true,
        }
    }

    fn input_fields(&self, ty: usize) -> Vec<RowField> {
        self.types[ty].fields.clone()
    }
}

/// The doc comment of a query's result row: its name and the SQL it comes from.
fn relation_doc(name: &str, sql: &str) -> String {
    format!(
        "A row of `{}`.\n\n```sql\n{}\n```",
        comment(name),
        comment(sql.trim())
    )
}

fn table_ident(table: &str) -> String {
    format!("into_{}", snake(table))
}

fn row_struct(t: &RowType) -> Result<String, CodegenError> {
    let mut s = String::new();
    for line in t.doc.lines() {
        writeln!(s, "/// {line}").ok();
    }
    write!(
        s,
        "#[derive(Clone, Debug, PartialEq)]\npub struct {} {{",
        t.name
    )
    .ok();
    for (f, sql) in t.fields.iter().zip(&t.sql_names) {
        write!(
            s,
            "/// `{}`\npub {}: {},",
            comment(sql),
            f.ident,
            field_type(f.ty, f.nullable)?
        )
        .ok();
    }
    s.push_str("}\n");
    write!(
        s,
        "impl Encode for {} {{ fn encode(&self, out: &mut Vec<u8>) {{",
        t.name
    )
    .ok();
    for f in &t.fields {
        write!(s, "self.{}.encode(out);", f.ident).ok();
    }
    s.push_str("} }\n");
    write!(
        s,
        "impl Decode for {} {{ fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {{ Ok({} {{",
        t.name, t.name
    )
    .ok();
    for f in &t.fields {
        write!(s, "{}: Decode::decode(r)?,", f.ident).ok();
    }
    s.push_str("}) } }\n");
    Ok(s)
}

const PRELUDE: &str = r#"
#![allow(clippy::all, unused_mut, unused_variables, unused_imports, unused_parens)]

use std::path::Path;

"#;
