//! `latency`: how long a message takes through ringgroup's topics and consumer groups, as
//! hdrhistogram percentiles in nanoseconds.
//!
//! # Modes
//!
//! - `latency/ping-pong`: two topics of one partition each, `ping` and `pong`, each read by one
//!   group of one member (auto-commit). The pinger (thread slot 0) sends `i` on `ping` and waits
//!   for it on `pong`; the echo (slot 1) polls `ping`, sends the value back on `pong`, then drops
//!   (commits) its batch. A round trip runs from just before the send to the echo in hand.
//!   `--messages` round trips are recorded (default 200 000), after a warm-up of a tenth as many
//!   more (at most 10 000) that are not.
//! - `latency/fixed-rate`: one topic of one partition, one group of one member. The producer
//!   (slot 0) offers `--rate` messages per second on the schedule `t0 + i / rate`; the consumer
//!   (slot 1) polls up to 256 at a time and records `receive time - intended send time` for each
//!   message (receive time: when the poll returned its batch). `--messages` messages are
//!   recorded (default 1 000 000, one second at the default rate), after a warm-up as above.
//!
//! # Coordinated omission
//!
//! Each fixed-rate message carries its *intended* send time (nanoseconds since an `Instant`
//! shared by both threads), not the time it was actually sent, and that is what its latency is
//! measured from. A producer held up by a full ring or by the scheduler still owes every message
//! of its schedule; when it falls behind it publishes the overdue ones at once (none is
//! skipped), and their wait behind the stall counts in their latency. Timing from the actual
//! send would hide that wait, the error known as coordinated omission. `late_sends` counts the
//! recorded messages the producer reached after their intended time, and
//! `achieved_rate_msgs_per_s` is the recorded messages over the span from the first one's
//! intended time to the last one's send, plus one period (exactly `--rate` when on schedule).
//!
//! Ping-pong needs no correction: the next round trip starts only when the last one ended, so a
//! stall lands in the round trip that suffered it.
//!
//! # Figures
//!
//! Per run, from that run's histogram: `p50_ns`, `p90_ns`, `p99_ns`, `p99_9_ns`, `p99_99_ns`,
//! `max_ns` and `mean_ns`; each reported as the median over runs with `_min` and `_max`.
//! `percentile_curve_ns` (`[[percentile, ns], ...]`, percentile in 0..=100, 100 being the
//! maximum) is read from the histograms of **all runs merged**, so its points need not equal
//! the per-run medians. `allocs_per_msg` (worst run) counts allocations on the two data-path
//! threads per one-way message (two per round trip).
//!
//! # Checks
//!
//! Ping-pong: the echo checks that ping `i` is at offset `i` and carries `i`; the pinger checks
//! the same of the pong. Fixed-rate: the consumer checks that offsets arrive as `0, 1, 2, ...`
//! with no gap, and that each message's sequence number equals its offset. A poll or send that
//! waits 10 s fails the run, so a lost message cannot hang it, and any failed check ends the
//! scenario with an error.
//!
//! # Waiting
//!
//! `--wait` sets the topics' wait strategy, which governs both how the producer waits for ring
//! space and how an idle consumer waits inside `Consumer::poll`, as a user's would: `spin`
//! busy-spins, `yield` yields between looks, `park` spins 64 rounds, yields 64, then sleeps
//! 50 µs at a time. The default (`auto`) spins while both threads have a core of their own, else
//! yields. Under `park`, a message that finds the consumer asleep waits out the rest of its
//! sleep (50 µs plus the kernel's timer slack), which shapes the fixed-rate percentiles whenever
//! messages are further apart than the spin and yield phases last. The record's `wait`
//! parameter names the strategy used. The fixed-rate producer spins until each message's
//! intended time (yields, when both threads share one core).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use ringgroup::group::{Consumer, Group};
use ringgroup::ring::WaitStrategy;
use ringgroup::topic::{PartitionWriter, Topic};
use ringgroup_results::names::{scenario, system};
use ringgroup_testkit::alloc;
use ringgroup_testkit::threads::{join, start_line};

use crate::common::{Common, Ctx, RingFlags, Wait, STALL};
use crate::groups::settle;
use crate::peers::warmup_round_trips;
use crate::report::{round, Record};
use crate::stats::{self, PERCENTILES};

/// Flags of `latency`.
#[derive(Parser, Debug)]
pub struct Args {
    /// Which measurement to run. `--messages` is the number of recorded round trips in
    /// ping-pong (default 200 000) and of recorded messages in fixed-rate (default 1 000 000).
    #[arg(long, value_enum, default_value_t = Mode::Both)]
    pub mode: Mode,
    /// Offered rate of the fixed-rate mode, in messages per second (1 to 1 000 000 000).
    #[arg(long, default_value_t = 1_000_000)]
    pub rate: u64,
    #[command(flatten)]
    pub ring: RingFlags,
    #[command(flatten)]
    pub common: Common,
}

/// The `--mode` flag.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Round trips through two topics.
    PingPong,
    /// One-way time at a fixed offered rate.
    FixedRate,
    /// Ping-pong, then fixed-rate.
    Both,
}

/// Recorded round trips per ping-pong run without `--messages`.
const DEFAULT_ROUND_TRIPS: u64 = 200_000;
/// Recorded messages per fixed-rate run without `--messages`.
const DEFAULT_FIXED_RATE_MESSAGES: u64 = 1_000_000;
/// The highest `--rate`: one message per nanosecond.
const MAX_RATE: u64 = 1_000_000_000;
/// At most this many messages per poll in fixed-rate mode.
const POLL_MAX: usize = 256;

/// The percentiles of `percentile_curve_ns`.
const CURVE_PERCENTILES: [f64; 15] = [
    0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.995, 99.999, 100.0,
];

/// What one run measured.
struct Run {
    /// Latencies in nanoseconds (warm-up excluded).
    histogram: Histogram<u64>,
    /// Allocations on the two data-path threads per one-way message.
    allocs_per_msg: f64,
    /// Fixed-rate only: what the producer kept up.
    schedule: Option<Schedule>,
}

/// How well the fixed-rate producer kept its schedule (recorded messages only).
#[derive(Clone, Copy)]
struct Schedule {
    /// Recorded messages over their span (see the module docs).
    achieved_rate_msgs_per_s: f64,
    /// Recorded messages the producer reached after their intended time.
    late_sends: u64,
}

/// Nanoseconds since a base both threads share.
#[derive(Clone, Copy)]
struct Clock(Instant);

impl Clock {
    fn now_ns(self) -> u64 {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A fixed-rate message: its sequence number (equal to its offset) and when it was meant to be
/// sent.
#[derive(Clone, Copy, Debug)]
struct Stamped {
    seq: u64,
    intended_ns: u64,
}

/// Runs the scenario.
pub fn run(args: &Args, ctx: &mut Ctx) -> super::Outcome {
    if !(1..=MAX_RATE).contains(&args.rate) {
        return Err(format!(
            "--rate {}: use 1 to {MAX_RATE} messages per second",
            args.rate
        )
        .into());
    }
    let runs = args.common.runs();
    let strategy = wait_strategy(args.ring.wait, ctx);
    if matches!(args.mode, Mode::PingPong | Mode::Both) {
        let round_trips = args.common.messages_or(DEFAULT_ROUND_TRIPS);
        let warmup = warmup_round_trips(round_trips);
        let scenario = scenario::LATENCY_PING_PONG;
        let mut samples = Vec::new();
        for run in 1..=runs {
            let sample = ping_pong(args.ring.capacity, strategy, round_trips, warmup, ctx)
                .map_err(|e| format!("{scenario}: run {run}: {e}"))?;
            ctx.progress.step(format!(
                "{scenario}: run {run}/{runs}: {}",
                headline(&sample.histogram)
            ));
            samples.push(sample);
        }
        let record = summarise(scenario, &samples)?
            .param("capacity", args.ring.capacity)
            .param("wait", wait_name(strategy))
            .param("round_trips", round_trips)
            .param("warmup_round_trips", warmup)
            .param("size_bytes", std::mem::size_of::<u64>());
        ctx.emit(record, 2);
    }
    if matches!(args.mode, Mode::FixedRate | Mode::Both) {
        let messages = args.common.messages_or(DEFAULT_FIXED_RATE_MESSAGES);
        let warmup = warmup_round_trips(messages);
        let scenario = scenario::LATENCY_FIXED_RATE;
        let mut samples = Vec::new();
        for run in 1..=runs {
            let sample = fixed_rate(
                args.ring.capacity,
                strategy,
                args.rate,
                messages,
                warmup,
                ctx,
            )
            .map_err(|e| format!("{scenario}: run {run}: {e}"))?;
            let late = sample.schedule.map_or(0, |s| s.late_sends);
            ctx.progress.step(format!(
                "{scenario}: run {run}/{runs}: {}, {late} late sends",
                headline(&sample.histogram)
            ));
            samples.push(sample);
        }
        let schedules: Vec<Schedule> = samples.iter().filter_map(|s| s.schedule).collect();
        let rates: Vec<f64> = schedules
            .iter()
            .map(|s| s.achieved_rate_msgs_per_s)
            .collect();
        let late: Vec<f64> = schedules.iter().map(|s| s.late_sends as f64).collect();
        let record = summarise(scenario, &samples)?
            .param("capacity", args.ring.capacity)
            .param("wait", wait_name(strategy))
            .param("rate_msgs_per_s", args.rate)
            .param("messages", messages)
            .param("warmup_messages", warmup)
            .param("poll_max", POLL_MAX)
            .param("size_bytes", std::mem::size_of::<Stamped>())
            .summary("achieved_rate_msgs_per_s", &rates)
            .summary("late_sends", &late);
        ctx.emit(record, 2);
    }
    Ok(())
}

/// `p50 701 ns, p99 975 ns, p99.99 1170 ns, max 24084 ns` for a progress line.
fn headline(h: &Histogram<u64>) -> String {
    format!(
        "p50 {} ns, p99 {} ns, p99.99 {} ns, max {} ns",
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.9999),
        h.max()
    )
}

/// The record of one mode over its runs: per-run percentiles summarised, the merged curve and
/// the worst allocation count.
fn summarise(scenario: &str, samples: &[Run]) -> Result<Record, String> {
    let mut record = Record::new(scenario, system::RINGGROUP, samples.len() as u32);
    for (key, quantile) in PERCENTILES {
        let values: Vec<f64> = samples
            .iter()
            .map(|s| stats::quantile(&s.histogram, quantile) as f64)
            .collect();
        record = record.summary(key, &values);
    }
    let means: Vec<f64> = samples.iter().map(|s| s.histogram.mean()).collect();
    let mut merged = stats::histogram()?;
    for s in samples {
        merged
            .add(&s.histogram)
            .map_err(|e| format!("merging histograms: {e:?}"))?;
    }
    let worst_allocs = samples.iter().map(|s| s.allocs_per_msg).fold(0.0, f64::max);
    Ok(record
        .summary("mean_ns", &means)
        .figure("allocs_per_msg", round(worst_allocs))
        .figure("percentile_curve_ns", curve(&merged)))
}

/// `[[percentile, ns], ...]` at [`CURVE_PERCENTILES`]; 0 is the minimum, 100 the maximum.
fn curve(h: &Histogram<u64>) -> serde_json::Value {
    CURVE_PERCENTILES
        .iter()
        .map(|&p| {
            let ns = if p <= 0.0 {
                h.min()
            } else if p >= 100.0 {
                h.max()
            } else {
                h.value_at_quantile(p / 100.0)
            };
            serde_json::json!([p, ns])
        })
        .collect()
}

/// The topics' wait strategy: `--wait` resolved for two threads on the chosen cores.
fn wait_strategy(wait: Wait, ctx: &Ctx) -> WaitStrategy {
    wait.strategy(2, ctx.cores.count())
}

/// The `wait` parameter: the strategy's name as `--wait` spells it.
fn wait_name(strategy: WaitStrategy) -> &'static str {
    match strategy {
        WaitStrategy::BusySpin => "spin",
        WaitStrategy::Yield => "yield",
        WaitStrategy::SpinThenPark => "park",
    }
}

/// A one-partition topic read by one group of one member (auto-commit).
struct OnePartition<T> {
    topic: Topic<T>,
    group: Group<T>,
    writer: PartitionWriter<T>,
    consumer: Consumer<T>,
}

impl<T: Send + Sync + 'static> OnePartition<T> {
    /// Builds it and lets the member take its partition.
    fn new(name: &str, capacity: usize, strategy: WaitStrategy) -> Result<Self, String> {
        let (topic, producer) = Topic::<T>::builder(name)
            .partitions(1)
            .capacity(capacity)
            .max_groups(1)
            .wait_strategy(strategy)
            .build()
            .map_err(|e| format!("topic {name} (--capacity {capacity}): {e}"))?;
        let group = topic
            .group(format!("{name}-readers"))
            .auto_commit(true)
            .build()
            .map_err(|e| format!("group on {name}: {e}"))?;
        let mut consumer = group
            .join()
            .map_err(|e| format!("joining the group on {name}: {e}"))?;
        // Takes the member's assignment before the clock starts; nothing may be waiting yet.
        settle(&group, std::slice::from_mut(&mut consumer), 1)
            .map_err(|e| format!("{name}: {e}"))?;
        let writer = producer
            .into_partition_writers()
            .pop()
            .ok_or_else(|| format!("topic {name} has no partition"))?;
        Ok(Self {
            topic,
            group,
            writer,
            consumer,
        })
    }
}

/// Both threads' outcomes; when both failed, both errors (the second is often a consequence).
fn both<A, B>(a: Result<A, String>, b: Result<B, String>) -> Result<(A, B), String> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
        (Err(a), Err(b)) => Err(format!("{a}; {b}")),
    }
}

/// One ping-pong run: `warmup` unrecorded round trips, then `round_trips` recorded ones.
fn ping_pong(
    capacity: usize,
    strategy: WaitStrategy,
    round_trips: u64,
    warmup: u64,
    ctx: &Ctx,
) -> Result<Run, String> {
    let ping = OnePartition::<u64>::new("ping", capacity, strategy)?;
    let pong = OnePartition::<u64>::new("pong", capacity, strategy)?;
    let (mut ping_writer, mut ping_reader) = (ping.writer, ping.consumer);
    let (mut pong_writer, mut pong_reader) = (pong.writer, pong.consumer);
    let total = warmup + round_trips;
    let mut histogram = stats::histogram()?;
    let cores = &ctx.cores;
    let arrived = AtomicUsize::new(0);
    let before = alloc::allocations();
    let (pinged, echoed) = thread::scope(|s| {
        let arrived = &arrived;
        let histogram = &mut histogram;
        let echo = s.spawn(move || {
            cores.pin(1);
            start_line(arrived, 2);
            // Counted only from here: `start_line` asks std for the core count, which allocates.
            alloc::count_this_thread();
            let result = echo_loop(&mut ping_reader, &mut pong_writer, total);
            alloc::stop_counting_this_thread();
            drop(pong_writer); // closes pong: a waiting pinger sees it at once
            drop(ping_reader);
            result
        });
        let pinger = s.spawn(move || {
            cores.pin(0);
            start_line(arrived, 2);
            // Counted only from here: `start_line` asks std for the core count, which allocates.
            alloc::count_this_thread();
            let result = ping_loop(&mut ping_writer, &mut pong_reader, total, warmup, histogram);
            alloc::stop_counting_this_thread();
            drop(ping_writer); // closes ping: a waiting echo sees it at once
            drop(pong_reader);
            result
        });
        (join(pinger, "pinger"), join(echo, "echo"))
    });
    both(pinged, echoed)?;
    drop((ping.group, pong.group, ping.topic, pong.topic));
    Ok(Run {
        histogram,
        allocs_per_msg: alloc::per_message(before, 2 * total),
        schedule: None,
    })
}

/// The pinger: sends `i`, waits for it on pong, checks it and records the round trip.
fn ping_loop(
    ping: &mut PartitionWriter<u64>,
    pong: &mut Consumer<u64>,
    total: u64,
    warmup: u64,
    histogram: &mut Histogram<u64>,
) -> Result<(), String> {
    for i in 0..total {
        let sent = Instant::now();
        ping.publish_timeout(i, STALL)
            .map_err(|_| format!("round trip {i}: ping stayed full for {STALL:?}"))?;
        let records = pong
            .poll(1, STALL)
            .map_err(|e| format!("round trip {i}: waiting for pong: {e}"))?;
        let round_trip = sent.elapsed();
        let echoed = records.iter().next().map(|r| (r.offset, *r.value));
        drop(records);
        if echoed != Some((i, i)) {
            return Err(format!(
                "round trip {i}: expected {i} at pong offset {i}, got (offset, value) {echoed:?}"
            ));
        }
        if i >= warmup {
            histogram.saturating_record(u64::try_from(round_trip.as_nanos()).unwrap_or(u64::MAX));
        }
    }
    Ok(())
}

/// The echo: sends every ping back on pong, then commits it.
fn echo_loop(
    ping: &mut Consumer<u64>,
    pong: &mut PartitionWriter<u64>,
    total: u64,
) -> Result<(), String> {
    for i in 0..total {
        let records = ping
            .poll(1, STALL)
            .map_err(|e| format!("waiting for ping {i}: {e}"))?;
        let received = records.iter().next().map(|r| (r.offset, *r.value));
        if received != Some((i, i)) {
            return Err(format!(
                "expected {i} at ping offset {i}, got (offset, value) {received:?}"
            ));
        }
        pong.publish_timeout(i, STALL)
            .map_err(|_| format!("echo {i}: pong stayed full for {STALL:?}"))?;
        drop(records); // auto-commit, after the echo is on its way
    }
    Ok(())
}

/// One fixed-rate run: `warmup` unrecorded messages, then `messages` recorded ones, offered at
/// `rate` per second.
fn fixed_rate(
    capacity: usize,
    strategy: WaitStrategy,
    rate: u64,
    messages: u64,
    warmup: u64,
    ctx: &Ctx,
) -> Result<Run, String> {
    let timed = OnePartition::<Stamped>::new("timed", capacity, strategy)?;
    let (mut writer, mut reader) = (timed.writer, timed.consumer);
    let total = warmup + messages;
    let shared_core = ctx.cores.count() < 2;
    let mut histogram = stats::histogram()?;
    let cores = &ctx.cores;
    let clock = Clock(Instant::now());
    let consumer_failed = AtomicBool::new(false);
    let arrived = AtomicUsize::new(0);
    let before = alloc::allocations();
    let (produced, consumed) = thread::scope(|s| {
        let (arrived, consumer_failed) = (&arrived, &consumer_failed);
        let histogram = &mut histogram;
        let consumer = s.spawn(move || {
            cores.pin(1);
            start_line(arrived, 2);
            // Counted only from here: `start_line` asks std for the core count, which allocates.
            alloc::count_this_thread();
            let result = receive_timed(&mut reader, clock, total, warmup, histogram);
            alloc::stop_counting_this_thread();
            if result.is_err() {
                // Relaxed: only tells the producer to stop early; the error comes back by join.
                consumer_failed.store(true, Ordering::Relaxed);
            }
            drop(reader);
            result
        });
        let producer = s.spawn(move || {
            cores.pin(0);
            start_line(arrived, 2);
            // Counted only from here: `start_line` asks std for the core count, which allocates.
            alloc::count_this_thread();
            let pacing = Pacing {
                clock,
                rate,
                shared_core,
            };
            let result = send_timed(&mut writer, pacing, total, warmup, consumer_failed);
            alloc::stop_counting_this_thread();
            drop(writer); // closes the topic
            result
        });
        (join(producer, "producer"), join(consumer, "consumer"))
    });
    let (schedule, ()) = both(produced, consumed)?;
    drop((timed.group, timed.topic));
    Ok(Run {
        histogram,
        allocs_per_msg: alloc::per_message(before, total),
        schedule: Some(schedule),
    })
}

/// The fixed-rate producer's schedule.
#[derive(Clone, Copy)]
struct Pacing {
    clock: Clock,
    rate: u64,
    /// Both threads on one core: yield instead of spinning while early.
    shared_core: bool,
}

impl Pacing {
    /// Nanoseconds from the first message's intended time to message `i`'s: `i / rate` s.
    fn offset_ns(&self, i: u64) -> u64 {
        let ns = u128::from(i) * 1_000_000_000 / u128::from(self.rate);
        u64::try_from(ns).unwrap_or(u64::MAX)
    }
}

/// Publishes message `i` at `t0 + i / rate`, or at once when that time has passed.
fn send_timed(
    writer: &mut PartitionWriter<Stamped>,
    pacing: Pacing,
    total: u64,
    warmup: u64,
    consumer_failed: &AtomicBool,
) -> Result<Schedule, String> {
    let t0 = pacing.clock.now_ns();
    let mut late_sends = 0u64;
    let mut last_send_ns = t0;
    // When the producer reached the current message: message 0 is reached at `t0` exactly.
    let mut now = t0;
    for i in 0..total {
        // Relaxed: a stop hint set by the consumer on failure (its error comes back by join).
        if consumer_failed.load(Ordering::Relaxed) {
            return Err(format!("stopped at message {i}: the consumer failed"));
        }
        let intended_ns = t0.saturating_add(pacing.offset_ns(i));
        if now > intended_ns {
            late_sends += u64::from(i >= warmup);
        } else {
            while now < intended_ns {
                if pacing.shared_core {
                    thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
                now = pacing.clock.now_ns();
            }
        }
        let message = Stamped {
            seq: i,
            intended_ns,
        };
        writer
            .publish_timeout(message, STALL)
            .map_err(|_| format!("message {i}: the ring stayed full for {STALL:?}"))?;
        last_send_ns = now;
        now = pacing.clock.now_ns();
    }
    let recorded = total - warmup;
    let first_recorded_ns = t0.saturating_add(pacing.offset_ns(warmup));
    let span_s =
        last_send_ns.saturating_sub(first_recorded_ns) as f64 / 1e9 + 1.0 / pacing.rate as f64;
    Ok(Schedule {
        achieved_rate_msgs_per_s: recorded as f64 / span_s,
        late_sends,
    })
}

/// Receives `total` messages, checking offsets `0, 1, 2, ...`, and records each one's latency
/// from its intended send time to the return of the poll that brought it.
fn receive_timed(
    reader: &mut Consumer<Stamped>,
    clock: Clock,
    total: u64,
    warmup: u64,
    histogram: &mut Histogram<u64>,
) -> Result<(), String> {
    let mut next = 0u64;
    while next < total {
        let records = reader
            .poll(POLL_MAX, STALL)
            .map_err(|e| format!("after {next} of {total} messages: {e}"))?;
        let received_ns = clock.now_ns();
        for r in records.iter() {
            if next >= total || r.offset != next || r.value.seq != next {
                return Err(format!(
                    "expected offset {next} of {total}, got offset {} carrying sequence {}",
                    r.offset, r.value.seq
                ));
            }
            if next >= warmup {
                histogram.saturating_record(received_ns.saturating_sub(r.value.intended_ns));
            }
            next += 1;
        }
    }
    Ok(())
}
