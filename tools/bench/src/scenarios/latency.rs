//! `latency`: not written yet.

use clap::Parser;

use crate::common::{Common, Ctx};

/// Flags of `latency`.
#[derive(Parser, Debug)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
}

/// Runs the scenario.
pub fn run(_args: &Args, _ctx: &mut Ctx) -> super::Outcome {
    Err("not written yet".into())
}
