//! Names in expressions: resolving a name to a value through function scopes, loop frames and
//! globals, capturing values of enclosing frames as loop-body parameters, and constants.

use super::{node, Elab, Global, Val};
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{Op, Shape, Type};
use crate::source::Span;

impl<'a> Elab<'a> {
    /// Resolves a name to a value in the current frame, capturing it through enclosing loop
    /// bodies if it is defined further out.
    pub(super) fn lookup(&mut self, name: &str, span: Span) -> Result<Val, Diagnostic> {
        if let Some((fname, scope)) = self.fn_scopes.last() {
            if let Some(v) = scope.get(name) {
                return Ok(*v);
            }
            return match self.globals.get(name) {
                Some((Global::Const(c), _)) => Ok(self.constant(*c, Shape::Scalar, span)),
                Some((Global::Fn(_), _)) => Err(self.err(Code::Name, span, format!("`{name}` is a function; call it with arguments"))),
                _ => Err(self
                    .err(Code::Name, span, format!("function `{fname}` cannot use `{name}`: functions see only their parameters and constants"))
                    .with_label("not visible in a function")
                    .with_help("pass the value as an argument")),
            };
        }
        let found = self.frames.iter().rposition(|f| f.vars.contains_key(name));
        if let Some(fi) = found {
            let mut v = self.frames[fi].vars[name].val;
            for g in fi + 1..self.frames.len() {
                v = self.capture(g, v);
            }
            return Ok(v);
        }
        match self.globals.get(name) {
            Some((Global::Const(c), _)) => Ok(self.constant(*c, Shape::Scalar, span)),
            Some((Global::Input { node, ty }, _)) => {
                let mut v = Val {
                    node: *node,
                    ty: *ty,
                    ct: false,
                };
                for g in 1..self.frames.len() {
                    v = self.capture(g, v);
                }
                Ok(v)
            }
            Some((Global::Fn(_), _)) => Err(self.err(
                Code::Name,
                span,
                format!("`{name}` is a function; call it with arguments"),
            )),
            None => Err(self
                .err(Code::Name, span, format!("`{name}` is not defined"))
                .with_label("unknown name")),
        }
    }

    /// Makes a value of frame `g - 1` available in frame `g` as a parameter.
    pub(super) fn capture(&mut self, g: usize, outer: Val) -> Val {
        let span = self.frames[g - 1].builder.node(outer.node).span;
        let f = &mut self.frames[g];
        if let Some(&p) = f.capture_map.get(&outer.node) {
            return Val { node: p, ..outer };
        }
        let index = (f.carried + f.captures.len()) as u32;
        let p = f
            .builder
            .add(node(Op::Param { index }, vec![], outer.ty, span));
        f.captures.push(outer.node);
        f.capture_map.insert(outer.node, p);
        Val { node: p, ..outer }
    }

    pub(super) fn constant(&mut self, value: f64, shape: Shape, span: Span) -> Val {
        let ty = Type::plain(shape);
        let id = self.add(node(Op::Const { value }, vec![], ty, span));
        Val {
            node: id,
            ty,
            ct: true,
        }
    }

    pub(super) fn no_seq(&self, v: Val, span: Span, what: &str) -> Result<(), Diagnostic> {
        match v.ty.seq {
            Some(k) => Err(self
                .err(
                    Code::Shape,
                    span,
                    format!(
                        "`{what}` is a sequence of {k} values of type {}; pick one by indexing",
                        v.ty.shape
                    ),
                )
                .with_label("a whole sequence")
                .with_help(format!("write `{what}[i]`"))),
            None => Ok(()),
        }
    }
}
