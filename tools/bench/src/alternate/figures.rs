//! The figures of a record measured through `alternate`: each system's own (a rate, or
//! round-trip percentiles), how its runs went (`run_ms`, `cpu_share`, `line_rtt_ns`, retries,
//! placement), and on ringgroup's record its per-run ratios to each peer.

use super::Series;
use crate::peers::Sample;
use crate::report::{round, Record};
use crate::stats::PERCENTILES;

/// What the runs cost and how clean they were: `run_ms` (wall time per run, its slices
/// added), `cpu_share` (the share of its busy cores each run got), `line_rtt_ns` (the placement
/// probe before each slice), `retried_slices`, `disturbed_slices`, `placement_waits`,
/// `moved_slices`, and for round-trip slices stopped at their deadline `cut_short_slices` (only
/// when there were some).
pub fn method_figures(mut record: Record, s: &Series) -> Record {
    let wall: Vec<f64> = s.runs.iter().map(|m| m.wall.as_secs_f64() * 1e3).collect();
    record = record.summary("run_ms", &wall);
    let shares: Vec<f64> = s.runs.iter().filter_map(|m| m.cpu_share).collect();
    if shares.len() == s.runs.len() && !shares.is_empty() {
        record = record.summary("cpu_share", &shares);
    }
    if !s.line_rtt_ns.is_empty() {
        record = record.summary("line_rtt_ns", &s.line_rtt_ns);
    }
    if s.cut_short > 0 {
        record = record.figure("cut_short_slices", s.cut_short);
    }
    record
        .figure("retried_slices", s.retried)
        .figure("disturbed_slices", s.disturbed)
        .figure("placement_waits", s.placement_waits)
        .figure("moved_slices", s.moved)
}

/// Adds one system's figures over its runs: the percentiles of a round trip, or the rate of a
/// stream as `rate_key` (`mmsgs_per_s`), and the worst run's allocations as `allocs_key`.
pub fn figures(
    mut record: Record,
    samples: &[&Sample],
    rate_key: &str,
    allocs_key: &str,
) -> Record {
    match samples.first() {
        Some(Sample::RoundTrip { .. }) => {
            for (key, quantile) in PERCENTILES {
                let values: Vec<f64> = samples.iter().map(|s| s.percentile(quantile)).collect();
                record = record.summary(key, &values);
            }
        }
        _ => {
            let rates: Vec<f64> = samples.iter().map(|s| s.rate()).collect();
            record = record.summary(rate_key, &rates);
        }
    }
    let worst = samples
        .iter()
        .map(|s| s.allocs_per_msg())
        .fold(0.0, f64::max);
    record.figure(allocs_key, round(worst))
}

/// Adds ringgroup's per-run ratios against the peer named `peer` (above 1: ringgroup did
/// better): `ratio_vs_<peer>` is ringgroup's rate ÷ the peer's, or for round trips the peer's
/// p50 ÷ ringgroup's, with `p99_ratio_vs_<peer>` for p99.
pub fn ratios(record: Record, peer: &str, ours: &[&Sample], theirs: &[&Sample]) -> Record {
    let per_run = |f: &dyn Fn(&Sample, &Sample) -> f64| -> Vec<f64> {
        ours.iter().zip(theirs).map(|(a, b)| f(a, b)).collect()
    };
    let key = format!("ratio_vs_{peer}");
    match ours.first() {
        Some(Sample::RoundTrip { .. }) => {
            let p50 = per_run(&|a, b| b.percentile(Some(0.5)) / a.percentile(Some(0.5)));
            let p99 = per_run(&|a, b| b.percentile(Some(0.99)) / a.percentile(Some(0.99)));
            record
                .summary(&key, &p50)
                .summary(&format!("p99_{key}"), &p99)
        }
        _ => record.summary(&key, &per_run(&|a, b| a.rate() / b.rate())),
    }
}
