//! Rounds: training on more minibatches than one circuit can hold.
//!
//! Without bootstrapping, a circuit's depth is bounded by the 128-bit parameter budget
//! (log2 PQ ≤ 1772 bits at N = 2^16), and every minibatch costs about 2.5 levels. When the K
//! minibatches asked for do not fit, training runs in rounds: the server runs a circuit of the
//! largest k that fits, the client decrypts the weights, re-encrypts them and sends them back as
//! the next round's input (the "refresh" Crockett and Han et al. assume instead of
//! bootstrapping).
//!
//! The round programs themselves are the compiler's business: [`RoundTemplate`]
//! (`hel_compiler::rounds`) rewrites the user's program into the program of a round starting at
//! any global iteration, with the weights (and NAG's momentum) as encrypted inputs and outputs.
//! This file plans the rounds ([`RoundPlan`], [`largest_fitting`]) and, before anything is
//! encrypted, runs the round programs through the reference interpreter one after the other to
//! compare them with the original program run for all K iterations ([`plaintext_rounds`]): the
//! rewrite is checked on the real data, not trusted.

use std::collections::HashMap;

pub use hel_compiler::rounds::{RoundTemplate, StateVar};
use hel_compiler::SourceFile;
use serde::Serialize;

use super::plan::Tuning;
use super::program::{self, Interface};
use super::TrainError;
use crate::data::Matrix;

/// How the K minibatches are split into circuits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RoundPlan {
    /// Minibatches per round, in order; they add up to K.
    pub sizes: Vec<usize>,
    /// Why there are this many rounds, for the report.
    pub reason: String,
}

impl RoundPlan {
    /// All K minibatches in one circuit.
    pub fn single(total: usize) -> Self {
        RoundPlan {
            sizes: vec![total],
            reason: format!("all {total} minibatches fit one circuit"),
        }
    }

    /// Rounds of `per_round` minibatches (the last one takes the remainder).
    pub fn split(total: usize, per_round: usize, reason: String) -> Self {
        let sizes = hel_compiler::rounds::split(total, per_round)
            .into_iter()
            .map(|(_, len)| len)
            .collect();
        RoundPlan { sizes, reason }
    }

    /// `(first global iteration, length)` of every round.
    pub fn rounds(&self) -> Vec<(usize, usize)> {
        let mut start = 0;
        self.sizes
            .iter()
            .map(|&len| {
                let r = (start, len);
                start += len;
                r
            })
            .collect()
    }
}

pub use hel_compiler::rounds::largest_fitting;

/// The round programs run one after the other in plaintext (reference interpreter) from zero
/// weights, with the learning rate and sigmoid of `tuning` for a tunable program; returns the
/// final value of the program's output. The trainer compares it with the original program run
/// for all iterations before encrypting anything.
pub fn plaintext_rounds(
    template: &RoundTemplate,
    plan: &RoundPlan,
    interface: &Interface,
    batches: &[Matrix],
    tuning: Option<&Tuning>,
) -> Result<Vec<f64>, TrainError> {
    let mut states = plaintext_states(template, plan, interface, batches, tuning)?;
    states
        .pop()
        .and_then(|mut last| last.remove(&interface.output))
        .ok_or_else(|| TrainError::Internal("the round program lost the output".into()))
}

/// The round template of `src` (constants `sets`) as `hel train` runs it: the client decrypts
/// (or the server bootstraps) the loop's state between rounds, and the weights it trains are
/// that state, so a program that computes its output after the loop is refused (`hel compile
/// --refresh bootstrap` runs such a program: its last round does that work).
pub fn template(src: &SourceFile, sets: &[(String, f64)]) -> Result<RoundTemplate, TrainError> {
    let template = RoundTemplate::with_sets(src, sets)?;
    if template.has_tail() {
        return Err(TrainError::Program(format!(
            "{}: hel train runs the loop in rounds and trains the weights the loop carries, but \
             this program computes its output after the loop; output the weights themselves \
             (`hel compile --refresh bootstrap` compiles it as written)",
            src.name()
        )));
    }
    // Each round sets `k` to its number of minibatches: the loop must run to it, and nothing
    // else may read it (the template would name the loop's bound itself, which `k` then
    // no longer sets).
    if template.length_const() != Some("k") {
        return Err(TrainError::Program(format!(
            "{}: hel train sets `k` to each round's number of minibatches, so the training \
             loop must be `for i in 0..k` and nothing else may read `k` (`hel compile \
             --refresh bootstrap` compiles it as written)",
            src.name()
        )));
    }
    if let Some(s) = template
        .state()
        .iter()
        .find(|s| !matches!(s.shape, hel_compiler::ir::Shape::Vector(_)))
    {
        return Err(TrainError::Program(format!(
            "{}: hel train carries weight vectors between rounds, but the loop carries `{}`, a \
             {} (`hel compile --refresh bootstrap` compiles it as written)",
            src.name(),
            s.name,
            s.shape
        )));
    }
    Ok(template)
}

/// The state (by program variable) at the start of every round and, last, after the last
/// one, from the round programs run one after the other in plaintext from zero weights: the
/// client's estimate of what the server holds, e.g. for the headroom check of inputs it
/// cannot see (the state refreshed on the server).
pub fn plaintext_states(
    template: &RoundTemplate,
    plan: &RoundPlan,
    interface: &Interface,
    batches: &[Matrix],
    tuning: Option<&Tuning>,
) -> Result<Vec<HashMap<String, Vec<f64>>>, TrainError> {
    let (m, f) = (batches[0].rows(), batches[0].cols());
    let mut state: HashMap<String, Vec<f64>> = template
        .state()
        .iter()
        .map(|s| (s.name.clone(), vec![0.0; f]))
        .collect();
    let mut states = Vec::with_capacity(plan.sizes.len() + 1);
    for (start, len) in plan.rounds() {
        states.push(state.clone());
        let p = template.frontend(start, &program::sets_tuned(len, m, f, tuning))?;
        let mut inputs = HashMap::new();
        inputs.insert(
            interface.data_input.clone(),
            program::batch_value(batches, start, len),
        );
        for s in template.state().iter().filter(|s| s.is_input(start)) {
            let v = state.get(&s.name).map(Vec::as_slice).unwrap_or(&[]);
            inputs.insert(s.input.clone(), program::vector_value(v));
        }
        state = program::interpret(&p, inputs)?;
    }
    states.push(state);
    Ok(states)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `hel train` trains the state the loop carries: work after the loop is refused, named.
    #[test]
    fn a_program_that_computes_after_the_loop_is_refused() {
        let text = "const k = 2; const m = 4; const f = 3; input Z: enc matrix[m, f][k]; \
                    let w = zeros(f); for i in 0..k { w = w - 0.1 * (transpose(Z[i]) @ (Z[i] @ w)); } \
                    let v = w * 2; output v;";
        let src = SourceFile::new("tail.hel", text.to_string());
        let Err(TrainError::Program(m)) = template(&src, &[]) else {
            panic!("a tail must be refused")
        };
        assert!(
            m.contains("after the loop") && m.contains("tail.hel"),
            "{m}"
        );
        let ok = SourceFile::new(
            "ok.hel",
            text.replace("let v = w * 2; output v;", "output w;"),
        );
        assert!(template(&ok, &[]).is_ok());
    }

    #[test]
    fn plans_take_the_largest_rounds_first() {
        assert_eq!(RoundPlan::split(7, 3, String::new()).sizes, vec![3, 3, 1]);
        assert_eq!(RoundPlan::split(6, 3, String::new()).sizes, vec![3, 3]);
        assert_eq!(RoundPlan::split(2, 5, String::new()).sizes, vec![2]);
        assert_eq!(
            RoundPlan::split(5, 2, String::new()).rounds(),
            vec![(0, 2), (2, 2), (4, 1)]
        );
    }

    /// Rounds of equal length whose program does not depend on their start (GD) run one
    /// compiled circuit under one key set.
    #[test]
    fn gd_rounds_of_equal_length_share_one_circuit() {
        let (m, f) = (8, 3);
        let batch = |seed: usize| {
            let data = (0..m * f)
                .map(|j| (((j * 7 + seed * 5) % 11) as f64 - 5.0) / 10.0)
                .collect();
            Matrix::from_vec(m, f, data)
        };
        let batches = [batch(1), batch(2)];
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/logreg_gd.hel"
        ))
        .unwrap();
        let src = hel_compiler::SourceFile::new("logreg_gd.hel", text);
        let opts = super::super::TrainOptions {
            round_size: Some(2),
            threads: 2,
            ..super::super::TrainOptions::new(4, m)
        };
        let r =
            super::super::train_on(&batches, &batch(3), &src, &opts, &super::super::Quiet).unwrap();
        assert_eq!(r.round_sizes, [2, 2]);
        assert_eq!(r.circuits.len(), 1);
        assert_eq!(r.circuits[0].rounds, [0, 1]);
        assert_eq!(r.key_sets.len(), 1);
    }

    #[test]
    fn search_gallops_up_then_bisects() {
        let probe = |max: usize, answer: usize| {
            let mut tried = Vec::new();
            let k = largest_fitting(max, |k| {
                tried.push(k);
                Ok::<bool, TrainError>(k <= answer)
            })
            .unwrap();
            (k, tried)
        };
        assert_eq!(probe(6, 4), (Some(4), vec![1, 2, 4, 6, 5]));
        assert_eq!(probe(31, 6), (Some(6), vec![1, 2, 4, 8, 6, 7]));
        assert_eq!(probe(5, 5), (Some(5), vec![1, 2, 4, 5]));
        assert_eq!(probe(1, 1), (Some(1), vec![1]));
        assert_eq!(probe(3, 0), (None, vec![1]));
        // Every answer in 1..=max is found, never trying anything above 2 * answer.
        for max in 1..=20 {
            for answer in 0..=max {
                let (k, tried) = probe(max, answer);
                assert_eq!(
                    k,
                    (answer > 0).then_some(answer),
                    "max {max} answer {answer}"
                );
                assert!(tried.iter().all(|&t| t <= (2 * answer).max(1)), "{tried:?}");
            }
        }
    }
}
