//! The machine a run was made on.

use std::fs;

use serde_json::{json, Value};

use crate::UNKNOWN;

/// A saved run's `machine`: `{"cpu", "cores", "kernel", "arch", "rustc"}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Machine {
    /// The CPU model (`/proc/cpuinfo`'s "model name"), or "unknown".
    pub cpu: String,
    /// Cores available to the run, when recorded.
    pub cores: Option<u64>,
    /// The kernel release (or the OS name).
    pub kernel: String,
    /// The CPU architecture.
    pub arch: String,
    /// `rustc --version`.
    pub rustc: String,
}

/// The CPU model: the first "model name" in `/proc/cpuinfo`, or "unknown".
pub fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| model_name(&text))
        .unwrap_or_else(|| UNKNOWN.to_owned())
}

fn model_name(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, model)| model.trim().to_owned())
        .filter(|model| !model.is_empty())
}

impl Machine {
    /// This machine, with `cores` cores available to the process.
    pub fn detect(cores: usize) -> Self {
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
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| UNKNOWN.into());
        Self {
            cpu: cpu_model(),
            cores: Some(cores as u64),
            kernel,
            arch: std::env::consts::ARCH.into(),
            rustc,
        }
    }

    /// As saved.
    pub fn to_json(&self) -> Value {
        json!({
            "cpu": self.cpu,
            "cores": self.cores,
            "kernel": self.kernel,
            "arch": self.arch,
            "rustc": self.rustc,
        })
    }

    /// From a saved run's `machine`, if any; what is missing is "unknown" (`cores`: none).
    pub fn from_json(value: Option<&Value>) -> Self {
        let text = |key| {
            value
                .and_then(|m| m.get(key))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or(UNKNOWN)
                .to_owned()
        };
        Self {
            cpu: text("cpu"),
            cores: value.and_then(|m| m.get("cores")).and_then(Value::as_u64),
            kernel: text("kernel"),
            arch: text("arch"),
            rustc: text("rustc"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_name_comes_from_cpuinfo() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n\
                       processor\t: 1\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(model_name(cpuinfo).as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(model_name("processor\t: 0\nmodel name\t:\n"), None);
        assert_eq!(model_name(""), None);
        assert!(!cpu_model().is_empty());
    }

    #[test]
    fn a_machine_survives_the_round_trip_and_old_files_read_as_unknown() {
        let m = Machine {
            cpu: "Test CPU".into(),
            cores: Some(2),
            kernel: "6.1".into(),
            arch: "x86_64".into(),
            rustc: "rustc 1.85.0".into(),
        };
        assert_eq!(Machine::from_json(Some(&m.to_json())), m);
        let old = Machine::from_json(Some(&json!({"cores": 4})));
        assert_eq!((old.cpu.as_str(), old.cores), (UNKNOWN, Some(4)));
        assert_eq!(Machine::from_json(None).cpu, UNKNOWN);
    }
}
