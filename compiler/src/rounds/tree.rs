//! Reading and rewriting the syntax tree for the round template: walks over expressions and
//! statements, the names a program uses or assigns, and the nodes a round program is built
//! from (each keeping the span of the node it derives from, for diagnostics).

use std::collections::HashSet;

use super::StateVar;
use crate::ir::Shape;
use crate::source::Span;
use crate::syntax::ast::{
    self, BinOp, Expr, ExprKind, ForStmt, Ident, InputDef, Item, LetStmt, SecrecyKw, Stmt,
    TypeExpr, TypeKind,
};

/// The span of the `let` at `item`.
pub(super) fn ast_let_span(ast: &ast::Program, item: usize) -> Span {
    match ast.items.get(item) {
        Some(Item::Stmt(Stmt::Let(l))) => l.span,
        _ => Span::default(),
    }
}

/// `input NAME_start: enc vector[n]; let NAME = NAME_start;` for `let NAME = ...;` (or
/// `matrix[r, c]`; the sizes as written in `zeros(...)`, else the checker's).
pub(super) fn state_input(s: &StateVar, l: &LetStmt) -> [Item; 2] {
    let at = l.value.span;
    let kind = match (&l.value.kind, s.shape) {
        (ExprKind::Call(_, args), _) if s.starts_at_zeros && args.len() == 1 => {
            TypeKind::Vector(args[0].clone())
        }
        (ExprKind::Call(_, args), _) if s.starts_at_zeros && args.len() == 2 => {
            TypeKind::Matrix(args[0].clone(), args[1].clone())
        }
        (_, Shape::Matrix(r, c)) => TypeKind::Matrix(number(r, at), number(c, at)),
        (_, Shape::Scalar) => TypeKind::Scalar,
        (_, shape) => TypeKind::Vector(number(shape.len(), at)),
    };
    let input = Item::Input(InputDef {
        name: Ident {
            name: s.input.clone(),
            span: l.name.span,
        },
        secrecy: SecrecyKw::Enc,
        ty: TypeExpr {
            kind,
            seq_len: None,
            span: l.value.span,
        },
        range: None,
        span: l.span,
    });
    let init = Item::Stmt(Stmt::Let(LetStmt {
        name: l.name.clone(),
        value: Expr {
            kind: ExprKind::Var(s.input.clone()),
            span: l.value.span,
        },
        span: l.span,
    }));
    [input, init]
}

pub(super) fn number(v: usize, span: Span) -> Expr {
    Expr {
        kind: ExprKind::Number(v as f64),
        span,
    }
}

pub(super) fn binary(op: BinOp, a: Expr, b: Expr) -> Expr {
    let span = a.span;
    Expr {
        kind: ExprKind::Binary(op, Box::new(a), Box::new(b)),
        span,
    }
}

/// Whether `e` is `zeros(n)` or `zeros(r, c)` (a vector or a matrix).
pub(super) fn is_zeros(e: &Expr) -> bool {
    matches!(&e.kind, ExprKind::Call(f, args) if f.name == "zeros" && matches!(args.len(), 1 | 2))
}

/// The items `pick` selects, with their indices.
pub(super) fn items_where<'a, T>(
    p: &'a ast::Program,
    pick: impl Fn(&'a Item) -> Option<&'a T>,
) -> Vec<(usize, &'a T)> {
    p.items
        .iter()
        .enumerate()
        .filter_map(|(j, i)| pick(i).map(|t| (j, t)))
        .collect()
}

/// `s` with `f` applied to the expression it stores (and, in a loop, to its body's).
pub(super) fn map_stmt_exprs(s: &Stmt, f: &impl Fn(&Expr) -> Expr) -> Stmt {
    match s {
        Stmt::Let(l) => Stmt::Let(LetStmt {
            value: f(&l.value),
            ..l.clone()
        }),
        Stmt::Assign { name, value, span } => Stmt::Assign {
            name: name.clone(),
            value: f(value),
            span: *span,
        },
        Stmt::For(lp) => Stmt::For(ForStmt {
            body: lp.body.iter().map(|b| map_stmt_exprs(b, f)).collect(),
            ..lp.clone()
        }),
    }
}

/// Whether `e` uses the loop variable `var` other than as the whole index of a sequence input
/// (`Z[i]`).
pub(super) fn uses_outside_index(e: &Expr, var: &str, seq_inputs: &HashSet<String>) -> bool {
    let uses = |x: &Expr| uses_outside_index(x, var, seq_inputs);
    match &e.kind {
        ExprKind::Number(_) => false,
        ExprKind::Var(n) => n == var,
        ExprKind::Neg(a) => uses(a),
        ExprKind::Binary(_, a, b) => uses(a) || uses(b),
        ExprKind::Index(b, i) => {
            let minibatch = matches!(&b.kind, ExprKind::Var(n) if seq_inputs.contains(n))
                && matches!(&i.kind, ExprKind::Var(n) if n == var);
            !minibatch && (uses(b) || uses(i))
        }
        ExprKind::Call(_, args) => args.iter().any(uses),
    }
}

/// [`uses_outside_index`] of any expression in `body` (inner loops included).
pub(super) fn stmts_use_outside_index(
    body: &[Stmt],
    var: &str,
    seq_inputs: &HashSet<String>,
) -> bool {
    body.iter().any(|s| match s {
        Stmt::Let(l) => uses_outside_index(&l.value, var, seq_inputs),
        Stmt::Assign { value, .. } => uses_outside_index(value, var, seq_inputs),
        Stmt::For(f) => {
            [&f.start, &f.end]
                .into_iter()
                .any(|e| uses_outside_index(e, var, seq_inputs))
                || stmts_use_outside_index(&f.body, var, seq_inputs)
        }
    })
}

/// Calls `visit` on every expression statement `s` stores (in a loop: its bounds and body's).
pub(super) fn stmt_exprs(s: &Stmt, visit: &mut impl FnMut(&Expr)) {
    match s {
        Stmt::Let(l) => visit(&l.value),
        Stmt::Assign { value, .. } => visit(value),
        Stmt::For(f) => {
            visit(&f.start);
            visit(&f.end);
            f.body.iter().for_each(|b| stmt_exprs(b, visit));
        }
    }
}

/// Where the program reads the constant `name` other than at `bound` (the split loop's end)
/// and as a sequence length.
pub(super) fn other_use(p: &ast::Program, name: &str, bound: Span) -> Option<Span> {
    let mut found = None;
    let mut visit = |e: &Expr| {
        if e.span != bound {
            walk(e, &mut |x| {
                if matches!(&x.kind, ExprKind::Var(n) if n == name) {
                    found.get_or_insert(x.span);
                }
            });
        }
    };
    for item in &p.items {
        match item {
            Item::Const(c) => visit(&c.value),
            Item::Input(i) => match &i.ty.kind {
                TypeKind::Scalar => {}
                TypeKind::Vector(n) => visit(n),
                TypeKind::Matrix(r, c) => {
                    visit(r);
                    visit(c);
                }
            },
            // No parameter or `let` of a function takes a constant's name (the checker).
            Item::Fn(f) => {
                f.lets.iter().for_each(|l| visit(&l.value));
                visit(&f.body);
            }
            Item::Output(_) => {}
            Item::Stmt(s) => stmt_exprs(s, &mut visit),
        }
    }
    found
}

/// Whether `e` reads any of `names`.
pub(super) fn reads(e: &Expr, names: &HashSet<String>) -> bool {
    let mut found = false;
    walk(e, &mut |x| {
        if let ExprKind::Var(n) = &x.kind {
            found |= names.contains(n);
        }
    });
    found
}

/// Calls `visit` on `e` and every subexpression.
pub(super) fn walk(e: &Expr, visit: &mut impl FnMut(&Expr)) {
    visit(e);
    match &e.kind {
        ExprKind::Number(_) | ExprKind::Var(_) => {}
        ExprKind::Neg(a) => walk(a, visit),
        ExprKind::Binary(_, a, b) | ExprKind::Index(a, b) => {
            walk(a, visit);
            walk(b, visit);
        }
        ExprKind::Call(_, args) => args.iter().for_each(|a| walk(a, visit)),
    }
}

/// Every name the program mentions (to pick input names that clash with none).
pub(super) fn all_names(p: &ast::Program) -> HashSet<String> {
    fn expr(e: &Expr, names: &mut HashSet<String>) {
        walk(e, &mut |x| {
            if let ExprKind::Var(n) = &x.kind {
                names.insert(n.clone());
            }
        })
    }
    fn stmt(s: &Stmt, names: &mut HashSet<String>) {
        match s {
            Stmt::Let(l) => {
                names.insert(l.name.name.clone());
                expr(&l.value, names);
            }
            Stmt::Assign { name, value, .. } => {
                names.insert(name.name.clone());
                expr(value, names);
            }
            Stmt::For(f) => {
                names.insert(f.var.name.clone());
                f.body.iter().for_each(|b| stmt(b, names));
            }
        }
    }
    let mut names = HashSet::new();
    for item in &p.items {
        match item {
            Item::Const(c) => {
                names.insert(c.name.name.clone());
            }
            Item::Input(i) => {
                names.insert(i.name.name.clone());
            }
            Item::Fn(f) => {
                names.insert(f.name.name.clone());
                names.extend(f.params.iter().map(|p| p.name.clone()));
                names.extend(f.lets.iter().map(|l| l.name.name.clone()));
            }
            Item::Output(o) => names.extend(o.names.iter().map(|n| n.name.clone())),
            Item::Stmt(s) => stmt(s, &mut names),
        }
    }
    names
}

/// Names assigned anywhere in `body`.
pub(super) fn assigned(body: &[Stmt], out: &mut HashSet<String>) {
    for s in body {
        match s {
            Stmt::Assign { name, .. } => {
                out.insert(name.name.clone());
            }
            Stmt::For(f) => assigned(&f.body, out),
            Stmt::Let(_) => {}
        }
    }
}

/// Whether `a` and `b` are the same expression as written (spans aside).
fn same_expr(a: &Expr, b: &Expr) -> bool {
    match (&a.kind, &b.kind) {
        (ExprKind::Number(x), ExprKind::Number(y)) => x == y,
        (ExprKind::Var(x), ExprKind::Var(y)) => x == y,
        (ExprKind::Neg(x), ExprKind::Neg(y)) => same_expr(x, y),
        (ExprKind::Binary(o, a1, b1), ExprKind::Binary(p, a2, b2)) => {
            o == p && same_expr(a1, a2) && same_expr(b1, b2)
        }
        (ExprKind::Index(a1, b1), ExprKind::Index(a2, b2)) => {
            same_expr(a1, a2) && same_expr(b1, b2)
        }
        (ExprKind::Call(f, x), ExprKind::Call(g, y)) => {
            f.name == g.name && x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_expr(a, b))
        }
        _ => false,
    }
}

/// Makes the loop at `loop_item` run from 0 to a constant's name, so that a round sets the
/// one constant to its own number of iterations like a `const k` of the user's. A loop from
/// `a != 0` runs from 0 to `b - a` with its variable read as `i + a`; a loop to a number or an
/// expression (`for i in 0..16`, `0..2 * n`), or to a constant read elsewhere too (`lr / k`),
/// gets a new `const` holding it, which the sequence inputs declared exactly as long
/// (`Z: ...[16]`) and read in this loop only take as their length too.
/// Returns the index the loop has afterwards (one more if the constant went before it).
pub(super) fn name_loop_end(p: &mut ast::Program, loop_item: usize) -> usize {
    let Some(Item::Stmt(Stmt::For(lp))) = p.items.get(loop_item) else {
        return loop_item;
    };
    let from_zero = matches!(lp.start.kind, ExprKind::Number(x) if x == 0.0);
    // A constant read elsewhere too (a step `lr / k`, a size) keeps its value there.
    if from_zero
        && matches!(&lp.end.kind, ExprKind::Var(n) if other_use(p, n, lp.end.span).is_none())
    {
        return loop_item;
    }
    let end = if from_zero {
        lp.end.clone()
    } else {
        binary(BinOp::Sub, lp.end.clone(), lp.start.clone())
    };
    if !from_zero {
        if let Some(Item::Stmt(Stmt::For(lp))) = p.items.get_mut(loop_item) {
            let var = lp.var.name.clone();
            let shifted = |e: &Expr| binary(BinOp::Add, e.clone(), lp.start.clone());
            lp.body = lp
                .body
                .iter()
                .map(|b| map_stmt_exprs(b, &|e| replace_var(e, &var, &shifted)))
                .collect();
            lp.start = number(0, lp.start.span);
        }
    }
    let taken = all_names(p);
    let mut name = String::from("iterations");
    while taken.contains(&name) {
        name.push('_');
    }
    let var = Expr {
        kind: ExprKind::Var(name.clone()),
        span: end.span,
    };
    // A sequence read outside the loop too stays whole (every round reads all of it).
    let mut outside = HashSet::new();
    for (j, item) in p.items.iter().enumerate() {
        if let (Item::Stmt(st), true) = (item, j != loop_item) {
            stmt_exprs(st, &mut |e| {
                walk(e, &mut |x| {
                    if let ExprKind::Var(n) = &x.kind {
                        outside.insert(n.clone());
                    }
                })
            });
        }
    }
    let mut first_use = loop_item;
    for (j, item) in p.items.iter_mut().enumerate() {
        match item {
            Item::Input(d)
                if !outside.contains(&d.name.name)
                    && d.ty.seq_len.as_ref().is_some_and(|n| same_expr(n, &end)) =>
            {
                d.ty.seq_len = Some(var.clone());
                first_use = first_use.min(j);
            }
            Item::Stmt(Stmt::For(l)) if j == loop_item => l.end = var.clone(),
            _ => {}
        }
    }
    p.items.insert(
        first_use,
        Item::Const(ast::ConstDef {
            name: Ident {
                name,
                span: end.span,
            },
            span: end.span,
            value: end,
        }),
    );
    loop_item + 1
}

/// `e` with every read of `var` replaced by `with(that read)`.
fn replace_var(e: &Expr, var: &str, with: &impl Fn(&Expr) -> Expr) -> Expr {
    let go = |x: &Expr| Box::new(replace_var(x, var, with));
    let kind = match &e.kind {
        ExprKind::Var(n) if n == var => return with(e),
        ExprKind::Number(_) | ExprKind::Var(_) => e.kind.clone(),
        ExprKind::Neg(a) => ExprKind::Neg(go(a)),
        ExprKind::Binary(op, a, b) => ExprKind::Binary(*op, go(a), go(b)),
        ExprKind::Index(a, b) => ExprKind::Index(go(a), go(b)),
        ExprKind::Call(f, args) => ExprKind::Call(
            f.clone(),
            args.iter().map(|a| replace_var(a, var, with)).collect(),
        ),
    };
    Expr { kind, span: e.span }
}

/// The names the items from `from` on read: in their expressions and as outputs.
pub(super) fn read_from(p: &ast::Program, from: usize) -> HashSet<String> {
    let mut names = HashSet::new();
    let mut visit = |e: &Expr| {
        walk(e, &mut |x| {
            if let ExprKind::Var(n) = &x.kind {
                names.insert(n.clone());
            }
        })
    };
    for item in p.items.iter().skip(from) {
        match item {
            Item::Stmt(s) => stmt_exprs(s, &mut visit),
            Item::Output(o) => {
                for n in &o.names {
                    visit(&Expr {
                        kind: ExprKind::Var(n.name.clone()),
                        span: n.span,
                    })
                }
            }
            _ => {}
        }
    }
    names
}

/// The spans of the assignments to `name` in `stmts`, nested loops included.
pub(super) fn assignments_to(stmts: &[Stmt], name: &str, out: &mut Vec<Span>) {
    for s in stmts {
        match s {
            Stmt::Assign { name: n, span, .. } if n.name == name => out.push(*span),
            Stmt::For(f) => assignments_to(&f.body, name, out),
            _ => {}
        }
    }
}

/// What a round that takes `state` as inputs keeps of `s`, a statement before the loop: its
/// public statements (the server computes them in the clear; they read no encrypted value),
/// none that assigns the state; `None` when nothing is left.
pub(super) fn public_part(
    s: &Stmt,
    public: &impl Fn(Span) -> bool,
    state: &HashSet<String>,
) -> Option<Stmt> {
    match s {
        Stmt::Let(l) => (public(l.span) && !state.contains(&l.name.name)).then(|| s.clone()),
        Stmt::Assign { name, span, .. } => {
            (public(*span) && !state.contains(&name.name)).then(|| s.clone())
        }
        Stmt::For(f) => {
            let body: Vec<Stmt> = f
                .body
                .iter()
                .filter_map(|b| public_part(b, public, state))
                .collect();
            (!body.is_empty()).then(|| Stmt::For(ForStmt { body, ..f.clone() }))
        }
    }
}
