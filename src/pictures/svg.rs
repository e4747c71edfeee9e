//! The schedule as SVG: one row per ciphertext level (the top of the modulus chain first),
//! one box per step (or per level and kind of step, aggregated), edges for the data flow, and
//! the multiplicative-depth path in red.
//!
//! Hand-written SVG rather than a drawing crate: the picture is rectangles, text and paths,
//! and writing them directly keeps every element's class and `data-` attributes under our
//! control, which is what lets tests (and other tools) read the picture back. Every piece of
//! text that comes from the program (its name, source locations) goes through [`escape`].
//!
//! Elements: `g.level[data-level]` per level; inside, `g.step.KIND[data-kind][data-count]`
//! per box, with class `path` when it holds a step of the depth path; `path.edge[data-count]`
//! per edge between boxes (class `path` on the depth path's edges).

use super::layout::{layout, Kind, Layout};
use hel_runtime::schedule::{Instr, Schedule};
use std::fmt::Write;

const LEFT: f64 = 110.0;
const TOP: f64 = 96.0;
const ROW: f64 = 64.0;
const BOX_H: f64 = 26.0;
const GAP: f64 = 10.0;
const RED: &str = "#d62728";

fn fill(k: Kind) -> &'static str {
    match k {
        Kind::Input => "#98df8a",
        Kind::Mul => "#ff7f0e",
        Kind::MulPlain => "#ffbb78",
        Kind::Rotate => "#aec7e8",
        Kind::Rescale => "#c5b0d5",
        Kind::Add => "#e7e7e7",
    }
}

/// Text safe inside SVG (XML) text and attribute values.
fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0.
            c if c.is_control() && c != '\n' && c != '\t' => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

/// A step's short label in its box.
fn step_label(i: &Instr) -> String {
    match i {
        Instr::Input { index } => format!("in {index}"),
        Instr::Rotate { step, .. } => format!("rot {step}"),
        Instr::Mul { .. } => "ct × ct".into(),
        Instr::Relinearize { .. } => "relin".into(),
        Instr::ModDown { level, .. } => format!("drop→{level}"),
        other => other.name().replace('_', " "),
    }
}

pub fn schedule_svg(s: &Schedule) -> String {
    let l = layout(s);
    let box_w = if l.aggregated { 118.0 } else { 72.0 };
    // Position of each box: its row and its place in the row.
    let mut in_row: std::collections::BTreeMap<u32, usize> = Default::default();
    let pos: Vec<(f64, f64)> = l
        .boxes
        .iter()
        .map(|b| {
            let k = in_row.entry(b.level).or_insert(0);
            let row = l.levels.iter().position(|&v| v == b.level).unwrap_or(0);
            // Aggregated, each kind has its own column; otherwise steps stand in order.
            let col = if l.aggregated {
                Kind::ALL.iter().position(|&k| k == b.kind).unwrap_or(0)
            } else {
                *k
            };
            *k += 1;
            (LEFT + col as f64 * (box_w + GAP), TOP + row as f64 * ROW)
        })
        .collect();
    let widest = if l.aggregated {
        Kind::ALL.len() as f64
    } else {
        in_row.values().copied().max().unwrap_or(0) as f64
    };
    let width = (LEFT + widest * (box_w + GAP) + GAP).max(740.0);
    let height = TOP + l.levels.len() as f64 * ROW + 8.0;

    let mut o = String::new();
    let _ = writeln!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"monospace\" font-size=\"11\">"
    );
    let title = format!(
        "{}: ciphertext depth {}, {} steps",
        s.name,
        s.depth(),
        s.nodes.len()
    );
    let _ = writeln!(o, "<title>{}</title>", escape(&title));
    let _ = writeln!(o, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let _ = writeln!(
        o,
        "<text class=\"caption\" x=\"8\" y=\"18\" font-size=\"13\">{}</text>",
        escape(&title)
    );
    let note = if l.aggregated {
        format!(
            "aggregated: {} boxes, one per level and kind of step",
            l.boxes.len()
        )
    } else {
        "one box per step (hover for its origin)".to_string()
    };
    let _ = writeln!(
        o,
        "<text class=\"note\" x=\"8\" y=\"36\">{}; red: depth path, {} steps</text>",
        escape(&note),
        l.path.len()
    );
    legend(&mut o);
    bands(&mut o, &l, width);
    edges(&mut o, &l, &pos, box_w);
    levels(&mut o, s, &l, &pos, box_w);
    let _ = writeln!(o, "</svg>");
    o
}

fn legend(o: &mut String) {
    let _ = writeln!(o, "<g class=\"legend\">");
    for (i, k) in Kind::ALL.iter().enumerate() {
        let x = 8.0 + i as f64 * 100.0;
        let _ = writeln!(
            o,
            "<rect x=\"{x}\" y=\"48\" width=\"14\" height=\"14\" fill=\"{}\" stroke=\"#555\"/>\
             <text x=\"{}\" y=\"59\">{}</text>",
            fill(*k),
            x + 18.0,
            k.name()
        );
    }
    let _ = writeln!(o, "</g>");
}

fn edges(o: &mut String, l: &Layout, pos: &[(f64, f64)], box_w: f64) {
    let _ = writeln!(o, "<g class=\"edges\" fill=\"none\">");
    // Path edges last, so they are drawn over the others.
    for want_path in [false, true] {
        for (&(from, to), &(count, on_path)) in &l.edges {
            if on_path != want_path || from == to {
                continue;
            }
            let (x1, y1) = (pos[from].0 + box_w / 2.0, pos[from].1);
            let (x2, y2) = (pos[to].0 + box_w / 2.0, pos[to].1);
            let d = if (y1 - y2).abs() < 1.0 {
                // Same level: an arc above the row.
                let lift = y1 - 14.0 - (x2 - x1).abs().min(200.0) / 20.0;
                format!("M{x1:.1},{y1:.1} C{x1:.1},{lift:.1} {x2:.1},{lift:.1} {x2:.1},{y2:.1}")
            } else {
                let (y1, mid) = (y1 + BOX_H, (y1 + BOX_H + y2) / 2.0);
                format!("M{x1:.1},{y1:.1} C{x1:.1},{mid:.1} {x2:.1},{mid:.1} {x2:.1},{y2:.1}")
            };
            let w = 1.0 + (count as f64).log2().max(0.0) / 2.0;
            let (class, style) = if on_path {
                (
                    "edge path",
                    format!("stroke=\"{RED}\" stroke-width=\"{:.1}\"", w + 2.0),
                )
            } else {
                (
                    "edge",
                    format!("stroke=\"#777\" stroke-opacity=\"0.45\" stroke-width=\"{w:.1}\""),
                )
            };
            let _ = writeln!(
                o,
                "<path class=\"{class}\" data-from=\"{from}\" data-to=\"{to}\" \
                 data-count=\"{count}\" d=\"{d}\" {style}/>"
            );
        }
    }
    let _ = writeln!(o, "</g>");
}

/// Alternating background bands behind the rows, under the edges.
fn bands(o: &mut String, l: &Layout, width: f64) {
    let _ = writeln!(o, "<g class=\"bands\">");
    for row in (0..l.levels.len()).step_by(2) {
        let y = TOP + row as f64 * ROW - (ROW - BOX_H) / 2.0;
        let _ = writeln!(
            o,
            "<rect x=\"0\" y=\"{y:.0}\" width=\"{width:.0}\" height=\"{ROW:.0}\" fill=\"#f4f4f4\"/>"
        );
    }
    let _ = writeln!(o, "</g>");
}

fn levels(o: &mut String, s: &Schedule, l: &Layout, pos: &[(f64, f64)], box_w: f64) {
    let log2 = |v: f64| if v > 0.0 { v.log2() } else { 0.0 };
    for (row, &level) in l.levels.iter().enumerate() {
        let y = TOP + row as f64 * ROW;
        let scale = s.level_scales.get(level as usize).copied().unwrap_or(0.0);
        let _ = writeln!(o, "<g class=\"level\" data-level=\"{level}\">");
        let _ = writeln!(
            o,
            "<text x=\"8\" y=\"{:.0}\">level {level}</text><text x=\"8\" y=\"{:.0}\" \
             fill=\"#666\">scale 2^{:.1}</text>",
            y + 11.0,
            y + 24.0,
            log2(scale)
        );
        for (b, (bx, by)) in l.boxes.iter().zip(pos).filter(|(b, _)| b.level == level) {
            let first = b.nodes.first().copied().unwrap_or(0) as usize;
            let label = if l.aggregated {
                format!("{} ×{}", b.kind.name(), b.nodes.len())
            } else {
                s.nodes
                    .get(first)
                    .map_or(String::new(), |n| step_label(&n.instr))
            };
            let tip = match s.nodes.get(first) {
                Some(n) if !l.aggregated => format!(
                    "%{first} {} (level {}, scale 2^{:.2}) from %{} {}{}",
                    n.instr.name(),
                    n.level,
                    log2(n.scale),
                    n.origin.tensor_node,
                    n.origin.tensor_op,
                    n.origin
                        .span
                        .as_ref()
                        .map_or(String::new(), |sp| format!(" at {sp}"))
                ),
                _ => format!(
                    "{} {} step(s) at level {level}, the first %{first}",
                    b.nodes.len(),
                    b.kind.name()
                ),
            };
            let (class, stroke) = if b.on_path {
                (" path", format!("stroke=\"{RED}\" stroke-width=\"3\""))
            } else {
                ("", "stroke=\"#555\"".to_string())
            };
            let _ = writeln!(
                o,
                "<g class=\"step {}{class}\" data-kind=\"{}\" data-count=\"{}\" \
                 data-first=\"{first}\"><title>{}</title><rect x=\"{bx:.0}\" y=\"{by:.0}\" \
                 width=\"{box_w:.0}\" height=\"{BOX_H:.0}\" rx=\"4\" fill=\"{}\" {stroke}/>\
                 <text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"middle\">{}</text></g>",
                b.kind.name(),
                b.kind.name(),
                b.nodes.len(),
                escape(&tip),
                fill(b.kind),
                bx + box_w / 2.0,
                by + 17.0,
                escape(&label)
            );
        }
        let _ = writeln!(o, "</g>");
    }
}
