//! The inlining budget. User functions are inlined at every call, so a chain of functions each
//! calling the previous one twice grows 2^n nodes from n short lines. Before a call is
//! inlined, the size it expands to (its expressions and, recursively, those of the functions
//! it calls) is computed from the AST alone, once per function, and checked against
//! [`Limits::max_inlined`](crate::limits::Limits) and against what the checker may still make
//! in all ([`Limits::max_nodes`](crate::limits::Limits)).

use super::builtins;
use super::{Elab, Global};
use crate::diagnostics::{Code, Diagnostic};
use crate::limits::MAX_CALL_DEPTH;
use crate::source::Span;
use crate::syntax::ast::{Expr, ExprKind, FnDef};

impl<'a> Elab<'a> {
    /// Refuses the call of `def` at `span` if inlining it would go over a budget.
    pub(super) fn check_inline(&mut self, def: &'a FnDef, span: Span) -> Result<(), Diagnostic> {
        let budget = |msg: String| {
            Diagnostic::new(Code::Budget, self.src, span, msg)
                .with_label("this call")
                .with_help("functions are inlined at every call; call them fewer times")
        };
        if self.fn_scopes.len() >= MAX_CALL_DEPTH {
            return Err(budget(format!(
                "functions call each other more than {MAX_CALL_DEPTH} deep here"
            )));
        }
        let size = self.inlined_size(def, span, &mut Vec::new())?;
        if size > self.limits.max_inlined {
            return Err(budget(format!(
                "calling `{}` inlines {size} expressions (with the functions it calls), more \
                 than the limit of {}",
                def.name.name, self.limits.max_inlined
            )));
        }
        let made = self.made.saturating_add(size);
        if made > self.limits.max_nodes {
            return Err(budget(format!(
                "with this call the checker would have made {made} IR nodes, more than the \
                 limit of {}",
                self.limits.max_nodes
            )));
        }
        Ok(())
    }

    /// Expressions a call of `def` expands to, saturating. `visiting` holds the functions
    /// whose size is being computed: a recursive call counts nothing here (inlining it is
    /// refused as recursion, with its own message).
    fn inlined_size(
        &mut self,
        def: &'a FnDef,
        span: Span,
        visiting: &mut Vec<String>,
    ) -> Result<u64, Diagnostic> {
        if let Some(&size) = self.inlined_sizes.get(&def.name.name) {
            return Ok(size);
        }
        if visiting.contains(&def.name.name) {
            return Ok(0);
        }
        if visiting.len() >= MAX_CALL_DEPTH {
            return Err(self
                .err(
                    Code::Budget,
                    span,
                    format!("functions call each other more than {MAX_CALL_DEPTH} deep from here"),
                )
                .with_label("this call"));
        }
        visiting.push(def.name.name.clone());
        // An explicit stack: `x + x + ... + x` nests as deep as it is long.
        let mut stack: Vec<&'a Expr> = def.lets.iter().map(|l| &l.value).collect();
        stack.push(&def.body);
        let mut size: u64 = 0;
        while let Some(e) = stack.pop() {
            size = size.saturating_add(1);
            match &e.kind {
                ExprKind::Number(_) | ExprKind::Var(_) => {}
                ExprKind::Neg(x) => stack.push(x),
                ExprKind::Binary(_, l, r) | ExprKind::Index(l, r) => {
                    stack.push(l);
                    stack.push(r);
                }
                ExprKind::Call(f, args) => {
                    stack.extend(args);
                    if builtins::is_builtin(&f.name) {
                        continue;
                    }
                    let callee = match self.globals.get(&f.name) {
                        Some((Global::Fn(d), _)) => *d,
                        _ => continue,
                    };
                    let inner = self.inlined_size(callee, f.span, visiting)?;
                    size = size.saturating_add(inner);
                }
            }
        }
        visiting.pop();
        self.inlined_sizes.insert(def.name.name.clone(), size);
        Ok(size)
    }
}
