//! Degree analysis of the depth-search engine, shared with the client-precompute pass: the
//! degree of every node as a polynomial in the program's inputs, and the degree up to which
//! the client may precompute a product.

use crate::ir::{Op, Program};

/// Client-side precomputation is limited to matrix products of at most this degree in the
/// inputs, such as `Z[i+1] @ transpose(Z[i])`: cross-products of data the client already holds,
/// a data-preparation step. Anything of higher degree, or element-wise, would be the computation
/// itself (for training, the whole model is a function of the encrypted data, and `x^4` of an
/// input is the program's own work), which is the server's job.
pub const PRECOMPUTE_MAX_DEGREE: u32 = 2;

/// Degree of every node as a polynomial in the program's declared inputs, `plain` and `enc`
/// alike (a derived input counts with the degree of what it stands for), `None` where it
/// cannot be determined (loop regions) or depends on the model's state
/// ([`Program::is_model_state`]).
pub fn input_degrees(p: &Program) -> Vec<Option<u32>> {
    let g = &p.graph;
    let mut deg: Vec<Option<u32>> = vec![None; g.len()];
    for (id, n) in g.nodes() {
        let a = |i: usize| n.args.get(i).and_then(|x| deg[x.index()]);
        deg[id.index()] = match &n.op {
            // The model's state is not data: nothing that depends on it is the client's.
            Op::Input { name } if p.is_model_state(name) => None,
            Op::Input { name } => match p.derived.iter().find(|d| &d.name == name) {
                Some(d) => Some(d.degree),
                // Public inputs are data as much as encrypted ones: with public features
                // and encrypted labels, a product of the features with a value of degree 2
                // in the labels is the training itself, not data preparation.
                None => Some(1),
            },
            Op::Const { .. } => Some(0),
            Op::Mul
            | Op::MatVec
            | Op::MatMul
            | Op::ScaleCols
            | Op::ScaleRows
            | Op::Dot
            | Op::Div => a(0).zip(a(1)).map(|(x, y)| x.saturating_add(y)),
            Op::Pow { exp } => a(0).map(|x| x.saturating_mul(*exp)),
            Op::Add | Op::Sub => a(0).zip(a(1)).map(|(x, y)| x.max(y)),
            _ => n
                .args
                .iter()
                .map(|x| deg[x.index()])
                .try_fold(0u32, |m, d| d.map(|d| m.max(d))),
        };
    }
    deg
}
