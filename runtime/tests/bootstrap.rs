//! Bootstrapping against the plaintext at small, **insecure** rings (the security check is
//! off: test-only parameters, never produced by a file).

mod common;

use common::*;
use hel_runtime::ckks::bootstrap::{precision_bits, BootstrapKeys, BootstrapParams, Bootstrapper};
use hel_runtime::ckks::{Ciphertext, Complex64, Sampler, SecretKey};

/// The documented circuit shape at N = 2^`log_n`, with the security check switched off.
fn insecure_small_for_testing_only(log_n: u32) -> BootstrapParams {
    BootstrapParams::insecure_for_testing_only(log_n, 2)
}

/// Encrypts `v` at level 0, bootstraps it and checks that the result comes out at the
/// bootstrapper's output level with the input's scale; returns it with its precision against
/// `v` (mean and min bits).
fn encrypt_and_bootstrap(
    boot: &Bootstrapper,
    sk: &SecretKey,
    keys: &BootstrapKeys,
    v: &[Complex64],
    s: &mut Sampler,
) -> (Ciphertext, f64, f64) {
    let ctx = boot.context();
    let pt = ctx.encode_complex(v, 0, ctx.default_scale()).unwrap();
    let ct = ctx.encrypt_sk(&pt, sk, s).unwrap();
    let out = boot.bootstrap(&ct, keys).unwrap();
    assert_eq!(out.level(), boot.output_level());
    assert_eq!(out.scale(), ct.scale());
    let got = ctx.decode(&ctx.decrypt(&out, sk).unwrap()).unwrap();
    let (mean, min) = precision_bits(&got, v);
    (out, mean, min)
}

#[test]
fn bootstrapping_refreshes_full_slots() {
    let boot = Bootstrapper::new(&insecure_small_for_testing_only(12)).unwrap();
    let ctx = boot.context();
    let mut s = sampler(1);
    let sk = ctx.gen_secret_key(&mut s);
    let keys = boot.gen_keys(&sk, &mut s).unwrap();
    let v = values(ctx.slots(), 2);
    let (out, mean, min) = encrypt_and_bootstrap(&boot, &sk, &keys, &v, &mut s);
    assert_eq!(out.level(), 2);
    eprintln!("precision mean {mean:.2} min {min:.2}");
    // The figures of docs/bootstrapping.md for this set (18.3 / 16.9 measured): at N = 2^12
    // the sine's cubic term (the message coefficients are ~sqrt(2/N), so Δ·m/q_0 is largest
    // at small N) limits the precision; at N = 2^16 it is 22.4 / 20.6.
    assert!(mean >= 18.0 && min >= 16.0, "mean {mean}, min {min}");

    // The refreshed ciphertext computes like a fresh one: square it with the key set's
    // relinearization key, bootstrap the product from level 0 again, and compare with v².
    let rlk = keys.relin_key();
    let sq = ctx
        .rescale(&ctx.relinearize(&ctx.square(&out).unwrap(), rlk).unwrap())
        .unwrap();
    let again = boot
        .bootstrap(&ctx.drop_level(&sq, 0).unwrap(), &keys)
        .unwrap();
    assert_eq!(again.level(), 2);
    let want: Vec<_> = v.iter().map(|x| x * x).collect();
    let got = ctx.decode(&ctx.decrypt(&again, &sk).unwrap()).unwrap();
    let (mean2, min2) = precision_bits(&got, &want);
    eprintln!("after a product and a second bootstrap: mean {mean2:.2} min {min2:.2}");
    // |v²| ≤ 2 doubles the sine's distortion (~1 bit) and the first bootstrap's error is
    // doubled by the square: one bit below the single bootstrap.
    assert!(mean2 >= 16.5 && min2 >= 14.5, "mean {mean2}, min {min2}");
}

/// Sparse slots: n values repeated over the ring's N/2 slots come back repeated (the trace
/// after ModRaise and the n-slot DFTs, see `bootstrap/mod.rs`), for several n down to the
/// rule's least (one stage per merged level), with q_0 grown by the rule
/// (`BootstrapParams::with_slots`). Measured 17.8 / 17.3 bits (mean / min) at 2^3 slots,
/// 18.4 / 17.1 at 2^7, 19.2 / 17.9 at 2^10, against 18.3 / 16.9 for full slots: the mean within
/// a bit of the full-slot circuit's, the minimum no worse. Without the larger q_0, 2^3 slots
/// gave 9.8 bits.
#[test]
fn bootstrapping_refreshes_sparse_slots() {
    for log_slots in [3, 7, 10] {
        let params = insecure_small_for_testing_only(12).with_slots(log_slots);
        let boot = Bootstrapper::new(&params).unwrap();
        let ctx = boot.context();
        let mut s = sampler(10 + u64::from(log_slots));
        let sk = ctx.gen_secret_key(&mut s);
        let keys = boot.gen_keys(&sk, &mut s).unwrap();
        assert_eq!(boot.slots(), 1 << log_slots);
        let v = boot.repeat(&values(boot.slots(), 4));
        let (_, mean, min) = encrypt_and_bootstrap(&boot, &sk, &keys, &v, &mut s);
        eprintln!("2^{log_slots} slots: precision mean {mean:.2} min {min:.2}");
        assert!(
            mean >= 17.5 && min >= 16.0,
            "2^{log_slots} slots: mean {mean}, min {min}"
        );
    }
}

/// What a bootstrap returns beyond its noise is EvalMod's sine of the message's coefficients
/// (`hel_schedule::SineDistortion`, which the compiler's noise simulation applies): for a
/// constant message (one coefficient, distorted by 2^-5 at 4 and 2^7 slots), a complex one
/// (two messages in one bootstrap) and independent slots, the output is the predicted
/// distortion within 2^-24, though the distortion itself reaches 2^-5.
#[test]
fn the_bootstrap_output_is_the_sine_of_the_message_coefficients() {
    let params = insecure_small_for_testing_only(12).with_slots(7);
    let boot = Bootstrapper::new(&params).unwrap();
    let ctx = boot.context();
    let q0 = ctx.q_primes()[0] as f64;
    let mut s = sampler(21);
    let sk = ctx.gen_secret_key(&mut s);
    let keys = boot.gen_keys(&sk, &mut s).unwrap();
    let sine = hel_schedule::SineDistortion::new(ctx.slots()).unwrap();
    let random = values(boot.slots(), 6);
    let messages: [(&str, Vec<Complex64>); 3] = [
        ("constant", vec![Complex64::new(4.0, 0.0); boot.slots()]),
        ("complex", vec![Complex64::new(2.4, -2.8); boot.slots()]),
        ("independent", random.iter().map(|z| z * 4.0).collect()),
    ];
    for (what, v) in messages {
        let v = boot.repeat(&v);
        let (out, _, _) = encrypt_and_bootstrap(&boot, &sk, &keys, &v, &mut s);
        let got = ctx.decode(&ctx.decrypt(&out, &sk).unwrap()).unwrap();
        let mut re: Vec<f64> = v.iter().map(|z| z.re).collect();
        let mut im: Vec<f64> = v.iter().map(|z| z.im).collect();
        let t = hel_schedule::SineDistortion::angle(ctx.default_scale(), q0);
        sine.apply(t, &mut re, Some(&mut im));
        let worst = |want: &dyn Fn(usize) -> Complex64| {
            got.iter()
                .enumerate()
                .map(|(k, z)| (z - want(k)).norm())
                .fold(0.0, f64::max)
        };
        let distortion = worst(&|k| v[k]);
        let residual = worst(&|k| Complex64::new(re[k], im[k]));
        eprintln!(
            "{what}: distortion 2^{:.1}, after the predicted sine 2^{:.1}",
            distortion.log2(),
            residual.log2()
        );
        assert!(residual < 2f64.powi(-24), "{what}: {residual}");
        if what != "independent" {
            assert!(distortion > 2f64.powi(-7), "{what}: {distortion}");
        }
    }
}

/// Bootstrapping keys travel as one versioned file: it loads back equal, its size is the one
/// the bench reports (plus the envelope), and a file for other parameters, a corrupted one or
/// a key file of another kind is refused.
#[test]
fn key_files_round_trip_and_refuse_foreign_or_damaged_input() {
    let params = insecure_small_for_testing_only(12);
    let boot = Bootstrapper::new(&params).unwrap();
    let ctx = boot.context();
    let mut s = sampler(3);
    let sk = ctx.gen_secret_key(&mut s);
    let keys = boot.gen_keys(&sk, &mut s).unwrap();
    let bytes = boot.keys_to_bytes(&keys).unwrap();
    assert_eq!(boot.keys_from_bytes(&bytes).unwrap(), keys);
    let payload = boot.key_bytes(&keys);
    // Envelope, counts and Galois elements: well under a kilobyte next to megabytes of keys.
    assert!(
        bytes.len() >= payload && bytes.len() - payload < 1024,
        "{} bytes in the file, {payload} computed",
        bytes.len()
    );
    let other = Bootstrapper::new(&BootstrapParams {
        log_q0: 46,
        ..params
    })
    .unwrap();
    assert!(other.keys_from_bytes(&bytes).is_err());
    let mut damaged = bytes.clone();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 1;
    assert!(boot.keys_from_bytes(&damaged).is_err());
    assert!(boot.keys_from_bytes(&bytes[..bytes.len() - 40]).is_err());
    let relin_file = keys.relin_key().to_bytes(ctx).unwrap();
    assert!(boot.keys_from_bytes(&relin_file).is_err());
}

/// A program between bootstraps runs under its own context, the bottom of the chain
/// (`BootstrapParams::program_params`): a ciphertext of it moves into the bootstrapping
/// context, is refreshed onto the scale the program wants, and moves back, exactly (the same
/// residues); the secret key serves both. A context of other primes is refused.
#[test]
fn program_contexts_share_the_chain_bottom() {
    let params = insecure_small_for_testing_only(12).with_slots(7);
    let boot = Bootstrapper::new(&params).unwrap();
    let big = boot.context();
    let prog = hel_runtime::ckks::Context::new(&params.program_params().unwrap()).unwrap();
    assert_eq!(prog.q_primes(), &big.q_primes()[..=params.program_levels]);
    let mut s = sampler(21);
    let sk = big.gen_secret_key(&mut s);
    let prog_sk = prog.adopt_secret_key(&sk).unwrap();
    let keys = boot.gen_keys(&sk, &mut s).unwrap();
    let v = boot.repeat(&values(boot.slots(), 5));
    // Encrypted under the program's context at its bottom, as a round's output would be.
    let pt = prog.encode_complex(&v, 0, prog.default_scale()).unwrap();
    let ct = prog.encrypt_sk(&pt, &prog_sk, &mut s).unwrap();
    let lifted = big.adopt(&ct, &prog).unwrap();
    let want_scale = prog.default_scale() * 1.001;
    let fresh = boot.bootstrap_to(&lifted, &keys, want_scale).unwrap();
    assert_eq!(fresh.scale(), want_scale);
    let back = prog.adopt(&fresh, big).unwrap();
    assert_eq!(back.level(), params.program_levels);
    let got = prog
        .decode(&prog.decrypt(&back, &prog_sk).unwrap())
        .unwrap();
    let (mean, min) = precision_bits(&got, &v);
    eprintln!("through the program context: mean {mean:.2} min {min:.2}");
    assert!(mean >= 17.0 && min >= 15.5, "mean {mean}, min {min}");
    // A chain with another q_0 shares nothing.
    let other = BootstrapParams {
        log_q0: params.log_q0 + 1,
        ..params.clone()
    };
    let foreign = hel_runtime::ckks::Context::new(&other.program_params().unwrap()).unwrap();
    assert!(foreign.adopt(&ct, &prog).is_err());
    assert!(boot
        .bootstrap_to(&lifted, &keys, want_scale * 4096.0)
        .is_err());
}
