//! Bootstraps placed by the compiler (`--refresh bootstrap`): a training loop deeper than one
//! parameter set holds, compiled into one schedule in which the server refreshes the model's
//! state itself.
//!
//! The loop is cut into rounds (the [`RoundTemplate`]'s round programs, each state vector an
//! input pinned to the packing the bootstrap refreshes), every round is compiled for the
//! bottom of a bootstrapping chain ([`BootstrapParams::program_params`]), and the round
//! schedules are joined into one: round r + 1's state input ciphertexts become
//! [`Instr::Bootstrap`] nodes of round r's state output tiles, landing on the level and scale
//! the next round expects; round 1's state is a noiseless [`Instr::Trivial`] where it starts
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

use std::collections::{HashMap, HashSet};

use hel_schedule::bootstrap::{bootstraps_between, shares_bootstrap};
use hel_schedule::cost::CostTable;
use hel_schedule::{
    BootstrapParams, ClientOp, CtInput, DerivedTensor, Instr, Layout, Node, Pack, Plain, Schedule,
    Source, TensorInput, ValueId,
};

use super::RoundTemplate;
use crate::diagnostics::{Code, Diagnostic};
use crate::driver::{Compiled, Options, PLAINTEXT_CHECK_TOLERANCE};
use crate::source::{SourceFile, Span};

/// Seed of the plaintext check and the bounds' random inputs (fixed: compiling is
/// deterministic).
const SEED: u64 = 0x68656c;

/// A training loop compiled with bootstraps between its rounds.
#[derive(Clone, Debug)]
pub struct Bootstrapped {
    /// The joined schedule: every round, the bootstraps between them.
    pub schedule: Schedule,
    /// `(first minibatch, minibatches)` of every round.
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
}

/// Compiles `source`'s training loop in rounds joined by bootstraps of `rule`'s chain (the
/// full-slot rule; the chain actually used is its sparse-slot variant for the state's grid,
/// [`BootstrapParams::fewest_slots`]). `round_size` forces the minibatches per round.
/// Programs the rounds cannot be cut from are refused with a [`Code::Rounds`] diagnostic at
/// what stops them; a round of one minibatch deeper than the chain's program levels with
/// [`Code::TooDeep`].
pub fn compile_bootstrapped(
    source: &SourceFile,
    options: &Options,
    rule: &BootstrapParams,
    round_size: Option<usize>,
    costs: &CostTable,
) -> Result<Bootstrapped, Diagnostic> {
    let whole = crate::frontend_limited(source, &options.sets, &options.limits)?;
    let at = |span: Span, code: Code, m: String| Diagnostic::new(code, source, span, m);
    let template = RoundTemplate::with_sets(source, &options.sets)?;
    // The rounds split the loop's iterations (the minibatches, or the passes over one data
    // set): each round program runs `k` of them, the constant `k` set to its length.
    let not_k = || {
        at(
            template.loop_span(),
            Code::Rounds,
            "cannot bootstrap between rounds: the loop must run from 0 to a constant \
             (`for i in 0..k`), which each round sets to its number of iterations, and \
             nothing else may depend on that constant"
                .to_string(),
        )
        .with_label("this loop")
    };
    let length = template.length_const().ok_or_else(not_k)?.to_string();
    let total = trip_count(&whole).ok_or_else(not_k)? as usize;
    let mut one = options.sets.clone();
    one.retain(|(n, _)| *n != length);
    one.push((length.clone(), 1.0));
    if template
        .frontend(0, &one)
        .ok()
        .as_ref()
        .and_then(trip_count)
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
    let mut rounds = Rounds {
        template: &template,
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
    let state_slots = if template
        .state()
        .iter()
        .any(|s| matches!(s.shape, crate::ir::Shape::Matrix(..)))
    {
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
            // the state's start): the first is shortened below if it does not fit.
            let sized = |k: usize| {
                if k < total {
                    template.later_start(k)
                } else {
                    0
                }
            };
            let largest =
                largest_fitting(total, |k| Ok(rounds.try_compile(sized(k), k)?.is_some()))?
                    .ok_or_else(|| {
                        one_too_deep(
                            source,
                            template.loop_span(),
                            levels,
                            &rounds.why_not(sized(1), 1),
                        )
                    })?;
            let why = if largest == total {
                format!("all {total} minibatches fit one round within the {levels} levels a bootstrap leaves")
            } else {
                format!(
                    "a round holds at most {largest} minibatch(es) within the {levels} levels a \
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
                        "the round of {len} minibatch(es) from minibatch {start} does not fit \
                         the {levels} levels a bootstrap leaves{}{}",
                        rounds.why_not(start, len),
                        if round_size.is_some() {
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
            "{reason}; shorter rounds from minibatch(es) {shortened:?}, where a round of \
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
    let samples = crate::analysis::ranges::Samples::of(&whole);
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
    let differences = crate::lower::verify::differences(&whole, &schedule, SEED).map_err(|m| {
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
    })
}

/// The iterations of `p`'s one top-level loop.
fn trip_count(p: &crate::ir::Program) -> Option<u64> {
    let mut loops = p.graph.nodes().filter_map(|(_, n)| match &n.op {
        crate::ir::Op::Loop(l) => Some(l.trip_count()),
        _ => None,
    });
    match (loops.next(), loops.next()) {
        (Some(t), None) => Some(t),
        _ => None,
    }
}

fn one_too_deep(source: &SourceFile, span: Span, levels: usize, why: &str) -> Diagnostic {
    Diagnostic::new(
        Code::TooDeep,
        source,
        span,
        format!(
            "even a round of one minibatch does not fit the {levels} levels a bootstrap \
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
}

/// Which round program: its [`RoundTemplate::program_key`], its length, and whether it is
/// the last round's (which does what the program does after the loop).
type RoundKey = (usize, usize, bool);

impl Rounds<'_> {
    /// `" (the compiler: WHY)"` for the round of `len` from `start` that did not fit, for
    /// refusals to name the real cause (levels, the base's range, the operation budget).
    fn why_not(&self, start: usize, len: usize) -> String {
        self.refusals
            .get(&self.key(start, len))
            .map_or(String::new(), |m| format!(" (the compiler: {m})"))
    }
}

impl Rounds<'_> {
    /// Among the round sizes up to `largest`, the one of least estimated single-thread work
    /// for all `total` minibatches by `costs`: the rounds' operations and the bootstraps
    /// between them (one per state tile per refresh, priced whole for the chain). Fewer,
    /// deeper rounds save bootstraps but run every operation on more limbs. Each size is
    /// priced by its first round and the remainder's (the rounds differ only in constants).
    /// `None` without a bootstrap figure for the chain's ring. Ties go to the larger size.
    fn fastest(
        &mut self,
        total: usize,
        largest: usize,
        costs: &CostTable,
    ) -> Result<Option<(usize, String)>, Diagnostic> {
        let Some(one) = costs.bootstrap_seconds(self.chain.log_n, self.chain.log_slots) else {
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
                let start = if plan.len() > 1 {
                    self.template.later_start(len)
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
            let seconds = work + bootstraps as f64 * one;
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
                    "{k} per round is the fastest by the cost model ({seconds:.0} s of estimated \
                     work with {bootstraps} bootstraps of {one:.1} s each, against \
                     {at_largest:.0} s at {largest}: a deeper round runs every operation on more \
                     limbs)"
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
                raise_scale: false,
                keep_best: false,
                refresh: self.pairs.clone(),
                unit: self.unit,
                refresh_forms: self.forms,
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

/// Joins the round schedules (`(first iteration, schedule)` in order) into one schedule over
/// `total` minibatches that bootstraps with `chain` between them (see the module comment),
/// whose outputs are the program's `outputs` (a round also outputs the rest of its state:
/// NAG's momentum, which the user's program does not). The sequence inputs named in
/// `per_iteration` have one element per iteration (a round's element j is the program's
/// start + j); the other inputs are the same in every round.
pub fn join(
    rounds: &[(usize, &Schedule)],
    total: usize,
    chain: &BootstrapParams,
    outputs: &[&str],
    per_iteration: &HashSet<String>,
) -> Result<Schedule, String> {
    let (_, first) = rounds.first().ok_or("no round")?;
    // The parameters: the round with the most levels (the others' primes are its bottom).
    let (_, deepest) = rounds
        .iter()
        .max_by_key(|(_, s)| s.params.q_bits.len())
        .ok_or("no round")?;
    for (_, s) in rounds {
        let p = &s.params;
        if s.unit != first.unit
            || p.log_n != deepest.params.log_n
            || p.log_scale != deepest.params.log_scale
            || !deepest.params.q_bits.starts_with(&p.q_bits)
            || !deepest.level_scales.starts_with(&s.level_scales)
        {
            return Err("the rounds do not share one grid and one chain".into());
        }
    }
    // The whole program's inputs: the rounds' own, without the state, sequences at full length.
    let inputs: Vec<TensorInput> = first
        .inputs
        .iter()
        .filter(|i| i.refreshed_from.is_none())
        .map(|i| TensorInput {
            seq: i.seq.map(|n| {
                if per_iteration.contains(&i.name) {
                    total
                } else {
                    n
                }
            }),
            ..i.clone()
        })
        .collect();
    let mut out = Schedule {
        name: String::new(),
        program_hash: String::new(),
        params: deepest.params.clone(),
        level_scales: deepest.level_scales.clone(),
        unit: first.unit,
        inputs,
        derived: Vec::new(),
        ct_inputs: Vec::new(),
        nodes: Vec::new(),
        outputs: Vec::new(),
        rotation_steps: Vec::new(),
        needs_conjugation: false,
        hoist_groups: Vec::new(),
        bootstrap: Some(chain.clone()),
    };
    // Each round's state output tiles, by (output name, layout): the merged value.
    let mut leaving: Vec<(String, hel_schedule::Layout, ValueId, f64)> = Vec::new();
    for (r, &(start, s)) in rounds.iter().enumerate() {
        // The round's state, made first: zeros for the first round, else the bootstraps of
        // the previous round's state tiles (two to a bootstrap where they can share one).
        let state = state_nodes(&mut out, s, r, &leaving, chain.program_levels)?;
        let mut joiner = Joiner::new(&mut out, s, start, r, per_iteration);
        let mut map: Vec<ValueId> = Vec::with_capacity(s.nodes.len());
        for node in &s.nodes {
            let m = |a: ValueId| map.get(a as usize).copied().ok_or("a dangling operand");
            let instr = match &node.instr {
                Instr::Input { index } if s.is_refreshed_ct(*index as usize) => {
                    let v = state
                        .get(index)
                        .copied()
                        .ok_or("a state input without its node")?;
                    map.push(v);
                    continue;
                }
                Instr::Input { index } => Instr::Input {
                    index: joiner.ct_input(*index)?,
                },
                other => {
                    let mut instr = other.clone();
                    remap_operands(&mut instr, &m)?;
                    if let Instr::AddPlain { plain, .. }
                    | Instr::MulPlain { plain, .. }
                    | Instr::Trivial { plain, .. } = &mut instr
                    {
                        if let Plain::Public { pack } = plain {
                            pack.source = joiner.source(pack.source)?;
                        }
                    }
                    instr
                }
            };
            let id = joiner.out.nodes.len() as ValueId;
            joiner.out.nodes.push(Node {
                instr,
                last_use: None,
                ..node.clone()
            });
            map.push(id);
        }
        let m = |a: ValueId| map.get(a as usize).copied().ok_or("a dangling output");
        out.hoist_groups.extend(
            s.hoist_groups
                .iter()
                .map(|g| g.iter().map(|&v| m(v)).collect::<Result<Vec<_>, _>>())
                .collect::<Result<Vec<_>, _>>()?,
        );
        out.rotation_steps.extend(&s.rotation_steps);
        out.needs_conjugation |= s.needs_conjugation;
        leaving.clear();
        for o in &s.outputs {
            for t in &o.tiles {
                leaving.push((o.name.clone(), t.layout, m(t.value)?, t.factor));
            }
        }
        if r + 1 == rounds.len() {
            out.outputs = outputs
                .iter()
                .map(|name| {
                    s.outputs
                        .iter()
                        .find(|o| o.name == *name)
                        .ok_or_else(|| format!("the last round has no output `{name}`"))
                })
                .collect::<Result<Vec<_>, String>>()?
                .into_iter()
                .map(|o| {
                    let mut o = o.clone();
                    // A matrix the rounds carry in both forms leaves the server in one.
                    let first = o.tiles.first().map(|t| t.layout);
                    if let Some(Layout::MatrixTile { transposed, .. }) = first {
                        o.tiles.retain(|t| {
                            matches!(t.layout, Layout::MatrixTile { transposed: x, .. } if x == transposed)
                        });
                    }
                    for t in &mut o.tiles {
                        t.value = m(t.value)?;
                    }
                    Ok(o)
                })
                .collect::<Result<Vec<_>, &str>>()?;
        }
    }
    out.rotation_steps.sort_unstable();
    out.rotation_steps.dedup();
    out.compute_liveness();
    Ok(out)
}

/// The nodes that start round `r`'s state (schedule `s`), appended to `out`: by input
/// ciphertext, its value. The first round's state is `zeros(n)`, a noiseless ciphertext of
/// zeros; a later round's is the bootstrap of the previous round's output tile of the same
/// packing (`leaving`), landing on the level and scale the round's input expects. Two tiles
/// in a row share one bootstrap where [`shares_bootstrap`] allows (NAG's weights and
/// momentum: one bootstrap per refresh), `top` being the level a bootstrap leaves.
fn state_nodes(
    out: &mut Schedule,
    s: &Schedule,
    r: usize,
    leaving: &[(String, hel_schedule::Layout, ValueId, f64)],
    top: usize,
) -> Result<HashMap<u32, ValueId>, String> {
    struct Job {
        index: u32,
        /// The previous round's tile and the scale it leaves at.
        value: ValueId,
        leaves: f64,
        level: u32,
        scale: f64,
        origin: hel_schedule::Origin,
    }
    let mut jobs = Vec::new();
    for (i, ct) in s.ct_inputs.iter().enumerate() {
        if !s.is_refreshed_ct(i) {
            continue;
        }
        let from = match ct.pack.source {
            Source::Input { input, .. } => s.inputs[input as usize]
                .refreshed_from
                .clone()
                .ok_or("a refreshed input without its output")?,
            Source::Derived { .. } => return Err("a derived state input".into()),
        };
        let origin = s
            .nodes
            .iter()
            .find(|n| matches!(n.instr, Instr::Input { index } if index as usize == i))
            .map(|n| n.origin.clone())
            .unwrap_or_default();
        let (value, leaves) = if r == 0 {
            (0, 0.0)
        } else {
            let (.., value, factor) = leaving
                .iter()
                .find(|(n, l, ..)| *n == from && *l == ct.pack.layout)
                .ok_or_else(|| {
                    format!(
                        "round {r} leaves no tile of `{from}` in the packing round {} takes",
                        r + 1
                    )
                })?;
            if *factor != 1.0 || ct.pack.factor != 1.0 {
                return Err(format!("`{from}` crosses the rounds with a factor"));
            }
            (*value, out.nodes[*value as usize].scale)
        };
        jobs.push(Job {
            index: i as u32,
            value,
            leaves,
            level: ct.level,
            scale: ct.scale,
            origin,
        });
    }
    let mut state = HashMap::new();
    let mut push = |out: &mut Schedule, instr: Instr, job: &Job| {
        let id = out.nodes.len() as ValueId;
        out.nodes.push(Node {
            instr,
            level: job.level,
            scale: job.scale,
            degree: 1,
            bound: 0.0,
            origin: job.origin.clone(),
            last_use: None,
        });
        state.insert(job.index, id);
        id
    };
    let mut k = 0;
    while k < jobs.len() {
        let a = &jobs[k];
        if r == 0 {
            let zeros = Instr::Trivial {
                plain: Plain::Rect {
                    value: 0.0,
                    rows: (0, s.unit.h as u32),
                    cols: (0, s.unit.w as u32),
                },
                level: a.level,
                scale: a.scale,
            };
            push(out, zeros, a);
            k += 1;
            continue;
        }
        let pair = jobs.get(k + 1).filter(|b| {
            shares_bootstrap(
                (a.leaves, a.scale),
                (b.leaves, b.level as usize, b.scale),
                top,
            )
        });
        let x = push(
            out,
            Instr::Bootstrap {
                a: a.value,
                level: a.level,
                scale: a.scale,
                with: pair.map(|b| b.value),
            },
            a,
        );
        if let Some(b) = pair {
            let paired = Instr::BootstrapPaired {
                x,
                b: b.value,
                level: b.level,
                scale: b.scale,
            };
            push(out, paired, b);
            k += 2;
        } else {
            k += 1;
        }
    }
    Ok(state)
}

/// Maps every operand of `instr` through `m`.
fn remap_operands(
    instr: &mut Instr,
    m: &impl Fn(ValueId) -> Result<ValueId, &'static str>,
) -> Result<(), &'static str> {
    for a in instr.operands_mut() {
        *a = m(*a)?;
    }
    Ok(())
}

/// Moves one round's client side (derived tensors, input ciphertexts) into the joined
/// schedule: its user inputs are the whole program's, its minibatch indices shifted by the
/// round's start; equal derived tensors and ciphertexts are shared.
struct Joiner<'o, 's> {
    out: &'o mut Schedule,
    round: &'s Schedule,
    start: usize,
    r: usize,
    /// The round's derived tensor index -> the joined one.
    derived: HashMap<u32, u32>,
    per_iteration: &'s HashSet<String>,
}

impl<'o, 's> Joiner<'o, 's> {
    fn new(
        out: &'o mut Schedule,
        round: &'s Schedule,
        start: usize,
        r: usize,
        per_iteration: &'s HashSet<String>,
    ) -> Self {
        Joiner {
            out,
            round,
            start,
            r,
            derived: HashMap::new(),
            per_iteration,
        }
    }

    /// The joined user input and element of the round's input `input`, element `element`.
    fn input(&self, input: u32, element: u32) -> Result<(u32, u32), String> {
        let decl = self
            .round
            .inputs
            .get(input as usize)
            .ok_or("a missing input")?;
        let j = self
            .out
            .inputs
            .iter()
            .position(|i| i.name == decl.name)
            .ok_or_else(|| format!("input `{}` is not the program's", decl.name))?;
        let element = if decl.seq.is_some() && self.per_iteration.contains(&decl.name) {
            element as usize + self.start
        } else {
            element as usize
        };
        Ok((j as u32, element as u32))
    }

    fn source(&mut self, s: Source) -> Result<Source, String> {
        Ok(match s {
            Source::Input { input, element } => {
                let (input, element) = self.input(input, element)?;
                Source::Input { input, element }
            }
            Source::Derived { index } => Source::Derived {
                index: self.derived(index)?,
            },
        })
    }

    fn derived(&mut self, index: u32) -> Result<u32, String> {
        if let Some(&j) = self.derived.get(&index) {
            return Ok(j);
        }
        let d = self
            .round
            .derived
            .get(index as usize)
            .ok_or("a missing derived tensor")?;
        let ops = d
            .ops
            .iter()
            .map(|op| match op {
                ClientOp::Input { input, element } => {
                    let (input, element) = self.input(*input, *element)?;
                    Ok(ClientOp::Input { input, element })
                }
                other => Ok(other.clone()),
            })
            .collect::<Result<Vec<_>, String>>()?;
        let j = match self
            .out
            .derived
            .iter()
            .position(|e| e.ops == ops && e.shape == d.shape)
        {
            Some(j) => j,
            None => {
                let (name, description) = if self.r == 0 {
                    (d.name.clone(), d.description.clone())
                } else {
                    (
                        format!("{}@{}", d.name, self.start),
                        format!(
                            "{} (round {}: minibatch indices from {})",
                            d.description,
                            self.r + 1,
                            self.start
                        ),
                    )
                };
                self.out.derived.push(DerivedTensor {
                    name,
                    description,
                    shape: d.shape,
                    ops,
                });
                self.out.derived.len() - 1
            }
        } as u32;
        self.derived.insert(index, j);
        Ok(j)
    }

    /// The joined input ciphertext of the round's `index` (shared with an equal one).
    fn ct_input(&mut self, index: u32) -> Result<u32, String> {
        let ct = self
            .round
            .ct_inputs
            .get(index as usize)
            .ok_or("a missing input ciphertext")?;
        let moved = CtInput {
            pack: Pack {
                source: self.source(ct.pack.source)?,
                ..ct.pack
            },
            ..ct.clone()
        };
        let j = match self.out.ct_inputs.iter().position(|c| *c == moved) {
            Some(j) => j,
            None => {
                self.out.ct_inputs.push(moved);
                self.out.ct_inputs.len() - 1
            }
        };
        Ok(j as u32)
    }
}
