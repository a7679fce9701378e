//! One result line, and the conventions its figures follow.

use serde_json::{json, Map, Value};

use crate::names::{scenario, system};
use crate::UNKNOWN;

/// One result: a scenario's figures for one system and set of parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// The scenario (subcommand) and, where it has several, its case: `compare/spsc`.
    pub scenario: String,
    /// `ringgroup` or the peer crate's name ([`system::ALL`]).
    pub system: String,
    /// The CPU model of the machine it ran on; `None` until the harness stamps it. A record
    /// read from a saved file always has one (its own, else its file's, else "unknown").
    pub cpu: Option<String>,
    /// What was run.
    pub params: Map<String, Value>,
    /// How many runs the figures summarise (0 when a saved record does not say).
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
            cpu: None,
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

    /// Adds `key` (the median of `samples`), `key_min` and `key_max`, [`round`]ed.
    pub fn summary(mut self, key: &str, samples: &[f64]) -> Self {
        let s = Summary::of(samples);
        self.figures.insert(key.to_owned(), round(s.median).into());
        self.figures
            .insert(format!("{key}_min"), round(s.min).into());
        self.figures
            .insert(format!("{key}_max"), round(s.max).into());
        self
    }

    /// The CPU model, or "unknown".
    pub fn cpu(&self) -> &str {
        self.cpu.as_deref().unwrap_or(UNKNOWN)
    }

    /// The figure `key` as a number, if present.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.figures.get(key).and_then(Value::as_f64)
    }

    /// The figure `key` as a finite number.
    pub fn num(&self, key: &str) -> Option<f64> {
        self.get(key).filter(|x| x.is_finite())
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

    /// This record as one JSON object (`cpu` left out while unknown).
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("scenario".into(), json!(self.scenario));
        object.insert("system".into(), json!(self.system));
        if let Some(cpu) = &self.cpu {
            object.insert("cpu".into(), json!(cpu));
        }
        object.insert("params".into(), Value::Object(self.params.clone()));
        object.insert("runs".into(), json!(self.runs));
        object.insert("figures".into(), Value::Object(self.figures.clone()));
        Value::Object(object)
    }

    /// A record from JSON: `scenario`, `system` and `figures` are required; `cpu`, `params`
    /// and `runs` may be missing (older files, hand-made ones).
    pub fn from_json(value: &Value) -> Result<Self, &'static str> {
        let text = |key| value.get(key).and_then(Value::as_str).map(str::to_owned);
        Ok(Self {
            scenario: text("scenario").ok_or("no scenario")?,
            system: text("system").ok_or("no system")?,
            cpu: text("cpu").filter(|cpu| !cpu.is_empty()),
            params: value
                .get("params")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            runs: value
                .get("runs")
                .and_then(Value::as_u64)
                .map_or(0, |n| n.min(u64::from(u32::MAX)) as u32),
            figures: value
                .get("figures")
                .and_then(Value::as_object)
                .cloned()
                .ok_or("no figures")?,
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

/// The median, minimum and maximum of one figure over several runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// The middle value (the mean of the two middle values for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Summary {
    /// Summarises `samples`; all zero for an empty slice. NaNs sort last.
    pub fn of(samples: &[f64]) -> Self {
        if samples.is_empty() {
            return Self {
                median: 0.0,
                min: 0.0,
                max: 0.0,
            };
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Self {
            median,
            min: sorted[0],
            max: sorted[n - 1],
        }
    }
}

/// Checks records against the output contract; returns how many were read. The input is
/// either JSON lines (the harness's `--json` output) or one saved run (a file the harness
/// wrote: `{"date", "command", "machine", "records": [...]}`), whose records take the file's
/// machine CPU when they have none of their own (saved before records carried one). Every
/// record must have a known scenario family and a system that can appear in it, its CPU
/// model, `params`, `runs` and at least one figure, and the figure its scenario is about
/// ([`headline`]).
pub fn validate(mut input: impl std::io::BufRead) -> Result<usize, String> {
    let mut text = String::new();
    input.read_to_string(&mut text).map_err(|e| e.to_string())?;
    let saved = serde_json::from_str::<Value>(&text)
        .ok()
        .filter(|v| v.get("records").is_some());
    let mut count = 0;
    if let Some(run) = saved {
        let records = run
            .get("records")
            .and_then(Value::as_array)
            .ok_or("a saved run whose \"records\" is not an array")?;
        let cpu = run
            .get("machine")
            .and_then(|m| m.get("cpu"))
            .and_then(Value::as_str)
            .filter(|cpu| !cpu.is_empty());
        for (i, value) in records.iter().enumerate() {
            let mut value = value.clone();
            if let (Some(object), Some(cpu)) = (value.as_object_mut(), cpu) {
                object.entry("cpu").or_insert_with(|| cpu.into());
            }
            check(&value).map_err(|e| format!("record {i}: {e}"))?;
            count += 1;
        }
    } else {
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let at = |what: String| format!("line {}: {what}", i + 1);
            let value: Value = serde_json::from_str(line).map_err(|e| at(e.to_string()))?;
            check(&value).map_err(at)?;
            count += 1;
        }
    }
    if count == 0 {
        return Err("no records".into());
    }
    Ok(count)
}

/// The figure every record of `scenario` must carry, where the contract names one: a
/// `compare` stream case's `mmsgs_per_s`, a round trip's `p50_ns` (`compare/ping-pong`,
/// `reply/round-trip`), `reply/sustained`'s `mreqs_per_s`.
pub fn headline(scenario: &str) -> Option<&'static str> {
    let (family, case) = scenario.split_once('/')?;
    match family {
        scenario::COMPARE if case == "ping-pong" => Some("p50_ns"),
        scenario::COMPARE if scenario::COMPARE_STREAM_CASES.contains(&case) => Some("mmsgs_per_s"),
        scenario::REPLY if case == "round-trip" => Some("p50_ns"),
        scenario::REPLY if case == "sustained" => Some("mreqs_per_s"),
        scenario::IPC if case == "ping-pong" || case == "reply" => Some("p50_ns"),
        scenario::IPC if scenario::IPC_CASES.contains(&case) => Some("mmsgs_per_s"),
        scenario::BRIDGE if scenario::BRIDGE_CASES.contains(&case) => Some("krecs_per_s"),
        _ => None,
    }
}

/// Checks one record against the contract.
fn check(value: &Value) -> Result<(), String> {
    let complete = value.get("params").is_some_and(Value::is_object)
        && value.get("runs").is_some_and(Value::is_u64);
    let record = Record::from_json(value)
        .ok()
        .filter(|_| complete)
        .ok_or("not a record (scenario, system, cpu, params, runs, figures)")?;
    if !scenario::FAMILIES.contains(&scenario::family(&record.scenario)) {
        return Err(format!("unknown scenario {}", record.scenario));
    }
    for (family, cases) in [
        (scenario::REPLY, &scenario::REPLY_CASES[..]),
        (scenario::IPC, &scenario::IPC_CASES[..]),
        (scenario::BRIDGE, &scenario::BRIDGE_CASES[..]),
    ] {
        if scenario::is_of(&record.scenario, family)
            && !cases
                .iter()
                .any(|c| scenario::of(family, c) == record.scenario)
        {
            return Err(format!("unknown scenario {}", record.scenario));
        }
    }
    if !system::ALL.contains(&record.system.as_str()) {
        return Err(format!("unknown system {}", record.system));
    }
    if !system::runs_in(&record.system, &record.scenario) {
        return Err(format!(
            "{} cannot appear in {} (it appears {})",
            record.system,
            record.scenario,
            system::where_it_runs(&record.system)
        ));
    }
    if record.cpu.is_none() {
        return Err(format!("{} has no cpu", record.scenario));
    }
    if record.figures.is_empty() {
        return Err(format!("{} has no figures", record.scenario));
    }
    if let Some(key) = headline(&record.scenario) {
        if record.num(key).is_none() {
            return Err(format!(
                "{} · {} has no {key}",
                record.scenario, record.system
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max() {
        assert_eq!(
            Summary::of(&[3.0, 1.0, 2.0]),
            Summary {
                median: 2.0,
                min: 1.0,
                max: 3.0
            }
        );
        assert_eq!(Summary::of(&[4.0, 1.0, 2.0, 3.0]).median, 2.5);
        assert_eq!(Summary::of(&[]).median, 0.0);
    }

    #[test]
    fn rounding_keeps_five_significant_digits() {
        assert_eq!(round(123.456_789), 123.46);
        assert_eq!(round(0.000_123_456), 0.000_123_46);
        assert_eq!(round(123_456.7), 123_457.0);
    }

    #[test]
    fn records_survive_a_json_round_trip() {
        let mut r = Record::new("compare/spsc", "ringgroup", 3)
            .param("capacity", 4096)
            .summary("mmsgs_per_s", &[1.0, 2.0, 3.0])
            .figure("ratio_vs_rtrb", 1.5);
        assert!(r.to_json().get("cpu").is_none());
        r.cpu = Some("Test CPU".into());
        let back = Record::from_json(&r.to_json()).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.get("mmsgs_per_s_max"), Some(3.0));
        let json = r.to_json();
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["scenario", "system", "cpu", "params", "runs", "figures"]
        );
    }

    #[test]
    fn a_saved_run_validates_its_records_with_the_files_cpu() {
        let record = r#"{"scenario":"compare/spsc","system":"rtrb","params":{},"runs":1,"figures":{"mmsgs_per_s":1}}"#;
        let run = format!(
            r#"{{"date": "d", "command": "suite", "machine": {{"cpu": "Old CPU"}},
            "records": [{record}, {record}]}}"#
        );
        assert_eq!(validate(run.as_bytes()), Ok(2));
        let no_cpu = format!(r#"{{"machine": {{}}, "records": [{record}]}}"#);
        assert!(validate(no_cpu.as_bytes())
            .unwrap_err()
            .contains("has no cpu"));
    }

    /// The recorded results in the repository's `bench-results/`, from every version of the
    /// harness, still meet the contract.
    #[test]
    fn the_recorded_results_validate() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench-results");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        let mut checked = 0;
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path).unwrap();
                let n = validate(text.as_bytes());
                assert!(n.is_ok(), "{}: {n:?}", path.display());
                checked += 1;
            }
        }
        assert!(checked > 0, "no saved runs in {}", dir.display());
    }

    #[test]
    fn validation_follows_the_contract() {
        let ok = r#"{"scenario":"compare/spsc","system":"rtrb","cpu":"X","params":{},"runs":1,"figures":{"mmsgs_per_s":1}}"#;
        assert_eq!(validate(format!("{ok}\n\n{ok}\n").as_bytes()), Ok(2));
        let floor = ok
            .replace("compare/spsc", "compare/ping-pong")
            .replace("rtrb", "floor")
            .replace("mmsgs_per_s", "p50_ns");
        assert_eq!(validate(floor.as_bytes()), Ok(1));
        let mpmc = ok
            .replace("compare/spsc", "compare/mpmc")
            .replace("rtrb", "disruptor");
        let reply = ok
            .replace("compare/spsc", "reply/sustained")
            .replace("rtrb", "crossbeam-channel")
            .replace("mmsgs_per_s", "mreqs_per_s");
        let round_trip = floor
            .replace("compare/ping-pong", "reply/round-trip")
            .replace("floor", "ringgroup");
        assert_eq!(
            validate(format!("{mpmc}\n{reply}\n{round_trip}\n").as_bytes()),
            Ok(3)
        );
        let group = ok
            .replace("compare/spsc", "compare/spsc-drain")
            .replace("rtrb", "ringgroup-group");
        let group_mpmc = mpmc.replace("disruptor", "ringgroup-group");
        assert_eq!(
            validate(format!("{group}\n{group_mpmc}\n").as_bytes()),
            Ok(2)
        );
        let ipc = ok
            .replace("compare/spsc", "ipc/fanout")
            .replace("rtrb", "iceoryx2");
        let ipc_round_trip = round_trip.replace("reply/round-trip", "ipc/ping-pong");
        let ipc_reply = round_trip.replace("reply/round-trip", "ipc/reply");
        assert_eq!(
            validate(format!("{ipc}\n{ipc_round_trip}\n{ipc_reply}\n").as_bytes()),
            Ok(3)
        );
        for (bad, why) in [
            (ok.replace(r#""cpu":"X","#, ""), "no cpu"),
            (ok.replace(r#""runs":1,"#, ""), "not a record"),
            (ok.replace("compare/spsc", "bogus/spsc"), "unknown scenario"),
            (ok.replace("rtrb", "kafka"), "unknown system"),
            (
                ok.replace("rtrb", "floor"),
                "floor cannot appear in compare/spsc (it appears only in compare/ping-pong)",
            ),
            (
                ok.replace("compare/spsc", "compare/mpsc"),
                "rtrb cannot appear in compare/mpsc",
            ),
            (
                ok.replace("compare/spsc", "reply/round-trip"),
                "rtrb cannot appear in reply/round-trip",
            ),
            (
                ok.replace("compare/spsc", "reply/sustained")
                    .replace("rtrb", "disruptor"),
                "disruptor cannot appear in reply/sustained (it appears everywhere but reply/* and ipc/*)",
            ),
            (
                ok.replace("rtrb", "iceoryx2"),
                "iceoryx2 cannot appear in compare/spsc (it appears only in ipc/*)",
            ),
            (
                round_trip.replace("ringgroup", "ringgroup-group"),
                "ringgroup-group cannot appear in reply/round-trip (it appears only in compare/*)",
            ),
            (
                ok.replace("compare/spsc", "ipc/throughput"),
                "rtrb cannot appear in ipc/throughput",
            ),
            (
                ok.replace("compare/spsc", "ipc/bogus")
                    .replace("rtrb", "ringgroup"),
                "unknown scenario ipc/bogus",
            ),
            (
                ok.replace("compare/spsc", "ipc/ping-pong")
                    .replace("rtrb", "ringgroup"),
                "ipc/ping-pong · ringgroup has no p50_ns",
            ),
            (ok.replace(r#""mmsgs_per_s":1"#, ""), "no figures"),
            (
                ok.replace("mmsgs_per_s", "allocs_per_msg"),
                "compare/spsc · rtrb has no mmsgs_per_s",
            ),
            (
                ok.replace("compare/spsc", "reply/bogus")
                    .replace("rtrb", "ringgroup"),
                "unknown scenario reply/bogus",
            ),
            ("{".to_owned(), "line 1"),
            (String::new(), "no records"),
            (r#"{"records": []}"#.to_owned(), "no records"),
            (
                format!(r#"{{"machine": {{"cpu": "X"}}, "records": [{ok}, {{"scenario": "x"}}]}}"#),
                "record 1: not a record",
            ),
        ] {
            let err = validate(bad.as_bytes()).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
