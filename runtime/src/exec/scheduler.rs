//! The DAG scheduler: dependency counting on a rayon pool, critical-path priorities, and
//! freeing values as soon as their last consumer has finished.
//!
//! Work is split into *tasks*: a single node, or a hoisting group (rotations of one operand
//! evaluated together). A task becomes ready when the tasks producing its operands have
//! finished; ready tasks wait in a priority queue ordered by the estimated time of the longest
//! path from the task to a sink (computed once from the [`CostTable`]), so the chain that bounds
//! the run's length starts first and short side branches fill the gaps.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::{exec_level, Evaluator, ExecError, RunOptions, RunResult, RunStats};
use crate::schedule::cost::CostTable;
use crate::schedule::{Instr, Node, Schedule, ValueId};

/// Node(s) evaluated as one unit.
struct Task {
    /// One node, or the members of a hoisting group (ascending).
    nodes: Vec<ValueId>,
    /// Distinct values the task reads.
    reads: Vec<ValueId>,
}

/// Everything derived from the schedule before running.
struct Plan {
    /// Ordered by smallest node id. Every dependency of a task has a smaller index: a task
    /// reads values smaller than its smallest node, and the task producing such a value has a
    /// smallest node no larger than it.
    tasks: Vec<Task>,
    /// Tasks to notify when a task finishes.
    dependents: Vec<Vec<usize>>,
    /// Number of distinct producer tasks per task.
    deps: Vec<usize>,
    /// Number of tasks reading each value.
    consumers: Vec<usize>,
    is_output: Vec<bool>,
    /// Estimated seconds of the longest path from the task (itself included) to a sink.
    priority: Vec<f64>,
}

impl Plan {
    /// The plan with priorities from `table`'s single-thread operation times.
    fn new(schedule: &Schedule, table: &CostTable) -> Result<Plan, ExecError> {
        let log_n = schedule.params.log_n;
        Plan::with_durations(schedule, |members| {
            task_seconds(table, log_n, &schedule.nodes, members)
        })
    }

    /// The plan with priorities from `duration(task's nodes)` seconds per task.
    fn with_durations(
        schedule: &Schedule,
        duration: impl Fn(&[ValueId]) -> f64,
    ) -> Result<Plan, ExecError> {
        let nodes = &schedule.nodes;
        let n = nodes.len();
        for (i, node) in nodes.iter().enumerate() {
            if let Some(a) = node.instr.operands().iter().find(|a| **a as usize >= i) {
                return Err(ExecError::Invalid(format!(
                    "node {i} reads node {a}, which is not defined before it"
                )));
            }
        }
        let group_of = hoist_groups(schedule)?;
        let mut tasks: Vec<Task> = Vec::with_capacity(n);
        let mut task_of = vec![usize::MAX; n];
        for i in 0..n {
            if task_of[i] != usize::MAX {
                continue;
            }
            let members = match group_of[i] {
                Some(g) => {
                    let mut m = schedule.hoist_groups[g].clone();
                    m.sort_unstable();
                    m
                }
                None => vec![i as ValueId],
            };
            let mut reads: Vec<ValueId> = members
                .iter()
                .flat_map(|m| nodes[*m as usize].instr.operands())
                .collect();
            reads.sort_unstable();
            reads.dedup();
            for m in &members {
                task_of[*m as usize] = tasks.len();
            }
            tasks.push(Task {
                nodes: members,
                reads,
            });
        }
        let mut dependents = vec![Vec::new(); tasks.len()];
        let mut deps = vec![0; tasks.len()];
        let mut consumers = vec![0; n];
        for (t, task) in tasks.iter().enumerate() {
            let mut producers: Vec<usize> =
                task.reads.iter().map(|v| task_of[*v as usize]).collect();
            producers.sort_unstable();
            producers.dedup();
            deps[t] = producers.len();
            for p in producers {
                dependents[p].push(t);
            }
            for v in &task.reads {
                consumers[*v as usize] += 1;
            }
        }
        let mut is_output = vec![false; n];
        for v in schedule.output_values() {
            *is_output.get_mut(v as usize).ok_or_else(|| {
                ExecError::Invalid(format!("an output reads node {v}, which does not exist"))
            })? = true;
        }
        let mut priority = vec![0.0; tasks.len()];
        for t in (0..tasks.len()).rev() {
            let own = duration(&tasks[t].nodes);
            let next = dependents[t]
                .iter()
                .map(|d| priority[*d])
                .fold(0.0, f64::max);
            priority[t] = own + next;
        }
        Ok(Plan {
            tasks,
            dependents,
            deps,
            consumers,
            is_output,
            priority,
        })
    }
}

/// Validates [`Schedule::hoist_groups`] and maps each grouped node to its group. A group must
/// consist of distinct `Rotate` nodes reading one operand, and a node belongs to at most one
/// group (in any order); one-node groups are ignored.
fn hoist_groups(schedule: &Schedule) -> Result<Vec<Option<usize>>, ExecError> {
    let mut group_of = vec![None; schedule.nodes.len()];
    for (g, group) in schedule.hoist_groups.iter().enumerate() {
        if group.len() < 2 {
            continue;
        }
        let mut operand = None;
        for &m in group {
            let bad = |why: &str| ExecError::Invalid(format!("hoisting group {g}: node {m} {why}"));
            let node = schedule
                .nodes
                .get(m as usize)
                .ok_or_else(|| bad("does not exist"))?;
            let Instr::Rotate { a, .. } = node.instr else {
                return Err(bad("is not a rotation"));
            };
            if *operand.get_or_insert(a) != a {
                return Err(bad("rotates another value than the rest of its group"));
            }
            if group_of[m as usize].replace(g).is_some() {
                return Err(bad("appears twice"));
            }
        }
    }
    Ok(group_of)
}

/// Estimated single-thread seconds of one task.
fn task_seconds(table: &CostTable, log_n: u32, nodes: &[Node], members: &[ValueId]) -> f64 {
    let Some(first) = members.first().and_then(|m| nodes.get(*m as usize)) else {
        return 0.0;
    };
    let limbs = exec_level(nodes, first) as usize + 1;
    let t = if members.len() > 1 {
        table.rotations_seconds(log_n, limbs, members.len()).0
    } else {
        table.seconds(log_n, first.instr.name(), limbs)
    };
    if t.is_finite() && t > 0.0 {
        t
    } else {
        0.0
    }
}

/// Estimated single-thread seconds of the schedule's longest dependency chain (hoisting groups
/// counted as one step), from `table`.
pub fn critical_path_seconds(schedule: &Schedule, table: &CostTable) -> Result<f64, ExecError> {
    let plan = Plan::new(schedule, table)?;
    Ok(plan.priority.iter().copied().fold(0.0, f64::max))
}

/// Estimated seconds of the schedule on each count of `workers` workers that each run one task
/// at a time, with single-thread task times from `table`: a greedy list schedule that, like
/// [`execute`], starts the ready task of longest remaining path first.
///
/// This projects the run to machines wider than the one at hand. It leaves out what [`execute`]
/// adds on a few cores (a lone task's limbs split among idle threads) and what it loses on
/// many (memory bandwidth shared by all workers), so it is a projection of task parallelism,
/// not a prediction of wall-clock time; it is never below the critical path, nor below the
/// work divided by `workers`.
pub fn list_schedule_seconds(
    schedule: &Schedule,
    table: &CostTable,
    workers: &[usize],
) -> Result<Vec<(usize, f64)>, ExecError> {
    let plan = Plan::new(schedule, table)?;
    let log_n = schedule.params.log_n;
    let seconds: Vec<f64> = plan
        .tasks
        .iter()
        .map(|t| task_seconds(table, log_n, &schedule.nodes, &t.nodes))
        .collect();
    Ok(list_schedules(&plan, &seconds, workers))
}

/// [`list_schedule_seconds`] with the task times a run measured ([`RunStats::node_seconds`]),
/// for each worker count of `workers`: a trace of a one-thread run replayed on wider machines.
/// (The times of a run on several threads include limbs of lone operations spread over idle
/// threads, so they are not single-thread times.)
pub fn list_schedule_measured(
    schedule: &Schedule,
    node_seconds: &[f64],
    workers: &[usize],
) -> Result<Vec<(usize, f64)>, ExecError> {
    if node_seconds.len() != schedule.nodes.len() {
        return Err(ExecError::Invalid(format!(
            "{} measured node times for a schedule of {} nodes",
            node_seconds.len(),
            schedule.nodes.len()
        )));
    }
    let duration =
        |members: &[ValueId]| -> f64 { members.iter().map(|m| node_seconds[*m as usize]).sum() };
    let plan = Plan::with_durations(schedule, duration)?;
    let seconds: Vec<f64> = plan.tasks.iter().map(|t| duration(&t.nodes)).collect();
    Ok(list_schedules(&plan, &seconds, workers))
}

/// [`list_schedule`] at each worker count, on one plan.
fn list_schedules(plan: &Plan, seconds: &[f64], workers: &[usize]) -> Vec<(usize, f64)> {
    workers
        .iter()
        .map(|&w| (w, list_schedule(plan, seconds, w)))
        .collect()
}

/// The greedy list schedule of `plan`'s tasks (`seconds` each) on `workers` one-task workers,
/// longest remaining path first: its length in seconds.
fn list_schedule(plan: &Plan, seconds: &[f64], workers: usize) -> f64 {
    let ready_task = |t: usize| Ready {
        priority: plan.priority[t].to_bits(),
        task: Reverse(t),
    };
    let mut deps = plan.deps.clone();
    let mut ready: BinaryHeap<Ready> = (0..plan.tasks.len())
        .filter(|&t| deps[t] == 0)
        .map(ready_task)
        .collect();
    // Running tasks by finish time (bits of a non-negative f64), earliest first.
    let mut running: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    let mut now = 0.0f64;
    loop {
        while running.len() < workers.max(1) {
            let Some(r) = ready.pop() else { break };
            let t = r.task.0;
            running.push(Reverse(((now + seconds[t]).to_bits(), t)));
        }
        let Some(Reverse((finish, t))) = running.pop() else {
            break;
        };
        now = f64::from_bits(finish);
        for &d in &plan.dependents[t] {
            deps[d] -= 1;
            if deps[d] == 0 {
                ready.push(ready_task(d));
            }
        }
    }
    now
}

/// A value and the bytes it was accounted with.
struct Slot<V> {
    value: Arc<V>,
    bytes: usize,
}

/// A ready task in the critical-path queue: highest priority first, then lowest index.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Ready {
    /// Bits of a non-negative f64, which order like the numbers.
    priority: u64,
    task: Reverse<usize>,
}

/// A ready task in the memory queue: the most values freed minus produced first (as known
/// when it became ready), then the critical path.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct ReadyMem {
    net_freed: isize,
    by_path: Ready,
}

/// The ready tasks, in two orders. A task popped from one queue stays in the other until it
/// surfaces there and is skipped.
#[derive(Default)]
struct ReadyQueues {
    by_path: BinaryHeap<Ready>,
    by_memory: BinaryHeap<ReadyMem>,
    taken: Vec<bool>,
}

impl ReadyQueues {
    fn pop(&mut self, memory_first: bool) -> Option<usize> {
        loop {
            let t = if memory_first {
                self.by_memory.pop()?.by_path.task.0
            } else {
                self.by_path.pop()?.task.0
            };
            if !std::mem::replace(&mut self.taken[t], true) {
                return Some(t);
            }
        }
    }
}

struct Shared<'a, E: Evaluator> {
    schedule: &'a Schedule,
    evaluator: &'a E,
    plan: &'a Plan,
    values: Vec<Mutex<Option<Slot<E::Value>>>>,
    /// Unfinished producer tasks, per task.
    pending: Vec<AtomicUsize>,
    /// Unfinished consumer tasks, per value.
    readers: Vec<AtomicUsize>,
    ready: Mutex<ReadyQueues>,
    /// Above this many live bytes, tasks that free values go first.
    memory_limit: Option<usize>,
    live: AtomicUsize,
    peak: AtomicUsize,
    failed: AtomicBool,
    error: Mutex<Option<ExecError>>,
    done: AtomicUsize,
    op_seconds: Mutex<BTreeMap<String, f64>>,
    /// Evaluator seconds per node (bits of an f64; a hoisting group's split evenly).
    node_seconds: Vec<AtomicU64>,
    hoisted: AtomicUsize,
    progress: Option<&'a (dyn Fn(usize, usize) + Sync)>,
}

/// Locks a mutex; a poisoned lock (a panicking evaluator) still holds consistent data here,
/// and the panic itself propagates out of the scope.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<E: Evaluator> Shared<'_, E> {
    fn push_ready(&self, t: usize) {
        let by_path = || Ready {
            priority: self.plan.priority[t].to_bits(),
            task: Reverse(t),
        };
        let mut ready = lock(&self.ready);
        ready.by_path.push(by_path());
        if self.memory_limit.is_some() {
            // Values this task would free if it ran now (it is their only unfinished reader).
            let task = &self.plan.tasks[t];
            let freed = task
                .reads
                .iter()
                .filter(|v| {
                    !self.plan.is_output[**v as usize]
                        && self.readers[**v as usize].load(Ordering::Acquire) == 1
                })
                .count();
            ready.by_memory.push(ReadyMem {
                net_freed: freed as isize - task.nodes.len() as isize,
                by_path: by_path(),
            });
        }
    }

    /// The next task to run: by critical path, or by memory freed while over the limit.
    fn pop_ready(&self) -> Option<usize> {
        let pressure = self
            .memory_limit
            .is_some_and(|limit| self.live.load(Ordering::Acquire) >= limit);
        lock(&self.ready).pop(pressure)
    }

    fn get(&self, v: ValueId) -> Result<Arc<E::Value>, ExecError> {
        lock(&self.values[v as usize])
            .as_ref()
            .map(|s| s.value.clone())
            .ok_or_else(|| ExecError::Invalid(format!("value {v} was freed before it was read")))
    }

    /// Takes value `v` out of its slot when the task about to run is its last reader, it is
    /// not an output and it is read once by the node (`operands`), so the evaluator can reuse
    /// it. Returns it with the bytes it is accounted with: they stay in the live count until
    /// the result is stored (an evaluator that does not reuse it holds both meanwhile).
    fn take_last(&self, v: ValueId, operands: &[ValueId]) -> Option<(E::Value, usize)> {
        let vi = v as usize;
        if self.plan.is_output[vi]
            || self.readers[vi].load(Ordering::Acquire) != 1
            || operands.iter().filter(|&&a| a == v).count() != 1
        {
            return None;
        }
        let mut slot = lock(&self.values[vi]);
        let Slot { value, bytes } = slot.take()?;
        match Arc::try_unwrap(value) {
            Ok(value) => Some((value, bytes)),
            // Still shared (cannot happen for the last reader): leave it for `get`.
            Err(value) => {
                *slot = Some(Slot { value, bytes });
                None
            }
        }
    }

    fn free(&self, v: ValueId) {
        if let Some(slot) = lock(&self.values[v as usize]).take() {
            self.live.fetch_sub(slot.bytes, Ordering::AcqRel);
        }
    }

    fn run_task(&self, t: usize) -> Result<(), ExecError> {
        let task = &self.plan.tasks[t];
        let nodes = &self.schedule.nodes;
        let start = Instant::now();
        // Bytes of an operand the evaluator consumed: no longer in its slot.
        let mut consumed_bytes = 0;
        let results = if let [id] = task.nodes[..] {
            let node = &nodes[id as usize];
            let operands = node.instr.operands();
            let owned = operands.first().and_then(|&a| self.take_last(a, &operands));
            let skip = usize::from(owned.is_some());
            consumed_bytes = owned.as_ref().map_or(0, |o| o.1);
            let args = operands[skip..]
                .iter()
                .map(|a| self.get(*a))
                .collect::<Result<Vec<_>, _>>()?;
            let refs: Vec<&E::Value> = args.iter().map(|a| a.as_ref()).collect();
            vec![match owned {
                Some((first, _)) => self.evaluator.eval_consuming(id, node, first, &refs)?,
                None => self.evaluator.eval(id, node, &refs)?,
            }]
        } else {
            let group: Vec<(ValueId, &Node)> = task
                .nodes
                .iter()
                .map(|m| (*m, &nodes[*m as usize]))
                .collect();
            let operand = match task.reads[..] {
                [a] => self.get(a)?,
                _ => {
                    return Err(ExecError::Invalid(format!(
                        "hoisting group at node {} reads several values",
                        task.nodes[0]
                    )))
                }
            };
            self.hoisted.fetch_add(1, Ordering::Relaxed);
            self.evaluator.eval_hoisted(&group, &operand)?
        };
        let elapsed = start.elapsed().as_secs_f64();
        if results.len() != task.nodes.len() {
            return Err(ExecError::Invalid(format!(
                "the evaluator returned {} values for {} nodes at node {}",
                results.len(),
                task.nodes.len(),
                task.nodes[0]
            )));
        }
        {
            let share = elapsed / task.nodes.len() as f64;
            let mut times = lock(&self.op_seconds);
            for id in &task.nodes {
                self.node_seconds[*id as usize].store(share.to_bits(), Ordering::Release);
                *times
                    .entry(nodes[*id as usize].instr.name().to_string())
                    .or_default() += share;
            }
        }
        // Results are stored before the operands are freed: for a moment both exist, and
        // the peak must see that.
        for (id, value) in task.nodes.iter().zip(results) {
            let bytes = self.evaluator.value_bytes(&value);
            let now = self.live.fetch_add(bytes, Ordering::AcqRel) + bytes;
            self.peak.fetch_max(now, Ordering::AcqRel);
            *lock(&self.values[*id as usize]) = Some(Slot {
                value: Arc::new(value),
                bytes,
            });
            if self.plan.consumers[*id as usize] == 0 && !self.plan.is_output[*id as usize] {
                self.free(*id);
            }
        }
        self.live.fetch_sub(consumed_bytes, Ordering::AcqRel);
        for v in &task.reads {
            let before = self.readers[*v as usize].fetch_sub(1, Ordering::AcqRel);
            if before == 1 && !self.plan.is_output[*v as usize] {
                self.free(*v);
            }
        }
        let done = self.done.fetch_add(task.nodes.len(), Ordering::AcqRel) + task.nodes.len();
        if let Some(progress) = self.progress {
            progress(done, nodes.len());
        }
        Ok(())
    }

    fn fail(&self, e: ExecError) {
        let mut slot = lock(&self.error);
        if slot.is_none() {
            *slot = Some(e);
        }
        self.failed.store(true, Ordering::Release);
    }
}

/// One unit of rayon work: runs the best ready task (not necessarily the one whose readiness
/// spawned this job) and spawns one job per task it makes ready. Jobs and queue entries are
/// created in pairs, so every ready task is eventually taken.
fn job<'s, E: Evaluator>(scope: &rayon::Scope<'s>, shared: &'s Shared<'s, E>) {
    if shared.failed.load(Ordering::Acquire) {
        return;
    }
    let Some(t) = shared.pop_ready() else {
        return;
    };
    if let Err(e) = shared.run_task(t) {
        shared.fail(e);
        return;
    }
    for &d in &shared.plan.dependents[t] {
        if shared.pending[d].fetch_sub(1, Ordering::AcqRel) == 1 {
            shared.push_ready(d);
            scope.spawn(move |s| job(s, shared));
        }
    }
}

/// Runs `schedule` with `evaluator` and returns the output values.
///
/// A node runs as soon as its operands exist (dependency counting, no per-level barrier);
/// among ready nodes the one with the longest estimated path to a sink goes first — unless
/// [`RunOptions::memory_limit`] is set and the live values exceed it: then the node that frees
/// the most values goes first (the critical-path order can keep many wide intermediate results
/// alive, e.g. all rotations of a vector before any of them is consumed). Each value
/// is freed when the last node reading it has finished — counted per value at run time rather
/// than taken from [`Node::last_use`], because with several threads the topologically last
/// reader is not necessarily the last to finish. Output values are kept.
///
/// Threads: the run happens in a dedicated rayon pool of `options.threads` threads. Each task
/// is a rayon job, and the CKKS operations' own parallelism over RNS limbs (`par_iter`,
/// `join`) lands in the same pool, because rayon's parallel calls use the pool of the thread
/// they are made from. A thread waiting inside an operation's parallel section steals other
/// pending work, so at most `threads` threads are ever busy (no oversubscription): with many
/// ready nodes the threads run nodes side by side, with one ready node they share its limbs.
/// Consequently the per-operation times in [`RunStats::op_seconds`] are approximate when
/// `threads > 1` (they can include stolen work).
pub fn execute<E: Evaluator>(
    schedule: &Schedule,
    evaluator: &E,
    options: &RunOptions,
) -> Result<RunResult<E::Value>, ExecError> {
    let table = CostTable::default();
    let plan = Plan::new(schedule, &table)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.thread_count())
        .thread_name(|i| format!("hel-exec-{i}"))
        // A thread waiting inside an operation's parallel section may run whole other nodes
        // on top of its stack (work stealing), so nesting can get deeper than in plain rayon
        // code: room for it, in virtual memory only.
        .stack_size(16 << 20)
        .build()
        .map_err(|e| ExecError::ThreadPool(e.to_string()))?;
    let n = schedule.nodes.len();
    let shared = Shared {
        schedule,
        evaluator,
        plan: &plan,
        values: (0..n).map(|_| Mutex::new(None)).collect(),
        pending: plan.deps.iter().map(|d| AtomicUsize::new(*d)).collect(),
        readers: plan
            .consumers
            .iter()
            .map(|c| AtomicUsize::new(*c))
            .collect(),
        ready: Mutex::new(ReadyQueues {
            taken: vec![false; plan.tasks.len()],
            ..ReadyQueues::default()
        }),
        memory_limit: options.memory_limit,
        live: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
        failed: AtomicBool::new(false),
        error: Mutex::new(None),
        done: AtomicUsize::new(0),
        op_seconds: Mutex::new(BTreeMap::new()),
        node_seconds: (0..n).map(|_| AtomicU64::new(0)).collect(),
        hoisted: AtomicUsize::new(0),
        progress: options.progress,
    };
    let start = Instant::now();
    pool.install(|| {
        rayon::scope(|s| {
            let shared = &shared;
            for (t, d) in plan.deps.iter().enumerate() {
                if *d == 0 {
                    shared.push_ready(t);
                    s.spawn(move |s| job(s, shared));
                }
            }
        })
    });
    let seconds = start.elapsed().as_secs_f64();
    if let Some(e) = lock(&shared.error).take() {
        return Err(e);
    }
    let done = shared.done.load(Ordering::Acquire);
    if done != n {
        return Err(ExecError::Invalid(format!(
            "only {done} of {n} nodes could run (the dependencies do not resolve)"
        )));
    }
    let mut outputs = Vec::new();
    for v in schedule.output_values() {
        let slot = lock(&shared.values[v as usize]).take();
        let value = slot
            .and_then(|s| Arc::try_unwrap(s.value).ok())
            .ok_or_else(|| ExecError::Invalid(format!("output value {v} is not available")))?;
        outputs.push((v, value));
    }
    let mut stats = RunStats {
        seconds,
        threads: pool.current_num_threads(),
        peak_bytes: shared.peak.load(Ordering::Acquire),
        op_seconds: std::mem::take(&mut *lock(&shared.op_seconds)),
        node_seconds: shared
            .node_seconds
            .iter()
            .map(|s| f64::from_bits(s.load(Ordering::Acquire)))
            .collect(),
        hoisted_groups: shared.hoisted.load(Ordering::Acquire),
        ..RunStats::default()
    };
    for node in &schedule.nodes {
        let name = node.instr.name().to_string();
        *stats.ops.entry(name.clone()).or_default() += 1;
        *stats
            .ops_by_level
            .entry(exec_level(&schedule.nodes, node))
            .or_default()
            .entry(name)
            .or_default() += 1;
    }
    Ok(RunResult { outputs, stats })
}
