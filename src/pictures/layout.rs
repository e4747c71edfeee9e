//! What the schedule picture shows, before any drawing: boxes (one per schedule step, or one
//! per level and kind of step when there are too many steps to read), the data flow between
//! them, and the multiplicative-depth path.

use hel_runtime::schedule::{Instr, Schedule};
use std::collections::BTreeMap;

/// Above this many steps, steps are drawn aggregated by level and kind: a picture of
/// thousands of boxes is neither readable nor small.
pub const MAX_BOXES: usize = 160;
/// Above this many steps on one level, too: a row stays within a screen's width or so.
pub const MAX_BOXES_PER_LEVEL: usize = 40;

/// What a step does, for colour and aggregation: the distinctions that cost differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// An input ciphertext or a trivial (public) one.
    Input,
    /// Ciphertext-ciphertext product and its relinearization: the expensive step that
    /// consumes a level.
    Mul,
    /// Product with a plaintext or a constant.
    MulPlain,
    /// Rotation or conjugation (a key switch).
    Rotate,
    /// Rescale or modulus drop: where the level changes.
    Rescale,
    /// Additions, subtractions, negations.
    Add,
}

impl Kind {
    pub fn of(i: &Instr) -> Kind {
        match i {
            // A bootstrap starts a value afresh, like an input.
            Instr::Input { .. }
            | Instr::Trivial { .. }
            | Instr::Bootstrap { .. }
            | Instr::BootstrapPaired { .. } => Kind::Input,
            Instr::Mul { .. } | Instr::Relinearize { .. } => Kind::Mul,
            Instr::MulPlain { .. } | Instr::MulConst { .. } | Instr::MulInt { .. } => {
                Kind::MulPlain
            }
            Instr::Rotate { .. } | Instr::Conjugate { .. } => Kind::Rotate,
            Instr::Rescale { .. } | Instr::ModDown { .. } => Kind::Rescale,
            Instr::Add { .. }
            | Instr::Sub { .. }
            | Instr::Neg { .. }
            | Instr::AddPlain { .. }
            | Instr::AddConst { .. } => Kind::Add,
        }
    }

    pub const ALL: [Kind; 6] = [
        Kind::Input,
        Kind::Mul,
        Kind::MulPlain,
        Kind::Rotate,
        Kind::Rescale,
        Kind::Add,
    ];

    /// The CSS class and legend name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Input => "input",
            Kind::Mul => "mul",
            Kind::MulPlain => "mul-plain",
            Kind::Rotate => "rotate",
            Kind::Rescale => "rescale",
            Kind::Add => "add",
        }
    }
}

/// One box: a schedule step, or every step of one kind on one level.
pub struct StepBox {
    pub level: u32,
    pub kind: Kind,
    /// The schedule nodes it stands for, in order (one unless aggregated).
    pub nodes: Vec<u32>,
    /// Whether a node of the depth path is among them.
    pub on_path: bool,
}

/// The picture's content.
pub struct Layout {
    /// Levels from the top of the chain down to the lowest one a step reaches; every level in
    /// between gets a row, steps or not.
    pub levels: Vec<u32>,
    pub boxes: Vec<StepBox>,
    /// (from box, to box) -> how many operand edges it stands for, and whether one is on the
    /// depth path.
    pub edges: BTreeMap<(usize, usize), (usize, bool)>,
    pub aggregated: bool,
    /// The depth path, from an input ciphertext to the lowest step, as schedule nodes.
    pub path: Vec<u32>,
}

/// The multiplicative-depth path: the chain of steps, from an input ciphertext, that goes
/// through the most rescales (each one a level spent on a product). Counting rescales rather
/// than following the lowest level matters: the client encrypts an input that is needed late
/// at a lower level, so the lowest step's lowest operand can lead to an input that started
/// low, while the depth is spent by a chain from the top. Ties go to the lower level, then to
/// the earlier step.
pub fn depth_path(s: &Schedule) -> Vec<u32> {
    let mut spent = vec![0u32; s.nodes.len()];
    for (i, n) in s.nodes.iter().enumerate() {
        let below = n
            .instr
            .operands()
            .into_iter()
            .filter_map(|a| spent.get(a as usize).copied())
            .max()
            .unwrap_or(0);
        spent[i] = below + u32::from(matches!(n.instr, Instr::Rescale { .. }));
    }
    let key = |i: usize| (std::cmp::Reverse(spent[i]), s.nodes[i].level, i);
    let Some(end) = (0..s.nodes.len()).min_by_key(|&i| key(i)) else {
        return Vec::new();
    };
    let mut path = vec![end as u32];
    let mut cur = end;
    while let Some(next) = s.nodes[cur]
        .instr
        .operands()
        .into_iter()
        .map(|a| a as usize)
        .filter(|&a| a < cur)
        .min_by_key(|&a| key(a))
    {
        path.push(next as u32);
        cur = next;
    }
    path.reverse();
    path
}

pub fn layout(s: &Schedule) -> Layout {
    let path = depth_path(s);
    let on_path: std::collections::BTreeSet<u32> = path.iter().copied().collect();
    let top = s
        .nodes
        .iter()
        .map(|n| n.level)
        .max()
        .unwrap_or(0)
        .max(s.params.q_bits.len().saturating_sub(1) as u32);
    let low = s.nodes.iter().map(|n| n.level).min().unwrap_or(top);
    let levels: Vec<u32> = (low..=top).rev().collect();

    let mut per_level: BTreeMap<u32, usize> = BTreeMap::new();
    for n in &s.nodes {
        *per_level.entry(n.level).or_insert(0) += 1;
    }
    let aggregated =
        s.nodes.len() > MAX_BOXES || per_level.values().any(|&c| c > MAX_BOXES_PER_LEVEL);

    let mut boxes: Vec<StepBox> = Vec::new();
    let mut box_of = vec![0usize; s.nodes.len()];
    let mut group: BTreeMap<(u32, Kind), usize> = BTreeMap::new();
    for (i, n) in s.nodes.iter().enumerate() {
        let kind = Kind::of(&n.instr);
        let existing = if aggregated {
            group.get(&(n.level, kind)).copied()
        } else {
            None
        };
        let b = match existing {
            Some(b) => b,
            None => {
                boxes.push(StepBox {
                    level: n.level,
                    kind,
                    nodes: Vec::new(),
                    on_path: false,
                });
                group.insert((n.level, kind), boxes.len() - 1);
                boxes.len() - 1
            }
        };
        boxes[b].nodes.push(i as u32);
        boxes[b].on_path |= on_path.contains(&(i as u32));
        box_of[i] = b;
    }

    let mut edges: BTreeMap<(usize, usize), (usize, bool)> = BTreeMap::new();
    let path_edges: std::collections::BTreeSet<(u32, u32)> =
        path.windows(2).map(|w| (w[0], w[1])).collect();
    for (i, n) in s.nodes.iter().enumerate() {
        for a in n.instr.operands() {
            let Some(&from) = box_of.get(a as usize) else {
                continue;
            };
            let e = edges.entry((from, box_of[i])).or_insert((0, false));
            e.0 += 1;
            e.1 |= path_edges.contains(&(a, i as u32));
        }
    }
    Layout {
        levels,
        boxes,
        edges,
        aggregated,
        path,
    }
}
