//! `rebalance`: members join and leave while traffic flows. Measures how long a handoff takes,
//! whether partitions that did not move stall meanwhile, and how many messages are delivered
//! twice.
//!
//! # What runs
//!
//! One topic of `--partitions` partitions, one group (`--assignor`, sticky by default). A
//! producer thread (slot 0) publishes `--messages` messages round-robin over the partitions at a
//! steady `--rate`, one message at a time as each falls due, yielding the CPU in between; so the
//! traffic is smooth at the microsecond scale and the consumers keep up. (The rate is lowered
//! when `--messages` would not last `changes + 2` periods of 5 ms.) `--members` members start
//! before the traffic. Then the driver (the main thread) makes `--changes` membership changes at
//! the instants `T_k = t0 + k·I`, `I = duration / (changes + 2)`: alternately a new member joins
//! (a new thread) and the oldest member leaves (drops its `Consumer`). Members poll up to
//! `--batch` messages at a time; each member thread is pinned to its own seat (slots 1, 2, ...).
//! A member that left keeps its thread, parked and idle on its seat's core, until the traffic is
//! over: a thread exit unmaps its stack, and the TLB shootdown that sends to the other cores,
//! with the rest of the teardown, would land inside the handoff being measured. That is the OS's
//! cost of ending a thread, not the group's cost of a leave (in an A/B at 20 changes a run, p99
//! was 185 µs with the exit and 75 µs without).
//!
//! # What is measured
//!
//! - **Change instant** `t_c`: stamped by the thread making the change, just before it calls
//!   `join()` or drops its `Consumer`.
//! - **Moved partitions** of change k: those whose tenure (the assignment epoch in
//!   `group.metrics()`) differs between just before the change and `T_{k+1}`.
//! - **Handoff time** of a moved partition: from `t_c` to the moment the new owner's `poll`
//!   returned its first batch of that partition. A `RebalanceListener::on_assigned` marks the
//!   new tenure, the member stamps the first batch. `handoff_p50_us` / `_p99_us` / `_max_us` per
//!   run; `handoff_histogram_us` is `[[bucket_lower_us, count], ...]` on 1-2-5 buckets over every
//!   handoff of every run. `acquire_p99_us` is the part up to `on_assigned`: the group protocol
//!   alone, before the new owner's poll looks for data. A moved partition whose new owner got
//!   nothing from it before `T_{k+1}` counts in `handoffs_unfinished` and not in the percentiles.
//! - **Stall** (`unmoved_max_stall_us`): for each change, the longest time within
//!   `[t_c, t_c + I/3)` during which a partition that did not move had no delivery; the maximum
//!   over changes. **Baseline** (`baseline_max_gap_us`): the same measure over the same
//!   partitions in the quiet window `[T_{k+1} − I/3, T_{k+1})`, at the end of the same period, with
//!   the same members.
//! - **Duplicates**: deliveries of an offset the group had already delivered. Every partition
//!   keeps the end of what the group delivered so far, shared by all members; since a partition
//!   is delivered in order within a tenure, a batch starting below that end repeats the overlap.
//!   `lost` counts offsets skipped (a batch starting beyond it) or never delivered; it must be 0.
//!   `duplicates_after_dedupe` passes every record through a per-partition `DedupeWindow` sized
//!   `max(commit_every, 1) × batch` and counts records processed twice anyway.
//!
//! # What the figures mean
//!
//! - The stall is not the library's alone. A member that hands some partitions over spends that
//!   time (a lock, a commit, a CAS) not polling its others; an idle member's poll backs off to
//!   50 µs sleeps; and with the producer and up to `members + 1` members on 2 vCPUs
//!   (`threads_sharing_core`), the OS scheduler makes gaps of its own, milliseconds long. The
//!   baseline is that noise, measured the same way: rebalancing added nothing to unmoved
//!   partitions when `unmoved_max_stall_us` stays within `baseline_max_gap_us` across runs.
//! - Handoff time includes the new owner's reaction: the old owner hands a revoked partition over
//!   only between its batches, in its next poll, and the new owner sees it in its next poll. Both
//!   polls back off when idle.
//! - **Duplicates bound** (`uncommitted_window`). The new owner resumes at the committed offset,
//!   so only polled-but-uncommitted messages come again. With auto-commit (`--commit-every 0`,
//!   the default) a batch is committed when dropped, the handoff happens between batches and a
//!   leaving member commits in `drop`, so nothing is uncommitted at a handoff: the bound is 0.
//!   With `--commit-every N`, auto-commit is off and a member commits every N batches, so at most
//!   `(N − 1) × batch` polled messages (over all its partitions) are uncommitted when it hands
//!   over; the bound is that times the number of handovers (`on_revoked` calls plus leaves of a
//!   member holding partitions). More duplicates than the bound fail the run.
//!
//! # Checks
//!
//! Every message carries its offset; each record is checked against it, each tenure must read
//! its partition in one unbroken run, every offset published must be delivered, and a member
//! must never lose a partition without a revoke. A failed check fails the run.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use ringgroup::dedupe::DedupeWindow;
use ringgroup::group::{Consumer, Group, JoinOptions, RebalanceListener, Records};
use ringgroup::topic::{PartitionWriter, Topic};
use ringgroup::{ConsumeError, PublishError};
use ringgroup_results::names::{scenario, system};
use serde_json::Value;

use crate::common::{Common, Ctx, RingFlags, STALL};
use crate::cores::Cores;
use crate::groups::AssignorKind;
use crate::report::{round, Record};
use crate::stats;

/// Flags of `rebalance`.
#[derive(Parser, Debug)]
pub struct Args {
    /// Partitions in the topic.
    #[arg(long, default_value_t = 8)]
    pub partitions: u32,
    /// Offered rate, messages per second over all partitions (lowered when `--messages` is too
    /// few to last `changes + 2` periods of 5 ms).
    #[arg(long, default_value_t = 1_000_000)]
    pub rate: u64,
    /// Membership changes per run: a join, a leave, a join, ... (100 gives about 250 handoffs
    /// a run, so a run's p99 is a percentile, not its maximum).
    #[arg(long, default_value_t = 100)]
    pub changes: u32,
    /// Most messages per poll.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Members before the first change (a join adds one, the next leave takes the oldest away).
    #[arg(long, default_value_t = 2)]
    pub members: u32,
    /// The group's assignor.
    #[arg(long, value_enum, default_value_t = AssignorKind::Sticky)]
    pub assignor: AssignorKind,
    /// 0: auto-commit (each batch is committed when dropped). N: auto-commit off, each member
    /// commits every N batches, leaving up to (N − 1) × batch messages uncommitted.
    #[arg(long, default_value_t = 0)]
    pub commit_every: u32,
    #[command(flatten)]
    pub ring: RingFlags,
    #[command(flatten)]
    pub common: Common,
}

/// The shortest period between changes; `--rate` is lowered to keep it.
const MIN_PERIOD: Duration = Duration::from_millis(5);

/// One run's shape, fixed for all runs.
struct Plan {
    partitions: u32,
    initial: usize,
    changes: u32,
    batch: usize,
    commit_every: u32,
    capacity: usize,
    messages: u64,
    /// The offered rate actually used, messages per second.
    rate: u64,
    /// `I`: the time between changes.
    period: Duration,
    assignor: AssignorKind,
    wait: ringgroup::ring::WaitStrategy,
}

impl Plan {
    /// Threads at the busiest moment: the producer and `initial + 1` members.
    fn threads(&self) -> usize {
        self.initial + 2
    }

    /// Length of the stall and baseline windows.
    fn window(&self) -> u64 {
        self.period.as_nanos() as u64 / 3
    }
}

/// Runs the scenario.
pub fn run(args: &Args, ctx: &mut Ctx) -> super::Outcome {
    if args.partitions == 0 || args.batch == 0 || args.rate == 0 {
        return Err("--partitions, --batch and --rate must be at least 1".into());
    }
    if args.members == 0 || args.members > 62 {
        return Err("--members must be 1 to 62 (each member is a pinned thread)".into());
    }
    if args.changes == 0 {
        return Err("--changes must be at least 1".into());
    }
    let messages = args.common.messages_or(2_000_000);
    let spans = u64::from(args.changes) + 2;
    let shortest = MIN_PERIOD.as_nanos() as u64 * spans;
    let rate = if messages.saturating_mul(1_000_000_000) / args.rate < shortest {
        (messages.saturating_mul(1_000_000_000) / shortest).max(1)
    } else {
        args.rate
    };
    let duration_ns = messages.saturating_mul(1_000_000_000) / rate;
    let mut plan = Plan {
        partitions: args.partitions,
        initial: args.members as usize,
        changes: args.changes,
        batch: args.batch,
        commit_every: args.commit_every,
        capacity: args.ring.capacity,
        messages,
        rate,
        period: Duration::from_nanos(duration_ns / spans),
        assignor: args.assignor,
        wait: ringgroup::ring::WaitStrategy::BusySpin,
    };
    plan.wait = args.ring.wait.strategy(plan.threads(), ctx.cores.count());
    let runs = args.common.runs();
    let mut outcomes = Vec::new();
    for run in 1..=runs {
        let o = run_once(&plan, &ctx.cores)?;
        ctx.progress.step(format!(
            "rebalance p={} {}: run {run}/{runs}: {} handoffs, p99 {:.0} µs, unmoved stall \
             {:.0} µs (baseline {:.0} µs), duplicates {} (bound {})",
            plan.partitions,
            plan.assignor.name(),
            o.handoffs.len(),
            quantile_us(&o.handoffs, 0.99),
            o.unmoved_stall as f64 / 1e3,
            o.baseline_gap as f64 / 1e3,
            o.duplicates,
            o.window
        ));
        outcomes.push(o);
    }
    let per_run = |f: &dyn Fn(&RunOutcome) -> f64| outcomes.iter().map(f).collect::<Vec<f64>>();
    let total = |f: &dyn Fn(&RunOutcome) -> u64| outcomes.iter().map(f).sum::<u64>();
    let handoffs = total(&|o| o.handoffs.len() as u64);
    if handoffs == 0 {
        return Err(
            "no handoff completed: no partition moved (use more partitions than members)".into(),
        );
    }
    let all: Vec<u64> = outcomes
        .iter()
        .flat_map(|o| o.handoffs.iter().copied())
        .collect();
    let measured: Vec<&RunOutcome> = outcomes.iter().filter(|o| !o.handoffs.is_empty()).collect();
    let handoff = |q: f64| -> Vec<f64> {
        measured
            .iter()
            .map(|o| quantile_us(&o.handoffs, q))
            .collect()
    };
    let acquire: Vec<f64> = measured
        .iter()
        .map(|o| quantile_us(&o.acquires, 0.99))
        .collect();
    let record = Record::new(scenario::REBALANCE, system::RINGGROUP, runs)
        .param("partitions", plan.partitions)
        .param("members", plan.initial)
        .param("changes", plan.changes)
        .param("batch", plan.batch)
        .param("assignor", plan.assignor.name())
        .param("commit_every", plan.commit_every)
        .param("capacity", plan.capacity)
        .param("messages", plan.messages)
        .param("rate_msgs_per_s", plan.rate)
        .param("window_ms", round(plan.window() as f64 / 1e6))
        .summary("handoff_p50_us", &handoff(0.5))
        .summary("handoff_p99_us", &handoff(0.99))
        .summary("handoff_max_us", &handoff(1.0))
        .summary("acquire_p99_us", &acquire)
        .figure("handoffs", handoffs)
        .figure("handoffs_unfinished", total(&|o| o.unfinished))
        .summary(
            "unmoved_max_stall_us",
            &per_run(&|o| o.unmoved_stall as f64 / 1e3),
        )
        .summary(
            "baseline_max_gap_us",
            &per_run(&|o| o.baseline_gap as f64 / 1e3),
        )
        .figure("duplicates", total(&|o| o.duplicates))
        .figure("uncommitted_window", total(&|o| o.window))
        .figure("duplicates_after_dedupe", total(&|o| o.after_dedupe))
        .figure("lost", 0)
        .summary(
            "producer_blocked_us",
            &per_run(&|o| o.producer_blocked.as_secs_f64() * 1e6),
        )
        .figure("handoff_histogram_us", histogram_us(&all));
    ctx.emit(record, plan.threads());
    Ok(())
}

/// The `q` quantile of `samples_ns` (1.0: the maximum), in µs.
fn quantile_us(samples_ns: &[u64], q: f64) -> f64 {
    let Ok(mut h) = stats::histogram() else {
        return 0.0;
    };
    for &s in samples_ns {
        h.saturating_record(s);
    }
    stats::quantile(&h, (q < 1.0).then_some(q)) as f64 / 1e3
}

/// `[[bucket_lower_us, count], ...]` on 1-2-5 buckets (0, 1, 2, 5, 10, 20, 50, ... µs), from
/// the first bucket to the last one holding a sample.
fn histogram_us(samples_ns: &[u64]) -> Value {
    let mut lowers = vec![0u64];
    let mut decade = 1u64;
    let largest = samples_ns.iter().copied().max().unwrap_or(0) / 1_000;
    while *lowers.last().unwrap_or(&0) <= largest {
        lowers.extend([decade, 2 * decade, 5 * decade]);
        decade *= 10;
    }
    let bucket = |us: u64| lowers.iter().rposition(|&l| l <= us).unwrap_or(0);
    let mut counts = vec![0u64; lowers.len()];
    for &s in samples_ns {
        counts[bucket(s / 1_000)] += 1;
    }
    let used = bucket(largest) + 1;
    lowers
        .iter()
        .zip(&counts)
        .take(used)
        .map(|(&l, &c)| Value::from(vec![l, c]))
        .collect::<Vec<Value>>()
        .into()
}

/// What one run measured.
struct RunOutcome {
    /// Change to the new owner's first batch, ns, one per completed handoff.
    handoffs: Vec<u64>,
    /// Change to the new owner's `on_assigned`, ns.
    acquires: Vec<u64>,
    unfinished: u64,
    /// Longest delivery-free span on an unmoved partition after a change, ns.
    unmoved_stall: u64,
    /// The same in the quiet windows, ns.
    baseline_gap: u64,
    duplicates: u64,
    /// The bound on duplicates (module docs).
    window: u64,
    after_dedupe: u64,
    producer_blocked: Duration,
}

/// One partition's delivery record, written by whichever member owns the partition (one at a
/// time; the lock is uncontended except at handoffs).
struct PartitionLog {
    /// When each batch was received, ns since the run's base instant.
    deliveries: Vec<u64>,
    /// One past the highest offset delivered so far, by any member.
    delivered_end: u64,
    duplicates: u64,
    /// Offsets jumped over.
    skipped: u64,
    /// Records the dedupe window let through.
    processed: u64,
    dedupe: DedupeWindow,
    /// The current tenure's epoch, and the offset its next batch must start at.
    tenure: Option<u32>,
    tenure_next: Option<u64>,
    /// When the current tenure began (`on_assigned`), until its first batch.
    acquired_at: Option<u64>,
    /// `(acquired_at, first batch)` of every tenure that received something, ns.
    acquisitions: Vec<(u64, u64)>,
}

/// What all threads of a run share.
struct Shared {
    base: Instant,
    logs: Box<[Mutex<PartitionLog>]>,
    /// Handovers: `on_revoked` calls plus leaves of members holding partitions.
    handovers: AtomicU64,
    problems: Mutex<Vec<String>>,
    /// Set once the producer is done: members then give up after `STALL` without data, and
    /// the threads of members that left may end.
    traffic_done: AtomicBool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn now(&self) -> u64 {
        self.at(Instant::now())
    }

    fn at(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.base).as_nanos() as u64
    }

    fn log(&self, partition: u32) -> MutexGuard<'_, PartitionLog> {
        lock(&self.logs[partition as usize])
    }

    fn problem(&self, what: String) {
        let mut problems = lock(&self.problems);
        if problems.len() < 8 {
            problems.push(what);
        }
    }

    /// Books a batch received at `now`; called while the batch (and so the partition) is held.
    fn deliver(&self, records: &Records<'_, u64>, now: u64) {
        let partition = records.partition();
        let first = records.first_offset();
        let end = first + records.len() as u64;
        let mut log = self.log(partition);
        if let Some(next) = log.tenure_next.filter(|&next| next != first) {
            self.problem(format!(
                "partition {partition}: a batch starts at {first}, expected {next} in this tenure"
            ));
        }
        log.tenure_next = Some(end);
        if let Some(acquired) = log.acquired_at.take() {
            log.acquisitions.push((acquired, now));
        }
        let delivered = log.delivered_end;
        log.skipped += first.saturating_sub(delivered);
        log.duplicates += delivered.saturating_sub(first).min(end - first);
        log.delivered_end = delivered.max(end);
        let mut processed = 0;
        for r in records.iter() {
            if *r.value != r.offset {
                self.problem(format!(
                    "partition {partition} offset {} carried {}",
                    r.offset, r.value
                ));
            }
            processed += u64::from(log.dedupe.first_time(r.offset));
        }
        log.processed += processed;
        log.deliveries.push(now);
    }
}

/// Marks new tenures and counts handovers.
struct Listener {
    shared: Arc<Shared>,
}

impl RebalanceListener<u64> for Listener {
    fn on_assigned(&mut self, consumer: &Consumer<u64>, partitions: &[u32]) {
        let now = self.shared.now();
        let tenures = consumer.assignment();
        for &partition in partitions {
            let Some(epoch) = tenures
                .iter()
                .find(|a| a.partition == partition)
                .map(|a| a.epoch)
            else {
                continue;
            };
            let mut log = self.shared.log(partition);
            // A revoke that was cancelled re-announces the same tenure: not a new owner.
            if log.tenure != Some(epoch) {
                log.tenure = Some(epoch);
                log.tenure_next = None;
                log.acquired_at = Some(now);
            }
        }
    }

    fn on_revoked(&mut self, _consumer: &Consumer<u64>, _partitions: &[u32]) {
        // Relaxed: a count read after every member thread was joined.
        self.shared.handovers.fetch_add(1, Ordering::Relaxed);
    }

    fn on_lost(&mut self, consumer: &Consumer<u64>, partitions: &[u32]) {
        self.shared.problem(format!(
            "member {} lost partitions {partitions:?} without a revoke",
            consumer.id()
        ));
    }
}

/// A membership change, as the driver saw it.
struct Change {
    /// `t_c`, ns since base.
    at: u64,
    /// `T_{k+1}`, ns since base: the end of this change's period.
    end: u64,
    /// Tenure epochs before the change and at `end`.
    before: Vec<u32>,
    after: Vec<u32>,
}

fn epochs(group: &Group<u64>) -> Vec<u32> {
    group.metrics().partitions.iter().map(|m| m.epoch).collect()
}

/// What the producer did.
struct Produced {
    published: Vec<u64>,
    blocked: Duration,
}

fn run_once(plan: &Plan, cores: &Cores) -> Result<RunOutcome, String> {
    let (topic, producer) = Topic::<u64>::builder("rebalance")
        .partitions(plan.partitions)
        .capacity(plan.capacity)
        .wait_strategy(plan.wait)
        .build()
        .map_err(|e| e.to_string())?;
    // Members never stop polling here; a long interval keeps a member descheduled by a busy
    // machine from being evicted, which is not what this scenario measures.
    let builder = topic
        .group("rebalance")
        .auto_commit(plan.commit_every == 0)
        .max_poll_interval(Duration::from_secs(60));
    let group = plan
        .assignor
        .apply(builder)
        .build()
        .map_err(|e| e.to_string())?;
    let per_partition = plan.messages / u64::from(plan.partitions) + 1;
    let dedupe = plan.commit_every.max(1) as usize * plan.batch;
    let mut logs = Vec::with_capacity(plan.partitions as usize);
    for _ in 0..plan.partitions {
        logs.push(Mutex::new(PartitionLog {
            // Preallocated: growing it would copy megabytes on a member's data path.
            deliveries: Vec::with_capacity(per_partition as usize + 1024),
            delivered_end: 0,
            duplicates: 0,
            skipped: 0,
            processed: 0,
            dedupe: DedupeWindow::new(dedupe).map_err(|e| e.to_string())?,
            tenure: None,
            tenure_next: None,
            acquired_at: None,
            acquisitions: Vec::new(),
        }));
    }
    let shared = Arc::new(Shared {
        base: Instant::now(),
        logs: logs.into_boxed_slice(),
        handovers: AtomicU64::new(0),
        problems: Mutex::new(Vec::new()),
        traffic_done: AtomicBool::new(false),
    });
    let seats = plan.initial + 1;
    let leave: Vec<AtomicBool> = (0..=seats).map(|_| AtomicBool::new(false)).collect();
    let writers = producer.into_partition_writers();
    let (started_tx, started_rx) = mpsc::channel::<Instant>();
    let (ack_tx, ack_rx) = mpsc::channel::<Result<u64, String>>();

    let (changes, produced, mut errors) = thread::scope(|s| {
        let (shared, group, leave) = (&shared, &group, &leave);
        // Inside the scope: if the driver panics, this sender is dropped while unwinding, which
        // unblocks a producer still waiting for the start.
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let producer = s.spawn(move || produce(writers, plan, cores, go_rx, started_tx));
        let mut members = MemberThreads {
            handles: Vec::new(),
            shared,
        };
        let mut spawn = |seat: usize| {
            // Relaxed: the seat's previous thread no longer reads its flag (it left, and at most
            // waits parked for the end of the run); the spawn orders this store first.
            leave[seat].store(false, Ordering::Relaxed);
            let acks = ack_tx.clone();
            // Members that left stay parked until the end, so a run with very many changes
            // holds many threads: a refused thread is an error, not a panic.
            let handle = thread::Builder::new()
                .spawn_scoped(s, move || {
                    member(seat, group, shared, &leave[seat], &acks, cores, plan)
                })
                .map_err(|e| format!("starting a member thread: {e}"))?;
            members.handles.push(handle);
            Ok::<(), String>(())
        };
        let acked = |what: &str| match ack_rx.recv_timeout(STALL) {
            Ok(at) => at,
            Err(RecvTimeoutError::Timeout) => Err(format!("no member {what} within {STALL:?}")),
            Err(RecvTimeoutError::Disconnected) => Err(format!("no member left to {what}")),
        };
        let driven = (|| -> Result<Vec<Change>, String> {
            let mut live: VecDeque<usize> = VecDeque::new();
            let mut free: Vec<usize> = (1..=seats).rev().collect();
            for _ in 0..plan.initial {
                let seat = free.pop().ok_or("no free seat")?;
                spawn(seat)?;
                acked("joined")?;
                live.push_back(seat);
            }
            go_tx.send(()).map_err(|_| "the producer is gone")?;
            let t0 = started_rx
                .recv_timeout(STALL)
                .map_err(|_| "the producer did not start")?;
            let mut changes: Vec<Change> = Vec::new();
            for k in 1..=plan.changes {
                sleep_until(t0 + plan.period * k);
                let before = epochs(group);
                if let Some(previous) = changes.last_mut() {
                    previous.after = before.clone();
                }
                let at = if k % 2 == 1 {
                    let seat = free.pop().ok_or("no free seat")?;
                    spawn(seat)?;
                    live.push_back(seat);
                    acked("joined")?
                } else {
                    let seat = live.pop_front().ok_or("no member to leave")?;
                    // Relaxed: a request; the leaving thread stamps the change itself.
                    leave[seat].store(true, Ordering::Relaxed);
                    free.push(seat);
                    acked("left")?
                };
                let end = shared.at(t0 + plan.period * (k + 1));
                changes.push(Change {
                    at,
                    end,
                    before,
                    after: Vec::new(),
                });
            }
            sleep_until(t0 + plan.period * (plan.changes + 1));
            if let Some(last) = changes.last_mut() {
                last.after = epochs(group);
            }
            Ok(changes)
        })();
        drop(go_tx); // unblocks a producer that was never started
        let mut errors = Vec::new();
        let produced = producer
            .join()
            .unwrap_or_else(|_| Err("the producer panicked".into()))
            .map_err(|e| errors.push(e))
            .ok();
        members.release();
        for m in std::mem::take(&mut members.handles) {
            if let Err(e) = m.join().unwrap_or_else(|_| Err("a member panicked".into())) {
                errors.push(e);
            }
        }
        let changes = driven.map_err(|e| errors.push(e)).ok();
        (changes, produced, errors)
    });
    errors.extend(lock(&shared.problems).iter().cloned());
    let (Some(changes), Some(produced)) = (changes, produced) else {
        return Err(errors.join("; "));
    };
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    let outcome = analyse(plan, &shared, &changes, &produced)?;
    drop(group);
    drop(topic);
    Ok(outcome)
}

/// The member threads of a run. Dropping it, after they were joined or while the driver unwinds
/// from a panic, releases them, so no member that left stays parked and the scope never waits
/// on it forever.
struct MemberThreads<'scope, 'a> {
    handles: Vec<thread::ScopedJoinHandle<'scope, Result<(), String>>>,
    shared: &'a Shared,
}

impl MemberThreads<'_, '_> {
    /// Tells every member that the traffic is over and wakes those parked after leaving.
    fn release(&self) {
        // Release: pairs with the Acquire load of a parked member that left (`member`); the
        // unparks below wake it to see the flag.
        self.shared.traffic_done.store(true, Ordering::Release);
        for handle in &self.handles {
            handle.thread().unpark();
        }
    }
}

impl Drop for MemberThreads<'_, '_> {
    fn drop(&mut self) {
        self.release();
    }
}

fn sleep_until(deadline: Instant) {
    let now = Instant::now();
    if deadline > now {
        thread::sleep(deadline - now); // pacing the changes, not waiting for another thread
    }
}

/// Publishes `plan.messages` round-robin at `plan.rate`, then closes the topic.
fn produce(
    mut writers: Vec<PartitionWriter<u64>>,
    plan: &Plan,
    cores: &Cores,
    go: Receiver<()>,
    started: Sender<Instant>,
) -> Result<Produced, String> {
    cores.pin(0);
    if go.recv().is_err() {
        return Err("the run was abandoned before the traffic started".into());
    }
    let start = Instant::now();
    let _ = started.send(start);
    let partitions = writers.len();
    let mut next = vec![0u64; partitions];
    let mut blocked = Duration::ZERO;
    let mut sent = 0u64;
    while sent < plan.messages {
        let elapsed = start.elapsed().as_nanos();
        let due = ((elapsed * u128::from(plan.rate) / 1_000_000_000) as u64 + 1).min(plan.messages);
        if sent >= due {
            thread::yield_now();
            continue;
        }
        while sent < due {
            let p = (sent % partitions as u64) as usize;
            let writer = &mut writers[p];
            if let Err(PublishError::Full(value) | PublishError::Timeout(value)) =
                writer.try_publish(next[p])
            {
                let waiting = Instant::now();
                if writer.publish_timeout(value, STALL).is_err() {
                    return Err(format!(
                        "partition {p} stayed full for {STALL:?}: its consumers stopped"
                    ));
                }
                blocked += waiting.elapsed();
            }
            next[p] += 1;
            sent += 1;
        }
    }
    drop(writers); // closes every partition: members drain and see `Closed`
    Ok(Produced {
        published: next,
        blocked,
    })
}

/// A member's life: join (stamping the change), poll until told to leave or the topic is
/// drained, leave (stamping the change), then stay parked until the traffic is over (module
/// docs).
fn member(
    seat: usize,
    group: &Group<u64>,
    shared: &Arc<Shared>,
    leave: &AtomicBool,
    acks: &Sender<Result<u64, String>>,
    cores: &Cores,
    plan: &Plan,
) -> Result<(), String> {
    cores.pin(seat);
    let options = JoinOptions {
        weight: 1,
        listener: Some(Box::new(Listener {
            shared: Arc::clone(shared),
        })),
    };
    let at = shared.now();
    let consumer = match group.join_with(options) {
        Ok(consumer) => consumer,
        Err(e) => {
            let e = format!("seat {seat}: join failed: {e}");
            let _ = acks.send(Err(e.clone()));
            return Err(e);
        }
    };
    let _ = acks.send(Ok(at));
    let mut since_commit = 0;
    let mut last_batch = Instant::now();
    loop {
        // Relaxed: see the driver's store; the change is stamped here.
        if leave.load(Ordering::Relaxed) {
            let held = !consumer.assignment().is_empty();
            let at = shared.now();
            drop(consumer);
            if held {
                // Relaxed: a count read after every member thread was joined.
                shared.handovers.fetch_add(1, Ordering::Relaxed);
            }
            let _ = acks.send(Ok(at));
            // The thread ends only after the traffic (module docs). Acquire: pairs with the
            // driver's Release store; park may wake spuriously, hence the loop.
            while !shared.traffic_done.load(Ordering::Acquire) {
                thread::park();
            }
            return Ok(());
        }
        let polled = match consumer.poll(plan.batch, Duration::from_millis(1)) {
            Ok(records) => {
                let now = Instant::now();
                shared.deliver(&records, shared.at(now));
                drop(records);
                last_batch = now;
                Ok(())
            }
            Err(e) => Err(e),
        };
        match polled {
            Ok(()) => {
                if plan.commit_every > 0 {
                    since_commit += 1;
                    if since_commit == plan.commit_every {
                        since_commit = 0;
                        consumer
                            .commit()
                            .map_err(|e| format!("seat {seat}: commit failed: {e}"))?;
                    }
                }
            }
            Err(ConsumeError::Timeout) => {
                // Relaxed: a hint to stop waiting; nothing rides on it.
                if shared.traffic_done.load(Ordering::Relaxed) && last_batch.elapsed() > STALL {
                    return Err(format!(
                        "seat {seat}: the traffic ended but the topic never drained"
                    ));
                }
            }
            Err(ConsumeError::Closed) => return Ok(()),
            Err(e) => return Err(format!("seat {seat}: poll failed: {e}")),
        }
    }
}

/// The longest span within `[from, to)` with no delivery in `deliveries` (sorted).
fn longest_quiet(deliveries: &[u64], from: u64, to: u64) -> u64 {
    let start = deliveries.partition_point(|&d| d < from);
    let mut previous = from;
    let mut longest = 0;
    for &d in deliveries[start..].iter().take_while(|&&d| d < to) {
        longest = longest.max(d - previous);
        previous = d;
    }
    longest.max(to.saturating_sub(previous))
}

/// Turns the logs and the driver's timeline into the run's figures, checking delivery.
fn analyse(
    plan: &Plan,
    shared: &Shared,
    changes: &[Change],
    produced: &Produced,
) -> Result<RunOutcome, String> {
    let mut logs: Vec<MutexGuard<'_, PartitionLog>> =
        (0..plan.partitions).map(|p| shared.log(p)).collect();
    let (mut duplicates, mut processed, mut unique, mut lost) = (0, 0, 0, 0);
    for (p, log) in logs.iter_mut().enumerate() {
        let published = produced.published[p];
        if log.delivered_end > published {
            return Err(format!(
                "partition {p}: delivered up to {} of {published} published",
                log.delivered_end
            ));
        }
        lost += log.skipped + (published - log.delivered_end);
        duplicates += log.duplicates;
        processed += log.processed;
        unique += log.delivered_end;
        log.deliveries.sort_unstable();
    }
    if lost > 0 {
        return Err(format!("{lost} published messages were never delivered"));
    }
    let handovers = shared.handovers.load(Ordering::Relaxed);
    let window = u64::from(plan.commit_every.max(1) - 1) * plan.batch as u64 * handovers;
    if duplicates > window {
        return Err(format!(
            "{duplicates} messages were delivered twice, beyond the uncommitted window of \
             {window} ({handovers} handovers)"
        ));
    }
    let w = plan.window();
    let mut outcome = RunOutcome {
        handoffs: Vec::new(),
        acquires: Vec::new(),
        unfinished: 0,
        unmoved_stall: 0,
        baseline_gap: 0,
        duplicates,
        window,
        after_dedupe: processed - unique,
        producer_blocked: produced.blocked,
    };
    for change in changes {
        for (p, log) in logs.iter().enumerate() {
            if change.before[p] != change.after[p] {
                let first = log
                    .acquisitions
                    .iter()
                    .find(|&&(acquired, _)| acquired >= change.at && acquired < change.end);
                match first {
                    Some(&(acquired, received)) if received < change.end => {
                        outcome.handoffs.push(received - change.at);
                        outcome.acquires.push(acquired - change.at);
                    }
                    _ => outcome.unfinished += 1,
                }
            } else {
                let stall = longest_quiet(&log.deliveries, change.at, change.at + w);
                let quiet =
                    longest_quiet(&log.deliveries, change.end.saturating_sub(w), change.end);
                outcome.unmoved_stall = outcome.unmoved_stall.max(stall);
                outcome.baseline_gap = outcome.baseline_gap.max(quiet);
            }
        }
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_spans_are_clipped_to_the_window() {
        let d = [10, 20, 50, 55];
        assert_eq!(longest_quiet(&d, 0, 100), 45);
        assert_eq!(longest_quiet(&d, 15, 52), 30);
        assert_eq!(longest_quiet(&d, 60, 70), 10);
        assert_eq!(longest_quiet(&[], 0, 7), 7);
    }

    #[test]
    fn histogram_buckets_are_1_2_5() {
        let h = histogram_us(&[500, 1_500, 3_000, 60_000, 60_000]);
        let expected: Value = vec![
            vec![0u64, 1],
            vec![1, 1],
            vec![2, 1],
            vec![5, 0],
            vec![10, 0],
            vec![20, 0],
            vec![50, 2],
        ]
        .into();
        assert_eq!(h, expected);
    }
}
