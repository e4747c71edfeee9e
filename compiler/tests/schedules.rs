//! Golden tests of the lowering: the schedule of every `examples/*.hel` at small sizes, at -O0,
//! -O1 and -O2, as `Schedule::to_text` prints it (every node with its level, scale, degree,
//! error bound and origin). A change to the lowering shows up here as a reviewable diff; bless
//! an intended one with `INSTA_UPDATE=always cargo test -p hel-compiler --test schedules` (or
//! `cargo insta review`) and review the diff in git.

mod common;

use common::{example_path, small_sets};
use hel_compiler::passes::pipeline::{self, OptLevel};
use hel_compiler::{compile, Options, SourceFile};

const LEVELS: [(OptLevel, &str); 3] = [
    (OptLevel::O0, "O0"),
    (OptLevel::O1, "O1"),
    (OptLevel::O2, "O2"),
];

/// Every `.hel` file in `examples/` (a new example needs sizes in `common::small_sets`).
fn examples() -> Vec<String> {
    let dir = example_path("poly")
        .parent()
        .expect("examples dir")
        .to_owned();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| {
            let path = e.expect("directory entry").path();
            (path.extension()? == "hel").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();
    assert!(names.len() >= 3, "examples/ has {names:?}");
    names
}

fn compile_example(name: &str, level: OptLevel) -> hel_schedule::Schedule {
    let path = example_path(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let source = SourceFile::new(format!("{name}.hel"), text);
    let options = Options {
        sets: small_sets(name)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        passes: pipeline::Options {
            level,
            ..pipeline::Options::default()
        },
        ..Options::default()
    };
    compile(&source, &options)
        .unwrap_or_else(|d| panic!("{name} at {level:?}: {}", d.render_plain()))
        .lowered
        .schedule
}

#[test]
fn schedule_text_of_every_example_at_every_level() {
    for name in examples() {
        for (level, tag) in LEVELS {
            let schedule = compile_example(&name, level);
            // The hash is the blake3 of the whole schedule, down to the last bit of every float:
            // it would change where the text (fixed precision) does not, so it is checked here
            // and left out of the snapshot.
            assert_eq!(schedule.program_hash, schedule.canonical_hash());
            let text: String = schedule
                .to_text()
                .lines()
                .filter(|l| !l.starts_with("program_hash "))
                .flat_map(|l| [l, "\n"])
                .collect();
            insta::assert_snapshot!(format!("{name}__{tag}"), text);
        }
    }
}

#[test]
fn compiling_twice_gives_the_same_schedule() {
    for name in examples() {
        let a = compile_example(&name, OptLevel::O2);
        let b = compile_example(&name, OptLevel::O2);
        assert_eq!(a.program_hash, b.program_hash, "{name}");
        assert_eq!(a.to_text(), b.to_text(), "{name}");
    }
}

/// -O2 never loses to -O1, nor -O1 to -O0 (issue 20): in ciphertext depth, and at equal depth in
/// estimated server work (the driver keeps a lower level's schedule when it does better, so
/// this checks that mechanism on every example).
#[test]
fn a_higher_level_never_loses() {
    let table = hel_schedule::cost::CostTable::default();
    for name in examples() {
        let rows: Vec<(u32, f64)> = LEVELS
            .iter()
            .map(|(level, _)| {
                let s = compile_example(&name, *level);
                (s.depth(), table.schedule_work_seconds(&s))
            })
            .collect();
        for (w, pair) in rows.windows(2).enumerate() {
            let ((d_lo, t_lo), (d_hi, t_hi)) = (pair[0], pair[1]);
            assert!(
                d_hi < d_lo || (d_hi == d_lo && t_hi <= t_lo / 0.99),
                "{name}: -O{} (depth {d_hi}, {t_hi:.3} s) loses to -O{w} (depth {d_lo}, \
                 {t_lo:.3} s)",
                w + 1
            );
        }
    }
}

/// A requested level that does not fit the ring cap leaves every other candidate to compete,
/// not only the lower levels: standardised features followed by three gradient steps are
/// depth 11 at -O1 and -O2 as priced by the lowering (beyond N = 2^14), depth 8 as priced by
/// the tensor model. With `--max-log-n 14` the driver returned the first refusal.
#[test]
fn a_refused_level_keeps_the_variant_that_fits() {
    let text = "const m = 20;\nconst f = 3;\n\
        input X: enc matrix[m, f] range [0, 4];\n\
        input y: enc vector[m] range [-1, 1];\n\
        input mu: plain matrix[1, f] range [1, 3];\n\
        input isd: plain matrix[1, f] range [0.5, 1];\n\
        let Z = (X - ones(m, 1) @ mu) * (ones(m, 1) @ isd);\n\
        let w = zeros(f);\n\
        for i in 0..3 {\n  w = w - 0.3 * (transpose(Z) @ (Z @ w - y)) / m;\n}\n\
        output w;\n";
    let src = SourceFile::new("standardised.hel", text.to_string());
    for level in [OptLevel::O1, OptLevel::O2] {
        let options = Options {
            passes: pipeline::Options {
                level,
                ..pipeline::Options::default()
            },
            max_log_n: 14,
            ..Options::default()
        };
        let c =
            compile(&src, &options).unwrap_or_else(|d| panic!("{level:?}: {}", d.render_plain()));
        assert!(c.schedule().params.log_n <= 14, "{level:?}: ring");
        assert!(
            c.notes.iter().any(|n| n.contains("does not compile")),
            "{level:?}: the note says why another candidate was kept: {:?}",
            c.notes
        );
    }
}

/// At equal depth, a candidate that meets the precision target beats a faster one that falls
/// short: a centred power iteration at -O2 predicted 15.4 bits on its mean (`mu`, shared with
/// the centring), where -O1's plan of the same depth meets the 20 bits.
#[test]
fn at_equal_depth_the_precise_plan_wins() {
    let text = "const m = 24;\nconst f = 5;\n\
        input X: enc matrix[m, f] range [-1, 1];\n\
        input v0: plain vector[f] range [-1, 1];\n\
        let mu = sum_rows(X) / m;\n\
        let C = X - mu;\n\
        let v = v0;\n\
        for i in 0..3 {\n  v = (transpose(C) @ (C @ v)) / m;\n}\n\
        output v, mu;\n";
    let src = SourceFile::new("pca_centred.hel", text.to_string());
    let options = Options {
        passes: pipeline::Options {
            level: OptLevel::O2,
            ..pipeline::Options::default()
        },
        ..Options::default()
    };
    let c = compile(&src, &options).unwrap_or_else(|d| panic!("{}", d.render_plain()));
    assert!(
        c.lowered.deficit <= 0.0,
        "predicted {:.1} bits short; notes {:?}",
        c.lowered.deficit,
        c.notes
    );
}
