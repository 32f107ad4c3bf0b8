//! The table functions TUMBLE, HOP and TTL, and their duration arguments.

use sqlparser::ast;

use super::{Binder, Cte, Cx};
use crate::diagnostic::{did_you_mean, Diagnostic, Span};
use crate::sql::expr::{AggregateMode, BindResult, ExprBinder};
use crate::sql::plan::{ExprKind, Field, Key, Millis, Plan, PlanNode, PlanSchema, WindowKind};
use crate::types::SqlType;

impl Binder<'_, '_> {
    pub(super) fn table_function(
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
    pub(super) fn duration(&mut self, cx: Cx, e: &ast::Expr) -> BindResult<Millis> {
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
}
