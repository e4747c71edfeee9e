//! Unit tests that need the internals: the distribution of the ModRaised integer parts
//! against the failure bound, and refusal of incomplete key sets.

use super::*;
use crate::ckks::params::Security;

/// The standard circuit at N = 2^`log_n` with the security check off (**insecure**, tests
/// only).
fn insecure_small_for_testing_only(log_n: u32) -> BootstrapParams {
    BootstrapParams {
        log_n,
        log_slots: log_n - 1,
        program_levels: 2,
        cts_levels: 3,
        stc_levels: 2,
        security: Security::InsecureForTestingOnly,
        ..BootstrapParams::standard_n16()
    }
}

/// Repeated encapsulations + ModRaises: the integer parts I of the raised coefficients must
/// have the variance (h + 1)/12 the failure analysis assumes, never exceed K, and exceed each
/// threshold j no more often than the Chernoff bound the failure probability is computed from
/// (per coefficient, i.e. without the union bound's factor N).
#[test]
fn modraise_integer_parts_follow_the_failure_analysis() {
    let params = insecure_small_for_testing_only(12);
    let boot = Bootstrapper::new(&params).unwrap();
    let ctx = &boot.ctx;
    let mut s = Sampler::seeded_for_testing_only(11);
    let sk = ctx.gen_secret_key(&mut s);
    let keys = boot.gen_keys(&sk, &mut s).unwrap();
    let q0 = ctx.moduli[0] as f64;
    let runs = 12;
    let mut parts = Vec::new();
    for run in 0..runs {
        let v: Vec<f64> = (0..ctx.slots())
            .map(|i| ((i * 7 + run) % 13) as f64 / 6.5 - 1.0)
            .collect();
        let pt = ctx.encode(&v, 0, ctx.default_scale()).unwrap();
        let want = ctx.centered_coeffs(&pt.poly, 0);
        let ct = ctx.encrypt_sk(&pt, &sk, &mut s).unwrap();
        let raised = boot.mod_raise(&ct, &keys).unwrap();
        assert_eq!(raised.level(), ctx.max_level());
        let dec = ctx.decrypt(&raised, &sk).unwrap();
        let got = ctx.centered_coeffs(&dec.poly, raised.level());
        for (g, w) in got.iter().zip(&want) {
            let i = ((g - w) / q0).round();
            // What remains is noise, far below q_0.
            assert!((g - w - i * q0).abs() < 1e4, "{g} {w}");
            parts.push(i);
        }
    }
    let n = parts.len() as f64;
    let var = parts.iter().map(|i| i * i).sum::<f64>() / n;
    // Rounding the sum to an integer adds 1/12 to its variance.
    let predicted = (params.hamming_weight + 1) as f64 / 12.0 + 1.0 / 12.0;
    assert!(
        (var / predicted - 1.0).abs() < 0.05,
        "variance {var} vs {predicted}"
    );
    let max = parts.iter().fold(0.0f64, |m, i| m.max(i.abs()));
    assert!(max <= params.k as f64, "|I| = {max} > K = {}", params.k);
    for j in 3..=6u32 {
        let freq = parts.iter().filter(|i| i.abs() > j as f64).count() as f64 / n;
        // failure_log2(h, j, n) includes log2(2n); a single coefficient's bound drops it.
        let bound = (params::failure_log2(params.hamming_weight, j, 1) - 1.0).exp2();
        assert!(
            freq <= bound * 1.2 + 3.0 / n,
            "P(|I| > {j}) = {freq} > {bound}"
        );
    }
}

#[test]
fn incomplete_or_foreign_keys_are_refused() {
    let params = insecure_small_for_testing_only(12);
    let boot = Bootstrapper::new(&params).unwrap();
    let ctx = &boot.ctx;
    let mut s = Sampler::seeded_for_testing_only(12);
    let sk = ctx.gen_secret_key(&mut s);
    let keys = boot.gen_keys(&sk, &mut s).unwrap();
    let ct = ctx
        .encrypt_sk(
            &ctx.encode(&[0.5], 0, ctx.default_scale()).unwrap(),
            &sk,
            &mut s,
        )
        .unwrap();
    let mut missing = keys.clone();
    let g = ctx.galois_element(boot.rotations()[0]);
    missing.galois.keys.remove(&g);
    assert_eq!(
        boot.bootstrap(&ct, &missing).unwrap_err(),
        CkksError::MissingGaloisKey { galois_element: g }
    );
    let mut no_conj = keys.clone();
    no_conj.galois.keys.remove(&ctx.conjugation_element());
    assert!(matches!(
        boot.bootstrap(&ct, &no_conj),
        Err(CkksError::MissingGaloisKey { .. })
    ));
    // Keys of another parameter set (another q_0) belong to other contexts.
    let other = Bootstrapper::new(&BootstrapParams {
        log_q0: 46,
        ..params.clone()
    })
    .unwrap();
    let sk2 = other.ctx.gen_secret_key(&mut s);
    let foreign = other.gen_keys(&sk2, &mut s).unwrap();
    assert_eq!(
        boot.bootstrap(&ct, &foreign).unwrap_err(),
        CkksError::ContextMismatch
    );
    // A ciphertext of another context too.
    assert_eq!(
        other.bootstrap(&ct, &foreign).unwrap_err(),
        CkksError::ContextMismatch
    );
}

/// The memory estimate of the kept DFT diagonals is what a bootstrap keeps: every level's
/// encodings counted limb by limb after one bootstrap, at full and sparse slots.
#[test]
fn kept_diagonals_match_their_estimate() {
    for log_slots in [11, 6] {
        let params = BootstrapParams {
            log_slots,
            ..insecure_small_for_testing_only(12)
        };
        let boot = Bootstrapper::new(&params).unwrap();
        let ctx = &boot.ctx;
        let mut s = Sampler::seeded_for_testing_only(3);
        let sk = ctx.gen_secret_key(&mut s);
        let keys = boot.gen_keys(&sk, &mut s).unwrap();
        let kept = || {
            boot.cts
                .iter()
                .chain(&boot.stc)
                .map(BsgsLevel::kept_bytes)
                .sum::<usize>()
        };
        assert_eq!(kept(), 0, "nothing is encoded before the first bootstrap");
        let v: Vec<f64> = (0..ctx.slots()).map(|i| (i % 5) as f64 / 5.0).collect();
        let pt = ctx.encode(&v, 0, ctx.default_scale()).unwrap();
        let ct = ctx.encrypt_sk(&pt, &sk, &mut s).unwrap();
        boot.bootstrap(&ct, &keys).unwrap();
        assert_eq!(kept(), boot.diagonal_memory_bytes(), "slots 2^{log_slots}");
        assert!(boot.run_memory_bytes() > boot.diagonal_memory_bytes());
    }
}
