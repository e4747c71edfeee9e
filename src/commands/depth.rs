//! `hel depth`: the depth report — total and per-output depth, depth per loop iteration, the
//! critical path with source locations, operation counts, and a table after each pass.

use super::common::{diagnostic, frontend, read_source, with_rounds_help};
use super::flags::{MaxLogNArgs, OptArgs, PrecisionArgs, SetArgs};
use super::CmdResult;
use clap::Args;
use hel::memory::human_bytes;
use hel_compiler::analysis::client_work::ClientWork;
use hel_compiler::analysis::{analyze, Analysis};
use hel_compiler::lower::report::CtReport;
use hel_compiler::lower::LowerError;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Args)]
#[command(after_help = "Examples:
  hel depth examples/logreg_gd.hel
  hel depth examples/logreg_nag.hel -O1 --set k=32
  hel depth examples/logreg_gd.hel --client-precompute off --json
  hel depth examples/ridge.hel --compare
  hel depth examples/logreg_nag.hel --set k=4 --svg nag.svg
  hel depth examples/logreg_nag.hel --set k=32 --refresh bootstrap")]
pub struct DepthArgs {
    /// The .hel program.
    pub file: PathBuf,
    #[command(flatten)]
    pub opt: OptArgs,
    #[command(flatten)]
    pub set: SetArgs,
    /// Print one JSON object instead of the tables.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub precision: PrecisionArgs,
    #[command(flatten)]
    pub max_log_n: MaxLogNArgs,
    #[command(flatten)]
    pub refresh: super::bootstrapped::RefreshArgs,
    /// Compile at -O0, -O1 and -O2 and show what each level buys side by side (ciphertext
    /// depth, ring, estimated server work, keys, upload, client work) instead of the report.
    #[arg(long)]
    pub compare: bool,
    /// Also draw the ciphertext schedule by level as SVG (as `hel compile --svg`): one row
    /// per level, a box per step (aggregated by level and kind for large programs), the depth
    /// path in red.
    #[arg(long, value_name = "FILE.svg", conflicts_with = "compare")]
    pub svg: Option<PathBuf>,
    /// Replace the --svg file if it exists.
    #[arg(long, requires = "svg")]
    pub force: bool,
}

#[derive(Serialize)]
struct PassRow {
    name: String,
    tensor_depth: u32,
    ops: BTreeMap<String, usize>,
}

impl From<hel_compiler::driver::PassRow> for PassRow {
    fn from(r: hel_compiler::driver::PassRow) -> Self {
        PassRow {
            name: r.name,
            tensor_depth: r.tensor_depth,
            ops: r.ops,
        }
    }
}

#[derive(Serialize)]
struct ExtraInputs {
    count: usize,
    values: usize,
    inputs: Vec<ExtraInput>,
}

#[derive(Serialize)]
struct ExtraInput {
    name: String,
    computes: String,
    values: usize,
}

#[derive(Serialize)]
struct Report {
    file: String,
    opt_level: u8,
    #[serde(flatten)]
    analysis: Analysis,
    passes: Vec<PassRow>,
    extra_inputs: ExtraInputs,
    /// What the client computes and uploads beyond its data.
    client: ClientWork,
    /// Decisions the compiler took about the pipeline.
    notes: Vec<String>,
    /// Ciphertext-level facts: the full report, or the depth alone when no parameter set holds
    /// the circuit.
    #[serde(flatten)]
    ciphertext: Ciphertext,
}

/// The ciphertext level of the report, by how far the lowering got.
#[derive(Serialize)]
#[serde(untagged)]
enum Ciphertext {
    /// Lowered: depth, parameters, keys, upload, resources, operations.
    Lowered(Box<CtReport>),
    /// Laid out and managed, but no parameter set holds it (too deep for the 128-bit budget,
    /// or for `--params`): the depth, `params: null` and why.
    NoParams {
        depth: u32,
        params: Option<()>,
        params_error: ErrorReport,
    },
    /// Not lowered (an operation the lowering does not implement): no depth.
    NotLowered {
        depth: Option<u32>,
        params: Option<()>,
        lower_error: ErrorReport,
    },
}

/// A compile error in the report: its stable code and its message.
#[derive(Serialize)]
pub(super) struct ErrorReport {
    pub(super) code: &'static str,
    pub(super) message: String,
}

impl ErrorReport {
    pub(super) fn new(d: &hel_compiler::Diagnostic) -> Self {
        ErrorReport {
            code: d.code.as_str(),
            message: d.message.clone(),
        }
    }
}

pub fn run(args: DepthArgs) -> CmdResult {
    let bootstrap = args.refresh.bootstrap()?;
    if args.compare {
        if bootstrap {
            return Err(super::errors::usage_error(
                "--compare compares single circuits: it takes no --refresh bootstrap",
            ));
        }
        return super::depth_compare::run(&args);
    }
    if let Some(svg) = &args.svg {
        crate::io::atomic::check_writable(svg, args.force, &[&args.file])
            .map_err(super::common::user_error)?;
    }
    if bootstrap && run_bootstrapped(&args, true)? {
        return Ok(());
    }
    let src = read_source(&args.file)?;
    let log = |name: &str, p: &hel_compiler::ir::Program| {
        let a = analyze(p);
        eprintln!(
            "[pass] {name:<18} depth {:>3}  nodes {:>6}",
            a.tensor_depth, a.nodes
        );
    };
    // The schedule `hel compile` keeps, where it compiles: its driver may keep a lower level's
    // schedule or a variant of this level's (a decaying average is depth 6 in the -O2
    // pipeline and 0 with its scalings merged), and the report must be that one.
    let compile_options = hel_compiler::Options {
        sets: args.set.sets.clone(),
        passes: args.opt.options(),
        precision_bits: args.precision.precision,
        params: None,
        max_log_n: args.max_log_n.max_log_n,
        raise_scale: true,
        keep_best: true,
        limits: hel_compiler::Limits::DEFAULT,
        ..hel_compiler::Options::default()
    };
    let mut logged = log;
    if let Ok(c) = hel_compiler::driver::compile_logged(&src, &compile_options, &mut logged) {
        for note in &c.notes {
            eprintln!("note: {note}");
        }
        return emit(&args, compiled_report(&args, &src, c)?);
    }
    // It does not compile: this level's pipeline, and as far as the lowering gets.
    let program = frontend(&src, &args.set.sets)?;
    let optimized =
        hel_compiler::driver::optimize_program(program, args.opt.options(), &mut |_, _| {})
            .map_err(diagnostic)?;
    for note in &optimized.notes {
        eprintln!("note: {note}");
    }
    let program = optimized.program;
    let mut rows: Vec<PassRow> = optimized.passes.into_iter().map(PassRow::from).collect();
    let options = hel_compiler::Options {
        sets: args.set.sets.clone(),
        passes: args.opt.options(),
        precision_bits: args.precision.precision,
        params: None,
        fit_special_primes: false,
        max_log_n: args.max_log_n.max_log_n,
        raise_scale: true,
        keep_best: true,
        limits: hel_compiler::Limits::DEFAULT,
        ..hel_compiler::Options::default()
    };
    let ciphertext = match hel_compiler::driver::lower_checked_or_depth(&program, &options) {
        Ok((lowered, _)) => {
            let r = hel_compiler::lower::report::report(&lowered);
            if let Some(svg) = &args.svg {
                let picture = hel::pictures::schedule_svg(&lowered.schedule);
                crate::io::atomic::write_new(svg, picture.as_bytes(), args.force, &[&args.file])
                    .map_err(super::common::user_error)?;
                eprintln!("wrote {} ({} bytes)", svg.display(), picture.len());
            }
            if let Some(w) = r.warning() {
                eprintln!("{w}");
            }
            // Lowering leaves the tensor IR as it is; its row shows the ciphertext ops.
            rows.push(PassRow {
                name: "lower".into(),
                tensor_depth: analyze(&program).tensor_depth,
                ops: r.ops.clone(),
            });
            Ciphertext::Lowered(Box::new(r))
        }
        Err(LowerError {
            diagnostic,
            depth: Some(_),
        }) if args.refresh.falls_back(&diagnostic, &src, &args.set.sets) => {
            eprintln!(
                "note: {}; --refresh auto places bootstraps",
                diagnostic.message
            );
            return run_bootstrapped(&args, false).map(|_| ());
        }
        Err(LowerError {
            diagnostic,
            depth: Some(depth),
        }) => {
            let diagnostic = with_rounds_help(diagnostic, &src, &args.set.sets);
            eprintln!(
                "note: ciphertext depth {depth}, but no parameter set holds it: {}",
                diagnostic.render_plain()
            );
            Ciphertext::NoParams {
                depth,
                params: None,
                params_error: ErrorReport::new(&diagnostic),
            }
        }
        Err(LowerError {
            diagnostic,
            depth: None,
        }) => {
            eprintln!(
                "note: no ciphertext-level report: {}",
                diagnostic.render_plain()
            );
            Ciphertext::NotLowered {
                depth: None,
                params: None,
                lower_error: ErrorReport::new(&diagnostic),
            }
        }
    };
    let analysis = analyze(&program);
    let extra: Vec<ExtraInput> = program
        .derived
        .iter()
        .map(|d| ExtraInput {
            name: d.name.clone(),
            computes: d.description.clone(),
            values: program.input(&d.name).map_or(0, |i| i.ty.shape.len()),
        })
        .collect();
    let report = Report {
        file: src.short_name().to_string(),
        opt_level: args.opt.level,
        analysis,
        passes: rows,
        extra_inputs: ExtraInputs {
            count: extra.len(),
            values: extra.iter().map(|e| e.values).sum(),
            inputs: extra,
        },
        client: ClientWork::of(&program),
        notes: optimized.notes,
        ciphertext,
    };
    emit(&args, report)
}

/// The report of a compilation `hel compile` would make: its pass table (the pipeline of the
/// level it kept), its schedule, its notes.
fn compiled_report(
    args: &DepthArgs,
    src: &hel_compiler::SourceFile,
    c: hel_compiler::Compiled,
) -> Result<Report, miette::Report> {
    let r = hel_compiler::lower::report::report(&c.lowered);
    if let Some(svg) = &args.svg {
        let picture = hel::pictures::schedule_svg(&c.lowered.schedule);
        crate::io::atomic::write_new(svg, picture.as_bytes(), args.force, &[&args.file])
            .map_err(super::common::user_error)?;
        eprintln!("wrote {} ({} bytes)", svg.display(), picture.len());
    }
    if let Some(w) = r.warning() {
        eprintln!("{w}");
    }
    let extra: Vec<ExtraInput> = c
        .program
        .derived
        .iter()
        .map(|d| ExtraInput {
            name: d.name.clone(),
            computes: d.description.clone(),
            values: c.program.input(&d.name).map_or(0, |i| i.ty.shape.len()),
        })
        .collect();
    Ok(Report {
        file: src.short_name().to_string(),
        opt_level: args.opt.level,
        analysis: analyze(&c.program),
        passes: c.passes.into_iter().map(PassRow::from).collect(),
        extra_inputs: ExtraInputs {
            count: extra.len(),
            values: extra.iter().map(|e| e.values).sum(),
            inputs: extra,
        },
        client: c.client,
        notes: c.notes,
        ciphertext: Ciphertext::Lowered(Box::new(r)),
    })
}

/// Prints `report` (JSON or text); a picture asked of a program without a schedule fails.
fn emit(args: &DepthArgs, report: Report) -> CmdResult {
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&report).map_err(super::common::user_error)?
        );
    } else {
        print!("{}", render(&report));
    }
    match (&args.svg, &report.ciphertext) {
        (Some(svg), Ciphertext::NoParams { .. } | Ciphertext::NotLowered { .. }) => {
            Err(super::common::user_error(format!(
                "{} not written: the program has no ciphertext schedule to draw (see above)",
                svg.display()
            )))
        }
        _ => Ok(()),
    }
}

fn render(r: &Report) -> String {
    use std::fmt::Write;
    let a = &r.analysis;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} at -O{}: tensor depth {}",
        r.file, r.opt_level, a.tensor_depth
    );
    for (name, d) in &a.outputs {
        let _ = writeln!(s, "  output {name}: depth {d}");
    }
    match &r.ciphertext {
        Ciphertext::Lowered(c) => {
            let _ = writeln!(
                s,
                "ciphertext depth {} (levels consumed): N = 2^{}, log2 PQ = {}, scale 2^{}, dnum {},\n  {} rotation key(s) ({:.1} MiB), {} input ciphertext(s) ({:.1} MiB upload), predicted error {:.1e}\n  {}",
                c.depth,
                c.params.log_n,
                c.params.log_q,
                c.params.log_scale,
                c.params.dnum,
                c.rotation_keys.count,
                c.rotation_keys.bytes as f64 / (1 << 20) as f64,
                c.input_ciphertexts,
                c.input_bytes as f64 / (1 << 20) as f64,
                c.predicted_error,
                c.explanation
            );
            let res = &c.resources;
            let _ = writeln!(
                s,
                "  evaluation keys {}, upload {}, server peak memory at least {}, key generation {}",
                human_bytes(res.eval_key_bytes),
                human_bytes(res.upload_bytes),
                human_bytes(res.server_peak_bytes),
                human_bytes(res.keygen_peak_bytes)
            );
        }
        Ciphertext::NoParams {
            depth,
            params_error,
            ..
        } => {
            let _ = writeln!(
                s,
                "ciphertext depth {depth} (levels consumed): no parameter set holds it ({}): {}",
                params_error.code, params_error.message
            );
        }
        Ciphertext::NotLowered { lower_error, .. } => {
            let _ = writeln!(
                s,
                "ciphertext depth unknown: not lowered ({}): {}",
                lower_error.code, lower_error.message
            );
        }
    }
    if !a.per_iteration.is_empty() {
        let its: Vec<String> = a.per_iteration.iter().map(u32::to_string).collect();
        let _ = writeln!(s, "  levels per iteration: {}", its.join(" "));
    }
    let _ = writeln!(s, "\ncritical path (levels added marked +):");
    for step in &a.critical_path {
        let it = if step.iteration.is_empty() {
            String::new()
        } else {
            format!(
                " [iter {}]",
                step.iteration
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(".")
            )
        };
        let _ = writeln!(
            s,
            "  {} {:>3}  {:<11} {}{it}",
            if step.adds_level { "+" } else { " " },
            step.depth,
            step.op,
            step.span
        );
    }
    if let Ciphertext::Lowered(c) = &r.ciphertext {
        render_level_path(&mut s, c);
    }
    let _ = writeln!(s, "\noperations:");
    for (op, n) in &a.ops {
        let _ = writeln!(s, "  {op:<12} {n}");
    }
    let _ = writeln!(
        s,
        "\n{:<20} {:>6} {:>8} {:>8}",
        "after pass", "depth", "products", "nodes"
    );
    for row in &r.passes {
        let products: usize = [
            "mul",
            "matvec",
            "matmul",
            "scale_cols",
            "scale_rows",
            "dot",
            "pow",
        ]
        .iter()
        .map(|k| row.ops.get(*k).copied().unwrap_or(0))
        .sum();
        let nodes: usize = row.ops.values().sum();
        let _ = writeln!(
            s,
            "{:<20} {:>6} {:>8} {:>8}",
            row.name, row.tensor_depth, products, nodes
        );
    }
    if r.extra_inputs.count > 0 {
        let _ = writeln!(
            s,
            "\nclient-precomputed inputs: {} ({} values)",
            r.extra_inputs.count, r.extra_inputs.values
        );
        for e in &r.extra_inputs.inputs {
            let _ = writeln!(s, "  {} = {}  ({} values)", e.name, e.computes, e.values);
        }
        let c = &r.client;
        let _ = writeln!(
            s,
            "client work: {} flops, {} extra values to encrypt ({:.2}x the {} values of the \
             encrypted data){}",
            c.flops,
            c.extra_values,
            c.extra_values as f64 / c.data_values.max(1) as f64,
            c.data_values,
            super::compile::extra_upload(c)
        );
    }
    for note in &r.notes {
        let _ = writeln!(s, "\nnote: {note}");
    }
    s
}

/// The ciphertext critical path: one line per level consumed, with the operation that
/// consumed it, so levels the layouts add (masks) are told apart from the program's products.
fn render_level_path(s: &mut String, c: &CtReport) {
    use std::fmt::Write;
    if c.level_path.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\nciphertext critical path ({} levels on the deepest output):",
        c.level_path.len()
    );
    for step in &c.level_path {
        let _ = writeln!(
            s,
            "  {:>3}  {:<21} {:<11} {}",
            step.level,
            step.kind,
            step.tensor_op,
            step.span.as_deref().unwrap_or("")
        );
    }
}

/// `--refresh bootstrap`: where the compiler places the bootstraps and what the rounds cost.
/// With `one_circuit`, a loop one round holds is not reported (`false`): the caller reports
/// the ordinary circuit, which `hel compile --refresh bootstrap` compiles for it.
fn run_bootstrapped(args: &DepthArgs, one_circuit: bool) -> Result<bool, miette::Report> {
    let src = read_source(&args.file)?;
    let options = hel_compiler::Options {
        sets: args.set.sets.clone(),
        passes: args.opt.options(),
        precision_bits: args.precision.precision,
        max_log_n: args.max_log_n.max_log_n,
        ..hel_compiler::Options::default()
    };
    let (b, report) = super::bootstrapped::compile(&src, &options, &args.refresh)?;
    if one_circuit && b.schedule.bootstraps().count() == 0 {
        eprintln!(
            "note: the whole loop fits one circuit ({} round(s), no bootstrap): reported \
             without the bootstrapping chain, as `hel compile` compiles it",
            report.round_sizes.len()
        );
        return Ok(false);
    }
    if let Some(svg) = &args.svg {
        let picture = hel::pictures::schedule_svg(&b.schedule);
        crate::io::atomic::write_new(svg, picture.as_bytes(), args.force, &[&args.file])
            .map_err(super::common::user_error)?;
        eprintln!("wrote {} ({} bytes)", svg.display(), picture.len());
    }
    if args.json {
        let mut json = serde_json::to_value(&report).map_err(super::common::user_error)?;
        if let Some(o) = json.as_object_mut() {
            o.insert("file".into(), serde_json::json!(src.name()));
            o.insert("opt_level".into(), serde_json::json!(args.opt.level));
        }
        println!("{json}");
    } else {
        println!(
            "{}: compiled with bootstraps (-O{})",
            src.name(),
            args.opt.level
        );
        for line in report.lines() {
            println!("{line}");
        }
    }
    Ok(true)
}
