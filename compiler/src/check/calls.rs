//! Calls: user functions (inlined at every call, in a scope that sees only their parameters and
//! the constants) and the built-ins of [`super::builtins`].

use super::builtins;
use super::consts;
use super::{node, origin, Elab, Global, Val, MAX_DIM};
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{Op, Secrecy, Shape, Type};
use crate::source::Span;
use crate::syntax::ast::{Expr, FnDef, Ident};
use std::collections::HashMap;

impl<'a> Elab<'a> {
    pub(super) fn call(&mut self, e: &Expr, f: &Ident, args: &[Expr]) -> Result<Val, Diagnostic> {
        if builtins::is_builtin(&f.name) {
            return self.builtin(e, f, args);
        }
        let def = match self.globals.get(&f.name) {
            Some((Global::Fn(d), _)) => *d,
            Some(_) => {
                return Err(self
                    .err(
                        Code::Name,
                        f.span,
                        format!("`{}` is not a function", f.name),
                    )
                    .with_label("not callable"))
            }
            None => {
                return Err(self
                    .err(
                        Code::Name,
                        f.span,
                        format!("there is no function `{}`", f.name),
                    )
                    .with_label("unknown function")
                    .with_help(format!("built-ins: {}", builtins::list())))
            }
        };
        if def.params.len() != args.len() {
            return Err(self.err(
                Code::Name,
                e.span,
                format!(
                    "`{}` takes {} argument{}, but {} {} given",
                    f.name,
                    def.params.len(),
                    if def.params.len() == 1 { "" } else { "s" },
                    args.len(),
                    if args.len() == 1 { "was" } else { "were" }
                ),
            ));
        }
        if self.fn_scopes.iter().any(|(n, _)| *n == f.name) {
            return Err(self.err(
                Code::Name,
                f.span,
                format!(
                    "`{}` calls itself; functions are inlined and cannot be recursive",
                    f.name
                ),
            ));
        }
        self.check_inline(def, e.span)?;
        let mut scope = HashMap::new();
        for (p, a) in def.params.iter().zip(args) {
            let v = self.value(a)?;
            scope.insert(p.name.clone(), v);
        }
        self.fn_scopes.push((f.name.clone(), scope));
        let result = self.fn_body(def);
        self.fn_scopes.pop();
        result
    }

    pub(super) fn fn_body(&mut self, def: &FnDef) -> Result<Val, Diagnostic> {
        for l in &def.lets {
            let taken = self
                .fn_scopes
                .last()
                .is_some_and(|(_, s)| s.contains_key(&l.name.name));
            if taken {
                return Err(self.err(
                    Code::Name,
                    l.name.span,
                    format!("`{}` is already defined in this function", l.name.name),
                ));
            }
            let v = self.value(&l.value)?;
            if let Some((_, s)) = self.fn_scopes.last_mut() {
                s.insert(l.name.name.clone(), v);
            }
        }
        self.value(&def.body)
    }

    pub(super) fn builtin(
        &mut self,
        e: &Expr,
        f: &Ident,
        args: &[Expr],
    ) -> Result<Val, Diagnostic> {
        let name = f.name.as_str();
        let Some(b) = builtins::get(name) else {
            return Err(self.err(Code::Internal, f.span, "internal error: not a built-in"));
        };
        let arity = b.arity;
        if !arity.contains(&args.len()) {
            let want = arity
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(" or ");
            return Err(self.err(
                Code::Name,
                e.span,
                format!(
                    "`{name}` takes {want} argument(s), but {} were given",
                    args.len()
                ),
            ));
        }
        if name == "zeros" || name == "ones" {
            let look = self.const_lookup();
            let mut dims = Vec::new();
            for a in args {
                dims.push(consts::eval_int(
                    self.src,
                    a,
                    &format!("the size given to `{name}`"),
                    1,
                    MAX_DIM,
                    &look,
                )? as usize);
            }
            drop(look);
            let shape = match dims.as_slice() {
                [n] => Shape::Vector(*n),
                [r, c] => Shape::Matrix(*r, *c),
                _ => return Err(self.err(Code::Internal, e.span, "internal error: bad arity")),
            };
            return Ok(self.constant(if name == "zeros" { 0.0 } else { 1.0 }, shape, e.span));
        }
        let vals: Vec<Val> = args
            .iter()
            .map(|a| self.value(a))
            .collect::<Result<_, _>>()?;
        let a = vals[0];
        let (op, shape) = match name {
            "transpose" => match a.ty.shape {
                Shape::Matrix(r, c) => (Op::Transpose, Shape::Matrix(c, r)),
                s => return Err(self.expects_matrix(name, s, args[0].span)),
            },
            "sum_rows" => match a.ty.shape {
                Shape::Matrix(_, c) => (Op::SumRows, Shape::Vector(c)),
                s => return Err(self.expects_matrix(name, s, args[0].span)),
            },
            "sum_cols" => match a.ty.shape {
                Shape::Matrix(r, _) => (Op::SumCols, Shape::Vector(r)),
                s => return Err(self.expects_matrix(name, s, args[0].span)),
            },
            "dot" => {
                let b = vals[1];
                match (a.ty.shape, b.ty.shape) {
                    (Shape::Vector(n), Shape::Vector(m)) if n == m => (Op::Dot, Shape::Scalar),
                    (sa, sb) => {
                        return Err(self
                            .err(
                                Code::Shape,
                                e.span,
                                format!(
                                "`dot` needs two vectors of the same length, but got {sa} and {sb}"
                            ),
                            )
                            .with_label("shapes do not match"))
                    }
                }
            }
            "outer" => {
                let b = vals[1];
                match (a.ty.shape, b.ty.shape) {
                    (Shape::Vector(r), Shape::Vector(c)) => {
                        // `outer(u, v)[i, j] = u[i] v[j]`: the rows of `v`'s broadcast, each
                        // scaled by its entry of `u` (`diag(u) ones(r, c) diag(v)`).
                        let shape = Shape::Matrix(r, c);
                        let rows = self.rows_of(b, shape, args[1].span);
                        let secrecy = a.ty.secrecy.join(b.ty.secrecy);
                        let ty = Type::new(secrecy, shape);
                        let id = self.add(node(Op::ScaleRows, vec![rows, a.node], ty, e.span));
                        return Ok(Val {
                            node: id,
                            ty,
                            ct: a.ct && b.ct,
                        });
                    }
                    (sa, sb) => {
                        return Err(self
                            .err(
                                Code::Shape,
                                e.span,
                                format!("`outer` needs two vectors, but got {sa} and {sb}"),
                            )
                            .with_label("not two vectors"))
                    }
                }
            }
            "sqrt" => {
                if a.ty.shape != Shape::Scalar || !a.ct {
                    return Err(self
                        .err(
                            Code::Secrecy,
                            args[0].span,
                            format!(
                                "`sqrt` works on scalars known at compile time, but this is {}",
                                origin(a)
                            ),
                        )
                        .with_label("not a compile-time scalar")
                        .with_help(
                            "for encrypted values, approximate the square root with a polynomial",
                        ));
                }
                (Op::Sqrt, Shape::Scalar)
            }
            other => {
                return Err(self.err(
                    Code::Internal,
                    e.span,
                    format!("internal error: the built-in `{other}` has no elaboration"),
                ))
            }
        };
        let secrecy = vals
            .iter()
            .map(|v| v.ty.secrecy)
            .fold(Secrecy::Plain, Secrecy::join);
        let ct = vals.iter().all(|v| v.ct);
        let ty = Type::new(secrecy, shape);
        let id = self.add(node(op, vals.iter().map(|v| v.node).collect(), ty, e.span));
        Ok(Val { node: id, ty, ct })
    }

    pub(super) fn expects_matrix(&self, name: &str, got: Shape, span: Span) -> Diagnostic {
        self.err(
            Code::Shape,
            span,
            format!("`{name}` expects a matrix, but this is a {got}"),
        )
        .with_label("not a matrix")
    }
}
