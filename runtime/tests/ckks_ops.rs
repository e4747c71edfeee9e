//! Homomorphic operations against a complex f64 reference, with tolerances derived from the
//! parameters (noise standard deviations, ring degree, scale).

mod common;

use common::*;
use hel_runtime::ckks::{Ciphertext, CkksError, Complex64, Context, SecretKey};

fn dec(ctx: &Context, ct: &Ciphertext, sk: &SecretKey) -> Vec<Complex64> {
    ctx.decode(&ctx.decrypt(ct, sk).unwrap()).unwrap()
}

fn zip_with(
    a: &[Complex64],
    b: &[Complex64],
    f: impl Fn(Complex64, Complex64) -> Complex64,
) -> Vec<Complex64> {
    a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect()
}

#[test]
fn add_sub_negate_ct_pt_scalar() {
    let ctx = ctx13();
    let mut s = sampler(20);
    let sk = ctx.gen_secret_key(&mut s);
    let pk = ctx.gen_public_key(&sk, &mut s).unwrap();
    let d = ctx.default_scale();
    let (x, y) = (values(ctx.slots(), 21), values(ctx.slots(), 22));
    let l = ctx.max_level();
    let px = ctx.encode_complex(&x, l, d).unwrap();
    let py = ctx.encode_complex(&y, l, d).unwrap();
    let cx = ctx.encrypt_pk(&px, &pk, &mut s).unwrap();
    let cy = ctx.encrypt_pk(&py, &pk, &mut s).unwrap();
    let tol2 = 2.0 * slot_bound(&ctx, pk_sigma(&ctx)) / d;
    let tol1 = slot_bound(&ctx, pk_sigma(&ctx)) / d;

    assert!(
        max_err(
            &dec(&ctx, &ctx.add(&cx, &cy).unwrap(), &sk),
            &zip_with(&x, &y, |a, b| a + b)
        ) < tol2
    );
    assert!(
        max_err(
            &dec(&ctx, &ctx.sub(&cx, &cy).unwrap(), &sk),
            &zip_with(&x, &y, |a, b| a - b)
        ) < tol2
    );
    let neg: Vec<_> = x.iter().map(|a| -a).collect();
    assert!(max_err(&dec(&ctx, &ctx.negate(&cx).unwrap(), &sk), &neg) < tol1);
    assert!(
        max_err(
            &dec(&ctx, &ctx.add_plain(&cx, &py).unwrap(), &sk),
            &zip_with(&x, &y, |a, b| a + b)
        ) < tol1
    );
    assert!(
        max_err(
            &dec(&ctx, &ctx.sub_plain(&cx, &py).unwrap(), &sk),
            &zip_with(&x, &y, |a, b| a - b)
        ) < tol1
    );
    let plus: Vec<_> = x.iter().map(|a| a + 2.5).collect();
    assert!(max_err(&dec(&ctx, &ctx.add_scalar(&cx, 2.5).unwrap(), &sk), &plus) < tol1);
    let times3: Vec<_> = x.iter().map(|a| a * 3.0).collect();
    let c3 = ctx.multiply_int(&cx, 3).unwrap();
    assert_eq!(c3.level(), l);
    assert!(max_err(&dec(&ctx, &c3, &sk), &times3) < 3.0 * tol1);
    let mut acc = cx.clone();
    ctx.add_assign(&mut acc, &cy).unwrap();
    ctx.sub_assign(&mut acc, &cy).unwrap();
    assert!(max_err(&dec(&ctx, &acc, &sk), &x) < 3.0 * tol1);
}

#[test]
fn multiply_relinearize_rescale_reaches_25_bits_at_2_13() {
    let ctx = ctx13();
    let mut s = sampler(30);
    let sk = ctx.gen_secret_key(&mut s);
    let rlk = ctx.gen_relin_key(&sk, &mut s).unwrap();
    let d = ctx.default_scale();
    let (x, y) = (values(ctx.slots(), 31), values(ctx.slots(), 32));
    let l = ctx.max_level();
    let cx = ctx
        .encrypt_sk(&ctx.encode_complex(&x, l, d).unwrap(), &sk, &mut s)
        .unwrap();
    let cy = ctx
        .encrypt_sk(&ctx.encode_complex(&y, l, d).unwrap(), &sk, &mut s)
        .unwrap();
    let prod = ctx.multiply(&cx, &cy).unwrap();
    assert_eq!(prod.degree(), 2);
    let relin = ctx.relinearize(&prod, &rlk).unwrap();
    let out = ctx.rescale(&relin).unwrap();
    assert_eq!(out.level(), l - 1);
    let want = zip_with(&x, &y, |a, b| a * b);
    let err = max_err(&dec(&ctx, &out, &sk), &want);
    // |x|,|y| ≤ √2: each input's noise is multiplied by at most √2, plus the rescale rounding.
    let bound = (2f64.sqrt() * 2.0 * slot_bound(&ctx, sk_sigma())
        + slot_bound(&ctx, rescale_sigma(&ctx)))
        / out.scale();
    assert!(
        err < bound,
        "err 2^{:.1} bound 2^{:.1}",
        err.log2(),
        bound.log2()
    );
    assert!(bits(err) >= 25.0, "only {:.1} bits", bits(err));
    // Degree-2 ciphertexts decrypt directly too (at scale Δ², before any rounding).
    let err2 = max_err(&dec(&ctx, &prod, &sk), &want);
    assert!(err2 < 2f64.sqrt() * 2.0 * slot_bound(&ctx, sk_sigma()) / d);
}

#[test]
fn square_and_sum_of_products_before_one_relinearization() {
    let ctx = ctx13();
    let mut s = sampler(40);
    let sk = ctx.gen_secret_key(&mut s);
    let rlk = ctx.gen_relin_key(&sk, &mut s).unwrap();
    let d = ctx.default_scale();
    let l = ctx.max_level();
    let (x, y) = (values(ctx.slots(), 41), values(ctx.slots(), 42));
    let cx = ctx
        .encrypt_sk(&ctx.encode_complex(&x, l, d).unwrap(), &sk, &mut s)
        .unwrap();
    let cy = ctx
        .encrypt_sk(&ctx.encode_complex(&y, l, d).unwrap(), &sk, &mut s)
        .unwrap();
    let mut sum = ctx.square(&cx).unwrap();
    ctx.add_assign(&mut sum, &ctx.multiply(&cx, &cy).unwrap())
        .unwrap();
    let out = ctx.rescale(&ctx.relinearize(&sum, &rlk).unwrap()).unwrap();
    let want = zip_with(&x, &y, |a, b| a * a + a * b);
    let bound = (4.0 * 2f64.sqrt() * slot_bound(&ctx, sk_sigma())
        + slot_bound(&ctx, rescale_sigma(&ctx)))
        / out.scale();
    assert!(max_err(&dec(&ctx, &out, &sk), &want) < bound);
}

#[test]
fn multiply_plain_and_scalar_then_rescale() {
    let ctx = ctx13();
    let mut s = sampler(50);
    let sk = ctx.gen_secret_key(&mut s);
    let d = ctx.default_scale();
    let l = ctx.max_level();
    let (x, y) = (real_values(ctx.slots(), 51), real_values(ctx.slots(), 52));
    let cx = ctx
        .encrypt_sk(&ctx.encode_complex(&x, l, d).unwrap(), &sk, &mut s)
        .unwrap();
    let py = ctx.encode_complex(&y, l, d).unwrap();
    let bound = (slot_bound(&ctx, sk_sigma()) + slot_bound(&ctx, rescale_sigma(&ctx)))
        / (d * d / ctx.q_primes()[l] as f64);
    let out = ctx.rescale(&ctx.multiply_plain(&cx, &py).unwrap()).unwrap();
    assert!(max_err(&dec(&ctx, &out, &sk), &zip_with(&x, &y, |a, b| a * b)) < bound);
    let out = ctx
        .rescale(&ctx.multiply_scalar(&cx, -0.75, d).unwrap())
        .unwrap();
    let want: Vec<_> = x.iter().map(|a| a * -0.75).collect();
    assert!(max_err(&dec(&ctx, &out, &sk), &want) < bound);
}

#[test]
fn deep_chain_of_squarings_keeps_precision() {
    let ctx = deep12();
    let mut s = sampler(60);
    let sk = ctx.gen_secret_key(&mut s);
    let pk = ctx.gen_public_key(&sk, &mut s).unwrap();
    let rlk = ctx.gen_relin_key(&sk, &mut s).unwrap();
    let d = ctx.default_scale();
    let x = real_values(ctx.slots(), 61);
    let mut ct = ctx
        .encrypt_pk(
            &ctx.encode_complex(&x, ctx.max_level(), d).unwrap(),
            &pk,
            &mut s,
        )
        .unwrap();
    let mut want = x.clone();
    let mut bound = slot_bound(&ctx, pk_sigma(&ctx)) / d;
    while ct.level() > 0 {
        ct = ctx
            .rescale(&ctx.relinearize(&ctx.square(&ct).unwrap(), &rlk).unwrap())
            .unwrap();
        want.iter_mut().for_each(|v| *v = *v * *v);
        // Squaring doubles the relative error (|x| ≤ 1), rescaling adds its rounding.
        bound = 2.0 * bound + slot_bound(&ctx, rescale_sigma(&ctx)) / ct.scale();
        let err = max_err(&dec(&ctx, &ct, &sk), &want);
        assert!(
            err < bound,
            "level {}: err 2^{:.1} bound 2^{:.1}",
            ct.level(),
            err.log2(),
            bound.log2()
        );
    }
    assert!(matches!(
        ctx.rescale(&ct),
        Err(CkksError::LevelExhausted { .. })
    ));
}

#[test]
fn drop_level_keeps_value_and_scale() {
    let ctx = deep12();
    let mut s = sampler(70);
    let sk = ctx.gen_secret_key(&mut s);
    let d = ctx.default_scale();
    let x = values(ctx.slots(), 71);
    let ct = ctx
        .encrypt_sk(
            &ctx.encode_complex(&x, ctx.max_level(), d).unwrap(),
            &sk,
            &mut s,
        )
        .unwrap();
    let low = ctx.drop_level(&ct, 1).unwrap();
    assert_eq!((low.level(), low.scale()), (1, ct.scale()));
    assert!(max_err(&dec(&ctx, &low, &sk), &x) < slot_bound(&ctx, sk_sigma()) / d);
    assert!(ctx.drop_level(&low, 3).is_err());
}

#[test]
fn invalid_inputs_return_typed_errors() {
    let ctx = deep12();
    let mut s = sampler(80);
    let sk = ctx.gen_secret_key(&mut s);
    let rlk = ctx.gen_relin_key(&sk, &mut s).unwrap();
    let gk = ctx.gen_galois_keys(&sk, &[1], false, &mut s).unwrap();
    let d = ctx.default_scale();
    let x = values(8, 81);
    let top = ctx.max_level();
    let a = ctx
        .encrypt_sk(&ctx.encode_complex(&x, top, d).unwrap(), &sk, &mut s)
        .unwrap();
    let b = ctx
        .encrypt_sk(&ctx.encode_complex(&x, top - 1, d).unwrap(), &sk, &mut s)
        .unwrap();
    let c = ctx
        .encrypt_sk(&ctx.encode_complex(&x, top, d * 2.0).unwrap(), &sk, &mut s)
        .unwrap();
    assert!(matches!(
        ctx.add(&a, &b),
        Err(CkksError::LevelMismatch { .. })
    ));
    assert!(matches!(
        ctx.multiply(&a, &b),
        Err(CkksError::LevelMismatch { .. })
    ));
    assert!(matches!(
        ctx.add(&a, &c),
        Err(CkksError::ScaleMismatch { .. })
    ));
    assert!(matches!(
        ctx.rotate(&a, 2, &gk),
        Err(CkksError::MissingGaloisKey { .. })
    ));
    assert!(matches!(
        ctx.conjugate(&a, &gk),
        Err(CkksError::MissingGaloisKey { .. })
    ));
    assert!(matches!(
        ctx.rotate_hoisted(&a, &[1, 3], &gk),
        Err(CkksError::MissingGaloisKey { .. })
    ));
    let deg2 = ctx.multiply(&a, &a).unwrap();
    assert!(matches!(
        ctx.multiply(&deg2, &a),
        Err(CkksError::DegreeMismatch { .. })
    ));
    assert!(matches!(
        ctx.rotate(&deg2, 1, &gk),
        Err(CkksError::DegreeMismatch { .. })
    ));
    assert!(matches!(
        ctx.relinearize(&a, &rlk),
        Err(CkksError::DegreeMismatch { .. })
    ));
    assert!(matches!(
        ctx.encode(&[0.0; 3000], 0, d),
        Err(CkksError::TooManyValues { .. })
    ));
    assert!(matches!(
        ctx.encode(&[f64::NAN], 0, d),
        Err(CkksError::Encoding(_))
    ));
    assert!(matches!(
        ctx.encode(&[1e30], 0, d),
        Err(CkksError::Encoding(_))
    ));
    assert!(matches!(
        ctx.encode(&[1.0], 99, d),
        Err(CkksError::LevelOutOfRange { .. })
    ));
    let low_pt = ctx.encode_complex(&x, 0, d).unwrap();
    assert!(matches!(
        ctx.multiply_plain(&a, &low_pt),
        Err(CkksError::LevelMismatch { .. })
    ));
    // Objects from another parameter set are refused.
    let other = ctx13();
    let other_sk = other.gen_secret_key(&mut s);
    assert!(matches!(
        ctx.decrypt(&a, &other_sk),
        Err(CkksError::ContextMismatch)
    ));
    assert!(matches!(other.add(&a, &a), Err(CkksError::ContextMismatch)));
}

#[test]
fn ops_run_inside_a_one_thread_pool_with_identical_results() {
    let ctx = deep12();
    let mut s = sampler(300);
    let sk = ctx.gen_secret_key(&mut s);
    let rlk = ctx.gen_relin_key(&sk, &mut s).unwrap();
    let gk = ctx.gen_galois_keys(&sk, &[3], false, &mut s).unwrap();
    let x = values(ctx.slots(), 301);
    let ct = ctx
        .encrypt_sk(
            &ctx.encode_complex(&x, ctx.max_level(), ctx.default_scale())
                .unwrap(),
            &sk,
            &mut s,
        )
        .unwrap();
    let run = || {
        let m = ctx
            .rescale(&ctx.multiply_relin(&ct, &ct, &rlk).unwrap())
            .unwrap();
        ctx.rotate(&m, 3, &gk).unwrap()
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    // Evaluation is deterministic: the thread count must not change a single bit.
    assert_eq!(pool.install(run), run());
}

/// The in-place forms the server uses on values no one reads again give bit for bit the
/// ciphertexts of the copying forms.
#[test]
fn in_place_ops_equal_the_copying_ones() {
    let ctx = ctx13();
    let mut s = sampler(330);
    let sk = ctx.gen_secret_key(&mut s);
    let pk = ctx.gen_public_key(&sk, &mut s).unwrap();
    let d = ctx.default_scale();
    let l = ctx.max_level();
    let x = ctx
        .encrypt_pk(
            &ctx.encode_complex(&values(ctx.slots(), 331), l, d).unwrap(),
            &pk,
            &mut s,
        )
        .unwrap();
    let y = ctx
        .encrypt_pk(
            &ctx.encode_complex(&values(ctx.slots(), 332), l, d).unwrap(),
            &pk,
            &mut s,
        )
        .unwrap();
    let p = ctx.encode_complex(&values(ctx.slots(), 333), l, d).unwrap();
    let in_place = |f: &dyn Fn(&mut Ciphertext)| {
        let mut c = x.clone();
        f(&mut c);
        c
    };
    assert_eq!(
        ctx.add(&x, &y).unwrap(),
        in_place(&|c| ctx.add_assign(c, &y).unwrap())
    );
    assert_eq!(
        ctx.sub(&x, &y).unwrap(),
        in_place(&|c| ctx.sub_assign(c, &y).unwrap())
    );
    assert_eq!(
        ctx.negate(&x).unwrap(),
        in_place(&|c| ctx.negate_assign(c).unwrap())
    );
    assert_eq!(
        ctx.add_plain(&x, &p).unwrap(),
        in_place(&|c| ctx.add_plain_assign(c, &p).unwrap())
    );
    assert_eq!(
        ctx.add_scalar(&x, 0.25).unwrap(),
        in_place(&|c| ctx.add_scalar_assign(c, 0.25).unwrap())
    );
    assert_eq!(
        ctx.multiply_scalar(&x, -1.5, d).unwrap(),
        in_place(&|c| ctx.multiply_scalar_assign(c, -1.5, d).unwrap())
    );
    assert_eq!(
        ctx.multiply_int(&x, -3).unwrap(),
        in_place(&|c| ctx.multiply_int_assign(c, -3).unwrap())
    );
    let big = ctx.multiply_scalar(&x, 0.5, d).unwrap();
    let mut r = big.clone();
    ctx.rescale_assign(&mut r).unwrap();
    assert_eq!(ctx.rescale(&big).unwrap(), r);
    assert_eq!(
        ctx.drop_level(&x, 0).unwrap(),
        in_place(&|c| ctx.drop_level_assign(c, 0).unwrap())
    );
    // Errors are the same too, and leave no half-done value behind.
    let mut bottom = ctx.drop_level(&x, 0).unwrap();
    assert!(matches!(
        ctx.rescale_assign(&mut bottom),
        Err(CkksError::LevelExhausted { .. })
    ));
    assert_eq!(bottom, ctx.drop_level(&x, 0).unwrap());
}

/// Dividing by several primes at once is the same as rescaling by each in turn: the same
/// level and scale (to the last bit), the same values within one rounding's error.
#[test]
fn rescale_by_several_primes_at_once_equals_rescaling_one_by_one() {
    let ctx = deep12();
    let mut s = sampler(90);
    let sk = ctx.gen_secret_key(&mut s);
    let rlk = ctx.gen_relin_key(&sk, &mut s).unwrap();
    let d = ctx.default_scale();
    let x = values(ctx.slots(), 91);
    let ct = encrypt_at(&ctx, &sk, &x, ctx.max_level(), d, &mut s);
    // x² at scale Δ²·2^40 (the constant 1 at scale 2^40): room for two 40-bit divisions.
    let sq = ctx.relinearize(&ctx.square(&ct).unwrap(), &rlk).unwrap();
    let sq = ctx.multiply_scalar(&sq, 1.0, 2f64.powi(40)).unwrap();
    let want: Vec<_> = x.iter().map(|v| v * v).collect();
    for k in 1..=2 {
        let mut one_by_one = sq.clone();
        for _ in 0..k {
            ctx.rescale_assign(&mut one_by_one).unwrap();
        }
        let mut at_once = sq.clone();
        ctx.rescale_many_assign(&mut at_once, k).unwrap();
        assert_eq!(at_once.level(), one_by_one.level());
        assert_eq!(at_once.scale().to_bits(), one_by_one.scale().to_bits());
        let (a, b) = (dec(&ctx, &at_once, &sk), dec(&ctx, &one_by_one, &sk));
        // The two differ by the roundings (k of them against one), each ~sqrt(N) in the
        // coefficients.
        let rounding = k as f64 * slot_bound(&ctx, rescale_sigma(&ctx)) / at_once.scale();
        assert!(max_err(&a, &b) < rounding, "k = {k}: {}", max_err(&a, &b));
        assert!(max_err(&a, &want) < 1e-3, "k = {k}: {}", max_err(&a, &want));
    }
    let mut low = ctx.drop_level(&sq, 1).unwrap();
    assert!(matches!(
        ctx.rescale_many_assign(&mut low, 2),
        Err(CkksError::LevelExhausted { .. })
    ));
}

/// A linear combination in one pass equals the sum of the scaled terms, read at a lower level
/// without copying; terms of different scales are refused.
#[test]
fn linear_combination_equals_the_sum_of_scaled_terms() {
    let ctx = deep12();
    let mut s = sampler(95);
    let sk = ctx.gen_secret_key(&mut s);
    let d = ctx.default_scale();
    let l = ctx.max_level();
    let (x, y) = (values(ctx.slots(), 96), values(ctx.slots(), 97));
    // Different levels and scales; the weights' scales bring both terms to Δ·2^30.
    let (cx, cy) = (
        encrypt_at(&ctx, &sk, &x, l, d, &mut s),
        encrypt_at(&ctx, &sk, &y, l - 1, d * 4.0, &mut s),
    );
    let target = d * 2f64.powi(30);
    let out = ctx
        .linear_combination(
            &[&cx, &cy],
            &[0.5, -1.25],
            &[target / d, target / (d * 4.0)],
            1,
        )
        .unwrap();
    assert_eq!(out.level(), 1);
    assert!((out.scale() / target - 1.0).abs() < 1e-12);
    let want = zip_with(&x, &y, |a, b| a * 0.5 - b * 1.25);
    let bound = 2.0 * slot_bound(&ctx, sk_sigma()) / d;
    assert!(max_err(&dec(&ctx, &out, &sk), &want) < bound);
    assert!(matches!(
        ctx.linear_combination(&[&cx, &cy], &[1.0, 1.0], &[1.0, 1.0], 1),
        Err(CkksError::ScaleMismatch { .. })
    ));
    assert!(ctx
        .linear_combination(&[&cx], &[1.0, 2.0], &[1.0], 1)
        .is_err());
    assert!(matches!(
        ctx.linear_combination(&[&cy], &[1.0], &[1.0], l),
        Err(CkksError::LevelExhausted { .. })
    ));
}
