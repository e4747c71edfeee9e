//! Lowering: the optimized tensor IR to a CKKS [`Schedule`].
//!
//! The steps, in order (each a file):
//! 1. `grid` chooses the slot grid and the depth's slack by estimated server time; `layout`
//!    chooses orientations and forms, and rewrites tensor ops into slot-level ops (Hadamard
//!    products, rotate-and-sum, masks) — `ctir` holds the result.
//!    The `oracle` prices every (node, layout) in levels, the `plan` picks orientations from
//!    those prices alone, then `layout` emits, through `elementwise`, `reduce` and `products`
//!    on the primitives of `emit`;
//! 2. `manage` (first run, abstract chain): levels, rescales, relinearizations, alignments,
//!    which gives the ciphertext depth and the level each input is first needed at;
//! 3. [`params`]: N, the prime chain, the scale and the key-switching digits for that depth
//!    (always 128-bit security), with a base wide enough for the
//!    outputs' ranges ([`crate::analysis::ranges`]);
//! 4. `manage` again on the real chain, giving exact scales;
//! 5. `client`: derived inputs as client-side ops; [`bounds`]: the magnitude of every value
//!    (which must fit its modulus, else the base is widened and the lowering redone) and the
//!    predicted error per node (which must meet the precision target relative to each output's
//!    range, else the scale is raised and the lowering redone); `check`: level/scale/degree
//!    checker; rotation keys and hoisting groups.

pub mod bounds;
mod check;
mod client;
mod ctir;
mod elementwise;
mod emit;
mod fit;
mod fold_consts;
mod grid;
mod layout;
pub mod level_path;
mod manage;
mod matmul;
mod oracle;
mod outscale;
pub mod params;
mod plan;
pub mod price;
mod products;
mod reduce;
pub mod report;
pub mod verify;
mod why;

use hel_schedule::CkksParams;
use hel_schedule::{OutputTile, Schedule, TensorInput, TensorOutput, Unit};

use crate::analysis::ranges::{ranges_on, Ranges, Samples};
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::Program;
use fit::{Attempt, Raised};
use grid::{choose_layout, Laid};
use manage::{manage, Chain};
pub use params::{ParamChoice, ParamRequest};

/// Options of the lowering.
#[derive(Clone, Debug)]
pub struct LowerOptions {
    /// Parameter request (precision target, forced parameters).
    pub params: ParamRequest,
    /// Name of the program (the source file name).
    pub name: String,
    /// Most slot-level operations of one candidate layout ([`crate::Limits::max_ct_ops`]).
    pub max_ct_ops: u64,
    /// The slot grid to lay out on, instead of choosing one: rounds whose state the server
    /// refreshes must share the grid their state is packed on. Ignored if its slot count is
    /// not the ring's.
    pub unit: Option<Unit>,
    /// Input values of the range analysis's samples, by sample ([`Samples::of_given`]).
    pub samples: Option<GivenSamples>,
}

/// Input values for the range analysis's samples, one map per sample (see
/// [`Samples::of_given`]), shared by the compilations that use them.
pub type GivenSamples =
    std::sync::Arc<Vec<std::collections::HashMap<String, crate::ir::interp::Value>>>;

/// A lowered program and what was decided on the way.
#[derive(Clone, Debug)]
pub struct Lowered {
    pub schedule: Schedule,
    pub params: ParamChoice,
    /// How many bits the outputs' predicted precision falls short of the target (0 when they
    /// meet it): what [`raise`] raises the scale by.
    pub deficit: f64,
}

/// Abstract top level for the first management run.
const ABSTRACT_TOP: u32 = 1 << 14;

/// Lowerings tried before the parameter selection is given up as not converging.
const MAX_ATTEMPTS: usize = 10;

/// Lowers an optimized, loop-free program to a schedule.
pub fn lower(p: &Program, opts: &LowerOptions) -> Result<Lowered, Diagnostic> {
    lower_or_depth(p, opts).map_err(|e| e.diagnostic)
}

/// A lowering that stopped, with the circuit's ciphertext depth when the layout and the level
/// management got that far: when no parameter set holds the circuit (too deep for the 128-bit
/// budget, or deeper than `--params`), the depth is known and `depth` is `Some`.
#[derive(Clone, Debug)]
pub struct LowerError {
    pub diagnostic: Diagnostic,
    /// Levels the circuit consumes (the depth the parameter selection was asked for).
    pub depth: Option<u32>,
}

impl From<Diagnostic> for LowerError {
    fn from(diagnostic: Diagnostic) -> Self {
        LowerError {
            diagnostic,
            depth: None,
        }
    }
}

/// The largest predicted precision deficit (bits) the scale is raised for. Beyond it the
/// prediction is dominated by inputs on which the program diverges (logistic regression on
/// random data predicts a few bits where it keeps 20 on real data), and a larger scale would
/// mostly cost a larger ring.
const MAX_SCALE_RAISE_BITS: f64 = 4.0;

/// [`lower`], keeping the ciphertext depth of a circuit no parameter set fits.
///
/// When the outputs' predicted precision falls a few bits short of the target
/// (`MAX_SCALE_RAISE_BITS` at most, plus how far below 1 a small output is), the program is
/// lowered again with the scale raised by
/// the deficit, and that plan is kept when it has the same depth, on the same ring, with as many
/// primes a level, and meets the target (the larger primes cost nothing in levels or ring; the
/// explanation says why).
pub fn lower_or_depth(p: &Program, opts: &LowerOptions) -> Result<Lowered, LowerError> {
    let l = lower_best(p, opts)?;
    if !opts.params.raise_scale {
        return Ok(l);
    }
    Ok(raise(p, opts, &l).unwrap_or(l))
}

/// For `l` (a lowering of `p` under `opts` without raising the scale), the lowering with the
/// scale raised by its precision deficit, where that plan is as deep, on the same ring, with as
/// many primes a level, and meets the target (see [`lower_or_depth`]); `None` keeps `l`. The
/// compiler compares candidate programs on their lowerings at the requested scale and raises
/// the one it keeps.
pub fn raise(p: &Program, opts: &LowerOptions, l: &Lowered) -> Option<Lowered> {
    let target = opts.params.precision_bits as f64;
    let cap = MAX_SCALE_RAISE_BITS + small_output_bits(&l.schedule, target);
    if l.deficit <= 0.0 || l.deficit > cap || opts.params.forced.is_some() {
        return None;
    }
    let mut raised = opts.clone();
    raised.params.extra_scale_bits = l.deficit.ceil() as u32 + 1;
    raised.params.max_log_n = l.schedule.params.log_n;
    lower_best(p, &raised).ok().filter(|r| {
        r.deficit <= 0.0
            && r.params.depth == l.params.depth
            && r.params.group == l.params.group
            && r.schedule.params.log_n == l.schedule.params.log_n
    })
}

/// How far below 1, in bits, the output of `s` that falls furthest short of `target` bits is.
/// CKKS noise is absolute, so that much of its deficit is its size, which a larger scale
/// removes (not the divergence on random inputs that [`MAX_SCALE_RAISE_BITS`] guards against):
/// an output of 2^-12 predicted 8 bits short is raised 9 bits within the same primes a level.
fn small_output_bits(s: &Schedule, target: f64) -> f64 {
    s.outputs
        .iter()
        .filter(|o| o.range > 0.0 && o.range.is_finite() && o.bound > 0.0)
        .map(|o| (target - (o.range / o.bound).log2(), o.range))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map_or(0.0, |(_, range)| (-range.log2()).max(0.0))
}

/// The lowering of `p` (plain or with scaled outputs, see `outscale`), with its predicted
/// precision deficit.
fn lower_best(p: &Program, opts: &LowerOptions) -> Result<Lowered, LowerError> {
    // Outputs whose small constants can move into a power-of-two output factor are lowered
    // both ways: the scaled plan is kept when it is as cheap (same depth, no larger ring), or
    // when only it meets the precision target (see `outscale`).
    let scaled = outscale::scale_outputs(p);
    let ones = vec![1.0; p.outputs.len()];
    if scaled.factors == ones || opts.params.forced.is_some() {
        return lower_program(p, opts, &ones);
    }
    let plain = lower_program(p, opts, &ones);
    let Ok(s) = lower_program(&scaled.program, opts, &scaled.factors) else {
        return plain;
    };
    match plain {
        Ok(l) => {
            let cheap = s.params.depth <= l.params.depth
                && s.schedule.params.log_n <= l.schedule.params.log_n;
            let (meets, s_meets) = (l.deficit <= 0.0, s.deficit <= 0.0);
            Ok(if cheap || (s_meets && !meets) { s } else { l })
        }
        Err(_) => Ok(s),
    }
}

/// Lowers `p` whose outputs are computed times `factors`: the parameter selection's loop.
/// Also gives the outputs' predicted precision deficit (0 when they meet the target).
fn lower_program(p: &Program, opts: &LowerOptions, factors: &[f64]) -> Result<Lowered, LowerError> {
    // The slot count depends on N, which depends on the depth, which does not depend on N:
    // lower once at a guess, pick parameters, and lower again if N changed (or if the values
    // need a wider base than the guess).
    let mut log_n = opts.params.forced.as_ref().map_or(15, |f| f.log_n);
    // Laid out at the guess before the samples are drawn: a circuit that no ring holds even
    // with the base's default headroom (more only costs more bits) is refused on its layout
    // alone (`logreg_tabular.hel`'s twenty iterations took a second of sampling, only to be
    // refused). The layout stands unless the samples raise the headroom.
    let mut placed = match opts.params.forced {
        None => Some(place(p, opts, 1 << (log_n - 1), &Raised::default())?),
        Some(_) => None,
    };
    let samples = Samples::of_given(p, opts.samples.as_deref().map_or(&[], |g| g));
    let ranges = ranges_on(p, &samples);
    let mut req = opts.params.clone();
    let mut why = Raised::default();
    if req.forced.is_none() {
        // The outputs live at the lowest level: the base holds their ranges from the start.
        let (bits, node) = fit::output_headroom(p, &ranges)?;
        if bits > req.headroom_bits {
            req.headroom_bits = bits;
            why.range = node;
            placed = None;
        }
    }
    let mut ring_changes = 0;
    for _ in 0..MAX_ATTEMPTS {
        let slots = 1usize << (log_n - 1);
        let o = LowerOptions {
            params: req.clone(),
            name: opts.name.clone(),
            max_ct_ops: opts.max_ct_ops,
            unit: opts.unit,
            samples: opts.samples.clone(),
        };
        let placed = match placed.take() {
            Some(placed) => placed,
            None => place(p, &o, slots, &why)?,
        };
        match lower_at(p, &o, slots, placed, (&ranges, &samples), factors)? {
            Attempt::Done(mut l) if l.schedule.params.log_n == log_n => {
                l.deficit = fit::precision_deficit(p, &l.schedule, &ranges, opts, factors);
                return Ok(*l);
            }
            Attempt::Done(l) => {
                ring_changes += 1;
                if ring_changes > 3 {
                    break;
                }
                log_n = l.schedule.params.log_n;
            }
            Attempt::Wider { headroom, node } => {
                req.headroom_bits = req.headroom_bits.max(headroom);
                why.range = Some(node);
            }
        }
    }
    Err(Diagnostic::new(
        Code::Internal,
        &p.source,
        crate::Span::new(0, 0),
        "internal: the parameter selection did not converge".to_string(),
    )
    .into())
}

/// The ciphertext depth of `p`: the levels it consumes once laid out and managed, whether or
/// not a parameter set holds it (`hel depth` reports it for circuits too deep to compile).
pub fn ciphertext_depth(p: &Program, opts: &LowerOptions) -> Result<u32, Diagnostic> {
    match lower_or_depth(p, opts) {
        Ok(l) => Ok(l.schedule.depth()),
        Err(LowerError { depth: Some(d), .. }) => Ok(d),
        Err(e) => Err(e.diagnostic),
    }
}

/// The ciphertext depth of `p` laid out on the slots of a ring of 2^`log_n` and managed, before
/// anything is sampled, simulated or fitted to parameters: the part of a lowering that decides
/// the depth, a small fraction of its time on large schedules (an encrypted matrix product's
/// 48,000 nodes take 12 s to lower, most of it simulating slots). The least over the outputs
/// as written and with their constants moved into output factors (`outscale`), the two
/// plans the lowering chooses from. The driver skips lowering a candidate program that comes
/// out deeper here than the best schedule so far on its ring.
pub fn laid_out_depth(p: &Program, opts: &LowerOptions, log_n: u32) -> Result<u32, Diagnostic> {
    let depth = |p: &Program| -> Result<u32, Diagnostic> {
        let laid = choose_layout(p, opts, 1 << (log_n.clamp(2, 20) - 1))?;
        Ok(managed_on_abstract_chain(p, &laid)?.1)
    };
    let plain = depth(p)?;
    let scaled = outscale::scale_outputs(p);
    if scaled.factors.iter().all(|&f| f == 1.0) || opts.params.forced.is_some() {
        return Ok(plain);
    }
    Ok(depth(&scaled.program).map_or(plain, |d| d.min(plain)))
}

/// Where a program that is too deep gets that deep: the source of its deepest output value,
/// with the loop iteration that computes it. Depth accumulates along the loop, so this points
/// at the loop body's last step rather than at the top of the file.
fn deepest_output(p: &Program, m: &manage::Managed, depth: u32) -> (crate::Span, String) {
    let deepest = m
        .outputs
        .iter()
        .filter_map(|&v| m.nodes.get(v as usize))
        .min_by_key(|n| n.level)
        .map(|n| n.origin.tensor_node as usize)
        .filter(|&t| t < p.graph.ids().len())
        .map(|t| p.graph.node(crate::ir::NodeId::new(t)));
    match deepest {
        Some(node) => (
            node.span,
            format!("depth {depth} is reached here{}", node.iteration_note()),
        ),
        None => (crate::Span::new(0, 0), "here".into()),
    }
}

/// A program laid out on `slots` and its level management on the abstract chain, with the
/// parameters its depth needs ([`place`]).
struct Placed<'p> {
    laid: Laid<'p>,
    choice: params::ParamChoice,
}

/// Lays `p` out on `slots` ([`choose_layout`]) and selects the parameters for its depth;
/// refuses a circuit no parameter set holds, located where its deepest output reaches the
/// depth (or at what `why` raised).
fn place<'p>(
    p: &'p Program,
    opts: &LowerOptions,
    slots: usize,
    why: &Raised,
) -> Result<Placed<'p>, LowerError> {
    let laid = choose_layout(p, opts, slots)?;
    let (first, depth) = managed_on_abstract_chain(p, &laid)?;
    let choice = params::select(depth, &opts.params, slots).map_err(|e| {
        let (span, label) = match why.culprit(e.code) {
            Some(c) => (c.span, c.label),
            None => deepest_output(p, &first, depth),
        };
        LowerError {
            diagnostic: Diagnostic::new(e.code, &p.source, span, e.message)
                .with_label(label)
                .with_depth(depth),
            depth: Some(depth),
        }
    })?;
    Ok(Placed { laid, choice })
}

/// The level management of a layout on the abstract chain, and the depth it consumes.
fn managed_on_abstract_chain(
    p: &Program,
    laid: &Laid,
) -> Result<(manage::Managed, u32), Diagnostic> {
    let chain = Chain::abstract_chain(ABSTRACT_TOP);
    let managed = manage(
        &laid.low.ir,
        &laid.out_cts,
        laid.low.ct_inputs.len(),
        &chain,
    )
    .map_err(|e| out_of_levels(p, e))?;
    let depth = ABSTRACT_TOP - managed.min_level;
    Ok((managed, depth))
}

/// The level management ran out of levels: a compiler bug, located where it happened.
fn out_of_levels(p: &Program, e: manage::OutOfLevels) -> Diagnostic {
    Diagnostic::new(
        Code::Internal,
        &p.source,
        crate::Span::new(0, 0),
        format!(
            "internal: level management ran out of levels at {}",
            e.origin.span.unwrap_or_default()
        ),
    )
}

fn lower_at(
    p: &Program,
    opts: &LowerOptions,
    slots: usize,
    placed: Placed,
    (ranges, samples): (&Ranges, &Samples),
    factors: &[f64],
) -> Result<Attempt, LowerError> {
    let Placed {
        laid: Laid {
            low,
            out_cts,
            out_specs,
        },
        mut choice,
    } = placed;
    let unit = low.unit;
    let n_inputs = low.ct_inputs.len();
    let params: CkksParams = choice.params.clone();
    if params.slots() != slots {
        // Caller retries at the chosen N.
        return Ok(Attempt::Done(Box::new(Lowered {
            schedule: placeholder(params.clone(), opts),
            params: choice,
            deficit: 0.0,
        })));
    }
    let primes = params.primes().map_err(|e| {
        Diagnostic::new(
            Code::Params,
            &p.source,
            crate::Span::new(0, 0),
            e.to_string(),
        )
    })?;
    let floor = choice.base_primes - 1;
    let scales = fit::chain_scales(&primes.q, params.log_scale, floor, choice.group);
    let real = Chain {
        q: primes.q.iter().map(|&q| q as f64).collect(),
        scales: scales.clone(),
        group: choice.group as u32,
    };
    let managed = manage(&low.ir, &out_cts, n_inputs, &real).map_err(|e| out_of_levels(p, e))?;

    let mut ct_inputs = low.ct_inputs.clone();
    for (c, (l, s)) in ct_inputs.iter_mut().zip(&managed.input_levels) {
        c.level = *l;
        c.scale = *s;
    }
    let mut outputs = Vec::new();
    let mut k = 0;
    for (((name, shape, layouts), &factor), decl) in
        out_specs.into_iter().zip(factors).zip(&p.outputs)
    {
        let tiles = layouts
            .into_iter()
            .map(|layout| {
                let v = managed.outputs[k];
                k += 1;
                OutputTile {
                    value: v,
                    layout,
                    factor,
                }
            })
            .collect();
        outputs.push(TensorOutput {
            name,
            shape,
            tiles,
            bound: 0.0,
            range: ranges.of(decl.node) / factor,
        });
    }
    let inputs: Vec<TensorInput> = p
        .inputs
        .iter()
        .filter(|i| !p.is_derived(&i.name))
        .map(|i| TensorInput {
            name: i.name.clone(),
            shape: i.ty.shape,
            seq: i.ty.seq,
            encrypted: i.ty.secrecy == crate::ir::Secrecy::Enc,
            range: i.range,
            refreshed_from: i.refreshed_from.clone(),
        })
        .collect();
    let derived = client::derived_tensors(p, low.oracle.public_tensors())?;
    let mut schedule = Schedule {
        name: opts.name.clone(),
        program_hash: String::new(),
        params,
        level_scales: scales,
        unit,
        inputs,
        derived,
        ct_inputs,
        nodes: managed.nodes,
        outputs,
        rotation_steps: Vec::new(),
        needs_conjugation: false,
        hoist_groups: Vec::new(),
        bootstrap: None,
    };
    finish(&mut schedule);
    let on_schedule = bounds::ScheduleSamples::new(&schedule, samples);
    let mags = bounds::magnitudes(&schedule, ranges, &on_schedule);
    if let Some(a) = fit::fit_values(p, &schedule, &mags, floor, &primes.q, opts)? {
        return Ok(a);
    }
    bounds::annotate(&mut schedule, &mags, &on_schedule);
    if let Some((short, note)) = fit::precision(p, &schedule, ranges, opts, factors) {
        choice.explanation.push_str(&format!("; {note}"));
        // A fraction of a bit is the noise simulation's own spread (a raised scale lands
        // there): worth a clause, not a warning.
        if short >= 1.0 {
            choice.shortfall = Some(note);
        }
    }
    check::check(&schedule).map_err(|e| e.into_diagnostic(p))?;
    schedule.program_hash = schedule.canonical_hash();
    Ok(Attempt::Done(Box::new(Lowered {
        schedule,
        params: choice,
        deficit: 0.0,
    })))
}

/// A schedule shell used only to report the parameters of a lowering that must be redone.
fn placeholder(params: CkksParams, opts: &LowerOptions) -> Schedule {
    Schedule {
        name: opts.name.clone(),
        program_hash: String::new(),
        level_scales: Vec::new(),
        unit: Unit {
            h: 1,
            w: params.slots(),
        },
        params,
        inputs: Vec::new(),
        derived: Vec::new(),
        ct_inputs: Vec::new(),
        nodes: Vec::new(),
        outputs: Vec::new(),
        rotation_steps: Vec::new(),
        needs_conjugation: false,
        hoist_groups: Vec::new(),
        bootstrap: None,
    }
}

/// Rotation keys, hoisting groups and liveness.
fn finish(s: &mut Schedule) {
    use hel_schedule::Instr;
    use std::collections::BTreeMap;
    let mut steps: Vec<i64> = Vec::new();
    let mut groups: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    let slots = s.slots() as i64;
    for (i, n) in s.nodes.iter_mut().enumerate() {
        match &mut n.instr {
            Instr::Rotate { a, step } => {
                // Normalize to (-slots/2, slots/2]: one key per distinct rotation.
                let mut st = step.rem_euclid(slots);
                if st > slots / 2 {
                    st -= slots;
                }
                *step = st;
                steps.push(st);
                groups.entry(*a).or_default().push(i as u32);
            }
            Instr::Conjugate { .. } => s.needs_conjugation = true,
            _ => {}
        }
    }
    steps.sort_unstable();
    steps.dedup();
    s.rotation_steps = steps;
    s.hoist_groups = groups.into_values().filter(|g| g.len() > 1).collect();
    s.compute_liveness();
}
