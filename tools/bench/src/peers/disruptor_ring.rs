//! `disruptor`: `try_publish`, and `try_batch_publish(n)` for batches; single-producer
//! (`build_single_producer`) except in `mpsc` and `mpmc` (`build_multi_producer`).
//!
//! - Streams that drain (`spsc-drain`, `spsc-batch`, `fanout-3`): the consumers are the
//!   disruptor's own managed event-handler threads, its usual form, pinned with the builder's
//!   `pin_at_core` to the cores of thread slots 1, 2, ... (ids from `--cores`). Our only thread
//!   is the producer, which times from its first publish until every handler has checked the
//!   last message (they count down through an atomic). A handler drains everything published
//!   before it moves its cursor, so its consumer takes what is ready in one receive whatever
//!   the producer does. Handlers wait with [`Pause`], the same pause as every other system.
//! - One per receive (`spsc`): a managed handler cannot take one event per receive, so the
//!   consumer is the disruptor's event poller (`new_event_poller`) on our own pinned consumer
//!   thread, taking exactly one event per `take(1)` (its guard, dropped, releases it), driven
//!   by the generic stream driver like every other queue.
//! - Multi-producer streams (`mpsc`, `mpmc`): two producer threads of ours (slots 0 and 1),
//!   each with its own clone of the `MultiProducer`, send tagged messages in chunks taken from a
//!   shared counter (`multi::Quota`), as every system's producers do; the
//!   handlers (slots 2, 3) are broadcast consumers, so in `mpmc` handler `k` of 2 takes the
//!   events whose sequence is `k mod 2` and steps over the others, as ringgroup's readers do.
//!   The first producer times from the start line until every handler has seen every event.
//! - Ping-pong: a managed handler cannot be the timing thread, so both ends use the disruptor's
//!   public event-poller API (`new_event_poller`, `take(1)`) on our own pinned threads: two
//!   disruptors, each with one poller, driven like every other queue.
//!
//! (Before `spsc-drain` existed, `spsc` ran the managed handler, a drain: its records say so
//! in `consumer`.)
//!
//! `pin_at_core` checks the core id against the *calling* thread's affinity mask (and panics if
//! it is missing), so the disruptor is built on the calling thread, which the harness never pins;
//! a refusal is turned into an error.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::Instant;

use crossbeam_utils::CachePadded;
use disruptor::wait_strategies::WaitStrategy;
use disruptor::{
    build_multi_producer, build_single_producer, EventPoller, ProcessorSettings, Producer,
    Sequence, SingleConsumerBarrier, SingleProducer, SingleProducerBarrier,
};
use ringgroup_testkit::alloc;
use ringgroup_testkit::threads::{join, start_line_with};

use super::drive::{self, RoundTrips, Throughput};
use super::multi::{self, Share, Tagged, PRODUCERS};
use super::{Expect, Idle, Plan, Rx, Tx, Waiting};

/// The disruptor's wait strategy: the same pause as every other system.
#[derive(Clone, Copy)]
pub struct Pause(Waiting);

impl WaitStrategy for Pause {
    #[inline(always)]
    fn wait_for(&self, _sequence: Sequence) {
        self.0.pause();
    }
}

/// How the handlers report back to the producer thread.
#[derive(Default)]
struct Finish {
    /// Handlers that have checked every message.
    done: AtomicUsize,
    /// The first wrong message any handler saw: (received, expected).
    broken: OnceLock<(u64, u64)>,
}

/// Runs on a handler thread before its first event: count its allocations from here.
fn start_counting() -> Expect {
    alloc::count_this_thread();
    Expect::default()
}

/// A handler that checks `0..messages` and reports to `finish` after the last one.
fn handler(
    messages: u64,
    finish: Arc<Finish>,
) -> impl FnMut(&mut Expect, &u64, Sequence, bool) + Send + 'static {
    move |expect, value, _sequence, _end_of_batch| {
        expect.check(*value);
        if expect.next == messages {
            if let Some(broken) = expect.broken() {
                let _ = finish.broken.set(broken);
            }
            alloc::stop_counting_this_thread();
            // Release: pairs with the Acquire load in `wait_for`; this handler's
            // checks and allocations happen-before the producer reads the verdict.
            finish.done.fetch_add(1, Ordering::Release);
        }
    }
}

/// `builder`, with its next handler pinned to `core` when there is a core list.
fn pinned<B: ProcessorSettings<u64, Pause>>(builder: B, core: Option<usize>) -> B {
    match core {
        Some(id) => builder.pin_at_core(id),
        None => builder,
    }
}

/// Builds with `make`, turning a `pin_at_core` refusal (a panic) into an error.
fn build<P>(plan: &Plan, make: impl FnOnce() -> P) -> Result<P, String> {
    catch_unwind(AssertUnwindSafe(make)).map_err(|_| {
        format!(
            "disruptor refused to pin its handlers to cores {:?}: pin_at_core checks the calling \
             thread's affinity mask",
            plan.cores.ids()
        )
    })
}

/// One producer (one message per publish, or `batch` per publish), one managed handler, which
/// drains what is published.
pub fn managed(batch: Option<usize>, plan: &Plan) -> Result<Throughput, String> {
    let finish = Arc::new(Finish::default());
    let before = alloc::allocations();
    let consumer = handler(plan.messages, Arc::clone(&finish));
    let producer = build(plan, || {
        let builder = build_single_producer(plan.capacity, || 0_u64, Pause(plan.waiting));
        pinned(builder, plan.core_id(1))
            .handle_events_and_state_with(consumer, start_counting)
            .build()
    })?;
    stream(producer, &finish, 1, batch, plan, before)
}

/// One producer, three managed handlers, each seeing every message.
pub fn fanout3(plan: &Plan) -> Result<Throughput, String> {
    let finish = Arc::new(Finish::default());
    let before = alloc::allocations();
    let handlers = [(); 3].map(|()| handler(plan.messages, Arc::clone(&finish)));
    let producer = build(plan, || {
        let [first, second, third] = handlers;
        let builder = build_single_producer(plan.capacity, || 0_u64, Pause(plan.waiting));
        let builder =
            pinned(builder, plan.core_id(1)).handle_events_and_state_with(first, start_counting);
        let builder =
            pinned(builder, plan.core_id(2)).handle_events_and_state_with(second, start_counting);
        pinned(builder, plan.core_id(3))
            .handle_events_and_state_with(third, start_counting)
            .build()
    })?;
    stream(producer, &finish, 3, None, plan, before)
}

/// Publishes `0..messages` and waits for `handlers` handlers to check them all, on a pinned
/// producer thread; dropping the producer afterwards stops and joins the handlers.
fn stream<P: Producer<u64> + Send>(
    producer: P,
    finish: &Finish,
    handlers: usize,
    batch: Option<usize>,
    plan: &Plan,
    before: u64,
) -> Result<Throughput, String> {
    let (messages, waiting) = (plan.messages, plan.waiting);
    let mut producer = CachePadded::new(producer);
    let elapsed = thread::scope(|s| {
        s.spawn(move || {
            plan.cores.pin(0);
            alloc::count_this_thread();
            let start = Instant::now();
            let result = publish(&mut *producer, messages, batch, waiting)
                .and_then(|()| wait_for_handlers(finish, handlers, waiting));
            let end = Instant::now();
            alloc::stop_counting_this_thread();
            drop(producer);
            result.map(|()| end.saturating_duration_since(start))
        })
        .join()
    })
    .map_err(|_| "producer thread panicked".to_owned())?
    .map_err(|e| format!("producer: {e}"))?;
    if let Some((got, want)) = finish.broken.get() {
        return Err(format!(
            "a handler received {got} where {want} was expected"
        ));
    }
    Ok(Throughput {
        elapsed,
        messages,
        allocs_per_msg: alloc::per_message(before, messages),
    })
}

/// Publishes `0..messages`, singly or in batches of `batch`, waiting while the ring is full.
fn publish<P: Producer<u64>>(
    producer: &mut P,
    messages: u64,
    batch: Option<usize>,
    waiting: Waiting,
) -> Result<(), String> {
    let mut idle = Idle::new(waiting);
    let step = batch.unwrap_or(1) as u64;
    let mut first = 0;
    while first < messages {
        let n = (messages - first).min(step);
        let sent = if n == 1 {
            producer.try_publish(|slot| *slot = first).is_ok()
        } else {
            producer
                .try_batch_publish(n as usize, |slots| {
                    for (slot, value) in slots.zip(first..) {
                        *slot = value;
                    }
                })
                .is_ok()
        };
        if sent {
            first += n;
            idle.reset();
        } else {
            idle.wait()?;
        }
    }
    Ok(())
}

/// Waits until `handlers` handlers have reported.
fn wait_for_handlers(finish: &Finish, handlers: usize, waiting: Waiting) -> Result<(), String> {
    wait_for(&finish.done, handlers, waiting)
}

/// What the handlers of a multi-producer run report back: each its tally, once it has seen
/// every event.
#[derive(Default)]
struct Tallies {
    /// Handlers that have seen every event.
    done: AtomicUsize,
    /// Their tallies.
    tallies: Mutex<Vec<Tagged>>,
}

/// The state a multi-producer handler keeps: its check, and the events it has seen.
type ShareState = (Tagged, u64);

/// A handler that takes its `share` of `total` tagged events and reports its tally to
/// `tallies` after seeing the last one.
fn share_handler(
    total: u64,
    share: Share,
    tallies: Arc<Tallies>,
) -> impl FnMut(&mut ShareState, &u64, Sequence, bool) + Send + 'static {
    move |(tagged, seen), value, sequence, _end_of_batch| {
        if share.takes(sequence as u64) {
            tagged.check(*value);
        }
        *seen += 1;
        if *seen == total {
            alloc::stop_counting_this_thread();
            tallies
                .tallies
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(*tagged);
            // Release: pairs with the Acquire load in `wait_for`.
            tallies.done.fetch_add(1, Ordering::Release);
        }
    }
}

/// Two producers, `consumers` (1 or 2) managed handlers sharing the events.
pub fn multi(consumers: usize, plan: &Plan) -> Result<Throughput, String> {
    let quota = multi::Quota::new(plan.messages);
    let total = quota.total();
    let tallies = Arc::new(Tallies::default());
    let before = alloc::allocations();
    let start_state = move || {
        alloc::count_this_thread();
        (Tagged::new(total), 0_u64)
    };
    let handler = |k: usize| {
        let share = Share {
            index: k as u64,
            of: consumers as u64,
        };
        share_handler(total, share, Arc::clone(&tallies))
    };
    let (first, second) = (handler(0), handler(1));
    let builder = || build_multi_producer(plan.capacity, || 0_u64, Pause(plan.waiting));
    let throughput = match consumers {
        1 => {
            let producer = build(plan, || {
                pinned(builder(), plan.core_id(PRODUCERS))
                    .handle_events_and_state_with(first, start_state)
                    .build()
            })?;
            multi_stream(producer, &quota, &tallies, 1, plan)?
        }
        2 => {
            let producer = build(plan, || {
                let builder = pinned(builder(), plan.core_id(PRODUCERS))
                    .handle_events_and_state_with(first, start_state);
                pinned(builder, plan.core_id(PRODUCERS + 1))
                    .handle_events_and_state_with(second, start_state)
                    .build()
            })?;
            multi_stream(producer, &quota, &tallies, 2, plan)?
        }
        n => {
            return Err(format!(
                "{n} consumers: the multi-producer cases take 1 or 2"
            ))
        }
    };
    let (throughput, sent) = throughput;
    let tallies = std::mem::take(&mut *tallies.tallies.lock().unwrap_or_else(|e| e.into_inner()));
    multi::verdict(&tallies, &sent).map_err(|e| format!("a handler: {e}"))?;
    Ok(Throughput {
        allocs_per_msg: alloc::per_message(before, total),
        ..throughput
    })
}

/// Publishes `quota`'s messages from [`PRODUCERS`] pinned threads, each with its own clone of
/// `producer`, and waits for `handlers` handlers to see every event; dropping the last clone
/// stops and joins the handlers. Returns the throughput and what each producer sent.
fn multi_stream<P: Producer<u64> + Clone + Send>(
    producer: P,
    quota: &multi::Quota,
    tallies: &Tallies,
    handlers: usize,
    plan: &Plan,
) -> Result<(Throughput, Vec<u64>), String> {
    let waiting = plan.waiting;
    let arrived = AtomicUsize::new(0);
    let mut clones: Vec<P> = (1..PRODUCERS).map(|_| producer.clone()).collect();
    clones.insert(0, producer);
    let results = thread::scope(|s| {
        let arrived = &arrived;
        let threads: Vec<_> = clones
            .into_iter()
            .enumerate()
            .map(|(p, producer)| {
                let mut producer = CachePadded::new(producer);
                s.spawn(move || {
                    plan.cores.pin(p);
                    start_line_with(arrived, PRODUCERS, || waiting.pause());
                    alloc::count_this_thread();
                    let start = Instant::now();
                    let mut result =
                        quota.produce(p, |value| publish_one(&mut *producer, value, waiting));
                    if p == 0 {
                        result = result.and_then(|sent| {
                            wait_for(&tallies.done, handlers, waiting).map(|()| sent)
                        });
                    }
                    let end = Instant::now();
                    alloc::stop_counting_this_thread();
                    drop(producer);
                    result
                        .map(|sent| (start, end, sent))
                        .map_err(|e| format!("producer {p}: {e}"))
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| join(t, "producer"))
            .collect::<Vec<_>>()
    });
    let mut span: Option<(Instant, Instant)> = None;
    let mut sent = Vec::with_capacity(PRODUCERS);
    for (p, result) in results.into_iter().enumerate() {
        let (start, end, n) = result?;
        sent.push(n);
        span = Some(match span {
            None => (start, end),
            // The first producer's end is when every handler was done.
            Some((s, e)) => (s.min(start), if p == 0 { end } else { e }),
        });
    }
    let (start, end) = span.ok_or("no producers")?;
    let throughput = Throughput {
        elapsed: end.saturating_duration_since(start),
        messages: quota.total(),
        allocs_per_msg: 0.0,
    };
    Ok((throughput, sent))
}

/// Publishes one message, waiting while the ring is full.
#[inline(always)]
fn publish_one<P: Producer<u64>>(
    producer: &mut P,
    value: u64,
    waiting: Waiting,
) -> Result<(), String> {
    let mut idle = Idle::new(waiting);
    while producer.try_publish(|slot| *slot = value).is_err() {
        idle.wait()?;
    }
    Ok(())
}

/// Waits until `done` reaches `handlers`.
fn wait_for(done: &AtomicUsize, handlers: usize, waiting: Waiting) -> Result<(), String> {
    let mut idle = Idle::new(waiting);
    // Acquire: pairs with the Release `fetch_add` of each handler (`handler`,
    // `share_handler`): its checks and allocations happen-before the verdict is read.
    while done.load(Ordering::Acquire) < handlers {
        idle.wait().map_err(|e| {
            format!(
                "{e} while waiting for the handlers ({} of {handlers} done)",
                done.load(Ordering::Relaxed)
            )
        })?;
    }
    Ok(())
}

/// The producer of a disruptor read by one event poller.
pub struct PollerTx(SingleProducer<u64, SingleConsumerBarrier>);

/// The event poller of a disruptor.
pub struct PollerRx(EventPoller<u64, SingleProducerBarrier>);

/// A disruptor of `plan.capacity` slots with one event poller.
pub fn polled(plan: &Plan) -> (PollerTx, PollerRx) {
    let (poller, builder) =
        build_single_producer(plan.capacity, || 0_u64, Pause(plan.waiting)).new_event_poller();
    (PollerTx(builder.build()), PollerRx(poller))
}

impl Tx for PollerTx {
    #[inline(always)]
    fn try_send(&mut self, value: u64) -> Result<(), u64> {
        self.0
            .try_publish(|slot| *slot = value)
            .map(drop)
            .map_err(|_| value)
    }
}

impl Rx for PollerRx {
    #[inline(always)]
    fn try_recv(&mut self) -> Option<u64> {
        // Dropping the guard releases the event.
        let mut guard = self.0.take(1).ok()?;
        (&mut guard).next().copied()
    }
}

/// Ping-pong through two event-polled disruptors.
pub fn ping_pong(plan: &Plan) -> Result<RoundTrips, String> {
    let (ping_tx, ping_rx) = polled(plan);
    let (pong_tx, pong_rx) = polled(plan);
    drive::ping_pong((ping_tx, pong_rx), (ping_rx, pong_tx), plan)
}
