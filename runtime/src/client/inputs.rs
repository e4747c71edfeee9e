//! Encrypting a program's inputs: shape and range checks, client-side precomputation of the
//! derived tensors, packing into slot vectors and seed-compressed secret-key encryption.

use rayon::prelude::*;

use super::check_context;
use super::container::{FileKind, Reader, Writer};
use super::error::{ClientError, Result};
use super::keys::{check_key_set, EvalKeys, KeyId};
use crate::ckks::{Ciphertext, Context, Sampler, SecretKey, SeededCiphertext};
use crate::schedule::{
    eval_derived, pack_slots, Pack, Schedule, Shape, Source, Tensor, TensorInput,
};

/// What the client uploads: one seed-compressed ciphertext per [`Schedule::ct_inputs`] entry
/// it encrypts ([`Schedule::client_ct_inputs`]: all but a refreshed state's, which the server
/// supplies)
/// and the `plain` (public) inputs as they are. Encrypted inputs never appear in clear here;
/// derived tensors are not sent either (they exist only inside the ciphertexts).
#[derive(Clone, Debug, PartialEq)]
pub struct EncryptedInputs {
    /// The program these inputs were encrypted for.
    pub program_name: String,
    pub program_hash: String,
    /// The key set whose secret key encrypted them.
    pub key_id: KeyId,
    /// `ciphertexts[i]` holds the i-th of [`Schedule::client_ct_inputs`] (`ct_inputs[i]`
    /// when the schedule refreshes no state).
    pub ciphertexts: Vec<SeededCiphertext>,
    /// `public[i]`: the elements of user input `i` if it is a `plain` input; empty for
    /// encrypted inputs. This is the shape the executor takes.
    pub public: Vec<Vec<Tensor>>,
}

/// `x` or `Z[1]`.
pub(crate) fn element_name(decl: &TensorInput, element: usize) -> String {
    match decl.seq {
        Some(_) => format!("{}[{element}]", decl.name),
        None => decl.name.clone(),
    }
}

/// Human-readable name of a packing's source tensor.
pub(crate) fn source_name(schedule: &Schedule, pack: &Pack) -> String {
    match pack.source {
        Source::Input { input, element } => schedule
            .inputs
            .get(input as usize)
            .map(|d| element_name(d, element as usize))
            .unwrap_or_else(|| format!("input #{input}")),
        Source::Derived { index } => schedule
            .derived
            .get(index as usize)
            .map(|d| format!("derived `{}` = {}", d.name, d.description))
            .unwrap_or_else(|| format!("derived #{index}")),
    }
}

/// Checks one input's tensors: element count, shape, finiteness and the declared range.
/// Where entry `index` (row-major) of a tensor of `shape` is, counted from 1 as the lines and
/// columns of its file: `row 10, column 3` of a matrix, `entry 7` of a vector.
fn position(shape: Shape, index: usize) -> String {
    match shape {
        Shape::Matrix(_, c) if c > 0 => {
            format!("row {}, column {}", index / c + 1, index % c + 1)
        }
        _ => format!("entry {}", index + 1),
    }
}

fn check_input(decl: &TensorInput, tensors: &[Tensor]) -> Result<()> {
    if tensors.len() != decl.elements() {
        return Err(ClientError::ElementCount {
            name: decl.name.clone(),
            expected: decl.elements(),
            got: tensors.len(),
        });
    }
    for (e, t) in tensors.iter().enumerate() {
        if t.shape != decl.shape || t.data.len() != decl.shape.len() {
            // A tensor whose data does not fill its shape is reported by the length it has.
            let got = if t.data.len() == t.shape.len() {
                t.shape
            } else {
                Shape::Vector(t.data.len())
            };
            return Err(ClientError::InputShape {
                name: element_name(decl, e),
                expected: decl.shape,
                got,
            });
        }
        for (index, &value) in t.data.iter().enumerate() {
            if !value.is_finite() {
                return Err(ClientError::NonFinite {
                    name: element_name(decl, e),
                    at: position(decl.shape, index),
                    value,
                });
            }
            if let Some((lo, hi)) = decl.range {
                if !(lo..=hi).contains(&value) {
                    return Err(ClientError::OutOfRange {
                        name: element_name(decl, e),
                        at: position(decl.shape, index),
                        value,
                        lo,
                        hi,
                    });
                }
            }
        }
    }
    Ok(())
}

/// Checks the user's tensors against the schedule's inputs (`inputs[i]` holds the elements of
/// input `i`, one tensor for a non-sequence input).
pub fn check_inputs(schedule: &Schedule, inputs: &[Vec<Tensor>]) -> Result<()> {
    if inputs.len() != schedule.inputs.len() {
        return Err(ClientError::InputCount {
            expected: schedule.inputs.len(),
            got: inputs.len(),
            names: schedule
                .inputs
                .iter()
                .map(|d| d.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    for (decl, tensors) in schedule.inputs.iter().zip(inputs) {
        check_input(decl, tensors)?;
    }
    Ok(())
}

/// Refuses inputs that drive some value of the schedule beyond what its level's modulus holds.
///
/// The compiler sizes the chain from the declared ranges and from sample inputs (interval
/// arithmetic where it is tight, else a margin over what the samples reach: see the range
/// analysis), so data at the extremes of a high-degree expression can exceed it; a value whose
/// `|value| · scale` passes `Q_level / 2` wraps around and decrypts to garbage. The client has
/// the data, so it runs the schedule on it in plaintext (the slot-level simulation) and checks
/// every node against its limit (less 7% for the noise and the primes' distance to 2^bits),
/// naming the first one beyond it.
pub fn check_headroom(schedule: &Schedule, inputs: &[Vec<Tensor>]) -> Result<()> {
    let Ok(mags) = crate::schedule::simulate_magnitudes(schedule, inputs) else {
        // Inputs the simulation refuses were refused by `check_inputs` already.
        return Ok(());
    };
    let q_bits = &schedule.params.q_bits;
    // |value| · scale < Q / 2, with 7% for the noise and the primes' distance to 2^bits.
    let limit = |level: u32, scale: f64| {
        let log_q: f64 = q_bits
            .iter()
            .take(level as usize + 1)
            .map(|&b| f64::from(b) - 0.01)
            .sum();
        (log_q - 1.1 - scale.log2()).exp2()
    };
    let refuse = |k: usize, node: &crate::schedule::Node, what: &str, value: f64, limit: f64| {
        let at = node
            .origin
            .span
            .as_deref()
            .map_or(String::new(), |s| format!(" at {s}"));
        Err(ClientError::Headroom {
            what: format!(
                "node {k} ({}{what} of tensor %{}{at})",
                node.instr.name(),
                node.origin.tensor_node
            ),
            value,
            limit,
        })
    };
    for (k, (node, &mag)) in schedule.nodes.iter().zip(&mags).enumerate() {
        let l = limit(node.level, node.scale);
        if mag.is_nan() || mag > l {
            return refuse(k, node, "", mag, l);
        }
        // A bootstrap takes its operands down to level 0 first, where q_0 alone holds them.
        if let crate::schedule::Instr::Bootstrap { .. } = node.instr {
            for a in node.instr.operands() {
                let (Some(op), Some(&m)) = (schedule.nodes.get(a as usize), mags.get(a as usize))
                else {
                    continue;
                };
                let l = limit(0, op.scale);
                if m.is_nan() || m > l {
                    return refuse(k, node, "'s input at level 0", m, l);
                }
            }
        }
    }
    Ok(())
}

/// Encrypts a program's inputs under the secret key.
///
/// Secret-key encryption (rather than public-key) because the data owner holds the key: its
/// noise is smaller (one error term instead of three), and its uniform half can be replaced by
/// a 32-byte seed, halving the upload. Each ciphertext gets its own sampler forked from
/// `sampler`, so encryption runs in parallel and stays reproducible under a seeded sampler.
///
/// A state input the server refreshes ([`crate::schedule::TensorInput::refreshed_from`]) is
/// not encrypted; its tensors (the client's plaintext estimate of the state) only serve the
/// headroom check.
pub fn encrypt_inputs(
    schedule: &Schedule,
    ctx: &Context,
    sk: &SecretKey,
    inputs: &[Vec<Tensor>],
    sampler: &mut Sampler,
) -> Result<EncryptedInputs> {
    check_context(schedule, ctx)?;
    check_inputs(schedule, inputs)?;
    check_headroom(schedule, inputs)?;
    let derived = schedule
        .derived
        .iter()
        .map(|d| {
            eval_derived(d, |i, e| inputs.get(i as usize)?.get(e as usize))
                .ok_or_else(|| ClientError::Derived(d.name.clone()))
        })
        .collect::<Result<Vec<Tensor>>>()?;
    let cts: Vec<(usize, &crate::schedule::CtInput)> = schedule.client_ct_inputs().collect();
    let forks: Vec<Sampler> = cts.iter().map(|_| sampler.fork()).collect();
    let ciphertexts = cts
        .par_iter()
        .zip(forks)
        .map(|(&(index, ct), mut rng)| {
            let fail = |error| ClientError::Encrypt {
                index,
                source_name: source_name(schedule, &ct.pack),
                error,
            };
            let tensor = match ct.pack.source {
                Source::Input { input, element } => inputs
                    .get(input as usize)
                    .and_then(|t| t.get(element as usize)),
                Source::Derived { index } => derived.get(index as usize),
            };
            // The schedule was validated on load, so a missing source is a malformed schedule.
            let tensor = tensor.ok_or_else(|| {
                fail(crate::ckks::CkksError::Encoding(
                    "the schedule refers to a tensor that does not exist".into(),
                ))
            })?;
            let slots = pack_slots(schedule.unit, &ct.pack, tensor);
            let pt = ctx
                .encode(&slots, ct.level as usize, ct.scale)
                .map_err(fail)?;
            ctx.encrypt_sk_seeded(&pt, sk, &mut rng).map_err(fail)
        })
        .collect::<Result<Vec<_>>>()?;
    let public = schedule
        .inputs
        .iter()
        .zip(inputs)
        .map(|(decl, t)| {
            if decl.encrypted {
                Vec::new()
            } else {
                t.clone()
            }
        })
        .collect();
    Ok(EncryptedInputs {
        program_name: schedule.name.clone(),
        program_hash: schedule.program_hash.clone(),
        key_id: KeyId::of(ctx, sk)?,
        ciphertexts,
        public,
    })
}

/// Scales are carried exactly through serialization; the tolerance only absorbs a schedule
/// whose scales were recomputed with different rounding.
fn scales_match(a: f64, b: f64) -> bool {
    (a / b - 1.0).abs() < 1e-9
}

fn write_tensor(w: &mut Writer, t: &Tensor) {
    match t.shape {
        Shape::Scalar => w.u8(0),
        Shape::Vector(n) => {
            w.u8(1);
            w.u64(n as u64);
        }
        Shape::Matrix(r, c) => {
            w.u8(2);
            w.u64(r as u64);
            w.u64(c as u64);
        }
    }
    for &x in &t.data {
        w.f64(x);
    }
}

fn read_tensor(r: &mut Reader<'_>) -> Result<Tensor> {
    let dim = |r: &mut Reader<'_>| -> Result<usize> {
        usize::try_from(r.u64()?).map_err(|_| r.malformed("tensor dimension too large"))
    };
    let shape = match r.u8()? {
        0 => Shape::Scalar,
        1 => Shape::Vector(dim(r)?),
        2 => {
            let rows = dim(r)?;
            Shape::Matrix(rows, dim(r)?)
        }
        t => return Err(r.malformed(format!("unknown tensor shape tag {t}"))),
    };
    let len = match shape {
        Shape::Matrix(a, b) => a.checked_mul(b),
        s => Some(s.len()),
    };
    // Bound the allocation by the bytes actually present.
    let len = len
        .filter(|&n| n.checked_mul(8).is_some_and(|b| b <= r.remaining()))
        .ok_or_else(|| r.malformed(format!("tensor of shape {shape} exceeds the data")))?;
    let data = (0..len).map(|_| r.f64()).collect::<Result<Vec<f64>>>()?;
    Ok(Tensor { shape, data })
}

impl EncryptedInputs {
    /// Serializes into an encrypted-inputs file bound to the program.
    pub fn to_bytes(&self, ctx: &Context) -> Result<Vec<u8>> {
        let mut w = Writer::new(
            FileKind::EncryptedInputs,
            &ctx.fingerprint(),
            self.key_id,
            &self.program_name,
            &self.program_hash,
        );
        w.u32(self.public.len() as u32);
        for tensors in &self.public {
            w.u32(tensors.len() as u32);
            for t in tensors {
                write_tensor(&mut w, t);
            }
        }
        w.u32(self.ciphertexts.len() as u32);
        for ct in &self.ciphertexts {
            w.section(&ct.to_bytes(ctx)?);
        }
        Ok(w.finish())
    }

    /// Loads an encrypted-inputs file for `schedule` and checks every ciphertext's level and
    /// scale and every public tensor against it.
    pub fn from_bytes(schedule: &Schedule, ctx: &Context, bytes: &[u8]) -> Result<Self> {
        let fp = check_context(schedule, ctx)?;
        let mut r = Reader::open(bytes, FileKind::EncryptedInputs, schedule, &fp)?;
        let key_id = r.key_id();
        r.count(schedule.inputs.len(), "inputs")?;
        let mut public = Vec::with_capacity(schedule.inputs.len());
        for decl in &schedule.inputs {
            let want = if decl.encrypted { 0 } else { decl.elements() };
            let n = r.u32()? as usize;
            if n != want {
                return Err(r.malformed(format!(
                    "{n} public tensor(s) for input `{}`, expected {want}",
                    decl.name
                )));
            }
            public.push(
                (0..n)
                    .map(|_| read_tensor(&mut r))
                    .collect::<Result<Vec<_>>>()?,
            );
        }
        let count = schedule.client_ct_inputs().count();
        r.count(count, "input ciphertexts")?;
        let mut ciphertexts = Vec::with_capacity(count);
        for _ in 0..count {
            ciphertexts.push(SeededCiphertext::from_bytes(ctx, r.section()?)?);
        }
        r.finish()?;
        let inputs = EncryptedInputs {
            program_name: schedule.name.clone(),
            program_hash: schedule.program_hash.clone(),
            key_id,
            ciphertexts,
            public,
        };
        inputs.check(schedule)?;
        Ok(inputs)
    }

    /// Checks the inputs against the schedule: program, ciphertext count, levels and scales,
    /// public tensors.
    pub fn check(&self, schedule: &Schedule) -> Result<()> {
        if self.program_hash != schedule.program_hash {
            return Err(ClientError::WrongProgram {
                what: "encrypted inputs",
                expected: super::container::program_label(&schedule.name, &schedule.program_hash),
                found: super::container::program_label(&self.program_name, &self.program_hash),
            });
        }
        let count = schedule.client_ct_inputs().count();
        if self.ciphertexts.len() != count {
            return Err(ClientError::Malformed {
                what: "encrypted inputs",
                detail: format!(
                    "{} ciphertexts, the schedule has {count}",
                    self.ciphertexts.len(),
                ),
            });
        }
        for (ct, (index, want)) in self.ciphertexts.iter().zip(schedule.client_ct_inputs()) {
            if ct.level != want.level as usize || !scales_match(ct.scale, want.scale) {
                return Err(ClientError::InputLevel {
                    index,
                    level: ct.level,
                    log_scale: ct.scale.log2(),
                    expected_level: want.level,
                    expected_log_scale: want.scale.log2(),
                });
            }
        }
        if self.public.len() != schedule.inputs.len() {
            return Err(ClientError::InputCount {
                expected: schedule.inputs.len(),
                got: self.public.len(),
                names: String::new(),
            });
        }
        for (decl, tensors) in schedule.inputs.iter().zip(&self.public) {
            if decl.encrypted {
                if !tensors.is_empty() {
                    return Err(ClientError::Malformed {
                        what: "encrypted inputs",
                        detail: format!("encrypted input `{}` is present in clear", decl.name),
                    });
                }
            } else {
                check_input(decl, tensors)?;
            }
        }
        Ok(())
    }

    /// Checks that these inputs were encrypted by the key set of `keys` (the server's check:
    /// evaluation keys of another key set would turn the run into noise).
    pub fn check_keys(&self, keys: &EvalKeys) -> Result<()> {
        check_key_set(
            "encrypted inputs",
            self.key_id,
            "evaluation keys",
            keys.key_id,
        )
    }

    /// The full ciphertexts for the executor (regenerates each uniform half from its seed).
    pub fn expand(&self, ctx: &Context) -> Result<Vec<Ciphertext>> {
        Ok(self
            .ciphertexts
            .par_iter()
            .map(|c| ctx.expand_seeded(c))
            .collect::<std::result::Result<Vec<_>, _>>()?)
    }

    /// Bytes the client uploads (the size of [`EncryptedInputs::to_bytes`]).
    pub fn upload_bytes(&self, ctx: &Context) -> Result<usize> {
        Ok(self.to_bytes(ctx)?.len())
    }
}

/// Payload bytes of the input ciphertexts once expanded (two bit-packed polynomials each,
/// headers excluded): roughly what the upload would be without seed compression.
pub fn expanded_bytes(schedule: &Schedule, ctx: &Context) -> usize {
    let n = ctx.n();
    schedule
        .client_ct_inputs()
        .map(|(_, ct)| {
            let limbs = &ctx.q_primes()[..=(ct.level as usize).min(ctx.max_level())];
            let poly: usize = limbs
                .iter()
                .map(|q| (n * (64 - q.leading_zeros()) as usize).div_ceil(8))
                .sum();
            2 * poly
        })
        .sum()
}
