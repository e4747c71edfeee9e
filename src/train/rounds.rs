//! Rounds: training on more minibatches than one circuit can hold.
//!
//! Without bootstrapping, a circuit's depth is bounded by the 128-bit parameter budget
//! (log2 PQ ≤ 1772 bits at N = 2^16), and every minibatch costs about 2.5 levels. When the K
//! minibatches asked for do not fit, training runs in rounds: the server runs a circuit of the
//! largest k that fits, the client decrypts the weights, re-encrypts them and sends them back as
//! the next round's input (the "refresh" Crockett and Han et al. assume instead of
//! bootstrapping).
//!
//! A round needs the weights as an *input*, so the trainer generates a round program from the
//! user's program, by editing its text at spans the parser reports:
//!
//! - every loop-carried vector that starts as `zeros(n)` becomes an encrypted input
//!   (`let v = zeros(f);` → `input v_start: enc vector[f]; let v = v_start;`) and an output, so
//!   NAG's momentum `w` crosses the round boundary along with `v`. No value range is declared
//!   for these inputs: a range fitted to the decrypted weights would tighten the compiler's
//!   error bound, but the server sees the program, and the range would tell it how large the
//!   weights are. The compiler then assumes [-1, 1];
//! - loop-carried compile-time values (NAG's `a`, from which η_i is computed) cannot be inputs —
//!   they are folded into the circuit — so a round starting at global iteration s first runs a
//!   warm-up loop of s iterations over the loop body's compile-time statements only; the
//!   constants then are bit for bit those of one long run;
//! - the loop runs over global iterations `s..s+k` and the minibatch index is shifted back by
//!   s, so anything computed from the loop variable sees the global iteration.
//!
//! When the loop body has no compile-time state and uses the loop variable only as the
//! minibatch index, the round program does not depend on s: rounds of equal length then share
//! one compiled circuit and one key set.
//!
//! Before anything is encrypted, the round programs are run through the reference interpreter
//! one after the other and compared with the original program run for all K iterations
//! ([`plaintext_rounds`]): the rewrite is checked on the real data, not trusted.

use std::collections::{HashMap, HashSet};

use hel_compiler::syntax::ast::{self, Expr, ExprKind, Item, Stmt};
use hel_compiler::{SourceFile, Span};
use serde::Serialize;

use super::program::{self, Interface};
use super::TrainError;
use crate::data::Matrix;

/// How the K minibatches are split into circuits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RoundPlan {
    /// Minibatches per round, in order; they add up to K.
    pub sizes: Vec<usize>,
    /// Why there are this many rounds, for the report.
    pub reason: String,
}

impl RoundPlan {
    /// All K minibatches in one circuit.
    pub fn single(total: usize) -> Self {
        RoundPlan {
            sizes: vec![total],
            reason: format!("all {total} minibatches fit one circuit"),
        }
    }

    /// Rounds of `per_round` minibatches (the last one takes the remainder).
    pub fn split(total: usize, per_round: usize, reason: String) -> Self {
        let per_round = per_round.clamp(1, total.max(1));
        let mut sizes = vec![per_round; total / per_round];
        if !total.is_multiple_of(per_round) {
            sizes.push(total % per_round);
        }
        RoundPlan { sizes, reason }
    }

    /// `(first global iteration, length)` of every round.
    pub fn rounds(&self) -> Vec<(usize, usize)> {
        let mut start = 0;
        self.sizes
            .iter()
            .map(|&len| {
                let r = (start, len);
                start += len;
                r
            })
            .collect()
    }
}

/// The largest k in `1..=max` for which `fits(k)` (which must be monotone: true up to some k,
/// false above), by galloping up from 1 (1, 2, 4, ...) and then bisecting. A circuit that is
/// too deep is only found out after its lowering, and compile time grows with k (NAG: about
/// 3 s at k = 6, a minute at k = 32), so probing from below never compiles anything larger than
/// twice the answer. Every successful `fits` call is kept by the caller.
pub fn largest_fitting(
    max: usize,
    mut fits: impl FnMut(usize) -> Result<bool, TrainError>,
) -> Result<Option<usize>, TrainError> {
    // lo: the largest k known to fit (0: none); hi: the smallest known not to (max + 1: none).
    let (mut lo, mut hi) = (0, max + 1);
    let mut k = 1;
    while k < hi {
        if fits(k)? {
            lo = k;
            if k == max {
                break;
            }
            k = (2 * k).min(max);
        } else {
            hi = k;
        }
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok((lo > 0).then_some(lo))
}

/// An encrypted vector carried from one round to the next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateVar {
    /// The program's variable (`v`, `w`, `beta`).
    pub name: String,
    /// The round program's input that holds its value at the start of the round.
    pub input: String,
    /// The `let NAME = zeros(n);` statement.
    let_span: Span,
    /// The source text of `n`.
    len_text: String,
}

/// A program, analysed for generating its round programs.
#[derive(Clone, Debug)]
pub struct RoundTemplate {
    base: SourceFile,
    state: Vec<StateVar>,
    /// Whether the loop carries compile-time values (then a warm-up loop is needed).
    compile_time_state: bool,
    /// The loop body's compile-time statements, in order (copied into the warm-up loop).
    warmup: Vec<Span>,
    loop_var: String,
    loop_span: Span,
    loop_start: Span,
    loop_end: Span,
    /// Index expressions `e` of `Z[e]` in the loop body, for every sequence input `Z`.
    index_spans: Vec<Span>,
    output_span: Span,
    outputs: Vec<String>,
    /// Whether the round program depends on the round's first iteration.
    shifts: bool,
}

fn span_text(src: &SourceFile, s: Span) -> &str {
    &src.text()[s.start as usize..s.end as usize]
}

/// The built-in functions whose result is a compile-time value when their arguments are.
const COMPILE_TIME_BUILTINS: [&str; 1] = ["sqrt"];
/// Built-ins that produce tensors (never compile-time scalars).
const TENSOR_BUILTINS: [&str; 7] = [
    "transpose",
    "sum_rows",
    "sum_cols",
    "dot",
    "zeros",
    "ones",
    "sqrt",
];

/// Whether `e` is a compile-time value given the compile-time names `ct`.
fn is_compile_time(e: &Expr, ct: &HashSet<String>) -> bool {
    match &e.kind {
        ExprKind::Number(_) => true,
        ExprKind::Var(n) => ct.contains(n),
        ExprKind::Neg(a) => is_compile_time(a, ct),
        ExprKind::Binary(_, a, b) => is_compile_time(a, ct) && is_compile_time(b, ct),
        ExprKind::Index(..) => false,
        ExprKind::Call(f, args) => {
            let builtin_ok = COMPILE_TIME_BUILTINS.contains(&f.name.as_str());
            // User functions see only their parameters and constants: compile-time arguments
            // give a compile-time result.
            let user = !TENSOR_BUILTINS.contains(&f.name.as_str());
            (builtin_ok || user) && args.iter().all(|a| is_compile_time(a, ct))
        }
    }
}

/// Calls `visit` on `e` and every subexpression.
fn walk(e: &Expr, visit: &mut impl FnMut(&Expr)) {
    visit(e);
    match &e.kind {
        ExprKind::Number(_) | ExprKind::Var(_) => {}
        ExprKind::Neg(a) => walk(a, visit),
        ExprKind::Binary(_, a, b) | ExprKind::Index(a, b) => {
            walk(a, visit);
            walk(b, visit);
        }
        ExprKind::Call(_, args) => args.iter().for_each(|a| walk(a, visit)),
    }
}

/// Every name the program mentions (to pick input names that clash with none).
fn all_names(p: &ast::Program) -> HashSet<String> {
    let mut names = HashSet::new();
    let mut expr = |e: &Expr, names: &mut HashSet<String>| {
        walk(e, &mut |x| {
            if let ExprKind::Var(n) = &x.kind {
                names.insert(n.clone());
            }
        })
    };
    fn stmt_names(
        s: &Stmt,
        names: &mut HashSet<String>,
        expr: &mut impl FnMut(&Expr, &mut HashSet<String>),
    ) {
        match s {
            Stmt::Let(l) => {
                names.insert(l.name.name.clone());
                expr(&l.value, names);
            }
            Stmt::Assign { name, value, .. } => {
                names.insert(name.name.clone());
                expr(value, names);
            }
            Stmt::For(f) => {
                names.insert(f.var.name.clone());
                for b in &f.body {
                    stmt_names(b, names, expr);
                }
            }
        }
    }
    for item in &p.items {
        match item {
            Item::Const(c) => {
                names.insert(c.name.name.clone());
            }
            Item::Input(i) => {
                names.insert(i.name.name.clone());
            }
            Item::Fn(f) => {
                names.insert(f.name.name.clone());
                names.extend(f.params.iter().map(|p| p.name.clone()));
                names.extend(f.lets.iter().map(|l| l.name.name.clone()));
            }
            Item::Output(o) => names.extend(o.names.iter().map(|n| n.name.clone())),
            Item::Stmt(s) => stmt_names(s, &mut names, &mut expr),
        }
    }
    names
}

/// Names assigned anywhere in `body`.
fn assigned(body: &[Stmt], out: &mut HashSet<String>) {
    for s in body {
        match s {
            Stmt::Assign { name, .. } => {
                out.insert(name.name.clone());
            }
            Stmt::For(f) => assigned(&f.body, out),
            Stmt::Let(_) => {}
        }
    }
}

impl RoundTemplate {
    /// Analyses `base`; fails with a message naming what stops the program from being split
    /// into rounds.
    pub fn new(base: &SourceFile) -> Result<Self, TrainError> {
        let ast = hel_compiler::on_big_stack(|| hel_compiler::syntax::parse(base))?;
        let file = base.name();
        let unsupported = |why: String| {
            TrainError::Program(format!(
                "{file}: cannot split the training into rounds: {why}"
            ))
        };
        let loops: Vec<&ast::ForStmt> = ast
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Stmt(Stmt::For(f)) => Some(f),
                _ => None,
            })
            .collect();
        let [lp] = loops.as_slice() else {
            return Err(unsupported(format!(
                "the program needs exactly one top-level loop (over the minibatches), it has {}",
                loops.len()
            )));
        };
        let outs: Vec<&ast::OutputStmt> = ast
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Output(o) => Some(o),
                _ => None,
            })
            .collect();
        let [out] = outs.as_slice() else {
            return Err(unsupported(format!(
                "the program needs exactly one `output` statement, it has {}",
                outs.len()
            )));
        };
        let seq_inputs: HashSet<String> = ast
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Input(d) if d.ty.seq_len.is_some() => Some(d.name.name.clone()),
                _ => None,
            })
            .collect();

        let mut carried = HashSet::new();
        assigned(&lp.body, &mut carried);
        let mut ct: HashSet<String> = ast
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Const(c) => Some(c.name.name.clone()),
                _ => None,
            })
            .collect();
        let names = all_names(&ast);
        let mut taken = names.clone();
        let mut state = Vec::new();
        let mut ct_carried = HashSet::new();
        for item in &ast.items {
            let Item::Stmt(Stmt::Let(l)) = item else {
                continue;
            };
            if l.span.start >= lp.span.start {
                continue;
            }
            let name = &l.name.name;
            let compile_time = is_compile_time(&l.value, &ct);
            if compile_time {
                ct.insert(name.clone());
            }
            if !carried.contains(name) {
                continue;
            }
            match &l.value.kind {
                ExprKind::Call(fun, args) if fun.name == "zeros" && args.len() == 1 => {
                    let mut input = format!("{name}_start");
                    while taken.contains(&input) {
                        input.push('_');
                    }
                    taken.insert(input.clone());
                    state.push(StateVar {
                        name: name.clone(),
                        input,
                        let_span: l.span,
                        len_text: span_text(base, args[0].span).to_string(),
                    });
                }
                _ if compile_time => {
                    ct_carried.insert(name.clone());
                }
                _ => {
                    return Err(unsupported(format!(
                        "`{name}` is carried from one iteration to the next but starts as `{}`; \
                         rounds carry vectors that start as zeros(n) (they become encrypted \
                         inputs) and compile-time values",
                        span_text(base, l.value.span)
                    )))
                }
            }
        }
        if state.is_empty() {
            return Err(unsupported(
                "no loop-carried vector starts as zeros(n), so there are no weights to carry"
                    .into(),
            ));
        }
        let state_names: HashSet<&str> = state.iter().map(|s| s.name.as_str()).collect();
        for o in &out.names {
            if !state_names.contains(o.name.as_str()) {
                return Err(unsupported(format!(
                    "output `{}` is not a loop-carried vector that starts as zeros(n)",
                    o.name
                )));
            }
        }

        // The loop body: compile-time statements (for the warm-up loop) and minibatch indices.
        let loop_var = lp.var.name.clone();
        ct.insert(loop_var.clone());
        let mut warmup = Vec::new();
        let mut index_spans = Vec::new();
        let mut var_elsewhere = false;
        for s in &lp.body {
            let (target, value, span) = match s {
                Stmt::Let(l) => (&l.name.name, &l.value, l.span),
                Stmt::Assign { name, value, span } => (&name.name, value, *span),
                Stmt::For(_) => {
                    return Err(unsupported(
                        "the loop over the minibatches contains another loop".into(),
                    ))
                }
            };
            // Index expressions of minibatch inputs, and uses of the loop variable elsewhere.
            let mut inside_index: Vec<Span> = Vec::new();
            walk(value, &mut |e| {
                if let ExprKind::Index(b, i) = &e.kind {
                    if matches!(&b.kind, ExprKind::Var(n) if seq_inputs.contains(n)) {
                        index_spans.push(i.span);
                        if matches!(&i.kind, ExprKind::Var(n) if *n == loop_var) {
                            inside_index.push(i.span);
                        }
                    }
                }
            });
            walk(value, &mut |e| {
                if matches!(&e.kind, ExprKind::Var(n) if *n == loop_var)
                    && !inside_index.contains(&e.span)
                {
                    var_elsewhere = true;
                }
            });
            let compile_time = is_compile_time(value, &ct);
            let is_let = matches!(s, Stmt::Let(_));
            if ct_carried.contains(target) && !compile_time {
                return Err(unsupported(format!(
                    "`{target}` starts as a compile-time value but is assigned `{}`, which is not \
                     one",
                    span_text(base, value.span)
                )));
            }
            if compile_time && (is_let || ct.contains(target)) {
                ct.insert(target.clone());
                warmup.push(span);
            } else {
                ct.remove(target);
            }
        }
        let compile_time_state = !ct_carried.is_empty();
        Ok(RoundTemplate {
            base: base.clone(),
            state,
            compile_time_state,
            warmup,
            loop_var,
            loop_span: lp.span,
            loop_start: lp.start.span,
            loop_end: lp.end.span,
            index_spans,
            output_span: out.span,
            outputs: out.names.iter().map(|n| n.name.clone()).collect(),
            shifts: compile_time_state || var_elsewhere,
        })
    }

    /// The encrypted vectors carried between rounds, in the order they are declared.
    pub fn state(&self) -> &[StateVar] {
        &self.state
    }

    /// The round program for the round whose first global iteration is `start` (its length is
    /// the constant `k`, set at compile time like for the original program).
    pub fn source(&self, start: usize) -> SourceFile {
        let src = &self.base;
        let text = |s: Span| span_text(src, s);
        let mut edits: Vec<(Span, String)> = Vec::new();
        for s in &self.state {
            edits.push((
                s.let_span,
                format!(
                    "input {}: enc vector[{}]; let {} = {};",
                    s.input, s.len_text, s.name, s.input
                ),
            ));
        }
        let mut outputs = self.outputs.clone();
        for s in &self.state {
            if !outputs.contains(&s.name) {
                outputs.push(s.name.clone());
            }
        }
        edits.push((self.output_span, format!("output {};", outputs.join(", "))));
        let start = if self.shifts { start } else { 0 };
        if start > 0 {
            if self.compile_time_state {
                let body: Vec<&str> = self.warmup.iter().map(|&s| text(s)).collect();
                edits.push((
                    Span::new(self.loop_span.start as usize, self.loop_span.start as usize),
                    format!(
                        "// warm-up: the compile-time state after {start} iterations\nfor {} in 0..{start} {{ {} }}\n",
                        self.loop_var,
                        body.join(" ")
                    ),
                ));
            }
            edits.push((
                self.loop_start,
                format!("({}) + {start}", text(self.loop_start)),
            ));
            edits.push((
                self.loop_end,
                format!("({}) + {start}", text(self.loop_end)),
            ));
            for &s in &self.index_spans {
                edits.push((s, format!("({}) - {start}", text(s))));
            }
        }
        // Back to front, so earlier spans stay valid; an insertion at the loop's start goes
        // before the loop (it sorts after nothing that starts there).
        edits.sort_by_key(|(s, _)| std::cmp::Reverse((s.start, s.end)));
        let mut out = src.text().to_string();
        for (s, new) in edits {
            out.replace_range(s.start as usize..s.end as usize, &new);
        }
        let name = match src.name().strip_suffix(".hel") {
            Some(stem) if start > 0 => format!("{stem}.round@{start}.hel"),
            Some(stem) => format!("{stem}.round.hel"),
            None => format!("{}.round@{start}", src.name()),
        };
        SourceFile::new(name, out)
    }
}

/// The round programs run one after the other in plaintext (reference interpreter) from zero
/// weights; returns the final value of the program's output. The trainer compares it with the
/// original program run for all iterations before encrypting anything.
pub fn plaintext_rounds(
    template: &RoundTemplate,
    plan: &RoundPlan,
    interface: &Interface,
    batches: &[Matrix],
) -> Result<Vec<f64>, TrainError> {
    let (m, f) = (batches[0].rows(), batches[0].cols());
    let mut state: HashMap<String, Vec<f64>> = template
        .state()
        .iter()
        .map(|s| (s.name.clone(), vec![0.0; f]))
        .collect();
    for (start, len) in plan.rounds() {
        let src = template.source(start);
        let p = hel_compiler::frontend(&src, &program::sets(len, m, f))?;
        let mut inputs = HashMap::new();
        inputs.insert(
            interface.data_input.clone(),
            program::batch_value(batches, start, len),
        );
        for s in template.state() {
            let v = state.get(&s.name).map(Vec::as_slice).unwrap_or(&[]);
            inputs.insert(s.input.clone(), program::vector_value(v));
        }
        state = program::interpret(&p, inputs)?;
    }
    state
        .remove(&interface.output)
        .ok_or_else(|| TrainError::Internal("the round program lost the output".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_take_the_largest_rounds_first() {
        assert_eq!(RoundPlan::split(7, 3, String::new()).sizes, vec![3, 3, 1]);
        assert_eq!(RoundPlan::split(6, 3, String::new()).sizes, vec![3, 3]);
        assert_eq!(RoundPlan::split(2, 5, String::new()).sizes, vec![2]);
        assert_eq!(
            RoundPlan::split(5, 2, String::new()).rounds(),
            vec![(0, 2), (2, 2), (4, 1)]
        );
    }

    #[test]
    fn search_gallops_up_then_bisects() {
        let probe = |max: usize, answer: usize| {
            let mut tried = Vec::new();
            let k = largest_fitting(max, |k| {
                tried.push(k);
                Ok(k <= answer)
            })
            .unwrap();
            (k, tried)
        };
        assert_eq!(probe(6, 4), (Some(4), vec![1, 2, 4, 6, 5]));
        assert_eq!(probe(31, 6), (Some(6), vec![1, 2, 4, 8, 6, 7]));
        assert_eq!(probe(5, 5), (Some(5), vec![1, 2, 4, 5]));
        assert_eq!(probe(1, 1), (Some(1), vec![1]));
        assert_eq!(probe(3, 0), (None, vec![1]));
        // Every answer in 1..=max is found, never trying anything above 2 * answer.
        for max in 1..=20 {
            for answer in 0..=max {
                let (k, tried) = probe(max, answer);
                assert_eq!(
                    k,
                    (answer > 0).then_some(answer),
                    "max {max} answer {answer}"
                );
                assert!(tried.iter().all(|&t| t <= (2 * answer).max(1)), "{tried:?}");
            }
        }
    }

    #[test]
    fn nag_rounds_get_a_warm_up_loop_and_shifted_indices() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/logreg_nag.hel"
        ))
        .unwrap();
        let t = RoundTemplate::new(&SourceFile::new("logreg_nag.hel", text)).unwrap();
        let names: Vec<&str> = t.state().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["v", "w"]);
        let r0 = t.source(0);
        assert!(
            r0.text()
                .contains("input v_start: enc vector[f]; let v = v_start;"),
            "{}",
            r0.text()
        );
        assert!(r0.text().contains("output v, w;"));
        assert!(!r0.text().contains("warm-up"));
        let r3 = t.source(3);
        assert!(
            r3.text().contains("for i in 0..3 { let a_next"),
            "{}",
            r3.text()
        );
        assert!(r3.text().contains("for i in (0) + 3..(k) + 3"));
        assert!(r3.text().contains("Z[(i) - 3]"));
        assert!(!r3.text().contains(
            "let g = gamma * (transpose(Z[(i) - 3]) @ h(Z[(i) - 3] @ v)); let w_next = v + g; }"
        ));
    }

    #[test]
    fn gd_rounds_do_not_depend_on_the_start() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/logreg_gd.hel"
        ))
        .unwrap();
        let t = RoundTemplate::new(&SourceFile::new("logreg_gd.hel", text)).unwrap();
        assert_eq!(t.source(0).text(), t.source(4).text());
        assert!(t
            .source(0)
            .text()
            .contains("input beta_start: enc vector[f]; let beta = beta_start;"));
    }

    #[test]
    fn refuses_state_it_cannot_carry() {
        let src = SourceFile::new(
            "x.hel",
            "const k = 2; input Z: enc vector[3][k]; let b = ones(3); \
             for i in 0..k { b = b + Z[i]; } output b;",
        );
        let e = RoundTemplate::new(&src).unwrap_err().to_string();
        assert!(e.contains("starts as `ones(3)`"), "{e}");
    }
}
