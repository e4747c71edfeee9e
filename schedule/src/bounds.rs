//! The size half of [`Schedule::validate`]: every count, shape, offset, step and number a
//! schedule file carries, checked against the parameters and the [`limits`] before anything
//! is allocated or indexed by it. After these checks, packing, unpacking, the client's
//! precomputation, the simulation and the executors index and allocate only within bounds
//! derived from them: offsets plus slot coordinates cannot overflow, tensors stay within
//! [`limits::MAX_TENSOR_ENTRIES`], and the derived tensors' shapes are exactly those that
//! [`eval_derived`](crate::eval_derived) computes.

use crate::limits::*;
use crate::program::{ClientOp, Instr, Layout, Pack, Plain, Schedule, Shape};

type Check = Result<(), String>;

/// Checks the schedule's sizes (the parameters were validated first).
pub(crate) fn check(s: &Schedule) -> Check {
    let slots = s.params.slots();
    if s.unit.h == 0 || s.unit.w == 0 || s.unit.checked_slots() != Some(slots) {
        return Err(format!(
            "unit {}x{} does not cover the {slots} slots",
            s.unit.h, s.unit.w
        ));
    }
    count("inputs", s.inputs.len(), MAX_TENSORS)?;
    count("derived tensors", s.derived.len(), MAX_TENSORS)?;
    count("outputs", s.outputs.len(), MAX_TENSORS)?;
    count("encrypted inputs", s.ct_inputs.len(), MAX_CIPHERTEXTS)?;
    count("nodes", s.nodes.len(), MAX_NODES)?;
    count("rotation steps", s.rotation_steps.len(), MAX_ROTATION_STEPS)?;
    let tiles = s.outputs.iter().map(|o| o.tiles.len()).sum::<usize>();
    count("output tiles", tiles, MAX_CIPHERTEXTS)?;
    let hoisted = s.hoist_groups.iter().map(Vec::len).sum::<usize>();
    count("hoisted rotations", hoisted, s.nodes.len())?;
    text("program name", &s.name, MAX_NAME_BYTES)?;
    text("program hash", &s.program_hash, MAX_NAME_BYTES)?;
    for (l, x) in s.level_scales.iter().enumerate() {
        positive(&format!("level {l} scale"), *x)?;
    }
    chain(s)?;
    let mut client = 0usize;
    for i in &s.inputs {
        text("input name", &i.name, MAX_NAME_BYTES)?;
        let what = format!("input `{}`", i.name);
        let len = shape(&what, i.shape)?;
        let k = i.elements();
        if k > MAX_SEQUENCE {
            return Err(format!("{what} has {k} elements, more than {MAX_SEQUENCE}"));
        }
        client = add_entries(&what, client, len.saturating_mul(k))?;
        if let Some((lo, hi)) = i.range {
            if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
                return Err(format!("{what} has the range [{lo}, {hi}]"));
            }
        }
    }
    let mut work = 0u128;
    for d in &s.derived {
        text("derived tensor name", &d.name, MAX_NAME_BYTES)?;
        text("derived tensor description", &d.description, MAX_TEXT_BYTES)?;
        derived(s, d, &mut client, &mut work)?;
    }
    for (i, ct) in s.ct_inputs.iter().enumerate() {
        let what = format!("encrypted input {i}");
        pack(&what, &ct.pack)?;
        positive(&what, ct.scale)?;
    }
    for (i, node) in s.nodes.iter().enumerate() {
        node_sizes(s, i, node)?;
    }
    let mut out = 0usize;
    for o in &s.outputs {
        text("output name", &o.name, MAX_NAME_BYTES)?;
        let what = format!("output `{}`", o.name);
        out = add_entries(&what, out, shape(&what, o.shape)?)?;
        if o.bound.is_nan() || o.bound < 0.0 || o.range.is_nan() || o.range < 0.0 {
            return Err(format!("{what} has a negative or undefined bound or range"));
        }
        for t in &o.tiles {
            layout(&what, &t.layout)?;
            nonzero(&what, t.factor)?;
        }
    }
    for w in s.rotation_steps.windows(2) {
        if w[0] >= w[1] {
            return Err("rotation steps are not sorted and distinct".into());
        }
    }
    if let Some(step) = s
        .rotation_steps
        .iter()
        .find(|x| x.unsigned_abs() >= slots as u64)
    {
        return Err(format!(
            "rotation step {step} is not below the {slots} slots"
        ));
    }
    Ok(())
}

fn count(what: &str, n: usize, max: usize) -> Check {
    if n > max {
        return Err(format!("{n} {what}, more than the limit of {max}"));
    }
    Ok(())
}

fn text(what: &str, t: &str, max: usize) -> Check {
    if t.len() > max {
        return Err(format!("{what} of {} bytes, more than {max}", t.len()));
    }
    Ok(())
}

fn positive(what: &str, x: f64) -> Check {
    if !(x.is_finite() && x > 0.0) {
        return Err(format!("{what} has the scale {x}"));
    }
    Ok(())
}

fn nonzero(what: &str, x: f64) -> Check {
    if !(x.is_finite() && x != 0.0) {
        return Err(format!("{what} has the factor {x}"));
    }
    Ok(())
}

fn finite(what: &str, x: f64) -> Check {
    if !x.is_finite() {
        return Err(format!("{what} has the constant {x}"));
    }
    Ok(())
}

/// The entries of `shape`, at most [`MAX_TENSOR_ENTRIES`].
fn shape(what: &str, shape: Shape) -> Result<usize, String> {
    match shape.checked_len() {
        Some(n) if n <= MAX_TENSOR_ENTRIES => Ok(n),
        _ => Err(format!(
            "{what} has the shape {shape}, more than {MAX_TENSOR_ENTRIES} entries"
        )),
    }
}

fn add_entries(what: &str, total: usize, n: usize) -> Result<usize, String> {
    match total.checked_add(n) {
        Some(t) if t <= MAX_CLIENT_ENTRIES => Ok(t),
        _ => Err(format!(
            "{what} brings the client's tensors past {MAX_CLIENT_ENTRIES} entries"
        )),
    }
}

/// Every offset of a layout is at most [`MAX_TENSOR_ENTRIES`], so offset + slot coordinate
/// (below the slot count) never overflows.
fn layout(what: &str, l: &Layout) -> Check {
    let offsets: &[usize] = match l {
        Layout::MatrixTile { row0, col0, .. } => &[*row0, *col0],
        Layout::RowVector { offset } | Layout::ColVector { offset } => &[*offset],
        Layout::Scalar => &[],
        Layout::MatrixRow { row, col0, .. } => &[*row, *col0],
    };
    if offsets.iter().any(|&o| o > MAX_TENSOR_ENTRIES) {
        return Err(format!("{what} has a layout offset beyond any tensor"));
    }
    Ok(())
}

fn pack(what: &str, p: &Pack) -> Check {
    layout(what, &p.layout)?;
    nonzero(what, p.factor)
}

fn plain(s: &Schedule, what: &str, p: &Plain) -> Check {
    match p {
        Plain::Rect { value, .. } => finite(what, *value),
        Plain::Diagonal { value, offset, .. } => {
            if offset.unsigned_abs() > s.params.slots() as u64 {
                return Err(format!("{what} has the diagonal offset {offset}"));
            }
            finite(what, *value)
        }
        Plain::Public { pack: p } => pack(what, p),
    }
}

fn node_sizes(s: &Schedule, i: usize, node: &crate::program::Node) -> Check {
    let what = format!("node {i}");
    let max_level = s.params.max_level() as u32;
    text("origin", &node.origin.tensor_op, MAX_TEXT_BYTES)?;
    if let Some(span) = &node.origin.span {
        text("source location", span, MAX_NAME_BYTES)?;
    }
    positive(&what, node.scale)?;
    if node.bound.is_nan() {
        return Err(format!("{what} has an undefined error bound"));
    }
    if let Some(l) = node.last_use {
        if l as usize <= i || l as usize >= s.nodes.len() {
            return Err(format!("{what} records its last use at node {l}"));
        }
    }
    match &node.instr {
        Instr::AddPlain { plain: p, .. } => plain(s, &what, p),
        Instr::MulPlain {
            plain: p, scale, ..
        } => {
            positive(&what, *scale)?;
            plain(s, &what, p)
        }
        Instr::AddConst { value, .. } => finite(&what, *value),
        Instr::MulConst { value, scale, .. } => {
            positive(&what, *scale)?;
            finite(&what, *value)
        }
        Instr::ModDown { level, .. } if *level > max_level => Err(format!(
            "{what} goes down to level {level}, beyond the chain"
        )),
        Instr::Trivial {
            plain: p,
            level,
            scale,
        } => {
            if *level > max_level {
                return Err(format!("{what} is at level {level}, beyond the chain"));
            }
            positive(&what, *scale)?;
            plain(s, &what, p)
        }
        Instr::Bootstrap { level, scale, .. } | Instr::BootstrapPaired { level, scale, .. } => {
            if s.bootstrap.is_none() {
                return Err(format!("{what} bootstraps, but the schedule has no chain"));
            }
            if *level > max_level {
                return Err(format!("{what} is at level {level}, beyond the chain"));
            }
            positive(&what, *scale)
        }
        _ => Ok(()),
    }
}

/// Checks a bootstrapping chain against the schedule's parameters: the chain is one the rule
/// admits (128-bit, sizes within its own checks), the parameters are its bottom (the same
/// ring, scale and primes, no more levels than it leaves the program) and the grid's rows
/// repeat with a period its slot count is a multiple of.
pub(crate) fn chain(s: &Schedule) -> Check {
    let Some(b) = &s.bootstrap else {
        return Ok(());
    };
    let bad = |m: String| Err(format!("the bootstrapping chain: {m}"));
    let full = match b.ckks_params() {
        Ok(p) => p,
        Err(e) => return bad(e.to_string()),
    };
    if let Err(e) = b.program_params() {
        return bad(e.to_string());
    }
    let p = &s.params;
    if p.log_n != b.log_n || p.log_scale != b.program_log_scale() || p.security != b.security {
        return bad("the schedule's ring or scale is not the chain's".into());
    }
    if p.q_bits.len() > b.program_levels + 1 || !full.q_bits.starts_with(&p.q_bits) {
        return bad("the schedule's primes are not the bottom of the chain".into());
    }
    let slots = 1usize << b.log_slots;
    if !slots.is_multiple_of(s.unit.w) {
        return bad(format!(
            "it refreshes 2^{} slots, the grid's rows repeat every {}",
            b.log_slots, s.unit.w
        ));
    }
    Ok(())
}

/// Infers the shape of every op of a derived tensor exactly as [`crate::eval_derived`]
/// computes it, refusing a mismatch, and adds its entries and multiply-adds to the client's
/// totals.
fn derived(
    s: &Schedule,
    d: &crate::program::DerivedTensor,
    client: &mut usize,
    work: &mut u128,
) -> Check {
    let what = format!("derived tensor `{}`", d.name);
    count(
        &format!("operations in {what}"),
        d.ops.len(),
        MAX_CLIENT_OPS,
    )?;
    let mut shapes: Vec<Shape> = Vec::with_capacity(d.ops.len());
    let mismatch = |j: usize| format!("{what} operation {j} has operands of the wrong shapes");
    for (j, op) in d.ops.iter().enumerate() {
        let get = |k: &u32| {
            shapes
                .get(*k as usize)
                .copied()
                .ok_or_else(|| format!("{what} operation {j} reads a later operation"))
        };
        let len = |x: Shape| x.checked_len().unwrap_or(usize::MAX) as u128;
        let (out, cost) = match op {
            ClientOp::Input { input, .. } => {
                let decl = s
                    .inputs
                    .get(*input as usize)
                    .ok_or_else(|| format!("{what} reads a missing input"))?;
                (decl.shape, len(decl.shape))
            }
            ClientOp::Fill { shape: x, value } => {
                finite(&what, *value)?;
                (*x, len(*x))
            }
            ClientOp::Add(a, b) | ClientOp::Sub(a, b) | ClientOp::Mul(a, b) => {
                let out = match (get(a)?, get(b)?) {
                    (x, y) if x == y => x,
                    (Shape::Scalar, y) => y,
                    (x, Shape::Scalar) => x,
                    _ => return Err(mismatch(j)),
                };
                (out, len(out))
            }
            ClientOp::Neg(a) | ClientOp::Pow(a, _) => {
                let x = get(a)?;
                (x, len(x))
            }
            ClientOp::Transpose(a) => match get(a)? {
                Shape::Matrix(r, c) => (Shape::Matrix(c, r), len(Shape::Matrix(r, c))),
                _ => return Err(mismatch(j)),
            },
            ClientOp::MatMul(a, b) => match (get(a)?, get(b)?) {
                (Shape::Matrix(r, k), Shape::Matrix(k2, c)) if k == k2 => {
                    (Shape::Matrix(r, c), (r as u128) * (k as u128) * (c as u128))
                }
                _ => return Err(mismatch(j)),
            },
            ClientOp::MatVec(a, b) => match (get(a)?, get(b)?) {
                (Shape::Matrix(r, c), Shape::Vector(n)) if c == n => {
                    (Shape::Vector(r), (r as u128) * (c as u128))
                }
                _ => return Err(mismatch(j)),
            },
            ClientOp::ScaleCols(a, v) | ClientOp::ScaleRows(a, v) => {
                let cols = matches!(op, ClientOp::ScaleCols(..));
                match (get(a)?, get(v)?) {
                    (Shape::Matrix(r, c), v)
                        if v.checked_len() == Some(if cols { c } else { r }) =>
                    {
                        (Shape::Matrix(r, c), len(Shape::Matrix(r, c)))
                    }
                    _ => return Err(mismatch(j)),
                }
            }
            ClientOp::SumRows(a) | ClientOp::SumCols(a) => match get(a)? {
                Shape::Matrix(r, c) => {
                    let n = if matches!(op, ClientOp::SumRows(..)) {
                        c
                    } else {
                        r
                    };
                    (Shape::Vector(n), (r as u128) * (c as u128))
                }
                _ => return Err(mismatch(j)),
            },
            ClientOp::Dot(a, b) => match (get(a)?, get(b)?) {
                (Shape::Vector(n), y) if y.checked_len() == Some(n) => (Shape::Scalar, n as u128),
                _ => return Err(mismatch(j)),
            },
        };
        *client = add_entries(&what, *client, shape(&what, out)?)?;
        *work = work.saturating_add(cost);
        if *work > MAX_CLIENT_WORK {
            return Err(format!(
                "{what} brings the client's precomputation past {MAX_CLIENT_WORK} multiply-adds"
            ));
        }
        shapes.push(out);
    }
    if shapes.last() != Some(&d.shape) {
        return Err(format!(
            "{what} does not compute its declared shape {}",
            d.shape
        ));
    }
    Ok(())
}
