//! The typed logical plan: what one `SELECT ... INTO` computes, independent of how it will run.
//!
//! Every node carries its output [`PlanSchema`] — field names, types, nullability and the output key —
//! so code generation never re-derives types. Expressions refer to input fields by index. The
//! [`fmt::Display`] form is an indented tree used by snapshot tests and `dozerc schema --plan`.

use std::fmt::{self, Write as _};

use crate::catalog::TableSchema;
use crate::types::SqlType;

#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: String,
    pub ty: SqlType,
    pub nullable: bool,
    /// The relation name or alias the field can be qualified with (`t.col`); `None` once projected.
    pub qualifier: Option<String>,
}

/// What uniquely identifies an output row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    /// These fields (indices) form a primary key.
    Columns(Vec<usize>),
    /// At most one row (an aggregate without GROUP BY): the empty key.
    Singleton,
    /// No derivable key: rows are identified by a record id the runtime assigns.
    Synthetic,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PlanSchema {
    pub fields: Vec<Field>,
    pub key: Key,
}

impl PlanSchema {
    /// The fields of a source table, qualified with `qualifier`.
    pub fn source_fields(schema: &TableSchema, qualifier: Option<&str>) -> Vec<Field> {
        schema
            .columns
            .iter()
            .map(|c| Field {
                name: c.name.clone(),
                ty: c.ty,
                nullable: c.nullable,
                qualifier: qualifier.map(str::to_string),
            })
            .collect()
    }

    pub fn key_names(&self) -> Vec<&str> {
        match &self.key {
            Key::Columns(cols) => cols.iter().map(|&i| self.fields[i].name.as_str()).collect(),
            _ => vec![],
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub node: PlanNode,
    pub schema: PlanSchema,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanKind {
    /// A source from `sources:`.
    Source,
    /// The result of another `SELECT ... INTO`.
    Table,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinKind {
    Inner,
    Left,
    Right,
}

/// A duration in milliseconds (window sizes, TTLs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Millis(pub i64);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(i64, &str); 4] = [
            (86_400_000, "DAY"),
            (3_600_000, "HOUR"),
            (60_000, "MINUTE"),
            (1_000, "SECOND"),
        ];
        for (ms, unit) in UNITS {
            if self.0 % ms == 0 && self.0 != 0 {
                let n = self.0 / ms;
                return write!(f, "{n} {unit}{}", if n == 1 { "" } else { "S" });
            }
        }
        write!(f, "{} MILLISECONDS", self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowKind {
    Tumble { size: Millis },
    Hop { hop: Millis, size: Millis },
}

#[derive(Clone, Debug, PartialEq)]
pub enum PlanNode {
    Scan {
        table: String,
        kind: ScanKind,
    },
    Filter {
        input: Box<Plan>,
        predicate: Expr,
    },
    Project {
        input: Box<Plan>,
        exprs: Vec<Expr>,
    },
    /// Output: the group-by values, then one field per aggregate.
    Aggregate {
        input: Box<Plan>,
        group_by: Vec<Expr>,
        aggregates: Vec<AggregateCall>,
    },
    /// Output: the left fields, then the right fields. `on` pairs a left and a right expression.
    Join {
        left: Box<Plan>,
        right: Box<Plan>,
        kind: JoinKind,
        on: Vec<(Expr, Expr)>,
    },
    Union {
        inputs: Vec<Plan>,
        all: bool,
    },
    Distinct {
        input: Box<Plan>,
    },
    /// Output: the input fields, then `window_start` and `window_end`.
    Window {
        input: Box<Plan>,
        kind: WindowKind,
        time_column: usize,
    },
    /// Retracts rows whose `time` is older than the newest seen minus `ttl`.
    Ttl {
        input: Box<Plan>,
        time: Expr,
        ttl: Millis,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub ty: SqlType,
    pub nullable: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Null,
    Boolean(bool),
    Int(i64),
    /// Canonical decimal text.
    Decimal(String),
    Float(f64),
    String(String),
    /// RFC 3339, UTC.
    Timestamp(String),
    /// `YYYY-MM-DD`.
    Date(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    Neg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    And,
    Or,
    Concat,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Eq => "=",
            BinaryOp::NotEq => "<>",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::And => "AND",
            BinaryOp::Or => "OR",
            BinaryOp::Concat => "||",
        }
    }

    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eq
                | BinaryOp::NotEq
                | BinaryOp::Lt
                | BinaryOp::LtEq
                | BinaryOp::Gt
                | BinaryOp::GtEq
        )
    }

    pub fn is_arithmetic(self) -> bool {
        matches!(
            self,
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod
        )
    }
}

pub use dozer_types::DatePart;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrimWhere {
    Both,
    Leading,
    Trailing,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarFunction {
    Lower,
    Upper,
    Length,
    /// `concat(...)`: NULL arguments are skipped, as in PostgreSQL.
    Concat,
    /// `substring(s, start [, count])`, 1-based.
    Substring,
    /// `trim([where] [chars FROM] s)`: args are `s` and optionally the characters.
    Trim(TrimWhere),
    Replace,
    Abs,
    /// `round(x [, digits])`.
    Round,
    Floor,
    Ceil,
    Power,
    Sqrt,
    /// The natural logarithm.
    Ln,
    /// Wall-clock time at evaluation: a non-deterministic function, re-evaluated per change.
    Now,
    Extract(DatePart),
    /// `date_part('field', ts)`: like EXTRACT but always float.
    DatePart(DatePart),
    DateTrunc(DatePart),
    Coalesce,
    NullIf,
}

impl ScalarFunction {
    pub fn name(self) -> String {
        match self {
            ScalarFunction::Trim(w) => format!("trim_{}", format!("{w:?}").to_lowercase()),
            ScalarFunction::Extract(p) => format!("extract_{}", p.name()),
            ScalarFunction::DatePart(p) => format!("date_part_{}", p.name()),
            ScalarFunction::DateTrunc(p) => format!("date_trunc_{}", p.name()),
            other => format!("{other:?}").to_lowercase(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Column(usize),
    /// The n-th aggregate call collected from a query's SELECT list and HAVING. It exists only
    /// while the query is bound: the binder rewrites it into a column of the aggregate's output,
    /// so no plan holds one.
    Aggregate(usize),
    Literal(Literal),
    Unary {
        op: UnaryOp,
        expr: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    Cast {
        expr: Box<Expr>,
    },
    /// Searched CASE: the first branch whose condition is true.
    Case {
        branches: Vec<(Expr, Expr)>,
        otherwise: Option<Box<Expr>>,
    },
    Function {
        func: ScalarFunction,
        args: Vec<Expr>,
    },
    Like {
        expr: Box<Expr>,
        pattern: Box<Expr>,
        negated: bool,
        case_insensitive: bool,
    },
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
}

impl Expr {
    pub fn column(index: usize, field: &Field) -> Expr {
        Expr {
            kind: ExprKind::Column(index),
            ty: field.ty,
            nullable: field.nullable,
        }
    }

    pub fn is_null_literal(&self) -> bool {
        matches!(self.kind, ExprKind::Literal(Literal::Null))
    }

    /// Calls `f` on this expression and every sub-expression.
    pub fn walk(&self, f: &mut impl FnMut(&Expr)) {
        f(self);
        match &self.kind {
            ExprKind::Column(_) | ExprKind::Aggregate(_) | ExprKind::Literal(_) => {}
            ExprKind::Unary { expr, .. }
            | ExprKind::Cast { expr }
            | ExprKind::IsNull { expr, .. } => expr.walk(f),
            ExprKind::Binary { left, right, .. } => {
                left.walk(f);
                right.walk(f);
            }
            ExprKind::Case {
                branches,
                otherwise,
            } => {
                for (c, r) in branches {
                    c.walk(f);
                    r.walk(f);
                }
                if let Some(o) = otherwise {
                    o.walk(f);
                }
            }
            ExprKind::Function { args, .. } => args.iter().for_each(|a| a.walk(f)),
            ExprKind::Like { expr, pattern, .. } => {
                expr.walk(f);
                pattern.walk(f);
            }
            ExprKind::InList { expr, list, .. } => {
                expr.walk(f);
                list.iter().for_each(|a| a.walk(f));
            }
        }
    }

    /// The input columns the expression reads.
    pub fn columns(&self) -> Vec<usize> {
        let mut out = vec![];
        self.walk(&mut |e| {
            if let ExprKind::Column(i) = e.kind {
                if !out.contains(&i) {
                    out.push(i);
                }
            }
        });
        out
    }

    /// Rewrites every column reference with `f` (used when an expression moves to another input).
    pub fn map_columns(&mut self, f: &impl Fn(usize) -> usize) {
        match &mut self.kind {
            ExprKind::Column(i) => *i = f(*i),
            ExprKind::Aggregate(_) | ExprKind::Literal(_) => {}
            ExprKind::Unary { expr, .. }
            | ExprKind::Cast { expr }
            | ExprKind::IsNull { expr, .. } => expr.map_columns(f),
            ExprKind::Binary { left, right, .. } => {
                left.map_columns(f);
                right.map_columns(f);
            }
            ExprKind::Case {
                branches,
                otherwise,
            } => {
                for (c, r) in branches {
                    c.map_columns(f);
                    r.map_columns(f);
                }
                if let Some(o) = otherwise {
                    o.map_columns(f);
                }
            }
            ExprKind::Function { args, .. } => args.iter_mut().for_each(|a| a.map_columns(f)),
            ExprKind::Like { expr, pattern, .. } => {
                expr.map_columns(f);
                pattern.map_columns(f);
            }
            ExprKind::InList { expr, list, .. } => {
                expr.map_columns(f);
                list.iter_mut().for_each(|a| a.map_columns(f));
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggregateFunction {
    CountStar,
    Count,
    CountDistinct,
    Sum,
    Avg,
    Min,
    Max,
}

impl AggregateFunction {
    /// The lower-case name output columns and generated fields are named after.
    pub fn name(self) -> &'static str {
        match self {
            AggregateFunction::CountStar | AggregateFunction::Count => "count",
            AggregateFunction::CountDistinct => "count_distinct",
            AggregateFunction::Sum => "sum",
            AggregateFunction::Avg => "avg",
            AggregateFunction::Min => "min",
            AggregateFunction::Max => "max",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct AggregateCall {
    pub func: AggregateFunction,
    /// `None` for `COUNT(*)`.
    pub arg: Option<Expr>,
    pub ty: SqlType,
    pub nullable: bool,
}

// ---- display -------------------------------------------------------------------------------------

/// Renders an expression with field names from `input` (the node's input schema).
pub struct ShowExpr<'a>(pub &'a Expr, pub &'a [Field]);

impl fmt::Display for ShowExpr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields = self.1;
        match &self.0.kind {
            ExprKind::Column(i) => match fields.get(*i) {
                Some(fl) => match &fl.qualifier {
                    Some(q) => write!(f, "{q}.{}", fl.name),
                    None => write!(f, "{}", fl.name),
                },
                None => write!(f, "#{i}"),
            },
            ExprKind::Aggregate(n) => write!(f, "aggregate #{n}"),
            ExprKind::Literal(l) => match l {
                Literal::Null => f.write_str("NULL"),
                Literal::Boolean(b) => write!(f, "{}", if *b { "TRUE" } else { "FALSE" }),
                Literal::Int(i) => write!(f, "{i}"),
                Literal::Decimal(d) => write!(f, "{d}"),
                Literal::Float(x) => write!(f, "{x:?}"),
                Literal::String(s) => write!(f, "'{}'", s.replace('\'', "''")),
                Literal::Timestamp(s) => write!(f, "TIMESTAMP '{s}'"),
                Literal::Date(s) => write!(f, "DATE '{s}'"),
            },
            ExprKind::Unary {
                op: UnaryOp::Not,
                expr,
            } => write!(f, "NOT ({})", ShowExpr(expr, fields)),
            ExprKind::Unary {
                op: UnaryOp::Neg,
                expr,
            } => write!(f, "-({})", ShowExpr(expr, fields)),
            ExprKind::Binary { op, left, right } => write!(
                f,
                "({} {} {})",
                ShowExpr(left, fields),
                op.symbol(),
                ShowExpr(right, fields)
            ),
            ExprKind::Cast { expr } => {
                write!(f, "CAST({} AS {})", ShowExpr(expr, fields), self.0.ty)
            }
            ExprKind::Case {
                branches,
                otherwise,
            } => {
                f.write_str("CASE")?;
                for (c, r) in branches {
                    write!(
                        f,
                        " WHEN {} THEN {}",
                        ShowExpr(c, fields),
                        ShowExpr(r, fields)
                    )?;
                }
                if let Some(o) = otherwise {
                    write!(f, " ELSE {}", ShowExpr(o, fields))?;
                }
                f.write_str(" END")
            }
            ExprKind::Function { func, args } => {
                write!(f, "{}(", func.name())?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", ShowExpr(a, fields))?;
                }
                f.write_str(")")
            }
            ExprKind::Like {
                expr,
                pattern,
                negated,
                case_insensitive,
            } => write!(
                f,
                "{} {}{} {}",
                ShowExpr(expr, fields),
                if *negated { "NOT " } else { "" },
                if *case_insensitive { "ILIKE" } else { "LIKE" },
                ShowExpr(pattern, fields)
            ),
            ExprKind::InList {
                expr,
                list,
                negated,
            } => {
                write!(
                    f,
                    "{} {}IN (",
                    ShowExpr(expr, fields),
                    if *negated { "NOT " } else { "" }
                )?;
                for (i, a) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", ShowExpr(a, fields))?;
                }
                f.write_str(")")
            }
            ExprKind::IsNull { expr, negated } => {
                write!(
                    f,
                    "{} IS {}NULL",
                    ShowExpr(expr, fields),
                    if *negated { "NOT " } else { "" }
                )
            }
        }
    }
}

impl fmt::Display for PlanSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, fl) in self.fields.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(
                f,
                "{}: {}{}",
                fl.name,
                fl.ty,
                if fl.nullable { "?" } else { "" }
            )?;
        }
        f.write_str("] key=")?;
        match &self.key {
            Key::Columns(_) => write!(f, "({})", self.key_names().join(", ")),
            Key::Singleton => f.write_str("singleton"),
            Key::Synthetic => f.write_str("synthetic"),
        }
    }
}

impl Plan {
    fn fmt_indented(&self, out: &mut String, depth: usize) {
        let pad = "  ".repeat(depth);
        let input_fields = |p: &Plan| p.schema.fields.clone();
        let line = match &self.node {
            PlanNode::Scan { table, kind } => format!(
                "Scan {table} ({})",
                if *kind == ScanKind::Source {
                    "source"
                } else {
                    "table"
                }
            ),
            PlanNode::Filter { input, predicate } => {
                format!("Filter {}", ShowExpr(predicate, &input_fields(input)))
            }
            PlanNode::Project { input, exprs } => {
                let fields = input_fields(input);
                let items: Vec<String> = exprs
                    .iter()
                    .zip(&self.schema.fields)
                    .map(|(e, out)| {
                        let shown = ShowExpr(e, &fields).to_string();
                        if shown == out.name || shown.ends_with(&format!(".{}", out.name)) {
                            shown
                        } else {
                            format!("{shown} AS {}", out.name)
                        }
                    })
                    .collect();
                format!("Project {}", items.join(", "))
            }
            PlanNode::Aggregate {
                input,
                group_by,
                aggregates,
            } => {
                let fields = input_fields(input);
                let keys: Vec<String> = group_by
                    .iter()
                    .map(|e| ShowExpr(e, &fields).to_string())
                    .collect();
                let aggs: Vec<String> = aggregates
                    .iter()
                    .map(|a| {
                        let name = match a.func {
                            AggregateFunction::CountStar => return "COUNT(*)".to_string(),
                            AggregateFunction::CountDistinct => "COUNT(DISTINCT ",
                            AggregateFunction::Count => "COUNT(",
                            AggregateFunction::Sum => "SUM(",
                            AggregateFunction::Avg => "AVG(",
                            AggregateFunction::Min => "MIN(",
                            AggregateFunction::Max => "MAX(",
                        };
                        let arg = a
                            .arg
                            .as_ref()
                            .map(|e| ShowExpr(e, &fields).to_string())
                            .unwrap_or_default();
                        format!("{name}{arg})")
                    })
                    .collect();
                format!(
                    "Aggregate group_by=[{}] aggregates=[{}]",
                    keys.join(", "),
                    aggs.join(", ")
                )
            }
            PlanNode::Join {
                left,
                right,
                kind,
                on,
            } => {
                let lf = input_fields(left);
                let rf = input_fields(right);
                let conds: Vec<String> = on
                    .iter()
                    .map(|(l, r)| format!("{} = {}", ShowExpr(l, &lf), ShowExpr(r, &rf)))
                    .collect();
                format!("Join {kind:?} on {}", conds.join(" AND "))
            }
            PlanNode::Union { all, .. } => format!("Union{}", if *all { " All" } else { "" }),
            PlanNode::Distinct { .. } => "Distinct".to_string(),
            PlanNode::Window {
                input,
                kind,
                time_column,
            } => {
                let col = &input.schema.fields[*time_column].name;
                match kind {
                    WindowKind::Tumble { size } => format!("Tumble time={col} size={size}"),
                    WindowKind::Hop { hop, size } => {
                        format!("Hop time={col} hop={hop} size={size}")
                    }
                }
            }
            PlanNode::Ttl { input, time, ttl } => format!(
                "Ttl time={} ttl={ttl}",
                ShowExpr(time, &input_fields(input))
            ),
        };
        let _ = writeln!(out, "{pad}{line}  -> {}", self.schema);
        for child in self.children() {
            child.fmt_indented(out, depth + 1);
        }
    }

    /// Calls `f` with every relation the plan scans (sources and other queries' INTO tables).
    pub fn visit_scans(&self, f: &mut impl FnMut(&str, ScanKind)) {
        if let PlanNode::Scan { table, kind } = &self.node {
            f(table, *kind);
        }
        for c in self.children() {
            c.visit_scans(f);
        }
    }

    pub fn children(&self) -> Vec<&Plan> {
        match &self.node {
            PlanNode::Scan { .. } => vec![],
            PlanNode::Filter { input, .. }
            | PlanNode::Project { input, .. }
            | PlanNode::Aggregate { input, .. }
            | PlanNode::Distinct { input }
            | PlanNode::Window { input, .. }
            | PlanNode::Ttl { input, .. } => vec![input],
            PlanNode::Join { left, right, .. } => vec![left, right],
            PlanNode::Union { inputs, .. } => inputs.iter().collect(),
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        self.fmt_indented(&mut out, 0);
        f.write_str(&out)
    }
}
