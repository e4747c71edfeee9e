//! The dataflow graph: a petgraph DAG of typed nodes, plus the program around it (inputs,
//! outputs) and the regions that hold loop bodies.
//!
//! Nodes are only ever appended, and every node's operands exist before it, so the node index
//! order is a topological order and numbering is deterministic. Passes build a new graph rather
//! than edit one in place: a pass that produces the same nodes in the same order produces the same
//! numbering, which keeps the text form (and its snapshots) stable.

use super::op::Op;
use super::types::{Secrecy, Type};
use crate::source::{SourceFile, Span};
use petgraph::graph::{DiGraph, NodeIndex};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub type NodeId = NodeIndex<u32>;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub op: Op,
    /// Operands, in order. Mirrored by the graph's edges (operand -> user, weight = position).
    pub args: Vec<NodeId>,
    pub ty: Type,
    pub span: Span,
    /// Which loop iteration produced the node, outermost loop first (empty outside loops); set by
    /// unrolling so that depth can be attributed to iterations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub iter: Vec<u32>,
}

impl Node {
    pub fn new(op: Op, args: Vec<NodeId>, ty: Type, span: Span) -> Node {
        Node {
            op,
            args,
            ty,
            span,
            iter: Vec::new(),
        }
    }

    /// ` (loop iteration 3, counting from 0)` for a node of an unrolled loop, else empty: for
    /// diagnostics that point at a loop body reached in one particular iteration.
    pub fn iteration_note(&self) -> String {
        match self.iter.as_slice() {
            [] => String::new(),
            iters => format!(
                " (loop iteration {}, counting from 0)",
                iters
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// An append-only DAG of nodes.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    g: DiGraph<Node, u32>,
}

impl Graph {
    pub fn len(&self) -> usize {
        self.g.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.g.node_count() == 0
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.g[id]
    }

    /// Node ids in topological (= creation) order.
    pub fn ids(&self) -> impl DoubleEndedIterator<Item = NodeId> + ExactSizeIterator {
        self.g.node_indices()
    }

    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, &Node)> {
        self.g.node_indices().map(move |i| (i, &self.g[i]))
    }

    /// Nodes that use `id` as an operand (each once, in creation order).
    pub fn users(&self, id: NodeId) -> Vec<NodeId> {
        let mut u: Vec<NodeId> = self
            .g
            .neighbors_directed(id, petgraph::Direction::Outgoing)
            .collect();
        u.sort_unstable();
        u.dedup();
        u
    }

    /// The underlying petgraph graph, for graph algorithms.
    pub fn petgraph(&self) -> &DiGraph<Node, u32> {
        &self.g
    }

    fn push(&mut self, node: Node) -> NodeId {
        let args = node.args.clone();
        let id = self.g.add_node(node);
        for (pos, a) in args.into_iter().enumerate() {
            self.g.add_edge(a, id, pos as u32);
        }
        id
    }
}

impl PartialEq for Graph {
    fn eq(&self, other: &Graph) -> bool {
        self.len() == other.len()
            && self
                .nodes()
                .zip(other.nodes())
                .all(|((_, a), (_, b))| a == b)
    }
}

impl Serialize for Graph {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let nodes: Vec<&Node> = self.g.node_weights().collect();
        nodes.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Graph {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Graph, D::Error> {
        let nodes = Vec::<Node>::deserialize(d)?;
        let mut g = Graph::default();
        for n in nodes {
            let here = g.len();
            if n.args.iter().any(|a| a.index() >= here) {
                return Err(serde::de::Error::custom(format!(
                    "node {here} uses an operand defined after it"
                )));
            }
            g.push(n);
        }
        Ok(g)
    }
}

/// A loop body: a graph whose `Param` nodes stand for the loop's arguments and whose `results`
/// are the carried variables' values at the end of an iteration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Region {
    pub graph: Graph,
    pub results: Vec<NodeId>,
}

/// A declared input: its type and the value range the user promised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputDecl {
    pub name: String,
    pub ty: Type,
    pub range: Option<(f64, f64)>,
    pub span: Span,
    /// Set when the server supplies it: a round's state input that arrives as the bootstrapped
    /// ciphertext of the previous round's output of this name ([`Program::refresh`]), not
    /// packed by the client. It comes in one packing (see `lower::layout`), so no view of it
    /// is free and no client-side product may involve it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refreshed_from: Option<String>,
    /// Set on the model's state (a round program's weights, NAG's momentum: see
    /// [`Program::mark_state`]): not data. The client only prepares data (issue 20), so no
    /// value it precomputes depends on the state, though with client rounds it holds it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub model_state: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputDecl {
    pub name: String,
    pub node: NodeId,
    pub span: Span,
    /// Whether the server refreshes it into a [`InputDecl::refreshed_from`] input of the next
    /// round: it leaves in that input's packing.
    #[serde(default, skip_serializing_if = "is_false")]
    pub refreshed: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// An input the client computes from the other inputs before encrypting (client-side
/// precomputation): `graph` computes it from `Input` nodes, its result is `node`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DerivedInput {
    pub name: String,
    /// What it is, in the source's terms, e.g. `Z[1] @ transpose(Z[0])`.
    pub description: String,
    pub graph: Graph,
    pub node: NodeId,
    /// Its degree as a polynomial in the declared inputs.
    pub degree: u32,
}

/// A whole program in the tensor IR.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Program {
    #[serde(skip)]
    pub source: SourceFile,
    /// Every input the server receives: the declared ones, then the derived ones.
    pub inputs: Vec<InputDecl>,
    pub graph: Graph,
    pub outputs: Vec<OutputDecl>,
    /// How the client computes the derived inputs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub derived: Vec<DerivedInput>,
    /// The forms the refreshed matrices come in and leave in, where rounds that must agree
    /// fix them; `None`: the lowering chooses the shallowest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refreshed_forms: Option<MatrixForms>,
}

/// The forms a refreshed matrix is carried in between rounds: its tiles as stored (direct),
/// as its transpose's, or both (where the round multiplies it from both sides, as
/// `Y @ (2I - H @ Y)` does: no encrypted transposition, the round computes both forms of its
/// output and the two share a bootstrap).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MatrixForms {
    Direct,
    Transposed,
    Both,
}

impl MatrixForms {
    /// The forms, by whether each is transposed (direct first).
    pub fn transposed(self) -> &'static [bool] {
        match self {
            MatrixForms::Direct => &[false],
            MatrixForms::Transposed => &[true],
            MatrixForms::Both => &[false, true],
        }
    }

    /// The set of the forms `transposed` flags name; `None` for none.
    pub fn of(mut transposed: impl Iterator<Item = bool>) -> Option<MatrixForms> {
        let (mut direct, mut tr) = (false, false);
        transposed
            .by_ref()
            .for_each(|t| if t { tr = true } else { direct = true });
        match (direct, tr) {
            (true, true) => Some(MatrixForms::Both),
            (true, false) => Some(MatrixForms::Direct),
            (false, true) => Some(MatrixForms::Transposed),
            (false, false) => None,
        }
    }
}

impl Program {
    /// Whether the client computes input `name` from the others.
    pub fn is_derived(&self, name: &str) -> bool {
        self.derived.iter().any(|d| d.name == name)
    }

    pub fn input(&self, name: &str) -> Option<&InputDecl> {
        self.inputs.iter().find(|i| i.name == name)
    }

    /// Whether input `name` is supplied by the server's refresh ([`InputDecl::refreshed_from`]).
    pub fn is_refreshed(&self, name: &str) -> bool {
        self.input(name).is_some_and(|i| i.refreshed_from.is_some())
    }

    /// Whether input `name` is the model's state ([`InputDecl::model_state`], or refreshed on
    /// the server).
    pub fn is_model_state(&self, name: &str) -> bool {
        self.input(name)
            .is_some_and(|i| i.model_state || i.refreshed_from.is_some())
    }

    /// Marks the inputs `names` as the model's state ([`InputDecl::model_state`]); refuses a
    /// name that is not an input.
    pub fn mark_state(&mut self, names: &[String]) -> Result<(), String> {
        for name in names {
            let decl = self
                .inputs
                .iter_mut()
                .find(|i| &i.name == name)
                .ok_or_else(|| format!("no input `{name}` holds the model's state"))?;
            decl.model_state = true;
        }
        Ok(())
    }

    /// Marks outputs the server refreshes by bootstrapping into another program's input (of
    /// the same name in [`Program::refresh`]'s pairs): pinned to the packing that input comes
    /// in. Refuses a name that is not an encrypted (non-sequence) output.
    pub fn refresh_outputs(&mut self, names: &[String]) -> Result<(), String> {
        for name in names {
            let out = self
                .outputs
                .iter()
                .position(|o| &o.name == name)
                .ok_or_else(|| format!("no output `{name}` to refresh"))?;
            let ty = self.graph.node(self.outputs[out].node).ty;
            if !refreshable(ty) {
                return Err(format!(
                    "output `{name}` cannot be refreshed on the server: only encrypted values \
                     can, not sequences (it is {ty})"
                ));
            }
            self.outputs[out].refreshed = true;
        }
        Ok(())
    }

    /// Marks state the server refreshes by bootstrapping between rounds: each `(input,
    /// output)` pair names an encrypted scalar, vector or matrix input that will hold the bootstrapped value of
    /// the output of the same shape. Both are then pinned to one packing by the lowering.
    /// Refuses names that are not such a pair (the error says which and why).
    pub fn refresh(&mut self, pairs: &[(String, String)]) -> Result<(), String> {
        for (input, output) in pairs {
            let decl = self
                .inputs
                .iter()
                .position(|i| &i.name == input)
                .ok_or_else(|| format!("no input `{input}` to refresh"))?;
            let out = self
                .outputs
                .iter()
                .position(|o| &o.name == output)
                .ok_or_else(|| format!("no output `{output}` to refresh `{input}` from"))?;
            let ty = self.inputs[decl].ty;
            let out_ty = self.graph.node(self.outputs[out].node).ty;
            if !refreshable(ty) {
                return Err(format!(
                    "input `{input}` cannot be refreshed on the server: only encrypted values \
                     can, not sequences (it is {ty})"
                ));
            }
            if out_ty.shape != ty.shape || out_ty.seq.is_some() {
                return Err(format!(
                    "output `{output}` ({out_ty}) cannot refresh input `{input}` ({ty}): \
                     the shapes differ"
                ));
            }
            self.inputs[decl].refreshed_from = Some(output.clone());
            self.outputs[out].refreshed = true;
        }
        Ok(())
    }

    /// The same program around a new top-level graph (output nodes remapped by the caller).
    pub fn with_graph(&self, graph: Graph, outputs: Vec<OutputDecl>) -> Program {
        Program {
            source: self.source.clone(),
            inputs: self.inputs.clone(),
            graph,
            outputs,
            derived: self.derived.clone(),
            refreshed_forms: self.refreshed_forms,
        }
    }
}

impl PartialEq for Program {
    fn eq(&self, other: &Program) -> bool {
        self.inputs == other.inputs
            && self.graph == other.graph
            && self.outputs == other.outputs
            && self.derived == other.derived
    }
}

/// Appends nodes to a graph, sharing identical constants and inputs so that a value referenced
/// many times is one node. With [`Builder::hash_consing`], every operation is shared: adding a
/// node equal to an existing one (same op, operands and type) returns the existing one.
#[derive(Default)]
pub struct Builder {
    graph: Graph,
    shared: HashMap<(SharedKey, Type), NodeId>,
    consing: Option<HashMap<NodeKey, NodeId>>,
}

/// What makes two nodes the same value for hash-consing: op, operands, type.
type NodeKey = (OpKey, Vec<NodeId>, Type);

/// An operation with its parameters, hashable (loops are never shared).
#[derive(PartialEq, Eq, Hash)]
struct OpKey(&'static str, u64);

impl OpKey {
    fn of(op: &Op) -> Option<OpKey> {
        let param = match op {
            Op::Const { value } => value.to_bits(),
            Op::Pow { exp } => u64::from(*exp),
            Op::Element { index } | Op::Param { index } | Op::LoopResult { index } => {
                u64::from(*index)
            }
            Op::Loop(_) | Op::Input { .. } => return None,
            _ => 0,
        };
        Some(OpKey(op.name(), param))
    }
}

#[derive(PartialEq, Eq, Hash)]
enum SharedKey {
    Const(u64),
    Input(String),
    LoopIndex,
}

impl Builder {
    pub fn new() -> Builder {
        Builder::default()
    }

    /// A builder that shares every identical operation (global value numbering as it builds).
    pub fn hash_consing() -> Builder {
        Builder {
            consing: Some(HashMap::new()),
            ..Builder::default()
        }
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn finish(self) -> Graph {
        self.graph
    }

    /// Appends `node`, or returns the existing node for a constant, input or loop index that
    /// is already there.
    pub fn add(&mut self, node: Node) -> NodeId {
        let key = match &node.op {
            // -0.0 and 0.0 are the same constant for every use the IR has.
            Op::Const { value } => {
                SharedKey::Const(if *value == 0.0 { 0 } else { value.to_bits() })
            }
            Op::Input { name } => SharedKey::Input(name.clone()),
            Op::LoopIndex => SharedKey::LoopIndex,
            _ => return self.push_consed(node),
        };
        let key = (key, node.ty);
        if let Some(&id) = self.shared.get(&key) {
            return id;
        }
        let id = self.graph.push(node);
        self.shared.insert(key, id);
        id
    }

    pub fn node(&self, id: NodeId) -> &Node {
        self.graph.node(id)
    }

    fn push_consed(&mut self, node: Node) -> NodeId {
        let Some(table) = self.consing.as_mut() else {
            return self.graph.push(node);
        };
        let Some(op) = OpKey::of(&node.op) else {
            return self.graph.push(node);
        };
        let key = (op, node.args.clone(), node.ty);
        if let Some(&id) = table.get(&key) {
            return id;
        }
        let id = self.graph.push(node);
        table.insert(key, id);
        id
    }
}

/// Whether a value of type `ty` can be refreshed by a bootstrap between rounds: an encrypted
/// scalar, vector or matrix (not a sequence: its elements are the data).
fn refreshable(ty: Type) -> bool {
    ty.seq.is_none() && ty.secrecy == Secrecy::Enc
}
