//! `hel ir`: print the IR after any pass, as text, Graphviz DOT or RON.

use super::common::{frontend, read_source};
use super::errors::usage_error;
use super::flags::{OptArgs, SetArgs};
use super::CmdResult;
use clap::{Args, ValueEnum};
use hel_compiler::ir::{print_dot, print_ron, print_text};
use hel_compiler::passes::pipeline::Pipeline;
use std::path::PathBuf;

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Dot,
    Ron,
}

#[derive(Args)]
#[command(after_help = "Examples:
  hel ir examples/poly.hel
  hel ir examples/logreg_gd.hel --after unroll --set k=3
  hel ir examples/logreg_gd.hel -O1 --after reassociate --set k=2 --set m=4 --set f=3
  hel ir examples/logreg_gd.hel --unroll-factor 2 --set k=5
  hel ir examples/logreg_gd.hel --after parse --format dot | dot -Tsvg > gd.svg
  hel ir --list-passes")]
pub struct IrArgs {
    /// The .hel program.
    #[arg(required_unless_present = "list_passes")]
    pub file: Option<PathBuf>,
    /// Stop after this pass (`parse` = as written). Default: the whole pipeline.
    #[arg(long, value_name = "PASS")]
    pub after: Option<String>,
    /// Output format. `dot` colours nodes by multiplicative depth (with a legend) and draws
    /// the critical path in bold red.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    #[command(flatten)]
    pub set: SetArgs,
    #[command(flatten)]
    pub opt: OptArgs,
    /// Unroll loops by this factor instead of fully (the pipeline then stops after `unroll`).
    #[arg(long, value_name = "F", value_parser = clap::value_parser!(u32).range(1..))]
    pub unroll_factor: Option<u32>,
    /// List the passes in pipeline order and exit.
    #[arg(long)]
    pub list_passes: bool,
}

pub fn run(args: IrArgs) -> CmdResult {
    let mut options = args.opt.options();
    options.unroll_factor = args.unroll_factor;
    let pipeline = Pipeline::with_options(options);
    if args.list_passes {
        for (name, what) in pipeline.list() {
            println!("{name:<20} {what}");
        }
        return Ok(());
    }
    let Some(file) = args.file else {
        return Err(usage_error("no input file"));
    };
    if let Some(after) = &args.after {
        if !pipeline.has(after) {
            let names: Vec<&str> = pipeline.list().iter().map(|(n, _)| *n).collect();
            return Err(usage_error(format!(
                "unknown pass `{after}`; the passes are: {}",
                names.join(", ")
            )));
        }
    }
    let src = read_source(&file)?;
    let program = frontend(&src, &args.set.sets)?;
    let program = pipeline
        .run(program, args.after.as_deref(), &mut |name, p| {
            eprintln!("[pass] {name}: {} nodes", p.graph.len())
        })
        .map_err(super::common::diagnostic)?;
    let out = match args.format {
        Format::Text => print_text(&program),
        Format::Dot => print_dot(&program),
        Format::Ron => print_ron(&program),
    };
    print!("{out}");
    Ok(())
}
