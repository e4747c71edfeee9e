//! `hel decrypt`: the server's encrypted outputs back to tensors (CSV, JSON or NumPy `.npy`).

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use hel_runtime::ckks::Sampler;
use hel_runtime::client::{decrypt_outputs, decrypt_outputs_flooded, EncryptedOutputs, FileKind};
use hel_runtime::schedule::{Schedule, Tensor};
use serde_json::json;

use super::common::user_error;
use super::errors::usage_error;
use super::keyfiles::{context, file_error, load_schedule, load_secret_key, read_client_file};
use super::CmdResult;
use crate::io::atomic::{check_writable, write_new};
use crate::io::tensor_csv::{tensor_json, write_tensor};
use crate::io::tensor_npy::tensor_npy;
use crate::io::terminal::escape_for_terminal;
use hel::data::npy::is_npy;

#[derive(Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    Csv,
    Json,
    /// NumPy `.npy`, one file per output (needs -o).
    Npy,
}

#[derive(Args)]
#[command(
    after_help = "CSV: a single output is printed as its values (a vector one value per \
line, a matrix one row per line), so it can be read back by `hel encrypt`; several outputs \
each get a `# name` line first. JSON: one object {\"outputs\": {name: value}} with numbers, \
arrays, or arrays of rows. Without --format, -o FILE.npy writes NPY and -o FILE.json JSON. NPY \
(needs -o): with -o FILE.npy and a program of one output, that file; otherwise -o names a directory (created if missing) that gets NAME.npy per output. Scalars \
are saved with shape (), vectors (n,), matrices (r, c); read them with np.load.

Decryption is exact by default: right when the results stay with you. If you will share them \
with whoever ran the computation, pass --flood-bits (e.g. 30..40): the ciphertext noise would \
otherwise leak information about the secret key (see docs/security.md); flooding costs about \
flood-bits + log2(N)/2 bits of precision beyond the program's predicted error.

Examples:
  hel decrypt prog.helc --secret-key keys/secret.key outputs.hct
  hel decrypt prog.helc --secret-key keys/secret.key outputs.hct --format json -o result.json
  hel decrypt prog.helc --secret-key keys/secret.key outputs.hct --format npy -o results/
  hel decrypt prog.helc --secret-key keys/secret.key outputs.hct --flood-bits 30"
)]
pub struct DecryptArgs {
    /// The compiled program (.helc).
    pub program: PathBuf,
    /// The secret key (from `hel keygen`).
    #[arg(long, value_name = "FILE")]
    pub secret_key: PathBuf,
    /// The encrypted outputs (from `hel run`).
    pub outputs: PathBuf,
    /// Output format (default: by the -o file's extension, `.npy` or `.json`; else CSV).
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    /// Write to this file instead of standard output (for npy: the file or directory).
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Add noise-flooding of 2^BITS times the predicted error before decoding (for results
    /// that will be shared).
    #[arg(long, value_name = "BITS", value_parser = clap::value_parser!(u32).range(0..=60))]
    pub flood_bits: Option<u32>,
    /// Print one JSON object on stdout, as every command does: the outputs (`{"outputs":
    /// {name: value}}`, as `--format json`) or, with -o, what was written (`path`, `format`,
    /// `outputs`); a failure prints an `error` object.
    #[arg(long)]
    pub json: bool,
}

fn render(schedule: &Schedule, tensors: &[Tensor], format: OutputFormat) -> String {
    match format {
        OutputFormat::Csv => {
            let mut s = String::new();
            let headers = tensors.len() != 1;
            for (o, t) in schedule.outputs.iter().zip(tensors) {
                if headers {
                    s.push_str(&format!("# {}\n", escape_for_terminal(&o.name)));
                }
                write_tensor(&mut s, t);
            }
            s
        }
        // Written per output by `write_npy_outputs`, never rendered as text.
        OutputFormat::Npy => String::new(),
        OutputFormat::Json => {
            let outputs: serde_json::Map<String, serde_json::Value> = schedule
                .outputs
                .iter()
                .zip(tensors)
                .map(|(o, t)| (o.name.clone(), tensor_json(t)))
                .collect();
            format!("{}\n", json!({ "outputs": outputs }))
        }
    }
}

/// Where `--format npy -o OUT` writes each output: OUT itself for one output named `*.npy`,
/// else OUT/NAME.npy (output names are identifiers; a schedule from elsewhere is checked).
fn npy_targets(schedule: &Schedule, out: &Path) -> Result<Vec<PathBuf>, String> {
    if schedule.outputs.len() == 1 && is_npy(out) {
        return Ok(vec![out.to_path_buf()]);
    }
    if out.exists() && !out.is_dir() {
        return Err(format!(
            "{}: not a directory; with {} outputs, -o names a directory for NAME.npy files",
            out.display(),
            schedule.outputs.len()
        ));
    }
    schedule
        .outputs
        .iter()
        .map(|o| {
            let plain = !o.name.is_empty()
                && o.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_');
            if plain {
                Ok(out.join(format!("{}.npy", o.name)))
            } else {
                Err(format!(
                    "output `{}` is not a plain name; cannot make a file name of it",
                    escape_for_terminal(&o.name)
                ))
            }
        })
        .collect()
}

/// The format asked for, else the one `-o`'s extension names (`-o W.npy` writes NumPy, as
/// `hel encrypt` reads a `.npy` file as NumPy), else CSV.
fn format(args: &DecryptArgs) -> OutputFormat {
    let ext = args
        .out
        .as_deref()
        .and_then(|p| p.extension())
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match (args.format, ext.as_deref()) {
        (Some(f), _) => f,
        // Standard output gets the one JSON object.
        (None, _) if args.json && args.out.is_none() => OutputFormat::Json,
        (None, Some("npy")) => OutputFormat::Npy,
        (None, Some("json")) => OutputFormat::Json,
        (None, _) => OutputFormat::Csv,
    }
}

pub fn run(args: DecryptArgs) -> CmdResult {
    let schedule = load_schedule(&args.program)?;
    let chosen = format(&args);
    if args.json && args.out.is_none() && !matches!(chosen, OutputFormat::Json) {
        return Err(usage_error(
            "--json prints the outputs as one JSON object: give -o FILE for another --format",
        ));
    }
    let inputs = [
        args.program.as_path(),
        args.secret_key.as_path(),
        args.outputs.as_path(),
    ];
    let targets: Vec<PathBuf> = match (&args.out, chosen) {
        (None, OutputFormat::Npy) => {
            return Err(usage_error(
                "--format npy writes files: give -o FILE.npy (one output) or -o DIR",
            ))
        }
        (Some(out), OutputFormat::Npy) => npy_targets(&schedule, out).map_err(user_error)?,
        (Some(out), _) => vec![out.clone()],
        (None, _) => vec![],
    };
    for t in &targets {
        check_writable(t, args.force, &inputs).map_err(user_error)?;
    }
    let ctx = context(&schedule, &args.program)?;
    let sk = load_secret_key(&schedule, &ctx, &args.secret_key)?;
    let bytes = read_client_file(&schedule, &args.outputs, FileKind::EncryptedOutputs)?;
    let outs = EncryptedOutputs::from_bytes(&schedule, &ctx, &bytes)
        .map_err(|e| file_error(&args.outputs, e))?;
    let tensors = match args.flood_bits {
        None => decrypt_outputs(&schedule, &ctx, &sk, &outs),
        Some(bits) => {
            let mut rng = Sampler::from_os();
            decrypt_outputs_flooded(&schedule, &ctx, &sk, &outs, bits, &mut rng)
        }
    }
    .map_err(|e| file_error(&args.outputs, e))?;
    if let (OutputFormat::Npy, Some(out)) = (chosen, &args.out) {
        if targets.len() != 1 || !is_npy(out) {
            std::fs::create_dir_all(out)
                .map_err(|e| user_error(format!("cannot create {}: {e}", out.display())))?;
        }
        for (t, tensor) in targets.iter().zip(&tensors) {
            write_new(t, &tensor_npy(tensor), args.force, &inputs).map_err(user_error)?;
        }
        eprintln!(
            "wrote {} output(s) as .npy to {}",
            tensors.len(),
            out.display()
        );
        print_written(&args, &schedule, "npy");
        return Ok(());
    }
    let text = render(&schedule, &tensors, chosen);
    match &args.out {
        Some(out) => {
            write_new(out, text.as_bytes(), args.force, &inputs).map_err(user_error)?;
            eprintln!("wrote {} ({} output(s))", out.display(), tensors.len());
            let name = match chosen {
                OutputFormat::Json => "json",
                _ => "csv",
            };
            print_written(&args, &schedule, name);
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// With `--json` and `-o`: the one JSON object on stdout says what was written where.
fn print_written(args: &DecryptArgs, schedule: &Schedule, format: &str) {
    if let (true, Some(out)) = (args.json, &args.out) {
        let names: Vec<&str> = schedule.outputs.iter().map(|o| o.name.as_str()).collect();
        println!(
            "{}",
            json!({ "path": out.display().to_string(), "format": format, "outputs": names })
        );
    }
}
