//! `dce`: dead-code elimination. Keeps only the nodes the outputs depend on, renumbered
//! compactly in their original order.
//!
//! The other cleanup passes never delete: folding and simplifying leave the replaced operands
//! (the constant chains behind NAG's momentum constants, the encrypted product multiplied by
//! zero) in the graph, unused. Those nodes would otherwise be lowered, cost time and, for the
//! depth report, show up as phantom work. An input nothing uses keeps its declaration (the
//! client still supplies it), but loses its node.

use super::pipeline::Pass;
use super::rewrite::{internal, remap_outputs, require_loop_free};
use crate::diagnostics::Diagnostic;
use crate::ir::{Builder, Node, NodeId, Program};

pub struct Dce;

impl Pass for Dce {
    fn name(&self) -> &'static str {
        "dce"
    }

    fn description(&self) -> &'static str {
        "dead-code elimination: drop nodes no output depends on; renumber compactly"
    }

    fn run(&self, p: Program) -> Result<Program, Diagnostic> {
        let g = &p.graph;
        // Operands come before their users, so one backward sweep finds everything live.
        let mut live = vec![false; g.len()];
        for o in &p.outputs {
            if let Some(l) = live.get_mut(o.node.index()) {
                *l = true;
            }
        }
        for id in g.ids().rev() {
            if !live[id.index()] {
                continue;
            }
            let n = g.node(id);
            require_loop_free(&p, self.name(), n)?;
            for a in &n.args {
                if let Some(l) = live.get_mut(a.index()) {
                    *l = true;
                }
            }
        }
        let mut b = Builder::new();
        let mut map: Vec<Option<NodeId>> = vec![None; g.len()];
        for (id, n) in g.nodes() {
            if !live[id.index()] {
                continue;
            }
            let args = n
                .args
                .iter()
                .map(|a| map.get(a.index()).copied().flatten())
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| internal(&p, self.name(), n, "a live node uses a dead one"))?;
            map[id.index()] = Some(b.add(Node { args, ..n.clone() }));
        }
        let outputs = remap_outputs(&p, self.name(), |o| map.get(o.index()).copied().flatten())?;
        Ok(p.with_graph(b.finish(), outputs))
    }
}
