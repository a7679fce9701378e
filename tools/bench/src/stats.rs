//! Summaries over runs (median, min and max: [`Summary`], from the results schema), and the
//! latency percentiles every scenario reads from its hdrhistograms.

use hdrhistogram::Histogram;
pub use ringgroup_results::Summary;

/// Longest latency the histograms track exactly (longer ones are recorded as this): 60 s.
pub const MAX_TRACKED_NS: u64 = 60_000_000_000;

/// Per-run latency figure keys with their quantiles (`None`: the maximum).
pub const PERCENTILES: [(&str, Option<f64>); 6] = [
    ("p50_ns", Some(0.5)),
    ("p90_ns", Some(0.9)),
    ("p99_ns", Some(0.99)),
    ("p99_9_ns", Some(0.999)),
    ("p99_99_ns", Some(0.9999)),
    ("max_ns", None),
];

/// An empty histogram of nanoseconds, 1 ns to [`MAX_TRACKED_NS`] at 3 significant digits.
pub fn histogram() -> Result<Histogram<u64>, String> {
    Histogram::new_with_bounds(1, MAX_TRACKED_NS, 3).map_err(|e| format!("histogram: {e:?}"))
}

/// The value at `quantile` (`None`: the maximum).
pub fn quantile(h: &Histogram<u64>, quantile: Option<f64>) -> u64 {
    match quantile {
        Some(q) => h.value_at_quantile(q),
        None => h.max(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_read_the_histogram() {
        let mut h = histogram().unwrap();
        for ns in 1..=1000 {
            h.record(ns).unwrap();
        }
        assert_eq!(quantile(&h, Some(0.5)), 500);
        assert_eq!(quantile(&h, None), 1000);
        h.saturating_record(u64::MAX);
        assert!(quantile(&h, None) >= MAX_TRACKED_NS);
    }
}
