//! Lowering: the optimized tensor IR to a CKKS [`Schedule`].
//!
//! The steps, in order (each a file):
//! 1. `layout`: choose the slot grid, orientations and forms, and rewrite tensor ops into
//!    slot-level ops (Hadamard products, rotate-and-sum, masks) — `ctir` holds the result.
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

use hel_schedule::cost::CostTable;
use hel_schedule::CkksParams;
use hel_schedule::{Layout, OutputTile, Schedule, TensorInput, TensorOutput, Unit};

use crate::analysis::ranges::{ranges_on, Ranges, Samples};
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{Program, Shape};
use fit::{Attempt, Raised};
use layout::{Form, Lowering, Orient, Want};
use manage::{manage, Chain};
use oracle::Oracle;
pub use params::{ParamChoice, ParamRequest};
use rayon::prelude::*;

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
/// (`MAX_SCALE_RAISE_BITS` at most), the program is lowered again with the scale raised by
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
    if l.deficit <= 0.0 || l.deficit > MAX_SCALE_RAISE_BITS || opts.params.forced.is_some() {
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

/// The slot grids worth lowering on: powers of two whose number of ciphertexts for the
/// program's matrices and vectors (each in the cheaper of its two layouts) is within twice the
/// least, fewest ciphertexts first (ties: the squarer grid).
///
/// A program with refreshed outputs only gets grids whose rows hold each of them in one tile
/// (where the ring has such grids): the server bootstraps every tile of a refreshed output,
/// and one bootstrap costs more than a whole round of most programs (NAG on MNIST at
/// N = 2^16: four tiles per vector on the grid chosen for the round alone made the refreshes
/// 26 s against 3.5 s for the round).
fn unit_candidates(p: &Program, slots: usize) -> Vec<Unit> {
    let refreshed = p
        .outputs
        .iter()
        .filter(|o| o.refreshed)
        .map(|o| match p.graph.node(o.node).ty.shape {
            Shape::Vector(n) => n,
            // A matrix in its direct form: one tile wide where the rows allow.
            Shape::Matrix(_, c) => c,
            Shape::Scalar => 1,
        })
        .max()
        .map_or(1, |n| n.next_power_of_two());
    let min_w = if refreshed <= slots { refreshed } else { 1 };
    let mut dims: Vec<(usize, usize)> = Vec::new();
    let mut vecs: Vec<usize> = Vec::new();
    for (_, n) in p.graph.nodes() {
        match n.ty.shape {
            Shape::Matrix(r, c) => dims.push((r, c)),
            Shape::Vector(n) => vecs.push(n),
            Shape::Scalar => {}
        }
    }
    let mut units: Vec<(usize, usize, Unit)> = Vec::new();
    let mut w = min_w;
    while w <= slots {
        let h = slots / w;
        let tiles: usize = dims
            .iter()
            .map(|&(r, c)| r.div_ceil(h) * c.div_ceil(w) + c.div_ceil(h) * r.div_ceil(w))
            .sum::<usize>()
            + vecs
                .iter()
                .map(|&n| n.div_ceil(w).min(n.div_ceil(h)))
                .sum::<usize>();
        let skew = (w as i64 - h as i64).unsigned_abs() as usize;
        units.push((tiles, skew, Unit { h, w }));
        w *= 2;
    }
    units.sort_by_key(|&(tiles, skew, _)| (tiles, skew));
    let least = units.first().map_or(0, |u| u.0);
    units
        .into_iter()
        .filter(|u| u.0 <= least.saturating_mul(2))
        .map(|u| u.2)
        .collect()
}

/// A program laid out on one slot grid: the slot-level program, its output values and how
/// each output's tiles are laid out (name, shape, layouts).
struct Laid<'p> {
    low: Lowering<'p>,
    out_cts: Vec<ctir::Ct>,
    out_specs: Vec<(String, Shape, Vec<Layout>)>,
}

/// Extra depth the layout plan may spend, beyond the least, to save work (see
/// [`choose_layout`]).
const MAX_SLACK: u32 = 1;

/// A higher-depth layout must be estimated this much faster to be chosen.
const SLACK_GAIN: f64 = 0.95;

/// Chooses the slot grid and the depth by lowering on each candidate grid
/// ([`unit_candidates`]) at the least depth and at up to [`MAX_SLACK`] levels more (while the
/// ring stays the one the least depth needs), and keeping the least estimated server time
/// (the runtime's default cost table on the ciphertext levels of a first management run: key
/// switching, quadratic in the limbs, dominates). A deeper layout must save 5%.
///
/// The ciphertext count alone picked, for GD at N = 2^14, a 256 × 32 grid on which
/// `Z[i] @ beta` needs 32 separate 8-step rotate-and-sums. The least depth alone made NAG
/// compute every pre-activation in both orientations (no room for a conversion); one level
/// more, still in N = 2^15, saves a third of its time.
fn choose_layout<'p>(
    p: &'p Program,
    opts: &LowerOptions,
    slots: usize,
) -> Result<Laid<'p>, Diagnostic> {
    // The grids are independent: lay them out in parallel, then pick as a sequential scan in
    // candidate order would (the output does not depend on the thread count).
    let units = match opts.unit {
        Some(u) if u.h * u.w == slots => vec![u],
        _ => unit_candidates(p, slots),
    };
    let per_unit: Vec<Result<OnUnit, Diagnostic>> = units
        .into_par_iter()
        .map(|unit| best_on_unit(p, opts, slots, unit))
        .collect();
    let mut best: Option<Scored> = None;
    // The shallowest layout when none fits a ring: the caller refuses the program at its
    // depth (located where its deepest output reaches it), the least any grid gives.
    let mut shallowest: Option<(u32, Laid)> = None;
    // A layout over the budget is dropped; if every one is, the program is refused.
    let mut over_budget = None;
    for cand in per_unit {
        let cand = match cand {
            Ok(OnUnit::Fits(c)) => c,
            Ok(OnUnit::TooDeep(depth, laid)) => {
                if shallowest.as_ref().is_none_or(|(d, _)| depth < *d) {
                    shallowest = Some((depth, laid));
                }
                continue;
            }
            Ok(OnUnit::Unmanaged) => continue,
            Err(d) if d.code == Code::Budget => {
                over_budget.get_or_insert(d);
                continue;
            }
            Err(d) => return Err(d),
        };
        if beats(&cand, &best) {
            best = Some(cand);
        }
    }
    match (best, shallowest, over_budget) {
        (Some((.., laid)), ..) => Ok(laid),
        (None, Some((_, laid)), _) => Ok(laid),
        (None, None, Some(d)) => Err(d),
        (None, None, None) => lay_out(p, Unit { h: 1, w: slots }, 0, opts.max_ct_ops),
    }
}

/// What one grid offers ([`best_on_unit`]).
enum OnUnit<'p> {
    /// Its best layout, on the ring of its least depth.
    Fits(Scored<'p>),
    /// No ring holds even its least depth: that depth and the layout giving it.
    TooDeep(u32, Laid<'p>),
    /// The level management failed on every layout.
    Unmanaged,
}

/// A layout with its score (estimated seconds, divided by [`SLACK_GAIN`] per level of slack)
/// and its input ciphertext count.
type Scored<'p> = (f64, usize, Laid<'p>);

/// A lower score wins; on a tie, fewer input ciphertexts (else the earlier candidate stays).
fn beats(cand: &Scored, best: &Option<Scored>) -> bool {
    match best {
        None => true,
        Some((s, i, _)) => cand.0 < *s || (cand.0 == *s && cand.1 < *i),
    }
}

/// The best layout on one grid ([`choose_layout`]), or the shallowest if even the least depth
/// fits no ring.
fn best_on_unit<'p>(
    p: &'p Program,
    opts: &LowerOptions,
    slots: usize,
    unit: Unit,
) -> Result<OnUnit<'p>, Diagnostic> {
    let table = CostTable::default();
    // Every layout (least depth, then with slack), priced as laid out and with its constants
    // folded into masks ([`fold_consts`]): a fold saves levels but may rebuild rotations.
    let mut laid_out = Vec::new();
    for slack in 0..=MAX_SLACK {
        let laid = lay_out(p, unit, slack, opts.max_ct_ops)?;
        let folded = fold_consts::fold_constants(&laid.low.ir, &laid.out_cts);
        let n_inputs = laid.low.ct_inputs.len();
        let prices = [
            price(&laid.low.ir, &laid.out_cts, n_inputs, opts, slots, &table),
            price(&folded.0, &folded.1, n_inputs, opts, slots, &table),
        ];
        if prices.iter().flatten().all(|c| c.log_n.is_none()) {
            if !laid_out.is_empty() {
                break;
            }
            // Too deep for every ring at the least depth: the shallower of the two forms.
            let Some((depth, fold)) = prices
                .iter()
                .enumerate()
                .filter_map(|(k, c)| Some((c.as_ref()?.depth, k == 1)))
                .min_by_key(|&(depth, _)| depth)
            else {
                return Ok(OnUnit::Unmanaged);
            };
            let mut laid = laid;
            if fold {
                (laid.low.ir, laid.out_cts) = folded;
            }
            return Ok(OnUnit::TooDeep(depth, laid));
        }
        laid_out.push((laid, folded, prices));
    }
    // The ring of the least depth; a layout that needs a larger one is out. Each level above
    // the least must pay for itself.
    let all = || {
        laid_out
            .iter()
            .flat_map(|l| l.2.iter().flatten())
            .filter(|c| c.log_n.is_some())
    };
    let Some(least) = all().map(|c| c.depth).min() else {
        return Ok(OnUnit::Unmanaged);
    };
    let ring = all()
        .filter(|c| c.depth == least)
        .filter_map(|c| c.log_n)
        .min();
    // (score, inputs, layout index, folded?)
    let mut best: Option<(f64, usize, usize, bool)> = None;
    for (k, (laid, _, prices)) in laid_out.iter().enumerate() {
        for (folded, price) in prices.iter().enumerate() {
            let Some(c) = price
                .as_ref()
                .filter(|c| c.log_n.is_some() && c.log_n == ring)
            else {
                continue;
            };
            let score = c.seconds / SLACK_GAIN.powi((c.depth - least) as i32);
            let n_inputs = laid.low.ct_inputs.len();
            let wins = best.is_none_or(|(s, i, ..)| score < s || (score == s && n_inputs < i));
            if wins {
                best = Some((score, n_inputs, k, folded == 1));
            }
        }
    }
    let Some((score, n_inputs, k, folded)) = best else {
        return Ok(OnUnit::Unmanaged);
    };
    let (mut laid, (ir, out_cts), _) = laid_out.swap_remove(k);
    if folded {
        laid.low.ir = ir;
        laid.out_cts = out_cts;
    }
    Ok(OnUnit::Fits((score, n_inputs, laid)))
}

/// What a slot-level program costs on the ciphertexts: its depth (on a first management run),
/// the ring that depth needs (`None` if none holds it), and the estimated server time there.
struct Price {
    depth: u32,
    log_n: Option<u32>,
    seconds: f64,
}

/// [`Price`] of `ir`; `None` if the level management fails.
fn price(
    ir: &ctir::CtIr,
    outs: &[ctir::Ct],
    n_inputs: usize,
    opts: &LowerOptions,
    slots: usize,
    table: &CostTable,
) -> Option<Price> {
    let chain = Chain::abstract_chain(ABSTRACT_TOP);
    let m = manage(ir, outs, n_inputs, &chain).ok()?;
    let depth = ABSTRACT_TOP - m.min_level;
    let log_n = params::select(depth, &opts.params, slots)
        .ok()
        .map(|c| c.params.log_n);
    let seconds = log_n.map_or(0.0, |log_n| {
        m.nodes
            .iter()
            .map(|n| {
                let limbs = (n.level - m.min_level) as usize + 1;
                table.seconds(log_n, n.instr.name(), limbs)
            })
            .sum()
    });
    Some(Price {
        depth,
        log_n,
        seconds,
    })
}

/// Lays `p` out on `unit`: plans the orientations (within the least depth plus `slack`) and
/// lowers every output to slot-level ops.
fn lay_out(p: &Program, unit: Unit, slack: u32, max_ct_ops: u64) -> Result<Laid<'_>, Diagnostic> {
    let mut oracle = Oracle::new(p, unit);
    let wanted: Vec<(crate::ir::NodeId, Want)> = p
        .outputs
        .iter()
        .filter(|o| p.graph.node(o.node).ty.secrecy == crate::ir::Secrecy::Enc)
        .flat_map(|o| {
            let wants = match p.graph.node(o.node).ty.shape {
                Shape::Scalar => vec![Want::Scalar],
                Shape::Vector(_) => vec![Want::Vec(output_orient(&mut oracle, o))],
                Shape::Matrix(..) => output_forms(&mut oracle, o)
                    .into_iter()
                    .map(Want::Mat)
                    .collect(),
            };
            wants.into_iter().map(move |w| (o.node, w))
        })
        .collect();
    let layout_plan = plan::plan(&mut oracle, &wanted, slack);
    let mut low = Lowering::new(oracle, layout_plan);
    low.max_ct_ops = max_ct_ops;
    let mut out_cts = Vec::new();
    let mut out_specs = Vec::new();
    for o in &p.outputs {
        let shape = p.graph.node(o.node).ty.shape;
        let enc = p.graph.node(o.node).ty.secrecy == crate::ir::Secrecy::Enc;
        let mut tiles = Vec::new();
        match shape {
            // An output the optimizer made public (a constant, a value of `plain` inputs)
            // leaves the server as noiseless ciphertexts of its value.
            _ if !enc => tiles = low.public_output(o.node)?,
            Shape::Scalar => {
                let ct = low.scalar(o.node)?;
                tiles.push((ct, Layout::Scalar));
            }
            Shape::Vector(n) => {
                let orient = output_orient(&mut low.oracle, o);
                let mut v = low.vector(o.node, orient)?;
                if o.refreshed {
                    // It comes back as an input that the lowering takes to be clean.
                    v = low.ensure_clean_vec(v, orient, n, o.node);
                }
                for (t, ct) in v.tiles.iter().enumerate() {
                    let layout = match orient {
                        Orient::R => Layout::RowVector { offset: t * unit.w },
                        Orient::C => Layout::ColVector { offset: t * unit.h },
                    };
                    tiles.push((*ct, layout));
                }
            }
            Shape::Matrix(r, c) => {
                for form in output_forms(&mut low.oracle, o) {
                    let mut m = low.matrix(o.node, form)?;
                    if o.refreshed {
                        // It comes back as an input that the lowering takes to be clean.
                        // A transposed form stores the matrix's transpose.
                        let (sr, sc) = if form == Form::T { (c, r) } else { (r, c) };
                        m = low.ensure_clean_mat(m, sr, sc, o.node);
                    }
                    let yc = if form == Form::D { c } else { r };
                    let gc = yc.div_ceil(unit.w);
                    for (k, ct) in m.tiles.iter().enumerate() {
                        tiles.push((
                            *ct,
                            Layout::MatrixTile {
                                transposed: form == Form::T,
                                row0: (k / gc) * unit.h,
                                col0: (k % gc) * unit.w,
                            },
                        ));
                    }
                }
            }
        }
        for (ct, _) in &tiles {
            out_cts.push(*ct);
        }
        out_specs.push((
            o.name.clone(),
            shape,
            tiles.into_iter().map(|t| t.1).collect::<Vec<_>>(),
        ));
    }
    Ok(Laid {
        low,
        out_cts,
        out_specs,
    })
}

/// The orientation vector output `o` leaves in: the cheaper one, or `R` for an output the
/// server refreshes into the next round's input (which comes in that one layout).
fn output_orient(oracle: &mut Oracle, o: &crate::ir::OutputDecl) -> Orient {
    if o.refreshed {
        Orient::R
    } else {
        oracle.best_orient(o.node)
    }
}

/// The forms matrix output `o` leaves in: the cheaper one, or [`Oracle::refreshed_forms`] for
/// an output the server refreshes into the next round's input (which comes in those forms).
fn output_forms(oracle: &mut Oracle, o: &crate::ir::OutputDecl) -> Vec<Form> {
    if o.refreshed {
        oracle.refreshed_forms()
    } else {
        vec![oracle.best_form(o.node)]
    }
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
    let chain = Chain::abstract_chain(ABSTRACT_TOP);
    let first = manage(
        &laid.low.ir,
        &laid.out_cts,
        laid.low.ct_inputs.len(),
        &chain,
    )
    .map_err(|e| out_of_levels(p, e))?;
    let depth = ABSTRACT_TOP - first.min_level;
    let choice = params::select(depth, &opts.params, slots).map_err(|e| {
        let (span, label) = match why.culprit(e.code) {
            Some(c) => (c.span, c.label),
            None => deepest_output(p, &first, depth),
        };
        LowerError {
            diagnostic: Diagnostic::new(e.code, &p.source, span, e.message).with_label(label),
            depth: Some(depth),
        }
    })?;
    Ok(Placed { laid, choice })
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
