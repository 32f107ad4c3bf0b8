//! Binding and type-checking of scalar expressions.
//!
//! Rules (PostgreSQL's, simplified): numbers widen Int → Decimal → Float; a string literal compared
//! with a date or timestamp is read as one (and must parse); NULL takes the type its context needs;
//! strict operators and functions are nullable when an argument is. Implicit widenings appear in the
//! plan as `CAST`s, so later stages never guess. Aggregate calls are collected by the caller through
//! [`AggregateMode::Collect`] and stand in the expression as references (column indices from `AGGREGATE_REF_BASE` on) until the query binder
//! rewrites them into references to the aggregate's output.

use sqlparser::ast;

use super::parse::SqlSource;
use super::plan::{
    AggregateCall, AggregateFunction, BinaryOp, DatePart, Expr, ExprKind, Field, Literal,
    ScalarFunction, TrimWhere, UnaryOp,
};
use crate::diagnostic::{did_you_mean, Diagnostic, Diagnostics, Span};
use crate::registry::casts;
use crate::registry::functions::{self, Named, Nulls, Param, Returns};
use crate::types::SqlType;
use dozer_types::parse::{parse_date, parse_timestamp_or_date};

/// The error was reported to the diagnostics already.
#[derive(Debug, Clone, Copy)]
pub struct Reported;

pub type BindResult<T> = Result<T, Reported>;

/// Column indices at or above this refer to the n-th collected aggregate (during binding only).
pub const AGGREGATE_REF_BASE: usize = 1 << 40;

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

    fn expect_boolean(&mut self, e: Expr, at: Span, ctx: &str) -> BindResult<Expr> {
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

    pub fn condition(&mut self, e: &ast::Expr, clause: &str) -> BindResult<Expr> {
        let bound = self.bind(e)?;
        let at = self.span(e);
        self.expect_boolean(bound, at, clause)
    }

    /// Checks that `e` has a type of a family (or is NULL); `family` names it in the message.
    fn expect(
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

    fn expect_string(&mut self, e: Expr, at: Span, ctx: &str) -> BindResult<Expr> {
        self.expect(
            e,
            at,
            ctx,
            SqlType::is_string,
            "a string",
            "convert it first: CAST(... AS text)",
        )
    }

    fn expect_numeric(&mut self, e: Expr, at: Span, ctx: &str) -> BindResult<Expr> {
        self.expect(
            e,
            at,
            ctx,
            SqlType::is_numeric,
            "a number",
            "convert it first, e.g. CAST(x AS decimal)",
        )
    }

    fn expect_temporal(&mut self, e: Expr, at: Span, ctx: &str) -> BindResult<Expr> {
        self.expect(
            e,
            at,
            ctx,
            SqlType::is_temporal,
            "a date or timestamp",
            "convert it first: CAST(x AS timestamp)",
        )
    }

    fn mismatch(&mut self, op: &str, l: &Expr, r: &Expr, at: Span, r_at: Span) -> Reported {
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

    fn explicit_cast(&mut self, x: Expr, to: SqlType, at: Span) -> BindResult<Expr> {
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

    fn compare(&mut self, op: BinaryOp, l: Expr, r: Expr, at: Span) -> BindResult<Expr> {
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

    fn binary(
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
    fn unify<'e>(
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

    fn case(
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

    fn function(&mut self, f: &ast::Function, at: Span) -> BindResult<Expr> {
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
        let aggregate = match name.as_str() {
            "count" => Some(AggregateFunction::Count),
            "sum" => Some(AggregateFunction::Sum),
            "avg" => Some(AggregateFunction::Avg),
            "min" => Some(AggregateFunction::Min),
            "max" => Some(AggregateFunction::Max),
            _ => None,
        };
        if let Some(func) = aggregate {
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
                    .chain(["count", "sum", "avg", "min", "max"])
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

    fn arity(
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
    fn typed_function(
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

    fn aggregate(
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
            let arg = match func {
                AggregateFunction::Sum | AggregateFunction::Avg => {
                    self.expect_numeric(arg, arg_at, "SUM/AVG")?
                }
                AggregateFunction::Min | AggregateFunction::Max
                    if matches!(arg.ty, SqlType::Json | SqlType::Binary) =>
                {
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
        let (ty, nullable) = match func {
            AggregateFunction::CountStar
            | AggregateFunction::Count
            | AggregateFunction::CountDistinct => (SqlType::Int, false),
            // Nullability is finalised by the query binder (an empty input has no groups but a
            // global aggregate still outputs one row, whose SUM is NULL).
            AggregateFunction::Sum => {
                let a = arg.as_ref().map_or(SqlType::Int, |a| a.ty);
                (
                    if a == SqlType::UInt { SqlType::Int } else { a },
                    arg.as_ref().is_some_and(|a| a.nullable),
                )
            }
            AggregateFunction::Avg => {
                let a = arg.as_ref().map_or(SqlType::Int, |a| a.ty);
                (
                    if a == SqlType::Float {
                        SqlType::Float
                    } else {
                        SqlType::Decimal
                    },
                    arg.as_ref().is_some_and(|a| a.nullable),
                )
            }
            AggregateFunction::Min | AggregateFunction::Max => {
                let a = arg.as_ref().map_or(SqlType::Int, |a| a.ty);
                (a, arg.as_ref().is_some_and(|a| a.nullable))
            }
        };
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
            kind: ExprKind::Column(AGGREGATE_REF_BASE + index),
            ty,
            nullable,
        })
    }
}

fn common(t: SqlType, e: &Expr) -> Option<SqlType> {
    if matches!(e.kind, ExprKind::Literal(Literal::String(_))) && t.is_temporal() {
        return Some(t);
    }
    SqlType::common_supertype(t, e.ty)
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
