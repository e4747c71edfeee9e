//! The cleanup passes (`const-fold`, `simplify`, `cse`, `dce`): every example at every
//! optimization level computes the same outputs after each pass (the differential tester), and
//! each pass does the specific job it exists for.

mod common;

use common::{load, small_sets, EXAMPLES};
use hel_compiler::ir::{print_text, Node, Op, Program, Secrecy};
use hel_compiler::passes::differential::{check_passes, check_pipeline, DifferentialError};
use hel_compiler::passes::pipeline::{OptLevel, Pipeline};
use hel_compiler::passes::Pass;
use hel_compiler::SourceFile;

const LEVELS: [OptLevel; 3] = [OptLevel::O0, OptLevel::O1, OptLevel::O2];

fn compile(text: &str) -> Program {
    let src = SourceFile::new("test.hel", text);
    hel_compiler::frontend(&src, &[]).unwrap_or_else(|d| panic!("{}", d.render_plain()))
}

/// `p` after the pipeline of `level`, stopped after `after`.
fn after(p: &Program, level: OptLevel, after: &str) -> Program {
    Pipeline::new(level)
        .run(p.clone(), Some(after), &mut |_, _| {})
        .unwrap_or_else(|d| panic!("{}", d.render_plain()))
}

fn ops<'a>(p: &'a Program, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
    p.graph
        .nodes()
        .map(|(_, n)| n)
        .filter(move |n| n.op.name() == name)
}

fn count(p: &Program, name: &str) -> usize {
    ops(p, name).count()
}

#[test]
fn every_example_at_every_level_keeps_its_meaning() {
    for name in EXAMPLES {
        let p = load(name, &small_sets(name));
        for level in LEVELS {
            let pipeline = Pipeline::new(level);
            let checks = check_pipeline(&p, &pipeline, &[0, 1, 2])
                .unwrap_or_else(|e| panic!("{name} at {level:?}: {e}"));
            let names: Vec<&str> = checks.iter().map(|c| c.pass).collect();
            let expected: Vec<&str> = pipeline.passes().map(|p| p.name()).collect();
            assert_eq!(names, expected, "{name} at {level:?}: one check per pass");
        }
    }
}

const CLEANUP: [&str; 4] = ["const-fold", "simplify", "cse", "dce"];

/// The cleanup passes run right after `unroll`, in this order (other passes may follow them).
#[test]
fn pipelines_per_level() {
    let names = |l| -> Vec<&str> {
        Pipeline::new(l)
            .passes()
            .map(|p| p.name())
            .filter(|n| *n == "unroll" || CLEANUP.contains(n))
            .collect()
    };
    assert_eq!(names(OptLevel::O0), ["unroll", "const-fold", "dce"]);
    // The first passes at O1 and O2: the cleanup passes, with `collect-terms` before `dce`.
    let first = [
        "unroll",
        "const-fold",
        "simplify",
        "cse",
        "collect-terms",
        "dce",
    ];
    for l in [OptLevel::O1, OptLevel::O2] {
        assert_eq!(names(l), ["unroll", "const-fold", "simplify", "cse", "dce"]);
        let all: Vec<&str> = Pipeline::new(l).passes().map(|p| p.name()).collect();
        assert_eq!(all[..6], first);
    }
    let listed: Vec<&str> = Pipeline::new(OptLevel::O2)
        .list()
        .iter()
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(listed[0], "parse");
    assert_eq!(listed[1..7], first);
}

/// A test pass that multiplies every constant by `factor`.
struct ScaleConsts {
    name: &'static str,
    factor: f64,
}

impl Pass for ScaleConsts {
    fn name(&self) -> &'static str {
        self.name
    }
    fn description(&self) -> &'static str {
        "multiplies every constant (a wrong pass, for testing the tester)"
    }
    fn run(&self, mut p: Program) -> Result<Program, hel_compiler::Diagnostic> {
        let fail = |p: &Program| {
            hel_compiler::Diagnostic::new(
                hel_compiler::Code::Internal,
                &p.source,
                Default::default(),
                "ron",
            )
        };
        let text = ron::to_string(&p.graph).map_err(|_| fail(&p))?;
        let mut nodes: Vec<Node> = ron::from_str(&text).map_err(|_| fail(&p))?;
        for n in &mut nodes {
            if let Op::Const { value } = &mut n.op {
                *value *= self.factor;
            }
        }
        let text = ron::to_string(&nodes).map_err(|_| fail(&p))?;
        p.graph = ron::from_str(&text).map_err(|_| fail(&p))?;
        Ok(p)
    }
}

/// A pass that changes the program's meaning must be caught and named.
#[test]
fn differential_tester_names_a_wrong_pass() {
    let p = load("poly", &small_sets("poly"));
    let pipeline = Pipeline::new(OptLevel::O0);
    let unroll = pipeline.passes().next().expect("unroll");
    let wrong = ScaleConsts {
        name: "wrong",
        factor: 1.5,
    };
    match check_passes(&p, [unroll, &wrong as &dyn Pass], &[0]) {
        Err(DifferentialError::Mismatch {
            pass, difference, ..
        }) => {
            assert_eq!(pass, "wrong");
            assert!(difference > 0.1, "difference {difference}");
        }
        other => panic!("expected a mismatch in `wrong`, got {other:?}"),
    }
}

/// Differences within the tolerance are accepted, but not when they add up.
#[test]
fn differential_tester_catches_drift() {
    // poly is x^4 + 2 with x in [-1, 1]: each nudge moves the output by 2 * 8e-10 <= 8e-10
    // relative, two of them by 1.6e-9 relative to an output near 2.
    let p = load("poly", &small_sets("poly"));
    let nudge = |name| ScaleConsts {
        name,
        factor: 1.0 + 8e-10,
    };
    let (first, second) = (nudge("first"), nudge("second"));
    let one: Vec<&dyn Pass> = vec![&first];
    let checks = check_passes(&p, one, &[0]).expect("one nudge is within tolerance");
    assert!(checks[0].max_difference > 0.0 && checks[0].max_difference <= 1e-9);
    assert_eq!(checks[0].max_difference, checks[0].from_source);
    let two: Vec<&dyn Pass> = vec![&first, &second];
    match check_passes(&p, two, &[0]) {
        Err(DifferentialError::Drift { pass, .. }) => assert_eq!(pass, "second"),
        other => panic!("expected drift after `second`, got {other:?}"),
    }
}

// ---- const-fold ------------------------------------------------------------------------------

#[test]
fn nag_momentum_constants_become_constants() {
    let p = load("logreg_nag", &small_sets("logreg_nag"));
    let folded = after(&p, OptLevel::O0, "const-fold");
    // The scalar recurrence (sqrt, div, mul on a_i) is gone from the whole graph...
    for op in ["sqrt", "div"] {
        assert_eq!(count(&folded, op), 0, "{op} left:\n{}", print_text(&folded));
    }
    // ...and every product's scalar factor is a constant, never a computed scalar.
    for n in ops(&folded, "mul") {
        for a in &n.args {
            let arg = folded.graph.node(*a);
            if arg.ty.shape == hel_compiler::ir::Shape::Scalar {
                assert!(
                    matches!(arg.op, Op::Const { .. }),
                    "scalar factor {arg:?} is not a constant"
                );
            }
        }
    }
    // eta_0 = (1 - a_0) / a_1 with a_0 = 0.01, a_1 = (1 + sqrt(1 + 4 a_0^2)) / 2.
    let a1 = (1.0 + (1.0f64 + 4.0 * 0.01 * 0.01).sqrt()) / 2.0;
    let eta0 = (1.0 - 0.01) / a1;
    let has = |v: f64| {
        ops(&folded, "const")
            .any(|n| matches!(n.op, Op::Const { value } if (value - v).abs() < 1e-15))
    };
    assert!(has(eta0), "eta_0 = {eta0} missing");
    assert!(has(1.0 - eta0), "1 - eta_0 missing");
}

#[test]
fn constant_indices_become_elements() {
    let p = load("logreg_gd", &small_sets("logreg_gd"));
    let folded = after(&p, OptLevel::O0, "const-fold");
    assert_eq!(count(&folded, "index"), 0);
    let mut seen: Vec<u32> = ops(&folded, "element")
        .map(|n| match n.op {
            Op::Element { index } => index,
            _ => u32::MAX,
        })
        .collect();
    seen.dedup();
    assert_eq!(seen, [0, 1, 2], "two elements per iteration, in order");
}

/// The constants (value, type) of a program, in node order.
fn consts(p: &Program) -> Vec<(f64, String)> {
    ops(p, "const")
        .map(|n| match n.op {
            Op::Const { value } => (value, n.ty.to_string()),
            _ => (f64::NAN, String::new()),
        })
        .collect()
}

#[test]
fn folds_constants_of_every_shape() {
    let p = compile(
        "input x: enc vector[3];\n\
         let a = 2 * ones(3);\n\
         let s = sum_cols(3 * ones(2, 4));\n\
         let d = dot(a, ones(3));\n\
         let t = transpose(ones(2, 3) - 5);\n\
         let m = t @ (2 * ones(2, 3));\n\
         let r = sum_rows(m) + ones(3, 2) @ s;\n\
         let y = x * a + d + r + dot(s, s) + -(2^3) / 4;\n\
         output y;\n",
    );
    let folded = after(&p, OptLevel::O0, "dce");
    let text = print_text(&folded);
    for op in [
        "sum_cols",
        "sum_rows",
        "dot",
        "transpose",
        "matmul",
        "matvec",
        "pow",
        "div",
        "neg",
    ] {
        assert_eq!(count(&folded, op), 0, "{op} not folded:\n{text}");
    }
    // a = 2, d = 2*1*3, m = (-4)*2*2 (3x3), r = -16*3 + 1*12*2, dot(s, s) = 12*12*2, -(8)/4.
    assert_eq!(
        consts(&folded),
        [
            (2.0, "plain vector[3]".to_string()),
            (6.0, "plain scalar".to_string()),
            (-24.0, "plain vector[3]".to_string()),
            (288.0, "plain scalar".to_string()),
            (-2.0, "plain scalar".to_string()),
        ],
        "{text}"
    );
    assert_eq!(folded.graph.len(), 11, "{text}");
    check_pipeline(&p, &Pipeline::new(OptLevel::O0), &[3, 4]).expect("same meaning");
}

fn compile_error(text: &str) -> String {
    let p = compile(text);
    match Pipeline::new(OptLevel::O0).run(p, None, &mut |_, _| {}) {
        Ok(p) => panic!("expected an error, got\n{}", print_text(&p)),
        Err(d) => d.render_plain(),
    }
}

#[test]
fn square_root_of_a_negative_number_is_reported_where_it_happens() {
    let text = compile_error(
        "input x: enc scalar;\nlet a = 1;\nlet y = x;\n\
         for i in 0..3 {\n    a = a - 1;\n    y = y * sqrt(a);\n}\noutput y;\n",
    );
    assert!(
        text.contains("compile-time arithmetic produced NaN: square root of a negative number"),
        "{text}"
    );
    assert!(
        text.contains("test.hel:6:13"),
        "points at `sqrt(a)`:\n{text}"
    );
}

#[test]
fn division_by_zero_is_reported() {
    let text = compile_error(
        "input x: enc vector[2];\nlet y = x;\nfor i in 0..3 {\n    y = y / (1 - i);\n}\noutput y;\n",
    );
    assert!(text.contains("division by zero"), "{text}");
    assert!(text.contains("test.hel:4:9"), "{text}");
}

#[test]
fn overflow_is_reported() {
    let text = compile_error(
        "input x: enc scalar;\nlet a = 10;\nlet y = x;\n\
         for i in 0..4 {\n    a = a^64;\n    y = y * a;\n}\noutput y;\n",
    );
    // 10^64 is fine, (10^64)^64 is not; the base is shown in scientific notation.
    assert!(
        text.contains("compile-time arithmetic produced infinity: 1")
            && text.contains("e64 to the power 64 overflows"),
        "{text}"
    );
    assert!(
        text.contains("test.hel:5:9"),
        "points at the second `a^64`:\n{text}"
    );
}

#[test]
fn folding_makes_public_values_plain() {
    // In NAG's first iteration `eta_0 * w` multiplies two public values, but unrolling types it
    // `enc` (w is an encrypted loop-carried variable). After folding it is a plain constant, and
    // no node computed only from public values is typed `enc`.
    let p = load("logreg_nag", &small_sets("logreg_nag"));
    let unrolled = after(&p, OptLevel::O0, "unroll");
    let enc_from_plain = |p: &Program| {
        p.graph
            .nodes()
            .filter(|(_, n)| {
                n.ty.secrecy == Secrecy::Enc
                    && !n.args.is_empty()
                    && n.args
                        .iter()
                        .all(|a| p.graph.node(*a).ty.secrecy == Secrecy::Plain)
            })
            .count()
    };
    assert!(enc_from_plain(&unrolled) > 0, "the test needs such nodes");
    for level in LEVELS {
        let done = after(&p, level, "dce");
        assert_eq!(
            enc_from_plain(&done),
            0,
            "{level:?}:\n{}",
            print_text(&done)
        );
    }
}

// ---- simplify --------------------------------------------------------------------------------

#[test]
fn zero_product_of_the_first_iteration_folds_away() {
    let p = load("logreg_gd", &small_sets("logreg_gd"));
    let in_iter0 = |p: &Program, op: &str| ops(p, op).filter(|n| n.iter == [0]).count();
    let folded = after(&p, OptLevel::O2, "const-fold");
    assert_eq!(in_iter0(&folded, "matvec"), 2);
    assert_eq!(in_iter0(&folded, "pow"), 1);
    let simple = after(&p, OptLevel::O2, "simplify");
    // `Z[0] @ 0` is 0, h(0) = 0.5 is a constant; only `transpose(Z[0]) @ 0.5` is left.
    assert_eq!(in_iter0(&simple, "matvec"), 1, "{}", print_text(&simple));
    assert_eq!(in_iter0(&simple, "pow"), 0);
    assert!(consts(&simple).contains(&(0.5, "plain vector[8]".to_string())));
    // The other iterations keep both products.
    for i in 1..3u32 {
        let n = ops(&simple, "matvec").filter(|n| n.iter == [i]).count();
        assert_eq!(n, 2, "iteration {i}");
    }
}

#[test]
fn identities() {
    let p = compile(
        "input x: enc vector[3];\ninput A: enc matrix[3, 3];\n\
         let a = (x * 1 + 0 - 0) / 1;\n\
         let b = -(-a);\n\
         let c = transpose(transpose(A)) @ b^1;\n\
         let d = 0 - c;\n\
         let e = d - d + 1 * d * -1;\n\
         let f = e + A @ zeros(3) + dot(zeros(3), x) * x;\n\
         output f;\n",
    );
    let s = after(&p, OptLevel::O2, "dce");
    let text = print_text(&s);
    // f = A @ x, computed once; nothing else but the inputs (and a zero constant for d - d + ...
    // folded away) remains.
    assert_eq!(count(&s, "matvec"), 1, "{text}");
    for op in ["mul", "div", "neg", "transpose", "pow", "dot", "sub"] {
        assert_eq!(count(&s, op), 0, "{op} left:\n{text}");
    }
    let out = s.graph.node(s.outputs[0].node);
    assert_eq!(out.op, Op::MatVec, "{text}");
    check_pipeline(&p, &Pipeline::new(OptLevel::O2), &[1, 2]).expect("same meaning");
}

#[test]
fn broadcast_operands_are_not_taken_as_results() {
    // `s * ones(3)` is a vector; the scalar `s` cannot replace it.
    let p = compile("input s: enc scalar;\nlet y = s * ones(3) + 0;\noutput y;\n");
    let s = after(&p, OptLevel::O2, "dce");
    let out = s.graph.node(s.outputs[0].node);
    assert_eq!(out.ty.to_string(), "enc vector[3]");
    assert_eq!(out.op, Op::Mul);
}

// ---- cse -------------------------------------------------------------------------------------

#[test]
fn cse_merges_the_two_sequence_elements_of_each_iteration() {
    let p = load("logreg_gd", &small_sets("logreg_gd"));
    let before = after(&p, OptLevel::O2, "simplify");
    assert_eq!(count(&before, "element"), 6);
    let merged = after(&p, OptLevel::O2, "cse");
    let idx: Vec<u32> = ops(&merged, "element")
        .map(|n| match n.op {
            Op::Element { index } => index,
            _ => u32::MAX,
        })
        .collect();
    assert_eq!(idx, [0, 1, 2], "{}", print_text(&merged));
}

#[test]
fn cse_merges_commutative_operands_only() {
    let p = compile(
        "input a: enc vector[4];\ninput b: enc vector[4];\n\
         let y = a * b + b * a + (a - b) + (b - a) + dot(a, b) * dot(b, a);\noutput y;\n",
    );
    // Right after `cse` (`collect-terms` then adds the like terms `a*b + b*a` and cancels
    // `(a - b) + (b - a)`).
    let s = after(&p, OptLevel::O2, "cse");
    assert_eq!(count(&s, "mul"), 2, "{}", print_text(&s)); // a*b and dot*dot
    assert_eq!(count(&s, "dot"), 1);
    assert_eq!(count(&s, "sub"), 2, "a - b and b - a differ");
    check_pipeline(&p, &Pipeline::new(OptLevel::O2), &[5]).expect("same meaning");
}

// ---- dce -------------------------------------------------------------------------------------

#[test]
fn dce_keeps_only_what_outputs_use_and_numbers_compactly() {
    let p = compile(
        "input u: enc vector[3];\ninput x: enc vector[3];\n\
         let unused = u * u + 2;\nlet y = x + 1;\noutput y;\n",
    );
    let s = after(&p, OptLevel::O0, "dce");
    let text = print_text(&s);
    assert_eq!(s.graph.len(), 3, "input x, const 1, add:\n{text}");
    assert!(!text.contains("input u :"), "u has no node:\n{text}");
    assert!(s.input("u").is_some(), "u stays declared");
    // Every node but the output is used, and numbering is 0..len in order.
    for (id, _) in s.graph.nodes() {
        assert!(
            id == s.outputs[0].node || !s.graph.users(id).is_empty(),
            "%{} is dead:\n{text}",
            id.index()
        );
    }
}

#[test]
fn every_example_ends_without_dead_nodes() {
    for name in EXAMPLES {
        let p = load(name, &small_sets(name));
        for level in LEVELS {
            let s = after(&p, level, "dce");
            let outs: Vec<_> = s.outputs.iter().map(|o| o.node).collect();
            for (id, _) in s.graph.nodes() {
                assert!(
                    outs.contains(&id) || !s.graph.users(id).is_empty(),
                    "{name} {level:?}: %{} is dead",
                    id.index()
                );
            }
        }
    }
}

#[test]
fn nag_at_o2_is_smaller_than_at_o0() {
    let p = load("logreg_nag", &small_sets("logreg_nag"));
    let o0 = after(&p, OptLevel::O0, "dce").graph.len();
    let o2 = after(&p, OptLevel::O2, "dce").graph.len();
    let unrolled = after(&p, OptLevel::O0, "unroll").graph.len();
    assert!(o0 < unrolled, "O0 {o0} vs unrolled {unrolled}");
    assert!(o2 < o0, "O2 {o2} vs O0 {o0}");
}

#[test]
fn passes_are_deterministic() {
    for name in EXAMPLES {
        let p = load(name, &small_sets(name));
        let a = print_text(&after(&p, OptLevel::O2, "dce"));
        let b = print_text(&after(&p, OptLevel::O2, "dce"));
        assert_eq!(a, b, "{name}");
    }
}

#[test]
fn cleanup_passes_reject_loops() {
    let p = load("logreg_gd", &small_sets("logreg_gd"));
    let pipeline = Pipeline::new(OptLevel::O2);
    let cleanup: Vec<&dyn Pass> = pipeline
        .passes()
        .filter(|p| CLEANUP.contains(&p.name()))
        .collect();
    assert_eq!(cleanup.len(), CLEANUP.len());
    for pass in cleanup {
        let err = pass
            .run(p.clone())
            .err()
            .unwrap_or_else(|| panic!("`{}` accepted a loop", pass.name()));
        assert!(err.message.contains("loop-free"), "{}", err.message);
    }
}

/// The checker rejects bad indices in source programs; `const-fold` must still not trust the IR
/// it is given (another pass, or a hand-built program, may produce one).
#[test]
fn out_of_range_constant_index_is_a_diagnostic() {
    use hel_compiler::ir::{Builder, Shape, Type};
    // The declarations come from a real program; the graph is replaced by a hand-built one.
    let base = compile("input Z: enc vector[3][2];\nlet y = Z[1];\noutput y;\n");
    let span = base.outputs[0].span;
    for (index, ok) in [(1.0, true), (2.0, false), (0.5, false), (-1.0, false)] {
        let seq = Type {
            seq: Some(2),
            ..Type::new(Secrecy::Enc, Shape::Vector(3))
        };
        let mut b = Builder::new();
        let z = b.add(Node::new(Op::Input { name: "Z".into() }, vec![], seq, span));
        let i = b.add(Node::new(
            Op::Const { value: index },
            vec![],
            Type::scalar(),
            span,
        ));
        let e = b.add(Node::new(
            Op::Index,
            vec![z, i],
            Type::new(Secrecy::Enc, Shape::Vector(3)),
            span,
        ));
        let mut outputs = base.outputs.clone();
        outputs[0].node = e;
        let p = base.with_graph(b.finish(), outputs);
        let fold = hel_compiler::passes::const_fold::ConstFold;
        match (fold.run(p), ok) {
            (Ok(p), true) => {
                let out = p.graph.node(p.outputs[0].node);
                assert_eq!(out.op, Op::Element { index: 1 });
            }
            (Err(d), false) => assert!(
                d.message.contains("out of range") && d.message.contains("2 elements"),
                "{}",
                d.message
            ),
            (r, _) => panic!("index {index}: unexpected {:?}", r.map(|p| print_text(&p))),
        }
    }
}
