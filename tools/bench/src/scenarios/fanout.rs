//! `fanout`: one partition read by `--groups` groups of one member each, every group receiving
//! every message. Reports published M msg/s and deliveries (published × groups) per second.
//! With more threads than cores (1 producer + G members on a 2-core machine), the figures show
//! how the ring shares cores as much as how it scales: `threads_sharing_core` says so.

use clap::Parser;
use ringgroup::ring::WaitStrategy;
use ringgroup_results::names::scenario;

use crate::common::{Common, Ctx, Wait};
use crate::workload::{measure, parse_size, Workload};

/// Flags of `fanout`.
#[derive(Parser, Debug)]
pub struct Args {
    /// Groups reading the partition (comma list: one record each).
    #[arg(long, value_delimiter = ',', default_values_t = [1u32, 2, 3, 4])]
    pub groups: Vec<u32>,
    /// Messages per publish and at most per poll.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Message size in bytes: 8, 64 or 256.
    #[arg(long, default_value_t = 8, value_parser = parse_size)]
    pub size: usize,
    /// Slots in the partition.
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
    for &groups in &args.groups {
        if groups == 0 {
            return Err("--groups: a group count must be at least 1".into());
        }
        let workload = Workload {
            partitions: 1,
            groups,
            members: 1,
            batch: args.batch,
            capacity: args.capacity,
            messages: args.common.messages_or(10_000_000),
            size: args.size,
            wait: WaitStrategy::BusySpin,
        }
        .waiting(args.wait, ctx.cores.count());
        let record = measure(scenario::FANOUT, &workload, args.common.runs(), ctx)?;
        ctx.emit(record, workload.threads());
    }
    Ok(())
}
