//! The type rules: what an operand must be, implicit conversions (widening, literals taking their
//! context's type), casts (as the cast registry allows), comparisons and operators, CASE, and the
//! common type of several expressions.

use sqlparser::ast;

use super::{common, lit, BindResult, ExprBinder, Reported};
use crate::diagnostic::{Diagnostic, Span};
use crate::registry::casts;
use crate::sql::plan::{BinaryOp, Expr, ExprKind, Literal};
use crate::types::SqlType;
use dozer_types::parse::{parse_date, parse_timestamp_or_date};

impl ExprBinder<'_, '_> {
    pub fn data_type(&mut self, dt: &ast::DataType, at: Span) -> BindResult<SqlType> {
        let text = dt.to_string().to_ascii_lowercase();
        let base = text.split('(').next().unwrap_or("").trim();
        let base = base
            .strip_suffix(" with time zone")
            .or(base.strip_suffix(" without time zone"))
            .unwrap_or(base);
        match SqlType::from_name(base) {
            // In SQL, text and varchar are the same string type; `text` as Dozer's full-text
            // storage hint only exists in YAML column overrides.
            Some(SqlType::Text) => Ok(SqlType::String),
            Some(SqlType::Duration) | None => Err(self.unsupported(
                &format!("type {dt}"),
                at,
                "types: int, bigint, float, decimal/numeric, boolean, text/varchar, date, timestamp, json, bytea",
            )),
            Some(t) => Ok(t),
        }
    }

    pub(super) fn expect_boolean(&mut self, e: Expr, at: Span, ctx: &str) -> BindResult<Expr> {
        if e.is_null_literal() {
            return Ok(Expr {
                ty: SqlType::Boolean,
                ..e
            });
        }
        if e.ty != SqlType::Boolean {
            return Err(self.error(
                Diagnostic::error(
                    "sql::type-mismatch",
                    format!("{ctx} needs a boolean, found {}", e.ty),
                )
                .label(at, format!("this is {}", e.ty))
                .help("write a condition such as `x > 0` or `x IS NOT NULL`"),
            ));
        }
        Ok(e)
    }

    /// Checks that `e` has a type of a family (or is NULL); `family` names it in the message.
    pub(super) fn expect(
        &mut self,
        e: Expr,
        at: Span,
        ctx: &str,
        ok: fn(SqlType) -> bool,
        family: &str,
        help: &str,
    ) -> BindResult<Expr> {
        if ok(e.ty) || e.is_null_literal() {
            return Ok(e);
        }
        Err(self.error(
            Diagnostic::error(
                "sql::type-mismatch",
                format!("{ctx} needs {family}, found {}", e.ty),
            )
            .label(at, format!("this is {}", e.ty))
            .help(help.to_string()),
        ))
    }

    pub(super) fn expect_string(&mut self, e: Expr, at: Span, ctx: &str) -> BindResult<Expr> {
        self.expect(
            e,
            at,
            ctx,
            SqlType::is_string,
            "a string",
            "convert it first: CAST(... AS text)",
        )
    }

    pub(super) fn expect_numeric(&mut self, e: Expr, at: Span, ctx: &str) -> BindResult<Expr> {
        self.expect(
            e,
            at,
            ctx,
            SqlType::is_numeric,
            "a number",
            "convert it first, e.g. CAST(x AS decimal)",
        )
    }

    pub(super) fn expect_temporal(&mut self, e: Expr, at: Span, ctx: &str) -> BindResult<Expr> {
        self.expect(
            e,
            at,
            ctx,
            SqlType::is_temporal,
            "a date or timestamp",
            "convert it first: CAST(x AS timestamp)",
        )
    }

    pub(super) fn mismatch(
        &mut self,
        op: &str,
        l: &Expr,
        r: &Expr,
        at: Span,
        r_at: Span,
    ) -> Reported {
        self.error(
            Diagnostic::error(
                "sql::type-mismatch",
                format!("cannot apply `{op}` to {} and {}", l.ty, r.ty),
            )
            .label(at, format!("{} {op} {}", l.ty, r.ty))
            .label(r_at, format!("this is {}", r.ty))
            .help("convert one side with CAST(... AS <type>) so both have the same type"),
        )
    }

    /// Converts `e` to type `to` implicitly: NULL and string literals take the type, numbers widen.
    pub fn coerce(&mut self, e: Expr, to: SqlType, at: Span) -> BindResult<Expr> {
        if e.ty == to {
            return Ok(e);
        }
        if e.is_null_literal() {
            return Ok(Expr { ty: to, ..e });
        }
        // Widen numeric literals here rather than casting them at run time.
        let folded = match (&e.kind, to) {
            (ExprKind::Literal(Literal::Int(i)), SqlType::Decimal) => {
                Some(Literal::Decimal(i.to_string()))
            }
            (ExprKind::Literal(Literal::Int(i)), SqlType::Float) => Some(Literal::Float(*i as f64)),
            (ExprKind::Literal(Literal::Decimal(d)), SqlType::Float) => {
                d.parse::<f64>().ok().map(Literal::Float)
            }
            _ => None,
        };
        if let Some(l) = folded {
            return Ok(lit(l, to));
        }
        if let ExprKind::Literal(Literal::String(s)) = &e.kind {
            let parsed = match to {
                SqlType::Timestamp => parse_timestamp_or_date(s).map(|t| {
                    Literal::Timestamp(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
                }),
                SqlType::Date => parse_date(s).map(|d| Literal::Date(d.to_string())),
                SqlType::String | SqlType::Text => Some(Literal::String(s.clone())),
                _ => None,
            };
            if let Some(l) = parsed {
                return Ok(lit(l, to));
            }
            if to.is_temporal() {
                return Err(self.error(
                    Diagnostic::error("sql::bad-literal", format!("'{s}' is not a valid {to}"))
                        .label(at, format!("expected a {to}"))
                        .help(if to == SqlType::Date {
                            "write dates as 'YYYY-MM-DD'"
                        } else {
                            "write timestamps as 'YYYY-MM-DD HH:MM:SS' or RFC 3339"
                        }),
                ));
            }
        }
        if casts::widens(e.ty, to) {
            return Ok(Expr {
                ty: to,
                nullable: e.nullable,
                kind: ExprKind::Cast { expr: Box::new(e) },
            });
        }
        Err(self.error(
            Diagnostic::error(
                "sql::type-mismatch",
                format!("expected {to}, found {}", e.ty),
            )
            .label(at, format!("this is {}", e.ty))
            .help(format!("convert it: CAST(... AS {to})")),
        ))
    }

    pub(super) fn explicit_cast(&mut self, x: Expr, to: SqlType, at: Span) -> BindResult<Expr> {
        let from = x.ty;
        let ok = x.is_null_literal() || casts::cast(from, to).is_some();
        if !ok {
            return Err(self.error(
                Diagnostic::error("sql::invalid-cast", format!("cannot cast {from} to {to}"))
                    .label(at, format!("{from} → {to}"))
                    .help("cast through text if you mean to re-parse the value"),
            ));
        }
        if let ExprKind::Literal(Literal::String(_)) = &x.kind {
            if to.is_temporal() {
                return self.coerce(x, to, at);
            }
        }
        let nullable = x.nullable;
        Ok(Expr {
            ty: to,
            nullable,
            kind: ExprKind::Cast { expr: Box::new(x) },
        })
    }

    pub(super) fn compare(&mut self, op: BinaryOp, l: Expr, r: Expr, at: Span) -> BindResult<Expr> {
        let ty = if l.is_null_literal() {
            r.ty
        } else if r.is_null_literal() {
            l.ty
        } else if matches!(l.kind, ExprKind::Literal(Literal::String(_))) && r.ty.is_temporal() {
            r.ty
        } else if matches!(r.kind, ExprKind::Literal(Literal::String(_))) && l.ty.is_temporal() {
            l.ty
        } else {
            match SqlType::common_supertype(l.ty, r.ty) {
                Some(SqlType::Json) if op != BinaryOp::Eq && op != BinaryOp::NotEq => {
                    return Err(self.error(
                        Diagnostic::error(
                            "sql::type-mismatch",
                            "JSON values can only be compared for equality",
                        )
                        .label(at, "ordering JSON")
                        .help("compare a field of it cast to a type, e.g. CAST(j AS text)"),
                    ))
                }
                Some(t) => t,
                None => return Err(self.mismatch(op.symbol(), &l, &r, at, at)),
            }
        };
        let l = self.coerce(l, ty, at)?;
        let r = self.coerce(r, ty, at)?;
        Ok(Expr {
            ty: SqlType::Boolean,
            nullable: l.nullable || r.nullable,
            kind: ExprKind::Binary {
                op,
                left: Box::new(l),
                right: Box::new(r),
            },
        })
    }

    pub(super) fn binary(
        &mut self,
        left: &ast::Expr,
        op: &ast::BinaryOperator,
        right: &ast::Expr,
        at: Span,
    ) -> BindResult<Expr> {
        use ast::BinaryOperator as B;
        let op = match op {
            B::Plus => BinaryOp::Add,
            B::Minus => BinaryOp::Sub,
            B::Multiply => BinaryOp::Mul,
            B::Divide => BinaryOp::Div,
            B::Modulo => BinaryOp::Mod,
            B::Eq => BinaryOp::Eq,
            B::NotEq => BinaryOp::NotEq,
            B::Lt => BinaryOp::Lt,
            B::LtEq => BinaryOp::LtEq,
            B::Gt => BinaryOp::Gt,
            B::GtEq => BinaryOp::GtEq,
            B::And => BinaryOp::And,
            B::Or => BinaryOp::Or,
            B::StringConcat => BinaryOp::Concat,
            other => {
                return Err(self.unsupported(
                    &format!("operator `{other}`"),
                    at,
                    "supported: + - * / % = <> < <= > >= AND OR ||",
                ))
            }
        };
        // Bind both sides even if one fails, to report both.
        let (l, r) = (self.bind(left), self.bind(right));
        let (l, r) = (l?, r?);
        let (l_at, r_at) = (self.span(left), self.span(right));
        match op {
            BinaryOp::And | BinaryOp::Or => {
                let l = self.expect_boolean(l, l_at, op.symbol())?;
                let r = self.expect_boolean(r, r_at, op.symbol())?;
                Ok(Expr {
                    ty: SqlType::Boolean,
                    nullable: l.nullable || r.nullable,
                    kind: ExprKind::Binary {
                        op,
                        left: Box::new(l),
                        right: Box::new(r),
                    },
                })
            }
            op if op.is_comparison() => self.compare(op, l, r, at),
            BinaryOp::Concat => {
                let l = self.expect_string(l, l_at, "||")?;
                let r = self.expect_string(r, r_at, "||")?;
                Ok(Expr {
                    ty: SqlType::String,
                    nullable: l.nullable || r.nullable,
                    kind: ExprKind::Binary {
                        op,
                        left: Box::new(l),
                        right: Box::new(r),
                    },
                })
            }
            _ => {
                let ty = match (l.is_null_literal(), r.is_null_literal()) {
                    (true, true) => SqlType::Int,
                    (true, false) => r.ty,
                    (false, true) => l.ty,
                    _ => match SqlType::numeric_supertype(l.ty, r.ty) {
                        Some(t) => t,
                        None => {
                            return Err(self.mismatch(
                                op.symbol(),
                                &l,
                                &r,
                                at,
                                if l.ty.is_numeric() { r_at } else { l_at },
                            ))
                        }
                    },
                };
                if !ty.is_numeric() {
                    return Err(self.mismatch(
                        op.symbol(),
                        &l,
                        &r,
                        at,
                        if l.ty.is_numeric() { r_at } else { l_at },
                    ));
                }
                let ty = if ty == SqlType::UInt {
                    SqlType::Int
                } else {
                    ty
                };
                let l = self.coerce(l, ty, l_at)?;
                let r = self.coerce(r, ty, r_at)?;
                Ok(Expr {
                    ty,
                    nullable: l.nullable || r.nullable,
                    kind: ExprKind::Binary {
                        op,
                        left: Box::new(l),
                        right: Box::new(r),
                    },
                })
            }
        }
    }

    /// The common type of several values (CASE results, COALESCE arguments); NULLs take any type.
    /// `None` when every value is NULL.
    pub(super) fn unify<'e>(
        &mut self,
        values: impl Iterator<Item = (&'e Expr, Span)>,
        what: &str,
        help: &str,
    ) -> BindResult<Option<SqlType>> {
        let mut ty: Option<SqlType> = None;
        for (v, at) in values {
            if v.is_null_literal() {
                continue;
            }
            ty = match ty {
                None => Some(v.ty),
                Some(t) => match common(t, v) {
                    Some(t) => Some(t),
                    None => {
                        return Err(self.error(
                            Diagnostic::error(
                                "sql::type-mismatch",
                                format!("{what} have different types: {t} and {}", v.ty),
                            )
                            .label(at, format!("this is {}", v.ty))
                            .help(help.to_string()),
                        ))
                    }
                },
            };
        }
        Ok(ty)
    }

    pub(super) fn case(
        &mut self,
        operand: Option<&ast::Expr>,
        conditions: &[ast::CaseWhen],
        otherwise: Option<&ast::Expr>,
        at: Span,
    ) -> BindResult<Expr> {
        let operand = operand.map(|o| self.bind(o)).transpose()?;
        let mut branches = vec![];
        for w in conditions {
            let cond_at = self.span(&w.condition);
            let cond = match &operand {
                // CASE x WHEN v THEN ...  ≡  CASE WHEN x = v THEN ...
                Some(x) => {
                    let v = self.bind(&w.condition)?;
                    self.compare(BinaryOp::Eq, x.clone(), v, cond_at)?
                }
                None => self.condition(&w.condition, "a WHEN condition")?,
            };
            branches.push((cond, self.bind(&w.result)?, self.span(&w.result)));
        }
        let otherwise = otherwise
            .map(|o| Ok::<_, Reported>((self.bind(o)?, self.span(o))))
            .transpose()?;
        let results = branches
            .iter()
            .map(|(_, r, s)| (r, *s))
            .chain(otherwise.iter().map(|(r, s)| (r, *s)));
        let ty = self.unify(
            results,
            "CASE branches",
            "make all THEN/ELSE results the same type with CAST",
        )?;
        let ty = ty.unwrap_or(SqlType::String);
        let nullable = otherwise.is_none()
            || branches.iter().any(|(_, r, _)| r.nullable)
            || otherwise.as_ref().is_some_and(|(o, _)| o.nullable);
        let mut out = vec![];
        for (c, r, r_at) in branches {
            out.push((c, self.coerce(r, ty, r_at)?));
        }
        let otherwise = match otherwise {
            Some((o, o_at)) => Some(Box::new(self.coerce(o, ty, o_at)?)),
            None => None,
        };
        let _ = at;
        Ok(Expr {
            ty,
            nullable,
            kind: ExprKind::Case {
                branches: out,
                otherwise,
            },
        })
    }
}
