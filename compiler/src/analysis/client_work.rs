//! Who does the work: the server's multiplications on encrypted data, and what the client
//! computes before encrypting (the derived inputs of `client-precompute`).
//!
//! The server exists to run the training on ciphertexts. A plan in which the client computes
//! the model and the server only adds is not a compilation: the driver checks, with
//! [`encrypted_products`] before and after the pipeline, that the optimizer never moves every
//! multiplication on encrypted data to the client, and reports [`ClientWork`] next to the
//! server's so a user sees what the client pays for the depth it saves.

use serde::Serialize;

use crate::ir::{Graph, Op, Program, Secrecy, Shape};

/// What the client computes and uploads beyond its own data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct ClientWork {
    /// Derived inputs the client computes and encrypts.
    pub derived_inputs: usize,
    /// Their values (the plaintext size of the extra upload, 8 bytes each).
    pub extra_values: u64,
    /// Floating-point operations to compute them (a multiply-add counts 2).
    pub flops: u64,
    /// Values of the encrypted inputs the user declared (the data's own size), for comparison.
    pub data_values: u64,
    /// Once lowered: the bytes uploaded for the derived inputs' ciphertexts (seed-compressed,
    /// at the levels they are encrypted at): what the client's work adds to the upload.
    pub extra_upload_bytes: Option<u64>,
    /// Once lowered: the bytes uploaded for the declared encrypted inputs' ciphertexts (every
    /// packing of them), for comparison. The ratio is smaller than the values' where the
    /// derived inputs are used deep in the circuit (fewer primes) and the data is padded to
    /// its tiles or sent in two forms: GD at k = 6 derives 3.47x its data's values and
    /// uploads 2.1x its data's bytes.
    pub data_upload_bytes: Option<u64>,
}

impl ClientWork {
    /// The client's work in `p` (an optimized program).
    pub fn of(p: &Program) -> ClientWork {
        let derived: Vec<&str> = p.derived.iter().map(|d| d.name.as_str()).collect();
        let mut work = ClientWork {
            derived_inputs: p.derived.len(),
            ..ClientWork::default()
        };
        for i in &p.inputs {
            let values = (i.ty.shape.len() as u64).saturating_mul(i.ty.seq.unwrap_or(1) as u64);
            if derived.contains(&i.name.as_str()) {
                work.extra_values = work.extra_values.saturating_add(values);
            } else if i.ty.secrecy == Secrecy::Enc {
                work.data_values = work.data_values.saturating_add(values);
            }
        }
        for d in &p.derived {
            work.flops = work.flops.saturating_add(flops(&d.graph));
        }
        work
    }

    /// This work with the upload of its lowering (`resources` of the schedule).
    pub fn with_upload(self, resources: &hel_schedule::Resources) -> ClientWork {
        ClientWork {
            extra_upload_bytes: Some(resources.derived_upload_bytes),
            data_upload_bytes: Some(resources.data_upload_bytes),
            ..self
        }
    }

    /// The extra upload as a multiple of the data's own, once lowered and where the data is
    /// uploaded at all (ridge regression at -O2 uploads only `Xᵀ X` and `Xᵀ y`).
    pub fn upload_ratio(&self) -> Option<f64> {
        let data = self.data_upload_bytes.filter(|&d| d > 0)?;
        Some(self.extra_upload_bytes? as f64 / data as f64)
    }
}

/// Floating-point operations of evaluating `g` once in the clear.
fn flops(g: &Graph) -> u64 {
    let mut total: u64 = 0;
    for (_, n) in g.nodes() {
        let shape = |i: usize| n.args.get(i).map(|a| g.node(*a).ty.shape);
        let out = n.ty.shape.len() as u64;
        let inner = match (&n.op, shape(0)) {
            (Op::MatMul | Op::MatVec, Some(Shape::Matrix(_, c))) => c as u64,
            (Op::Dot, Some(s)) => s.len() as u64,
            (Op::SumRows, Some(Shape::Matrix(r, _))) => r as u64,
            (Op::SumCols, Some(Shape::Matrix(_, c))) => c as u64,
            _ => 1,
        };
        let cost = match n.op {
            Op::Input { .. } | Op::Const { .. } | Op::Element { .. } | Op::Transpose => 0,
            Op::MatMul | Op::MatVec | Op::Dot => 2 * inner,
            _ => inner,
        };
        total = total.saturating_add(out.saturating_mul(cost));
    }
    total
}

/// Multiplications the server performs on encrypted data: products with an encrypted operand
/// whose other operand is not a compile-time constant (scaling by `0.5` is bookkeeping, not
/// computation on the data).
/// Only what the outputs depend on counts (an unused product is no work).
pub fn encrypted_products(p: &Program) -> usize {
    let g = &p.graph;
    let constant = constants(g);
    let mut live = vec![false; g.len()];
    for o in &p.outputs {
        live[o.node.index()] = true;
    }
    for (id, n) in g.nodes().collect::<Vec<_>>().into_iter().rev() {
        if live[id.index()] {
            for a in &n.args {
                live[a.index()] = true;
            }
        }
    }
    g.nodes()
        .filter(|(id, _)| live[id.index()])
        .filter(|(_, n)| {
            let enc = |i: usize| {
                n.args
                    .get(i)
                    .is_some_and(|a| g.node(*a).ty.secrecy == Secrecy::Enc)
            };
            let data = |i: usize| n.args.get(i).is_some_and(|a| !constant[a.index()]);
            match n.op {
                Op::Mul
                | Op::MatMul
                | Op::MatVec
                | Op::Dot
                | Op::ScaleCols
                | Op::ScaleRows
                | Op::Div => (enc(0) && data(1)) || (enc(1) && data(0)),
                Op::Pow { exp } => enc(0) && exp >= 2,
                _ => false,
            }
        })
        .count()
}

/// Whether each node is a compile-time constant (computed from constants alone).
fn constants(g: &Graph) -> Vec<bool> {
    let mut c = vec![false; g.len()];
    for (id, n) in g.nodes() {
        c[id.index()] = match n.op {
            Op::Const { .. } => true,
            Op::Input { .. } | Op::Loop(_) | Op::LoopResult { .. } => false,
            _ => n.args.iter().all(|a| c[a.index()]),
        };
    }
    c
}
