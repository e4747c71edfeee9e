//! `hel keygen`: a fresh secret key and the evaluation keys one compiled program needs.

use std::path::PathBuf;

use clap::Args;
use hel_runtime::ckks::Sampler;
use hel_runtime::client::{
    bootstrap_keys_to_bytes, keygen, keygen_bootstrapped, secret_key_to_bytes,
};
use serde_json::json;

use super::common::user_error;
use super::keyfiles::{
    bootstrapper, context, human_bytes, load_schedule, BOOTSTRAP_KEYS_FILE, EVAL_KEYS_FILE,
    SECRET_KEY_FILE,
};
use super::CmdResult;
use crate::io::atomic::{check_writable, stage};
use crate::io::terminal::escape_for_terminal;

#[derive(Args)]
#[command(
    after_help = "Writes DIR/secret.key (mode 0600: keep it on the client, it decrypts \
everything encrypted for this program) and DIR/eval.keys (public, relinearization and Galois \
keys for exactly the program's rotations: send it to the server). Both files are bound to the \
program's CKKS parameters and to this key set: they serve any program compiled to the same \
parameters whose rotations they cover (the server checks), and inputs encrypted with the \
secret key of another keygen run are refused. A program that bootstraps (`hel compile \
--refresh bootstrap`) also gets DIR/boot.keys, the bootstrapping keys of its chain (gigabytes \
at N = 2^16; send it to the server with eval.keys: `hel run --bootstrap-keys`).

Examples:
  hel keygen prog.helc --out keys/
  hel keygen prog.helc --out keys/ --force        # replace existing keys
  hel keygen prog.helc --out keys/ --json"
)]
pub struct KeygenArgs {
    /// The compiled program (.helc from `hel compile`).
    pub program: PathBuf,
    /// Directory for secret.key and eval.keys (created, owner-only, if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace existing key files.
    #[arg(long)]
    pub force: bool,
    /// Print one JSON object with the file sizes.
    #[arg(long)]
    pub json: bool,
    /// Memory key generation may use: a program whose keys (in memory and serialized) need
    /// more is refused before anything is generated. Same size syntax as `hel run`. Default:
    /// the memory available.
    #[arg(long, value_name = "SIZE", value_parser = super::flags::parse_size)]
    pub memory_limit: Option<usize>,
}

pub fn run(args: KeygenArgs) -> CmdResult {
    let schedule = load_schedule(&args.program)?;
    let sk_path = args.out.join(SECRET_KEY_FILE);
    let ek_path = args.out.join(EVAL_KEYS_FILE);
    let bk_path = args.out.join(BOOTSTRAP_KEYS_FILE);
    let inputs = [args.program.as_path()];
    let boot = bootstrapper(&schedule, &args.program)?;
    // Refuse before the (possibly long) key generation.
    let mut paths = vec![&sk_path, &ek_path];
    if boot.is_some() {
        paths.push(&bk_path);
    }
    for p in paths {
        check_writable(p, args.force, &inputs).map_err(user_error)?;
    }
    let boot_memory = boot.as_ref().map_or(0, |b| b.key_memory_bytes() as u64);
    hel::memory::check(
        &format!("key generation for {}", schedule.name),
        schedule
            .resources()
            .keygen_peak_bytes
            .saturating_add(boot_memory.saturating_mul(2)),
        args.memory_limit.map(|l| l as u64),
        hel::memory::SMALLER_PROGRAM,
    )
    .map_err(user_error)?;
    create_key_dir(&args.out)?;
    let ctx = context(&schedule, &args.program)?;
    eprintln!(
        "generating keys for {} (N = 2^{}, {} rotation key(s){}{})",
        escape_for_terminal(&schedule.name),
        schedule.params.log_n,
        schedule.rotation_steps.len(),
        if schedule.needs_conjugation {
            " + conjugation"
        } else {
            ""
        },
        match &boot {
            Some(b) => format!(
                ", and bootstrapping keys for 2^{} slots: {} rotation keys over {} primes",
                b.params().log_slots,
                b.rotations().len(),
                b.chain_primes()
            ),
            None => String::new(),
        }
    );
    let mut rng = Sampler::from_os();
    let (sk, keys, boot_bytes) = match &boot {
        Some(b) => {
            let (sk, keys, bkeys) =
                keygen_bootstrapped(&schedule, &ctx, b, &mut rng).map_err(user_error)?;
            let bytes = bootstrap_keys_to_bytes(&schedule, &ctx, b, &bkeys, keys.key_id)
                .map_err(user_error)?;
            (sk, keys, Some(bytes))
        }
        None => {
            let (sk, keys) = keygen(&schedule, &ctx, &mut rng).map_err(user_error)?;
            (sk, keys, None)
        }
    };
    drop(boot);
    let sk_bytes = secret_key_to_bytes(&schedule, &ctx, &sk).map_err(user_error)?;
    let (ek_bytes, sizes) = keys.to_bytes_sized(&ctx).map_err(user_error)?;
    // Both files complete on disk before either is published, so a failure (or a kill) while
    // writing leaves neither. The evaluation keys are published first: alone they are useless
    // (no input can be encrypted for them), while a secret key alone would encrypt inputs no
    // server can run. A kill between the two publications (two system calls) leaves
    // eval.keys alone, which the next keygen refuses to replace without --force.
    let sk_file = stage(&sk_path, &sk_bytes, args.force, &inputs, true).map_err(user_error)?;
    let ek_file = stage(&ek_path, &ek_bytes, args.force, &inputs, false).map_err(user_error)?;
    let bk_file = match &boot_bytes {
        Some(b) => Some(stage(&bk_path, b, args.force, &inputs, false).map_err(user_error)?),
        None => None,
    };
    // The bootstrapping keys are as useless alone as the evaluation keys: published with them.
    if let Some(f) = bk_file {
        f.publish().map_err(user_error)?;
    }
    ek_file.publish().map_err(user_error)?;
    if let Err(e) = sk_file.publish() {
        // Without --force eval.keys was created just now, by us: withdraw it. With --force the
        // old eval.keys is gone; the new one alone is refused by `hel run` against inputs of
        // any other key set.
        let withdrawn = !args.force && std::fs::remove_file(&ek_path).is_ok();
        return Err(user_error(if withdrawn {
            format!("{e} (nothing was written)")
        } else {
            format!(
                "{e} ({} was written; rerun with --force to regenerate both)",
                ek_path.display()
            )
        }));
    }
    if args.json {
        let v = json!({
            "program": schedule.name,
            "program_hash": schedule.program_hash,
            "key_set": keys.key_id.to_string(),
            "secret_key": { "path": sk_path.display().to_string(), "bytes": sk_bytes.len() },
            "eval_keys": {
                "path": ek_path.display().to_string(),
                "bytes": sizes.eval_total,
                "public_key_bytes": sizes.public_key,
                "relin_key_bytes": sizes.relin_key,
                "galois_key_bytes": sizes.galois_keys,
                "galois_keys": sizes.galois_count,
                "rotation_steps": schedule.rotation_steps,
                "conjugation": schedule.needs_conjugation,
            },
            "bootstrap_keys": boot_bytes.as_ref().map(|b| json!({
                "path": bk_path.display().to_string(),
                "bytes": b.len(),
            })),
        });
        println!("{v}");
    } else {
        println!(
            "wrote {}: {} (keep private; key set {})",
            sk_path.display(),
            human_bytes(sk_bytes.len()),
            keys.key_id
        );
        println!(
            "wrote {}: {} = public key {} + relinearization key {} + {} Galois key(s) {}",
            ek_path.display(),
            human_bytes(sizes.eval_total),
            human_bytes(sizes.public_key),
            human_bytes(sizes.relin_key),
            sizes.galois_count,
            human_bytes(sizes.galois_keys)
        );
        if let Some(b) = &boot_bytes {
            println!(
                "wrote {}: {} (bootstrapping keys: send with eval.keys)",
                bk_path.display(),
                human_bytes(b.len())
            );
        }
    }
    Ok(())
}

/// Creates the key directory if missing; owner-only on Unix, since it holds the secret key.
fn create_key_dir(dir: &std::path::Path) -> CmdResult {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    if dir.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
        return Err(user_error(format!(
            "{} exists and is not a directory: --out names the directory for the key files",
            dir.display()
        )));
    }
    b.create(dir)
        .map_err(|e| user_error(format!("cannot create {}: {e}", dir.display())))
}
