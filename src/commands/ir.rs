//! `hel ir`: print the IR after any pass, as text, Graphviz DOT or RON.

use super::common::{frontend, parse_set, read_source, user_error};
use super::CmdResult;
use clap::{Args, ValueEnum};
use hel_compiler::ir::{print_dot, print_ron, print_text};
use hel_compiler::passes::pipeline::{OptLevel, Pipeline};
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
  hel ir examples/logreg_gd.hel --after parse --format dot | dot -Tsvg > gd.svg
  hel ir --list-passes")]
pub struct IrArgs {
    /// The .hel program.
    #[arg(required_unless_present = "list_passes")]
    pub file: Option<PathBuf>,
    /// Stop after this pass (`parse` = as written). Default: the whole pipeline.
    #[arg(long, value_name = "PASS")]
    pub after: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Override a `const` definition, e.g. `--set k=3` (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_set)]
    pub sets: Vec<(String, f64)>,
    /// List the passes in pipeline order and exit.
    #[arg(long)]
    pub list_passes: bool,
}

pub fn run(args: IrArgs) -> CmdResult {
    let pipeline = Pipeline::new(OptLevel::default());
    if args.list_passes {
        for (name, what) in pipeline.list() {
            println!("{name:<20} {what}");
        }
        return Ok(());
    }
    let Some(file) = args.file else {
        return Err(user_error("no input file"));
    };
    if let Some(after) = &args.after {
        if !pipeline.has(after) {
            let names: Vec<&str> = pipeline.list().iter().map(|(n, _)| *n).collect();
            return Err(user_error(format!(
                "unknown pass `{after}`; the passes are: {}",
                names.join(", ")
            )));
        }
    }
    let src = read_source(&file)?;
    let program = frontend(&src, &args.sets)?;
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
