//! Random valid `.hel` programs must keep their meaning through every pass, at every
//! optimization level.
//!
//! The programs come from the shared generator (`support/gen.rs`: a typed generator reading a
//! "choice tape", so proptest's shrinking of the tape shrinks the program): encrypted and plain
//! inputs with ranges up to ±1000, every product and reduction, functions, a loop, and sizes up
//! to several slot-grid tiles. `random_lowering.rs` takes the same programs through the lowering.

#[path = "support/gen.rs"]
mod gen;

use gen::{generate, Config};
use hel_compiler::ir::interp::{eval, random_inputs, Value};
use hel_compiler::ir::Program;
use hel_compiler::passes::differential::check_pipeline;
use hel_compiler::passes::pipeline::{OptLevel, Pipeline};
use hel_compiler::SourceFile;
use proptest::prelude::*;

/// Seeds of the random inputs of the differential check.
const SEEDS: [u64; 2] = [11, 12];

/// Whether `p`'s outputs are finite on the inputs of every seed. The generator keeps values
/// finite in most programs, but a loop that squares its accumulator can overflow: such programs
/// have no meaning to keep (inf - inf) and are skipped.
fn finite(p: &Program) -> bool {
    SEEDS.iter().all(|&seed| {
        eval(p, &random_inputs(p, seed)).is_ok_and(|outs| {
            outs.iter().all(|(_, v)| match v {
                Value::Tensor(t) => t.data.iter().all(|x| x.is_finite()),
                Value::Seq(ts) => ts.iter().all(|t| t.data.iter().all(|x| x.is_finite())),
            })
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_programs_keep_their_meaning(tape in prop::collection::vec(any::<u32>(), 0..400)) {
        let text = generate(tape, Config::default());
        let src = SourceFile::new("random.hel", text.clone());
        let p = hel_compiler::frontend(&src, &[])
            .map_err(|d| TestCaseError::fail(format!("{}\n{text}", d.render_plain())))?;
        prop_assume!(finite(&p));
        for level in [OptLevel::O0, OptLevel::O1, OptLevel::O2] {
            check_pipeline(&p, &Pipeline::new(level), &SEEDS)
                .map_err(|e| TestCaseError::fail(format!("{level:?}: {e}\n{text}")))?;
        }
    }
}

/// The generator covers what it should: loops, functions, products and sequence elements all
/// appear across a few tapes, and the empty tape gives a valid minimal program.
#[test]
fn generator_covers_the_language() {
    let minimal = generate(Vec::new(), Config::default());
    let src = SourceFile::new("min.hel", minimal.clone());
    assert!(hel_compiler::frontend(&src, &[]).is_ok(), "{minimal}");
    let mut all = String::new();
    for seed in 0..64 {
        all += &generate(gen::tape(seed, 400), Config::default());
    }
    for needle in [
        "for i in",
        "fn f",
        "@",
        "transpose(",
        "sum_rows(",
        "sum_cols(",
        "dot(",
        "outer(",
        "Zs[i]",
        ")^3",
        "sqrt(",
        "output v",
        "plain vector",
        "plain matrix",
        "plain scalar",
        "range [-1000, 1000]",
        "/ 1000)",
        "q *",
    ] {
        assert!(all.contains(needle), "no program uses `{needle}`");
    }
    // Sizes beyond one tile of 4096 slots: vectors and matrices.
    let sizes = |kind: &str| -> Vec<usize> {
        all.split(kind)
            .skip(1)
            .filter_map(|rest| {
                let dims = rest.split(']').next()?;
                dims.split(',')
                    .map(|d| d.trim().parse::<usize>().ok())
                    .product::<Option<usize>>()
            })
            .collect()
    };
    assert!(sizes("vector[").iter().any(|&n| n > 4096));
    assert!(sizes("matrix[").iter().any(|&n| n > 4096));
}
