//! Reading `ringgroup-bench`'s saved runs and picking, for each scenario, the newest run that
//! has it.
//!
//! A saved run is `<UTC stamp>-<command>.json`:
//! `{"date", "command", "machine": {"cpu", "cores", ...}, "records": [{"scenario", "system",
//! "params", "runs", "figures"}, ...]}` (the contract in `tools/bench/README.md`). File names
//! start with the stamp, so sorting them sorts by time. Anything unreadable is skipped with a
//! note, never a panic: a file that is not JSON, a record without a scenario, system or figures.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde_json::{Map, Value};

/// One saved run.
#[derive(Clone, Debug)]
pub struct SavedRun {
    /// The file's name (it starts with the run's UTC stamp).
    pub file: String,
    /// When it ran, as written by the harness (`2026-11-22 14:03:07 UTC`).
    pub date: String,
    /// The CPU model.
    pub cpu: String,
    /// Cores available to the run, when recorded.
    pub cores: Option<u64>,
    /// What it measured.
    pub records: Vec<Record>,
}

/// One result: a scenario's figures for one system and set of parameters.
#[derive(Clone, Debug)]
pub struct Record {
    /// `compare/spsc`, `latency/ping-pong`, `scale/groups`, `rebalance`, ...
    pub scenario: String,
    /// `ringgroup` or the peer crate's name.
    pub system: String,
    /// What was run.
    pub params: Map<String, Value>,
    /// What was measured, units in the keys.
    pub figures: Map<String, Value>,
}

impl Record {
    /// The figure `key` as a finite number.
    pub fn num(&self, key: &str) -> Option<f64> {
        self.figures
            .get(key)
            .and_then(Value::as_f64)
            .filter(|x| x.is_finite())
    }

    /// The parameter `key` as a finite number.
    pub fn param_num(&self, key: &str) -> Option<f64> {
        self.params
            .get(key)
            .and_then(Value::as_f64)
            .filter(|x| x.is_finite())
    }

    /// The figure `key` as `[[x, y], ...]` pairs; `None` when absent, an error when malformed.
    pub fn pairs(&self, key: &str) -> Option<Result<Vec<(f64, f64)>, String>> {
        let value = self.figures.get(key)?;
        let Some(items) = value.as_array() else {
            return Some(Err(format!("{key} is not an array")));
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let pair = item.as_array().filter(|a| a.len() == 2).and_then(|a| {
                let x = a[0].as_f64().filter(|x| x.is_finite())?;
                let y = a[1].as_f64().filter(|y| y.is_finite())?;
                Some((x, y))
            });
            match pair {
                Some(p) => out.push(p),
                None => return Some(Err(format!("{key}[{i}] is not a pair of numbers: {item}"))),
            }
        }
        Some(Ok(out))
    }

    /// `scenario · system`.
    pub fn name(&self) -> String {
        format!("{} · {}", self.scenario, self.system)
    }

    fn from_json(value: &Value) -> Result<Self, &'static str> {
        let text = |key| value.get(key).and_then(Value::as_str).map(str::to_owned);
        Ok(Self {
            scenario: text("scenario").ok_or("no scenario")?,
            system: text("system").ok_or("no system")?,
            params: value
                .get("params")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            figures: value
                .get("figures")
                .and_then(Value::as_object)
                .cloned()
                .ok_or("no figures")?,
        })
    }
}

/// Every saved run in `dir`, oldest first, with a note for each file or record skipped.
pub fn saved_runs(dir: &Path) -> Result<(Vec<SavedRun>, Vec<String>), String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    let mut runs = Vec::new();
    let mut notes = Vec::new();
    for file in names {
        let text = match fs::read_to_string(dir.join(&file)) {
            Ok(text) => text,
            Err(e) => {
                notes.push(format!("left out {file}: unreadable: {e}"));
                continue;
            }
        };
        match parse_run(&file, &text, &mut notes) {
            Ok(run) => runs.push(run),
            Err(e) => notes.push(format!("left out {file}: {e}")),
        }
    }
    Ok((runs, notes))
}

/// One saved run from its file's text; malformed records are noted and left out.
pub fn parse_run(file: &str, text: &str, notes: &mut Vec<String>) -> Result<SavedRun, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let records = value
        .get("records")
        .and_then(Value::as_array)
        .ok_or("not a saved run (no \"records\" array)")?;
    let machine = value.get("machine");
    let machine_text = |key| machine.and_then(|m| m.get(key)).and_then(Value::as_str);
    let mut run = SavedRun {
        file: file.to_owned(),
        date: value
            .get("date")
            .and_then(Value::as_str)
            .unwrap_or(file)
            .to_owned(),
        cpu: machine_text("cpu").unwrap_or("unknown CPU").to_owned(),
        cores: machine.and_then(|m| m.get("cores")).and_then(Value::as_u64),
        records: Vec::with_capacity(records.len()),
    };
    for (i, r) in records.iter().enumerate() {
        match Record::from_json(r) {
            Ok(record) => run.records.push(record),
            Err(why) => notes.push(format!("{file}: left out record {i}: {why}")),
        }
    }
    Ok(run)
}

/// For every scenario that `wanted` accepts, the records of the newest run holding it (the
/// same rule as the results README): scenarios in name order, records in file order.
pub fn newest(runs: &[SavedRun], wanted: impl Fn(&str) -> bool) -> Vec<(&SavedRun, &Record)> {
    let mut latest: BTreeMap<&str, &SavedRun> = BTreeMap::new();
    for run in runs {
        for r in run.records.iter().filter(|r| wanted(&r.scenario)) {
            latest.insert(&r.scenario, run);
        }
    }
    latest
        .into_iter()
        .flat_map(|(scenario, run)| {
            run.records
                .iter()
                .filter(move |r| r.scenario == scenario)
                .map(move |r| (run, r))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(file: &str, records: &[(&str, &str, f64)]) -> SavedRun {
        let records: Vec<Value> = records
            .iter()
            .map(|(scenario, system, x)| {
                serde_json::json!({"scenario": scenario, "system": system, "params": {},
                    "runs": 1, "figures": {"mmsgs_per_s": x}})
            })
            .collect();
        let text = serde_json::json!({"date": file, "command": "compare",
            "machine": {"cpu": "Test CPU", "cores": 2}, "records": records})
        .to_string();
        parse_run(file, &text, &mut Vec::new()).unwrap()
    }

    #[test]
    fn each_scenario_comes_from_the_newest_run_that_has_it() {
        let runs = [
            run(
                "2026-01-01T000000Z-compare.json",
                &[
                    ("compare/spsc", "ringgroup", 1.0),
                    ("compare/fanout-3", "bus", 2.0),
                ],
            ),
            run(
                "2026-01-02T000000Z-compare.json",
                &[
                    ("compare/spsc", "ringgroup", 3.0),
                    ("compare/spsc", "rtrb", 4.0),
                ],
            ),
            run(
                "2026-01-03T000000Z-latency.json",
                &[("latency/ping-pong", "ringgroup", 5.0)],
            ),
        ];
        let picked: Vec<(String, f64)> = newest(&runs, |s| s.starts_with("compare/"))
            .into_iter()
            .map(|(run, r)| {
                (
                    format!("{} {}", &run.file[..10], r.name()),
                    r.num("mmsgs_per_s").unwrap(),
                )
            })
            .collect();
        assert_eq!(
            picked,
            [
                ("2026-01-01 compare/fanout-3 · bus".to_owned(), 2.0),
                ("2026-01-02 compare/spsc · ringgroup".to_owned(), 3.0),
                ("2026-01-02 compare/spsc · rtrb".to_owned(), 4.0),
            ]
        );
    }

    #[test]
    fn malformed_input_is_noted_not_fatal() {
        let mut notes = Vec::new();
        assert!(parse_run("a.json", "{not json", &mut notes).is_err());
        assert!(parse_run("b.json", r#"{"records": 3}"#, &mut notes).is_err());
        let text = r#"{"records": [{"scenario": "rebalance"}, {"scenario": "rebalance",
            "system": "ringgroup", "figures": {"handoff_histogram_us": [[1, 2], [3]]}}]}"#;
        let run = parse_run("c.json", text, &mut notes).unwrap();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!(run.cpu, "unknown CPU");
        assert_eq!(run.records.len(), 1);
        assert!(run.records[0]
            .pairs("handoff_histogram_us")
            .unwrap()
            .is_err());
        assert!(run.records[0].pairs("percentile_curve_ns").is_none());
    }
}
