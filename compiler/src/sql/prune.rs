//! Column pruning: every operator receives only the columns something above it reads.
//!
//! The binder's plans carry every column of a source up to the final projection, which is right
//! for explaining a query and wasteful for running it: a TUMBLE would copy whole rows into its
//! windows, a TTL or join would keep them in LMDB, and each copy of a string is an allocation.
//! [`prune`] rewrites a plan so that operators that copy or store rows get inputs of just the
//! columns something above them reads (a projection under them), while operators that read rows
//! in place (filters, projections, aggregates) only stop computing what nobody reads. The result
//! has the same output as the input plan.
//!
//! What may not be pruned: a DISTINCT or UNION (without ALL) compares whole rows, and an
//! aggregate's groups are its GROUP BY values, so those keep every column of their input they are
//! defined over, and only their own unused outputs are projected away above them.

use super::plan::{Expr, Key, Plan, PlanNode, PlanSchema};

/// The plan with the same output as `plan`, computing no column nobody reads.
pub fn prune(plan: &Plan) -> Plan {
    let all: Vec<usize> = (0..plan.schema.fields.len()).collect();
    exact(narrow(plan, &all), &all)
}

/// A rewritten plan and where each column of the original output went (`None`: pruned).
struct Narrowed {
    plan: Plan,
    layout: Vec<Option<usize>>,
}

impl Narrowed {
    fn at(&self, column: usize) -> usize {
        self.layout[column].expect("pruning keeps every column it remaps")
    }

    /// Rewrites an expression over the original output to one over the new output.
    fn remap(&self, e: &mut Expr) {
        e.map_columns(&|i| self.at(i));
    }
}

/// `plan` rewritten to output at least the columns `needed` (ascending indices into its output).
/// Operators that copy or store rows (TUMBLE/HOP, TTL, joins, unions) get inputs of exactly the
/// columns they need; the others read their input's rows in place, so nothing is projected (and
/// copied) just to drop columns under them.
fn narrow(plan: &Plan, needed: &[usize]) -> Narrowed {
    let width = plan.schema.fields.len();
    let everything: Vec<usize> = (0..width).collect();
    match &plan.node {
        PlanNode::Scan { .. } => Narrowed {
            plan: plan.clone(),
            layout: everything.into_iter().map(Some).collect(),
        },
        PlanNode::Filter { input, predicate } => {
            let child = narrow(input, &union(needed, &predicate.columns()));
            let mut predicate = predicate.clone();
            child.remap(&mut predicate);
            let kept: Vec<usize> = (0..width).filter(|&i| child.layout[i].is_some()).collect();
            Narrowed {
                plan: Plan {
                    schema: subset(&plan.schema, &kept),
                    node: PlanNode::Filter {
                        input: Box::new(child.plan),
                        predicate,
                    },
                },
                layout: child.layout,
            }
        }
        PlanNode::Project { input, exprs } => {
            let mut kept: Vec<Expr> = needed.iter().map(|&i| exprs[i].clone()).collect();
            let need = kept.iter().fold(vec![], |acc, e| union(&acc, &e.columns()));
            let child = narrow(input, &need);
            kept.iter_mut().for_each(|e| child.remap(e));
            Narrowed {
                plan: Plan {
                    schema: subset(&plan.schema, needed),
                    node: PlanNode::Project {
                        input: Box::new(child.plan),
                        exprs: kept,
                    },
                },
                layout: layout_of(needed, width),
            }
        }
        PlanNode::Aggregate {
            input,
            group_by,
            aggregates,
        } => {
            let mut need = group_by
                .iter()
                .fold(vec![], |acc, e| union(&acc, &e.columns()));
            for a in aggregates {
                if let Some(arg) = &a.arg {
                    need = union(&need, &arg.columns());
                }
            }
            let child = narrow(input, &need);
            let mut group_by = group_by.clone();
            group_by.iter_mut().for_each(|e| child.remap(e));
            let mut aggregates = aggregates.clone();
            for a in &mut aggregates {
                if let Some(arg) = &mut a.arg {
                    child.remap(arg);
                }
            }
            Narrowed {
                plan: Plan {
                    schema: plan.schema.clone(),
                    node: PlanNode::Aggregate {
                        input: Box::new(child.plan),
                        group_by,
                        aggregates,
                    },
                },
                layout: everything.into_iter().map(Some).collect(),
            }
        }
        PlanNode::Join {
            left,
            right,
            kind,
            on,
        } => {
            let left_width = left.schema.fields.len();
            let mut left_need: Vec<usize> =
                needed.iter().copied().filter(|&i| i < left_width).collect();
            let mut right_need: Vec<usize> = needed
                .iter()
                .filter(|&&i| i >= left_width)
                .map(|i| i - left_width)
                .collect();
            for (l, r) in on {
                left_need = union(&left_need, &l.columns());
                right_need = union(&right_need, &r.columns());
            }
            let on = on
                .iter()
                .map(|(l, r)| {
                    let (mut l, mut r) = (l.clone(), r.clone());
                    l.map_columns(&|i| position(&left_need, i));
                    r.map_columns(&|i| position(&right_need, i));
                    (l, r)
                })
                .collect();
            // The join's output columns, as indices of its original output.
            let joined: Vec<usize> = left_need
                .iter()
                .copied()
                .chain(right_need.iter().map(|i| i + left_width))
                .collect();
            Narrowed {
                plan: Plan {
                    schema: subset(&plan.schema, &joined),
                    node: PlanNode::Join {
                        left: Box::new(exact(narrow(left, &left_need), &left_need)),
                        right: Box::new(exact(narrow(right, &right_need), &right_need)),
                        kind: *kind,
                        on,
                    },
                },
                layout: layout_of(&joined, width),
            }
        }
        PlanNode::Union { inputs, all } => {
            // UNION without ALL removes duplicates of whole rows: keep them whole.
            let need = if *all { needed } else { &everything[..] };
            Narrowed {
                plan: Plan {
                    schema: subset(&plan.schema, need),
                    node: PlanNode::Union {
                        inputs: inputs
                            .iter()
                            .map(|i| exact(narrow(i, need), need))
                            .collect(),
                        all: *all,
                    },
                },
                layout: layout_of(need, width),
            }
        }
        PlanNode::Distinct { input } => Narrowed {
            plan: Plan {
                schema: plan.schema.clone(),
                node: PlanNode::Distinct {
                    input: Box::new(exact(narrow(input, &everything), &everything)),
                },
            },
            layout: everything.into_iter().map(Some).collect(),
        },
        PlanNode::Window {
            input,
            kind,
            time_column,
        } => {
            // Output: the input's fields, then window_start and window_end.
            let input_width = width - 2;
            let need: Vec<usize> = union(
                &needed
                    .iter()
                    .copied()
                    .filter(|&i| i < input_width)
                    .collect::<Vec<_>>(),
                &[*time_column],
            );
            let windowed: Vec<usize> = need
                .iter()
                .copied()
                .chain([input_width, input_width + 1])
                .collect();
            Narrowed {
                plan: Plan {
                    schema: subset(&plan.schema, &windowed),
                    node: PlanNode::Window {
                        input: Box::new(exact(narrow(input, &need), &need)),
                        kind: *kind,
                        time_column: position(&need, *time_column),
                    },
                },
                layout: layout_of(&windowed, width),
            }
        }
        PlanNode::Ttl { input, time, ttl } => {
            let need = union(needed, &time.columns());
            let mut time = time.clone();
            time.map_columns(&|i| position(&need, i));
            Narrowed {
                plan: Plan {
                    schema: subset(&plan.schema, &need),
                    node: PlanNode::Ttl {
                        input: Box::new(exact(narrow(input, &need), &need)),
                        time,
                        ttl: *ttl,
                    },
                },
                layout: layout_of(&need, width),
            }
        }
    }
}

/// The layout of an output made of `columns` of an original output `width` wide.
fn layout_of(columns: &[usize], width: usize) -> Vec<Option<usize>> {
    let mut layout = vec![None; width];
    for (k, &c) in columns.iter().enumerate() {
        layout[c] = Some(k);
    }
    layout
}

/// A narrowed plan projected to exactly the original columns `columns`, in that order.
fn exact(n: Narrowed, columns: &[usize]) -> Plan {
    let at: Vec<usize> = columns.iter().map(|&c| n.at(c)).collect();
    select(n.plan, &at)
}

/// `plan` projected to its output columns `columns`, or `plan` itself if that is all of it.
fn select(plan: Plan, columns: &[usize]) -> Plan {
    if columns.len() == plan.schema.fields.len() && columns.iter().enumerate().all(|(i, c)| i == *c)
    {
        return plan;
    }
    let exprs = columns
        .iter()
        .map(|&i| Expr::column(i, &plan.schema.fields[i]))
        .collect();
    Plan {
        schema: subset(&plan.schema, columns),
        node: PlanNode::Project {
            input: Box::new(plan),
            exprs,
        },
    }
}

/// The schema of `columns` of `schema`; the key survives if all its columns do.
fn subset(schema: &PlanSchema, columns: &[usize]) -> PlanSchema {
    let key = match &schema.key {
        Key::Columns(cols) if cols.iter().all(|c| columns.contains(c)) => {
            Key::Columns(cols.iter().map(|&c| position(columns, c)).collect())
        }
        Key::Columns(_) => Key::Synthetic,
        other => other.clone(),
    };
    PlanSchema {
        fields: columns.iter().map(|&i| schema.fields[i].clone()).collect(),
        key,
    }
}

/// Sorted union of two sets of column indices.
fn union(a: &[usize], b: &[usize]) -> Vec<usize> {
    let mut out: Vec<usize> = a.iter().chain(b).copied().collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn position(columns: &[usize], column: usize) -> usize {
    columns
        .iter()
        .position(|&c| c == column)
        .expect("pruning keeps every column it remaps")
}
