//! Binding of whole statements: FROM (tables, sources, CTEs, subqueries, joins, TUMBLE/HOP/TTL),
//! WHERE, GROUP BY/HAVING, the SELECT list, DISTINCT and UNION, into a [`Plan`] with output keys.
//! One file per clause, each an `impl Binder` of its own: [`query`] (WITH, set operations),
//! [`select`], [`group`] (GROUP BY/HAVING), [`from`], [`join`], [`window`] (TUMBLE/HOP/TTL); this
//! file drives the statements (on first use, in dependency order).
//!
//! Statements may read each other's `INTO` tables in any order: a statement is bound on first use,
//! and a cycle is an error. Keys follow the relational rules: a source keeps its primary key through
//! filters and projections that keep the key columns, GROUP BY keys become the key, windows add
//! `window_start`, joins concatenate both sides' keys, DISTINCT/UNION key on all columns; where none
//! can be derived the runtime assigns record ids ([`Key::Synthetic`]).

mod from;
mod group;
mod join;
mod query;
mod select;
mod window;

use sqlparser::ast;

use super::expr::Reported;
use super::parse::{parse, ParsedStatement, SqlSource};
use super::plan::{Plan, PlanSchema};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::diagnostic::{Diagnostic, Diagnostics, Span};

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
    /// Statement indices in the order their binding finished.
    finished: Vec<usize>,
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
    /// The bound statements, each after the statements whose results it reads (the order they
    /// are computed in).
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
        finished: vec![],
        diags,
    };
    binder.collect_into_names();
    for i in 0..parsed.len() {
        binder.ensure_bound(i);
    }
    let mut out = vec![];
    for i in std::mem::take(&mut binder.finished) {
        let p = &parsed[i];
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
        // Statements finish after every statement they read: this is the order results are
        // computed in.
        self.finished.push(i);
        schema
    }
}

pub(super) fn first_words(s: &str) -> String {
    s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}
