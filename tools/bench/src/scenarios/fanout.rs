//! `fanout`: one partition read by `--groups` groups of one member each, every group receiving
//! every message. Reports published M msg/s and deliveries (published × groups) per second.
//! With more threads than cores (1 producer + G members on a 2-core machine), the figures show
//! how the ring shares cores as much as how it scales: `threads_sharing_core` says so.

use clap::Parser;
use ringgroup_results::names::scenario;

use crate::common::{Common, Ctx, MessageFlags, RingFlags};
use crate::workload::{measure, Workload};

/// Flags of `fanout`.
#[derive(Parser, Debug)]
pub struct Args {
    /// Groups reading the partition (comma list: one record each).
    #[arg(long, value_delimiter = ',', default_values_t = [1u32, 2, 3, 4])]
    pub groups: Vec<u32>,
    #[command(flatten)]
    pub message: MessageFlags,
    #[command(flatten)]
    pub ring: RingFlags,
    #[command(flatten)]
    pub common: Common,
}

/// Runs the scenario.
pub fn run(args: &Args, ctx: &mut Ctx) -> super::Outcome {
    for &groups in &args.groups {
        if groups == 0 {
            return Err("--groups: a group count must be at least 1".into());
        }
        let workload = Workload::from_flags(
            (1, groups, 1),
            &args.message,
            &args.ring,
            args.common.messages_or(10_000_000),
            ctx.cores.count(),
        );
        let record = measure(scenario::FANOUT, &workload, args.common.runs(), ctx)?;
        ctx.emit(record, workload.threads());
    }
    Ok(())
}
