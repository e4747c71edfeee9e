//! Random valid `.hel` programs must keep their meaning through every pass, at every
//! optimization level.
//!
//! Programs are generated from a "choice tape" (a vector of numbers that the generator consumes
//! one decision at a time, reading 0 when it runs out), so proptest's shrinking of the vector
//! shrinks the program towards the simplest one that still fails. The generator is typed: it
//! builds each expression for a wanted shape, so every program passes the front end (that is
//! checked too). Inputs lie in [-1, 1], exponents are 2 or 3 and products are over dimensions of
//! at most 3, so values stay small and a relative tolerance of 1e-9 means something.

use hel_compiler::ir::Shape;
use hel_compiler::passes::differential::check_pipeline;
use hel_compiler::passes::pipeline::{OptLevel, Pipeline};
use hel_compiler::SourceFile;
use proptest::prelude::*;

struct Gen {
    tape: Vec<u32>,
    pos: usize,
    /// Dimensions of vectors and matrices: `dims[0]` and `dims[1]`.
    dims: [usize; 2],
    /// Variables in scope and their shapes.
    vars: Vec<(String, Shape)>,
    /// One-parameter element-wise functions, and two-parameter ones.
    fns1: Vec<String>,
    fns2: Vec<String>,
    /// Inside the loop: the sequence element `Zs[i]` is available.
    in_loop: bool,
    names: usize,
}

impl Gen {
    fn new(tape: Vec<u32>) -> Gen {
        Gen {
            tape,
            pos: 0,
            dims: [2, 2],
            vars: Vec::new(),
            fns1: Vec::new(),
            fns2: Vec::new(),
            in_loop: false,
            names: 0,
        }
    }

    /// A choice in `0..n`; 0 (the simplest) once the tape is used up.
    fn pick(&mut self, n: usize) -> usize {
        let v = self.tape.get(self.pos).copied().unwrap_or(0) as usize;
        self.pos += 1;
        v % n.max(1)
    }

    fn fresh(&mut self, stem: &str) -> String {
        self.names += 1;
        format!("{stem}{}", self.names)
    }

    fn dim(&mut self) -> usize {
        self.dims[self.pick(2)]
    }

    fn number(&mut self) -> &'static str {
        // Magnitudes at most 1, so that nested powers of constants cannot overflow.
        ["0.5", "1", "0", "0.9", "(-1)", "0.25", "c0", "(-0.75)"][self.pick(8)]
    }

    fn atom(&mut self, shape: Shape) -> String {
        let vars: Vec<String> = self
            .vars
            .iter()
            .filter(|(_, s)| *s == shape)
            .map(|(n, _)| n.clone())
            .collect();
        let [a, b] = self.dims;
        let seq = shape == Shape::Matrix(a, b);
        // Variables twice as likely as each kind of constant; zeros rarer than other constants.
        let k = self.pick(2 * vars.len() + 4 + usize::from(seq));
        if k < 2 * vars.len() {
            return vars[k / 2].clone();
        }
        if seq && k == 2 * vars.len() + 4 {
            return if self.in_loop {
                "Zs[i]".into()
            } else {
                format!("Zs[{}]", self.pick(3))
            };
        }
        let zero = k == 2 * vars.len();
        match shape {
            Shape::Scalar => self.number().to_string(),
            Shape::Vector(n) if zero => format!("zeros({n})"),
            Shape::Vector(n) => format!("({} * ones({n}))", self.number()),
            Shape::Matrix(r, c) if zero => format!("zeros({r}, {c})"),
            Shape::Matrix(r, c) => format!("ones({r}, {c})"),
        }
    }

    /// An expression of `shape`.
    fn expr(&mut self, shape: Shape, depth: u32) -> String {
        if depth == 0 {
            return self.atom(shape);
        }
        let d = depth - 1;
        match self.pick(12) {
            0 | 1 => self.atom(shape),
            2 => format!("({} + {})", self.expr(shape, d), self.expr(shape, d)),
            3 => format!("({} - {})", self.expr(shape, d), self.expr(shape, d)),
            4 => format!("({} * {})", self.expr(shape, d), self.expr(shape, d)),
            5 => format!(
                "({} * {})",
                self.expr(Shape::Scalar, d),
                self.expr(shape, d)
            ),
            6 => format!("({})^{}", self.expr(shape, d), 2 + self.pick(2)),
            7 => format!(
                "(-{} / {})",
                self.expr(shape, d),
                ["2", "c0", "4"][self.pick(3)]
            ),
            8 if !self.fns1.is_empty() => {
                let j = self.pick(self.fns1.len());
                let f = self.fns1[j].clone();
                format!("{f}({})", self.expr(shape, d))
            }
            8 if !self.fns2.is_empty() => {
                let j = self.pick(self.fns2.len());
                let f = self.fns2[j].clone();
                format!("{f}({}, {})", self.expr(shape, d), self.expr(shape, d))
            }
            _ => self.product(shape, d),
        }
    }

    /// A shape-changing operation that produces `shape`.
    fn product(&mut self, shape: Shape, d: u32) -> String {
        let z = self.dim();
        match shape {
            Shape::Scalar => format!(
                "dot({}, {})",
                self.expr(Shape::Vector(z), d),
                self.expr(Shape::Vector(z), d)
            ),
            Shape::Vector(x) => match self.pick(4) {
                0 => format!(
                    "({} @ {})",
                    self.expr(Shape::Matrix(x, z), d),
                    self.expr(Shape::Vector(z), d)
                ),
                1 => format!(
                    "({} @ {})",
                    self.expr(Shape::Vector(z), d),
                    self.expr(Shape::Matrix(z, x), d)
                ),
                2 => format!("sum_cols({})", self.expr(Shape::Matrix(x, z), d)),
                _ => format!("sum_rows({})", self.expr(Shape::Matrix(z, x), d)),
            },
            Shape::Matrix(r, c) => match self.pick(2) {
                0 => format!("transpose({})", self.expr(Shape::Matrix(c, r), d)),
                _ => format!(
                    "({} @ {})",
                    self.expr(Shape::Matrix(r, z), d),
                    self.expr(Shape::Matrix(z, c), d)
                ),
            },
        }
    }

    /// An element-wise body over the parameters, mentioning each of them so that the result has
    /// the arguments' shape.
    fn fn_body(&mut self, params: &[&str]) -> String {
        let saved = std::mem::take(&mut self.vars);
        let (f1, f2) = (
            std::mem::take(&mut self.fns1),
            std::mem::take(&mut self.fns2),
        );
        self.vars = params
            .iter()
            .map(|p| (p.to_string(), Shape::Scalar))
            .collect();
        // Scalar-only and without products: every operation stays element-wise.
        let mut body = self.elementwise(2);
        for p in params {
            body = format!("{body} + {} * {p}", self.number());
        }
        self.vars = saved;
        self.fns1 = f1;
        self.fns2 = f2;
        body
    }

    fn elementwise(&mut self, depth: u32) -> String {
        if depth == 0 {
            return self.atom(Shape::Scalar);
        }
        let d = depth - 1;
        match self.pick(5) {
            0 => self.atom(Shape::Scalar),
            1 => format!("({} + {})", self.elementwise(d), self.elementwise(d)),
            2 => format!("({} - {})", self.elementwise(d), self.elementwise(d)),
            3 => format!("({} * {})", self.elementwise(d), self.elementwise(d)),
            _ => format!("({})^{}", self.elementwise(d), 2 + self.pick(2)),
        }
    }

    fn shape(&mut self) -> Shape {
        match self.pick(3) {
            0 => Shape::Vector(self.dim()),
            1 => Shape::Scalar,
            _ => Shape::Matrix(self.dim(), self.dim()),
        }
    }

    fn program(&mut self) -> String {
        let (a, b) = (2 + self.pick(2), 1 + self.pick(3));
        self.dims = [a, b];
        let mut out = String::new();
        out += &format!(
            "const c0 = {};\n",
            ["0.5", "0.75", "-0.5", "sqrt(2) / 4"][self.pick(4)]
        );
        for (name, decl, shape) in [
            ("x", format!("enc vector[{a}]"), Shape::Vector(a)),
            ("A", format!("enc matrix[{a}, {b}]"), Shape::Matrix(a, b)),
            ("s", "enc scalar".to_string(), Shape::Scalar),
            ("p", format!("plain vector[{b}]"), Shape::Vector(b)),
        ] {
            out += &format!("input {name}: {decl} range [-1, 1];\n");
            self.vars.push((name.to_string(), shape));
        }
        out += &format!("input Zs: enc matrix[{a}, {b}][3] range [-1, 1];\n");
        for _ in 0..self.pick(3) {
            let f = self.fresh("f");
            if self.pick(2) == 0 {
                out += &format!("fn {f}(t) = {};\n", self.fn_body(&["t"]));
                self.fns1.push(f);
            } else {
                out += &format!("fn {f}(t, u) = {};\n", self.fn_body(&["t", "u"]));
                self.fns2.push(f);
            }
        }
        let mut lets = Vec::new();
        for _ in 0..1 + self.pick(4) {
            let shape = self.shape();
            let name = self.fresh("v");
            out += &format!("let {name} = {};\n", self.expr(shape, 3));
            self.vars.push((name.clone(), shape));
            lets.push(name);
        }
        if self.pick(4) != 0 {
            self.for_loop(&mut out, &mut lets);
        }
        let j = self.pick(lets.len());
        let first = lets[j].clone();
        let mut outputs = vec![first];
        let j = self.pick(lets.len());
        let second = lets[j].clone();
        if self.pick(2) == 0 && !outputs.contains(&second) {
            outputs.push(second);
        }
        out += &format!("output {};\n", outputs.join(", "));
        out
    }

    /// A loop carrying an encrypted vector and a compile-time scalar (a recurrence like NAG's).
    fn for_loop(&mut self, out: &mut String, lets: &mut Vec<String>) {
        let [a, _] = self.dims;
        let acc = self.fresh("acc");
        let k = self.fresh("k");
        *out += &format!("let {acc} = {};\n", self.expr(Shape::Vector(a), 1));
        *out += &format!("let {k} = {};\n", ["1", "0.5", "c0"][self.pick(3)]);
        let trips = 1 + self.pick(3);
        *out += &format!("for i in 0..{trips} {{\n");
        let outer = self.vars.clone();
        self.in_loop = true;
        self.vars.push((acc.clone(), Shape::Vector(a)));
        self.vars.push((k.clone(), Shape::Scalar));
        self.vars.push(("i".into(), Shape::Scalar));
        if self.pick(2) == 0 {
            let t = self.fresh("t");
            *out += &format!("    let {t} = {};\n", self.expr(Shape::Vector(a), 2));
            self.vars.push((t, Shape::Vector(a)));
        }
        *out += &format!(
            "    {acc} = 0.5 * {acc} + 0.25 / {k} * {};\n",
            self.expr(Shape::Vector(a), 2)
        );
        *out += &format!("    {k} = sqrt({k} * {k} + i) / 2 + 0.5;\n");
        *out += "}\n";
        self.in_loop = false;
        self.vars = outer;
        self.vars.push((acc.clone(), Shape::Vector(a)));
        lets.push(acc);
    }
}

fn generate(tape: Vec<u32>) -> String {
    Gen::new(tape).program()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_programs_keep_their_meaning(tape in prop::collection::vec(any::<u32>(), 0..160)) {
        let text = generate(tape);
        let src = SourceFile::new("random.hel", text.clone());
        let p = hel_compiler::frontend(&src, &[])
            .map_err(|d| TestCaseError::fail(format!("{}\n{text}", d.render_plain())))?;
        for level in [OptLevel::O0, OptLevel::O1, OptLevel::O2] {
            check_pipeline(&p, &Pipeline::new(level), &[11, 12])
                .map_err(|e| TestCaseError::fail(format!("{level:?}: {e}\n{text}")))?;
        }
    }
}

/// The generator covers what it should: loops, functions, products and sequence elements all
/// appear across a few tapes, and the empty tape gives a valid minimal program.
#[test]
fn generator_covers_the_language() {
    let minimal = generate(Vec::new());
    let src = SourceFile::new("min.hel", minimal.clone());
    assert!(hel_compiler::frontend(&src, &[]).is_ok(), "{minimal}");
    let mut all = String::new();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..64 {
        let tape: Vec<u32> = (0..160)
            .map(|_| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                (rng >> 32) as u32
            })
            .collect();
        all += &generate(tape);
    }
    for needle in [
        "for i in",
        "fn f",
        "@",
        "transpose(",
        "sum_rows(",
        "sum_cols(",
        "dot(",
        "Zs[i]",
        ")^3",
        "sqrt(",
        "output v",
    ] {
        assert!(all.contains(needle), "no program uses `{needle}`");
    }
}
