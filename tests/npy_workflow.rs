//! `.npy` through the real commands: inputs encrypted from `.npy` files (a matrix, a vector
//! saved as a row, a sequence stacked on the first axis), the server's run, and `hel decrypt
//! --format npy` into a directory; the decrypted arrays match an independent f64 computation
//! within the compiler's predicted bound for each output. Bad files are user errors that name
//! them.

mod common;
use common::{hel, server_run_args};

use hel::data::npy::{parse_npy, write_npy};
use hel_runtime::schedule::Schedule;
use std::path::Path;

const PROGRAM: &str = "
input A: enc matrix[3, 4] range [-1, 1];
input v: enc vector[4] range [-1, 1];
input Z: enc vector[4][2] range [-1, 1];
let y = A @ (v * Z[1]);
let t = dot(Z[0], v);
output y;
output t;
";

fn run(dir: &Path, args: &[&str]) -> (i32, String) {
    let o = hel(dir, args);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn ok(dir: &Path, args: &[&str]) {
    let (code, err) = run(dir, args);
    assert_eq!(code, 0, "hel {args:?}:\n{err}");
}

#[test]
fn encrypt_from_npy_and_decrypt_to_npy() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    std::fs::write(dir.join("p.hel"), PROGRAM).expect("write");
    ok(dir, &["compile", "p.hel", "-o", "p.helc"]);
    ok(dir, &["keygen", "p.helc", "--out", "keys"]);

    let a: Vec<f64> = (0..12).map(|i| (i as f64 * 0.37).sin()).collect();
    let v = [0.5, -0.25, 0.75, -1.0];
    let z: Vec<f64> = (0..8).map(|i| (i as f64 * 0.61).cos()).collect();
    std::fs::write(dir.join("A.npy"), write_npy(&[3, 4], &a)).expect("write");
    // The vector saved as a 1 x 4 row, as `x[None, :]` would be.
    std::fs::write(dir.join("v.npy"), write_npy(&[1, 4], &v)).expect("write");
    std::fs::write(dir.join("Z.npy"), write_npy(&[2, 4], &z)).expect("write");
    let inputs = [
        "--input", "A=A.npy", "--input", "v=v.npy", "--input", "Z=Z.npy",
    ];
    let mut enc = vec!["encrypt", "p.helc", "--keys", "keys", "-o", "in.hct"];
    enc.extend(inputs);
    ok(dir, &enc);
    ok(dir, &server_run_args("p.helc", "out.hct"));
    let decrypt = [
        "decrypt",
        "p.helc",
        "--secret-key",
        "keys/secret.key",
        "out.hct",
        "--format",
        "npy",
    ];
    let mut to_dir = decrypt.to_vec();
    to_dir.extend(["-o", "results"]);
    ok(dir, &to_dir);

    // The plaintext reference.
    let y: Vec<f64> = (0..3)
        .map(|i| (0..4).map(|j| a[i * 4 + j] * v[j] * z[4 + j]).sum())
        .collect();
    let t: f64 = (0..4).map(|j| z[j] * v[j]).sum();
    let schedule =
        Schedule::from_bytes(&std::fs::read(dir.join("p.helc")).expect("read")).expect("valid");
    for (name, shape, want) in [("y", vec![3], y), ("t", vec![], vec![t])] {
        let got = parse_npy(&std::fs::read(dir.join(format!("results/{name}.npy"))).expect("npy"))
            .expect("decrypted .npy reads back");
        assert_eq!(got.shape, shape, "{name}");
        let bound = schedule
            .outputs
            .iter()
            .find(|o| o.name == name)
            .expect("output")
            .bound;
        assert!(bound < 1e-3, "{name}: bound {bound:e}");
        for (g, w) in got.data.iter().zip(&want) {
            assert!(
                (g - w).abs() <= bound,
                "{name}: {g} vs {w}, bound {bound:e}"
            );
        }
    }

    // The files are kept without --force, replaced with it.
    let (code, err) = run(dir, &to_dir);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("y.npy"), "{err}");
    to_dir.push("--force");
    ok(dir, &to_dir);
    // Without -o there is nowhere to write: a usage error. Two outputs into one .npy file:
    // -o must be a directory, and a file is refused.
    assert_eq!(run(dir, &decrypt).0, 2);
    let mut to_file = decrypt.to_vec();
    to_file.extend(["-o", "A.npy"]);
    let (code, err) = run(dir, &to_file);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not a directory"), "{err}");

    // Without --format, -o's extension chooses: JSON for `.json`, NumPy for `.npy` (two
    // outputs into one .npy file: refused as above, not written as CSV text).
    let mut json = decrypt[..5].to_vec();
    json.extend(["-o", "r.json"]);
    ok(dir, &json);
    let text = std::fs::read_to_string(dir.join("r.json")).expect("json");
    assert!(
        text.trim_start().starts_with('{') && text.contains("\"outputs\""),
        "{text}"
    );
    let mut npy = decrypt[..5].to_vec();
    npy.extend(["-o", "A.npy"]);
    let before = std::fs::read(dir.join("A.npy")).expect("the input A.npy");
    let (code, err) = run(dir, &npy);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not a directory"), "{err}");
    assert_eq!(std::fs::read(dir.join("A.npy")).expect("A.npy"), before);

    // A wrong shape or a broken file is a user error naming the file.
    std::fs::write(dir.join("bad.npy"), write_npy(&[4, 3], &a)).expect("write");
    let mut bad = vec!["encrypt", "p.helc", "--keys", "keys", "-o", "in2.hct"];
    bad.extend([
        "--input",
        "A=bad.npy",
        "--input",
        "v=v.npy",
        "--input",
        "Z=Z.npy",
    ]);
    let (code, err) = run(dir, &bad);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("bad.npy") && err.contains("[4, 3]"), "{err}");
    std::fs::write(dir.join("bad.npy"), b"\x93NUMPY\x01\x00\xff").expect("write");
    let (code, err) = run(dir, &bad);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("bad.npy"), "{err}");
    assert!(!dir.join("in2.hct").exists());
}

#[test]
fn train_reads_npy_data_like_the_same_csv_and_names_a_bad_file() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    // 40 samples, 3 features and a 0/1 label in the last column, as np.column_stack([X, y]).
    let rows: Vec<[f64; 4]> = (0..40)
        .map(|i| {
            let x = [
                (i as f64 * 0.7).sin(),
                (i as f64 * 1.3).cos(),
                i as f64 / 40.0,
            ];
            [
                x[0],
                x[1],
                x[2],
                f64::from(u8::from(x[0] + 0.5 * x[1] > 0.0)),
            ]
        })
        .collect();
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    std::fs::write(dir.join("d.npy"), write_npy(&[40, 4], &flat)).expect("write");
    // `{:e}` prints the shortest text that reads back to the same f64.
    let csv: String = rows
        .iter()
        .map(|r| format!("{:e},{:e},{:e},{:e}\n", r[0], r[1], r[2], r[3]))
        .collect();
    std::fs::write(dir.join("d.csv"), csv).expect("write");
    let train = |data: &str| -> serde_json::Value {
        let o = hel(
            dir,
            &["train", "--data", data, "--minibatches", "2", "--json"],
        );
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice(&o.stdout).expect("one JSON object")
    };
    let (npy, csv) = (train("d.npy"), train("d.csv"));
    for key in ["train_rows", "test_rows", "features", "plaintext_accuracy"] {
        assert!(!npy[key].is_null(), "{key}");
        assert_eq!(npy[key], csv[key], "{key}");
    }
    assert_eq!(npy["train_rows"], 32);

    // A 1-D array is not a table of samples: refused before any training starts.
    std::fs::write(dir.join("bad.npy"), write_npy(&[6], &[0.0; 6])).expect("write");
    let (code, err) = run(dir, &["train", "--data", "bad.npy"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("bad.npy") && err.contains("2-D array"),
        "{err}"
    );
}
