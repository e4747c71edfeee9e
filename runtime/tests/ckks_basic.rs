//! Encoding, encryption and decryption against plaintext references.

mod common;

use common::*;
use hel_runtime::ckks::{CkksParams, Complex64, Context, Security};

#[test]
fn encode_decode_round_trip_is_exact_to_rounding() {
    let ctx = ctx13();
    let v = values(ctx.slots(), 1);
    for level in [0, ctx.max_level()] {
        let pt = ctx.encode_complex(&v, level, ctx.default_scale()).unwrap();
        let back = ctx.decode(&pt).unwrap();
        // Only coefficient rounding (±1/2) remains: bound it through the slot map.
        let bound = slot_bound(&ctx, (1.0f64 / 12.0).sqrt()) / ctx.default_scale();
        assert!(max_err(&back, &v) < bound, "level {level}");
    }
}

#[test]
fn decode_is_exact_for_large_values_at_full_modulus() {
    // Values of 2^40 at scale 2^40 make coefficients of ~2^80, spanning several primes:
    // the centered CRT must not lose them.
    let ctx = ctx13();
    let big = 2f64.powi(40);
    let v: Vec<Complex64> = values(ctx.slots(), 2).iter().map(|c| c * big).collect();
    let pt = ctx
        .encode_complex(&v, ctx.max_level(), ctx.default_scale())
        .unwrap();
    let back = ctx.decode(&pt).unwrap();
    let rel = max_err(&back, &v) / big;
    assert!(rel < 1e-9, "relative error {rel}");
}

#[test]
fn sk_and_pk_encryption_meet_their_noise_bounds() {
    let ctx = ctx13();
    let mut s = sampler(3);
    let sk = ctx.gen_secret_key(&mut s);
    let pk = ctx.gen_public_key(&sk, &mut s).unwrap();
    let v = values(ctx.slots(), 4);
    let delta = ctx.default_scale();
    let pt = ctx.encode_complex(&v, ctx.max_level(), delta).unwrap();

    let ct = ctx.encrypt_sk(&pt, &sk, &mut s).unwrap();
    let err = max_err(&ctx.decode(&ctx.decrypt(&ct, &sk).unwrap()).unwrap(), &v);
    assert!(
        err < slot_bound(&ctx, sk_sigma()) / delta,
        "sk err 2^{}",
        err.log2()
    );

    let ct = ctx.encrypt_pk(&pt, &pk, &mut s).unwrap();
    let err = max_err(&ctx.decode(&ctx.decrypt(&ct, &sk).unwrap()).unwrap(), &v);
    assert!(
        err < slot_bound(&ctx, pk_sigma(&ctx)) / delta,
        "pk err 2^{}",
        err.log2()
    );
}

#[test]
fn encryption_is_randomized() {
    let ctx = ctx13();
    let mut s = sampler(5);
    let sk = ctx.gen_secret_key(&mut s);
    let pk = ctx.gen_public_key(&sk, &mut s).unwrap();
    let pt = ctx.encode(&[1.0, 2.0], 1, ctx.default_scale()).unwrap();
    assert_ne!(
        ctx.encrypt_pk(&pt, &pk, &mut s).unwrap(),
        ctx.encrypt_pk(&pt, &pk, &mut s).unwrap()
    );
    assert_ne!(
        ctx.encrypt_sk(&pt, &sk, &mut s).unwrap(),
        ctx.encrypt_sk(&pt, &sk, &mut s).unwrap()
    );
}

#[test]
fn wrong_key_does_not_decrypt() {
    let ctx = ctx13();
    let mut s = sampler(6);
    let sk = ctx.gen_secret_key(&mut s);
    let other = ctx.gen_secret_key(&mut s);
    let v = values(ctx.slots(), 7);
    let pt = ctx
        .encode_complex(&v, ctx.max_level(), ctx.default_scale())
        .unwrap();
    let ct = ctx.encrypt_sk(&pt, &sk, &mut s).unwrap();
    let wrong = ctx.decode(&ctx.decrypt(&ct, &other).unwrap()).unwrap();
    // A wrong key leaves a uniformly random polynomial: errors are astronomically large.
    assert!(max_err(&wrong, &v) > 1e6);
}

#[test]
fn seeded_ciphertext_expands_to_a_valid_ciphertext() {
    let ctx = ctx13();
    let mut s = sampler(8);
    let sk = ctx.gen_secret_key(&mut s);
    let v = values(ctx.slots(), 9);
    let delta = ctx.default_scale();
    let pt = ctx.encode_complex(&v, ctx.max_level(), delta).unwrap();
    let seeded = ctx.encrypt_sk_seeded(&pt, &sk, &mut s).unwrap();
    let ct = ctx.expand_seeded(&seeded).unwrap();
    let err = max_err(&ctx.decode(&ctx.decrypt(&ct, &sk).unwrap()).unwrap(), &v);
    assert!(err < slot_bound(&ctx, sk_sigma()) / delta);
}

#[test]
fn flooded_decryption_hides_noise_but_keeps_values() {
    let ctx = ctx13();
    let mut s = sampler(10);
    let sk = ctx.gen_secret_key(&mut s);
    let v = values(ctx.slots(), 11);
    let delta = ctx.default_scale();
    let pt = ctx.encode_complex(&v, ctx.max_level(), delta).unwrap();
    let ct = ctx.encrypt_sk(&pt, &sk, &mut s).unwrap();
    let sigma = 2f64.powi(20);
    let a = ctx
        .decode(&ctx.decrypt_flooded(&ct, &sk, sigma, &mut s).unwrap())
        .unwrap();
    let b = ctx
        .decode(&ctx.decrypt_flooded(&ct, &sk, sigma, &mut s).unwrap())
        .unwrap();
    let bound = slot_bound(&ctx, sigma) / delta;
    assert!(max_err(&a, &v) < bound);
    // The flooding noise dominates the encryption noise and is fresh on every call.
    assert!(max_err(&a, &b) > slot_bound(&ctx, sk_sigma()) / delta);
    assert!(ctx.decrypt_flooded(&ct, &sk, f64::NAN, &mut s).is_err());
}

/// A chain beyond 2^1023 (N = 2^16 holds 1772 bits; a depth-24 program at scale 2^44 needs
/// 1106): the centered CRT's mixed-radix weights overflow f64 above the limbs a value needs,
/// and a small value must still decrypt at the top level (it read NaN).
#[test]
fn decrypts_at_the_top_of_a_chain_beyond_f64_range() {
    let params = CkksParams {
        log_n: 12,
        q_bits: std::iter::once(50)
            .chain(std::iter::repeat_n(44, 24))
            .collect(),
        p_bits: vec![50; 5],
        dnum: 5,
        log_scale: 44,
        security: Security::InsecureForTestingOnly,
    };
    let ctx = Context::new(&params).unwrap();
    assert!(ctx.log_q(ctx.max_level()) > 1024.0);
    let mut s = sampler(5);
    let sk = ctx.gen_secret_key(&mut s);
    let v = values(ctx.slots(), 6);
    let delta = ctx.default_scale();
    let pt = ctx.encode_complex(&v, ctx.max_level(), delta).unwrap();
    let ct = ctx.encrypt_sk(&pt, &sk, &mut s).unwrap();
    let back = ctx.decode(&ctx.decrypt(&ct, &sk).unwrap()).unwrap();
    let err = max_err(&back, &v);
    assert!(
        err < slot_bound(&ctx, sk_sigma()) / delta,
        "error {err} at the top level"
    );
}
