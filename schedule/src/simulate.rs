//! Slot-level plaintext semantics of the schedule: every instruction applied to f64 slot
//! vectors with the exact packing (padding, masks, rotations). This is the reference the
//! encrypted execution is compared against, and it must agree with the tensor IR.

use thiserror::Error;

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
    let unary = |f: &dyn Fn(f64) -> f64| Some(args.first()?.iter().map(|x| f(*x)).collect());
    let binary = |f: &dyn Fn(f64, f64) -> f64| {
        let (a, b) = (args.first()?, args.get(1)?);
        Some(a.iter().zip(b.iter()).map(|(x, y)| f(*x, *y)).collect())
    };
    match instr {
        Instr::Input { index } => input(*index),
        Instr::Add { .. } => binary(&|x, y| x + y),
        Instr::Sub { .. } => binary(&|x, y| x - y),
        Instr::Mul { .. } => binary(&|x, y| x * y),
        Instr::Neg { .. } => unary(&|x| -x),
        Instr::AddPlain { plain, .. } | Instr::MulPlain { plain, .. } => {
            let p = plain_slots(schedule.unit, plain, public)?;
            let a = args.first()?;
            let add = matches!(instr, Instr::AddPlain { .. });
            Some(
                a.iter()
                    .zip(&p)
                    .map(|(x, y)| if add { x + y } else { x * y })
                    .collect(),
            )
        }
        Instr::AddConst { value, .. } => unary(&|x| x + value),
        Instr::MulConst { value, .. } => unary(&|x| x * value),
        Instr::MulInt { k, .. } => unary(&|x| x * *k as f64),
        Instr::Relinearize { .. }
        | Instr::Rescale { .. }
        | Instr::ModDown { .. }
        | Instr::Conjugate { .. } => Some(args.first()?.to_vec()),
        Instr::Trivial { plain, .. } => plain_slots(schedule.unit, plain, public),
        Instr::Rotate { step, .. } => {
            let a = args.first()?;
            let n = a.len() as i64;
            let s = step.rem_euclid(n.max(1)) as usize;
            let mut out = Vec::with_capacity(a.len());
            out.extend_from_slice(&a[s..]);
            out.extend_from_slice(&a[..s]);
            Some(out)
        }
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
    let outputs = stream(schedule, inputs, 0, None, &mut |_, _, _| {})?;
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
    let mut stats = vec![NoiseStats::default(); schedule.nodes.len()];
    stream(
        schedule,
        inputs,
        seed,
        Some(sigma),
        &mut |i, exact, noisy| {
            let mut s = NoiseStats::default();
            for (x, y) in exact.iter().zip(noisy) {
                if !(x.is_finite() && y.is_finite()) {
                    // Overflowed: f64::max would skip the NaN of inf - inf and report the
                    // deviation of the slots that still fit.
                    s.magnitude = f64::INFINITY;
                    s.deviation = f64::INFINITY;
                    break;
                }
                s.magnitude = s.magnitude.max(x.abs());
                s.deviation = s.deviation.max((x - y).abs());
            }
            stats[i] = s;
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
    let mut mags = vec![0.0; schedule.nodes.len()];
    stream(schedule, inputs, 0, None, &mut |i, exact, _| {
        mags[i] = exact.iter().fold(0.0f64, |m, x| {
            if x.is_finite() {
                m.max(x.abs())
            } else {
                f64::INFINITY
            }
        });
    })?;
    Ok(mags)
}

/// Standard normal samples (ziggurat), for the noise model only.
struct Gaussian(rand_chacha::ChaCha8Rng);

impl Gaussian {
    fn sample(&mut self) -> f64 {
        use rand::Rng;
        self.0.sample(rand_distr::StandardNormal)
    }
}

/// Receives each node's exact and noisy slots.
type Visit<'a> = &'a mut dyn FnMut(usize, &[f64], &[f64]);

/// The simulation loop: evaluates nodes in order, exactly and (with `sigma`) with noise,
/// calls `visit(node, exact, noisy)`, frees values after their last reader, and returns the
/// output values (sorted by id).
fn stream(
    schedule: &Schedule,
    inputs: &[Vec<Tensor>],
    seed: u64,
    sigma: Option<&dyn Fn(usize) -> f64>,
    visit: Visit,
) -> Result<Vec<(u32, Vec<f64>)>, SimulationError> {
    use rand::SeedableRng;
    check_inputs(schedule, inputs)?;
    let derived = derived_tensors(schedule, inputs)?;
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
    let mut rng = Gaussian(rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let mut result = Vec::with_capacity(outputs.len());
    for (i, node) in schedule.nodes.iter().enumerate() {
        let ops = node.instr.operands();
        let input = |index: u32| {
            let ct = schedule.ct_inputs.get(index as usize)?;
            let t = source(inputs, &derived, &ct.pack)?;
            Some(pack_slots(schedule.unit, &ct.pack, t))
        };
        let public = |p: &Pack| source(inputs, &derived, p);
        let eval = |vals: &[Option<Vec<f64>>]| -> Result<Vec<f64>, SimulationError> {
            let mut args = Vec::with_capacity(ops.len());
            for a in &ops {
                match vals.get(*a as usize) {
                    Some(Some(v)) => args.push(v.as_slice()),
                    _ => return Err(SimulationError::Dangling(i)),
                }
            }
            apply_plain(schedule, &node.instr, &args, input, public)
                .ok_or(SimulationError::Dangling(i))
        };
        let x = eval(&exact)?;
        let y = match sigma {
            Some(sigma) => {
                let mut y = if ops.is_empty() {
                    x.clone()
                } else {
                    eval(&noisy)?
                };
                let s = sigma(i);
                if s > 0.0 {
                    y.iter_mut().for_each(|v| *v += s * rng.sample());
                }
                Some(y)
            }
            None => None,
        };
        visit(i, &x, y.as_deref().unwrap_or(&x));
        for a in &ops {
            let k = *a as usize;
            readers[k] -= 1;
            if readers[k] == 0 && outputs.binary_search(a).is_err() {
                exact[k] = None;
                noisy[k] = None;
            }
        }
        if outputs.binary_search(&(i as u32)).is_ok() {
            result.push((i as u32, x.clone()));
        }
        if readers[i] > 0 {
            exact[i] = Some(x);
            noisy[i] = y;
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
