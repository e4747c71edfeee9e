//! The scheduler's *plan*: everything [`execute`](super::execute) derives from a schedule
//! before it runs anything.
//!
//! Work is split into *tasks*: a single node, or a hoisting group (rotations of one operand
//! evaluated together). The plan counts each task's producer tasks and each value's consumer
//! tasks (what the executor counts down at run time), and gives every task a priority: the
//! estimated single-thread seconds of the longest path from it to a sink, from the
//! [`CostTable`]. It is kept apart from the executor because it is pure and deterministic
//! (no threads, no values), and because the same longest path is the cost model's
//! [`critical_path_seconds`].

use super::{exec_level, ExecError};
use crate::schedule::cost::CostTable;
use crate::schedule::{Instr, Node, Schedule, ValueId};

/// Node(s) evaluated as one unit.
pub(super) struct Task {
    /// One node, or the members of a hoisting group (ascending).
    pub(super) nodes: Vec<ValueId>,
    /// Distinct values the task reads.
    pub(super) reads: Vec<ValueId>,
}

/// Everything derived from the schedule before running.
pub(super) struct Plan {
    /// Ordered by smallest node id. Every dependency of a task has a smaller index: a task
    /// reads values smaller than its smallest node, and the task producing such a value has a
    /// smallest node no larger than it.
    pub(super) tasks: Vec<Task>,
    /// Tasks to notify when a task finishes.
    pub(super) dependents: Vec<Vec<usize>>,
    /// Number of distinct producer tasks per task.
    pub(super) deps: Vec<usize>,
    /// Number of tasks reading each value.
    pub(super) consumers: Vec<usize>,
    pub(super) is_output: Vec<bool>,
    /// Estimated seconds of the longest path from the task (itself included) to a sink.
    pub(super) priority: Vec<f64>,
}

impl Plan {
    /// The plan of `schedule`, with priorities from `table`'s single-thread operation times.
    pub(super) fn new(schedule: &Schedule, table: &CostTable) -> Result<Plan, ExecError> {
        let nodes = &schedule.nodes;
        let n = nodes.len();
        for (i, node) in nodes.iter().enumerate() {
            if let Some(a) = node.instr.operands().iter().find(|a| **a as usize >= i) {
                return Err(ExecError::Invalid(format!(
                    "node {i} reads node {a}, which is not defined before it"
                )));
            }
        }
        let group_of = hoist_groups(schedule)?;
        let mut tasks: Vec<Task> = Vec::with_capacity(n);
        let mut task_of = vec![usize::MAX; n];
        for i in 0..n {
            if task_of[i] != usize::MAX {
                continue;
            }
            let members = match group_of[i] {
                Some(g) => {
                    let mut m = schedule.hoist_groups[g].clone();
                    m.sort_unstable();
                    m
                }
                None => vec![i as ValueId],
            };
            let mut reads: Vec<ValueId> = members
                .iter()
                .flat_map(|m| nodes[*m as usize].instr.operands())
                .collect();
            reads.sort_unstable();
            reads.dedup();
            for m in &members {
                task_of[*m as usize] = tasks.len();
            }
            tasks.push(Task {
                nodes: members,
                reads,
            });
        }
        let mut dependents = vec![Vec::new(); tasks.len()];
        let mut deps = vec![0; tasks.len()];
        let mut consumers = vec![0; n];
        for (t, task) in tasks.iter().enumerate() {
            let mut producers: Vec<usize> =
                task.reads.iter().map(|v| task_of[*v as usize]).collect();
            producers.sort_unstable();
            producers.dedup();
            deps[t] = producers.len();
            for p in producers {
                dependents[p].push(t);
            }
            for v in &task.reads {
                consumers[*v as usize] += 1;
            }
        }
        let mut is_output = vec![false; n];
        for v in schedule.output_values() {
            *is_output.get_mut(v as usize).ok_or_else(|| {
                ExecError::Invalid(format!("an output reads node {v}, which does not exist"))
            })? = true;
        }
        let mut priority = vec![0.0; tasks.len()];
        for t in (0..tasks.len()).rev() {
            let own = task_seconds(table, schedule.params.log_n, nodes, &tasks[t].nodes);
            let next = dependents[t]
                .iter()
                .map(|d| priority[*d])
                .fold(0.0, f64::max);
            priority[t] = own + next;
        }
        Ok(Plan {
            tasks,
            dependents,
            deps,
            consumers,
            is_output,
            priority,
        })
    }
}

/// Validates [`Schedule::hoist_groups`] and maps each grouped node to its group. A group must
/// consist of distinct `Rotate` nodes reading one operand, and a node belongs to at most one
/// group (in any order); one-node groups are ignored.
fn hoist_groups(schedule: &Schedule) -> Result<Vec<Option<usize>>, ExecError> {
    let mut group_of = vec![None; schedule.nodes.len()];
    for (g, group) in schedule.hoist_groups.iter().enumerate() {
        if group.len() < 2 {
            continue;
        }
        let mut operand = None;
        for &m in group {
            let bad = |why: &str| ExecError::Invalid(format!("hoisting group {g}: node {m} {why}"));
            let node = schedule
                .nodes
                .get(m as usize)
                .ok_or_else(|| bad("does not exist"))?;
            let Instr::Rotate { a, .. } = node.instr else {
                return Err(bad("is not a rotation"));
            };
            if *operand.get_or_insert(a) != a {
                return Err(bad("rotates another value than the rest of its group"));
            }
            if group_of[m as usize].replace(g).is_some() {
                return Err(bad("appears twice"));
            }
        }
    }
    Ok(group_of)
}

/// Estimated single-thread seconds of one task.
fn task_seconds(table: &CostTable, log_n: u32, nodes: &[Node], members: &[ValueId]) -> f64 {
    let Some(first) = members.first().and_then(|m| nodes.get(*m as usize)) else {
        return 0.0;
    };
    let limbs = exec_level(nodes, first) as usize + 1;
    let t = if members.len() > 1 {
        table.rotations_seconds(log_n, limbs, members.len()).0
    } else {
        table.seconds(log_n, first.instr.name(), limbs)
    };
    if t.is_finite() && t > 0.0 {
        t
    } else {
        0.0
    }
}

/// Estimated single-thread seconds of the schedule's longest dependency chain (hoisting groups
/// counted as one step), from `table`.
pub fn critical_path_seconds(schedule: &Schedule, table: &CostTable) -> Result<f64, ExecError> {
    let plan = Plan::new(schedule, table)?;
    Ok(plan.priority.iter().copied().fold(0.0, f64::max))
}
