//! Structural validation of a schedule read from a file: every reference in range, levels and
//! degrees consistent with the parameters. The compiler's own checker is stricter (it proves
//! scales and levels); this guards executors against corrupt or hand-edited files.

use thiserror::Error;

use crate::program::{Instr, Layout, Plain, Schedule, Source, ValueId};

/// Why a schedule file was refused.
#[derive(Debug, Error, PartialEq)]
pub enum ScheduleError {
    #[error("not a hel schedule (expected a `.helc` file from `hel compile`)")]
    NotASchedule,
    #[error("schedule file is truncated or padded (its size is not the one its header declares)")]
    Truncated,
    #[error("schedule file is corrupt (checksum mismatch)")]
    Checksum,
    #[error(
        "schedule format version {0} is not supported (this hel reads version {supported}); \
         recompile the program with this hel",
        supported = crate::format::VERSION
    )]
    Version(u16),
    #[error("schedule could not be decoded: {0}")]
    Decode(String),
    #[error("schedule could not be encoded: {0}")]
    Encode(String),
    #[error("invalid schedule: {0}")]
    Invalid(String),
    #[error(
        "the schedule's contents do not match its program hash (edited after compiling?): \
         keys and ciphertexts are bound to the compiled program, so recompile it with \
         `hel compile` instead of editing the file"
    )]
    HashMismatch,
}

impl Schedule {
    /// Checks internal consistency, and every size against the parameters and the
    /// [`limits`](crate::limits): code that runs after a successful
    /// `validate` may allocate and index by the schedule's sizes.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        let bad = |m: String| Err(ScheduleError::Invalid(m));
        self.params
            .validate()
            .map_err(|e| ScheduleError::Invalid(format!("parameters: {e}")))?;
        crate::bounds::check(self).map_err(ScheduleError::Invalid)?;
        let max_level = self.params.q_bits.len().saturating_sub(1) as u32;
        if self.level_scales.len() != max_level as usize + 1 {
            return bad("one scale per level expected".into());
        }
        let source_ok = |s: &Source| match *s {
            Source::Input { input, element } => self
                .inputs
                .get(input as usize)
                .is_some_and(|i| (element as usize) < i.elements()),
            Source::Derived { index } => (index as usize) < self.derived.len(),
        };
        // Inputs and outputs are given and returned by name: one name for two of them would
        // drop one output or call a given input missing.
        let inputs: Vec<&String> = self.inputs.iter().map(|i| &i.name).collect();
        let outputs: Vec<&String> = self.outputs.iter().map(|o| &o.name).collect();
        for (what, names) in [("inputs", inputs), ("outputs", outputs)] {
            let mut seen = std::collections::HashSet::new();
            if let Some(name) = names.into_iter().find(|n| !seen.insert(*n)) {
                return bad(format!("two {what} are named `{name}`"));
            }
        }
        for (i, ct) in self.ct_inputs.iter().enumerate() {
            if !source_ok(&ct.pack.source) || ct.level > max_level {
                return bad(format!(
                    "encrypted input {i} refers to a missing tensor or level"
                ));
            }
        }
        for d in &self.derived {
            for (j, op) in d.ops.iter().enumerate() {
                let refs: Vec<u32> = match op {
                    crate::program::ClientOp::Input { input, element } => {
                        if !source_ok(&Source::Input {
                            input: *input,
                            element: *element,
                        }) {
                            return bad(format!("derived `{}` reads a missing input", d.name));
                        }
                        vec![]
                    }
                    crate::program::ClientOp::Fill { .. } => vec![],
                    crate::program::ClientOp::Neg(a)
                    | crate::program::ClientOp::Transpose(a)
                    | crate::program::ClientOp::SumRows(a)
                    | crate::program::ClientOp::SumCols(a)
                    | crate::program::ClientOp::Pow(a, _) => {
                        vec![*a]
                    }
                    crate::program::ClientOp::Add(a, b)
                    | crate::program::ClientOp::Sub(a, b)
                    | crate::program::ClientOp::Mul(a, b)
                    | crate::program::ClientOp::MatMul(a, b)
                    | crate::program::ClientOp::MatVec(a, b)
                    | crate::program::ClientOp::ScaleCols(a, b)
                    | crate::program::ClientOp::ScaleRows(a, b)
                    | crate::program::ClientOp::Dot(a, b) => vec![*a, *b],
                };
                if refs.iter().any(|r| *r as usize >= j) {
                    return bad(format!("derived `{}` op {j} reads a later op", d.name));
                }
            }
        }
        // Bootstraps whose second tile some node takes (each exactly once).
        let mut paired = std::collections::HashSet::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if node.instr.operands().iter().any(|a| *a as usize >= i) {
                return bad(format!("node {i} reads a value defined after it"));
            }
            if node.level > max_level || !(1..=2).contains(&node.degree) {
                return bad(format!("node {i} has an impossible level or degree"));
            }
            match &node.instr {
                Instr::Input { index } if *index as usize >= self.ct_inputs.len() => {
                    return bad(format!("node {i} reads a missing input ciphertext"));
                }
                Instr::AddPlain {
                    plain: Plain::Public { pack },
                    ..
                }
                | Instr::MulPlain {
                    plain: Plain::Public { pack },
                    ..
                }
                | Instr::Trivial {
                    plain: Plain::Public { pack },
                    ..
                } if !source_ok(&pack.source) => {
                    return bad(format!("node {i} reads a missing public input"));
                }
                Instr::Rotate { step, .. } if !self.rotation_steps.contains(step) => {
                    return bad(format!("node {i} rotates by {step}, which has no key"));
                }
                Instr::BootstrapPaired { x, b, .. } => {
                    let rode = matches!(
                        self.nodes[*x as usize].instr,
                        Instr::Bootstrap { with: Some(w), .. } if w == *b
                    );
                    if !rode || !paired.insert(*x) {
                        return bad(format!(
                            "node {i} takes a refresh that bootstrap %{x} does not make for it"
                        ));
                    }
                }
                _ => {}
            }
        }
        let unclaimed = self.nodes.iter().enumerate().find(|(i, n)| {
            matches!(n.instr, Instr::Bootstrap { with: Some(_), .. })
                && !paired.contains(&(*i as ValueId))
        });
        if let Some((i, _)) = unclaimed {
            return bad(format!(
                "bootstrap %{i} refreshes a second tile that no node takes"
            ));
        }
        for o in &self.outputs {
            for tile in &o.tiles {
                if tile.value as usize >= self.nodes.len() {
                    return bad(format!("output `{}` reads a missing value", o.name));
                }
                if matches!(tile.layout, Layout::MatrixRow { .. })
                    || matches!(tile.layout, Layout::MatrixTile { .. })
                        != matches!(o.shape, crate::program::Shape::Matrix(..))
                {
                    return bad(format!(
                        "output `{}` tile layout does not fit its shape",
                        o.name
                    ));
                }
            }
        }
        Ok(())
    }
}
