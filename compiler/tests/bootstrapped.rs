//! The compiler places bootstraps (`--refresh bootstrap`): a training loop compiled as rounds
//! joined by `bootstrap` instructions into one schedule, checked against the whole program in
//! plaintext. At a small, **insecure** ring (N = 2^12, test-only parameters that no file can
//! carry), so that every -O level compiles in seconds; the 128-bit rule is N = 2^16.

use hel_compiler::passes::pipeline::OptLevel;
use hel_compiler::rounds::compile_bootstrapped;
use hel_compiler::{Options, SourceFile};
use hel_schedule::{BootstrapParams, Instr};

/// The documented circuit at N = 2^12 with nine program levels, insecure.
fn insecure_chain_for_testing_only() -> BootstrapParams {
    BootstrapParams::insecure_for_testing_only(12, 9)
}

fn example(name: &str) -> SourceFile {
    let path = format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"));
    SourceFile::new(name, std::fs::read_to_string(path).unwrap())
}

fn options(level: OptLevel, k: usize) -> Options {
    let mut o = Options {
        sets: vec![
            ("k".into(), k as f64),
            ("m".into(), 16.0),
            ("f".into(), 8.0),
        ],
        ..Options::default()
    };
    o.passes.level = level;
    o
}

#[test]
fn nag_rounds_join_into_one_schedule_with_bootstraps() {
    let src = example("logreg_nag.hel");
    let rule = insecure_chain_for_testing_only();
    for level in [OptLevel::O0, OptLevel::O1, OptLevel::O2] {
        let b = compile_bootstrapped(&src, &options(level, 8), &rule, None, &Default::default())
            .unwrap_or_else(|d| panic!("{level:?}: {}", d.render_plain()));
        let s = &b.schedule;
        let chain = &b.chain;
        eprintln!(
            "{level:?}: rounds {:?}, {} bootstraps, depths {:?}, bound {:.2e}, check {:.1e}",
            b.rounds,
            s.bootstraps().count(),
            s.segment_depths(),
            s.outputs[0].bound,
            b.plaintext_check
        );
        s.validate().unwrap();
        // The rounds cover the K minibatches; a round that fits would have been one round.
        assert!(
            b.rounds.len() > 1,
            "{level:?}: one round needs no bootstrap"
        );
        assert_eq!(b.rounds.iter().map(|r| r.1).sum::<usize>(), 8);
        // The whole program's interface: one input of all K minibatches, the model out.
        assert_eq!(s.inputs.len(), 1);
        assert_eq!(s.inputs[0].seq, Some(8));
        assert!(s.inputs.iter().all(|i| i.refreshed_from.is_none()));
        // Only the state is bootstrapped: the first round's state starts as zeros made on the
        // server (one tile per vector: NAG's weights and momentum), and every later round's
        // two tiles share one bootstrap (the second as the imaginary part), nothing else.
        let count = |f: fn(&Instr) -> bool| s.nodes.iter().filter(|n| f(&n.instr)).count();
        let zeros = count(|i| matches!(i, Instr::Trivial { .. }));
        assert_eq!(zeros, 2, "NAG carries two vectors, one tile each");
        let refreshes = b.rounds.len() - 1;
        assert_eq!(s.bootstraps().count(), refreshes);
        assert_eq!(
            count(|i| matches!(i, Instr::BootstrapPaired { .. })),
            refreshes
        );
        // Each stretch between refreshes fits the levels a bootstrap leaves.
        let depths = s.segment_depths();
        assert_eq!(depths.len(), b.rounds.len());
        assert!(depths.iter().all(|&d| d as usize <= chain.program_levels));
        assert_eq!(s.depth(), *depths.iter().max().unwrap());
        // Checked against the whole program, and bounded including the bootstraps' error.
        assert!(b.plaintext_check <= 1e-9);
        assert!(s.outputs[0].bound >= 6.0 * chain.error_sd());
        // Deterministic, byte for byte.
        let again =
            compile_bootstrapped(&src, &options(level, 8), &rule, None, &Default::default())
                .unwrap();
        assert_eq!(
            hel_schedule::canonical_bytes(s),
            hel_schedule::canonical_bytes(&again.schedule)
        );
    }
}

/// `src` joined in rounds of two at -O2.
fn in_rounds_of_two(
    src: &SourceFile,
    rule: &BootstrapParams,
) -> hel_compiler::rounds::Bootstrapped {
    compile_bootstrapped(src, &Options::default(), rule, Some(2), &Default::default())
        .unwrap_or_else(|d| panic!("{}", d.render_plain()))
}

#[test]
fn forced_round_sizes_and_programs_without_rounds() {
    let rule = insecure_chain_for_testing_only();
    let src = example("logreg_gd.hel");
    let b = compile_bootstrapped(
        &src,
        &options(OptLevel::O2, 6),
        &rule,
        Some(1),
        &Default::default(),
    )
    .unwrap();
    assert_eq!(b.rounds, (0..6).map(|i| (i, 1)).collect::<Vec<_>>());
    // GD carries one vector: one bootstrap per refresh.
    assert_eq!(b.schedule.bootstraps().count(), 5);
    // A round deeper than the chain leaves is refused as too deep, naming --round-size.
    let d = compile_bootstrapped(
        &src,
        &options(OptLevel::O2, 6),
        &rule,
        Some(6),
        &Default::default(),
    )
    .unwrap_err();
    assert_eq!(
        d.code,
        hel_compiler::diagnostics::Code::TooDeep,
        "{}",
        d.message
    );
    assert!(d.message.contains("--round-size"), "{}", d.message);
    // Located at the loop the rounds split.
    let text = std::fs::read_to_string(format!(
        "{}/../examples/logreg_gd.hel",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    assert_eq!(d.span.start as usize, text.find("for i").unwrap());
    // Full-batch training (no sequence input: every round reads the same data set) splits
    // the loop's iterations, the data uploaded once for all rounds.
    let ridge = compile_bootstrapped(
        &example("ridge.hel"),
        &Options::default(),
        &rule,
        Some(2),
        &Default::default(),
    )
    .unwrap_or_else(|d| panic!("{}", d.render_plain()));
    assert!(ridge.rounds.len() >= 2 && ridge.rounds.iter().all(|r| r.1 <= 2));
    assert_eq!(ridge.schedule.bootstraps().count(), ridge.rounds.len() - 1);
    assert!(ridge.plaintext_check <= 1e-9);
    let single = hel_compiler::compile(&example("ridge.hel"), &Options::default()).unwrap();
    assert!(ridge.schedule.ct_inputs.len() <= single.schedule().ct_inputs.len() * 2);
    // A loop over another constant than the sequences' length: every round reads the same
    // element (`Z[0]`, not an element per iteration), the rounds split the loop's iterations.
    let text = "const k = 4;\nconst n = 6;\ninput Z: enc matrix[4, 3][k] range [-1, 1];\n\
                let w = zeros(3);\nfor i in 0..n { w = w + transpose(Z[0]) @ (Z[0] @ w) * 0.1 \
                + 0.01; }\noutput w;\n";
    let src = SourceFile::new("iters.hel", text.to_string());
    let b = in_rounds_of_two(&src, &rule);
    assert_eq!(b.rounds, vec![(0, 2), (2, 2), (4, 2)]);
    assert_eq!(b.schedule.inputs[0].seq, Some(4), "Z keeps its own length");
    assert!(b.plaintext_check <= 1e-9);
    // A loop to a number is cut the same way (the rounds name its bound).
    let literal = SourceFile::new("literal.hel", text.replace("0..n", "0..6"));
    let b = in_rounds_of_two(&literal, &rule);
    assert_eq!(b.rounds, vec![(0, 2), (2, 2), (4, 2)]);
    assert!(b.plaintext_check <= 1e-9);
    // A loop of no iteration has nothing to refresh: located refusal, not "too deep".
    let mut none = Options::default();
    none.sets.push(("n".into(), 0.0));
    let d = compile_bootstrapped(&src, &none, &rule, None, &Default::default()).unwrap_err();
    assert!(d.message.contains("no iteration"), "{}", d.message);
    assert_eq!(d.span.start as usize, text.find("for i").unwrap());
    // A loop from 1 runs from 0 with its variable read as `i + 1`: the rounds cut it too,
    // reading the sequence whole (it is not as long as the loop).
    let text = "const k = 5;\ninput Z: enc vector[3][k] range [-1, 1];\nlet w = zeros(3);\n\
                for i in 1..k { w = 0.5 * w + Z[i - 1] * Z[i] / i; }\noutput w;\n";
    let from1 = SourceFile::new("from1.hel", text.to_string());
    let b = in_rounds_of_two(&from1, &rule);
    assert_eq!(b.rounds, vec![(0, 2), (2, 2)]);
    assert!(b.plaintext_check <= 1e-9);
    // A state the declared ranges drive beyond the chain (3.7x an iteration on all-ones
    // data, to 820) is refused naming the values, and a round of one iteration is not told
    // to be smaller.
    let text = "const k = 5;\ninput A: enc matrix[4, 4][k] range [-1, 1];\n\
                input c: enc vector[4] range [-1, 1];\nlet x = zeros(4);\n\
                for i in 0..k { x = 0.5 * x + 0.2 * ((A[i] @ transpose(A[i])) @ (x + c)); }\n\
                output x;\n";
    let growing = SourceFile::new("growing.hel", text.to_string());
    let one = Some(1);
    let d = compile_bootstrapped(
        &growing,
        &Options::default(),
        &rule,
        one,
        &Default::default(),
    )
    .unwrap_err();
    assert!(d.message.contains("value too large"), "{}", d.message);
    assert!(!d.message.contains("--round-size"), "{}", d.message);
    // A program with no loop-carried zeros(n) has no state to refresh: located refusal.
    let d = compile_bootstrapped(
        &example("covariance.hel"),
        &Options::default(),
        &rule,
        None,
        &Default::default(),
    )
    .unwrap_err();
    assert!(
        matches!(d.code, hel_compiler::diagnostics::Code::Rounds),
        "{:?}: {}",
        d.code,
        d.message
    );
}

/// A schedule file that bootstraps is checked like any other before anything runs: the chain
/// must be one the rule admits with the parameters its bottom, and every paired refresh must
/// name the bootstrap that carries its tile.
#[test]
fn tampered_bootstrapping_schedules_are_refused() {
    let rule = insecure_chain_for_testing_only();
    let b = compile_bootstrapped(
        &example("logreg_nag.hel"),
        &options(OptLevel::O1, 4),
        &rule,
        None,
        &Default::default(),
    )
    .unwrap();
    let s = &b.schedule;
    s.validate().unwrap();
    let refused = |edit: &dyn Fn(&mut hel_schedule::Schedule), why: &str| {
        let mut t = s.clone();
        edit(&mut t);
        let e = t.validate().expect_err(why);
        eprintln!("{why}: {e}");
    };
    refused(&|t| t.bootstrap = None, "bootstraps without a chain");
    refused(
        &|t| {
            if let Some(c) = t.bootstrap.as_mut() {
                c.program_levels = 1;
            }
        },
        "parameters deeper than the chain's bottom",
    );
    refused(
        &|t| {
            if let Some(c) = t.bootstrap.as_mut() {
                c.log_slots = c.log_n;
            }
        },
        "a chain outside the rule",
    );
    // Hostile sizes are refused before anything is derived from them (no shift past the
    // word, no list of billions of primes).
    refused(
        &|t| {
            if let Some(c) = t.bootstrap.as_mut() {
                c.program_levels = usize::MAX;
            }
        },
        "a chain of usize::MAX program levels",
    );
    refused(
        &|t| {
            if let Some(c) = t.bootstrap.as_mut() {
                c.double_angle = u32::MAX;
            }
        },
        "a chain of u32::MAX double angles",
    );
    refused(
        &|t| {
            if let Some(c) = t.bootstrap.as_mut() {
                c.log_n = 200;
                c.log_slots = u32::MAX;
            }
        },
        "a ring of 2^200",
    );
    let paired = s
        .nodes
        .iter()
        .position(|n| matches!(n.instr, Instr::BootstrapPaired { .. }))
        .expect("NAG pairs its two vectors");
    refused(
        &|t| {
            if let Instr::BootstrapPaired { x, .. } = &mut t.nodes[paired].instr {
                *x = 0;
            }
        },
        "a paired refresh of a node that is no bootstrap",
    );
    refused(
        &|t| {
            t.nodes[paired].instr = Instr::Neg {
                a: t.nodes[paired].instr.operands()[1],
            };
        },
        "a second tile nobody takes",
    );
}

/// Training loops of other shapes than the examples': public features with encrypted
/// minibatch labels, two state vectors of different lengths with a compile-time recurrence,
/// a state vector updated from a product of two encrypted matrices. Each is joined at every
/// level and checked against the whole program in plaintext (inside `compile_bootstrapped`),
/// with one bootstrap per refresh and tile pair.
#[test]
fn other_training_loops_join_at_every_level() {
    let programs = [
        (
            "public_features_minibatches.hel",
            "const k = 6;\nconst m = 8;\nconst f = 4;\n\
             input X: plain matrix[m, f][k] range [-1, 1];\n\
             input y: enc vector[m][k] range [-1, 1];\n\
             let b = zeros(f);\n\
             for i in 0..k { b = b - 0.1 * (transpose(X[i]) @ (X[i] @ b - y[i])); }\n\
             output b;\n",
        ),
        (
            "two_states.hel",
            "const k = 6;\n\
             input Z: enc matrix[5, 3][k] range [-1, 1];\n\
             input u: enc vector[5] range [-1, 1];\n\
             let w = zeros(3);\nlet s = zeros(5);\nlet a = 1;\n\
             for i in 0..k {\n\
                 a = a / 2 + 0.25;\n\
                 s = 0.5 * s + a * (Z[i] @ w - u);\n\
                 w = w - 0.1 * (transpose(Z[i]) @ s);\n\
             }\noutput w, s;\n",
        ),
        (
            // (At 0.2 instead of 0.05 the state grows 3.7x an iteration on all-ones data, to
            // 820: the rounds, sampled from the program's own states, refuse it as too large
            // for the chain; sampled from [-1, 1] they had accepted it.)
            "gram.hel",
            "const k = 5;\n\
             input A: enc matrix[4, 4][k] range [-1, 1];\n\
             input c: enc vector[4] range [-1, 1];\n\
             let x = zeros(4);\n\
             for i in 0..k { x = 0.5 * x + 0.05 * ((A[i] @ transpose(A[i])) @ (x + c)); }\n\
             output x;\n",
        ),
        // State that does not start at zeros: the first round computes its start.
        (
            "start_from_input.hel",
            "const k = 6;\n\
             input Z: enc matrix[6, 4][k] range [-1, 1];\n\
             input y: enc vector[6][k] range [-1, 1];\n\
             input w0: plain vector[4] range [-1, 1];\n\
             let w = w0;\n\
             for i in 0..k { w = w - 0.05 * (transpose(Z[i]) @ (Z[i] @ w - y[i])); }\n\
             output w;\n",
        ),
        (
            "start_from_data.hel",
            "const k = 5;\n\
             input A: enc matrix[4, 4][k] range [-1, 1];\n\
             input c: enc vector[4] range [-1, 1];\n\
             let u = zeros(4);\n\
             let x = 0.25 * (transpose(A[0]) @ c);\n\
             for i in 0..k { u = 0.5 * u + 0.1 * (A[i] @ x); x = 0.9 * x - 0.1 * u; }\n\
             output x;\n",
        ),
        // A loop over another constant than `k`, and work after it that only the last round
        // does (a prediction from the trained weights, output instead of them).
        (
            "tail_prediction.hel",
            "const iters = 6;\n\
             input X: enc matrix[8, 4] range [-1, 1];\n\
             input y: enc vector[8] range [-1, 1];\n\
             input T: enc matrix[5, 4] range [-1, 1];\n\
             let w = zeros(4);\n\
             for i in 0..iters { w = 0.9 * w - 0.05 * (transpose(X) @ (X @ w - y)); }\n\
             let p = T @ w;\n\
             output p;\n",
        ),
        // Epochs over the minibatches: the rounds cut the epochs, each runs its epochs' inner
        // loops whole, the minibatches read by every round (uploaded once).
        (
            "epochs.hel",
            "const E = 4;\nconst k = 2;\n\
             input Z: enc matrix[6, 4][k] range [-1, 1];\n\
             input y: enc vector[6][k] range [-1, 1];\n\
             let w = zeros(4);\n\
             for e in 0..E {\n\
                 for i in 0..k { w = w - 0.05 * (transpose(Z[i]) @ (Z[i] @ w - y[i])); }\n\
             }\n\
             output w;\n",
        ),
        // An encrypted scalar carried (a bias), next to the weights: replicated in every
        // slot, it shares their bootstrap.
        (
            "scalar_bias.hel",
            "const k = 4;\n\
             input X: enc matrix[8, 4][k] range [-1, 1];\n\
             input y: enc vector[8][k] range [-1, 1];\n\
             let w = zeros(4);\n\
             let b = 0;\n\
             for i in 0..k {\n\
                 let e = y[i] - (X[i] @ w + b);\n\
                 w = w + 0.05 * (transpose(X[i]) @ e);\n\
                 b = b + 0.05 * dot(e, ones(8));\n\
             }\n\
             output w, b;\n",
        ),
        // Several loops: a public one before, the training loop (an assignment before it
        // starts the state), a postprocessing loop after it.
        (
            "several_loops.hel",
            "const k = 6;\n\
             input A: enc matrix[8, 4] range [-1, 1];\n\
             input b: enc vector[8] range [-1, 1];\n\
             let t = 0.5;\n\
             for j in 0..2 { t = t * 0.5; }\n\
             let c = transpose(A) @ b;\n\
             let w = zeros(4);\n\
             w = w + t * c;\n\
             for i in 0..k { w = w - 0.05 * (transpose(A) @ (A @ w) - c); }\n\
             let s = zeros(4);\n\
             for j in 0..2 { s = s + w; }\n\
             output w, s;\n",
        ),
        // A matrix carried (one model per column), started from a plain input, next to a
        // vector: the matrix's tiles take every slot.
        (
            "matrix_state.hel",
            "const k = 4;\n\
             input X: enc matrix[8, 4][k] range [-1, 1];\n\
             input Y: enc matrix[8, 2][k] range [0, 1];\n\
             input W0: plain matrix[4, 2] range [-0.1, 0.1];\n\
             let W = W0;\n\
             let b = zeros(2);\n\
             for i in 0..k {\n\
                 let E = X[i] @ W - Y[i];\n\
                 W = W - 0.01 * (transpose(X[i]) @ E);\n\
                 b = 0.5 * b + 0.05 * sum_rows(E);\n\
             }\n\
             output W, b;\n",
        ),
        // A matrix multiplied from both sides (`Y @ (A @ Y)`): carried in both forms, which
        // share one bootstrap per refresh.
        (
            "both_forms.hel",
            "const k = 4;\n\
             input A: enc matrix[3, 3] range [-0.3, 0.3];\n\
             input Y0: plain matrix[3, 3] range [-0.5, 0.5];\n\
             let Y = Y0;\n\
             for i in 0..k { Y = 0.5 * Y + Y @ (A @ Y); }\n\
             output Y;\n",
        ),
    ];
    let rule = insecure_chain_for_testing_only();
    for (name, text) in programs {
        let src = SourceFile::new(name, text.to_string());
        for level in [OptLevel::O0, OptLevel::O1, OptLevel::O2] {
            let mut o = Options::default();
            o.passes.level = level;
            // Rounds of two, except where the last round has work after the loop (chosen by
            // the compiler, which shortens the last round to make room for it) or one
            // iteration is deep.
            let size = !matches!(
                name,
                "tail_prediction.hel" | "both_forms.hel" | "epochs.hel" | "several_loops.hel"
            );
            let size = size.then_some(2);
            let b = compile_bootstrapped(&src, &o, &rule, size, &Default::default())
                .unwrap_or_else(|d| panic!("{name} {level:?}: {}", d.render_plain()));
            let s = &b.schedule;
            s.validate().unwrap();
            // (-O2 fits the linear loop into one round.)
            assert!(
                b.rounds.len() >= 2 || (size.is_none() && level == OptLevel::O2),
                "{name} {level:?}"
            );
            assert!(b.plaintext_check <= 1e-9, "{name} {level:?}");
            let outputs: Vec<&str> = s.outputs.iter().map(|o| o.name.as_str()).collect();
            let declared = text.lines().last().unwrap();
            for o in &outputs {
                assert!(declared.contains(o), "{name}: output {o}");
            }
            let refreshes = b.rounds.len() - 1;
            assert!(s.bootstraps().count() >= refreshes, "{name} {level:?}");
            // Only the state that starts as zeros(n) starts as the server's zeros: the rest
            // is computed by the first round (from the inputs, which are the program's).
            let zeros = s
                .nodes
                .iter()
                .filter(|n| matches!(n.instr, Instr::Trivial { .. }))
                .count();
            let zeros_states = hel_compiler::rounds::RoundTemplate::new(&src)
                .unwrap()
                .state()
                .iter()
                .filter(|s| s.starts_at_zeros)
                .count();
            assert!(
                zeros >= zeros_states && (zeros_states > 0 || zeros == 0),
                "{name} {level:?}: {zeros} zeros for {zeros_states} states"
            );
            if matches!(name, "matrix_state.hel" | "both_forms.hel") {
                let chain = s.bootstrap.as_ref().unwrap();
                assert_eq!(1usize << chain.log_slots, s.unit.h * s.unit.w, "{level:?}");
            }
            if name == "both_forms.hel" {
                // Both forms share one bootstrap per refresh where they leave their round at
                // one scale (rounds of one iteration; rounds of two leave them at two and take
                // a bootstrap each); the model leaves in one.
                assert!(s.bootstraps().count() <= 2 * refreshes, "{level:?}");
                if b.rounds.iter().all(|r| r.1 == 1) {
                    assert_eq!(s.bootstraps().count(), refreshes, "{level:?}");
                }
                assert_eq!(s.outputs[0].tiles.len(), 1, "{level:?}");
            }
            let declared_inputs = text.matches("input ").count();
            assert_eq!(s.inputs.len(), declared_inputs, "{name} {level:?}");
            eprintln!(
                "{name} {level:?}: rounds {:?}, {} bootstraps, depths {:?}",
                b.rounds,
                s.bootstraps().count(),
                s.segment_depths()
            );
        }
    }
}

/// A round's samples are the states the program reaches, with the data that reaches them:
/// Newton's iteration for 1/x (`y <- y (2 - x y)` from 1) converges from there, but diverges
/// from most of [-1, 1], where the rounds sampled their state before and held two iterations
/// (the values of a third were too large for the chain). The joined schedule still matches
/// the program in plaintext.
#[test]
fn rounds_sample_the_states_the_program_reaches() {
    let text = "input x: enc scalar range [0.5, 1.5];\nlet y = 1.0;\n\
                for i in 0..12 { y = y * (2 - x * y); }\noutput y;\n";
    let src = SourceFile::new("recip.hel", text.to_string());
    let b = compile_bootstrapped(
        &src,
        &Options::default(),
        &insecure_chain_for_testing_only(),
        None,
        &Default::default(),
    )
    .unwrap_or_else(|d| panic!("{}", d.render_plain()));
    let longest = b.rounds.iter().map(|r| r.1).max().unwrap();
    assert!(longest >= 3, "{:?}", b.rounds);
    assert!(b.plaintext_check <= 1e-9);
    // The predicted error holds the output's value (1/x up to 2) to the bits asked for.
    let y = &b.schedule.outputs[0];
    assert!(y.bound < 2.0 * 2f64.powi(-15), "{:e}", y.bound);
}

/// Two loops: the rounds split the later one that trains, unless they cannot fit; here the
/// earlier loop alone is deeper than a round holds, so the rounds split it instead (the later
/// loop runs whole in the last round) and the reason says so.
#[test]
fn a_deeper_earlier_loop_is_split_when_the_later_ones_rounds_do_not_fit() {
    let text = "input X: enc matrix[8, 4] range [-1, 1];\n\
                input y: enc vector[8] range [-1, 1];\n\
                let w = zeros(4);\n\
                for i in 0..6 { w = w - 0.1 * (transpose(X) @ (X @ w - y)); }\n\
                let q = 1.0;\n\
                for j in 0..2 { q = q * (2 - (0.5 + 0.1 * dot(w, w)) * q); }\n\
                output w, q;\n";
    let src = SourceFile::new("two_loops.hel", text.to_string());
    let mut o = Options::default();
    o.passes.level = OptLevel::O1;
    let b = compile_bootstrapped(
        &src,
        &o,
        &insecure_chain_for_testing_only(),
        None,
        &Default::default(),
    )
    .unwrap_or_else(|d| panic!("{}", d.render_plain()));
    assert!(
        b.reason.contains("the loop at line 4 is the one split"),
        "{}",
        b.reason
    );
    assert_eq!(
        b.rounds.iter().map(|r| r.1).sum::<usize>(),
        6,
        "{:?}",
        b.rounds
    );
    assert!(b.plaintext_check <= 1e-9);
}
