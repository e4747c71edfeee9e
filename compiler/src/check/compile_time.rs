//! What the checker learns about compile-time values besides the IR: for every `let` and
//! assignment, whether the value it stores is known at compile time, and for every loop, which
//! of its carried variables stay compile-time values through all iterations (after the
//! carried types have widened).
//!
//! A compile-time value is one the checker can compute without the inputs: numbers, constants,
//! loop variables, `zeros`/`ones`, and operators and calls applied to compile-time values (the
//! passes fold them into the circuit). Tools that rewrite programs (the rounds transform of
//! [`crate::rounds`]) read these facts instead of re-deriving them from the syntax.

use crate::ir::Shape;
use crate::source::Span;
use std::collections::HashMap;

/// Compile-time facts of one checked program, keyed by the spans of its statements.
#[derive(Clone, Debug, Default)]
pub struct CompileTime {
    stmts: HashMap<Span, bool>,
    carried: HashMap<Span, Vec<(String, bool)>>,
    lets: HashMap<Span, Shape>,
    /// The statements that store a public value (compile-time, or computed from `plain`
    /// inputs only), and the loops' carried variables that stay public.
    public_stmts: HashMap<Span, bool>,
    public_carried: HashMap<Span, Vec<String>>,
}

impl CompileTime {
    /// Whether the `let` or assignment statement at `span` stores a compile-time value (inside
    /// a loop: once the carried types are stable). `None` if no such statement was checked.
    pub fn stmt(&self, span: Span) -> Option<bool> {
        self.stmts.get(&span).copied()
    }

    /// The variables the `for` statement at `span` carries from one iteration to the next, in
    /// order, each with whether it stays a compile-time value through every iteration.
    pub fn carried(&self, span: Span) -> &[(String, bool)] {
        self.carried.get(&span).map_or(&[], Vec::as_slice)
    }

    /// Whether the loop at `loop_span` carries `name` as a compile-time value.
    pub fn carried_compile_time(&self, loop_span: Span, name: &str) -> Option<bool> {
        self.carried(loop_span)
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, ct)| ct)
    }

    /// The shape of the value the `let` statement at `span` declares (a round program
    /// declares an input of that shape for a carried variable). `None` if no such `let` was
    /// checked.
    pub fn let_shape(&self, span: Span) -> Option<Shape> {
        self.lets.get(&span).copied()
    }

    pub(super) fn record_let(&mut self, span: Span, value: (bool, bool), shape: Shape) {
        self.record_stmt(span, value);
        self.lets.insert(span, shape);
    }

    /// Whether the `let` or assignment at `span` stores a public value: compile-time, or
    /// computed from `plain` inputs only (the server computes it in the clear).
    pub fn stmt_public(&self, span: Span) -> Option<bool> {
        self.public_stmts.get(&span).copied()
    }

    /// Whether the loop at `loop_span` carries `name` as a public value through every
    /// iteration (`None`: not a variable it carries).
    pub fn carried_public(&self, loop_span: Span, name: &str) -> Option<bool> {
        self.carried_compile_time(loop_span, name)?;
        Some(
            self.public_carried
                .get(&loop_span)
                .is_some_and(|v| v.iter().any(|n| n == name)),
        )
    }

    /// Records a statement; a loop body is checked until its types are stable, and the last
    /// record (the stable one) wins.
    /// `value`: whether it is compile-time, and whether it is public.
    pub(super) fn record_stmt(&mut self, span: Span, (compile_time, public): (bool, bool)) {
        self.stmts.insert(span, compile_time);
        self.public_stmts.insert(span, public);
    }

    pub(super) fn record_loop(
        &mut self,
        span: Span,
        carried: Vec<(String, bool)>,
        public: Vec<String>,
    ) {
        self.carried.insert(span, carried);
        self.public_carried.insert(span, public);
    }
}

#[cfg(test)]
mod tests {
    use crate::source::SourceFile;
    use crate::syntax::ast::{Item, Stmt};

    #[test]
    fn loop_carried_values_widen_and_statements_follow() {
        let src = SourceFile::new(
            "t.hel",
            "const k = 3; input Z: enc vector[2][k]; let b = zeros(2); let a = 1; \
             for i in 0..k { let c = a * 2 + i; a = c; b = b + Z[i] * a; } output b;",
        );
        let ast = crate::syntax::parse(&src).unwrap();
        let (_, facts) = super::super::elaborate_with_facts(&src, &ast, &[]).unwrap();
        let Some(Item::Stmt(Stmt::For(lp))) = ast
            .items
            .iter()
            .find(|i| matches!(i, Item::Stmt(Stmt::For(_))))
        else {
            panic!("no loop");
        };
        // `b` starts as a compile-time zeros(2) but data flows in; `a` stays compile-time.
        assert_eq!(
            facts.carried(lp.span),
            [("a".to_string(), true), ("b".to_string(), false)]
        );
        let body: Vec<Option<bool>> = lp
            .body
            .iter()
            .map(|s| match s {
                Stmt::Let(l) => facts.stmt(l.span),
                Stmt::Assign { span, .. } => facts.stmt(*span),
                Stmt::For(_) => None,
            })
            .collect();
        assert_eq!(body, [Some(true), Some(true), Some(false)]);
    }
}
