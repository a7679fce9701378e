//! Saved runs: one file per harness invocation, and how to pick the newest figures from many.
//!
//! A saved run is `<UTC stamp>-<command>.json`:
//! `{"date", "command", "machine": {"cpu", "cores", ...}, "records": [...]}`. File names start
//! with the stamp, so sorting them sorts by time. Reading never panics: a file that is not
//! JSON, or a record without a scenario, system or figures, is left out with a note.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::{Machine, Record};

/// One saved run.
#[derive(Clone, Debug)]
pub struct SavedRun {
    /// The file's name (it starts with the run's UTC stamp).
    pub file: String,
    /// When it ran, as written by the harness (`2026-11-22 14:03:07 UTC`).
    pub date: String,
    /// The harness command that made it (`suite`, `compare`, ...); empty when not recorded.
    pub command: String,
    /// The machine it ran on.
    pub machine: Machine,
    /// What it measured; every record has its CPU model.
    pub records: Vec<Record>,
}

impl SavedRun {
    /// The CPU models of this run's records, each once, in record order (the machine's when it
    /// has no records).
    pub fn cpus(&self) -> Vec<&str> {
        let mut cpus: Vec<&str> = Vec::new();
        for cpu in self.records.iter().map(Record::cpu) {
            if !cpus.contains(&cpu) {
                cpus.push(cpu);
            }
        }
        if cpus.is_empty() {
            cpus.push(&self.machine.cpu);
        }
        cpus
    }
}

/// Writes `records` as a dated run of `command` into `dir` (created if need be), each record
/// stamped with the machine's CPU model unless it has one; returns the file's path.
pub fn write_run(
    dir: &Path,
    command: &str,
    machine: &Machine,
    records: &[Record],
) -> std::io::Result<PathBuf> {
    fs::create_dir_all(dir)?;
    let (date, stamp) = utc_now();
    let path = dir.join(format!("{stamp}-{command}.json"));
    let records: Vec<Value> = records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.cpu.get_or_insert_with(|| machine.cpu.clone());
            r.to_json()
        })
        .collect();
    let body = json!({
        "date": date,
        "command": command,
        "machine": machine.to_json(),
        "records": records,
    });
    fs::write(&path, serde_json::to_string_pretty(&body)? + "\n")?;
    Ok(path)
}

/// Every saved run in `dir`, oldest first, with a note for each file or record left out.
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

/// One saved run from its file's text; malformed records are noted and left out. A record
/// without its own `cpu` (saved before records carried one) takes the file's machine CPU.
pub fn parse_run(file: &str, text: &str, notes: &mut Vec<String>) -> Result<SavedRun, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let records = value
        .get("records")
        .and_then(Value::as_array)
        .ok_or("not a saved run (no \"records\" array)")?;
    let text = |key| value.get(key).and_then(Value::as_str);
    let mut run = SavedRun {
        file: file.to_owned(),
        date: text("date").unwrap_or(file).to_owned(),
        command: text("command").unwrap_or_default().to_owned(),
        machine: Machine::from_json(value.get("machine")),
        records: Vec::with_capacity(records.len()),
    };
    for (i, r) in records.iter().enumerate() {
        match Record::from_json(r) {
            Ok(mut record) => {
                record.cpu.get_or_insert_with(|| run.machine.cpu.clone());
                run.records.push(record);
            }
            Err(why) => notes.push(format!("{file}: left out record {i}: {why}")),
        }
    }
    Ok(run)
}

/// For every scenario that `wanted` accepts, the records of the newest run holding it (the
/// rule of both the results README and the charts): scenarios in name order, records in file
/// order.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UNKNOWN;

    #[test]
    fn dates_are_gregorian() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_049), (2024, 11, 22));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    fn run(file: &str, records: &[(&str, &str, f64)]) -> SavedRun {
        let records: Vec<Value> = records
            .iter()
            .map(|(scenario, system, x)| {
                json!({"scenario": scenario, "system": system, "params": {},
                    "runs": 1, "figures": {"mmsgs_per_s": x}})
            })
            .collect();
        let text = json!({"date": file, "command": "compare",
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
        // Saved without a cpu per record: each takes the file's machine.
        assert_eq!(runs[0].cpus(), ["Test CPU"]);
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
        assert_eq!(run.machine.cpu, UNKNOWN);
        assert_eq!(run.records.len(), 1);
        assert_eq!(run.records[0].cpu(), UNKNOWN);
        assert!(run.records[0]
            .pairs("handoff_histogram_us")
            .unwrap()
            .is_err());
        assert!(run.records[0].pairs("percentile_curve_ns").is_none());
    }

    #[test]
    fn a_written_run_reads_back_with_every_record_labelled() {
        let dir = std::env::temp_dir().join(format!("ringgroup-results-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let machine = Machine::from_json(Some(&json!({"cpu": "Test CPU 9000", "cores": 2})));
        let mut own = Record::new("latency/ping-pong", "ringgroup", 1).figure("p50_ns", 300);
        own.cpu = Some("Other CPU".into());
        let records = [
            Record::new("compare/spsc", "rtrb", 1).figure("mmsgs_per_s", 1.5),
            own,
        ];
        let path = write_run(&dir, "suite", &machine, &records).unwrap();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(name.ends_with("Z-suite.json"), "{name}");
        let saved: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(saved["records"][0]["cpu"], "Test CPU 9000");
        let (runs, notes) = saved_runs(&dir).unwrap();
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(runs[0].command, "suite");
        assert_eq!(runs[0].machine.cores, Some(2));
        assert_eq!(runs[0].cpus(), ["Test CPU 9000", "Other CPU"]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
