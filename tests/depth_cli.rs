//! `hel depth`: the report's JSON keys, `--json` printing exactly one object on stdout, and the
//! optimization levels and client-precompute switch reaching the pipeline.

use std::process::Command;

fn depth_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_hel"))
        .arg("depth")
        .args(args)
        .arg("--json")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run hel");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(text.trim_end().lines().count(), 1, "--json prints one line");
    serde_json::from_str(&text).expect("one JSON object")
}

/// `text` written to `name` in a fresh temporary directory (kept alive by the first value).
fn program_file(name: &str, text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::Builder::new()
        .prefix("hel-depth-")
        .tempdir()
        .expect("temp dir");
    let file = dir.path().join(name);
    std::fs::write(&file, text).expect("write");
    let path = file.to_str().expect("utf-8").to_string();
    (dir, path)
}

#[test]
fn json_report_has_the_documented_keys() {
    let v = depth_json(&[
        "examples/logreg_gd.hel",
        "--set",
        "k=3",
        "--set",
        "m=8",
        "--set",
        "f=5",
    ]);
    assert!(v["tensor_depth"].is_u64());
    assert_eq!(v["per_iteration"].as_array().map(Vec::len), Some(3));
    assert!(v["tensor_ops"]
        .as_object()
        .is_some_and(|o| o.contains_key("matvec")));
    // Ciphertext level (issue 4): depth, parameters, keys, inputs, ops by ciphertext kind.
    assert!(v["depth"].as_u64().is_some_and(|d| d >= 1));
    assert!(v["params"]["log_n"]
        .as_u64()
        .is_some_and(|n| (13..=16).contains(&n)));
    assert_eq!(v["params"]["security_bits"], 128);
    assert!(v["rotation_keys"]["count"].as_u64().is_some_and(|c| c > 0));
    assert!(v["input_bytes"].as_u64().is_some_and(|b| b > 0));
    assert!(v["ops"]
        .as_object()
        .is_some_and(|o| o.contains_key("ct_mul") && o.contains_key("rotate")));
    assert!(v["passes"]
        .as_array()
        .is_some_and(|p| p.iter().any(|r| r["name"] == "lower")));
    let path = v["critical_path"].as_array().expect("array");
    assert!(path.iter().all(|s| s["op"].is_string()
        && s["span"]
            .as_str()
            .is_some_and(|x| x.contains("logreg_gd.hel:"))));
    let passes = v["passes"].as_array().expect("array");
    assert!(passes
        .iter()
        .any(|p| p["name"] == "unroll" && p["tensor_depth"].is_u64() && p["ops"].is_object()));
    assert_eq!(
        passes.last().map(|p| p["tensor_depth"].clone()),
        Some(v["tensor_depth"].clone())
    );
    assert!(v["extra_inputs"]["count"].is_u64() && v["extra_inputs"]["values"].is_u64());
    // The levels on the critical path add up to the depth.
    let sum: u64 = v["per_iteration"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|x| x.as_u64())
        .sum();
    assert_eq!(sum, v["tensor_depth"].as_u64().expect("depth"));
}

#[test]
fn levels_and_precompute_switch_change_the_result() {
    let base = [
        "examples/logreg_gd.hel",
        "--set",
        "k=4",
        "--set",
        "m=8",
        "--set",
        "f=5",
    ];
    let d = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        depth_json(&args)
    };
    let (o0, o1, o2) = (d(&["-O0"]), d(&["-O1"]), d(&["-O2"]));
    let depth = |v: &serde_json::Value| v["tensor_depth"].as_u64().expect("depth");
    // README, "Results so far": GD has depth 6k - 1, 3k - 2 and 2k - 2 at -O0, -O1, -O2.
    let k = 4;
    assert_eq!(
        [depth(&o0), depth(&o1), depth(&o2)],
        [6 * k - 1, 3 * k - 2, 2 * k - 2]
    );
    assert_eq!(o1["extra_inputs"]["count"], 0, "-O1 never precomputes");
    assert!(o2["extra_inputs"]["count"].as_u64().expect("count") > 0);
    let off = d(&["-O2", "--client-precompute", "off"]);
    assert_eq!(off["extra_inputs"]["count"], 0);
    assert!(depth(&off) >= depth(&o2));
}

/// A program that diverges on its declared input ranges (`y -> (y + 1)(y + 2)` from [-1, 1]
/// passes 1e300 within ten steps) holds values no CKKS modulus can: it gets no
/// ciphertext-level report, with the range error at the output naming the magnitude, rather
/// than an error bound that cannot hold. Three steps (values up to 3,306) fit a wider base.
#[test]
fn diverging_programs_are_out_of_range() {
    let (_dir, file) = program_file(
        "diverge.hel",
        "const k = 16;\ninput x: enc vector[4] range [-1, 1];\nlet y = x;\n\
         for i in 0..k {\n    y = (y + 1) * (y + 2);\n}\noutput y;\n",
    );
    for (k, diverges) in [("k=3", false), ("k=16", true)] {
        let out = Command::new(env!("CARGO_BIN_EXE_hel"))
            .args(["depth", &file, "--set", k, "--json"])
            .output()
            .expect("run hel");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
        // The ciphertext-level keys are flattened into the report; absent without one.
        assert_eq!(v["params"].is_null(), diverges, "{k}: {v}");
        assert_eq!(
            stderr.contains("hel::range::too_large"),
            diverges,
            "{k}: {stderr}"
        );
        if diverges {
            assert!(
                stderr.contains("too large for any CKKS modulus"),
                "{stderr}"
            );
            assert!(stderr.contains("beyond f64"), "{stderr}");
        } else {
            assert!(v["predicted_error"].is_number(), "{v}");
        }
    }
}

/// `hel depth` of a circuit no parameter set holds (issue 18, item 4): the ciphertext depth
/// still, `params` null and why; and the text report of one that compiles names its keys,
/// upload and server memory.
#[test]
fn depth_is_reported_when_no_parameter_set_holds_the_circuit() {
    let (_dir, file) = program_file(
        "deep.hel",
        "const k = 6;\ninput x: enc vector[4] range [-1, 1];\nlet y = x;\n\
         for i in 0..k { y = y * y; }\noutput y;\n",
    );
    let file = file.as_str();
    let hel = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_hel"))
            .arg("depth")
            .arg(file)
            .args(args)
            .output()
            .expect("run hel");
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        (String::from_utf8(out.stdout).expect("utf-8"), stderr)
    };
    // Six squarings: depth 6; N = 2^13 holds 3 levels at 128 bits.
    let (json, _) = hel(&["--max-log-n", "13", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("one JSON object");
    let depth = v["depth"].as_u64().expect("a ciphertext depth");
    assert!(depth >= 6, "{v}");
    assert!(v["params"].is_null(), "{v}");
    assert_eq!(v["params_error"]["code"], "hel::params::too_deep", "{v}");
    let message = v["params_error"]["message"].as_str().expect("message");
    assert!(message.starts_with(&format!("depth {depth} ")), "{v}");
    assert!(v["tensor_depth"].as_u64().is_some(), "{v}");
    let (text, stderr) = hel(&["--max-log-n", "13"]);
    assert!(
        text.contains(&format!(
            "ciphertext depth {depth} (levels consumed): no parameter set holds it"
        )),
        "{text}"
    );
    // No training loop: no word of `hel train`.
    assert!(!stderr.contains("hel train"), "{stderr}");

    // With room for it: the full report, its resources in the JSON and in the text.
    let (json, _) = hel(&["--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("one JSON object");
    assert_eq!(v["depth"].as_u64(), Some(depth), "{v}");
    assert!(
        v["params"]["log_n"].is_u64() && v.get("params_error").is_none(),
        "{v}"
    );
    let peak = v["resources"]["server_peak_bytes"].as_u64().expect("peak");
    let keys = v["resources"]["eval_key_bytes"].as_u64().expect("keys");
    let upload = v["resources"]["upload_bytes"].as_u64().expect("upload");
    let (text, _) = hel(&[]);
    for (what, n) in [
        ("evaluation keys", keys),
        ("upload", upload),
        ("server peak memory at least", peak),
    ] {
        assert!(
            text.contains(&format!("{what} {n} bytes")),
            "{what}: {text}"
        );
    }
}

/// A training loop too deep for one circuit: the note names the rounds, with bootstraps placed
/// by the compiler (`--refresh bootstrap`) or run by `hel train`.
#[test]
fn a_training_loop_too_deep_for_one_circuit_points_at_rounds() {
    let out = Command::new(env!("CARGO_BIN_EXE_hel"))
        .args([
            "depth",
            "examples/logreg_gd.hel",
            "--set",
            "k=24",
            "--set",
            "m=8",
        ])
        .args(["--set", "f=3"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run hel");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("no parameter set holds it"), "{stderr}");
    // The help is wrapped to the terminal: compare with the whitespace collapsed.
    let flat = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("`--refresh bootstrap` places a bootstrap"),
        "{stderr}"
    );
    assert!(
        flat.contains("hel train --program examples/logreg_gd.hel"),
        "{stderr}"
    );
}

/// `--compare` compiles each level as `hel compile` does and reports what it buys: the -O2 row
/// is the plain `hel depth -O2` report's depth and ring (this program gets one plan at -O2),
/// each row names the level whose schedule it is, and a level with client-precomputed inputs
/// shows the client's work.
#[test]
fn compare_shows_each_level_side_by_side() {
    let sets = [
        "examples/logreg_gd.hel",
        "--set",
        "k=3",
        "--set",
        "m=8",
        "--set",
        "f=5",
    ];
    let mut args = sets.to_vec();
    args.push("--compare");
    let v = depth_json(&args);
    let rows = v["compare"].as_array().expect("compare rows");
    assert_eq!(rows.len(), 3);
    for (n, r) in rows.iter().enumerate() {
        assert_eq!(r["opt_level"], n as u64);
        assert!(r["schedule_level"].as_u64().is_some_and(|l| l <= n as u64));
        assert!(r["estimated_server_seconds"]
            .as_f64()
            .is_some_and(|t| t > 0.0));
        assert!(r["eval_key_bytes"].as_u64().is_some_and(|b| b > 0));
    }
    let o2 = depth_json(&sets);
    assert_eq!(rows[2]["depth"], o2["depth"]);
    assert_eq!(rows[2]["log_n"], o2["params"]["log_n"]);
    // -O2 precomputes the cross-minibatch products; -O0 leaves the client nothing to do.
    assert!(rows[2]["client"]["extra_values"]
        .as_u64()
        .is_some_and(|x| x > 0));
    assert_eq!(rows[0]["client"]["extra_values"], 0);
    assert!(rows[0]["depth"].as_u64() > rows[2]["depth"].as_u64());
}

/// `hel depth` reports the schedule `hel compile` keeps: a decaying average whose every step
/// is also summed (each step's value is shared, so `collect-terms` leaves the chain) is depth
/// 0 once its scalings are merged (a variant the driver tries), though the -O2 pipeline alone
/// gives depth 7; the note says which rewrites were rolled back.
#[test]
fn the_report_is_the_schedule_hel_compile_keeps() {
    let (_dir, file) = program_file(
        "ema.hel",
        "const k = 100;\n\
         input Z: enc vector[8][k] range [-1, 1];\n\
         let s = zeros(8);\n\
         let t = zeros(8);\n\
         for i in 0..k { s = 0.99 * s + 0.01 * Z[i]; t = t + s; }\n\
         output s;\n\
         output t;\n",
    );
    let v = depth_json(&[&file, "-O2"]);
    assert_eq!(v["depth"], 0, "{}", v["notes"]);
    let notes = v["notes"].as_array().expect("notes");
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().is_some_and(|n| n.contains("merged"))),
        "{notes:?}"
    );
}

/// A loop whose iterations are each deeper than any bootstrap leaves: rounds cannot help, and
/// the help says so instead of pointing at `--refresh bootstrap` (which would refuse it).
#[test]
fn a_loop_too_deep_per_iteration_is_not_pointed_at_rounds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("deep.hel");
    std::fs::write(
        &path,
        "const k = 3;\ninput Z: enc vector[8][k] range [-1, 1];\nlet v = zeros(8);\n\
         for i in 0..k {\n  v = (v + Z[i])^64 * 0.5;\n  v = v^64 * 0.5;\n  v = v^64 * 0.5;\n}\n\
         output v;\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_hel"))
        .arg("compile")
        .arg(&path)
        .arg("-o")
        .arg(dir.path().join("deep.helc"))
        .output()
        .expect("run hel");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let flat = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("rounds refreshed by bootstrapping would not help"),
        "{stderr}"
    );
    assert!(!flat.contains("places a bootstrap"), "{stderr}");
    // What the help says is what `--refresh bootstrap` finds.
    let boot = Command::new(env!("CARGO_BIN_EXE_hel"))
        .arg("compile")
        .arg(&path)
        .args(["--refresh", "bootstrap", "-o"])
        .arg(dir.path().join("deep.helc"))
        .output()
        .expect("run hel");
    let stderr = String::from_utf8_lossy(&boot.stderr);
    assert_eq!(boot.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("even a round of one iteration"), "{stderr}");
}
