//! Bootstraps placed by the compiler (`--refresh bootstrap`): a training loop deeper than one
//! parameter set holds, compiled into one schedule in which the server refreshes the model's
//! state itself.
//!
//! The loop is cut into rounds (the [`RoundTemplate`]'s round programs, each state vector an
//! input pinned to the packing the bootstrap refreshes), every round is compiled for the
//! bottom of a bootstrapping chain ([`BootstrapParams::program_params`]), and the round
//! schedules are joined into one: round r + 1's state input ciphertexts become
//! [`Instr::Bootstrap`](hel_schedule::Instr::Bootstrap) nodes of round r's state output tiles, landing on the level and scale
//! the next round expects; round 1's state is a noiseless [`Instr::Trivial`](hel_schedule::Instr::Trivial) where it starts
//! as `zeros(n)`, else computed by round 1's own program (`let v = v0;`);
//! the minibatch inputs of every round are elements of the whole program's sequence inputs.
//! So the bootstraps sit on the fewest and cheapest values there are (the weights, one tile
//! per state vector, not the data), the client uploads once and downloads once, and the
//! schedule is checked against the whole program in plaintext like any other (EVA's rule),
//! its error bounds recomputed over the joined schedule, bootstraps included.
//!
//! The round size is the largest that fits the chain's program levels (fewest bootstraps), or
//! the one asked for. `hel train --refresh bootstrap` chooses it by the cost model instead and
//! runs the rounds itself (docs/bootstrapping.md).

use std::collections::HashMap;

use hel_schedule::bootstrap::bootstraps_between;
use hel_schedule::cost::CostTable;
use hel_schedule::{BootstrapParams, Instr, Schedule};

use super::join::join;
use super::scale_drop;
use super::{Prelude, RoundTemplate};
use crate::diagnostics::{Code, Diagnostic};
use crate::driver::{Compiled, Options, PLAINTEXT_CHECK_TOLERANCE};
use crate::ir::interp::{Tensor, Value};
use crate::source::{SourceFile, Span};

/// Seed of the plaintext check and the bounds' random inputs (fixed: compiling is
/// deterministic).
const SEED: u64 = 0x68656c;

/// A training loop compiled with bootstraps between its rounds.
#[derive(Clone, Debug)]
pub struct Bootstrapped {
    /// The joined schedule: every round, the bootstraps between them.
    pub schedule: Schedule,
    /// `(first iteration, iterations)` of every round.
    pub rounds: Vec<(usize, usize)>,
    /// Why rounds of this size, for the report.
    pub reason: String,
    /// The first round's compilation (its passes, client work and notes stand for every
    /// round's: the rounds differ only in constants and minibatch indices).
    pub first: Compiled,
    /// Largest relative difference between the joined schedule's slot simulation and the
    /// whole program's tensor interpreter.
    pub plaintext_check: f64,
    /// The chain the schedule bootstraps with (also [`Schedule::bootstrap`]).
    pub chain: BootstrapParams,
    /// The loop the rounds split.
    pub split: Span,
}

/// Compiles `source`'s training loop in rounds joined by bootstraps of `rule`'s chain (the
/// full-slot rule; the chain actually used is its sparse-slot variant for the state's grid,
/// [`BootstrapParams::fewest_slots`]). `round_size` forces the minibatches per round.
/// Programs the rounds cannot be cut from are refused with a [`Code::Rounds`] diagnostic at
/// what stops them; a round of one minibatch deeper than the chain's program levels with
/// [`Code::TooDeep`].
///
/// Encrypted values the program computes before the loop and reads in it or after it (a
/// statistic of the data, a model an earlier loop trained) are either computed again by
/// every round or computed once by the first and handed on ([`Prelude`]); where the two
/// differ, both are compiled and the one of less estimated server time on
/// [`Options::server_threads`] is kept (the reason says which), or the one that compiles.
///
/// Where EvalMod's sine dominates a bootstrap's error (a state whose message coefficients
/// are large: a replicated scalar, a vector with a large mean), the rounds are compiled again
/// below the scale at their bottom ([`BootstrapParams::input_drop`]) and kept if their worst
/// output error relative to its range is smaller.
pub fn compile_bootstrapped(
    source: &SourceFile,
    options: &Options,
    rule: &BootstrapParams,
    round_size: Option<usize>,
    costs: &CostTable,
) -> Result<Bootstrapped, Diagnostic> {
    let whole = crate::frontend_limited(source, &options.sets, &options.limits)?;
    let b = compile_any_loop(source, &whole, options, rule, round_size, costs)?;
    scale_drop::below_the_scale(b, rule, |dropped| {
        compile_any_loop(source, &whole, options, dropped, round_size, costs)
    })
}

/// [`compile_bootstrapped`] with one chain: the loop that trains first, else another.
fn compile_any_loop(
    source: &SourceFile,
    whole: &crate::ir::Program,
    options: &Options,
    rule: &BootstrapParams,
    round_size: Option<usize>,
    costs: &CostTable,
) -> Result<Bootstrapped, Diagnostic> {
    // The loop that trains first; where its rounds cannot be cut or do not fit (an earlier
    // loop deeper than a round holds), the other loops that carry an encrypted value.
    let first = compile_cut(source, whole, options, rule, round_size, costs, 0);
    let Err(first_err) = first else {
        return first;
    };
    // The loops the template can cut are few (top-level loops); the bound only guards.
    for nth in 1..64 {
        match compile_cut(source, whole, options, rule, round_size, costs, nth) {
            Ok(mut b) => {
                b.reason = format!(
                    "{}; the loop at line {} is the one split (the loop that trains: {})",
                    b.reason,
                    source.line_col(b.split.start).0,
                    first_err.message
                );
                return Ok(b);
            }
            Err(e) if e.code == Code::Rounds && e.message.contains("no other loop") => break,
            // This loop's rounds cannot be cut or do not fit: the next one may.
            Err(e)
                if matches!(
                    e.code,
                    Code::Rounds | Code::TooDeep | Code::Budget | Code::Params | Code::Range
                ) => {}
            // The program's own error (the same whichever loop is cut).
            Err(_) => break,
        }
    }
    Err(first_err)
}

/// [`compile_bootstrapped`] splitting the `nth` loop ([`RoundTemplate::cutting`]).
fn compile_cut(
    source: &SourceFile,
    whole: &crate::ir::Program,
    options: &Options,
    rule: &BootstrapParams,
    round_size: Option<usize>,
    costs: &CostTable,
    nth: usize,
) -> Result<Bootstrapped, Diagnostic> {
    let recomputed = RoundTemplate::cutting(source, &options.sets, Prelude::Recomputed, nth);
    let carried = RoundTemplate::cutting(source, &options.sets, Prelude::Carried, nth)
        .ok()
        .filter(|c| {
            recomputed
                .as_ref()
                .map_or(true, |r| c.state().len() > r.state().len())
        });
    let compile =
        |t: &RoundTemplate| compile_rounds(source, whole, t, options, rule, round_size, costs);
    let Some(carried) = carried else {
        return compile(&recomputed?);
    };
    let once = compile(&carried);
    let again = recomputed.and_then(|t| compile(&t));
    let threads = options.server_threads.max(1);
    // Without a bootstrap price for the chain (test rings), more bootstraps are not assumed
    // free: the rounds computing the prelude again are kept.
    let priced = |b: &Bootstrapped| {
        costs
            .bootstrap_seconds_on(b.chain.log_n, b.chain.log_slots, threads)
            .is_some()
    };
    match (again, once) {
        (Ok(a), Ok(_)) if !priced(&a) => Ok(a),
        (Ok(a), Ok(o)) => {
            let (sa, so) = (
                estimated_seconds(&a.schedule, costs, threads),
                estimated_seconds(&o.schedule, costs, threads),
            );
            let (mut kept, how, other) = if so < sa {
                (o, "computed once by the first round and handed on", sa)
            } else {
                (a, "computed again by every round", so)
            };
            kept.reason = format!(
                "{}; the encrypted values computed before the loop are {how} (est. {:.0} s \
                 on {threads} thread(s) against {other:.0} s the other way)",
                kept.reason,
                sa.min(so)
            );
            Ok(kept)
        }
        (Err(_), Ok(mut o)) => {
            o.reason = format!(
                "{}; the encrypted values computed before the loop are computed once by the \
                 first round and handed on (rounds computing them again do not compile)",
                o.reason
            );
            Ok(o)
        }
        (Ok(a), Err(_)) => Ok(a),
        // Both fail: the recomputing rounds' reason, unless they could not be cut at all.
        (Err(again), Err(once)) if again.code == Code::Rounds => Err(once),
        (Err(again), Err(_)) => Err(again),
    }
}

/// Estimated seconds of the joined schedule `s` on `threads` threads: its operations' work
/// divided among them, its bootstraps gaining little ([`CostTable::bootstrap_seconds_on`]).
fn estimated_seconds(s: &Schedule, costs: &CostTable, threads: usize) -> f64 {
    let boot = s
        .bootstrap
        .as_ref()
        .and_then(|b| costs.bootstrap_seconds_on(b.log_n, b.log_slots, threads))
        .unwrap_or(0.0);
    s.nodes
        .iter()
        .map(|n| match n.instr {
            Instr::Bootstrap { .. } => boot,
            _ => costs.node_seconds(s, n) / threads as f64,
        })
        .sum()
}

/// [`compile_bootstrapped`] with one template.
fn compile_rounds(
    source: &SourceFile,
    whole: &crate::ir::Program,
    template: &RoundTemplate,
    options: &Options,
    rule: &BootstrapParams,
    round_size: Option<usize>,
    costs: &CostTable,
) -> Result<Bootstrapped, Diagnostic> {
    let at = |span: Span, code: Code, m: String| Diagnostic::new(code, source, span, m);
    // The rounds split the loop's iterations (the minibatches, or the passes over one data
    // set): each round program runs `k` of them, the constant `k` set to its length.
    let not_k = || {
        at(
            template.loop_span(),
            Code::Rounds,
            "cannot bootstrap between rounds: the loop's number of iterations must be one \
             constant (`for i in 0..k`), which each round sets to its own, and nothing else \
             may depend on that constant"
                .to_string(),
        )
        .with_label("this loop")
    };
    let length = template.length_const().ok_or_else(not_k)?.to_string();
    let total = trip_count(whole, template.loop_span()).ok_or_else(not_k)? as usize;
    if total == 0 {
        return Err(at(
            template.loop_span(),
            Code::Rounds,
            "cannot bootstrap between rounds: the loop runs no iteration, so there is nothing to \
             refresh; compile it as one circuit (--refresh none or auto)"
                .into(),
        )
        .with_label("no iteration"));
    }
    let mut one = options.sets.clone();
    one.retain(|(n, _)| *n != length);
    one.push((length.clone(), 1.0));
    if template
        .frontend(0, &one)
        .ok()
        .as_ref()
        .and_then(|p| trip_count(p, template.loop_span()))
        != Some(1)
    {
        return Err(not_k());
    }
    let pairs: Vec<(String, String)> = template
        .state()
        .iter()
        .map(|s| (s.input.clone(), s.name.clone()))
        .collect();
    let no_chain = |why: String| {
        at(
            template.loop_span(),
            Code::Params,
            format!(
                "no bootstrapping chain of the rule at N = 2^{}: {why}",
                rule.log_n
            ),
        )
    };
    let trajectories = trajectories(template, whole, &options.sets, &length, total);
    let mut rounds = Rounds {
        template,
        length,
        total,
        options,
        pairs,
        chain: rule
            .fewest_slots(1)
            .ok_or_else(|| no_chain("it refreshes no slot count".into()))?,
        unit: None,
        forms: None,
        compiled: HashMap::new(),
        refusals: HashMap::new(),
        trajectories,
    };
    // The probe fixes the grid: the chain of the fewest slots has the widest q_0, so the
    // values at the bottom fit whatever grid comes out. Then the chain of the grid's width.
    // The probe is a round that repeats (not a first round that computes the state's start),
    // and fixes the form of the refreshed matrices too: every round's must be the same.
    let probe_levels = rounds.chain.program_levels;
    let probe = if total > 1 {
        template.later_start(1)
    } else {
        0
    };
    let (unit, forms) = rounds
        .try_compile(probe, 1)?
        .map(|c| {
            let s = &c.lowered.schedule;
            let forms = crate::ir::MatrixForms::of(
                s.outputs
                    .iter()
                    .filter(|o| template.state().iter().any(|v| v.name == o.name))
                    .flat_map(|o| &o.tiles)
                    .filter_map(|t| match t.layout {
                        hel_schedule::Layout::MatrixTile { transposed, .. } => Some(transposed),
                        _ => None,
                    }),
            );
            (s.unit, forms)
        })
        .ok_or_else(|| {
            one_too_deep(
                source,
                template.loop_span(),
                probe_levels,
                &rounds.why_not(probe, 1),
            )
        })?;
    // A vector's tiles repeat every row (`w` slots): a sparse bootstrap of `w` slots
    // refreshes them. A matrix tile's rows differ: it takes all the slots of the grid.
    let matrix_state = template
        .state()
        .iter()
        .find(|s| matches!(s.shape, crate::ir::Shape::Matrix(..)));
    let state_slots = if matrix_state.is_some() {
        unit.h * unit.w
    } else {
        unit.w
    };
    rounds.chain = rule
        .fewest_slots(state_slots.trailing_zeros())
        .ok_or_else(|| no_chain(format!("none refreshes {state_slots} slots")))?;
    rounds.unit = Some(unit);
    rounds.forms = forms;
    rounds.compiled.clear();
    let levels = rounds.chain.program_levels;
    let (per_round, mut reason) = match round_size {
        Some(r) => (r.clamp(1, total), format!("--round-size {r}")),
        None => {
            // Sized by a round that is not the first where the first differs (it computes
            // the state's start): the first is shortened below if it does not fit. The round
            // stays within the loop's iterations: a sequence of as many elements as the loop
            // has iterations has no element past them (rounds of 4 of 6 iterations started at
            // 4 and read element 6).
            let sized = |k: usize| {
                if k < total {
                    template.later_start(k).min(total - k)
                } else {
                    0
                }
            };
            let largest =
                largest_fitting(total, |k| Ok(rounds.try_compile(sized(k), k)?.is_some()))?
                    .ok_or_else(|| {
                        // Why a bootstrap leaves fewer levels than a vector state's would.
                        let matrix = matrix_state.filter(|_| levels < probe_levels).map_or(
                            String::new(),
                            |m| {
                                format!(
                                    "; the loop carries the matrix `{}`, whose tiles are \
                                     refreshed at all {state_slots} slots, where a bootstrap \
                                     leaves {levels} levels (vectors are refreshed at sparse \
                                     slots, which leave up to {probe_levels})",
                                    m.name
                                )
                            },
                        );
                        one_too_deep(
                            source,
                            template.loop_span(),
                            levels,
                            &format!("{}{matrix}", rounds.why_not(sized(1), 1)),
                        )
                    })?;
            let why = if largest == total {
                format!("all {total} iterations fit one round within the {levels} levels a bootstrap leaves")
            } else {
                format!(
                    "a round holds at most {largest} iteration(s) within the {levels} levels a \
                     bootstrap leaves"
                )
            };
            match rounds.fastest(total, largest, costs)? {
                Some((k, why_k)) if k != largest => (k, format!("{why}; {why_k}")),
                _ => (largest, why),
            }
        }
    };
    // Every round must compile, not only the first: their constants differ (NAG's momentum),
    // and with them the ranges the compiler estimates. A round that does not fit is made
    // shorter where it starts (the others keep their size: every round shorter would cost
    // more bootstraps); a forced size is not changed.
    let mut plan = Vec::new();
    let mut shortened = Vec::new();
    let mut start = 0;
    while start < total {
        let mut len = per_round.min(total - start);
        while rounds.try_compile(start, len)?.is_none() {
            if len == 1 || round_size.is_some() {
                return Err(at(
                    template.loop_span(),
                    Code::TooDeep,
                    format!(
                        "the round of {len} iteration(s) from iteration {start} does not fit \
                         the {levels} levels a bootstrap leaves{}{}",
                        rounds.why_not(start, len),
                        // A round of one iteration is as short as rounds get.
                        if round_size.is_some() && len > 1 {
                            "; use a smaller --round-size"
                        } else {
                            ""
                        }
                    ),
                ));
            }
            len -= 1;
        }
        if len < per_round.min(total - start) {
            shortened.push(start);
        }
        plan.push((start, len));
        start += len;
    }
    if !shortened.is_empty() {
        reason = format!(
            "{reason}; shorter rounds from iteration(s) {shortened:?}, where a round of \
             {per_round} does not fit (the rounds' constants differ)"
        );
    }
    let schedules: Vec<(usize, &Schedule)> = plan
        .iter()
        .map(|&(start, len)| {
            (
                start,
                &rounds.compiled[&rounds.key(start, len)].lowered.schedule,
            )
        })
        .collect();
    let outputs: Vec<&str> = whole.outputs.iter().map(|o| o.name.as_str()).collect();
    let per_iteration = template.per_iteration_inputs();
    let mut schedule =
        join(&schedules, total, &rounds.chain, &outputs, per_iteration).map_err(|m| {
            at(
                Span::default(),
                Code::Internal,
                format!("joining the rounds: {m}"),
            )
        })?;
    schedule.name = source.short_name().to_string();
    // The bounds over the whole joined schedule, bootstraps included, on the range
    // analysis's samples of the whole program (as a single circuit's are on its own).
    let samples = crate::analysis::ranges::Samples::of(whole);
    let on_schedule = crate::lower::bounds::ScheduleSamples::new(&schedule, &samples);
    let mags = crate::lower::bounds::observed_magnitudes(&schedule, &on_schedule);
    crate::lower::bounds::annotate(&mut schedule, &mags, &on_schedule);
    // Its identity: the canonical serialization, as for any schedule (the rounds' own
    // identities, of the source and the options, are in their nodes' origins and constants).
    schedule.program_hash = schedule.canonical_hash();
    schedule.validate().map_err(|e| {
        at(
            Span::default(),
            Code::Internal,
            format!("the joined schedule: {e}"),
        )
    })?;
    let differences = crate::lower::verify::differences(whole, &schedule, SEED).map_err(|m| {
        at(
            Span::default(),
            Code::Internal,
            format!("plaintext check: {m}"),
        )
    })?;
    // NaN (an overflow on one side) must not read as agreement.
    let plaintext_check = differences.iter().fold(0.0f64, |m, d| {
        if d.is_nan() || m.is_nan() {
            f64::NAN
        } else {
            m.max(*d)
        }
    });
    if plaintext_check.is_nan() || plaintext_check > PLAINTEXT_CHECK_TOLERANCE {
        return Err(at(
            Span::default(),
            Code::Internal,
            format!(
                "the rounds joined by bootstraps differ from the program in plaintext by \
                 {plaintext_check:.3e} (relative)"
            ),
        ));
    }
    let first_key = rounds.key(0, plan[0].1);
    let first = rounds.compiled.remove(&first_key).ok_or_else(|| {
        at(
            Span::default(),
            Code::Internal,
            "the first round vanished".into(),
        )
    })?;
    Ok(Bootstrapped {
        schedule,
        rounds: plan,
        reason,
        first,
        plaintext_check,
        chain: rounds.chain,
        split: template.loop_span(),
    })
}

/// The iterations of `p`'s top-level loop at `span` (the loop the rounds split).
fn trip_count(p: &crate::ir::Program, span: Span) -> Option<u64> {
    p.graph.nodes().find_map(|(_, n)| match &n.op {
        crate::ir::Op::Loop(l) if n.span == span => Some(l.trip_count()),
        _ => None,
    })
}

fn one_too_deep(source: &SourceFile, span: Span, levels: usize, why: &str) -> Diagnostic {
    Diagnostic::new(
        Code::TooDeep,
        source,
        span,
        format!(
            "even a round of one iteration does not fit the {levels} levels a bootstrap \
             leaves{why}"
        ),
    )
}

/// The round programs compiled so far, by (program key, length, whether the last round's).
struct Rounds<'a> {
    template: &'a RoundTemplate,
    /// The constant a round sets to its length, and the iterations of the whole loop.
    length: String,
    total: usize,
    options: &'a Options,
    pairs: Vec<(String, String)>,
    chain: BootstrapParams,
    unit: Option<hel_schedule::Unit>,
    /// The forms of the refreshed matrices (every round's must be the same).
    forms: Option<crate::ir::MatrixForms>,
    compiled: HashMap<RoundKey, Compiled>,
    /// Why the rounds that do not fit were refused, by the same key: a refusal names it.
    refusals: HashMap<RoundKey, String>,
    /// The whole program's samples run iteration by iteration ([`trajectories`]): where a
    /// round's samples take their state and data from.
    trajectories: Option<Vec<Trajectory>>,
}

/// One sample of the whole program (its declared inputs) and the state it reaches: the state
/// inputs' values at the start of every iteration, by input name.
struct Trajectory {
    inputs: HashMap<String, Value>,
    states: Vec<HashMap<String, Value>>,
}

/// The range analysis's samples of the whole program `whole`, each run one iteration at a time
/// through the template's one-iteration round programs, recording the state before every
/// iteration. A round's samples are then the program's own: the state a sample reaches at the
/// round's start, with that sample's data (an arbitrary state in [-1, 1] makes a contracting
/// iteration, Newton's for 1/x, look divergent, and rounds were cut short by values too large
/// for the chain). `None` where the interpreter cannot run them (the rounds then sample their
/// state from [-1, 1] as before).
fn trajectories(
    template: &RoundTemplate,
    whole: &crate::ir::Program,
    sets: &[(String, f64)],
    length: &str,
    total: usize,
) -> Option<Vec<Trajectory>> {
    let mut one = sets.to_vec();
    one.retain(|(n, _)| n != length);
    one.push((length.to_string(), 1.0));
    // One program per key: rounds that do not depend on their start share it.
    let mut programs: HashMap<usize, crate::ir::Program> = HashMap::new();
    for b in 0..total {
        if let std::collections::hash_map::Entry::Vacant(e) =
            programs.entry(template.program_key(b))
        {
            e.insert(template.frontend_for(b, false, &one).ok()?);
        }
    }
    let per_iteration = template.per_iteration_inputs();
    crate::analysis::ranges::sample_inputs(whole)
        .into_iter()
        .map(|sample| {
            let mut states = Vec::with_capacity(total);
            let mut state: HashMap<String, Value> = template
                .state()
                .iter()
                .filter(|s| s.starts_at_zeros)
                .map(|s| {
                    let zeros = Tensor {
                        shape: s.shape,
                        data: vec![0.0; s.shape.len()],
                    };
                    (s.input.clone(), Value::Tensor(zeros))
                })
                .collect();
            for b in 0..total {
                states.push(state.clone());
                let mut inputs = round_inputs(&sample, per_iteration, b, 1);
                inputs.extend(state.iter().map(|(k, v)| (k.clone(), v.clone())));
                let program = programs.get(&template.program_key(b))?;
                let outputs = crate::ir::interp::eval(program, &inputs).ok()?;
                for s in template.state() {
                    let v = outputs.iter().find(|(n, _)| *n == s.name)?.1.clone();
                    state.insert(s.input.clone(), v);
                }
            }
            Some(Trajectory {
                inputs: sample,
                states,
            })
        })
        .collect()
}

/// The inputs of a round of `len` iterations from `start` in the whole program's `sample`:
/// its elements of the per-iteration sequences, the other inputs whole.
fn round_inputs(
    sample: &HashMap<String, Value>,
    per_iteration: &std::collections::HashSet<String>,
    start: usize,
    len: usize,
) -> HashMap<String, Value> {
    sample
        .iter()
        .map(|(name, v)| {
            let v = match v {
                Value::Seq(ts) if per_iteration.contains(name) => Value::Seq(
                    ts.get(start..start + len)
                        .map_or_else(Vec::new, <[Tensor]>::to_vec),
                ),
                other => other.clone(),
            };
            (name.clone(), v)
        })
        .collect()
}

/// Which round program: its [`RoundTemplate::program_key`], its length, and whether it is
/// the last round's (which does what the program does after the loop).
type RoundKey = (usize, usize, bool);

impl Rounds<'_> {
    /// The samples of the round of `len` from `start` ([`trajectories`]): each sample's state
    /// at the round's start and its data. Rounds that share a program (it does not depend on
    /// the start) take, per sample, the start among theirs where the state is largest.
    fn given(&self, start: usize, len: usize) -> Option<crate::lower::GivenSamples> {
        let key = self.template.program_key(start);
        let starts: Vec<usize> = (0..=self.total.saturating_sub(len))
            .filter(|&b| self.template.program_key(b) == key)
            .collect();
        // The largest |entry| of a state; infinite where one is not finite (a sample on
        // which the program diverges says nothing about the rounds).
        let largest = |states: &HashMap<String, Value>| {
            states
                .values()
                .map(|v| match v {
                    Value::Tensor(t) => hel_schedule::max_abs(&t.data),
                    Value::Seq(_) => 0.0,
                })
                .fold(0.0f64, f64::max)
        };
        let samples = self
            .trajectories
            .as_ref()?
            .iter()
            .map(|t| {
                let Some((b, _)) = starts
                    .iter()
                    .filter_map(|&b| Some((b, largest(t.states.get(b)?))))
                    .filter(|(_, m)| m.is_finite())
                    .max_by(|x, y| x.1.total_cmp(&y.1))
                else {
                    // Diverged at every start: this sample is drawn as the others' would be.
                    return HashMap::new();
                };
                let mut inputs =
                    round_inputs(&t.inputs, self.template.per_iteration_inputs(), b, len);
                if let Some(states) = t.states.get(b) {
                    inputs.extend(states.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                inputs
            })
            .collect();
        Some(std::sync::Arc::new(samples))
    }

    /// `" (the compiler: WHY)"` for the round of `len` from `start` that did not fit, for
    /// refusals to name the real cause (levels, the base's range, the operation budget).
    fn why_not(&self, start: usize, len: usize) -> String {
        self.refusals
            .get(&self.key(start, len))
            .map_or(String::new(), |m| format!(" (the compiler: {m})"))
    }
}

impl Rounds<'_> {
    /// Among the round sizes up to `largest`, the one of least estimated server time for all
    /// `total` minibatches by `costs` on [`Options::server_threads`]: the rounds' operations
    /// (their work divided among the threads) and the bootstraps between them (one per state
    /// tile per refresh, priced whole for the chain, gaining little from threads). Fewer,
    /// deeper rounds save bootstraps but run every operation on more limbs. Each size is
    /// priced by its first round and the remainder's (the rounds differ only in constants).
    /// `None` without a bootstrap figure for the chain's ring. Ties go to the larger size.
    fn fastest(
        &mut self,
        total: usize,
        largest: usize,
        costs: &CostTable,
    ) -> Result<Option<(usize, String)>, Diagnostic> {
        let threads = self.options.server_threads.max(1);
        let Some(one) = costs.bootstrap_seconds_on(self.chain.log_n, self.chain.log_slots, threads)
        else {
            return Ok(None);
        };
        let top = self.chain.program_levels;
        let mut best: Option<(usize, f64, usize)> = None;
        let mut at_largest = f64::INFINITY;
        for k in (1..=largest).rev() {
            let plan = split(total, k);
            let mut work = 0.0;
            let mut per_refresh = 0;
            let mut fits = true;
            for len in [k, total % k].into_iter().filter(|&l| l > 0) {
                // Within the loop's iterations (see the sizing in `compile_rounds`).
                let start = if plan.len() > 1 {
                    self.template.later_start(len).min(total - len)
                } else {
                    0
                };
                let Some(c) = self.try_compile(start, len)? else {
                    fits = false;
                    break;
                };
                let s = &c.lowered.schedule;
                let count = plan.iter().filter(|r| r.1 == len).count();
                work += costs.schedule_work_seconds(s) * count as f64;
                per_refresh = bootstraps_between(s, s, top);
            }
            if !fits {
                continue;
            }
            let bootstraps = per_refresh * (plan.len() - 1);
            let seconds = work / threads as f64 + bootstraps as f64 * one;
            if k == largest {
                at_largest = seconds;
            }
            if best.is_none_or(|b| seconds < b.1) {
                best = Some((k, seconds, bootstraps));
            }
        }
        Ok(best.map(|(k, seconds, bootstraps)| {
            (
                k,
                format!(
                    "{k} per round is the fastest by the cost model ({seconds:.0} s estimated on \
                     {threads} thread(s) with {bootstraps} bootstraps of {one:.1} s each, \
                     against {at_largest:.0} s at {largest}: a deeper round runs every operation \
                     on more limbs)"
                ),
            )
        }))
    }

    /// The round of `len` minibatches from `start`, compiled for the chain's bottom; `None`
    /// when it is too deep for it. Other compile errors are the program's.
    /// The key of the round of `len` from `start`.
    fn key(&self, start: usize, len: usize) -> RoundKey {
        let last = self.template.has_tail() && start + len >= self.total;
        (self.template.program_key(start), len, last)
    }

    fn try_compile(&mut self, start: usize, len: usize) -> Result<Option<&Compiled>, Diagnostic> {
        let key = self.key(start, len);
        if !self.compiled.contains_key(&key) {
            let params = self.chain.program_params().map_err(|e| {
                Diagnostic::new(
                    Code::Params,
                    self.template.source(),
                    self.template.loop_span(),
                    format!("the bootstrapping chain: {e}"),
                )
            })?;
            let mut sets = self.options.sets.clone();
            sets.retain(|(n, _)| *n != self.length);
            sets.push((self.length.clone(), len as f64));
            let options = Options {
                sets,
                params: Some(params),
                fit_special_primes: true,
                raise_scale: false,
                keep_best: false,
                refresh: self.pairs.clone(),
                unit: self.unit,
                refresh_forms: self.forms,
                samples: self.given(start, len),
                ..self.options.clone()
            };
            match self.template.compile_for(start, key.2, &options) {
                Ok(c) => {
                    self.compiled.insert(key, c);
                }
                // Under the chain's bottom, a round too deep for its levels is refused as
                // parameters too small, or as beyond the operation budget or the base's range.
                Err(d)
                    if matches!(
                        d.code,
                        Code::TooDeep | Code::Budget | Code::Params | Code::Range
                    ) =>
                {
                    self.refusals.insert(key, d.message);
                    return Ok(None);
                }
                Err(d) => return Err(d),
            }
        }
        Ok(self.compiled.get(&key))
    }
}

/// `(first iteration, length)` of rounds of `per_round` minibatches over `total` (the last
/// takes the remainder).
pub fn split(total: usize, per_round: usize) -> Vec<(usize, usize)> {
    let per_round = per_round.clamp(1, total.max(1));
    (0..total)
        .step_by(per_round)
        .map(|start| (start, per_round.min(total - start)))
        .collect()
}

/// The largest k in `1..=max` for which `fits(k)` (which must be monotone: true up to some k,
/// false above), by galloping up from 1 (1, 2, 4, ...) and then bisecting. A circuit that is
/// too deep is only found out after its lowering, and compile time grows with k (NAG: about
/// 3 s at k = 6, a minute at k = 32), so probing from below never compiles anything larger than
/// twice the answer.
pub fn largest_fitting<E>(
    max: usize,
    mut fits: impl FnMut(usize) -> Result<bool, E>,
) -> Result<Option<usize>, E> {
    // lo: the largest k known to fit (0: none); hi: the smallest known not to (max + 1: none).
    let (mut lo, mut hi) = (0, max + 1);
    let mut k = 1;
    while k < hi {
        if fits(k)? {
            lo = k;
            if k == max {
                break;
            }
            k = (2 * k).min(max);
        } else {
            hi = k;
        }
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok((lo > 0).then_some(lo))
}
