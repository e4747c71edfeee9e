//! Graphviz form. Loop bodies become clusters; dashed edges show a loop's arguments flowing into
//! its body's parameters and the body's results flowing out to the loop's results.

use super::graph::{Graph, Program};
use super::op::Op;
use std::fmt::Write;

pub fn print_dot(p: &Program) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph hel {{");
    let _ = writeln!(out, "  node [shape=box, fontname=\"monospace\"];");
    graph(&mut out, &p.graph, "n", 1);
    for (k, o) in p.outputs.iter().enumerate() {
        let _ = writeln!(
            out,
            "  out{k} [shape=ellipse, label=\"output {}\"];",
            escape(&o.name)
        );
        let _ = writeln!(out, "  n{} -> out{k};", o.node.index());
    }
    let _ = writeln!(out, "}}");
    out
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn graph(out: &mut String, g: &Graph, prefix: &str, indent: usize) {
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
        let _ = writeln!(
            out,
            "{pad}{me} [label=\"%{} {}\\n{}\"];",
            id.index(),
            escape(&what),
            n.ty
        );
        for a in &n.args {
            let _ = writeln!(out, "{pad}{prefix}{} -> {me};", a.index());
        }
        if let Op::Loop(l) = &n.op {
            let inner = format!("{me}_");
            let _ = writeln!(out, "{pad}subgraph cluster_{me} {{");
            let _ = writeln!(
                out,
                "{pad}  label=\"body of %{}\"; style=rounded;",
                id.index()
            );
            graph(out, &l.body.graph, &inner, indent + 1);
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
