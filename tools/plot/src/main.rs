//! `ringgroup-plot`: draws SVG charts from `ringgroup-bench`'s saved results.
//!
//! Reads every `<UTC stamp>-<command>.json` in the results directory (the schema is the
//! `ringgroup-results` crate, shared with the harness) and, taking each scenario from the newest
//! file that has it, writes `throughput.svg`, `latency.svg`, `scale.svg` and
//! `handoff.svg` beside them. A chart whose data is absent is skipped with a note on stderr;
//! malformed files and records are noted and left out. Exit status: 0 when every chart was
//! written or skipped for lack of data, 1 when the directory holds no saved run or a chart
//! could not be written.

mod charts;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

use charts::{DrawResult, Outcome};
use ringgroup_results::names::chart;
use ringgroup_results::{saved_runs, SavedRun};

/// Draws throughput, latency, scale and handoff charts (SVG) from ringgroup-bench's saved
/// results, into the same directory.
#[derive(Parser, Debug)]
#[command(name = "ringgroup-plot", version)]
struct Cli {
    /// The results directory: read its *.json runs, write the charts there.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench-results"))]
    dir: PathBuf,
}

type Chart = fn(&[SavedRun], &Path, &mut Vec<String>) -> DrawResult<Outcome>;

const CHARTS: [(&str, Chart); 4] = [
    (chart::THROUGHPUT, charts::throughput::draw),
    (chart::LATENCY, charts::latency::draw),
    (chart::SCALE, charts::scale::draw),
    (chart::HANDOFF, charts::handoff::draw),
];

fn main() -> ExitCode {
    let cli = Cli::parse();
    let dir = clean(&cli.dir);
    let (runs, mut notes) = match saved_runs(&dir) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    for note in notes.drain(..) {
        eprintln!("note: {note}");
    }
    if runs.is_empty() {
        eprintln!(
            "error: no saved run (*.json with \"records\") in {}",
            dir.display()
        );
        return ExitCode::FAILURE;
    }
    let mut failed = false;
    for (file, draw) in CHARTS {
        let outcome = draw(&runs, &dir, &mut notes);
        for note in notes.drain(..) {
            eprintln!("note: {note}");
        }
        match outcome {
            Ok(Outcome::Written(path)) => println!("wrote {}", path.display()),
            Ok(Outcome::Skipped(why)) => eprintln!("skipped: {why}"),
            Err(e) => {
                eprintln!("error: {file}: {e}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `tools/plot/../../bench-results` as `bench-results` under the repository root, when it exists.
fn clean(dir: &Path) -> PathBuf {
    dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A results directory of its own under the system's temp dir, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("ringgroup-plot-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn save(dir: &Path, file: &str, records: serde_json::Value) {
        let body = serde_json::json!({"date": "2026-11-22 08:00:00 UTC", "command": "test",
            "machine": {"cpu": "Test CPU 9000", "cores": 2}, "records": records});
        std::fs::write(dir.join(file), body.to_string()).unwrap();
    }

    #[test]
    fn every_chart_is_drawn_from_saved_runs() {
        let dir = TempDir::new("all");
        let curve: Vec<[f64; 2]> = [
            (50.0, 300.0),
            (90.0, 350.0),
            (99.0, 500.0),
            (99.9, 2e3),
            (100.0, 9e4),
        ]
        .iter()
        .map(|&(p, ns)| [p, ns])
        .collect();
        save(
            &dir.0,
            "2026-11-22T080000Z-suite.json",
            serde_json::json!([
                {"scenario": "compare/spsc", "system": "ringgroup", "params": {}, "runs": 3,
                 "figures": {"mmsgs_per_s": 120.0, "mmsgs_per_s_min": 110.0, "mmsgs_per_s_max": 130.0}},
                {"scenario": "compare/spsc", "system": "bus", "params": {}, "runs": 3,
                 "figures": {"mmsgs_per_s": 10.0}},
                {"scenario": "compare/mpmc", "system": "ringgroup", "params": {}, "runs": 3,
                 "figures": {"mmsgs_per_s": 9.0, "ratio_vs_crossbeam-queue": 0.2}},
                {"scenario": "compare/mpmc", "system": "crossbeam-queue", "params": {}, "runs": 3,
                 "figures": {"mmsgs_per_s": 45.0}},
                {"scenario": "compare/mpsc", "system": "disruptor", "params": {}, "runs": 3,
                 "figures": {"mmsgs_per_s": 30.0}},
                {"scenario": "reply/round-trip", "system": "crossbeam-channel", "params": {}, "runs": 3,
                 "figures": {"p50_ns": 900.0, "p99_ns": 1500.0, "max_ns": 30000.0}},
                {"scenario": "reply/sustained", "system": "ringgroup", "params": {}, "runs": 3,
                 "figures": {"mreqs_per_s": 2.0}},
                {"scenario": "compare/ping-pong", "system": "rtrb", "params": {}, "runs": 3,
                 "figures": {"p50_ns": 310.0, "p99_ns": 500.0, "max_ns": 7000.0}},
                {"scenario": "latency/ping-pong", "system": "ringgroup", "params": {}, "runs": 3,
                 "figures": {"percentile_curve_ns": curve}},
                {"scenario": "scale/groups", "system": "ringgroup", "params": {"groups": 1}, "runs": 3,
                 "figures": {"mmsgs_per_s": 80.0, "deliveries_mmsgs_per_s": 80.0}},
                {"scenario": "scale/groups", "system": "ringgroup", "params": {"groups": 4}, "runs": 3,
                 "figures": {"mmsgs_per_s": 40.0, "deliveries_mmsgs_per_s": 160.0}},
                {"scenario": "rebalance", "system": "ringgroup", "params": {}, "runs": 3,
                 "figures": {"handoff_histogram_us": [[0, 1], [10, 5], [20, 2]], "handoff_p50_us": 12.0}},
            ]),
        );
        let (runs, notes) = saved_runs(&dir.0).unwrap();
        assert!(notes.is_empty(), "{notes:?}");
        for (file, draw) in CHARTS {
            let mut notes = Vec::new();
            match draw(&runs, &dir.0, &mut notes).unwrap() {
                Outcome::Written(path) => {
                    let svg = std::fs::read_to_string(&path).unwrap();
                    assert!(
                        svg.contains("<text") && svg.contains("Test CPU 9000"),
                        "{file} has no caption"
                    );
                    assert!(
                        svg.contains("2026-11-22 08:00:00 UTC"),
                        "{file} has no date"
                    );
                }
                Outcome::Skipped(why) => panic!("{file} skipped: {why}"),
            }
            assert!(notes.is_empty(), "{file}: {notes:?}");
        }
        // The multi-producer cases come after fanout-3 (here: after spsc), mpsc before mpmc;
        // the reply round trip is a latency line.
        let throughput = std::fs::read_to_string(dir.0.join(chart::THROUGHPUT)).unwrap();
        let at = |label: &str| throughput.find(&format!(">\n{label}\n<")).expect(label);
        assert!(at("spsc") < at("mpsc") && at("mpsc") < at("mpmc"));
        let latency = std::fs::read_to_string(dir.0.join(chart::LATENCY)).unwrap();
        assert!(latency.contains("reply/round-trip"));
    }

    /// The results recorded in the repository, from every version of the harness, still plot:
    /// every chart is drawn from them without a note.
    #[test]
    fn the_recorded_results_still_plot() {
        let recorded = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench-results");
        let dir = TempDir::new("recorded");
        let mut copied = 0;
        for entry in std::fs::read_dir(&recorded).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                std::fs::copy(&path, dir.0.join(path.file_name().unwrap())).unwrap();
                copied += 1;
            }
        }
        assert!(copied > 0);
        let (runs, notes) = saved_runs(&dir.0).unwrap();
        assert!(notes.is_empty(), "{notes:?}");
        for (file, draw) in CHARTS {
            let mut notes = Vec::new();
            let outcome = draw(&runs, &dir.0, &mut notes).unwrap();
            assert!(
                matches!(outcome, Outcome::Written(_)),
                "{file}: {outcome:?}"
            );
            assert!(notes.is_empty(), "{file}: {notes:?}");
        }
    }

    #[test]
    fn charts_without_data_are_skipped_not_failed() {
        let dir = TempDir::new("none");
        save(
            &dir.0,
            "2026-11-22T080000Z-chaos.json",
            serde_json::json!([{"scenario": "chaos", "system": "ringgroup", "params": {}, "runs": 1,
                "figures": {"lost": 0}}, {"scenario": "rebalance", "system": "ringgroup",
                "figures": {"handoff_histogram_us": "not an array"}}]),
        );
        let (runs, _) = saved_runs(&dir.0).unwrap();
        for (file, draw) in CHARTS {
            let mut notes = Vec::new();
            let outcome = draw(&runs, &dir.0, &mut notes).unwrap();
            assert!(
                matches!(outcome, Outcome::Skipped(_)),
                "{file}: {outcome:?}"
            );
            assert!(!dir.0.join(file).exists());
        }
    }
}
