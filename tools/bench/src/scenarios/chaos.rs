//! `chaos`: not written yet.

use clap::Parser;

use crate::common::{Common, Ctx};

/// Flags of `chaos`.
#[derive(Parser, Debug)]
pub struct Args {
    /// How long to run.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    #[command(flatten)]
    pub common: Common,
}

/// Runs the scenario.
pub fn run(_args: &Args, _ctx: &mut Ctx) -> super::Outcome {
    Err("not written yet".into())
}
