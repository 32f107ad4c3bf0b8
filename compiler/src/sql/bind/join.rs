//! Joins: INNER, LEFT and RIGHT equi-joins (conditions split into key equalities and a residual),
//! keyed on both sides' keys.

use sqlparser::ast;

use super::{Binder, Cx};
use crate::diagnostic::Span;
use crate::sql::expr::{AggregateMode, BindResult, ExprBinder};
use crate::sql::plan::{
    BinaryOp, Expr, ExprKind, Field, JoinKind, Key, Plan, PlanNode, PlanSchema,
};
use crate::types::SqlType;

impl Binder<'_, '_> {
    pub(super) fn join(
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

pub(super) fn conjuncts(e: Expr) -> Vec<Expr> {
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
