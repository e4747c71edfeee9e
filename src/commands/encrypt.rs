//! `hel encrypt`: a program's inputs from CSV or `.npy` files to one encrypted-inputs file for
//! the server.

use std::path::PathBuf;

use clap::Args;
use hel_compiler::lower::bounds::output_bounds_for;
use hel_runtime::ckks::Sampler;
use hel_runtime::client::{encrypt_inputs, expanded_bytes};
use serde_json::json;

use super::common::user_error;
use super::keyfiles::{context, human_bytes, load_schedule, load_secret_key, SECRET_KEY_FILE};
use super::CmdResult;
use crate::io::atomic::{check_writable, write_new};
use crate::io::input_args::{assign, files, read_inputs, InputArg};

#[derive(Args)]
#[command(
    after_help = "Each input is a CSV file (commas between values, `#` comment lines and \
blank lines ignored): a scalar is one value; a vector one row of values or one value per line; \
a matrix one row per line. A sequence input `T: matrix[r, c][k]` is given either as one file \
with its k blocks stacked (k*r rows; for vectors, one vector per row) or one file per block \
with NAME[i]=FILE. A file named *.npy is read as a NumPy array (float, integer or bool, C \
order): a scalar of shape () or (1,), a vector (n,), (1, n) or (n, 1), a matrix (r, c), and a \
sequence stacked on the first axis, (k, ...). Every input of the program must be given exactly once; `plain` inputs are \
sent unencrypted.

Examples:
  hel encrypt prog.helc --keys keys/ --input X=x.csv --input y=y.csv -o inputs.hct
  hel encrypt prog.helc --keys keys/ --input X=x.npy --input y=y.npy -o inputs.hct
  hel encrypt prog.helc --keys keys/ --input 'Z[0]=z0.csv' --input 'Z[1]=z1.csv' -o inputs.hct
  hel encrypt prog.helc --keys keys/ --input Z=z_stacked.csv -o inputs.hct --json"
)]
pub struct EncryptArgs {
    /// The compiled program (.helc).
    pub program: PathBuf,
    /// Key directory from `hel keygen` (its secret.key encrypts; inputs are encrypted under the
    /// secret key, which halves the upload).
    #[arg(long, value_name = "DIR")]
    pub keys: PathBuf,
    /// An input tensor: NAME=FILE, or NAME[i]=FILE for element i of a sequence (repeatable).
    #[arg(long = "input", value_name = "NAME=FILE", value_parser = crate::io::input_args::parse_input)]
    pub inputs: Vec<InputArg>,
    /// The encrypted-inputs file to write.
    #[arg(short, long, value_name = "FILE")]
    pub out: PathBuf,
    /// Replace the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Print one JSON object with the sizes.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: EncryptArgs) -> CmdResult {
    let schedule = load_schedule(&args.program)?;
    let given = assign(&schedule, &args.inputs).map_err(user_error)?;
    let sk_path = args.keys.join(SECRET_KEY_FILE);
    let mut read_from = files(&given);
    read_from.push(&args.program);
    read_from.push(&sk_path);
    check_writable(&args.out, args.force, &read_from).map_err(user_error)?;
    let tensors = read_inputs(&schedule, &given).map_err(user_error)?;
    let ctx = context(&schedule, &args.program)?;
    let sk = load_secret_key(&schedule, &ctx, &sk_path)?;
    let mut rng = Sampler::from_os();
    let enc = encrypt_inputs(&schedule, &ctx, &sk, &tensors, &mut rng).map_err(user_error)?;
    let bytes = enc.to_bytes(&ctx).map_err(user_error)?;
    write_new(&args.out, &bytes, args.force, &read_from).map_err(user_error)?;
    let public = schedule.inputs.iter().filter(|d| !d.encrypted).count();
    let expanded = expanded_bytes(&schedule, &ctx);
    // The error to expect on these inputs (the schedule's bounds were predicted on sample data
    // from the declared ranges; the data owner can do better, and the bound stays here).
    let on_data = output_bounds_for(&schedule, &tensors);
    let beyond: Vec<&str> = schedule
        .outputs
        .iter()
        .zip(&on_data)
        .filter(|(o, b)| **b > o.bound)
        .map(|(o, _)| o.name.as_str())
        .collect();
    if !beyond.is_empty() {
        eprintln!(
            "note: on these inputs the predicted error of {} exceeds the bound the program was \
             compiled with (predicted on sample data from the declared ranges); `hel encrypt \
             --json` gives both",
            beyond.join(", ")
        );
    }
    if args.json {
        let bounds: serde_json::Map<String, serde_json::Value> = schedule
            .outputs
            .iter()
            .zip(&on_data)
            .map(|(o, b)| {
                (
                    o.name.clone(),
                    json!({"on_these_inputs": b, "compiled": o.bound}),
                )
            })
            .collect();
        let v = json!({
            "program": schedule.name,
            "program_hash": schedule.program_hash,
            "path": args.out.display().to_string(),
            "upload_bytes": bytes.len(),
            "ciphertexts": enc.ciphertexts.len(),
            "public_inputs": public,
            "expanded_ciphertext_bytes": expanded,
            "output_error_bounds": bounds,
        });
        println!("{v}");
    } else {
        println!(
            "wrote {}: {} ciphertext(s) and {public} public input(s), upload {} \
             (seed-compressed; {} once expanded)",
            args.out.display(),
            enc.ciphertexts.len(),
            human_bytes(bytes.len()),
            human_bytes(expanded)
        );
    }
    Ok(())
}
