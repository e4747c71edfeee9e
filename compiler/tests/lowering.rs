//! Lowering tests: the slot-level simulation of every example's schedule equals the tensor
//! interpreter (1e-9), at every optimization level, and the ciphertext depth meets the targets.

use hel_compiler::ir::Program;
use hel_compiler::lower::{lower, verify, LowerOptions, Lowered, ParamRequest};
use hel_compiler::passes::pipeline::{OptLevel, Options, Pipeline};
use hel_compiler::SourceFile;

fn compile(file: &str, sets: &[(&str, f64)], level: OptLevel) -> (Program, Lowered) {
    let path = format!("{}/../examples/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let src = SourceFile::new(file, text);
    let sets: Vec<(String, f64)> = sets.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    let p = hel_compiler::frontend(&src, &sets).unwrap();
    let opts = Options {
        level,
        ..Options::default()
    };
    let p = Pipeline::with_options(opts).run(p, None, &mut |_, _| {}).unwrap();
    let l = lower(
        &p,
        &LowerOptions {
            params: ParamRequest::default(),
            name: file.into(),
            program_hash: String::new(),
        },
    )
    .unwrap_or_else(|d| panic!("{}", d.render_plain()));
    (p, l)
}

const LEVELS: [OptLevel; 3] = [OptLevel::O0, OptLevel::O1, OptLevel::O2];

#[test]
fn poly_simulation_matches_tensor_semantics() {
    for level in LEVELS {
        let (p, l) = compile("poly.hel", &[("n", 100.0)], level);
        let d = verify::max_difference(&p, &l.schedule, 1).unwrap();
        assert!(d < 1e-9, "{level:?}: {d}");
        assert_eq!(l.schedule.depth(), 2, "{level:?}");
    }
}

#[test]
fn small_logreg_simulation_matches_tensor_semantics() {
    for file in ["logreg_gd.hel", "logreg_nag.hel"] {
        for level in LEVELS {
            for k in [1.0, 2.0, 3.0] {
                let (p, l) = compile(file, &[("k", k), ("m", 24.0), ("f", 10.0)], level);
                let d = verify::max_difference(&p, &l.schedule, 7).unwrap();
                assert!(d < 1e-9, "{file} {level:?} k={k}: {d}");
                eprintln!("{file} {level:?} k={k}: depth {}", l.schedule.depth());
            }
        }
    }
}
