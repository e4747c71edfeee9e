//! Builds the AST from pest's parse tree.
//!
//! The grammar only says what is well formed; this file gives operators their precedence
//! (`+ -` < `* / @` < unary `-` < `^` < indexing) and turns pest errors into diagnostics that say
//! what was expected in words rather than rule names.

use super::ast::*;
use crate::diagnostics::{Code, Diagnostic};
use crate::source::{SourceFile, Span};
use pest::iterators::Pair;
use pest::pratt_parser::{Assoc, Op, PrattParser};
use pest::Parser;
use pest_derive::Parser;
use std::sync::OnceLock;

#[derive(Parser)]
#[grammar = "syntax/grammar.pest"]
struct HelParser;

/// Deeper bracket nesting than this is refused: no real program needs it, and it bounds the
/// recursion of every later stage.
const MAX_NESTING: usize = 200;
/// Operators in one expression, for the same reason.
const MAX_OPERATORS: usize = 20_000;

/// Parses a whole `.hel` file.
pub fn parse(src: &SourceFile) -> Result<Program, Diagnostic> {
    check_nesting(src)?;
    let pairs = HelParser::parse(Rule::program, src.text()).map_err(|e| pest_error(src, e))?;
    let b = Builder { src };
    let mut items = Vec::new();
    for pair in pairs.flatten().take(1) {
        for item in inner(pair) {
            if item.as_rule() == Rule::EOI {
                continue;
            }
            items.push(b.item(item)?);
        }
    }
    Ok(Program { items })
}

fn check_nesting(src: &SourceFile) -> Result<(), Diagnostic> {
    let mut depth = 0usize;
    let mut in_comment = false;
    let bytes = src.text().as_bytes();
    for (i, &c) in bytes.iter().enumerate() {
        match c {
            b'\n' => in_comment = false,
            _ if in_comment => {}
            b'/' if bytes.get(i + 1) == Some(&b'/') => in_comment = true,
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(Diagnostic::new(Code::Budget, src, Span::new(i, i + 1), format!(
                        "brackets are nested more than {MAX_NESTING} deep; simplify the expression with `let`"
                    ))
                    .with_label("too deep"));
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn pratt() -> &'static PrattParser<Rule> {
    static PRATT: OnceLock<PrattParser<Rule>> = OnceLock::new();
    PRATT.get_or_init(|| {
        PrattParser::new()
            .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
            .op(Op::infix(Rule::mul, Assoc::Left)
                | Op::infix(Rule::div, Assoc::Left)
                | Op::infix(Rule::matmul, Assoc::Left))
            .op(Op::prefix(Rule::neg))
            .op(Op::infix(Rule::pow, Assoc::Right))
            .op(Op::postfix(Rule::index))
    })
}

struct Builder<'a> {
    src: &'a SourceFile,
}

/// Children of a pair without the keyword and punctuation tokens (they carry no information once parsed).
fn inner(pair: Pair<'_, Rule>) -> impl Iterator<Item = Pair<'_, Rule>> {
    pair.into_inner().filter(|p| !is_keyword(p.as_rule()))
}

fn is_keyword(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::kw_const
            | Rule::kw_input
            | Rule::kw_fn
            | Rule::kw_let
            | Rule::kw_for
            | Rule::kw_in
            | Rule::kw_output
            | Rule::kw_range
            | Rule::kw_scalar
            | Rule::kw_vector
            | Rule::kw_matrix
            | Rule::semi
            | Rule::rbrace
    )
}

fn span_of(pair: &Pair<Rule>) -> Span {
    let s = pair.as_span();
    Span::new(s.start(), s.end())
}

impl Builder<'_> {
    fn ident(&self, pair: Pair<Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_string(),
            span: span_of(&pair),
        }
    }

    /// The next child of a rule the grammar guarantees to be there; an internal error otherwise
    /// (never a panic).
    fn next<'i>(
        &self,
        it: &mut impl Iterator<Item = Pair<'i, Rule>>,
        parent: Span,
    ) -> Result<Pair<'i, Rule>, Diagnostic> {
        it.next().ok_or_else(|| {
            Diagnostic::new(
                Code::Internal,
                self.src,
                parent,
                "internal parser error: missing syntax element",
            )
        })
    }

    fn item(&self, pair: Pair<Rule>) -> Result<Item, Diagnostic> {
        let span = span_of(&pair);
        Ok(match pair.as_rule() {
            Rule::const_def => {
                let mut it = inner(pair);
                let name = self.ident(self.next(&mut it, span)?);
                let value = self.expr(self.next(&mut it, span)?)?;
                Item::Const(ConstDef { name, value, span })
            }
            Rule::input_def => Item::Input(self.input_def(pair)?),
            Rule::fn_def => Item::Fn(self.fn_def(pair)?),
            Rule::output_stmt => {
                let names = inner(pair).map(|p| self.ident(p)).collect();
                Item::Output(OutputStmt { names, span })
            }
            _ => Item::Stmt(self.stmt(pair)?),
        })
    }

    fn input_def(&self, pair: Pair<Rule>) -> Result<InputDef, Diagnostic> {
        let span = span_of(&pair);
        let mut it = inner(pair);
        let name = self.ident(self.next(&mut it, span)?);
        let secrecy = match self.next(&mut it, span)?.as_str() {
            "enc" => SecrecyKw::Enc,
            _ => SecrecyKw::Plain,
        };
        let ty_pair = self.next(&mut it, span)?;
        let ty_span = span_of(&ty_pair);
        let mut ty_it = inner(ty_pair);
        let base = self.next(&mut ty_it, ty_span)?;
        let base_span = span_of(&base);
        let kind = match base.as_rule() {
            Rule::vector_type => {
                let mut b = inner(base);
                TypeKind::Vector(self.expr(self.next(&mut b, base_span)?)?)
            }
            Rule::matrix_type => {
                let mut b = inner(base);
                let r = self.expr(self.next(&mut b, base_span)?)?;
                let c = self.expr(self.next(&mut b, base_span)?)?;
                TypeKind::Matrix(r, c)
            }
            _ => TypeKind::Scalar,
        };
        let seq_len = match ty_it.next() {
            Some(seq) => {
                let s = span_of(&seq);
                Some(self.expr(self.next(&mut inner(seq), s)?)?)
            }
            None => None,
        };
        let range = match it.next() {
            Some(r) => {
                let rs = span_of(&r);
                let mut ri = inner(r);
                let lo = self.expr(self.next(&mut ri, rs)?)?;
                let hi = self.expr(self.next(&mut ri, rs)?)?;
                Some(RangeAnn { lo, hi, span: rs })
            }
            None => None,
        };
        Ok(InputDef {
            name,
            secrecy,
            ty: TypeExpr {
                kind,
                seq_len,
                span: ty_span,
            },
            range,
            span,
        })
    }

    fn fn_def(&self, pair: Pair<Rule>) -> Result<FnDef, Diagnostic> {
        let span = span_of(&pair);
        let mut it = inner(pair);
        let name = self.ident(self.next(&mut it, span)?);
        let mut params = Vec::new();
        let mut lets = Vec::new();
        let mut body = None;
        for p in it {
            match p.as_rule() {
                Rule::param_list => params = inner(p).map(|x| self.ident(x)).collect(),
                Rule::fn_expr | Rule::fn_block => {
                    for q in inner(p) {
                        match q.as_rule() {
                            Rule::let_stmt => lets.push(self.let_stmt(q)?),
                            _ => body = Some(self.expr(q)?),
                        }
                    }
                }
                _ => {}
            }
        }
        let body = body.ok_or_else(|| {
            Diagnostic::new(
                Code::Internal,
                self.src,
                span,
                "internal parser error: function without body",
            )
        })?;
        Ok(FnDef {
            name,
            params,
            lets,
            body,
            span,
        })
    }

    fn let_stmt(&self, pair: Pair<Rule>) -> Result<LetStmt, Diagnostic> {
        let span = span_of(&pair);
        let mut it = inner(pair);
        let name = self.ident(self.next(&mut it, span)?);
        let value = self.expr(self.next(&mut it, span)?)?;
        Ok(LetStmt { name, value, span })
    }

    fn stmt(&self, pair: Pair<Rule>) -> Result<Stmt, Diagnostic> {
        let span = span_of(&pair);
        match pair.as_rule() {
            Rule::let_stmt => Ok(Stmt::Let(self.let_stmt(pair)?)),
            Rule::assign_stmt => {
                let mut it = inner(pair);
                let name = self.ident(self.next(&mut it, span)?);
                let value = self.expr(self.next(&mut it, span)?)?;
                Ok(Stmt::Assign { name, value, span })
            }
            Rule::for_stmt => {
                let mut it = inner(pair);
                let var = self.ident(self.next(&mut it, span)?);
                let start = self.expr(self.next(&mut it, span)?)?;
                let end = self.expr(self.next(&mut it, span)?)?;
                let block = self.next(&mut it, span)?;
                let body = inner(block)
                    .map(|s| self.stmt(s))
                    .collect::<Result<_, _>>()?;
                Ok(Stmt::For(ForStmt {
                    var,
                    start,
                    end,
                    body,
                    span,
                }))
            }
            _ => Err(Diagnostic::new(
                Code::Internal,
                self.src,
                span,
                "internal parser error: unexpected statement",
            )),
        }
    }

    fn expr(&self, pair: Pair<Rule>) -> Result<Expr, Diagnostic> {
        let span = span_of(&pair);
        let children = pair.into_inner();
        let operators = children
            .clone()
            .flatten()
            .filter(|p| {
                matches!(
                    p.as_rule(),
                    Rule::add
                        | Rule::sub
                        | Rule::mul
                        | Rule::div
                        | Rule::matmul
                        | Rule::pow
                        | Rule::neg
                )
            })
            .count();
        if operators > MAX_OPERATORS {
            return Err(Diagnostic::new(Code::Budget, self.src, span, format!(
                "this expression has {operators} operators, more than the {MAX_OPERATORS} allowed; split it with `let`"
            )));
        }
        pratt()
            .map_primary(|p| self.primary(p))
            .map_prefix(|op, rhs| {
                let rhs = rhs?;
                let span = span_of(&op).join(rhs.span);
                Ok(Expr {
                    kind: ExprKind::Neg(Box::new(rhs)),
                    span,
                })
            })
            .map_postfix(|lhs, op| {
                let lhs = lhs?;
                let span = lhs.span.join(span_of(&op));
                let op_span = span_of(&op);
                let idx = self.expr(self.next(&mut inner(op), op_span)?)?;
                Ok(Expr {
                    kind: ExprKind::Index(Box::new(lhs), Box::new(idx)),
                    span,
                })
            })
            .map_infix(|lhs, op, rhs| {
                let (lhs, rhs) = (lhs?, rhs?);
                let bin = match op.as_rule() {
                    Rule::add => BinOp::Add,
                    Rule::sub => BinOp::Sub,
                    Rule::mul => BinOp::Mul,
                    Rule::div => BinOp::Div,
                    Rule::matmul => BinOp::MatMul,
                    _ => BinOp::Pow,
                };
                let span = lhs.span.join(rhs.span);
                Ok(Expr {
                    kind: ExprKind::Binary(bin, Box::new(lhs), Box::new(rhs)),
                    span,
                })
            })
            .parse(children)
    }

    fn primary(&self, pair: Pair<Rule>) -> Result<Expr, Diagnostic> {
        let span = span_of(&pair);
        match pair.as_rule() {
            Rule::number => {
                let v: f64 = pair.as_str().parse().map_err(|_| {
                    Diagnostic::new(
                        Code::Syntax,
                        self.src,
                        span,
                        format!("`{}` is not a valid number", pair.as_str()),
                    )
                })?;
                if !v.is_finite() {
                    return Err(Diagnostic::new(
                        Code::Syntax,
                        self.src,
                        span,
                        "this number is too large to represent as a 64-bit float",
                    ));
                }
                Ok(Expr {
                    kind: ExprKind::Number(v),
                    span,
                })
            }
            Rule::ident => Ok(Expr {
                kind: ExprKind::Var(pair.as_str().to_string()),
                span,
            }),
            Rule::paren => {
                let mut it = inner(pair);
                let e = self.expr(self.next(&mut it, span)?)?;
                Ok(Expr { kind: e.kind, span })
            }
            Rule::call => {
                let mut it = inner(pair);
                let name = self.ident(self.next(&mut it, span)?);
                let args = match it.next() {
                    Some(list) => inner(list)
                        .map(|a| self.expr(a))
                        .collect::<Result<_, _>>()?,
                    None => Vec::new(),
                };
                Ok(Expr {
                    kind: ExprKind::Call(name, args),
                    span,
                })
            }
            _ => Err(Diagnostic::new(
                Code::Internal,
                self.src,
                span,
                "internal parser error: unexpected expression",
            )),
        }
    }
}

/// What a rule is called in an error message.
fn describe(rule: Rule) -> &'static str {
    match rule {
        Rule::EOI => "end of file",
        Rule::ident => "a name",
        Rule::number => "a number",
        Rule::expr | Rule::paren | Rule::call => "an expression",
        Rule::const_def => "`const`",
        Rule::input_def => "`input`",
        Rule::fn_def => "`fn`",
        Rule::output_stmt => "`output`",
        Rule::let_stmt => "`let`",
        Rule::for_stmt => "`for`",
        Rule::assign_stmt => "an assignment",
        Rule::block => "`{`",
        Rule::secrecy => "`enc` or `plain`",
        Rule::type_expr | Rule::scalar_type | Rule::vector_type | Rule::matrix_type => {
            "a type (`scalar`, `vector[n]` or `matrix[r, c]`)"
        }
        Rule::seq_len => "`[k]`",
        Rule::range_ann => "`range [lo, hi]`",
        Rule::param_list => "parameter names",
        Rule::fn_expr | Rule::fn_block => "`=` or `{`",
        Rule::arg_list => "arguments",
        Rule::add | Rule::sub | Rule::mul | Rule::div | Rule::matmul | Rule::pow => "an operator",
        Rule::neg => "`-`",
        Rule::semi => "`;`",
        Rule::rbrace => "`}`",
        Rule::kw_const => "`const`",
        Rule::kw_input => "`input`",
        Rule::kw_fn => "`fn`",
        Rule::kw_let => "`let`",
        Rule::kw_for => "`for`",
        Rule::kw_in => "`in`",
        Rule::kw_output => "`output`",
        Rule::kw_range => "`range`",
        Rule::kw_scalar | Rule::kw_vector | Rule::kw_matrix => {
            "a type (`scalar`, `vector[n]` or `matrix[r, c]`)"
        }
        Rule::index => "`[`",
        _ => "a token",
    }
}

fn pest_error(src: &SourceFile, e: pest::error::Error<Rule>) -> Diagnostic {
    use pest::error::{ErrorVariant, InputLocation};
    let span = match e.location {
        InputLocation::Pos(p) => {
            // Point at the offending token (or the end of the file), not a zero-width gap.
            let rest = &src.text()[p.min(src.text().len())..];
            let len = rest.chars().next().map_or(0, |c| {
                if c.is_alphanumeric() || c == '_' {
                    rest.find(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
                        .unwrap_or(rest.len())
                } else {
                    c.len_utf8()
                }
            });
            Span::new(p, p + len)
        }
        InputLocation::Span((a, b)) => Span::new(a, b),
    };
    let found = {
        let t = &src.text()[(span.start as usize).min(src.text().len())
            ..(span.end as usize).min(src.text().len())];
        if t.is_empty() {
            "end of file".to_string()
        } else {
            format!("`{t}`")
        }
    };
    let message = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<&str> = positives.iter().map(|r| describe(*r)).collect();
            names.sort_unstable();
            names.dedup();
            if names.is_empty() {
                format!("syntax error: unexpected {found}")
            } else {
                format!(
                    "syntax error: unexpected {found}; expected {}",
                    join_or(&names)
                )
            }
        }
        ErrorVariant::CustomError { message } => format!("syntax error: {message}"),
    };
    Diagnostic::new(Code::Syntax, src, span, message).with_label("unexpected here")
}

fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}
