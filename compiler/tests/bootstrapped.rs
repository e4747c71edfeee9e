//! The compiler places bootstraps (`--refresh bootstrap`): a training loop compiled as rounds
//! joined by `bootstrap` instructions into one schedule, checked against the whole program in
//! plaintext. At a small, **insecure** ring (N = 2^12, test-only parameters that no file can
//! carry), so that every -O level compiles in seconds; the 128-bit rule is N = 2^16.

use hel_compiler::passes::pipeline::OptLevel;
use hel_compiler::rounds::compile_bootstrapped;
use hel_compiler::{Options, SourceFile};
use hel_schedule::{BootstrapParams, Instr, Security};

/// The documented circuit at N = 2^12 with nine program levels, insecure.
fn insecure_chain_for_testing_only() -> BootstrapParams {
    BootstrapParams {
        log_n: 12,
        log_slots: 11,
        program_levels: 9,
        cts_levels: 3,
        stc_levels: 2,
        security: Security::InsecureForTestingOnly,
        ..BootstrapParams::standard_n16()
    }
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
    for level in [OptLevel::O0, OptLevel::O1, OptLevel::O2] {
        let b = compile_bootstrapped(
            &src,
            &options(level, 8),
            &insecure_chain_for_testing_only(),
            None,
        )
        .unwrap_or_else(|d| panic!("{level:?}: {}", d.render_plain()));
        let s = &b.schedule;
        eprintln!(
            "{level:?}: rounds {:?}, bootstraps {}, segment depths {:?}, output bound {:e}, check {:e}",
            b.rounds,
            s.bootstraps().count(),
            s.segment_depths(),
            s.outputs[0].bound,
            b.plaintext_check
        );
        assert!(
            b.rounds.len() > 1,
            "{level:?}: one round needs no bootstrap"
        );
        assert_eq!(b.rounds.iter().map(|r| r.1).sum::<usize>(), 8);
        s.validate().unwrap();
        assert!(s.bootstraps().count() >= b.rounds.len() - 1);
        assert!(s
            .nodes
            .iter()
            .all(|n| !matches!(n.instr, Instr::Input { .. }) || true));
        assert_eq!(s.inputs.len(), 1);
        assert_eq!(s.inputs[0].seq, Some(8));
    }
}
