//! `throughput`: messages per second through partitions × groups × members, at a batch size
//! and message size. Reports M msg/s published, GB/s of payload, and deliveries per second
//! (published × groups).

use clap::Parser;
use ringgroup::ring::WaitStrategy;

use super::workload::Workload;
use crate::common::{Common, Ctx, Wait};
use crate::report::Record;

/// Flags of `throughput`.
#[derive(Parser, Debug)]
pub struct Args {
    /// Partitions in the topic.
    #[arg(long, default_value_t = 1)]
    pub partitions: u32,
    /// Consumer groups (each reads every message).
    #[arg(long, default_value_t = 1)]
    pub groups: u32,
    /// Members per group.
    #[arg(long, default_value_t = 1)]
    pub members: u32,
    /// Messages per publish and at most per poll.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Message size in bytes.
    #[arg(long, default_value_t = 8, value_parser = parse_size)]
    pub size: usize,
    /// Slots per partition.
    #[arg(long, default_value_t = 4096)]
    pub capacity: usize,
    /// How a blocked producer waits.
    #[arg(long, value_enum, default_value_t = Wait::Auto)]
    pub wait: Wait,
    #[command(flatten)]
    pub common: Common,
}

/// Accepts the three message sizes the workload is built for.
pub fn parse_size(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n @ (8 | 64 | 256)) => Ok(n),
        _ => Err(format!("{s:?} is not a message size: use 8, 64 or 256")),
    }
}

/// Runs the scenario.
pub fn run(args: &Args, ctx: &mut Ctx) -> super::Outcome {
    let workload = Workload {
        partitions: args.partitions,
        groups: args.groups,
        members: args.members,
        batch: args.batch,
        capacity: args.capacity,
        messages: args.common.messages_or(10_000_000),
        size: args.size,
        wait: WaitStrategy::BusySpin,
    };
    let record = measure("throughput", &workload, args.common.runs(), ctx)?;
    ctx.emit(record, workload.threads());
    Ok(())
}

/// Runs `workload` `runs` times and summarises it as a `scenario` record of ringgroup.
pub fn measure(scenario: &str, w: &Workload, runs: u32, ctx: &mut Ctx) -> Result<Record, String> {
    let (mut rates, mut allocs) = (Vec::new(), Vec::new());
    for run in 1..=runs {
        let m = w.run(&ctx.cores)?;
        rates.push(m.mmsgs_per_s());
        allocs.push(m.allocs_per_msg);
        ctx.progress.step(format!(
            "{scenario} p={} g={} m={} batch={} size={}: run {run}/{runs}: {:.1} M msg/s",
            w.partitions,
            w.groups,
            w.members,
            w.batch,
            w.size,
            m.mmsgs_per_s()
        ));
    }
    let gbytes: Vec<f64> = rates.iter().map(|r| r * w.size as f64 / 1e3).collect();
    let deliveries: Vec<f64> = rates.iter().map(|r| r * f64::from(w.groups)).collect();
    let worst_allocs = allocs.iter().copied().fold(0.0, f64::max);
    Ok(Record::new(scenario, "ringgroup", runs)
        .param("partitions", w.partitions)
        .param("groups", w.groups)
        .param("members", w.members)
        .param("batch", w.batch)
        .param("size_bytes", w.size)
        .param("messages", w.messages)
        .summary("mmsgs_per_s", &rates)
        .summary("gbytes_per_s", &gbytes)
        .summary("deliveries_mmsgs_per_s", &deliveries)
        .figure("allocs_per_msg", crate::report::round(worst_allocs)))
}
