//! `reply`: request → consume → reply through ringgroup's producer groups, against a baseline
//! built from crossbeam-channel, alternating A B A B in one process as `compare` does.
//!
//! # Cases
//!
//! - `reply/round-trip`: one requester and one responder; the requester sends a request,
//!   waits for its reply, checks it, and records the round trip (hdrhistogram: `p50_ns` ...
//!   `max_ns`). 2 threads: they spin under `--wait auto` on 2 cores.
//! - `reply/sustained`: two requesters, each keeping up to `--window` (32) requests
//!   outstanding, and two responders: requests completed per second (`mreqs_per_s`, millions).
//!   4 threads on 2 cores: `threads_sharing_core` says so, and every thread yields under
//!   `--wait auto`.
//!
//! What each system runs (ringgroup: a multi-producer topic of `Request<u64, u64>` with one
//! partition per responder, a consumer group answering with `Records::reply`, a producer group
//! whose members wait with `PendingReply::wait`; the baseline: one request channel carrying
//! (requester id, correlation id, value), one reply channel per requester) and how every reply
//! is checked against its request are in `peers::reply`.
//!
//! # Method
//!
//! The same as `compare`'s (`alternate.rs`, `tools/bench/README.md` "How compare measures"):
//! timed slices (each system's size calibrated in its warm-up to last `--run-ms / --slices`),
//! discarded warm-up slices, rounds in mirrored order, disturbed slices run again, the
//! placement probe before each slice; a timed round-trip slice stops at three times its share.
//! `--messages N` fixes the sizes instead: a fiftieth of `N` as round trips, a tenth as
//! requests in `sustained` (split over the requesters). Figures are the median over runs,
//! with `_min` and `_max`; `allocs_per_request` is counted on the requester and responder
//! threads (the worst run).
//!
//! # Ratios
//!
//! On ringgroup's record of each case, against crossbeam-channel, per run and then the median
//! with `_min` and `_max`, above 1 meaning ringgroup did better: `ratio_vs_crossbeam-channel`
//! = baseline p50 / ringgroup p50 and `p99_ratio_vs_crossbeam-channel` = baseline p99 /
//! ringgroup p99 (round trip); ringgroup requests/s / baseline requests/s (sustained).

use clap::Parser;

use crate::alternate::figures::{figures, method_figures, ratios};
use crate::alternate::flags::MethodFlags;
use crate::alternate::{self, unique, Placement, Sizing};
use crate::common::{Common, Ctx};
use crate::peers::reply::{self, Reply, ReplyCase};
use crate::peers::{self, Plan, System, Workload};
use crate::report::Record;

/// Flags of `reply`.
#[derive(Parser, Debug)]
pub struct Args {
    /// Cases to run (comma list).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = ReplyCase::ALL)]
    pub cases: Vec<ReplyCase>,
    /// Systems to run (comma list): ringgroup and its crossbeam-channel baseline. Ratios need
    /// both.
    #[arg(long, value_enum, value_delimiter = ',',
          default_values_t = [System::Ringgroup, System::CrossbeamChannel])]
    pub systems: Vec<System>,
    /// Slots in the request topic's partitions and in every channel: a power of two.
    #[arg(long, default_value_t = 4096)]
    pub capacity: usize,
    /// Requests each requester keeps outstanding in `sustained`.
    #[arg(long, default_value_t = 32)]
    pub window: usize,
    /// Requests at most per responder poll (ringgroup's `Consumer::try_poll`; the channel has
    /// no batch receive).
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    #[command(flatten)]
    pub method: MethodFlags,
    #[command(flatten)]
    pub common: Common,
}

/// The largest `--capacity` accepted.
const MAX_CAPACITY: usize = 1 << 26;

/// The largest `--window`: a producer group member's default bound on pending requests, and
/// its reply ring's default capacity.
const MAX_WINDOW: usize = 1024;

/// Runs the scenario.
pub fn run(args: &Args, ctx: &mut Ctx) -> super::Outcome {
    validate(args)?;
    let systems: Vec<System> = unique(&args.systems);
    let mut placement = Placement::default();
    for case in unique(&args.cases) {
        run_case(case, &systems, args, &mut placement, ctx)?;
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
    if args.window == 0 || args.window > MAX_WINDOW {
        return Err(format!("--window {}: use 1 to {MAX_WINDOW}", args.window));
    }
    if args.batch == 0 {
        return Err("--batch 0: use at least 1".into());
    }
    if let Some(other) = args.systems.iter().find(|s| !reply::can_run(**s)) {
        return Err(format!(
            "--systems {}: reply runs ringgroup and crossbeam-channel only",
            other.name()
        ));
    }
    Ok(())
}

/// Runs every system of one case, alternating, and emits a record per system.
fn run_case(
    case: ReplyCase,
    systems: &[System],
    args: &Args,
    placement: &mut Placement,
    ctx: &mut Ctx,
) -> Result<(), String> {
    let workload = Reply {
        case,
        window: args.window,
    };
    let method = args.method.method(&args.common);
    let waiting = args.method.wait.resolve(case.threads(), ctx.cores.count());
    let scenario = workload.scenario();
    let plan = Plan {
        cores: &ctx.cores,
        capacity: args.capacity,
        batch: args.batch,
        messages: 0,
        waiting,
        deadline: None,
    };
    let series = alternate::run_case(
        workload,
        systems,
        &method,
        plan,
        placement,
        &mut ctx.progress,
    )
    .map_err(|e| format!("{scenario}: {e}"))?;
    let ringgroup = systems.iter().position(|&s| s == System::Ringgroup);
    for (i, s) in series.iter().enumerate() {
        let system = s.system;
        let mut record = Record::new(scenario.clone(), system.name(), method.runs)
            .param("capacity", args.capacity)
            .param("wait", waiting.name())
            .param("requesters", case.requesters())
            .param("responders", case.responders());
        record = match system {
            System::Ringgroup => record
                .param("partitions", case.responders())
                .param("recv_batch", args.batch),
            _ => record.param("channels", 1 + case.requesters()),
        };
        record = match case {
            ReplyCase::RoundTrip => record
                .param("round_trips", s.messages)
                .param("warmup_round_trips", peers::warmup_round_trips(s.messages)),
            ReplyCase::Sustained => record
                .param("requests", s.messages)
                .param("window", args.window),
        };
        record = record.param("slices", method.slices);
        if let Sizing::Timed(target) = method.sizing {
            record = record.param("target_run_ms", target.as_millis() as u64);
        }
        record = record.param("warmup_slices", s.warmup_slices);
        let samples = s.samples();
        record = figures(record, &samples, "mreqs_per_s", "allocs_per_request");
        if Some(i) == ringgroup {
            for peer in series.iter().filter(|p| p.system != System::Ringgroup) {
                record = ratios(record, peer.system.name(), &samples, &peer.samples());
            }
        }
        record = method_figures(record, s);
        ctx.emit(record, case.threads());
    }
    Ok(())
}
