//! `hel decrypt`: the server's encrypted outputs back to tensors (CSV or JSON).

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use hel_runtime::ckks::Sampler;
use hel_runtime::client::{decrypt_outputs, decrypt_outputs_flooded, EncryptedOutputs, FileKind};
use hel_runtime::schedule::{Schedule, Tensor};
use serde_json::json;

use super::common::user_error;
use super::keyfiles::{context, file_error, load_schedule, load_secret_key, read_client_file};
use super::CmdResult;
use crate::io::atomic::{check_writable, write_new};
use crate::io::tensor_csv::{tensor_json, write_tensor};
use crate::io::terminal::escape_for_terminal;

#[derive(Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    Csv,
    Json,
}

#[derive(Args)]
#[command(
    after_help = "CSV: a single output is printed as its values (a vector one value per \
line, a matrix one row per line), so it can be read back by `hel encrypt`; several outputs \
each get a `# name` line first. JSON: one object {\"outputs\": {name: value}} with numbers, \
arrays, or arrays of rows.

Decryption is exact by default: right when the results stay with you. If you will share them \
with whoever ran the computation, pass --flood-bits (e.g. 30..40): the ciphertext noise would \
otherwise leak information about the secret key (see docs/security.md); flooding costs about \
flood-bits + log2(N)/2 bits of precision beyond the program's predicted error.

Examples:
  hel decrypt prog.helc --secret-key keys/secret.key outputs.hct
  hel decrypt prog.helc --secret-key keys/secret.key outputs.hct --format json -o result.json
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
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: OutputFormat,
    /// Write to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Add noise-flooding of 2^BITS times the predicted error before decoding (for results
    /// that will be shared).
    #[arg(long, value_name = "BITS", value_parser = clap::value_parser!(u32).range(0..=60))]
    pub flood_bits: Option<u32>,
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

pub fn run(args: DecryptArgs) -> CmdResult {
    let schedule = load_schedule(&args.program)?;
    if let Some(out) = &args.out {
        let inputs = [
            args.program.as_path(),
            args.secret_key.as_path(),
            args.outputs.as_path(),
        ];
        check_writable(out, args.force, &inputs).map_err(user_error)?;
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
    let text = render(&schedule, &tensors, args.format);
    match &args.out {
        Some(out) => {
            let inputs = [
                args.program.as_path(),
                args.secret_key.as_path(),
                args.outputs.as_path(),
            ];
            write_new(out, text.as_bytes(), args.force, &inputs).map_err(user_error)?;
            eprintln!("wrote {} ({} output(s))", out.display(), tensors.len());
        }
        None => print!("{text}"),
    }
    Ok(())
}
