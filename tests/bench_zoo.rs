//! `hel bench zoo`: example programs compiled at several levels and run encrypted, with the
//! measured server times, the ratios between levels, and each run checked against its
//! schedule's plaintext simulation within the compiler's bound.

mod common;
use common::hel;

use std::path::Path;

#[test]
fn bench_zoo_runs_each_level_encrypted_and_reports_ratios() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    // One program no parameter set holds: reported as refused, the others still run.
    let deep = dir.path().join("deep.hel");
    std::fs::write(
        &deep,
        "input a: enc vector[4] range [-1, 1];\nlet x = a;\nfor i in 0..60 { x = x * x; }\noutput x;\n",
    )
    .unwrap();
    let o = hel(
        root,
        &[
            "bench",
            "zoo",
            "examples/poly.hel",
            "examples/public_features.hel",
            deep.to_str().unwrap(),
            "--levels",
            "1,2",
            "--repeat",
            "2",
            "--threads",
            "2",
            "--json",
        ],
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8(o.stdout).unwrap();
    assert_eq!(stdout.trim_end().lines().count(), 1, "{stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["repeat"], 2);
    let programs = v["programs"].as_array().unwrap();
    assert_eq!(programs.len(), 3, "{stdout}");
    for p in &programs[..2] {
        let runs = p["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 2, "{p}");
        for r in runs {
            assert_eq!(r["within_bound"], true, "{r}");
            assert!(r["server_seconds"].as_f64().unwrap() > 0.0, "{r}");
            let (e, b) = (
                r["max_error"].as_f64().unwrap(),
                r["predicted_error"].as_f64().unwrap(),
            );
            assert!(e <= b, "{r}");
        }
        // -O2 never deeper than -O1, and the ratio is of the measured medians.
        assert!(
            runs[1]["depth"].as_u64() <= runs[0]["depth"].as_u64(),
            "{p}"
        );
        let ratio = p["o2_over_o1"].as_f64().unwrap();
        let want = runs[1]["server_seconds"].as_f64().unwrap()
            / runs[0]["server_seconds"].as_f64().unwrap();
        assert!((ratio - want).abs() < 1e-12, "{p}");
        assert!(p["o1_over_o0"].is_null(), "{p}");
    }
    let refused = &programs[2];
    assert!(refused["runs"].as_array().unwrap().is_empty(), "{refused}");
    assert!(
        refused["refused"].as_str().unwrap().contains("depth"),
        "{refused}"
    );
}
