//! The generic drivers: a stream (one producer, one or more consumers) and a ping-pong.
//!
//! - Stream: the producer (thread slot 0) sends `0..messages`, one at a time or in batches; each
//!   consumer (slots 1, 2, ...) receives one message at a time, up to a batch at a time, or
//!   everything ready at a time ([`Receive`]), and checks that it receives exactly that
//!   sequence. All threads are pinned, then meet at a start line; the time runs from the
//!   producer leaving the line until the last consumer has checked the last message.
//! - Ping-pong: the pinger (slot 0) sends `i`, waits for it to come back through the second
//!   queue, checks it, and records the round trip in an hdrhistogram; the echo (slot 1) sends
//!   back every message it receives until it receives [`STOP`], which the pinger sends after
//!   its last round trip. The first [`Plan::warmup_round_trips`] are not recorded. With a
//!   [`Plan::deadline`], the pinger stops early once that much time has passed since its first
//!   round trip (a disturbed run, whose round trips wait for the scheduler, cannot drag on).
//!
//! Allocations are counted on the data-path threads from the start line until their last
//! message; their handles are dropped after counting stops.

use std::sync::atomic::AtomicUsize;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;
use ringgroup_testkit::alloc;
use ringgroup_testkit::threads::{join, start_line_with};

use super::{recv, send, Expect, Idle, Plan, Rx, Sample, Tx, Waiting};
use crate::stats;

/// What one stream run measured.
#[derive(Clone, Copy, Debug)]
pub struct Throughput {
    /// From the start line until the last consumer was done.
    pub elapsed: Duration,
    /// Messages sent (each consumer received all of them).
    pub messages: u64,
    /// Allocations on the data-path threads, per message sent.
    pub allocs_per_msg: f64,
}

impl Throughput {
    /// As a [`Sample`].
    pub fn sample(self) -> Sample {
        Sample::Rate {
            mmsgs_per_s: self.messages as f64 / self.elapsed.as_secs_f64().max(1e-9) / 1e6,
            allocs_per_msg: self.allocs_per_msg,
        }
    }
}

/// What one ping-pong run measured.
pub struct RoundTrips {
    /// Round-trip times in nanoseconds (warm-up excluded).
    pub histogram: Histogram<u64>,
    /// Allocations on the two threads, per one-way message.
    pub allocs_per_msg: f64,
    /// The run stopped at its deadline, before its planned round trips.
    pub cut_short: bool,
}

/// What the pinger sends after its last round trip: the echo stops at it (the round trips
/// carry `0, 1, 2, ...`, so never this).
pub const STOP: u64 = u64::MAX;

impl RoundTrips {
    /// As a [`Sample`].
    pub fn sample(self) -> Sample {
        Sample::RoundTrip {
            histogram: self.histogram,
            allocs_per_msg: self.allocs_per_msg,
            cut_short: self.cut_short,
        }
    }
}

/// How a stream's consumers receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Receive {
    /// One message per receive ([`Rx::try_recv`]).
    One,
    /// Up to this many per receive ([`Rx::try_recv_batch`]).
    UpTo(usize),
    /// Everything ready per receive ([`Rx::try_drain`], at most the queue's capacity).
    Drain,
}

/// Sends `0..messages`, singly or in batches of `batch`.
fn produce<T: Tx>(
    tx: &mut T,
    messages: u64,
    batch: Option<usize>,
    waiting: Waiting,
) -> Result<(), String> {
    match batch {
        None => {
            for value in 0..messages {
                send(tx, value, waiting)?;
            }
        }
        Some(batch) => {
            let mut first = 0;
            while first < messages {
                let n = (messages - first).min(batch as u64);
                tx.send_batch(first, n as usize, waiting)?;
                first += n;
            }
        }
    }
    Ok(())
}

/// Receives and checks `messages` messages, as `receive` says; `capacity` bounds a drain.
fn consume<R: Rx>(
    rx: &mut R,
    messages: u64,
    receive: Receive,
    capacity: usize,
    waiting: Waiting,
) -> Result<(), String> {
    let mut expect = Expect::default();
    let stalled = |e: String, received: u64| format!("{e} after {received} of {messages} messages");
    match receive {
        Receive::One => {
            while expect.next < messages {
                let value = recv(rx, waiting).map_err(|e| stalled(e, expect.next))?;
                expect.check(value);
            }
        }
        Receive::UpTo(batch) => {
            let mut idle = Idle::new(waiting);
            while expect.next < messages {
                if rx.try_recv_batch(batch, &mut |values| expect.check_all(values)) == 0 {
                    idle.wait().map_err(|e| stalled(e, expect.next))?;
                } else {
                    idle.reset();
                }
            }
        }
        Receive::Drain => {
            let mut idle = Idle::new(waiting);
            let limit = capacity.max(1);
            while expect.next < messages {
                if rx.try_drain(limit, &mut |values| expect.check_all(values)) == 0 {
                    idle.wait().map_err(|e| stalled(e, expect.next))?;
                } else {
                    idle.reset();
                }
            }
        }
    }
    expect
        .verdict()
        .map_err(|e| format!("{e} (after {} messages)", expect.next))
}

/// Runs one producer sending through `tx` to every reader of `readers`.
///
/// `send_batch`: messages per send (`None`: one at a time); `receive`: how each reader
/// receives.
pub fn stream<T: Tx, R: Rx>(
    tx: T,
    readers: Vec<R>,
    send_batch: Option<usize>,
    receive: Receive,
    plan: &Plan,
) -> Result<Throughput, String> {
    if readers.is_empty() {
        return Err("a stream needs at least one reader".into());
    }
    let (messages, waiting) = (plan.messages, plan.waiting);
    let threads = 1 + readers.len();
    let arrived = AtomicUsize::new(0);
    let before = alloc::allocations();
    let (start, ends) = thread::scope(|s| {
        let arrived = &arrived;
        let consumers: Vec<_> = readers
            .into_iter()
            .enumerate()
            .map(|(i, rx)| {
                let mut rx = CachePadded::new(rx);
                s.spawn(move || {
                    plan.cores.pin(1 + i);
                    start_line_with(arrived, threads, || waiting.pause());
                    alloc::count_this_thread();
                    let result = consume(&mut *rx, messages, receive, plan.capacity, waiting);
                    let end = Instant::now();
                    alloc::stop_counting_this_thread();
                    result.map(|()| end)
                })
            })
            .collect();
        let mut tx = CachePadded::new(tx);
        let producer = s.spawn(move || {
            plan.cores.pin(0);
            start_line_with(arrived, threads, || waiting.pause());
            alloc::count_this_thread();
            let start = Instant::now();
            let result = produce(&mut *tx, messages, send_batch, waiting);
            alloc::stop_counting_this_thread();
            result.map(|()| start)
        });
        let start = join(producer, "producer");
        let ends: Vec<_> = consumers.into_iter().map(|h| join(h, "consumer")).collect();
        (start, ends)
    });
    let start = start?;
    let mut last = start;
    for end in ends {
        last = last.max(end?);
    }
    Ok(Throughput {
        elapsed: last.saturating_duration_since(start),
        messages,
        allocs_per_msg: alloc::per_message(before, messages),
    })
}

/// Runs `plan.messages` recorded round trips (fewer if `plan.deadline` passes first): the
/// pinger sends on `pinger.0` and receives on `pinger.1`; the echo receives on `echo.0` and
/// sends back on `echo.1`.
pub fn ping_pong<PT: Tx, PR: Rx, ER: Rx, ET: Tx>(
    pinger: (PT, PR),
    echo: (ER, ET),
    plan: &Plan,
) -> Result<RoundTrips, String> {
    let waiting = plan.waiting;
    let warmup = plan.warmup_round_trips();
    let total = warmup + plan.messages;
    let deadline = plan.deadline;
    let mut histogram = stats::histogram()?;
    let arrived = AtomicUsize::new(0);
    let before = alloc::allocations();
    let (pinged, echoed) = thread::scope(|s| {
        let arrived = &arrived;
        let mut echo = CachePadded::new(echo);
        let echoer = s.spawn(move || {
            plan.cores.pin(1);
            start_line_with(arrived, 2, || waiting.pause());
            alloc::count_this_thread();
            let result = loop {
                match recv(&mut echo.0, waiting) {
                    Ok(STOP) => break Ok(()),
                    Ok(value) => {
                        if let Err(e) = send(&mut echo.1, value, waiting) {
                            break Err(e);
                        }
                    }
                    Err(e) => break Err(e),
                }
            };
            alloc::stop_counting_this_thread();
            result
        });
        let mut pinger = CachePadded::new(pinger);
        let histogram = &mut histogram;
        let pinger = s.spawn(move || {
            plan.cores.pin(0);
            start_line_with(arrived, 2, || waiting.pause());
            alloc::count_this_thread();
            let mut expect = Expect::default();
            let mut result = Ok(());
            let mut started = None;
            let mut cut_short = false;
            for i in 0..total {
                let sent = Instant::now();
                let started = *started.get_or_insert(sent);
                if i > warmup && deadline.is_some_and(|d| sent - started >= d) {
                    cut_short = true;
                    break;
                }
                let value = match send(&mut pinger.0, i, waiting)
                    .and_then(|()| recv(&mut pinger.1, waiting))
                {
                    Ok(value) => value,
                    Err(e) => {
                        result = Err(format!("{e} (round trip {i})"));
                        break;
                    }
                };
                let round_trip = sent.elapsed();
                expect.check(value);
                if i >= warmup {
                    histogram.saturating_record(
                        round_trip.as_nanos().min(u128::from(stats::MAX_TRACKED_NS)) as u64,
                    );
                }
            }
            // The echo stops here. Sent even after a failed round trip, so an echo that is
            // still waiting ends (a full queue fails the send and the echo's own stall check
            // ends it instead).
            let stopped = send(&mut pinger.0, STOP, waiting);
            alloc::stop_counting_this_thread();
            result
                .and(stopped)
                .and_then(|()| expect.verdict())
                .map(|()| (expect.next, cut_short))
        });
        (join(pinger, "pinger"), join(echoer, "echo"))
    });
    let (round_trips, cut_short) = pinged?;
    echoed?;
    Ok(RoundTrips {
        histogram,
        allocs_per_msg: alloc::per_message(before, 2 * round_trips.max(1)),
        cut_short,
    })
}
