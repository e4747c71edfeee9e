//! Every valid program compiles or gets a located error naming the real cause (issue 18,
//! item 5): at every -O level, the diagnostic points at the operation the user wrote (not at
//! an `input` declaration, a constant or the top of the file) and suggests nothing that level
//! already does; programs the optimizer used to break (a product of public matrices made by
//! reassociation, a client precomputation the client cannot compute) compile; and the
//! ciphertext depth of a circuit too deep for any parameter set is still reported.

use hel_compiler::driver::lower_checked_or_depth;
use hel_compiler::lower::{ciphertext_depth, LowerOptions};
use hel_compiler::passes::pipeline::{self, OptLevel};
use hel_compiler::{compile, Code, Diagnostic, Options, SourceFile};

const LEVELS: [OptLevel; 3] = [OptLevel::O0, OptLevel::O1, OptLevel::O2];

fn options(level: OptLevel) -> Options {
    Options {
        passes: pipeline::Options {
            level,
            ..pipeline::Options::default()
        },
        ..Options::default()
    }
}

fn compile_at(name: &str, text: &str, level: OptLevel) -> Result<(), Diagnostic> {
    compile(&SourceFile::new(name, text), &options(level)).map(|_| ())
}

/// The error of `text` at `level`, with its rendering; panics if it compiles.
fn error_at(name: &str, text: &str, level: OptLevel) -> (Diagnostic, String) {
    let d = compile_at(name, text, level)
        .err()
        .unwrap_or_else(|| panic!("{name} compiled at {level:?}"));
    let shown = d.render_plain();
    (d, shown)
}

/// A matrix product of degree 4 in the inputs (the client precomputes degree 2 at most),
/// written inside a function that a loop calls.
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

#[test]
fn a_product_in_a_function_called_from_a_loop_is_reported_at_the_product() {
    for level in LEVELS {
        let (d, shown) = error_at("fn_product.hel", PRODUCT_IN_A_FUNCTION, level);
        assert_eq!(d.code, Code::Unsupported, "{shown}");
        // `sq(x) @ sq(y)`, line 2 column 17: not the `input` lines, not the loop.
        assert!(shown.contains("fn_product.hel:2:17]"), "{level:?}: {shown}");
        assert!(d.message.contains("`matmul`"), "{shown}");
        assert!(
            d.message.contains("no matrix-matrix product")
                && d.message.contains("degree at most 2"),
            "{shown}"
        );
        assert!(!d.message.contains("use -O"), "{level:?}: {shown}");
    }
}

#[test]
fn an_unsupported_public_operand_is_reported_at_the_operation() {
    let text = "\
input A: plain matrix[4, 4] range [-1, 1];
input B: enc matrix[4, 4] range [-1, 1];
let C = B + A;
output C;
";
    for level in LEVELS {
        let (d, shown) = error_at("plain_operand.hel", text, level);
        assert_eq!(d.code, Code::Unsupported, "{shown}");
        assert!(
            shown.contains("plain_operand.hel:3:9]"),
            "{level:?}: {shown}"
        );
        // The operand kinds are named.
        assert!(
            d.message.contains("plain matrix[4, 4] input `A`")
                && d.message.contains("enc matrix[4, 4] input `B`"),
            "{shown}"
        );
    }
}

#[test]
fn a_power_of_a_matrix_says_what_to_write_instead() {
    // -O1 and -O2 turn `^` into products; -O0 lowers it as written.
    let text = "input A: enc matrix[4, 4] range [-1, 1];\nlet C = A ^ 3;\noutput C;\n";
    let (d, shown) = error_at("matrix_power.hel", text, OptLevel::O0);
    assert!(shown.contains("matrix_power.hel:2:9]"), "{shown}");
    assert!(d.message.contains("x * x"), "{shown}");
    assert!(!d.message.contains("-O"), "{shown}");
    for level in [OptLevel::O1, OptLevel::O2] {
        compile_at("matrix_power.hel", text, level).unwrap_or_else(|d| panic!("{d}"));
    }
}

/// Programs that once panicked or were refused although valid: a product with a public matrix
/// input (the oracle read its input table before filling it), `A @ (A @ x)` with a public `A`
/// (-O1 reassociated it into `A @ A`, which nothing computes), and a data product over a row
/// sum (-O2 handed it to the client, which has no summing op).
#[test]
fn programs_the_optimizer_used_to_break_compile() {
    let cases = [
        (
            "public_factor.hel",
            "input A: plain matrix[4, 4] range [-1, 1];\n\
             input B: enc matrix[4, 4] range [-1, 1];\n\
             let D = B * A;\noutput D;\n",
            false,
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
            match r {
                Ok(()) => {}
                Err(d) if must_compile => {
                    panic!("{name} at {level:?}: {}", d.render_plain())
                }
                Err(d) => {
                    let shown = d.render_plain();
                    assert_eq!(d.code, Code::Unsupported, "{shown}");
                    assert!(!shown.contains(&format!("{name}:1:")), "{shown}");
                }
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
    };
    let compiled = compile(&src, &wide).unwrap();
    assert_eq!(
        ciphertext_depth(&compiled.program, &lower).ok(),
        Some(compiled.report().depth)
    );
}
