//! `hel compile`: a `.hel` program to a schedule file (`.helc`) the client and server share.

use super::bootstrapped::RefreshArgs;
use super::common::{diagnostic, read_source, user_error, with_rounds_help};
use super::flags::{MaxLogNArgs, OptArgs, PrecisionArgs, SetArgs};
use super::CmdResult;
use clap::{Args, ValueEnum};
use hel::train::report::human_bytes;
use hel_compiler::driver::compile_logged;
use hel_runtime::ckks::CkksParams;
use hel_runtime::schedule::{limits, Schedule, ScheduleFormat};
use std::path::PathBuf;

#[derive(Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// Checksummed binary (postcard), what the other commands read.
    Binary,
    /// RON, readable and loadable by the other commands.
    Ron,
    /// A line-per-node listing for reading and diffing; write-only (no command loads it).
    Text,
}

#[derive(Args)]
#[command(after_help = "Examples:
  hel compile examples/poly.hel -o poly.helc
  hel compile examples/logreg_nag.hel -O2 --set k=6 -o nag.helc
  hel compile examples/logreg_gd.hel --format ron -o gd.ron --json
  hel compile examples/poly.hel --set n=16 --format text -o poly.txt
  hel compile examples/logreg_gd.hel --set k=2 -o gd.helc --svg gd.svg
  hel compile examples/logreg_nag.hel --set k=32 --refresh bootstrap -o nag32.helc")]
pub struct CompileArgs {
    /// The .hel program.
    pub file: PathBuf,
    /// Output schedule file.
    #[arg(short, long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub opt: OptArgs,
    #[command(flatten)]
    pub set: SetArgs,
    #[command(flatten)]
    pub precision: PrecisionArgs,
    /// Use these CKKS parameters (a RON `CkksParams` file) instead of choosing them.
    #[arg(long, value_name = "FILE.ron")]
    pub params: Option<PathBuf>,
    #[command(flatten)]
    pub max_log_n: MaxLogNArgs,
    #[command(flatten)]
    pub refresh: RefreshArgs,
    /// Output encoding. `text` is for reading only: keygen, encrypt, run and decrypt cannot
    /// load it (compile again with binary or ron for them).
    #[arg(long, value_enum, default_value = "binary")]
    pub format: FormatArg,
    /// Also draw the ciphertext schedule by level as SVG: one row per level, a box per step
    /// (aggregated by level and kind for large programs), the depth path in red.
    #[arg(long, value_name = "FILE.svg")]
    pub svg: Option<PathBuf>,
    /// Replace the output file (and the --svg file) if it exists.
    #[arg(long)]
    pub force: bool,
    /// Print one JSON object with the ciphertext-level report.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: CompileArgs) -> CmdResult {
    let src = read_source(&args.file)?;
    if let Some(svg) = &args.svg {
        if svg == &args.out {
            return Err(super::errors::usage_error(
                "--svg and -o name the same file; give the picture its own name",
            ));
        }
        crate::io::atomic::check_writable(svg, args.force, &[&args.file]).map_err(user_error)?;
    }
    // Refused before compiling, not after.
    crate::io::atomic::check_writable(&args.out, args.force, &[&args.file]).map_err(user_error)?;
    let bootstrap = args.refresh.bootstrap()?;
    if args.refresh.refresh != super::bootstrapped::RefreshArg::None && args.params.is_some() {
        return Err(super::errors::usage_error(
            "--refresh bootstrap|auto runs on the bottom of the bootstrapping chain: it takes no \
             --params",
        ));
    }
    let params = match &args.params {
        Some(p) => {
            let text = hel::bounded::read_text_limited(p, limits::MAX_SMALL_FILE)
                .map_err(|e| user_error(format!("cannot read {}: {e}", p.display())))?;
            let params: CkksParams = ron::from_str(&text).map_err(|e| {
                user_error(format!("{}: not a CKKS parameter set: {e}", p.display()))
            })?;
            // Held to the 128-bit bound here, naming the file (the compiler checks it again).
            params
                .validate()
                .map_err(|e| user_error(format!("{}: {e}", p.display())))?;
            Some(params)
        }
        None => None,
    };
    let options = hel_compiler::Options {
        sets: args.set.sets.clone(),
        passes: args.opt.options(),
        precision_bits: args.precision.precision,
        params,
        max_log_n: args.max_log_n.max_log_n,
        raise_scale: true,
        keep_best: true,
        limits: hel_compiler::Limits::DEFAULT,
        ..hel_compiler::Options::default()
    };
    let mut fell_back = None;
    if bootstrap {
        let (b, report) = super::bootstrapped::compile(&src, &options, &args.refresh)?;
        if b.schedule.bootstraps().count() > 0 {
            return write_bootstrapped(&args, &b, &report);
        }
        // One round holds the whole loop: the chain's ring and keys would buy nothing.
        let note = format!(
            "the whole loop fits one circuit ({} round(s), no bootstrap): compiled without the \
             bootstrapping chain, so no bootstrapping keys are needed",
            report.round_sizes.len()
        );
        fell_back = Some(note);
    }
    let mut compiled =
        match compile_logged(&src, &options, &mut |name, _| eprintln!("[pass] {name}")) {
            Ok(c) => c,
            Err(d) if fell_back.is_none() && args.refresh.falls_back(&d, &src, &args.set.sets) => {
                eprintln!("note: {}; --refresh auto places bootstraps", d.message);
                let (b, report) = super::bootstrapped::compile(&src, &options, &args.refresh)?;
                return write_bootstrapped(&args, &b, &report);
            }
            Err(d) => return Err(diagnostic(with_rounds_help(d, &src, &args.set.sets))),
        };
    compiled.notes.extend(fell_back);
    let schedule = &compiled.lowered.schedule;
    let bytes = write_outputs(&args, schedule)?;
    let report = compiled.report();
    if let Some(w) = report.warning() {
        eprintln!("{w}");
    }
    for note in &compiled.notes {
        eprintln!("note: {note}");
    }
    if args.json {
        let mut json = serde_json::to_value(&report).map_err(user_error)?;
        if let Some(o) = json.as_object_mut() {
            o.insert(
                "client".into(),
                serde_json::to_value(compiled.client).map_err(user_error)?,
            );
            o.insert("notes".into(), serde_json::json!(compiled.notes));
            o.insert(
                "compiled_at".into(),
                serde_json::json!(format!("O{}", compiled.level as u8)),
            );
        }
        println!("{json}");
    } else {
        eprintln!("{}", report.explanation);
        let c = &compiled.client;
        if c.derived_inputs > 0 {
            eprintln!(
                "the client computes {} derived input(s): {} flops, {} extra values to encrypt \
                 ({:.2}x the encrypted data's {}){}",
                c.derived_inputs,
                c.flops,
                c.extra_values,
                c.extra_values as f64 / c.data_values.max(1) as f64,
                c.data_values,
                extra_upload(c)
            );
        }
        println!(
            "wrote {} ({} bytes): depth {}, N = 2^{}, log2 PQ = {}, {} input ciphertext(s), {} \
             rotation key(s)",
            args.out.display(),
            bytes.len(),
            report.depth,
            report.params.log_n,
            report.params.log_q,
            report.input_ciphertexts,
            report.rotation_keys.count
        );
    }
    Ok(())
}

/// Writes the schedule in the asked format (and the --svg picture); returns the bytes written.
fn write_outputs(args: &CompileArgs, schedule: &Schedule) -> miette::Result<Vec<u8>> {
    let bytes = match args.format {
        FormatArg::Binary => schedule.to_bytes(ScheduleFormat::Binary),
        FormatArg::Ron => schedule.to_bytes(ScheduleFormat::Ron),
        FormatArg::Text => Ok(schedule.to_text().into_bytes()),
    }
    .map_err(user_error)?;
    // Both files are staged before either is published: a picture that cannot be written
    // leaves no schedule behind.
    let inputs = [args.file.as_path()];
    let schedule_file = crate::io::atomic::stage(&args.out, &bytes, args.force, &inputs, false)
        .map_err(user_error)?;
    let picture = match &args.svg {
        Some(svg) => {
            let picture = hel::pictures::schedule_svg(schedule);
            let staged =
                crate::io::atomic::stage(svg, picture.as_bytes(), args.force, &inputs, false)
                    .map_err(user_error)?;
            Some((svg, staged, picture.len()))
        }
        None => None,
    };
    schedule_file.publish().map_err(user_error)?;
    if let Some((svg, staged, len)) = picture {
        staged.publish().map_err(user_error)?;
        eprintln!("wrote {} ({len} bytes)", svg.display());
    }
    Ok(bytes)
}

/// `--refresh bootstrap`: the rounds joined by bootstraps, one schedule.
fn write_bootstrapped(
    args: &CompileArgs,
    b: &hel_compiler::rounds::Bootstrapped,
    report: &hel::bootstrapped::BootstrapReport,
) -> CmdResult {
    let bytes = write_outputs(args, &b.schedule)?;
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    if args.json {
        let mut json = serde_json::to_value(report).map_err(user_error)?;
        if let Some(o) = json.as_object_mut() {
            o.insert("bytes".into(), serde_json::json!(bytes.len()));
        }
        println!("{json}");
    } else {
        for line in report.lines() {
            eprintln!("{line}");
        }
        println!(
            "wrote {} ({} bytes): {} round(s), {} bootstrap(s), depth {} per stretch, N = 2^{}",
            args.out.display(),
            bytes.len(),
            report.round_sizes.len(),
            report.bootstraps,
            report.depth,
            report.params.log_n
        );
    }
    Ok(())
}

/// `, uploaded as X (R x the data's own Y)` for lowered client work, else nothing.
pub fn extra_upload(c: &hel_compiler::analysis::client_work::ClientWork) -> String {
    match (c.extra_upload_bytes, c.data_upload_bytes, c.upload_ratio()) {
        (Some(extra), Some(data), Some(ratio)) => format!(
            ", uploaded as {} ({ratio:.2}x the data's own {})",
            human_bytes(extra as usize),
            human_bytes(data as usize)
        ),
        (Some(extra), Some(_), None) => format!(
            ", uploaded as {} (the data itself is not uploaded)",
            human_bytes(extra as usize)
        ),
        _ => String::new(),
    }
}
