//! The AST as `.hel` text: what a program rewritten at the AST level (a round program, see
//! [`crate::rounds`]) says, for tests and for showing it to people. Parsing the printed text
//! gives the same tree back (up to spans); comments and layout are not kept.

use super::ast::{
    BinOp, Expr, ExprKind, FnDef, ForStmt, InputDef, Item, Program, SecrecyKw, Stmt, TypeKind,
};
use std::fmt::{self, Display, Formatter, Write};

/// The program as text, one item per line, loop bodies indented by four spaces.
pub fn program(p: &Program) -> String {
    p.to_string()
}

impl Display for Program {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for item in &self.items {
            match item {
                Item::Const(c) => writeln!(f, "const {} = {};", c.name.name, c.value)?,
                Item::Input(i) => writeln!(f, "{}", InputText(i))?,
                Item::Fn(d) => writeln!(f, "{}", FnText(d))?,
                Item::Output(o) => {
                    let names: Vec<&str> = o.names.iter().map(|n| n.name.as_str()).collect();
                    writeln!(f, "output {};", names.join(", "))?
                }
                Item::Stmt(s) => stmt(f, s, 0)?,
            }
        }
        Ok(())
    }
}

struct InputText<'a>(&'a InputDef);

impl Display for InputText<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let i = self.0;
        let secrecy = match i.secrecy {
            SecrecyKw::Enc => "enc",
            SecrecyKw::Plain => "plain",
        };
        write!(f, "input {}: {secrecy} ", i.name.name)?;
        match &i.ty.kind {
            TypeKind::Scalar => f.write_str("scalar")?,
            TypeKind::Vector(n) => write!(f, "vector[{n}]")?,
            TypeKind::Matrix(r, c) => write!(f, "matrix[{r}, {c}]")?,
        }
        if let Some(k) = &i.ty.seq_len {
            write!(f, "[{k}]")?;
        }
        if let Some(r) = &i.range {
            write!(f, " range [{}, {}]", r.lo, r.hi)?;
        }
        f.write_char(';')
    }
}

struct FnText<'a>(&'a FnDef);

impl Display for FnText<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let d = self.0;
        let params: Vec<&str> = d.params.iter().map(|p| p.name.as_str()).collect();
        write!(f, "fn {}({})", d.name.name, params.join(", "))?;
        if d.lets.is_empty() {
            return write!(f, " = {};", d.body);
        }
        f.write_str(" {")?;
        for l in &d.lets {
            write!(f, " let {} = {};", l.name.name, l.value)?;
        }
        write!(f, " {} }}", d.body)
    }
}

fn stmt(f: &mut Formatter<'_>, s: &Stmt, depth: usize) -> fmt::Result {
    let indent = "    ".repeat(depth);
    match s {
        Stmt::Let(l) => writeln!(f, "{indent}let {} = {};", l.name.name, l.value),
        Stmt::Assign { name, value, .. } => writeln!(f, "{indent}{} = {value};", name.name),
        Stmt::For(ForStmt {
            var,
            start,
            end,
            body,
            ..
        }) => {
            writeln!(f, "{indent}for {} in {start}..{end} {{", var.name)?;
            for b in body {
                stmt(f, b, depth + 1)?;
            }
            writeln!(f, "{indent}}}")
        }
    }
}

/// Binding strength, as in the parser's precedence table: `+ -` < `* / @` < unary `-` < `^` <
/// indexing < atoms.
fn precedence(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary(BinOp::Add | BinOp::Sub, ..) => 1,
        ExprKind::Binary(BinOp::Mul | BinOp::Div | BinOp::MatMul, ..) => 2,
        ExprKind::Neg(_) => 3,
        ExprKind::Binary(BinOp::Pow, ..) => 4,
        ExprKind::Index(..) => 5,
        ExprKind::Number(_) | ExprKind::Var(_) | ExprKind::Call(..) => 6,
    }
}

/// `e`, in parentheses when it binds less tightly than `min` requires.
fn operand(f: &mut Formatter<'_>, e: &Expr, min: u8) -> fmt::Result {
    if precedence(e) < min {
        write!(f, "({e})")
    } else {
        write!(f, "{e}")
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Number(v) => write!(f, "{v}"),
            ExprKind::Var(n) => f.write_str(n),
            ExprKind::Neg(x) => {
                f.write_char('-')?;
                operand(f, x, 3)
            }
            ExprKind::Binary(op, l, r) => {
                let p = precedence(self);
                // `^` groups to the right, the others to the left.
                let (lmin, rmin) = if *op == BinOp::Pow {
                    (p + 1, p)
                } else {
                    (p, p + 1)
                };
                operand(f, l, lmin)?;
                write!(f, " {} ", op.symbol())?;
                operand(f, r, rmin)
            }
            ExprKind::Index(b, i) => {
                operand(f, b, 6)?;
                write!(f, "[{i}]")
            }
            ExprKind::Call(name, args) => {
                write!(f, "{}(", name.name)?;
                for (j, a) in args.iter().enumerate() {
                    if j > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_char(')')
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::source::SourceFile;

    fn reprint(text: &str) -> String {
        let ast = crate::syntax::parse(&SourceFile::new("t.hel", text)).unwrap();
        super::program(&ast)
    }

    #[test]
    fn parentheses_only_where_the_grammar_needs_them() {
        let p = reprint(
            "const c = (1 - 2) * 3 + -(4 ^ 2) ^ 3 - (5 - 6) + 2 ^ 3 ^ 2 + (2 ^ 3) ^ 2; \
             input Z: enc matrix[2, 3][4] range [-1, 1]; \
             fn h(t) { let u = t * t; 0.5 - 0.0843 * t + u * t } \
             let x = -Z[c - 1] @ ones(3); output x;",
        );
        assert_eq!(
            p,
            "const c = (1 - 2) * 3 + -(4 ^ 2) ^ 3 - (5 - 6) + 2 ^ 3 ^ 2 + (2 ^ 3) ^ 2;\n\
             input Z: enc matrix[2, 3][4] range [-1, 1];\n\
             fn h(t) { let u = t * t; 0.5 - 0.0843 * t + u * t }\n\
             let x = -Z[c - 1] @ ones(3);\n\
             output x;\n"
        );
    }

    #[test]
    fn printing_the_examples_and_parsing_them_again_is_a_fixed_point() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "hel") {
                let once = reprint(&std::fs::read_to_string(&path).unwrap());
                assert_eq!(reprint(&once), once, "{}", path.display());
                seen += 1;
            }
        }
        assert!(seen >= 2);
    }
}
