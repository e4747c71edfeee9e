//! The diagnostics corpus: every program under `tests/invalid/` must be refused with a located
//! error (file:line:col and an underlined excerpt), exit code 1, and no panic. The rendered
//! diagnostic of each is a snapshot, so any change in wording is reviewed.

use std::path::Path;
use std::process::Command;

fn hel() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hel"))
}

#[test]
fn every_invalid_program_gets_a_located_diagnostic() {
    let mut wrong_codes = Vec::new();
    insta::glob!("invalid/*.hel", |path| {
        let text = std::fs::read_to_string(path).expect("readable");
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 name");
        let src = hel_compiler::SourceFile::new(format!("invalid/{name}"), text);
        let d = hel_compiler::frontend(&src, &[]).expect_err("an invalid program must be refused");
        // The corpus is named by category; each category has its stable code.
        let want = match name.split('_').next() {
            Some("syntax") => hel_compiler::Code::Syntax,
            Some("name" | "output") => hel_compiler::Code::Name,
            Some("shape" | "seq") => hel_compiler::Code::Shape,
            Some("secrecy") => hel_compiler::Code::Secrecy,
            Some("const") => hel_compiler::Code::Const,
            other => panic!("{name}: unknown corpus category {other:?}"),
        };
        if d.code != want {
            wrong_codes.push(format!(
                "{name}: {} instead of {} ({})",
                d.code, want, d.message
            ));
        }
        let rendered = d.render_plain();
        let (line, col) = src.line_col(d.span.start);
        assert!(
            rendered.contains(&format!("invalid/{name}:{line}:{col}")),
            "no location in:\n{rendered}"
        );
        insta::assert_snapshot!(rendered);
    });
    assert!(wrong_codes.is_empty(), "{}", wrong_codes.join("\n"));
}

#[test]
fn cli_exits_with_1_on_every_invalid_program() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 25,
        "the corpus must hold at least 25 programs"
    );
    for f in files {
        let out = hel().arg("check").arg(&f).output().expect("run hel");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {stderr}", f.display());
        assert!(!stderr.contains("panicked"), "{}: {stderr}", f.display());
        assert!(
            stderr.contains(".hel:"),
            "{}: no location: {stderr}",
            f.display()
        );
        assert!(
            out.stdout.is_empty(),
            "{}: errors go to stderr",
            f.display()
        );
    }
}
