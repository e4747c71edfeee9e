//! Layout planning: which vectors the layout lowering computes directly in which orientation,
//! and which it converts from the other orientation, under the program's depth.
//!
//! The [`Oracle`] gives every vector its least depth in each orientation. Taking, for each
//! orientation a consumer asks for, whichever recipe reaches that depth computes a value asked
//! for in both orientations twice, each time with its own products and rotate-and-sum, and
//! uploads every matrix feeding it in both forms. For gradient descent that is every
//! pre-activation: the next iteration's pre-activation wants it in one orientation (orientations
//! alternate along the chain of products) and the gradient, which accumulates into one
//! orientation of the weights, in the other.
//!
//! The plan walks the tensor graph from the outputs down, consumers before operands, so every
//! request for a node is known when the node is planned. Each request carries a budget: the
//! depth the value may have without deepening the program (the outputs get the program's depth,
//! an operand its consumer's budget less the levels the consumer's recipe adds). For each vector
//! the plan picks the set of orientations to compute directly, converting the other requested
//! orientation, that fits the budgets at the least estimated cost. The cost counts key switches
//! (rotations and relinearizations) from tile counts: the node's own rotate-and-sum,
//! conversions, and what its recipe forces on its operands — followed through operands used only
//! here down to shared values, which are taken to be computed directly in their preferred
//! orientation (least depth, then least cost) and converted for any other. Matrices cannot be
//! converted: each requested form is computed.

use rustc_hash::FxHashMap;

use super::layout::{Form, Orient, Want};
use super::oracle::{conversion_levels, Oracle, INF};
use crate::ir::{NodeId, Op, Shape};

/// How the lowering gets a vector in a planned orientation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recipe {
    /// From its operands.
    Direct,
    /// By converting the other orientation, which is planned `Direct`.
    Convert,
}

/// The recipe of every planned (vector, orientation) pair.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub vec: FxHashMap<(NodeId, Orient), Recipe>,
    /// The depth budget of every planned (matrix, form).
    pub mat: FxHashMap<(NodeId, Form), u32>,
    /// Estimated key switches of the planned work: every direct computation's own operation
    /// and every conversion.
    pub cost: f64,
}

/// A set of orientations to compute a vector in directly, each with its budget, and the
/// estimated cost of that and of converting the other requested orientation.
struct Choice {
    cost: f64,
    directs: Vec<(Orient, u32)>,
}

/// Cost of a product of two ciphertexts before relinearization, relative to a key switch.
const PRODUCT: f64 = 0.05;

/// Plans the layouts of everything `outputs` (node, wanted layout) need, within the least
/// depth plus `slack` levels.
///
/// A consumer is planned before its operands, so it estimates what it costs a shared operand
/// from the layout that operand is expected in. A first pass expects each shared vector in its
/// preferred layout; then, one shared vector at a time, expecting it in the other orientation
/// is tried, and kept if the plan's total cost ([`Plan::cost`], which counts the work actually
/// planned, not estimates) goes down. The greedy pass alone can commit a consumer to an
/// orientation that, at a tight budget, makes a pre-activation computed twice.
pub fn plan(oracle: &mut Oracle, outputs: &[(NodeId, Want)], slack: u32) -> Plan {
    let budget = outputs
        .iter()
        .map(|&(n, w)| oracle.want_cost(n, w))
        .max()
        .unwrap_or(0)
        + slack;
    let mut expected: FxHashMap<NodeId, Want> = FxHashMap::default();
    let mut best = plan_round(oracle, outputs, budget, expected.clone());
    // Local search: expect each shared vector in the other orientation in turn, keep what
    // lowers the cost.
    let mut shared: Vec<NodeId> = best
        .vec
        .keys()
        .map(|(id, _)| *id)
        .filter(|id| oracle.is_shared(*id))
        .collect();
    shared.sort_unstable();
    shared.dedup();
    let mut trials = 0;
    for _ in 0..PLAN_ROUNDS {
        let mut improved = false;
        for &x in &shared {
            if trials == PLAN_TRIALS {
                return best;
            }
            trials += 1;
            let current = match expected.get(&x) {
                Some(Want::Vec(o)) => *o,
                _ => match best.vec.get(&(x, Orient::R)) {
                    Some(Recipe::Direct) => Orient::R,
                    _ => Orient::C,
                },
            };
            let mut trial = expected.clone();
            trial.insert(x, Want::Vec(current.flip()));
            let p = plan_round(oracle, outputs, budget, trial.clone());
            if p.cost < best.cost {
                best = p;
                expected = trial;
                improved = true;
            }
        }
        if !improved {
            break;
        }
    }
    best
}

/// Passes of the local search of [`plan`] at most.
const PLAN_ROUNDS: usize = 4;

/// Plans the local search of [`plan`] tries at most. Each is a whole planning pass, and a
/// round tries every shared vector: an unrolled chain of 64 public products (gradient descent
/// on public features at -O0, 65 shared vectors, refused as too deep) took 7.4 s to plan
/// for nothing. The zoo's programs have at most 21 shared vectors (91 for logreg_tabular at
/// -O2, refused at every level).
const PLAN_TRIALS: usize = 128;

/// One top-down planning pass, expecting shared values in the layouts `expected` (others in
/// their [`Planner::preferred`] layout).
fn plan_round(
    oracle: &mut Oracle,
    outputs: &[(NodeId, Want)],
    budget: u32,
    expected: FxHashMap<NodeId, Want>,
) -> Plan {
    let mut p = Planner {
        oracle,
        requests: FxHashMap::default(),
        induced: FxHashMap::default(),
        preferred: expected,
        plan: Plan::default(),
    };
    for &(n, w) in outputs {
        p.request(n, w, budget);
    }
    let ids: Vec<NodeId> = p.oracle.program().graph.ids().rev().collect();
    for id in ids {
        let Some(reqs) = p.requests.remove(&id) else {
            continue;
        };
        if !p.oracle.is_enc(id) {
            continue;
        }
        if matches!(p.oracle.shape(id), Shape::Vector(_)) {
            p.plan_vector(id, &reqs);
        } else {
            for (w, b) in reqs {
                p.plan.cost += p.own_cost(id, w);
                if let Want::Mat(f) = w {
                    p.plan.mat.insert((id, f), b);
                }
                p.request_operands(id, w, b);
            }
        }
    }
    p.plan
}

struct Planner<'l, 'p> {
    oracle: &'l mut Oracle<'p>,
    /// The tightest budget each (node, layout) has been requested with.
    requests: FxHashMap<NodeId, Vec<(Want, u32)>>,
    /// Memo of [`Planner::direct_cost`].
    induced: FxHashMap<(NodeId, Want, u32), f64>,
    /// Memo of [`Planner::preferred`].
    preferred: FxHashMap<NodeId, Want>,
    plan: Plan,
}

impl Planner<'_, '_> {
    fn request(&mut self, id: NodeId, want: Want, budget: u32) {
        let reqs = self.requests.entry(id).or_default();
        match reqs.iter_mut().find(|(w, _)| *w == want) {
            Some((_, b)) => *b = (*b).min(budget),
            None => reqs.push((want, budget)),
        }
    }

    /// Requests the operands of the direct recipe for `id` in `want`, within `budget`.
    fn request_operands(&mut self, id: NodeId, want: Want, budget: u32) {
        for n in self.oracle.needs(id, want).unwrap_or_default() {
            self.request(n.node, n.want, budget.saturating_sub(n.levels));
        }
    }

    /// Chooses the direct orientations of vector `id` for its requests (orientation, budget):
    /// the cheapest set whose depths fit, a requested orientation outside it converted from
    /// the other; if none fits (a budget below the least depth), the least depth for each.
    fn plan_vector(&mut self, id: NodeId, reqs: &[(Want, u32)]) {
        let budget = |o: Orient| {
            reqs.iter()
                .find(|(w, _)| *w == Want::Vec(o))
                .map(|(_, b)| *b)
        };
        let requested: Vec<(Orient, u32)> = [Orient::R, Orient::C]
            .into_iter()
            .filter_map(|o| budget(o).map(|b| (o, b)))
            .collect();
        let mut best: Option<Choice> = None;
        for direct in [&[Orient::R][..], &[Orient::C], &[Orient::R, Orient::C]] {
            if direct.len() > requested.len() {
                continue;
            }
            if let Some(c) = self.choice(id, direct, &requested) {
                if best.as_ref().is_none_or(|b| c.cost < b.cost) {
                    best = Some(c);
                }
            }
        }
        let directs = match best {
            Some(c) => c.directs,
            None => self.least_depth(id, &requested),
        };
        for &(o, _) in &requested {
            let recipe = if directs.iter().any(|(d, _)| *d == o) {
                Recipe::Direct
            } else {
                self.plan.cost += self.conversion_cost(id, o);
                Recipe::Convert
            };
            self.plan.vec.insert((id, o), recipe);
        }
        for (d, b) in directs {
            self.plan.cost += self.own_cost(id, Want::Vec(d));
            self.plan.vec.insert((id, d), Recipe::Direct);
            self.request_operands(id, Want::Vec(d), b);
        }
    }

    /// Computing `id` directly in the orientations `direct` and converting any other requested
    /// one: the budget of each direct orientation and the estimated cost, if the depths fit.
    fn choice(
        &mut self,
        id: NodeId,
        direct: &[Orient],
        requested: &[(Orient, u32)],
    ) -> Option<Choice> {
        let mut directs: Vec<(Orient, u32)> = direct
            .iter()
            .map(|&d| {
                let b = requested.iter().find(|(o, _)| *o == d).map_or(INF, |r| r.1);
                (d, b)
            })
            .collect();
        let mut cost = 0.0;
        for &(o, b) in requested {
            if direct.contains(&o) {
                continue;
            }
            let b = b.checked_sub(conversion_levels(o))?;
            for e in directs.iter_mut().filter(|(d, _)| *d == o.flip()) {
                e.1 = e.1.min(b);
            }
            cost += self.conversion_cost(id, o);
        }
        for &(d, b) in &directs {
            if self.oracle.vdirect(id, d) > b {
                return None;
            }
            cost += self.direct_cost(id, Want::Vec(d), b);
        }
        Some(Choice { cost, directs })
    }

    /// For each requested orientation, the least-depth recipe (direct, or converted from the
    /// other orientation computed directly), with the budgets that gives the direct ones.
    fn least_depth(&mut self, id: NodeId, requested: &[(Orient, u32)]) -> Vec<(Orient, u32)> {
        let mut directs: Vec<(Orient, u32)> = Vec::new();
        for &(o, b) in requested {
            let (d, b) = if self.oracle.vdirect(id, o) <= self.oracle.vcost(id, o) {
                (o, b)
            } else {
                (o.flip(), b.saturating_sub(conversion_levels(o)))
            };
            match directs.iter_mut().find(|(x, _)| *x == d) {
                Some(e) => e.1 = e.1.min(b),
                None => directs.push((d, b)),
            }
        }
        directs
    }

    /// Estimated cost of computing `id` directly in `want` within `budget`: its own operation
    /// and what it forces on its operands.
    fn direct_cost(&mut self, id: NodeId, want: Want, budget: u32) -> f64 {
        if let Some(&c) = self.induced.get(&(id, want, budget)) {
            return c;
        }
        let mut cost = self.own_cost(id, want);
        for n in self.oracle.needs(id, want).unwrap_or_default() {
            cost += self.operand_cost(n.node, n.want, budget.saturating_sub(n.levels));
        }
        self.induced.insert((id, want, budget), cost);
        cost
    }

    /// What needing `x` in `want` within `budget` costs: nothing for inputs (the client packs
    /// any layout) and for a shared value in its preferred layout; for a shared vector in the
    /// other orientation, a conversion if that fits the budget, else computing it again; for a
    /// value used only here, the cheaper of computing and converting that fits.
    fn operand_cost(&mut self, x: NodeId, want: Want, budget: u32) -> f64 {
        if !self.oracle.is_enc(x) || self.oracle.is_input_view(x) || want == Want::Scalar {
            return 0.0;
        }
        let shared = self.oracle.is_shared(x);
        let preferred = if shared {
            Some(self.preferred(x))
        } else {
            None
        };
        if preferred == Some(want) {
            return 0.0;
        }
        let Want::Vec(o) = want else {
            return self.direct_cost(x, want, budget);
        };
        let converted = self.oracle.vdirect(x, o.flip()) + conversion_levels(o) <= budget;
        let there = if converted {
            let src = budget - conversion_levels(o);
            // A shared value is computed in its preferred orientation anyway.
            let computed = if shared {
                0.0
            } else {
                self.direct_cost(x, Want::Vec(o.flip()), src)
            };
            self.conversion_cost(x, o) + computed
        } else {
            f64::INFINITY
        };
        let here = if self.oracle.vdirect(x, o) <= budget || !converted {
            self.direct_cost(x, want, budget)
        } else {
            f64::INFINITY
        };
        here.min(there)
    }

    /// The layout a shared value is computed in directly: the least depth, then the least
    /// cost, R (D) on ties.
    fn preferred(&mut self, x: NodeId) -> Want {
        if let Some(&w) = self.preferred.get(&x) {
            return w;
        }
        let wants = match self.oracle.shape(x) {
            Shape::Vector(_) => [Want::Vec(Orient::R), Want::Vec(Orient::C)],
            _ => [Want::Mat(Form::D), Want::Mat(Form::T)],
        };
        let mut best: Option<(u32, f64, Want)> = None;
        for w in wants {
            let depth = match w {
                Want::Vec(o) => self.oracle.vdirect(x, o),
                _ => self.oracle.want_cost(x, w),
            };
            if depth >= INF {
                continue;
            }
            let cost = self.direct_cost(x, w, depth);
            let better = match &best {
                None => true,
                Some((d, c, _)) => depth < *d || (depth == *d && cost < *c),
            };
            if better {
                best = Some((depth, cost, w));
            }
        }
        let w = best.map_or(wants[0], |b| b.2);
        self.preferred.insert(x, w);
        w
    }

    /// Key switches of the operation of `id` itself in `want`: the rotate-and-sum of a product
    /// or reduction (charged once to the sum it is folded into, see
    /// `Lowering::fused_sum`), the relinearizations of products of ciphertexts.
    fn own_cost(&mut self, id: NodeId, want: Want) -> f64 {
        let node = self.oracle.program().graph.node(id).clone();
        let enc_args = node.args.iter().filter(|a| self.oracle.is_enc(**a)).count();
        let tiles = self.oracle.tiles_of(id, want) as f64;
        match (want, &node.op) {
            (Want::Vec(o), Op::MatVec | Op::SumRows | Op::SumCols) => {
                // The matrix form each recipe reduces (see `Oracle::needs`).
                let form = match (&node.op, o) {
                    (Op::MatVec | Op::SumCols, Orient::C) | (Op::SumRows, Orient::R) => Form::D,
                    _ => Form::T,
                };
                let products = if node.op == Op::MatVec && enc_args == 2 {
                    PRODUCT * self.oracle.tiles_of(node.args[0], Want::Mat(form)) as f64
                } else {
                    0.0
                };
                if self.oracle.folds_into_sum(id) {
                    products
                } else {
                    products + self.reduction_cost(id, o)
                }
            }
            (Want::Vec(o), Op::Add | Op::Sub | Op::Neg)
                if !self.oracle.folds_into_sum(id) && self.oracle.sum_has_products(id) =>
            {
                self.reduction_cost(id, o)
            }
            (_, Op::Mul | Op::ScaleCols | Op::ScaleRows) if enc_args == 2 => {
                tiles * (1.0 + PRODUCT)
            }
            (Want::Mat(f), Op::MatMul) => self.matmul_cost(&node.args, f),
            (_, Op::Pow { exp }) => {
                tiles * f64::from(crate::analysis::depth::ceil_log2(*exp)) * (1.0 + PRODUCT)
            }
            _ => 0.0,
        }
    }

    /// Key switches of a matrix product (see `matmul`): per output column and row block a
    /// row sum and about half of log2(w) shifts, a relinearization per product; per column of
    /// a computed right operand, its replication over the rows.
    fn matmul_cost(&mut self, args: &[NodeId], f: Form) -> f64 {
        let unit = self.oracle.unit();
        let dims = |s: Shape| match s {
            Shape::Matrix(r, c) => (r, c),
            _ => (1, 1),
        };
        let (a, b) = (args[0], args[1]);
        let ((r, k), (_, c)) = (dims(self.oracle.shape(a)), dims(self.oracle.shape(b)));
        let (rows, cols, z) = match f {
            Form::D => (r, c, b),
            Form::T => (c, r, a),
        };
        let blocks = rows.div_ceil(unit.h.max(1)) as f64;
        let kt = k.div_ceil(unit.w.max(1)) as f64;
        let per_column = blocks * (log2(k.min(unit.w).next_power_of_two()) + log2(unit.w) / 2.0)
            + blocks * kt * PRODUCT;
        let replicate = if self.oracle.is_enc(z) && !self.oracle.is_input_view(z) {
            kt * log2(unit.h)
        } else {
            0.0
        };
        cols as f64 * (per_column + replicate)
    }

    /// Key switches of a rotate-and-sum into vector `id` in orientation `o`, with the
    /// relinearization of each partial.
    fn reduction_cost(&mut self, id: NodeId, o: Orient) -> f64 {
        let unit = self.oracle.unit();
        let tiles = self.oracle.tiles_of(id, Want::Vec(o)) as f64;
        let steps = match o {
            Orient::R => log2(unit.h),
            Orient::C => 2.0 * log2(unit.w),
        };
        tiles * (steps + 1.0)
    }

    /// Key switches of converting vector `x` into orientation `to`.
    fn conversion_cost(&mut self, x: NodeId, to: Orient) -> f64 {
        let unit = self.oracle.unit();
        let tiles = self.oracle.tiles_of(x, Want::Vec(to)) as f64;
        tiles
            * match to {
                Orient::R => log2(unit.h),
                Orient::C => 2.0 * log2(unit.w),
            }
    }
}

fn log2(n: usize) -> f64 {
    f64::from(n.max(1).trailing_zeros())
}
