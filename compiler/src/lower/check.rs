//! The schedule checker: proves that every node's recorded level, scale and degree are what
//! its instruction produces from its operands, that additions see equal levels and scales,
//! that multiplications see degree-1 operands at equal levels, and that nothing runs below
//! level 0. Run after lowering; an invalid schedule is refused with the node and source span.

use hel_runtime::schedule::{Instr, Schedule};

use crate::diagnostics::Diagnostic;
use crate::ir::Program;

/// A checker failure.
#[derive(Debug)]
pub struct CheckError {
    pub node: usize,
    pub message: String,
    pub tensor_node: u32,
}

impl CheckError {
    pub fn into_diagnostic(self, p: &Program) -> Diagnostic {
        let span = p
            .graph
            .ids()
            .find(|id| id.index() as u32 == self.tensor_node)
            .map(|id| p.graph.node(id).span)
            .unwrap_or_default();
        Diagnostic::new(
            &p.source,
            span,
            format!("invalid schedule at node {}: {}", self.node, self.message),
        )
    }
}

fn same_scale(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// Checks every node of `s`.
pub fn check(s: &Schedule) -> Result<(), CheckError> {
    let q: Vec<f64> = match s.params.primes() {
        Ok(p) => p.q.iter().map(|&x| x as f64).collect(),
        Err(e) => {
            return Err(CheckError {
                node: 0,
                message: e.to_string(),
                tensor_node: 0,
            })
        }
    };
    for (i, n) in s.nodes.iter().enumerate() {
        let fail = |m: String| CheckError {
            node: i,
            message: format!("{} ({}): {m}", n.instr.name(), n.origin.tensor_op),
            tensor_node: n.origin.tensor_node,
        };
        let at = |k: u32| &s.nodes[k as usize];
        let expect = |level: u32, scale: f64, degree: u8| -> Result<(), CheckError> {
            if n.level != level || !same_scale(n.scale, scale) || n.degree != degree {
                return Err(fail(format!(
                    "records level {}, scale 2^{:.3}, degree {} but computes level {level}, \
                     scale 2^{:.3}, degree {degree}",
                    n.level,
                    n.scale.log2(),
                    n.degree,
                    scale.log2()
                )));
            }
            Ok(())
        };
        match &n.instr {
            Instr::Input { index } => {
                let c = s
                    .ct_inputs
                    .get(*index as usize)
                    .ok_or_else(|| fail("missing input".into()))?;
                expect(c.level, c.scale, 1)?;
            }
            Instr::Add { a, b } | Instr::Sub { a, b } => {
                let (x, y) = (at(*a), at(*b));
                if x.level != y.level || !same_scale(x.scale, y.scale) {
                    return Err(fail(format!(
                        "operands at level {} / {} with scales 2^{:.6} / 2^{:.6}",
                        x.level,
                        y.level,
                        x.scale.log2(),
                        y.scale.log2()
                    )));
                }
                expect(x.level, x.scale, x.degree.max(y.degree))?;
            }
            Instr::Neg { a } | Instr::MulInt { a, .. } => {
                let x = at(*a);
                expect(x.level, x.scale, x.degree)?;
            }
            Instr::AddPlain { a, .. } | Instr::AddConst { a, .. } => {
                let x = at(*a);
                expect(x.level, x.scale, x.degree)?;
            }
            Instr::MulPlain { a, scale, .. } | Instr::MulConst { a, scale, .. } => {
                let x = at(*a);
                expect(x.level, x.scale * scale, x.degree)?;
            }
            Instr::Mul { a, b } => {
                let (x, y) = (at(*a), at(*b));
                if x.level != y.level || x.degree != 1 || y.degree != 1 {
                    return Err(fail("operands must be degree 1 at the same level".into()));
                }
                expect(x.level, x.scale * y.scale, 2)?;
            }
            Instr::Relinearize { a } => {
                let x = at(*a);
                expect(x.level, x.scale, 1)?;
            }
            Instr::Rescale { a } => {
                let x = at(*a);
                if x.level == 0 {
                    return Err(fail("rescale below level 0".into()));
                }
                expect(x.level - 1, x.scale / q[x.level as usize], x.degree)?;
            }
            Instr::ModDown { a, level } => {
                let x = at(*a);
                if *level > x.level {
                    return Err(fail("mod-down to a higher level".into()));
                }
                expect(*level, x.scale, x.degree)?;
            }
            Instr::Rotate { a, .. } | Instr::Conjugate { a } => {
                let x = at(*a);
                if x.degree != 1 {
                    return Err(fail("rotation of a degree-2 ciphertext".into()));
                }
                expect(x.level, x.scale, 1)?;
            }
        }
        // A value must stay representable: its scale times a small magnitude below q_0..q_l.
        let log_q: f64 = q[..=n.level as usize].iter().map(|x| x.log2()).sum();
        if n.scale.log2() + 1.0 >= log_q {
            return Err(fail(format!(
                "scale 2^{:.1} does not fit the modulus 2^{log_q:.1} at level {}",
                n.scale.log2(),
                n.level
            )));
        }
    }
    Ok(())
}
