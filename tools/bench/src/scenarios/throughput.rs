//! `throughput`: messages per second through partitions × groups × members, at a batch size
//! and message size. Reports M msg/s published, GB/s of payload, and deliveries per second
//! (published × groups).

use clap::Parser;
use ringgroup_results::names::scenario;

use crate::common::{Common, Ctx, MessageFlags, RingFlags};
use crate::workload::{measure, Workload};

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
    #[command(flatten)]
    pub message: MessageFlags,
    #[command(flatten)]
    pub ring: RingFlags,
    #[command(flatten)]
    pub common: Common,
}

/// Runs the scenario.
pub fn run(args: &Args, ctx: &mut Ctx) -> super::Outcome {
    let workload = Workload::from_flags(
        (args.partitions, args.groups, args.members),
        &args.message,
        &args.ring,
        args.common.messages_or(10_000_000),
        ctx.cores.count(),
    );
    let record = measure(scenario::THROUGHPUT, &workload, args.common.runs(), ctx)?;
    ctx.emit(record, workload.threads());
    Ok(())
}
