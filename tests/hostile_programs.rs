//! The hostile-program corpus: small programs that once hung, exhausted memory, overflowed a
//! stack or panicked the compiler (issue 19, and reproducers of tests/fuzz_programs.rs). Each
//! file under `tests/hostile_programs/` says on its first line what it must give:
//! `// expect: hel::budget` (or another code) for a located diagnostic with that code, or
//! `// expect: ok` for a program that compiles. Either way within seconds.

use hel_compiler::{Code, Options, SourceFile};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Far more than any of these takes now; far less than they took before.
const CHECK_LIMIT: Duration = Duration::from_secs(10);

fn corpus() -> Vec<(String, String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile_programs");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable");
            let expect = text
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("// expect: "))
                .unwrap_or_else(|| panic!("{}: no `// expect:` line", p.display()))
                .trim()
                .to_string();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("?");
            (format!("hostile_programs/{name}"), text, expect)
        })
        .collect()
}

#[test]
fn every_hostile_program_gets_its_expected_outcome() {
    let files = corpus();
    assert!(files.len() >= 10, "the corpus lost files");
    for (name, text, expect) in files {
        let src = SourceFile::new(name.clone(), text);
        let start = Instant::now();
        let checked = hel_compiler::frontend(&src, &[]);
        let took = start.elapsed();
        assert!(took < CHECK_LIMIT, "{name}: check took {took:?}");
        if expect == "ok" {
            if let Err(d) = &checked {
                panic!("{name}: {}", d.render_plain());
            }
            let compiled = hel_compiler::compile(&src, &Options::default());
            if let Err(d) = &compiled {
                panic!("{name}: {}", d.render_plain());
            }
            continue;
        }
        let want = Code::ALL
            .into_iter()
            .find(|c| c.as_str() == expect)
            .unwrap_or_else(|| panic!("{name}: unknown code {expect}"));
        let d = match checked {
            Ok(_) => panic!("{name}: accepted, but {expect} was expected"),
            Err(d) => d,
        };
        assert_eq!(d.code, want, "{name}: {}", d.message);
        let (line, col) = src.line_col(d.span.start);
        let rendered = d.render_plain();
        assert!(
            rendered.contains(&format!("{name}:{line}:{col}")),
            "{name}: not located: {rendered}"
        );
    }
}

#[test]
fn cli_check_exits_1_naming_the_code_on_every_refused_hostile_program() {
    for (name, _, expect) in corpus().into_iter().filter(|(_, _, e)| e != "ok") {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .join(&name);
        let out = Command::new(env!("CARGO_BIN_EXE_hel"))
            .arg("check")
            .arg(&path)
            .output()
            .expect("run hel");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(stderr.contains(&expect), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}

/// A program whose second line is `let y = <expr>;`.
fn with_expr(expr: &str) -> SourceFile {
    SourceFile::new(
        "gen.hel",
        format!("input x: enc vector[4] range [-1, 1];\nlet y = {expr};\noutput y;\n"),
    )
}

#[test]
fn an_error_on_a_line_longer_than_65535_columns_renders_with_its_location() {
    // `zz` is undefined, 80,000 columns in: miette's underline padding panicked there.
    let src = with_expr(&format!("{}zz", "x + ".repeat(20_000)));
    let d = hel_compiler::frontend(&src, &[]).expect_err("undefined name");
    assert_eq!(d.code, Code::Name);
    let rendered = d.render_plain();
    assert!(rendered.contains("gen.hel:2:80009"), "{rendered}");
    assert!(rendered.len() < 2_000, "the long line is not printed");
    // Through the CLI's renderer too.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("long.hel");
    std::fs::write(&path, src.text()).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_hel"))
        .arg("check")
        .arg(&path)
        .output()
        .expect("run hel");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("long.hel:2:80009"), "{stderr}");
}

#[test]
fn deep_and_long_expressions_are_refused_or_checked_without_overflowing() {
    let parens = with_expr(&format!("{}x{}", "(".repeat(100_000), ")".repeat(100_000)));
    let d = hel_compiler::frontend(&parens, &[]).expect_err("too deep");
    assert_eq!(d.code, Code::Budget);

    let long = with_expr(&vec!["x"; 100_000].join(" + "));
    let d = hel_compiler::frontend(&long, &[]).expect_err("too long");
    assert_eq!(d.code, Code::Budget);

    // Just under the parser's operator limit: accepted, its 19,999-deep tree walked.
    let accepted = with_expr(&vec!["x"; 20_000].join(" + "));
    let p = hel_compiler::frontend(&accepted, &[]).expect("accepted");
    assert!(p.graph.len() >= 20_000);
}

#[test]
fn budgets_are_checked_against_the_limits_given() {
    let src = SourceFile::new(
        "loop.hel",
        "input x: enc vector[4] range [-1, 1];\nlet y = x;\nfor i in 0..100 { y = y + x; }\noutput y;\n",
    );
    assert!(hel_compiler::frontend(&src, &[]).is_ok());
    let tight = hel_compiler::Limits {
        max_iterations: 99,
        ..hel_compiler::Limits::DEFAULT
    };
    let d = hel_compiler::frontend_limited(&src, &[], &tight).expect_err("over the limit");
    assert_eq!(d.code, Code::Budget);
    assert_eq!(src.line_col(d.span.start), (3, 1), "located at the loop");
    assert!(d.message.contains("100 loop iterations"), "{}", d.message);
    let tight = hel_compiler::Limits {
        max_nodes: 150,
        ..hel_compiler::Limits::DEFAULT
    };
    let d = hel_compiler::frontend_limited(&src, &[], &tight).expect_err("over the limit");
    assert!(d.message.contains("IR nodes"), "{}", d.message);
}
