//! `hel bench bootstrap`: one bootstrap of random values (full or sparse slots), timed, with its
//! precision against the plaintext, the levels it consumes and leaves, and the key size.

use std::time::Instant;

use serde::Serialize;

use super::{precision_bits, BootstrapParams, Bootstrapper};
use crate::ckks::{CkksError, Complex64, Result, Sampler};

/// What `hel bench bootstrap --json` prints.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BootstrapBenchReport {
    /// log2 of the ring degree.
    pub log_n: u32,
    /// Slots bootstrapped.
    pub slots: usize,
    /// Size of the rayon pool.
    pub threads: usize,
    /// Wall-clock seconds of one bootstrap (key generation and encryption excluded), once the
    /// bootstrapper has its DFT diagonals encoded (every bootstrap after the first): the
    /// median over `repeat` bootstraps.
    pub seconds: f64,
    /// Timed bootstraps after the first (each of fresh random values).
    pub repeat: usize,
    /// The fastest and slowest of them (on a shared machine the fastest is closest to the
    /// work itself).
    pub seconds_min: f64,
    pub seconds_max: f64,
    /// Wall-clock seconds of the first bootstrap, which also encodes the DFT diagonals.
    pub first_seconds: f64,
    /// CPU seconds of the process per bootstrap (all threads, user and system; the mean over
    /// the timed ones), from Linux's per-thread scheduler statistics; `null` elsewhere. On a
    /// shared machine this is closer to what the bootstrap costs than the wall clock.
    pub cpu_seconds: Option<f64>,
    /// Levels one bootstrap consumes.
    pub levels_consumed: usize,
    /// Levels at scale 2^log_scale left to the program after it.
    pub levels_left: usize,
    /// log2 of the program's scale (the bootstrap's input and output scale).
    pub log_scale: u32,
    /// -log2 of the mean absolute slot error (of the last timed bootstrap).
    pub precision_bits_mean: f64,
    /// -log2 of the largest slot error.
    pub precision_bits_min: f64,
    /// Serialized size of the bootstrapping keys (relinearization, rotations, conjugation and
    /// the two encapsulation keys).
    pub key_bytes: usize,
    /// Number of rotation keys.
    pub rotation_keys: usize,
    /// Seconds to generate the keys.
    pub keygen_seconds: f64,
    /// log2 of the bound on the modular reduction's failure probability per bootstrap.
    pub failure_log2: f64,
    /// Total modulus bits of the chain, special primes included.
    pub log_qp: u32,
    /// Key-switching digits.
    pub dnum: usize,
}

/// The secure parameter rule for a ring degree and slot count (only N = 2^16: the
/// bootstrapping chain does not fit the 128-bit bound of smaller rings; full or sparse slots,
/// the same chain).
pub fn secure_params(log_n: u32, log_slots: u32) -> Result<BootstrapParams> {
    if log_n != 16 {
        return Err(CkksError::InvalidParams(format!(
            "bootstrapping at 128-bit security needs N = 2^16 (its chain is ~1300 bits plus the \
             key-switching modulus; N = 2^{log_n} allows {} bits)",
            crate::ckks::max_log_qp_128(log_n).unwrap_or(0)
        )));
    }
    let standard = BootstrapParams::standard_n16();
    let least = standard.cts_levels.max(standard.stc_levels) as u32;
    if log_slots + 1 > log_n || log_slots < least {
        return Err(CkksError::InvalidParams(format!(
            "2^{log_slots} slots: the rule's DFTs take 2^{least} to 2^{} slots at N = 2^{log_n} \
             (one butterfly stage per slot doubling, {least} merged levels)",
            log_n - 1
        )));
    }
    Ok(standard.with_slots(log_slots))
}

/// Runs a first bootstrap and `repeat` timed ones (at least one) with `params` on a pool of
/// `threads` threads (0 = rayon's default).
pub fn run(
    params: &BootstrapParams,
    threads: usize,
    repeat: usize,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<BootstrapBenchReport> {
    let repeat = repeat.max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| CkksError::InvalidParams(format!("thread pool: {e}")))?;
    let threads = pool.current_num_threads();
    pool.install(|| {
        progress("setup");
        let boot = Bootstrapper::new(params)?;
        let ctx = boot.context();
        let mut rng = Sampler::from_os();
        let sk = ctx.gen_secret_key(&mut rng);
        progress("key generation");
        let t = Instant::now();
        let keys = boot.gen_keys(&sk, &mut rng)?;
        let keygen_seconds = t.elapsed().as_secs_f64();
        let key_bytes = boot.key_bytes(&keys);
        let mut encrypted = || -> Result<_> {
            let values = boot.repeat(&random_slots(boot.slots(), &mut rng));
            let pt = ctx.encode_complex(&values, 0, ctx.default_scale())?;
            Ok((ctx.encrypt_sk(&pt, &sk, &mut rng)?, values))
        };
        progress("first bootstrap (encodes the DFT diagonals)");
        let (first, _) = encrypted()?;
        let t = Instant::now();
        drop(boot.bootstrap(&first, &keys)?);
        let first_seconds = t.elapsed().as_secs_f64();
        let mut times = Vec::with_capacity(repeat);
        let mut cpu_total = Some(0.0);
        let mut last = None;
        for i in 0..repeat {
            let (ct, values) = encrypted()?;
            progress(&format!("bootstrap {} of {repeat}", i + 1));
            let cpu = process_cpu_ns();
            let t = Instant::now();
            let out = boot.bootstrap(&ct, &keys)?;
            times.push(t.elapsed().as_secs_f64());
            cpu_total = cpu_total
                .zip(cpu.zip(process_cpu_ns()))
                .map(|(sum, (a, b))| sum + b.saturating_sub(a) as f64 * 1e-9);
            last = Some((out, values));
        }
        let (out, values) = last.ok_or_else(|| CkksError::InvalidParams("no bootstrap".into()))?;
        times.sort_by(f64::total_cmp);
        let seconds = times[times.len() / 2];
        let cpu_seconds = cpu_total.map(|c| c / repeat as f64);
        let got = ctx.decode(&ctx.decrypt(&out, &sk)?)?;
        let (mean, min) = precision_bits(&got, &values);
        Ok(BootstrapBenchReport {
            log_n: params.log_n,
            slots: boot.slots(),
            threads,
            seconds,
            repeat,
            seconds_min: times[0],
            seconds_max: times[times.len() - 1],
            first_seconds,
            cpu_seconds,
            levels_consumed: params.levels_consumed(),
            levels_left: out.level(),
            log_scale: params.log_scale,
            precision_bits_mean: mean,
            precision_bits_min: min,
            key_bytes,
            rotation_keys: boot.rotations().len(),
            keygen_seconds,
            failure_log2: params.failure_log2(),
            log_qp: ctx.params().log_qp(),
            dnum: ctx.params().dnum,
        })
    })
}

/// CPU time of every thread of this process so far, in nanoseconds: the first field of each
/// `/proc/self/task/*/schedstat`. `None` where that does not exist.
fn process_cpu_ns() -> Option<u64> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path().join("schedstat");
        // A thread that ended in between has no file any more; its time is simply not counted.
        if let Ok(text) = std::fs::read_to_string(path) {
            total += text.split_whitespace().next()?.parse::<u64>().ok()?;
        }
    }
    Some(total)
}

/// Complex values uniform in the unit square (real and imaginary parts in [-1, 1]).
fn random_slots(n: usize, rng: &mut Sampler) -> Vec<Complex64> {
    let seed = rng.seed();
    let mut x = u64::from_le_bytes([
        seed[0], seed[1], seed[2], seed[3], seed[4], seed[5], seed[6], seed[7],
    ]);
    let mut next = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((x >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    };
    (0..n).map(|_| Complex64::new(next(), next())).collect()
}
