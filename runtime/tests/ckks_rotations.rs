//! Rotations, conjugation and hoisted rotations.

mod common;

use common::*;
use hel_runtime::ckks::{Ciphertext, Complex64, Context, SecretKey};

fn dec(ctx: &Context, ct: &Ciphertext, sk: &SecretKey) -> Vec<Complex64> {
    ctx.decode(&ctx.decrypt(ct, sk).unwrap()).unwrap()
}

fn rotated(v: &[Complex64], step: i64) -> Vec<Complex64> {
    let n = v.len() as i64;
    (0..n)
        .map(|i| v[(i + step).rem_euclid(n) as usize])
        .collect()
}

/// A rotation adds the key-switching error to the fresh encryption error.
fn rot_bound(ctx: &Context) -> f64 {
    (slot_bound(ctx, sk_sigma()) + slot_bound(ctx, ks_sigma(ctx))) / ctx.default_scale()
}

#[test]
fn rotations_by_many_steps_and_conjugation() {
    for ctx in [deep12(), ctx13()] {
        let mut s = sampler(90);
        let sk = ctx.gen_secret_key(&mut s);
        let slots = ctx.slots() as i64;
        let steps = [1, 2, 3, 7, 64, slots / 2, slots - 1, -1, -5, 0];
        let gk = ctx.gen_galois_keys(&sk, &steps, true, &mut s).unwrap();
        let x = values(ctx.slots(), 91);
        let d = ctx.default_scale();
        for level in [ctx.max_level(), 0] {
            let ct = ctx
                .encrypt_sk(&ctx.encode_complex(&x, level, d).unwrap(), &sk, &mut s)
                .unwrap();
            for &k in &steps {
                let r = ctx.rotate(&ct, k, &gk).unwrap();
                let err = max_err(&dec(&ctx, &r, &sk), &rotated(&x, k));
                assert!(
                    err < rot_bound(&ctx),
                    "step {k} level {level}: err 2^{:.1}",
                    err.log2()
                );
            }
            let conj: Vec<_> = x.iter().map(|c| c.conj()).collect();
            let err = max_err(&dec(&ctx, &ctx.conjugate(&ct, &gk).unwrap(), &sk), &conj);
            assert!(err < rot_bound(&ctx));
        }
    }
}

#[test]
fn rotation_after_multiplication_at_lower_level() {
    let ctx = deep12();
    let mut s = sampler(95);
    let sk = ctx.gen_secret_key(&mut s);
    let rlk = ctx.gen_relin_key(&sk, &mut s).unwrap();
    let gk = ctx.gen_galois_keys(&sk, &[5], false, &mut s).unwrap();
    let d = ctx.default_scale();
    let x = real_values(ctx.slots(), 96);
    let ct = ctx
        .encrypt_sk(
            &ctx.encode_complex(&x, ctx.max_level(), d).unwrap(),
            &sk,
            &mut s,
        )
        .unwrap();
    let sq = ctx
        .rescale(&ctx.relinearize(&ctx.square(&ct).unwrap(), &rlk).unwrap())
        .unwrap();
    let r = ctx.rotate(&sq, 5, &gk).unwrap();
    let want: Vec<_> = rotated(&x, 5).iter().map(|v| v * v).collect();
    let bound = (4.0 * slot_bound(&ctx, sk_sigma())
        + slot_bound(&ctx, rescale_sigma(&ctx))
        + slot_bound(&ctx, ks_sigma(&ctx)))
        / r.scale();
    assert!(max_err(&dec(&ctx, &r, &sk), &want) < bound);
}

#[test]
fn hoisted_rotations_match_individual_rotations() {
    let ctx = deep12();
    let mut s = sampler(100);
    let sk = ctx.gen_secret_key(&mut s);
    let steps = [1, 2, 5, -3, 0];
    let gk = ctx.gen_galois_keys(&sk, &steps, false, &mut s).unwrap();
    let x = values(ctx.slots(), 101);
    let d = ctx.default_scale();
    let ct = ctx
        .encrypt_sk(
            &ctx.encode_complex(&x, ctx.max_level(), d).unwrap(),
            &sk,
            &mut s,
        )
        .unwrap();
    let hoisted = ctx.rotate_hoisted(&ct, &steps, &gk).unwrap();
    assert_eq!(hoisted.len(), steps.len());
    for (h, &k) in hoisted.iter().zip(&steps) {
        let single = dec(&ctx, &ctx.rotate(&ct, k, &gk).unwrap(), &sk);
        let got = dec(&ctx, h, &sk);
        // Both are within noise of the reference, and differ from each other only by two
        // independent key-switching errors.
        assert!(max_err(&got, &rotated(&x, k)) < rot_bound(&ctx));
        let ks = 2.0 * slot_bound(&ctx, ks_sigma(&ctx)) / ctx.default_scale();
        assert!(max_err(&got, &single) < ks, "step {k}");
    }
}
