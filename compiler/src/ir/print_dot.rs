//! Graphviz form, coloured by multiplicative depth with the critical path drawn in red.
//!
//! Depth is what a CKKS program spends, so the picture shows where it goes: each node is
//! filled from a sequential colour scale (light = shallow, dark = deep; a legend maps colours
//! to depths) and the path [`crate::analysis::analyze`] reports as critical (from the deepest
//! output back through each node's deepest operand) is drawn with bold red nodes and edges, so
//! the number of levels along the red path is the program's depth. Every node carries its depth
//! in its `tooltip` (`depth N`) and critical ones `class="critical"`, so tools and tests can
//! read the picture back.
//!
//! Loop bodies (before `unroll`) become clusters coloured by the depth within one iteration
//! (the body's parameters at depth 0); dashed edges show a loop's arguments flowing into its
//! body's parameters and the body's results flowing out to the loop's results.

use super::graph::{Graph, NodeId, Program};
use super::op::Op;
use super::types::Secrecy;
use crate::analysis::depth::{deepest_arg, node_depths};
use std::collections::BTreeSet;
use std::fmt::Write;

/// A 9-step sequential scale (ColorBrewer "YlOrBr", light to dark): ordered lightness reads as
/// ordered depth, also in grey-scale print.
const SCALE: [&str; 9] = [
    "#ffffe5", "#fff7bc", "#fee391", "#fec44f", "#fe9929", "#ec7014", "#cc4c02", "#993404",
    "#662506",
];

pub fn print_dot(p: &Program) -> String {
    let depth = node_depths(&p.graph);
    // One scale for the whole picture, loop bodies included, so the legend holds everywhere.
    let max_depth = depth
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(deepest_body(&p.graph));
    let (path_nodes, path_edges, out_on_path) = critical_path(p, &depth);
    let mut out = String::new();
    let _ = writeln!(out, "digraph hel {{");
    let _ = writeln!(
        out,
        "  node [shape=box, fontname=\"monospace\", style=filled];"
    );
    legend(&mut out, max_depth);
    let hi = Highlight {
        nodes: &path_nodes,
        edges: &path_edges,
    };
    graph(&mut out, &p.graph, &depth, max_depth, Some(&hi), "n", 1);
    for (k, o) in p.outputs.iter().enumerate() {
        let d = depth[o.node.index()];
        let crit = out_on_path == Some(k);
        let _ = writeln!(
            out,
            "  out{k} [shape=ellipse, label=\"output {}\\ndepth {d}\", fillcolor=\"{}\", \
             fontcolor=\"{}\", tooltip=\"depth {d}\"{}];",
            escape(&o.name),
            fill(d, max_depth),
            ink(d, max_depth),
            if crit { CRITICAL_NODE } else { "" }
        );
        let style = if crit { CRITICAL_EDGE } else { "" };
        let _ = writeln!(out, "  n{} -> out{k}{style};", o.node.index());
    }
    let _ = writeln!(out, "}}");
    out
}

/// The critical path's style: red (not on the scale above, so it stands out) and bold.
const CRITICAL_NODE: &str = ", color=\"#d62728\", penwidth=3, class=\"critical\"";
const CRITICAL_EDGE: &str = " [color=\"#d62728\", penwidth=3, class=\"critical\"]";

/// The critical path of the top-level graph: its nodes, its edges (operand, user) and which
/// output it ends in; the depth report's walk.
fn critical_path(
    p: &Program,
    depth: &[u32],
) -> (BTreeSet<NodeId>, BTreeSet<(NodeId, NodeId)>, Option<usize>) {
    let mut nodes = BTreeSet::new();
    let mut edges = BTreeSet::new();
    let out = p
        .outputs
        .iter()
        .enumerate()
        .max_by_key(|(_, o)| (depth[o.node.index()], std::cmp::Reverse(o.node.index())));
    if let Some((_, o)) = out {
        let mut cur = o.node;
        nodes.insert(cur);
        while let Some(a) = deepest_operand(&p.graph, cur, depth) {
            edges.insert((a, cur));
            nodes.insert(a);
            cur = a;
        }
    }
    (nodes, edges, out.map(|(k, _)| k))
}

/// The largest within-iteration depth of any loop body in `g`, nested bodies included.
fn deepest_body(g: &Graph) -> u32 {
    g.nodes()
        .filter_map(|(_, n)| match &n.op {
            Op::Loop(l) => {
                let own = node_depths(&l.body.graph).into_iter().max().unwrap_or(0);
                Some(own.max(deepest_body(&l.body.graph)))
            }
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

/// [`deepest_arg`], except that among equally deep operands an encrypted one wins, so the path
/// ends at an encrypted input rather than at a constant the depth report would leave out.
fn deepest_operand(g: &Graph, id: NodeId, depth: &[u32]) -> Option<NodeId> {
    let best = deepest_arg(g, id, depth)?;
    let d = depth[best.index()];
    g.node(id)
        .args
        .iter()
        .copied()
        .find(|a| depth[a.index()] == d && g.node(*a).ty.secrecy == Secrecy::Enc)
        .or(Some(best))
}

struct Highlight<'a> {
    nodes: &'a BTreeSet<NodeId>,
    edges: &'a BTreeSet<(NodeId, NodeId)>,
}

/// The scale entry for depth `d` of `max`: depth 0 is the lightest, `max` the darkest.
fn step(d: u32, max: u32) -> usize {
    if max == 0 {
        return 0;
    }
    let last = (SCALE.len() - 1) as u64;
    ((u64::from(d) * last + u64::from(max) / 2) / u64::from(max)) as usize
}

fn fill(d: u32, max: u32) -> &'static str {
    SCALE[step(d, max).min(SCALE.len() - 1)]
}

/// Text colour readable on the fill.
fn ink(d: u32, max: u32) -> &'static str {
    if step(d, max) >= 6 {
        "white"
    } else {
        "black"
    }
}

/// One swatch per colour in use, labelled with the depths it stands for, in one row.
fn legend(out: &mut String, max: u32) {
    let _ = writeln!(out, "  subgraph cluster_legend {{");
    let _ = writeln!(
        out,
        "    label=\"multiplicative depth (loop bodies: within one iteration)\\nred: critical path\"; \
         style=rounded; rank=same;"
    );
    let mut d = 0;
    while d <= max {
        let s = step(d, max);
        let mut e = d;
        while e < max && step(e + 1, max) == s {
            e += 1;
        }
        let label = if d == e {
            format!("depth {d}")
        } else {
            format!("depth {d}-{e}")
        };
        let _ = writeln!(
            out,
            "    legend{s} [label=\"{label}\", fillcolor=\"{}\", fontcolor=\"{}\"];",
            SCALE[s],
            ink(d, max)
        );
        d = e + 1;
    }
    let _ = writeln!(out, "  }}");
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn graph(
    out: &mut String,
    g: &Graph,
    depth: &[u32],
    max: u32,
    hi: Option<&Highlight>,
    prefix: &str,
    indent: usize,
) {
    let pad = "  ".repeat(indent);
    for (id, n) in g.nodes() {
        let me = format!("{prefix}{}", id.index());
        let what = match &n.op {
            Op::Input { name } => format!("input {name}"),
            Op::Const { value } => format!("const {value}"),
            Op::Pow { exp } => format!("pow {exp}"),
            Op::Element { index } => format!("element {index}"),
            Op::Param { index } => format!("param {index}"),
            Op::LoopResult { index } => format!("result {index}"),
            Op::Loop(l) => format!("loop {} in {}..{}", l.var, l.start, l.end),
            op => op.name().to_string(),
        };
        let d = depth[id.index()];
        let crit = hi.is_some_and(|h| h.nodes.contains(&id));
        let _ = writeln!(
            out,
            "{pad}{me} [label=\"%{} {}\\n{}\\ndepth {d}\", fillcolor=\"{}\", fontcolor=\"{}\", \
             tooltip=\"depth {d}\"{}];",
            id.index(),
            escape(&what),
            n.ty,
            fill(d, max),
            ink(d, max),
            if crit { CRITICAL_NODE } else { "" }
        );
        for a in &n.args {
            let on_path = hi.is_some_and(|h| h.edges.contains(&(*a, id)));
            let style = if on_path { CRITICAL_EDGE } else { "" };
            let _ = writeln!(out, "{pad}{prefix}{} -> {me}{style};", a.index());
        }
        if let Op::Loop(l) = &n.op {
            let inner = format!("{me}_");
            let body_depth = node_depths(&l.body.graph);
            let _ = writeln!(out, "{pad}subgraph cluster_{me} {{");
            let _ = writeln!(
                out,
                "{pad}  label=\"body of %{}\"; style=rounded;",
                id.index()
            );
            graph(
                out,
                &l.body.graph,
                &body_depth,
                max,
                None,
                &inner,
                indent + 1,
            );
            let _ = writeln!(out, "{pad}}}");
            for (pid, pn) in l.body.graph.nodes() {
                if let Op::Param { index } = pn.op {
                    if let Some(a) = n.args.get(index as usize) {
                        let _ = writeln!(
                            out,
                            "{pad}{prefix}{} -> {inner}{} [style=dashed];",
                            a.index(),
                            pid.index()
                        );
                    }
                }
            }
        }
        if let Op::LoopResult { index } = n.op {
            if let Some(Op::Loop(l)) = n.args.first().map(|l| &g.node(*l).op) {
                if let (Some(r), Some(lp)) = (l.body.results.get(index as usize), n.args.first()) {
                    let _ = writeln!(
                        out,
                        "{pad}{prefix}{}_{} -> {me} [style=dashed];",
                        lp.index(),
                        r.index()
                    );
                }
            }
        }
    }
}
