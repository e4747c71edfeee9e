//! Joining round schedules into one: the state inputs of every round but the first become
//! bootstraps of the previous round's output tiles, the minibatch inputs become elements of
//! the whole program's inputs, and equal client-side tensors and ciphertexts are shared (see
//! [`super::chain`]).

use std::collections::{HashMap, HashSet};

use hel_schedule::bootstrap::{passes_through, shares_bootstrap};
use hel_schedule::{
    BootstrapParams, ClientOp, CtInput, DerivedTensor, Instr, Layout, Node, Pack, Plain, Schedule,
    Source, TensorInput, ValueId,
};

/// Joins the round schedules (`(first iteration, schedule)` in order) into one schedule over
/// `total` minibatches that bootstraps with `chain` between them (see the module comment),
/// whose outputs are the program's `outputs` (a round also outputs the rest of its state:
/// NAG's momentum, which the user's program does not). The sequence inputs named in
/// `per_iteration` have one element per iteration (a round's element j is the program's
/// start + j); the other inputs are the same in every round.
pub fn join(
    rounds: &[(usize, &Schedule)],
    total: usize,
    chain: &BootstrapParams,
    outputs: &[&str],
    per_iteration: &HashSet<String>,
) -> Result<Schedule, String> {
    let (_, first) = rounds.first().ok_or("no round")?;
    // The parameters: the round with the most levels (the others' primes are its bottom).
    let (_, deepest) = rounds
        .iter()
        .max_by_key(|(_, s)| s.params.q_bits.len())
        .ok_or("no round")?;
    for (_, s) in rounds {
        let p = &s.params;
        if s.unit != first.unit
            || p.log_n != deepest.params.log_n
            || p.log_scale != deepest.params.log_scale
            || !deepest.params.q_bits.starts_with(&p.q_bits)
            || !deepest.level_scales.starts_with(&s.level_scales)
        {
            return Err("the rounds do not share one grid and one chain".into());
        }
    }
    // The whole program's inputs: the rounds' own, without the state, sequences at full length.
    let inputs: Vec<TensorInput> = first
        .inputs
        .iter()
        .filter(|i| i.refreshed_from.is_none())
        .map(|i| TensorInput {
            seq: i.seq.map(|n| {
                if per_iteration.contains(&i.name) {
                    total
                } else {
                    n
                }
            }),
            ..i.clone()
        })
        .collect();
    let mut out = Schedule {
        name: String::new(),
        program_hash: String::new(),
        params: deepest.params.clone(),
        level_scales: deepest.level_scales.clone(),
        unit: first.unit,
        inputs,
        derived: Vec::new(),
        ct_inputs: Vec::new(),
        nodes: Vec::new(),
        outputs: Vec::new(),
        rotation_steps: Vec::new(),
        needs_conjugation: false,
        hoist_groups: Vec::new(),
        bootstrap: Some(chain.clone()),
    };
    // Each round's state output tiles, by (output name, layout): the merged value.
    let mut leaving: Vec<(String, hel_schedule::Layout, ValueId, f64)> = Vec::new();
    for (r, &(start, s)) in rounds.iter().enumerate() {
        // The round's state, made first: zeros for the first round, else the bootstraps of
        // the previous round's state tiles (two to a bootstrap where they can share one).
        let state = state_nodes(&mut out, s, r, &leaving, chain.program_levels)?;
        let mut joiner = Joiner::new(&mut out, s, start, r, per_iteration);
        let mut map: Vec<ValueId> = Vec::with_capacity(s.nodes.len());
        for node in &s.nodes {
            let m = |a: ValueId| map.get(a as usize).copied().ok_or("a dangling operand");
            let instr = match &node.instr {
                Instr::Input { index } if s.is_refreshed_ct(*index as usize) => {
                    let v = state
                        .get(index)
                        .copied()
                        .ok_or("a state input without its node")?;
                    map.push(v);
                    continue;
                }
                Instr::Input { index } => Instr::Input {
                    index: joiner.ct_input(*index)?,
                },
                other => {
                    let mut instr = other.clone();
                    remap_operands(&mut instr, &m)?;
                    if let Instr::AddPlain { plain, .. }
                    | Instr::MulPlain { plain, .. }
                    | Instr::Trivial { plain, .. } = &mut instr
                    {
                        if let Plain::Public { pack } = plain {
                            pack.source = joiner.source(pack.source)?;
                        }
                    }
                    instr
                }
            };
            let id = joiner.out.nodes.len() as ValueId;
            joiner.out.nodes.push(Node {
                instr,
                last_use: None,
                ..node.clone()
            });
            map.push(id);
        }
        let m = |a: ValueId| map.get(a as usize).copied().ok_or("a dangling output");
        out.hoist_groups.extend(
            s.hoist_groups
                .iter()
                .map(|g| g.iter().map(|&v| m(v)).collect::<Result<Vec<_>, _>>())
                .collect::<Result<Vec<_>, _>>()?,
        );
        out.rotation_steps.extend(&s.rotation_steps);
        out.needs_conjugation |= s.needs_conjugation;
        leaving.clear();
        for o in &s.outputs {
            for t in &o.tiles {
                leaving.push((o.name.clone(), t.layout, m(t.value)?, t.factor));
            }
        }
        if r + 1 == rounds.len() {
            out.outputs = outputs
                .iter()
                .map(|name| {
                    s.outputs
                        .iter()
                        .find(|o| o.name == *name)
                        .ok_or_else(|| format!("the last round has no output `{name}`"))
                })
                .collect::<Result<Vec<_>, String>>()?
                .into_iter()
                .map(|o| {
                    let mut o = o.clone();
                    // A matrix the rounds carry in both forms leaves the server in one.
                    let first = o.tiles.first().map(|t| t.layout);
                    if let Some(Layout::MatrixTile { transposed, .. }) = first {
                        o.tiles.retain(|t| {
                            matches!(t.layout, Layout::MatrixTile { transposed: x, .. } if x == transposed)
                        });
                    }
                    for t in &mut o.tiles {
                        t.value = m(t.value)?;
                    }
                    Ok(o)
                })
                .collect::<Result<Vec<_>, &str>>()?;
        }
    }
    out.rotation_steps.sort_unstable();
    out.rotation_steps.dedup();
    out.compute_liveness();
    Ok(out)
}

/// The nodes that start round `r`'s state (schedule `s`), appended to `out`: by input
/// ciphertext, its value. The first round's state is `zeros(n)`, a noiseless ciphertext of
/// zeros; a later round's is the bootstrap of the previous round's output tile of the same
/// packing (`leaving`), landing on the level and scale the round's input expects, or that
/// tile itself where it already is there ([`passes_through`]: a value the round does not
/// change). Two tiles
/// in a row share one bootstrap where [`shares_bootstrap`] allows (NAG's weights and
/// momentum: one bootstrap per refresh), `top` being the level a bootstrap leaves.
fn state_nodes(
    out: &mut Schedule,
    s: &Schedule,
    r: usize,
    leaving: &[(String, hel_schedule::Layout, ValueId, f64)],
    top: usize,
) -> Result<HashMap<u32, ValueId>, String> {
    struct Job {
        index: u32,
        /// The previous round's tile and the scale it leaves at.
        value: ValueId,
        leaves: f64,
        level: u32,
        scale: f64,
        origin: hel_schedule::Origin,
    }
    let mut jobs = Vec::new();
    let mut passed = HashMap::new();
    for (i, ct) in s.ct_inputs.iter().enumerate() {
        if !s.is_refreshed_ct(i) {
            continue;
        }
        let from = match ct.pack.source {
            Source::Input { input, .. } => s.inputs[input as usize]
                .refreshed_from
                .clone()
                .ok_or("a refreshed input without its output")?,
            Source::Derived { .. } => return Err("a derived state input".into()),
        };
        let origin = s
            .nodes
            .iter()
            .find(|n| matches!(n.instr, Instr::Input { index } if index as usize == i))
            .map(|n| n.origin.clone())
            .unwrap_or_default();
        let (value, leaves) = if r == 0 {
            (0, 0.0)
        } else {
            let (.., value, factor) = leaving
                .iter()
                .find(|(n, l, ..)| *n == from && *l == ct.pack.layout)
                .ok_or_else(|| {
                    format!(
                        "round {r} leaves no tile of `{from}` in the packing round {} takes",
                        r + 1
                    )
                })?;
            if *factor != 1.0 || ct.pack.factor != 1.0 {
                return Err(format!("`{from}` crosses the rounds with a factor"));
            }
            let node = out.nodes[*value as usize].clone();
            if passes_through(
                (node.level as usize, node.scale),
                (ct.level as usize, ct.scale),
            ) {
                // A value the round hands on unchanged: no bootstrap, at most primes dropped.
                let v = if node.level == ct.level {
                    *value
                } else {
                    let id = out.nodes.len() as ValueId;
                    out.nodes.push(Node {
                        instr: Instr::ModDown {
                            a: *value,
                            level: ct.level,
                        },
                        level: ct.level,
                        last_use: None,
                        ..node.clone()
                    });
                    id
                };
                passed.insert(i as u32, v);
                continue;
            }
            (*value, node.scale)
        };
        jobs.push(Job {
            index: i as u32,
            value,
            leaves,
            level: ct.level,
            scale: ct.scale,
            origin,
        });
    }
    let mut state = passed;
    let mut push = |out: &mut Schedule, instr: Instr, job: &Job| {
        let id = out.nodes.len() as ValueId;
        out.nodes.push(Node {
            instr,
            level: job.level,
            scale: job.scale,
            degree: 1,
            bound: 0.0,
            origin: job.origin.clone(),
            last_use: None,
        });
        state.insert(job.index, id);
        id
    };
    let mut k = 0;
    while k < jobs.len() {
        let a = &jobs[k];
        if r == 0 {
            let zeros = Instr::Trivial {
                plain: Plain::Rect {
                    value: 0.0,
                    rows: (0, s.unit.h as u32),
                    cols: (0, s.unit.w as u32),
                },
                level: a.level,
                scale: a.scale,
            };
            push(out, zeros, a);
            k += 1;
            continue;
        }
        let pair = jobs.get(k + 1).filter(|b| {
            shares_bootstrap(
                (a.leaves, a.scale),
                (b.leaves, b.level as usize, b.scale),
                top,
            )
        });
        let x = push(
            out,
            Instr::Bootstrap {
                a: a.value,
                level: a.level,
                scale: a.scale,
                with: pair.map(|b| b.value),
            },
            a,
        );
        if let Some(b) = pair {
            let paired = Instr::BootstrapPaired {
                x,
                b: b.value,
                level: b.level,
                scale: b.scale,
            };
            push(out, paired, b);
            k += 2;
        } else {
            k += 1;
        }
    }
    Ok(state)
}

/// Maps every operand of `instr` through `m`.
fn remap_operands(
    instr: &mut Instr,
    m: &impl Fn(ValueId) -> Result<ValueId, &'static str>,
) -> Result<(), &'static str> {
    for a in instr.operands_mut() {
        *a = m(*a)?;
    }
    Ok(())
}

/// Moves one round's client side (derived tensors, input ciphertexts) into the joined
/// schedule: its user inputs are the whole program's, its minibatch indices shifted by the
/// round's start; equal derived tensors and ciphertexts are shared.
struct Joiner<'o, 's> {
    out: &'o mut Schedule,
    round: &'s Schedule,
    start: usize,
    r: usize,
    /// The round's derived tensor index -> the joined one.
    derived: HashMap<u32, u32>,
    per_iteration: &'s HashSet<String>,
}

impl<'o, 's> Joiner<'o, 's> {
    fn new(
        out: &'o mut Schedule,
        round: &'s Schedule,
        start: usize,
        r: usize,
        per_iteration: &'s HashSet<String>,
    ) -> Self {
        Joiner {
            out,
            round,
            start,
            r,
            derived: HashMap::new(),
            per_iteration,
        }
    }

    /// The joined user input and element of the round's input `input`, element `element`.
    fn input(&self, input: u32, element: u32) -> Result<(u32, u32), String> {
        let decl = self
            .round
            .inputs
            .get(input as usize)
            .ok_or("a missing input")?;
        let j = self
            .out
            .inputs
            .iter()
            .position(|i| i.name == decl.name)
            .ok_or_else(|| format!("input `{}` is not the program's", decl.name))?;
        let element = if decl.seq.is_some() && self.per_iteration.contains(&decl.name) {
            element as usize + self.start
        } else {
            element as usize
        };
        Ok((j as u32, element as u32))
    }

    fn source(&mut self, s: Source) -> Result<Source, String> {
        Ok(match s {
            Source::Input { input, element } => {
                let (input, element) = self.input(input, element)?;
                Source::Input { input, element }
            }
            Source::Derived { index } => Source::Derived {
                index: self.derived(index)?,
            },
        })
    }

    fn derived(&mut self, index: u32) -> Result<u32, String> {
        if let Some(&j) = self.derived.get(&index) {
            return Ok(j);
        }
        let d = self
            .round
            .derived
            .get(index as usize)
            .ok_or("a missing derived tensor")?;
        let ops = d
            .ops
            .iter()
            .map(|op| match op {
                ClientOp::Input { input, element } => {
                    let (input, element) = self.input(*input, *element)?;
                    Ok(ClientOp::Input { input, element })
                }
                other => Ok(other.clone()),
            })
            .collect::<Result<Vec<_>, String>>()?;
        let j = match self
            .out
            .derived
            .iter()
            .position(|e| e.ops == ops && e.shape == d.shape)
        {
            Some(j) => j,
            None => {
                let (name, description) = if self.r == 0 {
                    (d.name.clone(), d.description.clone())
                } else {
                    (
                        format!("{}@{}", d.name, self.start),
                        format!(
                            "{} (round {}: minibatch indices from {})",
                            d.description,
                            self.r + 1,
                            self.start
                        ),
                    )
                };
                self.out.derived.push(DerivedTensor {
                    name,
                    description,
                    shape: d.shape,
                    ops,
                });
                self.out.derived.len() - 1
            }
        } as u32;
        self.derived.insert(index, j);
        Ok(j)
    }

    /// The joined input ciphertext of the round's `index` (shared with an equal one).
    fn ct_input(&mut self, index: u32) -> Result<u32, String> {
        let ct = self
            .round
            .ct_inputs
            .get(index as usize)
            .ok_or("a missing input ciphertext")?;
        let moved = CtInput {
            pack: Pack {
                source: self.source(ct.pack.source)?,
                ..ct.pack
            },
            ..ct.clone()
        };
        let j = match self.out.ct_inputs.iter().position(|c| *c == moved) {
            Some(j) => j,
            None => {
                self.out.ct_inputs.push(moved);
                self.out.ct_inputs.len() - 1
            }
        };
        Ok(j as u32)
    }
}
