//! `hel check`: parse and check a program, print a one-line summary (or, with `--json`, one
//! JSON object: the program's inputs, outputs and top-level loops).

use super::common::{frontend, read_source};
use super::flags::SetArgs;
use super::CmdResult;
use clap::Args;
use hel_compiler::ir::{Op, Program};
use serde_json::json;
use std::path::PathBuf;

#[derive(Args)]
#[command(after_help = "Examples:
  hel check examples/logreg_gd.hel
  hel check examples/logreg_gd.hel --set k=3 --set m=64
  hel check examples/logreg_gd.hel --json")]
pub struct CheckArgs {
    /// The .hel program to check.
    pub file: PathBuf,
    #[command(flatten)]
    pub set: SetArgs,
    /// Print one JSON object on stdout: `file`, `inputs` and `outputs` (each `name` and
    /// `type`), `top_level_loops`; a failure prints an `error` object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: CheckArgs) -> CmdResult {
    let src = read_source(&args.file)?;
    let program = frontend(&src, &args.set.sets)?;
    if args.json {
        println!("{}", summary_json(&program));
    } else {
        println!("{}", summary(&program));
    }
    Ok(())
}

fn top_level_loops(p: &Program) -> usize {
    p.graph
        .nodes()
        .filter(|(_, n)| matches!(n.op, Op::Loop(_)))
        .count()
}

fn summary_json(p: &Program) -> serde_json::Value {
    let value = |name: &str, ty: String| json!({ "name": name, "type": ty });
    json!({
        "file": p.source.short_name(),
        "inputs": p.inputs.iter().map(|i| value(&i.name, i.ty.to_string())).collect::<Vec<_>>(),
        "outputs": p
            .outputs
            .iter()
            .map(|o| value(&o.name, p.graph.node(o.node).ty.to_string()))
            .collect::<Vec<_>>(),
        "top_level_loops": top_level_loops(p),
    })
}

fn summary(p: &Program) -> String {
    let loops = top_level_loops(p);
    let ins: Vec<String> = p
        .inputs
        .iter()
        .map(|i| format!("{}: {}", i.name, i.ty))
        .collect();
    let outs: Vec<String> = p
        .outputs
        .iter()
        .map(|o| format!("{}: {}", o.name, p.graph.node(o.node).ty))
        .collect();
    format!(
        "ok: {} — inputs {}; outputs {}; {} top-level loop{}",
        p.source.short_name(),
        if ins.is_empty() {
            "none".into()
        } else {
            ins.join(", ")
        },
        if outs.is_empty() {
            "none".into()
        } else {
            outs.join(", ")
        },
        loops,
        if loops == 1 { "" } else { "s" }
    )
}
