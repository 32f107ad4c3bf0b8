//! Binding of whole statements: FROM (tables, sources, CTEs, subqueries, joins, TUMBLE/HOP/TTL),
//! WHERE, GROUP BY/HAVING, the SELECT list, DISTINCT and UNION, into a [`Plan`] with output keys.
//!
//! Statements may read each other's `INTO` tables in any order: a statement is bound on first use,
//! and a cycle is an error. Keys follow the relational rules: a source keeps its primary key through
//! filters and projections that keep the key columns, GROUP BY keys become the key, windows add
//! `window_start`, joins concatenate both sides' keys, DISTINCT/UNION key on all columns; where none
//! can be derived the runtime assigns record ids ([`Key::Synthetic`]).

use sqlparser::ast;

use super::expr::{
    ident_matches, AggregateMode, BindResult, ExprBinder, Reported, AGGREGATE_REF_BASE,
};
use super::parse::{parse, ParsedStatement, SqlSource};
use super::plan::{
    AggregateCall, AggregateFunction, BinaryOp, Expr, ExprKind, Field, JoinKind, Key, Millis, Plan,
    PlanNode, PlanSchema, ScanKind, ShowExpr, WindowKind,
};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::diagnostic::{did_you_mean, Diagnostic, Diagnostics, Span};
use crate::types::SqlType;

/// One `SELECT ... INTO table` bound to a plan.
#[derive(Clone, Debug)]
pub struct BoundQuery {
    /// The INTO table name, as written.
    pub into: String,
    pub into_span: Span,
    pub plan: Plan,
    /// The statement's SQL text (for comments in generated code).
    pub sql: String,
    pub span: Span,
}

enum State {
    Pending,
    InProgress,
    Done(Option<PlanSchema>),
}

struct Cte {
    name: ast::Ident,
    plan: Plan,
}

struct Binder<'a, 'd> {
    config: &'a Config,
    catalog: &'a Catalog,
    parsed: &'a [ParsedStatement<'a>],
    into: Vec<Option<(String, Span)>>,
    state: Vec<State>,
    plans: Vec<Option<Plan>>,
    diags: &'d mut Diagnostics,
}

/// Per-statement context: where positions map to.
#[derive(Clone, Copy)]
struct Cx<'a> {
    src: &'a SqlSource<'a>,
    fallback: Span,
}

impl Cx<'_> {
    fn span(&self, node: &impl ast::Spanned) -> Span {
        self.src.span(node.span(), self.fallback)
    }

    fn ident(&self, id: &ast::Ident) -> Span {
        self.src.span(id.span, self.fallback)
    }
}

/// The result of binding all SQL of a config.
#[derive(Clone, Debug, Default)]
pub struct BoundSql {
    pub queries: Vec<BoundQuery>,
    /// Every INTO name declared, including those whose statement failed to bind.
    pub declared: Vec<String>,
}

/// Parses and binds every statement of the config's SQL.
pub fn bind(config: &Config, catalog: &Catalog, diags: &mut Diagnostics) -> BoundSql {
    let parsed = parse(&config.sql, diags);
    let mut binder = Binder {
        config,
        catalog,
        parsed: &parsed,
        into: vec![],
        state: vec![],
        plans: vec![],
        diags,
    };
    binder.collect_into_names();
    for i in 0..parsed.len() {
        binder.ensure_bound(i);
    }
    let mut out = vec![];
    for (i, p) in parsed.iter().enumerate() {
        if let (Some((into, into_span)), Some(plan)) =
            (binder.into[i].clone(), binder.plans[i].take())
        {
            out.push(BoundQuery {
                into,
                into_span,
                plan,
                sql: p.sql.clone(),
                span: p.span,
            });
        }
    }
    BoundSql {
        queries: out,
        declared: binder
            .into
            .iter()
            .flatten()
            .map(|(n, _)| n.clone())
            .collect(),
    }
}

fn leftmost_select(body: &ast::SetExpr) -> Option<&ast::Select> {
    match body {
        ast::SetExpr::Select(s) => Some(s),
        ast::SetExpr::Query(q) => leftmost_select(&q.body),
        ast::SetExpr::SetOperation { left, .. } => leftmost_select(left),
        _ => None,
    }
}

impl<'a> Binder<'a, '_> {
    fn error(&mut self, d: Diagnostic) -> Reported {
        self.diags.push(d);
        Reported
    }

    fn unsupported(&mut self, what: &str, at: Span, help: &str) -> Reported {
        self.error(
            Diagnostic::error("sql::unsupported", format!("not supported yet: {what}"))
                .label(at, "not supported yet")
                .help(help.to_string()),
        )
    }

    /// Finds each statement's INTO name; reports statements that are not `SELECT ... INTO` and names
    /// that are taken.
    fn collect_into_names(&mut self) {
        let parsed: &'a [ParsedStatement<'a>] = self.parsed;
        for p in parsed {
            self.state.push(State::Pending);
            self.plans.push(None);
            let cx = Cx {
                src: &p.source,
                fallback: p.span,
            };
            let ast::Statement::Query(q) = &p.statement else {
                self.error(
                    Diagnostic::error("sql::not-a-select", "only `SELECT ... INTO <table>` statements are allowed")
                        .label(p.span, "not a SELECT")
                        .help("dozerc computes query results; sources are declared under `sources:` in the YAML"),
                );
                self.into.push(None);
                continue;
            };
            let target = leftmost_select(&q.body).and_then(|s| s.into.as_ref());
            let name = match target.map(|t| t.targets.as_slice()) {
                Some([ast::Expr::Identifier(id)]) => Some((id.value.clone(), cx.ident(id))),
                Some(_) => {
                    let at = target.map_or(p.span, |t| cx.span(t));
                    self.error(
                        Diagnostic::error("sql::bad-into", "INTO takes one plain table name")
                            .label(at, "expected a name")
                            .help("write `INTO my_table`"),
                    );
                    None
                }
                None => {
                    self.error(
                        Diagnostic::error("sql::missing-into", "this SELECT has no `INTO <table>`")
                            .label(p.span, "result has no name")
                            .help("name the result so endpoints can serve it: `SELECT ... INTO my_table FROM ...`"),
                    );
                    None
                }
            };
            if let Some((n, at)) = &name {
                let clash_into = self
                    .into
                    .iter()
                    .flatten()
                    .find(|(m, _)| m.eq_ignore_ascii_case(n))
                    .map(|(_, s)| *s);
                let clash_source = self
                    .config
                    .sources
                    .iter()
                    .find(|s| s.name.value.eq_ignore_ascii_case(n));
                if let Some(first) = clash_into {
                    self.error(
                        Diagnostic::error(
                            "sql::duplicate-into",
                            format!("table `{n}` is the INTO target of two statements"),
                        )
                        .label(*at, "second INTO")
                        .label(first, "first INTO")
                        .help("give each result its own name"),
                    );
                    self.into.push(None);
                    continue;
                }
                if let Some(src) = clash_source {
                    self.error(
                        Diagnostic::error(
                            "sql::duplicate-into",
                            format!("`{n}` is already the name of a source"),
                        )
                        .label(*at, "INTO a source name")
                        .label(src.name.span, "source defined here")
                        .help("choose another name for the result"),
                    );
                    self.into.push(None);
                    continue;
                }
            }
            self.into.push(name);
        }
    }

    fn ensure_bound(&mut self, i: usize) -> Option<PlanSchema> {
        match &self.state[i] {
            State::Done(s) => return s.clone(),
            State::InProgress => return None,
            State::Pending => {}
        }
        self.state[i] = State::InProgress;
        let parsed: &'a [ParsedStatement<'a>] = self.parsed;
        let p = &parsed[i];
        let plan = match (&p.statement, &self.into[i]) {
            (ast::Statement::Query(q), Some(_)) => {
                let cx = Cx {
                    src: &p.source,
                    fallback: p.span,
                };
                self.query(cx, q, &[], true).ok()
            }
            _ => None,
        };
        let schema = plan.as_ref().map(|p| p.schema.clone());
        self.plans[i] = plan;
        self.state[i] = State::Done(schema.clone());
        schema
    }

    fn query(
        &mut self,
        cx: Cx,
        q: &ast::Query,
        outer_ctes: &[&Cte],
        top: bool,
    ) -> BindResult<Plan> {
        let at = cx.span(q);
        if q.order_by.is_some() {
            return Err(self.unsupported(
                "ORDER BY in a query",
                at,
                "results are kept as tables; API clients sort with `$order_by`",
            ));
        }
        if q.limit_clause.is_some() || q.fetch.is_some() {
            return Err(self.unsupported(
                "LIMIT/OFFSET/FETCH in a query",
                at,
                "API clients page with `$limit` and `$skip`",
            ));
        }
        if !q.locks.is_empty()
            || q.for_clause.is_some()
            || q.settings.is_some()
            || q.format_clause.is_some()
            || !q.pipe_operators.is_empty()
        {
            return Err(self.unsupported(
                "this query clause",
                at,
                "see docs/sql.md for the supported SQL",
            ));
        }
        let mut ctes: Vec<Cte> = vec![];
        if let Some(with) = &q.with {
            if with.recursive {
                return Err(self.unsupported(
                    "WITH RECURSIVE",
                    cx.span(&with.with_token.0),
                    "use plain WITH",
                ));
            }
            for cte in &with.cte_tables {
                let visible: Vec<&Cte> = outer_ctes.iter().copied().chain(ctes.iter()).collect();
                let plan = self.query(cx, &cte.query, &visible, false)?;
                let plan = rename_columns(plan, &cte.alias, cx, self)?;
                ctes.push(Cte {
                    name: cte.alias.name.clone(),
                    plan,
                });
            }
        }
        let visible: Vec<&Cte> = outer_ctes.iter().copied().chain(ctes.iter()).collect();
        self.set_expr(cx, &q.body, &visible, top)
    }

    fn set_expr(
        &mut self,
        cx: Cx,
        body: &ast::SetExpr,
        ctes: &[&Cte],
        leftmost: bool,
    ) -> BindResult<Plan> {
        match body {
            ast::SetExpr::Select(s) => {
                if !leftmost {
                    if let Some(into) = &s.into {
                        return Err(self.error(
                            Diagnostic::error(
                                "sql::bad-into",
                                "INTO belongs to the first SELECT of a statement only",
                            )
                            .label(cx.span(into), "misplaced INTO")
                            .help("move `INTO <table>` to the first SELECT"),
                        ));
                    }
                }
                self.select(cx, s, ctes)
            }
            ast::SetExpr::Query(q) => self.query(cx, q, ctes, leftmost),
            ast::SetExpr::SetOperation {
                op,
                set_quantifier,
                left,
                right,
            } => {
                let at = cx.span(body);
                if *op != ast::SetOperator::Union {
                    return Err(self.unsupported(
                        &format!("{op}"),
                        at,
                        "UNION and UNION ALL are supported",
                    ));
                }
                let all = match set_quantifier {
                    ast::SetQuantifier::All => true,
                    ast::SetQuantifier::Distinct | ast::SetQuantifier::None => false,
                    _ => {
                        return Err(self.unsupported(
                            "UNION BY NAME",
                            at,
                            "list the columns in the same order on both sides",
                        ))
                    }
                };
                let (l, r) = (
                    self.set_expr(cx, left, ctes, leftmost),
                    self.set_expr(cx, right, ctes, false),
                );
                self.union(l?, r?, all, cx.span(right.as_ref()))
            }
            other => Err(self.unsupported(
                &format!("`{}`", first_words(&other.to_string())),
                cx.span(other),
                "a statement is a SELECT (or a UNION of SELECTs)",
            )),
        }
    }

    fn union(&mut self, l: Plan, r: Plan, all: bool, r_at: Span) -> BindResult<Plan> {
        if l.schema.fields.len() != r.schema.fields.len() {
            return Err(self.error(
                Diagnostic::error(
                    "sql::union-arity",
                    format!(
                        "each UNION side must have the same number of columns: {} and {}",
                        l.schema.fields.len(),
                        r.schema.fields.len()
                    ),
                )
                .label(
                    r_at,
                    format!("this side has {} column(s)", r.schema.fields.len()),
                )
                .help("select the same columns, in the same order, on every side of the UNION"),
            ));
        }
        let mut inputs = match l.node {
            PlanNode::Union { inputs, all: a } if a == all => inputs,
            _ => vec![l],
        };
        inputs.push(r);
        let mut fields: Vec<Field> = inputs[0]
            .schema
            .fields
            .iter()
            .map(|f| Field {
                qualifier: None,
                ..f.clone()
            })
            .collect();
        for input in &inputs[1..] {
            for (i, (f, g)) in fields.iter_mut().zip(&input.schema.fields).enumerate() {
                match SqlType::common_supertype(f.ty, g.ty) {
                    Some(t) => {
                        f.ty = t;
                        f.nullable |= g.nullable;
                    }
                    None => {
                        return Err(self.error(
                            Diagnostic::error(
                                "sql::type-mismatch",
                                format!(
                                    "UNION column {} (`{}`) is {} on one side and {} on the other",
                                    i + 1,
                                    f.name,
                                    f.ty,
                                    g.ty
                                ),
                            )
                            .label(r_at, "mismatched column types")
                            .help("CAST the columns to one type on both sides"),
                        ))
                    }
                }
            }
        }
        // Make every input produce the unified types.
        let inputs = inputs
            .into_iter()
            .map(|p| {
                if p.schema
                    .fields
                    .iter()
                    .zip(&fields)
                    .all(|(a, b)| a.ty == b.ty)
                {
                    return p;
                }
                let exprs = p
                    .schema
                    .fields
                    .iter()
                    .zip(&fields)
                    .enumerate()
                    .map(|(i, (a, b))| {
                        let col = Expr::column(i, a);
                        if a.ty == b.ty {
                            col
                        } else {
                            Expr {
                                ty: b.ty,
                                nullable: a.nullable,
                                kind: ExprKind::Cast {
                                    expr: Box::new(col),
                                },
                            }
                        }
                    })
                    .collect();
                let schema = PlanSchema {
                    fields: p
                        .schema
                        .fields
                        .iter()
                        .zip(&fields)
                        .map(|(a, b)| Field {
                            ty: b.ty,
                            qualifier: None,
                            ..a.clone()
                        })
                        .collect(),
                    key: Key::Synthetic,
                };
                Plan {
                    node: PlanNode::Project {
                        input: Box::new(p),
                        exprs,
                    },
                    schema,
                }
            })
            .collect();
        let key = if all {
            Key::Synthetic
        } else {
            Key::Columns((0..fields.len()).collect())
        };
        Ok(Plan {
            node: PlanNode::Union { inputs, all },
            schema: PlanSchema { fields, key },
        })
    }

    fn select(&mut self, cx: Cx, s: &ast::Select, ctes: &[&Cte]) -> BindResult<Plan> {
        let at = cx.span(s);
        let extras: [(&str, bool); 9] = [
            ("TOP", s.top.is_some()),
            ("LATERAL VIEW", !s.lateral_views.is_empty()),
            ("PREWHERE", s.prewhere.is_some()),
            ("CONNECT BY", !s.connect_by.is_empty()),
            (
                "CLUSTER/DISTRIBUTE/SORT BY",
                !s.cluster_by.is_empty() || !s.distribute_by.is_empty() || !s.sort_by.is_empty(),
            ),
            ("WINDOW clauses", !s.named_window.is_empty()),
            ("QUALIFY", s.qualify.is_some()),
            ("SELECT AS VALUE/STRUCT", s.value_table_mode.is_some()),
            ("SELECT * EXCLUDE", s.exclude.is_some()),
        ];
        if let Some((what, _)) = extras.iter().find(|(_, present)| *present) {
            return Err(self.unsupported(what, at, "see docs/sql.md for the supported SQL"));
        }
        let distinct = match &s.distinct {
            None | Some(ast::Distinct::All) => false,
            Some(ast::Distinct::Distinct) => true,
            Some(ast::Distinct::On(_)) => {
                return Err(self.unsupported("DISTINCT ON", at, "use GROUP BY with MIN/MAX"))
            }
        };
        let mut plan = match s.from.as_slice() {
            [one] => self.from(cx, one, ctes)?,
            [] => {
                return Err(self.unsupported(
                    "SELECT without FROM",
                    at,
                    "every statement reads a source or another result",
                ))
            }
            [_, second, ..] => {
                return Err(self.unsupported(
                    "comma-separated FROM (implicit cross join)",
                    cx.span(&second.relation),
                    "write `a JOIN b ON a.x = b.y`",
                ))
            }
        };
        if let Some(w) = &s.selection {
            let fields = plan.schema.fields.clone();
            let pred = ExprBinder::new(
                cx.src,
                cx.fallback,
                self.diags,
                &fields,
                AggregateMode::Forbidden("WHERE"),
            )
            .condition(w, "WHERE")?;
            plan = Plan {
                schema: plan.schema.clone(),
                node: PlanNode::Filter {
                    input: Box::new(plan),
                    predicate: pred,
                },
            };
        }
        let group_exprs: &[ast::Expr] = match &s.group_by {
            ast::GroupByExpr::Expressions(e, mods) if mods.is_empty() => e,
            _ => {
                return Err(self.unsupported(
                    "GROUP BY ALL / ROLLUP / CUBE / GROUPING SETS",
                    at,
                    "list the grouping columns",
                ))
            }
        };

        // The SELECT list: expand wildcards, bind every item (collecting aggregates).
        let fields = plan.schema.fields.clone();
        let mut items: Vec<(Expr, String, Span)> = vec![];
        let mut binder = ExprBinder::new(
            cx.src,
            cx.fallback,
            self.diags,
            &fields,
            AggregateMode::Collect(vec![]),
        );
        let mut failed = false;
        for item in &s.projection {
            let item_at = binder.span(item);
            match item {
                ast::SelectItem::UnnamedExpr(e)
                | ast::SelectItem::ExprWithAlias { expr: e, .. } => match binder.bind(e) {
                    Ok(b) => {
                        let name = match (item, &b.kind) {
                            (ast::SelectItem::ExprWithAlias { alias, .. }, _) => {
                                alias.value.clone()
                            }
                            (_, ExprKind::Column(i)) if *i < fields.len() => {
                                fields[*i].name.clone()
                            }
                            _ => e.to_string(),
                        };
                        items.push((b, name, item_at));
                    }
                    Err(_) => failed = true,
                },
                ast::SelectItem::Wildcard(opts) | ast::SelectItem::QualifiedWildcard(_, opts)
                    if !wildcard_options_empty(opts) =>
                {
                    failed = true;
                    binder.unsupported(
                        "wildcard options (EXCLUDE, REPLACE, ...)",
                        item_at,
                        "list the columns you want",
                    );
                }
                ast::SelectItem::Wildcard(_) => {
                    for (i, f) in fields.iter().enumerate() {
                        items.push((Expr::column(i, f), f.name.clone(), item_at));
                    }
                }
                ast::SelectItem::QualifiedWildcard(kind, _) => {
                    let qual = match kind {
                        ast::SelectItemQualifiedWildcardKind::ObjectName(n) => n.to_string(),
                        ast::SelectItemQualifiedWildcardKind::Expr(e) => e.to_string(),
                    };
                    let matching: Vec<usize> = fields
                        .iter()
                        .enumerate()
                        .filter(|(_, f)| {
                            f.qualifier
                                .as_deref()
                                .is_some_and(|q| q.eq_ignore_ascii_case(&qual))
                        })
                        .map(|(i, _)| i)
                        .collect();
                    if matching.is_empty() {
                        failed = true;
                        binder.error(
                            Diagnostic::error(
                                "sql::unknown-table",
                                format!("no table or alias `{qual}` in FROM"),
                            )
                            .label(item_at, "unknown qualifier")
                            .help("use a table name or alias from FROM, e.g. `t.*`"),
                        );
                    }
                    for i in matching {
                        items.push((Expr::column(i, &fields[i]), fields[i].name.clone(), item_at));
                    }
                }
                ast::SelectItem::ExprWithAliases { .. } => {
                    failed = true;
                    binder.unsupported("multiple aliases", item_at, "give one alias per column");
                }
            }
        }
        let having = match &s.having {
            Some(h) => match binder.condition(h, "HAVING") {
                Ok(e) => Some((e, binder.span(h))),
                Err(_) => {
                    failed = true;
                    None
                }
            },
            None => None,
        };
        let AggregateMode::Collect(aggregates) =
            std::mem::replace(&mut binder.aggregates, AggregateMode::Forbidden(""))
        else {
            return Err(Reported);
        };
        if failed {
            return Err(Reported);
        }
        check_unique_names(&items, self)?;

        let mut plan = if aggregates.is_empty() && group_exprs.is_empty() && having.is_none() {
            let exprs: Vec<Expr> = items.iter().map(|(e, _, _)| e.clone()).collect();
            let key = project_key(&plan.schema.key, &exprs);
            project(plan, items, key)
        } else {
            self.aggregate(cx, plan, group_exprs, items, aggregates, having, s)?
        };
        if distinct {
            let schema = PlanSchema {
                fields: plan.schema.fields.clone(),
                key: Key::Columns((0..plan.schema.fields.len()).collect()),
            };
            plan = Plan {
                node: PlanNode::Distinct {
                    input: Box::new(plan),
                },
                schema,
            };
        }
        Ok(plan)
    }

    #[allow(clippy::too_many_arguments)]
    fn aggregate(
        &mut self,
        cx: Cx,
        input: Plan,
        group_exprs: &[ast::Expr],
        items: Vec<(Expr, String, Span)>,
        mut aggregates: Vec<AggregateCall>,
        having: Option<(Expr, Span)>,
        s: &ast::Select,
    ) -> BindResult<Plan> {
        let fields = input.schema.fields.clone();
        let mut group_by: Vec<Expr> = vec![];
        let mut failed = false;
        for g in group_exprs {
            let g_at = cx.span(g);
            // GROUP BY 2 (an output position) and GROUP BY alias (an output name), as PostgreSQL.
            let by_position = match g {
                ast::Expr::Value(v) => match &v.value {
                    ast::Value::Number(n, _) => Some(n.to_string().parse::<usize>().unwrap_or(0)),
                    _ => None,
                },
                _ => None,
            };
            if let Some(pos) = by_position {
                match items.get(pos.wrapping_sub(1)) {
                    Some((e, _, _)) if !refers_to_aggregate(e) => group_by.push(e.clone()),
                    _ => {
                        failed = true;
                        self.error(
                            Diagnostic::error(
                                "sql::bad-group-by",
                                format!(
                                    "GROUP BY position {pos} is not a non-aggregate output column"
                                ),
                            )
                            .label(g_at, "bad position")
                            .help(format!(
                                "positions count output columns from 1 to {}",
                                items.len()
                            )),
                        );
                    }
                }
                continue;
            }
            if let ast::Expr::Identifier(id) = g {
                let in_input = fields.iter().any(|f| ident_matches(id, &f.name));
                if !in_input {
                    if let Some((e, _, _)) = items
                        .iter()
                        .find(|(e, n, _)| ident_matches(id, n) && !refers_to_aggregate(e))
                    {
                        group_by.push(e.clone());
                        continue;
                    }
                }
            }
            let mut b = ExprBinder::new(
                cx.src,
                cx.fallback,
                self.diags,
                &fields,
                AggregateMode::Forbidden("GROUP BY"),
            );
            match b.bind(g) {
                Ok(e) => group_by.push(e),
                Err(_) => failed = true,
            }
        }
        if failed {
            return Err(Reported);
        }
        let global = group_by.is_empty();
        if global {
            if let Some((ws, we)) = window_columns(&input) {
                // A windowed query whose only plain columns are its window's own: one row per window.
                let plain: Vec<usize> = items
                    .iter()
                    .flat_map(|(e, _, _)| e.columns())
                    .chain(having.iter().flat_map(|(h, _)| h.columns()))
                    .filter(|&c| c < AGGREGATE_REF_BASE)
                    .collect();
                if !plain.is_empty() && plain.iter().all(|&c| c == ws || c == we) {
                    group_by = vec![Expr::column(ws, &fields[ws]), Expr::column(we, &fields[we])];
                    self.diags.push(
                        Diagnostic::note(
                            "sql::implicit-window-group",
                            "grouped by the window's `window_start` and `window_end`: one row per window",
                        )
                        .label(cx.span(&s.projection[0]).to(cx.span(s.projection.last().unwrap_or(&s.projection[0]))), "no GROUP BY, only window columns")
                        .help("dozerc extension (as Dozer); write `GROUP BY window_start, window_end` to be explicit"),
                    );
                }
            }
        }
        let global = group_by.is_empty();
        if global {
            // An empty input still yields one row: its SUM/AVG/MIN/MAX are NULL.
            for a in &mut aggregates {
                if !matches!(
                    a.func,
                    AggregateFunction::Count
                        | AggregateFunction::CountStar
                        | AggregateFunction::CountDistinct
                ) {
                    a.nullable = true;
                }
            }
        }
        let n = group_by.len();
        let mut agg_fields: Vec<Field> = group_by
            .iter()
            .map(|g| match g.kind {
                ExprKind::Column(i) => Field {
                    qualifier: None,
                    ..fields[i].clone()
                },
                _ => Field {
                    name: ShowExpr(g, &fields).to_string(),
                    ty: g.ty,
                    nullable: g.nullable,
                    qualifier: None,
                },
            })
            .collect();
        for a in &aggregates {
            let arg = a
                .arg
                .as_ref()
                .map_or("*".to_string(), |e| ShowExpr(e, &fields).to_string());
            agg_fields.push(Field {
                name: format!("{}({arg})", a.func.name()),
                ty: a.ty,
                nullable: a.nullable,
                qualifier: None,
            });
        }
        let agg_key = if global {
            Key::Singleton
        } else {
            Key::Columns((0..n).collect())
        };
        let agg_schema = PlanSchema {
            fields: agg_fields.clone(),
            key: agg_key,
        };
        let mut plan = Plan {
            node: PlanNode::Aggregate {
                input: Box::new(input),
                group_by: group_by.clone(),
                aggregates: aggregates.clone(),
            },
            schema: agg_schema,
        };

        // Rewrite SELECT and HAVING over the aggregate's output.
        let rewrite = |e: &Expr, at: Span, this: &mut Self| -> BindResult<Expr> {
            rewrite_over_groups(e, &group_by, &aggregates, n).map_err(|col| {
                let name = fields.get(col).map_or("?", |f| f.name.as_str()).to_string();
                this.error(
                    Diagnostic::error("sql::not-grouped", format!("column `{name}` must appear in GROUP BY or be used in an aggregate function"))
                        .label(at, format!("`{name}` is neither grouped nor aggregated"))
                        .help(format!("add `{name}` to GROUP BY, or aggregate it (e.g. MAX({name}))")),
                )
            })
        };
        let mut failed = false;
        if let Some((h, h_at)) = &having {
            match rewrite(h, *h_at, self) {
                Ok(pred) => {
                    plan = Plan {
                        schema: plan.schema.clone(),
                        node: PlanNode::Filter {
                            input: Box::new(plan),
                            predicate: pred,
                        },
                    }
                }
                Err(_) => failed = true,
            }
        }
        let mut out_items = vec![];
        for (e, name, at) in items {
            match rewrite(&e, at, self) {
                Ok(r) => out_items.push((r, name, at)),
                Err(_) => failed = true,
            }
        }
        if failed {
            return Err(Reported);
        }
        let exprs: Vec<Expr> = out_items.iter().map(|(e, _, _)| e.clone()).collect();
        let key = project_key(&plan.schema.key, &exprs);
        Ok(project(plan, out_items, key))
    }

    fn from(&mut self, cx: Cx, twj: &ast::TableWithJoins, ctes: &[&Cte]) -> BindResult<Plan> {
        let mut plan = self.table_factor(cx, &twj.relation, ctes)?;
        for j in &twj.joins {
            let right = self.table_factor(cx, &j.relation, ctes)?;
            plan = self.join(cx, plan, right, &j.join_operator, cx.span(j))?;
        }
        Ok(plan)
    }

    fn table_factor(&mut self, cx: Cx, tf: &ast::TableFactor, ctes: &[&Cte]) -> BindResult<Plan> {
        let at = cx.span(tf);
        match tf {
            ast::TableFactor::Table {
                name,
                alias,
                args,
                with_hints,
                version,
                with_ordinality,
                partitions,
                json_path,
                sample,
                index_hints,
            } => {
                if !with_hints.is_empty()
                    || version.is_some()
                    || *with_ordinality
                    || !partitions.is_empty()
                    || json_path.is_some()
                    || sample.is_some()
                    || !index_hints.is_empty()
                {
                    return Err(self.unsupported(
                        "table hints, versions and samples",
                        at,
                        "name the table only",
                    ));
                }
                let mut plan = match args {
                    None => self.relation(cx, name, ctes, at)?,
                    Some(a) => self.table_function(cx, name, &a.args, ctes, at)?,
                };
                if let Some(alias) = alias {
                    plan = rename_columns(plan, alias, cx, self)?;
                    requalify(&mut plan, Some(&alias.name.value));
                }
                Ok(plan)
            }
            ast::TableFactor::Derived {
                lateral,
                subquery,
                alias,
                ..
            } => {
                if *lateral {
                    return Err(self.unsupported(
                        "LATERAL subqueries",
                        at,
                        "join the subquery's sources instead",
                    ));
                }
                let mut plan = self.query(cx, subquery, ctes, false)?;
                if let Some(alias) = alias {
                    plan = rename_columns(plan, alias, cx, self)?;
                }
                requalify(&mut plan, alias.as_ref().map(|a| a.name.value.as_str()));
                Ok(plan)
            }
            ast::TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => {
                let mut plan = self.from(cx, table_with_joins, ctes)?;
                if let Some(alias) = alias {
                    requalify(&mut plan, Some(&alias.name.value));
                }
                Ok(plan)
            }
            other => Err(self.unsupported(
                &format!("`{}` in FROM", first_words(&other.to_string())),
                at,
                "FROM takes sources, results, CTEs, subqueries, joins and TUMBLE/HOP/TTL",
            )),
        }
    }

    /// A plain name in FROM: a CTE, another statement's INTO table, or a source.
    fn relation(
        &mut self,
        _cx: Cx,
        name: &ast::ObjectName,
        ctes: &[&Cte],
        at: Span,
    ) -> BindResult<Plan> {
        let ident = match name.0.as_slice() {
            [ast::ObjectNamePart::Identifier(id)] => id,
            _ => {
                return Err(self.unsupported(
                    &format!("qualified table name `{name}`"),
                    at,
                    "refer to sources by their `name:` from the YAML; the database schema is set with `schema:` on the source",
                ))
            }
        };
        if let Some(cte) = ctes
            .iter()
            .rev()
            .find(|c| ident_matches(ident, &c.name.value))
        {
            let mut plan = cte.plan.clone();
            requalify(&mut plan, Some(&cte.name.value));
            return Ok(plan);
        }
        let into_index = self
            .into
            .iter()
            .position(|n| n.as_ref().is_some_and(|(n, _)| ident_matches(ident, n)));
        if let Some(j) = into_index {
            if matches!(self.state[j], State::InProgress) {
                return Err(self.error(
                    Diagnostic::error(
                        "sql::cycle",
                        format!(
                            "`{}` is computed from itself (a cycle between statements)",
                            ident.value
                        ),
                    )
                    .label(at, "read here while it is being defined")
                    .help("statements may read each other's results, but not in a cycle"),
                ));
            }
            let Some(schema) = self.ensure_bound(j) else {
                return Err(Reported);
            };
            let table = self.into[j]
                .as_ref()
                .map(|(n, _)| n.clone())
                .unwrap_or_default();
            let mut plan = Plan {
                node: PlanNode::Scan {
                    table: table.clone(),
                    kind: ScanKind::Table,
                },
                schema,
            };
            requalify(&mut plan, Some(&table));
            return Ok(plan);
        }
        if let Some(source) = self
            .config
            .sources
            .iter()
            .find(|s| ident_matches(ident, &s.name.value))
        {
            let Some(entry) = self.catalog.sources.get(&source.name.value) else {
                return Err(Reported); // its schema could not be resolved; that was reported
            };
            let fields = PlanSchema::source_fields(&entry.schema, Some(&source.name.value));
            let key = if entry.schema.primary_key.is_empty() {
                Key::Synthetic
            } else {
                Key::Columns(entry.schema.primary_key.clone())
            };
            return Ok(Plan {
                node: PlanNode::Scan {
                    table: source.name.value.clone(),
                    kind: ScanKind::Source,
                },
                schema: PlanSchema { fields, key },
            });
        }
        let candidates: Vec<&str> = ctes
            .iter()
            .map(|c| c.name.value.as_str())
            .chain(self.into.iter().flatten().map(|(n, _)| n.as_str()))
            .chain(self.config.sources.iter().map(|s| s.name.value.as_str()))
            .collect();
        let mut d = Diagnostic::error(
            "sql::unknown-table",
            format!("table `{}` does not exist", ident.value),
        )
        .label(at, "unknown table");
        d = d.suggest(&ident.value, &candidates, |names| {
            if names.is_empty() {
                "declare it under `sources:` in the YAML".into()
            } else {
                format!("known tables: {}", names.join(", "))
            }
        });
        Err(self.error(d))
    }

    fn table_function(
        &mut self,
        cx: Cx,
        name: &ast::ObjectName,
        args: &[ast::FunctionArg],
        ctes: &[&Cte],
        at: Span,
    ) -> BindResult<Plan> {
        let fname = name.to_string().to_ascii_uppercase();
        let exprs: Vec<&ast::Expr> = args
            .iter()
            .map(|a| match a {
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => Some(e),
                _ => None,
            })
            .collect::<Option<_>>()
            .ok_or_else(|| {
                self.unsupported(
                    "named or wildcard arguments to table functions",
                    at,
                    "pass positional arguments",
                )
            })?;
        let expected = match fname.as_str() {
            "TUMBLE" => 3,
            "HOP" => 4,
            "TTL" => 3,
            _ => {
                let mut d = Diagnostic::error(
                    "sql::unknown-function",
                    format!("unknown table function `{name}`"),
                )
                .label(at, "not a table function");
                d = d.help(
                    did_you_mean(&fname, ["TUMBLE", "HOP", "TTL"])
                        .unwrap_or_else(|| "table functions: TUMBLE, HOP, TTL".into()),
                );
                return Err(self.error(d));
            }
        };
        if exprs.len() != expected {
            let form = match fname.as_str() {
                "TUMBLE" => "TUMBLE(table, time_column, '5 MINUTES')",
                "HOP" => "HOP(table, time_column, '1 MINUTE', '5 MINUTES')",
                _ => "TTL(table, time_column, '1 DAY')",
            };
            return Err(self.error(
                Diagnostic::error(
                    "sql::bad-argument",
                    format!("{fname} takes {expected} arguments, got {}", exprs.len()),
                )
                .label(at, "wrong number of arguments")
                .help(format!("write {form}")),
            ));
        }
        // The first argument is a relation: a name, or a nested TUMBLE/HOP/TTL.
        let input = match exprs[0] {
            ast::Expr::Identifier(id) => {
                let on: ast::ObjectName = vec![id.clone()].into();
                self.relation(cx, &on, ctes, cx.ident(id))?
            }
            ast::Expr::Function(f) => {
                let inner_args = match &f.args {
                    ast::FunctionArguments::List(l) => l.args.clone(),
                    _ => vec![],
                };
                self.table_function(cx, &f.name, &inner_args, ctes, cx.span(f))?
            }
            other => {
                return Err(self.error(
                    Diagnostic::error(
                        "sql::bad-argument",
                        format!("the first argument of {fname} must be a table"),
                    )
                    .label(cx.span(other), "expected a table name")
                    .help("e.g. TUMBLE(trips, pickup_time, '5 MINUTES')"),
                ))
            }
        };
        let fields = input.schema.fields.clone();
        let mut binder = ExprBinder::new(
            cx.src,
            cx.fallback,
            self.diags,
            &fields,
            AggregateMode::Forbidden("a table function"),
        );
        let time = binder.bind(exprs[1])?;
        let time_at = cx.span(exprs[1]);
        if time.ty != SqlType::Timestamp {
            return Err(self.error(
                Diagnostic::error(
                    "sql::type-mismatch",
                    format!(
                        "the time argument of {fname} must be a timestamp, found {}",
                        time.ty
                    ),
                )
                .label(time_at, format!("this is {}", time.ty))
                .help("use a timestamp column, or CAST(column AS timestamp)"),
            ));
        }
        if fname == "TTL" {
            let ttl = self.duration(cx, exprs[2])?;
            let schema = input.schema.clone();
            return Ok(Plan {
                node: PlanNode::Ttl {
                    input: Box::new(input),
                    time,
                    ttl,
                },
                schema,
            });
        }
        let ExprKind::Column(time_column) = time.kind else {
            return Err(self.error(
                Diagnostic::error(
                    "sql::bad-argument",
                    format!("the time argument of {fname} must be a column"),
                )
                .label(time_at, "expected a column")
                .help("compute the timestamp in a subquery first"),
            ));
        };
        let kind = if fname == "TUMBLE" {
            WindowKind::Tumble {
                size: self.duration(cx, exprs[2])?,
            }
        } else {
            let hop = self.duration(cx, exprs[2])?;
            let size = self.duration(cx, exprs[3])?;
            if hop.0 > size.0 {
                return Err(self.error(
                    Diagnostic::error(
                        "sql::bad-argument",
                        format!("HOP's hop ({hop}) is longer than its window ({size})"),
                    )
                    .label(cx.span(exprs[2]), "hop longer than the window")
                    .help("HOP(table, time, '<hop>', '<window size>') with hop ≤ size"),
                ));
            }
            WindowKind::Hop { hop, size }
        };
        let qualifier = fields.first().and_then(|f| f.qualifier.clone());
        let mut out = fields.clone();
        // A row whose event time is NULL belongs to no window (as in Dozer and Flink): it is not
        // in the windowed relation, so every window has its bounds.
        for n in ["window_start", "window_end"] {
            out.push(Field {
                name: n.into(),
                ty: SqlType::Timestamp,
                nullable: false,
                qualifier: qualifier.clone(),
            });
        }
        let ws = fields.len();
        let key = match &input.schema.key {
            Key::Columns(c) => Key::Columns(c.iter().copied().chain([ws]).collect()),
            Key::Singleton => Key::Columns(vec![ws]),
            Key::Synthetic => Key::Synthetic,
        };
        Ok(Plan {
            node: PlanNode::Window {
                input: Box::new(input),
                kind,
                time_column,
            },
            schema: PlanSchema { fields: out, key },
        })
    }

    /// A duration literal: `'5 MINUTES'`.
    fn duration(&mut self, cx: Cx, e: &ast::Expr) -> BindResult<Millis> {
        let at = cx.span(e);
        let text = match e {
            ast::Expr::Value(v) => match &v.value {
                ast::Value::SingleQuotedString(s) => Some(s.clone()),
                _ => None,
            },
            _ => None,
        };
        let parsed = text
            .as_deref()
            .and_then(dozer_types::parse::parse_duration)
            .map(|d| Millis(d.num_milliseconds()));
        parsed.ok_or_else(|| {
            self.error(
                Diagnostic::error("sql::bad-duration", format!("`{e}` is not a duration"))
                    .label(at, "expected e.g. '5 MINUTES'")
                    .help("write '<number> <unit>' with unit MILLISECOND(S), SECOND(S), MINUTE(S), HOUR(S) or DAY(S)"),
            )
        })
    }

    fn join(
        &mut self,
        cx: Cx,
        left: Plan,
        right: Plan,
        op: &ast::JoinOperator,
        at: Span,
    ) -> BindResult<Plan> {
        use ast::JoinOperator as J;
        let (kind, constraint) = match op {
            J::Join(c) | J::Inner(c) => (JoinKind::Inner, c),
            J::Left(c) | J::LeftOuter(c) => (JoinKind::Left, c),
            J::Right(c) | J::RightOuter(c) => (JoinKind::Right, c),
            J::FullOuter(_) => {
                return Err(self.unsupported("FULL OUTER JOIN", at, "use LEFT or RIGHT JOIN"))
            }
            J::CrossJoin(_) => {
                return Err(self.unsupported(
                    "CROSS JOIN",
                    at,
                    "join on an equality: a JOIN b ON a.x = b.y",
                ))
            }
            _ => {
                return Err(self.unsupported(
                    "this kind of join",
                    at,
                    "INNER, LEFT and RIGHT joins are supported",
                ))
            }
        };
        let on = match constraint {
            ast::JoinConstraint::On(e) => e,
            ast::JoinConstraint::Using(_) => {
                return Err(self.unsupported("JOIN ... USING", at, "write ON a.x = b.x"))
            }
            ast::JoinConstraint::Natural => {
                return Err(self.unsupported("NATURAL JOIN", at, "write ON a.x = b.x"))
            }
            ast::JoinConstraint::None => {
                return Err(self.unsupported("a join without ON", at, "add ON a.x = b.y"))
            }
        };
        let nl = left.schema.fields.len();
        let combined: Vec<Field> = left
            .schema
            .fields
            .iter()
            .chain(&right.schema.fields)
            .cloned()
            .collect();
        let cond = ExprBinder::new(
            cx.src,
            cx.fallback,
            self.diags,
            &combined,
            AggregateMode::Forbidden("JOIN ON"),
        )
        .condition(on, "ON")?;
        let mut pairs = vec![];
        let mut residual = vec![];
        for c in conjuncts(cond) {
            if let ExprKind::Binary {
                op: BinaryOp::Eq,
                left: l,
                right: r,
            } = &c.kind
            {
                let side = |e: &Expr| {
                    let cols = e.columns();
                    if cols.is_empty() {
                        None
                    } else if cols.iter().all(|&i| i < nl) {
                        Some(true)
                    } else if cols.iter().all(|&i| i >= nl) {
                        Some(false)
                    } else {
                        None
                    }
                };
                let pair = match (side(l), side(r)) {
                    (Some(true), Some(false)) => Some(((**l).clone(), (**r).clone())),
                    (Some(false), Some(true)) => Some(((**r).clone(), (**l).clone())),
                    _ => None,
                };
                if let Some((l, mut r)) = pair {
                    r.map_columns(&|i| i - nl);
                    pairs.push((l, r));
                    continue;
                }
            }
            residual.push(c);
        }
        let on_at = cx.span(on);
        if pairs.is_empty() {
            return Err(self.unsupported(
                "joins without an equality between the two sides",
                on_at,
                "join on equal columns: ON a.x = b.y [AND ...]",
            ));
        }
        if !residual.is_empty() && kind != JoinKind::Inner {
            return Err(self.unsupported(
                "conditions other than equalities in an outer join's ON",
                on_at,
                "filter one side in a subquery first, or use an INNER JOIN",
            ));
        }
        let mut fields = combined;
        for (i, f) in fields.iter_mut().enumerate() {
            let outer_side = match kind {
                JoinKind::Left => i >= nl,
                JoinKind::Right => i < nl,
                JoinKind::Inner => false,
            };
            f.nullable |= outer_side;
        }
        let key_cols = |k: &Key| match k {
            Key::Columns(c) => Some(c.clone()),
            Key::Singleton => Some(vec![]),
            Key::Synthetic => None,
        };
        let key = match (key_cols(&left.schema.key), key_cols(&right.schema.key)) {
            (Some(l), Some(r)) => {
                Key::Columns(l.into_iter().chain(r.into_iter().map(|i| i + nl)).collect())
            }
            _ => Key::Synthetic,
        };
        let schema = PlanSchema { fields, key };
        let mut plan = Plan {
            node: PlanNode::Join {
                left: Box::new(left),
                right: Box::new(right),
                kind,
                on: pairs,
            },
            schema,
        };
        if let Some(pred) = residual.into_iter().reduce(|a, b| Expr {
            ty: SqlType::Boolean,
            nullable: a.nullable || b.nullable,
            kind: ExprKind::Binary {
                op: BinaryOp::And,
                left: Box::new(a),
                right: Box::new(b),
            },
        }) {
            plan = Plan {
                schema: plan.schema.clone(),
                node: PlanNode::Filter {
                    input: Box::new(plan),
                    predicate: pred,
                },
            };
        }
        Ok(plan)
    }
}

fn first_words(s: &str) -> String {
    s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

fn wildcard_options_empty(o: &ast::WildcardAdditionalOptions) -> bool {
    o.opt_ilike.is_none()
        && o.opt_exclude.is_none()
        && o.opt_except.is_none()
        && o.opt_replace.is_none()
        && o.opt_rename.is_none()
}

fn conjuncts(e: Expr) -> Vec<Expr> {
    match e.kind {
        ExprKind::Binary {
            op: BinaryOp::And,
            left,
            right,
        } => {
            let mut v = conjuncts(*left);
            v.extend(conjuncts(*right));
            v
        }
        kind => vec![Expr { kind, ..e }],
    }
}

fn refers_to_aggregate(e: &Expr) -> bool {
    e.columns().iter().any(|&c| c >= AGGREGATE_REF_BASE)
}

/// `window_start`/`window_end` of a windowed FROM (possibly under a TTL), if any.
fn window_columns(plan: &Plan) -> Option<(usize, usize)> {
    let mut p = plan;
    loop {
        match &p.node {
            PlanNode::Window { .. } => {
                let n = p.schema.fields.len();
                return Some((n - 2, n - 1));
            }
            PlanNode::Ttl { input, .. } | PlanNode::Filter { input, .. } => p = input,
            _ => return None,
        }
    }
}

/// Re-expresses `e` over an aggregate's output: subtrees equal to a group key become that key's
/// column, aggregate references become the aggregate's column. `Err(col)` names an input column
/// that is neither grouped nor aggregated.
fn rewrite_over_groups(
    e: &Expr,
    group_by: &[Expr],
    aggregates: &[AggregateCall],
    n: usize,
) -> Result<Expr, usize> {
    if let Some(k) = group_by.iter().position(|g| g == e) {
        return Ok(Expr {
            kind: ExprKind::Column(k),
            ty: group_by[k].ty,
            nullable: group_by[k].nullable,
        });
    }
    let r = |x: &Expr| rewrite_over_groups(x, group_by, aggregates, n);
    let rb = |x: &Expr| r(x).map(Box::new);
    let kind = match &e.kind {
        ExprKind::Column(i) if *i >= AGGREGATE_REF_BASE => {
            let a = *i - AGGREGATE_REF_BASE;
            return Ok(Expr {
                kind: ExprKind::Column(n + a),
                ty: aggregates[a].ty,
                nullable: aggregates[a].nullable,
            });
        }
        ExprKind::Column(i) => return Err(*i),
        ExprKind::Literal(l) => ExprKind::Literal(l.clone()),
        ExprKind::Unary { op, expr } => ExprKind::Unary {
            op: *op,
            expr: rb(expr)?,
        },
        ExprKind::Binary { op, left, right } => ExprKind::Binary {
            op: *op,
            left: rb(left)?,
            right: rb(right)?,
        },
        ExprKind::Cast { expr } => ExprKind::Cast { expr: rb(expr)? },
        ExprKind::Case {
            branches,
            otherwise,
        } => ExprKind::Case {
            branches: branches
                .iter()
                .map(|(c, v)| Ok::<_, usize>((r(c)?, r(v)?)))
                .collect::<Result<_, _>>()?,
            otherwise: otherwise.as_deref().map(rb).transpose()?,
        },
        ExprKind::Function { func, args } => ExprKind::Function {
            func: *func,
            args: args.iter().map(r).collect::<Result<_, _>>()?,
        },
        ExprKind::Like {
            expr,
            pattern,
            negated,
            case_insensitive,
        } => ExprKind::Like {
            expr: rb(expr)?,
            pattern: rb(pattern)?,
            negated: *negated,
            case_insensitive: *case_insensitive,
        },
        ExprKind::InList {
            expr,
            list,
            negated,
        } => ExprKind::InList {
            expr: rb(expr)?,
            list: list.iter().map(r).collect::<Result<_, _>>()?,
            negated: *negated,
        },
        ExprKind::IsNull { expr, negated } => ExprKind::IsNull {
            expr: rb(expr)?,
            negated: *negated,
        },
    };
    // Nullability of a rebuilt node is unchanged except where an aggregate became nullable (global
    // aggregates): recompute it from the children for strict operators.
    let mut out = Expr {
        kind,
        ty: e.ty,
        nullable: e.nullable,
    };
    if let ExprKind::Binary { left, right, .. } = &out.kind {
        out.nullable |= left.nullable || right.nullable;
    }
    Ok(out)
}

/// The key of a projection: the input key, if every key column is projected as is.
fn project_key(input: &Key, exprs: &[Expr]) -> Key {
    match input {
        Key::Columns(cols) => {
            let positions: Option<Vec<usize>> = cols
                .iter()
                .map(|c| {
                    exprs
                        .iter()
                        .position(|e| matches!(e.kind, ExprKind::Column(i) if i == *c))
                })
                .collect();
            positions.map_or(Key::Synthetic, Key::Columns)
        }
        other => other.clone(),
    }
}

fn project(input: Plan, items: Vec<(Expr, String, Span)>, key: Key) -> Plan {
    let fields = items
        .iter()
        .map(|(e, name, _)| Field {
            name: name.clone(),
            ty: e.ty,
            nullable: e.nullable,
            qualifier: None,
        })
        .collect();
    let exprs = items.into_iter().map(|(e, _, _)| e).collect();
    Plan {
        node: PlanNode::Project {
            input: Box::new(input),
            exprs,
        },
        schema: PlanSchema { fields, key },
    }
}

fn check_unique_names(items: &[(Expr, String, Span)], b: &mut Binder) -> BindResult<()> {
    let mut ok = true;
    for (i, (_, name, at)) in items.iter().enumerate() {
        if let Some((_, _, first)) = items[..i]
            .iter()
            .find(|(_, n, _)| n.eq_ignore_ascii_case(name))
        {
            ok = false;
            b.error(
                Diagnostic::error(
                    "sql::duplicate-column",
                    format!("the result has two columns named `{name}`"),
                )
                .label(*at, "second column with this name")
                .label(*first, "first one")
                .help("give one of them another name with AS"),
            );
        }
    }
    if ok {
        Ok(())
    } else {
        Err(Reported)
    }
}

fn requalify(plan: &mut Plan, qualifier: Option<&str>) {
    for f in &mut plan.schema.fields {
        f.qualifier = qualifier.map(str::to_string);
    }
}

/// `FROM t AS x (a, b)`: renames the first columns (through a projection, so the input keeps its
/// own names).
fn rename_columns(plan: Plan, alias: &ast::TableAlias, cx: Cx, b: &mut Binder) -> BindResult<Plan> {
    if alias.columns.is_empty() {
        return Ok(plan);
    }
    if alias.columns.len() > plan.schema.fields.len() {
        return Err(b.error(
            Diagnostic::error(
                "sql::alias-columns",
                format!(
                    "{} column names given for a table of {} columns",
                    alias.columns.len(),
                    plan.schema.fields.len()
                ),
            )
            .label(cx.ident(&alias.name), "too many column names")
            .help("name at most as many columns as the table has"),
        ));
    }
    let mut schema = plan.schema.clone();
    for (f, c) in schema.fields.iter_mut().zip(&alias.columns) {
        f.name = c.name.value.clone();
    }
    let exprs = plan
        .schema
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| Expr::column(i, f))
        .collect();
    Ok(Plan {
        node: PlanNode::Project {
            input: Box::new(plan),
            exprs,
        },
        schema,
    })
}
