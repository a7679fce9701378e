//! Results: one [`Record`] per (scenario, system, parameters), printed as a JSON line or a
//! table, and saved as a dated run with a README of tables beside it.
//!
//! The schema (records, saved runs, the machine, scenario and system names, validation) is the
//! `ringgroup-results` crate, which `tools/plot` reads with; the output contract is documented
//! in `tools/bench/README.md`. In short:
//! - `--json`: one object per line on stdout, `{"scenario", "system", "cpu", "params", "runs",
//!   "figures"}`. Figure keys carry their unit (`mmsgs_per_s`, `p99_ns`, `handoff_p99_us`).
//!   A figure measured over several runs is the median, with `<key>_min` and `<key>_max`.
//!   Array-valued figures (`percentile_curve_ns`, `handoff_histogram_us`) feed the charts and
//!   are left out of the tables.
//! - Every invocation that is not `--no-save` writes `<dir>/<date>T<time>Z-<command>.json`
//!   (`{"date", "command", "machine", "records": [...]}`) and rewrites `<dir>/README.md` from
//!   the newest saved file of each scenario.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use ringgroup_results::names::{chart, figure, scenario, system};
pub use ringgroup_results::{round, Record};
use ringgroup_results::{saved_runs, write_run, Machine, SavedRun, FLOOR_TARGET, GROUP_TARGET};
use serde_json::Value;

/// Collects the records of one invocation, printing each as it comes when `--json` is set.
pub struct Report {
    json: bool,
    /// This machine's CPU model, stamped on every record.
    cpu: String,
    records: Vec<Record>,
}

impl Report {
    /// An empty report.
    pub fn new(json: bool) -> Self {
        Self {
            json,
            cpu: ringgroup_results::cpu_model(),
            records: Vec::new(),
        }
    }

    /// Adds a record, labelled with this machine's CPU model (and prints it at once as a JSON
    /// line under `--json`).
    pub fn emit(&mut self, mut record: Record) {
        record.cpu.get_or_insert_with(|| self.cpu.clone());
        if self.json {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", record.to_json());
            let _ = out.flush();
        }
        self.records.push(record);
    }

    /// Prints the tables (unless `--json`, whose lines are already out).
    pub fn print_tables(&self) {
        if !self.json {
            print!("{}", tables(&self.records, false));
        }
    }

    /// Writes the dated JSON file and refreshes the README in `dir`; returns the file's path.
    pub fn save(&self, dir: &Path, command: &str) -> std::io::Result<PathBuf> {
        let machine = Machine::detect(ringgroup::affinity::available_cores().len());
        let path = write_run(dir, command, &machine, &self.records)?;
        refresh_readme(dir)?;
        Ok(path)
    }
}

/// Rewrites `dir/README.md`: the newest run's machine, the charts present, and for each
/// scenario family the tables from the newest run that has it, with the CPU it ran on.
pub fn refresh_readme(dir: &Path) -> std::io::Result<()> {
    let (runs, _notes) = saved_runs(dir).map_err(std::io::Error::other)?;
    let Some(newest) = runs.last() else {
        return Ok(());
    };
    // scenario family (before any '/') -> the newest run holding it
    let mut latest: BTreeMap<&str, &SavedRun> = BTreeMap::new();
    for run in &runs {
        for r in &run.records {
            latest.insert(scenario::family(&r.scenario), run);
        }
    }
    let m = &newest.machine;
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmark results\n");
    let _ = writeln!(
        out,
        "Written by `ringgroup-bench` (see `tools/bench/README.md`); do not edit by hand. Each \
         section shows the newest saved run of that scenario, and the CPU it ran on; the raw \
         JSON files sit beside this one. Charts: `cargo plot` (`cargo plot --dir <this \
         directory>` when it is not `bench-results/`).\n"
    );
    let _ = writeln!(out, "## Machine\n");
    match m.cores {
        Some(cores) => writeln!(out, "- CPU: {} ({cores} cores available)", m.cpu),
        None => writeln!(out, "- CPU: {}", m.cpu),
    }
    .ok();
    let _ = writeln!(out, "- Kernel: {} ({})", m.kernel, m.arch);
    let _ = writeln!(out, "- Compiler: {}", m.rustc);
    let _ = writeln!(out, "- Newest run: {} (`{}`)\n", newest.date, newest.file);
    if dir.join("targets.md").exists() {
        let _ = writeln!(
            out,
            "How these figures stand against the project's targets, with profiles where they \
             fall short: [targets.md](targets.md).\n"
        );
    }
    let charts: Vec<_> = chart::ALL
        .iter()
        .filter(|(f, _)| dir.join(f).exists())
        .collect();
    if !charts.is_empty() {
        let _ = writeln!(out, "## Charts\n");
        for (file, caption) in charts {
            let _ = writeln!(out, "![{caption}]({file})\n");
        }
    }
    let mut families: Vec<(&str, &SavedRun)> = latest.into_iter().collect();
    families.sort_by_key(|(name, _)| {
        scenario::FAMILIES
            .iter()
            .position(|f| f == name)
            .unwrap_or(scenario::FAMILIES.len())
    });
    for (family_name, run) in families {
        let records: Vec<Record> = run
            .records
            .iter()
            .filter(|r| scenario::is_of(&r.scenario, family_name))
            .cloned()
            .collect();
        let mut cpus: Vec<&str> = Vec::new();
        for cpu in records.iter().map(Record::cpu) {
            if !cpus.contains(&cpu) {
                cpus.push(cpu);
            }
        }
        let _ = writeln!(
            out,
            "## {family_name}\n\nFrom `{}` ({}), CPU: {}.\n",
            run.file,
            run.date,
            cpus.join(" | ")
        );
        out.push_str(&tables(&records, true));
    }
    fs::write(dir.join("README.md"), out)
}

/// Figures that say how a record was measured rather than what: the tables put them last.
const METHOD_FIGURES: [&str; 9] = [
    "run_ms",
    "cpu_share",
    "line_rtt_ns",
    "retried_slices",
    "disturbed_slices",
    "placement_waits",
    "moved_slices",
    "cut_short_slices",
    "threads_sharing_core",
];

/// Renders records as one table per scenario: plain text, or markdown.
pub fn tables(records: &[Record], markdown: bool) -> String {
    let mut order: Vec<&str> = Vec::new();
    for r in records {
        if !order.contains(&r.scenario.as_str()) {
            order.push(&r.scenario);
        }
    }
    let mut out = String::new();
    for scenario in order {
        let rows: Vec<&Record> = records.iter().filter(|r| r.scenario == scenario).collect();
        let mut params: Vec<&str> = Vec::new();
        let mut figures: Vec<&str> = Vec::new();
        for r in &rows {
            for k in r.params.keys() {
                if !params.contains(&k.as_str()) {
                    params.push(k);
                }
            }
            for (k, v) in &r.figures {
                if v.is_array() || v.is_object() {
                    continue; // curves and histograms are for the charts, not the table
                }
                let is_spread = (k.ends_with("_min") || k.ends_with("_max"))
                    && r.figures.contains_key(&k[..k.len() - 4]);
                if !is_spread && !figures.contains(&k.as_str()) {
                    figures.push(k);
                }
            }
        }
        // What was measured first, how it was measured after (a figure that only some
        // records have, such as `ratio_vs_ring`, then sits with the other ratios).
        figures.sort_by_key(|k| METHOD_FIGURES.contains(k));
        let mut header = vec!["system".to_owned()];
        header.extend(params.iter().map(|s| s.to_string()));
        header.extend(figures.iter().map(|s| s.to_string()));
        let mut body: Vec<Vec<String>> = Vec::new();
        for r in &rows {
            let mut row = vec![r.system.clone()];
            row.extend(
                params
                    .iter()
                    .map(|k| r.params.get(*k).map(show).unwrap_or_default()),
            );
            row.extend(figures.iter().map(|k| cell(r, k)));
            body.push(row);
        }
        let floor = rows
            .iter()
            .filter(|r| r.system == system::RINGGROUP)
            .find_map(|r| floor_verdict(r));
        let group = rows
            .iter()
            .filter(|r| r.system == system::RINGGROUP_GROUP)
            .find_map(|r| group_verdict(r));
        let verdicts: Vec<String> = floor.into_iter().chain(group).collect();
        if markdown {
            let _ = writeln!(out, "### {scenario}\n");
            let _ = writeln!(out, "| {} |", header.join(" | "));
            let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
            for row in body {
                let _ = writeln!(out, "| {} |", row.join(" | "));
            }
            out.push('\n');
            for verdict in &verdicts {
                let _ = writeln!(out, "{verdict}\n");
            }
        } else {
            let widths: Vec<usize> = (0..header.len())
                .map(|c| {
                    body.iter()
                        .map(|row| row[c].len())
                        .chain([header[c].len()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let line = |row: &[String]| {
                row.iter()
                    .zip(&widths)
                    .map(|(s, w)| format!("{s:<w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
            };
            let _ = writeln!(out, "\n== {scenario}");
            let _ = writeln!(out, "{}", line(&header).trim_end());
            for row in &body {
                let _ = writeln!(out, "{}", line(row).trim_end());
            }
            for verdict in &verdicts {
                let _ = writeln!(out, "{verdict}");
            }
        }
    }
    out
}

/// " (min–max over N runs)" for figure `key` of `r`, or nothing when its runs agree.
fn spread_over_runs(r: &Record, key: &str) -> String {
    match (r.num(&format!("{key}_min")), r.num(&format!("{key}_max"))) {
        (Some(lo), Some(hi)) if lo != hi => format!(
            " ({}–{} over {} runs)",
            format_number(lo),
            format_number(hi),
            r.runs
        ),
        _ => String::new(),
    }
}

/// For ringgroup's `compare/ping-pong` record with a `floor` alongside: one sentence saying how
/// many times the floor its p50 is, and whether that meets [`FLOOR_TARGET`].
pub fn floor_verdict(r: &Record) -> Option<String> {
    let p50 = r.num(figure::P50_OVER_FLOOR)?;
    let spread = spread_over_runs(r, figure::P50_OVER_FLOOR);
    let p99 = r
        .num(figure::P99_OVER_FLOOR)
        .map(|x| format!("; p99 {}×", format_number(x)))
        .unwrap_or_default();
    let verdict = if p50 <= FLOOR_TARGET {
        "within"
    } else {
        "NOT within"
    };
    Some(format!(
        "Floor: ringgroup's p50 round trip is {}× the floor's{spread}{p99}: {verdict} the \
         {FLOOR_TARGET}× target.",
        format_number(p50)
    ))
}

/// For `ringgroup-group`'s `compare/*` record with the bare ring alongside: one sentence saying
/// what fraction of the ring's speed the group API reached (`ratio_vs_ring`, with its spread
/// over runs), and whether that meets [`GROUP_TARGET`].
pub fn group_verdict(r: &Record) -> Option<String> {
    let key = figure::RATIO_VS_RING;
    let ratio = r.num(key)?;
    let spread = spread_over_runs(r, key);
    let what = if r.num("p50_ns").is_some() {
        "round trip (ring's p50 ÷ the group's)"
    } else {
        "rate"
    };
    let p99 = r
        .num(&format!("p99_{key}"))
        .map(|x| format!("; p99 {}×", format_number(x)))
        .unwrap_or_default();
    let verdict = if ratio >= GROUP_TARGET {
        "meets"
    } else {
        "does NOT meet"
    };
    Some(format!(
        "Group API: ringgroup-group's {what} is {}× the bare ring's{spread}{p99}: {verdict} the \
         {GROUP_TARGET}× target.",
        format_number(ratio)
    ))
}

/// `12.3 (11.9–12.8)` when the figure has a spread, else the value.
fn cell(r: &Record, key: &str) -> String {
    let Some(v) = r.figures.get(key) else {
        return String::new();
    };
    match (
        r.figures.get(&format!("{key}_min")),
        r.figures.get(&format!("{key}_max")),
    ) {
        (Some(lo), Some(hi)) if lo != hi => format!("{} ({}–{})", show(v), show(lo), show(hi)),
        _ => show(v),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(x) if n.is_f64() => format_number(x),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

fn format_number(x: f64) -> String {
    let a = x.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_tabulate_with_their_spread() {
        let r = Record::new("compare/spsc", "ringgroup", 3)
            .param("capacity", 4096)
            .summary("mmsgs_per_s", &[1.0, 2.0, 3.0])
            .figure("ratio_vs_rtrb", 1.5);
        let table = tables(&[r], true);
        assert!(
            table.contains("| ringgroup | 4096 | 2.00 (1.00–3.00) | 1.50 |"),
            "{table}"
        );
    }

    #[test]
    fn the_floor_verdict_is_printed_under_the_ping_pong_table() {
        let r = Record::new("compare/ping-pong", "ringgroup", 5)
            .summary("p50_ns", &[150.0, 160.0, 170.0])
            .summary("ratio_vs_floor", &[0.8, 0.85, 0.9])
            .summary("p50_over_floor", &[1.1, 1.15, 1.25])
            .summary("p99_over_floor", &[1.3, 1.4, 1.5]);
        let floor = Record::new("compare/ping-pong", "floor", 5).summary("p50_ns", &[130.0]);
        for markdown in [true, false] {
            let table = tables(&[r.clone(), floor.clone()], markdown);
            assert!(
                table.contains(
                    "Floor: ringgroup's p50 round trip is 1.15× the floor's (1.10–1.25 over 5 \
                     runs); p99 1.40×: within the 1.2× target."
                ),
                "{table}"
            );
        }
        let slow = r.clone().figure("p50_over_floor", 1.3);
        assert!(floor_verdict(&slow)
            .unwrap()
            .contains("NOT within the 1.2× target"));
        // Older records, without a floor, print no verdict.
        let old = Record::new("compare/ping-pong", "ringgroup", 5).figure("p50_ns", 160.0);
        assert!(!tables(&[old], true).contains("Floor:"));
    }

    #[test]
    fn the_group_verdict_is_printed_under_each_compare_table() {
        let ring = Record::new("compare/spsc", "ringgroup", 5).summary("mmsgs_per_s", &[100.0]);
        let group = Record::new("compare/spsc", "ringgroup-group", 5)
            .summary("mmsgs_per_s", &[85.0])
            .summary("ratio_vs_ring", &[0.8, 0.85, 0.9]);
        for markdown in [true, false] {
            let table = tables(&[ring.clone(), group.clone()], markdown);
            assert!(
                table.contains(
                    "Group API: ringgroup-group's rate is 0.850× the bare ring's (0.800–0.900 \
                     over 5 runs): meets the 0.8× target."
                ),
                "{table}"
            );
            // The ratio's column shows its spread.
            assert!(table.contains("0.850 (0.800–0.900)"), "{table}");
        }
        // The ratio comes before how the runs went, though only the group's record has it.
        let ring = ring.clone().summary("run_ms", &[10.0]);
        let group = group.clone().summary("run_ms", &[10.0]);
        for markdown in [true, false] {
            let table = tables(&[ring.clone(), group.clone()], markdown);
            let at = |key: &str| table.find(key).unwrap_or_else(|| panic!("{key}: {table}"));
            assert!(at("ratio_vs_ring") < at("run_ms"), "{table}");
        }
        let slow = group.clone().figure("ratio_vs_ring", 0.5);
        assert!(group_verdict(&slow).unwrap().contains("does NOT meet"));
        let ping = Record::new("compare/ping-pong", "ringgroup-group", 1)
            .summary("p50_ns", &[200.0])
            .summary("ratio_vs_ring", &[0.9])
            .summary("p99_ratio_vs_ring", &[0.7]);
        assert_eq!(
            group_verdict(&ping).unwrap(),
            "Group API: ringgroup-group's round trip (ring's p50 ÷ the group's) is 0.900× the \
             bare ring's; p99 0.700×: meets the 0.8× target."
        );
        // Without the ring alongside there is no ratio, and no verdict.
        assert!(group_verdict(&ring).is_none());
    }

    #[test]
    fn the_readme_names_each_sections_cpu_old_files_included() {
        let dir =
            std::env::temp_dir().join(format!("ringgroup-bench-readme-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        // A file saved before records carried their CPU: its machine line labels them.
        let old = serde_json::json!({"date": "2026-11-22 08:29:56 UTC", "command": "suite",
            "machine": {"cpu": "Old CPU", "cores": 2, "kernel": "6.1", "arch": "x86_64",
                "rustc": "rustc 1.85.0"},
            "records": [{"scenario": "chaos", "system": "ringgroup", "params": {}, "runs": 1,
                "figures": {"lost": 0}}]});
        fs::write(dir.join("2026-11-22T082956Z-suite.json"), old.to_string()).unwrap();
        let mut report = Report::new(false);
        report.emit(Record::new("compare/spsc", "rtrb", 1).figure("mmsgs_per_s", 2.5));
        assert_eq!(report.records[0].cpu(), ringgroup_results::cpu_model());
        report.save(&dir, "compare").unwrap();
        let readme = fs::read_to_string(dir.join("README.md")).unwrap();
        let cpu = ringgroup_results::cpu_model();
        assert!(readme.contains(&format!("- CPU: {cpu} (")), "{readme}");
        assert!(readme.contains(&format!("), CPU: {cpu}.")), "{readme}");
        assert!(
            readme.contains("(2026-11-22 08:29:56 UTC), CPU: Old CPU."),
            "{readme}"
        );
        assert!(
            readme.find("## compare") < readme.find("## chaos"),
            "{readme}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
