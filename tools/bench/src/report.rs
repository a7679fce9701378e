//! Results: one [`Record`] per (scenario, system, parameters), printed as a JSON line or a
//! table, and saved under `bench-results/`.
//!
//! Output contract (documented in `tools/bench/README.md`):
//! - `--json`: one object per line on stdout, `{"scenario", "system", "params", "runs",
//!   "figures"}`. Figure keys carry their unit (`mmsgs_per_s`, `p99_ns`, `handoff_p99_us`).
//!   A figure measured over several runs is the median, with `<key>_min` and `<key>_max`.
//!   Array-valued figures (`percentile_curve_ns`, `handoff_histogram_us`) feed the charts and
//!   are left out of the tables.
//! - Every invocation that is not `--no-save` writes `bench-results/<date>T<time>Z-<command>.json`
//!   (`{"date", "command", "machine", "records": [...]}`) and rewrites `bench-results/README.md`
//!   from the newest saved file of each scenario.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::stats::Summary;

/// One result line.
#[derive(Clone, Debug)]
pub struct Record {
    /// The scenario (subcommand) and, for `compare`, its case: `compare/spsc`.
    pub scenario: String,
    /// `ringgroup` or the peer crate's name.
    pub system: String,
    /// What was run.
    pub params: Map<String, Value>,
    /// How many runs the figures summarise.
    pub runs: u32,
    /// What was measured, units in the keys.
    pub figures: Map<String, Value>,
}

impl Record {
    /// A record with no parameters or figures yet.
    pub fn new(scenario: impl Into<String>, system: impl Into<String>, runs: u32) -> Self {
        Self {
            scenario: scenario.into(),
            system: system.into(),
            params: Map::new(),
            runs,
            figures: Map::new(),
        }
    }

    /// Adds a parameter.
    pub fn param(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.params.insert(key.to_owned(), value.into());
        self
    }

    /// Adds a single figure.
    pub fn figure(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.figures.insert(key.to_owned(), value.into());
        self
    }

    /// Adds `key` (the median of `samples`), `key_min` and `key_max`.
    pub fn summary(mut self, key: &str, samples: &[f64]) -> Self {
        let s = Summary::of(samples);
        self.figures.insert(key.to_owned(), round(s.median).into());
        self.figures
            .insert(format!("{key}_min"), round(s.min).into());
        self.figures
            .insert(format!("{key}_max"), round(s.max).into());
        self
    }

    /// The figure `key` as a number, if present.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.figures.get(key).and_then(Value::as_f64)
    }

    /// This record as one JSON object.
    pub fn to_json(&self) -> Value {
        json!({
            "scenario": self.scenario,
            "system": self.system,
            "params": self.params,
            "runs": self.runs,
            "figures": self.figures,
        })
    }

    fn from_json(value: &Value) -> Option<Self> {
        Some(Self {
            scenario: value.get("scenario")?.as_str()?.to_owned(),
            system: value.get("system")?.as_str()?.to_owned(),
            params: value.get("params")?.as_object()?.clone(),
            runs: value.get("runs")?.as_u64()? as u32,
            figures: value.get("figures")?.as_object()?.clone(),
        })
    }
}

/// Keeps five significant digits: enough for any figure here, and short JSON.
pub fn round(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let digits = 4 - x.abs().log10().floor() as i32;
    if digits <= 0 {
        return x.round();
    }
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

/// Collects the records of one invocation, printing each as it comes when `--json` is set.
pub struct Report {
    json: bool,
    records: Vec<Record>,
}

impl Report {
    /// An empty report.
    pub fn new(json: bool) -> Self {
        Self {
            json,
            records: Vec::new(),
        }
    }

    /// Adds a record (and prints it at once as a JSON line under `--json`).
    pub fn emit(&mut self, record: Record) {
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
        fs::create_dir_all(dir)?;
        let (date, stamp) = utc_now();
        let path = dir.join(format!("{stamp}-{command}.json"));
        let body = json!({
            "date": date,
            "command": command,
            "machine": machine(),
            "records": self.records.iter().map(Record::to_json).collect::<Vec<_>>(),
        });
        fs::write(&path, serde_json::to_string_pretty(&body)? + "\n")?;
        refresh_readme(dir)?;
        Ok(path)
    }
}

/// Checks JSON lines against the output contract; returns how many records were read.
pub fn validate(input: impl std::io::BufRead) -> Result<usize, String> {
    let mut count = 0;
    for (i, line) in input.lines().enumerate() {
        let line = line.map_err(|e| e.to_string())?;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value =
            serde_json::from_str(&line).map_err(|e| format!("line {}: {e}", i + 1))?;
        let record = Record::from_json(&value).ok_or_else(|| {
            format!(
                "line {}: not a record (scenario, system, params, runs, figures)",
                i + 1
            )
        })?;
        if record.figures.is_empty() {
            return Err(format!(
                "line {}: {} has no figures",
                i + 1,
                record.scenario
            ));
        }
        count += 1;
    }
    if count == 0 {
        return Err("no records".into());
    }
    Ok(count)
}

/// The machine's description: CPU model, cores, kernel, rustc.
pub fn machine() -> Value {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| std::env::consts::OS.into());
    let rustc =
        std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
    json!({
        "cpu": cpu,
        "cores": ringgroup::affinity::available_cores().len(),
        "kernel": kernel,
        "arch": std::env::consts::ARCH,
        "rustc": rustc,
    })
}

/// `("2026-11-22 14:03:07 UTC", "2026-11-22T140307Z")` for now.
fn utc_now() -> (String, String) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let (hh, mm, ss) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    (
        format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02} UTC"),
        format!("{y:04}-{m:02}-{d:02}T{hh:02}{mm:02}{ss:02}Z"),
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A saved run: its file name, date, machine and records.
pub struct SavedRun {
    /// The file's name.
    pub file: String,
    /// When it ran.
    pub date: String,
    /// The machine description.
    pub machine: Value,
    /// What it measured.
    pub records: Vec<Record>,
}

/// Every saved run in `dir`, oldest first (file names start with a sortable UTC stamp).
pub fn saved_runs(dir: &Path) -> std::io::Result<Vec<SavedRun>> {
    let mut names: Vec<String> = fs::read_dir(dir)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    let mut runs = Vec::new();
    for file in names {
        let Ok(text) = fs::read_to_string(dir.join(&file)) else {
            continue;
        };
        let Ok(value) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let records = value
            .get("records")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Record::from_json).collect())
            .unwrap_or_default();
        runs.push(SavedRun {
            date: value
                .get("date")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            machine: value.get("machine").cloned().unwrap_or(Value::Null),
            file,
            records,
        });
    }
    Ok(runs)
}

/// The charts `tools/plot` draws, with their captions.
const CHARTS: [(&str, &str); 4] = [
    ("throughput.svg", "Throughput per system (compare)"),
    ("latency.svg", "Latency percentiles"),
    ("scale.svg", "Scale curve"),
    ("handoff.svg", "Rebalance handoff times"),
];

/// The order of the README's sections: the suite's order, then anything else.
const FAMILY_ORDER: [&str; 8] = [
    "compare",
    "throughput",
    "latency",
    "fanout",
    "scale",
    "rebalance",
    "balance",
    "chaos",
];

/// Rewrites `dir/README.md`: for each scenario, the table from the newest run that has it.
pub fn refresh_readme(dir: &Path) -> std::io::Result<()> {
    let runs = saved_runs(dir)?;
    let Some(newest) = runs.last() else {
        return Ok(());
    };
    // scenario family (before any '/') -> the newest run holding it
    let mut latest: BTreeMap<String, &SavedRun> = BTreeMap::new();
    for run in &runs {
        for r in &run.records {
            latest.insert(family(&r.scenario).to_owned(), run);
        }
    }
    let m = &newest.machine;
    let text = |k: &str| {
        m.get(k)
            .map(|v| v.to_string().trim_matches('"').to_owned())
            .unwrap_or_default()
    };
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmark results\n");
    let _ = writeln!(
        out,
        "Written by `ringgroup-bench` (see `tools/bench/README.md`); do not edit by hand. Each \
         section shows the newest saved run of that scenario; the raw JSON files sit beside this \
         one. Charts: `cargo run --release -p ringgroup-plot`.\n"
    );
    let _ = writeln!(out, "## Machine\n");
    let _ = writeln!(
        out,
        "- CPU: {} ({} cores available)",
        text("cpu"),
        text("cores")
    );
    let _ = writeln!(out, "- Kernel: {} ({})", text("kernel"), text("arch"));
    let _ = writeln!(out, "- Compiler: {}", text("rustc"));
    let _ = writeln!(out, "- Newest run: {} (`{}`)\n", newest.date, newest.file);
    if dir.join("targets.md").exists() {
        let _ = writeln!(
            out,
            "How these figures stand against the project's targets, with profiles where they \
             fall short: [targets.md](targets.md).\n"
        );
    }
    let charts: Vec<_> = CHARTS
        .iter()
        .filter(|(f, _)| dir.join(f).exists())
        .collect();
    if !charts.is_empty() {
        let _ = writeln!(out, "## Charts\n");
        for (file, caption) in charts {
            let _ = writeln!(out, "![{caption}]({file})\n");
        }
    }
    let mut families: Vec<(&String, &&SavedRun)> = latest.iter().collect();
    families.sort_by_key(|(name, _)| {
        FAMILY_ORDER
            .iter()
            .position(|f| f == name)
            .unwrap_or(FAMILY_ORDER.len())
    });
    for (family_name, run) in families {
        let records: Vec<Record> = run
            .records
            .iter()
            .filter(|r| family(&r.scenario) == family_name)
            .cloned()
            .collect();
        let _ = writeln!(
            out,
            "## {family_name}\n\nFrom `{}` ({}).\n",
            run.file, run.date
        );
        out.push_str(&tables(&records, true));
    }
    fs::write(dir.join("README.md"), out)
}

fn family(scenario: &str) -> &str {
    scenario.split('/').next().unwrap_or(scenario)
}

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
        if markdown {
            let _ = writeln!(out, "### {scenario}\n");
            let _ = writeln!(out, "| {} |", header.join(" | "));
            let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
            for row in body {
                let _ = writeln!(out, "| {} |", row.join(" | "));
            }
            out.push('\n');
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
        }
    }
    out
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
    fn dates_are_gregorian() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_049), (2024, 11, 22));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn rounding_keeps_five_significant_digits() {
        assert_eq!(round(123.456_789), 123.46);
        assert_eq!(round(0.000_123_456), 0.000_123_46);
        assert_eq!(round(123_456.7), 123_457.0);
    }

    #[test]
    fn records_survive_a_json_round_trip_and_tabulate() {
        let r = Record::new("compare/spsc", "ringgroup", 3)
            .param("capacity", 4096)
            .summary("mmsgs_per_s", &[1.0, 2.0, 3.0])
            .figure("ratio_vs_rtrb", 1.5);
        let back = Record::from_json(&r.to_json()).unwrap();
        assert_eq!(back.get("mmsgs_per_s_max"), Some(3.0));
        let table = tables(&[back], true);
        assert!(
            table.contains("| ringgroup | 4096 | 2.00 (1.00–3.00) | 1.50 |"),
            "{table}"
        );
    }
}
