//! Statements: `let`, assignment and `for`. A loop becomes a `Loop` node whose body is a
//! region; the variables the body assigns but does not declare are loop-carried, and their
//! types may widen from plain to encrypted after the first iteration (`let beta = zeros(f)`
//! becomes encrypted once data flows in), found by elaborating the body until the carried types
//! stop changing.

use super::consts;
use super::{node, Elab, Frame, Global, Val, Var, VarKind, MAX_DIM};
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{LoopOp, NodeId, Op, Region, Secrecy, Shape, Type};
use crate::source::Span;
use crate::syntax::ast::{self, Expr, Ident, Stmt};
use std::collections::HashSet;

impl<'a> Elab<'a> {
    pub(super) fn stmt(&mut self, s: &Stmt) -> Result<(), Diagnostic> {
        match s {
            Stmt::Let(l) => {
                if let Some(d) = self.already_defined(&l.name) {
                    return Err(d);
                }
                let v = self.value(&l.value)?;
                self.facts
                    .record_let(l.span, (v.ct, v.ty.secrecy == Secrecy::Plain), v.ty.shape);
                let def = if v.ct && v.ty.shape == Shape::Scalar {
                    self.inline_def(&l.value).map(|e| {
                        self.defs.push(e);
                        self.defs.len() - 1
                    })
                } else {
                    None
                };
                self.frame().vars.insert(
                    l.name.name.clone(),
                    Var {
                        val: v,
                        kind: VarKind::Let,
                        declared: l.name.span,
                        def,
                    },
                );
                Ok(())
            }
            Stmt::Assign { name, value, span } => self.assign(name, value, *span),
            Stmt::For(f) => self.for_loop(f),
        }
    }

    pub(super) fn assign(
        &mut self,
        name: &Ident,
        value: &Expr,
        span: Span,
    ) -> Result<(), Diagnostic> {
        let existing = match self.frame().vars.get(&name.name) {
            Some(v) => *v,
            None => {
                let what = match self.globals.get(&name.name) {
                    Some((Global::Const(_), _)) => "a constant",
                    Some((Global::Input { .. }, _)) => "an input",
                    Some((Global::Fn(_), _)) => "a function",
                    None => {
                        return Err(self
                            .err(
                                Code::Name,
                                name.span,
                                format!("`{}` is not defined", name.name),
                            )
                            .with_label("assigned before it is declared")
                            .with_help(format!("declare it first: `let {} = ...;`", name.name)))
                    }
                };
                return Err(self.err(
                    Code::Name,
                    name.span,
                    format!("cannot assign to `{}`: it is {what}", name.name),
                ));
            }
        };
        if existing.kind == VarKind::LoopVar {
            return Err(self.err(
                Code::Name,
                name.span,
                format!("cannot assign to the loop variable `{}`", name.name),
            ));
        }
        let v = self.value(value)?;
        if v.ty.shape != existing.val.ty.shape {
            return Err(self
                .err(
                    Code::Shape,
                    value.span,
                    format!(
                        "this assignment changes the shape of `{}` from {} to {}",
                        name.name, existing.val.ty.shape, v.ty.shape
                    ),
                )
                .with_label(format!("this is a {}", v.ty.shape))
                .with_help("a variable keeps the shape it was declared with"));
        }
        self.facts
            .record_stmt(span, (v.ct, v.ty.secrecy == Secrecy::Plain));
        self.frame().vars.insert(
            name.name.clone(),
            Var {
                val: v,
                def: None,
                ..existing
            },
        );
        Ok(())
    }

    pub(super) fn for_loop(&mut self, f: &ast::ForStmt) -> Result<(), Diagnostic> {
        let look = self.const_lookup();
        let start = consts::eval_int(self.src, &f.start, "a loop bound", -MAX_DIM, MAX_DIM, &look)?;
        let end = consts::eval_int(self.src, &f.end, "a loop bound", -MAX_DIM, MAX_DIM, &look)?;
        drop(look);
        if end < start {
            return Err(self.err(Code::Const, f.start.span.join(f.end.span), format!(
                "the loop range {start}..{end} runs backwards; the end must not be smaller than the start"
            )));
        }
        if let Some(d) = self.already_defined(&f.var) {
            return Err(d);
        }
        // Loop-carried variables: assigned in the body, declared outside it.
        let mut carried_names: Vec<Ident> = Vec::new();
        assigned_outside(
            &f.body,
            &mut HashSet::from([f.var.name.clone()]),
            &mut carried_names,
        );
        carried_names.retain(|n| self.frames.iter().any(|fr| fr.vars.contains_key(&n.name)));
        let mut inits: Vec<Val> = Vec::new();
        for n in &carried_names {
            inits.push(self.lookup(&n.name, n.span)?);
        }
        let mut param_tys: Vec<(Type, bool)> = inits.iter().map(|v| (v.ty, v.ct)).collect();
        // Start from where this loop settled in an earlier round of an enclosing loop: the
        // types there only widen, so the fixed point here is at least that one.
        if let Some(prev) = self.settled.get(&f.span) {
            if prev.len() == param_tys.len() {
                param_tys = param_tys
                    .iter()
                    .zip(prev)
                    .map(|(a, b)| widen(*a, *b))
                    .collect();
            }
        }
        let mut loop_vars = self.frame().loop_vars.clone();
        loop_vars.push((f.var.name.clone(), start, end));

        // Elaborate the body until the carried types are stable (they can only widen).
        let body = loop {
            let mut frame = Frame::new(loop_vars.clone());
            frame.carried = carried_names.len();
            for (j, (n, (ty, ct))) in carried_names.iter().zip(&param_tys).enumerate() {
                let p = frame
                    .builder
                    .add(node(Op::Param { index: j as u32 }, vec![], *ty, n.span));
                let declared = self
                    .frames
                    .iter()
                    .rev()
                    .find_map(|fr| fr.vars.get(&n.name))
                    .map_or(n.span, |v| v.declared);
                frame.vars.insert(
                    n.name.clone(),
                    Var {
                        val: Val {
                            node: p,
                            ty: *ty,
                            ct: *ct,
                        },
                        kind: VarKind::Let,
                        declared,
                        def: None,
                    },
                );
            }
            let idx = frame
                .builder
                .add(node(Op::LoopIndex, vec![], Type::scalar(), f.var.span));
            frame.vars.insert(
                f.var.name.clone(),
                Var {
                    val: Val {
                        node: idx,
                        ty: Type::scalar(),
                        ct: true,
                    },
                    kind: VarKind::LoopVar,
                    declared: f.var.span,
                    def: None,
                },
            );
            if self.made > self.limits.max_nodes {
                return Err(self
                    .err(
                        Code::Budget,
                        f.span,
                        format!(
                            "the checker has made {} IR nodes by this loop, more than the limit \
                             of {}",
                            self.made, self.limits.max_nodes
                        ),
                    )
                    .with_label("while checking this loop"));
            }
            self.frames.push(frame);
            let result = f.body.iter().try_for_each(|s| self.stmt(s));
            let frame = self.frames.pop();
            result?;
            let Some(frame) = frame else {
                return Err(self.err(Code::Internal, f.span, "internal error: lost loop frame"));
            };
            let results: Vec<Val> = carried_names
                .iter()
                .map(|n| frame.vars.get(&n.name).map(|v| v.val))
                .collect::<Option<_>>()
                .ok_or_else(|| {
                    self.err(
                        Code::Internal,
                        f.span,
                        "internal error: carried variable missing",
                    )
                })?;
            let widened: Vec<(Type, bool)> = param_tys
                .iter()
                .zip(&results)
                .map(|(p, r)| widen(*p, (r.ty, r.ct)))
                .collect();
            if widened == param_tys {
                break (frame, results);
            }
            param_tys = widened;
        };
        let (frame, results) = body;
        self.settled.insert(f.span, param_tys.clone());
        self.facts.record_loop(
            f.span,
            carried_names
                .iter()
                .zip(&param_tys)
                .map(|(n, (_, ct))| (n.name.clone(), *ct))
                .collect(),
            carried_names
                .iter()
                .zip(&param_tys)
                .filter(|(_, (ty, _))| ty.secrecy == Secrecy::Plain)
                .map(|(n, _)| n.name.clone())
                .collect(),
        );
        let mut args: Vec<NodeId> = inits.iter().map(|v| v.node).collect();
        args.extend(frame.captures.iter().copied());
        let region = Region {
            graph: frame.builder.finish(),
            results: results.iter().map(|r| r.node).collect(),
        };
        let lp = LoopOp {
            var: f.var.name.clone(),
            start,
            end,
            carried: carried_names.iter().map(|n| n.name.clone()).collect(),
            body: region,
        };
        // The loop node itself carries no value (its results do); it is typed as a plain scalar.
        let loop_id = self.add(node(Op::Loop(Box::new(lp)), args, Type::scalar(), f.span));
        for (j, (n, (ty, ct))) in carried_names.iter().zip(&param_tys).enumerate() {
            let r = self.add(node(
                Op::LoopResult { index: j as u32 },
                vec![loop_id],
                *ty,
                f.span,
            ));
            let var = self.frame().vars.get(&n.name).copied();
            match var {
                Some(v) => {
                    self.frame().vars.insert(
                        n.name.clone(),
                        Var {
                            val: Val {
                                node: r,
                                ty: *ty,
                                ct: *ct,
                            },
                            def: None,
                            ..v
                        },
                    );
                }
                None => {
                    return Err(self.err(
                        Code::Internal,
                        n.span,
                        "internal error: carried variable not in the enclosing frame",
                    ))
                }
            }
        }
        Ok(())
    }
}

/// The join of two carried types: encrypted if either is, compile-time only if both are.
fn widen((ty, ct): (Type, bool), (other, other_ct): (Type, bool)) -> (Type, bool) {
    (
        Type {
            secrecy: ty.secrecy.join(other.secrecy),
            ..ty
        },
        ct && other_ct,
    )
}

/// Names assigned in `body` that are not declared in it (in order of first assignment).
fn assigned_outside(body: &[Stmt], local: &mut HashSet<String>, out: &mut Vec<Ident>) {
    for s in body {
        match s {
            Stmt::Let(l) => {
                local.insert(l.name.name.clone());
            }
            Stmt::Assign { name, .. } => {
                if !local.contains(&name.name) && !out.iter().any(|n| n.name == name.name) {
                    out.push(name.clone());
                }
            }
            Stmt::For(f) => {
                let mut inner = local.clone();
                inner.insert(f.var.name.clone());
                assigned_outside(&f.body, &mut inner, out);
            }
        }
    }
}
