//! The text form: one operation per line, e.g.
//! `%12 = matvec %3, %11 : enc vector[1024]  // logreg.hel:14:22`.
//! Nodes inside a loop body are numbered `%<loop>.<n>` so every name is unique in the listing.

use super::graph::{Graph, NodeId, Program};
use super::op::Op;
use crate::source::SourceFile;
use std::fmt::Write;

pub fn print_text(p: &Program) -> String {
    let mut out = String::new();
    let src = &p.source;
    let _ = writeln!(out, "// hel IR of {}", src.short_name());
    for i in &p.inputs {
        let _ = write!(out, "input {}: {}", i.name, i.ty);
        if let Some((lo, hi)) = i.range {
            let _ = write!(out, " range [{lo}, {hi}]");
        }
        if let Some(d) = p.derived.iter().find(|d| d.name == i.name) {
            let _ = write!(out, " = client({})", d.description);
        }
        let _ = writeln!(out);
    }
    print_graph(&mut out, src, &p.graph, "", 0);
    for o in &p.outputs {
        let _ = writeln!(out, "output {} = %{}", o.name, o.node.index());
    }
    out
}

fn name(prefix: &str, id: NodeId) -> String {
    format!("%{prefix}{}", id.index())
}

fn print_graph(out: &mut String, src: &SourceFile, g: &Graph, prefix: &str, indent: usize) {
    let pad = "  ".repeat(indent);
    for (id, n) in g.nodes() {
        let args: Vec<String> = n.args.iter().map(|a| name(prefix, *a)).collect();
        let head = match &n.op {
            Op::Input { name } => format!("input {name}"),
            Op::Const { value } => format!("const {value}"),
            Op::Pow { exp } => format!("pow {}, {exp}", args.join(", ")),
            Op::Element { index } => format!("element {}, {index}", args.join(", ")),
            Op::Param { index } => format!("param {index}"),
            Op::LoopResult { index } => format!("result {index} of {}", args.join(", ")),
            Op::Loop(l) => {
                let inits: Vec<String> = l
                    .carried
                    .iter()
                    .zip(&args)
                    .map(|(v, a)| format!("{v} = {a}"))
                    .collect();
                let captures = &args[l.carried.len().min(args.len())..];
                let _ = write!(
                    out,
                    "{pad}{} = loop {} in {}..{} carry({}) capture({})",
                    name(prefix, id),
                    l.var,
                    l.start,
                    l.end,
                    inits.join(", "),
                    captures.join(", ")
                );
                let _ = writeln!(out, "  // {}", src.location(n.span));
                let inner = format!("{prefix}{}.", id.index());
                print_graph(out, src, &l.body.graph, &inner, indent + 1);
                let results: Vec<String> =
                    l.body.results.iter().map(|r| name(&inner, *r)).collect();
                let _ = writeln!(out, "{pad}  yield {}", results.join(", "));
                continue;
            }
            op => format!("{} {}", op.name(), args.join(", "))
                .trim_end()
                .to_string(),
        };
        let _ = write!(
            out,
            "{pad}{} = {head} : {}  // {}",
            name(prefix, id),
            n.ty,
            src.location(n.span)
        );
        if !n.iter.is_empty() {
            let tags: Vec<String> = n.iter.iter().map(u32::to_string).collect();
            let _ = write!(out, " [iter {}]", tags.join("."));
        }
        let _ = writeln!(out);
    }
}
