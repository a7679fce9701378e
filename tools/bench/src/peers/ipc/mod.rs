//! The processes of `ipc`: a parent (the producer, the pinger, or the requester) and child
//! processes (the consumers, the echo, or the responder), for ringgroup's shared-memory topics
//! ([`ringgroup`]; request and reply through a producer group: [`reply`]) and for iceoryx2's
//! publish-subscribe ([`iceoryx2`]).
//!
//! # Children
//!
//! A child is this same executable, started again with [`ROLE_ENV`] set and its orders in
//! [`SPEC_ENV`] (a [`ChildSpec`], one line of words); `main` hands it to [`child_main`] before
//! parsing any flag. It opens the region (or service) the parent made, subscribes, pins itself
//! to its core, and writes `ready` on its stdout. Then it receives exactly
//! [`ChildSpec::messages`] messages and checks them: they must be `0, 1, 2, ...` in order
//! ([`Expect`]), and it adds them up (a responder: the requests' values, then it answers
//! each). Its last line is `done <count> <sum> <cpu_ns>` (the CPU
//! time it used from its first message on), or `fail <why>` (a wrong message, a stall of
//! [`STALL`], a closed topic), and it exits 0 or 1.
//! The parent checks every child's report against what it sent ([`check_report`]: the count,
//! the sum, the exit status): any mismatch fails the run.
//!
//! # Clean-up
//!
//! [`Children`] kills and reaps the children still running when it is dropped (on any error
//! path); [`Regions`] removes the ringgroup regions of a run when dropped, and iceoryx2's
//! services go with their last port, the ports of killed children through
//! `Node::try_cleanup_dead_nodes`. Names carry the parent's pid and a counter, so two
//! invocations (or two runs) never meet.
//!
//! # Fault injection
//!
//! With [`FAULT_ENV`] set in the parent, every producer (and pinger) sends its message 5 as
//! 99, so the children's checks must fail the run; the harness's tests use it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::{Expect, Sample, Waiting};
use crate::common::STALL;
use crate::cores::Cores;
use crate::cpu::process_cpu_time;
use crate::stats;

pub mod iceoryx2;
pub mod reply;
pub mod ringgroup;

/// Set (to the role's name) in a child's environment: this process is a child of `ipc`.
pub const ROLE_ENV: &str = "RINGGROUP_BENCH_IPC_ROLE";

/// A child's orders, a [`ChildSpec`] encoded by [`ChildSpec::encode`].
pub const SPEC_ENV: &str = "RINGGROUP_BENCH_IPC_SPEC";

/// Set in the parent: producers and pingers send message 5 as 99 (for the tests).
pub const FAULT_ENV: &str = "RINGGROUP_BENCH_IPC_FAULT";

/// The systems `ipc` compares.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpcSystem {
    /// ringgroup: a topic in a named shared-memory region, read by plain subscribers.
    Ringgroup,
    /// iceoryx2 publish-subscribe (`ipc::Service`), zero-copy loans.
    Iceoryx2,
}

impl IpcSystem {
    /// The name used in records.
    pub fn name(self) -> &'static str {
        match self {
            IpcSystem::Ringgroup => ringgroup_results::names::system::RINGGROUP,
            IpcSystem::Iceoryx2 => ringgroup_results::names::system::ICEORYX2,
        }
    }

    fn parse(word: &str) -> Result<Self, String> {
        match word {
            "ringgroup" => Ok(IpcSystem::Ringgroup),
            "iceoryx2" => Ok(IpcSystem::Iceoryx2),
            _ => Err(format!("unknown system {word}")),
        }
    }
}

/// What a child does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Receives the producer's messages.
    Reader,
    /// Sends every message it receives back on a second topic (service) of its own.
    Echo,
    /// A member of a consumer group of the request topic: answers every request through the
    /// requester's producer group (ringgroup only).
    Responder,
}

/// A child's orders.
#[derive(Clone, Debug, PartialEq)]
pub struct ChildSpec {
    /// Whose API it uses.
    pub system: IpcSystem,
    /// What it does.
    pub role: Role,
    /// The region (service) it reads.
    pub name: String,
    /// The region (service) an echo creates and sends back on.
    pub reply: String,
    /// Messages it must receive.
    pub messages: u64,
    /// Slots of a region it creates (a reply region), entries of its iceoryx2 buffer.
    pub capacity: usize,
    /// Messages at most per ringgroup poll.
    pub batch: usize,
    /// How it waits for a message.
    pub waiting: Waiting,
    /// The core it pins itself to, if any.
    pub core: Option<usize>,
}

impl ChildSpec {
    /// One line of words: what [`ChildSpec::decode`] reads.
    pub fn encode(&self) -> String {
        format!(
            "{} {} {} {} {} {} {} {} {}",
            self.system.name(),
            match self.role {
                Role::Reader => "reader",
                Role::Echo => "echo",
                Role::Responder => "responder",
            },
            self.name,
            if self.reply.is_empty() {
                "-"
            } else {
                &self.reply
            },
            self.messages,
            self.capacity,
            self.batch,
            self.waiting.name(),
            self.core.map_or("-".to_owned(), |c| c.to_string()),
        )
    }

    /// Reads [`ChildSpec::encode`]'s line.
    pub fn decode(line: &str) -> Result<Self, String> {
        let words: Vec<&str> = line.split(' ').collect();
        let [system, role, name, reply, messages, capacity, batch, waiting, core] = words[..]
        else {
            return Err(format!("{SPEC_ENV}: 9 words expected, got {line:?}"));
        };
        let number = |what: &str, w: &str| {
            w.parse::<u64>()
                .map_err(|e| format!("{SPEC_ENV}: {what} {w:?}: {e}"))
        };
        Ok(Self {
            system: IpcSystem::parse(system)?,
            role: match role {
                "reader" => Role::Reader,
                "echo" => Role::Echo,
                "responder" => Role::Responder,
                _ => return Err(format!("{SPEC_ENV}: unknown role {role}")),
            },
            name: name.to_owned(),
            reply: if reply == "-" {
                String::new()
            } else {
                reply.to_owned()
            },
            messages: number("messages", messages)?,
            capacity: number("capacity", capacity)? as usize,
            batch: number("batch", batch)? as usize,
            waiting: match waiting {
                "spin" => Waiting::Spin,
                "yield" => Waiting::Yield,
                _ => return Err(format!("{SPEC_ENV}: unknown wait {waiting}")),
            },
            core: match core {
                "-" => None,
                c => Some(number("core", c)? as usize),
            },
        })
    }
}

/// If this process is a child of `ipc` ([`ROLE_ENV`] set), runs its role and returns its exit
/// code; else `None`.
pub fn child_main() -> Option<ExitCode> {
    std::env::var_os(ROLE_ENV)?;
    quiet_iceoryx2();
    let result = std::env::var(SPEC_ENV)
        .map_err(|e| format!("{SPEC_ENV}: {e}"))
        .and_then(|line| ChildSpec::decode(&line))
        .and_then(|spec| {
            if let Some(core) = spec.core {
                // The parent's mask may be one core only (it was spawned from a pinned thread's
                // process); set the core outright rather than through the cached core list.
                if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
                    eprintln!("warning: ipc child could not pin itself to core {core}");
                }
            }
            let ready = || {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "ready");
                let _ = out.flush();
            };
            match (spec.system, spec.role) {
                (IpcSystem::Ringgroup, Role::Reader) => ringgroup::read(&spec, &ready),
                (IpcSystem::Ringgroup, Role::Echo) => ringgroup::echo(&spec, &ready),
                (IpcSystem::Ringgroup, Role::Responder) => reply::respond(&spec, &ready),
                (IpcSystem::Iceoryx2, Role::Reader) => iceoryx2::read(&spec, &ready),
                (IpcSystem::Iceoryx2, Role::Echo) => iceoryx2::echo(&spec, &ready),
                (IpcSystem::Iceoryx2, Role::Responder) => {
                    Err("iceoryx2 has no responder here".into())
                }
            }
        });
    let (line, code) = match result {
        Ok(tally) => match tally.expect.verdict() {
            Ok(()) => (tally.report(), ExitCode::SUCCESS),
            Err(e) => (format!("fail {e}"), ExitCode::FAILURE),
        },
        Err(e) => (format!("fail {e}"), ExitCode::FAILURE),
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    Some(code)
}

/// iceoryx2 logs warnings to the console (stale nodes, clean-up); only errors matter here.
pub fn quiet_iceoryx2() {
    ::iceoryx2::prelude::set_log_level(::iceoryx2::prelude::LogLevel::Error);
}

/// What a child received: its order check, the sum of the values, and its CPU clock at the
/// first message.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tally {
    /// The order check (`next` is the count).
    pub expect: Expect,
    /// The values added up (wrapping).
    pub sum: u64,
    /// The process's CPU time when the first message came.
    cpu_at_first: Option<Duration>,
}

impl Tally {
    /// Notes one message.
    #[inline]
    pub fn see(&mut self, value: u64) {
        if self.expect.next == 0 {
            self.first();
        }
        self.expect.check(value);
        self.sum = self.sum.wrapping_add(value);
    }

    #[cold]
    fn first(&mut self) {
        self.cpu_at_first = process_cpu_time();
    }

    /// The report line of a child that saw no wrong message: `done <count> <sum> <cpu_ns>`.
    pub fn report(&self) -> String {
        let cpu = process_cpu_time()
            .zip(self.cpu_at_first)
            .map_or(0, |(now, then)| (now - then).as_nanos());
        format!("done {} {} {cpu}", self.expect.next, self.sum)
    }

    /// Notes a run of messages.
    #[inline]
    pub fn see_all(&mut self, values: &[u64]) {
        if self.expect.next == 0 && !values.is_empty() {
            self.first();
        }
        self.expect.check_all(values);
        for &v in values {
            self.sum = self.sum.wrapping_add(v);
        }
    }

    /// How many messages it saw.
    pub fn count(&self) -> u64 {
        self.expect.next
    }
}

/// The sum of `0 .. messages`, as a child adds it up.
pub fn expected_sum(messages: u64) -> u64 {
    let (a, b) = if messages % 2 == 0 {
        (messages / 2, messages.saturating_sub(1))
    } else {
        (messages, (messages - 1) / 2)
    };
    a.wrapping_mul(b)
}

/// Checks a child's last line against the `messages` it was sent; returns the CPU time the
/// child reported.
pub fn check_report(line: &str, messages: u64) -> Result<Duration, String> {
    let line = line.trim();
    if let Some(why) = line.strip_prefix("fail ") {
        return Err(why.to_owned());
    }
    let words: Vec<&str> = line.split(' ').collect();
    let (count, sum, cpu) = match words[..] {
        ["done", count, sum, cpu] => {
            match (count.parse::<u64>(), sum.parse::<u64>(), cpu.parse::<u64>()) {
                (Ok(count), Ok(sum), Ok(cpu)) => (count, sum, Duration::from_nanos(cpu)),
                _ => return Err(format!("an unreadable report {line:?}")),
            }
        }
        _ if line.is_empty() => return Err("it ended without a report".into()),
        _ => return Err(format!("an unreadable report {line:?}")),
    };
    if count != messages {
        return Err(format!(
            "received {count} messages where {messages} were sent"
        ));
    }
    if sum != expected_sum(messages) {
        return Err(format!(
            "the messages add up to {sum} where {} was sent",
            expected_sum(messages)
        ));
    }
    Ok(cpu)
}

/// A unique name for a region or service of this process: `rgb-<pid>-<n>-<what>`.
pub fn unique_name(what: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "rgb-{}-{}-{what}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Whether [`FAULT_ENV`] asks the producers to send a wrong message.
pub fn fault() -> bool {
    std::env::var_os(FAULT_ENV).is_some()
}

/// The value a producer sends as its message `i`: `i`, or 99 for 5 under [`fault`].
#[inline]
pub fn sent(i: u64, fault: bool) -> u64 {
    if fault && i == 5 {
        99
    } else {
        i
    }
}

struct Kid {
    child: Child,
    out: BufReader<ChildStdout>,
    spec: ChildSpec,
    index: usize,
}

impl Kid {
    fn line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        self.out
            .read_line(&mut line)
            .map_err(|e| format!("child {}: reading its output: {e}", self.index))?;
        Ok(line)
    }
}

/// The child processes of one run. Dropping it kills and reaps those still running.
pub struct Children {
    kids: Vec<Kid>,
}

impl Children {
    /// Starts one child per spec (this executable again, in its role).
    pub fn spawn(specs: Vec<ChildSpec>) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| format!("this executable's path: {e}"))?;
        let mut children = Children { kids: Vec::new() };
        for (index, spec) in specs.into_iter().enumerate() {
            let mut child = Command::new(&exe)
                .env(ROLE_ENV, "ipc-child")
                .env(SPEC_ENV, spec.encode())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .map_err(|e| format!("starting child {index}: {e}"))?;
            let Some(out) = child.stdout.take() else {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("child {index} has no stdout"));
            };
            children.kids.push(Kid {
                child,
                out: BufReader::new(out),
                spec,
                index,
            });
        }
        Ok(children)
    }

    /// Waits until every child has subscribed (its `ready` line).
    pub fn await_ready(&mut self) -> Result<(), String> {
        for kid in &mut self.kids {
            let line = kid.line()?;
            if line.trim() != "ready" {
                return Err(format!(
                    "child {} did not get ready: {}",
                    kid.index,
                    line.trim().trim_start_matches("fail ")
                ));
            }
        }
        Ok(())
    }

    /// Reads every child's report, then reaps them and checks each report ([`check_report`])
    /// and exit status. Returns when the last report came, and the CPU time the children
    /// reported, added up.
    pub fn finish(mut self) -> Result<(Instant, Duration), String> {
        let mut reports = Vec::with_capacity(self.kids.len());
        for kid in &mut self.kids {
            reports.push(kid.line()?);
        }
        let last = Instant::now();
        let mut first_error = None;
        let mut cpu = Duration::ZERO;
        for (kid, report) in self.kids.iter_mut().zip(&reports) {
            let status = kid.child.wait();
            let verdict = check_report(report, kid.spec.messages).and_then(|used| match status {
                Ok(s) if s.success() => {
                    cpu += used;
                    Ok(())
                }
                Ok(s) => Err(format!("it exited with {s}")),
                Err(e) => Err(format!("waiting for it: {e}")),
            });
            if let Err(e) = verdict {
                first_error.get_or_insert(format!(
                    "{} {:?} process {}: {e}",
                    kid.spec.system.name(),
                    kid.spec.role,
                    kid.index
                ));
            }
        }
        self.kids.clear();
        match first_error {
            None => Ok((last, cpu)),
            Some(e) => Err(e),
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        let any = !self.kids.is_empty();
        for kid in &mut self.kids {
            let _ = kid.child.kill();
            let _ = kid.child.wait();
        }
        if any {
            iceoryx2::cleanup_dead_nodes();
        }
    }
}

/// ringgroup regions of one run, removed when dropped.
#[derive(Default)]
pub struct Regions(pub Vec<String>);

impl Drop for Regions {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = ::ringgroup::shm::remove(name);
        }
    }
}

/// Waits (spins or yields) for a message, failing after [`STALL`] without one. The clock is
/// read once per 1024 empty looks.
#[derive(Default)]
pub struct Patience {
    looks: u32,
    since: Option<Instant>,
}

impl Patience {
    /// One empty look: waits a little; `Err` once it has waited [`STALL`].
    #[inline]
    pub fn idle(&mut self, waiting: Waiting, what: &str) -> Result<(), String> {
        match waiting {
            Waiting::Spin => std::hint::spin_loop(),
            Waiting::Yield => std::thread::yield_now(),
        }
        self.looks = self.looks.wrapping_add(1);
        if self.looks % 1024 == 0 {
            let since = *self.since.get_or_insert_with(Instant::now);
            if since.elapsed() > STALL {
                return Err(format!("no {what} for {} s", STALL.as_secs()));
            }
        }
        Ok(())
    }

    /// A message came.
    #[inline]
    pub fn progress(&mut self) {
        self.looks = 0;
        self.since = None;
    }
}

/// One end of a ping-pong: sends on one topic (service), receives on the other.
pub trait Endpoint {
    /// Sends `value`.
    fn send(&mut self, value: u64) -> Result<(), String>;
    /// Receives the next value, waiting up to [`STALL`].
    fn recv(&mut self) -> Result<u64, String>;
}

/// The pinger: `warmup + round_trips` round trips (send `i`, wait for it back, check it), the
/// last `round_trips` of them recorded.
pub fn ping(
    end: &mut impl Endpoint,
    warmup: u64,
    round_trips: u64,
    fault: bool,
) -> Result<Histogram<u64>, String> {
    let mut histogram = stats::histogram()?;
    for i in 0..warmup + round_trips {
        let start = Instant::now();
        end.send(sent(i, fault))?;
        let back = end.recv().map_err(|e| format!("round trip {i}: {e}"))?;
        let took = start.elapsed();
        if back != sent(i, fault) {
            return Err(format!("the echo sent {back} back where {i} was sent"));
        }
        if i >= warmup {
            histogram.saturating_record(took.as_nanos().max(1) as u64);
        }
    }
    Ok(histogram)
}

/// The echo: receives `messages` values, checks them, and sends each back.
pub fn echo_loop(end: &mut impl Endpoint, messages: u64) -> Result<Tally, String> {
    let mut tally = Tally::default();
    while tally.count() < messages {
        let value = end
            .recv()
            .map_err(|e| format!("after {} messages: {e}", tally.count()))?;
        tally.see(value);
        end.send(value)?;
    }
    Ok(tally)
}

/// One run as the parent sees it. Slot 0 is the parent's producer (pinger) thread, slots 1,
/// 2, ... the children (the echo), each on core `slot mod n` of the chosen cores.
#[derive(Clone, Debug)]
pub struct RunPlan {
    /// Messages a stream run publishes, or round trips a ping-pong run records.
    pub messages: u64,
    /// Consumer processes of a stream run.
    pub consumers: usize,
    /// Slots per ring (entries per iceoryx2 subscriber buffer).
    pub capacity: usize,
    /// Messages at most per ringgroup poll.
    pub batch: usize,
    /// How every waiting thread and process waits.
    pub waiting: Waiting,
    /// Where threads and processes go.
    pub cores: Cores,
}

impl RunPlan {
    /// This run as `compare`'s [`Plan`](super::Plan) (for the in-process runs made by the
    /// in-process drivers), without a deadline.
    pub fn in_process(&self) -> super::Plan<'_> {
        super::Plan {
            cores: &self.cores,
            capacity: self.capacity,
            batch: self.batch,
            messages: self.messages,
            waiting: self.waiting,
            deadline: None,
        }
    }
}

impl RunPlan {
    /// The core id of `slot`, if the OS gives a core list.
    fn core(&self, slot: usize) -> Option<usize> {
        let ids = self.cores.ids();
        (!ids.is_empty()).then(|| ids[slot % ids.len()])
    }

    /// Pins the calling thread (never the harness's main thread) to `slot`'s core.
    pub fn pin_slot(&self, slot: usize) {
        self.cores.pin(slot);
    }

    /// Pins the calling thread as the parent's producer or pinger (slot 0).
    pub fn pin_parent(&self) {
        self.pin_slot(0);
    }

    /// The cores a run keeps busy: one per process (the parent and its children), at most
    /// every core.
    pub fn busy(&self) -> usize {
        (1 + self.consumers).min(self.cores.count())
    }

    /// Round trips that warm up a ping-pong run and are not recorded.
    pub fn warmup_round_trips(&self) -> u64 {
        super::warmup_round_trips(self.messages)
    }

    /// The orders of a stream run's readers (slots 1 ..= consumers).
    pub fn reader_specs(&self, system: IpcSystem, name: &str) -> Vec<ChildSpec> {
        (1..=self.consumers)
            .map(|slot| ChildSpec {
                system,
                role: Role::Reader,
                name: name.to_owned(),
                reply: String::new(),
                messages: self.messages,
                capacity: self.capacity,
                batch: self.batch,
                waiting: self.waiting,
                core: self.core(slot),
            })
            .collect()
    }

    /// The orders of a reply run's responder (slot 1): it answers every request (warm-up
    /// included) of request region `requests`.
    pub fn responder_spec(&self, requests: &str) -> ChildSpec {
        ChildSpec {
            system: IpcSystem::Ringgroup,
            role: Role::Responder,
            name: requests.to_owned(),
            reply: String::new(),
            messages: self.warmup_round_trips() + self.messages,
            capacity: self.capacity,
            batch: self.batch,
            waiting: self.waiting,
            core: self.core(1),
        }
    }

    /// The orders of a ping-pong run's echo (slot 1).
    pub fn echo_spec(&self, system: IpcSystem, ping: &str, pong: &str) -> ChildSpec {
        ChildSpec {
            system,
            role: Role::Echo,
            name: ping.to_owned(),
            reply: pong.to_owned(),
            messages: self.warmup_round_trips() + self.messages,
            capacity: self.capacity,
            batch: self.batch,
            waiting: self.waiting,
            core: self.core(1),
        }
    }
}

/// What one run of a system measured.
pub struct IpcRun {
    /// Its rate or round trips.
    pub sample: Sample,
    /// CPU time of the parent and the children over the run ÷ (busy cores × its span): about 1
    /// when nothing else ran (`None` without a CPU clock). See [`cpu_share`].
    pub cpu_share: Option<f64>,
}

/// The share of `busy` cores that `cpu` (the parent's, from `cpu_before`, plus the children's)
/// is of the span from `start` to `end`.
pub fn cpu_share(
    cpu_before: Option<Duration>,
    children: Duration,
    start: Instant,
    end: Instant,
    busy: usize,
) -> Option<f64> {
    let parent = process_cpu_time()
        .zip(cpu_before)
        .map(|(now, then)| now - then)?;
    let span = (end - start).as_secs_f64().max(f64::MIN_POSITIVE);
    Some((parent + children).as_secs_f64() / (busy.max(1) as f64 * span))
}

/// [`ping`] with this run's sizes and the allocations of the pinger's thread counted, as a
/// round-trip sample.
pub fn counted_ping(end: &mut impl Endpoint, plan: &RunPlan) -> Result<Sample, String> {
    use ringgroup_testkit::alloc;
    let before = alloc::allocations();
    alloc::count_this_thread();
    let histogram = ping(end, plan.warmup_round_trips(), plan.messages, fault());
    alloc::stop_counting_this_thread();
    let total = plan.warmup_round_trips() + plan.messages;
    Ok(Sample::RoundTrip {
        histogram: histogram?,
        // Two one-way messages per round trip, as `compare` counts them.
        allocs_per_msg: alloc::per_message(before, 2 * total),
        cut_short: false,
    })
}

/// Messages per second (millions) of `messages` in `took`.
pub fn rate(messages: u64, took: Duration) -> f64 {
    messages as f64 / took.as_secs_f64().max(1e-9) / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_spec_survives_its_encoding() {
        let spec = ChildSpec {
            system: IpcSystem::Iceoryx2,
            role: Role::Echo,
            name: "rgb-1-2-ping".into(),
            reply: "rgb-1-2-pong".into(),
            messages: 12345,
            capacity: 4096,
            batch: 64,
            waiting: Waiting::Yield,
            core: Some(1),
        };
        assert_eq!(ChildSpec::decode(&spec.encode()), Ok(spec.clone()));
        let reader = ChildSpec {
            system: IpcSystem::Ringgroup,
            role: Role::Reader,
            reply: String::new(),
            core: None,
            waiting: Waiting::Spin,
            ..spec
        };
        assert_eq!(ChildSpec::decode(&reader.encode()), Ok(reader.clone()));
        let responder = ChildSpec {
            role: Role::Responder,
            ..reader
        };
        assert_eq!(ChildSpec::decode(&responder.encode()), Ok(responder));
        assert!(ChildSpec::decode("ringgroup reader x").is_err());
    }

    #[test]
    fn a_wrong_message_count_in_a_child_fails_the_case() {
        let n = 10_000;
        let mut tally = Tally::default();
        for i in 0..n {
            tally.see(i);
        }
        let good = tally.report();
        assert!(check_report(&good, n).is_ok(), "{good}");
        assert_eq!(
            check_report(&format!("done {n} {} 1500", tally.sum), n),
            Ok(Duration::from_nanos(1500))
        );
        // One message short (the last one lost), one too many, a wrong value in place.
        let short = format!("done {} {} 0", n - 1, tally.sum - (n - 1));
        assert!(check_report(&short, n)
            .unwrap_err()
            .contains("received 9999 messages where 10000 were sent"));
        let long = format!("done {} {} 0", n + 1, tally.sum + n);
        assert!(check_report(&long, n).is_err());
        let wrong_sum = format!("done {n} {} 0", tally.sum + 94);
        assert!(check_report(&wrong_sum, n)
            .unwrap_err()
            .contains("add up to"));
        assert_eq!(
            check_report("fail received 99 where 5 was expected", n),
            Err("received 99 where 5 was expected".into())
        );
        assert!(check_report("", n)
            .unwrap_err()
            .contains("without a report"));
        assert!(check_report("done x y 0", n).is_err());
        assert!(check_report(&format!("done {n} {}", tally.sum), n).is_err());
        // A child checks the order as it goes: message 5 sent as 99 is named.
        let mut tally = Tally::default();
        for i in 0..n {
            tally.see(sent(i, true));
        }
        assert_eq!(
            tally.expect.verdict(),
            Err("received 99 where 5 was expected".into())
        );
    }

    #[test]
    fn the_expected_sum_is_the_sum() {
        for n in [0, 1, 2, 3, 10, 1001] {
            assert_eq!(expected_sum(n), (0..n).sum::<u64>());
        }
        let mut tally = Tally::default();
        tally.see_all(&[0, 1, 2, 3]);
        assert_eq!((tally.count(), tally.sum), (4, 6));
    }
}
