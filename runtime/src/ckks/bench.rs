//! A self-contained benchmark of the main operations at the standard chain of a ring degree
//! (like `openssl speed`), for `hel bench ckks` and for tracking ratios against SEAL.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::context::Context;
use super::error::{CkksError, Result};
use super::params::CkksParams;
use super::sampling::Sampler;

/// Median wall-clock time per operation, at the top level of the standard chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// log2 of the ring degree.
    pub log_n: u32,
    /// Size of the rayon pool the operations ran in.
    pub threads: usize,
    /// Data limbs at the top level.
    pub limbs: usize,
    /// Total modulus bits, special primes included.
    pub log_q: u32,
    /// Key-switching digits.
    pub dnum: usize,
    /// Operation name -> median microseconds: `ntt`, `encode`, `encrypt`, `add`, `multiply`,
    /// `relinearize`, `multiply_plain`, `rescale`, `rotate`, `decrypt_decode`.
    #[serde(flatten)]
    pub median_us: BTreeMap<String, f64>,
}

/// Runs the benchmark for `CkksParams::standard(log_n)` on a pool of `threads` threads
/// (0 = rayon's default). `progress` receives the name of each operation before it is timed.
pub fn run_with_progress(
    log_n: u32,
    threads: usize,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<BenchReport> {
    let params = CkksParams::standard(log_n)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| CkksError::InvalidParams(format!("thread pool: {e}")))?;
    let threads = pool.current_num_threads();
    progress("key generation");
    let ctx = pool.install(|| Context::new(&params))?;
    pool.install(|| measure(&ctx, &params, threads, progress))
}

/// [`run_with_progress`] without progress reporting.
pub fn run(log_n: u32, threads: usize) -> Result<BenchReport> {
    run_with_progress(log_n, threads, &mut |_| {})
}

/// Median of repeated runs of `f`, taking about a quarter of a second (3..=200 runs).
fn median_us(mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    f();
    let first = start.elapsed().max(Duration::from_nanos(1));
    let runs = (Duration::from_millis(250).as_secs_f64() / first.as_secs_f64()).clamp(3.0, 200.0);
    let mut times: Vec<f64> = (0..runs as usize)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn measure(
    ctx: &Context,
    params: &CkksParams,
    threads: usize,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<BenchReport> {
    let mut s = Sampler::from_os();
    let sk = ctx.gen_secret_key(&mut s);
    let pk = ctx.gen_public_key(&sk, &mut s)?;
    let rlk = ctx.gen_relin_key(&sk, &mut s)?;
    let gk = ctx.gen_galois_keys(&sk, &[1], false, &mut s)?;
    let level = ctx.max_level();
    let scale = ctx.default_scale();
    let values: Vec<f64> = (0..ctx.slots())
        .map(|i| ((i * 7919) % 1000) as f64 / 1000.0 - 0.5)
        .collect();
    let pt = ctx.encode(&values, level, scale)?;
    let ct = ctx.encrypt_pk(&pt, &pk, &mut s)?;
    let ct2 = ctx.encrypt_pk(&pt, &pk, &mut s)?;
    let prod = ctx.multiply(&ct, &ct2)?;
    let relin = ctx.relinearize(&prod, &rlk)?;
    let mut out = BTreeMap::new();
    let mut time = |name: &str, f: &mut dyn FnMut() -> Result<()>| -> Result<()> {
        progress(name);
        let mut err = Ok(());
        let t = median_us(|| {
            if let Err(e) = f() {
                err = Err(e);
            }
        });
        err?;
        out.insert(name.to_string(), t);
        Ok(())
    };
    let mut limb = super::ring::RnsPoly::zero(ctx.n, 1);
    limb.limb_mut(0)
        .iter_mut()
        .enumerate()
        .for_each(|(i, x)| *x = i as u64);
    time("ntt", &mut || {
        ctx.plans[1.min(ctx.num_q - 1)].fwd(limb.limb_mut(0));
        Ok(())
    })?;
    time("encode", &mut || {
        ctx.encode(&values, level, scale).map(drop)
    })?;
    time("encrypt", &mut || {
        ctx.encrypt_pk(&pt, &pk, &mut s).map(drop)
    })?;
    let mut acc = ct.clone();
    time("add", &mut || ctx.add_assign(&mut acc, &ct2))?;
    time("multiply", &mut || ctx.multiply(&ct, &ct2).map(drop))?;
    time("relinearize", &mut || {
        ctx.relinearize(&prod, &rlk).map(drop)
    })?;
    time("multiply_plain", &mut || {
        ctx.multiply_plain(&ct, &pt).map(drop)
    })?;
    time("rescale", &mut || ctx.rescale(&relin).map(drop))?;
    time("rotate", &mut || ctx.rotate(&ct, 1, &gk).map(drop))?;
    time("decrypt_decode", &mut || {
        ctx.decode(&ctx.decrypt(&ct, &sk)?).map(drop)
    })?;
    Ok(BenchReport {
        log_n: params.log_n,
        threads,
        limbs: params.q_bits.len(),
        log_q: params.log_qp(),
        dnum: params.dnum,
        median_us: out,
    })
}
