//! How `compare` (and `reply`, the same way) measures one case: run sizes, slices, warm-up, the
//! alternating order, the placement probe, and disturbed slices run again. The defaults were
//! chosen by repeating `compare --runs 5` on a noisy 2-vCPU guest (see `tools/bench/README.md`,
//! "Noise"). A case is any [`Workload`]: a `compare` [`Case`] or a `reply` case. The flags
//! (`--run-ms`, `--slices`, `--warmup`, `--retries`, `--wait`) are in [`flags`], and the
//! figures every such record carries (how it was measured, ratios to the peers) in
//! [`figures`].
//!
//! - **Slices.** A run is `--slices` short slices, each a fresh run of the system (new queues,
//!   new threads), interleaved with the other systems' slices; the run's figure aggregates its
//!   slices (total messages over total time; for ping-pong, the merged histogram). Some
//!   queues settle per instance into a fast or a slow regime and keep it (ringgroup's spsc ring
//!   here: about 200 or about 100 M msg/s for the whole of a run), so one long run is a coin
//!   toss; a run of several fresh slices is an average over the toss.
//! - **Sizes.** Without `--messages`, slices are timed: each system's slice size is calibrated
//!   so that a slice lasts about `--run-ms` / `--slices`, whatever the system's speed.
//!   Calibration starts from a short slice and grows it until one lasts a quarter of the
//!   target; the size is then the measured rate × the target, refined by each warm-up slice. A
//!   timed ping-pong slice also stops at [`DEADLINE_FACTOR`] times its target. With
//!   `--messages N`, every slice has the fixed size of [`messages_for`] (CI's tiny runs).
//! - **Warm-up.** Before its measured slices, each system runs `--warmup` discarded slices in
//!   each case (a timed calibration slice counts once it lasted a quarter of the target): the
//!   first run of a system in a process is often slow (page faults, cold caches and branch
//!   predictors, the other core still waking up).
//! - **Order.** Round `r` runs one slice of every system, in `--systems` order for odd `r`
//!   and reversed for even `r` (A B C, C B A, ...); run `i` is rounds `(i-1)·slices + 1 ..=
//!   i·slices`. Ratios pair run `i` of ringgroup with run `i` of each peer, and the mirrored
//!   order cancels a steady drift within a round instead of favouring one end of it.
//! - **Placement probe.** Before each slice, [`probe`] times [`PROBE_ROUND_TRIPS`] round trips
//!   of one cache line between the two cores (the `floor`, without a queue). On a VM this
//!   moves with where the host puts the two vCPUs (on the AMD EPYC guest: about 90 ns on two
//!   hyperthreads of one core, about 150 ns on two cores sharing a cache, about 400 ns across
//!   caches), which changes every system's speed, and not all by the same factor. A probe
//!   more than [`PLACEMENT_TOLERANCE`] times the lowest seen in the process makes the slice
//!   wait and probe again (sharing the retry limits below; `placement_waits`), and a slice run
//!   anyway counts in `moved_slices`. Records carry the probes as `line_rtt_ns` (median, min,
//!   max over the slices), so a reader can tell what the machine was doing.
//! - **Disturbed slices.** A slice during which the process got less than [`MIN_CPU_SHARE`] of
//!   the cores its threads keep busy (`cpu::Share`: another process, or the host taking the
//!   vCPU) is discarded and run again after a pause, up to `--retries` times per slice, while
//!   the case has spent less than [`RETRY_BUDGET`] on retries. A disturbed slice kept when the
//!   retries ran out is counted in the record's `disturbed_slices`, and a warning says so.
//!   Slices shorter than [`MIN_JUDGED_RUN`] are not judged (thread start-up dominates them).

use std::thread;
use std::time::{Duration, Instant};

use crate::peers::{self, Case, Measured, Plan, Sample, System, Waiting, Workload};
use crate::progress::Progress;

pub mod figures;
pub mod flags;

/// Below this share of its busy cores, a slice was disturbed.
pub const MIN_CPU_SHARE: f64 = 0.9;

/// The time a case may spend on retries (pauses included) before it keeps disturbed slices.
pub const RETRY_BUDGET: Duration = Duration::from_secs(5);

/// Slices shorter than this are never judged disturbed: thread start-up dominates their CPU
/// share (CI's tiny runs).
pub const MIN_JUDGED_RUN: Duration = Duration::from_millis(10);

/// Round trips of the placement probe (well under a millisecond).
pub const PROBE_ROUND_TRIPS: u64 = 1000;

/// A probe more than this many times the lowest one seen in the process finds the two vCPUs
/// placed farther apart than they can be: the slice waits for them to come back. (On the AMD
/// EPYC guest, two cores sharing a cache are about 1.6 times two hyperthreads, and two cores
/// across caches about 2.8 times two cores sharing one.)
pub const PLACEMENT_TOLERANCE: f64 = 2.0;

/// A timed ping-pong slice stops after this many times its target, even short of its round
/// trips: when a disturbance makes every round trip wait for the scheduler, the calibrated
/// count could otherwise take seconds.
pub const DEADLINE_FACTOR: u32 = 3;

/// The first pause before a disturbed slice is run again; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const MAX_PAUSE: Duration = Duration::from_millis(800);

/// The size a timed calibration starts from, as a `--messages` value (see [`messages_for`]).
const CALIBRATION_BASE: u64 = 200_000;

/// Calibration slices shorter than a quarter of the target before giving up growing.
const MAX_CALIBRATION_RUNS: u32 = 12;

/// How long each slice is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sizing {
    /// `--messages N`: every slice has the fixed size [`messages_for`] gives for `N`.
    Fixed(u64),
    /// About this long per run (so `run / slices` per slice), sizes calibrated per system.
    Timed(Duration),
}

/// How a case is measured.
#[derive(Clone, Copy, Debug)]
pub struct Method {
    /// Slice sizes.
    pub sizing: Sizing,
    /// Measured runs per system.
    pub runs: u32,
    /// Slices per run.
    pub slices: u32,
    /// Discarded warm-up slices per system.
    pub warmup: u32,
    /// Retries per disturbed slice.
    pub retries: u32,
}

impl Method {
    /// How long a timed slice should last.
    fn slice_target(&self) -> Option<Duration> {
        match self.sizing {
            Sizing::Timed(run) => Some(run / self.slices.max(1)),
            Sizing::Fixed(_) => None,
        }
    }
}

/// One system's runs in one case.
pub struct Series {
    /// The system.
    pub system: System,
    /// Messages (round trips for ping-pong) per slice.
    pub messages: u64,
    /// Discarded warm-up slices made (calibration included).
    pub warmup_slices: u32,
    /// The measured runs, in round order, each aggregated from its slices.
    pub runs: Vec<Measured>,
    /// The placement probe before each measured slice (ns), where it ran.
    pub line_rtt_ns: Vec<f64>,
    /// Disturbed slices discarded and run again.
    pub retried: u32,
    /// Disturbed slices kept because the retries ran out.
    pub disturbed: u32,
    /// Probes that found the vCPUs farther apart than the best placement, and waited.
    pub placement_waits: u32,
    /// Slices run off the best placement because the retries ran out.
    pub moved: u32,
    /// Ping-pong slices stopped at their deadline.
    pub cut_short: u32,
}

impl Series {
    /// The measured samples, one per run.
    pub fn samples(&self) -> Vec<&Sample> {
        self.runs.iter().map(|m| &m.sample).collect()
    }
}

/// Messages (round trips for ping-pong) per slice of `system` in `case` for a `--messages` of
/// `base`: `spsc`, `spsc-drain` and `spsc-batch` run `base` (rounded up to whole batches in
/// `spsc-batch`), `fanout-3` a fifth (each message is delivered three times, on shared cores), `mpsc` and `mpmc` a half
/// (three or four threads on shared cores), `ping-pong` a fiftieth as round trips; bus, an
/// order of magnitude slower, a tenth of each.
pub fn messages_for(case: Case, system: System, base: u64, batch: usize) -> u64 {
    let case_divisor = match case {
        Case::Spsc | Case::SpscDrain | Case::SpscBatch => 1,
        Case::Mpsc | Case::Mpmc => 2,
        Case::Fanout3 => 5,
        Case::PingPong => 50,
    };
    let divisor = case_divisor * if system.is_slow() { 10 } else { 1 };
    whole(case, (base / divisor).max(1), batch)
}

/// `messages` rounded up to whole batches in `spsc-batch`.
pub fn whole(case: Case, messages: u64, batch: usize) -> u64 {
    match case {
        Case::SpscBatch => messages.div_ceil(batch as u64).saturating_mul(batch as u64),
        _ => messages,
    }
}

/// `items` without repeats, in first-seen order (`--cases`, `--systems`).
pub fn unique<T: Copy + PartialEq>(items: &[T]) -> Vec<T> {
    let mut out = Vec::new();
    for &item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// The round order: `systems` for odd rounds (1, 3, ...), reversed for even ones.
pub fn round_order(systems: &[System], round: u32) -> Vec<usize> {
    let mut order: Vec<usize> = (0..systems.len()).collect();
    if round % 2 == 0 {
        order.reverse();
    }
    order
}

/// Where the host put the two vCPUs, as the placement probe sees it: the lowest probe so far
/// in this process (one per `compare` invocation, across its cases).
#[derive(Clone, Copy, Debug, Default)]
pub struct Placement {
    best: Option<f64>,
}

/// What [`Placement::settle`] found before a slice.
struct Settled {
    probe: Option<f64>,
    waits: u32,
    moved: bool,
}

impl Placement {
    /// Probes, and notes the probe.
    fn note(&mut self, plan: &Plan) -> Option<f64> {
        let probe = probe(plan)?;
        self.best = Some(self.best.map_or(probe, |best| best.min(probe)));
        Some(probe)
    }

    /// Probes before a slice, and while the vCPUs are farther apart than
    /// [`PLACEMENT_TOLERANCE`] × the best placement seen, waits and probes again (as retries of
    /// a disturbed slice do, sharing their limits).
    fn settle(
        &mut self,
        plan: &Plan,
        retries: &mut Retries,
        progress: &mut Progress,
        what: &str,
    ) -> Settled {
        let mut pause = FIRST_PAUSE;
        let mut waits = 0;
        loop {
            let Some(probe) = self.note(plan) else {
                return Settled {
                    probe: None,
                    waits,
                    moved: false,
                };
            };
            let best = self.best.unwrap_or(probe);
            if probe <= PLACEMENT_TOLERANCE * best {
                return Settled {
                    probe: Some(probe),
                    waits,
                    moved: false,
                };
            }
            if waits >= retries.per_slice || retries.spent >= RETRY_BUDGET {
                return Settled {
                    probe: Some(probe),
                    waits,
                    moved: true,
                };
            }
            progress.step(format!(
                "{what}: the cores are farther apart than they were (a cache line's round trip \
                 {probe:.0} ns, at best {best:.0} ns): again in {} ms",
                pause.as_millis()
            ));
            let since = Instant::now();
            thread::sleep(pause);
            retries.spent += since.elapsed();
            waits += 1;
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }
}

/// Runs `case` on every system of `systems` under `method`: warm-up (and calibration), then
/// `method.runs × method.slices` alternating rounds of one slice each. `plan` gives everything
/// but the size; `placement` carries the best placement seen from case to case.
pub fn run_case<W: Workload>(
    case: W,
    systems: &[System],
    method: &Method,
    plan: Plan,
    placement: &mut Placement,
    progress: &mut Progress,
) -> Result<Vec<Series>, String> {
    let label = case.scenario();
    let plan = Plan {
        deadline: method.slice_target().map(|t| t * DEADLINE_FACTOR),
        ..plan
    };
    let mut retries = Retries {
        per_slice: method.retries,
        spent: Duration::ZERO,
    };
    let mut series = Vec::with_capacity(systems.len());
    for &system in systems {
        let at = |what: &str| format!("{label} {} {what}", system.name());
        placement.note(&plan);
        let (messages, warmup_slices, retried) =
            warm_up(case, system, method, plan, &mut retries, progress, &at)?;
        series.push(Series {
            system,
            messages,
            warmup_slices,
            runs: Vec::new(),
            line_rtt_ns: Vec::new(),
            retried,
            disturbed: 0,
            placement_waits: 0,
            moved: 0,
            cut_short: 0,
        });
    }
    let slices = method.slices.max(1);
    for run in 1..=method.runs {
        let mut parts: Vec<Vec<Measured>> = systems.iter().map(|_| Vec::new()).collect();
        for slice in 1..=slices {
            let round = (run - 1) * slices + slice;
            for i in round_order(systems, round) {
                let s = &mut series[i];
                let what = format!(
                    "{label} run {run}/{} slice {slice} {}",
                    method.runs,
                    s.system.name()
                );
                let settled = placement.settle(&plan, &mut retries, progress, &what);
                s.line_rtt_ns.extend(settled.probe);
                s.placement_waits += settled.waits;
                s.moved += u32::from(settled.moved);
                let sized = Plan {
                    messages: s.messages,
                    ..plan
                };
                let clean = retries.run(s.system, case, &sized, progress, &what)?;
                s.retried += clean.retried;
                s.disturbed += u32::from(clean.disturbed);
                s.cut_short += u32::from(clean.measured.sample.cut_short());
                parts[i].push(clean.measured);
            }
        }
        for (s, parts) in series.iter_mut().zip(parts) {
            let measured = aggregate(parts)?;
            progress.step(format!(
                "{label} run {run}/{} {}: {}",
                method.runs,
                s.system.name(),
                describe(&measured)
            ));
            s.runs.push(measured);
        }
    }
    for s in &series {
        if s.moved > 0 {
            eprintln!(
                "warning: {label} {}: {} of {} slices ran with the two cores farther apart than \
                 the best placement seen (the host moved the vCPUs; see line_rtt_ns): its \
                 figures mix placements",
                s.system.name(),
                s.moved,
                method.runs * slices
            );
        }
        if s.disturbed > 0 {
            eprintln!(
                "warning: {label} {}: {} of {} slices were disturbed by other work on the machine \
                 (less than {:.0} % of their cores) and kept when the retries ran out: its \
                 figures are not to be trusted",
                s.system.name(),
                s.disturbed,
                method.runs * slices,
                MIN_CPU_SHARE * 100.0
            );
        }
    }
    Ok(series)
}

/// One run from its slices: for a stream, total messages over total time; for ping-pong, the
/// merged histogram. Wall times add up, CPU shares are weighted by wall time, allocations are
/// the worst slice's.
fn aggregate(slices: Vec<Measured>) -> Result<Measured, String> {
    let wall: Duration = slices.iter().map(|m| m.wall).sum();
    let done: u64 = slices.iter().map(|m| m.done).sum();
    let cpu_share = slices
        .iter()
        .map(|m| m.cpu_share.map(|s| s * m.wall.as_secs_f64()))
        .sum::<Option<f64>>()
        .map(|busy| busy / wall.as_secs_f64().max(f64::MIN_POSITIVE));
    let allocs_per_msg = slices
        .iter()
        .map(|m| m.sample.allocs_per_msg())
        .fold(0.0, f64::max);
    let mut slices = slices.into_iter();
    let Some(first) = slices.next() else {
        return Err("a run of no slices".into());
    };
    let sample = match first.sample {
        Sample::Rate { mmsgs_per_s, .. } => {
            // Seconds per slice: its messages over its rate.
            let mut secs = first.done as f64 / mmsgs_per_s / 1e6;
            for m in slices {
                secs += m.done as f64 / m.sample.rate() / 1e6;
            }
            Sample::Rate {
                mmsgs_per_s: done as f64 / secs / 1e6,
                allocs_per_msg,
            }
        }
        Sample::RoundTrip {
            mut histogram,
            cut_short,
            ..
        } => {
            let mut cut_short = cut_short;
            for m in slices {
                cut_short |= m.sample.cut_short();
                if let Sample::RoundTrip { histogram: h, .. } = &m.sample {
                    histogram
                        .add(h)
                        .map_err(|e| format!("merging histograms: {e:?}"))?;
                }
            }
            Sample::RoundTrip {
                histogram,
                allocs_per_msg,
                cut_short,
            }
        }
    };
    Ok(Measured {
        sample,
        wall,
        cpu_share,
        done,
    })
}

/// The placement probe: the p50 of [`PROBE_ROUND_TRIPS`] round trips of one cache line between
/// thread slots 0 and 1 (the `floor`), in ns; `None` with fewer than two cores, or if it fails.
pub fn probe(plan: &Plan) -> Option<f64> {
    if plan.cores.count() < 2 {
        return None;
    }
    let probe = Plan {
        messages: PROBE_ROUND_TRIPS,
        waiting: Waiting::Spin,
        deadline: None,
        ..*plan
    };
    let sample = peers::run(System::Floor, Case::PingPong, &probe).ok()?;
    Some(sample.percentile(Some(0.5)))
}

/// Warm-up slices (calibrating timed sizes); returns the measured size, the warm-up slices
/// made and the retries they took.
fn warm_up<W: Workload>(
    case: W,
    system: System,
    method: &Method,
    plan: Plan,
    retries: &mut Retries,
    progress: &mut Progress,
    at: &dyn Fn(&str) -> String,
) -> Result<(u64, u32, u32), String> {
    let batch = plan.batch;
    let target = method.slice_target();
    let mut messages = match method.sizing {
        Sizing::Fixed(base) => case.messages_for(system, base, batch),
        Sizing::Timed(_) => case.messages_for(system, CALIBRATION_BASE, batch),
    };
    let (mut made, mut warm, mut retried) = (0, 0, 0);
    loop {
        let enough = match target {
            None => warm >= method.warmup,
            // A timed size needs at least one full warm-up slice to be calibrated from.
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
        // A ping-pong cut short by its deadline did fewer round trips than planned.
        let done = clean.measured.done.clamp(1, messages) as f64 / messages as f64;
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
        let scaled =
            |factor: f64| case.whole(((messages as f64 * done * factor) as u64).max(1), batch);
        if secs >= target / 4.0 || made >= MAX_CALIBRATION_RUNS {
            warm += 1;
            messages = scaled(target / secs);
        } else {
            // Too short to trust (start-up weighs on it): grow towards the target, at most
            // 100× at a time.
            messages = scaled((target / secs).min(100.0));
        }
        progress.step(format!(
            "{}: {} in {:.0} ms (discarded); next {messages} per slice",
            at("warm-up"),
            describe(&clean.measured),
            secs * 1e3
        ));
    }
    Ok((messages, made, retried))
}

/// A slice that was not disturbed, or the last try when the retries ran out.
struct Clean {
    measured: Measured,
    retried: u32,
    disturbed: bool,
}

/// Retries per slice, and the time the case has spent on them.
struct Retries {
    per_slice: u32,
    spent: Duration,
}

impl Retries {
    /// Runs once, and again (after a pause) while the slice was disturbed and retries are left.
    fn run<W: Workload>(
        &mut self,
        system: System,
        case: W,
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
            if retried >= self.per_slice || self.spent >= RETRY_BUDGET {
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
            deadline: None,
        }
    }

    #[test]
    fn a_case_warms_up_then_runs_its_rounds() {
        let cores = crate::cores::Cores::new(&[]).unwrap();
        let method = Method {
            sizing: Sizing::Fixed(1000),
            runs: 3,
            slices: 2,
            warmup: 2,
            retries: 0,
        };
        let systems = [System::Ringgroup, System::Rtrb, System::Floor];
        let mut quiet = Progress::new(true);
        let series = run_case(
            Case::PingPong,
            &systems,
            &method,
            plan(&cores),
            &mut Placement::default(),
            &mut quiet,
        )
        .unwrap();
        assert_eq!(series.len(), 3);
        for (s, system) in series.iter().zip(systems) {
            assert_eq!(s.system, system);
            assert_eq!(s.messages, 20);
            assert_eq!(s.warmup_slices, 2);
            assert_eq!(s.runs.len(), 3);
            // Each run is two slices of 20 round trips.
            assert_eq!(s.runs.iter().map(|m| m.done).collect::<Vec<_>>(), [40; 3]);
            // `disturbed` measures the machine (a busy one marks slices), so it is not checked;
            // with no retries allowed, none is made.
            assert_eq!((s.retried, s.cut_short), (0, 0));
        }
    }

    #[test]
    fn timed_runs_calibrate_from_at_least_one_warm_up() {
        let cores = crate::cores::Cores::new(&[]).unwrap();
        let method = Method {
            sizing: Sizing::Timed(Duration::from_millis(5)),
            runs: 1,
            slices: 2,
            warmup: 0,
            retries: 0,
        };
        let mut quiet = Progress::new(true);
        let series = run_case(
            Case::Spsc,
            &[System::Rtrb],
            &method,
            plan(&cores),
            &mut Placement::default(),
            &mut quiet,
        );
        let series = series.unwrap();
        assert!(series[0].warmup_slices >= 1);
        assert!(series[0].messages >= 1);
        assert_eq!(series[0].runs.len(), 1);
    }

    #[test]
    fn fixed_sizes_follow_the_case() {
        assert_eq!(messages_for(Case::Spsc, System::Ringgroup, 1000, 256), 1000);
        assert_eq!(messages_for(Case::SpscBatch, System::Rtrb, 1000, 256), 1024);
        assert_eq!(messages_for(Case::Fanout3, System::Bus, 1000, 256), 20);
        assert_eq!(
            messages_for(Case::Mpmc, System::CrossbeamQueue, 1000, 256),
            500
        );
        assert_eq!(messages_for(Case::PingPong, System::Floor, 1000, 256), 20);
        assert_eq!(messages_for(Case::PingPong, System::Bus, 10, 256), 1);
    }
}
