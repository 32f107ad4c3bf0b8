//! GROUP BY and HAVING: grouping expressions, aggregate calls, the implicit grouping of a windowed
//! query, and expressions re-expressed over the aggregate's output.

use sqlparser::ast;

use super::select::{project, project_key};
use super::{Binder, Cx};
use crate::diagnostic::{Diagnostic, Span};
use crate::sql::expr::{ident_matches, AggregateMode, BindResult, ExprBinder, Reported};
use crate::sql::plan::{
    AggregateCall, AggregateFunction, Expr, ExprKind, Field, Key, Plan, PlanNode, PlanSchema,
    ShowExpr,
};

impl Binder<'_, '_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn aggregate(
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
}

pub(super) fn refers_to_aggregate(e: &Expr) -> bool {
    let mut found = false;
    e.walk(&mut |x| found |= matches!(x.kind, ExprKind::Aggregate(_)));
    found
}

/// `window_start`/`window_end` of a windowed FROM (possibly under a TTL), if any.
pub(super) fn window_columns(plan: &Plan) -> Option<(usize, usize)> {
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
pub(super) fn rewrite_over_groups(
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
        ExprKind::Aggregate(a) => {
            let a = *a;
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
