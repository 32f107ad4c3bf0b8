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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::contract;
use super::error::CodegenError;
use super::expr::{is_copy, ExprGen, RowField};
use super::names::{camel, comment, field_type, snake, unique};
use crate::catalog::Catalog;
use crate::config::{
    Config, ConnectionKind, Endpoint, FileFormat, OnDelete, OnInsert, OnUpdate, SecondaryIndex,
};
use crate::diagnostic::Span;
use crate::sql::plan::{
    AggregateFunction, Field, JoinKind, Key, Plan, PlanNode, PlanSchema, ScanKind, ShowExpr,
    WindowKind,
};
use crate::sql::prune::prune;
use crate::sql::BoundQuery;
use crate::types::SqlType;
use dozer_types::{EndpointSchema, FieldDef, IndexDef};

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

/// The `keycode` key of a whole row `var` (equal rows, equal bytes: DISTINCT and UNION).
fn row_key(fields: &[RowField], var: &str) -> String {
    let parts: Vec<String> = fields
        .iter()
        .map(|f| format!("&{var}.{}", f.ident))
        .collect();
    format!("row::key_of(&[{}])", parts.join(", "))
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
    Files {
        dir: String,
        extension: String,
        format: FileFormat,
        has_header: bool,
        delimiter: u8,
        /// Milliseconds; `None`: the runtime's default.
        quiet_period_ms: Option<i64>,
    },
    /// A `PgTable { .. }` expression.
    Postgres(String),
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
    config: &'a Config,
    catalog: &'a Catalog,
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
    pub fn new(config: &'a Config, catalog: &'a Catalog) -> Self {
        PipelineGen {
            config,
            catalog,
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
        for ep in &self.config.endpoints {
            if self.catalog.sources.contains_key(&ep.table_name.value) {
                used.insert(ep.table_name.value.clone());
            }
        }
        for s in &self.config.sources {
            if used.contains(&s.name.value) {
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
            comment(self.config.app_name()),
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

    fn add_source(&mut self, s: &crate::config::Source) -> Result<(), CodegenError> {
        let name = s.name.value.clone();
        let Some(entry) = self.catalog.sources.get(&name) else {
            return Err(CodegenError::Internal(format!(
                "source `{name}` has no schema"
            )));
        };
        let Some(conn) = self.config.connection(&s.connection.value) else {
            return Err(CodegenError::Internal(format!(
                "source `{name}` has no connection"
            )));
        };
        let fields = PlanSchema::source_fields(&entry.schema, None);
        let (doc, read) = match &conn.kind {
            ConnectionKind::LocalStorage(ls) => {
                let Some(table) = ls
                    .tables
                    .iter()
                    .find(|t| t.name.value == s.table_name.value)
                else {
                    return Err(CodegenError::Internal(format!(
                        "table `{}` of source `{name}`",
                        s.table_name.value
                    )));
                };
                if table.format == FileFormat::Delta {
                    return Err(CodegenError::unsupported(
                        format!("reading Delta Lake tables (source `{name}`); CSV, JSON-lines and Parquet sources run today"),
                        table.format_span,
                    ));
                }
                let doc = format!(
                    "A row of source `{}` (files `{}/{}/*{}`).",
                    comment(&name),
                    comment(&ls.path.value),
                    comment(&table.path.value),
                    comment(&table.extension)
                );
                let dir = std::path::Path::new(&ls.path.value)
                    .join(&table.path.value)
                    .display()
                    .to_string();
                let read = SourceRead::Files {
                    dir,
                    extension: table.extension.clone(),
                    format: table.format,
                    has_header: table.has_header,
                    delimiter: table.delimiter,
                    quiet_period_ms: table.quiet_period_ms.as_ref().map(|q| q.value),
                };
                (doc, read)
            }
            ConnectionKind::Postgres(pg) => {
                let schema = s
                    .schema
                    .as_ref()
                    .or(pg.schema.as_ref())
                    .map_or("public", |s| s.value.as_str());
                let doc = format!(
                    "A row of source `{}` (PostgreSQL table `{}.{}` of connection `{}`).",
                    comment(&name),
                    comment(schema),
                    comment(&s.table_name.value),
                    comment(&conn.name.value)
                );
                let table = self.pg_table(conn, pg, schema, &s.table_name.value, &entry.schema)?;
                (doc, SourceRead::Postgres(table))
            }
            other => {
                return Err(CodegenError::unsupported(
                    format!(
                        "{} sources in apps (source `{name}`); PostgreSQL and file sources (`!LocalStorage`) run today",
                        other.kind_name()
                    ),
                    s.connection.span,
                ))
            }
        };
        let ty = self.add_type(&name, doc, &fields)?;
        let ident = snake(&name);
        self.inputs.insert(ident.clone(), ty);
        self.sources.push(SourceInfo {
            name,
            ident,
            ty,
            read,
        });
        Ok(())
    }

    /// The runtime's description of a PostgreSQL source table. The password is compiled in only
    /// when the config wrote it out; `{{VAR}}` makes the app read the variable when it starts.
    fn pg_table(
        &self,
        conn: &crate::config::Connection,
        pg: &crate::config::PostgresConfig,
        schema: &str,
        table: &str,
        columns: &crate::catalog::TableSchema,
    ) -> Result<String, CodegenError> {
        let cfg = crate::catalog::postgres::client_config(pg).map_err(CodegenError::Internal)?;
        let (host, port) = crate::catalog::postgres::host_port(&cfg);
        let user = cfg.get_user().unwrap_or("postgres");
        let database = cfg.get_dbname().unwrap_or(user);
        let password = match (&pg.password_env, cfg.get_password()) {
            (Some(var), _) => format!("Password::Env({var:?}.into())"),
            (None, Some(p)) => {
                format!("Password::Literal({:?}.into())", String::from_utf8_lossy(p))
            }
            (None, None) => "Password::None".into(),
        };
        let default_name = crate::config::PostgresConfig::default_replication_name(
            self.config.app_name(),
            &conn.name.value,
        );
        let slot = pg
            .replication_slot
            .as_ref()
            .map_or(default_name.as_str(), |s| s.value.as_str());
        let publication = pg
            .publication
            .as_ref()
            .map_or(default_name.as_str(), |s| s.value.as_str());
        let names: Vec<String> = columns
            .columns
            .iter()
            .map(|c| format!("{:?}.into()", c.name))
            .collect();
        let types: Vec<String> = columns
            .columns
            .iter()
            .map(|c| format!("SqlType::{:?}", c.ty))
            .collect();
        let key: Vec<String> = columns.primary_key.iter().map(|i| i.to_string()).collect();
        Ok(format!(
            "PgTable {{ connection: PgConnection {{ name: {:?}.into(), host: {host:?}.into(), port: {port}, user: {user:?}.into(), password: {password}, database: {database:?}.into(), slot: {slot:?}.into(), publication: {publication:?}.into() }}, schema: {schema:?}.into(), table: {table:?}.into(), columns: Vec::from([{}]), types: Vec::from([{}]), primary_key: Vec::from([{}]) }}",
            conn.name.value,
            names.join(", "),
            types.join(", "),
            key.join(", ")
        ))
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

    /// Generates a node and its inputs; `hint` names the node's row type if it makes one.
    fn plan(&mut self, plan: &Plan, hint: &str, sql: &str) -> Result<NodeOut, CodegenError> {
        let schema = &plan.schema;
        match &plan.node {
            PlanNode::Scan { table, kind } => {
                let ident = match kind {
                    ScanKind::Source => snake(table),
                    ScanKind::Table => table_ident(table),
                };
                let ty = match kind {
                    ScanKind::Source => self.inputs.get(&ident).copied(),
                    ScanKind::Table => self.tables.get(table).map(|(ty, _)| *ty),
                }
                .ok_or_else(|| CodegenError::Internal(format!("no rows for `{table}`")))?;
                Ok(NodeOut {
                    ty,
                    source: format!("d.{ident}"),
                    owned: false,
                })
            }
            PlanNode::Filter { input, predicate } => {
                let name = self.next_method();
                let child = self.plan(input, hint, sql)?;
                let fields = self.input_fields(child.ty);
                let pred = ExprGen::new("r", &fields).predicate(predicate)?;
                let doc = format!("WHERE {}", ShowExpr(predicate, &input.schema.fields));
                let body = format!(
                    "{} {{ if {pred} {{ out.push(({}, w)); }} }}",
                    child.each(),
                    child.row_owned()
                );
                Ok(self.method(&name, &doc, child.ty, body))
            }
            PlanNode::Project { input, exprs } => {
                let name = self.next_method();
                let child = self.plan(input, &format!("{hint}_n{}", self.node + 1), sql)?;
                let ty = self.add_type(hint, relation_doc(hint, sql), &schema.fields)?;
                let in_fields = self.input_fields(child.ty);
                let out_fields = self.types[ty].fields.clone();
                let mut gen = ExprGen::new("r", &in_fields);
                let mut inits = vec![];
                let mut shown = vec![];
                for (e, f) in exprs.iter().zip(&out_fields) {
                    inits.push(format!("{}: {}", f.ident, gen.value(e, f.nullable)?));
                    shown.push(ShowExpr(e, &input.schema.fields).to_string());
                }
                let doc = format!("SELECT {}", shown.join(", "));
                let body = format!(
                    "{} {{ out.push(({} {{ {} }}, w)); }}",
                    child.each(),
                    self.types[ty].name,
                    inits.join(", ")
                );
                Ok(self.method(&name, &doc, ty, body))
            }
            PlanNode::Aggregate {
                input,
                group_by,
                aggregates,
            } => {
                let name = self.next_method();
                let child = self.plan(input, &format!("{hint}_n{}", self.node + 1), sql)?;
                // Aggregate columns are named after their function (`sum_1`), not their SQL text.
                let mut named = schema.fields.clone();
                for (k, a) in aggregates.iter().enumerate() {
                    if let Some(f) = named.get_mut(group_by.len() + k) {
                        f.name = format!("{}_{}", a.func.name(), k + 1);
                    }
                }
                let ty = self.add_type(
                    &format!("{hint}_groups"),
                    format!("A group of `{}` with its aggregates.", comment(hint)),
                    &named,
                )?;
                for (k, a) in aggregates.iter().enumerate() {
                    let shown = match &a.arg {
                        Some(x) => {
                            format!("{}({})", a.func.name(), ShowExpr(x, &input.schema.fields))
                        }
                        None => "count(*)".to_string(),
                    };
                    self.types[ty].sql_names[group_by.len() + k] = shown;
                }
                let in_fields = self.input_fields(child.ty);
                let out_fields = self.types[ty].fields.clone();
                let mut gen = ExprGen::new("r", &in_fields);
                let mut lets = String::new();
                let mut group_vars = vec![];
                for (i, (g, f)) in group_by.iter().zip(&out_fields).enumerate() {
                    write!(lets, "let g{i} = {};", gen.value(g, f.nullable)?).ok();
                    group_vars.push(format!("g{i}"));
                }
                let mut kinds = vec![];
                let mut args = vec![];
                for a in aggregates {
                    kinds.push(format!(
                        "AggKind::{}",
                        agg_kind(a.func, a.arg.as_ref().map(|x| x.ty))
                    ));
                    args.push(match &a.arg {
                        None => "Value::Null".to_string(),
                        Some(x) => format!("SqlValue::into_value({})", gen.value(x, x.nullable)?),
                    });
                }
                let global = group_by.is_empty();
                let op = self.add_op(
                    &name,
                    "Aggregate",
                    format!(
                        "Aggregate::open(env, txn, \"{name}.aggregate\", Vec::from([{}]), {global})?",
                        kinds.join(", ")
                    ),
                );
                let refs: Vec<String> = group_vars.iter().map(|g| format!("&{g}")).collect();
                let encodes: String = group_vars
                    .iter()
                    .map(|g| format!("{g}.encode(group);"))
                    .collect();
                let tname = self.types[ty].name.clone();
                let mut decode_groups = String::new();
                let mut inits = vec![];
                for (i, f) in out_fields.iter().enumerate() {
                    if i < group_by.len() {
                        write!(
                            decode_groups,
                            "let g{i}: {} = Decode::decode(&mut g)?;",
                            field_type(f.ty, f.nullable)?
                        )
                        .ok();
                        let v = if is_copy(f.ty) {
                            format!("g{i}")
                        } else {
                            format!("g{i}.clone()")
                        };
                        inits.push(format!("{}: {v}", f.ident));
                    } else {
                        inits.push(format!("{}: row::agg_value(values.next())?", f.ident));
                    }
                }
                let body = format!(
                    "let mut batch = self.{op}.batch(); let mut key = Vec::new();
                    {each} {{ {lets} row::key_into(&mut key, &[{refs}]); batch.add(&key, |group| {{ {encodes} }}, [{args}], w)?; }}
                    for change in batch.apply(txn)? {{
                        let mut g = Reader::new(&change.group); {decode_groups}
                        for (values, w) in [(change.old, -1), (change.new, 1)] {{
                            let Some(values) = values else {{ continue }};
                            let mut values = values.into_iter();
                            out.push(({tname} {{ {inits} }}, w));
                        }}
                    }}",
                    each = child.each(),
                    refs = refs.join(", "),
                    args = args.join(", "),
                    inits = inits.join(", "),
                );
                let mut doc = String::from("GROUP BY ");
                doc.push_str(
                    &group_by
                        .iter()
                        .map(|g| ShowExpr(g, &input.schema.fields).to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                );
                if global {
                    doc = "a global aggregate (one row)".into();
                }
                Ok(self.method(&name, &doc, ty, body))
            }
            PlanNode::Join {
                left,
                right,
                kind,
                on,
            } => {
                let name = self.next_method();
                let l = self.plan(left, &format!("{hint}_n{}_left", self.node), sql)?;
                let r = self.plan(right, &format!("{hint}_n{}_right", self.node), sql)?;
                let ty = self.add_type(
                    &format!("{hint}_joined"),
                    format!("A joined row of `{}`.", comment(hint)),
                    &schema.fields,
                )?;
                let (lf, rf) = (self.input_fields(l.ty), self.input_fields(r.ty));
                let mut lkeys = vec![];
                let mut rkeys = vec![];
                for (a, b) in on {
                    lkeys.push(format!("&{}", ExprGen::new("r", &lf).value(a, a.nullable)?));
                    rkeys.push(format!("&{}", ExprGen::new("r", &rf).value(b, b.nullable)?));
                }
                let runtime_kind = match kind {
                    JoinKind::Inner => "Inner",
                    JoinKind::Left => "Left",
                    JoinKind::Right => "Right",
                };
                let op = self.add_op(
                    &name,
                    "Join",
                    format!("Join::open(env, txn, \"{name}.join\", JoinKind::{runtime_kind})?"),
                );
                let out_fields = self.types[ty].fields.clone();
                let (lname, rname) = (self.types[l.ty].name.clone(), self.types[r.ty].name.clone());
                let left_optional = *kind == JoinKind::Right;
                let right_optional = *kind == JoinKind::Left;
                let mut inits = vec![];
                for (i, f) in out_fields.iter().enumerate() {
                    let (side, src, optional) = if i < lf.len() {
                        ("left", &lf[i], left_optional)
                    } else {
                        ("right", &rf[i - lf.len()], right_optional)
                    };
                    let take = if is_copy(src.ty) {
                        format!("x.{}", src.ident)
                    } else {
                        format!("x.{}.clone()", src.ident)
                    };
                    let v = match (optional, src.nullable) {
                        (false, _) => format!("{side}.{}", src.ident),
                        (true, false) => format!("{side}.as_ref().map(|x| {take})"),
                        (true, true) => format!("{side}.as_ref().and_then(|x| {take})"),
                    };
                    let v = if !optional && f.nullable && !src.nullable {
                        format!("Some({v})")
                    } else {
                        v
                    };
                    inits.push(format!("{}: {v}", f.ident));
                }
                let bind_left = if left_optional {
                    format!("let left: Option<{lname}> = o.left.as_deref().map(row::decode).transpose()?;")
                } else {
                    format!("let left: {lname} = row::decode(o.left.as_deref().ok_or_else(|| OpError::Inconsistent(\"a join output without its left row\".into()))?)?;")
                };
                let bind_right = if right_optional {
                    format!("let right: Option<{rname}> = o.right.as_deref().map(row::decode).transpose()?;")
                } else {
                    format!("let right: {rname} = row::decode(o.right.as_deref().ok_or_else(|| OpError::Inconsistent(\"a join output without its right row\".into()))?)?;")
                };
                let body = format!(
                    "let mut left_in = Vec::new(); {le} {{ left_in.push(JoinInput {{ key: row::join_key(&[{lk}]), row: row::encode({lr}), weight: w }}); }}
                    let mut right_in = Vec::new(); {re} {{ right_in.push(JoinInput {{ key: row::join_key(&[{rk}]), row: row::encode({rr}), weight: w }}); }}
                    for o in self.{op}.apply(txn, left_in, right_in)? {{
                        {bind_left} {bind_right}
                        out.push(({tname} {{ {inits} }}, o.weight));
                    }}",
                    le = l.each(),
                    re = r.each(),
                    lr = l.row_ref(),
                    rr = r.row_ref(),
                    lk = lkeys.join(", "),
                    rk = rkeys.join(", "),
                    tname = self.types[ty].name,
                    inits = inits.join(", "),
                );
                let cond: Vec<String> = on
                    .iter()
                    .map(|(a, b)| {
                        format!(
                            "{} = {}",
                            ShowExpr(a, &left.schema.fields),
                            ShowExpr(b, &right.schema.fields)
                        )
                    })
                    .collect();
                let doc = format!(
                    "{} JOIN ON {}",
                    runtime_kind.to_uppercase(),
                    cond.join(" AND ")
                );
                Ok(self.method(&name, &doc, ty, body))
            }
            PlanNode::Union { inputs, all } => {
                let name = self.next_method();
                let mut children = vec![];
                for (k, input) in inputs.iter().enumerate() {
                    children.push(self.plan(input, &format!("{hint}_n{}_{k}", self.node), sql)?);
                }
                let ty = self.add_type(hint, relation_doc(hint, sql), &schema.fields)?;
                let out_fields = self.types[ty].fields.clone();
                let tname = self.types[ty].name.clone();
                let mut body = String::new();
                if !all {
                    body.push_str("let mut rows = Vec::new();");
                }
                for c in &children {
                    let cf = self.input_fields(c.ty);
                    let inits: Vec<String> = out_fields
                        .iter()
                        .zip(&cf)
                        .map(|(o, i)| {
                            let v = if c.owned || is_copy(i.ty) {
                                format!("r.{}", i.ident)
                            } else {
                                format!("r.{}.clone()", i.ident)
                            };
                            let v = if o.nullable && !i.nullable {
                                format!("Some({v})")
                            } else {
                                v
                            };
                            format!("{}: {v}", o.ident)
                        })
                        .collect();
                    let target = if *all { "out" } else { "rows" };
                    write!(
                        body,
                        "{} {{ {target}.push(({tname} {{ {} }}, w)); }}",
                        c.each(),
                        inits.join(", ")
                    )
                    .ok();
                }
                if !all {
                    let op = self.add_op(
                        &name,
                        "Distinct",
                        format!("Distinct::open(env, txn, \"{name}.distinct\")?"),
                    );
                    let key = row_key(&self.types[ty].fields, "r");
                    write!(body, "let encoded = rows.iter().map(|(r, w)| ({key}, row::encode(r), *w)).collect(); for (bytes, w) in self.{op}.apply(txn, encoded)? {{ out.push((row::decode(&bytes)?, w)); }}").ok();
                }
                let doc = if *all {
                    "UNION ALL"
                } else {
                    "UNION (distinct rows)"
                };
                Ok(self.method(&name, doc, ty, body))
            }
            PlanNode::Distinct { input } => {
                let name = self.next_method();
                let child = self.plan(input, hint, sql)?;
                let op = self.add_op(
                    &name,
                    "Distinct",
                    format!("Distinct::open(env, txn, \"{name}.distinct\")?"),
                );
                let key = row_key(&self.types[child.ty].fields, "r");
                let body = format!(
                    "let mut rows = Vec::new(); {} {{ rows.push(({key}, row::encode({}), w)); }} for (bytes, w) in self.{op}.apply(txn, rows)? {{ out.push((row::decode(&bytes)?, w)); }}",
                    child.each(),
                    child.row_ref()
                );
                Ok(self.method(&name, "DISTINCT", child.ty, body))
            }
            PlanNode::Window {
                input,
                kind,
                time_column,
            } => {
                let name = self.next_method();
                let child = self.plan(input, &format!("{hint}_n{}", self.node + 1), sql)?;
                let ty = self.add_type(
                    &format!("{hint}_windowed"),
                    format!("A row of `{}` in one of its windows.", comment(hint)),
                    &schema.fields,
                )?;
                let in_fields = self.input_fields(child.ty);
                let out_fields = self.types[ty].fields.clone();
                let time = &in_fields[*time_column];
                let (starts, size, doc) = match kind {
                    WindowKind::Tumble { size } => (
                        format!("std::iter::once(window::tumble(t, {}))", size.0 * 1000),
                        size.0 * 1000,
                        format!("TUMBLE({}, {size})", input.schema.fields[*time_column].name),
                    ),
                    WindowKind::Hop { hop, size } => (
                        format!("window::hop(t, {}, {})", hop.0 * 1000, size.0 * 1000),
                        size.0 * 1000,
                        format!(
                            "HOP({}, {hop}, {size})",
                            input.schema.fields[*time_column].name
                        ),
                    ),
                };
                let get_time = if time.nullable {
                    format!(
                        "let Some(t) = r.{} else {{ continue }}; let t = sql::micros(t);",
                        time.ident
                    )
                } else {
                    format!("let t = sql::micros(r.{});", time.ident)
                };
                let mut inits = vec![];
                for (i, f) in out_fields.iter().enumerate() {
                    if i < in_fields.len() {
                        let src = &in_fields[i];
                        inits.push(if is_copy(src.ty) {
                            format!("{}: r.{}", f.ident, src.ident)
                        } else {
                            format!("{}: r.{}.clone()", f.ident, src.ident)
                        });
                    } else if i == in_fields.len() {
                        inits.push(format!("{}: sql::from_micros(start)?", f.ident));
                    } else {
                        inits.push(format!("{}: sql::from_micros(start + {size})?", f.ident));
                    }
                }
                let body = format!(
                    "{} {{ {get_time} for start in {starts} {{ out.push(({} {{ {} }}, w)); }} }}",
                    child.each(),
                    self.types[ty].name,
                    inits.join(", ")
                );
                Ok(self.method(&name, &doc, ty, body))
            }
            PlanNode::Ttl { input, time, ttl } => {
                let name = self.next_method();
                let child = self.plan(input, hint, sql)?;
                let fields = self.input_fields(child.ty);
                let t = ExprGen::new("r", &fields).value(time, time.nullable)?;
                let op = self.add_op(
                    &name,
                    "Ttl",
                    format!("Ttl::open(env, txn, \"{name}.ttl\", {})?", ttl.0 * 1000),
                );
                // Rows go to the operator as they are (owned, or borrowed from the delta); it
                // encodes only those still live at the end of the batch. A row without an event
                // time is outside every TTL, as it is in no window.
                let push = if time.nullable {
                    format!("if let Some(t) = {t} {{ rows.push((sql::micros(t), r, w)); }}")
                } else {
                    format!("rows.push((sql::micros({t}), r, w));")
                };
                let encode = if child.owned {
                    "|r| row::encode(r)"
                } else {
                    "|r| row::encode(*r)"
                };
                let body = format!(
                    "let mut rows = Vec::new(); {} {{ {push} }} for (bytes, w) in self.{op}.apply(txn, rows, {encode})? {{ out.push((row::decode(&bytes)?, w)); }}",
                    child.each()
                );
                let doc = format!("TTL({}, {ttl}): a row is retracted once its time + {ttl} <= the newest time seen; rows without a time are left out", ShowExpr(time, &input.schema.fields));
                Ok(self.method(&name, &doc, child.ty, body))
            }
        }
    }

    fn endpoints(&self) -> Result<Vec<EndpointInfo>, CodegenError> {
        let mut out = vec![];
        for ep in &self.config.endpoints {
            out.push(self.endpoint(ep)?);
        }
        Ok(out)
    }

    fn endpoint(&self, ep: &Endpoint) -> Result<EndpointInfo, CodegenError> {
        let table = &ep.table_name.value;
        let (ty, plan_key) = if let Some((ty, key)) = self.tables.get(table) {
            (*ty, key.clone())
        } else if let Some(s) = self.sources.iter().find(|s| &s.name == table) {
            let pk = &self.catalog.sources[table].schema.primary_key;
            (
                s.ty,
                if pk.is_empty() {
                    Key::Synthetic
                } else {
                    Key::Columns(pk.clone())
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
                    .map(|c| position(&c.value))
                    .collect::<Result<Vec<_>, _>>()?;
                let cr = ep.conflict_resolution;
                let on_insert = match cr.on_insert {
                    OnInsert::Nothing => "Nothing",
                    OnInsert::Update => "Apply",
                    OnInsert::Panic => "Fail",
                };
                let on_update = match cr.on_update {
                    OnUpdate::Nothing => "Nothing",
                    OnUpdate::Upsert => "Apply",
                    OnUpdate::Panic => "Fail",
                };
                let on_delete = match cr.on_delete {
                    OnDelete::Nothing => "Nothing",
                    OnDelete::Panic => "Fail",
                };
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
            let skipped = ep.skip_default.iter().any(|s| s.value == t.sql_names[i]);
            if !skipped && !matches!(f.ty, SqlType::Json | SqlType::Binary) {
                indexes.push(IndexDef::Sorted(vec![i]));
            }
        }
        for ix in &ep.secondary {
            match ix {
                SecondaryIndex::SortedInverted { fields, .. } => {
                    let idx = fields
                        .iter()
                        .map(|c| position(&c.value))
                        .collect::<Result<Vec<_>, _>>()?;
                    let idx = IndexDef::Sorted(idx);
                    if !indexes.contains(&idx) {
                        indexes.push(idx);
                    }
                }
                SecondaryIndex::FullText { field, .. } => {
                    let i = position(&field.value)?;
                    if !matches!(t.fields[i].ty, SqlType::String | SqlType::Text) {
                        return Err(CodegenError::unsupported(
                            format!(
                                "a `!FullText` index on `{}` of endpoint `{}`, which is {}, not text",
                                field.value, ep.name.value, t.fields[i].ty
                            ),
                            field.span,
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
                name: ep.name.value.clone(),
                path: ep.path.value.clone(),
                fields,
                primary_key: key,
                indexes,
            },
            at: ep.name.span,
            table: table.clone(),
            ty,
            keys_struct: format!("{}Keys", camel(&ep.name.value)),
            policy,
        })
    }
}

impl PipelineGen<'_> {
    fn parser(&self, s: &SourceInfo) -> Result<String, CodegenError> {
        let t = &self.types[s.ty];
        let mut inits = vec![];
        // How a record is opened, and the accessor prefix and argument for its fields.
        let format = match &s.read {
            SourceRead::Files { format, .. } => *format,
            // Rows of values, as Parquet's are.
            SourceRead::Postgres(_) => FileFormat::Parquet,
        };
        let (read, prefix, record) = match format {
            FileFormat::JsonLines => ("let o = at.json(record)?;".to_string(), "json", "&o"),
            FileFormat::Parquet => (
                format!("let v = at.values(record, {})?;", t.fields.len()),
                "value",
                "v",
            ),
            _ => (
                format!("let f = at.csv(record, {})?;", t.fields.len()),
                "csv",
                "f",
            ),
        };
        for (i, (f, sql)) in t.fields.iter().zip(&t.sql_names).enumerate() {
            let null = if f.nullable { "nullable" } else { "required" };
            inits.push(format!(
                "{}: at.{prefix}_{null}({record}, {i}, {sql:?})?",
                f.ident
            ));
        }
        Ok(format!(
            "/// Reads a record of source `{}`; a bad value is reported with its file, line and column.\nfn parse_{}(at: RecordAt<'_>, record: &RawRecord) -> Result<{}, BadRecord> {{ {read} Ok({} {{ {} }}) }}\n",
            comment(&s.name),
            s.ident,
            t.name,
            t.name,
            inits.join(", ")
        ))
    }

    fn keys_impl(&self, e: &EndpointInfo) -> String {
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

    fn open_fn(&self, endpoints: &[EndpointInfo]) -> Result<String, CodegenError> {
        let mut sources = vec![];
        for s in &self.sources {
            let t = &self.types[s.ty];
            sources.push(match &s.read {
                SourceRead::Files {
                    dir,
                    extension,
                    format,
                    has_header,
                    delimiter,
                    quiet_period_ms,
                } => {
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
                        "SourceDef {{ name: {:?}.into(), kind: SourceKind::Files(FileTable {{ dir: base.join({dir:?}), extension: {extension:?}.into(), format: {format}, columns: Vec::from([{}]), quiet_period: {quiet} }}) }}",
                        s.name,
                        columns.join(", ")
                    )
                }
                SourceRead::Postgres(table) => format!(
                    "SourceDef {{ name: {:?}.into(), kind: SourceKind::Postgres({table}) }}",
                    s.name
                ),
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

    fn pipeline_impl(
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

impl PipelineGen<'_> {
    /// Code that applies a relation's changes (`rows`) to the tables of the endpoints serving it,
    /// encoding the rows once however many endpoints there are.
    fn store_changes(&self, endpoints: &[EndpointInfo], relation: &str, rows: &str) -> String {
        let serving: Vec<(usize, &EndpointInfo)> = endpoints
            .iter()
            .enumerate()
            .filter(|(ei, _)| self.config.endpoints[*ei].table_name.value == relation)
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

fn byte_literal(b: u8) -> String {
    format!("b{:?}", b as char)
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

fn agg_kind(func: AggregateFunction, arg: Option<SqlType>) -> &'static str {
    match func {
        AggregateFunction::CountStar => "CountStar",
        AggregateFunction::Count => "Count",
        AggregateFunction::CountDistinct => "CountDistinct",
        AggregateFunction::Sum => match arg {
            Some(SqlType::Float) => "SumFloat",
            Some(SqlType::Decimal) => "SumDecimal",
            _ => "SumInt",
        },
        AggregateFunction::Avg => match arg {
            Some(SqlType::Float) => "AvgFloat",
            _ => "AvgDecimal",
        },
        AggregateFunction::Min => "Min",
        AggregateFunction::Max => "Max",
    }
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

/// The Rust expression of an endpoint's schema, as the generated pipeline hands it to the runtime.
fn schema_literal(e: &EndpointSchema) -> String {
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
    format!(
        "EndpointSchema {{ name: {:?}.into(), path: {:?}.into(), fields: Vec::from([{}]), primary_key: {primary_key}, indexes: Vec::from([{}]) }}",
        e.name,
        e.path,
        fields.join(", "),
        indexes.join(", ")
    )
}

const PRELUDE: &str = r#"
#![allow(clippy::all, unused_mut, unused_variables, unused_imports, unused_parens)]

use std::path::Path;

"#;
