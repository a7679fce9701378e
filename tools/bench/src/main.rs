//! `ringgroup-bench`: ringgroup measured the way queue benchmarks should be, side by side with
//! rtrb, disruptor, crossbeam and bus in the same process.
//!
//! With no subcommand it runs the default suite: every scenario at modest sizes, about a minute.
//! Each subcommand is one scenario; `--help` on any of them lists its flags. The output contract
//! (JSON lines, saved files) is in `tools/bench/README.md`; its schema is the `ringgroup-results`
//! crate (`tools/results`), which `tools/plot` reads with, and `report.rs` prints and saves it.

mod alternate;
mod common;
mod cores;
mod cpu;
mod groups;
mod peers;
mod progress;
mod report;
mod scenarios;
mod stats;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ringgroup_results::names::scenario;

use common::{Common, Ctx};
use scenarios::{
    balance, bridge, chaos, compare, fanout, ipc, latency, rebalance, reply, scale, throughput,
};

/// Counts allocations on the data-path threads, for every scenario's `allocs_per_msg`.
#[global_allocator]
static ALLOCATOR: ringgroup_testkit::alloc::Counting = ringgroup_testkit::alloc::Counting;

/// Benchmarks ringgroup beside rtrb, disruptor, crossbeam and bus. With no subcommand: the
/// default suite (every scenario at modest sizes, about a minute).
#[derive(Parser, Debug)]
#[command(name = "ringgroup-bench", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    common: Common,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Messages per second through partitions × groups × members.
    Throughput(throughput::Args),
    /// Ping-pong round trip and fixed-rate one-way latency percentiles.
    Latency(latency::Args),
    /// One partition read by several groups.
    Fanout(fanout::Args),
    /// Throughput as partitions, groups and members grow.
    Scale(scale::Args),
    /// Handoff time, stalls and duplicates while members join and leave.
    Rebalance(rebalance::Args),
    /// Members of unequal speed under each assignor, against T = max(m_i / v_i).
    Balance(balance::Args),
    /// ringgroup (the bare ring, and the consumer-group API) against each peer on spsc,
    /// spsc-drain, spsc-batch, fanout-3, mpsc, mpmc and ping-pong, alternating.
    Compare(compare::Args),
    /// Request → consume → reply through producer groups, against crossbeam-channel:
    /// round-trip percentiles and sustained requests/s, alternating.
    Reply(reply::Args),
    /// A shared-memory topic between processes against iceoryx2: throughput, ping-pong
    /// (also in one process), fan-out to 1, 4 and 16 consumer processes, alternating.
    Ipc(ipc::Args),
    /// The consumer-group chaos workload; exits non-zero if an invariant broke.
    Chaos(chaos::Args),
    /// Records per second through the Kafka bridge (sink and source) against a local broker,
    /// beside librdkafka alone; not in the default suite (it needs a broker).
    Bridge(bridge::Args),
    /// Checks `--json` output read from stdin against the output contract (for CI).
    #[command(hide = true)]
    Validate,
    /// Rewrites `bench-results/README.md` from the saved runs (after `cargo plot`, say).
    #[command(hide = true)]
    Readme {
        /// The results directory (default: the repository's `bench-results/`).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::Throughput(_) => scenario::THROUGHPUT,
            Command::Latency(_) => scenario::LATENCY,
            Command::Fanout(_) => scenario::FANOUT,
            Command::Scale(_) => scenario::SCALE,
            Command::Rebalance(_) => scenario::REBALANCE,
            Command::Balance(_) => scenario::BALANCE,
            Command::Compare(_) => scenario::COMPARE,
            Command::Reply(_) => scenario::REPLY,
            Command::Ipc(_) => scenario::IPC,
            Command::Chaos(_) => scenario::CHAOS,
            Command::Bridge(_) => scenario::BRIDGE,
            Command::Validate => "validate",
            Command::Readme { .. } => "readme",
        }
    }

    fn common(&self) -> &Common {
        match self {
            Command::Throughput(a) => &a.common,
            Command::Latency(a) => &a.common,
            Command::Fanout(a) => &a.common,
            Command::Scale(a) => &a.common,
            Command::Rebalance(a) => &a.common,
            Command::Balance(a) => &a.common,
            Command::Compare(a) => &a.common,
            Command::Reply(a) => &a.common,
            Command::Ipc(a) => &a.common,
            Command::Chaos(a) => &a.common,
            Command::Bridge(a) => &a.common,
            Command::Validate | Command::Readme { .. } => unreachable!("runs no scenario"),
        }
    }

    fn run(&self, ctx: &mut Ctx) -> scenarios::Outcome {
        match self {
            Command::Throughput(a) => throughput::run(a, ctx),
            Command::Latency(a) => latency::run(a, ctx),
            Command::Fanout(a) => fanout::run(a, ctx),
            Command::Scale(a) => scale::run(a, ctx),
            Command::Rebalance(a) => rebalance::run(a, ctx),
            Command::Balance(a) => balance::run(a, ctx),
            Command::Compare(a) => compare::run(a, ctx),
            Command::Reply(a) => reply::run(a, ctx),
            Command::Ipc(a) => ipc::run(a, ctx),
            Command::Chaos(a) => chaos::run(a, ctx),
            Command::Bridge(a) => bridge::run(a, ctx),
            Command::Validate | Command::Readme { .. } => Ok(()),
        }
    }
}

/// The default suite: every scenario at modest sizes. Flags given on the command line
/// (`--messages`, `--runs`) override the suite's own. An empty message count leaves the
/// scenario's own default (chaos runs for its `--seconds`, compare for its `--run-ms`).
fn suite(common: &Common) -> Vec<Command> {
    let messages = |default: &str| {
        common
            .messages
            .map_or(default.to_owned(), |m| m.to_string())
    };
    let runs = |default: &str| {
        if common.runs != 5 {
            common.runs.to_string()
        } else {
            default.to_owned()
        }
    };
    let args = |name: &str, m: &str, r: &str, extra: &[&str]| {
        let mut v = vec![
            "ringgroup-bench".to_owned(),
            name.to_owned(),
            "--runs".to_owned(),
            runs(r),
        ];
        let messages = messages(m);
        if !messages.is_empty() {
            v.extend(["--messages".to_owned(), messages]);
        }
        v.extend(extra.iter().map(|s| s.to_string()));
        Cli::parse_from(v)
            .command
            .expect("a suite entry names a subcommand")
    };
    vec![
        // compare and reply size their runs by time (`--run-ms`) unless `--messages` is given.
        args(scenario::COMPARE, "", "5", &[]),
        args(scenario::REPLY, "", "5", &[]),
        // Child processes per run: small sizes, three rounds.
        args(scenario::IPC, "200000", "3", &[]),
        args(scenario::THROUGHPUT, "10000000", "5", &[]),
        args(scenario::LATENCY, "200000", "3", &[]),
        args(scenario::FANOUT, "4000000", "3", &[]),
        args(scenario::SCALE, "2000000", "3", &[]),
        args(scenario::REBALANCE, "2000000", "5", &[]),
        args(scenario::BALANCE, "400000", "3", &[]),
        args(scenario::CHAOS, "", "1", &["--seconds", "10"]),
    ]
}

fn main() -> ExitCode {
    // A child process of `ipc` (this executable started again in a role) runs only its role.
    if let Some(code) = peers::ipc::child_main() {
        return code;
    }
    let cli = Cli::parse();
    if let Some(Command::Readme { out }) = &cli.command {
        let dir = out.clone().unwrap_or_else(common::recorded_dir);
        return match report::refresh_readme(&dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {}: {e}", dir.display());
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Validate) = cli.command {
        return match ringgroup_results::validate(std::io::stdin().lock()) {
            Ok(n) => {
                println!("{n} valid records");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("invalid: {e}");
                ExitCode::FAILURE
            }
        };
    }
    // Read the core list before any thread is pinned (see `cores.rs`).
    let _ = ringgroup::affinity::available_cores();
    let (name, commands, common) = match cli.command {
        Some(command) => {
            let common = command.common().clone();
            (command.name(), vec![command], common)
        }
        None => ("suite", suite(&cli.common), cli.common.clone()),
    };
    let mut ctx = match Ctx::new(&common) {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    ctx.progress.step(format!(
        "{name}: cores {:?}, {} available",
        ctx.cores.ids(),
        ringgroup::affinity::available_cores().len()
    ));
    let mut failed = Vec::new();
    for command in &commands {
        ctx.progress.step(format!("-- {}", command.name()));
        if let Err(e) = command.run(&mut ctx) {
            eprintln!("error: {}: {e}", command.name());
            failed.push(command.name());
        }
    }
    ctx.report.print_tables();
    if let Some(out) = common.save_dir() {
        match ctx.report.save(&out, name) {
            Ok(path) => ctx.progress.step(format!("saved {}", path.display())),
            Err(e) => {
                eprintln!("error: saving results in {}: {e}", out.display());
                return ExitCode::FAILURE;
            }
        }
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("failed: {}", failed.join(", "));
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_go_under_target_unless_recorded_or_sent_elsewhere() {
        let dir = |args: &[&str]| {
            let mut argv = vec!["ringgroup-bench"];
            argv.extend(args);
            Cli::try_parse_from(argv).map(|cli| cli.common.save_dir())
        };
        let default = dir(&[]).unwrap().unwrap();
        assert!(
            default.ends_with("ringgroup-bench"),
            "{}",
            default.display()
        );
        assert!(default.parent().unwrap().join("CACHEDIR.TAG").is_file());
        assert!(dir(&["--record"])
            .unwrap()
            .unwrap()
            .ends_with("bench-results"));
        assert_eq!(
            dir(&["--out", "/tmp/x"]).unwrap(),
            Some(PathBuf::from("/tmp/x"))
        );
        assert_eq!(dir(&["--no-save"]).unwrap(), None);
        assert!(dir(&["--record", "--out", "/tmp/x"]).is_err());
        assert!(dir(&["--record", "--no-save"]).is_err());
        let sub = Cli::try_parse_from(["ringgroup-bench", "chaos", "--record"]).unwrap();
        let recorded = sub.command.unwrap().common().save_dir().unwrap();
        assert!(recorded.ends_with("bench-results"));
    }

    #[test]
    fn the_suite_runs_every_family_in_the_schemas_order() {
        let names: Vec<&str> = suite(&Common::default())
            .iter()
            .map(Command::name)
            .collect();
        assert_eq!(names, scenario::SUITE);
        assert_eq!(scenario::FAMILIES[..names.len()], names[..]);
    }
}
