//! One module per subcommand, and nothing else: what several of them share lives beside this
//! directory (`workload.rs`, `groups.rs`, `stats.rs`, `common.rs`).

pub mod balance;
pub mod bridge;
pub mod chaos;
pub mod compare;
pub mod fanout;
pub mod ipc;
pub mod latency;
pub mod rebalance;
pub mod reply;
pub mod scale;
pub mod throughput;

/// A scenario's result: `Err` when it could not run or (chaos) an invariant broke.
pub type Outcome = Result<(), Box<dyn std::error::Error>>;
