//! Criterion benchmarks of the CKKS engine at the standard chains (N = 2^13, 2^14, 2^15;
//! 3 / 8 / 20 data limbs), ciphertexts at the top level, on the current rayon pool (set
//! RAYON_NUM_THREADS=1 for single-thread numbers). HEL_BENCH_LOG_N=14,15 restricts the sizes.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use hel_runtime::ckks::{CkksParams, Context, Sampler};

fn sizes() -> Vec<u32> {
    std::env::var("HEL_BENCH_LOG_N")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![13, 14, 15])
}

fn bench_ckks(c: &mut Criterion) {
    for log_n in sizes() {
        let params = CkksParams::standard(log_n).unwrap();
        let ctx = Context::new(&params).unwrap();
        let mut s = Sampler::seeded_for_testing_only(1);
        let sk = ctx.gen_secret_key(&mut s);
        let pk = ctx.gen_public_key(&sk, &mut s).unwrap();
        let rlk = ctx.gen_relin_key(&sk, &mut s).unwrap();
        let gk = ctx.gen_galois_keys(&sk, &[1], false, &mut s).unwrap();
        let level = ctx.max_level();
        let scale = ctx.default_scale();
        let values: Vec<f64> = (0..ctx.slots()).map(|i| (i % 100) as f64 / 100.0).collect();
        let pt = ctx.encode(&values, level, scale).unwrap();
        let ct = ctx.encrypt_pk(&pt, &pk, &mut s).unwrap();
        let ct2 = ctx.encrypt_pk(&pt, &pk, &mut s).unwrap();
        let prod = ctx.multiply(&ct, &ct2).unwrap();
        let relin = ctx.relinearize(&prod, &rlk).unwrap();
        let name = format!("ckks/2^{log_n}/L{}", level + 1);
        let mut g = c.benchmark_group(name);
        g.sample_size(10)
            .warm_up_time(std::time::Duration::from_secs(1))
            .measurement_time(std::time::Duration::from_secs(3));
        let plan = tfhe_plan(&ctx);
        let mut limb = aligned_vec::AVec::<u64, aligned_vec::ConstAlign<64>>::from_iter(
            64,
            (0..ctx.n() as u64).map(|i| i % 1000),
        );
        g.bench_function("ntt", |b| b.iter(|| plan.fwd(black_box(&mut limb))));
        g.bench_function("encode", |b| {
            b.iter(|| ctx.encode(black_box(&values), level, scale).unwrap())
        });
        g.bench_function("encrypt", |b| {
            b.iter(|| ctx.encrypt_pk(&pt, &pk, &mut s).unwrap())
        });
        let mut acc = ct.clone();
        g.bench_function("add", |b| {
            b.iter(|| ctx.add_assign(&mut acc, &ct2).unwrap())
        });
        g.bench_function("multiply", |b| b.iter(|| ctx.multiply(&ct, &ct2).unwrap()));
        g.bench_function("relinearize", |b| {
            b.iter(|| ctx.relinearize(&prod, &rlk).unwrap())
        });
        g.bench_function("multiply_plain", |b| {
            b.iter(|| ctx.multiply_plain(&ct, &pt).unwrap())
        });
        g.bench_function("rescale", |b| b.iter(|| ctx.rescale(&relin).unwrap()));
        g.bench_function("rotate", |b| b.iter(|| ctx.rotate(&ct, 1, &gk).unwrap()));
        g.bench_function("decrypt_decode", |b| {
            b.iter(|| ctx.decode(&ctx.decrypt(&ct, &sk).unwrap()).unwrap())
        });
        g.finish();
    }
}

/// A tfhe-ntt plan for one 40-bit data prime of the chain (the per-limb NTT).
fn tfhe_plan(ctx: &Context) -> tfhe_ntt::prime64::Plan {
    let q = ctx.q_primes()[ctx.q_primes().len().min(2) - 1];
    tfhe_ntt::prime64::Plan::try_new(ctx.n(), q).unwrap()
}

criterion_group!(benches, bench_ckks);
criterion_main!(benches);
