//! The abstract syntax tree: what the user wrote, with a span on every piece.

use crate::source::Span;

#[derive(Debug, Clone)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Program {
    pub items: Vec<Item>,
}

#[derive(Debug, Clone)]
pub enum Item {
    Const(ConstDef),
    Input(InputDef),
    Fn(FnDef),
    Output(OutputStmt),
    Stmt(Stmt),
}

#[derive(Debug, Clone)]
pub struct ConstDef {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecrecyKw {
    Enc,
    Plain,
}

#[derive(Debug, Clone)]
pub struct InputDef {
    pub name: Ident,
    pub secrecy: SecrecyKw,
    pub ty: TypeExpr,
    pub range: Option<RangeAnn>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum TypeKind {
    Scalar,
    Vector(Expr),
    Matrix(Expr, Expr),
}

#[derive(Debug, Clone)]
pub struct TypeExpr {
    pub kind: TypeKind,
    /// `[k]` after the type: a sequence of k values, indexed `Z[i]`.
    pub seq_len: Option<Expr>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct RangeAnn {
    pub lo: Expr,
    pub hi: Expr,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct FnDef {
    pub name: Ident,
    pub params: Vec<Ident>,
    pub lets: Vec<LetStmt>,
    pub body: Expr,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct OutputStmt {
    pub names: Vec<Ident>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct LetStmt {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum Stmt {
    Let(LetStmt),
    Assign {
        name: Ident,
        value: Expr,
        span: Span,
    },
    For(ForStmt),
}

#[derive(Debug, Clone)]
pub struct ForStmt {
    pub var: Ident,
    pub start: Expr,
    pub end: Expr,
    pub body: Vec<Stmt>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    MatMul,
    Pow,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::MatMul => "@",
            BinOp::Pow => "^",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum ExprKind {
    Number(f64),
    Var(String),
    Neg(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Index(Box<Expr>, Box<Expr>),
    Call(Ident, Vec<Expr>),
}
