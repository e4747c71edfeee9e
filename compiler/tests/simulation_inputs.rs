//! The simulations' inputs with their derived tensors computed once (`hel_schedule::Prepared`,
//! `ranges::Samples`): a derived tensor given by name is used as it is, one of the wrong shape
//! is computed again, and the interpreter's value of a derived input is the client's.

use hel_compiler::analysis::ranges::Samples;
use hel_compiler::ir::interp::Value;
use hel_compiler::lower::verify::schedule_inputs;
use hel_compiler::{compile, Options, SourceFile};
use hel_schedule::{simulate_magnitudes, simulate_magnitudes_prepared, Prepared, Tensor};

const PROGRAM: &str = "
input Z: enc matrix[8, 3][3] range [-1, 1];
let w = zeros(3);
for i in 0..3 {
    w = w + 0.25 * (transpose(Z[i]) @ (0.5 - 0.1 * (Z[i] @ w)));
}
output w;
";

#[test]
fn derived_tensors_given_by_name_are_the_clients() {
    let src = SourceFile::new("gd.hel", PROGRAM.to_string());
    let c = compile(&src, &Options::default()).unwrap_or_else(|d| panic!("{}", d.render_plain()));
    let s = c.schedule();
    assert!(!s.derived.is_empty(), "-O2 precomputes nothing here");
    let samples = Samples::of(&c.program);
    let sample = &samples.inputs()[0];
    let user = schedule_inputs(&c.program, sample);
    let known = |name: &str| match sample.get(name) {
        Some(Value::Tensor(t)) => Some(t.clone()),
        _ => None,
    };
    let computed = Prepared::new(s, &user).expect("inputs");
    let given = Prepared::with_known(s, user.clone(), known).expect("inputs");
    // The interpreter's derived inputs are the client's (same sums in the same order).
    assert_eq!(given.derived, computed.derived);
    let want = simulate_magnitudes(s, &user).expect("simulates");
    assert_eq!(
        simulate_magnitudes_prepared(s, &given).expect("simulates"),
        want
    );
    // A given value of the wrong shape is not used: the derived tensor is computed.
    let wrong = |_: &str| Some(Tensor::scalar(1e9));
    let recomputed = Prepared::with_known(s, user, wrong).expect("inputs");
    assert_eq!(recomputed.derived, computed.derived);
}
