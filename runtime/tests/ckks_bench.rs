//! The library benchmark reports every operation the CLI prints.

use hel_runtime::ckks::bench;

#[test]
fn bench_report_has_all_keys() {
    let r = bench::run(12, 1).unwrap();
    for key in [
        "ntt",
        "encode",
        "encrypt",
        "add",
        "multiply",
        "relinearize",
        "multiply_plain",
        "rescale",
        "rotate",
        "decrypt_decode",
    ] {
        let t = r.median_us[key];
        assert!(t > 0.0 && t.is_finite(), "{key}: {t}");
    }
    assert_eq!((r.limbs, r.threads, r.log_q), (2, 1, 109));
    assert!(bench::run(11, 1).is_err());
}
