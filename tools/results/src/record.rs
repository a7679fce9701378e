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

/// Checks JSON lines (the harness's `--json` output) against the output contract; returns how
/// many records were read. Every line must be a record with a known scenario family and
/// system, its CPU model, `params`, `runs` and at least one figure.
pub fn validate(input: impl std::io::BufRead) -> Result<usize, String> {
    let mut count = 0;
    for (i, line) in input.lines().enumerate() {
        let line = line.map_err(|e| e.to_string())?;
        if line.trim().is_empty() {
            continue;
        }
        let at = |what: String| format!("line {}: {what}", i + 1);
        let value: Value = serde_json::from_str(&line).map_err(|e| at(e.to_string()))?;
        let complete = value.get("params").is_some_and(Value::is_object)
            && value.get("runs").is_some_and(Value::is_u64);
        let record = Record::from_json(&value)
            .ok()
            .filter(|_| complete)
            .ok_or_else(|| {
                at("not a record (scenario, system, cpu, params, runs, figures)".into())
            })?;
        if !scenario::FAMILIES.contains(&scenario::family(&record.scenario)) {
            return Err(at(format!("unknown scenario {}", record.scenario)));
        }
        if !system::ALL.contains(&record.system.as_str()) {
            return Err(at(format!("unknown system {}", record.system)));
        }
        if !system::runs_in(&record.system, &record.scenario) {
            return Err(at(format!(
                "{} runs only {}, not {}",
                record.system,
                scenario::COMPARE_PING_PONG,
                record.scenario
            )));
        }
        if record.cpu.is_none() {
            return Err(at(format!("{} has no cpu", record.scenario)));
        }
        if record.figures.is_empty() {
            return Err(at(format!("{} has no figures", record.scenario)));
        }
        count += 1;
    }
    if count == 0 {
        return Err("no records".into());
    }
    Ok(count)
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
    fn validation_follows_the_contract() {
        let ok = r#"{"scenario":"compare/spsc","system":"rtrb","cpu":"X","params":{},"runs":1,"figures":{"mmsgs_per_s":1}}"#;
        assert_eq!(validate(format!("{ok}\n\n{ok}\n").as_bytes()), Ok(2));
        let floor = ok
            .replace("compare/spsc", "compare/ping-pong")
            .replace("rtrb", "floor")
            .replace("mmsgs_per_s", "p50_ns");
        assert_eq!(validate(floor.as_bytes()), Ok(1));
        for (bad, why) in [
            (ok.replace(r#""cpu":"X","#, ""), "no cpu"),
            (ok.replace(r#""runs":1,"#, ""), "not a record"),
            (ok.replace("compare/spsc", "bogus/spsc"), "unknown scenario"),
            (ok.replace("rtrb", "kafka"), "unknown system"),
            (
                ok.replace("rtrb", "floor"),
                "floor runs only compare/ping-pong",
            ),
            (ok.replace(r#""mmsgs_per_s":1"#, ""), "no figures"),
            ("{".to_owned(), "line 1"),
            (String::new(), "no records"),
        ] {
            let err = validate(bad.as_bytes()).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
