//! `compare`: ringgroup side by side with each peer that can express a case, alternating
//! A B A B in one process, and the ratio of ringgroup to each peer.
//!
//! # Cases
//!
//! Every system moves `u64` messages through queues of `--capacity` slots (4096). ringgroup here
//! is the partition ring itself (`ringgroup::ring`: `Writer` / `Reader`), the fair counterpart
//! of the peers' queues.
//!
//! - `compare/spsc`: one producer sends `0..n` to one consumer, one message per send and per
//!   receive. Systems: ringgroup, rtrb, disruptor, crossbeam-channel, crossbeam-queue, bus (one
//!   reader).
//! - `compare/spsc-batch`: the same in batches of `--batch` (256) per send and up to that per
//!   receive: ringgroup `try_claim` / `try_poll(256)`, rtrb `write_chunk_uninit` /
//!   `read_chunk`, disruptor `try_batch_publish` (its handler always drains what is there).
//!   crossbeam-channel, crossbeam-queue and bus have no batch operation, so their batches go one
//!   message at a time (`native_batch: false` on their records).
//! - `compare/fanout-3`: one producer, three consumers each receiving every message: ringgroup
//!   (one ring, three readers), disruptor (three handlers), bus (three readers). rtrb and the
//!   crossbeam queues cannot broadcast and are skipped. The producer sends one message at a
//!   time; each consumer takes what is ready, up to `--batch` per receive (ringgroup
//!   `try_poll(256)`; disruptor's handlers always drain what is ready; bus has no batch receive).
//!   That is 4 threads on a 2-core machine: `threads_sharing_core` says so, and every system
//!   then yields instead of spinning.
//! - `compare/ping-pong`: the pinger sends `i` through one queue, an echo thread sends it back
//!   through a second, the pinger checks it and records the round trip (hdrhistogram:
//!   `p50_ns` ... `max_ns`). Every system takes part; disruptor through its event-poller API,
//!   since a managed handler thread cannot be the timing thread (see `peers::disruptor_ring`).
//!   The first tenth of the round trips (at most 10 000) warm up and are not recorded. Beside
//!   the peers runs the reference `floor` (`peers::floor`): one cache line each way, a store
//!   seen by a spinning load, no queue at all; the physical floor of a round trip between the
//!   two cores, driven by the same pinger and echo with the same waiting.
//!
//! # Method
//!
//! - Alternating (`alternate.rs`): after each system's discarded warm-up, round `r` runs one
//!   slice of every system, in `--systems` order for odd `r` and reversed for even `r`; a run
//!   is `--slices` such rounds, aggregated; never all runs of one system in a row. Figures are
//!   the median over runs, with `_min` and `_max`. A slice disturbed by other work on the
//!   machine (the process got less than 90 % of the cores its threads keep busy), or about to
//!   run with the two vCPUs placed farther apart than before, is run again or waits; see
//!   `alternate.rs`.
//! - Threads: the producer (or pinger) is pinned to thread slot 0, consumers (or the echo) to
//!   slots 1, 2, 3 (`ctx.cores`); disruptor's managed handlers get the same cores through its
//!   builder's `pin_at_core`. Threads meet at a start line; a stream's time runs from the
//!   producer leaving it until the last consumer has checked the last message.
//! - Waiting (`--wait`): every system uses only non-blocking operations and waits the same way,
//!   spinning with the CPU's spin hint while every thread has its own core, else yielding.
//! - Checks: every consumer checks that it receives exactly `0, 1, 2, ...`; a thread that makes
//!   no progress for 10 s fails the run (a lost message cannot hang it or pass).
//! - Allocations (`allocs_per_msg`, worst run): counted on the data-path threads only, per
//!   message sent (per one-way message in ping-pong).
//!
//! # Sizes
//!
//! By default slices are timed: each system's slice size is calibrated during its warm-up so
//! that a run (`--slices` 4 slices) lasts about `--run-ms` (100 ms), whatever the system's
//! speed; a timed ping-pong slice also stops at three times its share. `--messages N` fixes the
//! sizes instead: `N` messages per `spsc` and `spsc-batch` slice (rounded up to a whole number
//! of batches), a fifth for `fanout-3` (each message is delivered three times, on shared
//! cores), a fiftieth as round trips for `ping-pong`, and a tenth of each for bus, an order of
//! magnitude slower. Rates are per second, so the sizes do not change the figures; the
//! `messages` or `round_trips` parameter of each record says what one slice ran, `slices` how
//! many make a run, `target_run_ms` the timed target, and the `run_ms` figure how long the
//! runs took.
//!
//! # Ratios
//!
//! On the ringgroup record of each case, `ratio_vs_<peer>` is the median over runs of the
//! per-run ratio (run `i` of ringgroup against run `i` of the peer, measured side by side), with
//! `ratio_vs_<peer>_min` and `_max`. A ratio above 1 always means ringgroup did better:
//!
//! - throughput cases: ringgroup M msg/s / peer M msg/s;
//! - ping-pong: peer p50 / ringgroup p50, and `p99_ratio_vs_<peer>` = peer p99 / ringgroup p99.
//!
//! The floor is measured the same way, so `ratio_vs_floor` (floor p50 / ringgroup p50) is at
//! most about 1 and says how close ringgroup comes to the machine's limit. Its inverse is also
//! written, as the figure a target reads: `p50_over_floor` = ringgroup p50 / floor p50 (median
//! of the per-run quotients, with `_min` and `_max`; 1.15 means 15 % above the floor), and
//! `p99_over_floor` likewise; the tables print a line saying whether ringgroup's p50 is within
//! `ringgroup_results::FLOOR_TARGET` (1.2×) of the floor.

use std::time::Duration;

use clap::Parser;
use ringgroup_results::names::{figure, scenario};

use crate::alternate::{self, Method, Placement, Series, Sizing};
use crate::common::{Common, Ctx};
use crate::peers::{self, Case, Plan, Sample, System, Waiting};
use crate::report::{round, Record};
use crate::stats::PERCENTILES;

/// Flags of `compare`.
#[derive(Parser, Debug)]
pub struct Args {
    /// Cases to run (comma list).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Case::ALL)]
    pub cases: Vec<Case>,
    /// Systems to run (comma list); each runs only the cases it can express. Ratios need
    /// ringgroup.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = System::ALL)]
    pub systems: Vec<System>,
    /// Slots in every queue: a power of two (ringgroup and disruptor need one).
    #[arg(long, default_value_t = 4096)]
    pub capacity: usize,
    /// Messages per send and at most per receive in spsc-batch; at most per receive in
    /// fanout-3.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// How every waiting thread of every system waits.
    #[arg(long, value_enum, default_value_t = WaitMode::Auto)]
    pub wait: WaitMode,
    /// How long each measured run lasts, in ms, when `--messages` does not fix its size: each
    /// system's slice size is calibrated from its warm-up to last `run-ms / slices`.
    #[arg(long, default_value_t = DEFAULT_RUN_MS)]
    pub run_ms: u64,
    /// Slices per run: fresh, short runs of the system, interleaved with the other systems'
    /// and aggregated into the run's figure. `--messages` is the size of one slice.
    #[arg(long, default_value_t = DEFAULT_SLICES)]
    pub slices: u32,
    /// Discarded warm-up slices per system and case before the measured ones (timed runs make
    /// at least one, which also calibrates their size).
    #[arg(long, default_value_t = 1)]
    pub warmup: u32,
    /// How many times a disturbed slice (the process got less than 90 % of the cores its
    /// threads keep busy) is discarded and run again; 0: keep every slice.
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
    #[command(flatten)]
    pub common: Common,
}

/// The `--wait` flag of `compare` (the same for every system).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitMode {
    /// Spin while every thread has its own core, else yield.
    Auto,
    /// Always spin with the CPU's spin hint.
    Spin,
    /// Always yield the time slice between checks.
    Yield,
}

impl WaitMode {
    fn resolve(self, threads: usize, cores: usize) -> Waiting {
        match self {
            WaitMode::Auto if threads <= cores => Waiting::Spin,
            WaitMode::Auto | WaitMode::Yield => Waiting::Yield,
            WaitMode::Spin => Waiting::Spin,
        }
    }
}

/// The default `--run-ms`.
const DEFAULT_RUN_MS: u64 = 100;

/// The default `--slices`.
const DEFAULT_SLICES: u32 = 4;

/// The largest `--capacity` accepted.
const MAX_CAPACITY: usize = 1 << 26;

/// Runs the scenario.
pub fn run(args: &Args, ctx: &mut Ctx) -> super::Outcome {
    validate(args)?;
    let mut placement = Placement::default();
    let mut ran = 0;
    for case in unique(&args.cases) {
        let (systems, skipped): (Vec<System>, Vec<System>) = unique(&args.systems)
            .into_iter()
            .partition(|s| s.can_run(case));
        if !skipped.is_empty() {
            let names: Vec<_> = skipped.iter().map(|s| s.name()).collect();
            ctx.progress.step(format!(
                "compare/{}: {} cannot express it: skipped",
                case.name(),
                names.join(", ")
            ));
        }
        if !systems.is_empty() {
            run_case(case, &systems, args, &mut placement, ctx)?;
            ran += 1;
        }
    }
    if ran == 0 {
        return Err("none of --systems can express any of --cases".into());
    }
    Ok(())
}

fn validate(args: &Args) -> Result<(), String> {
    if !args.capacity.is_power_of_two() || args.capacity < 2 || args.capacity > MAX_CAPACITY {
        return Err(format!(
            "--capacity {}: use a power of two from 2 to {MAX_CAPACITY}",
            args.capacity
        ));
    }
    if args.batch == 0 || args.batch > args.capacity {
        return Err(format!(
            "--batch {}: use 1 to the capacity ({})",
            args.batch, args.capacity
        ));
    }
    Ok(())
}

/// `items` without repeats, in first-seen order.
fn unique<T: Copy + PartialEq>(items: &[T]) -> Vec<T> {
    let mut out = Vec::new();
    for &item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// Runs every system of one case, alternating, and emits a record per system.
fn run_case(
    case: Case,
    systems: &[System],
    args: &Args,
    placement: &mut Placement,
    ctx: &mut Ctx,
) -> Result<(), String> {
    let method = method(args);
    let waiting = args.wait.resolve(case.threads(), ctx.cores.count());
    let scenario = scenario::of(scenario::COMPARE, case.name());
    let plan = Plan {
        cores: &ctx.cores,
        capacity: args.capacity,
        batch: args.batch,
        messages: 0,
        waiting,
        deadline: None,
    };
    let series = alternate::run_case(case, systems, &method, plan, placement, &mut ctx.progress)
        .map_err(|e| format!("{scenario}: {e}"))?;
    let ringgroup = systems.iter().position(|&s| s == System::Ringgroup);
    for (i, s) in series.iter().enumerate() {
        let system = s.system;
        let mut record = Record::new(scenario.clone(), system.name(), method.runs);
        if system != System::Floor {
            // The floor has no queue, so no capacity.
            record = record.param("capacity", args.capacity);
        }
        record = record.param("wait", waiting.name());
        // Sizes are per slice; a run is `slices` of them.
        if case == Case::PingPong {
            record = record
                .param("round_trips", s.messages)
                .param("warmup_round_trips", peers::warmup_round_trips(s.messages));
        } else {
            record = record.param("messages", s.messages);
        }
        record = record.param("slices", method.slices);
        if let Sizing::Timed(target) = method.sizing {
            record = record.param("target_run_ms", target.as_millis() as u64);
        }
        record = record.param("warmup_slices", s.warmup_slices);
        match case {
            Case::SpscBatch => {
                record = record
                    .param("batch", args.batch)
                    .param("native_batch", system.native_batch());
            }
            Case::Fanout3 => record = record.param("recv_batch", args.batch),
            Case::Spsc | Case::PingPong => {}
        }
        if system == System::Disruptor {
            let consumer = if case == Case::PingPong {
                "event poller"
            } else {
                "managed handler threads"
            };
            record = record.param("consumer", consumer);
        }
        let samples = s.samples();
        record = figures(record, &samples);
        if Some(i) == ringgroup {
            for peer in series.iter().filter(|p| p.system != System::Ringgroup) {
                let theirs = peer.samples();
                record = ratios(record, peer.system, &samples, &theirs);
                if peer.system == System::Floor && case == Case::PingPong {
                    record = over_floor(record, &samples, &theirs);
                }
            }
        }
        record = method_figures(record, s);
        ctx.emit(record, case.threads());
    }
    Ok(())
}

/// The method `args` ask for: timed runs unless `--messages` fixes their size.
fn method(args: &Args) -> Method {
    Method {
        sizing: match args.common.messages {
            Some(messages) => Sizing::Fixed(messages.max(1)),
            None => Sizing::Timed(Duration::from_millis(args.run_ms.max(1))),
        },
        runs: args.common.runs(),
        slices: args.slices.max(1),
        warmup: args.warmup,
        retries: args.retries,
    }
}

/// What the runs cost and how clean they were: `run_ms` (wall time per run, its slices
/// added), `cpu_share` (the share of its busy cores each run got), `line_rtt_ns` (the placement
/// probe before each slice), `retried_slices`, `disturbed_slices`, `placement_waits`,
/// `moved_slices`, and for ping-pong slices stopped at their deadline `cut_short_slices` (only
/// when there were some).
fn method_figures(mut record: Record, s: &Series) -> Record {
    let wall: Vec<f64> = s.runs.iter().map(|m| m.wall.as_secs_f64() * 1e3).collect();
    record = record.summary("run_ms", &wall);
    let shares: Vec<f64> = s.runs.iter().filter_map(|m| m.cpu_share).collect();
    if shares.len() == s.runs.len() && !shares.is_empty() {
        record = record.summary("cpu_share", &shares);
    }
    if !s.line_rtt_ns.is_empty() {
        record = record.summary("line_rtt_ns", &s.line_rtt_ns);
    }
    if s.cut_short > 0 {
        record = record.figure("cut_short_slices", s.cut_short);
    }
    record
        .figure("retried_slices", s.retried)
        .figure("disturbed_slices", s.disturbed)
        .figure("placement_waits", s.placement_waits)
        .figure("moved_slices", s.moved)
}

/// Adds one system's figures over its runs.
fn figures(mut record: Record, samples: &[&Sample]) -> Record {
    match samples.first() {
        Some(Sample::RoundTrip { .. }) => {
            for (key, quantile) in PERCENTILES {
                let values: Vec<f64> = samples.iter().map(|s| s.percentile(quantile)).collect();
                record = record.summary(key, &values);
            }
        }
        _ => {
            let rates: Vec<f64> = samples.iter().map(|s| s.rate()).collect();
            record = record.summary("mmsgs_per_s", &rates);
        }
    }
    let worst = samples
        .iter()
        .map(|s| s.allocs_per_msg())
        .fold(0.0, f64::max);
    record.figure("allocs_per_msg", round(worst))
}

/// Adds ringgroup's per-run ratios against `peer` (above 1: ringgroup did better).
fn ratios(record: Record, peer: System, ours: &[&Sample], theirs: &[&Sample]) -> Record {
    let per_run = |f: &dyn Fn(&Sample, &Sample) -> f64| -> Vec<f64> {
        ours.iter().zip(theirs).map(|(a, b)| f(a, b)).collect()
    };
    let key = format!("ratio_vs_{}", peer.name());
    match ours.first() {
        Some(Sample::RoundTrip { .. }) => {
            let p50 = per_run(&|a, b| b.percentile(Some(0.5)) / a.percentile(Some(0.5)));
            let p99 = per_run(&|a, b| b.percentile(Some(0.99)) / a.percentile(Some(0.99)));
            record
                .summary(&key, &p50)
                .summary(&format!("p99_{key}"), &p99)
        }
        _ => record.summary(&key, &per_run(&|a, b| a.rate() / b.rate())),
    }
}

/// Adds how many times the floor ringgroup's round trip is: `p50_over_floor` and
/// `p99_over_floor` (per-run ringgroup ÷ floor, at least about 1).
fn over_floor(record: Record, ours: &[&Sample], floor: &[&Sample]) -> Record {
    let per_run = |q: f64| -> Vec<f64> {
        ours.iter()
            .zip(floor)
            .map(|(a, b)| a.percentile(Some(q)) / b.percentile(Some(q)))
            .collect()
    };
    record
        .summary(figure::P50_OVER_FLOOR, &per_run(0.5))
        .summary(figure::P99_OVER_FLOOR, &per_run(0.99))
}
