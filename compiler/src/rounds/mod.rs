//! Rounds: a training program's loop over K minibatches, split into circuits of k < K.
//!
//! Without bootstrapping, a circuit's depth is bounded by the parameter budget and every
//! minibatch costs a few levels. When the K minibatches asked for do not fit, training runs in
//! rounds: the server runs a circuit of k minibatches, the client decrypts the weights,
//! re-encrypts them and sends them back as the next round's input (the "refresh" Crockett and
//! Han et al. assume instead of bootstrapping).
//!
//! A round needs the weights as an *input*, so [`RoundTemplate`] rewrites the program's AST
//! into a round program. New nodes reuse the spans of the nodes they derive from, so a
//! diagnostic about a round program points into the user's file.
//!
//! - every loop-carried vector that is a run-time value becomes an encrypted input
//!   (`let v = zeros(f);` → `input v_start: enc vector[f]; let v = v_start;`) and an output, so
//!   NAG's momentum `w` crosses the round boundary along with `v`. One that starts as
//!   `zeros(n)` is an input of every round (the first round's is zeros); one that starts
//!   anywhere else (`let v = v0;`, `let w = ones(f) * 0.1;`, a value computed from the data)
//!   keeps its `let` in the first round's program, whose only difference from the others is
//!   that it computes that start itself: the rest of the rounds take it as an input. No value range is declared
//!   for these inputs: a range fitted to the decrypted weights would tighten the compiler's
//!   error bound, but the server sees the program, and the range would tell it how large the
//!   weights are. The range analysis samples them in [-1, 1], except in rounds joined by
//!   bootstraps (`chain::compile_bootstrapped`), whose samples are the states the whole
//!   program's own samples (from the declared ranges, not the data) reach at the round's
//!   start, with the data that reaches them;
//! - loop-carried public values (NAG's compile-time `a`, from which η_i is computed, folded
//!   into the circuit; or values computed from `plain` inputs only, which the server computes
//!   in the clear) are not carried between rounds: a round starting at global iteration s
//!   first runs a warm-up loop of s iterations over the loop body's public statements only;
//!   the values then are bit for bit those of one long run;
//! - the loop runs over global iterations `s..s+k` and the minibatch index is shifted back by
//!   s, so anything computed from the loop variable sees the global iteration;
//! - what the program computes before the loop ([`Prelude`]) every round computes again, or,
//!   carried, the first round alone: the encrypted values the loop or what follows it reads
//!   (a statistic of the data, a model an earlier loop trained) are then state too, which
//!   the later rounds take as inputs and hand on unchanged, and they keep only the public
//!   part of the prelude. `compile_bootstrapped` compiles both where they differ and keeps
//!   the one of less estimated server time.
//!
//! Which values are compile-time is the checker's judgement ([`check::CompileTime`]), taken on
//! the round program itself (where the carried vectors are already encrypted inputs), not
//! re-derived from the syntax.
//!
//! When the loop body has no compile-time state and uses the loop variable only as the
//! minibatch index, the round program does not depend on s ([`RoundTemplate::program_key`]):
//! rounds of equal length then share one compiled circuit and one key set.
//!
//! A program that cannot be split is refused with a [`Code::Rounds`] diagnostic located at the
//! statement that stops it.

use std::collections::{HashMap, HashSet};

use crate::check;
use crate::diagnostics::{Code, Diagnostic};
use crate::driver::{self, Compiled, Options};
use crate::ir::{self, Shape};
use crate::source::{SourceFile, Span};
use crate::syntax::ast::{
    self, BinOp, Expr, ExprKind, ForStmt, Ident, Item, LetStmt, OutputStmt, Stmt,
};

mod chain;
mod join;
mod scale_drop;
mod tree;

use tree::{
    all_names, assigned, ast_let_span, binary, is_zeros, items_where, map_stmt_exprs,
    name_loop_end, number, reads, state_input, stmt_exprs, stmts_use_outside_index,
    uses_outside_index, walk,
};
#[cfg(test)]
mod tests;

pub use chain::{compile_bootstrapped, largest_fitting, split, Bootstrapped};
pub use join::join;

/// An encrypted vector carried from one round to the next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateVar {
    /// The program's variable (`v`, `w`, `beta`).
    pub name: String,
    /// The round program's input that holds its value at the start of the round.
    pub input: String,
    /// Its shape: a vector or a matrix.
    pub shape: Shape,
    /// Whether it starts as `zeros(...)` (then the first round takes it as an input too);
    /// otherwise the first round's program computes its start (its `let` is kept).
    pub starts_at_zeros: bool,
    /// The index of its `let` among the program's items.
    item: usize,
}

impl StateVar {
    /// Whether the round program from `start` takes it as an input (every round but the
    /// first for a state that does not start at zeros).
    pub fn is_input(&self, start: usize) -> bool {
        self.starts_at_zeros || start > 0
    }
}

/// A program, analysed for generating its round programs.
#[derive(Clone, Debug)]
pub struct RoundTemplate {
    source: SourceFile,
    ast: ast::Program,
    state: Vec<StateVar>,
    /// The indices of the loop over the minibatches and of the `output` among the items.
    loop_item: usize,
    output_item: usize,
    /// The sequence inputs as long as the loop (the minibatches), whose indices in the loop
    /// body are shifted; other sequences are read whole by every round.
    seq_inputs: HashSet<String>,
    /// Whether the loop carries public values (then a warm-up loop replays them).
    replays: bool,
    /// The loop body's public statements that a round replays, in order (the warm-up loop's
    /// body).
    warmup: Vec<Stmt>,
    /// Whether the round program depends on the round's first iteration.
    shifts: bool,
    /// Whether the program does more after the loop than output its state (statements after
    /// the loop, outputs that are not the state): then only the last round does it.
    tail: bool,
    /// What the rounds after the first do with what the program computes before the loop.
    prelude: Prelude,
    /// With [`Prelude::Carried`]: what the later rounds keep of each statement before the
    /// loop, by item (its public part; `None`: nothing).
    later_prelude: HashMap<usize, Option<Stmt>>,
}

/// What the rounds after the first do with the encrypted values the program computes before
/// the loop and reads in it or after it (a statistic of the data, a model an earlier loop
/// trained).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prelude {
    /// Every round computes them again: no bootstrap of theirs, but their depth and work
    /// in every round.
    Recomputed,
    /// The first round computes them and every round hands them on with its state: the
    /// prelude runs once, and a value no round changes passes from round to round without
    /// a bootstrap ([`hel_schedule::bootstrap::passes_through`]); its first refresh may
    /// widen the chain (a matrix takes all the slots).
    Carried,
}

impl RoundTemplate {
    /// Parses and analyses `source` with its own constants; fails with a [`Code::Rounds`]
    /// diagnostic at what stops the program from being split into rounds (or with the
    /// program's own compile error).
    pub fn new(source: &SourceFile) -> Result<Self, Diagnostic> {
        Self::with_sets(source, &[])
    }

    /// [`RoundTemplate::new`] with `const` values overridden (as `--set` does).
    pub fn with_sets(source: &SourceFile, sets: &[(String, f64)]) -> Result<Self, Diagnostic> {
        Self::with_prelude(source, sets, Prelude::Recomputed)
    }

    /// [`RoundTemplate::with_sets`] with the values computed before the loop handled as
    /// `prelude` says.
    pub fn with_prelude(
        source: &SourceFile,
        sets: &[(String, f64)],
        prelude: Prelude,
    ) -> Result<Self, Diagnostic> {
        Self::cutting(source, sets, prelude, 0)
    }

    /// [`RoundTemplate::with_prelude`] splitting the `nth` loop in the order of preference
    /// (0: the loop that trains; then the other loops that carry an encrypted value, the
    /// later first). A [`Code::Rounds`] refusal when there is no such loop.
    pub fn cutting(
        source: &SourceFile,
        sets: &[(String, f64)],
        prelude: Prelude,
        nth: usize,
    ) -> Result<Self, Diagnostic> {
        let ast = crate::on_big_stack(|| crate::syntax::parse(source))?;
        Self::analyse(source, ast, sets, prelude, nth)
    }

    /// Analyses the AST `ast` of `source` (the values before the loop recomputed by every
    /// round).
    pub fn from_ast(
        source: &SourceFile,
        ast: ast::Program,
        sets: &[(String, f64)],
    ) -> Result<Self, Diagnostic> {
        Self::analyse(source, ast, sets, Prelude::Recomputed, 0)
    }

    fn analyse(
        source: &SourceFile,
        ast: ast::Program,
        sets: &[(String, f64)],
        prelude: Prelude,
        nth: usize,
    ) -> Result<Self, Diagnostic> {
        let refuse = |span: Span, why: String| {
            Diagnostic::new(
                Code::Rounds,
                source,
                span,
                format!("cannot split the training into rounds: {why}"),
            )
        };
        let loops: Vec<(usize, &ForStmt)> = items_where(&ast, |i| match i {
            Item::Stmt(Stmt::For(f)) => Some(f),
            _ => None,
        });
        // The loop the rounds cut: the only one, or of several (preprocessing, training,
        // postprocessing) the last that carries an encrypted value (the checker's facts on
        // the program as written) and runs from 0 to a constant; the loops before it run in
        // every round (or the first), the ones after it in the last. The `nth` choice goes
        // down that order of preference.
        let chosen = match loops.as_slice() {
            [] => None,
            [only] => (nth == 0).then_some(*only),
            several => {
                let facts = crate::on_big_stack(|| {
                    check::elaborate_with_facts(source, &ast, sets).map(|(_, f)| f)
                })?;
                let encrypted = |l: &ForStmt| {
                    facts
                        .carried(l.span)
                        .iter()
                        .any(|(name, ct)| !ct && facts.carried_public(l.span, name) == Some(false))
                };
                // Splittable: from 0, best to a declared constant (a number or another
                // expression gets a constant's name, `name_loop_end`).
                let from_zero =
                    |l: &ForStmt| matches!(l.start.kind, ExprKind::Number(x) if x == 0.0);
                let to_const = |l: &ForStmt| {
                    matches!(&l.end.kind, ExprKind::Var(n) if ast.items.iter().any(
                        |i| matches!(i, Item::Const(c) if c.name.name == *n)))
                };
                let mut ranked: Vec<(usize, &ForStmt)> = Vec::new();
                let picks: [&dyn Fn(&ForStmt) -> bool; 3] = [
                    &|l| encrypted(l) && from_zero(l) && to_const(l),
                    &|l| encrypted(l) && from_zero(l),
                    &|l| encrypted(l),
                ];
                for pick in picks {
                    for &(j, l) in several.iter().rev() {
                        if pick(l) && !ranked.iter().any(|r| r.0 == j) {
                            ranked.push((j, l));
                        }
                    }
                }
                if ranked.is_empty() {
                    ranked.extend(several.last().copied());
                }
                ranked.get(nth).copied()
            }
        };
        let Some(loop_item) = chosen.map(|(j, _)| j) else {
            let (why, label) = if loops.is_empty() {
                (
                    "the program has no top-level loop to split",
                    "no loop in this program",
                )
            } else {
                ("the program has no other loop to split", "no other loop")
            };
            return Err(refuse(Span::default(), why.into()).with_label(label));
        };
        let mut ast = ast;
        let loop_item = name_loop_end(&mut ast, loop_item);
        let Some(Item::Stmt(Stmt::For(lp))) = ast.items.get(loop_item) else {
            return Err(refuse(
                Span::default(),
                "the loop to split is not where it was found (an internal error)".into(),
            ));
        };
        let outs: Vec<(usize, &OutputStmt)> = items_where(&ast, |i| match i {
            Item::Output(o) => Some(o),
            _ => None,
        });
        let [(output_item, out)] = outs.as_slice() else {
            return Err(refuse(
                outs.get(1).map_or(Span::default(), |(_, o)| o.span),
                format!(
                    "the program needs exactly one `output` statement, it has {}",
                    outs.len()
                ),
            ));
        };
        let output_item = *output_item;
        // The per-iteration data: sequences as long as the loop (`Z: ...[k]` for
        // `for i in 0..k`), whose elements a round indexes from its own start.
        let length = match &lp.end.kind {
            ExprKind::Var(n) => Some(n.as_str()),
            _ => None,
        };
        let seq_inputs: HashSet<String> = ast
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Input(d) => match &d.ty.seq_len {
                    Some(Expr {
                        kind: ExprKind::Var(n),
                        ..
                    }) if Some(n.as_str()) == length => Some(d.name.name.clone()),
                    _ => None,
                },
                _ => None,
            })
            .collect();

        // The variables the loop carries, declared before it; those that start as zeros(n)
        // become encrypted inputs.
        let mut assigned_in_loop = HashSet::new();
        assigned(&lp.body, &mut assigned_in_loop);
        let carried: Vec<(usize, &LetStmt)> = ast.items[..loop_item]
            .iter()
            .enumerate()
            .filter_map(|(j, i)| match i {
                Item::Stmt(Stmt::Let(l)) if assigned_in_loop.contains(&l.name.name) => Some((j, l)),
                _ => None,
            })
            .collect();
        let mut taken = all_names(&ast);
        let mut state = Vec::new();
        let mut new_state = |item: usize, l: &LetStmt, shape: Shape, starts_at_zeros: bool| {
            let name = l.name.name.clone();
            let mut input = format!("{name}_start");
            while taken.contains(&input) {
                input.push('_');
            }
            taken.insert(input.clone());
            StateVar {
                name,
                input,
                shape,
                starts_at_zeros,
                item,
            }
        };
        for &(item, l) in &carried {
            if is_zeros(&l.value) {
                // Its shape is the checker's, filled in below.
                state.push(new_state(item, l, Shape::Scalar, true));
            }
        }

        let mut template = RoundTemplate {
            source: source.clone(),
            ast: ast.clone(),
            state,
            loop_item,
            output_item,
            seq_inputs,
            replays: false,
            warmup: Vec::new(),
            shifts: false,
            tail: false,
            prelude,
            later_prelude: HashMap::new(),
        };
        // The checker's view of the round program: with the carried vectors as encrypted
        // inputs, what is left compile-time must be folded into the circuit.
        let facts = crate::on_big_stack(|| {
            check::elaborate_with_facts(source, &template.program(0), sets).map(|(_, f)| f)
        })?;

        for s in &mut template.state {
            if let Some(shape) = facts.let_shape(ast_let_span(&ast, s.item)) {
                s.shape = shape;
            }
        }
        // The other carried variables: public values (compile-time ones, folded into each
        // round, or computed from `plain` inputs only, computed by the server in the clear),
        // which every round replays from the start; or encrypted vectors and matrices that
        // start elsewhere (the first round computes their start).
        let mut replayed = HashSet::new();
        for &(item, l) in &carried {
            let name = &l.name.name;
            if template.state.iter().any(|s| s.name == *name) {
                continue;
            }
            if facts.carried_compile_time(lp.span, name) == Some(true)
                || facts.carried_public(lp.span, name) == Some(true)
            {
                replayed.insert(name.clone());
                continue;
            }
            match facts.let_shape(l.span) {
                Some(shape) => template.state.push(new_state(item, l, shape, false)),
                None => {
                    return Err(refuse(
                        l.span,
                        format!(
                            "`{name}` is carried from one iteration to the next, but its type \
                             is not known"
                        ),
                    ))
                }
            }
        }
        if template.state.is_empty() {
            return Err(refuse(
                lp.span,
                "no encrypted value is carried from one iteration to the next, so there are no \
                 weights to carry (public values are replayed by every round)"
                    .into(),
            ));
        }
        if prelude == Prelude::Carried {
            // The encrypted values computed before the loop that the loop or what follows
            // it reads: their value when the loop starts is encrypted if their `let` or an
            // assignment to them before the loop stores an encrypted value.
            let read_later = tree::read_from(&ast, loop_item);
            let before = &ast.items[..loop_item];
            let stmts: Vec<Stmt> = before
                .iter()
                .filter_map(|i| match i {
                    Item::Stmt(st) => Some(st.clone()),
                    _ => None,
                })
                .collect();
            for (item, l) in before.iter().enumerate().filter_map(|(j, i)| match i {
                Item::Stmt(Stmt::Let(l)) => Some((j, l)),
                _ => None,
            }) {
                let name = &l.name.name;
                if !read_later.contains(name) || template.state.iter().any(|s| s.name == *name) {
                    continue;
                }
                let mut spans = vec![l.span];
                tree::assignments_to(&stmts, name, &mut spans);
                if spans.iter().all(|&sp| facts.stmt_public(sp) == Some(true)) {
                    continue;
                }
                match facts.let_shape(l.span) {
                    Some(shape) => template.state.push(new_state(item, l, shape, false)),
                    None => {
                        return Err(refuse(
                            l.span,
                            format!("`{name}` is read in the loop, but its type is not known"),
                        ))
                    }
                }
            }
        }
        // What the program does after the loop (a prediction, `beta = Y @ b`) only the last
        // round does; the others output the state.
        template.tail = out
            .names
            .iter()
            .any(|o| !template.state.iter().any(|s| s.name == o.name))
            || ast.items[loop_item + 1..]
                .iter()
                .any(|i| matches!(i, Item::Stmt(_)));
        template.state.sort_by_key(|s| s.item);
        // Assignments to the state between its `let` and the loop compute its start: the first
        // round keeps them, the later rounds take the state as an input instead. A loop there
        // that changes the state is refused: it would run again in every round.
        for st in &mut template.state {
            for item in &ast.items[st.item + 1..loop_item] {
                match item {
                    Item::Stmt(Stmt::Assign { name, .. }) if name.name == st.name => {
                        st.starts_at_zeros = false;
                    }
                    Item::Stmt(Stmt::For(f)) => {
                        let mut changed = HashSet::new();
                        assigned(&f.body, &mut changed);
                        if changed.contains(&st.name) && prelude == Prelude::Carried {
                            // The first round runs the loop; the later ones take its result.
                            st.starts_at_zeros = false;
                        } else if changed.contains(&st.name) {
                            return Err(refuse(
                                f.span,
                                format!(
                                    "this loop changes `{}`, which the loop the rounds split \
                                     carries; every round would run it again",
                                    st.name
                                ),
                            )
                            .with_label(format!("changes `{}`", st.name)));
                        }
                    }
                    _ => {}
                }
            }
        }

        // A round holds only its own iterations' elements of the per-iteration data: outside
        // the loop, only what the first round alone computes (the state's start) may read
        // them (from the first iterations').
        for (j, item) in ast.items.iter().enumerate() {
            let Item::Stmt(st) = item else { continue };
            let first_only = template.state.iter().any(|s| {
                (s.item == j && !s.starts_at_zeros)
                    || (j < loop_item
                        && matches!(st, Stmt::Assign { name, .. } if name.name == s.name))
            });
            if j == loop_item || first_only {
                continue;
            }
            let mut at = None;
            stmt_exprs(st, &mut |e| {
                walk(e, &mut |x| {
                    if matches!(&x.kind, ExprKind::Var(n) if template.seq_inputs.contains(n)) {
                        at.get_or_insert(x.span);
                    }
                })
            });
            if let Some(at) = at {
                return Err(refuse(
                    at,
                    "the per-iteration data is read here, outside the loop the rounds split; a \
                     round holds only its own iterations' elements"
                        .into(),
                )
                .with_label("outside the loop"));
            }
        }

        // Carried: the later rounds keep only the public part of what comes before the loop
        // (the encrypted values it computes that matter are their inputs now).
        if prelude == Prelude::Carried {
            let names: HashSet<String> = template.state.iter().map(|s| s.name.clone()).collect();
            let public = |sp: Span| facts.stmt_public(sp) == Some(true);
            for (j, item) in ast.items[..loop_item].iter().enumerate() {
                if let Item::Stmt(st) = item {
                    template
                        .later_prelude
                        .insert(j, tree::public_part(st, &public, &names));
                }
            }
        }

        // The loop body: the public statements a round replays (the warm-up loop), and
        // whether the loop variable is used other than as a minibatch index. A statement is
        // replayed when its value is public and reads neither the per-iteration data (a round
        // has its own iterations' only) nor a name the warm-up loop does not define.
        let loop_var = &lp.var.name;
        let mut public = replayed.clone();
        let mut warmup = Vec::new();
        let mut var_elsewhere = false;
        let mut not_replayed: HashSet<String> = template.seq_inputs.clone();
        // Names the body declares: fresh in every iteration, so not carried by the outer loop.
        let mut body_lets: HashSet<&String> = HashSet::new();
        for s in &lp.body {
            let (target, value, span, is_let) = match s {
                Stmt::Let(l) => (&l.name.name, &l.value, l.span, true),
                Stmt::Assign { name, value, span } => (&name.name, value, *span, false),
                Stmt::For(inner) => {
                    // An inner loop (the minibatches of one epoch, a few steps per minibatch)
                    // runs whole in every round. The warm-up loop replays the compile-time
                    // statements of the outer loop only, so the inner loop must not change
                    // them.
                    let mut changed = HashSet::new();
                    assigned(&inner.body, &mut changed);
                    // A value the body declares itself is not carried: once the inner loop
                    // has changed it, it is simply no longer replayed (`not_replayed`).
                    let mut replayed: Vec<&String> = changed
                        .iter()
                        .filter(|n| public.contains(*n) && !body_lets.contains(n))
                        .collect();
                    replayed.sort();
                    if let Some(name) = replayed.first() {
                        return Err(refuse(
                            inner.span,
                            format!(
                                "this inner loop changes `{name}`, a public value the outer \
                                 loop carries; a round replays such values by the outer loop's \
                                 own statements only"
                            ),
                        )
                        .with_label(format!("changes `{name}`")));
                    }
                    for n in &changed {
                        public.remove(n);
                    }
                    not_replayed.extend(changed);
                    var_elsewhere |= [&inner.start, &inner.end]
                        .into_iter()
                        .any(|e| uses_outside_index(e, loop_var, &template.seq_inputs))
                        || stmts_use_outside_index(&inner.body, loop_var, &template.seq_inputs);
                    continue;
                }
            };
            if is_let {
                body_lets.insert(target);
            }
            var_elsewhere |= uses_outside_index(value, loop_var, &template.seq_inputs);
            let replayable = facts.stmt_public(span) == Some(true) && !reads(value, &not_replayed);
            if replayable && (is_let || public.contains(target)) {
                public.insert(target.clone());
                warmup.push(s.clone());
            } else if replayed.contains(target) {
                return Err(refuse(
                    span,
                    format!(
                        "`{target}` is a public value the loop carries, but this assignment \
                         computes it from the per-iteration data (or from values of this \
                         iteration computed from it), which a round cannot replay for the \
                         iterations before its own"
                    ),
                )
                .with_label("not replayable"));
            } else {
                public.remove(target);
                not_replayed.insert(target.clone());
            }
        }
        template.replays = !replayed.is_empty();
        template.shifts = template.replays || var_elsewhere;
        template.warmup = warmup;
        Ok(template)
    }

    /// The user's program the rounds are generated from.
    pub fn source(&self) -> &SourceFile {
        &self.source
    }

    /// The constant the loop runs to, `k` in `for i in 0..k`: a round sets it to its own
    /// number of iterations. `None` when the loop does not run from 0 to a constant.
    pub fn length_const(&self) -> Option<&str> {
        let Some(Item::Stmt(Stmt::For(lp))) = self.ast.items.get(self.loop_item) else {
            return None;
        };
        let from_zero = matches!(lp.start.kind, ExprKind::Number(x) if x == 0.0);
        match &lp.end.kind {
            ExprKind::Var(name)
                if from_zero
                    && self
                        .ast
                        .items
                        .iter()
                        .any(|i| matches!(i, Item::Const(c) if c.name.name == *name)) =>
            {
                Some(name)
            }
            _ => None,
        }
    }

    /// Where the loop over the minibatches is, for messages.
    pub fn loop_span(&self) -> Span {
        match self.ast.items.get(self.loop_item) {
            Some(Item::Stmt(Stmt::For(f))) => f.span,
            _ => Span::default(),
        }
    }

    /// The encrypted vectors carried between rounds, in the order they are declared.
    pub fn state(&self) -> &[StateVar] {
        &self.state
    }

    /// Whether the round program depends on the round's first iteration.
    pub fn shifts(&self) -> bool {
        self.shifts
    }

    /// What the round program for `start` depends on: `start` when it shifts, else 0. Rounds of
    /// equal length and equal key have the same program, so they share one compiled circuit.
    pub fn program_key(&self, start: usize) -> usize {
        if self.shifts {
            start
        } else if self.first_differs() {
            start.min(1)
        } else {
            0
        }
    }

    /// Whether the first round's program differs from the others' by computing the start of
    /// a state that does not start at zeros.
    pub fn first_differs(&self) -> bool {
        self.state.iter().any(|s| !s.starts_at_zeros)
    }

    /// A start of a round that is not the first, for sizing rounds: `len`, the second
    /// round's start for rounds of `len`, where the first differs; else the first (0).
    pub fn later_start(&self, len: usize) -> usize {
        if self.first_differs() {
            len
        } else {
            0
        }
    }

    /// The round program for the round whose first global iteration is `start` (its length is
    /// the constant `k`, set at compile time like for the original program), not the last.
    pub fn program(&self, start: usize) -> ast::Program {
        self.program_for(start, false)
    }

    /// The sequence inputs with one element per iteration (the minibatches): a round reads
    /// the elements of its own iterations.
    pub fn per_iteration_inputs(&self) -> &HashSet<String> {
        &self.seq_inputs
    }

    /// Whether the program does more after the loop than output its state: then the last
    /// round's program ([`RoundTemplate::program_for`]) differs from the others'.
    pub fn has_tail(&self) -> bool {
        self.tail
    }

    /// The round program from `start`; `last` for the last round, which also does what the
    /// program does after the loop and outputs the program's outputs (besides the state).
    pub fn program_for(&self, start: usize, last: bool) -> ast::Program {
        let last = last || !self.tail;
        let first = start == 0;
        let start = if self.shifts { start } else { 0 };
        let mut items = Vec::with_capacity(self.ast.items.len() + self.state.len() + 1);
        for (j, item) in self.ast.items.iter().enumerate() {
            match item {
                Item::Stmt(Stmt::Let(l))
                    if self
                        .state
                        .iter()
                        .any(|s| s.item == j && s.is_input(!first as usize)) =>
                {
                    if let Some(s) = self.state.iter().find(|s| s.item == j) {
                        items.extend(state_input(s, l));
                    }
                }
                Item::Stmt(_) if j > self.loop_item && !last => {}
                Item::Stmt(_)
                    if !first && j < self.loop_item && self.prelude == Prelude::Carried =>
                {
                    if let Some(Some(st)) = self.later_prelude.get(&j) {
                        items.push(Item::Stmt(st.clone()));
                    }
                }
                // The state's start, computed before the loop: the first round's only.
                Item::Stmt(Stmt::Assign { name, .. })
                    if j < self.loop_item
                        && self
                            .state
                            .iter()
                            .any(|s| s.name == name.name && s.is_input(!first as usize)) => {}
                Item::Output(o) if j == self.output_item => {
                    let mut names = if last { o.names.clone() } else { Vec::new() };
                    for s in &self.state {
                        if !names.iter().any(|n| n.name == s.name) {
                            names.push(Ident {
                                name: s.name.clone(),
                                span: o.span,
                            });
                        }
                    }
                    items.push(Item::Output(OutputStmt {
                        names,
                        span: o.span,
                    }));
                }
                Item::Stmt(Stmt::For(lp)) if j == self.loop_item && start > 0 => {
                    if self.replays {
                        items.push(Item::Stmt(Stmt::For(ForStmt {
                            var: lp.var.clone(),
                            start: number(0, lp.start.span),
                            end: number(start, lp.end.span),
                            body: self.warmup.clone(),
                            span: lp.span,
                        })));
                    }
                    items.push(Item::Stmt(Stmt::For(self.shifted(lp, start))));
                }
                _ => items.push(item.clone()),
            }
        }
        ast::Program { items }
    }

    /// The round program for `start`, checked into the tensor IR (see [`crate::frontend`]).
    pub fn frontend(
        &self,
        start: usize,
        sets: &[(String, f64)],
    ) -> Result<ir::Program, Diagnostic> {
        self.frontend_for(start, false, sets)
    }

    /// [`RoundTemplate::frontend`] of [`RoundTemplate::program_for`].
    pub fn frontend_for(
        &self,
        start: usize,
        last: bool,
        sets: &[(String, f64)],
    ) -> Result<ir::Program, Diagnostic> {
        crate::on_big_stack(|| check::elaborate(&self.source, &self.program_for(start, last), sets))
    }

    /// The round program for `start`, compiled (see [`driver::compile`]).
    /// Compiles the round starting at global iteration `start`, its state inputs marked as
    /// the model's state ([`Options::state`]): with client rounds the client holds the
    /// weights, but it only prepares data (no product of a minibatch with the weights).
    pub fn compile(&self, start: usize, options: &Options) -> Result<Compiled, Diagnostic> {
        self.compile_for(start, false, options)
    }

    /// [`RoundTemplate::compile`] of [`RoundTemplate::program_for`].
    pub fn compile_for(
        &self,
        start: usize,
        last: bool,
        options: &Options,
    ) -> Result<Compiled, Diagnostic> {
        let program = crate::on_big_stack(|| self.program_for(start, last));
        let computed_here = |input: &str| {
            self.state
                .iter()
                .any(|s| s.input == input && !s.is_input(start))
        };
        // The first round refreshes the state whose start it computes from its output alone.
        let (refresh_outputs, refresh) = options
            .refresh
            .iter()
            .cloned()
            .partition::<Vec<_>, _>(|(input, _)| computed_here(input));
        let options = Options {
            state: self
                .state
                .iter()
                .filter(|s| s.is_input(start))
                .map(|s| s.input.clone())
                .collect(),
            refresh,
            refresh_outputs: refresh_outputs.into_iter().map(|(_, o)| o).collect(),
            ..options.clone()
        };
        driver::compile_ast(&self.source, &program, &options)
    }

    /// The loop over global iterations `start..start + k`, minibatch indices shifted back.
    fn shifted(&self, lp: &ForStmt, start: usize) -> ForStmt {
        let shift = |e: &Expr, op| binary(op, e.clone(), number(start, e.span));
        ForStmt {
            var: lp.var.clone(),
            start: shift(&lp.start, BinOp::Add),
            end: shift(&lp.end, BinOp::Add),
            body: lp
                .body
                .iter()
                .map(|s| map_stmt_exprs(s, &|e| self.shift_indices(e, start)))
                .collect(),
            span: lp.span,
        }
    }

    /// `e` with every `Z[i]` of a sequence input `Z` replaced by `Z[i - start]`.
    fn shift_indices(&self, e: &Expr, start: usize) -> Expr {
        let kind = match &e.kind {
            ExprKind::Number(_) | ExprKind::Var(_) => e.kind.clone(),
            ExprKind::Neg(a) => ExprKind::Neg(Box::new(self.shift_indices(a, start))),
            ExprKind::Binary(op, a, b) => ExprKind::Binary(
                *op,
                Box::new(self.shift_indices(a, start)),
                Box::new(self.shift_indices(b, start)),
            ),
            ExprKind::Index(b, i) => {
                let i = self.shift_indices(i, start);
                let i = match &b.kind {
                    ExprKind::Var(n) if self.seq_inputs.contains(n) => {
                        let span = i.span;
                        binary(BinOp::Sub, i, number(start, span))
                    }
                    _ => i,
                };
                ExprKind::Index(Box::new(self.shift_indices(b, start)), Box::new(i))
            }
            ExprKind::Call(f, args) => ExprKind::Call(
                f.clone(),
                args.iter().map(|a| self.shift_indices(a, start)).collect(),
            ),
        };
        Expr { kind, span: e.span }
    }
}
