//! The examples zoo: real training and statistics programs beyond logistic regression
//! (`docs/examples.md`), each compiled at -O0, -O1 and -O2 and checked against an independent
//! f64 implementation written here by hand (not the compiler's interpreter):
//!
//! - the slot-level simulation of every schedule equals the reference to 1e-9 relative;
//! - the encrypted run (compile, keygen, encrypt, server run, decrypt through the libraries)
//!   is within the compiler's predicted bound of the reference on every output entry, and
//!   meets the precision target relative to the output's range (the larger of the range the
//!   compiler predicts from the declared input ranges and this data's largest entry);
//! - -O1 is never deeper than -O0 in ciphertext levels.
//!
//! Sizes are small (set through the programs' constants) so the whole zoo runs in CI (about two
//! minutes on 2 cores, most of it mlp_step, mlp_bias and ovr_logreg at -O0/-O1 on N = 2^15).

mod common;
use std::collections::HashMap;

use hel_compiler::passes::pipeline::{OptLevel, Options as Passes};
use hel_compiler::{compile, Options, SourceFile};
use hel_runtime::ckks::Sampler;
use hel_runtime::schedule::{simulate, Schedule, Shape, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// A dense row-major matrix for the references (vectors are n × 1).
#[derive(Clone, Debug)]
struct M {
    r: usize,
    c: usize,
    d: Vec<f64>,
}

impl M {
    fn of(t: &Tensor) -> M {
        let (r, c) = match t.shape {
            Shape::Scalar => (1, 1),
            Shape::Vector(n) => (n, 1),
            Shape::Matrix(r, c) => (r, c),
        };
        M {
            r,
            c,
            d: t.data.clone(),
        }
    }
    fn zeros(r: usize, c: usize) -> M {
        M {
            r,
            c,
            d: vec![0.0; r * c],
        }
    }
    fn at(&self, i: usize, j: usize) -> f64 {
        self.d[i * self.c + j]
    }
    fn t(&self) -> M {
        let mut o = M::zeros(self.c, self.r);
        for i in 0..self.r {
            for j in 0..self.c {
                o.d[j * self.r + i] = self.at(i, j);
            }
        }
        o
    }
    fn mm(&self, b: &M) -> M {
        assert_eq!(self.c, b.r, "reference: inner sizes");
        let mut o = M::zeros(self.r, b.c);
        for i in 0..self.r {
            for k in 0..self.c {
                let a = self.at(i, k);
                for j in 0..b.c {
                    o.d[i * b.c + j] += a * b.at(k, j);
                }
            }
        }
        o
    }
    fn zip(&self, b: &M, f: impl Fn(f64, f64) -> f64) -> M {
        assert_eq!((self.r, self.c), (b.r, b.c), "reference: shapes");
        M {
            r: self.r,
            c: self.c,
            d: self.d.iter().zip(&b.d).map(|(x, y)| f(*x, *y)).collect(),
        }
    }
    fn map(&self, f: impl Fn(f64) -> f64) -> M {
        M {
            r: self.r,
            c: self.c,
            d: self.d.iter().map(|x| f(*x)).collect(),
        }
    }
    fn add(&self, b: &M) -> M {
        self.zip(b, |x, y| x + y)
    }
    fn sub(&self, b: &M) -> M {
        self.zip(b, |x, y| x - y)
    }
    fn scale(&self, s: f64) -> M {
        self.map(|x| s * x)
    }
    /// Column sums as a vector (`sum_rows`).
    fn col_sums(&self) -> M {
        let mut o = M::zeros(self.c, 1);
        for i in 0..self.r {
            for j in 0..self.c {
                o.d[j] += self.at(i, j);
            }
        }
        o
    }
    fn eye(n: usize) -> M {
        let mut o = M::zeros(n, n);
        for i in 0..n {
            o.d[i * n + i] = 1.0;
        }
        o
    }
}

/// Inputs by name: one tensor, or the elements of a sequence.
type Inputs = HashMap<String, Vec<Tensor>>;

fn one(inputs: &Inputs, name: &str) -> M {
    M::of(&inputs[name][0])
}

fn seq(inputs: &Inputs, name: &str, i: usize) -> M {
    M::of(&inputs[name][i])
}

/// One zoo program: its file, the constants that make it small, and its reference.
struct Case {
    file: &'static str,
    sets: &'static [(&'static str, f64)],
    reference: fn(&Inputs, &HashMap<&str, f64>) -> Vec<M>,
}

fn linreg_gd(x: &Inputs, c: &HashMap<&str, f64>) -> Vec<M> {
    let (k, m, f) = (c["k"] as usize, c["m"], c["f"] as usize);
    let gamma = c["alpha"] / m;
    let mut beta = M::zeros(f, 1);
    for i in 0..k {
        let (xi, yi) = (seq(x, "X", i), seq(x, "y", i));
        let r = xi.mm(&beta).sub(&yi);
        beta = beta.sub(&xi.t().mm(&r).scale(gamma));
    }
    vec![beta]
}

fn ridge(x: &Inputs, c: &HashMap<&str, f64>) -> Vec<M> {
    let (k, m, f) = (c["k"] as usize, c["m"], c["f"] as usize);
    let (xm, y) = (one(x, "X"), one(x, "y"));
    let shrink = 1.0 - 2.0 * c["eta"] * c["lambda"];
    let step = 2.0 * c["eta"] / m;
    let mut beta = M::zeros(f, 1);
    for _ in 0..k {
        let g = xm.t().mm(&xm.mm(&beta).sub(&y));
        beta = beta.scale(shrink).sub(&g.scale(step));
    }
    vec![beta]
}

fn pca_power(x: &Inputs, c: &HashMap<&str, f64>) -> Vec<M> {
    let (k, m) = (c["k"] as usize, c["m"]);
    let xm = one(x, "X");
    let mut v = one(x, "v0");
    for _ in 0..k {
        v = xm.t().mm(&xm.mm(&v)).scale(1.0 / m);
    }
    vec![v]
}

fn column_stats(x: &Inputs, c: &HashMap<&str, f64>) -> Vec<M> {
    let m = c["m"];
    let xm = one(x, "X");
    let mean = xm.col_sums().scale(1.0 / m);
    let sq = xm.map(|v| v * v).col_sums().scale(1.0 / m);
    let var = sq.sub(&mean.map(|v| v * v));
    vec![mean, var]
}

fn public_features(x: &Inputs, c: &HashMap<&str, f64>) -> Vec<M> {
    let (k, m, f) = (c["k"] as usize, c["m"], c["f"] as usize);
    let (xm, y) = (one(x, "X"), one(x, "y"));
    let gamma = c["alpha"] / m;
    let mut beta = M::zeros(f, 1);
    for _ in 0..k {
        beta = beta.sub(&xm.t().mm(&xm.mm(&beta).sub(&y)).scale(gamma));
    }
    vec![beta]
}

fn ovr_logreg(x: &Inputs, c: &HashMap<&str, f64>) -> Vec<M> {
    let (k, m, f, classes) = (c["k"] as usize, c["m"], c["f"] as usize, c["c"] as usize);
    let (xm, y) = (one(x, "X"), one(x, "Y"));
    let sigma = |t: f64| 0.5 + 0.197 * t - 0.004 * t * t * t;
    let mut w = M::zeros(f, classes);
    for _ in 0..k {
        let p = xm.mm(&w).map(sigma);
        w = w.add(&xm.t().mm(&y.sub(&p)).scale(1.0 / m));
    }
    vec![w]
}

fn covariance(x: &Inputs, c: &HashMap<&str, f64>) -> Vec<M> {
    let m = c["m"];
    let xm = one(x, "X");
    vec![xm.col_sums().scale(1.0 / m), xm.t().mm(&xm).scale(1.0 / m)]
}

fn mlp_step(x: &Inputs, c: &HashMap<&str, f64>) -> Vec<M> {
    let (m, eta) = (c["m"], c["eta"]);
    let (xm, y, w1, w2) = (one(x, "X"), one(x, "Y"), one(x, "W1"), one(x, "W2"));
    let a = xm.mm(&w1);
    let h = a.map(|v| v * v);
    let e = h.mm(&w2).sub(&y);
    let g2 = h.t().mm(&e).scale(1.0 / m);
    let g1 = xm
        .t()
        .mm(&e.mm(&w2.t()).zip(&a, |d, z| d * 2.0 * z))
        .scale(1.0 / m);
    vec![w1.sub(&g1.scale(eta)), w2.sub(&g2.scale(eta))]
}

fn kmeans_step(x: &Inputs, _c: &HashMap<&str, f64>) -> Vec<M> {
    let (xm, r) = (one(x, "X"), one(x, "R"));
    vec![r.t().mm(&xm), r.col_sums()]
}

fn newton_schulz(x: &Inputs, c: &HashMap<&str, f64>) -> Vec<M> {
    let (m, f, lambda, t) = (c["m"], c["f"] as usize, c["lambda"], c["t"] as usize);
    let (xm, y) = (one(x, "X"), one(x, "y"));
    let i = M::eye(f);
    let h = xm.t().mm(&xm).scale(1.0 / m).add(&i.scale(lambda));
    let mut inv = i.scale(1.0 / (1.0 + lambda));
    for _ in 0..t {
        inv = inv.mm(&i.scale(2.0).sub(&h.mm(&inv)));
    }
    vec![inv.mm(&xm.t().mm(&y)).scale(1.0 / m)]
}

fn mlp_bias(x: &Inputs, c: &HashMap<&str, f64>) -> Vec<M> {
    let (m, eta) = (c["m"], c["eta"]);
    let (xm, y, w1, b1, w2) = (
        one(x, "X"),
        one(x, "y"),
        one(x, "W1"),
        one(x, "b1"),
        one(x, "w2"),
    );
    let b2 = one(x, "b2").d[0];
    let rows = xm.r;
    // Written out entry by entry: the bias row added to every row, the outer product.
    let mut a = xm.mm(&w1);
    for i in 0..rows {
        for j in 0..a.c {
            a.d[i * a.c + j] += b1.d[j];
        }
    }
    let h = a.map(|v| v * v);
    let e = h.mm(&w2).map(|v| v + b2).sub(&y);
    let mut d = M::zeros(rows, a.c);
    for i in 0..rows {
        for j in 0..a.c {
            d.d[i * a.c + j] = e.d[i] * w2.d[j] * 2.0 * a.at(i, j);
        }
    }
    let sum_e: f64 = e.d.iter().sum();
    vec![
        w1.sub(&xm.t().mm(&d).scale(eta / m)),
        b1.sub(&d.col_sums().scale(eta / m)),
        w2.sub(&h.t().mm(&e).scale(eta / m)),
        M {
            r: 1,
            c: 1,
            d: vec![b2 - eta * sum_e / m],
        },
    ]
}

/// The zoo. `sets` keep every program small enough for CI.
const ZOO: &[Case] = &[
    Case {
        file: "linreg_gd.hel",
        sets: &[("k", 3.0), ("m", 16.0), ("f", 4.0), ("alpha", 0.5)],
        reference: linreg_gd,
    },
    Case {
        file: "ridge.hel",
        sets: &[
            ("k", 3.0),
            ("m", 16.0),
            ("f", 4.0),
            ("eta", 0.3),
            ("lambda", 0.1),
        ],
        reference: ridge,
    },
    Case {
        file: "pca_power.hel",
        sets: &[("k", 3.0), ("m", 16.0), ("f", 4.0)],
        reference: pca_power,
    },
    Case {
        file: "column_stats.hel",
        sets: &[("m", 32.0), ("f", 5.0)],
        reference: column_stats,
    },
    Case {
        file: "public_features.hel",
        sets: &[("k", 3.0), ("m", 16.0), ("f", 4.0), ("alpha", 0.5)],
        reference: public_features,
    },
    Case {
        file: "ovr_logreg.hel",
        sets: &[("k", 2.0), ("m", 16.0), ("f", 4.0), ("c", 3.0)],
        reference: ovr_logreg,
    },
    Case {
        file: "covariance.hel",
        sets: &[("m", 16.0), ("f", 4.0)],
        reference: covariance,
    },
    Case {
        file: "mlp_step.hel",
        sets: &[("m", 16.0), ("eta", 0.1)],
        reference: mlp_step,
    },
    Case {
        file: "mlp_bias.hel",
        sets: &[("m", 16.0), ("eta", 0.1)],
        reference: mlp_bias,
    },
    Case {
        file: "kmeans_step.hel",
        sets: &[("m", 16.0), ("f", 4.0), ("c", 3.0)],
        reference: kmeans_step,
    },
    Case {
        file: "newton_schulz.hel",
        sets: &[("m", 16.0), ("f", 3.0), ("lambda", 1.0), ("t", 2.0)],
        reference: newton_schulz,
    },
];

fn source(case: &Case) -> SourceFile {
    let path = format!("{}/examples/{}", env!("CARGO_MANIFEST_DIR"), case.file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    SourceFile::new(case.file, text)
}

fn options(case: &Case, level: OptLevel) -> Options {
    Options {
        sets: case.sets.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        passes: Passes {
            level,
            ..Passes::default()
        },
        ..Options::default()
    }
}

/// The constants the reference reads: every one is set explicitly (the same values as the
/// program's defaults where they need not be smaller).
fn constants(case: &Case) -> HashMap<&'static str, f64> {
    case.sets.iter().copied().collect()
}

/// Random inputs within each input's declared range (the identity for a square `plain`
/// matrix named `I`).
fn inputs(s: &Schedule, seed: u64) -> (Vec<Vec<Tensor>>, Inputs) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut list = Vec::new();
    let mut by_name = Inputs::new();
    for decl in &s.inputs {
        let (lo, hi) = decl.range.unwrap_or((-1.0, 1.0));
        let tensors: Vec<Tensor> = (0..decl.elements())
            .map(|_| {
                let data = if decl.name == "I" {
                    M::eye(match decl.shape {
                        Shape::Matrix(n, _) => n,
                        _ => 1,
                    })
                    .d
                } else if decl.name == "R" {
                    // A one-hot assignment per row.
                    let (r, c) = match decl.shape {
                        Shape::Matrix(r, c) => (r, c),
                        _ => (1, 1),
                    };
                    let mut d = vec![0.0; r * c];
                    for i in 0..r {
                        d[i * c + rng.random_range(0..c)] = 1.0;
                    }
                    d
                } else {
                    (0..decl.shape.len())
                        .map(|_| rng.random_range(lo..=hi))
                        .collect()
                };
                Tensor {
                    shape: decl.shape,
                    data,
                }
            })
            .collect();
        by_name.insert(decl.name.clone(), tensors.clone());
        list.push(tensors);
    }
    (list, by_name)
}

fn max_abs_diff(got: &Tensor, want: &M) -> f64 {
    assert_eq!(got.data.len(), want.d.len(), "output size");
    got.data
        .iter()
        .zip(&want.d)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f64::max)
}

/// Compiles at `level`, checks the simulation, runs encrypted; returns the ciphertext depth.
fn check_level(case: &Case, level: OptLevel) -> u32 {
    let compiled = compile(&source(case), &options(case, level))
        .unwrap_or_else(|d| panic!("{} {level:?}: {}", case.file, d.render_plain()));
    let s = compiled.schedule();
    let consts = constants(case);
    let (list, by_name) = inputs(s, 0x200);
    let want = (case.reference)(&by_name, &consts);
    assert_eq!(want.len(), s.outputs.len(), "{}: outputs", case.file);

    let sim = simulate(s, &list).unwrap_or_else(|e| panic!("{}: simulate: {e}", case.file));
    for ((o, got), w) in s.outputs.iter().zip(&sim).zip(&want) {
        let scale = w.d.iter().fold(1.0f64, |a, x| a.max(x.abs()));
        let diff = max_abs_diff(got, w);
        assert!(
            diff <= 1e-9 * scale,
            "{} {level:?}: simulation of `{}` differs from the reference by {diff:e}",
            case.file,
            o.name
        );
    }
    let got = common::round_trip(s, &list, &mut Sampler::from_os())
        .unwrap_or_else(|e| panic!("{} {level:?}: {e}", case.file));
    let precision = Options::default().precision_bits as i32;
    for ((o, got), w) in s.outputs.iter().zip(&got).zip(&want) {
        let diff = max_abs_diff(got, w);
        assert!(
            diff <= o.bound,
            "{} {level:?}: `{}` is {diff:e} from the reference, beyond the predicted bound {:e}",
            case.file,
            o.name,
            o.bound
        );
        // The target is relative to the output's range: what it can reach on inputs from the
        // declared ranges (the compiler's range analysis), or this data's largest entry.
        let range = w.d.iter().fold(o.range, |a, x| a.max(x.abs())).max(1e-300);
        assert!(
            diff <= range * 2f64.powi(-precision),
            "{} {level:?}: `{}` keeps {:.1} bits relative to its range {range:e}, below the \
             {precision}-bit target",
            case.file,
            o.name,
            -(diff / range).log2()
        );
    }
    s.depth()
}

fn check(case: &Case) {
    let d0 = check_level(case, OptLevel::O0);
    let d1 = check_level(case, OptLevel::O1);
    check_level(case, OptLevel::O2);
    assert!(
        d1 <= d0,
        "{}: -O1 ciphertext depth {d1} is deeper than -O0's {d0}",
        case.file
    );
}

macro_rules! zoo_tests {
    ($($name:ident => $i:expr),* $(,)?) => {$(
        #[test]
        fn $name() {
            check(&ZOO[$i]);
        }
    )*};
}

zoo_tests! {
    zoo_linreg_gd => 0,
    zoo_ridge => 1,
    zoo_pca_power => 2,
    zoo_column_stats => 3,
    zoo_public_features => 4,
    zoo_ovr_logreg => 5,
    zoo_covariance => 6,
    zoo_mlp_step => 7,
    zoo_mlp_bias => 8,
    zoo_kmeans_step => 9,
    zoo_newton_schulz => 10,
}
