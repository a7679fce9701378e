//! `throughput`: messages per second through partitions × groups × members, at a batch size
//! and message size. Reports M msg/s published, GB/s of payload, and deliveries per second
//! (published × groups).

use clap::Parser;
use ringgroup::ring::WaitStrategy;
use ringgroup_results::names::scenario;

use crate::common::{Common, Ctx, Wait};
use crate::workload::{measure, parse_size, Workload};

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
    let record = measure(scenario::THROUGHPUT, &workload, args.common.runs(), ctx)?;
    ctx.emit(record, workload.threads());
    Ok(())
}
