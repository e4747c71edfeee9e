//! Checking and elaboration: resolves names, checks shapes and secrecy, evaluates constants, and
//! builds the tensor IR in the same walk (the IR is typed, so building it *is* type checking).
//!
//! Loops stay loops: a `for` becomes a `Loop` node whose body is a region. Variables assigned in
//! the body are loop-carried; their type may widen from plain to encrypted after the first
//! iteration (`let beta = zeros(f)` becomes encrypted once data flows in), which is found by
//! elaborating the body until the carried types stop changing. Each carried variable widens at
//! most twice (to encrypted, to run-time), and a loop nested in another starts from where its
//! previous elaboration settled, so the rounds grow with the nesting depth, not exponentially.
//!
//! One file per job: this one holds the elaborator's state and its entry point; `items`
//! declarations, `stmts` statements and loops (the carried-type widening), `scope` name
//! resolution across loop frames and function scopes, `exprs` operators, `index` sequence
//! indexing, `calls` user functions and built-ins, whose table is `builtins`, `inline` the
//! inlining budget. `consts` evaluates constant expressions and `shapes` holds the operators'
//! shape rules.

pub mod builtins;
mod calls;
pub mod compile_time;
mod consts;
mod exprs;
mod index;
mod inline;
mod items;
mod scope;
mod shapes;
mod stmts;

use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{self, Builder, InputDecl, Node, NodeId, Op, OutputDecl, Secrecy, Type};
use crate::limits::Limits;
use crate::source::{SourceFile, Span};
use crate::syntax::ast::{self, FnDef, Item};
pub use compile_time::CompileTime;
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
    elaborate_limited(src, ast, overrides, &Limits::DEFAULT).map(|(p, _)| p)
}

/// [`elaborate`], also returning which statements and loop-carried variables are compile-time
/// values ([`CompileTime`]).
pub fn elaborate_with_facts(
    src: &SourceFile,
    ast: &ast::Program,
    overrides: &[(String, f64)],
) -> Result<(ir::Program, CompileTime), Diagnostic> {
    elaborate_limited(src, ast, overrides, &Limits::DEFAULT)
}

/// [`elaborate_with_facts`] under the budgets `limits`: besides the sizes checked while
/// elaborating, the program's unrolled size and interpreter work are checked at the end
/// ([`crate::limits::check_program`]), before any pass unrolls or runs it.
pub fn elaborate_limited(
    src: &SourceFile,
    ast: &ast::Program,
    overrides: &[(String, f64)],
    limits: &Limits,
) -> Result<(ir::Program, CompileTime), Diagnostic> {
    if let Some((name, first, second)) = repeated_override(overrides) {
        let at = ast.items.iter().find_map(|item| match item {
            Item::Const(c) if c.name.name == name => Some(c.name.span),
            _ => None,
        });
        return Err(Diagnostic::new(
            Code::Name,
            src,
            at.unwrap_or_default(),
            format!(
                "`--set {name}` is given twice ({name}={first} and {name}={second}): give each constant once"
            ),
        )
        .with_label("the constant both set"));
    }
    let mut e = Elab::new(src, overrides, *limits);
    for item in &ast.items {
        if let Item::Fn(f) = item {
            e.declare_fn(f)?;
        }
    }
    for item in &ast.items {
        e.item(item)?;
    }
    e.check_fn_names(&ast.items)?;
    let (program, facts) = e.finish()?;
    crate::limits::check_program(&program, limits)?;
    Ok((program, facts))
}

/// The first constant named twice among the `--set` overrides, with both values: taking one of
/// them silently would compile a program the user did not ask for.
fn repeated_override(overrides: &[(String, f64)]) -> Option<(&str, f64, f64)> {
    overrides.iter().enumerate().find_map(|(i, (name, first))| {
        overrides[i + 1..]
            .iter()
            .find(|(other, _)| other == name)
            .map(|(_, second)| (name.as_str(), *first, *second))
    })
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
    /// For a `let` of a compile-time scalar never assigned since: its value as an expression
    /// of numbers, constants and loop variables (in [`Elab::defs`]), so that a sequence index
    /// reading it (`let j = k - 1 - i; Z[j]`) is checked in every iteration like `Z[k - 1 - i]`.
    def: Option<usize>,
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
    facts: CompileTime,
    limits: Limits,
    /// IR nodes made so far, over every inlined call and every elaboration of a loop body
    /// (checked against [`Limits::max_nodes`] before each call is inlined).
    made: u64,
    /// Each function's size once inlined ([`Limits::max_inlined`]), computed once.
    inlined_sizes: HashMap<String, u64>,
    /// Each loop's carried types (by the loop's span) where its last elaboration settled:
    /// the next elaboration of the same loop (in a later round of an enclosing loop, whose
    /// types only widen) starts from there, so nested loops take a number of rounds that
    /// grows with the nesting depth, not exponentially in it.
    settled: HashMap<Span, Vec<(Type, bool)>>,
    /// The compile-time `let`s' values as expressions ([`Var::def`]).
    defs: Vec<ast::Expr>,
}

fn node(op: Op, args: Vec<NodeId>, ty: Type, span: Span) -> Node {
    Node::new(op, args, ty, span)
}

impl<'a> Elab<'a> {
    fn new(src: &'a SourceFile, overrides: &'a [(String, f64)], limits: Limits) -> Elab<'a> {
        Elab {
            src,
            overrides: overrides.iter().map(|(k, v)| (k.as_str(), *v)).collect(),
            used_overrides: HashSet::new(),
            globals: HashMap::new(),
            frames: vec![Frame::new(Vec::new())],
            fn_scopes: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            facts: CompileTime::default(),
            limits,
            made: 0,
            inlined_sizes: HashMap::new(),
            settled: HashMap::new(),
            defs: Vec::new(),
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
        self.made = self.made.saturating_add(1);
        self.frame().builder.add(n)
    }

    fn finish(mut self) -> Result<(ir::Program, CompileTime), Diagnostic> {
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
        if self.outputs.is_empty() {
            let end = self.src.text().trim_end().len();
            return Err(self
                .err(
                    Code::Name,
                    Span::new(end, end),
                    "the program has no `output`: the server would compute nothing to send back",
                )
                .with_label("no `output` statement before the end of the program")
                .with_help("add `output NAME;` for each value the client should get back"));
        }
        let top = self
            .frames
            .pop()
            .map(|f| f.builder.finish())
            .unwrap_or_default();
        let program = ir::Program {
            source: self.src.clone(),
            inputs: self.inputs,
            graph: top,
            outputs: self.outputs,
            derived: Vec::new(),
            refreshed_forms: None,
        };
        Ok((program, self.facts))
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
