//! The built-in functions: the one table the checker, the constant evaluator and the
//! diagnostics' help texts read.

/// A built-in function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Builtin {
    pub name: &'static str,
    /// The argument counts it accepts.
    pub arity: &'static [usize],
    /// Whether a call can be a compile-time value in a constant expression (`const`
    /// definitions, sizes, loop bounds, exponents, sequence indices): its result is then
    /// computed from compile-time arguments while checking. The others build tensors; a call
    /// of any built-in on compile-time arguments is still a compile-time value to the checker
    /// (it is folded into the circuit), but only these can be evaluated where a number is needed.
    pub in_constants: bool,
}

/// Every built-in, in the order the help texts list them.
pub const BUILTINS: [Builtin; 8] = [
    Builtin {
        name: "transpose",
        arity: &[1],
        in_constants: false,
    },
    Builtin {
        name: "sum_rows",
        arity: &[1],
        in_constants: false,
    },
    Builtin {
        name: "sum_cols",
        arity: &[1],
        in_constants: false,
    },
    Builtin {
        name: "dot",
        arity: &[2],
        in_constants: false,
    },
    Builtin {
        name: "outer",
        arity: &[2],
        in_constants: false,
    },
    Builtin {
        name: "zeros",
        arity: &[1, 2],
        in_constants: false,
    },
    Builtin {
        name: "ones",
        arity: &[1, 2],
        in_constants: false,
    },
    Builtin {
        name: "sqrt",
        arity: &[1],
        in_constants: true,
    },
];

/// The built-in called `name`, if there is one.
pub fn get(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// Whether `name` is a built-in function.
pub fn is_builtin(name: &str) -> bool {
    get(name).is_some()
}

/// `transpose, sum_rows, ...`: every built-in, for help texts.
pub fn list() -> String {
    BUILTINS.map(|b| b.name).join(", ")
}

/// `` `sqrt` ``: the built-ins a constant expression may call, quoted, for messages.
pub fn list_in_constants() -> String {
    BUILTINS
        .iter()
        .filter(|b| b.in_constants)
        .map(|b| format!("`{}`", b.name))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceFile;
    use crate::syntax::ast::ExprKind;

    #[test]
    fn every_builtin_allowed_in_constants_is_evaluated_there() {
        for b in BUILTINS.iter().filter(|b| b.in_constants) {
            let args = vec!["4"; b.arity[0]].join(", ");
            let src = SourceFile::new("t.hel", format!("const c = {}({args});", b.name));
            let ast = crate::syntax::parse(&src).unwrap();
            let crate::syntax::ast::Item::Const(c) = &ast.items[0] else {
                panic!("not a const");
            };
            assert!(matches!(c.value.kind, ExprKind::Call(..)));
            let v = super::super::consts::eval(&src, &c.value, "a constant", &|_| None);
            assert!(v.is_ok(), "{}: {:?}", b.name, v.err().map(|d| d.message));
        }
    }

    #[test]
    fn the_help_text_lists_every_builtin() {
        assert_eq!(
            list(),
            "transpose, sum_rows, sum_cols, dot, outer, zeros, ones, sqrt"
        );
        assert_eq!(list_in_constants(), "`sqrt`");
    }
}
