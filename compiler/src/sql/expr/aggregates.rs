//! Aggregate calls: where they are allowed, their argument and result types, and how they are
//! collected for the query binder.

use sqlparser::ast;

use super::{AggregateMode, BindResult, ExprBinder, Reported};
use crate::diagnostic::{Diagnostic, Span};
use crate::registry::aggregates::{self, Input};
use crate::sql::plan::{AggregateCall, AggregateFunction, Expr, ExprKind};

impl ExprBinder<'_, '_> {
    pub(super) fn aggregate(
        &mut self,
        func: AggregateFunction,
        distinct: bool,
        args: &[&ast::FunctionArg],
        at: Span,
    ) -> BindResult<Expr> {
        if let AggregateMode::Forbidden(clause) = self.aggregates {
            return Err(self.error(
                Diagnostic::error(
                    "sql::aggregate-not-allowed",
                    format!("aggregate functions are not allowed in {clause}"),
                )
                .label(at, "aggregate here")
                .help(if clause == "WHERE" {
                    "filter on aggregates with HAVING"
                } else {
                    "aggregates belong in the SELECT list or HAVING"
                }),
            ));
        }
        if self.inside_aggregate {
            return Err(self.error(
                Diagnostic::error(
                    "sql::nested-aggregate",
                    "aggregate function calls cannot be nested",
                )
                .label(at, "aggregate inside an aggregate")
                .help("compute the inner aggregate in a subquery or CTE first"),
            ));
        }
        let star = matches!(
            args,
            [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Wildcard)]
        );
        let (func, arg) = if star && func == AggregateFunction::Count && !distinct {
            (AggregateFunction::CountStar, None)
        } else {
            let [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e))] = args else {
                return Err(self.error(
                    Diagnostic::error(
                        "sql::bad-argument",
                        "aggregate functions take exactly one argument",
                    )
                    .label(at, "expected one argument")
                    .help("e.g. SUM(x), COUNT(*), COUNT(DISTINCT x)"),
                ));
            };
            self.inside_aggregate = true;
            let arg = self.bind(e);
            self.inside_aggregate = false;
            let arg = arg?;
            let arg_at = self.span(e);
            let func = match (func, distinct) {
                (AggregateFunction::Count, true) => AggregateFunction::CountDistinct,
                (f, false) => f,
                (_, true) => {
                    return Err(self.unsupported(
                        "DISTINCT in aggregates other than COUNT",
                        at,
                        "use COUNT(DISTINCT x), or aggregate over a SELECT DISTINCT subquery",
                    ))
                }
            };
            let arg = match aggregates::input(func) {
                Input::Number => self.expect_numeric(arg, arg_at, "SUM/AVG")?,
                Input::Ordered if !aggregates::accepts(Input::Ordered, arg.ty) => {
                    return Err(self.error(
                        Diagnostic::error(
                            "sql::type-mismatch",
                            format!("MIN/MAX cannot order {} values", arg.ty),
                        )
                        .label(arg_at, format!("this is {}", arg.ty))
                        .help("MIN/MAX take numbers, strings, booleans, dates and timestamps"),
                    ))
                }
                _ => arg,
            };
            (func, Some(arg))
        };
        // Nullability is finalised by the query binder (an empty input has no groups but a
        // global aggregate still outputs one row, whose SUM is NULL).
        let ty = aggregates::result(func, arg.as_ref().map(|a| a.ty));
        let nullable = aggregates::nullable(func, arg.as_ref().is_some_and(|a| a.nullable));
        let AggregateMode::Collect(list) = &mut self.aggregates else {
            return Err(Reported);
        };
        let call = AggregateCall {
            func,
            arg,
            ty,
            nullable,
        };
        let index = match list.iter().position(|c| *c == call) {
            Some(i) => i,
            None => {
                list.push(call);
                list.len() - 1
            }
        };
        Ok(Expr {
            kind: ExprKind::Aggregate(index),
            ty,
            nullable,
        })
    }
}
