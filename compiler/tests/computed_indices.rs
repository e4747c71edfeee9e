//! Sequence indices computed in `let`s: `let j = k - 1 - i; Z[j]` and a counter the loop
//! carries (`Z[j]; j = j - 1;`) mean what `Z[k - 1 - i]` means, compile at every -O level
//! (each compile checks the schedule against the source in plaintext), and an index that leaves
//! the sequence is refused at the index, with the iteration that takes it out.

mod common;

use common::options;
use hel_compiler::ir::interp::{eval, max_relative_difference, random_inputs};
use hel_compiler::passes::pipeline::OptLevel;
use hel_compiler::{compile, frontend, Code, SourceFile};

const HEAD: &str = "\
const k = 4; const m = 8; const f = 3;
input X: enc matrix[m, f][k] range [-1, 1];
input y: enc vector[m][k] range [-1, 1];
let w = zeros(f);
";

/// Gradient descent visiting the minibatches last to first; `INDEX` is how the index is
/// written, `BEFORE`/`AFTER` what the loop body does around the update.
fn program(before_loop: &str, before: &str, index: &str, after: &str) -> String {
    format!(
        "{HEAD}{before_loop}for i in 0..k {{\n{before}    w = w - (0.3 / m) * (transpose(X[{index}]) @ (X[{index}] @ w - y[{index}]));\n{after}}}\noutput w;\n"
    )
}

fn direct() -> String {
    program("", "", "k - 1 - i", "")
}

fn with_let() -> String {
    program("", "    let j = k - 1 - i;\n", "j", "")
}

fn with_counter() -> String {
    program("let j = k - 1;\n", "", "j", "    j = j - 1;\n")
}

#[test]
fn an_index_computed_in_a_let_or_carried_means_the_written_out_index() {
    let reference = frontend(&SourceFile::new("direct.hel", direct()), &[]).unwrap();
    for seed in 0..3 {
        let inputs = random_inputs(&reference, seed);
        let want = eval(&reference, &inputs).unwrap();
        for (name, text) in [("let.hel", with_let()), ("counter.hel", with_counter())] {
            let p = frontend(&SourceFile::new(name, text), &[]).unwrap();
            let got = eval(&p, &inputs).unwrap();
            let d = max_relative_difference(&want, &got);
            assert!(d <= 1e-12, "{name}, seed {seed}: differs by {d:e}");
        }
    }
    for (name, text) in [("let.hel", with_let()), ("counter.hel", with_counter())] {
        for level in [OptLevel::O0, OptLevel::O1, OptLevel::O2] {
            let src = SourceFile::new(name, text.clone());
            if let Err(e) = compile(&src, &options(level)) {
                panic!("{name} at {level:?}: {}", e.render_plain());
            }
        }
    }
}

#[test]
fn a_let_index_out_of_range_is_refused_by_the_checker_at_the_index() {
    let text = program("", "    let j = k - i;\n", "j", "");
    let src = SourceFile::new("bad_let.hel", text.clone());
    let d = frontend(&src, &[]).expect_err("index k is out of range");
    assert_eq!(d.code, Code::Const);
    assert!(
        d.message.contains("index 4 is out of range when i = 0"),
        "{}",
        d.message
    );
    let at = text.find("X[j]").unwrap() + 2;
    assert_eq!(d.span.start as usize, at, "{}", d.render_plain());
}

#[test]
fn a_carried_index_out_of_range_is_refused_with_its_iteration() {
    // j runs 3, 1, -1: out of range in the third iteration.
    let text = program("let j = k - 1;\n", "", "j", "    j = j - 2;\n");
    let src = SourceFile::new("bad_counter.hel", text.clone());
    let d = compile(&src, &options(OptLevel::O1)).expect_err("index -1 is out of range");
    assert_eq!(d.code, Code::Const);
    assert!(
        d.message
            .contains("index -1 is out of range in iteration 2 of its loop"),
        "{}",
        d.message
    );
    let line = text[..d.span.start as usize].matches('\n').count();
    assert_eq!(
        text.lines().nth(line).map(str::trim_start),
        Some("w = w - (0.3 / m) * (transpose(X[j]) @ (X[j] @ w - y[j]));")
    );
}
