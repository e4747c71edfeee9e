//! The ciphertext critical path (`hel depth`'s level-by-level report) accounts for every level
//! the schedule consumes, on every example, and names what consumed each.

mod common;

use hel_compiler::lower::level_path::level_path;
use hel_compiler::{compile, Options, SourceFile};

#[test]
fn the_level_path_has_one_step_per_level_of_every_example() {
    for name in [
        "logreg_gd",
        "logreg_nag",
        "linreg_gd",
        "covariance",
        "pca_power",
        "ridge",
    ] {
        let sets = common::small_sets(name);
        let options = Options {
            sets: sets.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            ..Options::default()
        };
        let path = common::example_path(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let c = compile(&SourceFile::new(format!("{name}.hel"), text), &options)
            .unwrap_or_else(|d| panic!("{}", d.render_plain()));
        let steps = level_path(&c.lowered.schedule);
        assert_eq!(
            steps.len() as u32,
            c.lowered.params.depth,
            "{name}: {steps:#?}"
        );
        for (k, s) in steps.iter().enumerate() {
            assert_eq!(s.level, k as u32 + 1, "{name}");
            assert!(
                ["ciphertext product", "mask or public values", "constant"].contains(&s.kind),
                "{name}: level {} consumed by {}",
                s.level,
                s.kind
            );
            assert!(s.span.is_some(), "{name}: level {} has no source", s.level);
        }
    }
}
