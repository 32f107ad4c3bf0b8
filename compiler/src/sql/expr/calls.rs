//! Scalar function calls, checked against their signatures in the function registry.

use sqlparser::ast;

use super::{BindResult, ExprBinder, Reported};
use crate::diagnostic::{Diagnostic, Span};
use crate::registry::aggregates;
use crate::registry::functions::{self, Named, Nulls, Param, Returns};
use crate::sql::plan::{DatePart, Expr, ExprKind, Literal, ScalarFunction};
use crate::types::SqlType;

impl ExprBinder<'_, '_> {
    pub(super) fn function(&mut self, f: &ast::Function, at: Span) -> BindResult<Expr> {
        let name = f.name.to_string().to_ascii_lowercase();
        if f.over.is_some() {
            return Err(self.unsupported(
                "window functions (OVER)",
                at,
                "use GROUP BY, or TUMBLE/HOP windows in FROM",
            ));
        }
        if f.filter.is_some() || !f.within_group.is_empty() {
            return Err(self.unsupported(
                "FILTER / WITHIN GROUP",
                at,
                "move the condition into a CASE inside the aggregate",
            ));
        }
        let (distinct, args): (bool, Vec<&ast::FunctionArg>) = match &f.args {
            ast::FunctionArguments::None => (false, vec![]),
            ast::FunctionArguments::List(l) => {
                if !l.clauses.is_empty() {
                    return Err(self.unsupported(
                        "clauses inside function arguments",
                        at,
                        "pass plain arguments",
                    ));
                }
                (
                    matches!(
                        l.duplicate_treatment,
                        Some(ast::DuplicateTreatment::Distinct)
                    ),
                    l.args.iter().collect(),
                )
            }
            ast::FunctionArguments::Subquery(_) => {
                return Err(self.unsupported(
                    "subqueries as function arguments",
                    at,
                    "join the subquery in FROM",
                ))
            }
        };
        if let Some(func) = aggregates::lookup(&name) {
            return self.aggregate(func, distinct, &args, at);
        }
        if distinct {
            return Err(self.unsupported(
                "DISTINCT in a scalar function",
                at,
                "DISTINCT applies to COUNT only",
            ));
        }
        let mut bound = vec![];
        let mut failed = false;
        for a in &args {
            match a {
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => match self.bind(e) {
                    Ok(b) => bound.push(b),
                    Err(_) => failed = true,
                },
                _ => {
                    return Err(self.unsupported(
                        "named or wildcard function arguments",
                        at,
                        "pass positional arguments",
                    ))
                }
            }
        }
        if failed {
            return Err(Reported);
        }
        let func = match functions::lookup(&name) {
            Some(Named::Function(func)) => func,
            Some(Named::WithDatePart(with)) => {
                let Some(ExprKind::Literal(Literal::String(field))) =
                    bound.first().map(|b| &b.kind)
                else {
                    return Err(self.error(
                        Diagnostic::error(
                            "sql::bad-argument",
                            format!("the first argument of {name} must be a literal field name"),
                        )
                        .label(at, "expected e.g. 'day'")
                        .help(format!("write {name}('day', column)")),
                    ));
                };
                let Some(part) = DatePart::parse(field) else {
                    return Err(self.error(
                        Diagnostic::error("sql::bad-argument", format!("unknown date field '{field}'"))
                            .label(at, "unknown field")
                            .help("fields: year, quarter, month, week, day, dow, doy, hour, minute, second, millisecond, epoch"),
                    ));
                };
                bound.remove(0);
                with(part)
            }
            None => {
                let known: Vec<&str> = functions::NAMES
                    .iter()
                    .copied()
                    .chain(aggregates::NAMES.iter().copied())
                    .collect();
                let mut d = Diagnostic::error(
                    "sql::unknown-function",
                    format!("unknown function `{name}`"),
                )
                .label(at, "not a known function");
                d = d.suggest(&name, &known, |_| {
                    "see docs/sql.md for the functions dozerc supports".into()
                });
                return Err(self.error(d));
            }
        };
        self.typed_function(func, bound, at)
    }

    pub(super) fn arity(
        &mut self,
        func: ScalarFunction,
        args: &[Expr],
        min: usize,
        max: usize,
        at: Span,
    ) -> BindResult<()> {
        if args.len() < min || args.len() > max {
            let expected = if min == max {
                format!("{min}")
            } else if max == usize::MAX {
                format!("at least {min}")
            } else {
                format!("{min} to {max}")
            };
            return Err(self.error(
                Diagnostic::error(
                    "sql::bad-argument",
                    format!(
                        "{} takes {expected} argument(s), got {}",
                        func.name(),
                        args.len()
                    ),
                )
                .label(at, "wrong number of arguments")
                .help("docs/sql.md lists each function with its arguments"),
            ));
        }
        Ok(())
    }

    /// Checks a call against its signature in the function registry: the number of arguments,
    /// what each must be (converting it where the signature says), the result type and when the
    /// result is NULL.
    pub(super) fn typed_function(
        &mut self,
        func: ScalarFunction,
        args: Vec<Expr>,
        at: Span,
    ) -> BindResult<Expr> {
        let sig = functions::signature(func);
        let (min, max) = sig.arity();
        self.arity(func, &args, min, max, at)?;
        let context = match func {
            ScalarFunction::Trim(_) => "trim".to_string(),
            other => other.name(),
        };
        // Arguments of the `Common` kind take the type they share.
        let common = if (0..args.len()).any(|i| sig.param(i) == Param::Common) {
            let what = format!("{} arguments", func.name());
            let ty = self.unify(
                args.iter().map(|a| (a, at)),
                &what,
                "CAST the arguments to one type",
            )?;
            Some(ty.unwrap_or(SqlType::String))
        } else {
            None
        };
        let mut out = Vec::with_capacity(args.len());
        for (i, a) in args.into_iter().enumerate() {
            out.push(match sig.param(i) {
                Param::Text => self.expect_string(a, at, &context)?,
                Param::Int => self.coerce(a, SqlType::Int, at)?,
                Param::Number => self.expect_numeric(a, at, &context)?,
                Param::Float => {
                    let a = self.expect_numeric(a, at, &context)?;
                    self.coerce(a, SqlType::Float, at)?
                }
                Param::Temporal => self.expect_temporal(a, at, &context)?,
                Param::Timestamp => {
                    let a = self.expect_temporal(a, at, &context)?;
                    self.coerce(a, SqlType::Timestamp, at)?
                }
                Param::Common => self.coerce(a, common.unwrap_or(SqlType::String), at)?,
                Param::Any => a,
            });
        }
        let ty = match sig.returns {
            Returns::Type(t) => t,
            Returns::FirstArgument => out.first().map_or(SqlType::String, |a| a.ty),
            Returns::Common => common.unwrap_or(SqlType::String),
        };
        let nullable = match sig.nulls {
            Nulls::Strict => out.iter().any(|a| a.nullable),
            Nulls::Never => false,
            Nulls::AllArguments => out.iter().all(|a| a.nullable),
            Nulls::Always => true,
        };
        Ok(Expr {
            ty,
            nullable,
            kind: ExprKind::Function { func, args: out },
        })
    }
}
