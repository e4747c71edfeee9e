//! Checking and elaboration: resolves names, checks shapes and secrecy, evaluates constants, and
//! builds the tensor IR in the same walk (the IR is typed, so building it *is* type checking).
//!
//! Loops stay loops: a `for` becomes a `Loop` node whose body is a region. Variables assigned in
//! the body are loop-carried; their type may widen from plain to encrypted after the first
//! iteration (`let beta = zeros(f)` becomes encrypted once data flows in), which is found by
//! elaborating the body until the carried types stop changing (at most three times).

mod consts;
mod shapes;

use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{
    self, Builder, InputDecl, LoopOp, Node, NodeId, Op, OutputDecl, Region, Secrecy, Shape, Type,
};
use crate::source::{SourceFile, Span};
use crate::syntax::ast::{self, BinOp, Expr, ExprKind, FnDef, Ident, Item, Stmt};
use consts::ConstName;
use std::collections::{HashMap, HashSet};

/// Largest accepted vector/matrix dimension and sequence length.
const MAX_DIM: i64 = 1 << 24;
const MAX_SEQ: i64 = 1 << 16;
/// Largest accepted exponent in `x^n` for a run-time value.
const MAX_EXP: i64 = 64;

/// Checks `ast` and elaborates it into the tensor IR.
pub fn elaborate(
    src: &SourceFile,
    ast: &ast::Program,
    overrides: &[(String, f64)],
) -> Result<ir::Program, Diagnostic> {
    let mut e = Elab::new(src, overrides);
    for item in &ast.items {
        if let Item::Fn(f) = item {
            e.declare_fn(f)?;
        }
    }
    for item in &ast.items {
        e.item(item)?;
    }
    e.finish()
}

/// A value during elaboration: its node in the current frame's graph, its type, and whether it
/// is computable at compile time (constants, loop indices and arithmetic on them).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Val {
    node: NodeId,
    ty: Type,
    ct: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum VarKind {
    Let,
    LoopVar,
}

#[derive(Clone, Copy)]
struct Var {
    val: Val,
    kind: VarKind,
    declared: Span,
}

enum Global<'a> {
    Const(f64),
    Input { node: NodeId, ty: Type },
    Fn(&'a FnDef),
}

/// One graph under construction: the program's top level or a loop body.
struct Frame {
    builder: Builder,
    vars: HashMap<String, Var>,
    /// Number of loop-carried parameters (they come first).
    carried: usize,
    /// Values of the enclosing frame captured by this body, in parameter order.
    captures: Vec<NodeId>,
    capture_map: HashMap<NodeId, NodeId>,
    /// Loop variables of this and enclosing loops with their ranges, for index checks.
    loop_vars: Vec<(String, i64, i64)>,
}

impl Frame {
    fn new(loop_vars: Vec<(String, i64, i64)>) -> Frame {
        Frame {
            builder: Builder::new(),
            vars: HashMap::new(),
            carried: 0,
            captures: Vec::new(),
            capture_map: HashMap::new(),
            loop_vars,
        }
    }
}

struct Elab<'a> {
    src: &'a SourceFile,
    overrides: HashMap<&'a str, f64>,
    used_overrides: HashSet<String>,
    globals: HashMap<String, (Global<'a>, Span)>,
    frames: Vec<Frame>,
    /// Scopes of the user functions being inlined, innermost last.
    fn_scopes: Vec<(String, HashMap<String, Val>)>,
    inputs: Vec<InputDecl>,
    outputs: Vec<OutputDecl>,
}

fn node(op: Op, args: Vec<NodeId>, ty: Type, span: Span) -> Node {
    Node::new(op, args, ty, span)
}

impl<'a> Elab<'a> {
    fn new(src: &'a SourceFile, overrides: &'a [(String, f64)]) -> Elab<'a> {
        Elab {
            src,
            overrides: overrides.iter().map(|(k, v)| (k.as_str(), *v)).collect(),
            used_overrides: HashSet::new(),
            globals: HashMap::new(),
            frames: vec![Frame::new(Vec::new())],
            fn_scopes: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
        }
    }

    fn err(&self, code: Code, span: Span, msg: impl Into<String>) -> Diagnostic {
        Diagnostic::new(code, self.src, span, msg)
    }

    fn frame(&mut self) -> &mut Frame {
        // There is always at least the top-level frame.
        let last = self.frames.len() - 1;
        &mut self.frames[last]
    }

    fn add(&mut self, n: Node) -> NodeId {
        self.frame().builder.add(n)
    }

    fn finish(mut self) -> Result<ir::Program, Diagnostic> {
        let mut unused: Vec<&&str> = self
            .overrides
            .keys()
            .filter(|k| !self.used_overrides.contains(**k))
            .collect();
        unused.sort();
        if let Some(name) = unused.first() {
            return Err(self
                .err(
                    Code::Name,
                    Span::default(),
                    format!("`--set {name}=...` names no `const {name}` in this program"),
                )
                .with_label("constants are defined here and below"));
        }
        let top = self
            .frames
            .pop()
            .map(|f| f.builder.finish())
            .unwrap_or_default();
        Ok(ir::Program {
            source: self.src.clone(),
            inputs: self.inputs,
            graph: top,
            outputs: self.outputs,
            derived: Vec::new(),
        })
    }

    // ---- declarations ------------------------------------------------------------------------

    fn already_defined(&self, name: &Ident) -> Option<Diagnostic> {
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

    fn declare_fn(&mut self, f: &'a FnDef) -> Result<(), Diagnostic> {
        if is_builtin(&f.name.name) {
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

    fn const_lookup(&self) -> impl Fn(&str) -> Option<ConstName> + '_ {
        move |name: &str| self.const_name(name, &HashMap::new())
    }

    fn const_name(&self, name: &str, env: &consts::LoopEnv) -> Option<ConstName> {
        if let Some(v) = env.get(name) {
            return Some(ConstName::Value(*v));
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
                return Some(ConstName::NotConst(match v.kind {
                    VarKind::LoopVar => "a loop variable".into(),
                    VarKind::Let => format!("a variable ({})", v.val.ty),
                }));
            }
        }
        None
    }

    fn item(&mut self, item: &'a Item) -> Result<(), Diagnostic> {
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

    fn input(&mut self, i: &ast::InputDef) -> Result<(), Diagnostic> {
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
        });
        Ok(())
    }

    fn output(&mut self, o: &ast::OutputStmt) -> Result<(), Diagnostic> {
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
            });
        }
        Ok(())
    }

    // ---- statements --------------------------------------------------------------------------

    fn stmt(&mut self, s: &Stmt) -> Result<(), Diagnostic> {
        match s {
            Stmt::Let(l) => {
                if let Some(d) = self.already_defined(&l.name) {
                    return Err(d);
                }
                let v = self.value(&l.value)?;
                self.frame().vars.insert(
                    l.name.name.clone(),
                    Var {
                        val: v,
                        kind: VarKind::Let,
                        declared: l.name.span,
                    },
                );
                Ok(())
            }
            Stmt::Assign { name, value, .. } => self.assign(name, value),
            Stmt::For(f) => self.for_loop(f),
        }
    }

    fn assign(&mut self, name: &Ident, value: &Expr) -> Result<(), Diagnostic> {
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
        self.frame()
            .vars
            .insert(name.name.clone(), Var { val: v, ..existing });
        Ok(())
    }

    fn for_loop(&mut self, f: &ast::ForStmt) -> Result<(), Diagnostic> {
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
                },
            );
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
                .map(|((ty, ct), r)| {
                    (
                        Type {
                            secrecy: ty.secrecy.join(r.ty.secrecy),
                            ..*ty
                        },
                        *ct && r.ct,
                    )
                })
                .collect();
            if widened == param_tys {
                break (frame, results);
            }
            param_tys = widened;
        };
        let (frame, results) = body;
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

    // ---- names -------------------------------------------------------------------------------

    /// Resolves a name to a value in the current frame, capturing it through enclosing loop
    /// bodies if it is defined further out.
    fn lookup(&mut self, name: &str, span: Span) -> Result<Val, Diagnostic> {
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
    fn capture(&mut self, g: usize, outer: Val) -> Val {
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

    fn constant(&mut self, value: f64, shape: Shape, span: Span) -> Val {
        let ty = Type::plain(shape);
        let id = self.add(node(Op::Const { value }, vec![], ty, span));
        Val {
            node: id,
            ty,
            ct: true,
        }
    }

    fn no_seq(&self, v: Val, span: Span, what: &str) -> Result<(), Diagnostic> {
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

    // ---- expressions -------------------------------------------------------------------------

    /// An expression that must be a single tensor (not a whole sequence).
    fn value(&mut self, e: &Expr) -> Result<Val, Diagnostic> {
        let v = self.expr(e)?;
        let what = match &e.kind {
            ExprKind::Var(n) => n.as_str(),
            _ => "this",
        };
        self.no_seq(v, e.span, what)?;
        Ok(v)
    }

    fn expr(&mut self, e: &Expr) -> Result<Val, Diagnostic> {
        match &e.kind {
            ExprKind::Number(v) => Ok(self.constant(*v, Shape::Scalar, e.span)),
            ExprKind::Var(name) => self.lookup(name, e.span),
            ExprKind::Neg(x) => {
                let v = self.value(x)?;
                let id = self.add(node(Op::Neg, vec![v.node], v.ty, e.span));
                Ok(Val { node: id, ..v })
            }
            ExprKind::Binary(BinOp::Pow, base, exp) => self.power(e, base, exp),
            ExprKind::Binary(op, l, r) => {
                let a = self.value(l)?;
                let b = self.value(r)?;
                self.binary(*op, a, b, l, r, e.span)
            }
            ExprKind::Index(base, idx) => self.index(e, base, idx),
            ExprKind::Call(f, args) => self.call(e, f, args),
        }
    }

    fn binary(
        &mut self,
        op: BinOp,
        a: Val,
        b: Val,
        l: &Expr,
        r: &Expr,
        span: Span,
    ) -> Result<Val, Diagnostic> {
        let secrecy = a.ty.secrecy.join(b.ty.secrecy);
        let ct = a.ct && b.ct;
        let (ir_op, args, shape) = match op {
            BinOp::Add | BinOp::Sub | BinOp::Mul => {
                let shape = shapes::elementwise(
                    self.src,
                    op.symbol(),
                    a.ty.shape,
                    b.ty.shape,
                    l.span,
                    r.span,
                    span,
                )?;
                let o = match op {
                    BinOp::Add => Op::Add,
                    BinOp::Sub => Op::Sub,
                    _ => Op::Mul,
                };
                (o, vec![a.node, b.node], shape)
            }
            BinOp::Div => {
                if b.ty.shape != Shape::Scalar {
                    return Err(self
                        .err(
                            Code::Shape,
                            r.span,
                            format!(
                                "division needs a scalar divisor, but this is a {}",
                                b.ty.shape
                            ),
                        )
                        .with_label("not a scalar"));
                }
                if !b.ct {
                    return Err(self
                        .err(Code::Secrecy, r.span, format!("the divisor must be known at compile time, but this value is {}", origin(b)))
                        .with_label("not a compile-time constant")
                        .with_help("CKKS cannot divide by a run-time value; multiply by a precomputed reciprocal instead"));
                }
                (Op::Div, vec![a.node, b.node], a.ty.shape)
            }
            BinOp::MatMul => {
                let (o, shape) =
                    shapes::matmul(self.src, a.ty.shape, b.ty.shape, l.span, r.span, span)?;
                match o {
                    shapes::Product::MatMul => (Op::MatMul, vec![a.node, b.node], shape),
                    shapes::Product::MatVec => (Op::MatVec, vec![a.node, b.node], shape),
                    shapes::Product::VecMat => {
                        // v @ M = transpose(M) @ v
                        let Shape::Matrix(rr, cc) = b.ty.shape else {
                            return Err(self.err(
                                Code::Internal,
                                span,
                                "internal error: vector @ non-matrix",
                            ));
                        };
                        let t = self.add(node(
                            Op::Transpose,
                            vec![b.node],
                            Type {
                                shape: Shape::Matrix(cc, rr),
                                ..b.ty
                            },
                            r.span,
                        ));
                        (Op::MatVec, vec![t, a.node], shape)
                    }
                }
            }
            BinOp::Pow => {
                return Err(self.err(
                    Code::Internal,
                    span,
                    "internal error: power handled elsewhere",
                ))
            }
        };
        let ty = Type::new(secrecy, shape);
        let id = self.add(node(ir_op, args, ty, span));
        Ok(Val { node: id, ty, ct })
    }

    fn power(&mut self, e: &Expr, base: &Expr, exp: &Expr) -> Result<Val, Diagnostic> {
        let b = self.value(base)?;
        let look = self.const_lookup();
        let x = consts::eval(self.src, exp, "an exponent", &look)?;
        drop(look);
        if x.fract() != 0.0 || x < 1.0 || x > MAX_EXP as f64 {
            return Err(self
                .err(
                    Code::Const,
                    exp.span,
                    format!(
                        "the exponent must be a whole number from 1 to {MAX_EXP}, but it is {x}"
                    ),
                )
                .with_label(format!("= {x}"))
                .with_help("use `sqrt` for square roots of constants"));
        }
        let id = self.add(node(Op::Pow { exp: x as u32 }, vec![b.node], b.ty, e.span));
        Ok(Val { node: id, ..b })
    }

    fn index(&mut self, e: &Expr, base: &Expr, idx: &Expr) -> Result<Val, Diagnostic> {
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
    /// stays inside the sequence.
    fn check_index_range(&self, idx: &Expr, len: usize) -> Result<(), Diagnostic> {
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
                    .err(Code::Const, idx.span, format!("index {v} is out of range{when}: the sequence has {len} elements (0 to {})", len - 1))
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

    fn call(&mut self, e: &Expr, f: &Ident, args: &[Expr]) -> Result<Val, Diagnostic> {
        if is_builtin(&f.name) {
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
                    .with_help("built-ins: transpose, sum_rows, sum_cols, dot, zeros, ones, sqrt"))
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

    fn fn_body(&mut self, def: &FnDef) -> Result<Val, Diagnostic> {
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

    fn builtin(&mut self, e: &Expr, f: &Ident, args: &[Expr]) -> Result<Val, Diagnostic> {
        let name = f.name.as_str();
        let arity: &[usize] = match name {
            "zeros" | "ones" => &[1, 2],
            "dot" => &[2],
            _ => &[1],
        };
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
            _ => {
                // sqrt
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

    fn expects_matrix(&self, name: &str, got: Shape, span: Span) -> Diagnostic {
        self.err(
            Code::Shape,
            span,
            format!("`{name}` expects a matrix, but this is a {got}"),
        )
        .with_label("not a matrix")
    }
}

/// Describes why a value is not a compile-time constant.
fn origin(v: Val) -> String {
    match (v.ty.secrecy, v.ct) {
        (Secrecy::Enc, _) => format!("encrypted ({})", v.ty),
        (Secrecy::Plain, false) => format!("a run-time value ({})", v.ty),
        (Secrecy::Plain, true) => format!("a {}", v.ty.shape),
    }
}

fn is_builtin(name: &str) -> bool {
    matches!(
        name,
        "transpose" | "sum_rows" | "sum_cols" | "dot" | "zeros" | "ones" | "sqrt"
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
