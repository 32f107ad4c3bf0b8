//! WITH and set operations: a statement's CTEs, its body, and UNION / UNION ALL (columns matched
//! by position, types unified, keys on every column for UNION).

use sqlparser::ast;

use super::from::rename_columns;
use super::{first_words, Binder, Cte, Cx};
use crate::diagnostic::{Diagnostic, Span};
use crate::sql::expr::BindResult;
use crate::sql::plan::{Expr, ExprKind, Field, Key, Plan, PlanNode, PlanSchema};
use crate::types::SqlType;

impl Binder<'_, '_> {
    pub(super) fn query(
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

    pub(super) fn set_expr(
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

    pub(super) fn union(&mut self, l: Plan, r: Plan, all: bool, r_at: Span) -> BindResult<Plan> {
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
}
