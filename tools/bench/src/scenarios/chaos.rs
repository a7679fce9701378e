//! `chaos`: the consumer-group chaos workload as a user-facing check.
//!
//! Two groups (sticky and round-robin assignors) read one topic while a producer publishes a
//! numbered sequence per partition for `--seconds` (or until `--messages`). In each group,
//! `--workers` threads live member lives one after another: join, poll a random number of
//! batches, then leave cleanly, panic mid-batch, or stall past `max_poll_interval` (and must
//! be evicted and fenced). When the producer stops, the lives go on until every group has
//! delivered every offset, or a drain deadline passes.
//!
//! Checked with bounded memory by `ringgroup_testkit::chaos::Ledger` (shared with
//! `tests/group_chaos.rs`), per group and partition (the holder of a partition's batch is
//! exclusive, so these counters have one writer at a time):
//!
//! - `lost`: an offset skipped (a delivery beyond the next undelivered offset) or never delivered;
//! - `reordered`: a member seeing a partition's offsets go backwards or repeat within one life;
//! - `concurrent_owners`: two members holding batches of one partition at once;
//! - `duplicates`: deliveries of an offset already delivered. Allowed only from uncommitted
//!   windows: `duplicates` must not exceed `uncommitted_window`, the messages of batches
//!   abandoned by a panic;
//! - `duplicates_after_dedupe`: offsets processed twice through a per-partition `DedupeWindow`;
//!   `unprocessed`: offsets delivered that the window never let through.
//!
//! The subcommand exits non-zero if any of these invariants broke (or a stalled member was not
//! fenced). It reports no timings.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use ringgroup::dedupe::{message_id, DedupeWindow};
use ringgroup::group::Group;
use ringgroup::ring::WaitStrategy;
use ringgroup::topic::Topic;
use ringgroup::{ConsumeError, PublishError};
use ringgroup_results::names::{scenario, system};
use ringgroup_testkit::chaos::{draw_life, panic_point, Fate, Tally};
use ringgroup_testkit::random::next_random;

use crate::common::{Common, Ctx};
use crate::groups::AssignorKind;
use crate::report::Record;

/// Flags of `chaos`.
#[derive(Parser, Debug)]
pub struct Args {
    /// How long the producer publishes, per run.
    #[arg(long, default_value_t = 2)]
    pub seconds: u64,
    /// Partitions in the topic.
    #[arg(long, default_value_t = 4)]
    pub partitions: u32,
    /// Worker threads per group, each living member lives one after another.
    #[arg(long, default_value_t = 3)]
    pub workers: u32,
    /// Messages per poll (and so the largest uncommitted batch).
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Entries in each partition's dedupe window.
    #[arg(long, default_value_t = 256)]
    pub dedupe_window: usize,
    /// Members that neither poll nor heartbeat for this long are evicted (milliseconds).
    #[arg(long, default_value_t = 40)]
    pub poll_interval_ms: u64,
    /// Seed of the members' random fates.
    #[arg(long, default_value_t = 0xC0FFEE)]
    pub seed: u64,
    #[command(flatten)]
    pub common: Common,
}

/// How long the groups may take to deliver the rest once the producer stops.
const DRAIN_DEADLINE: Duration = Duration::from_secs(60);

/// One group's view of what happened (see the module docs).
type Ledger = ringgroup_testkit::chaos::Ledger<DedupeWindow>;

/// What a member life needs.
struct Life<'a> {
    group: &'a Group<u64>,
    ledger: &'a Ledger,
    done: &'a AtomicBool,
    batch: usize,
    poll_interval: Duration,
}

impl Life<'_> {
    /// One member's life: join, poll a random number of batches, then leave, panic or stall.
    fn live(&self, seed: u64) {
        let mut state = seed | 1;
        let Ok(member) = self.group.join() else {
            return;
        };
        let mut seen = self.ledger.life();
        let id = member.id().get() + 1; // 0 means "no holder"
        let (polls, fate) = draw_life(&mut state);
        for round in 0..polls {
            if self.done.load(Ordering::Relaxed) {
                return;
            }
            let records = match member.poll(self.batch, Duration::from_millis(5)) {
                Ok(records) => records,
                Err(ConsumeError::Timeout) => continue,
                Err(ConsumeError::Closed | ConsumeError::Fenced) => return,
                Err(e) => panic!("member {id}: unexpected {e}"),
            };
            let partition = records.partition();
            self.ledger.hold(partition, id);
            let panic_at = matches!(fate, Fate::Panic)
                .then_some(())
                .filter(|_| round + 1 == polls);
            for (i, record) in records.iter().enumerate() {
                self.ledger.record(
                    &mut seen,
                    id,
                    partition,
                    record.offset,
                    *record.value,
                    |window| window.first_time(message_id(partition, record.offset)),
                );
                if panic_at.is_some() && i == panic_point(records.len()) {
                    self.ledger.abandon(records.len());
                    self.ledger.release(partition);
                    std::panic::panic_any(ChaosPanic);
                }
            }
            self.ledger.release(partition);
        }
        if let Fate::Stall = fate {
            // A stuck member: it neither polls nor heartbeats, so it must be evicted. The sleep
            // is the fault being injected, not synchronisation.
            thread::sleep(self.poll_interval * 3);
            match member.poll(self.batch, Duration::ZERO) {
                Err(ConsumeError::Fenced | ConsumeError::Closed) => {}
                Err(ConsumeError::Timeout) if self.done.load(Ordering::Relaxed) => {}
                _ => self
                    .ledger
                    .unfenced_stall(|| format!("member {id} was not fenced after its stall")),
            }
        }
    }
}

/// The payload of an injected panic, told apart from real ones by the panic hook.
struct ChaosPanic;

/// One run's outcome for one group.
struct GroupOutcome {
    name: &'static str,
    tally: Tally,
    rebalances: u64,
}

impl GroupOutcome {
    fn broken(&self) -> Vec<String> {
        let broken = self.tally.broken().into_iter();
        broken
            .map(|what| format!("{}: {what}", self.name))
            .collect()
    }
}

/// Runs the scenario.
pub fn run(args: &Args, ctx: &mut Ctx) -> super::Outcome {
    if args.partitions == 0 || args.workers == 0 || args.batch == 0 {
        return Err("--partitions, --workers and --batch must be at least 1".into());
    }
    let previous = Arc::new(std::panic::take_hook());
    let hook = previous.clone();
    std::panic::set_hook(Box::new(move |info| {
        if !info.payload().is::<ChaosPanic>() {
            hook(info);
        }
    }));
    let mut outcomes: Vec<Vec<GroupOutcome>> = Vec::new();
    let mut result = Ok(());
    for run in 1..=args.common.runs() {
        match run_once(args, ctx, u64::from(run)) {
            Ok(groups) => {
                for g in &groups {
                    ctx.progress.step(format!(
                        "chaos run {run}: {}: {} lives, {} rebalances, {} deliveries of {}, {} duplicates (window {}), {} lost",
                        g.name, g.tally.lives, g.rebalances, g.tally.deliveries, g.tally.published, g.tally.duplicates, g.tally.uncommitted_window, g.tally.lost
                    ));
                }
                outcomes.push(groups);
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    let _ = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| previous(info)));
    result?;

    let mut broken = Vec::new();
    let threads = 2 + 2 * args.workers as usize;
    for g in 0..2 {
        let runs: Vec<&GroupOutcome> = outcomes.iter().map(|o| &o[g]).collect();
        let sum = |f: fn(&Tally) -> u64| runs.iter().map(|o| f(&o.tally)).sum::<u64>();
        for o in &runs {
            broken.extend(o.broken());
        }
        let record = Record::new(scenario::CHAOS, system::RINGGROUP, runs.len() as u32)
            .param("group", runs[0].name)
            .param("partitions", args.partitions)
            .param("workers", args.workers)
            .param("seconds", args.seconds)
            .param("batch", args.batch)
            .figure("published", sum(|o| o.published))
            .figure("deliveries", sum(|o| o.deliveries))
            .figure("lost", sum(|o| o.lost))
            .figure("reordered", sum(|o| o.reordered))
            .figure("concurrent_owners", sum(|o| o.concurrent_owners))
            .figure("duplicates", sum(|o| o.duplicates))
            .figure("uncommitted_window", sum(|o| o.uncommitted_window))
            .figure(
                "duplicates_after_dedupe",
                sum(|o| o.duplicates_after_dedupe),
            )
            .figure("unprocessed", sum(|o| o.unprocessed))
            .figure("unfenced_stalls", sum(|o| o.unfenced_stalls))
            .figure("member_lives", sum(|o| o.lives))
            .figure("rebalances", runs.iter().map(|o| o.rebalances).sum::<u64>());
        ctx.emit(record, threads);
    }
    if broken.is_empty() {
        Ok(())
    } else {
        Err(format!("invariants broken: {}", broken.join("; ")).into())
    }
}

fn run_once(args: &Args, ctx: &mut Ctx, run: u64) -> Result<Vec<GroupOutcome>, String> {
    let poll_interval = Duration::from_millis(args.poll_interval_ms.max(1));
    let (topic, producer) = Topic::<u64>::builder("chaos")
        .partitions(args.partitions)
        .capacity(1024)
        .wait_strategy(WaitStrategy::SpinThenPark)
        .build()
        .map_err(|e| e.to_string())?;
    let build = |kind: AssignorKind| {
        let builder = topic.group(kind.name()).max_poll_interval(poll_interval);
        let group = kind.apply(builder).build().map_err(|e| e.to_string())?;
        Ok::<_, String>((kind.name(), group))
    };
    let groups = [
        build(AssignorKind::Sticky)?,
        build(AssignorKind::RoundRobin)?,
    ];
    let ledgers: Vec<Ledger> = groups
        .iter()
        .map(|_| Ledger::new(args.partitions, || DedupeWindow::new(args.dedupe_window)))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let done = AtomicBool::new(false);
    let stop_producing = AtomicBool::new(false);
    let limit = args.common.messages.unwrap_or(u64::MAX);
    let mut writers = producer.into_partition_writers();
    let published: Vec<u64> = thread::scope(|s| {
        for (g, ((_, group), ledger)) in groups.iter().zip(&ledgers).enumerate() {
            for worker in 0..u64::from(args.workers) {
                let life = Life {
                    group,
                    ledger,
                    done: &done,
                    batch: args.batch,
                    poll_interval,
                };
                let mut state = (args.seed ^ run.wrapping_mul(0x9E37_79B9_7F4A_7C15))
                    + (g as u64 * 131 + worker) * 7919
                    + 1;
                s.spawn(move || {
                    while !life.done.load(Ordering::Relaxed) {
                        let seed = next_random(&mut state);
                        let _ = catch_unwind(AssertUnwindSafe(|| life.live(seed)));
                    }
                });
            }
        }
        let producer = s.spawn(|| {
            let mut sent = 0u64;
            let mut next = vec![0u64; writers.len()];
            while !stop_producing.load(Ordering::Relaxed) && sent < limit {
                let mut progressed = false;
                for (writer, offset) in writers.iter_mut().zip(&mut next) {
                    match writer.try_publish(*offset) {
                        Ok(()) => {
                            *offset += 1;
                            sent += 1;
                            progressed = true;
                        }
                        Err(PublishError::Full(_)) => {}
                        Err(_) => return next, // closed: cannot happen while we hold the writer
                    }
                }
                if !progressed {
                    thread::yield_now();
                }
            }
            next
        });
        let started = Instant::now();
        let seconds = Duration::from_secs(args.seconds);
        while started.elapsed() < seconds && !producer.is_finished() {
            ctx.progress.tick(|| {
                format!(
                    "chaos run {run}: {:.0} s of {}",
                    started.elapsed().as_secs_f64(),
                    args.seconds
                )
            });
            thread::sleep(Duration::from_millis(20)); // a progress poll, not synchronisation
        }
        stop_producing.store(true, Ordering::Relaxed);
        let published = producer.join().unwrap_or_default();
        let drain = Instant::now();
        while !ledgers.iter().all(|l| l.delivered_all(&published))
            && drain.elapsed() < DRAIN_DEADLINE
        {
            ctx.progress.tick(|| format!("chaos run {run}: draining"));
            thread::sleep(Duration::from_millis(20)); // a progress poll, not synchronisation
        }
        done.store(true, Ordering::Relaxed);
        published
    });
    drop(writers);
    Ok(groups
        .iter()
        .zip(&ledgers)
        .map(|((name, group), l)| GroupOutcome {
            name,
            tally: l.tally(&published),
            rebalances: group.metrics().rebalances,
        })
        .collect())
}
