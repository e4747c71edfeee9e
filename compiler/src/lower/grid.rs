//! The slot grid and the depth of a program's layout, chosen by estimated server time: each
//! candidate grid is laid out at the least depth and with slack, priced on the abstract chain
//! (key switching, quadratic in the limbs, dominates), and the cheapest on the ring of the
//! least depth is kept; a program no ring holds keeps its shallowest layout, for the refusal.

use hel_schedule::cost::CostTable;
use hel_schedule::{Layout, Unit};
use rayon::prelude::*;

use super::layout::{Form, Lowering, Orient, Want};
use super::manage::{manage, Chain};
use super::oracle::Oracle;
use super::{ctir, fold_consts, params, plan, LowerOptions, ABSTRACT_TOP};
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{Program, Shape};

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
pub(super) struct Laid<'p> {
    pub low: Lowering<'p>,
    pub out_cts: Vec<ctir::Ct>,
    pub out_specs: Vec<(String, Shape, Vec<Layout>)>,
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
pub(super) fn choose_layout<'p>(
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
        (None, None, None) => lay_out(p, Unit { h: 1, w: slots }, 0, opts.max_ct_ops, None),
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
    // A layout with its constants folded, and the prices of both.
    let priced = |laid: Laid<'p>| {
        let folded = fold_consts::fold_constants(&laid.low.ir, &laid.out_cts);
        let n_inputs = laid.low.ct_inputs.len();
        let prices = [
            price(&laid.low.ir, &laid.out_cts, n_inputs, opts, slots, &table),
            price(&folded.0, &folded.1, n_inputs, opts, slots, &table),
        ];
        (laid, folded, prices)
    };
    for slack in 0..=MAX_SLACK {
        let (laid, folded, prices) = priced(lay_out(p, unit, slack, opts.max_ct_ops, None)?);
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
    // Each matrix output in its other form, priced the same way: it is kept only where the
    // server time it saves pays for any level it adds. A flip that does not lay out (or fits
    // no ring) is no alternative.
    if !laid_out.is_empty() {
        for k in flippable(p) {
            for slack in 0..=MAX_SLACK {
                if let Ok(laid) = lay_out(p, unit, slack, opts.max_ct_ops, Some(k)) {
                    laid_out.push(priced(laid));
                }
            }
        }
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
/// lowers every output to slot-level ops, matrix output `flip` (an index into `p.outputs`) in
/// the form other than its shallower one.
fn lay_out(
    p: &Program,
    unit: Unit,
    slack: u32,
    max_ct_ops: u64,
    flip: Option<usize>,
) -> Result<Laid<'_>, Diagnostic> {
    let mut oracle = Oracle::new(p, unit);
    let wanted: Vec<(crate::ir::NodeId, Want)> = p
        .outputs
        .iter()
        .enumerate()
        .filter(|(_, o)| p.graph.node(o.node).ty.secrecy == crate::ir::Secrecy::Enc)
        .flat_map(|(k, o)| {
            let wants = match p.graph.node(o.node).ty.shape {
                Shape::Scalar => vec![Want::Scalar],
                Shape::Vector(_) => vec![Want::Vec(output_orient(&mut oracle, o))],
                Shape::Matrix(..) => output_forms(&mut oracle, o, flip == Some(k))
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
    for (k, o) in p.outputs.iter().enumerate() {
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
                for form in output_forms(&mut low.oracle, o, flip == Some(k)) {
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

/// The forms matrix output `o` leaves in: the shallower one (the other with `flip`), or
/// [`Oracle::refreshed_forms`] for an output the server refreshes into the next round's input
/// (which comes in those forms).
fn output_forms(oracle: &mut Oracle, o: &crate::ir::OutputDecl, flip: bool) -> Vec<Form> {
    if o.refreshed {
        oracle.refreshed_forms()
    } else if flip {
        vec![oracle.best_form(o.node).flip()]
    } else {
        vec![oracle.best_form(o.node)]
    }
}

/// The outputs [`lay_out`] may flip: matrix products the server does not refresh, each once.
/// The form of a product decides how it is computed: `X @ W` of a 256 x 65 `X` and a
/// computed 65 x 10 `W`, in its shallower form, is computed a row of `X` at a time (4,096
/// rotations), and in the other, one level deeper, a column of `W` at a time (290). Other
/// outputs' forms matter less (an element-wise operation costs the same in either) and are
/// not laid out twice. At most [`MAX_FLIPS`], the first ones.
fn flippable(p: &Program) -> Vec<usize> {
    let mut seen = Vec::new();
    p.outputs
        .iter()
        .enumerate()
        .filter(|(_, o)| {
            let n = p.graph.node(o.node);
            let fresh = !seen.contains(&o.node);
            seen.push(o.node);
            fresh
                && !o.refreshed
                && n.ty.secrecy == crate::ir::Secrecy::Enc
                && n.op == crate::ir::Op::MatMul
        })
        .map(|(k, _)| k)
        .take(MAX_FLIPS)
        .collect()
}

/// Matrix outputs whose other form [`best_on_unit`] lays out and prices (each one more
/// layout per slack: the layouts are a small part of a lowering, the slot simulations the
/// rest).
const MAX_FLIPS: usize = 4;
