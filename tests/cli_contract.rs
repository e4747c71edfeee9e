//! The command line's contract across subcommands: usage errors (a bad flag, flag value or
//! combination) exit with 2 and user errors with 1 everywhere; one size syntax for every
//! `--memory-limit`; the shared flags (`--set`, `-O`, `--precision`, `--max-log-n`,
//! `--threads`) spelled, checked and documented identically wherever they appear; and `--json`
//! printing exactly one JSON object on stdout also when the command fails.

use std::path::Path;
use std::process::{Command, Output};

fn hel_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hel"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run hel")
}

fn hel(args: &[&str]) -> Output {
    hel_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Requires exit code `code` for `hel args`; returns stderr.
fn exits(code: i32, args: &[&str]) -> String {
    let o = hel(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(code), "hel {args:?}:\n{err}");
    err
}

/// A scratch directory holding `poly.helc` (examples/poly.hel compiled; a few milliseconds).
fn compiled_poly() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("hel-contract-")
        .tempdir()
        .expect("tmp");
    let src = format!("{}/examples/poly.hel", env!("CARGO_MANIFEST_DIR"));
    let o = hel_in(dir.path(), &["compile", &src, "-o", "poly.helc"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    dir
}

/// The one JSON object `hel args` (which include `--json`) printed on stdout for a failure with
/// exit code `code`: stdout is that object and nothing else.
fn json_error(dir: &Path, args: &[&str], code: i32) -> serde_json::Value {
    let o = hel_in(dir, args);
    assert_eq!(o.status.code(), Some(code), "hel {args:?}:\n{}", stderr(&o));
    let text = String::from_utf8(o.stdout).expect("utf-8");
    assert_eq!(
        text.trim_end().lines().count(),
        1,
        "hel {args:?}: stdout is not one line:\n{text}"
    );
    let v: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("hel {args:?}: stdout is not JSON ({e}):\n{text}"));
    let obj = v.as_object().expect("a JSON object");
    assert_eq!(obj.len(), 1, "only the `error` key: {v}");
    let err = &v["error"];
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{v}"
    );
    assert_eq!(err["exit_code"], code, "{v}");
    assert!(err["code"].is_null() || err["code"].is_string(), "{v}");
    // The text report still goes to stderr, for the person at the terminal.
    assert!(!o.stderr.is_empty(), "hel {args:?}: nothing on stderr");
    v
}

#[test]
fn usage_errors_exit_with_2_in_every_subcommand() {
    let dir = compiled_poly();
    let d = dir.path();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        // run: flags the evaluator refuses or needs, checked before any file is read (the
        // program does not exist here).
        (
            vec!["run", "none.helc", "--secret-key", "k", "--eval-keys", "e"],
            "never reads it",
        ),
        (vec!["run", "none.helc", "--inputs", "i"], "--eval-keys"),
        (
            vec![
                "run",
                "none.helc",
                "--evaluator",
                "plain",
                "--eval-keys",
                "e",
            ],
            "does not take --eval-keys",
        ),
        (vec!["run", "poly.helc", "--evaluator", "plain"], "--input"),
        (
            vec![
                "run",
                "none.helc",
                "--evaluator",
                "debug",
                "--input",
                "x=x.csv",
            ],
            "--secret-key",
        ),
        (
            vec!["run", "poly.helc", "--evaluator", "cost", "-o", "out.csv"],
            "does not take --out",
        ),
        (
            vec![
                "run",
                "poly.helc",
                "--evaluator",
                "cost",
                "--inject-error",
                "1=0.5",
            ],
            "debug evaluator",
        ),
        (vec!["run", "poly.helc", "--threads", "two"], "--threads"),
        // ir: a pass that does not exist (refused before the program is read).
        (
            vec!["ir", "none.hel", "--after", "nonsense"],
            "unknown pass",
        ),
        // train: CSV-only flags with the bundled data, a fraction out of range.
        (vec!["train", "--label-column", "3"], "applies to CSV data"),
        (vec!["train", "--test", "t.csv"], "applies to CSV data"),
        (
            vec!["train", "--data", "x.csv", "--test-fraction", "1.5"],
            "between 0 and 1",
        ),
        (vec!["train", "--refresh", "sometimes"], "--refresh"),
        // bench logreg compares N threads with one.
        (vec!["bench", "logreg", "--threads", "1"], "at least 2"),
        (
            vec!["bench", "logreg", "--minibatches", "0"],
            "--minibatches",
        ),
        (vec!["bench", "ckks", "--log-n", "17"], "--log-n"),
        (vec!["bench", "zoo", "--levels", "3"], "--levels"),
        (vec!["check"], "FILE"),
        (vec!["keygen", "poly.helc"], "--out"),
        (
            vec![
                "decrypt",
                "poly.helc",
                "o.hct",
                "--secret-key",
                "k",
                "--format",
                "xml",
            ],
            "--format",
        ),
    ];
    for (args, says) in cases {
        let o = hel_in(d, &args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "hel {args:?}:\n{err}");
        assert!(
            err.contains(says),
            "hel {args:?}: expected `{says}` in\n{err}"
        );
        assert!(o.stdout.is_empty(), "hel {args:?}: stdout not empty");
    }
    // The same kind of mistake in a file, not on the command line, stays a user error.
    let o = hel_in(d, &["run", "none.helc", "--evaluator", "cost"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}

#[test]
fn one_size_syntax_for_memory_limits() {
    let dir = compiled_poly();
    let d = dir.path();
    for size in ["1.5GiB", "512M", "4g", "65536", "64KB"] {
        let o = hel_in(
            d,
            &[
                "run",
                "poly.helc",
                "--evaluator",
                "cost",
                "--memory-limit",
                size,
            ],
        );
        assert_eq!(o.status.code(), Some(0), "run {size}: {}", stderr(&o));
        // train parses the flag before anything else: a missing program is then the error.
        let o = hel(&[
            "train",
            "--program",
            "no/such/program.hel",
            "--memory-limit",
            size,
        ]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "train {size}: {err}");
        assert!(err.contains("no/such/program.hel"), "{err}");
    }
    for bad in ["4X", "0", "-1G", "G", "1e9", "4 GB"] {
        for cmd in [
            vec!["run", "poly.helc", "--evaluator", "cost"],
            vec!["train"],
        ] {
            let flag = format!("--memory-limit={bad}");
            let mut args = cmd.clone();
            args.push(&flag);
            let o = hel_in(d, &args);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
            assert!(err.contains("--memory-limit"), "{args:?}: {err}");
        }
    }
}

#[test]
fn json_errors_are_one_object_on_stdout() {
    let dir = compiled_poly();
    let d = dir.path();
    let root = env!("CARGO_MANIFEST_DIR");
    // User errors: exit 1.
    let v = json_error(d, &["depth", "missing.hel", "--json"], 1);
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("cannot read missing.hel"), "{v}");
    assert!(
        msg.contains("No such file"),
        "the cause is part of the message: {v}"
    );

    let invalid = format!("{root}/tests/invalid/const_backwards_loop.hel");
    let v = json_error(d, &["compile", &invalid, "-o", "x.helc", "--json"], 1);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("backwards"),
        "{v}"
    );
    assert_eq!(v["error"]["code"], "hel::check::const", "{v}");
    let label = &v["error"]["labels"][0];
    assert_eq!(label["line"], 4, "{v}");
    assert_eq!(label["column"], 10, "{v}");
    assert!(label["file"]
        .as_str()
        .unwrap()
        .ends_with("const_backwards_loop.hel"));
    assert!(!d.join("x.helc").exists());

    // A program too deep for any 128-bit parameter set: the stable code tells tools (and
    // `hel train`) that rounds would help, whatever the message says.
    let gd = format!("{root}/examples/logreg_gd.hel");
    let v = json_error(
        d,
        &[
            "compile", &gd, "--set", "k=24", "--set", "m=8", "--set", "f=3", "-o", "y.helc",
            "--json",
        ],
        1,
    );
    assert_eq!(v["error"]["code"], "hel::params::too_deep", "{v}");
    // A training loop: the help names the way out, `hel train` in rounds.
    let help = v["error"]["help"].as_str().unwrap_or_default();
    assert!(
        help.contains("hel train --program") && help.contains("--refresh bootstrap"),
        "{v}"
    );
    // A deep program that is no training loop (no minibatch input) gets no such help.
    std::fs::write(
        d.join("deep.hel"),
        "input x: enc vector[4] range [-1, 1];\nlet y = x;\nfor i in 0..60 { y = y * y; }\n\
         output y;\n",
    )
    .unwrap();
    let v = json_error(d, &["compile", "deep.hel", "-o", "z.helc", "--json"], 1);
    assert_eq!(v["error"]["code"], "hel::params::too_deep", "{v}");
    assert!(
        !v["error"]["help"]
            .as_str()
            .unwrap_or_default()
            .contains("hel train"),
        "{v}"
    );

    let v = json_error(
        d,
        &[
            "run",
            "missing.helc",
            "--eval-keys",
            "e",
            "--inputs",
            "i",
            "-o",
            "o.hct",
            "--json",
        ],
        1,
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing.helc"),
        "{v}"
    );
    // A file that is no compiled program.
    std::fs::write(d.join("junk.helc"), b"not a schedule").unwrap();
    json_error(d, &["run", "junk.helc", "--evaluator", "cost", "--json"], 1);
    json_error(d, &["keygen", "missing.helc", "--out", "k", "--json"], 1);
    json_error(
        d,
        &[
            "decrypt",
            "missing.helc",
            "--secret-key",
            "k",
            "o.hct",
            "--json",
        ],
        1,
    );
    json_error(
        d,
        &["train", "--program", "no/such/program.hel", "--json"],
        1,
    );

    // Usage errors: exit 2, both clap's own and those found after parsing.
    for args in [
        vec!["run", "poly.helc", "--evaluator", "magic", "--json"],
        vec!["run", "poly.helc", "--secret-key", "k", "--json"],
        vec!["depth", "x.hel", "-O3", "--json"],
        vec!["train", "--label-column", "3", "--json"],
        vec!["bench", "ckks", "--threads", "many", "--json"],
        vec!["compile", "--json"],
        // Bootstrapping at 128-bit security needs N = 2^16, with 16 to 2^15 slots.
        vec!["bench", "bootstrap", "--log-n", "14", "--json"],
        vec!["bench", "bootstrap", "--slots", "8", "--json"],
        vec!["bench", "bootstrap", "--slots", "65536", "--json"],
        vec!["bench", "bootstrap", "--slots", "1000", "--json"],
    ] {
        let v = json_error(d, &args, 2);
        assert_eq!(v["error"]["code"], "hel::usage", "{args:?}: {v}");
    }
    // Help is not an error, with or without --json.
    let o = hel(&["depth", "--help", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Usage: hel depth"));
}

/// The help paragraph of `flag` in `hel <cmd> --help`, from the flag's line to the next flag.
fn flag_help(cmd: &[&str], flag: &str) -> String {
    let mut args = cmd.to_vec();
    args.push("--help");
    let o = hel(&args);
    assert_eq!(o.status.code(), Some(0), "{args:?}");
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let mut lines = text.lines().skip_while(|l| !l.contains(flag));
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("{cmd:?}: no {flag} in\n{text}"));
    // Help on the flag's line or on the next ones, in one paragraph or several, depending on
    // the command's layout; it ends at the next flag or section.
    let mut out = vec![first];
    out.extend(lines.take_while(|l| {
        l.trim().is_empty() || (l.starts_with(' ') && !l.trim_start().starts_with('-'))
    }));
    out.join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn shared_flags_are_the_same_everywhere() {
    let compilers: [&[&str]; 4] = [&["check"], &["ir"], &["depth"], &["compile"]];
    let groups: [(&str, &[&[&str]]); 6] = [
        ("--set <NAME=VALUE>", &compilers),
        (
            "--opt-level <0|1|2>",
            &[&["ir"], &["depth"], &["compile"], &["train"]],
        ),
        (
            "--client-precompute",
            &[&["ir"], &["depth"], &["compile"], &["train"]],
        ),
        (
            "--precision <BITS>",
            &[&["depth"], &["compile"], &["train"]],
        ),
        (
            "--max-log-n <13..16>",
            &[&["depth"], &["compile"], &["train"]],
        ),
        (
            "--threads <N>",
            &[
                &["run"],
                &["train"],
                &["bench", "ckks"],
                &["bench", "bootstrap"],
                &["bench", "logreg"],
            ],
        ),
    ];
    for (flag, cmds) in groups {
        let first = flag_help(cmds[0], flag);
        for cmd in &cmds[1..] {
            assert_eq!(flag_help(cmd, flag), first, "{flag} differs in {cmd:?}");
        }
    }
    assert!(flag_help(&["run"], "--threads").contains("all available cores"));
    let syntax = "A size: bytes, or a number with K, M, G or T (1024-based; `B`/`iB` optional), \
                  e.g. `512M`, `8G`, `1.5GiB`.";
    for cmd in ["run", "train"] {
        let help = flag_help(&[cmd], "--memory-limit <SIZE>");
        assert!(help.contains(syntax), "{cmd}: {help}");
    }

    // The same values are accepted and refused by every command that has the flag.
    let src = format!("{}/examples/logreg_gd.hel", env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("gd.helc");
    let out = out.to_str().unwrap();
    let small = ["--set", "k=2", "--set", "m=8", "--set", "f=4"];
    let ok_flags = ["-O1", "--precision", "12", "--max-log-n", "15"];
    let mut runs: Vec<Vec<&str>> = vec![
        vec!["check", &src],
        vec!["ir", &src, "-O1"],
        vec!["depth", &src, "--json"],
        vec!["compile", &src, "-o", out],
    ];
    runs[0].extend(small);
    runs[1].extend(small);
    runs[2].extend(small.iter().chain(&ok_flags));
    runs[3].extend(small.iter().chain(&ok_flags));
    for args in &runs {
        exits(0, args);
    }
    for (flag, bad) in [
        ("--set", "k"),
        ("-O", "3"),
        ("--precision", "7"),
        ("--max-log-n", "17"),
    ] {
        let cmds: &[&str] = match flag {
            "--set" => &["check", "ir", "depth", "compile"],
            "-O" => &["ir", "depth", "compile", "train"],
            _ => &["depth", "compile", "train"],
        };
        for cmd in cmds {
            let mut args = vec![*cmd];
            if *cmd != "train" {
                args.push(&src);
            }
            if *cmd == "compile" {
                args.extend(["-o", out]);
            }
            args.extend([flag, bad]);
            exits(2, &args);
        }
    }
    // Every --threads takes 0 = all cores and refuses what is not a count.
    for cmd in [
        vec!["run", "x.helc"],
        vec!["train"],
        vec!["bench", "ckks"],
        vec!["bench", "bootstrap"],
        vec!["bench", "logreg"],
    ] {
        let mut args = cmd.clone();
        args.extend(["--threads", "-1"]);
        exits(2, &args);
    }
}

/// `hel check --json` prints one object with the program's interface, and a located `error`
/// object for a program the front end refuses.
#[test]
fn check_prints_one_json_object() {
    let root = env!("CARGO_MANIFEST_DIR");
    let gd = format!("{root}/examples/logreg_gd.hel");
    let o = hel(&["check", &gd, "--set", "k=3", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).expect("utf-8");
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(v["file"], "logreg_gd.hel", "{v}");
    assert_eq!(v["inputs"][0]["name"], "Z", "{v}");
    assert!(
        v["inputs"][0]["type"]
            .as_str()
            .is_some_and(|t| t.contains("[3]")),
        "{v}"
    );
    assert_eq!(v["outputs"][0]["name"], "beta", "{v}");
    assert_eq!(v["top_level_loops"], 1, "{v}");

    let dir = compiled_poly();
    let invalid = format!("{root}/tests/invalid/const_backwards_loop.hel");
    let v = json_error(dir.path(), &["check", &invalid, "--json"], 1);
    assert_eq!(v["error"]["code"], "hel::check::const", "{v}");
    assert_eq!(v["error"]["labels"][0]["line"], 4, "{v}");
}

/// Output paths that are not UTF-8 (legal on Unix): `--json` printed them through serde,
/// which refused them, and keygen, encrypt and run panicked after writing their files. The
/// JSON now carries the path as displayed; `--threads` beyond the cap is a usage error.
#[cfg(unix)]
#[test]
fn json_reports_take_any_output_path() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let dir = compiled_poly();
    let d = dir.path();
    let src = format!("{}/examples/poly.hel", env!("CARGO_MANIFEST_DIR"));
    let o = hel_in(d, &["compile", &src, "--set", "n=8", "-o", "p8.helc"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    std::fs::write(d.join("x.csv"), "0.5\n-0.25\n0.125\n1\n0\n-1\n0.75\n0.3\n").unwrap();
    let odd = |stem: &[u8]| OsStr::from_bytes(stem).to_os_string();
    let keys = odd(b"keys\xff");
    let inputs = odd(b"in\xff.hct");
    let outputs = odd(b"out\xff.hct");
    let run = |args: Vec<&OsStr>| {
        let o = Command::new(env!("CARGO_BIN_EXE_hel"))
            .args(args)
            .arg("--json")
            .current_dir(d)
            .output()
            .expect("run hel");
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let text = String::from_utf8(o.stdout).expect("utf-8");
        let v: serde_json::Value = serde_json::from_str(&text).expect("one JSON object");
        assert!(v.is_object(), "{v}");
        v
    };
    let s = |x: &'static str| OsStr::new(x);
    let mut keygen = vec![s("keygen"), s("p8.helc"), s("--out")];
    keygen.push(&keys);
    let v = run(keygen);
    assert!(
        v["secret_key"]["path"]
            .as_str()
            .is_some_and(|p| p.contains("keys")),
        "{v}"
    );
    let mut encrypt = vec![s("encrypt"), s("p8.helc"), s("--keys")];
    encrypt.extend([
        keys.as_os_str(),
        s("--input"),
        s("x=x.csv"),
        s("-o"),
        &inputs,
    ]);
    let v = run(encrypt);
    assert!(
        v["path"].as_str().is_some_and(|p| p.starts_with("in")),
        "{v}"
    );
    let eval_keys = odd(b"keys\xff/eval.keys");
    let mut server = vec![s("run"), s("p8.helc"), s("--eval-keys"), &eval_keys];
    server.extend([s("--inputs"), &inputs, s("-o"), &outputs]);
    let v = run(server);
    assert!(
        v["output"].as_str().is_some_and(|p| p.starts_with("out")),
        "{v}"
    );
    let err = exits(2, &["run", "examples/poly.hel", "--threads", "1025"]);
    assert!(err.contains("0..=1024"), "{err}");
}
