//! Declarations: `const`, `input`, `fn` and `output` items, the checks that every name is
//! defined once, and the name lookup that constant evaluation uses.

use super::builtins;
use super::consts::{self, ConstName};
use super::{node, Elab, Global, VarKind, MAX_DIM, MAX_SEQ};
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{InputDecl, Op, OutputDecl, Secrecy, Shape, Type};
use crate::syntax::ast::{self, Expr, FnDef, Ident, Item};
use std::collections::{HashMap, HashSet};

impl<'a> Elab<'a> {
    pub(super) fn already_defined(&self, name: &Ident) -> Option<Diagnostic> {
        // A variable, constant or input named like a built-in would make `zeros(3) + zeros`
        // mean two things.
        if builtins::is_builtin(&name.name) {
            return Some(
                self.err(
                    Code::Name,
                    name.span,
                    format!(
                        "`{}` is a built-in function and cannot be redefined",
                        name.name
                    ),
                )
                .with_label("a built-in's name")
                .with_help(format!("built-ins: {}", builtins::list())),
            );
        }
        let prev = self.globals.get(&name.name).map(|(_, s)| *s).or_else(|| {
            self.frames
                .iter()
                .rev()
                .find_map(|f| f.vars.get(&name.name).map(|v| v.declared))
        })?;
        let (line, col) = self.src.line_col(prev.start);
        Some(
            self.err(
                Code::Name,
                name.span,
                format!(
                    "`{}` is already defined at line {line}, column {col}",
                    name.name
                ),
            )
            .with_label("defined again here")
            .with_help("each name is defined once; to update a variable, assign to it: `x = ...;`"),
        )
    }

    pub(super) fn declare_fn(&mut self, f: &'a FnDef) -> Result<(), Diagnostic> {
        if builtins::is_builtin(&f.name.name) {
            return Err(self.err(
                Code::Name,
                f.name.span,
                format!(
                    "`{}` is a built-in function and cannot be redefined",
                    f.name.name
                ),
            ));
        }
        if let Some(d) = self.already_defined(&f.name) {
            return Err(d);
        }
        let mut seen = HashSet::new();
        for p in &f.params {
            if !seen.insert(&p.name) {
                return Err(self.err(
                    Code::Name,
                    p.span,
                    format!("parameter `{}` appears twice", p.name),
                ));
            }
        }
        self.globals
            .insert(f.name.name.clone(), (Global::Fn(f), f.name.span));
        Ok(())
    }

    /// Refuses a function parameter or `let` named like a built-in, a constant or a function:
    /// a function sees those, so the name would mean two things in its body (the language has
    /// no shadowing). Every function is checked, called or not, once all globals are known;
    /// inputs and top-level variables are out of a function's sight and may share names.
    pub(super) fn check_fn_names(&self, items: &[Item]) -> Result<(), Diagnostic> {
        for item in items {
            let Item::Fn(f) = item else { continue };
            let names = f.params.iter().chain(f.lets.iter().map(|l| &l.name));
            for (i, name) in names.enumerate() {
                let what = if i < f.params.len() {
                    format!("parameter `{}` of `{}`", name.name, f.name.name)
                } else {
                    format!("`let {}` in `{}`", name.name, f.name.name)
                };
                if builtins::is_builtin(&name.name) {
                    return Err(self.err(
                        Code::Name,
                        name.span,
                        format!("{what}: `{}` is a built-in function", name.name),
                    ));
                }
                let Some((global, at)) = self.globals.get(&name.name) else {
                    continue;
                };
                let kind = match global {
                    Global::Const(_) => "a constant",
                    Global::Fn(_) => "a function",
                    Global::Input { .. } => continue,
                };
                let (line, col) = self.src.line_col(at.start);
                return Err(self
                    .err(
                        Code::Name,
                        name.span,
                        format!(
                            "{what} has the name of {kind} defined at line {line}, column {col}"
                        ),
                    )
                    .with_label("defined again here")
                    .with_help(
                        "a function sees every constant and function, so the name would mean two \
                         things in its body; rename one of them",
                    ));
            }
        }
        Ok(())
    }

    pub(super) fn const_lookup(&self) -> impl Fn(&str) -> Option<ConstName> + '_ {
        move |name: &str| self.const_name(name, &HashMap::new())
    }

    pub(super) fn const_name(&self, name: &str, env: &consts::LoopEnv) -> Option<ConstName> {
        if let Some(v) = env.get(name) {
            return Some(ConstName::Value(*v));
        }
        // Inside a function, its parameters and `let`s (values the program computes).
        if let Some(v) = self.fn_scopes.last().and_then(|(_, scope)| scope.get(name)) {
            return Some(ConstName::NotConst(format!(
                "a function's parameter or `let` ({}), a value the program computes",
                v.ty
            )));
        }
        if let Some((g, _)) = self.globals.get(name) {
            return Some(match g {
                Global::Const(v) => ConstName::Value(*v),
                Global::Input { ty, .. } => ConstName::NotConst(format!("an input ({ty})")),
                Global::Fn(_) => ConstName::NotConst("a function".into()),
            });
        }
        for f in self.frames.iter().rev() {
            if let Some(v) = f.vars.get(name) {
                return Some(match v.kind {
                    VarKind::LoopVar => ConstName::LoopVar,
                    VarKind::Let => ConstName::NotConst(format!("a variable ({})", v.val.ty)),
                });
            }
        }
        None
    }

    pub(super) fn item(&mut self, item: &'a Item) -> Result<(), Diagnostic> {
        match item {
            Item::Fn(_) => Ok(()),
            Item::Const(c) => {
                if let Some(d) = self.already_defined(&c.name) {
                    return Err(d);
                }
                let value = match self.overrides.get(c.name.name.as_str()) {
                    Some(v) => {
                        self.used_overrides.insert(c.name.name.clone());
                        *v
                    }
                    None => consts::eval(self.src, &c.value, "a constant", &self.const_lookup())?,
                };
                self.globals
                    .insert(c.name.name.clone(), (Global::Const(value), c.name.span));
                Ok(())
            }
            Item::Input(i) => self.input(i),
            Item::Output(o) => self.output(o),
            Item::Stmt(s) => self.stmt(s),
        }
    }

    pub(super) fn input(&mut self, i: &ast::InputDef) -> Result<(), Diagnostic> {
        if let Some(d) = self.already_defined(&i.name) {
            return Err(d);
        }
        let look = self.const_lookup();
        let dim = |e: &Expr, what: &str| {
            consts::eval_int(self.src, e, what, 1, MAX_DIM, &look).map(|v| v as usize)
        };
        let shape = match &i.ty.kind {
            ast::TypeKind::Scalar => Shape::Scalar,
            ast::TypeKind::Vector(n) => Shape::Vector(dim(n, "a vector size")?),
            ast::TypeKind::Matrix(r, c) => Shape::Matrix(
                dim(r, "a matrix row count")?,
                dim(c, "a matrix column count")?,
            ),
        };
        let seq = match &i.ty.seq_len {
            Some(k) => Some(
                consts::eval_int(self.src, k, "a sequence length", 1, MAX_SEQ, &look)? as usize,
            ),
            None => None,
        };
        let range = match &i.range {
            Some(r) => {
                let lo = consts::eval(self.src, &r.lo, "a range bound", &look)?;
                let hi = consts::eval(self.src, &r.hi, "a range bound", &look)?;
                if lo > hi {
                    return Err(self.err(
                        Code::Const,
                        r.span,
                        format!("the range [{lo}, {hi}] is empty; write the lower bound first"),
                    ));
                }
                Some((lo, hi))
            }
            None => None,
        };
        drop(look);
        let secrecy = match i.secrecy {
            ast::SecrecyKw::Enc => Secrecy::Enc,
            ast::SecrecyKw::Plain => Secrecy::Plain,
        };
        let ty = Type {
            secrecy,
            shape,
            seq,
        };
        crate::limits::check_elements(self.src, ty, i.span, &self.limits)?;
        let id = self.frames[0].builder.add(node(
            Op::Input {
                name: i.name.name.clone(),
            },
            vec![],
            ty,
            i.name.span,
        ));
        self.globals.insert(
            i.name.name.clone(),
            (Global::Input { node: id, ty }, i.name.span),
        );
        self.inputs.push(InputDecl {
            name: i.name.name.clone(),
            ty,
            range,
            span: i.span,
            refreshed_from: None,
            model_state: false,
        });
        Ok(())
    }

    pub(super) fn output(&mut self, o: &ast::OutputStmt) -> Result<(), Diagnostic> {
        for name in &o.names {
            if self.outputs.iter().any(|x| x.name == name.name) {
                return Err(self.err(
                    Code::Name,
                    name.span,
                    format!("`{}` is already an output", name.name),
                ));
            }
            let v = self.lookup(&name.name, name.span)?;
            self.no_seq(v, name.span, &name.name)?;
            self.outputs.push(OutputDecl {
                name: name.name.clone(),
                node: v.node,
                span: name.span,
                refreshed: false,
            });
        }
        Ok(())
    }
}
