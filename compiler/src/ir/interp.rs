//! The reference interpreter: evaluates a program on f64 tensors.
//!
//! It defines what a program means. Every pass is checked by running this interpreter before and
//! after it on the same random inputs; the lowering is checked against it too. Values are freed
//! after their last use, so fully unrolled programs with large matrices stay within memory.

use super::graph::{Graph, NodeId, Program};
use super::op::Op;
use super::types::Shape;
use std::collections::HashMap;
use thiserror::Error;

/// Dense row-major tensors are the contract's: the interpreter's values are what the schedule's
/// slot-level simulation reads and writes.
pub use hel_schedule::Tensor;

/// An input or output value: a tensor, or a sequence of tensors.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Tensor(Tensor),
    Seq(Vec<Tensor>),
}

impl Value {
    /// Whether it is a value of type `ty`: a tensor of its shape, or as many as its sequence
    /// holds.
    pub fn fits(&self, ty: &super::types::Type) -> bool {
        match (self, ty.seq) {
            (Value::Tensor(t), None) => t.shape == ty.shape,
            (Value::Seq(ts), Some(k)) => ts.len() == k && ts.iter().all(|t| t.shape == ty.shape),
            _ => false,
        }
    }
}

#[derive(Debug, Error, PartialEq)]
pub enum EvalError {
    #[error("no value given for input `{0}`")]
    MissingInput(String),
    #[error("input `{name}` has the wrong shape: expected {expected}, got {got}")]
    InputShape {
        name: String,
        expected: String,
        got: String,
    },
    #[error("index {index} is outside the sequence of {len} elements")]
    IndexOutOfRange { index: f64, len: usize },
    #[error("malformed IR at node %{node}: {why}")]
    Malformed { node: usize, why: String },
}

/// What evaluating one node produced. Inputs and their elements are read in place: the
/// flagship's minibatches are 10 MB per sample, and copying them for every derived input and
/// every element read was a tenth of its compile time (the copies and their page faults).
enum Slot<'a> {
    Val(Value),
    /// An input's value, borrowed from the inputs.
    Input(&'a Value),
    /// One element of an input sequence, borrowed from the inputs.
    Element(&'a Tensor),
    /// A loop's final carried values.
    Results(Vec<Value>),
}

impl Slot<'_> {
    fn tensor(&self) -> Option<&Tensor> {
        match self {
            Slot::Val(Value::Tensor(t)) | Slot::Input(Value::Tensor(t)) => Some(t),
            Slot::Element(t) => Some(t),
            _ => None,
        }
    }

    /// The value's tensors: one for a tensor, the elements for a sequence.
    fn tensors(&self) -> Option<&[Tensor]> {
        match self {
            Slot::Val(Value::Tensor(t)) | Slot::Input(Value::Tensor(t)) => {
                Some(std::slice::from_ref(t))
            }
            Slot::Element(t) => Some(std::slice::from_ref(*t)),
            Slot::Val(Value::Seq(ts)) | Slot::Input(Value::Seq(ts)) => Some(ts),
            Slot::Results(_) => None,
        }
    }

    /// An owned copy of the value (`None` for a loop's results).
    fn to_value(&self) -> Option<Value> {
        match self {
            Slot::Val(v) => Some(v.clone()),
            Slot::Input(v) => Some((*v).clone()),
            Slot::Element(t) => Some(Value::Tensor((*t).clone())),
            Slot::Results(_) => None,
        }
    }
}

/// Evaluates `p` on `inputs`, returning the outputs in declaration order.
///
/// Derived (client-precomputed) inputs missing from `inputs` are computed from the others first.
pub fn eval(
    p: &Program,
    inputs: &HashMap<String, Value>,
) -> Result<Vec<(String, Value)>, EvalError> {
    eval_observed(p, inputs, &mut |_, _| {})
}

/// [`eval`], showing every value of the top-level graph to `observe` as it is computed, as its
/// tensors (one for a tensor, the elements of a sequence): the range analysis records each
/// node's largest magnitude this way.
pub fn eval_observed(
    p: &Program,
    inputs: &HashMap<String, Value>,
    observe: &mut dyn FnMut(NodeId, &[Tensor]),
) -> Result<Vec<(String, Value)>, EvalError> {
    let owned;
    let mut inputs = inputs;
    if p.derived.iter().any(|d| !inputs.contains_key(&d.name)) {
        owned = with_derived(p, inputs)?;
        inputs = &owned;
    }
    for decl in &p.inputs {
        let v = inputs
            .get(&decl.name)
            .ok_or_else(|| EvalError::MissingInput(decl.name.clone()))?;
        if !v.fits(&decl.ty) {
            return Err(EvalError::InputShape {
                name: decl.name.clone(),
                expected: decl.ty.to_string(),
                got: describe(v),
            });
        }
    }
    let keep: Vec<NodeId> = p.outputs.iter().map(|o| o.node).collect();
    let slots = eval_graph(&p.graph, &[], None, inputs, &keep, observe)?;
    p.outputs
        .iter()
        .map(|o| match slots.get(&o.node).and_then(Slot::to_value) {
            Some(v) => Ok((o.name.clone(), v)),
            None => Err(EvalError::Malformed {
                node: o.node.index(),
                why: "output is not a value".into(),
            }),
        })
        .collect()
}

/// `inputs` with the derived (client-precomputed) inputs of `p` they lack computed from the
/// others, as the client computes them. Callers that evaluate `p` on the same inputs more
/// than once compute them once this way ([`crate::analysis::ranges::Samples`]).
pub fn with_derived(
    p: &Program,
    inputs: &HashMap<String, Value>,
) -> Result<HashMap<String, Value>, EvalError> {
    let mut all = inputs.clone();
    for d in &p.derived {
        if !all.contains_key(&d.name) {
            let slots = eval_graph(&d.graph, &[], None, &all, &[d.node], &mut |_, _| {})?;
            match slots.get(&d.node).and_then(Slot::to_value) {
                Some(v) => {
                    drop(slots);
                    all.insert(d.name.clone(), v);
                }
                None => {
                    return Err(EvalError::Malformed {
                        node: d.node.index(),
                        why: "derived input".into(),
                    })
                }
            }
        }
    }
    Ok(all)
}

fn describe(v: &Value) -> String {
    match v {
        Value::Tensor(t) => t.shape.to_string(),
        Value::Seq(ts) => format!(
            "{} values starting with {}",
            ts.len(),
            ts.first().map_or("-".into(), |t| t.shape.to_string())
        ),
    }
}

/// Evaluates one graph. `params` and `loop_index` are the loop arguments and iteration number
/// when `g` is a loop body.
fn eval_graph<'a>(
    g: &Graph,
    params: &[Value],
    loop_index: Option<i64>,
    inputs: &'a HashMap<String, Value>,
    keep: &[NodeId],
    observe: &mut dyn FnMut(NodeId, &[Tensor]),
) -> Result<HashMap<NodeId, Slot<'a>>, EvalError> {
    // Remaining uses per node; a value is dropped when it reaches zero (unless kept).
    let mut uses: Vec<usize> = vec![0; g.len()];
    for (_, n) in g.nodes() {
        for a in &n.args {
            uses[a.index()] += 1;
        }
    }
    for k in keep {
        if let Some(u) = uses.get_mut(k.index()) {
            *u += 1;
        }
    }
    let mut slots: HashMap<NodeId, Slot> = HashMap::new();
    for (id, n) in g.nodes() {
        let bad = |why: &str| EvalError::Malformed {
            node: id.index(),
            why: why.to_string(),
        };
        let t = |k: usize| -> Result<&Tensor, EvalError> {
            n.args
                .get(k)
                .and_then(|a| slots.get(a))
                .and_then(Slot::tensor)
                .ok_or_else(|| bad("operand is not a tensor"))
        };
        let out = match &n.op {
            Op::Input { name } => Slot::Input(
                inputs
                    .get(name)
                    .ok_or_else(|| EvalError::MissingInput(name.clone()))?,
            ),
            Op::Const { value } => Slot::Val(Value::Tensor(Tensor::filled(n.ty.shape, *value))),
            Op::Param { index } => Slot::Val(
                params
                    .get(*index as usize)
                    .cloned()
                    .ok_or_else(|| bad("parameter out of range"))?,
            ),
            Op::LoopIndex => match loop_index {
                Some(i) => tensor(Tensor::scalar(i as f64)),
                None => return Err(bad("loop index outside of a loop")),
            },
            Op::Add => tensor(zip(t(0)?, t(1)?, |a, b| a + b)),
            Op::Sub => tensor(zip(t(0)?, t(1)?, |a, b| a - b)),
            Op::Mul => tensor(zip(t(0)?, t(1)?, |a, b| a * b)),
            Op::Div => tensor(zip(t(0)?, t(1)?, |a, b| a / b)),
            Op::Neg => tensor(t(0)?.map(|x| -x)),
            Op::Pow { exp } => tensor(t(0)?.map(|x| x.powi(*exp as i32))),
            Op::Sqrt => tensor(t(0)?.map(f64::sqrt)),
            Op::PowScalar => tensor(zip(t(0)?, t(1)?, f64::powf)),
            Op::MatMul => tensor(matmul(t(0)?, t(1)?).ok_or_else(|| bad("matmul shapes"))?),
            Op::MatVec => tensor(matvec(t(0)?, t(1)?).ok_or_else(|| bad("matvec shapes"))?),
            Op::ScaleCols | Op::ScaleRows => {
                let (a, v) = (t(0)?, t(1)?);
                let Shape::Matrix(r, c) = a.shape else {
                    return Err(bad("scaling a non-matrix"));
                };
                let by_col = n.op == Op::ScaleCols;
                if v.data.len() != if by_col { c } else { r } {
                    return Err(bad("scale vector length"));
                }
                let data = (0..r * c)
                    .map(|x| a.data[x] * if by_col { v.data[x % c] } else { v.data[x / c] })
                    .collect();
                tensor(Tensor {
                    shape: a.shape,
                    data,
                })
            }
            Op::Transpose => {
                tensor(transpose(t(0)?).ok_or_else(|| bad("transpose of a non-matrix"))?)
            }
            Op::SumRows => {
                let a = t(0)?;
                let Shape::Matrix(r, c) = a.shape else {
                    return Err(bad("sum_rows of a non-matrix"));
                };
                let data = (0..c)
                    .map(|j| (0..r).map(|i| a.data[i * c + j]).sum())
                    .collect();
                tensor(Tensor {
                    shape: Shape::Vector(c),
                    data,
                })
            }
            Op::SumCols => {
                let a = t(0)?;
                let Shape::Matrix(r, c) = a.shape else {
                    return Err(bad("sum_cols of a non-matrix"));
                };
                let data = (0..r)
                    .map(|i| a.data[i * c..(i + 1) * c].iter().sum())
                    .collect();
                tensor(Tensor {
                    shape: Shape::Vector(r),
                    data,
                })
            }
            Op::Dot => {
                let (a, b) = (t(0)?, t(1)?);
                if a.data.len() != b.data.len() {
                    return Err(bad("dot of different lengths"));
                }
                tensor(Tensor::scalar(
                    a.data.iter().zip(&b.data).map(|(x, y)| x * y).sum(),
                ))
            }
            Op::Index | Op::Element { .. } => {
                let index = match &n.op {
                    Op::Element { index } => *index as f64,
                    _ => t(1)?.data[0],
                };
                let pick = |seq: &[Tensor]| {
                    if index < 0.0 || index.fract() != 0.0 || index as usize >= seq.len() {
                        return Err(EvalError::IndexOutOfRange {
                            index,
                            len: seq.len(),
                        });
                    }
                    Ok(index as usize)
                };
                match n.args.first().and_then(|a| slots.get(a)) {
                    Some(&Slot::Input(Value::Seq(seq))) => Slot::Element(&seq[pick(seq)?]),
                    Some(Slot::Val(Value::Seq(seq))) => tensor(seq[pick(seq)?].clone()),
                    _ => return Err(bad("indexing a non-sequence")),
                }
            }
            Op::Loop(l) => {
                let mut args: Vec<Value> = Vec::with_capacity(n.args.len());
                for a in &n.args {
                    match slots.get(a).and_then(Slot::to_value) {
                        Some(v) => args.push(v),
                        None => return Err(bad("loop argument is not a value")),
                    }
                }
                let body = &l.body;
                for i in l.start..l.end {
                    let sub = eval_graph(
                        &body.graph,
                        &args,
                        Some(i),
                        inputs,
                        &body.results,
                        &mut |_, _| {},
                    )?;
                    for (k, r) in body.results.iter().enumerate() {
                        match sub.get(r).and_then(Slot::to_value) {
                            Some(v) => args[k] = v,
                            None => return Err(bad("loop body result is not a value")),
                        }
                    }
                }
                args.truncate(l.carried.len());
                Slot::Results(args)
            }
            Op::LoopResult { index } => match n.args.first().and_then(|a| slots.get(a)) {
                Some(Slot::Results(rs)) => Slot::Val(
                    rs.get(*index as usize)
                        .cloned()
                        .ok_or_else(|| bad("loop result out of range"))?,
                ),
                _ => return Err(bad("result of a non-loop")),
            },
        };
        if let Some(ts) = out.tensors() {
            observe(id, ts);
        }
        for a in &n.args {
            let u = &mut uses[a.index()];
            *u = u.saturating_sub(1);
            if *u == 0 {
                slots.remove(a);
            }
        }
        slots.insert(id, out);
    }
    Ok(slots)
}

fn tensor(t: Tensor) -> Slot<'static> {
    Slot::Val(Value::Tensor(t))
}

/// Element-wise with scalar broadcast.
fn zip(a: &Tensor, b: &Tensor, f: impl Fn(f64, f64) -> f64) -> Tensor {
    if a.shape == Shape::Scalar && b.shape != Shape::Scalar {
        let x = a.data[0];
        return b.map(|y| f(x, y));
    }
    if b.shape == Shape::Scalar {
        let y = b.data[0];
        return a.map(|x| f(x, y));
    }
    Tensor {
        shape: a.shape,
        data: a.data.iter().zip(&b.data).map(|(&x, &y)| f(x, y)).collect(),
    }
}

fn matmul(a: &Tensor, b: &Tensor) -> Option<Tensor> {
    let (Shape::Matrix(r, k), Shape::Matrix(k2, c)) = (a.shape, b.shape) else {
        return None;
    };
    if k != k2 {
        return None;
    }
    let data = hel_schedule::matmul::matmul(&a.data, &b.data, r, k, c);
    Some(Tensor {
        shape: Shape::Matrix(r, c),
        data,
    })
}

fn matvec(a: &Tensor, v: &Tensor) -> Option<Tensor> {
    let (Shape::Matrix(r, c), Shape::Vector(n)) = (a.shape, v.shape) else {
        return None;
    };
    if c != n {
        return None;
    }
    let data = (0..r)
        .map(|i| {
            a.data[i * c..(i + 1) * c]
                .iter()
                .zip(&v.data)
                .map(|(x, y)| x * y)
                .sum()
        })
        .collect();
    Some(Tensor {
        shape: Shape::Vector(r),
        data,
    })
}

fn transpose(a: &Tensor) -> Option<Tensor> {
    let Shape::Matrix(r, c) = a.shape else {
        return None;
    };
    let mut data = vec![0.0; r * c];
    for i in 0..r {
        for j in 0..c {
            data[j * r + i] = a.data[i * c + j];
        }
    }
    Some(Tensor {
        shape: Shape::Matrix(c, r),
        data,
    })
}

/// Random inputs for `p`, uniform in each input's declared range (`[-1, 1]` where none is
/// declared). Deterministic for a seed; used by the differential tests of every pass.
pub fn random_inputs(p: &Program, seed: u64) -> HashMap<String, Value> {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut out = HashMap::new();
    for decl in p.inputs.iter().filter(|d| !p.is_derived(&d.name)) {
        let (lo, hi) = decl.range.unwrap_or((-1.0, 1.0));
        let tensor = |rng: &mut rand_chacha::ChaCha8Rng| Tensor {
            shape: decl.ty.shape,
            data: (0..decl.ty.shape.len())
                .map(|_| {
                    if lo == hi {
                        lo
                    } else {
                        crate::analysis::ranges::draw(rng, lo, hi)
                    }
                })
                .collect(),
        };
        let v = match decl.ty.seq {
            Some(k) => Value::Seq((0..k).map(|_| tensor(&mut rng)).collect()),
            None => Value::Tensor(tensor(&mut rng)),
        };
        out.insert(decl.name.clone(), v);
    }
    out
}

/// Largest relative difference between two sets of outputs, `|a - b| / max(1, |a|)`; infinite
/// if the outputs do not correspond.
pub fn max_relative_difference(a: &[(String, Value)], b: &[(String, Value)]) -> f64 {
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    let flat = |v: &Value| -> Vec<f64> {
        match v {
            Value::Tensor(t) => t.data.clone(),
            Value::Seq(ts) => ts.iter().flat_map(|t| t.data.iter().copied()).collect(),
        }
    };
    let mut worst: f64 = 0.0;
    for ((na, va), (nb, vb)) in a.iter().zip(b) {
        let (xa, xb) = (flat(va), flat(vb));
        if na != nb || xa.len() != xb.len() {
            return f64::INFINITY;
        }
        for (x, y) in xa.iter().zip(&xb) {
            let d = (x - y).abs() / x.abs().max(1.0);
            worst = worst.max(if d.is_nan() { f64::INFINITY } else { d });
        }
    }
    worst
}
