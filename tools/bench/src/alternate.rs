//! How `compare` measures one case: run sizes, warm-up, the alternating order, and disturbed
//! runs run again. The numbers below were chosen by repeating `compare --runs 5` on a noisy
//! 2-vCPU guest (see `tools/bench/README.md`, "Noise").
//!
//! - **Sizes.** Without `--messages`, runs are timed: each system's run size is calibrated so
//!   that one run lasts about `--run-ms` (a slow peer then runs as long as a fast one, instead
//!   of ten times longer or shorter). Calibration starts from a short run and grows it until a
//!   run lasts at least a quarter of the target; the size is then the measured rate × the
//!   target, refined by each warm-up run. With `--messages N`, every run has the fixed size of
//!   [`messages_for`] (CI's tiny runs).
//! - **Warm-up.** Before its measured runs, each system runs `--warmup` discarded runs in each
//!   case (a timed run's calibration counts as one once it lasted a quarter of the target):
//!   the first run of a system in a process is often slow (page faults, cold caches and branch
//!   predictors, the other core still waking up).
//! - **Order.** Round `r` runs every system once, in `--systems` order for odd `r` and in the
//!   reverse order for even `r` (A B C, C B A, A B C, ...): ratios pair run `r` of ringgroup with
//!   run `r` of each peer, and the mirrored order cancels a steady drift between the first and
//!   the last system of a round instead of always favouring one of them.
//! - **Disturbed runs.** A run during which the process got less than [`MIN_CPU_SHARE`] of the
//!   cores its threads keep busy (`cpu::Share`: another process, or the host taking the vCPU)
//!   is discarded and run again after a pause, up to `--retries` times per run, while the case
//!   has spent less than [`RETRY_BUDGET`] on retries. A disturbed run kept when the retries ran
//!   out is counted in the record's `disturbed_runs`, and a warning says so. Runs shorter than
//!   [`MIN_JUDGED_RUN`] are not judged (thread start-up dominates their share).

use std::thread;
use std::time::{Duration, Instant};

use crate::peers::{self, Case, Measured, Plan, Sample, System};
use crate::progress::Progress;

/// Below this share of its busy cores, a run was disturbed.
pub const MIN_CPU_SHARE: f64 = 0.9;

/// The time a case may spend on retries (pauses included) before it keeps disturbed runs.
pub const RETRY_BUDGET: Duration = Duration::from_secs(5);

/// Runs shorter than this are never judged disturbed: thread start-up dominates their CPU
/// share (CI's tiny runs).
pub const MIN_JUDGED_RUN: Duration = Duration::from_millis(20);

/// The first pause before a disturbed run is run again; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const MAX_PAUSE: Duration = Duration::from_millis(800);

/// The size a timed calibration starts from, as a `--messages` value (see [`messages_for`]).
const CALIBRATION_BASE: u64 = 200_000;

/// Calibration runs shorter than a quarter of the target before giving up growing.
const MAX_CALIBRATION_RUNS: u32 = 12;

/// How long each run is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sizing {
    /// `--messages N`: every run has the fixed size [`messages_for`] gives for `N`.
    Fixed(u64),
    /// About this long per run, sizes calibrated per system.
    Timed(Duration),
}

/// How a case is measured.
#[derive(Clone, Copy, Debug)]
pub struct Method {
    /// Run sizes.
    pub sizing: Sizing,
    /// Measured runs per system.
    pub runs: u32,
    /// Discarded warm-up runs per system.
    pub warmup: u32,
    /// Retries per disturbed run.
    pub retries: u32,
}

/// One system's runs in one case.
pub struct Series {
    /// The system.
    pub system: System,
    /// Messages (round trips for ping-pong) per measured run.
    pub messages: u64,
    /// Discarded warm-up runs made (calibration included).
    pub warmup_runs: u32,
    /// The measured runs, in round order.
    pub runs: Vec<Measured>,
    /// Disturbed runs discarded and run again.
    pub retried: u32,
    /// Disturbed runs kept because the retries ran out.
    pub disturbed: u32,
}

impl Series {
    /// The measured samples.
    pub fn samples(&self) -> Vec<&Sample> {
        self.runs.iter().map(|m| &m.sample).collect()
    }
}

/// Messages (round trips for ping-pong) per run of `system` in `case` for a `--messages` of
/// `base`: `spsc` and `spsc-batch` run `base` (rounded up to whole batches), `fanout-3` a
/// fifth (each message is delivered three times, on shared cores), `ping-pong` a fiftieth as
/// round trips; bus, an order of magnitude slower, a tenth of each.
pub fn messages_for(case: Case, system: System, base: u64, batch: usize) -> u64 {
    let case_divisor = match case {
        Case::Spsc | Case::SpscBatch => 1,
        Case::Fanout3 => 5,
        Case::PingPong => 50,
    };
    let divisor = case_divisor * if system.is_slow() { 10 } else { 1 };
    whole(case, (base / divisor).max(1), batch)
}

/// `messages` rounded up to whole batches in `spsc-batch`.
fn whole(case: Case, messages: u64, batch: usize) -> u64 {
    match case {
        Case::SpscBatch => messages.div_ceil(batch as u64).saturating_mul(batch as u64),
        _ => messages,
    }
}

/// The round order: `systems` for odd rounds (1, 3, ...), reversed for even ones.
pub fn round_order(systems: &[System], round: u32) -> Vec<usize> {
    let mut order: Vec<usize> = (0..systems.len()).collect();
    if round % 2 == 0 {
        order.reverse();
    }
    order
}

/// Runs `case` on every system of `systems` under `method`: warm-up (and calibration), then
/// `method.runs` alternating rounds. `plan` gives everything but the size.
pub fn run_case(
    case: Case,
    systems: &[System],
    method: &Method,
    plan: Plan,
    progress: &mut Progress,
) -> Result<Vec<Series>, String> {
    let label = format!("compare/{}", case.name());
    let mut retries = Retries {
        per_run: method.retries,
        spent: Duration::ZERO,
    };
    let mut series = Vec::with_capacity(systems.len());
    for &system in systems {
        let at = |what: &str| format!("{label} {} {what}", system.name());
        let (messages, warmup_runs, retried) =
            warm_up(case, system, method, plan, &mut retries, progress, &at)?;
        series.push(Series {
            system,
            messages,
            warmup_runs,
            runs: Vec::new(),
            retried,
            disturbed: 0,
        });
    }
    for round in 1..=method.runs {
        for i in round_order(systems, round) {
            let s = &mut series[i];
            let plan = Plan {
                messages: s.messages,
                ..plan
            };
            let what = format!("run {round}/{}", method.runs);
            let at = |what: &str| format!("{label} {what} {}", s.system.name());
            let clean = retries.run(s.system, case, &plan, progress, &at(&what))?;
            progress.step(format!("{}: {}", at(&what), describe(&clean.measured)));
            s.retried += clean.retried;
            s.disturbed += u32::from(clean.disturbed);
            s.runs.push(clean.measured);
        }
    }
    for s in &series {
        if s.disturbed > 0 {
            eprintln!(
                "warning: {label} {}: {} of {} runs were disturbed by other work on the machine \
                 (less than {:.0} % of their cores) and kept when the retries ran out: its \
                 figures are not to be trusted",
                s.system.name(),
                s.disturbed,
                s.runs.len(),
                MIN_CPU_SHARE * 100.0
            );
        }
    }
    Ok(series)
}

/// Warm-up runs (calibrating timed sizes); returns the measured size, the warm-up runs made
/// and the retries they took.
fn warm_up(
    case: Case,
    system: System,
    method: &Method,
    plan: Plan,
    retries: &mut Retries,
    progress: &mut Progress,
    at: &dyn Fn(&str) -> String,
) -> Result<(u64, u32, u32), String> {
    let batch = plan.batch;
    let (mut messages, target) = match method.sizing {
        Sizing::Fixed(base) => (messages_for(case, system, base, batch), None),
        Sizing::Timed(target) => (
            messages_for(case, system, CALIBRATION_BASE, batch),
            Some(target),
        ),
    };
    let (mut made, mut warm, mut retried) = (0, 0, 0);
    loop {
        let enough = match target {
            None => warm >= method.warmup,
            // A timed size needs at least one full warm-up run to be calibrated from.
            Some(_) => warm >= method.warmup.max(1),
        };
        if enough {
            break;
        }
        let run = Plan { messages, ..plan };
        let clean = retries.run(system, case, &run, progress, &at("warm-up"))?;
        retried += clean.retried;
        made += 1;
        let secs = clean.measured.wall.as_secs_f64().max(1e-6);
        let Some(target) = target else {
            warm += 1;
            progress.step(format!(
                "{}: {} (discarded)",
                at("warm-up"),
                describe(&clean.measured)
            ));
            continue;
        };
        let target = target.as_secs_f64();
        let scaled = |factor: f64| whole(case, ((messages as f64 * factor) as u64).max(1), batch);
        if secs >= target / 4.0 || made >= MAX_CALIBRATION_RUNS {
            warm += 1;
            messages = scaled(target / secs);
        } else {
            // Too short to trust: grow towards half the target, at most 100× at a time.
            messages = scaled((target / 2.0 / secs).min(100.0));
        }
        progress.step(format!(
            "{}: {} in {:.0} ms (discarded); next {messages} per run",
            at("warm-up"),
            describe(&clean.measured),
            secs * 1e3
        ));
    }
    Ok((messages, made, retried))
}

/// A run that was not disturbed, or the last try when the retries ran out.
struct Clean {
    measured: Measured,
    retried: u32,
    disturbed: bool,
}

/// Retries per run, and the time the case has spent on them.
struct Retries {
    per_run: u32,
    spent: Duration,
}

impl Retries {
    /// Runs once, and again (after a pause) while the run was disturbed and retries are left.
    fn run(
        &mut self,
        system: System,
        case: Case,
        plan: &Plan,
        progress: &mut Progress,
        what: &str,
    ) -> Result<Clean, String> {
        let mut pause = FIRST_PAUSE;
        let mut retried = 0;
        let mut since: Option<Instant> = None;
        loop {
            let measured =
                peers::measure(system, case, plan).map_err(|e| format!("{what}: {e}"))?;
            if let Some(since) = since {
                // This try was a retry: its cost counts.
                self.spent += since.elapsed();
            }
            let disturbed = measured
                .cpu_share
                .filter(|&s| s < MIN_CPU_SHARE && measured.wall >= MIN_JUDGED_RUN);
            let Some(share) = disturbed else {
                return Ok(Clean {
                    measured,
                    retried,
                    disturbed: false,
                });
            };
            if retried >= self.per_run || self.spent >= RETRY_BUDGET {
                return Ok(Clean {
                    measured,
                    retried,
                    disturbed: true,
                });
            }
            progress.step(format!(
                "{what}: disturbed ({:.0} % of its cores): again in {} ms",
                share * 100.0,
                pause.as_millis()
            ));
            retried += 1;
            since = Some(Instant::now());
            thread::sleep(pause);
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }
}

/// A run in a progress line: its rate or round-trip percentiles, and its CPU share.
pub fn describe(measured: &Measured) -> String {
    let share = measured
        .cpu_share
        .map(|s| format!(", cpu {:.0} %", s * 100.0))
        .unwrap_or_default();
    format!("{}{share}", measured.sample.describe())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_alternate_and_mirror() {
        let systems = [System::Ringgroup, System::Rtrb, System::Disruptor];
        assert_eq!(round_order(&systems, 1), [0, 1, 2]);
        assert_eq!(round_order(&systems, 2), [2, 1, 0]);
        assert_eq!(round_order(&systems, 3), [0, 1, 2]);
    }

    fn plan(cores: &crate::cores::Cores) -> Plan<'_> {
        Plan {
            cores,
            capacity: 64,
            batch: 16,
            messages: 0,
            waiting: crate::peers::Waiting::Yield,
        }
    }

    #[test]
    fn a_case_warms_up_then_runs_its_rounds() {
        let cores = crate::cores::Cores::new(&[]).unwrap();
        let method = Method {
            sizing: Sizing::Fixed(1000),
            runs: 3,
            warmup: 2,
            retries: 0,
        };
        let systems = [System::Ringgroup, System::Rtrb, System::Floor];
        let mut quiet = Progress::new(true);
        let series = run_case(Case::PingPong, &systems, &method, plan(&cores), &mut quiet).unwrap();
        assert_eq!(series.len(), 3);
        for (s, system) in series.iter().zip(systems) {
            assert_eq!(s.system, system);
            assert_eq!(s.messages, 20);
            assert_eq!(s.warmup_runs, 2);
            assert_eq!(s.runs.len(), 3);
            assert_eq!((s.retried, s.disturbed), (0, 0));
        }
    }

    #[test]
    fn timed_runs_calibrate_from_at_least_one_warm_up() {
        let cores = crate::cores::Cores::new(&[]).unwrap();
        let method = Method {
            sizing: Sizing::Timed(Duration::from_millis(5)),
            runs: 1,
            warmup: 0,
            retries: 0,
        };
        let mut quiet = Progress::new(true);
        let series = run_case(
            Case::Spsc,
            &[System::Rtrb],
            &method,
            plan(&cores),
            &mut quiet,
        );
        let series = series.unwrap();
        assert!(series[0].warmup_runs >= 1);
        assert!(series[0].messages >= 1);
        assert_eq!(series[0].runs.len(), 1);
    }

    #[test]
    fn fixed_sizes_follow_the_case() {
        assert_eq!(messages_for(Case::Spsc, System::Ringgroup, 1000, 256), 1000);
        assert_eq!(messages_for(Case::SpscBatch, System::Rtrb, 1000, 256), 1024);
        assert_eq!(messages_for(Case::Fanout3, System::Bus, 1000, 256), 20);
        assert_eq!(messages_for(Case::PingPong, System::Floor, 1000, 256), 20);
        assert_eq!(messages_for(Case::PingPong, System::Bus, 10, 256), 1);
    }
}
