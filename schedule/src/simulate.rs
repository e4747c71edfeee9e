//! Slot-level plaintext semantics of the schedule: every instruction applied to f64 slot
//! vectors with the exact packing (padding, masks, rotations). This is the reference the
//! encrypted execution is compared against, and it must agree with the tensor IR.

use thiserror::Error;

use std::collections::HashMap;

use crate::distortion::SineDistortion;
use crate::pack::{eval_derived, pack_slots, plain_slots, unpack_output, Tensor};
use crate::program::{Instr, Pack, Schedule, Source};

/// Why a plaintext simulation could not run.
#[derive(Debug, Error, PartialEq)]
pub enum SimulationError {
    #[error("input `{name}` expects {expected} tensor(s), got {got}")]
    InputCount {
        name: String,
        expected: usize,
        got: usize,
    },
    #[error("input `{name}` element {element} has shape {got}, expected {expected}")]
    InputShape {
        name: String,
        element: usize,
        expected: String,
        got: String,
    },
    #[error("derived input `{0}` could not be computed (shape mismatch)")]
    Derived(String),
    #[error("node {0} reads a value or plaintext that does not exist")]
    Dangling(usize),
}

/// Resolves a pack's source tensor given the user inputs and the derived tensors.
pub fn source<'a>(
    inputs: &'a [Vec<Tensor>],
    derived: &'a [Tensor],
    pack: &Pack,
) -> Option<&'a Tensor> {
    match pack.source {
        Source::Input { input, element } => inputs.get(input as usize)?.get(element as usize),
        Source::Derived { index } => derived.get(index as usize),
    }
}

/// Applies one instruction to plaintext slot vectors. `args` are the operands' slots, `input`
/// the slots of the instruction's input ciphertext (for [`Instr::Input`]), `plain` resolves
/// public plaintext operands. Returns `None` if something referenced is missing.
pub fn apply_plain<'a>(
    schedule: &Schedule,
    instr: &Instr,
    args: &[&[f64]],
    input: impl FnOnce(u32) -> Option<Vec<f64>>,
    public: impl Fn(&Pack) -> Option<&'a Tensor>,
) -> Option<Vec<f64>> {
    let mut out = Vec::new();
    apply_plain_into(schedule, instr, args, input, public, &mut out)?;
    Some(out)
}

/// [`apply_plain`] writing into `out` (its contents replaced, its capacity reused): the
/// compiler's simulations run every node on every slot several times per compilation, and
/// reusing the vectors of freed values instead of a fresh one per node saved 2% of the
/// flagship's compile time (allocation and page faults).
pub fn apply_plain_into<'a>(
    schedule: &Schedule,
    instr: &Instr,
    args: &[&[f64]],
    input: impl FnOnce(u32) -> Option<Vec<f64>>,
    public: impl Fn(&Pack) -> Option<&'a Tensor>,
    out: &mut Vec<f64>,
) -> Option<()> {
    // Generic (not `dyn`) element functions: the simulation runs every node of the schedule
    // on every slot, several times per compilation, and an indirect call per slot kept LLVM
    // from vectorizing any of it.
    fn unary(args: &[&[f64]], out: &mut Vec<f64>, f: impl Fn(f64) -> f64) -> Option<()> {
        out.clear();
        out.extend(args.first()?.iter().map(|x| f(*x)));
        Some(())
    }
    fn binary(a: &[f64], b: &[f64], out: &mut Vec<f64>, f: impl Fn(f64, f64) -> f64) {
        out.clear();
        out.extend(a.iter().zip(b).map(|(x, y)| f(*x, *y)));
    }
    let pair = || Some((*args.first()?, *args.get(1)?));
    match instr {
        Instr::Input { index } => *out = input(*index)?,
        Instr::Add { .. } => pair().map(|(a, b)| binary(a, b, out, |x, y| x + y))?,
        Instr::Sub { .. } => pair().map(|(a, b)| binary(a, b, out, |x, y| x - y))?,
        Instr::Mul { .. } => pair().map(|(a, b)| binary(a, b, out, |x, y| x * y))?,
        Instr::Neg { .. } => unary(args, out, |x| -x)?,
        Instr::AddPlain { plain, .. } => {
            let p = plain_slots(schedule.unit, plain, public)?;
            binary(args.first()?, &p, out, |x, y| x + y);
        }
        Instr::MulPlain { plain, .. } => {
            let p = plain_slots(schedule.unit, plain, public)?;
            binary(args.first()?, &p, out, |x, y| x * y);
        }
        Instr::AddConst { value, .. } => unary(args, out, |x| x + value)?,
        Instr::MulConst { value, .. } => unary(args, out, |x| x * value)?,
        Instr::MulInt { k, .. } => {
            let k = *k as f64;
            unary(args, out, |x| x * k)?
        }
        Instr::Relinearize { .. }
        | Instr::Rescale { .. }
        | Instr::ModDown { .. }
        | Instr::Conjugate { .. }
        | Instr::Bootstrap { .. } => unary(args, out, |x| x)?,
        // The refresh of its second operand (the first is the bootstrap it rode in).
        Instr::BootstrapPaired { .. } => unary(args.get(1..)?, out, |x| x)?,
        Instr::Trivial { plain, .. } => *out = plain_slots(schedule.unit, plain, public)?,
        Instr::Rotate { step, .. } => {
            let a = args.first()?;
            let n = a.len() as i64;
            let s = step.rem_euclid(n.max(1)) as usize;
            out.clear();
            out.extend_from_slice(&a[s..]);
            out.extend_from_slice(&a[..s]);
        }
    }
    Some(())
}

/// A simulation's inputs, checked against the schedule, with the derived tensors the client
/// would compute from them. Built once, they serve several simulations: the derived tensors
/// are the expensive part (a Gram of two 1024 x 197 minibatches is 0.4 GFlop, and the
/// compiler simulates each of its sample inputs more than once).
#[derive(Clone, Debug)]
pub struct Prepared {
    /// `user[i]`: the elements of user input `i`.
    pub user: Vec<Vec<Tensor>>,
    /// `derived[j]`: the value of the schedule's derived tensor `j`.
    pub derived: Vec<Tensor>,
}

impl Prepared {
    /// Checks `inputs` and computes the derived tensors.
    pub fn new(schedule: &Schedule, inputs: &[Vec<Tensor>]) -> Result<Self, SimulationError> {
        Self::with_known(schedule, inputs.to_vec(), |_| None)
    }

    /// Checks `user` and computes the derived tensors `known` does not already give (by the
    /// derived tensor's name; a given value of the wrong shape is computed instead).
    pub fn with_known(
        schedule: &Schedule,
        user: Vec<Vec<Tensor>>,
        known: impl Fn(&str) -> Option<Tensor>,
    ) -> Result<Self, SimulationError> {
        check_inputs(schedule, &user)?;
        let derived = schedule
            .derived
            .iter()
            .map(|d| match known(&d.name) {
                Some(t) if t.shape == d.shape => Ok(t),
                _ => eval_derived(d, |i, e| user.get(i as usize)?.get(e as usize))
                    .ok_or_else(|| SimulationError::Derived(d.name.clone())),
            })
            .collect::<Result<_, _>>()?;
        Ok(Prepared { user, derived })
    }
}

/// Computes the derived tensors the client would compute.
pub fn derived_tensors(
    schedule: &Schedule,
    inputs: &[Vec<Tensor>],
) -> Result<Vec<Tensor>, SimulationError> {
    schedule
        .derived
        .iter()
        .map(|d| {
            eval_derived(d, |i, e| inputs.get(i as usize)?.get(e as usize))
                .ok_or_else(|| SimulationError::Derived(d.name.clone()))
        })
        .collect()
}

/// Checks the user's tensors against the schedule's declared inputs.
pub fn check_inputs(schedule: &Schedule, inputs: &[Vec<Tensor>]) -> Result<(), SimulationError> {
    for (i, decl) in schedule.inputs.iter().enumerate() {
        let got = inputs.get(i).map_or(0, |v| v.len());
        if got != decl.elements() {
            return Err(SimulationError::InputCount {
                name: decl.name.clone(),
                expected: decl.elements(),
                got,
            });
        }
        for (e, t) in inputs[i].iter().enumerate() {
            if t.shape != decl.shape || t.data.len() != decl.shape.len() {
                return Err(SimulationError::InputShape {
                    name: decl.name.clone(),
                    element: e,
                    expected: decl.shape.to_string(),
                    got: t.shape.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// Runs the whole schedule on plaintext slots (single-threaded; each value is dropped after its
/// last reader, so memory stays at the live set) and unpacks the outputs. `inputs[i]` holds the
/// elements of user input `i` (one for non-sequences).
pub fn simulate(
    schedule: &Schedule,
    inputs: &[Vec<Tensor>],
) -> Result<Vec<Tensor>, SimulationError> {
    let outputs = stream(
        schedule,
        &Prepared::new(schedule, inputs)?,
        0,
        None,
        &mut |_, _, _| {},
    )?;
    Ok(unpack_outputs(schedule, |v| {
        outputs
            .binary_search_by_key(&v, |(id, _)| *id)
            .ok()
            .map(|i| outputs[i].1.as_slice())
    }))
}

/// Per-node statistics of [`simulate_noise`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NoiseStats {
    /// Largest |slot| of the exact value.
    pub magnitude: f64,
    /// Largest |noisy - exact| over the slots.
    pub deviation: f64,
}

/// Runs the schedule twice side by side on plaintext slots: exactly, and with Gaussian noise
/// of standard deviation `sigma(node)` added to every slot of every node's result (the CKKS
/// noise model: encryption, encoding, rescaling and key-switching errors, seen in the slots).
/// Returns, per node, the exact magnitude and how far the noise has moved the value, i.e. the
/// error as the schedule propagates it (amplified by products, summed by reductions).
/// Deterministic for a given `seed`.
pub fn simulate_noise(
    schedule: &Schedule,
    inputs: &[Vec<Tensor>],
    sigma: &dyn Fn(usize) -> f64,
    seed: u64,
) -> Result<Vec<NoiseStats>, SimulationError> {
    simulate_noise_prepared(schedule, &Prepared::new(schedule, inputs)?, sigma, seed)
}

/// [`simulate_noise`] on inputs whose derived tensors are already computed.
pub fn simulate_noise_prepared(
    schedule: &Schedule,
    inputs: &Prepared,
    sigma: &dyn Fn(usize) -> f64,
    seed: u64,
) -> Result<Vec<NoiseStats>, SimulationError> {
    let mut stats = vec![NoiseStats::default(); schedule.nodes.len()];
    stream(
        schedule,
        inputs,
        seed,
        Some(sigma),
        &mut |i, exact, noisy| {
            let (magnitude, noisy_max, deviation) = maxima(exact, noisy);
            stats[i] = if magnitude.is_finite() && noisy_max.is_finite() {
                NoiseStats {
                    magnitude,
                    deviation,
                }
            } else {
                // Overflowed: a maximum would skip the NaN of inf - inf and report the
                // deviation of the slots that still fit.
                NoiseStats {
                    magnitude: f64::INFINITY,
                    deviation: f64::INFINITY,
                }
            };
        },
    )?;
    Ok(stats)
}

/// Runs the schedule on plaintext slots (streaming, like [`simulate`]) and returns every
/// node's largest |slot| (infinite where a slot overflows): the magnitudes the compiler sizes
/// the modulus chain for.
pub fn simulate_magnitudes(
    schedule: &Schedule,
    inputs: &[Vec<Tensor>],
) -> Result<Vec<f64>, SimulationError> {
    simulate_magnitudes_prepared(schedule, &Prepared::new(schedule, inputs)?)
}

/// [`simulate_magnitudes`] on inputs whose derived tensors are already computed.
pub fn simulate_magnitudes_prepared(
    schedule: &Schedule,
    inputs: &Prepared,
) -> Result<Vec<f64>, SimulationError> {
    let mut mags = vec![0.0; schedule.nodes.len()];
    stream(schedule, inputs, 0, None, &mut |i, exact, _| {
        mags[i] = max_abs(exact);
    })?;
    Ok(mags)
}

/// Lanes of the maxima below: independent running maxima the compiler keeps in vector
/// registers (a maximum is the same in any order, so the result does not depend on them).
const LANES: usize = 8;

/// The largest `|x|`, infinite if any `x` is infinite or NaN. Every node of every simulation
/// goes through it (as a scalar fold with a branch per slot it was a fifth of compile time;
/// in the baseline's two-lane vectors a tenth).
pub fn max_abs(xs: &[f64]) -> f64 {
    maxima_of::<false>(xs, &[]).0
}

/// `(max |x|, max |y|, max |x - y|)` over the pairs of `xs` and `ys` in one pass, each infinite
/// when its values are not all finite.
fn maxima(xs: &[f64], ys: &[f64]) -> (f64, f64, f64) {
    maxima_of::<true>(xs, ys)
}

/// [`maxima`] with `PAIR`, else only `max |x|` (the other two zero), in the widest vector unit
/// the CPU has.
fn maxima_of<const PAIR: bool>(xs: &[f64], ys: &[f64]) -> (f64, f64, f64) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2")]
        unsafe fn v4<const PAIR: bool>(xs: &[f64], ys: &[f64]) -> (f64, f64, f64) {
            maxima_body::<PAIR>(xs, ys)
        }
        #[target_feature(enable = "avx2")]
        unsafe fn v3<const PAIR: bool>(xs: &[f64], ys: &[f64]) -> (f64, f64, f64) {
            maxima_body::<PAIR>(xs, ys)
        }
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512dq")
        {
            // SAFETY: the required CPU features were detected just above.
            return unsafe { v4::<PAIR>(xs, ys) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the required CPU feature was detected just above.
            return unsafe { v3::<PAIR>(xs, ys) };
        }
    }
    maxima_body::<PAIR>(xs, ys)
}

/// Compare-and-select maxima the compiler vectorizes (`f64::max` skips NaN and does not),
/// with non-finite values caught by a running sum of `x * 0`: zero while every value is
/// finite, NaN from the first infinity or NaN on.
#[inline(always)]
fn maxima_body<const PAIR: bool>(xs: &[f64], ys: &[f64]) -> (f64, f64, f64) {
    #[inline(always)]
    fn select(m: f64, a: f64) -> f64 {
        if a > m {
            a
        } else {
            m
        }
    }
    let fold = |m: [f64; LANES], bad: [f64; LANES]| {
        if bad.iter().sum::<f64>() == 0.0 {
            m.into_iter().fold(0.0, select)
        } else {
            f64::INFINITY
        }
    };
    let mut mx = [0.0f64; LANES];
    let mut bx = [0.0f64; LANES];
    if !PAIR {
        let xc = xs.chunks_exact(LANES);
        let xr = xc.remainder();
        for x in xc {
            for l in 0..LANES {
                mx[l] = select(mx[l], x[l].abs());
                bx[l] += x[l] * 0.0;
            }
        }
        for x in xr {
            mx[0] = select(mx[0], x.abs());
            bx[0] += x * 0.0;
        }
        return (fold(mx, bx), 0.0, 0.0);
    }
    let n = xs.len().min(ys.len());
    let (xs, ys) = (&xs[..n], &ys[..n]);
    let mut my = [0.0f64; LANES];
    let mut md = [0.0f64; LANES];
    let mut by = [0.0f64; LANES];
    let (xc, yc) = (xs.chunks_exact(LANES), ys.chunks_exact(LANES));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (x, y) in xc.zip(yc) {
        for l in 0..LANES {
            mx[l] = select(mx[l], x[l].abs());
            my[l] = select(my[l], y[l].abs());
            md[l] = select(md[l], (x[l] - y[l]).abs());
            bx[l] += x[l] * 0.0;
            by[l] += y[l] * 0.0;
        }
    }
    for (x, y) in xr.iter().zip(yr) {
        mx[0] = select(mx[0], x.abs());
        my[0] = select(my[0], y.abs());
        md[0] = select(md[0], (x - y).abs());
        bx[0] += x * 0.0;
        by[0] += y * 0.0;
    }
    let both: [f64; LANES] = std::array::from_fn(|l| bx[l] + by[l]);
    (fold(mx, bx), fold(my, by), fold(md, both))
}

/// Standard normal noise for the noise model (a statistical model, not a secret): every
/// node reads its slots' draws from one shared pool of [`POOL`] standard normals (ziggurat
/// over xoshiro256++, made once per process), starting at an offset the simulation's seeded
/// generator picks per node. A draw per slot cost more than the simulation's arithmetic
/// (GD at k = 6: 5,662 nodes of 16,384 slots, three simulations, about 1.1 s of the
/// compile's 2.2); a pool read in order costs a fraction of that. Two nodes' draws are
/// independent unless their offsets differ by exactly the rotation that lines them up (a
/// chance of 2^-20 per pair), and a node never reuses a draw across its own slots.
struct Gaussian(rand_xoshiro::Xoshiro256PlusPlus);

/// Draws in the shared pool (8 MiB): far more than the slots of any ring.
const POOL: usize = 1 << 20;

/// The shared pool of standard normals, the same in every run.
fn pool() -> &'static [f64] {
    static POOL_DRAWS: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    POOL_DRAWS.get_or_init(|| {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(0x706f_6f6c);
        (0..POOL)
            .map(|_| rng.sample::<f64, _>(rand_distr::StandardNormal))
            .collect()
    })
}

impl Gaussian {
    /// Adds `s` times a standard normal draw to every slot of `y`.
    fn add_to(&mut self, y: &mut [f64], s: f64) {
        use rand::RngCore;
        let pool = pool();
        let mut start = (self.0.next_u64() as usize) % POOL;
        for chunk in y.chunks_mut(POOL) {
            let (tail, head) = pool.split_at(start);
            let draws = head.iter().chain(tail);
            chunk.iter_mut().zip(draws).for_each(|(v, d)| *v += s * d);
            start = (start + chunk.len()) % POOL;
        }
    }
}

/// Receives each node's exact and noisy slots.
type Visit<'a> = &'a mut dyn FnMut(usize, &[f64], &[f64]);

/// The simulation loop: evaluates nodes in order, exactly and (with `sigma`) with noise,
/// calls `visit(node, exact, noisy)`, frees values after their last reader, and returns the
/// output values (sorted by id).
fn stream(
    schedule: &Schedule,
    prepared: &Prepared,
    seed: u64,
    sigma: Option<&dyn Fn(usize) -> f64>,
    visit: Visit,
) -> Result<Vec<(u32, Vec<f64>)>, SimulationError> {
    use rand::SeedableRng;
    let (inputs, derived) = (&prepared.user[..], &prepared.derived[..]);
    let n = schedule.nodes.len();
    let outputs = schedule.output_values();
    let mut readers = vec![0usize; n];
    for node in &schedule.nodes {
        for a in node.instr.operands() {
            if let Some(r) = readers.get_mut(a as usize) {
                *r += 1;
            }
        }
    }
    let mut exact: Vec<Option<Vec<f64>>> = vec![None; n];
    let mut noisy: Vec<Option<Vec<f64>>> = vec![None; n];
    // Slot vectors of freed values, reused for new ones.
    let mut spare: Vec<Vec<f64>> = Vec::new();
    let mut rng = Gaussian(rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed));
    let mut result = Vec::with_capacity(outputs.len());
    // With noise, a bootstrap also applies EvalMod's sine to its message's coefficients
    // ([`SineDistortion`]), made on the first bootstrap; the imaginary half of a paired
    // bootstrap waits here for its [`Instr::BootstrapPaired`].
    let mut sine: Option<Option<SineDistortion>> = None;
    let mut paired: HashMap<usize, Vec<f64>> = HashMap::new();
    for (i, node) in schedule.nodes.iter().enumerate() {
        let ops = node.instr.operands();
        let input = |index: u32| {
            let ct = schedule.ct_inputs.get(index as usize)?;
            let t = source(inputs, derived, &ct.pack)?;
            Some(pack_slots(schedule.unit, &ct.pack, t))
        };
        let public = |p: &Pack| source(inputs, derived, p);
        let eval = |vals: &[Option<Vec<f64>>], out: &mut Vec<f64>| -> Result<(), SimulationError> {
            let mut args = Vec::with_capacity(ops.len());
            for a in &ops {
                match vals.get(*a as usize) {
                    Some(Some(v)) => args.push(v.as_slice()),
                    _ => return Err(SimulationError::Dangling(i)),
                }
            }
            apply_plain_into(schedule, &node.instr, &args, input, public, out)
                .ok_or(SimulationError::Dangling(i))
        };
        let mut x = spare.pop().unwrap_or_default();
        // The noisy copy of a node with operands does not depend on its exact value: both
        // are computed at once (a third simulation on two threads no longer runs alone).
        let y = match sigma {
            Some(sigma) => {
                let mut y = spare.pop().unwrap_or_default();
                let mut noisy_value = |y: &mut Vec<f64>| -> Result<(), SimulationError> {
                    eval(&noisy, y)?;
                    match node.instr {
                        Instr::Bootstrap { a, with, .. } => {
                            let sine = sine.get_or_insert_with(|| SineDistortion::new(y.len()));
                            let t = SineDistortion::angle_of(schedule, a);
                            let mut im = with.and_then(|b| noisy.get(b as usize)?.clone());
                            if let Some(sine) = sine {
                                sine.apply(t, y, im.as_deref_mut());
                            }
                            paired.extend(im.map(|v| (i, v)));
                        }
                        Instr::BootstrapPaired { x, .. } => {
                            if let Some(v) = paired.remove(&(x as usize)) {
                                *y = v;
                            }
                        }
                        _ => {}
                    }
                    Ok(())
                };
                if ops.is_empty() {
                    eval(&exact, &mut x)?;
                    y.clear();
                    y.extend_from_slice(&x);
                } else {
                    let (e, n) = rayon::join(|| eval(&exact, &mut x), || noisy_value(&mut y));
                    e?;
                    n?;
                }
                let s = sigma(i);
                if s > 0.0 {
                    rng.add_to(&mut y, s);
                }
                Some(y)
            }
            None => {
                eval(&exact, &mut x)?;
                None
            }
        };
        visit(i, &x, y.as_deref().unwrap_or(&x));
        for a in &ops {
            let k = *a as usize;
            readers[k] -= 1;
            if readers[k] == 0 && outputs.binary_search(a).is_err() {
                spare.extend(exact[k].take());
                spare.extend(noisy[k].take());
            }
        }
        if outputs.binary_search(&(i as u32)).is_ok() {
            result.push((i as u32, x.clone()));
        }
        if readers[i] > 0 {
            exact[i] = Some(x);
            noisy[i] = y;
        } else {
            spare.push(x);
            spare.extend(y);
        }
    }
    Ok(result)
}

/// Runs the schedule on plaintext slots and returns every node's slot vector.
pub fn simulate_values(
    schedule: &Schedule,
    inputs: &[Vec<Tensor>],
) -> Result<Vec<Vec<f64>>, SimulationError> {
    check_inputs(schedule, inputs)?;
    let derived = derived_tensors(schedule, inputs)?;
    let mut values: Vec<Vec<f64>> = Vec::with_capacity(schedule.nodes.len());
    for (i, node) in schedule.nodes.iter().enumerate() {
        let ops = node.instr.operands();
        let mut args = Vec::with_capacity(ops.len());
        for a in &ops {
            args.push(
                values
                    .get(*a as usize)
                    .ok_or(SimulationError::Dangling(i))?
                    .as_slice(),
            );
        }
        let input = |index: u32| {
            let ct = schedule.ct_inputs.get(index as usize)?;
            let t = source(inputs, &derived, &ct.pack)?;
            Some(pack_slots(schedule.unit, &ct.pack, t))
        };
        let v = apply_plain(schedule, &node.instr, &args, input, |p| {
            source(inputs, &derived, p)
        })
        .ok_or(SimulationError::Dangling(i))?;
        values.push(v);
    }
    Ok(values)
}

/// Unpacks every output from the values `value(id)` returns (missing values read as zero).
pub fn unpack_outputs<'a>(
    schedule: &Schedule,
    value: impl Fn(u32) -> Option<&'a [f64]>,
) -> Vec<Tensor> {
    schedule
        .outputs
        .iter()
        .map(|o| {
            let mut t = Tensor::filled(o.shape, 0.0);
            for tile in &o.tiles {
                let slots = value(tile.value).unwrap_or(&[]);
                unpack_output(schedule.unit, tile, slots, &mut t);
            }
            t
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::max_abs;

    /// The lane-wise maximum is the largest magnitude, over whole lanes and the remainder, and
    /// infinite as soon as one value is infinite or NaN (wherever it lies).
    #[test]
    fn max_abs_is_the_largest_magnitude_or_infinite() {
        assert_eq!(max_abs(&[]), 0.0);
        let xs: Vec<f64> = (0..19).map(|k| (k as f64 - 9.5) * 0.25).collect();
        assert_eq!(max_abs(&xs), 2.375);
        for at in [0, 7, 8, 18] {
            for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                let mut ys = xs.clone();
                ys[at] = bad;
                assert_eq!(max_abs(&ys), f64::INFINITY, "{bad} at {at}");
            }
        }
        assert_eq!(max_abs(&[-0.0, -3.0, 2.0]), 3.0);
    }

    /// The fused maxima agree with scalar folds, and a non-finite value anywhere makes its
    /// side's maximum and the difference's infinite, leaving the other side's finite.
    #[test]
    fn fused_maxima_match_the_scalar_folds() {
        use super::maxima;
        let xs: Vec<f64> = (0..21).map(|k| ((k * 7 % 13) as f64 - 6.5) * 0.3).collect();
        let ys: Vec<f64> = (0..21).map(|k| ((k * 5 % 11) as f64 - 4.0) * 0.7).collect();
        let fold = |v: &mut dyn Iterator<Item = f64>| v.fold(0.0f64, f64::max);
        let want = (
            fold(&mut xs.iter().map(|x| x.abs())),
            fold(&mut ys.iter().map(|y| y.abs())),
            fold(&mut xs.iter().zip(&ys).map(|(x, y)| (x - y).abs())),
        );
        assert_eq!(maxima(&xs, &ys), want);
        for at in [0, 9, 20] {
            let mut bad = ys.clone();
            bad[at] = f64::NAN;
            let (mx, my, md) = maxima(&xs, &bad);
            assert_eq!(
                (mx, my, md),
                (want.0, f64::INFINITY, f64::INFINITY),
                "at {at}"
            );
        }
    }
}
