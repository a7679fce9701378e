//! `ipc`: ringgroup's shared-memory topics between processes, against iceoryx2's
//! publish-subscribe, alternating A B A B in one invocation.
//!
//! # Cases
//!
//! - `ipc/throughput`: one producer process (this one), one consumer process; messages per
//!   second (`mmsgs_per_s`, millions).
//! - `ipc/ping-pong`: round trips between this process and an echo process, two topics
//!   (services), one each way; hdrhistogram percentiles (`p50_ns` ... `max_ns`), the first
//!   tenth (at most 10 000) not recorded. The same ping-pong also runs in one process (two
//!   threads, two topics on the heap, the same loops): a second `ringgroup` record with
//!   `placement: in-process`.
//! - `ipc/fanout`: one producer process and 1, 4 and 16 consumer processes (`--consumers`), each
//!   receiving every message; the figure is the producer's rate (`mmsgs_per_s`).
//! - `ipc/reply`: request → reply round trips through a producer group, the requester in this
//!   process, the responder (a consumer group's member) in a child process, through a request
//!   topic in shared memory (`peers::ipc::reply`); hdrhistogram percentiles as in ping-pong.
//!   The same round trips also run in one process (`reply/round-trip`'s ringgroup run, on the
//!   heap): a second `ringgroup` record with `placement: in-process`. ringgroup only: iceoryx2's
//!   request-response is not run here (`--systems iceoryx2` skips the case).
//!
//! What each system runs, and how children are started, checked and cleaned up, is in
//! `peers::ipc`. Every child checks that it received `0, 1, 2, ...` in order, and reports its
//! count and sum; a wrong report, a child that fails or a stall of 10 s fails the case.
//!
//! # Method
//!
//! A run is one fresh run of a system (new region or service, new child processes). Each case
//! first runs `--warmup` discarded runs of every system, then `--runs` rounds, each running
//! every system once, in `--systems` order in odd rounds and reversed in even ones; ratios pair
//! the runs of one round. A stream's time runs from the producer's first publish to the last
//! child's report that it has every message (so nothing still in flight counts as done); process
//! start-up and subscription are not timed. Thread and process `i` go to core `i mod n` (the
//! producer or pinger is 0, children 1, 2, ...). With more processes than cores (fanout with 2
//! or more consumers on 2 cores), spinning would wait for the scheduler's time slice, so under
//! `--wait auto` every process yields instead (`wait` in the params says which).
//!
//! `--messages N` (default 1 000 000): `throughput` publishes `N`, `fanout` `N / 2` to each
//! consumer count's run, `ping-pong` and `reply` record `N / 20` round trips.
//!
//! # Ratios
//!
//! On ringgroup's records, per round and then the median with `_min` and `_max`, above 1
//! meaning ringgroup did better: `ratio_vs_iceoryx2` = ringgroup's rate / iceoryx2's (streams),
//! iceoryx2's p50 / ringgroup's (ping-pong; `p99_ratio_vs_iceoryx2` for p99). The
//! cross-process ping-pong and reply records also have `p50_over_in_process` and
//! `p99_over_in_process`: ringgroup across processes / ringgroup in one process (1.2 is 20 %
//! slower across processes).

use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};

use crate::alternate::figures::{figures, ratios};
use crate::alternate::flags::WaitMode;
use crate::alternate::{round_order, unique};
use crate::common::{Common, Ctx};
use crate::peers::ipc::{self, IpcRun, IpcSystem, RunPlan};
use crate::peers::{Sample, System};
use crate::report::Record;
use ringgroup_results::names::scenario;

/// `ipc`'s cases.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpcCase {
    /// One producer process, one consumer process.
    Throughput,
    /// Round trips between two processes (and the same in one process).
    PingPong,
    /// One producer process, `--consumers` consumer processes.
    Fanout,
    /// Request → reply round trips, the responder in another process (and the same in one
    /// process); ringgroup only.
    Reply,
}

impl IpcCase {
    /// Every case, in report order.
    pub const ALL: [IpcCase; 4] = [
        IpcCase::Throughput,
        IpcCase::PingPong,
        IpcCase::Fanout,
        IpcCase::Reply,
    ];

    fn name(self) -> &'static str {
        match self {
            IpcCase::Throughput => "throughput",
            IpcCase::PingPong => "ping-pong",
            IpcCase::Fanout => "fanout",
            IpcCase::Reply => "reply",
        }
    }

    /// Whether `system` runs this case: iceoryx2 has no part in `reply`.
    fn runs(self, system: IpcSystem) -> bool {
        self != IpcCase::Reply || system == IpcSystem::Ringgroup
    }
}

/// Flags of `ipc`.
#[derive(Parser, Debug)]
pub struct Args {
    /// Cases to run (comma list).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = IpcCase::ALL)]
    pub cases: Vec<IpcCase>,
    /// Systems to run (comma list). Ratios need both.
    #[arg(long, value_enum, value_delimiter = ',',
          default_values_t = [IpcSystem::Ringgroup, IpcSystem::Iceoryx2])]
    pub systems: Vec<IpcSystem>,
    /// Consumer processes of the `fanout` runs (comma list).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 4, 16])]
    pub consumers: Vec<usize>,
    /// Slots per ring, and samples per iceoryx2 subscriber buffer: a power of two.
    #[arg(long, default_value_t = 4096)]
    pub capacity: usize,
    /// Messages at most per ringgroup poll (an iceoryx2 receive takes one).
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// How every waiting thread and process waits.
    #[arg(long, value_enum, default_value_t = WaitMode::Auto)]
    pub wait: WaitMode,
    /// Discarded runs of every system before each case's measured ones.
    #[arg(long, default_value_t = 1)]
    pub warmup: u32,
    #[command(flatten)]
    pub common: Common,
}

/// The default `--messages`.
const DEFAULT_MESSAGES: u64 = 1_000_000;

/// The largest `--capacity` accepted.
const MAX_CAPACITY: usize = 1 << 20;

/// The most consumer processes accepted (iceoryx2's nodes and subscribers are sized for them).
const MAX_CONSUMERS: usize = 64;

/// Runs the scenario.
pub fn run(args: &Args, ctx: &mut Ctx) -> super::Outcome {
    validate(args)?;
    ipc::quiet_iceoryx2();
    let all = unique(&args.systems);
    let messages = args.common.messages_or(DEFAULT_MESSAGES);
    let mut ran = 0;
    for case in unique(&args.cases) {
        let (systems, skipped): (Vec<IpcSystem>, Vec<IpcSystem>) =
            all.iter().partition(|&&s| case.runs(s));
        if !skipped.is_empty() {
            let names: Vec<_> = skipped.iter().map(|s| s.name()).collect();
            ctx.progress.step(format!(
                "ipc/{}: not run for {}: skipped",
                case.name(),
                names.join(", ")
            ));
        }
        if systems.is_empty() {
            continue;
        }
        ran += 1;
        match case {
            IpcCase::Throughput => stream_case(case, 1, messages, &systems, args, ctx)?,
            IpcCase::PingPong | IpcCase::Reply => {
                round_trip_case(case, (messages / 20).max(1), &systems, args, ctx)?
            }
            IpcCase::Fanout => {
                for consumers in unique(&args.consumers) {
                    stream_case(case, consumers, (messages / 2).max(1), &systems, args, ctx)?;
                }
            }
        }
    }
    if ran == 0 {
        return Err("none of --systems runs any of --cases".into());
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
    if args.batch == 0 {
        return Err("--batch 0: use at least 1".into());
    }
    if let Some(c) = args
        .consumers
        .iter()
        .find(|&&c| c == 0 || c > MAX_CONSUMERS)
    {
        return Err(format!("--consumers {c}: use 1 to {MAX_CONSUMERS}"));
    }
    Ok(())
}

/// Who runs in a case: a system across processes, or (ping-pong, reply) ringgroup in one
/// process.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Runner {
    Across(IpcSystem),
    InProcess,
}

impl Runner {
    fn describe(self) -> String {
        match self {
            Runner::Across(s) => s.name().to_owned(),
            Runner::InProcess => "ringgroup in-process".into(),
        }
    }
}

/// Runs one run of `runner` on a fresh thread (which may pin itself; the main thread never is).
fn one_run(case: IpcCase, runner: Runner, plan: &RunPlan) -> Result<(IpcRun, Duration), String> {
    let start = Instant::now();
    let run = std::thread::scope(|s| {
        s.spawn(|| match (case, runner) {
            (IpcCase::PingPong, Runner::Across(IpcSystem::Ringgroup)) => {
                ipc::ringgroup::ping_pong(plan)
            }
            (IpcCase::PingPong, Runner::Across(IpcSystem::Iceoryx2)) => {
                ipc::iceoryx2::ping_pong(plan)
            }
            (IpcCase::PingPong, Runner::InProcess) => ipc::ringgroup::ping_pong_in_process(plan),
            (IpcCase::Reply, Runner::Across(IpcSystem::Ringgroup)) => ipc::reply::round_trips(plan),
            (IpcCase::Reply, Runner::InProcess) => ipc::reply::in_process(plan),
            (IpcCase::Reply, Runner::Across(IpcSystem::Iceoryx2)) => {
                Err("iceoryx2 takes no part in ipc/reply".into())
            }
            (_, Runner::Across(IpcSystem::Ringgroup)) => ipc::ringgroup::stream(plan),
            (_, Runner::Across(IpcSystem::Iceoryx2)) => ipc::iceoryx2::stream(plan),
            (_, Runner::InProcess) => Err("in-process runs are ping-pong and reply only".into()),
        })
        .join()
        .unwrap_or_else(|_| Err("the run's thread panicked".into()))
    })?;
    Ok((run, start.elapsed()))
}

/// Every runner's runs of one case: warm-up, then rounds in mirrored order.
fn alternate(
    case: IpcCase,
    runners: &[Runner],
    plan: &RunPlan,
    args: &Args,
    ctx: &mut Ctx,
    what: &str,
) -> Result<Vec<Vec<(IpcRun, Duration)>>, String> {
    for _ in 0..args.warmup {
        for &runner in runners {
            one_run(case, runner, plan)
                .map_err(|e| format!("{what}, {} warm-up: {e}", runner.describe()))?;
        }
    }
    let mut series: Vec<Vec<(IpcRun, Duration)>> = runners.iter().map(|_| Vec::new()).collect();
    // `round_order` orders systems; any list of the same length orders alike.
    let placeholder = vec![System::Ringgroup; runners.len()];
    for round in 1..=args.common.runs() {
        for i in round_order(&placeholder, round) {
            let runner = runners[i];
            let (run, wall) = one_run(case, runner, plan)
                .map_err(|e| format!("{what}, {} run {round}: {e}", runner.describe()))?;
            ctx.progress.step(format!(
                "{what} {} run {round}: {}{}",
                runner.describe(),
                run.sample.describe(),
                run.cpu_share
                    .map_or(String::new(), |s| format!(", cpu share {s:.2}"))
            ));
            series[i].push((run, wall));
        }
    }
    Ok(series)
}

fn waiting_for(args: &Args, processes: usize, ctx: &Ctx) -> crate::peers::Waiting {
    args.wait.resolve(processes, ctx.cores.count())
}

fn plan(args: &Args, messages: u64, consumers: usize, processes: usize, ctx: &Ctx) -> RunPlan {
    RunPlan {
        messages,
        consumers,
        capacity: args.capacity,
        batch: args.batch,
        waiting: waiting_for(args, processes, ctx),
        cores: ctx.cores.clone(),
    }
}

fn base_record(name: &str, system: &str, args: &Args, plan: &RunPlan) -> Record {
    Record::new(name, system, args.common.runs())
        .param("capacity", args.capacity)
        .param("wait", plan.waiting.name())
        .param("warmup_runs", args.warmup)
}

/// `run_ms` (each run's wall time, process start-up included) and `cpu_share`.
fn run_figures(mut record: Record, runs: &[(IpcRun, Duration)]) -> Record {
    let ms: Vec<f64> = runs.iter().map(|(_, d)| d.as_secs_f64() * 1e3).collect();
    record = record.summary("run_ms", &ms);
    let shares: Vec<f64> = runs.iter().filter_map(|(r, _)| r.cpu_share).collect();
    if shares.len() == runs.len() && !shares.is_empty() {
        record = record.summary("cpu_share", &shares);
    }
    record
}

/// `throughput` (1 consumer) or one `fanout` consumer count.
fn stream_case(
    case: IpcCase,
    consumers: usize,
    messages: u64,
    systems: &[IpcSystem],
    args: &Args,
    ctx: &mut Ctx,
) -> Result<(), String> {
    let name = scenario::of(scenario::IPC, case.name());
    let processes = 1 + consumers;
    let plan = plan(args, messages, consumers, processes, ctx);
    let runners: Vec<Runner> = systems.iter().map(|&s| Runner::Across(s)).collect();
    let what = format!("{name} ({consumers} consumers)");
    let series = alternate(case, &runners, &plan, args, ctx, &what)?;
    let ringgroup = systems.iter().position(|&s| s == IpcSystem::Ringgroup);
    for (i, &system) in systems.iter().enumerate() {
        let samples: Vec<&Sample> = series[i].iter().map(|(r, _)| &r.sample).collect();
        let mut record = base_record(&name, system.name(), args, &plan)
            .param("producers", 1)
            .param("consumers", consumers)
            .param("processes", processes)
            .param("messages", messages)
            .param(
                "send",
                match system {
                    IpcSystem::Ringgroup => "publish_timeout, one message each",
                    IpcSystem::Iceoryx2 => "loan_uninit + write_payload + send, one sample each",
                },
            );
        if system == IpcSystem::Ringgroup {
            record = record.param("recv_batch", args.batch);
        }
        record = figures(record, &samples, "mmsgs_per_s", "allocs_per_msg");
        if Some(i) == ringgroup {
            for (j, &peer) in systems.iter().enumerate().filter(|&(j, _)| j != i) {
                let theirs: Vec<&Sample> = series[j].iter().map(|(r, _)| &r.sample).collect();
                record = ratios(record, peer.name(), &samples, &theirs);
            }
        }
        record = run_figures(record, &series[i]);
        ctx.emit(record, processes);
    }
    Ok(())
}

/// `ping-pong`: ringgroup across processes, iceoryx2 across processes, ringgroup in one
/// process; `reply`: ringgroup across processes and in one process.
fn round_trip_case(
    case: IpcCase,
    round_trips: u64,
    systems: &[IpcSystem],
    args: &Args,
    ctx: &mut Ctx,
) -> Result<(), String> {
    let name = scenario::of(scenario::IPC, case.name());
    let plan = plan(args, round_trips, 1, 2, ctx);
    let mut runners: Vec<Runner> = systems.iter().map(|&s| Runner::Across(s)).collect();
    if systems.contains(&IpcSystem::Ringgroup) {
        runners.push(Runner::InProcess);
    }
    let series = alternate(case, &runners, &plan, args, ctx, &name)?;
    let samples_of =
        |i: usize| -> Vec<&Sample> { series[i].iter().map(|(r, _)| &r.sample).collect() };
    let across = runners
        .iter()
        .position(|&r| r == Runner::Across(IpcSystem::Ringgroup));
    let in_process = runners.iter().position(|&r| r == Runner::InProcess);
    for (i, &runner) in runners.iter().enumerate() {
        let samples = samples_of(i);
        let system = match runner {
            Runner::Across(s) => s.name(),
            Runner::InProcess => IpcSystem::Ringgroup.name(),
        };
        let mut record = base_record(&name, system, args, &plan)
            .param(
                "placement",
                match runner {
                    Runner::Across(_) => "cross-process",
                    Runner::InProcess => "in-process",
                },
            )
            .param("round_trips", round_trips)
            .param("warmup_round_trips", plan.warmup_round_trips());
        let allocs = if case == IpcCase::Reply {
            record = record
                .param("requesters", 1)
                .param("responders", 1)
                .param("partitions", 1)
                .param("recv_batch", args.batch)
                .param(
                    "request",
                    "Requester::request + PendingReply::wait (producer group)",
                )
                .param(
                    "respond",
                    "Consumer::try_poll + Records::reply (consumer group)",
                );
            if runner == Runner::InProcess {
                // The requester's and the responder's threads; across processes, the
                // requester's alone (the responder's allocations are in another process).
                "allocs_per_request"
            } else {
                "requester_allocs_per_request"
            }
        } else {
            "allocs_per_msg"
        };
        record = figures(record, &samples, "mmsgs_per_s", allocs);
        if Some(i) == across {
            for (j, &peer) in runners.iter().enumerate() {
                if let Runner::Across(IpcSystem::Iceoryx2) = peer {
                    record = ratios(record, peer_name(peer), &samples, &samples_of(j));
                }
            }
            if let Some(j) = in_process {
                let base = samples_of(j);
                for (key, q) in [("p50_over_in_process", 0.5), ("p99_over_in_process", 0.99)] {
                    let per_run: Vec<f64> = samples
                        .iter()
                        .zip(&base)
                        .map(|(a, b)| a.percentile(Some(q)) / b.percentile(Some(q)))
                        .collect();
                    record = record.summary(key, &per_run);
                }
            }
        }
        record = run_figures(record, &series[i]);
        ctx.emit(record, 2);
    }
    Ok(())
}

fn peer_name(runner: Runner) -> &'static str {
    match runner {
        Runner::Across(s) => s.name(),
        Runner::InProcess => IpcSystem::Ringgroup.name(),
    }
}
