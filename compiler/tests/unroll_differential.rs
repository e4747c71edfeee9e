//! `unroll` must not change what a program computes: the reference interpreter gives the same
//! outputs before and after, on random inputs within the declared ranges.

mod common;

use common::{load, small_sets, EXAMPLES};
use hel_compiler::ir::interp::{eval, max_relative_difference, random_inputs};
use hel_compiler::passes::pipeline::{OptLevel, Pipeline};

#[test]
fn unroll_preserves_semantics() {
    for name in EXAMPLES {
        let before = load(name, &small_sets(name));
        let after = Pipeline::new(OptLevel::O2)
            .run(before.clone(), Some("unroll"), &mut |_, _| {})
            .expect("unroll");
        for seed in 0..3 {
            let inputs = random_inputs(&before, seed);
            let a = eval(&before, &inputs).expect("eval before");
            let b = eval(&after, &inputs).expect("eval after");
            let d = max_relative_difference(&a, &b);
            assert!(d <= 1e-9, "{name} seed {seed}: outputs differ by {d:e}");
        }
    }
}

#[test]
fn nested_loops_unroll() {
    let src = hel_compiler::SourceFile::new(
        "nested.hel",
        "input A: enc matrix[3, 3][2] range [-1, 1];\ninput x: enc vector[3] range [-1, 1];\n\
         let y = x;\nfor i in 0..2 { for j in 0..3 { y = A[i] @ y + j * x; } }\noutput y;\n",
    );
    let before = hel_compiler::frontend(&src, &[]).expect("valid");
    let after = Pipeline::new(OptLevel::O2)
        .run(before.clone(), Some("unroll"), &mut |_, _| {})
        .expect("unroll");
    let inputs = random_inputs(&before, 7);
    let d = max_relative_difference(
        &eval(&before, &inputs).expect("before"),
        &eval(&after, &inputs).expect("after"),
    );
    assert!(d <= 1e-9, "nested loops differ by {d:e}");
    let tags: Vec<Vec<u32>> = after
        .graph
        .nodes()
        .filter(|(_, n)| n.op.name() == "matvec")
        .map(|(_, n)| n.iter.clone())
        .collect();
    assert_eq!(tags.len(), 6);
    assert_eq!(
        tags[5],
        vec![1, 2],
        "the last product belongs to iteration (1, 2)"
    );
}

/// The interpreter itself, on a program whose result is known in closed form.
#[test]
fn interpreter_computes_known_values() {
    let src = hel_compiler::SourceFile::new(
        "known.hel",
        "input x: enc vector[3];\nconst c = sqrt(16) / 2;\nlet s = 0;\nfor i in 1..4 { s = s + i; }\n\
         let y = c * x^2 + s;\noutput y;\n",
    );
    let p = hel_compiler::frontend(&src, &[]).expect("valid");
    let mut inputs = std::collections::HashMap::new();
    use hel_compiler::ir::interp::{Tensor, Value};
    use hel_compiler::ir::Shape;
    inputs.insert(
        "x".to_string(),
        Value::Tensor(Tensor {
            shape: Shape::Vector(3),
            data: vec![1.0, -2.0, 3.0],
        }),
    );
    let out = eval(&p, &inputs).expect("eval");
    assert_eq!(
        out[0].1,
        Value::Tensor(Tensor {
            shape: Shape::Vector(3),
            data: vec![8.0, 14.0, 24.0]
        })
    );
}

/// Partial unrolling by every factor keeps the meaning, including the peeled remainder, and
/// leaves a loop of `n / F` iterations.
#[test]
fn partial_unroll_preserves_semantics() {
    use hel_compiler::ir::Op;
    use hel_compiler::passes::pipeline::Options;
    for name in ["logreg_gd", "logreg_nag"] {
        let source = load(name, &[("k", 5.0), ("m", 6.0), ("f", 4.0)]);
        for factor in 1..=6u32 {
            let options = Options {
                unroll_factor: Some(factor),
                ..Options::default()
            };
            let p = Pipeline::with_options(options)
                .run(source.clone(), None, &mut |_, _| {})
                .expect("unroll");
            let trips: Vec<i64> = p
                .graph
                .nodes()
                .filter_map(|(_, n)| match &n.op {
                    Op::Loop(l) => Some(l.end - l.start),
                    _ => None,
                })
                .collect();
            let expected: Vec<i64> = if factor > 1 && factor < 5 {
                vec![5 / i64::from(factor)]
            } else {
                vec![]
            };
            assert_eq!(trips, expected, "{name} by {factor}");
            let inputs = random_inputs(&source, u64::from(factor));
            let d = max_relative_difference(
                &eval(&source, &inputs).expect("source"),
                &eval(&p, &inputs).expect("partial"),
            );
            assert!(d <= 1e-9, "{name} unrolled by {factor} differs by {d:e}");
        }
    }
}

/// A compile-time scalar to a power that depends on the loop variable (`0.5^i`, a decaying
/// weight) is scalar arithmetic like `eta / (i + 1)`: every level folds it to the same
/// values as the interpreter; a negative base to a fractional power is a located error
/// once folded, and an encrypted base still may not take such an exponent.
#[test]
fn a_compile_time_base_may_take_a_loop_dependent_exponent() {
    use hel_compiler::ir::interp::{Tensor, Value};
    use hel_compiler::ir::Shape;
    let text = "input x: enc vector[2];\nlet s = zeros(2);\n\
                for i in 0..4 { s = s + 0.5^i * x; }\noutput s;\n";
    let p = hel_compiler::frontend(&hel_compiler::SourceFile::new("decay.hel", text), &[])
        .expect("valid");
    let mut inputs = std::collections::HashMap::new();
    inputs.insert(
        "x".to_string(),
        Value::Tensor(Tensor {
            shape: Shape::Vector(2),
            data: vec![1.0, -2.0],
        }),
    );
    let want = Value::Tensor(Tensor {
        shape: Shape::Vector(2),
        data: vec![1.875, -3.75],
    });
    assert_eq!(eval(&p, &inputs).expect("eval")[0].1, want);
    for level in [OptLevel::O0, OptLevel::O1, OptLevel::O2] {
        let q = Pipeline::new(level)
            .run(p.clone(), None, &mut |_, _| {})
            .expect("passes");
        assert_eq!(eval(&q, &inputs).expect("eval")[0].1, want, "{level:?}");
    }
    let nan = text.replace("0.5^i", "(-0.5)^(i / 2)");
    let p = hel_compiler::frontend(&hel_compiler::SourceFile::new("nan.hel", nan.clone()), &[])
        .expect("checked");
    let d = Pipeline::new(OptLevel::O0)
        .run(p, None, &mut |_, _| {})
        .expect_err("NaN at i = 1");
    assert!(d.message.contains("fractional power"), "{}", d.message);
    assert!(nan[d.span.start as usize..].starts_with("(-0.5)^(i / 2)"));
    let enc = text.replace("0.5^i * x", "x^(i + 1)");
    let d = hel_compiler::frontend(&hel_compiler::SourceFile::new("enc.hel", enc), &[])
        .expect_err("an encrypted base");
    assert!(d.message.contains("loop variable `i`"), "{}", d.message);
}
