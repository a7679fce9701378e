//! One module per subcommand.

pub mod balance;
pub mod chaos;
pub mod compare;
pub mod fanout;
pub mod latency;
pub mod rebalance;
pub mod scale;
pub mod throughput;
pub mod workload;

/// A scenario's result: `Err` when it could not run or (chaos) an invariant broke.
pub type Outcome = Result<(), Box<dyn std::error::Error>>;
