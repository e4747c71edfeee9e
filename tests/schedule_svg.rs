//! `hel compile --svg`: the ciphertext schedule drawn by level. The picture is read back with
//! an XML parser and checked against the schedule it draws: one group per level, every step
//! counted once in the right level and kind, the depth path marked from an input down to the
//! lowest level, large programs aggregated into a bounded picture, names escaped.

use hel::pictures::{depth_path, schedule_svg, Kind};
use hel_compiler::{compile, Options, SourceFile};
use hel_runtime::schedule::{Instr, Schedule};
use std::collections::BTreeMap;
use std::process::Command;

fn schedule(file: &str, sets: &[(&str, f64)]) -> Schedule {
    let path = format!("{}/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("example");
    let src = SourceFile::new(file, &text);
    let mut options = Options::default();
    for (k, v) in sets {
        options.sets.push(((*k).to_string(), *v));
    }
    compile(&src, &options)
        .unwrap_or_else(|d| panic!("{file}: {}", d.render_plain()))
        .schedule()
        .clone()
}

/// A step box read back from the picture.
struct Step {
    level: u32,
    kind: String,
    count: usize,
    first: u32,
    path: bool,
}

struct Picture {
    levels: Vec<u32>,
    steps: Vec<Step>,
    path_edges: usize,
    title: String,
    aggregated: bool,
}

fn read(svg: &str) -> Picture {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not XML: {e}"));
    let classes = |n: &roxmltree::Node| -> Vec<String> {
        n.attribute("class")
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    let num = |n: &roxmltree::Node, a: &str| -> u64 {
        n.attribute(a)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no numeric {a} on {n:?}"))
    };
    let mut pic = Picture {
        levels: Vec::new(),
        steps: Vec::new(),
        path_edges: 0,
        title: String::new(),
        aggregated: svg.contains("aggregated:"),
    };
    let root = doc.root_element();
    pic.title = root
        .children()
        .find(|c| c.has_tag_name("title"))
        .and_then(|t| t.text())
        .unwrap_or("")
        .to_string();
    for n in doc.descendants().filter(|n| n.is_element()) {
        let c = classes(&n);
        if c.iter().any(|c| c == "level") {
            let level = num(&n, "data-level") as u32;
            pic.levels.push(level);
            for s in n
                .children()
                .filter(|s| classes(s).iter().any(|c| c == "step"))
            {
                let kind = s.attribute("data-kind").expect("data-kind").to_string();
                assert!(classes(&s).contains(&kind), "the kind is a class too");
                pic.steps.push(Step {
                    level,
                    kind,
                    count: num(&s, "data-count") as usize,
                    first: num(&s, "data-first") as u32,
                    path: classes(&s).iter().any(|c| c == "path"),
                });
            }
        }
        if c.iter().any(|c| c == "edge") && c.iter().any(|c| c == "path") {
            pic.path_edges += 1;
        }
    }
    pic
}

/// The picture and the schedule agree: levels, counts per level and kind, the depth path.
fn check(s: &Schedule, svg: &str) -> Picture {
    let pic = read(svg);
    let top = s.params.q_bits.len() as u32 - 1;
    let low = s.nodes.iter().map(|n| n.level).min().expect("steps");
    let want_levels: Vec<u32> = (low..=top).rev().collect();
    assert_eq!(pic.levels, want_levels, "one group per level, top first");

    let mut want: BTreeMap<(u32, &str), usize> = BTreeMap::new();
    for n in &s.nodes {
        *want
            .entry((n.level, Kind::of(&n.instr).name()))
            .or_insert(0) += 1;
    }
    let mut got: BTreeMap<(u32, &str), usize> = BTreeMap::new();
    for st in &pic.steps {
        *got.entry((st.level, st.kind.as_str())).or_insert(0) += st.count;
        let first = &s.nodes[st.first as usize];
        assert_eq!(
            first.level, st.level,
            "step %{} drawn on its level",
            st.first
        );
        assert_eq!(Kind::of(&first.instr).name(), st.kind);
    }
    assert_eq!(
        got, want,
        "every step drawn once, on its level, as its kind"
    );

    // The depth path: from an input ciphertext down to the lowest level, through operands.
    let path = depth_path(s);
    let first = &s.nodes[path[0] as usize];
    let last = &s.nodes[*path.last().expect("path") as usize];
    assert_eq!(Kind::of(&first.instr), Kind::Input);
    assert_eq!(last.level, low);
    let rescales = path
        .iter()
        .filter(|&&i| matches!(s.nodes[i as usize].instr, Instr::Rescale { .. }))
        .count();
    assert_eq!(rescales as u32, s.depth(), "the path spends the depth");
    assert_eq!(
        first.level - last.level,
        s.depth(),
        "from the top to the bottom"
    );
    for w in path.windows(2) {
        assert!(s.nodes[w[1] as usize].instr.operands().contains(&w[0]));
    }
    let marked: Vec<&Step> = pic.steps.iter().filter(|st| st.path).collect();
    if pic.aggregated {
        assert!(marked.iter().any(|st| st.level == low && st.path));
        assert!(marked.iter().any(|st| st.kind == "input"));
    } else {
        let firsts: Vec<u32> = marked.iter().map(|st| st.first).collect();
        let mut want = path.clone();
        want.sort_unstable();
        let mut firsts = firsts;
        firsts.sort_unstable();
        assert_eq!(firsts, want, "exactly the path's steps are marked");
        assert_eq!(pic.path_edges, path.len() - 1);
    }
    assert!(pic.path_edges >= 1);
    pic
}

#[test]
fn small_programs_draw_every_step() {
    let s = schedule("examples/poly.hel", &[("n", 16.0)]);
    let pic = check(&s, &schedule_svg(&s));
    assert!(!pic.aggregated);
    assert_eq!(pic.steps.len(), s.nodes.len());
    assert!(pic.title.contains("poly.hel") && pic.title.contains("depth 2"));
}

#[test]
fn large_programs_are_aggregated_and_bounded() {
    let s = schedule("examples/logreg_nag.hel", &[("k", 4.0)]);
    assert!(s.nodes.len() > 1000, "{} steps", s.nodes.len());
    let svg = schedule_svg(&s);
    let pic = check(&s, &svg);
    assert!(pic.aggregated, "thousands of steps are aggregated");
    // At most one box per level and kind.
    assert!(pic.steps.len() <= pic.levels.len() * Kind::ALL.len());
    assert!(svg.len() < 100_000, "{} bytes", svg.len());
}

#[test]
fn the_cli_writes_an_escaped_picture_and_keeps_existing_files() {
    let dir = tempfile::tempdir().expect("tmp");
    let prog = dir.path().join("a&b<c>'q\".hel");
    let src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/poly.hel"))
        .expect("example");
    std::fs::write(&prog, src).expect("write");
    let svg = dir.path().join("p.svg");
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_hel"))
            .arg("compile")
            .arg(&prog)
            .args(["--set", "n=16", "-o"])
            .arg(dir.path().join("p.helc"))
            .arg("--svg")
            .arg(&svg)
            .args(extra)
            .output()
            .expect("run hel")
    };
    let o = run(&[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = std::fs::read_to_string(&svg).expect("svg");
    let pic = read(&text);
    assert!(pic.title.starts_with("a&b<c>'q\".hel: "), "{}", pic.title);
    assert!(!text.contains("a&b<"), "the name is escaped in the file");

    // An existing picture is kept without --force (a user error), replaced with it.
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("p.svg"));
    let o = run(&["--force"]);
    assert_eq!(o.status.code(), Some(0));
}

/// `hel depth --svg` draws the schedule `hel compile` makes, byte for byte (which also pins
/// the picture as deterministic), and refuses a program with no schedule to draw.
#[test]
fn depth_and_compile_draw_the_same_picture() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/logreg_gd.hel");
    let hel = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_hel"))
            .args(args)
            .current_dir(d)
            .output()
            .expect("run hel");
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, err) = hel(&[
        "compile", example, "--set", "k=2", "-o", "p.helc", "--svg", "c.svg",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = hel(&["depth", example, "--set", "k=2", "--svg", "d.svg"]);
    assert_eq!(code, Some(0), "{err}");
    let c = std::fs::read(d.join("c.svg")).expect("c.svg");
    assert_eq!(c, std::fs::read(d.join("d.svg")).expect("d.svg"));
    // --svg next to --compare is a usage error; the same name for -o and --svg is refused.
    let (code, _) = hel(&["depth", example, "--compare", "--svg", "x.svg"]);
    assert_eq!(code, Some(2));
    let (code, _) = hel(&["compile", example, "-o", "s.svg", "--svg", "s.svg"]);
    assert_eq!(code, Some(2));
    // Too deep for any 128-bit parameter set at N = 2^13: the report, but no picture.
    std::fs::write(
        d.join("deep.hel"),
        "input x: enc vector[4] range [-1, 1];\nlet a = x^64;\nlet b = a^64;\n\
         let c = b^64;\nlet y = c^64;\noutput y;\n",
    )
    .expect("write");
    let (code, err) = hel(&[
        "depth",
        "deep.hel",
        "--max-log-n",
        "13",
        "--svg",
        "deep.svg",
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("deep.svg not written"), "{err}");
    assert!(!d.join("deep.svg").exists());
}
