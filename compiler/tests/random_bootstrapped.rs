//! Random training loops through `--refresh bootstrap` (`compile_bootstrapped`): the round
//! transform, the round programs' lowering for the chain's bottom and the join, at -O0, -O1
//! and -O2, on the generator's programs (`support/gen.rs`) whose loop runs at least twice, cut
//! into rounds of one iteration (the most bootstraps): every second program with the loop
//! made to run to a constant (`for i in 0..T`, `const T` its trip count), the others to the
//! literal trip count the generator wrote (which the round template names itself).
//!
//! Every program must either compile, its joined schedule valid and equal in plaintext to the
//! whole program (the check `compile_bootstrapped` runs itself, 1e-9 relative), or be refused
//! with a located diagnostic whose code is in [`REFUSABLE`] (nothing to carry, a carried
//! scalar, a round deeper than the chain or with values too large for its moduli). A panic, a
//! `Code::Internal` diagnostic or an unlocated refusal fails, the program printed.
//!
//! At a small, **insecure** ring (N = 2^12, test-only parameters no file can carry).
//! `HEL_RANDOM_PROGRAMS=n` runs n programs per level. At the time of writing (120 programs
//! with a loop, seeds 0..249): 59, 60 and 60 compile at -O0, -O1 and -O2; the rest are refused
//! as rounds too deep or too wide for the test chain, or with nothing encrypted to carry (a
//! loop over public values only). The first run found a factor-0 input packing (`x * 0` at
//! -O0), a refreshed output that stays public, and the join shifting every sequence.

#[path = "support/gen.rs"]
mod gen;

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use hel_compiler::passes::pipeline::{self, OptLevel};
use hel_compiler::rounds::compile_bootstrapped;
use hel_compiler::{Code, Options, SourceFile};
use hel_schedule::BootstrapParams;

/// Programs per optimization level (those with a loop of at least two iterations).
const PROGRAMS: u64 = 120;

/// Tape length (as `random_lowering`'s).
const TAPE: usize = 4096;

const LEVELS: [OptLevel; 3] = [OptLevel::O0, OptLevel::O1, OptLevel::O2];

/// The codes a generated loop may be refused with.
const REFUSABLE: &[Code] = &[Code::Rounds, Code::TooDeep, Code::Params, Code::Range];

#[test]
fn random_loops_compile_with_bootstraps_or_are_refused() {
    let count: u64 = std::env::var("HEL_RANDOM_PROGRAMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PROGRAMS);
    let rule = BootstrapParams::insecure_for_testing_only(12, 9);
    let cfg = gen::Config {
        big: false,
        ..gen::Config::default()
    };
    let mut compiled = [0usize; 3];
    let mut refused: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let (mut seed, mut programs) = (0u64, 0u64);
    while programs < count {
        let text = gen::generate(gen::tape(seed, TAPE), cfg);
        seed += 1;
        let Some(text) = gen::with_loop_for_rounds(&text, seed % 2 == 0) else {
            continue;
        };
        programs += 1;
        let src = SourceFile::new("random.hel", text.clone());
        for (l, level) in LEVELS.into_iter().enumerate() {
            let options = Options {
                passes: pipeline::Options {
                    level,
                    ..pipeline::Options::default()
                },
                ..Options::default()
            };
            let result = catch_unwind(AssertUnwindSafe(|| {
                compile_bootstrapped(&src, &options, &rule, Some(1), &Default::default())
            }));
            match result {
                Err(_) => failures.push(format!("seed {}, {level:?}: panic\n{text}", seed - 1)),
                Ok(Ok(b)) => {
                    assert!(b.plaintext_check <= 1e-9);
                    b.schedule.validate().unwrap();
                    compiled[l] += 1;
                }
                Ok(Err(d)) => {
                    let located = d.span.start < d.span.end && d.span.end as usize <= text.len();
                    if d.code == Code::Internal || !located || !REFUSABLE.contains(&d.code) {
                        failures.push(format!(
                            "seed {}, {level:?}: {}\n{text}",
                            seed - 1,
                            d.render_plain()
                        ));
                    } else {
                        let class: String = d.message.chars().take(60).collect();
                        *refused
                            .entry(format!("{}: {class}", d.code.as_str()))
                            .or_default() += 1;
                    }
                }
            }
        }
    }
    eprintln!(
        "{programs} programs with a loop (seeds 0..{seed}): compiled {compiled:?} at -O0/1/2"
    );
    for (class, n) in &refused {
        eprintln!("  {n:4} {class}");
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}
