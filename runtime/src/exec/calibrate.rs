//! Measuring a [`CostTable`] on this machine (`hel calibrate`): every schedule instruction timed
//! on the standard chain of each ring degree at a few limb counts.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::ckks::bootstrap::bench;
use crate::ckks::{CkksError, CkksParams, Context, Sampler};
use hel_schedule::cost::{BootstrapCost, CostCurve, CostTable, ENCODE, ROTATE_HOISTED};

/// Measures a [`CostTable`] for the standard chain of each ring degree in `log_ns`, on one
/// thread, at up to three limb counts (1, half, all), taking the median of `reps` timings per
/// point (see `time_op`). `progress` receives a line per phase. Run it on an optimized
/// build and an otherwise idle machine: about 10 s for 2^13..2^15 with `reps = 3`.
pub fn calibrate(
    log_ns: &[u32],
    reps: usize,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<CostTable, CkksError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| CkksError::InvalidParams(format!("thread pool: {e}")))?;
    let mut curves: BTreeMap<(u32, String), Vec<(u32, f64)>> = BTreeMap::new();
    for &log_n in log_ns {
        pool.install(|| calibrate_ring(log_n, reps.max(1), progress, &mut curves))?;
    }
    Ok(CostTable {
        threads: 1,
        curves: curves
            .into_iter()
            .map(|((log_n, op), points)| CostCurve { log_n, op, points })
            .collect(),
        bootstraps: Vec::new(),
    })
}

/// Measures one bootstrap on one thread for each slot count 2^`log_slots`, with the chain
/// `hel train --refresh bootstrap` uses for a state of that many slots (N = 2^16, 128-bit;
/// [`crate::ckks::bootstrap::BootstrapParams::for_program`]). Each takes its keys (3-4 GB,
/// several seconds) and two bootstraps; the figure is the second's (the first also encodes
/// the DFT diagonals the bootstrapper keeps for the next ones, as a training's bootstraps
/// after its first find them), the process's CPU time where Linux reports it (closer to the
/// work on a shared machine), else the wall clock.
pub fn calibrate_bootstraps(
    log_slots: &[u32],
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<Vec<BootstrapCost>, CkksError> {
    const LOG_N: u32 = 16;
    log_slots
        .iter()
        .map(|&ls| {
            let params = bench::secure_params(LOG_N, ls)?.for_program(ls);
            let report = bench::run(&params, 1, 1, &mut |phase| {
                progress(&format!("bootstrap of 2^{ls} slots: {phase}"))
            })?;
            Ok(BootstrapCost {
                log_n: LOG_N,
                log_slots: ls,
                seconds: report.cpu_seconds.unwrap_or(report.seconds),
            })
        })
        .collect()
}

/// Median seconds of `f` over up to `reps` samples, batched so that one sample takes about a
/// millisecond. A first run above 10 ms counts as a sample (no warm-up needed at that size),
/// and sampling stops once half a second has been spent, so that the slowest operations
/// (key switching at 2^15) do not dominate the calibration time.
fn time_op(
    reps: usize,
    mut f: impl FnMut() -> crate::ckks::Result<()>,
) -> crate::ckks::Result<f64> {
    let t0 = Instant::now();
    f()?;
    let first = t0.elapsed().as_secs_f64().max(1e-9);
    let batch = ((1e-3 / first).ceil() as usize).clamp(1, 1000);
    let mut samples = Vec::with_capacity(reps);
    if first > 1e-2 {
        samples.push(first);
    }
    let mut spent = first;
    while samples.len() < reps && (samples.is_empty() || spent < 0.5) {
        let t = Instant::now();
        for _ in 0..batch {
            f()?;
        }
        let elapsed = t.elapsed().as_secs_f64();
        spent += elapsed;
        samples.push(elapsed / batch as f64);
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples[samples.len() / 2])
}

fn calibrate_ring(
    log_n: u32,
    reps: usize,
    progress: &mut (dyn FnMut(&str) + Send),
    curves: &mut BTreeMap<(u32, String), Vec<(u32, f64)>>,
) -> crate::ckks::Result<()> {
    progress(&format!("N = 2^{log_n}: keys"));
    let params = CkksParams::standard(log_n)?;
    let ctx = Context::new(&params)?;
    let mut s = Sampler::from_os();
    let sk = ctx.gen_secret_key(&mut s);
    let rlk = ctx.gen_relin_key(&sk, &mut s)?;
    let hoist_steps = [1, 2, 3];
    let gk = ctx.gen_galois_keys(&sk, &hoist_steps, true, &mut s)?;
    let scale = ctx.default_scale();
    let values: Vec<f64> = (0..ctx.slots())
        .map(|i| ((i * 7919) % 1000) as f64 / 1000.0 - 0.5)
        .collect();
    let total = ctx.max_level() + 1;
    let mut limb_counts = vec![1, total.div_ceil(2), total];
    limb_counts.dedup();
    for limbs in limb_counts {
        progress(&format!("N = 2^{log_n}: {limbs} limbs"));
        let level = limbs - 1;
        let pt = ctx.encode(&values, level, scale)?;
        let x = ctx.encrypt_sk(&pt, &sk, &mut s)?;
        let y = ctx.encrypt_sk(&pt, &sk, &mut s)?;
        let prod = ctx.multiply(&x, &y)?;
        let relin = ctx.relinearize(&prod, &rlk)?;
        let mut put = |op: &str, t: f64| {
            curves
                .entry((log_n, op.to_string()))
                .or_default()
                .push((limbs as u32, t));
        };
        put("add", time_op(reps, || ctx.add(&x, &y).map(drop))?);
        put("sub", time_op(reps, || ctx.sub(&x, &y).map(drop))?);
        put("neg", time_op(reps, || ctx.negate(&x).map(drop))?);
        put(
            "add_plain",
            time_op(reps, || ctx.add_plain(&x, &pt).map(drop))?,
        );
        put(
            "mul_plain",
            time_op(reps, || ctx.multiply_plain(&x, &pt).map(drop))?,
        );
        put(
            "add_const",
            time_op(reps, || ctx.add_scalar(&x, 0.5).map(drop))?,
        );
        put(
            "mul_const",
            time_op(reps, || ctx.multiply_scalar(&x, 0.5, scale).map(drop))?,
        );
        put(
            "mul_int",
            time_op(reps, || ctx.multiply_int(&x, 3).map(drop))?,
        );
        put("ct_mul", time_op(reps, || ctx.multiply(&x, &y).map(drop))?);
        put(
            "relinearize",
            time_op(reps, || ctx.relinearize(&prod, &rlk).map(drop))?,
        );
        if level > 0 {
            put("rescale", time_op(reps, || ctx.rescale(&relin).map(drop))?);
        }
        put(
            "mod_down",
            time_op(reps, || {
                ctx.drop_level(&x, level.saturating_sub(1)).map(drop)
            })?,
        );
        let rotate = time_op(reps, || ctx.rotate(&x, 1, &gk).map(drop))?;
        put("rotate", rotate);
        put(
            "conjugate",
            time_op(reps, || ctx.conjugate(&x, &gk).map(drop))?,
        );
        let hoisted = time_op(reps, || ctx.rotate_hoisted(&x, &hoist_steps, &gk).map(drop))?;
        put(
            ROTATE_HOISTED,
            ((hoisted - rotate) / (hoist_steps.len() - 1) as f64).max(0.0),
        );
        put(
            ENCODE,
            time_op(reps, || ctx.encode(&values, level, scale).map(drop))?,
        );
    }
    Ok(())
}
