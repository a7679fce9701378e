//! The flags of the subcommands measured through `alternate` (`compare`, `reply`): how long a
//! run lasts, its slices, warm-up and retries, and how waiting threads wait.

use std::time::Duration;

use clap::Args;

use super::{Method, Sizing};
use crate::common::Common;
use crate::peers::Waiting;

/// The default `--run-ms`.
pub const DEFAULT_RUN_MS: u64 = 100;

/// The default `--slices`.
pub const DEFAULT_SLICES: u32 = 4;

/// How runs are measured (see `alternate` and `tools/bench/README.md`, "How compare
/// measures").
#[derive(Args, Clone, Debug)]
pub struct MethodFlags {
    /// How every waiting thread of every system waits.
    #[arg(long, value_enum, default_value_t = WaitMode::Auto)]
    pub wait: WaitMode,
    /// How long each measured run lasts, in ms, when `--messages` does not fix its size: each
    /// system's slice size is calibrated from its warm-up to last `run-ms / slices`.
    #[arg(long, default_value_t = DEFAULT_RUN_MS)]
    pub run_ms: u64,
    /// Slices per run: fresh, short runs of the system, interleaved with the other systems'
    /// and aggregated into the run's figure. `--messages` is the size of one slice.
    #[arg(long, default_value_t = DEFAULT_SLICES)]
    pub slices: u32,
    /// Discarded warm-up slices per system and case before the measured ones (timed runs make
    /// at least one, which also calibrates their size).
    #[arg(long, default_value_t = 1)]
    pub warmup: u32,
    /// How many times a disturbed slice (the process got less than 90 % of the cores its
    /// threads keep busy) is discarded and run again; 0: keep every slice.
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
}

impl MethodFlags {
    /// The method these flags ask for: timed runs unless `--messages` fixes their size.
    pub fn method(&self, common: &Common) -> Method {
        Method {
            sizing: match common.messages {
                Some(messages) => Sizing::Fixed(messages.max(1)),
                None => Sizing::Timed(Duration::from_millis(self.run_ms.max(1))),
            },
            runs: common.runs(),
            slices: self.slices.max(1),
            warmup: self.warmup,
            retries: self.retries,
        }
    }
}

/// The `--wait` flag of `compare` and `reply` (the same for every system).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitMode {
    /// Spin while every thread has its own core, else yield.
    Auto,
    /// Always spin with the CPU's spin hint.
    Spin,
    /// Always yield the time slice between checks.
    Yield,
}

impl WaitMode {
    /// How the threads of a case of `threads` threads on `cores` cores wait.
    pub fn resolve(self, threads: usize, cores: usize) -> Waiting {
        match self {
            WaitMode::Auto if threads <= cores => Waiting::Spin,
            WaitMode::Auto | WaitMode::Yield => Waiting::Yield,
            WaitMode::Spin => Waiting::Spin,
        }
    }
}
