//! Plan nodes: one method per node that turns its inputs' changes into its output changes —
//! straight-line Rust for scans, filters, projections, windows and unions; the runtime's operators
//! for aggregates, joins, DISTINCT and TTL.

use std::fmt::Write as _;

use super::{relation_doc, table_ident, NodeOut, PipelineGen};
use crate::codegen::error::CodegenError;
use crate::codegen::expr::{is_copy, ExprGen, RowField};
use crate::codegen::names::{comment, field_type, snake};
use crate::registry::aggregates;
use crate::sql::plan::{JoinKind, Plan, PlanNode, ScanKind, ShowExpr, WindowKind};

impl PipelineGen<'_> {
    /// Generates a node and its inputs; `hint` names the node's row type if it makes one.
    pub(super) fn plan(
        &mut self,
        plan: &Plan,
        hint: &str,
        sql: &str,
    ) -> Result<NodeOut, CodegenError> {
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
                        aggregates::runtime(a.func, a.arg.as_ref().map(|x| x.ty))
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
}

/// The `keycode` key of a whole row `var` (equal rows, equal bytes: DISTINCT and UNION).
pub(super) fn row_key(fields: &[RowField], var: &str) -> String {
    let parts: Vec<String> = fields
        .iter()
        .map(|f| format!("&{var}.{}", f.ident))
        .collect();
    format!("row::key_of(&[{}])", parts.join(", "))
}
