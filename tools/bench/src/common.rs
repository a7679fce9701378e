//! What every subcommand shares: the common flags and the context scenarios run in.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::cores::Cores;
use crate::progress::Progress;
use crate::report::{Record, Report};

/// How long a scenario's thread may wait on another (for a message, for room, for an
/// acknowledgement) before the run fails: a lost message or a stuck thread cannot hang a run or
/// let it pass.
pub const STALL: Duration = Duration::from_secs(10);

/// The ring flags of the scenarios that build a topic.
#[derive(Args, Clone, Debug)]
pub struct RingFlags {
    /// Slots per partition: a power of two.
    #[arg(long, default_value_t = 4096)]
    pub capacity: usize,
    /// How a blocked producer, and an idle consumer, wait.
    #[arg(long, value_enum, default_value_t = Wait::Auto)]
    pub wait: Wait,
}

/// The message flags of the throughput-style scenarios.
#[derive(Args, Clone, Debug)]
pub struct MessageFlags {
    /// Messages per publish and at most per poll.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Message size in bytes: 8, 64 or 256.
    #[arg(long, default_value_t = 8, value_parser = crate::workload::parse_size)]
    pub size: usize,
}

/// Flags every subcommand takes.
#[derive(Args, Clone, Debug, Default)]
pub struct Common {
    /// Messages per run (each scenario has its own default).
    #[arg(long)]
    pub messages: Option<u64>,
    /// Runs per measurement; figures are the median, with min and max.
    #[arg(long, default_value_t = 5)]
    pub runs: u32,
    /// Print one JSON object per result line on stdout instead of tables.
    #[arg(long)]
    pub json: bool,
    /// No progress lines on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Core ids to pin threads to, e.g. `--cores 0,1` (default: every core this process may use).
    #[arg(long, value_delimiter = ',')]
    pub cores: Vec<usize>,
    /// Where to save results (default: `target/ringgroup-bench/`, so a run leaves the checkout
    /// clean).
    #[arg(long, conflicts_with_all = ["record", "no_save"])]
    pub out: Option<PathBuf>,
    /// Record the results in the repository's `bench-results/` (a dated JSON file and a
    /// refreshed `bench-results/README.md`), for committing.
    #[arg(long, conflicts_with = "no_save")]
    pub record: bool,
    /// Do not save results (no dated JSON, no README refresh).
    #[arg(long)]
    pub no_save: bool,
}

impl Common {
    /// `--messages`, or `default`; at least 1.
    pub fn messages_or(&self, default: u64) -> u64 {
        self.messages.unwrap_or(default).max(1)
    }

    /// `--runs`, at least 1.
    pub fn runs(&self) -> u32 {
        self.runs.max(1)
    }

    /// Where this invocation saves its results: `--out`, the recorded results under
    /// `--record`, else the default under `target/`; `None` under `--no-save`.
    pub fn save_dir(&self) -> Option<PathBuf> {
        if self.no_save {
            None
        } else if let Some(out) = &self.out {
            Some(out.clone())
        } else if self.record {
            Some(recorded_dir())
        } else {
            Some(default_dir())
        }
    }
}

/// The repository's recorded results, `bench-results/`: written only under `--record`.
pub fn recorded_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench-results"))
}

/// Where results go by default: `ringgroup-bench/` in the Cargo target directory, as criterion
/// keeps its reports in `target/criterion/`. The target directory is the one this executable
/// was built in (Cargo marks it with `CACHEDIR.TAG`), else `$CARGO_TARGET_DIR`, else the
/// workspace's `target/`.
pub fn default_dir() -> PathBuf {
    let built_in = std::env::current_exe().ok().and_then(|exe| {
        exe.ancestors()
            .skip(1)
            .find(|dir| dir.join("CACHEDIR.TAG").is_file())
            .map(PathBuf::from)
    });
    let target = built_in
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target")));
    target.join("ringgroup-bench")
}

/// What a scenario runs with.
pub struct Ctx {
    /// Where threads go.
    pub cores: Cores,
    /// Progress lines.
    pub progress: Progress,
    /// Results so far.
    pub report: Report,
}

impl Ctx {
    /// Builds the context from the flags.
    pub fn new(common: &Common) -> Result<Self, Box<dyn std::error::Error>> {
        Ok(Self {
            cores: Cores::new(&common.cores)?,
            progress: Progress::new(common.quiet),
            report: Report::new(common.json),
        })
    }

    /// Adds the core placement of `threads` threads to `record` and emits it.
    pub fn emit(&mut self, record: Record, threads: usize) {
        let record = record
            .param("threads", threads)
            .param("cores", self.cores.count())
            .figure("threads_sharing_core", self.cores.sharing(threads));
        self.report.emit(record);
    }
}

/// The `--wait` flag: how a blocked producer or reader waits.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Wait {
    /// Busy-spin while every thread has its own core, else yield (spinning on a shared core
    /// waits for the scheduler's time slice, milliseconds).
    #[default]
    Auto,
    /// Always spin.
    Spin,
    /// Yield the time slice between checks.
    Yield,
    /// Spin, yield, then park.
    Park,
}

impl Wait {
    /// The strategy for a scenario of `threads` threads on `cores` cores.
    pub fn strategy(self, threads: usize, cores: usize) -> ringgroup::ring::WaitStrategy {
        use ringgroup::ring::WaitStrategy;
        match self {
            Wait::Auto if threads <= cores => WaitStrategy::BusySpin,
            Wait::Auto | Wait::Yield => WaitStrategy::Yield,
            Wait::Spin => WaitStrategy::BusySpin,
            Wait::Park => WaitStrategy::SpinThenPark,
        }
    }
}
