//! Program fuzzing: mutated examples, invalid programs and hostile programs through `check`,
//! `depth` (the passes and the depth analysis) and `compile` at every `-O` level, under small
//! budgets. Every outcome must be a success or a located diagnostic with a stable code (never
//! a panic, never `hel::internal` except the plaintext self-check), in bounded time.
//!
//! A bounded run is part of the suite. The long run is
//! `HEL_FUZZ_CASES=20000 cargo test --test fuzz_programs -- --nocapture` (the numbers of the
//! last one are in docs/security.md, "Fuzzing"); `HEL_FUZZ_SEED` picks another sequence. A
//! reproducer found goes into `tests/hostile_programs/` (see tests/hostile_programs.rs).

use hel_compiler::passes::pipeline::{self, OptLevel};
use hel_compiler::{Code, Diagnostic, Limits, Options, SourceFile};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Cases of the bounded run (each is checked, and compiled at three levels if it checks).
const CI_CASES: u32 = 1000;
/// Time allowed for checking one program, and for one compile.
const CHECK_LIMIT: Duration = Duration::from_secs(10);
const COMPILE_LIMIT: Duration = Duration::from_secs(60);

/// Budgets small enough that any accepted program compiles in seconds.
const FUZZ_LIMITS: Limits = Limits {
    max_tensor_elements: 1 << 14,
    max_iterations: 64,
    max_nodes: 1 << 13,
    max_inlined: 1 << 10,
    max_work: 1 << 24,
    max_ct_ops: 1 << 16,
};

/// Numbers a mutation puts in place of a number: edges of every range the checker has.
const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "2",
    "65",
    "1000",
    "65536",
    "16777216",
    "16777217",
    "4294967296",
    "9223372036854775807",
    "99999999999999999999999",
    "1e308",
    "1e-308",
    "0.5",
    "-0.0",
    "3.7",
];

/// Tokens a mutation inserts.
const TOKENS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ";",
    ",",
    "+",
    "-",
    "*",
    "/",
    "@",
    "^",
    "=",
    "..",
    "for",
    "in",
    "let",
    "const",
    "fn",
    "input",
    "output",
    "enc",
    "plain",
    "vector",
    "matrix",
    "scalar",
    "range",
    "zeros",
    "ones",
    "transpose",
    "dot",
    "sqrt",
    "sum_rows",
    "x",
    "i",
    "0",
    "\u{1F600}",
];

/// The corpus, examples first, and how many of its files are examples.
fn corpus() -> (Vec<(String, String)>, usize) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    let mut examples = 0;
    for dir in ["examples", "tests/invalid", "tests/hostile_programs"] {
        let mut entries: Vec<_> = std::fs::read_dir(root.join(dir))
            .expect("corpus directory")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "hel"))
            .collect();
        entries.sort();
        for p in entries {
            let text = std::fs::read_to_string(&p).expect("readable corpus file");
            files.push((p.display().to_string(), text));
        }
        if dir == "examples" {
            examples = files.len();
        }
    }
    assert!(
        files.len() > 50 && examples >= 10,
        "the corpus is missing files"
    );
    (files, examples)
}

/// Splits `text` into tokens: words, numbers, single punctuation, runs of whitespace.
fn tokens(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let class = |c: char| {
        if c.is_alphanumeric() || c == '_' || c == '.' {
            0
        } else if c.is_whitespace() {
            1
        } else {
            2
        }
    };
    for c in text.chars() {
        let joins = cur
            .chars()
            .last()
            .is_some_and(|l| class(l) == class(c) && class(c) != 2);
        if !joins && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// One mutation, chosen and placed by `pick` (`other` is another corpus file to splice from).
fn mutate(text: &str, other: &str, kind: u8, a: usize, b: usize) -> String {
    let mut t = tokens(text);
    if t.is_empty() {
        t.push(String::new());
    }
    let i = a % t.len();
    let j = b % t.len();
    // Weighted towards changes that keep the program parsing, so that many reach the compiler.
    match kind % 16 {
        0 => {
            t.remove(i);
        }
        1 => {
            let tok = t[i].clone();
            t.insert(i, tok);
        }
        2 => t.swap(i, j),
        3..=8 => {
            let numbers: Vec<usize> = (0..t.len())
                .filter(|&k| t[k].starts_with(|c: char| c.is_ascii_digit()))
                .collect();
            if let Some(&k) = numbers.get(a % numbers.len().max(1)) {
                t[k] = NUMBERS[b % NUMBERS.len()].to_string();
            }
        }
        9 => t.insert(i, format!(" {} ", TOKENS[b % TOKENS.len()])),
        10 | 11 => {
            // Wrap a line in a loop (nesting loops when it is one already).
            let lines: Vec<&str> = text.lines().collect();
            let k = a % lines.len().max(1);
            let n = NUMBERS[b % NUMBERS.len()];
            return lines
                .iter()
                .enumerate()
                .map(|(m, l)| {
                    if m == k {
                        format!("for q{m} in 0..{n} {{ {l} }}")
                    } else {
                        (*l).to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
        }
        12 | 13 => {
            // Splice a line of another file.
            let theirs: Vec<&str> = other.lines().collect();
            let mut ours: Vec<&str> = text.lines().collect();
            if let Some(line) = theirs.get(b % theirs.len().max(1)) {
                let at = a % (ours.len() + 1);
                ours.insert(at, line);
            }
            return ours.join("\n");
        }
        14 => {
            // A byte-level change: set one byte, valid UTF-8 or not.
            let mut bytes = text.as_bytes().to_vec();
            if !bytes.is_empty() {
                let k = a % bytes.len();
                bytes[k] = (b % 256) as u8;
            }
            return String::from_utf8_lossy(&bytes).into_owned();
        }
        _ => {
            // Delete a run of lines.
            let lines: Vec<&str> = text.lines().collect();
            let k = a % lines.len().max(1);
            let n = 1 + b % 3;
            return lines
                .iter()
                .enumerate()
                .filter(|(m, _)| *m < k || *m >= k + n)
                .map(|(_, l)| *l)
                .collect::<Vec<_>>()
                .join("\n");
        }
    }
    t.concat()
}

/// What the run saw.
#[derive(Default)]
struct Tally {
    cases: AtomicUsize,
    checked_ok: AtomicUsize,
    compiles: AtomicUsize,
    compiled_ok: AtomicUsize,
    slowest_check: Mutex<(Duration, String)>,
    slowest_compile: Mutex<(Duration, String)>,
    /// Diagnostics seen, by code.
    codes: Mutex<std::collections::BTreeMap<&'static str, usize>>,
}

fn note(slot: &Mutex<(Duration, String)>, d: Duration, text: &str) {
    if let Ok(mut s) = slot.lock() {
        if d > s.0 {
            *s = (d, text.to_string());
        }
    }
}

/// A failure's description if `d` is not an acceptable diagnostic.
fn bad_diagnostic(d: &Diagnostic, src: &SourceFile, stage: &str, tally: &Tally) -> Option<String> {
    if let Ok(mut codes) = tally.codes.lock() {
        *codes.entry(d.code.as_str()).or_default() += 1;
    }
    let plaintext_check = d.code == Code::Internal && d.message.contains("in plaintext");
    if d.code == Code::Internal && !plaintext_check {
        return Some(format!("{stage}: internal error: {}", d.message));
    }
    if d.span.start as usize > src.text().len() {
        return Some(format!("{stage}: span outside the source: {}", d.message));
    }
    // Rendering must not panic either (long lines, odd bytes).
    let rendered = d.render_plain();
    if !rendered.contains(d.code.as_str()) {
        return Some(format!("{stage}: the rendering lost the code: {rendered}"));
    }
    None
}

/// Runs one program through every stage; `Err` describes what went wrong.
fn exercise(text: &str, tally: &Tally) -> Result<(), String> {
    let src = SourceFile::new("fuzz.hel", text);
    tally.cases.fetch_add(1, Ordering::Relaxed);
    // `hel check` itself, under the CLI's budgets.
    let start = Instant::now();
    let checked = catch_unwind(AssertUnwindSafe(|| hel_compiler::frontend(&src, &[])))
        .map_err(|_| "check panicked".to_string())?;
    let took = start.elapsed();
    note(&tally.slowest_check, took, text);
    if took > CHECK_LIMIT {
        return Err(format!("check took {took:?}"));
    }
    if let Err(d) = &checked {
        if let Some(bad) = bad_diagnostic(d, &src, "check", tally) {
            return Err(bad);
        }
    }
    // Under the small budgets, to decide whether to compile it.
    let checked = catch_unwind(AssertUnwindSafe(|| {
        hel_compiler::frontend_limited(&src, &[], &FUZZ_LIMITS)
    }))
    .map_err(|_| "check under small budgets panicked".to_string())?;
    if let Err(d) = checked {
        return bad_diagnostic(&d, &src, "check", tally).map_or(Ok(()), Err);
    }
    tally.checked_ok.fetch_add(1, Ordering::Relaxed);
    for level in [OptLevel::O0, OptLevel::O1, OptLevel::O2] {
        let options = Options {
            passes: pipeline::Options {
                level,
                ..pipeline::Options::default()
            },
            max_log_n: 13,
            limits: FUZZ_LIMITS,
            ..Options::default()
        };
        tally.compiles.fetch_add(1, Ordering::Relaxed);
        let start = Instant::now();
        let depth = catch_unwind(AssertUnwindSafe(|| {
            hel_compiler::driver::optimize(&src, &options)
                .map(|p| hel_compiler::analysis::analyze(&p).tensor_depth)
        }))
        .map_err(|_| format!("depth at {level:?} panicked"))?;
        if let Err(d) = &depth {
            if let Some(bad) = bad_diagnostic(d, &src, "depth", tally) {
                return Err(bad);
            }
            continue;
        }
        let compiled = catch_unwind(AssertUnwindSafe(|| hel_compiler::compile(&src, &options)))
            .map_err(|_| format!("compile at {level:?} panicked"))?;
        let took = start.elapsed();
        note(&tally.slowest_compile, took, text);
        if took > COMPILE_LIMIT {
            return Err(format!("compile at {level:?} took {took:?}"));
        }
        match compiled {
            Ok(_) => {
                tally.compiled_ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(d) => {
                if let Some(bad) = bad_diagnostic(&d, &src, "compile", tally) {
                    return Err(format!("at {level:?}: {bad}"));
                }
            }
        }
    }
    Ok(())
}

fn seed() -> [u8; 32] {
    let n: u64 = std::env::var("HEL_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x6865_6c19);
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&n.to_le_bytes());
    s
}

#[test]
fn mutated_programs_get_located_diagnostics_in_bounded_time() {
    let cases: u32 = std::env::var("HEL_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CI_CASES);
    let (files, examples) = corpus();
    let n = files.len();
    let tally = Tally::default();
    let config = Config {
        cases,
        failure_persistence: None,
        // A failure is reported as found: shrinking re-runs compiles for minutes.
        max_shrink_iters: 0,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed()));
    // Half the cases start from an example (valid programs reach the compiler).
    let strategy = (
        prop_oneof![0..examples, 0..n],
        0..n,
        prop::collection::vec((any::<u8>(), any::<usize>(), any::<usize>()), 1..4),
    );
    let started = Instant::now();
    let result = runner.run(&strategy, |(f, g, muts)| {
        let mut text = files[f].1.clone();
        for (kind, a, b) in &muts {
            text = mutate(&text, &files[g].1, *kind, *a, *b);
        }
        exercise(&text, &tally)
            .map_err(|e| TestCaseError::fail(format!("{e}\n--- from {} ---\n{text}", files[f].0)))
    });
    let (slow_check, slow_check_text) = tally
        .slowest_check
        .lock()
        .map(|s| s.clone())
        .unwrap_or_default();
    let (slow_compile, slow_compile_text) = tally
        .slowest_compile
        .lock()
        .map(|s| s.clone())
        .unwrap_or_default();
    eprintln!(
        "fuzz: {} programs ({} checked, {} depth+compile runs, {} compiled) in {:?}; slowest \
         check {slow_check:?}, slowest depth+compile {slow_compile:?}",
        tally.cases.load(Ordering::Relaxed),
        tally.checked_ok.load(Ordering::Relaxed),
        tally.compiles.load(Ordering::Relaxed),
        tally.compiled_ok.load(Ordering::Relaxed),
        started.elapsed(),
    );
    eprintln!(
        "fuzz: diagnostics by code: {:?}",
        tally.codes.lock().map(|c| c.clone()).unwrap_or_default()
    );
    if std::env::var_os("HEL_FUZZ_SHOW_SLOWEST").is_some() {
        eprintln!("slowest check:\n{slow_check_text}\nslowest compile:\n{slow_compile_text}");
    }
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(
        tally.cases.load(Ordering::Relaxed) >= cases as usize,
        "fewer cases ran than asked"
    );
}

#[test]
fn mutations_change_the_program() {
    let text = "input x: enc vector[4] range [-1, 1];\nlet y = x * 2;\noutput y;";
    assert_eq!(tokens(text).concat(), text, "tokens cover the text");
    for kind in 0..16u8 {
        let changed = (0..8).any(|a| mutate(text, "let z = 1;", kind, a, 3) != text);
        assert!(changed, "mutation {kind} never changes the program");
    }
}

#[test]
fn reproducer_a_tall_matrix_is_refused_by_the_lowering_budget_in_seconds() {
    // Found by this fuzzer as ridge.hel at m = 1000, whose -O1 built the samples-by-samples
    // product `X (c Xᵀ)` (1000 x 1000): the lowering tried packings of millions of slot-level
    // operations for two minutes and gigabytes before the budget. Priced by the lowering's
    // rules, the depth search takes `Xᵀ X` there now and ridge compiles. The same kind of
    // product written out (128 x 128 within the tensor limit: 3,968 slot-level operations) and
    // a second output to lower after it, under a budget of 2^11, keeps the reproducer.
    let text = "input X: enc matrix[128, 6] range [-1, 1];\nlet g = X @ transpose(X);\n\
                let s = X * X;\noutput g;\noutput s;\n";
    let src = SourceFile::new("gram.hel", text.to_string());
    let options = Options {
        passes: pipeline::Options {
            level: OptLevel::O1,
            ..pipeline::Options::default()
        },
        max_log_n: 14,
        limits: Limits {
            max_ct_ops: 1 << 11,
            ..FUZZ_LIMITS
        },
        ..Options::default()
    };
    let start = Instant::now();
    let d = hel_compiler::compile(&src, &options).expect_err("over the budget");
    assert_eq!(d.code, Code::Budget, "{}", d.message);
    assert!(d.message.contains("slot-level operations"), "{}", d.message);
    assert!(start.elapsed() < COMPILE_LIMIT / 4, "{:?}", start.elapsed());
}
