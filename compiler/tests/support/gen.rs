//! A typed generator of random valid `.hel` programs, shared by the pass tests
//! (`compiler/tests/random_programs.rs`), the lowering tests (`compiler/tests/random_lowering.rs`)
//! and the encrypted runs (`tests/random_encrypted.rs` in the root package). Plain `std`: no
//! dependency on the compiler, so any test crate can include it with `#[path]`.
//!
//! Programs come from a "choice tape" (numbers consumed one decision at a time, 0 once the tape
//! runs out), so shrinking the tape shrinks the program towards the simplest one with the same
//! failure, and the empty tape gives a small valid program. Each expression is built for a
//! wanted shape, and the generator tracks which values are encrypted, so every program passes
//! the front end and every output is computed from an encrypted value (public outputs cannot be
//! lowered, by design; the passes can still fold an output like `x * 0` to a public constant).
//!
//! What a program can contain:
//! - inputs `x` (enc vector), `s` (enc scalar), `Zs` (enc matrix sequence), `y`, `A`, `B` (enc or
//!   plain vector/matrices), `p`, `P`, `q` (plain vector, matrix, scalar), with declared ranges
//!   from `[-1, 1]` up to `[-1000, 1000]`;
//! - element-wise `+ - *`, scalar broadcasts, a vector broadcast over a matrix's rows (either
//!   side), `outer(u, v)`, negation, division by constants, powers 2 and 3,
//!   user functions of one and two parameters, constants (`zeros`, `ones`, `c0`);
//! - every product and reduction: `A @ B` (encrypted and public operands, `transpose(..)` on
//!   either side), `A @ v`, `v @ A`, `dot`, `sum_rows`, `sum_cols`, `transpose`;
//! - a loop carrying a vector and a compile-time scalar, reading `Zs[i]`;
//! - sizes: small non-powers of two mostly, and in one program in four sizes that span several
//!   slot-grid tiles at N = 2^13..2^15 (vectors of 130..5000, matrices like 70 × 90), with at
//!   most [`MAX_ELEMENTS`] entries per matrix so compile time stays low.
//!
//! Values stay finite: in one program in three, some inputs get a wide range, and they enter
//! expressions scaled by their bound (`(W / 1000)`) two times in three and unscaled otherwise;
//! constants are at most 2 in magnitude. A loop that squares its accumulator can still overflow
//! now and then: the tests skip programs whose outputs are not finite.
#![allow(dead_code)] // each test crate uses a different subset

/// The most entries a generated matrix may have (two 64 × 64 tiles' worth, and some).
pub const MAX_ELEMENTS: usize = 16_000;

/// Knobs of the generator.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Depth of the expression trees of `let`s (loop bodies use one less).
    pub depth: u32,
    /// Whether some programs get sizes beyond one slot-grid tile.
    pub big: bool,
    /// Whether some programs get inputs with wide ranges (up to ±1000).
    pub wide: bool,
    /// Whether programs may contain a loop (most do).
    pub loops: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            depth: 3,
            big: true,
            wide: true,
            loops: true,
        }
    }
}

/// Shapes, with the dimensions as values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Scalar,
    Vector(usize),
    Matrix(usize, usize),
}

impl Shape {
    fn len(self) -> usize {
        match self {
            Shape::Scalar => 1,
            Shape::Vector(n) => n,
            Shape::Matrix(r, c) => r * c,
        }
    }
}

/// A generated expression: its text and whether it is encrypted.
struct E {
    text: String,
    enc: bool,
}

impl E {
    fn new(text: String, enc: bool) -> E {
        E { text, enc }
    }
}

#[derive(Clone)]
struct Var {
    /// The text to use for it (a name, or a scaled name for wide inputs).
    text: String,
    shape: Shape,
    enc: bool,
    /// For a wide input: its name, used unscaled now and then.
    raw: Option<String>,
}

pub struct Gen {
    tape: Vec<u32>,
    pos: usize,
    cfg: Config,
    /// The three dimensions vectors and matrices are built from.
    dims: [usize; 3],
    vars: Vec<Var>,
    /// One-parameter element-wise functions, and two-parameter ones.
    fns1: Vec<String>,
    fns2: Vec<String>,
    /// Inside the loop: the sequence element `Zs[i]` is available.
    in_loop: bool,
    names: usize,
    /// The shape of the elements of `Zs`.
    seq: Shape,
    /// Whether this program's inputs may get wide ranges.
    wide: bool,
}

/// Small sizes: non-powers of two mostly (a 1 now and then: vectors and matrices of one entry
/// per row or column are edge cases of their own).
const SMALL: [usize; 8] = [3, 2, 5, 7, 4, 6, 1, 9];

/// Size triples beyond one tile: at N = 2^13 (4096 slots) each has a vector or matrix that does
/// not fit one tile of any slot grid; 70 × 90 does not fit until N = 2^15.
const BIG: [[usize; 3]; 8] = [
    [70, 90, 3],
    [200, 3, 5],
    [3, 300, 2],
    [130, 5, 70],
    [1100, 2, 3],
    [5000, 1, 3],
    [65, 66, 2],
    [4100, 3, 1],
];

/// Declared ranges of inputs: the narrow ones, then the wide ones with the divisor that brings
/// them back to about [-1, 1].
const NARROW: [&str; 4] = ["[-1, 1]", "[0, 1]", "[-0.5, 2]", "[-1, 1]"];
pub const WIDE: [(&str, &str); 4] = [
    ("[-1000, 1000]", "1000"),
    ("[-30, 30]", "30"),
    ("[0, 500]", "500"),
    ("[-1000, 10]", "1000"),
];

impl Gen {
    pub fn new(tape: Vec<u32>, cfg: Config) -> Gen {
        Gen {
            tape,
            pos: 0,
            cfg,
            dims: [2, 2, 2],
            vars: Vec::new(),
            fns1: Vec::new(),
            fns2: Vec::new(),
            in_loop: false,
            names: 0,
            seq: Shape::Matrix(2, 2),
            wide: false,
        }
    }

    /// A choice in `0..n`; 0 (the simplest) once the tape is used up.
    fn pick(&mut self, n: usize) -> usize {
        let v = self.tape.get(self.pos).copied().unwrap_or(0) as usize;
        self.pos += 1;
        v % n.max(1)
    }

    /// True with probability about `1 / n` (false once the tape is used up).
    fn one_in(&mut self, n: usize) -> bool {
        self.pick(n) == n - 1
    }

    fn fresh(&mut self, stem: &str) -> String {
        self.names += 1;
        format!("{stem}{}", self.names)
    }

    fn dim(&mut self) -> usize {
        self.dims[self.pick(3)]
    }

    /// A dimension `z` such that matrices `a × z` and `z × b` are small enough.
    fn inner_dim(&mut self, a: usize, b: usize) -> Option<usize> {
        let ok: Vec<usize> = self
            .dims
            .iter()
            .copied()
            .filter(|&z| a * z <= MAX_ELEMENTS && z * b <= MAX_ELEMENTS)
            .collect();
        if ok.is_empty() {
            None
        } else {
            Some(ok[self.pick(ok.len())])
        }
    }

    fn number(&mut self) -> &'static str {
        // Magnitudes at most 1, so that nested powers of constants cannot overflow.
        ["0.5", "1", "2", "0.9", "(-1)", "0.25", "c0", "(-0.75)"][self.pick(8)]
    }

    /// A public constant of `shape`.
    fn constant(&mut self, shape: Shape) -> String {
        let zero = self.one_in(8);
        match shape {
            Shape::Scalar => self.number().to_string(),
            Shape::Vector(n) if zero => format!("zeros({n})"),
            Shape::Vector(n) => format!("({} * ones({n}))", self.number()),
            Shape::Matrix(r, c) if zero => format!("zeros({r}, {c})"),
            Shape::Matrix(r, c) => format!("ones({r}, {c})"),
        }
    }

    fn atom(&mut self, shape: Shape) -> E {
        let vars: Vec<Var> = self
            .vars
            .iter()
            .filter(|v| v.shape == shape)
            .cloned()
            .collect();
        let seq = shape == self.seq;
        // Variables twice as likely as a constant.
        let k = self.pick(2 * vars.len() + 1 + usize::from(seq));
        if k < 2 * vars.len() {
            let v = &vars[k / 2];
            if let Some(raw) = &v.raw {
                if self.one_in(3) {
                    return E::new(raw.clone(), v.enc);
                }
            }
            return E::new(v.text.clone(), v.enc);
        }
        if seq && k == 2 * vars.len() + 1 {
            let text = if self.in_loop {
                "Zs[i]".to_string()
            } else {
                format!("Zs[{}]", self.pick(3))
            };
            return E::new(text, true);
        }
        E::new(self.constant(shape), false)
    }

    /// An encrypted term to add to a value of `shape`: an encrypted variable of that shape, or
    /// the encrypted scalar `s` (broadcast by `+`).
    fn enc_term(&mut self, shape: Shape) -> String {
        let vars: Vec<String> = self
            .vars
            .iter()
            .filter(|v| v.shape == shape && v.enc)
            .map(|v| v.text.clone())
            .collect();
        if !vars.is_empty() && self.pick(2) == 0 {
            return vars[self.pick(vars.len())].clone();
        }
        "s".into()
    }

    fn bin(&mut self, op: &str, a: E, b: E) -> E {
        E::new(format!("({} {op} {})", a.text, b.text), a.enc || b.enc)
    }

    /// An expression of `shape`.
    fn expr(&mut self, shape: Shape, depth: u32) -> E {
        if depth == 0 {
            return self.atom(shape);
        }
        let d = depth - 1;
        match self.pick(13) {
            0 | 1 => self.atom(shape),
            2 => {
                let (a, b) = (self.expr(shape, d), self.expr(shape, d));
                self.bin("+", a, b)
            }
            3 => {
                let (a, b) = (self.expr(shape, d), self.expr(shape, d));
                self.bin("-", a, b)
            }
            4 => {
                let (a, b) = (self.expr(shape, d), self.expr(shape, d));
                self.bin("*", a, b)
            }
            5 => {
                let (a, b) = (self.expr(Shape::Scalar, d), self.expr(shape, d));
                self.bin("*", a, b)
            }
            6 => {
                let a = self.expr(shape, d);
                let n = 2 + self.pick(2);
                E::new(format!("({})^{n}", a.text), a.enc)
            }
            7 => {
                let a = self.expr(shape, d);
                let k = ["2", "c0", "4"][self.pick(3)];
                E::new(format!("(-{} / {k})", a.text), a.enc)
            }
            8 if !self.fns1.is_empty() => {
                let j = self.pick(self.fns1.len());
                let f = self.fns1[j].clone();
                let a = self.expr(shape, d);
                E::new(format!("{f}({})", a.text), a.enc)
            }
            8 if !self.fns2.is_empty() => {
                let j = self.pick(self.fns2.len());
                let f = self.fns2[j].clone();
                let (a, b) = (self.expr(shape, d), self.expr(shape, d));
                E::new(format!("{f}({}, {})", a.text, b.text), a.enc || b.enc)
            }
            _ => self.product(shape, d),
        }
    }

    /// A shape-changing operation that produces `shape` (an atom when every way to make it
    /// needs a matrix beyond [`MAX_ELEMENTS`]).
    fn product(&mut self, shape: Shape, d: u32) -> E {
        match shape {
            Shape::Scalar => {
                let z = self.dim();
                let (a, b) = (
                    self.expr(Shape::Vector(z), d),
                    self.expr(Shape::Vector(z), d),
                );
                E::new(format!("dot({}, {})", a.text, b.text), a.enc || b.enc)
            }
            Shape::Vector(x) => {
                let Some(z) = self.inner_dim(x, 1) else {
                    return self.atom(shape);
                };
                match self.pick(4) {
                    0 => {
                        let (m, v) = (
                            self.expr(Shape::Matrix(x, z), d),
                            self.expr(Shape::Vector(z), d),
                        );
                        self.bin("@", m, v)
                    }
                    1 => {
                        let (v, m) = (
                            self.expr(Shape::Vector(z), d),
                            self.expr(Shape::Matrix(z, x), d),
                        );
                        self.bin("@", v, m)
                    }
                    2 => {
                        let m = self.expr(Shape::Matrix(x, z), d);
                        E::new(format!("sum_cols({})", m.text), m.enc)
                    }
                    _ => {
                        let m = self.expr(Shape::Matrix(z, x), d);
                        E::new(format!("sum_rows({})", m.text), m.enc)
                    }
                }
            }
            Shape::Matrix(r, c) => match self.pick(5) {
                0 => {
                    let m = self.expr(Shape::Matrix(c, r), d);
                    E::new(format!("transpose({})", m.text), m.enc)
                }
                3 => {
                    let (u, v) = (
                        self.expr(Shape::Vector(r), d),
                        self.expr(Shape::Vector(c), d),
                    );
                    E::new(format!("outer({}, {})", u.text, v.text), u.enc || v.enc)
                }
                4 => {
                    // A vector broadcast over the rows, on either side.
                    let (m, v) = (
                        self.expr(Shape::Matrix(r, c), d),
                        self.expr(Shape::Vector(c), d),
                    );
                    let op = ["+", "-", "*"][self.pick(3)];
                    if self.pick(2) == 0 {
                        self.bin(op, m, v)
                    } else {
                        self.bin(op, v, m)
                    }
                }
                k => {
                    let Some(z) = self.inner_dim(r, c) else {
                        return self.atom(shape);
                    };
                    // `transpose(X) @ Y` and `X @ transpose(Y)` as well as `X @ Y`.
                    let a = if k == 2 && self.pick(2) == 0 {
                        let m = self.expr(Shape::Matrix(z, r), d);
                        E::new(format!("transpose({})", m.text), m.enc)
                    } else {
                        self.expr(Shape::Matrix(r, z), d)
                    };
                    let b = if k == 2 && self.pick(2) == 0 {
                        let m = self.expr(Shape::Matrix(c, z), d);
                        E::new(format!("transpose({})", m.text), m.enc)
                    } else {
                        self.expr(Shape::Matrix(z, c), d)
                    };
                    self.bin("@", a, b)
                }
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
            .map(|p| Var {
                text: p.to_string(),
                shape: Shape::Scalar,
                enc: false,
                raw: None,
            })
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
            return self.atom(Shape::Scalar).text;
        }
        let d = depth - 1;
        match self.pick(5) {
            0 => self.atom(Shape::Scalar).text,
            1 => format!("({} + {})", self.elementwise(d), self.elementwise(d)),
            2 => format!("({} - {})", self.elementwise(d), self.elementwise(d)),
            3 => format!("({} * {})", self.elementwise(d), self.elementwise(d)),
            _ => format!("({})^{}", self.elementwise(d), 2 + self.pick(2)),
        }
    }

    /// A shape for a `let`: a scalar, a vector or a matrix of at most [`MAX_ELEMENTS`].
    fn shape(&mut self) -> Shape {
        match self.pick(3) {
            0 => Shape::Vector(self.dim()),
            1 => Shape::Scalar,
            _ => {
                let (r, c) = (self.dim(), self.dim());
                if r * c <= MAX_ELEMENTS {
                    Shape::Matrix(r, c)
                } else {
                    Shape::Vector(r)
                }
            }
        }
    }

    /// Declares an input; wide ranges are used scaled by their bound.
    fn input(&mut self, out: &mut String, name: &str, enc: bool, shape: Shape, seq: Option<usize>) {
        let ty = match shape {
            Shape::Scalar => "scalar".to_string(),
            Shape::Vector(n) => format!("vector[{n}]"),
            Shape::Matrix(r, c) => format!("matrix[{r}, {c}]"),
        };
        let seq_text = seq.map_or(String::new(), |k| format!("[{k}]"));
        let wide = self.wide && seq.is_none() && self.one_in(3);
        let (range, text, raw) = if wide {
            let (range, div) = WIDE[self.pick(WIDE.len())];
            // A plain scaled copy (`W / 1000`) for products and powers, and sometimes the raw
            // input in a linear role.
            let text = format!("({name} / {div})");
            (range.to_string(), text, Some(name.to_string()))
        } else {
            let range = NARROW[self.pick(NARROW.len())];
            (range.to_string(), name.to_string(), None)
        };
        let secrecy = if enc { "enc" } else { "plain" };
        *out += &format!("input {name}: {secrecy} {ty}{seq_text} range {range};\n");
        if seq.is_none() {
            self.vars.push(Var {
                text,
                shape,
                enc,
                raw,
            });
        }
    }

    /// Chooses the sizes: small ones mostly, beyond one tile in about one program in six.
    fn choose_dims(&mut self) {
        if self.cfg.big && self.one_in(4) {
            let j = self.pick(BIG.len());
            let mut d = BIG[j];
            // Rotate, so that the big size is not always the first dimension.
            d.rotate_left(self.pick(3));
            self.dims = d;
        } else {
            self.dims = [
                SMALL[self.pick(SMALL.len())],
                SMALL[self.pick(SMALL.len())],
                SMALL[self.pick(SMALL.len())],
            ];
        }
    }

    /// A matrix shape over the dimensions `i` and `j`, or the nearest one that is small enough.
    fn matrix(&self, i: usize, j: usize) -> Shape {
        let (r, c) = (self.dims[i], self.dims[j]);
        if r * c <= MAX_ELEMENTS {
            Shape::Matrix(r, c)
        } else {
            Shape::Matrix(r.min(c), self.dims.iter().copied().min().unwrap_or(1))
        }
    }

    pub fn program(&mut self) -> String {
        self.choose_dims();
        self.wide = self.cfg.wide && self.one_in(3);
        let [a, b, _] = self.dims;
        let mut out = String::new();
        out += &format!(
            "const c0 = {};\n",
            ["0.5", "0.75", "-0.5", "sqrt(2) / 4"][self.pick(4)]
        );
        let enc = |g: &mut Gen| g.pick(3) != 0;
        self.input(&mut out, "x", true, Shape::Vector(a), None);
        self.input(&mut out, "s", true, Shape::Scalar, None);
        let e = enc(self);
        let m = self.matrix(0, 1);
        self.input(&mut out, "A", e, m, None);
        let e = enc(self);
        let m = self.matrix(1, 2);
        self.input(&mut out, "B", e, m, None);
        let e = enc(self);
        self.input(&mut out, "y", e, Shape::Vector(b), None);
        let d = self.pick(3);
        self.input(&mut out, "p", false, Shape::Vector(self.dims[d]), None);
        let (i, j) = (self.pick(3), self.pick(3));
        let m = self.matrix(i, j);
        self.input(&mut out, "P", false, m, None);
        self.input(&mut out, "q", false, Shape::Scalar, None);
        self.seq = self.matrix(0, 2);
        let seq = self.seq;
        self.input(&mut out, "Zs", true, seq, Some(3));
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
            let e = self.expr(shape, self.cfg.depth);
            out += &format!("let {name} = {};\n", e.text);
            self.vars.push(Var {
                text: name.clone(),
                shape,
                enc: e.enc,
                raw: None,
            });
            lets.push((name, e.enc, shape));
        }
        if self.cfg.loops && self.pick(4) != 0 {
            self.for_loop(&mut out, &mut lets);
        }
        // The outputs: encrypted values (a public one gets an encrypted term added).
        let mut outputs: Vec<String> = Vec::new();
        for n in 0..1 + self.pick(2) {
            let j = self.pick(lets.len());
            let (name, enc, shape) = lets[j].clone();
            let name = if enc {
                name
            } else {
                let o = self.fresh("o");
                let term = self.enc_term(shape);
                out += &format!("let {o} = {name} + {term};\n");
                o
            };
            if n == 0 || !outputs.contains(&name) {
                outputs.push(name);
            }
        }
        out += &format!("output {};\n", outputs.join(", "));
        out
    }

    /// A loop carrying a vector and a compile-time scalar (a recurrence like NAG's).
    fn for_loop(&mut self, out: &mut String, lets: &mut Vec<(String, bool, Shape)>) {
        let a = self.dims[0];
        let acc = self.fresh("acc");
        let k = self.fresh("k");
        let d = self.cfg.depth.saturating_sub(1);
        let init = self.expr(Shape::Vector(a), 1);
        *out += &format!("let {acc} = {};\n", init.text);
        *out += &format!("let {k} = {};\n", ["1", "0.5", "c0"][self.pick(3)]);
        let trips = 1 + self.pick(3);
        *out += &format!("for i in 0..{trips} {{\n");
        let outer = self.vars.clone();
        self.in_loop = true;
        // Encrypted after the first iteration if the update is: treat it as public only when
        // nothing in the loop is encrypted (decided below).
        self.vars.push(Var {
            text: acc.clone(),
            shape: Shape::Vector(a),
            enc: init.enc,
            raw: None,
        });
        self.vars.push(Var {
            text: k.clone(),
            shape: Shape::Scalar,
            enc: false,
            raw: None,
        });
        self.vars.push(Var {
            text: "i".into(),
            shape: Shape::Scalar,
            enc: false,
            raw: None,
        });
        let mut enc = init.enc;
        if self.pick(2) == 0 {
            let t = self.fresh("t");
            let e = self.expr(Shape::Vector(a), d);
            *out += &format!("    let {t} = {};\n", e.text);
            self.vars.push(Var {
                text: t,
                shape: Shape::Vector(a),
                enc: e.enc,
                raw: None,
            });
        }
        let e = self.expr(Shape::Vector(a), d);
        enc |= e.enc;
        *out += &format!("    {acc} = 0.5 * {acc} + 0.25 / {k} * {};\n", e.text);
        *out += &format!("    {k} = sqrt({k} * {k} + i) / 2 + 0.5;\n");
        *out += "}\n";
        self.in_loop = false;
        self.vars = outer;
        // Conservative: the accumulator counts as encrypted only if its first update is
        // (a temporary that is encrypted only in later iterations cannot make it so here).
        self.vars.push(Var {
            text: acc.clone(),
            shape: Shape::Vector(a),
            enc,
            raw: None,
        });
        lets.push((acc, enc, Shape::Vector(a)));
    }
}

/// The program of `tape` under `cfg`.
pub fn generate(tape: Vec<u32>, cfg: Config) -> String {
    Gen::new(tape, cfg).program()
}

/// `text` if its loop runs at least two iterations (worth cutting into rounds for
/// `--refresh bootstrap`), the loop running to a constant `T` when `named`; otherwise to the
/// literal trip count the generator wrote, which the round template names itself. `None`
/// without such a loop.
pub fn with_loop_for_rounds(text: &str, named: bool) -> Option<String> {
    let at = text.find("for i in 0..")?;
    let rest = &text[at + "for i in 0..".len()..];
    let end = rest.find(' ')?;
    let trips: usize = rest[..end].parse().ok()?;
    (trips >= 2).then(|| {
        if named {
            format!(
                "const T = {trips};\n{}for i in 0..T{}",
                &text[..at],
                &rest[end..]
            )
        } else {
            text.to_string()
        }
    })
}

/// A pseudo-random tape of `len` choices from `seed` (xorshift64, no dependencies).
pub fn tape(seed: u64, len: usize) -> Vec<u32> {
    let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng >> 32) as u32
        })
        .collect()
}
