//! Scalar expressions → Rust expressions over a generated row.
//!
//! An expression of SQL type `t` compiles to a Rust expression of type `rust_type(t)`, wrapped in
//! `Option` exactly when the plan says it is nullable. NULL propagation is explicit `match`es over
//! the nullable operands only, so an expression over non-null columns compiles to plain arithmetic
//! with no `Option` in sight. Errors PostgreSQL raises at run time (division by zero, overflow, bad
//! casts) come from `dozer_runtime::contract::sql` and propagate with `?` out of the generated function.

use super::error::CodegenError;
use super::names::rust_type;
use crate::registry::casts::{self, Cast};
use crate::registry::functions::{self, Emit, Missing};
use crate::sql::plan::{BinaryOp, Expr, ExprKind, Literal, ScalarFunction, UnaryOp};
use crate::types::SqlType;

/// A field of the row an expression reads: its Rust name, type and nullability.
#[derive(Clone, Debug)]
pub struct RowField {
    pub ident: String,
    pub ty: SqlType,
    pub nullable: bool,
}

/// Whether a value of the type needs `.clone()` to be used by value.
pub fn is_copy(ty: SqlType) -> bool {
    !matches!(
        ty,
        SqlType::String | SqlType::Text | SqlType::Binary | SqlType::Json
    )
}

pub struct ExprGen<'a> {
    /// The Rust expression the row is reachable as (`r`).
    pub row: &'a str,
    pub fields: &'a [RowField],
    next_var: usize,
}

/// Compiled code and whether its Rust type is `Option<_>`.
struct Code {
    text: String,
    nullable: bool,
}

impl Code {
    fn plain(text: String) -> Code {
        Code {
            text,
            nullable: false,
        }
    }
}

/// What the binder refuses before code generation sees it.
fn refused_by_binder(what: impl std::fmt::Display) -> CodegenError {
    CodegenError::Internal(format!(
        "{what} reached code generation; the binder refuses it"
    ))
}

impl<'a> ExprGen<'a> {
    pub fn new(row: &'a str, fields: &'a [RowField]) -> Self {
        ExprGen {
            row,
            fields,
            next_var: 0,
        }
    }

    /// The expression as Rust code of type `rust_type(e.ty)`, or `Option` of it if `nullable`.
    pub fn value(&mut self, e: &Expr, nullable: bool) -> Result<String, CodegenError> {
        let c = self.gen(e)?;
        self.fit(c, nullable)
    }

    /// A predicate as a Rust `bool`: NULL counts as false (WHERE, HAVING, ON, CASE WHEN).
    pub fn predicate(&mut self, e: &Expr) -> Result<String, CodegenError> {
        let c = self.gen(e)?;
        Ok(if c.nullable {
            format!("({} == Some(true))", c.text)
        } else {
            c.text
        })
    }

    fn fit(&self, c: Code, nullable: bool) -> Result<String, CodegenError> {
        match (c.nullable, nullable) {
            (a, b) if a == b => Ok(c.text),
            (false, true) => Ok(format!("Some({})", c.text)),
            _ => Err(CodegenError::Internal(format!(
                "a nullable value where the plan promised NOT NULL: {}",
                c.text
            ))),
        }
    }

    fn var(&mut self) -> String {
        self.next_var += 1;
        format!("v{}", self.next_var)
    }

    /// A strict operation: NULL if any operand is NULL, else `body` over the non-null operands.
    fn strict(
        &mut self,
        args: &[&Expr],
        body: impl FnOnce(&[String]) -> String,
    ) -> Result<Code, CodegenError> {
        let codes = args
            .iter()
            .map(|a| self.gen(a))
            .collect::<Result<Vec<_>, _>>()?;
        if codes.iter().all(|c| !c.nullable) {
            let texts: Vec<String> = codes.into_iter().map(|c| c.text).collect();
            return Ok(Code::plain(body(&texts)));
        }
        let mut scrutinee = vec![];
        let mut pattern = vec![];
        let mut names = vec![];
        for c in codes {
            let v = self.var();
            scrutinee.push(c.text);
            pattern.push(if c.nullable {
                format!("Some({v})")
            } else {
                v.clone()
            });
            names.push(v);
        }
        let text = if scrutinee.len() == 1 {
            format!(
                "match {} {{ {} => Some({}), _ => None }}",
                scrutinee[0],
                pattern[0],
                body(&names)
            )
        } else {
            format!(
                "match ({}) {{ ({}) => Some({}), _ => None }}",
                scrutinee.join(", "),
                pattern.join(", "),
                body(&names)
            )
        };
        Ok(Code {
            text,
            nullable: true,
        })
    }

    fn gen(&mut self, e: &Expr) -> Result<Code, CodegenError> {
        match &e.kind {
            ExprKind::Aggregate(n) => Err(CodegenError::Internal(format!(
                "aggregate #{n} was not rewritten into a column by the binder"
            ))),
            ExprKind::Column(i) => {
                let f = self.fields.get(*i).ok_or_else(|| {
                    CodegenError::Internal(format!("column {i} is not in the input row"))
                })?;
                let text = if is_copy(f.ty) {
                    format!("{}.{}", self.row, f.ident)
                } else {
                    format!("{}.{}.clone()", self.row, f.ident)
                };
                Ok(Code {
                    text,
                    nullable: f.nullable,
                })
            }
            ExprKind::Literal(l) => self.literal(l, e.ty),
            ExprKind::Unary { op, expr } => match op {
                UnaryOp::Not => self.strict(&[&**expr], |v| format!("!{}", v[0])),
                UnaryOp::Neg => self.strict(&[&**expr], |v| format!("sql::Arith::neg({})?", v[0])),
            },
            ExprKind::Binary { op, left, right } => self.binary(*op, left, right),
            ExprKind::Cast { expr } => {
                if expr.is_null_literal() {
                    return Ok(Code {
                        text: format!("None::<{}>", rust_type(e.ty)?),
                        nullable: true,
                    });
                }
                let f = cast_fn(expr.ty, e.ty)?;
                self.strict(&[&**expr], |v| f(&v[0]))
            }
            ExprKind::Case {
                branches,
                otherwise,
            } => {
                let mut text = String::new();
                for (cond, result) in branches {
                    let c = self.predicate(cond)?;
                    let r = self.value(result, e.nullable)?;
                    text.push_str(&format!("if {c} {{ {r} }} else "));
                }
                let other = match otherwise {
                    Some(o) => self.value(o, e.nullable)?,
                    None if e.nullable => "None".to_string(),
                    None => {
                        return Err(CodegenError::Internal(
                            "a CASE without ELSE typed NOT NULL".into(),
                        ))
                    }
                };
                text.push_str(&format!("{{ {other} }}"));
                Ok(Code {
                    text,
                    nullable: e.nullable,
                })
            }
            ExprKind::Function { func, args } => self.function(*func, args),
            ExprKind::Like {
                expr,
                pattern,
                negated,
                case_insensitive,
            } => {
                let neg = if *negated { "!" } else { "" };
                let ci = *case_insensitive;
                self.strict(&[&**expr, &**pattern], |v| {
                    format!("{neg}sql::like({}, {}, {ci})", v[0], v[1])
                })
            }
            ExprKind::InList {
                expr,
                list,
                negated,
            } => {
                let nullable = expr.nullable || list.iter().any(|x| x.nullable);
                if !nullable {
                    let x = self.value(expr, false)?;
                    let v = self.var();
                    let mut tests = vec![];
                    for item in list {
                        tests.push(format!("{v} == {}", self.value(item, false)?));
                    }
                    let any = tests.join(" || ");
                    let body = if *negated {
                        format!("!({any})")
                    } else {
                        format!("({any})")
                    };
                    return Ok(Code::plain(format!("{{ let {v} = {x}; {body} }}")));
                }
                let x = self.value(expr, true)?;
                let items = list
                    .iter()
                    .map(|i| self.value(i, true))
                    .collect::<Result<Vec<_>, _>>()?;
                let call = format!("sql::in_list({x}, Vec::from([{}]))", items.join(", "));
                Ok(Code {
                    text: if *negated {
                        format!("{call}.map(|b| !b)")
                    } else {
                        call
                    },
                    nullable: true,
                })
            }
            ExprKind::IsNull { expr, negated } => {
                let c = self.gen(expr)?;
                Ok(Code::plain(match (c.nullable, negated) {
                    (true, false) => format!("{}.is_none()", c.text),
                    (true, true) => format!("{}.is_some()", c.text),
                    (false, false) => "false".into(),
                    (false, true) => "true".into(),
                }))
            }
        }
    }

    fn literal(&mut self, l: &Literal, ty: SqlType) -> Result<Code, CodegenError> {
        let (text, natural) = match l {
            Literal::Null => {
                return Ok(Code {
                    text: format!("None::<{}>", rust_type(ty)?),
                    nullable: true,
                })
            }
            Literal::Boolean(b) => (b.to_string(), SqlType::Boolean),
            Literal::Int(i) if *i == i64::MIN => ("i64::MIN".into(), SqlType::Int),
            Literal::Int(i) => (format!("{i}i64"), SqlType::Int),
            Literal::Decimal(s) => (decimal_literal(s)?, SqlType::Decimal),
            Literal::Float(f) => (float_literal(*f), SqlType::Float),
            Literal::String(s) => (format!("String::from({s:?})"), ty),
            Literal::Timestamp(s) => {
                let t = chrono::DateTime::parse_from_rfc3339(s)
                    .map_err(|e| CodegenError::Internal(format!("timestamp literal `{s}`: {e}")))?;
                (
                    format!("sql::timestamp_literal({}) /* {s} */", t.timestamp_micros()),
                    SqlType::Timestamp,
                )
            }
            Literal::Date(s) => {
                use chrono::Datelike;
                let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map_err(|e| CodegenError::Internal(format!("date literal `{s}`: {e}")))?;
                (
                    format!("sql::date_literal({}) /* {s} */", d.num_days_from_ce()),
                    SqlType::Date,
                )
            }
        };
        if natural == ty || (natural.is_string() && ty.is_string()) {
            return Ok(Code::plain(text));
        }
        let f = cast_fn(natural, ty)?;
        Ok(Code::plain(f(&text)))
    }

    fn binary(&mut self, op: BinaryOp, l: &Expr, r: &Expr) -> Result<Code, CodegenError> {
        match op {
            BinaryOp::And | BinaryOp::Or => {
                if !l.nullable && !r.nullable {
                    let (a, b) = (self.value(l, false)?, self.value(r, false)?);
                    let sym = if op == BinaryOp::And { "&&" } else { "||" };
                    return Ok(Code::plain(format!("({a} {sym} {b})")));
                }
                let (a, b) = (self.value(l, true)?, self.value(r, true)?);
                let f = if op == BinaryOp::And { "and" } else { "or" };
                Ok(Code {
                    text: format!("sql::{f}({a}, {b})"),
                    nullable: true,
                })
            }
            BinaryOp::Concat => self.strict(&[l, r], |v| {
                format!("format!(\"{{}}{{}}\", {}, {})", v[0], v[1])
            }),
            op if op.is_comparison() => {
                if l.ty == SqlType::Json && !matches!(op, BinaryOp::Eq | BinaryOp::NotEq) {
                    return Err(refused_by_binder("ordering JSON values"));
                }
                let sym = match op {
                    BinaryOp::Eq => "==",
                    BinaryOp::NotEq => "!=",
                    BinaryOp::Lt => "<",
                    BinaryOp::LtEq => "<=",
                    BinaryOp::Gt => ">",
                    _ => ">=",
                };
                self.strict(&[l, r], |v| format!("({} {sym} {})", v[0], v[1]))
            }
            _ => {
                let f = match op {
                    BinaryOp::Add => "add",
                    BinaryOp::Sub => "sub",
                    BinaryOp::Mul => "mul",
                    BinaryOp::Div => "div",
                    _ => "rem",
                };
                self.strict(&[l, r], |v| format!("sql::Arith::{f}({}, {})?", v[0], v[1]))
            }
        }
    }

    /// A call as the function registry describes it; the functions with NULL rules of their
    /// own are special forms here.
    fn function(&mut self, func: ScalarFunction, args: &[Expr]) -> Result<Code, CodegenError> {
        use ScalarFunction as F;
        let refs: Vec<&Expr> = args.iter().collect();
        let sig = functions::signature(func);
        if let Emit::Call {
            function,
            before,
            after,
            fails,
        } = &sig.emit
        {
            let required = sig.params.len();
            let optional = sig.optional.len();
            let missing = sig.missing;
            return self.strict(&refs, |v| {
                let mut parts: Vec<String> = before.iter().cloned().collect();
                for (i, x) in v.iter().enumerate() {
                    parts.push(if i >= required && missing == Missing::None {
                        format!("Some({x})")
                    } else {
                        x.clone()
                    });
                }
                for _ in v.len().max(required)..required + optional {
                    parts.push(match missing {
                        Missing::None => "None".to_string(),
                        Missing::Default(d) => d.to_string(),
                    });
                }
                parts.extend(after.iter().cloned());
                let question = if *fails { "?" } else { "" };
                format!("sql::{function}({}){question}", parts.join(", "))
            });
        }
        // The special forms: functions with NULL rules of their own.
        match func {
            F::Concat => {
                let mut parts = vec![];
                for a in args {
                    let c = self.gen(a)?;
                    let string = a.ty.is_string();
                    parts.push(match (c.nullable, string) {
                        (true, true) => c.text,
                        (true, false) => format!("({}).map(sql::to_text)", c.text),
                        (false, true) => format!("Some({})", c.text),
                        (false, false) => format!("Some(sql::to_text({}))", c.text),
                    });
                }
                Ok(Code::plain(format!(
                    "sql::concat(Vec::from([{}]))",
                    parts.join(", ")
                )))
            }
            F::Coalesce => {
                // The first non-NULL argument; arguments after a NOT NULL one are never reached.
                let mut codes = vec![];
                for a in args {
                    let c = self.gen(a)?;
                    let last = !c.nullable;
                    codes.push(c);
                    if last {
                        break;
                    }
                }
                let nullable = codes.last().is_some_and(|c| c.nullable);
                let mut text = match codes.pop() {
                    Some(c) => c.text,
                    None => return Err(CodegenError::Internal("COALESCE()".into())),
                };
                while let Some(c) = codes.pop() {
                    let v = self.var();
                    let inner = if nullable {
                        format!("Some({v})")
                    } else {
                        v.clone()
                    };
                    text = format!(
                        "match {} {{ Some({v}) => {inner}, None => {text} }}",
                        c.text
                    );
                }
                Ok(Code { text, nullable })
            }
            F::NullIf => {
                let a = self.value(&args[0], true)?;
                let b = self.value(&args[1], true)?;
                let (x, y) = (self.var(), self.var());
                Ok(Code {
                    text: format!(
                        "match ({a}, {b}) {{ (Some({x}), Some({y})) if {x} == {y} => None, ({x}, _) => {x} }}"
                    ),
                    nullable: true,
                })
            }
            other => Err(CodegenError::Internal(format!(
                "{} has no special form",
                other.name()
            ))),
        }
    }
}

/// The Rust form of a decimal literal: a `const`-evaluable `Decimal::from_parts`.
fn decimal_literal(s: &str) -> Result<String, CodegenError> {
    let d: dozer_types::Decimal = s
        .parse()
        .map_err(|e| CodegenError::Internal(format!("decimal literal `{s}`: {e}")))?;
    let m = d.mantissa().unsigned_abs();
    let (lo, mid, hi) = (m as u32, (m >> 32) as u32, (m >> 64) as u32);
    Ok(format!(
        "Decimal::from_parts({lo}, {mid}, {hi}, {}, {}) /* {s} */",
        d.is_sign_negative(),
        d.scale()
    ))
}

fn float_literal(f: f64) -> String {
    if f.is_nan() {
        "f64::NAN".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "f64::INFINITY"
        } else {
            "f64::NEG_INFINITY"
        }
        .into()
    } else {
        format!("{f:?}f64")
    }
}

type CastFn = Box<dyn Fn(&str) -> String>;

/// The conversion from `from` to `to` as a function of the (non-null) operand's code, as the
/// cast registry names it.
fn cast_fn(from: SqlType, to: SqlType) -> Result<CastFn, CodegenError> {
    Ok(match casts::cast(from, to) {
        None => return Err(refused_by_binder(format!("a cast from {from} to {to}"))),
        Some(Cast::Same) => Box::new(|x| x.to_string()),
        Some(Cast::Call {
            function,
            generic,
            fails,
        }) => {
            let turbofish = if generic {
                format!("::<{}>", rust_type(to)?)
            } else {
                String::new()
            };
            let question = if fails { "?" } else { "" };
            Box::new(move |x| format!("sql::{function}{turbofish}({x}){question}"))
        }
    })
}
