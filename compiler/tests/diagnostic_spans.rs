//! Every valid program compiles or gets a located error naming the real cause (issue 18,
//! item 5): programs the lowering or the optimizer used to refuse or break compile at every -O
//! level (each compile includes the plaintext check of the schedule against the source), and
//! the ciphertext depth of a circuit too deep for any parameter set is still reported.

mod common;

use common::options;
use hel_compiler::driver::lower_checked_or_depth;
use hel_compiler::lower::{ciphertext_depth, LowerOptions};
use hel_compiler::passes::pipeline::OptLevel;
use hel_compiler::{compile, Code, Diagnostic, Options, SourceFile};

const LEVELS: [OptLevel; 3] = [OptLevel::O0, OptLevel::O1, OptLevel::O2];

fn compile_at(name: &str, text: &str, level: OptLevel) -> Result<(), Diagnostic> {
    compile(&SourceFile::new(name, text), &options(level)).map(|_| ())
}

/// A matrix product of degree 4 in the inputs (more than the client precomputes), written
/// inside a function that a loop calls: once refused at every level, now an encrypted matrix
/// product on the server.
const PRODUCT_IN_A_FUNCTION: &str = "\
fn sq(x) = x * x;
fn prod(x, y) = sq(x) @ sq(y);
input A: enc matrix[4, 4] range [-1, 1];
input B: enc matrix[4, 4] range [-1, 1];
let s = zeros(4);
for i in 0..2 {
  let P = prod(A, B);
  s = s + sum_rows(P);
}
output s;
";

/// Programs that once panicked or were refused although valid: a product with a public matrix
/// input (the oracle read its input table before filling it), `A @ (A @ x)` with a public `A`
/// (-O1 reassociated it into `A @ A`, which nothing computed), a data product over a row sum
/// (-O2 handed it to the client, which had no summing op), a product of computed encrypted
/// matrices in a function, an element-wise op with a public matrix, and a matrix power.
#[test]
fn programs_the_optimizer_used_to_break_compile() {
    let cases = [
        ("fn_product.hel", PRODUCT_IN_A_FUNCTION, true),
        (
            "plain_operand.hel",
            "input A: plain matrix[4, 4] range [-1, 1];\n\
             input B: enc matrix[4, 4] range [-1, 1];\n\
             let C = B + A;\noutput C;\n",
            true,
        ),
        (
            "matrix_power.hel",
            "input A: enc matrix[4, 4] range [-1, 1];\nlet C = A ^ 3;\noutput C;\n",
            true,
        ),
        (
            "public_factor.hel",
            "input A: plain matrix[4, 4] range [-1, 1];\n\
             input B: enc matrix[4, 4] range [-1, 1];\n\
             let D = B * A;\noutput D;\n",
            true,
        ),
        (
            "public_chain.hel",
            "input x: enc vector[4] range [-1, 1];\n\
             input A: plain matrix[4, 4] range [-1, 1];\n\
             let y = (A * 2) @ x + A @ (A @ x);\noutput y;\n",
            true,
        ),
        (
            "public_chain_computed.hel",
            "input A: plain matrix[4, 4] range [-1, 1];\n\
             input x: enc vector[4] range [-1, 1];\n\
             let z = x * x;\nlet y = A @ (A @ z);\noutput y;\n",
            true,
        ),
        (
            "row_sum_product.hel",
            "input Z: enc matrix[4, 4][3] range [-1, 1];\n\
             input A: plain matrix[4, 4][2] range [-1, 1];\n\
             let y = zeros(4);\n\
             for i in 0..2 { y = y + A[i] @ sum_rows(Z[i]); }\noutput y;\n",
            true,
        ),
    ];
    for (name, text, must_compile) in cases {
        for level in LEVELS {
            let r = std::panic::catch_unwind(|| compile_at(name, text, level));
            let r = r.unwrap_or_else(|_| panic!("{name} at {level:?}: the compiler panicked"));
            if let Err(d) = r {
                assert!(!must_compile, "{name} at {level:?}: {}", d.render_plain());
            }
        }
    }
}

/// Six squarings: depth 6, more than N = 2^13 holds at 128 bits.
const TOO_DEEP: &str = "\
input x: enc vector[4] range [-1, 1];
let y = x;
for i in 0..6 { y = y * y; }
output y;
";

#[test]
fn the_depth_of_a_circuit_no_parameter_set_holds_is_reported() {
    let src = SourceFile::new("too_deep.hel", TOO_DEEP);
    let opts = Options {
        max_log_n: 13,
        ..options(OptLevel::O2)
    };
    let program = hel_compiler::driver::optimize(&src, &opts).unwrap();
    let e = match lower_checked_or_depth(&program, &opts) {
        Ok(_) => panic!("depth 6 fits N = 2^13"),
        Err(e) => e,
    };
    assert_eq!(e.diagnostic.code, Code::TooDeep, "{}", e.diagnostic.message);
    let depth = e.depth.expect("the depth is known");
    assert!(depth >= 6, "{depth}");
    assert!(
        e.diagnostic.message.starts_with(&format!("depth {depth} ")),
        "{}",
        e.diagnostic.message
    );
    let lower = LowerOptions {
        params: opts.param_request(),
        name: "too_deep.hel".into(),
        max_ct_ops: hel_compiler::Limits::DEFAULT.max_ct_ops,
        unit: None,
        samples: None,
    };
    assert_eq!(ciphertext_depth(&program, &lower).ok(), Some(depth));

    // Where parameters exist the depth is the compiled schedule's.
    let wide = Options {
        max_log_n: 16,
        ..opts
    };
    let lower = LowerOptions {
        params: wide.param_request(),
        name: "too_deep.hel".into(),
        max_ct_ops: hel_compiler::Limits::DEFAULT.max_ct_ops,
        unit: None,
        samples: None,
    };
    let compiled = compile(&src, &wide).unwrap();
    assert_eq!(
        ciphertext_depth(&compiled.program, &lower).ok(),
        Some(compiled.report().depth)
    );
}

/// A program without `output` computes nothing the client gets back: a located error at its
/// end (it had compiled silently to an empty schedule), at every level.
#[test]
fn a_program_without_output_is_refused_at_its_end() {
    let text = "input x: enc vector[4] range [-1, 1];\nlet y = x * x;\n";
    for level in LEVELS {
        let d = compile_at("no_output.hel", text, level).expect_err("no output");
        assert_eq!(d.code, Code::Name, "{level:?}");
        assert!(d.message.contains("no `output`"), "{}", d.message);
        let end = text.trim_end().len() as u32;
        assert_eq!((d.span.start, d.span.end), (end, end), "{level:?}");
    }
}

/// Sixty squarings: tensor depth 60, far beyond the 37 levels N = 2^16 admits.
const FAR_TOO_DEEP: &str = "\
input x: enc vector[4] range [-1, 1];
let y = x;
for i in 0..60 {
  y = y * y;
}
output y;
";

/// A program whose tensor depth is far beyond every parameter set is refused before lowering
/// (which took seconds for long training loops), at every level, with the parameter
/// selection's error for its depth in products of two encrypted values, located at the
/// loop step of its last iteration; the lowering, asked for the depth, agrees it does not fit.
#[test]
fn a_program_far_beyond_the_budget_is_refused_before_lowering() {
    let src = SourceFile::new("far.hel", FAR_TOO_DEEP);
    for level in LEVELS {
        let d = compile(&src, &options(level)).expect_err("too deep");
        assert_eq!(d.code, Code::TooDeep, "{level:?}: {}", d.message);
        assert!(
            d.message.starts_with(
                "60 products of two encrypted values in a row, so at least 60 ciphertext levels"
            ) && d
                .message
                .contains("does not fit the 128-bit security bound"),
            "{level:?}: {}",
            d.message
        );
        assert_eq!(src.line_col(d.span.start), (4, 7), "{level:?}");
        let shown = d.render_plain();
        assert!(shown.contains("loop iteration 59"), "{shown}");

        let program = hel_compiler::driver::optimize(&src, &options(level)).unwrap();
        let lowered = lower_checked_or_depth(&program, &options(level)).map(|_| ());
        let e = lowered.expect_err("the lowering refuses it too");
        assert_eq!(e.diagnostic.code, Code::TooDeep);
        assert!(e.depth.is_some_and(|d| d >= 59), "{:?}", e.depth);
    }
}

/// A long loop linear in its state: `w` is `a x + b (x * x)` after any number of steps.
fn linear_recurrence(k: u32) -> String {
    format!(
        "input x: enc vector[3] range [-1, 1];\nlet w = x;\n\
         for i in 0..{k} {{\n  w = 0.999 * w + 0.001 * x * x;\n}}\noutput w;\n"
    )
}

/// A loop linear in its state compiles, whatever its length, to a circuit of the depth of its
/// terms with its input uploaded once or twice: it had been compiled by packing a differently
/// scaled copy of `x` per step (200 steps: 201 input ciphertexts) or refused as 126 levels
/// deep (2000 steps); -O0 keeps the chain as written. Each compile includes the plaintext
/// check of the schedule against the source.
#[test]
fn a_long_linear_recurrence_is_one_combination_of_its_terms() {
    for k in [200, 2000] {
        let src = SourceFile::new("recurrence.hel", linear_recurrence(k));
        for level in [OptLevel::O1, OptLevel::O2] {
            let c = compile(&src, &options(level)).unwrap_or_else(|d| panic!("{k}: {d:?}"));
            let r = c.report();
            assert!(r.depth <= 2, "k = {k}, {level:?}: depth {}", r.depth);
            assert!(
                r.input_ciphertexts <= 3,
                "k = {k}, {level:?}: {} input ciphertexts",
                r.input_ciphertexts
            );
        }
    }
}

/// A compile-time scalar to any real power is constant arithmetic (`2 ^ 0.5`, `2 ^ (-1)`),
/// as it is in a `const`; it was refused for its exponent. An exponent the program computes
/// (a function's parameter) is refused as not constant, where it was called undefined.
#[test]
fn constant_powers_fold_and_computed_exponents_are_named() {
    let consts = |text: &str| -> Vec<f64> {
        let src = SourceFile::new("pow.hel", text);
        let p = hel_compiler::driver::optimize(&src, &options(OptLevel::O0)).unwrap();
        p.graph
            .nodes()
            .filter_map(|(_, n)| match n.op {
                hel_compiler::ir::Op::Const { value } => Some(value),
                _ => None,
            })
            .collect()
    };
    let head = "input u: enc vector[3] range [-1, 1];\n";
    let root = consts(&format!("{head}let w = 2 ^ 0.5 * u;\noutput w;\n"));
    assert!(root.contains(&2f64.sqrt()), "{root:?}");
    let half = consts(&format!("{head}let w = 2 ^ (-1) * u;\noutput w;\n"));
    assert!(half.contains(&0.5), "{half:?}");

    let text = format!("fn p(x, k) = x^k;\n{head}let w = p(u, 3);\noutput w;\n");
    let d = compile(
        &SourceFile::new("pow.hel", text.as_str()),
        &options(OptLevel::O1),
    )
    .expect_err("not a constant");
    assert_eq!(d.code, Code::Secrecy);
    assert!(
        d.message.contains("must be known at compile time")
            && d.message.contains("a function's parameter"),
        "{}",
        d.message
    );
    assert_eq!(&text[d.span.start as usize..d.span.end as usize], "k");
}

/// An input the program never reads compiles, with a note that names it (its value is still
/// expected where the inputs are given); an input read only by a value that is not an output
/// is read, and gets no note.
#[test]
fn an_input_the_program_never_reads_gets_a_note() {
    let text = "input x: enc vector[4] range [-1, 1];\n\
                input z: enc vector[4] range [-1, 1];\n\
                input u: enc vector[4] range [-1, 1];\n\
                let y = x * x;\n\
                let t = u * 2;\n\
                output y;\n";
    let c = compile(&SourceFile::new("unused.hel", text), &options(OptLevel::O2)).unwrap();
    let notes: Vec<&String> = c
        .notes
        .iter()
        .filter(|n| n.contains("never reads"))
        .collect();
    assert_eq!(notes.len(), 1, "{:?}", c.notes);
    assert!(
        notes[0].starts_with("input `z` is declared"),
        "{}",
        notes[0]
    );
}
