//! `hel run`: the server side. Executes a compiled schedule with one of four evaluators:
//! `ckks` (encrypted, with the evaluation keys only), `plain` (the slot-level f64 reference on
//! CSV inputs), `debug` (both in lockstep with the secret key, stopping at the first node that
//! leaves its predicted error bound) and `cost` (a dry run that counts operations and
//! estimates time from a cost table).

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use hel_compiler::lower::bounds::with_bounds_for;
use hel_runtime::ckks::bootstrap::{BootstrapKeys, Bootstrapper};
use hel_runtime::ckks::SeededCiphertext;
use hel_runtime::client::{
    bootstrap_keys_from_bytes, check_key_set, EncryptedInputs, EncryptedOutputs, EvalKeys, FileKind,
};
use hel_runtime::exec::{
    execute, CkksEvaluator, CostEvaluator, CostReport, DebugEvaluator, Evaluator, PlainEvaluator,
    Refresher, RunOptions, RunResult, RunStats,
};
use hel_runtime::schedule::{unpack_outputs, Schedule, Tensor};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::common::user_error;
use super::cost_table::load_cost_table;
use super::errors::usage_error;
use super::flags::{parse_size, ThreadsArgs};
use super::keyfiles::{
    bootstrapper, context, declared_file_size, file_error, human_bytes, load_schedule,
    load_secret_key, read_client_file, BOOTSTRAP_KEYS_FILE,
};
use super::CmdResult;
use crate::io::atomic::{check_writable, write_new};
use crate::io::input_args::{assign, read_inputs, InputArg};
use crate::io::tensor_csv::{tensor_json, write_tensor};
use crate::io::terminal::escape_for_terminal;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EvaluatorKind {
    /// Encrypted execution with the evaluation keys (the server's job).
    Ckks,
    /// Slot-level f64 simulation on plaintext CSV inputs (--input).
    Plain,
    /// Encrypted and plaintext in lockstep, with the secret key: names the first node whose
    /// error exceeds the compiler's bound.
    Debug,
    /// Dry run: operation counts by kind and level, estimated time and memory.
    Cost,
}

#[derive(Args)]
#[command(
    after_help = "The ckks evaluator is what a server runs: it reads the evaluation keys \
and the encrypted inputs, never a secret key, and writes the encrypted outputs for `hel \
decrypt`. The plain evaluator runs the same schedule on plaintext CSV inputs (the inputs' \
slot-level reference) and prints the outputs. The debug evaluator needs everything (secret key \
and plaintext inputs too): it is for the data owner chasing a precision problem. The cost \
evaluator needs only the program.

A progress bar with ETA is drawn on stderr when it is a terminal; the timing summary follows.

A program compiled with `--refresh bootstrap` also needs --bootstrap-keys (keys/boot.keys): the \
server refreshes the model's state itself, the client uploads once and downloads once.

Examples:
  hel run prog.helc --eval-keys keys/eval.keys --inputs inputs.hct -o outputs.hct
  hel run nag.helc --eval-keys keys/eval.keys --bootstrap-keys keys/boot.keys \\
      --inputs inputs.hct -o outputs.hct
  hel run prog.helc --eval-keys keys/eval.keys --inputs inputs.hct -o outputs.hct --threads 2 --json
  hel run prog.helc --evaluator plain --input Z=z.csv
  hel run prog.helc --evaluator debug --eval-keys keys/eval.keys --inputs inputs.hct \\
      --secret-key keys/secret.key --input Z=z.csv
  hel run prog.helc --evaluator cost --threads 2"
)]
pub struct RunArgs {
    /// The compiled program (.helc).
    pub program: PathBuf,
    /// Which evaluator runs the schedule.
    #[arg(long, value_enum, default_value = "ckks")]
    pub evaluator: EvaluatorKind,
    /// The evaluation keys (from `hel keygen`; ckks and debug).
    #[arg(long, value_name = "FILE")]
    pub eval_keys: Option<PathBuf>,
    /// The encrypted inputs (from `hel encrypt`; ckks and debug).
    #[arg(long, value_name = "FILE")]
    pub inputs: Option<PathBuf>,
    /// The bootstrapping keys (DIR/boot.keys from `hel keygen`), for a program that
    /// bootstraps (`hel compile --refresh bootstrap`; ckks and debug).
    #[arg(long, value_name = "FILE")]
    pub bootstrap_keys: Option<PathBuf>,
    /// Where to write the encrypted outputs (ckks and debug), or the plain evaluator's outputs
    /// as CSV (standard output if absent).
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Plaintext input tensors, NAME=FILE or NAME[i]=FILE (plain and debug).
    #[arg(long = "input", value_name = "NAME=FILE", value_parser = crate::io::input_args::parse_input)]
    pub plain_inputs: Vec<InputArg>,
    /// The secret key (debug only; the ckks evaluator refuses it).
    #[arg(long, value_name = "FILE")]
    pub secret_key: Option<PathBuf>,
    #[command(flatten)]
    pub threads: ThreadsArgs,
    /// Memory the run may use. A program whose keys, inputs and least working set (`hel
    /// compile --json`: resources.server_peak_bytes) exceed it is refused before anything is
    /// loaded; within it, the scheduler prefers operations that free memory over the critical
    /// path once the live ciphertexts pass it. A size: bytes, or a number with K, M, G or T
    /// (1024-based; `B`/`iB` optional), e.g. `512M`, `8G`, `1.5GiB`. Default: refuse beyond
    /// the memory available, schedule for speed.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<usize>,
    /// Cost table from `hel calibrate` (default: the calibrated table if one exists, else the
    /// table shipped with hel).
    #[arg(long, value_name = "FILE")]
    pub cost_table: Option<PathBuf>,
    /// Print one JSON object (timings, counts) on stdout.
    #[arg(long)]
    pub json: bool,
    /// Debug evaluator test hook: add DELTA to every slot of node ID's ciphertext.
    #[arg(long, value_name = "ID=DELTA", hide = true, value_parser = parse_injection)]
    pub inject_error: Option<(u32, f64)>,
}

fn parse_injection(s: &str) -> Result<(u32, f64), String> {
    let (id, delta) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not ID=DELTA"))?;
    let id = id
        .trim()
        .parse()
        .map_err(|_| format!("`{id}` is not a node id"))?;
    let delta = delta
        .trim()
        .parse()
        .map_err(|_| format!("`{delta}` is not a number"))?;
    Ok((id, delta))
}

/// A required path for this evaluator, or a usage error naming the flag ([`check_flags`] has
/// already refused a missing one).
fn need<'a>(p: &'a Option<PathBuf>, flag: &str, kind: &str) -> miette::Result<&'a Path> {
    p.as_deref()
        .ok_or_else(|| usage_error(format!("the {kind} evaluator needs {flag}")))
}

/// The flags each evaluator needs and refuses, checked before any file is read: a missing or
/// refused flag is a usage error (exit code 2).
fn check_flags(args: &RunArgs) -> CmdResult {
    let (name, forbidden): (&str, &[(bool, &str)]) = match args.evaluator {
        EvaluatorKind::Ckks => (
            "ckks",
            &[
                (
                    args.secret_key.is_some(),
                    "--secret-key (the server never reads it)",
                ),
                (!args.plain_inputs.is_empty(), "--input (plaintext inputs)"),
            ],
        ),
        EvaluatorKind::Plain => (
            "plain",
            &[
                (args.secret_key.is_some(), "--secret-key"),
                (args.eval_keys.is_some(), "--eval-keys"),
                (args.inputs.is_some(), "--inputs"),
                (args.bootstrap_keys.is_some(), "--bootstrap-keys"),
                (args.cost_table.is_some(), "--cost-table"),
            ],
        ),
        EvaluatorKind::Debug => ("debug", &[(args.cost_table.is_some(), "--cost-table")]),
        EvaluatorKind::Cost => (
            "cost",
            &[
                (args.secret_key.is_some(), "--secret-key"),
                (args.out.is_some(), "--out"),
                (!args.plain_inputs.is_empty(), "--input"),
                (args.bootstrap_keys.is_some(), "--bootstrap-keys"),
                (args.eval_keys.is_some(), "--eval-keys"),
                (args.inputs.is_some(), "--inputs"),
            ],
        ),
    };
    if let Some((_, flag)) = forbidden.iter().find(|(given, _)| *given) {
        return Err(usage_error(format!(
            "the {name} evaluator does not take {flag}"
        )));
    }
    let (keys, inputs, out, sk) = (
        args.eval_keys.is_some(),
        args.inputs.is_some(),
        args.out.is_some(),
        args.secret_key.is_some(),
    );
    // The plaintext inputs (`--input`) are required once the schedule is read: a program
    // without inputs needs none (`plain_tensors`).
    let required: &[(bool, &str)] = match args.evaluator {
        EvaluatorKind::Ckks => &[
            (keys, "--eval-keys FILE"),
            (inputs, "--inputs FILE"),
            (out, "-o FILE (the encrypted outputs)"),
        ],
        EvaluatorKind::Plain => &[],
        EvaluatorKind::Debug => &[
            (sk, "--secret-key FILE"),
            (keys, "--eval-keys FILE"),
            (inputs, "--inputs FILE"),
        ],
        EvaluatorKind::Cost => &[],
    };
    if let Some((_, flag)) = required.iter().find(|(given, _)| !*given) {
        return Err(usage_error(format!("the {name} evaluator needs {flag}")));
    }
    if args.inject_error.is_some() && args.evaluator != EvaluatorKind::Debug {
        return Err(usage_error("--inject-error is for the debug evaluator"));
    }
    Ok(())
}

pub fn run(args: RunArgs) -> CmdResult {
    check_flags(&args)?;
    let schedule = load_schedule(&args.program)?;
    check_bootstrap_flag(&args, &schedule)?;
    match args.evaluator {
        EvaluatorKind::Ckks => run_ckks(&args, &schedule),
        EvaluatorKind::Plain => run_plain(&args, &schedule),
        EvaluatorKind::Debug => run_debug(&args, &schedule),
        EvaluatorKind::Cost => run_cost(&args, &schedule),
    }
}

/// The files a command reads, which its output may never replace.
fn read_paths(args: &RunArgs) -> Vec<&Path> {
    let mut v = vec![args.program.as_path()];
    v.extend(args.eval_keys.as_deref());
    v.extend(args.bootstrap_keys.as_deref());
    v.extend(args.inputs.as_deref());
    v.extend(args.secret_key.as_deref());
    v.extend(args.plain_inputs.iter().map(|i| i.file.as_path()));
    v
}

/// Runs the scheduler with a progress bar on stderr (drawn only on a terminal).
fn run_with_progress<E: Evaluator>(
    schedule: &Schedule,
    evaluator: &E,
    args: &RunArgs,
) -> miette::Result<RunResult<E::Value>> {
    let bar = ProgressBar::new(schedule.nodes.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg} [{elapsed_precise}] {wide_bar} {pos}/{len} ops (ETA {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(format!("running {}", escape_for_terminal(&schedule.name)));
    let progress = |done: usize, _total: usize| bar.set_position(done as u64);
    let options = RunOptions {
        threads: args.threads.threads,
        progress: Some(&progress),
        memory_limit: args.memory_limit,
    };
    let result = execute(schedule, evaluator, &options);
    bar.finish_and_clear();
    result.map_err(|e| user_error(format!("{}: {e}", args.program.display())))
}

/// Loads the evaluation keys and the encrypted inputs, checked against the program and against
/// each other (one key set).
fn load_server_files(
    args: &RunArgs,
    schedule: &Schedule,
    ctx: &hel_runtime::ckks::Context,
    kind: &str,
) -> miette::Result<(EvalKeys, Vec<SeededCiphertext>, Vec<Vec<Tensor>>)> {
    let keys_path = need(&args.eval_keys, "--eval-keys FILE", kind)?;
    let inputs_path = need(&args.inputs, "--inputs FILE", kind)?;
    let keys = EvalKeys::from_bytes(
        schedule,
        ctx,
        &read_client_file(schedule, keys_path, FileKind::EvalKeys)?,
    )
    .map_err(|e| file_error(keys_path, e))?;
    let enc = EncryptedInputs::from_bytes(
        schedule,
        ctx,
        &read_client_file(schedule, inputs_path, FileKind::EncryptedInputs)?,
    )
    .map_err(|e| file_error(inputs_path, e))?;
    enc.check_keys(&keys)
        .map_err(|e| file_error(inputs_path, e))?;
    Ok((keys, enc.ciphertexts, enc.public))
}

/// `--bootstrap-keys` is given exactly when the ckks or debug evaluator runs a program that
/// bootstraps: a usage error otherwise, before any key is read.
fn check_bootstrap_flag(args: &RunArgs, schedule: &Schedule) -> CmdResult {
    let runs_keys = matches!(args.evaluator, EvaluatorKind::Ckks | EvaluatorKind::Debug);
    match (schedule.bootstrap.is_some(), args.bootstrap_keys.is_some()) {
        (true, false) if runs_keys => Err(usage_error(format!(
            "this program bootstraps ({} bootstrap(s)): give --bootstrap-keys FILE (hel keygen \
             wrote DIR/{BOOTSTRAP_KEYS_FILE})",
            schedule.bootstraps().count()
        ))),
        (false, true) => Err(usage_error(
            "this program does not bootstrap: it takes no --bootstrap-keys",
        )),
        _ => Ok(()),
    }
}

/// The bootstrapping circuit and keys of a program that bootstraps (`None` for one that does
/// not, which refuses the flag), checked against the evaluation keys' key set: keys of
/// another secret key would bootstrap into noise.
fn load_bootstrap(
    args: &RunArgs,
    schedule: &Schedule,
    ctx: &hel_runtime::ckks::Context,
    keys: &EvalKeys,
    boot: Option<Bootstrapper>,
) -> miette::Result<Option<(Bootstrapper, BootstrapKeys)>> {
    let Some(boot) = boot else {
        return Ok(None);
    };
    // Checked with the flags (`check_bootstrap_flag`).
    let path = need(&args.bootstrap_keys, "--bootstrap-keys FILE", "ckks")?;
    let bytes = read_client_file(schedule, path, FileKind::BootstrapKeys)?;
    let (bkeys, key_id) =
        bootstrap_keys_from_bytes(schedule, ctx, &boot, &bytes).map_err(|e| file_error(path, e))?;
    check_key_set("bootstrapping keys", key_id, "evaluation keys", keys.key_id)
        .map_err(|e| file_error(path, e))?;
    Ok(Some((boot, bkeys)))
}

/// `evaluator` with the refresher of `boot`, for a program that bootstraps.
fn with_bootstrap<'a>(
    args: &RunArgs,
    evaluator: CkksEvaluator<'a>,
    boot: &'a Option<(Bootstrapper, BootstrapKeys)>,
) -> miette::Result<CkksEvaluator<'a>> {
    match boot {
        Some((b, k)) => evaluator
            .with_refresher(Refresher::new(b, k))
            .map_err(|e| input_error(args, e)),
        None => Ok(evaluator),
    }
}

/// Refuses a run whose keys, inputs and least working set exceed `--memory-limit` or the
/// memory available, before any of it is loaded. A program that bootstraps adds its
/// bootstrapping keys (the file's size, twice: 64-bit words in memory against bit-packed
/// residues on disk) and what bootstrapping keeps (`Bootstrapper::run_memory_bytes`).
fn check_memory(args: &RunArgs, schedule: &Schedule, boot: Option<&Bootstrapper>) -> CmdResult {
    // Files are counted at the size their envelopes declare where that is their size; one
    // that is not is refused, for its length, when it is read.
    let boot_keys = args
        .bootstrap_keys
        .as_deref()
        .and_then(|p| declared_file_size(p, FileKind::BootstrapKeys))
        .map_or(0, |len| len.saturating_mul(2));
    let boot_run = boot.map_or(0, |b| b.run_memory_bytes() as u64);
    // A key file may hold more keys than this program's (keys serve every program of the
    // same parameters): what it holds beyond them (and beyond its header) is in memory too,
    // at the program's own ratio of memory to file bytes.
    let resources = schedule.resources();
    let more_keys = args
        .eval_keys
        .as_deref()
        .and_then(|p| declared_file_size(p, FileKind::EvalKeys))
        .map_or(0, |len| {
            let beyond = len.saturating_sub(resources.eval_key_bytes + (64 << 10));
            let ratio = resources.eval_key_memory as f64 / resources.eval_key_bytes.max(1) as f64;
            (beyond as f64 * ratio.max(1.0)) as u64
        });
    let need = resources
        .server_peak_bytes
        .saturating_add(boot_keys)
        .saturating_add(boot_run)
        .saturating_add(more_keys);
    hel::memory::check(
        &format!("running {}", schedule.name),
        need,
        args.memory_limit.map(|l| l as u64),
        hel::memory::SMALLER_PROGRAM,
    )
    .map_err(user_error)
}

fn run_ckks(args: &RunArgs, schedule: &Schedule) -> CmdResult {
    let out = need(&args.out, "-o FILE (the encrypted outputs)", "ckks")?;
    check_writable(out, args.force, &read_paths(args)).map_err(user_error)?;
    let boot = bootstrapper(schedule, &args.program)?;
    check_memory(args, schedule, boot.as_ref())?;
    let ctx = context(schedule, &args.program)?;
    let (keys, cts, public) = load_server_files(args, schedule, &ctx, "ckks")?;
    let boot = load_bootstrap(args, schedule, &ctx, &keys, boot)?;
    let table = load_cost_table(args.cost_table.as_deref())?;
    let evaluator =
        CkksEvaluator::new_seeded(&ctx, schedule, &keys.relin, &keys.galois, cts, public)
            .map_err(|e| input_error(args, e))?
            .with_cost_table(table.table);
    let evaluator = with_bootstrap(args, evaluator, &boot)?;
    let result = run_with_progress(schedule, &evaluator, args)?;
    let outputs = EncryptedOutputs::new(schedule, keys.key_id, result.outputs);
    let bytes = outputs.to_bytes(&ctx).map_err(user_error)?;
    write_new(out, &bytes, args.force, &read_paths(args)).map_err(user_error)?;
    print_summary(args, schedule, &result.stats, Some((out, bytes.len())));
    Ok(())
}

/// An input the evaluator refuses (level, scale, shape), named by the inputs file.
fn input_error(args: &RunArgs, e: hel_runtime::exec::ExecError) -> miette::Report {
    let file = args.inputs.as_deref().unwrap_or(args.program.as_path());
    user_error(format!("{}: {e}", file.display()))
}

/// Reads `--input` CSV files for the plain and debug evaluators.
fn plain_tensors(
    args: &RunArgs,
    schedule: &Schedule,
    kind: &str,
) -> miette::Result<Vec<Vec<Tensor>>> {
    // A program without inputs (constants only) runs without `--input`.
    if args.plain_inputs.is_empty() && !schedule.inputs.is_empty() {
        return Err(usage_error(format!(
            "the {kind} evaluator needs the plaintext inputs: --input NAME=FILE for each"
        )));
    }
    let given = assign(schedule, &args.plain_inputs).map_err(user_error)?;
    read_inputs(schedule, &given).map_err(user_error)
}

fn run_plain(args: &RunArgs, schedule: &Schedule) -> CmdResult {
    if let Some(out) = &args.out {
        check_writable(out, args.force, &read_paths(args)).map_err(user_error)?;
    }
    let tensors = plain_tensors(args, schedule, "plain")?;
    let evaluator = PlainEvaluator::new(schedule, &tensors).map_err(user_error)?;
    let result = run_with_progress(schedule, &evaluator, args)?;
    let outputs = unpack_outputs(schedule, |v| result.output(v).map(Vec::as_slice));
    let text = if args.json {
        let map: serde_json::Map<String, serde_json::Value> = schedule
            .outputs
            .iter()
            .zip(&outputs)
            .map(|(o, t)| (o.name.clone(), tensor_json(t)))
            .collect();
        let v = json!({
            "evaluator": "plain",
            "outputs": map,
            "stats": stats_json(&result.stats),
        });
        format!("{v}\n")
    } else {
        let mut s = String::new();
        for (o, t) in schedule.outputs.iter().zip(&outputs) {
            if outputs.len() != 1 {
                s.push_str(&format!("# {}\n", escape_for_terminal(&o.name)));
            }
            write_tensor(&mut s, t);
        }
        s
    };
    match &args.out {
        Some(out) => {
            write_new(out, text.as_bytes(), args.force, &read_paths(args)).map_err(user_error)?;
            eprintln!("wrote {}", out.display());
        }
        None => print!("{text}"),
    }
    if !args.json {
        eprintln!("{}", summary_line(&result.stats));
    }
    Ok(())
}

fn run_debug(args: &RunArgs, schedule: &Schedule) -> CmdResult {
    if let Some(out) = &args.out {
        check_writable(out, args.force, &read_paths(args)).map_err(user_error)?;
    }
    let sk_path = need(&args.secret_key, "--secret-key FILE", "debug")?;
    let boot = bootstrapper(schedule, &args.program)?;
    check_memory(args, schedule, boot.as_ref())?;
    let tensors = plain_tensors(args, schedule, "debug")?;
    let ctx = context(schedule, &args.program)?;
    let sk = load_secret_key(schedule, &ctx, sk_path)?;
    let (keys, cts, public) = load_server_files(args, schedule, &ctx, "debug")?;
    keys.check_secret_key(&ctx, &sk)
        .map_err(|e| file_error(sk_path, e))?;
    let boot = load_bootstrap(args, schedule, &ctx, &keys, boot)?;
    let ckks = CkksEvaluator::new_seeded(&ctx, schedule, &keys.relin, &keys.galois, cts, public)
        .map_err(|e| input_error(args, e))?;
    let ckks = with_bootstrap(args, ckks, &boot)?;
    let plain = PlainEvaluator::new(schedule, &tensors).map_err(user_error)?;
    let mut evaluator = DebugEvaluator::new(ckks, plain, &sk);
    if let Some((node, delta)) = args.inject_error {
        evaluator = evaluator.with_injected_error(node, delta);
    }
    // Checked against the bounds predicted on these inputs where they exceed the compiled
    // ones (the compiler's come from random samples; this data is what runs).
    let bounded = with_bounds_for(schedule, &tensors);
    let result = run_with_progress(&bounded, &evaluator, args)?;
    let checked = bounded.nodes.iter().filter(|n| n.bound.is_finite()).count();
    eprintln!(
        "debug: all {checked} checked node(s) within the compiler's error bounds ({} nodes)",
        schedule.nodes.len()
    );
    let written = match &args.out {
        Some(out) => {
            let values = result.outputs.into_iter().map(|(v, d)| (v, d.ct)).collect();
            let bytes = EncryptedOutputs::new(schedule, keys.key_id, values)
                .to_bytes(&ctx)
                .map_err(user_error)?;
            write_new(out, &bytes, args.force, &read_paths(args)).map_err(user_error)?;
            Some((out.as_path(), bytes.len()))
        }
        None => None,
    };
    print_summary(args, schedule, &result.stats, written);
    Ok(())
}

fn run_cost(args: &RunArgs, schedule: &Schedule) -> CmdResult {
    let table = load_cost_table(args.cost_table.as_deref())?;
    let evaluator = CostEvaluator::new(schedule, table.table).map_err(user_error)?;
    let result = run_with_progress(schedule, &evaluator, args)?;
    let report = evaluator.report().map_err(user_error)?;
    let threads = args.threads.count();
    // A program that bootstraps also holds its bootstrapping keys in memory on the server.
    let boot_key_bytes = bootstrapper(schedule, &args.program)?.map(|b| b.key_memory_bytes());
    if args.json {
        let v = json!({
            "evaluator": "cost",
            "cost_table": table.source,
            "threads": threads,
            "log_n": report.log_n,
            "ops": report.ops,
            "plaintext_encodings": report.plaintext_encodings,
            "seconds_by_op": report.seconds_by_op,
            "work_seconds": report.work_seconds,
            "critical_path_seconds": report.critical_path_seconds,
            "estimated_seconds": report.estimated_seconds(threads),
            "peak_bytes": result.stats.peak_bytes,
            "bootstraps": schedule.bootstraps().count(),
            "bootstrap_key_memory_bytes": boot_key_bytes,
        });
        println!("{v}");
        return Ok(());
    }
    if let Some(b) = boot_key_bytes {
        println!(
            "{} bootstrap(s), priced whole; the bootstrapping keys take {} in memory",
            schedule.bootstraps().count(),
            human_bytes(b)
        );
    }
    print_cost(
        schedule,
        &report,
        &table.source,
        threads,
        result.stats.peak_bytes,
    );
    Ok(())
}

fn print_cost(schedule: &Schedule, r: &CostReport, source: &str, threads: usize, peak: usize) {
    println!(
        "{}: {} nodes, N = 2^{}, cost table: {source}",
        escape_for_terminal(&schedule.name),
        schedule.nodes.len(),
        r.log_n
    );
    let levels: std::collections::BTreeSet<u32> =
        r.ops.values().flat_map(|l| l.keys().copied()).collect();
    let mut header = format!("{:<14} {:>8}", "operation", "total");
    for l in levels.iter().rev() {
        header.push_str(&format!(" {:>6}", format!("L{l}")));
    }
    header.push_str(&format!(" {:>10}", "est. time"));
    println!("{header}");
    for (op, by_level) in &r.ops {
        let total: u64 = by_level.values().sum();
        let mut line = format!("{op:<14} {total:>8}");
        for l in levels.iter().rev() {
            let c = by_level.get(l).copied().unwrap_or(0);
            line.push_str(&format!(
                " {:>6}",
                if c == 0 { "-".into() } else { c.to_string() }
            ));
        }
        let s = r.seconds_by_op.get(op).copied().unwrap_or(0.0);
        line.push_str(&format!(" {:>9.3}s", s));
        println!("{line}");
    }
    println!(
        "plaintext encodings: {}; work {:.2} s (one thread), critical path {:.2} s; \
         estimated {:.2} s on {threads} thread(s); peak live ciphertexts {}",
        r.plaintext_encodings,
        r.work_seconds,
        r.critical_path_seconds,
        r.estimated_seconds(threads),
        human_bytes(peak)
    );
}

fn stats_json(s: &RunStats) -> serde_json::Value {
    json!({
        "seconds": s.seconds,
        "threads": s.threads,
        "peak_bytes": s.peak_bytes,
        "ops": s.ops,
        "op_seconds": s.op_seconds,
        "hoisted_groups": s.hoisted_groups,
    })
}

fn summary_line(s: &RunStats) -> String {
    let ops: u64 = s.ops.values().sum();
    format!(
        "{ops} operations in {:.2} s on {} thread(s); peak live values {}",
        s.seconds,
        s.threads,
        human_bytes(s.peak_bytes)
    )
}

/// Prints the timing summary (text, or one JSON object with `--json`).
fn print_summary(
    args: &RunArgs,
    schedule: &Schedule,
    stats: &RunStats,
    written: Option<(&Path, usize)>,
) {
    if args.json {
        let v = json!({
            "program": schedule.name,
            "program_hash": schedule.program_hash,
            "evaluator": match args.evaluator {
                EvaluatorKind::Ckks => "ckks",
                EvaluatorKind::Plain => "plain",
                EvaluatorKind::Debug => "debug",
                EvaluatorKind::Cost => "cost",
            },
            "output": written.map(|(p, _)| p.display().to_string()),
            "output_bytes": written.map(|(_, b)| b),
            "stats": stats_json(stats),
        });
        println!("{v}");
        return;
    }
    if let Some((p, b)) = written {
        println!("wrote {} ({})", p.display(), human_bytes(b));
    }
    println!("{}", summary_line(stats));
    let mut by_time: Vec<(&String, &f64)> = stats.op_seconds.iter().collect();
    by_time.sort_by(|a, b| b.1.total_cmp(a.1));
    let total: f64 = stats.op_seconds.values().sum();
    for (op, s) in by_time.iter().take(6) {
        let count = stats.ops.get(*op).copied().unwrap_or(0);
        println!(
            "  {op:<14} {count:>8} × {:>9.3} ms = {:>8.3} s ({:>4.1}%)",
            **s * 1000.0 / count.max(1) as f64,
            s,
            100.0 * **s / total.max(1e-12)
        );
    }
}
