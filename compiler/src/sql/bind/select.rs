//! A SELECT: FROM, WHERE, the SELECT list (wildcards, expressions, aliases) and DISTINCT, with the
//! key a projection keeps.

use sqlparser::ast;

use super::{Binder, Cte, Cx};
use crate::diagnostic::{Diagnostic, Span};
use crate::sql::expr::{AggregateMode, BindResult, ExprBinder, Reported};
use crate::sql::plan::{Expr, ExprKind, Field, Key, Plan, PlanNode, PlanSchema};

impl Binder<'_, '_> {
    pub(super) fn select(&mut self, cx: Cx, s: &ast::Select, ctes: &[&Cte]) -> BindResult<Plan> {
        let at = cx.span(s);
        let extras: [(&str, bool); 9] = [
            ("TOP", s.top.is_some()),
            ("LATERAL VIEW", !s.lateral_views.is_empty()),
            ("PREWHERE", s.prewhere.is_some()),
            ("CONNECT BY", !s.connect_by.is_empty()),
            (
                "CLUSTER/DISTRIBUTE/SORT BY",
                !s.cluster_by.is_empty() || !s.distribute_by.is_empty() || !s.sort_by.is_empty(),
            ),
            ("WINDOW clauses", !s.named_window.is_empty()),
            ("QUALIFY", s.qualify.is_some()),
            ("SELECT AS VALUE/STRUCT", s.value_table_mode.is_some()),
            ("SELECT * EXCLUDE", s.exclude.is_some()),
        ];
        if let Some((what, _)) = extras.iter().find(|(_, present)| *present) {
            return Err(self.unsupported(what, at, "see docs/sql.md for the supported SQL"));
        }
        let distinct = match &s.distinct {
            None | Some(ast::Distinct::All) => false,
            Some(ast::Distinct::Distinct) => true,
            Some(ast::Distinct::On(_)) => {
                return Err(self.unsupported("DISTINCT ON", at, "use GROUP BY with MIN/MAX"))
            }
        };
        let mut plan = match s.from.as_slice() {
            [one] => self.from(cx, one, ctes)?,
            [] => {
                return Err(self.unsupported(
                    "SELECT without FROM",
                    at,
                    "every statement reads a source or another result",
                ))
            }
            [_, second, ..] => {
                return Err(self.unsupported(
                    "comma-separated FROM (implicit cross join)",
                    cx.span(&second.relation),
                    "write `a JOIN b ON a.x = b.y`",
                ))
            }
        };
        if let Some(w) = &s.selection {
            let fields = plan.schema.fields.clone();
            let pred = ExprBinder::new(
                cx.src,
                cx.fallback,
                self.diags,
                &fields,
                AggregateMode::Forbidden("WHERE"),
            )
            .condition(w, "WHERE")?;
            plan = Plan {
                schema: plan.schema.clone(),
                node: PlanNode::Filter {
                    input: Box::new(plan),
                    predicate: pred,
                },
            };
        }
        let group_exprs: &[ast::Expr] = match &s.group_by {
            ast::GroupByExpr::Expressions(e, mods) if mods.is_empty() => e,
            _ => {
                return Err(self.unsupported(
                    "GROUP BY ALL / ROLLUP / CUBE / GROUPING SETS",
                    at,
                    "list the grouping columns",
                ))
            }
        };

        // The SELECT list: expand wildcards, bind every item (collecting aggregates).
        let fields = plan.schema.fields.clone();
        let mut items: Vec<(Expr, String, Span)> = vec![];
        let mut binder = ExprBinder::new(
            cx.src,
            cx.fallback,
            self.diags,
            &fields,
            AggregateMode::Collect(vec![]),
        );
        let mut failed = false;
        for item in &s.projection {
            let item_at = binder.span(item);
            match item {
                ast::SelectItem::UnnamedExpr(e)
                | ast::SelectItem::ExprWithAlias { expr: e, .. } => match binder.bind(e) {
                    Ok(b) => {
                        let name = match (item, &b.kind) {
                            (ast::SelectItem::ExprWithAlias { alias, .. }, _) => {
                                alias.value.clone()
                            }
                            (_, ExprKind::Column(i)) if *i < fields.len() => {
                                fields[*i].name.clone()
                            }
                            _ => e.to_string(),
                        };
                        items.push((b, name, item_at));
                    }
                    Err(_) => failed = true,
                },
                ast::SelectItem::Wildcard(opts) | ast::SelectItem::QualifiedWildcard(_, opts)
                    if !wildcard_options_empty(opts) =>
                {
                    failed = true;
                    binder.unsupported(
                        "wildcard options (EXCLUDE, REPLACE, ...)",
                        item_at,
                        "list the columns you want",
                    );
                }
                ast::SelectItem::Wildcard(_) => {
                    for (i, f) in fields.iter().enumerate() {
                        items.push((Expr::column(i, f), f.name.clone(), item_at));
                    }
                }
                ast::SelectItem::QualifiedWildcard(kind, _) => {
                    let qual = match kind {
                        ast::SelectItemQualifiedWildcardKind::ObjectName(n) => n.to_string(),
                        ast::SelectItemQualifiedWildcardKind::Expr(e) => e.to_string(),
                    };
                    let matching: Vec<usize> = fields
                        .iter()
                        .enumerate()
                        .filter(|(_, f)| {
                            f.qualifier
                                .as_deref()
                                .is_some_and(|q| q.eq_ignore_ascii_case(&qual))
                        })
                        .map(|(i, _)| i)
                        .collect();
                    if matching.is_empty() {
                        failed = true;
                        binder.error(
                            Diagnostic::error(
                                "sql::unknown-table",
                                format!("no table or alias `{qual}` in FROM"),
                            )
                            .label(item_at, "unknown qualifier")
                            .help("use a table name or alias from FROM, e.g. `t.*`"),
                        );
                    }
                    for i in matching {
                        items.push((Expr::column(i, &fields[i]), fields[i].name.clone(), item_at));
                    }
                }
                ast::SelectItem::ExprWithAliases { .. } => {
                    failed = true;
                    binder.unsupported("multiple aliases", item_at, "give one alias per column");
                }
            }
        }
        let having = match &s.having {
            Some(h) => match binder.condition(h, "HAVING") {
                Ok(e) => Some((e, binder.span(h))),
                Err(_) => {
                    failed = true;
                    None
                }
            },
            None => None,
        };
        let AggregateMode::Collect(aggregates) =
            std::mem::replace(&mut binder.aggregates, AggregateMode::Forbidden(""))
        else {
            return Err(Reported);
        };
        if failed {
            return Err(Reported);
        }
        check_unique_names(&items, self)?;

        let mut plan = if aggregates.is_empty() && group_exprs.is_empty() && having.is_none() {
            let exprs: Vec<Expr> = items.iter().map(|(e, _, _)| e.clone()).collect();
            let key = project_key(&plan.schema.key, &exprs);
            project(plan, items, key)
        } else {
            self.aggregate(cx, plan, group_exprs, items, aggregates, having, s)?
        };
        if distinct {
            let schema = PlanSchema {
                fields: plan.schema.fields.clone(),
                key: Key::Columns((0..plan.schema.fields.len()).collect()),
            };
            plan = Plan {
                node: PlanNode::Distinct {
                    input: Box::new(plan),
                },
                schema,
            };
        }
        Ok(plan)
    }
}

pub(super) fn wildcard_options_empty(o: &ast::WildcardAdditionalOptions) -> bool {
    o.opt_ilike.is_none()
        && o.opt_exclude.is_none()
        && o.opt_except.is_none()
        && o.opt_replace.is_none()
        && o.opt_rename.is_none()
}

/// The key of a projection: the input key, if every key column is projected as is.
pub(super) fn project_key(input: &Key, exprs: &[Expr]) -> Key {
    match input {
        Key::Columns(cols) => {
            let positions: Option<Vec<usize>> = cols
                .iter()
                .map(|c| {
                    exprs
                        .iter()
                        .position(|e| matches!(e.kind, ExprKind::Column(i) if i == *c))
                })
                .collect();
            positions.map_or(Key::Synthetic, Key::Columns)
        }
        other => other.clone(),
    }
}

pub(super) fn project(input: Plan, items: Vec<(Expr, String, Span)>, key: Key) -> Plan {
    let fields = items
        .iter()
        .map(|(e, name, _)| Field {
            name: name.clone(),
            ty: e.ty,
            nullable: e.nullable,
            qualifier: None,
        })
        .collect();
    let exprs = items.into_iter().map(|(e, _, _)| e).collect();
    Plan {
        node: PlanNode::Project {
            input: Box::new(input),
            exprs,
        },
        schema: PlanSchema { fields, key },
    }
}

pub(super) fn check_unique_names(items: &[(Expr, String, Span)], b: &mut Binder) -> BindResult<()> {
    let mut ok = true;
    for (i, (_, name, at)) in items.iter().enumerate() {
        if let Some((_, _, first)) = items[..i]
            .iter()
            .find(|(_, n, _)| n.eq_ignore_ascii_case(name))
        {
            ok = false;
            b.error(
                Diagnostic::error(
                    "sql::duplicate-column",
                    format!("the result has two columns named `{name}`"),
                )
                .label(*at, "second column with this name")
                .label(*first, "first one")
                .help("give one of them another name with AS"),
            );
        }
    }
    if ok {
        Ok(())
    } else {
        Err(Reported)
    }
}
