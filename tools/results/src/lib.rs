//! The results schema of `ringgroup-bench`, in one place for the harness (which writes it) and
//! `ringgroup-plot` (which reads it). The contract is documented in `tools/bench/README.md`.
//!
//! - [`Record`]: one result line, `{"scenario", "system", "cpu", "params", "runs", "figures"}`,
//!   with the builders the scenarios use ([`Record::summary`] writes `<key>`, `<key>_min` and
//!   `<key>_max`) and the readers the charts use.
//! - [`SavedRun`]: a saved file, `<UTC stamp>-<command>.json` holding
//!   `{"date", "command", "machine", "records"}`; [`write_run`] writes one, [`saved_runs`] reads
//!   a directory of them and [`newest`] picks, for each scenario, the newest run that has it.
//! - [`Machine`]: the machine a run was made on. Every record also carries the CPU model
//!   itself, so records are never confused across machines even out of their file; records
//!   saved before that field existed take their file's CPU, or "unknown".
//! - [`names`]: the scenario names, the system list, shared figure keys and the chart files.
//! - [`validate`]: checks JSON lines against the contract (the harness's `validate`, for CI).

#![deny(missing_docs)]

mod machine;
pub mod names;
mod record;
mod run;

pub use machine::{cpu_model, Machine};
pub use record::{round, validate, Record, Summary};
pub use run::{newest, parse_run, saved_runs, write_run, SavedRun};

/// The project's target for ringgroup's `compare/ping-pong` p50: within this multiple of the
/// `floor` reference's (`p50_over_floor` at most this).
pub const FLOOR_TARGET: f64 = 1.2;

/// The project's target for the consumer-group API in `compare`: `ringgroup-group` at least
/// this fraction of the bare ring's speed in the same invocation (`ratio_vs_ring` at least
/// this).
pub const GROUP_TARGET: f64 = 0.8;

/// What a record or machine says when the CPU model is not known.
pub const UNKNOWN: &str = "unknown";
