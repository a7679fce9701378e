//! `scale`: how throughput and the cost of a delivery grow with the work, in three series:
//!
//! - `scale/partitions`: 1 group of 1 member reading P partitions (the member takes turns);
//! - `scale/groups`: 1 partition read by G groups of 1 member (fan-out);
//! - `scale/members`: 1 group of M members sharing 8 partitions.
//!
//! Each point is a `throughput` workload (`workload.rs`), so it carries the same checks (every
//! group gets every message once, in order). Besides M msg/s it reports `ns_per_delivery`, the
//! wall time per delivered message: flat means cost grows linearly with the work. Points past
//! the machine's cores oversubscribe it (`threads_sharing_core`); `tools/plot` draws the curves.

use clap::Parser;
use ringgroup::ring::WaitStrategy;
use ringgroup_results::names::scenario;

use crate::common::{Common, Ctx, MessageFlags, Wait};
use crate::workload::{measure, Workload};

/// Flags of `scale`.
#[derive(Parser, Debug)]
pub struct Args {
    /// Partition counts for the partitions series.
    #[arg(long, value_delimiter = ',', default_values_t = [1u32, 2, 4, 8, 16])]
    pub partitions: Vec<u32>,
    /// Group counts for the groups series.
    #[arg(long, value_delimiter = ',', default_values_t = [1u32, 2, 3, 4, 6, 8])]
    pub groups: Vec<u32>,
    /// Member counts for the members series (over 8 partitions).
    #[arg(long, value_delimiter = ',', default_values_t = [1u32, 2, 4, 8])]
    pub members: Vec<u32>,
    #[command(flatten)]
    pub message: MessageFlags,
    /// How a blocked producer waits.
    #[arg(long, value_enum, default_value_t = Wait::Auto)]
    pub wait: Wait,
    #[command(flatten)]
    pub common: Common,
}

/// A series: its scenario name, the counts it runs, and how a count shapes the workload.
type Series<'a> = (&'a str, &'a [u32], fn(Workload, u32) -> Workload);

/// Runs the scenario.
pub fn run(args: &Args, ctx: &mut Ctx) -> super::Outcome {
    let base = Workload {
        partitions: 1,
        groups: 1,
        members: 1,
        batch: args.message.batch,
        capacity: 4096,
        messages: args.common.messages_or(4_000_000),
        size: args.message.size,
        wait: WaitStrategy::BusySpin,
    };
    let series: [Series; 3] = [
        (scenario::SCALE_SERIES[0], &args.partitions, |w, n| {
            Workload { partitions: n, ..w }
        }),
        (scenario::SCALE_SERIES[1], &args.groups, |w, n| Workload {
            groups: n,
            ..w
        }),
        (scenario::SCALE_SERIES[2], &args.members, |w, n| Workload {
            partitions: 8,
            members: n,
            ..w
        }),
    ];
    for (scenario, points, vary) in series {
        for &n in points {
            if n == 0 {
                return Err(format!("{scenario}: counts must be at least 1").into());
            }
            let workload = vary(base, n).waiting(args.wait, ctx.cores.count());
            let record = measure(scenario, &workload, args.common.runs(), ctx)?;
            let deliveries = record.get("deliveries_mmsgs_per_s").unwrap_or(0.0);
            let ns = if deliveries > 0.0 {
                1e3 / deliveries
            } else {
                0.0
            };
            let record = record.figure("ns_per_delivery", crate::report::round(ns));
            ctx.emit(record, workload.threads());
        }
    }
    Ok(())
}
