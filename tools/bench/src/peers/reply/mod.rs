//! The workloads of `reply`: a request goes to a responder, which answers it, and the answer
//! comes back to the requester that asked; ringgroup's producer groups against a baseline
//! built from crossbeam-channel.
//!
//! # Cases
//!
//! - `reply/round-trip`: one requester (thread slot 0) sends a request and waits for its
//!   reply before the next; one responder (slot 1) answers each. The requester records each
//!   round trip (request sent → reply in hand) in an hdrhistogram; the first tenth (at most
//!   10 000) warm up and are not recorded, and with a deadline (timed runs) it stops early, as
//!   `ping-pong` does.
//! - `reply/sustained`: [`REQUESTERS`] requesters (slots 0, 1) and [`RESPONDERS`] responders
//!   (slots 2, 3). Each requester keeps up to `window` requests outstanding: it sends until
//!   `window` are pending, then waits for the oldest one's reply before sending the next. The
//!   figure is requests completed per second, from the start line until the last requester
//!   has its last reply.
//!
//! # Systems
//!
//! - ringgroup (`ringgroup`): a multi-producer topic of `Request<u64, u64>`
//!   (`Topic::builder(..).multi_producer()`), its consumer group (`responders`) with one
//!   member per responder, and a producer group (`requesters`) with one member
//!   (`Requester`) per requester. A requester sends with `Requester::request` (keyed by the
//!   request's bytes) and waits with `PendingReply::wait`; a responder takes what is ready
//!   with `Consumer::try_poll` and answers each record with `Records::reply`. The topic has
//!   one partition per responder (a partition is owned by one member of a group), so
//!   `round-trip` has one and `sustained` two, each responder owning one before the start
//!   line; requests spread over them by key.
//! - crossbeam-channel (`crossbeam-channel`), the baseline: one bounded request channel
//!   carrying (requester id, correlation id, value), shared by every responder (a work queue),
//!   and one bounded reply channel per requester carrying (correlation id, value); a responder
//!   sends each answer to the channel of the requester that asked.
//!
//! Every channel and ring has `--capacity` slots (ringgroup's reply rings have the producer
//! group's default, 1024, which no window here fills). Every thread uses only non-blocking
//! calls and waits the same way (`--wait`: spin, or yield when threads share cores), except
//! ringgroup's requester, whose `PendingReply::wait` waits under the topic's wait strategy,
//! set to the same (busy-spin, or yield).
//!
//! # Checks
//!
//! Request `i` of requester `r` carries `multi::tag(r, i)`, and its reply must be
//! [`answer`] of that value (a bijection, so a reply to another request never passes); a
//! crossbeam reply must also carry its request's correlation id, and arrive while that
//! request is outstanding. ringgroup's requester must end with every reply received and none
//! timed out, duplicated or late, and its producer group with no reply dropped. Requesters
//! send a plain message (no reply wanted) to every partition, or one stop request per responder,
//! when done; a responder stops once it has one from every requester. A thread that makes
//! no progress for `STALL` fails the run.

mod crossbeam;
mod ringgroup;

use std::sync::atomic::AtomicUsize;
use std::thread;
use std::time::Instant;

use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;
use ringgroup_testkit::alloc;
use ringgroup_testkit::threads::{join, start_line_with};

use super::{Plan, Sample, System, Workload};
use crate::stats;

/// Requesters in `reply/sustained`.
pub const REQUESTERS: usize = 2;

/// Responders in `reply/sustained`.
pub const RESPONDERS: usize = 2;

/// A case of `reply`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyCase {
    /// One requester, one responder, one request at a time: round-trip percentiles.
    RoundTrip,
    /// Two requesters keeping a window of requests outstanding, two responders: requests/s.
    Sustained,
}

impl ReplyCase {
    /// Every case, in report order.
    pub const ALL: [ReplyCase; 2] = [ReplyCase::RoundTrip, ReplyCase::Sustained];

    /// The case's name in `reply/<name>`.
    pub fn name(self) -> &'static str {
        match self {
            ReplyCase::RoundTrip => "round-trip",
            ReplyCase::Sustained => "sustained",
        }
    }

    /// Requester threads.
    pub fn requesters(self) -> usize {
        match self {
            ReplyCase::RoundTrip => 1,
            ReplyCase::Sustained => REQUESTERS,
        }
    }

    /// Responder threads.
    pub fn responders(self) -> usize {
        match self {
            ReplyCase::RoundTrip => 1,
            ReplyCase::Sustained => RESPONDERS,
        }
    }

    /// Threads a run keeps busy.
    pub fn threads(self) -> usize {
        self.requesters() + self.responders()
    }
}

/// Whether `system` takes part in `reply`: ringgroup and its crossbeam-channel baseline.
pub fn can_run(system: System) -> bool {
    matches!(system, System::Ringgroup | System::CrossbeamChannel)
}

/// One `reply` case with its window.
#[derive(Clone, Copy, Debug)]
pub struct Reply {
    /// The case.
    pub case: ReplyCase,
    /// `sustained`: requests each requester keeps outstanding.
    pub window: usize,
}

impl Workload for Reply {
    fn scenario(self) -> String {
        ringgroup_results::names::scenario::of(
            ringgroup_results::names::scenario::REPLY,
            self.case.name(),
        )
    }

    fn threads(self) -> usize {
        self.case.threads()
    }

    fn run(self, system: System, plan: &Plan) -> Result<Sample, String> {
        match (self.case, system) {
            (ReplyCase::RoundTrip, System::Ringgroup) => ringgroup::round_trips(plan),
            (ReplyCase::RoundTrip, System::CrossbeamChannel) => crossbeam::round_trips(plan),
            (ReplyCase::Sustained, System::Ringgroup) => ringgroup::sustained(self.window, plan),
            (ReplyCase::Sustained, System::CrossbeamChannel) => {
                crossbeam::sustained(self.window, plan)
            }
            (_, other) => Err(format!("{} takes no part in reply", other.name())),
        }
    }

    /// A fiftieth of `base` as round trips (as `ping-pong`), a tenth as requests in
    /// `sustained`.
    fn messages_for(self, _system: System, base: u64, _batch: usize) -> u64 {
        let divisor = match self.case {
            ReplyCase::RoundTrip => 50,
            ReplyCase::Sustained => 10,
        };
        (base / divisor).max(1)
    }
}

/// The reply to a request of `value`: a bijection of `u64` (multiplying by an odd constant),
/// so the reply to any other request differs.
#[inline(always)]
pub fn answer(value: u64) -> u64 {
    value.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Requests each requester sends when a run sends `messages` in all.
fn per_requester(messages: u64, requesters: usize) -> u64 {
    messages.div_ceil(requesters as u64).max(1)
}

/// What a run's requesters returned, and when the first of them left the start line.
struct Ran<Q, T> {
    /// Each requester, given back, with its result, in requester order.
    outputs: Vec<(Q, T)>,
    /// The earliest requester's start.
    start: Instant,
    /// Allocations on the requester and responder threads while counting.
    allocations: u64,
}

/// The start line of one run, as one thread sees it: the thread readies itself (allocates
/// what it needs, a consumer takes its partition), then [`cross`](Line::cross)es, which waits
/// for every other thread and starts counting its allocations. A thread that fails before
/// crossing still arrives when its line is dropped, so no other thread waits for it for
/// ever (they stall and fail without it).
pub struct Line<'a> {
    arrived: &'a AtomicUsize,
    threads: usize,
    waiting: super::Waiting,
    crossed: bool,
}

impl Line<'_> {
    /// Waits until every thread arrived, starts counting this thread's allocations, and
    /// returns the time it left.
    pub fn cross(mut self) -> Instant {
        self.crossed = true;
        start_line_with(self.arrived, self.threads, || self.waiting.pause());
        alloc::count_this_thread();
        Instant::now()
    }
}

impl Drop for Line<'_> {
    fn drop(&mut self) {
        if !self.crossed {
            start_line_with(self.arrived, self.threads, || self.waiting.pause());
        }
    }
}

/// Runs each of `requesters` (thread slots `0..`) through `request` and each of `responders`
/// (the slots after them) through `respond`, on pinned threads that meet at one start line
/// (each crosses its [`Line`] when ready). Allocations are counted from the line until
/// `request` or `respond` returns; each requester is given back with its result, each
/// responder dropped after counting, once every responder is done. A responder's error comes first: the requesters then
/// only stalled.
fn on_threads<Q: Send, S: Send, T: Send>(
    requesters: Vec<Q>,
    responders: Vec<S>,
    plan: &Plan,
    request: impl Fn(usize, &mut Q, Line<'_>) -> Result<(Instant, T), String> + Sync,
    respond: impl Fn(&mut S, Line<'_>) -> Result<(), String> + Sync,
) -> Result<Ran<Q, T>, String> {
    let waiting = plan.waiting;
    let first_responder = requesters.len();
    let threads = requesters.len() + responders.len();
    let arrived = AtomicUsize::new(0);
    // Responders done: each keeps its handle until all are, so that no consumer leaves its
    // group (a rebalance the others would handle) while another still counts.
    let done = AtomicUsize::new(0);
    let responding = responders.len();
    let line = || Line {
        arrived: &arrived,
        threads,
        waiting,
        crossed: false,
    };
    let before = alloc::allocations();
    let (asked, answered) = thread::scope(|s| {
        let (line, request, respond, done) = (&line, &request, &respond, &done);
        let answering: Vec<_> = responders
            .into_iter()
            .enumerate()
            .map(|(k, responder)| {
                let mut responder = CachePadded::new(responder);
                s.spawn(move || {
                    plan.cores.pin(first_responder + k);
                    let result = respond(&mut responder, line());
                    alloc::stop_counting_this_thread();
                    start_line_with(done, responding, || waiting.pause());
                    drop(responder);
                    result.map_err(|e| format!("responder {k}: {e}"))
                })
            })
            .collect();
        let asking: Vec<_> = requesters
            .into_iter()
            .enumerate()
            .map(|(r, requester)| {
                let mut requester = CachePadded::new(requester);
                s.spawn(move || {
                    plan.cores.pin(r);
                    let result = request(r, &mut requester, line());
                    alloc::stop_counting_this_thread();
                    result
                        .map(|(start, out)| (start, CachePadded::into_inner(requester), out))
                        .map_err(|e| format!("requester {r}: {e}"))
                })
            })
            .collect();
        let asked: Vec<_> = asking.into_iter().map(|h| join(h, "requester")).collect();
        let answered: Vec<_> = answering
            .into_iter()
            .map(|h| join(h, "responder"))
            .collect();
        (asked, answered)
    });
    let allocations = alloc::allocations().saturating_sub(before);
    let mut failed = None;
    for result in answered {
        if let Err(e) = result {
            failed.get_or_insert(e);
        }
    }
    let mut outputs = Vec::with_capacity(asked.len());
    let mut start: Option<Instant> = None;
    for result in asked {
        match result {
            Ok((began, requester, out)) => {
                start = Some(start.map_or(began, |s| s.min(began)));
                outputs.push((requester, out));
            }
            Err(e) => {
                failed.get_or_insert(e);
            }
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    Ok(Ran {
        outputs,
        start: start.ok_or("no requesters")?,
        allocations,
    })
}

/// What the requester of a round-trip run measured (into its histogram).
struct Timed {
    /// Round trips recorded.
    recorded: u64,
    /// Round trips made, warm-up included.
    made: u64,
    cut_short: bool,
}

/// The requester's loop of a round-trip run: `plan.warmup_round_trips()` unrecorded, then up
/// to `plan.messages` recorded round trips into `histogram` (fewer if `plan.deadline`
/// passes), each through `one`, which sends request `value` and returns its reply; every
/// reply is checked against [`answer`].
fn time_round_trips(
    plan: &Plan,
    histogram: &mut Histogram<u64>,
    mut one: impl FnMut(u64) -> Result<u64, String>,
) -> Result<Timed, String> {
    let warmup = plan.warmup_round_trips();
    let total = warmup + plan.messages;
    let mut timed = Timed {
        recorded: 0,
        made: 0,
        cut_short: false,
    };
    let mut started = None;
    for i in 0..total {
        let sent = Instant::now();
        let started = *started.get_or_insert(sent);
        if i > warmup && plan.deadline.is_some_and(|d| sent - started >= d) {
            timed.cut_short = true;
            break;
        }
        let value = super::multi::tag(0, i);
        let reply = one(value).map_err(|e| format!("{e} (round trip {i})"))?;
        let round_trip = sent.elapsed();
        if reply != answer(value) {
            return Err(format!(
                "round trip {i}: the reply {reply:#x} does not answer request {value:#x}"
            ));
        }
        timed.made += 1;
        if i >= warmup {
            let ns = round_trip.as_nanos().min(u128::from(stats::MAX_TRACKED_NS)) as u64;
            histogram.saturating_record(ns);
            timed.recorded += 1;
        }
    }
    Ok(timed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cores::Cores;
    use crate::peers::Waiting;

    fn plan(cores: &Cores, messages: u64) -> Plan<'_> {
        Plan {
            cores,
            capacity: 64,
            batch: 16,
            messages,
            waiting: Waiting::Yield,
            deadline: None,
        }
    }

    #[test]
    fn every_system_runs_every_case() {
        let cores = Cores::new(&[]).unwrap();
        for case in ReplyCase::ALL {
            for system in [System::Ringgroup, System::CrossbeamChannel] {
                let reply = Reply { case, window: 8 };
                let sample = reply.run(system, &plan(&cores, 500));
                match sample {
                    Ok(Sample::RoundTrip { histogram, .. }) => {
                        assert_eq!(case, ReplyCase::RoundTrip);
                        assert_eq!(histogram.len(), 500, "{system:?}");
                    }
                    Ok(Sample::Rate { mmsgs_per_s, .. }) => {
                        assert_eq!(case, ReplyCase::Sustained);
                        assert!(mmsgs_per_s > 0.0, "{system:?}");
                    }
                    Err(e) => panic!("{}/{}: {e}", case.name(), system.name()),
                }
            }
            assert!(!can_run(System::Rtrb));
            assert!(Reply { case, window: 8 }
                .run(System::Rtrb, &plan(&cores, 10))
                .is_err());
        }
    }

    #[test]
    fn a_wrong_reply_fails_the_run() {
        let cores = Cores::new(&[]).unwrap();
        let mut histogram = stats::histogram().unwrap();
        let timed = time_round_trips(&plan(&cores, 10), &mut histogram, |value| {
            Ok(answer(value ^ u64::from(value == 3)))
        });
        assert!(timed.err().is_some_and(|e| e.contains("round trip 3")));
    }

    #[test]
    fn answers_tell_requests_apart() {
        assert_ne!(answer(1), answer(2));
        assert_ne!(
            answer(super::super::multi::tag(0, 5)),
            answer(super::super::multi::tag(1, 5))
        );
    }
}
