//! `compare`: ringgroup side by side with each peer that can express a case, alternating
//! A B A B in one process, and the ratio of ringgroup to each peer.
//!
//! # Systems
//!
//! Every system moves `u64` messages through queues of `--capacity` slots (4096). ringgroup
//! runs twice:
//!
//! - `ringgroup` is the partition ring itself (`ringgroup::ring`: `Writer` / `Reader`), the
//!   fair counterpart of the peers' queues (`peers::ringgroup_ring`).
//! - `ringgroup-group` is the consumer-group API an application calls (`peers::ringgroup_group`):
//!   a heap `Topic` of one partition of `--capacity` slots, its `Producer` (`try_send`; the
//!   multi-producer topic's `SharedProducer` in `mpsc` and `mpmc`), and per consumer a consumer
//!   group of one member, auto-commit on, receiving with `Consumer::try_poll`; several groups
//!   are a broadcast, as the ring's readers are. Its records carry `ratio_vs_ring` (below), the
//!   cost of the group layer over the same ring in the same invocation.
//! - the peers: rtrb, disruptor, crossbeam-channel, crossbeam-queue and bus (`peers::*`), and
//!   in ping-pong the `floor` reference.
//!
//! # Cases
//!
//! The two one-to-one stream cases differ only in the delivery model, which each record names
//! (`delivery`, and `receive`: the call its consumer makes). Producers send one message per
//! send in both.
//!
//! - `compare/spsc`, **one per receive**: one producer sends `0..n` to one consumer, one
//!   message per send, and the consumer takes exactly one message per receive and is done
//!   with it before the next: ringgroup `Reader::try_poll(1)` (a poll per message; the ring
//!   reader releases lazily, as the library does by default: its cursor is stored once
//!   `capacity / 16` messages were read, and at once when a poll finds nothing),
//!   ringgroup-group `Consumer::try_poll(1)` (a poll and a commit per message), rtrb `pop`,
//!   disruptor's `EventPoller::take(1)` on our consumer thread, crossbeam-channel `try_recv`,
//!   crossbeam-queue `pop`, bus `try_recv` (one reader). Each record's `release` says when
//!   its consumer hands slots back.
//! - `compare/spsc-drain`, **everything ready per receive**: the same producer, and the
//!   consumer takes everything published so far in one receive: ringgroup
//!   `Reader::try_poll(usize::MAX)` (one batch; the calls `Reader::try_drain` makes, without its
//!   closure per message, so that the check is the slice check every system's batch runs),
//!   ringgroup-group `Consumer::try_poll(usize::MAX)` (one batch, one commit; likewise what
//!   `Consumer::try_drain` does), rtrb `read_chunk(slots())` (one chunk, one commit),
//!   disruptor's managed handler (its usual form: it drains what is published before it moves
//!   its cursor), crossbeam-channel `try_iter()` until empty, crossbeam-queue and bus taking
//!   one by one until empty (they have no batch receive: `native_drain: false`). A drain one by
//!   one stops after `--capacity` messages (more than the queue ever holds), so a receive
//!   always ends.
//! - `compare/spsc-batch`: batches of `--batch` (256) per send and up to that per receive:
//!   ringgroup `try_claim` / `try_poll(256)`, ringgroup-group the producer's partition writer
//!   (`Producer::partition_writer(0)`, `try_claim`) / `Consumer::try_poll(256)`, rtrb
//!   `write_chunk_uninit` / `read_chunk`, disruptor `try_batch_publish` (its handler always
//!   drains what is there). crossbeam-channel, crossbeam-queue and bus have no batch
//!   operation, so their batches go one message at a time (`native_batch: false` on their
//!   records).
//! - `compare/fanout-3`: one producer, three consumers each receiving every message: ringgroup
//!   (one ring, three readers), ringgroup-group (one topic, three groups of one member),
//!   disruptor (three handlers), bus (three readers). rtrb and the crossbeam queues cannot
//!   broadcast and are skipped. The producer sends one message at a time; each consumer takes
//!   what is ready, up to `--batch` per receive (ringgroup `try_poll(256)`; disruptor's
//!   handlers always drain what is ready; bus has no batch receive). That is 4 threads on a
//!   2-core machine: `threads_sharing_core` says so, and every system then yields instead of
//!   spinning.
//! - `compare/mpsc`: two producers (thread slots 0 and 1) send into one queue, one consumer
//!   (slot 2) receives every message. The producers take the message numbers in chunks of
//!   256 from a shared counter (so both keep sending to the end: a fixed half each would leave
//!   the producer alone on its core done early and its core idle) and send each tagged with
//!   their id, one per send; the consumer takes what is ready, up to `--batch` per receive, and
//!   checks per-producer order and that nothing was lost or repeated (`peers::multi`).
//!   Systems: ringgroup's multi-producer ring (`Ring::builder().multi_producer()`: one
//!   `SharedWriter` clone per producer thread, `try_publish`; the reader `try_poll(256)`),
//!   ringgroup-group's multi-producer topic (`TopicBuilder::multi_producer()`: one
//!   `SharedProducer` clone per producer thread, `try_send`; one group of one member per
//!   consumer, `Consumer::try_poll(256)`), disruptor's multi-producer mode (`build_multi_producer`, one `MultiProducer` clone per
//!   thread, a managed handler), crossbeam-channel (a `Sender` clone per producer) and
//!   crossbeam-queue (`ArrayQueue` behind an `Arc`). rtrb (single-producer), bus (its
//!   `broadcast` takes `&mut self`) and the floor cannot express it and are skipped.
//! - `compare/mpmc`: the same two producers, and two consumers (slots 2 and 3) sharing the
//!   messages, each checking the per-producer order of what it takes; together they must take
//!   every message exactly once. What "sharing" is differs by what each system can express:
//!   crossbeam's channel and queue are work queues, each message goes to one consumer;
//!   ringgroup's ring and the disruptor are broadcasts, every consumer sees every message, so
//!   consumer `k` takes the messages at offsets (sequences) `k mod 2` and steps over the
//!   others, and each still reads every slot (and gates the producers). ringgroup-group does
//!   what the ring does, with two groups of one member each (a group shares messages among
//!   its members by partition, and this topic has one; two groups keep it the ring's case, so
//!   that `ratio_vs_ring` compares like with like). The records say which (`sharing`: `queue`
//!   or `broadcast`).
//!   mpsc is 3 threads and mpmc 4 on a 2-core machine: `threads_sharing_core` says so, and
//!   every system then yields instead of spinning (`--wait auto`).
//! - `compare/ping-pong`: the pinger sends `i` through one queue, an echo thread sends it back
//!   through a second, the pinger checks it and records the round trip (hdrhistogram:
//!   `p50_ns` ... `max_ns`). Every system takes part (ringgroup-group: two topics, each read by
//!   a group of one member, `try_poll(1)`); disruptor through its event-poller API, since a
//!   managed handler thread cannot be the timing thread (see `peers::disruptor_ring`).
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
//! - Checks: every consumer checks that it receives exactly `0, 1, 2, ...` (with two
//!   producers: each producer's messages in order, and over all consumers each exactly once);
//!   a thread that makes no progress for 10 s fails the run (a lost message cannot hang it or
//!   pass).
//! - Allocations (`allocs_per_msg`, worst run): counted on the data-path threads only, per
//!   message sent (per one-way message in ping-pong).
//!
//! # Sizes
//!
//! By default slices are timed: each system's slice size is calibrated during its warm-up so
//! that a run (`--slices` 4 slices) lasts about `--run-ms` (100 ms), whatever the system's
//! speed; a timed ping-pong slice also stops at three times its share. `--messages N` fixes the
//! sizes instead: `N` messages per `spsc`, `spsc-drain` and `spsc-batch` slice (rounded up to
//! a whole number of batches in `spsc-batch`), a fifth for `fanout-3` (each message is
//! delivered three times, on shared cores), a half for `mpsc` and `mpmc` (in all, over both
//! producers), a fiftieth as round trips for `ping-pong`, and a tenth of each for bus, an order
//! of magnitude slower. Rates are per second, so the sizes do not change the figures; the
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
//!
//! `ringgroup-group` is one of the ring's peers here, so the ring's record also has
//! `ratio_vs_ringgroup-group` (ring ÷ group: how much the bare ring gains by skipping the
//! group layer). The group's own record carries the figure the project's target reads,
//! `ratio_vs_ring` (`ringgroup_results::names::figure::RATIO_VS_RING`): per run, the group's
//! rate ÷ the ring's in the stream cases, the ring's p50 ÷ the group's in ping-pong
//! (`p99_ratio_vs_ring` for p99), so above 1 means the group API did better; median over runs
//! with `_min` and `_max`. The tables print under each case a line saying whether it is at
//! least `ringgroup_results::GROUP_TARGET` (0.8×).

use clap::Parser;
use ringgroup_results::names::{figure, scenario};

use crate::alternate::figures::{figures, method_figures, ratios};
use crate::alternate::flags::MethodFlags;
use crate::alternate::{self, unique, Placement, Sizing};
use crate::common::{Common, Ctx};
use crate::peers::{self, Case, Plan, Sample, System};
use crate::report::Record;

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
    /// fanout-3, mpsc and mpmc. (spsc takes one per receive, spsc-drain everything ready.)
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    #[command(flatten)]
    pub method: MethodFlags,
    #[command(flatten)]
    pub common: Common,
}

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

/// Runs every system of one case, alternating, and emits a record per system.
fn run_case(
    case: Case,
    systems: &[System],
    args: &Args,
    placement: &mut Placement,
    ctx: &mut Ctx,
) -> Result<(), String> {
    let method = args.method.method(&args.common);
    let waiting = args.method.wait.resolve(case.threads(), ctx.cores.count());
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
    let ring_samples = ringgroup.map(|i| series[i].samples());
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
            Case::Mpsc | Case::Mpmc => {
                let sharing = if case == Case::Mpsc {
                    "one consumer"
                } else if system.broadcasts() {
                    "broadcast"
                } else {
                    "queue"
                };
                record = record
                    .param("producers", case.producers())
                    .param("consumers", case.consumers())
                    .param("recv_batch", args.batch)
                    .param("sharing", sharing);
            }
            Case::Spsc | Case::SpscDrain | Case::PingPong => {}
        }
        match case {
            Case::Spsc => {
                record = record
                    .param("delivery", "one per receive")
                    .param("receive", system.receive(case))
                    .param("release", system.release(case));
            }
            Case::SpscDrain => {
                record = record
                    .param("delivery", "all ready per receive")
                    .param("receive", system.receive(case))
                    .param("release", system.release(case))
                    .param("native_drain", system.native_drain());
            }
            _ => {}
        }
        if system == System::Disruptor {
            let consumer = if matches!(case, Case::Spsc | Case::PingPong) {
                "event poller"
            } else {
                "managed handler threads"
            };
            record = record.param("consumer", consumer);
            if matches!(case, Case::Mpsc | Case::Mpmc) {
                record = record.param("producer", "multi-producer");
            }
        }
        if system == System::RinggroupGroup {
            let producer = match case {
                Case::SpscBatch => "Producer::partition_writer(0).try_claim",
                Case::Mpsc | Case::Mpmc => "SharedProducer::try_send",
                _ => "Producer::try_send",
            };
            // One partition, one member per group (see `peers::ringgroup_group`).
            record = record
                .param("groups", case.consumers())
                .param("auto_commit", true)
                .param("producer", producer);
        }
        let samples = s.samples();
        record = figures(record, &samples, "mmsgs_per_s", "allocs_per_msg");
        if Some(i) == ringgroup {
            for peer in series.iter().filter(|p| p.system != System::Ringgroup) {
                let theirs = peer.samples();
                record = ratios(record, peer.system.name(), &samples, &theirs);
                if peer.system == System::Floor && case == Case::PingPong {
                    record = over_floor(record, &samples, &theirs);
                }
            }
        }
        if let (System::RinggroupGroup, Some(ring)) = (system, &ring_samples) {
            // The group API against the bare ring, run for run: above 1, the group did
            // better (`ratio_vs_ring`, and `p99_ratio_vs_ring` in ping-pong).
            record = ratios(record, RING, &samples, ring);
        }
        record = method_figures(record, s);
        ctx.emit(record, case.threads());
    }
    Ok(())
}

/// What the group system's ratio to the bare ring is called after: `ratio_vs_ring`.
const RING: &str = "ring";

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_ratio_has_the_schemas_name() {
        assert_eq!(format!("ratio_vs_{RING}"), figure::RATIO_VS_RING);
    }
}
