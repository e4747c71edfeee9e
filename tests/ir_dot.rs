//! `hel ir --format dot`: nodes coloured by multiplicative depth, the critical path in red.
//! Read back with a real DOT parser: the red path is one chain from a program input to an
//! output, it climbs one level per depth-adding node, and it climbs exactly the depth that
//! `hel depth` reports.

use graphviz_rust::dot_structures::{Attribute, EdgeTy, Graph, Id, Stmt, Vertex};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

fn hel(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_hel"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run hel");
    assert_eq!(
        o.status.code(),
        Some(0),
        "hel {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf-8")
}

fn text(id: &Id) -> String {
    match id {
        Id::Html(s) | Id::Plain(s) | Id::Anonymous(s) => s.clone(),
        Id::Escaped(s) => s.trim_matches('"').to_string(),
    }
}

fn attr(attrs: &[Attribute], key: &str) -> Option<String> {
    attrs
        .iter()
        .find(|Attribute(k, _)| text(k) == key)
        .map(|Attribute(_, v)| text(v))
}

/// What the picture says: each node's depth, fill and label; the critical edges; the legend.
#[derive(Default)]
struct Picture {
    depth: BTreeMap<String, u32>,
    fill: BTreeMap<String, String>,
    label: BTreeMap<String, String>,
    critical_nodes: BTreeSet<String>,
    critical_edges: BTreeSet<(String, String)>,
    edges: usize,
    legend: Vec<(String, String)>,
}

fn walk(stmts: &[Stmt], pic: &mut Picture, in_legend: bool) {
    for s in stmts {
        match s {
            Stmt::Node(n) => {
                let id = text(&n.id.0);
                let label = attr(&n.attributes, "label").unwrap_or_default();
                let fill = attr(&n.attributes, "fillcolor").unwrap_or_default();
                if in_legend {
                    pic.legend.push((label, fill));
                    continue;
                }
                let tip = attr(&n.attributes, "tooltip").expect("every node has a tooltip");
                let d: u32 = tip
                    .strip_prefix("depth ")
                    .and_then(|d| d.parse().ok())
                    .unwrap_or_else(|| panic!("{id}: tooltip `{tip}`"));
                pic.depth.insert(id.clone(), d);
                pic.fill.insert(id.clone(), fill);
                pic.label.insert(id.clone(), label);
                if attr(&n.attributes, "class").as_deref() == Some("critical") {
                    pic.critical_nodes.insert(id);
                }
            }
            Stmt::Edge(e) => {
                let EdgeTy::Pair(Vertex::N(a), Vertex::N(b)) = &e.ty else {
                    panic!("unexpected edge form {e:?}");
                };
                if attr(&e.attributes, "style").as_deref() == Some("invis") {
                    continue;
                }
                pic.edges += 1;
                if attr(&e.attributes, "class").as_deref() == Some("critical") {
                    assert_eq!(attr(&e.attributes, "color").as_deref(), Some("#d62728"));
                    pic.critical_edges.insert((text(&a.0), text(&b.0)));
                }
            }
            Stmt::Subgraph(g) => walk(&g.stmts, pic, text(&g.id) == "cluster_legend"),
            _ => {}
        }
    }
}

fn picture(dot: &str) -> Picture {
    let g = graphviz_rust::parse(dot).unwrap_or_else(|e| panic!("DOT does not parse: {e}"));
    let Graph::DiGraph { stmts, .. } = g else {
        panic!("not a digraph")
    };
    let mut pic = Picture::default();
    walk(&stmts, &mut pic, false);
    pic
}

fn tensor_depth(file: &str, sets: &[&str]) -> u64 {
    let mut args = vec!["depth", file, "--json"];
    args.extend(sets);
    let v: serde_json::Value = serde_json::from_str(&hel(&args)).expect("json");
    v["tensor_depth"].as_u64().expect("tensor_depth")
}

#[test]
fn the_red_path_climbs_the_reported_depth() {
    for (file, sets) in [
        ("examples/poly.hel", &["--set", "n=8"][..]),
        ("examples/logreg_gd.hel", &["--set", "k=2"][..]),
        ("examples/logreg_nag.hel", &["--set", "k=2"][..]),
        ("examples/ridge.hel", &[][..]),
    ] {
        let mut args = vec!["ir", file, "--format", "dot"];
        args.extend(sets);
        let pic = picture(&hel(&args));
        let want = tensor_depth(file, sets) as u32;

        // One chain: every critical node but the first has exactly one critical edge in, every
        // one but the last exactly one out.
        let mut next: BTreeMap<&str, &str> = BTreeMap::new();
        let mut has_pred = BTreeSet::new();
        for (a, b) in &pic.critical_edges {
            assert!(
                next.insert(a, b).is_none(),
                "{file}: {a} has two critical successors"
            );
            assert!(has_pred.insert(b.as_str()), "{file}: {b} entered twice");
        }
        let starts: Vec<&&str> = next.keys().filter(|a| !has_pred.contains(**a)).collect();
        assert_eq!(starts.len(), 1, "{file}: the red path has one start");
        let mut cur: &str = starts[0];
        assert!(
            pic.label[cur].contains(" input "),
            "{file}: the path starts at an input, not `{}`",
            pic.label[cur]
        );
        let mut chain = vec![cur];
        while let Some(n) = next.get(cur) {
            cur = n;
            chain.push(cur);
        }
        assert!(cur.starts_with("out"), "{file}: the path ends at an output");
        assert_eq!(chain.len(), pic.critical_nodes.len(), "{file}");
        assert_eq!(chain.len() - 1, pic.critical_edges.len(), "{file}");

        // Depth never falls along the path, and the levels it adds are the program's depth.
        let depths: Vec<u32> = chain.iter().map(|n| pic.depth[*n]).collect();
        assert!(
            depths.windows(2).all(|w| w[0] <= w[1]),
            "{file}: {depths:?}"
        );
        let climbs: u32 = depths.windows(2).map(|w| w[1] - w[0]).sum();
        assert_eq!(depths[0], 0, "{file}");
        assert_eq!(climbs, want, "{file}: the red path adds {climbs} levels");
        assert_eq!(pic.depth.values().max().copied(), Some(want), "{file}");

        // Equal depths get equal colours, deeper ones never lighter; the legend lists them.
        let mut colour_of: BTreeMap<u32, &str> = BTreeMap::new();
        for (n, d) in &pic.depth {
            let f = pic.fill[n].as_str();
            assert_eq!(*colour_of.entry(*d).or_insert(f), f, "{file}: depth {d}");
        }
        let legend: Vec<&str> = pic.legend.iter().map(|(_, f)| f.as_str()).collect();
        let used: BTreeSet<&str> = colour_of.values().copied().collect();
        assert!(
            used.iter().all(|c| legend.contains(c)),
            "{file}: {used:?} vs legend {legend:?}"
        );
        assert!(pic.legend[0].0.starts_with("depth 0"), "{file}");
        assert!(pic.edges >= pic.critical_edges.len());
    }
}

#[test]
fn loop_bodies_are_coloured_within_an_iteration() {
    let pic = picture(&hel(&[
        "ir",
        "examples/logreg_gd.hel",
        "--after",
        "parse",
        "--set",
        "k=3",
        "--format",
        "dot",
    ]));
    // Before unrolling the top level has no depth; the body's products do.
    let body_max = pic
        .depth
        .iter()
        .filter(|(n, _)| n.contains('_'))
        .map(|(_, d)| *d)
        .max();
    assert!(body_max.is_some_and(|d| d > 0), "{body_max:?}");
    assert!(pic.legend.len() > 1);
}

#[test]
fn golden_dot() {
    let dot = hel(&[
        "ir",
        "examples/logreg_gd.hel",
        "--set",
        "k=2",
        "--format",
        "dot",
    ]);
    insta::assert_snapshot!("logreg_gd_k2", dot);
}
