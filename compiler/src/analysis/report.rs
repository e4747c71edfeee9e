//! The depth report: total and per-output depth, depth per loop iteration, the critical path with
//! source locations, and operation counts. `hel depth` prints it; passes use it to decide.

use super::depth::{deepest_arg, node_depths};
use crate::ir::{Op, Program};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Serialize)]
pub struct PathStep {
    pub op: String,
    /// `file:line:col` of the source that produced the node.
    pub span: String,
    pub depth: u32,
    /// Whether this node adds a level.
    pub adds_level: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub iteration: Vec<u32>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Analysis {
    pub tensor_depth: u32,
    pub outputs: BTreeMap<String, u32>,
    /// Levels of the critical path added by each iteration of the outermost loop (empty for
    /// programs without loops).
    pub per_iteration: Vec<u32>,
    /// From an input to the deepest output.
    pub critical_path: Vec<PathStep>,
    /// Operation counts by kind (constants and inputs excluded). Serialized as `tensor_ops`:
    /// reports put the ciphertext-level counts under `ops`.
    #[serde(rename = "tensor_ops")]
    pub ops: BTreeMap<String, usize>,
    /// Nodes in the graph.
    pub nodes: usize,
}

/// Analyses a loop-free program (run after `unroll`). Loops, if any remain, are counted as their
/// own op and contribute no depth.
pub fn analyze(p: &Program) -> Analysis {
    let g = &p.graph;
    let depth = node_depths(g);
    let outputs: BTreeMap<String, u32> = p
        .outputs
        .iter()
        .map(|o| (o.name.clone(), depth[o.node.index()]))
        .collect();
    let tensor_depth = outputs.values().copied().max().unwrap_or(0);

    let mut critical_path = Vec::new();
    if let Some(out) = p
        .outputs
        .iter()
        .max_by_key(|o| (depth[o.node.index()], std::cmp::Reverse(o.node.index())))
    {
        let mut cur = Some(out.node);
        while let Some(id) = cur {
            let n = g.node(id);
            let next = deepest_arg(g, id, &depth);
            let below = next.map_or(0, |a| depth[a.index()]);
            if !matches!(n.op, Op::Const { .. }) {
                critical_path.push(PathStep {
                    op: n.op.name().to_string(),
                    span: p.source.location(n.span),
                    depth: depth[id.index()],
                    adds_level: depth[id.index()] > below,
                    iteration: n.iter.clone(),
                });
            }
            cur = next;
        }
        critical_path.reverse();
    }

    // Levels on the critical path, attributed to the outermost iteration that added them.
    let iterations = g
        .nodes()
        .filter_map(|(_, n)| n.iter.first().copied())
        .max()
        .map_or(0, |m| m as usize + 1);
    let mut per_iteration = vec![0u32; iterations];
    for step in critical_path.iter().filter(|s| s.adds_level) {
        if let Some(&it) = step.iteration.first() {
            per_iteration[it as usize] += 1;
        }
    }

    let mut ops = BTreeMap::new();
    for (_, n) in g.nodes() {
        if !matches!(n.op, Op::Const { .. } | Op::Input { .. }) {
            *ops.entry(n.op.name().to_string()).or_insert(0) += 1;
        }
    }
    Analysis {
        tensor_depth,
        outputs,
        per_iteration,
        critical_path,
        ops,
        nodes: g.len(),
    }
}
