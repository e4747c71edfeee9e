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
            // A function's parameter may shadow the constant.
            Item::Fn(f) if !f.params.iter().any(|p| p.name == name) => {
                f.lets.iter().for_each(|l| visit(&l.value));
                visit(&f.body);
            }
            Item::Fn(_) | Item::Output(_) => {}
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
