//! The query language of REST bodies, gRPC `query` strings and event filters (Dozer's, extended):
//!
//! ```json
//! { "$filter": { "a": 1, "b": {"$gt": 3}, "$or": [{"c": null}, {"c": {"$in": [1, 2]}}] },
//!   "$order_by": { "a": "asc", "b": "desc" }, "$limit": 10, "$skip": 20 }
//! ```
//!
//! Parsing resolves every field against the endpoint's schema and converts every value to its
//! field's type, so a query that parses can be executed without further checks, and every mistake
//! is reported with the path of the offending key (`$filter.$or[1].c.$in[0]`) before anything is
//! read. Semantics (documented in the user guide): a bare value or `null` is `$eq`; `$ne` and
//! `$not` match rows whose value is NULL (the row's value is not the given one); `$lt`/`$lte`/
//! `$gt`/`$gte` never match NULL; `$contains`, `$matches_any` and `$matches_all` compare the words
//! of a text (as a `!FullText` index splits them); values order as the `keycode` bytes of indexes
//! do, so a filter and an index scan always agree.

use dozer_types::openapi::DECIMAL_NUMBER_LIMIT;
use dozer_types::parse::{parse_date, parse_timestamp};
use dozer_types::{Decimal, SqlType, Value};
use serde_json::Value as Json;

use crate::row::words;
use dozer_types::FieldDef;

/// A parsed, validated query.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Query {
    pub filter: Option<Filter>,
    /// (field, descending)
    pub order_by: Vec<(usize, bool)>,
    /// `None`: the endpoint's default.
    pub limit: Option<usize>,
    pub skip: usize,
    /// A record id: results after that record, in the query's order.
    pub after: Option<u64>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    /// `field op value`; `value` is never NULL for ordering operators.
    Compare {
        field: usize,
        op: CompareOp,
        value: Value,
    },
    In {
        field: usize,
        values: Vec<Value>,
    },
    /// The field's text has all (`all`) or any of these words.
    Words {
        field: usize,
        words: Vec<String>,
        all: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
}

/// A query that cannot be run as written: where (a path into the JSON) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryError {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "`{}`: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for QueryError {}

fn err<T>(path: &str, message: impl Into<String>) -> Result<T, QueryError> {
    Err(QueryError {
        path: path.to_string(),
        message: message.into(),
    })
}

/// Limits on what one query may ask for.
#[derive(Clone, Copy, Debug)]
pub struct QueryLimits {
    /// The largest `$limit` accepted.
    pub max_limit: usize,
    /// How deeply `$and`/`$or`/`$not` may nest.
    pub max_depth: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            max_limit: dozer_types::openapi::DEFAULT_MAX_LIMIT as usize,
            max_depth: 16,
        }
    }
}

/// Parses a query body (`null` or an empty object: everything, default order). With `visible`
/// (a scoped token's fields), filtering or sorting on any other field is refused.
pub fn parse_query(
    json: &Json,
    fields: &[FieldDef],
    visible: Option<&[bool]>,
    limits: QueryLimits,
) -> Result<Query, QueryError> {
    let object = match json {
        Json::Null => return Ok(Query::default()),
        Json::Object(o) => o,
        other => return err("", format!("a query is a JSON object, not {}", kind(other))),
    };
    let p = Parser {
        fields,
        visible,
        limits,
    };
    let mut q = Query::default();
    for (key, value) in object {
        match key.as_str() {
            "$filter" => {
                if !value.is_null() {
                    q.filter = Some(p.filter(value, "$filter", 0)?);
                }
            }
            "$order_by" => q.order_by = p.order_by(value)?,
            "$limit" => {
                let n = count(value, "$limit")?;
                if n > limits.max_limit as u64 {
                    return err(
                        "$limit",
                        format!("at most {} records per query", limits.max_limit),
                    );
                }
                q.limit = Some(n as usize);
            }
            "$skip" => q.skip = count(value, "$skip")? as usize,
            "$after" => q.after = Some(count(value, "$after")?),
            other => return err(
                other,
                "unknown query key; expected `$filter`, `$order_by`, `$limit`, `$skip` or `$after`",
            ),
        }
    }
    if q.after.is_some() && q.skip > 0 {
        return err(
            "$after",
            "use either `$after` (a cursor) or `$skip`, not both",
        );
    }
    Ok(q)
}

/// Parses a `$filter` object alone (event filters, token scopes).
pub fn parse_filter(
    json: &Json,
    fields: &[FieldDef],
    visible: Option<&[bool]>,
    limits: QueryLimits,
) -> Result<Option<Filter>, QueryError> {
    if json.is_null() {
        return Ok(None);
    }
    Parser {
        fields,
        visible,
        limits,
    }
    .filter(json, "$filter", 0)
    .map(Some)
}

/// An optional `-` and digits only: `parse` would also take a `+`.
fn is_digits(t: &str) -> bool {
    let d = t.strip_prefix('-').unwrap_or(t);
    !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
}

fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn count(v: &Json, path: &str) -> Result<u64, QueryError> {
    match whole_number(v) {
        Some(Whole::Unsigned(n)) => Ok(n),
        _ => err(
            path,
            format!("expected a non-negative integer, found {}", kind(v)),
        ),
    }
}

/// A decimal written as text: exactly the strings the OpenAPI document's `DECIMAL_PATTERN` allows
/// (a fraction past 28 digits rounds).
fn decimal_text(s: &str) -> Option<Decimal> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits, None),
    };
    let run = |d: &str| (1..=28).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit());
    if !run(whole) || !fraction.is_none_or(run) {
        return None;
    }
    s.parse().ok()
}

enum Whole {
    Unsigned(u64),
    Negative(i64),
}

/// An integer, also when JSON writes it with a zero fraction (`257.0` is an integer to JSON Schema).
fn whole_number(v: &Json) -> Option<Whole> {
    let n = v.as_number()?;
    if let Some(u) = n.as_u64() {
        return Some(Whole::Unsigned(u));
    }
    if let Some(i) = n.as_i64() {
        return Some(Whole::Negative(i));
    }
    // Beyond 2^53 a float is not an exact integer (and serde_json only makes floats of integers
    // outside 64 bits).
    let f = n.as_f64()?;
    if f.fract() != 0.0 || f.abs() > 9_007_199_254_740_992.0 {
        None
    } else if f >= 0.0 {
        Some(Whole::Unsigned(f as u64))
    } else {
        Some(Whole::Negative(f as i64))
    }
}

struct Parser<'a> {
    fields: &'a [FieldDef],
    /// The fields the request may read (`None`: all).
    visible: Option<&'a [bool]>,
    limits: QueryLimits,
}

impl Parser<'_> {
    fn field(&self, name: &str, path: &str) -> Result<usize, QueryError> {
        match self.fields.iter().position(|f| f.name == name) {
            Some(i) if self.visible.is_none_or(|v| v[i]) => Ok(i),
            Some(_) => {
                let names: Vec<&str> = self
                    .fields
                    .iter()
                    .zip(self.visible.unwrap_or_default())
                    .filter(|(_, &v)| v)
                    .map(|(f, _)| f.name.as_str())
                    .collect();
                err(
                    path,
                    format!(
                        "the token does not give access to field `{name}`; it can read {}",
                        names.join(", ")
                    ),
                )
            }
            None => {
                let names: Vec<&str> = self.fields.iter().map(|f| f.name.as_str()).collect();
                err(
                    path,
                    format!(
                        "unknown field `{name}`; the endpoint has {}",
                        names.join(", ")
                    ),
                )
            }
        }
    }

    fn filter(&self, json: &Json, path: &str, depth: usize) -> Result<Filter, QueryError> {
        if depth > self.limits.max_depth {
            return err(
                path,
                format!("filters nest at most {} levels deep", self.limits.max_depth),
            );
        }
        let Json::Object(object) = json else {
            return err(
                path,
                format!("a filter is a JSON object, not {}", kind(json)),
            );
        };
        let mut all = vec![];
        for (key, value) in object {
            let path = format!("{path}.{key}");
            match key.as_str() {
                "$and" | "$or" => {
                    let Json::Array(items) = value else {
                        return err(&path, format!("expected an array of filters, found {}", kind(value)));
                    };
                    let parts = items
                        .iter()
                        .enumerate()
                        .map(|(i, f)| self.filter(f, &format!("{path}[{i}]"), depth + 1))
                        .collect::<Result<Vec<_>, _>>()?;
                    all.push(if key == "$and" {
                        Filter::And(parts)
                    } else {
                        Filter::Or(parts)
                    });
                }
                "$not" => all.push(Filter::Not(Box::new(self.filter(value, &path, depth + 1)?))),
                op if op.starts_with('$') => {
                    return err(
                        &path,
                        "unknown operator here; a filter's keys are field names, `$and`, `$or` or `$not`",
                    )
                }
                name => {
                    let field = self.field(name, &path)?;
                    all.extend(self.conditions(field, value, &path)?);
                }
            }
        }
        Ok(if all.len() == 1 {
            all.pop().expect("one")
        } else {
            Filter::And(all)
        })
    }

    /// The conditions on one field: a bare value (`$eq`) or an object of operators.
    fn conditions(&self, field: usize, json: &Json, path: &str) -> Result<Vec<Filter>, QueryError> {
        // A JSON field's value may itself be an object: it is always a value.
        let ops = match json {
            Json::Object(ops) if self.fields[field].ty != SqlType::Json => ops,
            _ => {
                let value = self.value(field, json, path)?;
                return Ok(vec![compare(field, CompareOp::Eq, value)]);
            }
        };
        if ops.is_empty() {
            return err(
                path,
                "an empty object; give a value, or operators like {\"$gt\": 1}",
            );
        }
        let mut out = vec![];
        for (op, v) in ops {
            let path = format!("{path}.{op}");
            let cmp = match op.as_str() {
                "$eq" => Some(CompareOp::Eq),
                "$ne" => Some(CompareOp::Ne),
                "$lt" => Some(CompareOp::Lt),
                "$lte" => Some(CompareOp::Lte),
                "$gt" => Some(CompareOp::Gt),
                "$gte" => Some(CompareOp::Gte),
                _ => None,
            };
            if let Some(cmp) = cmp {
                let f = &self.fields[field];
                if !matches!(cmp, CompareOp::Eq | CompareOp::Ne) && !f.ty.is_orderable() {
                    return err(
                        &path,
                        format!(
                            "`{}` is {}, which has no order; use $eq, $ne or $in",
                            f.name, f.ty
                        ),
                    );
                }
                let value = self.value(field, v, &path)?;
                if value.is_null() && !matches!(cmp, CompareOp::Eq | CompareOp::Ne) {
                    return err(&path, "needs a value to compare with, not null");
                }
                out.push(compare(field, cmp, value));
                continue;
            }
            match op.as_str() {
                "$in" => {
                    let Json::Array(items) = v else {
                        return err(&path, format!("expected an array of values, found {}", kind(v)));
                    };
                    let values = items
                        .iter()
                        .enumerate()
                        .map(|(i, x)| self.value(field, x, &format!("{path}[{i}]")))
                        .collect::<Result<Vec<_>, _>>()?;
                    out.push(Filter::In { field, values });
                }
                "$contains" | "$matches_any" | "$matches_all" => {
                    if !matches!(self.fields[field].ty, SqlType::String | SqlType::Text) {
                        return err(
                            &path,
                            format!("searches text, but `{}` is {}", self.fields[field].name, self.fields[field].ty),
                        );
                    }
                    let texts: Vec<&str> = match (op.as_str(), v) {
                        ("$contains", Json::String(s)) => vec![s.as_str()],
                        (_, Json::Array(items)) if op != "$contains" => items
                            .iter()
                            .enumerate()
                            .map(|(i, x)| {
                                x.as_str().map_or_else(
                                    || err(&format!("{path}[{i}]"), format!("expected a string, found {}", kind(x))),
                                    Ok,
                                )
                            })
                            .collect::<Result<_, _>>()?,
                        ("$contains", other) => {
                            return err(&path, format!("expected a string, found {}", kind(other)))
                        }
                        (_, other) => {
                            return err(&path, format!("expected an array of strings, found {}", kind(other)))
                        }
                    };
                    let mut ws: Vec<String> = vec![];
                    for t in texts {
                        for w in words(t) {
                            if !ws.contains(&w) {
                                ws.push(w);
                            }
                        }
                    }
                    // No words: `$contains`/`$matches_all` hold for every text, `$matches_any`
                    // for none.
                    out.push(Filter::Words {
                        field,
                        words: ws,
                        all: op != "$matches_any",
                    });
                }
                _ => {
                    return err(
                        &path,
                        "unknown operator; expected one of $eq, $ne, $lt, $lte, $gt, $gte, $in, $contains, $matches_any, $matches_all",
                    )
                }
            }
        }
        Ok(out)
    }

    /// A JSON value as a value of the field's type.
    fn value(&self, field: usize, json: &Json, path: &str) -> Result<Value, QueryError> {
        let f = &self.fields[field];
        if json.is_null() {
            return Ok(Value::Null);
        }
        let bad = || {
            err(
                path,
                format!(
                    "`{}` is {}; {} does not convert to it",
                    f.name,
                    f.ty,
                    kind(json)
                ),
            )
        };
        Ok(match (f.ty, json) {
            (SqlType::Boolean, Json::Bool(b)) => Value::Boolean(*b),
            (SqlType::Int, Json::Number(n)) => match whole_number(json) {
                Some(Whole::Negative(i)) => Value::Int(i),
                Some(Whole::Unsigned(u)) if i64::try_from(u).is_ok() => Value::Int(u as i64),
                _ => return err(path, format!("`{}` is int; {n} is not a 64-bit integer", f.name)),
            },
            (SqlType::UInt, Json::Number(n)) => match whole_number(json) {
                Some(Whole::Unsigned(u)) => Value::UInt(u),
                _ => return err(path, format!("`{}` is uint; {n} is not an unsigned 64-bit integer", f.name)),
            },
            // Digits in a string: exact for clients whose numbers are doubles (JavaScript's).
            (SqlType::Int, Json::String(t)) => match t.parse::<i64>() {
                Ok(i) if is_digits(t) => Value::Int(i),
                _ => return err(path, format!("`{}` is int; `{t}` is not a 64-bit integer", f.name)),
            },
            (SqlType::UInt, Json::String(t)) => match t.parse::<u64>() {
                Ok(u) if is_digits(t) => Value::UInt(u),
                _ => return err(path, format!("`{}` is uint; `{t}` is not an unsigned 64-bit integer", f.name)),
            },
            (SqlType::Float, Json::Number(n)) => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            (SqlType::Float, Json::String(s)) => match s.to_ascii_lowercase().as_str() {
                "nan" => Value::Float(f64::NAN),
                "inf" | "infinity" => Value::Float(f64::INFINITY),
                "-inf" | "-infinity" => Value::Float(f64::NEG_INFINITY),
                _ => return bad(),
            },
            (SqlType::Decimal, Json::Number(n))
                if n.as_f64().is_some_and(|f| f.abs() >= DECIMAL_NUMBER_LIMIT) =>
            {
                return err(
                    path,
                    format!("`{}` is decimal; as a JSON number it must be below 7.9e28 in magnitude, {n} is not (give it as a string)", f.name),
                )
            }
            (SqlType::Decimal, Json::Number(n)) => {
                let text = n.to_string();
                let exact = text
                    .parse::<Decimal>()
                    .or_else(|_| Decimal::from_scientific(&text))
                    .ok();
                // A float too precise for 28 digits: its nearest decimal.
                let nearest = || n.as_f64().and_then(Decimal::from_f64_retain);
                match exact.or_else(nearest) {
                    Some(d) => Value::Decimal(d),
                    None => {
                        return err(path, format!("`{}` is decimal; {n} is out of its range (±7.9e28)", f.name))
                    }
                }
            }
            (SqlType::Decimal, Json::String(s)) => match decimal_text(s) {
                Some(d) => Value::Decimal(d),
                None => {
                    return err(
                        path,
                        format!("`{}` is decimal; `{s}` is not one (digits with an optional `-` and fraction, at most 28 on each side of the point)", f.name),
                    )
                }
            },
            (SqlType::String, Json::String(s)) => Value::String(s.clone()),
            (SqlType::Text, Json::String(s)) => Value::Text(s.clone()),
            (SqlType::Timestamp, Json::String(s)) => match parse_timestamp(s) {
                Some(t) => Value::Timestamp(t),
                None => {
                    return err(
                        path,
                        format!("`{}` is timestamp; `{s}` is not one (use RFC 3339, e.g. 2024-01-31T12:00:00Z)", f.name),
                    )
                }
            },
            (SqlType::Date, Json::String(s)) => match parse_date(s) {
                Some(d) => Value::Date(d),
                None => return err(path, format!("`{}` is date; `{s}` is not one (use YYYY-MM-DD)", f.name)),
            },
            (SqlType::Json, j) => Value::Json(j.clone()),
            (ty, _) if !ty.is_filterable() => {
                return err(path, format!("not supported yet: filtering on {} fields (`{}`)", f.ty, f.name))
            }
            _ => return bad(),
        })
    }

    fn order_by(&self, json: &Json) -> Result<Vec<(usize, bool)>, QueryError> {
        let Json::Object(object) = json else {
            return err(
                "$order_by",
                format!(
                    "expected an object like {{\"field\": \"asc\"}}, found {}",
                    kind(json)
                ),
            );
        };
        let mut out: Vec<(usize, bool)> = vec![];
        for (name, dir) in object {
            let path = format!("$order_by.{name}");
            let field = self.field(name, &path)?;
            let desc = match dir.as_str().map(str::to_ascii_lowercase).as_deref() {
                Some("asc") => false,
                Some("desc") => true,
                _ => return err(&path, "expected \"asc\" or \"desc\""),
            };
            if !self.fields[field].ty.is_orderable() {
                return err(
                    &path,
                    format!(
                        "not supported yet: sorting by {} fields",
                        self.fields[field].ty
                    ),
                );
            }
            out.push((field, desc));
        }
        Ok(out)
    }
}

fn compare(field: usize, op: CompareOp, value: Value) -> Filter {
    Filter::Compare { field, op, value }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields() -> Vec<FieldDef> {
        [
            ("id", SqlType::Int, false),
            ("name", SqlType::String, true),
            ("price", SqlType::Decimal, false),
            ("at", SqlType::Timestamp, true),
        ]
        .into_iter()
        .map(|(n, ty, nullable)| FieldDef {
            name: n.into(),
            ty,
            nullable,
        })
        .collect()
    }

    fn parse(j: Json) -> Result<Query, QueryError> {
        parse_query(&j, &fields(), None, QueryLimits::default())
    }

    #[test]
    fn integers_as_digit_strings_are_exact() {
        let q = parse(json!({"$filter": {"id": {"$gt": "9007199254740993"}}})).unwrap();
        assert_eq!(
            q.filter,
            Some(Filter::Compare {
                field: 0,
                op: CompareOp::Gt,
                value: Value::Int(9_007_199_254_740_993)
            })
        );
    }

    #[test]
    fn dozer_queries_parse() {
        let q = parse(json!({
            "$filter": {"id": 1, "price": {"$gt": "2.50", "$lte": 10}, "name": {"$contains": "Red Apple"},
                        "$or": [{"at": null}, {"at": {"$gte": "2024-01-01T00:00:00Z"}}]},
            "$order_by": {"price": "desc", "id": "asc"}, "$limit": 10, "$skip": 5
        }))
        .unwrap();
        assert_eq!(q.order_by, [(2, true), (0, false)]);
        assert_eq!((q.limit, q.skip, q.after), (Some(10), 5, None));
        let Some(Filter::And(parts)) = q.filter else {
            panic!("{q:?}")
        };
        assert_eq!(parts[0], compare(0, CompareOp::Eq, Value::Int(1)));
        assert_eq!(
            parts[1],
            compare(2, CompareOp::Gt, Value::Decimal("2.50".parse().unwrap()))
        );
        assert_eq!(
            parts[3],
            Filter::Words {
                field: 1,
                words: vec!["red".into(), "apple".into()],
                all: true
            }
        );
        assert!(
            matches!(&parts[4], Filter::Or(o) if o[0] == compare(3, CompareOp::Eq, Value::Null))
        );
        assert_eq!(parse(Json::Null).unwrap(), Query::default());
    }

    #[test]
    fn mistakes_name_their_path() {
        let cases = [
            (
                json!({"$filter": {"nme": 1}}),
                "$filter.nme",
                "unknown field `nme`; the endpoint has id, name, price, at",
            ),
            (
                json!({"$filter": {"id": {"$gt": "x"}}}),
                "$filter.id.$gt",
                "`id` is int; `x` is not a 64-bit integer",
            ),
            (
                json!({"$filter": {"id": {"$gt": "+1"}}}),
                "$filter.id.$gt",
                "`id` is int; `+1` is not a 64-bit integer",
            ),
            (
                json!({"$filter": {"id": {"$like": 1}}}),
                "$filter.id.$like",
                "unknown operator",
            ),
            (
                json!({"$filter": {"$or": [{"id": 1}, {"price": {"$in": [1, "x"]}}]}}),
                "$filter.$or[1].price.$in[1]",
                "`x` is not one",
            ),
            (
                json!({"$filter": {"at": {"$lt": null}}}),
                "$filter.at.$lt",
                "not null",
            ),
            (
                json!({"$filter": {"id": {"$contains": "a"}}}),
                "$filter.id.$contains",
                "searches text",
            ),
            (json!({"$limit": 1_000_000}), "$limit", "at most 10000"),
            (json!({"$limit": -1}), "$limit", "non-negative integer"),
            (json!({"$skip": 1, "$after": 3}), "$after", "not both"),
            (
                json!({"$order_by": {"id": "up"}}),
                "$order_by.id",
                "\"asc\" or \"desc\"",
            ),
            (json!({"$sort": {}}), "$sort", "unknown query key"),
            (json!([1]), "", "JSON object"),
        ];
        for (q, path, message) in cases {
            let e = parse(q.clone()).unwrap_err();
            assert_eq!(e.path, path, "{q}: {e}");
            assert!(e.message.contains(message), "{q}: {e}");
        }
    }

    /// What the OpenAPI document allows is accepted: integers written with a zero fraction, decimal
    /// numbers up to the documented bound (as their nearest decimal), and empty word lists.
    #[test]
    fn numbers_take_their_json_schema_meaning() {
        let f = |filter: Json| parse(json!({ "$filter": filter })).map(|q| q.filter);
        assert_eq!(
            f(json!({"id": 257.0})).unwrap(),
            Some(compare(0, CompareOp::Eq, Value::Int(257)))
        );
        assert_eq!(
            f(json!({"id": -3.0})).unwrap(),
            Some(compare(0, CompareOp::Eq, Value::Int(-3)))
        );
        assert!(f(json!({"id": 2.5})).is_err());
        assert_eq!(parse(json!({"$limit": 5.0})).unwrap().limit, Some(5));
        // Read exactly (serde_json's `float_roundtrip`): no stray fraction on a large whole float.
        let skip: Json = serde_json::from_str(r#"{"$skip": 2057678338228813.0}"#).unwrap();
        assert_eq!(parse(skip).unwrap().skip, 2_057_678_338_228_813);
        let near_limit = dozer_types::openapi::DECIMAL_NUMBER_LIMIT * 0.999_999;
        assert!(f(json!({"price": near_limit})).is_ok());
        assert!(f(json!({"price": 1.0e-30})).is_ok(), "tiny: rounds");
        let e = f(json!({"price": 8.0e28})).unwrap_err();
        assert!(e.message.contains("below 7.9e28"), "{e}");
        for text in [
            "-1234567890123456789012345678.5",
            "0.0000000000000000000000000001",
        ] {
            assert!(f(json!({ "price": text })).is_ok(), "{text}");
        }
        for text in [
            "+1",
            "1.",
            ".5",
            "1e5",
            "1_000",
            " 1",
            "12345678901234567890123456789",
        ] {
            assert!(f(json!({ "price": text })).is_err(), "{text}");
        }
        assert_eq!(
            f(json!({"name": {"$matches_any": []}})).unwrap(),
            Some(Filter::Words {
                field: 1,
                words: vec![],
                all: false
            })
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let mut f = json!({"id": 1});
        for _ in 0..20 {
            f = json!({"$not": f});
        }
        let e = parse(json!({ "$filter": f })).unwrap_err();
        assert!(e.message.contains("nest at most"), "{e}");
    }

    /// JSON shaped like filters: the language's grammar at any depth (field names, operators,
    /// `$and`/`$or`/`$not`) with values of every JSON kind, and some keys that do not belong.
    fn filter_strategy() -> impl proptest::strategy::Strategy<Value = Json> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            1 => Just(Json::Null),
            1 => any::<bool>().prop_map(Json::from),
            6 => (-5i64..5).prop_map(Json::from),
            1 => any::<i64>().prop_map(Json::from),
            1 => any::<u64>().prop_map(Json::from),
            1 => any::<f64>().prop_map(|f| json!(f)),
            1 => "\\PC{0,12}".prop_map(Json::from),
            3 => Just(json!("red apple")),
            1 => Just(json!("2024-01-02T03:04:05Z")),
            1 => Just(json!("99999999999999999999999999999.5")),
            1 => Just(json!({})),
        ];
        let operand = prop_oneof![
            3 => leaf.clone(),
            1 => prop::collection::vec(leaf.clone(), 0..4).prop_map(Json::Array),
        ];
        let op = prop_oneof![
            Just("$eq"),
            Just("$ne"),
            Just("$lt"),
            Just("$lte"),
            Just("$gt"),
            Just("$gte"),
            Just("$in"),
            Just("$contains"),
            Just("$matches_any"),
            Just("$matches_all"),
            Just("$like"),
        ];
        let condition = prop_oneof![
            leaf,
            prop::collection::vec((op, operand), 1..3).prop_map(|kv| {
                Json::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ];
        let field = prop_oneof![
            3 => Just("id"),
            3 => Just("name"),
            3 => Just("price"),
            1 => Just("at"),
            1 => Just("zz")
        ];
        let simple = prop::collection::vec((field, condition), 1..3)
            .prop_map(|kv| Json::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()));
        simple.prop_recursive(6, 48, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(|v| json!({ "$and": v })),
                prop::collection::vec(inner.clone(), 0..3).prop_map(|v| json!({ "$or": v })),
                inner.clone().prop_map(|f| json!({ "$not": f })),
                (inner.clone(), inner).prop_map(|(a, b)| match (a, b) {
                    (Json::Object(mut a), Json::Object(b)) => {
                        a.extend(b);
                        Json::Object(a)
                    }
                    (a, _) => a,
                }),
            ]
        })
    }

    /// Whole queries around such filters, with sorting and paging keys of any JSON kind.
    fn query_strategy() -> impl proptest::strategy::Strategy<Value = Json> {
        use proptest::prelude::*;
        let any_json = prop_oneof![
            Just(Json::Null),
            (-3i64..1000).prop_map(Json::from),
            any::<f64>().prop_map(|f| json!(f)),
            Just(json!("asc")),
            Just(json!({"name": "desc", "id": "asc"})),
            Just(json!({"zz": "asc"})),
            Just(json!({"price": "sideways"})),
        ];
        (
            proptest::option::of(filter_strategy()),
            proptest::option::of(any_json.clone()),
            proptest::option::of(any_json.clone()),
            proptest::option::of(any_json),
        )
            .prop_map(|(f, order, limit, after)| {
                let mut q = serde_json::Map::new();
                for (k, v) in [
                    ("$filter", f),
                    ("$order_by", order),
                    ("$limit", limit),
                    ("$after", after),
                ] {
                    if let Some(v) = v {
                        q.insert(k.into(), v);
                    }
                }
                Json::Object(q)
            })
    }

    fn row_strategy() -> impl proptest::strategy::Strategy<Value = Vec<Value>> {
        use proptest::prelude::*;
        (
            any::<i64>(),
            proptest::option::of("\\PC{0,10}"),
            any::<i64>(),
            proptest::option::of(0i64..4_000_000_000),
        )
            .prop_map(|(id, name, price, at)| {
                vec![
                    Value::Int(id),
                    name.map_or(Value::Null, Value::String),
                    Value::Decimal(Decimal::new(price, 2)),
                    at.map_or(Value::Null, |s| {
                        Value::Timestamp(chrono::DateTime::from_timestamp(s, 0).expect("in range"))
                    }),
                ]
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        /// Any JSON, with or without a scoped token's field mask: a query or an error, never a
        /// panic; a query that parses uses only visible fields and evaluates on any row.
        #[test]
        fn any_json_is_a_query_or_a_located_error(
            j in query_strategy(),
            filter in filter_strategy(),
            mask in proptest::collection::vec(proptest::prelude::any::<bool>(), 4),
            row in row_strategy(),
        ) {
            let fields = fields();
            for visible in [None, Some(mask.as_slice())] {
                if let Ok(q) = parse_query(&j, &fields, visible, QueryLimits::default()) {
                    if let Some(v) = visible {
                        proptest::prop_assert!(q.order_by.iter().all(|(f, _)| v[*f]));
                    }
                    if let Some(f) = &q.filter {
                        let _ = crate::api::exec::matches(f, &row);
                    }
                }
                if let Ok(Some(f)) = parse_filter(&filter, &fields, visible, QueryLimits::default()) {
                    let _ = crate::api::exec::matches(&f, &row);
                }
            }
        }
    }
}
