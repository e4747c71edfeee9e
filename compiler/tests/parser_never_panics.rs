//! The front end must answer every input with a program or a located diagnostic, never a panic.

use hel_compiler::SourceFile;
use proptest::prelude::*;

const TOKENS: &[&str] = &[
    "const",
    "input",
    "fn",
    "let",
    "for",
    "in",
    "output",
    "enc",
    "plain",
    "range",
    "scalar",
    "vector",
    "matrix",
    "x",
    "Z",
    "k",
    "i",
    "beta",
    "h",
    "zeros",
    "ones",
    "transpose",
    "sum_rows",
    "sum_cols",
    "dot",
    "outer",
    "sqrt",
    "0",
    "1",
    "2.5",
    "1e3",
    "4096",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ";",
    ":",
    "=",
    "+",
    "-",
    "*",
    "/",
    "@",
    "^",
    "..",
    "//",
    "\n",
    " ",
];

/// The front end's answer: a program, or a diagnostic that renders and points into the text.
fn check(text: &str) -> Option<hel_compiler::Diagnostic> {
    let src = SourceFile::new("fuzz.hel", text);
    let d = hel_compiler::frontend(&src, &[]).err()?;
    // Rendering must not panic either, and must point into the file.
    let r = d.render_plain();
    assert!(!r.is_empty());
    assert!(
        (d.span.end as usize) <= text.len(),
        "span past the end of the text"
    );
    Some(d)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text(text in "\\PC{0,200}") {
        let _ = check(&text);
    }

    #[test]
    fn token_soup(tokens in proptest::collection::vec(proptest::sample::select(TOKENS), 0..60)) {
        let _ = check(&tokens.join(" "));
    }

    /// Valid prefixes followed by garbage exercise the checker, not just the parser.
    #[test]
    fn valid_program_then_soup(tokens in proptest::collection::vec(proptest::sample::select(TOKENS), 0..30)) {
        let text = format!("const n = 4;\ninput x: enc vector[n] range [-1, 1];\nlet y = x;\n{}", tokens.join(" "));
        let _ = check(&text);
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep = format!("let y = {}1{};", "(".repeat(100_000), ")".repeat(100_000));
    let d = check(&deep).expect("100,000 nested brackets are refused");
    assert!(d.message.contains("nested more than"), "{}", d.message);
    // 15,000 operators are within the limit: accepted, without overflowing the stack.
    let long_chain = format!(
        "input x: enc vector[2];\nlet y = x{};\noutput y;",
        " + x".repeat(15_000)
    );
    assert!(check(&long_chain).is_none());
    let neg_chain = format!("let y = {}1;", "-".repeat(50_000));
    let d = check(&neg_chain).expect("50,000 operators are refused");
    assert!(d.message.contains("operators, more than"), "{}", d.message);
}
