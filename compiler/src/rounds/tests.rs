//! The round transform on the examples: what the round programs say (printed), that they
//! compose to the original program in the reference interpreter, that programs which do not
//! depend on the round's start compile to one circuit, and what is refused.

use super::*;
use crate::ir::interp::{self, Tensor, Value};
use crate::ir::Shape;
use std::collections::HashMap;

fn example(name: &str) -> SourceFile {
    let path = format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"));
    SourceFile::new(name, std::fs::read_to_string(path).unwrap())
}

fn printed(t: &RoundTemplate, start: usize) -> String {
    crate::syntax::print(&t.program(start))
}

fn sets(k: usize, m: usize, f: usize) -> Vec<(String, f64)> {
    [("k", k), ("m", m), ("f", f)]
        .iter()
        .map(|&(n, v)| (n.to_string(), v as f64))
        .collect()
}

#[test]
fn nag_rounds_get_a_warm_up_loop_and_shifted_indices() {
    let t = RoundTemplate::new(&example("logreg_nag.hel")).unwrap();
    let names: Vec<&str> = t.state().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["v", "w"]);
    assert!(t.shifts());
    assert_eq!(t.program_key(3), 3);
    let r0 = printed(&t, 0);
    assert!(
        r0.contains(
            "input v_start: enc vector[f];\nlet v = v_start;\n\
             input w_start: enc vector[f];\nlet w = w_start;\nlet a = 0.01;\nfor i in 0..k {\n"
        ),
        "{r0}"
    );
    assert!(r0.ends_with("output v, w;\n"), "{r0}");
    assert_eq!(r0.matches("for ").count(), 1, "no warm-up loop at 0: {r0}");
    // At 3: a warm-up loop over the public (here compile-time) statements, then the loop over the global
    // iterations 3..k+3 reading minibatch i - 3.
    let r3 = printed(&t, 3);
    let loops = r3
        .split_once("let a = 0.01;\n")
        .map(|(_, rest)| rest)
        .unwrap();
    assert_eq!(
        loops,
        "for i in 0..3 {\n    \
             let a_next = (1 + sqrt(1 + 4 * a * a)) / 2;\n    \
             let eta = (1 - a) / a_next;\n    \
             a = a_next;\n\
         }\n\
         for i in 0 + 3..k + 3 {\n    \
             let a_next = (1 + sqrt(1 + 4 * a * a)) / 2;\n    \
             let eta = (1 - a) / a_next;\n    \
             let g = gamma * (transpose(Z[i - 3]) @ h(Z[i - 3] @ v));\n    \
             let w_next = v + g;\n    \
             v = (1 - eta) * w_next + eta * w;\n    \
             w = w_next;\n    \
             a = a_next;\n\
         }\n\
         output v, w;\n"
    );
}

#[test]
fn gd_rounds_do_not_depend_on_the_start() {
    let t = RoundTemplate::new(&example("logreg_gd.hel")).unwrap();
    assert!(!t.shifts());
    assert_eq!(t.program_key(4), 0);
    let r0 = printed(&t, 0);
    assert_eq!(r0, printed(&t, 4));
    assert!(
        r0.contains("input beta_start: enc vector[f];\nlet beta = beta_start;\n"),
        "{r0}"
    );
    assert!(r0.contains("for i in 0..k {\n"), "{r0}");
}

/// Runs the round programs of `sizes` one after the other from zero state and returns the
/// final value of every state variable; the original program runs once over all minibatches.
fn composed(t: &RoundTemplate, sizes: &[usize], z: &[Tensor], m: usize, f: usize) -> Vec<f64> {
    let mut state: HashMap<String, Vec<f64>> = t
        .state()
        .iter()
        .map(|s| (s.name.clone(), vec![0.0; f]))
        .collect();
    let mut start = 0;
    for &len in sizes {
        let p = t.frontend(start, &sets(len, m, f)).unwrap();
        assert_eq!(p.source.name(), t.source().name());
        let mut inputs = HashMap::new();
        inputs.insert("Z".to_string(), Value::Seq(z[start..start + len].to_vec()));
        for s in t.state().iter().filter(|s| s.is_input(start)) {
            let data = state[&s.name].clone();
            let v = Value::Tensor(Tensor {
                shape: Shape::Vector(f),
                data,
            });
            inputs.insert(s.input.clone(), v);
        }
        for (name, v) in interp::eval(&p, &inputs).unwrap() {
            let Value::Tensor(v) = v else {
                panic!("a sequence output")
            };
            state.insert(name, v.data);
        }
        start += len;
    }
    state.remove(&t.state()[0].name).unwrap()
}

/// Runs `t`'s round programs `(start, length)` one after the other in the reference
/// interpreter on the whole program's `inputs` (each round the elements of its own
/// iterations of the per-iteration sequences), the constant `length` set per round, from zero
/// state; returns the largest difference of every output from the whole program's.
fn compose_rounds(t: &RoundTemplate, length: &str, rounds: &[(usize, usize)], seed: u64) -> f64 {
    let whole = crate::frontend(t.source(), &[]).unwrap();
    let inputs = interp::random_inputs(&whole, seed);
    let want = interp::eval(&whole, &inputs).unwrap();
    let mut state: HashMap<String, Vec<f64>> = t
        .state()
        .iter()
        .map(|s| (s.name.clone(), vec![0.0; s.shape.len()]))
        .collect();
    let mut outputs = Vec::new();
    for (r, &(at, len)) in rounds.iter().enumerate() {
        let last = r + 1 == rounds.len();
        let p = t
            .frontend_for(at, last, &[(length.to_string(), len as f64)])
            .unwrap();
        let mut round_inputs = inputs.clone();
        for name in t.per_iteration_inputs() {
            if let Some(Value::Seq(all)) = inputs.get(name) {
                round_inputs.insert(name.clone(), Value::Seq(all[at..at + len].to_vec()));
            }
        }
        for s in t.state().iter().filter(|s| s.is_input(at)) {
            let data = state[&s.name].clone();
            let v = Value::Tensor(Tensor {
                shape: s.shape,
                data,
            });
            round_inputs.insert(s.input.clone(), v);
        }
        outputs = interp::eval(&p, &round_inputs).unwrap();
        for (name, v) in &outputs {
            if let Value::Tensor(v) = v {
                state.insert(name.clone(), v.data.clone());
            }
        }
    }
    let mut worst = 0.0f64;
    for (name, w) in &want {
        let (Value::Tensor(w), Some((_, Value::Tensor(g)))) =
            (w, outputs.iter().find(|(n, _)| n == name))
        else {
            panic!("output `{name}` missing or a sequence")
        };
        for (a, b) in w.data.iter().zip(&g.data) {
            worst = worst.max((a - b).abs());
        }
    }
    worst
}

#[test]
fn round_programs_compose_to_the_original_program() {
    let (k, m, f) = (7, 4, 3);
    for (file, output) in [("logreg_gd.hel", "beta"), ("logreg_nag.hel", "v")] {
        let src = example(file);
        let whole = crate::frontend(&src, &sets(k, m, f)).unwrap();
        let inputs = interp::random_inputs(&whole, 7);
        let Some(Value::Seq(z)) = inputs.get("Z").cloned() else {
            panic!("no minibatches")
        };
        let want = interp::eval(&whole, &inputs).unwrap();
        let Value::Tensor(want) = &want[0].1 else {
            panic!("a sequence output")
        };
        let t = RoundTemplate::new(&src).unwrap();
        assert_eq!(t.state()[0].name, output);
        for sizes in [vec![7], vec![3, 3, 1], vec![1; 7], vec![2, 5]] {
            let got = composed(&t, &sizes, &z, m, f);
            let d = got
                .iter()
                .zip(&want.data)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(d < 1e-12, "{file}, rounds {sizes:?}: differs by {d:e}");
        }
    }
}

/// A state that does not start at zeros (a run-time input, a compile-time vector the loop
/// makes a run-time value, a value computed from the data) keeps its `let` in the first
/// round only; the later rounds take it as an input, and the rounds compose to the program.
#[test]
fn state_that_starts_elsewhere_is_computed_by_the_first_round() {
    let head = "const k = 5; const m = 4; const f = 3; input Z: enc matrix[m, f][k]; \
                input c: enc vector[f]; ";
    for start in ["c", "ones(f) * 0.1", "0.1 * (transpose(Z[0]) @ (Z[0] @ c))"] {
        let src = SourceFile::new(
            "x.hel",
            format!(
                "{head}let u = zeros(f); let b = {start}; for i in 0..k {{ \
                 u = 0.5 * u + transpose(Z[i]) @ (Z[i] @ b); b = b - 0.1 * u; }} output b;"
            ),
        );
        let t = RoundTemplate::new(&src).unwrap_or_else(|d| panic!("{start}: {}", d.message));
        let state: Vec<(&str, bool)> = t
            .state()
            .iter()
            .map(|s| (s.name.as_str(), s.starts_at_zeros))
            .collect();
        assert_eq!(state, [("u", true), ("b", false)], "{start}");
        assert!(t.first_differs());
        // The first round computes `b`'s start; the later ones (one program) take it.
        let (r0, r2) = (printed(&t, 0), printed(&t, 2));
        assert!(r0.contains(&format!("let b = {start};")), "{r0}");
        assert!(!r0.contains("b_start"), "{r0}");
        assert!(
            r2.contains("input b_start: enc vector[3];\nlet b = b_start;"),
            "{r2}"
        );
        assert!(r0.ends_with("output b, u;\n") && r2.ends_with("output b, u;\n"));
        assert_eq!((t.program_key(0), t.program_key(2)), (0, 1));
        assert_eq!(printed(&t, 2), printed(&t, 4));
        for rounds in [
            vec![(0, 5)],
            vec![(0, 2), (2, 2), (4, 1)],
            (0..5).map(|i| (i, 1)).collect(),
        ] {
            let d = compose_rounds(&t, "k", &rounds, 11);
            assert!(d < 1e-12, "{start}, rounds {rounds:?}: differs by {d:e}");
        }
    }
}

#[test]
fn rounds_that_do_not_depend_on_the_start_compile_to_one_circuit() {
    let options = Options {
        sets: sets(2, 4, 3),
        ..Options::default()
    };
    let hash = |file: &str, start: usize| {
        let t = RoundTemplate::new(&example(file)).unwrap();
        t.compile(start, &options)
            .unwrap()
            .schedule()
            .program_hash
            .clone()
    };
    assert_eq!(hash("logreg_gd.hel", 0), hash("logreg_gd.hel", 4));
    // NAG's momentum constants depend on the start.
    assert_ne!(hash("logreg_nag.hel", 0), hash("logreg_nag.hel", 2));
}

#[test]
fn refuses_what_it_cannot_carry_at_the_statement_that_stops_it() {
    let head = "const k = 2; input Z: enc vector[3][k]; ";
    let cases = [
        // An inner loop that changes a compile-time value of the outer loop's (the warm-up
        // loop replays the outer loop's statements only): at the inner loop.
        (
            "let a = 1; let b = zeros(3); for i in 0..k { a = a * 2; \
             for j in 0..2 { a = a + 1; b = b + a * Z[i]; } } output b;",
            "for j in 0..2",
            "this inner loop changes `a`",
        ),
        (
            "let c = ones(3); for i in 0..k { let b = c + Z[i]; } output c;",
            "for i in 0..k",
            "no encrypted value is carried",
        ),
        // A loop before it that changes the state.
        (
            "let b = zeros(3); for i in 0..k { b = b + Z[i]; } for i in 0..k { b = b + Z[i]; } \
             output b;",
            "for i in 0..k { b = b + Z[i]; } for",
            "this loop changes `b`",
        ),
    ];
    for (body, at, message) in cases {
        let src = SourceFile::new("x.hel", format!("{head}{body}"));
        let e = RoundTemplate::new(&src).unwrap_err();
        assert_eq!(e.code, Code::Rounds, "{body}: {}", e.message);
        let located = &src.text()[e.span.start as usize..];
        assert!(located.starts_with(at), "{body}: at `{located}`");
        assert!(e.message.contains(message), "{body}: {}", e.message);
    }
}

#[test]
fn compile_errors_of_the_program_are_its_own() {
    let src = SourceFile::new(
        "x.hel",
        "const k = 2; input Z: enc vector[3][k]; let b = zeros(3); \
         for i in 0..k { b = b + Z[i + 1]; } output b;",
    );
    let e = RoundTemplate::new(&src).unwrap_err();
    assert_eq!(e.code, Code::Const, "{}", e.message);
    assert!(src.text()[e.span.start as usize..].starts_with("i + 1"));
}

/// Work after the loop (a prediction from the trained weights) is the last round's only; a
/// loop may run to any constant, and only the sequences as long as the loop are indexed per
/// round (`Z[i]`), the others read as written (`E[0]`).
#[test]
fn the_last_round_does_what_follows_the_loop() {
    let src = SourceFile::new(
        "x.hel",
        "const n = 4; const k = 3; input Z: enc vector[3][n]; input E: enc vector[3][k]; \
         input T: enc matrix[2, 3]; let w = zeros(3); \
         for i in 0..n { w = 0.5 * w + Z[i] * E[0]; } let p = T @ w; output p;",
    );
    let t = RoundTemplate::new(&src).unwrap();
    assert!(t.has_tail());
    assert_eq!(t.length_const(), Some("n"));
    let names: Vec<&String> = t.per_iteration_inputs().iter().collect();
    assert_eq!(names, ["Z"]);
    let (mid, last) = (
        crate::syntax::print(&t.program_for(2, false)),
        crate::syntax::print(&t.program_for(2, true)),
    );
    assert!(
        !mid.contains("let p") && mid.ends_with("output w;\n"),
        "{mid}"
    );
    assert!(
        last.contains("let p = T @ w;") && last.ends_with("output p, w;\n"),
        "{last}"
    );
    assert!(mid.contains("Z[i]") && mid.contains("E[0]"), "{mid}");
    // Without a tail every round is the same program.
    let plain = RoundTemplate::new(&example("logreg_gd.hel")).unwrap();
    assert!(!plain.has_tail());
    assert_eq!(
        printed(&plain, 0),
        crate::syntax::print(&plain.program_for(0, true))
    );
}

/// A loop to a number, an expression (`for i in 0..6`, `0..2 * n`) or a constant the program
/// reads elsewhere too (`/ k`) gets a constant's name that the rounds set (a fresh one:
/// `iterations` is taken here); the sequences declared exactly as long are its per-iteration
/// data, the others are read whole, and the rounds compose to the program.
#[test]
fn loops_to_a_number_or_an_expression_are_split_too() {
    let cases = [
        ("6", vec!["E", "Z"]),
        ("2 * n", vec!["Z"]),
        ("k", vec!["Z"]),
    ];
    for (bound, per_iteration) in cases {
        let text = format!(
            "const n = 3; const k = 6; const iterations = 1; input Z: enc vector[3][{bound}]; \
             input E: enc vector[3][6]; let w = zeros(3); \
             for i in 0..{bound} {{ w = 0.5 * w + Z[i] * E[i] * iterations / k; }} output w;"
        );
        let t = RoundTemplate::new(&SourceFile::new("lit.hel", text)).unwrap();
        assert_eq!(t.length_const(), Some("iterations_"));
        let mut names: Vec<&str> = t
            .per_iteration_inputs()
            .iter()
            .map(|s| s.as_str())
            .collect();
        names.sort();
        assert_eq!(names, per_iteration, "for 0..{bound}");
        let d = compose_rounds(&t, "iterations_", &[(0, 2), (2, 3), (5, 1)], 7);
        assert!(d < 1e-12, "0..{bound}: differs by {d:e}");
    }
}

/// Loops inside the loop the rounds cut (epochs over the minibatches; steps per minibatch)
/// run whole in every round, and the rounds compose to the program.
#[test]
fn inner_loops_run_whole_in_every_round() {
    let src = SourceFile::new(
        "epochs.hel",
        "const E = 4; const k = 3; input Z: enc vector[3][k]; let a = 1; let w = zeros(3); \
         for e in 0..E { a = a / 2; for i in 0..k { w = 0.5 * w + a * Z[i]; } } output w;",
    );
    let t = RoundTemplate::new(&src).unwrap();
    assert_eq!(t.length_const(), Some("E"));
    assert!(
        t.per_iteration_inputs().is_empty(),
        "Z is as long as the inner loop"
    );
    let d = compose_rounds(&t, "E", &[(0, 1), (1, 2), (3, 1)], 3);
    assert!(d < 1e-12, "differs by {d:e}");
}

/// A public value the loop carries (a learning rate decayed by a `plain` input) is replayed by
/// every round's warm-up loop, computed by the server in the clear; one computed from the
/// per-iteration data cannot be (a round has its own iterations' only): refused there.
#[test]
fn public_values_are_replayed_by_every_round() {
    let head = "const k = 4; input Z: enc vector[3][k]; input d: plain scalar range [0.5, 1]; \
                input P: plain vector[3][k]; ";
    let src = SourceFile::new(
        "decay.hel",
        format!(
            "{head}let lr = d; let w = zeros(3); \
             for i in 0..k {{ lr = lr * d; w = w + lr * Z[i]; }} output w;"
        ),
    );
    let t = RoundTemplate::new(&src).unwrap();
    let names: Vec<&str> = t.state().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["w"], "the rate is replayed, not carried");
    let r2 = printed(&t, 2);
    assert!(r2.contains("for i in 0..2 {\n    lr = lr * d;\n}"), "{r2}");
    let d = compose_rounds(&t, "k", &[(0, 2), (2, 2)], 5);
    assert!(d < 1e-12, "differs by {d:e}");
    // From the per-iteration data: at the assignment.
    let text = format!(
        "{head}let r = d; let w = zeros(3); \
         for i in 0..k {{ r = r * d + dot(P[i], P[i]); w = w + r * Z[i]; }} output w;"
    );
    let src = SourceFile::new("data.hel", text);
    let e = RoundTemplate::new(&src).unwrap_err();
    assert!(e.message.contains("per-iteration data"), "{}", e.message);
    assert!(src.text()[e.span.start as usize..].starts_with("r = r * d"));
}

/// Several top-level loops: the rounds split the last that carries encrypted state and runs to
/// a constant; loops before it run in every round, loops after it in the last, and an
/// assignment to the state before it belongs to the first round's start. What cannot be split
/// is refused where it is read.
#[test]
fn several_loops_split_the_one_that_trains() {
    let text = "const k = 5; const f = 3; input A: enc matrix[4, f] range [-1, 1]; \
                input b: enc vector[4] range [-1, 1]; input Z: enc vector[f][k]; \
                let t = 0.5; for j in 0..2 { t = t * 0.5; } \
                let c = transpose(A) @ b; let w = zeros(f); w = w + t * c; \
                for i in 0..k { w = w - 0.05 * (transpose(A) @ (A @ w) - c) + 0.01 * Z[i]; } \
                let s = zeros(f); for j in 0..2 { s = s + w; } output w, s;";
    let t = RoundTemplate::new(&SourceFile::new("multi.hel", text)).unwrap();
    assert_eq!(t.length_const(), Some("k"));
    assert!(t.has_tail() && t.first_differs());
    let later = printed(&t, 2);
    assert!(!later.contains("w = w + t * c;"), "{later}");
    assert!(
        later.contains("for j in 0..2 {\n    t = t * 0.5;\n}"),
        "{later}"
    );
    for rounds in [
        vec![(0, 5)],
        vec![(0, 2), (2, 2), (4, 1)],
        vec![(0, 1), (1, 4)],
    ] {
        let d = compose_rounds(&t, "k", &rounds, 9);
        assert!(d < 1e-12, "rounds {rounds:?}: differs by {d:e}");
    }
    // The loop's constant read elsewhere keeps its value there (the rounds set their own), and
    // a sequence read outside the loop stays whole (every round reads all of it).
    let other = text
        .replace("t = t * 0.5;", "t = t * 0.5 / k;")
        .replace("let s = zeros(f);", "let s = Z[k - 1];");
    let t = RoundTemplate::new(&SourceFile::new("other.hel", other)).unwrap();
    assert_eq!(t.length_const(), Some("iterations"));
    assert!(t.per_iteration_inputs().is_empty());
    let d = compose_rounds(&t, "iterations", &[(0, 2), (2, 3)], 9);
    assert!(d < 1e-12, "differs by {d:e}");
    let refused = [
        // The per-iteration data outside the loop.
        (
            text.replace(
                "let c = transpose(A) @ b;",
                "let c = transpose(A) @ b + Z[0];",
            ),
            "Z[0]",
            "per-iteration data is read here",
        ),
        // A loop before it that changes the state.
        (
            text.replace("w = w + t * c;", "for j in 0..2 { w = w + t * c; }"),
            "for j in 0..2 { w",
            "this loop changes `w`",
        ),
    ];
    for (text, at, message) in refused {
        let src = SourceFile::new("x.hel", text.clone());
        let e = RoundTemplate::new(&src).unwrap_err();
        assert_eq!(e.code, Code::Rounds, "{}", e.message);
        assert!(e.message.contains(message), "{}", e.message);
        assert!(
            text[e.span.start as usize..].starts_with(at),
            "at {}",
            &text[e.span.start as usize..]
        );
    }
}

/// With the prelude carried, what the program computes before the loop runs in the first
/// round only: the encrypted values the loop or what follows it reads (`c`, and `w` once a
/// loop before the split one trains it) are the later rounds' inputs, the public ones (`t`)
/// are computed again, and the rounds still compose to the program.
#[test]
fn a_carried_prelude_runs_in_the_first_round_only() {
    let text = "const k = 5; const f = 3; input A: enc matrix[4, f] range [-1, 1]; \
                input b: enc vector[4] range [-1, 1]; input Z: enc vector[f][k]; \
                let t = 0.5; for j in 0..2 { t = t * 0.5; } \
                let c = transpose(A) @ b; let d = c * c; let w = zeros(f); \
                for j in 0..3 { w = w + t * c - 0.1 * (transpose(A) @ (A @ w)); } \
                for i in 0..k { w = w - 0.05 * (transpose(A) @ (A @ w) - c) + 0.01 * Z[i]; } \
                let s = zeros(f); for j in 0..2 { s = s + w; } output w, s;";
    let src = SourceFile::new("prelude.hel", text);
    // Computed again by every round, the loop before the split one would run in every round.
    let e = RoundTemplate::new(&src).unwrap_err();
    assert!(e.message.contains("this loop changes `w`"), "{}", e.message);
    let t = RoundTemplate::with_prelude(&src, &[], Prelude::Carried).unwrap();
    let names: Vec<&str> = t.state().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["c", "w"], "`d` is read by no round");
    let first = printed(&t, 0);
    assert!(first.contains("let c = transpose(A) @ b;"), "{first}");
    assert_eq!(first.matches("for j in 0..3").count(), 1, "{first}");
    let later = printed(&t, 2);
    assert!(later.contains("input c_start: enc vector[3];"), "{later}");
    assert!(!later.contains("transpose(A) @ b"), "{later}");
    assert!(!later.contains("for j in 0..3"), "{later}");
    assert!(!later.contains("let d ="), "{later}");
    assert!(
        later.contains("for j in 0..2 {\n    t = t * 0.5;\n}"),
        "{later}"
    );
    for rounds in [
        vec![(0, 5)],
        vec![(0, 2), (2, 2), (4, 1)],
        vec![(0, 1), (1, 4)],
    ] {
        let d = compose_rounds(&t, "k", &rounds, 9);
        assert!(d < 1e-12, "rounds {rounds:?}: differs by {d:e}");
    }
}
