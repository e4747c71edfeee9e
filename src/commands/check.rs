//! `hel check`: parse and check a program, print a one-line summary.

use super::common::{frontend, read_source};
use super::flags::SetArgs;
use super::CmdResult;
use clap::Args;
use hel_compiler::ir::{Op, Program};
use std::path::PathBuf;

#[derive(Args)]
#[command(after_help = "Examples:
  hel check examples/logreg_gd.hel
  hel check examples/logreg_gd.hel --set k=3 --set m=64")]
pub struct CheckArgs {
    /// The .hel program to check.
    pub file: PathBuf,
    #[command(flatten)]
    pub set: SetArgs,
}

pub fn run(args: CheckArgs) -> CmdResult {
    let src = read_source(&args.file)?;
    let program = frontend(&src, &args.set.sets)?;
    println!("{}", summary(&program));
    Ok(())
}

fn summary(p: &Program) -> String {
    let loops = p
        .graph
        .nodes()
        .filter(|(_, n)| matches!(n.op, Op::Loop(_)))
        .count();
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
