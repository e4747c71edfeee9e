//! Keeps only what the outputs need and renumbers compactly in the original order. Passes that
//! build speculative or superseded nodes call this last so their output has no dead nodes.

use crate::ir::{Builder, Node, NodeId, OutputDecl, Program};

pub fn retain_reachable(p: &Program) -> Program {
    let g = &p.graph;
    let mut live = vec![false; g.len()];
    for o in &p.outputs {
        live[o.node.index()] = true;
    }
    for id in g.ids().rev() {
        if live[id.index()] {
            for a in &g.node(id).args {
                live[a.index()] = true;
            }
        }
    }
    let mut b = Builder::new();
    let mut map: Vec<Option<NodeId>> = vec![None; g.len()];
    for (id, n) in g.nodes() {
        if !live[id.index()] {
            continue;
        }
        let args: Vec<NodeId> = n.args.iter().filter_map(|a| map[a.index()]).collect();
        map[id.index()] = Some(b.add(Node { args, ..n.clone() }));
    }
    let outputs = p
        .outputs
        .iter()
        .map(|o| OutputDecl {
            node: map[o.node.index()].unwrap_or(o.node),
            ..o.clone()
        })
        .collect();
    p.with_graph(b.finish(), outputs)
}
