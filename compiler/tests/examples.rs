//! Golden tests: the IR text of every example after parsing and after each pass.
//! Bless changes with `cargo insta review` (or `INSTA_UPDATE=always cargo test`) and review the diff.

mod common;

use common::{load, EXAMPLES};
use hel_compiler::ir::print_text;
use hel_compiler::passes::pipeline::{OptLevel, Pipeline};

#[test]
fn ir_text_after_each_pass() {
    for name in EXAMPLES {
        let program = load(name, &[]);
        insta::assert_snapshot!(format!("{name}__parse"), print_text(&program));
        let pipeline = Pipeline::new(OptLevel::O2);
        let mut texts = Vec::new();
        pipeline
            .run(program, None, &mut |pass, p| {
                texts.push((pass.to_string(), print_text(p)))
            })
            .unwrap_or_else(|d| panic!("{}", d.render_plain()));
        for (pass, text) in texts {
            insta::assert_snapshot!(format!("{name}__{pass}"), text);
        }
    }
}

#[test]
fn printing_is_deterministic() {
    for name in EXAMPLES {
        let a = print_text(&load(name, &[]));
        let b = print_text(&load(name, &[]));
        assert_eq!(a, b, "{name}: two compilations printed differently");
    }
}

#[test]
fn unrolled_gd_has_one_copy_per_iteration() {
    let p = load("logreg_gd", &[("k", 3.0)]);
    let p = Pipeline::new(OptLevel::O2)
        .run(p, Some("unroll"), &mut |_, _| {})
        .expect("unroll");
    let text = print_text(&p);
    let matvecs = |tag: &str| {
        text.lines()
            .filter(|l| l.contains(" = matvec ") && l.ends_with(tag))
            .count()
    };
    for i in 0..3 {
        assert_eq!(
            matvecs(&format!("[iter {i}]")),
            2,
            "iteration {i} should have its two products:\n{text}"
        );
    }
    assert_eq!(matvecs("[iter 3]"), 0);
    assert!(!text.contains(" = loop "), "no loop may survive unrolling");
}

#[test]
fn ron_round_trips() {
    for name in EXAMPLES {
        let p = load(name, &[]);
        let text = hel_compiler::ir::print_ron(&p);
        let back: hel_compiler::ir::Program = ron::from_str(&text).expect("RON parses back");
        assert!(back == p, "{name}: RON round trip changed the program");
    }
}
