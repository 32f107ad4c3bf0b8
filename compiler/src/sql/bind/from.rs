//! FROM items: sources, other statements' INTO tables, CTEs and subqueries, with their aliases and
//! column renames.

use sqlparser::ast;

use super::{first_words, Binder, Cte, Cx, State};
use crate::diagnostic::{Diagnostic, Span};
use crate::sql::expr::{ident_matches, BindResult, Reported};
use crate::sql::plan::{Expr, Key, Plan, PlanNode, PlanSchema, ScanKind};

impl Binder<'_, '_> {
    pub(super) fn from(
        &mut self,
        cx: Cx,
        twj: &ast::TableWithJoins,
        ctes: &[&Cte],
    ) -> BindResult<Plan> {
        let mut plan = self.table_factor(cx, &twj.relation, ctes)?;
        for j in &twj.joins {
            let right = self.table_factor(cx, &j.relation, ctes)?;
            plan = self.join(cx, plan, right, &j.join_operator, cx.span(j))?;
        }
        Ok(plan)
    }

    pub(super) fn table_factor(
        &mut self,
        cx: Cx,
        tf: &ast::TableFactor,
        ctes: &[&Cte],
    ) -> BindResult<Plan> {
        let at = cx.span(tf);
        match tf {
            ast::TableFactor::Table {
                name,
                alias,
                args,
                with_hints,
                version,
                with_ordinality,
                partitions,
                json_path,
                sample,
                index_hints,
            } => {
                if !with_hints.is_empty()
                    || version.is_some()
                    || *with_ordinality
                    || !partitions.is_empty()
                    || json_path.is_some()
                    || sample.is_some()
                    || !index_hints.is_empty()
                {
                    return Err(self.unsupported(
                        "table hints, versions and samples",
                        at,
                        "name the table only",
                    ));
                }
                let mut plan = match args {
                    None => self.relation(cx, name, ctes, at)?,
                    Some(a) => self.table_function(cx, name, &a.args, ctes, at)?,
                };
                if let Some(alias) = alias {
                    plan = rename_columns(plan, alias, cx, self)?;
                    requalify(&mut plan, Some(&alias.name.value));
                }
                Ok(plan)
            }
            ast::TableFactor::Derived {
                lateral,
                subquery,
                alias,
                ..
            } => {
                if *lateral {
                    return Err(self.unsupported(
                        "LATERAL subqueries",
                        at,
                        "join the subquery's sources instead",
                    ));
                }
                let mut plan = self.query(cx, subquery, ctes, false)?;
                if let Some(alias) = alias {
                    plan = rename_columns(plan, alias, cx, self)?;
                }
                requalify(&mut plan, alias.as_ref().map(|a| a.name.value.as_str()));
                Ok(plan)
            }
            ast::TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => {
                let mut plan = self.from(cx, table_with_joins, ctes)?;
                if let Some(alias) = alias {
                    requalify(&mut plan, Some(&alias.name.value));
                }
                Ok(plan)
            }
            other => Err(self.unsupported(
                &format!("`{}` in FROM", first_words(&other.to_string())),
                at,
                "FROM takes sources, results, CTEs, subqueries, joins and TUMBLE/HOP/TTL",
            )),
        }
    }

    /// A plain name in FROM: a CTE, another statement's INTO table, or a source.
    pub(super) fn relation(
        &mut self,
        _cx: Cx,
        name: &ast::ObjectName,
        ctes: &[&Cte],
        at: Span,
    ) -> BindResult<Plan> {
        let ident = match name.0.as_slice() {
            [ast::ObjectNamePart::Identifier(id)] => id,
            _ => {
                return Err(self.unsupported(
                    &format!("qualified table name `{name}`"),
                    at,
                    "refer to sources by their `name:` from the YAML; the database schema is set with `schema:` on the source",
                ))
            }
        };
        if let Some(cte) = ctes
            .iter()
            .rev()
            .find(|c| ident_matches(ident, &c.name.value))
        {
            let mut plan = cte.plan.clone();
            requalify(&mut plan, Some(&cte.name.value));
            return Ok(plan);
        }
        let into_index = self
            .into
            .iter()
            .position(|n| n.as_ref().is_some_and(|(n, _)| ident_matches(ident, n)));
        if let Some(j) = into_index {
            if matches!(self.state[j], State::InProgress) {
                return Err(self.error(
                    Diagnostic::error(
                        "sql::cycle",
                        format!(
                            "`{}` is computed from itself (a cycle between statements)",
                            ident.value
                        ),
                    )
                    .label(at, "read here while it is being defined")
                    .help("statements may read each other's results, but not in a cycle"),
                ));
            }
            let Some(schema) = self.ensure_bound(j) else {
                return Err(Reported);
            };
            let table = self.into[j]
                .as_ref()
                .map(|(n, _)| n.clone())
                .unwrap_or_default();
            let mut plan = Plan {
                node: PlanNode::Scan {
                    table: table.clone(),
                    kind: ScanKind::Table,
                },
                schema,
            };
            requalify(&mut plan, Some(&table));
            return Ok(plan);
        }
        if let Some(source) = self
            .config
            .sources
            .iter()
            .find(|s| ident_matches(ident, &s.name.value))
        {
            let Some(entry) = self.catalog.sources.get(&source.name.value) else {
                return Err(Reported); // its schema could not be resolved; that was reported
            };
            let fields = PlanSchema::source_fields(&entry.schema, Some(&source.name.value));
            let key = if entry.schema.primary_key.is_empty() {
                Key::Synthetic
            } else {
                Key::Columns(entry.schema.primary_key.clone())
            };
            return Ok(Plan {
                node: PlanNode::Scan {
                    table: source.name.value.clone(),
                    kind: ScanKind::Source,
                },
                schema: PlanSchema { fields, key },
            });
        }
        let candidates: Vec<&str> = ctes
            .iter()
            .map(|c| c.name.value.as_str())
            .chain(self.into.iter().flatten().map(|(n, _)| n.as_str()))
            .chain(self.config.sources.iter().map(|s| s.name.value.as_str()))
            .collect();
        let mut d = Diagnostic::error(
            "sql::unknown-table",
            format!("table `{}` does not exist", ident.value),
        )
        .label(at, "unknown table");
        d = d.suggest(&ident.value, &candidates, |names| {
            if names.is_empty() {
                "declare it under `sources:` in the YAML".into()
            } else {
                format!("known tables: {}", names.join(", "))
            }
        });
        Err(self.error(d))
    }
}

pub(super) fn requalify(plan: &mut Plan, qualifier: Option<&str>) {
    for f in &mut plan.schema.fields {
        f.qualifier = qualifier.map(str::to_string);
    }
}

/// `FROM t AS x (a, b)`: renames the first columns (through a projection, so the input keeps its
/// own names).
pub(super) fn rename_columns(
    plan: Plan,
    alias: &ast::TableAlias,
    cx: Cx,
    b: &mut Binder,
) -> BindResult<Plan> {
    if alias.columns.is_empty() {
        return Ok(plan);
    }
    if alias.columns.len() > plan.schema.fields.len() {
        return Err(b.error(
            Diagnostic::error(
                "sql::alias-columns",
                format!(
                    "{} column names given for a table of {} columns",
                    alias.columns.len(),
                    plan.schema.fields.len()
                ),
            )
            .label(cx.ident(&alias.name), "too many column names")
            .help("name at most as many columns as the table has"),
        ));
    }
    let mut schema = plan.schema.clone();
    for (f, c) in schema.fields.iter_mut().zip(&alias.columns) {
        f.name = c.name.value.clone();
    }
    let exprs = plan
        .schema
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| Expr::column(i, f))
        .collect();
    Ok(Plan {
        node: PlanNode::Project {
            input: Box::new(plan),
            exprs,
        },
        schema,
    })
}
