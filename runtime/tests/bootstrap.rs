//! Bootstrapping against the plaintext at small, **insecure** rings (the security check is
//! off: test-only parameters, never produced by a file).

mod common;

use common::*;
use hel_runtime::ckks::bootstrap::{precision_bits, BootstrapParams, Bootstrapper};
use hel_runtime::ckks::Security;

/// The documented circuit shape at N = 2^`log_n`, with the security check switched off.
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

#[test]
fn bootstrapping_refreshes_full_slots() {
    let t = std::time::Instant::now();
    let boot = Bootstrapper::new(&insecure_small_for_testing_only(12)).unwrap();
    let ctx = boot.context();
    let mut s = sampler(1);
    let sk = ctx.gen_secret_key(&mut s);
    let keys = boot.gen_keys(&sk, &mut s).unwrap();
    eprintln!("setup {:?}, {} rotations", t.elapsed(), boot.rotations().len());
    let v = values(ctx.slots(), 2);
    let ct = ctx
        .encrypt_sk(&ctx.encode_complex(&v, 0, ctx.default_scale()).unwrap(), &sk, &mut s)
        .unwrap();
    let t = std::time::Instant::now();
    let out = boot.bootstrap(&ct, &keys).unwrap();
    eprintln!("bootstrap {:?}", t.elapsed());
    assert_eq!(out.level(), boot.output_level());
    assert_eq!(out.level(), 2);
    assert_eq!(out.scale(), ct.scale());
    let got = ctx.decode(&ctx.decrypt(&out, &sk).unwrap()).unwrap();
    let (mean, min) = precision_bits(&got, &v);
    eprintln!("precision mean {mean:.2} min {min:.2}");
    assert!(mean >= 17.0 && min >= 15.0, "mean {mean}, min {min}");
}
