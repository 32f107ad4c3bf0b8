//! Binding and type-checking of scalar expressions.
//!
//! Rules (PostgreSQL's, simplified): numbers widen Int → Decimal → Float; a string literal compared
//! with a date or timestamp is read as one (and must parse); NULL takes the type its context needs;
//! strict operators and functions are nullable when an argument is. Implicit widenings appear in the
//! plan as `CAST`s, so later stages never guess. Aggregate calls are collected by the caller through
//! [`AggregateMode::Collect`] and stand in the expression as [`ExprKind::Aggregate`] until the
//! query binder rewrites them into references to the aggregate's output.
//!
//! This file resolves names and dispatches over the AST; [`types`] holds the type rules,
//! [`calls`] the calls of scalar functions, [`aggregates`] the aggregate calls.

mod aggregates;
mod calls;
mod types;

use sqlparser::ast;

use super::parse::SqlSource;
use super::plan::{
    AggregateCall, BinaryOp, DatePart, Expr, ExprKind, Field, Literal, ScalarFunction, TrimWhere,
    UnaryOp,
};
use crate::diagnostic::{did_you_mean, Diagnostic, Diagnostics, Span};
use crate::types::SqlType;

/// The error was reported to the diagnostics already.
#[derive(Debug, Clone, Copy)]
pub struct Reported;

pub type BindResult<T> = Result<T, Reported>;

pub enum AggregateMode {
    /// Aggregates are an error here; the string names the clause (`WHERE`, `GROUP BY`...).
    Forbidden(&'static str),
    /// Aggregates are collected (SELECT list and HAVING of an aggregate query).
    Collect(Vec<AggregateCall>),
}

pub struct ExprBinder<'a, 'd> {
    pub src: &'a SqlSource<'a>,
    pub fallback: Span,
    pub diags: &'d mut Diagnostics,
    pub fields: &'a [Field],
    pub aggregates: AggregateMode,
    inside_aggregate: bool,
}

fn lit(l: Literal, ty: SqlType) -> Expr {
    let nullable = matches!(l, Literal::Null);
    Expr {
        kind: ExprKind::Literal(l),
        ty,
        nullable,
    }
}

/// Whether an unquoted identifier (case-insensitive) or a quoted one (exact) names `name`.
pub fn ident_matches(ident: &ast::Ident, name: &str) -> bool {
    if ident.quote_style.is_some() {
        ident.value == name
    } else {
        ident.value.eq_ignore_ascii_case(name)
    }
}

impl<'a, 'd> ExprBinder<'a, 'd> {
    pub fn new(
        src: &'a SqlSource<'a>,
        fallback: Span,
        diags: &'d mut Diagnostics,
        fields: &'a [Field],
        aggregates: AggregateMode,
    ) -> Self {
        ExprBinder {
            src,
            fallback,
            diags,
            fields,
            aggregates,
            inside_aggregate: false,
        }
    }

    pub fn span(&self, node: &impl ast::Spanned) -> Span {
        self.src.span(node.span(), self.fallback)
    }

    pub fn error(&mut self, d: Diagnostic) -> Reported {
        self.diags.push(d);
        Reported
    }

    pub fn unsupported(&mut self, what: &str, at: Span, help: &str) -> Reported {
        self.error(
            Diagnostic::error("sql::unsupported", format!("not supported yet: {what}"))
                .label(at, "not supported yet")
                .help(help.to_string()),
        )
    }

    /// Resolves a possibly qualified column name to a field index.
    pub fn resolve(&mut self, parts: &[ast::Ident], at: Span) -> BindResult<usize> {
        let (qualifier, name) = match parts {
            [name] => (None, name),
            [q, name] => (Some(q), name),
            _ => {
                return Err(self.unsupported(
                    "names with more than two parts",
                    at,
                    "refer to a column as `column` or `table.column`",
                ))
            }
        };
        let matches: Vec<usize> = self
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| ident_matches(name, &f.name))
            .filter(|(_, f)| match qualifier {
                None => true,
                Some(q) => f
                    .qualifier
                    .as_deref()
                    .is_some_and(|fq| ident_matches(q, fq)),
            })
            .map(|(i, _)| i)
            .collect();
        match matches.as_slice() {
            [i] => Ok(*i),
            [] => {
                let shown = parts
                    .iter()
                    .map(|p| p.value.as_str())
                    .collect::<Vec<_>>()
                    .join(".");
                let mut d = Diagnostic::error(
                    "sql::unknown-column",
                    format!("column `{shown}` does not exist"),
                )
                .label(at, "not found");
                if let Some(q) = qualifier {
                    if !self.fields.iter().any(|f| {
                        f.qualifier
                            .as_deref()
                            .is_some_and(|fq| ident_matches(q, fq))
                    }) {
                        let quals: Vec<&str> = self
                            .fields
                            .iter()
                            .filter_map(|f| f.qualifier.as_deref())
                            .collect();
                        d = Diagnostic::error(
                            "sql::unknown-table",
                            format!("no table or alias `{}` in FROM", q.value),
                        )
                        .label(at, "unknown qualifier");
                        let help = did_you_mean(&q.value, quals.iter().copied());
                        return Err(self.error(d.help(
                            help.unwrap_or_else(|| "use the name or alias given in FROM".into()),
                        )));
                    }
                }
                if name.quote_style.is_some() {
                    if let Some(f) = self
                        .fields
                        .iter()
                        .find(|f| f.name.eq_ignore_ascii_case(&name.value))
                    {
                        let help = format!("names in double quotes are case-sensitive: write \"{}\" (or {} unquoted)", f.name, f.name);
                        return Err(self.error(d.help(help)));
                    }
                }
                let names: Vec<&str> = self.fields.iter().map(|f| f.name.as_str()).collect();
                d = d.suggest(&name.value, &names, |names| {
                    format!("available columns: {}", names.join(", "))
                });
                Err(self.error(d))
            }
            many => {
                let options: Vec<String> = many
                    .iter()
                    .map(|&i| {
                        format!(
                            "`{}.{}`",
                            self.fields[i].qualifier.as_deref().unwrap_or("?"),
                            self.fields[i].name
                        )
                    })
                    .collect();
                Err(self.error(
                    Diagnostic::error(
                        "sql::ambiguous-column",
                        format!("column reference `{}` is ambiguous", name.value),
                    )
                    .label(at, "matches several columns")
                    .help(format!("qualify it: {}", options.join(" or "))),
                ))
            }
        }
    }

    pub fn bind(&mut self, e: &ast::Expr) -> BindResult<Expr> {
        use ast::Expr as E;
        let at = self.span(e);
        match e {
            E::Identifier(id) => {
                let i = self.resolve(std::slice::from_ref(id), at)?;
                Ok(Expr::column(i, &self.fields[i]))
            }
            E::CompoundIdentifier(parts) => {
                let i = self.resolve(parts, at)?;
                Ok(Expr::column(i, &self.fields[i]))
            }
            E::Nested(inner) => self.bind(inner),
            E::Value(v) => self.literal(&v.value, at),
            E::TypedString(ts) => {
                let ty = self.data_type(&ts.data_type, at)?;
                let text = match &ts.value.value {
                    ast::Value::SingleQuotedString(s) => s.clone(),
                    other => other.to_string(),
                };
                self.coerce(lit(Literal::String(text), SqlType::String), ty, at)
            }
            E::UnaryOp { op, expr } => {
                let inner = self.bind(expr)?;
                match op {
                    ast::UnaryOperator::Not => {
                        let inner = self.expect_boolean(inner, self.span(expr.as_ref()), "NOT")?;
                        Ok(Expr {
                            ty: SqlType::Boolean,
                            nullable: inner.nullable,
                            kind: ExprKind::Unary {
                                op: UnaryOp::Not,
                                expr: Box::new(inner),
                            },
                        })
                    }
                    ast::UnaryOperator::Minus
                        if inner.ty.is_numeric() || inner.is_null_literal() =>
                    {
                        let ty = if inner.ty == SqlType::UInt {
                            SqlType::Int
                        } else {
                            inner.ty
                        };
                        Ok(Expr {
                            ty,
                            nullable: inner.nullable,
                            kind: ExprKind::Unary {
                                op: UnaryOp::Neg,
                                expr: Box::new(inner),
                            },
                        })
                    }
                    ast::UnaryOperator::Plus if inner.ty.is_numeric() => Ok(inner),
                    ast::UnaryOperator::Minus | ast::UnaryOperator::Plus => Err(self.error(
                        Diagnostic::error(
                            "sql::type-mismatch",
                            format!("cannot apply `{op}` to {}", inner.ty),
                        )
                        .label(at, format!("operand is {}", inner.ty))
                        .help("unary minus and plus take numbers"),
                    )),
                    other => Err(self.unsupported(
                        &format!("operator `{other}`"),
                        at,
                        "supported operators: NOT, -, +",
                    )),
                }
            }
            E::BinaryOp { left, op, right } => self.binary(left, op, right, at),
            E::IsNull(inner) | E::IsNotNull(inner) => {
                let inner = self.bind(inner)?;
                Ok(Expr {
                    ty: SqlType::Boolean,
                    nullable: false,
                    kind: ExprKind::IsNull {
                        expr: Box::new(inner),
                        negated: matches!(e, E::IsNotNull(_)),
                    },
                })
            }
            E::Between {
                expr,
                negated,
                low,
                high,
            } => {
                // x BETWEEN a AND b  ≡  x >= a AND x <= b
                let x = self.bind(expr)?;
                let lo = self.bind(low)?;
                let hi = self.bind(high)?;
                let ge = self.compare(BinaryOp::GtEq, x.clone(), lo, at)?;
                let le = self.compare(BinaryOp::LtEq, x, hi, at)?;
                let both = Expr {
                    ty: SqlType::Boolean,
                    nullable: ge.nullable || le.nullable,
                    kind: ExprKind::Binary {
                        op: BinaryOp::And,
                        left: Box::new(ge),
                        right: Box::new(le),
                    },
                };
                Ok(if *negated { not(both) } else { both })
            }
            E::InList {
                expr,
                list,
                negated,
            } => {
                let x = self.bind(expr)?;
                let items: Vec<Expr> = list
                    .iter()
                    .map(|i| self.bind(i))
                    .collect::<Result<_, _>>()?;
                let mut ty = x.ty;
                for (item, ast_item) in items.iter().zip(list) {
                    if item.is_null_literal() || x.is_null_literal() {
                        continue;
                    }
                    ty = match common(ty, item) {
                        Some(t) => t,
                        None => {
                            let s = self.span(ast_item);
                            return Err(self.mismatch("IN", &x, item, at, s));
                        }
                    };
                }
                let x = self.coerce(x, ty, at)?;
                let nullable = x.nullable || items.iter().any(|i| i.nullable);
                let list = items
                    .into_iter()
                    .map(|i| self.coerce(i, ty, at))
                    .collect::<Result<_, _>>()?;
                Ok(Expr {
                    ty: SqlType::Boolean,
                    nullable,
                    kind: ExprKind::InList {
                        expr: Box::new(x),
                        list,
                        negated: *negated,
                    },
                })
            }
            E::Like {
                negated,
                any,
                expr,
                pattern,
                escape_char,
            }
            | E::ILike {
                negated,
                any,
                expr,
                pattern,
                escape_char,
            } => {
                if *any || escape_char.is_some() {
                    return Err(self.unsupported(
                        "LIKE ANY / ESCAPE",
                        at,
                        "use a plain `x LIKE 'pattern%'` (the escape character is `\\`)",
                    ));
                }
                let x = self.bind(expr)?;
                let p = self.bind(pattern)?;
                let x = self.expect_string(x, self.span(expr.as_ref()), "LIKE")?;
                let p = self.expect_string(p, self.span(pattern.as_ref()), "LIKE")?;
                Ok(Expr {
                    ty: SqlType::Boolean,
                    nullable: x.nullable || p.nullable,
                    kind: ExprKind::Like {
                        expr: Box::new(x),
                        pattern: Box::new(p),
                        negated: *negated,
                        case_insensitive: matches!(e, E::ILike { .. }),
                    },
                })
            }
            E::Cast {
                expr,
                data_type,
                format,
                kind: _,
            } => {
                if format.is_some() {
                    return Err(self.unsupported("CAST ... FORMAT", at, "cast without FORMAT"));
                }
                let to = self.data_type(data_type, at)?;
                let x = self.bind(expr)?;
                self.explicit_cast(x, to, at)
            }
            E::Case {
                operand,
                conditions,
                else_result,
                ..
            } => self.case(operand.as_deref(), conditions, else_result.as_deref(), at),
            E::Function(f) => self.function(f, at),
            E::Extract { field, expr, .. } => {
                let name = field.to_string();
                let Some(part) = DatePart::parse(&name) else {
                    return Err(self.unsupported(&format!("EXTRACT({name} ...)"), at, "fields: year, quarter, month, week, day, dow, doy, hour, minute, second, millisecond, epoch"));
                };
                let x = self.bind(expr)?;
                self.typed_function(ScalarFunction::Extract(part), vec![x], at)
            }
            E::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                let mut args = vec![self.bind(expr)?];
                if let Some(f) = substring_from {
                    args.push(self.bind(f)?);
                } else {
                    args.push(lit(Literal::Int(1), SqlType::Int));
                }
                if let Some(f) = substring_for {
                    args.push(self.bind(f)?);
                }
                self.typed_function(ScalarFunction::Substring, args, at)
            }
            E::Trim {
                expr,
                trim_where,
                trim_what,
                trim_characters,
            } => {
                if trim_characters.is_some() {
                    return Err(self.unsupported(
                        "TRIM with a character list",
                        at,
                        "use `trim(BOTH 'xy' FROM s)`",
                    ));
                }
                let w = match trim_where {
                    None | Some(ast::TrimWhereField::Both) => TrimWhere::Both,
                    Some(ast::TrimWhereField::Leading) => TrimWhere::Leading,
                    Some(ast::TrimWhereField::Trailing) => TrimWhere::Trailing,
                };
                let mut args = vec![self.bind(expr)?];
                if let Some(what) = trim_what {
                    args.push(self.bind(what)?);
                }
                self.typed_function(ScalarFunction::Trim(w), args, at)
            }
            E::Ceil { expr, field } | E::Floor { expr, field } => {
                if !matches!(
                    field,
                    ast::CeilFloorKind::DateTimeField(ast::DateTimeField::NoDateTime)
                ) {
                    return Err(self.unsupported(
                        "CEIL/FLOOR with a unit",
                        at,
                        "use date_trunc for timestamps",
                    ));
                }
                let func = if matches!(e, E::Ceil { .. }) {
                    ScalarFunction::Ceil
                } else {
                    ScalarFunction::Floor
                };
                let x = self.bind(expr)?;
                self.typed_function(func, vec![x], at)
            }
            E::Interval(_) => Err(self.unsupported(
                "INTERVAL expressions",
                at,
                "window sizes are written as strings: TUMBLE(t, ts, '5 MINUTES')",
            )),
            E::Subquery(_) | E::Exists { .. } | E::InSubquery { .. } => Err(self.unsupported(
                "subqueries in expressions",
                at,
                "join with the subquery in FROM instead",
            )),
            other => {
                let text = other.to_string();
                let shown: String = text.chars().take(40).collect();
                Err(self.unsupported(
                    &format!("the expression `{shown}`"),
                    at,
                    "see docs/sql.md for the supported SQL",
                ))
            }
        }
    }

    fn literal(&mut self, v: &ast::Value, at: Span) -> BindResult<Expr> {
        Ok(match v {
            ast::Value::Number(n, _) => {
                let n = n.to_string();
                if let Ok(i) = n.parse::<i64>() {
                    lit(Literal::Int(i), SqlType::Int)
                } else if n.contains(['e', 'E']) {
                    match n.parse::<f64>() {
                        Ok(x) => lit(Literal::Float(x), SqlType::Float),
                        Err(_) => {
                            return Err(self.error(
                                Diagnostic::error(
                                    "sql::bad-literal",
                                    format!("`{n}` is not a number"),
                                )
                                .label(at, "invalid number")
                                .help("write numbers as 42, 4.2 or 4.2e1"),
                            ))
                        }
                    }
                } else if n.chars().filter(char::is_ascii_digit).count() <= 28 {
                    lit(Literal::Decimal(n), SqlType::Decimal)
                } else {
                    return Err(self.error(
                        Diagnostic::error(
                            "sql::bad-literal",
                            format!("`{n}` has more than 28 digits"),
                        )
                        .label(at, "too many digits for a decimal")
                        .help("write it as a float, e.g. 1.5e30"),
                    ));
                }
            }
            ast::Value::SingleQuotedString(s) | ast::Value::EscapedStringLiteral(s) => {
                lit(Literal::String(s.clone()), SqlType::String)
            }
            ast::Value::Boolean(b) => lit(Literal::Boolean(*b), SqlType::Boolean),
            ast::Value::Null => lit(Literal::Null, SqlType::String),
            ast::Value::DoubleQuotedString(s) => {
                return Err(self.error(
                    Diagnostic::error(
                        "sql::unknown-column",
                        format!("column `{s}` does not exist"),
                    )
                    .label(at, "double quotes name a column")
                    .help(format!("for a string, use single quotes: '{s}'")),
                ))
            }
            other => {
                return Err(self.unsupported(
                    &format!("the literal `{other}`"),
                    at,
                    "use numbers, 'strings', TRUE/FALSE or NULL",
                ))
            }
        })
    }

    pub fn condition(&mut self, e: &ast::Expr, clause: &str) -> BindResult<Expr> {
        let bound = self.bind(e)?;
        let at = self.span(e);
        self.expect_boolean(bound, at, clause)
    }
}

pub fn not(e: Expr) -> Expr {
    Expr {
        ty: SqlType::Boolean,
        nullable: e.nullable,
        kind: ExprKind::Unary {
            op: UnaryOp::Not,
            expr: Box::new(e),
        },
    }
}

/// The type a value of `t` and `e` share (a string literal takes a temporal type).
fn common(t: SqlType, e: &Expr) -> Option<SqlType> {
    if matches!(e.kind, ExprKind::Literal(Literal::String(_))) && t.is_temporal() {
        return Some(t);
    }
    SqlType::common_supertype(t, e.ty)
}
