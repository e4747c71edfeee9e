//! Sequence indexing `Z[i]`: the index must be a compile-time scalar, and it is evaluated for
//! every value of the enclosing loop variables to check that it stays inside the sequence.

use super::consts;
use super::{node, origin, Elab, Global, Val, VarKind};
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{Op, Shape, Type};
use crate::syntax::ast::{Expr, ExprKind};
use std::collections::HashMap;

impl<'a> Elab<'a> {
    pub(super) fn index(&mut self, e: &Expr, base: &Expr, idx: &Expr) -> Result<Val, Diagnostic> {
        let s = self.expr(base)?;
        let Some(len) = s.ty.seq else {
            return Err(self
                .err(Code::Shape, base.span, format!("only sequences can be indexed, but this is a {}", s.ty.shape))
                .with_label("not a sequence")
                .with_help("sequences are inputs declared with a length, e.g. `input Z: enc matrix[m, f][k];`"));
        };
        let i = self.value(idx)?;
        if i.ty.shape != Shape::Scalar || !i.ct {
            return Err(self
                .err(
                    Code::Secrecy,
                    idx.span,
                    format!(
                        "a sequence index must be a scalar known at compile time, but this is {}",
                        origin(i)
                    ),
                )
                .with_label("not a compile-time scalar"));
        }
        self.check_index_range(idx, len)?;
        let ty = Type { seq: None, ..s.ty };
        let id = self.add(node(Op::Index, vec![s.node, i.node], ty, e.span));
        Ok(Val {
            node: id,
            ty,
            ct: false,
        })
    }

    /// Evaluates the index for every value of the enclosing loop variables and checks that it
    /// stays inside the sequence. An index that reads a compile-time `let` is evaluated with
    /// the `let`'s value in its place (`let j = k - 1 - i;`), or, where the checker does not
    /// know that value in each iteration (a counter the loop carries), checked by constant
    /// folding instead, once the loops are unrolled.
    pub(super) fn check_index_range(&self, idx: &Expr, len: usize) -> Result<(), Diagnostic> {
        let span = idx.span;
        let inlined;
        let idx = if self.reads_let(idx) {
            match self.inline_def(idx) {
                Some(e) => {
                    inlined = e;
                    &inlined
                }
                None => return Ok(()),
            }
        } else {
            idx
        };
        let vars = self
            .frames
            .last()
            .map(|f| f.loop_vars.clone())
            .unwrap_or_default();
        let combos: i64 = vars.iter().map(|(_, a, b)| (b - a).max(0)).product();
        if combos > 1_000_000 {
            return Ok(());
        }
        let mut env: consts::LoopEnv = HashMap::new();
        let mut counters: Vec<i64> = vars.iter().map(|(_, a, _)| *a).collect();
        if vars.iter().any(|(_, a, b)| a >= b) {
            return Ok(()); // the body never runs
        }
        loop {
            for ((name, _, _), c) in vars.iter().zip(&counters) {
                env.insert(name.clone(), *c as f64);
            }
            let v = consts::eval(self.src, idx, "a sequence index", &|n: &str| {
                self.const_name(n, &env)
            })?;
            if v.fract() != 0.0 || v < 0.0 || v >= len as f64 {
                let when: Vec<String> = vars
                    .iter()
                    .zip(&counters)
                    .map(|((n, _, _), c)| format!("{n} = {c}"))
                    .collect();
                let when = if when.is_empty() {
                    String::new()
                } else {
                    format!(" when {}", when.join(", "))
                };
                return Err(self
                    .err(Code::Const, span, format!("index {v} is out of range{when}: the sequence has {len} elements (0 to {})", len - 1))
                    .with_label(format!("= {v}")));
            }
            // Advance the odometer over the loop variables.
            let mut k = counters.len();
            loop {
                if k == 0 {
                    return Ok(());
                }
                k -= 1;
                counters[k] += 1;
                if counters[k] < vars[k].2 {
                    break;
                }
                counters[k] = vars[k].1;
            }
        }
    }

    /// Whether `e` names a variable declared by `let` outside any function (the checker knows
    /// such a variable is a compile-time value, not what it is in each iteration).
    fn reads_let(&self, e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Number(_) => false,
            ExprKind::Var(name) => {
                self.fn_scopes.is_empty()
                    && self
                        .frames
                        .iter()
                        .rev()
                        .find_map(|f| f.vars.get(name))
                        .is_some_and(|v| v.kind == VarKind::Let)
            }
            ExprKind::Neg(x) => self.reads_let(x),
            ExprKind::Binary(_, l, r) => self.reads_let(l) || self.reads_let(r),
            ExprKind::Call(_, args) => args.iter().any(|a| self.reads_let(a)),
            ExprKind::Index(b, i) => self.reads_let(b) || self.reads_let(i),
        }
    }

    /// `e` with every compile-time `let` it reads replaced by that `let`'s value ([`Var::def`]),
    /// if what remains is numbers, constants, loop variables and arithmetic on them.
    pub(super) fn inline_def(&self, e: &Expr) -> Option<Expr> {
        if !self.fn_scopes.is_empty() {
            return None;
        }
        let kind = match &e.kind {
            ExprKind::Number(_) => e.kind.clone(),
            ExprKind::Var(name) => match self.frames.iter().rev().find_map(|f| f.vars.get(name)) {
                Some(v) if v.kind == VarKind::LoopVar => e.kind.clone(),
                Some(v) => return v.def.and_then(|d| self.defs.get(d)).cloned(),
                None if matches!(self.globals.get(name), Some((Global::Const(_), _))) => {
                    e.kind.clone()
                }
                None => return None,
            },
            ExprKind::Neg(x) => ExprKind::Neg(Box::new(self.inline_def(x)?)),
            ExprKind::Binary(op, l, r) => ExprKind::Binary(
                *op,
                Box::new(self.inline_def(l)?),
                Box::new(self.inline_def(r)?),
            ),
            ExprKind::Call(f, args) if f.name == "sqrt" && args.len() == 1 => {
                ExprKind::Call(f.clone(), vec![self.inline_def(&args[0])?])
            }
            ExprKind::Call(..) | ExprKind::Index(..) => return None,
        };
        Some(Expr { kind, span: e.span })
    }
}
