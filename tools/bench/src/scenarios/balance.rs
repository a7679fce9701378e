//! `balance`: members of unequal speed consume one prefilled topic, once under each assignor.
//! Reports each member's message count and speed, the total time, and sets it beside the
//! load-balance model `T = max_i(m_i / v_i)`.
//!
//! # What runs
//!
//! A topic of `--partitions` partitions is prefilled with `--messages` messages (an equal share
//! per partition, each ring large enough to hold its share, so no producer runs while the clock
//! does) and closed. One member per entry of `--work-ns` joins the group; member `i` spends
//! `work_ns[i]` nanoseconds of busy-spin CPU work on every message (a multiply chain calibrated
//! once per invocation, not a sleep and not a wall-clock deadline, so a preempted member really
//! is slower). The assignment is settled before the data is published. Members are pinned to
//! slots `0..M`: the machine has 2 cores, so with more than 2 members some share a core (the
//! record's `threads_sharing_core` says how many). All members start together at a start line;
//! the run ends when the last message has been processed. Runs alternate over the assignors
//! (A B C D E, A B C D E, ...).
//!
//! The weighted assignor gets weights inversely proportional to the nominal work (`weights`
//! param, `1000 · min(work) / work_i`, a work of 0 counting as 1 ns); the others ignore weights.
//!
//! # What is measured
//!
//! - `m_i` (`member_msgs`): messages member `i` processed, from the partitions it was given
//!   (`member_partitions`).
//! - `busy_i`: the time member `i` spent processing, summed over its batches from the moment
//!   `poll` returned the batch to the moment the batch was dropped (committed). Time inside
//!   `poll` is not busy time.
//! - `v_i = m_i / busy_i` (`member_speed_mmsgs_per_s`): the member's measured speed, in this
//!   run, under this run's CPU sharing. A member given no partition has no such figure; its
//!   speed is then the one it showed just before the timed run on a private calibration ring
//!   (same batch size, same check and work per message, all members at once).
//! - `total_ms`: from the start line to the last member's last processed message.
//! - `model_ms = max_i(m_i / v_i)`: the load-balance model's completion time for this split and
//!   these speeds (= the busiest member's busy time). `total_ms − model_ms` is time the slowest
//!   member spent outside processing: polls, ownership checks, the start line, scheduling.
//! - `ideal_ms = sum_i m_i / sum_i v_i`: the same work perfectly divided by speed.
//! - `imbalance = model_ms / ideal_ms = max_i(m_i / v_i) / (sum_i m_i / sum_i v_i)`: 1.0 is a
//!   perfect split; 2.0 means the busiest member needs twice the ideal time.
//! - `member_ms`: when each member finished, from the start line.
//! - `allocs_per_msg`: allocations on the member threads during the timed run.
//!
//! Partitions are the unit of assignment, so balance is limited by granularity: 12 partitions
//! over 2 members split at best 6:6, 7:5, 8:4, 9:3, ... The default speeds (200 and 600 ns, a
//! 3:1 ratio) are matched exactly by 9:3, which only the weighted assignor aims for; range,
//! round-robin and sticky give 6:6 (imbalance near 2.0), consistent-hash whatever its hash ring
//! gives.
//!
//! # Checks
//!
//! Every message carries its offset and is checked against its record; each partition must be
//! read in one unbroken run from offset 0 by one member, and the members together must process
//! exactly `--messages` (rounded down to a multiple of the partitions). Otherwise the run fails.

use std::hint::black_box;
use std::sync::atomic::AtomicUsize;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use ringgroup::group::{Consumer, JoinOptions};
use ringgroup::ring::{Reader, Ring, StartAt, WaitStrategy};
use ringgroup::topic::Topic;
use ringgroup::{ConsumeError, PollError};
use ringgroup_results::names::{scenario, system};
use ringgroup_testkit::alloc;
use ringgroup_testkit::threads::start_line;
use serde_json::Value;

use crate::common::{Common, Ctx, STALL};
use crate::cores::Cores;
use crate::groups::{settle, AssignorKind};
use crate::report::{round, Record};
use crate::stats::Summary;

/// Flags of `balance`.
#[derive(Parser, Debug)]
pub struct Args {
    /// Partitions in the topic.
    #[arg(long, default_value_t = 12)]
    pub partitions: u32,
    /// Busy-spin work per message of each member, in ns, one entry per member: `200,600` is
    /// two members, the second three times slower.
    #[arg(long, value_delimiter = ',', default_values_t = [200u64, 600])]
    pub work_ns: Vec<u64>,
    /// Assignors to run, comma-separated (default: all five).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub assignors: Vec<AssignorKind>,
    /// Most messages per poll.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    #[command(flatten)]
    pub common: Common,
}

/// Most members a run may have (each is a pinned thread).
const MAX_MEMBERS: usize = 64;

/// What does not change between runs.
struct Plan {
    partitions: u32,
    per_partition: u64,
    capacity: usize,
    batch: usize,
    /// Spin iterations per message, per member.
    work_iterations: Vec<u64>,
    weights: Vec<u32>,
    /// Messages each member consumes to measure its speed.
    calibration: u64,
}

impl Plan {
    fn members(&self) -> usize {
        self.work_iterations.len()
    }

    fn total(&self) -> u64 {
        self.per_partition * u64::from(self.partitions)
    }
}

/// One run of one assignor.
struct Outcome {
    total: Duration,
    member_msgs: Vec<u64>,
    member_partitions: Vec<u64>,
    /// Messages per second, from the calibration.
    member_speed: Vec<f64>,
    member_finish: Vec<Duration>,
    allocs_per_msg: f64,
}

impl Outcome {
    /// `max_i(m_i / v_i)`, in seconds.
    fn model_s(&self) -> f64 {
        self.member_msgs
            .iter()
            .zip(&self.member_speed)
            .map(|(&m, &v)| if m == 0 { 0.0 } else { m as f64 / v })
            .fold(0.0, f64::max)
    }

    /// `sum m_i / sum v_i`, in seconds.
    fn ideal_s(&self) -> f64 {
        self.member_msgs.iter().sum::<u64>() as f64 / self.member_speed.iter().sum::<f64>()
    }
}

/// Runs the scenario.
pub fn run(args: &Args, ctx: &mut Ctx) -> super::Outcome {
    let members = args.work_ns.len();
    if members == 0 || members > MAX_MEMBERS {
        return Err(
            format!("--work-ns must list 1 to {MAX_MEMBERS} members, got {members}").into(),
        );
    }
    if args.partitions == 0 {
        return Err("--partitions must be at least 1".into());
    }
    if args.batch == 0 {
        return Err("--batch must be at least 1".into());
    }
    let messages = args.common.messages_or(500_000);
    let per_partition = messages / u64::from(args.partitions);
    if per_partition == 0 {
        return Err(format!(
            "--messages {messages} gives no message to each of {} partitions",
            args.partitions
        )
        .into());
    }
    let capacity = usize::try_from(per_partition)
        .ok()
        .and_then(usize::checked_next_power_of_two)
        .filter(|&c| c <= ringgroup::ring::MAX_CAPACITY)
        .ok_or_else(|| {
            format!(
                "{per_partition} messages per partition do not fit one ring; use more partitions"
            )
        })?;
    let iterations_per_ns = calibrate_spin();
    let plan = Plan {
        partitions: args.partitions,
        per_partition,
        capacity,
        batch: args.batch,
        work_iterations: args
            .work_ns
            .iter()
            .map(|&ns| (ns as f64 * iterations_per_ns).round() as u64)
            .collect(),
        weights: weights(&args.work_ns),
        calibration: (per_partition * u64::from(args.partitions) / (4 * members as u64))
            .clamp(1_000, 20_000),
    };
    let assignors: Vec<AssignorKind> = if args.assignors.is_empty() {
        AssignorKind::ALL.to_vec()
    } else {
        args.assignors.clone()
    };
    let runs = args.common.runs();
    let mut outcomes: Vec<Vec<Outcome>> = assignors.iter().map(|_| Vec::new()).collect();
    for run in 1..=runs {
        for (a, &kind) in assignors.iter().enumerate() {
            let o = run_once(kind, &plan, &ctx.cores)?;
            ctx.progress.step(format!(
                "balance/{} run {run}/{runs}: {:.1} ms (model {:.1}, ideal {:.1}), messages {:?}",
                kind.name(),
                o.total.as_secs_f64() * 1e3,
                o.model_s() * 1e3,
                o.ideal_s() * 1e3,
                o.member_msgs
            ));
            outcomes[a].push(o);
        }
    }
    let work = join(&args.work_ns);
    for (kind, runs_of) in assignors.iter().zip(&outcomes) {
        let mut record = Record::new(
            scenario::of(scenario::BALANCE, kind.name()),
            system::RINGGROUP,
            runs,
        )
        .param("partitions", args.partitions)
        .param("members", members)
        .param("work_ns", work.clone())
        .param("batch", args.batch)
        .param("messages", plan.total());
        if *kind == AssignorKind::Weighted {
            record = record.param("weights", join(&plan.weights));
        }
        let per_run = |f: &dyn Fn(&Outcome) -> f64| runs_of.iter().map(f).collect::<Vec<f64>>();
        let per_member = |f: &dyn Fn(&Outcome, usize) -> f64| -> Value {
            (0..members)
                .map(|i| round(Summary::of(&per_run(&|o| f(o, i))).median))
                .collect::<Vec<f64>>()
                .into()
        };
        let last = runs_of.last().ok_or("no run was made")?;
        record = record
            .summary("total_ms", &per_run(&|o| o.total.as_secs_f64() * 1e3))
            .summary("model_ms", &per_run(&|o| o.model_s() * 1e3))
            .summary("ideal_ms", &per_run(&|o| o.ideal_s() * 1e3))
            .summary("imbalance", &per_run(&|o| o.model_s() / o.ideal_s()))
            .figure("member_msgs", last.member_msgs.clone())
            .figure("member_partitions", last.member_partitions.clone())
            .figure(
                "member_speed_mmsgs_per_s",
                per_member(&|o, i| o.member_speed[i] / 1e6),
            )
            .figure(
                "member_ms",
                per_member(&|o, i| o.member_finish[i].as_secs_f64() * 1e3),
            )
            .figure(
                "allocs_per_msg",
                round(
                    per_run(&|o| o.allocs_per_msg)
                        .into_iter()
                        .fold(0.0, f64::max),
                ),
            );
        ctx.emit(record, members);
    }
    Ok(())
}

/// `a,b,c`.
fn join<T: ToString>(values: &[T]) -> String {
    values
        .iter()
        .map(T::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Weights inversely proportional to the work: `1000 · min(work) / work_i` (0 ns counts as 1).
fn weights(work_ns: &[u64]) -> Vec<u32> {
    let fastest = work_ns.iter().map(|&w| w.max(1)).min().unwrap_or(1) as f64;
    work_ns
        .iter()
        .map(|&w| (1000.0 * fastest / w.max(1) as f64).round().max(1.0) as u32)
        .collect()
}

/// The simulated per-message work: `iterations` steps of a multiply chain the compiler cannot
/// shorten. CPU work, so a member that is preempted really falls behind.
#[inline]
fn spin(seed: u64, iterations: u64) -> u64 {
    let mut x = seed;
    for _ in 0..iterations {
        x = black_box(
            x.wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407),
        );
    }
    x
}

/// Spin iterations per nanosecond: the fastest of several tries, so a preempted try is ignored.
fn calibrate_spin() -> f64 {
    const ITERATIONS: u64 = 200_000;
    let mut best = Duration::MAX;
    for _ in 0..7 {
        let started = Instant::now();
        black_box(spin(1, ITERATIONS));
        best = best.min(started.elapsed());
    }
    ITERATIONS as f64 / best.as_nanos().max(1) as f64
}

/// What one member thread measured.
struct MemberRun {
    /// Messages per second on the calibration ring.
    calibrated: f64,
    started: Instant,
    consumed: Consumed,
}

impl MemberRun {
    fn messages(&self) -> u64 {
        self.consumed.read.iter().sum()
    }

    /// `m_i / busy_i`, or the calibration speed for a member that was given nothing.
    fn speed(&self) -> f64 {
        let busy = self.consumed.busy.as_secs_f64();
        if self.messages() == 0 || busy == 0.0 {
            self.calibrated
        } else {
            self.messages() as f64 / busy
        }
    }
}

/// What a member did in the timed run.
struct Consumed {
    /// When it processed its last message (None if it had none).
    finished: Option<Instant>,
    /// Messages read per partition.
    read: Vec<u64>,
    /// Time spent processing batches: from each poll's return to the batch's drop.
    busy: Duration,
}

fn run_once(kind: AssignorKind, plan: &Plan, cores: &Cores) -> Result<Outcome, String> {
    let members = plan.members();
    let (topic, producer) = Topic::<u64>::builder("balance")
        .partitions(plan.partitions)
        .capacity(plan.capacity)
        .wait_strategy(WaitStrategy::BusySpin)
        .build()
        .map_err(|e| e.to_string())?;
    // Members that finish wait, without polling, for the others; a long poll interval keeps
    // them from being evicted meanwhile (an eviction would move partitions mid-run).
    let group = kind
        .apply(topic.group("balance"))
        .max_poll_interval(Duration::from_secs(600))
        .build()
        .map_err(|e| e.to_string())?;
    let mut consumers = Vec::with_capacity(members);
    for &weight in &plan.weights {
        let options = JoinOptions {
            weight,
            listener: None,
        };
        consumers.push(group.join_with(options).map_err(|e| e.to_string())?);
    }
    settle(&group, &mut consumers, plan.partitions)?;
    let mut calibration = Vec::with_capacity(members);
    for _ in 0..members {
        calibration.push(calibration_ring(plan.calibration)?);
    }
    for mut writer in producer.into_partition_writers() {
        writer.publish_batch(0..plan.per_partition);
    } // dropping the writers closes the topic: members stop at `Closed`
    let calibration_line = AtomicUsize::new(0);
    let run_line = AtomicUsize::new(0);
    let finished = Barrier::new(members);
    let before = alloc::allocations();
    let results = thread::scope(|s| {
        let handles: Vec<_> = consumers
            .into_iter()
            .zip(calibration)
            .enumerate()
            .map(|(i, (consumer, reader))| {
                let (calibration_line, run_line, finished) =
                    (&calibration_line, &run_line, &finished);
                s.spawn(move || {
                    cores.pin(i);
                    let mut member = Member {
                        consumer,
                        iterations: plan.work_iterations[i],
                        batch: plan.batch,
                        sink: 0,
                    };
                    start_line(calibration_line, members);
                    let speed = member.calibrate(reader);
                    let read = vec![0u64; plan.partitions as usize];
                    start_line(run_line, members);
                    // After the line: `start_line` may allocate while it waits.
                    alloc::count_this_thread();
                    let started = Instant::now();
                    let consumed = match speed {
                        Ok(_) => member.consume(read),
                        Err(ref e) => Err(e.clone()),
                    };
                    alloc::stop_counting_this_thread();
                    black_box(member.sink);
                    // Nobody leaves (which would move partitions) before everyone is done.
                    finished.wait();
                    drop(member);
                    let consumed = consumed.map_err(|e| format!("member {i}: {e}"))?;
                    Ok::<_, String>(MemberRun {
                        calibrated: speed?,
                        started,
                        consumed,
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a member panicked".into())))
            .collect::<Result<Vec<MemberRun>, String>>()
    })?;
    let allocs_per_msg = alloc::per_message(before, plan.total());
    drop(group);
    drop(topic);
    check(&results, plan)?;
    let start = results
        .iter()
        .map(|r| r.started)
        .min()
        .ok_or("no member ran")?;
    let finish = |r: &MemberRun| {
        r.consumed
            .finished
            .unwrap_or(start)
            .saturating_duration_since(start)
    };
    Ok(Outcome {
        total: results.iter().map(finish).max().unwrap_or_default(),
        member_msgs: results.iter().map(MemberRun::messages).collect(),
        member_partitions: results
            .iter()
            .map(|r| r.consumed.read.iter().filter(|&&n| n > 0).count() as u64)
            .collect(),
        member_speed: results.iter().map(MemberRun::speed).collect(),
        member_finish: results.iter().map(finish).collect(),
        allocs_per_msg,
    })
}

/// Every partition read completely, by exactly one member.
fn check(results: &[MemberRun], plan: &Plan) -> Result<(), String> {
    for p in 0..plan.partitions as usize {
        let read = |i: usize| results[i].consumed.read[p];
        let readers: Vec<usize> = (0..results.len()).filter(|&i| read(i) > 0).collect();
        match readers.as_slice() {
            [i] if read(*i) == plan.per_partition => {}
            [i] => {
                return Err(format!(
                    "partition {p}: member {i} read {} of {} messages",
                    read(*i),
                    plan.per_partition
                ))
            }
            [] => return Err(format!("partition {p} was never read")),
            several => {
                return Err(format!(
                    "partition {p} was read by members {several:?}: it moved during the run"
                ))
            }
        }
    }
    Ok(())
}

/// A private ring holding `messages` messages, closed, for a member to measure its speed on.
fn calibration_ring(messages: u64) -> Result<Reader<u64>, String> {
    let capacity = (messages as usize).next_power_of_two();
    let (mut writer, subscriber) = Ring::<u64>::builder()
        .capacity(capacity)
        .build()
        .map_err(|e| e.to_string())?;
    let reader = subscriber
        .subscribe(StartAt::Earliest)
        .map_err(|e| e.to_string())?;
    writer.publish_batch(0..messages);
    Ok(reader) // the writer is dropped: the ring is closed
}

/// A member's data path.
struct Member {
    consumer: Consumer<u64>,
    iterations: u64,
    batch: usize,
    /// Folds every work result, so the work cannot be optimised away.
    sink: u64,
}

impl Member {
    /// Messages per second through the same per-message path (check, work), on a private ring.
    fn calibrate(&mut self, mut reader: Reader<u64>) -> Result<f64, String> {
        let started = Instant::now();
        let mut seen = 0u64;
        loop {
            match reader.try_poll(self.batch) {
                Ok(batch) => {
                    let mut sink = self.sink;
                    for (offset, &value) in batch.iter_with_offsets() {
                        if value != offset {
                            return Err(format!("calibration offset {offset} carried {value}"));
                        }
                        sink ^= spin(value, self.iterations);
                    }
                    self.sink = sink;
                    seen += batch.len() as u64;
                }
                Err(PollError::Closed) => break,
                Err(_) => {} // not reached: the ring was filled before it was closed
            }
        }
        Ok(seen as f64 / started.elapsed().as_secs_f64())
    }

    /// Consumes until the topic is drained; `next` (one zero per partition, allocated by the
    /// caller before counting starts) becomes the count read of each partition.
    fn consume(&mut self, mut next: Vec<u64>) -> Result<Consumed, String> {
        let mut finished = None;
        let mut busy = Duration::ZERO;
        let mut idle_since = Instant::now();
        loop {
            match self.consumer.poll(self.batch, Duration::from_millis(100)) {
                Ok(records) => {
                    let received = Instant::now();
                    let p = records.partition() as usize;
                    let first = records.first_offset();
                    if first != next[p] {
                        return Err(format!(
                            "partition {p}: batch starts at offset {first}, expected {}",
                            next[p]
                        ));
                    }
                    let mut sink = self.sink;
                    for r in records.iter() {
                        if *r.value != r.offset {
                            return Err(format!(
                                "partition {p} offset {} carried {}",
                                r.offset, r.value
                            ));
                        }
                        sink ^= spin(*r.value, self.iterations);
                    }
                    self.sink = sink;
                    next[p] = first + records.len() as u64;
                    drop(records);
                    let now = Instant::now();
                    busy += now - received;
                    finished = Some(now);
                    idle_since = now;
                }
                Err(ConsumeError::Closed) => {
                    return Ok(Consumed {
                        finished,
                        read: next,
                        busy,
                    })
                }
                Err(ConsumeError::Timeout) if idle_since.elapsed() < STALL => {}
                Err(ConsumeError::Timeout) => {
                    return Err(format!("no message and no end for {STALL:?}"))
                }
                Err(e) => return Err(format!("poll failed: {e}")),
            }
        }
    }
}
