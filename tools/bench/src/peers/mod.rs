//! ringgroup's ring and the peer queues behind one small interface, and the drivers that run
//! them the same way.
//!
//! - [`Tx`] / [`Rx`]: non-blocking send and receive of `u64` messages, one at a time, a batch
//!   at a time (where the system has a batch operation), or, on the receiving side, everything
//!   ready at once ([`Rx::try_drain`]). Every adapter uses only the system's `try_*`
//!   operations; all waiting is done here, by [`Idle`], so every system waits the same way
//!   ([`Waiting`]: spin with the CPU's spin hint, or yield the time slice).
//! - [`drive`]: the generic stream (one producer, one or more consumers) and ping-pong drivers;
//!   [`multi`]: the multi-producer streams of `mpsc` and `mpmc`. `disruptor` runs its consumers
//!   as its own managed threads (except in `spsc` and `ping-pong`, where its event poller runs
//!   on our threads), so it has its own stream drivers (`disruptor_ring`), with the same checks.
//! - Two ringgroups: `ringgroup` is the bare partition ring (`ringgroup_ring`), the fair
//!   counterpart of the peers' queues; `ringgroup-group` is the consumer-group API users call
//!   (`ringgroup_group`: a topic, its producer, consumer groups with auto-commit), measured
//!   beside it so that the cost of the group layer shows as `ratio_vs_ring`.
//! - [`reply`]: the request / reply workloads of the `reply` subcommand (ringgroup's producer
//!   groups against a crossbeam-channel baseline).
//! - [`Workload`]: what `alternate` runs, slice after slice: a `compare` [`Case`] or a `reply`
//!   case, on any [`System`] that can express it.
//! - Checks: every consumer checks that it receives `0, 1, 2, ...` exactly ([`Expect`]), or,
//!   with several producers, each producer's messages in order with none lost or repeated
//!   ([`multi::Tagged`]); a waiting thread that sees no progress for [`STALL`] gives up with an
//!   error (a lost message would otherwise hang the run), so a run cannot pass while measuring
//!   nothing.
//!
//! Handles are moved into their threads inside `CachePadded`, so a producer's and a consumer's
//! handles never share a cache line.

mod bus_broadcast;
mod crossbeam;
mod disruptor_ring;
pub mod drive;
mod floor;
pub mod ipc;
pub mod multi;
pub mod reply;
mod ringgroup_group;
mod ringgroup_ring;
mod rtrb_ring;

use std::hint::spin_loop;
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ringgroup_results::names::system;

use crate::common::STALL;
use crate::cores::Cores;
use crate::cpu;
use crate::stats;

/// A system under comparison.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum System {
    /// ringgroup's partition ring (`ringgroup::ring`: `Writer` / `Reader`).
    Ringgroup,
    /// `rtrb::RingBuffer`.
    Rtrb,
    /// `disruptor::build_single_producer` (`build_multi_producer` in `mpsc` and `mpmc`).
    Disruptor,
    /// `crossbeam_channel::bounded`.
    CrossbeamChannel,
    /// `crossbeam_queue::ArrayQueue`.
    CrossbeamQueue,
    /// `bus::Bus`.
    Bus,
    /// The reference floor of `ping-pong`: one cache line each way, a store seen by a spinning
    /// load, no queue at all (`peers::floor`). It runs only `ping-pong`.
    Floor,
    /// ringgroup's consumer-group API: a heap `Topic` of one partition, its `Producer`, a
    /// consumer group with one member per consumer, auto-commit, `Consumer::try_poll`
    /// (`peers::ringgroup_group`).
    RinggroupGroup,
}

impl System {
    /// Every system, ringgroup first, in the order of the results schema's `system::ALL` (the
    /// schema's systems that only other subcommands run left out). This is the default
    /// `--systems`, so the order in which `compare` alternates them.
    pub const ALL: [System; 8] = [
        System::Ringgroup,
        System::Rtrb,
        System::Disruptor,
        System::CrossbeamChannel,
        System::CrossbeamQueue,
        System::Bus,
        System::Floor,
        System::RinggroupGroup,
    ];

    /// The name used in records: `ringgroup`, the peer crate's name, `floor` or
    /// `ringgroup-group` (the results schema's `system::ALL`, checked by a test below).
    pub fn name(self) -> &'static str {
        match self {
            System::Ringgroup => system::RINGGROUP,
            System::Rtrb => system::ALL[1],
            System::Disruptor => system::ALL[2],
            System::CrossbeamChannel => system::CROSSBEAM_CHANNEL,
            System::CrossbeamQueue => system::ALL[4],
            System::Bus => system::ALL[5],
            System::Floor => system::FLOOR,
            System::RinggroupGroup => system::RINGGROUP_GROUP,
        }
    }

    /// Whether the system can express `case`: only broadcast queues can fan out, only
    /// multi-producer queues take two producers (rtrb is single-producer, bus's `broadcast`
    /// takes `&mut self`), and the floor (no queue, one word each way) only carries a ping-pong.
    pub fn can_run(self, case: Case) -> bool {
        match case {
            Case::Fanout3 => self.broadcasts(),
            Case::Mpsc | Case::Mpmc => matches!(
                self,
                System::Ringgroup
                    | System::RinggroupGroup
                    | System::Disruptor
                    | System::CrossbeamChannel
                    | System::CrossbeamQueue
            ),
            Case::Spsc | Case::SpscDrain | Case::SpscBatch => self != System::Floor,
            Case::PingPong => true,
        }
    }

    /// Whether each consumer of the system sees every message (a broadcast: ringgroup's ring,
    /// ringgroup's groups, disruptor, bus) rather than taking it from the others (crossbeam's
    /// queues).
    pub fn broadcasts(self) -> bool {
        matches!(
            self,
            System::Ringgroup | System::RinggroupGroup | System::Disruptor | System::Bus
        )
    }

    /// Whether the system has a batch send and receive (the others send a batch one by one).
    pub fn native_batch(self) -> bool {
        matches!(
            self,
            System::Ringgroup | System::RinggroupGroup | System::Rtrb | System::Disruptor
        )
    }

    /// Whether the system's drain (`spsc-drain`) lends everything ready as one batch and
    /// releases it at once (ringgroup's ring and groups, rtrb's chunk, the disruptor's
    /// handler), rather than taking the messages one by one until none is left (crossbeam's
    /// channel and queue, bus).
    pub fn native_drain(self) -> bool {
        self.native_batch()
    }

    /// When the consumer of `case` hands what it read back to the producer, for the records of
    /// `spsc` and `spsc-drain`. ringgroup's ring reader releases lazily (the library's
    /// default since its lazy release: its cursor is stored once `capacity / 16` messages were
    /// read since the last store, and at once when a poll finds nothing); a group member
    /// commits every batch it drops (auto-commit).
    pub fn release(self, case: Case) -> &'static str {
        match (case, self) {
            (_, System::Ringgroup) => "lazy: every capacity/16 read, or when a poll finds nothing",
            (_, System::RinggroupGroup) => "a commit per batch (auto-commit)",
            (Case::SpscDrain, System::Rtrb) => "per chunk",
            (Case::SpscDrain, System::Disruptor) => "per drained batch",
            (_, System::Disruptor) => "per take (its guard dropped)",
            _ => "per message",
        }
    }

    /// What the consumer of `case` calls to receive, for the records of `spsc` and
    /// `spsc-drain` (the two delivery models; see `scenarios::compare`).
    pub fn receive(self, case: Case) -> &'static str {
        match (case, self) {
            (Case::SpscDrain, System::Ringgroup) => "Reader::try_poll(usize::MAX)",
            (Case::SpscDrain, System::RinggroupGroup) => "Consumer::try_poll(usize::MAX)",
            (Case::SpscDrain, System::Rtrb) => "read_chunk(slots())",
            (Case::SpscDrain, System::Disruptor) => "managed handler",
            (Case::SpscDrain, System::CrossbeamChannel) => "try_iter() until empty",
            (Case::SpscDrain, System::CrossbeamQueue) => "pop until empty",
            (Case::SpscDrain, System::Bus) => "try_recv until empty",
            (_, System::Ringgroup) => "Reader::try_poll(1)",
            (_, System::RinggroupGroup) => "Consumer::try_poll(1)",
            (_, System::Rtrb) => "pop",
            (_, System::Disruptor) => "EventPoller::take(1)",
            (_, System::CrossbeamChannel) => "try_recv",
            (_, System::CrossbeamQueue) => "pop",
            (_, System::Bus) => "try_recv",
            (_, System::Floor) => "load",
        }
    }

    /// The system is slow enough that its runs are scaled down to stay short.
    pub fn is_slow(self) -> bool {
        self == System::Bus
    }
}

/// A comparison case.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    /// One producer, one consumer, one message per send and per receive.
    Spsc,
    /// One producer, one consumer, one message per send, everything ready per receive.
    SpscDrain,
    /// One producer, one consumer, batches per send and per receive.
    SpscBatch,
    /// One producer, three consumers each receiving every message.
    #[value(name = "fanout-3")]
    Fanout3,
    /// Two producers into one queue, one consumer receiving every message.
    Mpsc,
    /// Two producers into one queue, two consumers sharing the messages (each message taken by
    /// one of them).
    Mpmc,
    /// Round trip of one message through two queues, a thread echoing.
    PingPong,
}

impl Case {
    /// Every case, in report order.
    pub const ALL: [Case; 7] = [
        Case::Spsc,
        Case::SpscDrain,
        Case::SpscBatch,
        Case::Fanout3,
        Case::Mpsc,
        Case::Mpmc,
        Case::PingPong,
    ];

    /// The case's name in `compare/<name>`.
    pub fn name(self) -> &'static str {
        match self {
            Case::Spsc => "spsc",
            Case::SpscDrain => "spsc-drain",
            Case::SpscBatch => "spsc-batch",
            Case::Fanout3 => "fanout-3",
            Case::Mpsc => "mpsc",
            Case::Mpmc => "mpmc",
            Case::PingPong => "ping-pong",
        }
    }

    /// Producer (or pinger) threads.
    pub fn producers(self) -> usize {
        match self {
            Case::Mpsc | Case::Mpmc => multi::PRODUCERS,
            Case::Spsc | Case::SpscDrain | Case::SpscBatch | Case::Fanout3 | Case::PingPong => 1,
        }
    }

    /// Consumer (or echo) threads.
    pub fn consumers(self) -> usize {
        match self {
            Case::Fanout3 => 3,
            Case::Mpmc => 2,
            Case::Spsc | Case::SpscDrain | Case::SpscBatch | Case::Mpsc | Case::PingPong => 1,
        }
    }

    /// Threads a run of this case keeps busy.
    pub fn threads(self) -> usize {
        self.producers() + self.consumers()
    }
}

/// What `alternate` measures, slice after slice: a `compare` case, or a `reply` case, run the
/// same way on every system that can express it.
pub trait Workload: Copy {
    /// The scenario it reports as: `compare/spsc`, `reply/round-trip`.
    fn scenario(self) -> String;

    /// Threads a run keeps busy (they spin, or yield to each other on shared cores).
    fn threads(self) -> usize;

    /// Runs once on `system`, of `plan.messages` messages (round trips, requests).
    fn run(self, system: System, plan: &Plan) -> Result<Sample, String>;

    /// Messages per slice for a `--messages` of `base`.
    fn messages_for(self, system: System, base: u64, batch: usize) -> u64;

    /// `messages` rounded to what one slice can run (whole batches where it sends batches).
    fn whole(self, messages: u64, batch: usize) -> u64 {
        let _ = batch;
        messages
    }
}

impl Workload for Case {
    fn scenario(self) -> String {
        ringgroup_results::names::scenario::of(
            ringgroup_results::names::scenario::COMPARE,
            self.name(),
        )
    }

    fn threads(self) -> usize {
        Case::threads(self)
    }

    fn run(self, system: System, plan: &Plan) -> Result<Sample, String> {
        run(system, self, plan)
    }

    fn messages_for(self, system: System, base: u64, batch: usize) -> u64 {
        crate::alternate::messages_for(self, system, base, batch)
    }

    fn whole(self, messages: u64, batch: usize) -> u64 {
        crate::alternate::whole(self, messages, batch)
    }
}

/// How a thread that cannot make progress waits, in every system alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waiting {
    /// Spin with the CPU's spin hint.
    Spin,
    /// Yield the time slice between checks.
    Yield,
}

impl Waiting {
    /// The name used in records.
    pub fn name(self) -> &'static str {
        match self {
            Waiting::Spin => "spin",
            Waiting::Yield => "yield",
        }
    }

    /// ringgroup's matching strategy (its own waits are not used: the adapters call `try_*`).
    pub fn ring_strategy(self) -> ringgroup::ring::WaitStrategy {
        match self {
            Waiting::Spin => ringgroup::ring::WaitStrategy::BusySpin,
            Waiting::Yield => ringgroup::ring::WaitStrategy::Yield,
        }
    }

    /// One pause.
    #[inline(always)]
    pub fn pause(self) {
        match self {
            Waiting::Spin => spin_loop(),
            Waiting::Yield => thread::yield_now(),
        }
    }
}

/// Pauses between clock reads while idle: the clock stays off the fast path.
const PAUSES_PER_CLOCK_READ: u32 = 1 << 12;

/// The waiting of one thread between two steps of progress: pauses, and fails after [`STALL`].
pub struct Idle {
    waiting: Waiting,
    pauses: u32,
    since: Option<Instant>,
}

impl Idle {
    /// Not idle yet.
    #[inline(always)]
    pub fn new(waiting: Waiting) -> Self {
        Self {
            waiting,
            pauses: 0,
            since: None,
        }
    }

    /// Progress was made: the stall clock starts over.
    #[inline(always)]
    pub fn reset(&mut self) {
        if self.pauses != 0 {
            self.pauses = 0;
            self.since = None;
        }
    }

    /// Pauses once; `Err` once no progress was made for [`STALL`].
    #[inline(always)]
    pub fn wait(&mut self) -> Result<(), String> {
        self.waiting.pause();
        self.pauses = self.pauses.wrapping_add(1);
        if self.pauses % PAUSES_PER_CLOCK_READ == 0 {
            self.check()
        } else {
            Ok(())
        }
    }

    #[cold]
    fn check(&mut self) -> Result<(), String> {
        let now = Instant::now();
        match self.since {
            None => self.since = Some(now),
            Some(since) if now - since >= STALL => {
                return Err(format!("no progress for {} s", STALL.as_secs()));
            }
            Some(_) => {}
        }
        Ok(())
    }
}

/// The sending side of a queue of `u64`, without waiting.
pub trait Tx: Send {
    /// Sends `value` if there is room now, else hands it back.
    fn try_send(&mut self, value: u64) -> Result<(), u64>;

    /// Sends `first..first + n`, waiting under `waiting` as needed. The default sends them one
    /// by one; systems with a batch operation override it.
    fn send_batch(&mut self, first: u64, n: usize, waiting: Waiting) -> Result<(), String> {
        for value in first..first + n as u64 {
            send(self, value, waiting)?;
        }
        Ok(())
    }
}

/// The receiving side of a queue of `u64`, without waiting.
pub trait Rx: Send {
    /// The next message, if one is ready.
    fn try_recv(&mut self) -> Option<u64>;

    /// Hands up to `max` ready messages to `each`, in order, as one or two slices, and
    /// returns how many (0: none ready). The default takes one; systems with a batch operation
    /// override it. Slices, not single values, so that the consumer's check of a batch is one
    /// shared function ([`Expect::check_all`]) for every system.
    fn try_recv_batch(&mut self, max: usize, each: &mut impl FnMut(&[u64])) -> usize {
        let _ = max;
        match self.try_recv() {
            Some(value) => {
                each(&[value]);
                1
            }
            None => 0,
        }
    }

    /// Hands everything ready now to `each`, in order, as one receive (`spsc-drain`), and
    /// returns how many (0: none ready). Systems that lend what is ready as one batch and
    /// release it at once override it; the default takes messages one by one until none is
    /// ready, or `limit` (the queue's capacity: more than it holds at any one time) were taken,
    /// so that a drain always ends.
    fn try_drain(&mut self, limit: usize, each: &mut impl FnMut(&[u64])) -> usize {
        let mut taken = 0;
        while taken < limit {
            match self.try_recv() {
                Some(value) => {
                    each(&[value]);
                    taken += 1;
                }
                None => break,
            }
        }
        taken
    }
}

/// Sends `value`, waiting under `waiting` while the queue is full.
#[inline(always)]
pub fn send<T: Tx + ?Sized>(tx: &mut T, value: u64, waiting: Waiting) -> Result<(), String> {
    let mut value = value;
    let mut idle = Idle::new(waiting);
    loop {
        match tx.try_send(value) {
            Ok(()) => return Ok(()),
            Err(back) => {
                value = back;
                idle.wait()?;
            }
        }
    }
}

/// Receives the next message, waiting under `waiting` while the queue is empty.
#[inline(always)]
pub fn recv<R: Rx + ?Sized>(rx: &mut R, waiting: Waiting) -> Result<u64, String> {
    let mut idle = Idle::new(waiting);
    loop {
        match rx.try_recv() {
            Some(value) => return Ok(value),
            None => idle.wait()?,
        }
    }
}

/// A consumer's check: the messages must be exactly `0, 1, 2, ...`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Expect {
    /// The next value expected (also: how many messages were received).
    pub next: u64,
    /// The first wrong message: (received, expected).
    broken: Option<(u64, u64)>,
}

impl Expect {
    /// Checks one received message.
    #[inline(always)]
    pub fn check(&mut self, value: u64) {
        if value != self.next {
            self.note(value);
        }
        self.next += 1;
    }

    /// Checks a run of received messages. Never inlined: every system's batch consumer calls
    /// this same machine code, so the check costs them all alike. (Inlined into each system's
    /// consumer loop, the compiler vectorised it for some systems and not others, and the
    /// choice moved from build to build of the harness: spsc-batch figures of ringgroup and rtrb
    /// went from about 400 to about 1300 M msg/s between two builds of the same library.)
    #[inline(never)]
    pub fn check_all(&mut self, values: &[u64]) {
        let first = self.next;
        let mut ok = true;
        for (i, &value) in values.iter().enumerate() {
            ok &= value == first.wrapping_add(i as u64);
        }
        if ok {
            self.next = first + values.len() as u64;
        } else {
            for &value in values {
                self.check(value);
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn note(&mut self, value: u64) {
        if self.broken.is_none() {
            self.broken = Some((value, self.next));
        }
    }

    /// The first wrong message, if any: (received, expected).
    pub fn broken(&self) -> Option<(u64, u64)> {
        self.broken
    }

    /// `Err` describing the first wrong message, if any.
    pub fn verdict(&self) -> Result<(), String> {
        match self.broken {
            None => Ok(()),
            Some((got, want)) => Err(format!("received {got} where {want} was expected")),
        }
    }
}

/// What one run is given.
#[derive(Clone, Copy)]
pub struct Plan<'a> {
    /// Where threads go: producer (or pinger) in slot 0, consumers (or echo) in slots 1, 2, ...
    pub cores: &'a Cores,
    /// Slots in every queue.
    pub capacity: usize,
    /// Messages per send and receive in `spsc-batch`; at most per receive in `fanout-3`,
    /// `mpsc` and `mpmc`, and per responder poll in `reply`.
    pub batch: usize,
    /// Messages per run (round trips for `ping-pong`, requests for `reply`).
    pub messages: u64,
    /// How waiting threads wait.
    pub waiting: Waiting,
    /// `ping-pong` and `reply/round-trip` only: stop after this long, even short of `messages`
    /// round trips.
    pub deadline: Option<Duration>,
}

impl Plan<'_> {
    /// The core id of thread `slot`, for systems that pin their own threads; `None` when the OS
    /// gives no core list.
    pub fn core_id(&self, slot: usize) -> Option<usize> {
        let ids = self.cores.ids();
        (!ids.is_empty()).then(|| ids[slot % ids.len()])
    }

    /// Round trips in this ping-pong run that warm up and are not recorded.
    pub fn warmup_round_trips(&self) -> u64 {
        warmup_round_trips(self.messages)
    }
}

/// Round trips that warm up a ping-pong run of `round_trips` and are not recorded: a tenth, at
/// most 10 000.
pub fn warmup_round_trips(round_trips: u64) -> u64 {
    (round_trips / 10).min(10_000)
}

/// What one run measured.
pub enum Sample {
    /// A stream case: messages per second.
    Rate {
        /// Messages per second, in millions.
        mmsgs_per_s: f64,
        /// Allocations on the data-path threads, per message sent.
        allocs_per_msg: f64,
    },
    /// Ping-pong: the round-trip histogram.
    RoundTrip {
        /// Round-trip times in nanoseconds.
        histogram: Histogram<u64>,
        /// Allocations on the two threads, per one-way message.
        allocs_per_msg: f64,
        /// The run stopped at its deadline, short of its planned round trips.
        cut_short: bool,
    },
}

impl Sample {
    /// A stream run's rate in M msg/s (NaN for ping-pong).
    pub fn rate(&self) -> f64 {
        match self {
            Sample::Rate { mmsgs_per_s, .. } => *mmsgs_per_s,
            Sample::RoundTrip { .. } => f64::NAN,
        }
    }

    /// The value at `quantile` (`None`: the maximum) of a ping-pong run's round trips, in ns
    /// (NaN for a stream).
    pub fn percentile(&self, quantile: Option<f64>) -> f64 {
        match self {
            Sample::RoundTrip { histogram, .. } => stats::quantile(histogram, quantile) as f64,
            Sample::Rate { .. } => f64::NAN,
        }
    }

    /// The run in a progress line.
    pub fn describe(&self) -> String {
        match self {
            Sample::Rate { mmsgs_per_s, .. } => format!("{mmsgs_per_s:.1} M msg/s"),
            Sample::RoundTrip { .. } => format!(
                "round trip p50 {:.0} ns, p99 {:.0} ns",
                self.percentile(Some(0.5)),
                self.percentile(Some(0.99))
            ),
        }
    }

    /// A ping-pong run that stopped at its deadline.
    pub fn cut_short(&self) -> bool {
        matches!(
            self,
            Sample::RoundTrip {
                cut_short: true,
                ..
            }
        )
    }

    /// Allocations per message of this run.
    pub fn allocs_per_msg(&self) -> f64 {
        match self {
            Sample::Rate { allocs_per_msg, .. } | Sample::RoundTrip { allocs_per_msg, .. } => {
                *allocs_per_msg
            }
        }
    }
}

/// One run with what it cost: its wall time and the share of its cores the process got.
pub struct Measured {
    /// What the run measured.
    pub sample: Sample,
    /// From before the queues were built until the last thread was joined.
    pub wall: Duration,
    /// Process CPU time ÷ (busy cores × `wall`): about 1 when nothing else ran on the cores,
    /// less when other work or the host took them (`None` without a CPU clock). See `cpu`.
    pub cpu_share: Option<f64>,
    /// Messages (recorded round trips) the run got through: `plan.messages`, or fewer for a
    /// ping-pong cut short by its deadline.
    pub done: u64,
}

/// Runs `workload` once on `system` (as [`Workload::run`]), with its wall time and CPU share.
pub fn measure<W: Workload>(system: System, workload: W, plan: &Plan) -> Result<Measured, String> {
    // Every thread of a run spins, or yields to the others on shared cores: they keep this
    // many cores busy.
    let busy = workload.threads().min(plan.cores.count());
    let share = cpu::Share::start(busy);
    let sample = workload.run(system, plan)?;
    let (wall, cpu_share) = share.finish();
    let done = match &sample {
        Sample::RoundTrip { histogram, .. } => histogram.len(),
        Sample::Rate { .. } => plan.messages,
    };
    Ok(Measured {
        sample,
        wall,
        cpu_share,
        done,
    })
}

/// Runs `case` once on `system`.
pub fn run(system: System, case: Case, plan: &Plan) -> Result<Sample, String> {
    match case {
        Case::Spsc | Case::SpscDrain | Case::SpscBatch => {
            // One message per send in spsc and spsc-drain, a batch per send in spsc-batch.
            let (send, receive) = match case {
                Case::Spsc => (None, drive::Receive::One),
                Case::SpscDrain => (None, drive::Receive::Drain),
                _ => (Some(plan.batch), drive::Receive::UpTo(plan.batch)),
            };
            match system {
                System::Ringgroup => {
                    let (tx, rx) = ringgroup_ring::broadcast(plan, 1)?;
                    drive::stream(tx, rx, send, receive, plan)
                }
                System::RinggroupGroup => {
                    let (tx, rx) = ringgroup_group::broadcast(plan, 1)?;
                    drive::stream(tx, rx, send, receive, plan)
                }
                System::Rtrb => {
                    let (tx, rx) = rtrb_ring::pair(plan);
                    drive::stream(tx, vec![rx], send, receive, plan)
                }
                // One per receive: the event poller on our consumer thread, one event per
                // `take`. Draining, and batches: the managed handler, which drains.
                System::Disruptor if case == Case::Spsc => {
                    let (tx, rx) = disruptor_ring::polled(plan);
                    drive::stream(tx, vec![rx], send, receive, plan)
                }
                System::Disruptor => disruptor_ring::managed(send, plan),
                System::CrossbeamChannel => {
                    let (tx, rx) = crossbeam::channel(plan);
                    drive::stream(tx, vec![rx], send, receive, plan)
                }
                System::CrossbeamQueue => {
                    let (tx, rx) = crossbeam::queue(plan);
                    drive::stream(tx, vec![rx], send, receive, plan)
                }
                System::Bus => {
                    let (tx, rx) = bus_broadcast::broadcast(plan, 1);
                    drive::stream(tx, rx, send, receive, plan)
                }
                System::Floor => Err(only_ping_pong()),
            }
            .map(drive::Throughput::sample)
        }
        Case::Fanout3 => {
            let receive = drive::Receive::UpTo(plan.batch);
            match system {
                System::Ringgroup => {
                    let (tx, rx) = ringgroup_ring::broadcast(plan, 3)?;
                    drive::stream(tx, rx, None, receive, plan)
                }
                System::RinggroupGroup => {
                    let (tx, rx) = ringgroup_group::broadcast(plan, 3)?;
                    drive::stream(tx, rx, None, receive, plan)
                }
                System::Disruptor => disruptor_ring::fanout3(plan),
                System::Bus => {
                    let (tx, rx) = bus_broadcast::broadcast(plan, 3);
                    drive::stream(tx, rx, None, receive, plan)
                }
                System::Floor => Err(only_ping_pong()),
                other => Err(format!("{} cannot broadcast", other.name())),
            }
            .map(drive::Throughput::sample)
        }
        Case::Mpsc | Case::Mpmc => {
            let consumers = case.consumers();
            match system {
                System::Ringgroup => {
                    let (txs, rxs) = ringgroup_ring::shared(plan, multi::PRODUCERS, consumers)?;
                    multi::stream(txs, rxs, multi::Sharing::Broadcast, plan)
                }
                System::RinggroupGroup => {
                    let (txs, rxs) = ringgroup_group::shared(plan, multi::PRODUCERS, consumers)?;
                    multi::stream(txs, rxs, multi::Sharing::Broadcast, plan)
                }
                System::Disruptor => disruptor_ring::multi(consumers, plan),
                System::CrossbeamChannel => {
                    let (txs, rxs) = crossbeam::channels(plan, multi::PRODUCERS, consumers);
                    multi::stream(txs, rxs, multi::Sharing::Queue, plan)
                }
                System::CrossbeamQueue => {
                    let (txs, rxs) = crossbeam::queues(plan, multi::PRODUCERS, consumers);
                    multi::stream(txs, rxs, multi::Sharing::Queue, plan)
                }
                System::Floor => Err(only_ping_pong()),
                other => Err(format!("{} takes only one producer", other.name())),
            }
            .map(drive::Throughput::sample)
        }
        Case::PingPong => match system {
            System::Ringgroup => {
                let (ping_tx, mut ping_rx) = ringgroup_ring::broadcast(plan, 1)?;
                let (pong_tx, mut pong_rx) = ringgroup_ring::broadcast(plan, 1)?;
                let (ping_rx, pong_rx) = (only(&mut ping_rx)?, only(&mut pong_rx)?);
                drive::ping_pong((ping_tx, pong_rx), (ping_rx, pong_tx), plan)
            }
            System::RinggroupGroup => {
                let (ping_tx, mut ping_rx) = ringgroup_group::broadcast(plan, 1)?;
                let (pong_tx, mut pong_rx) = ringgroup_group::broadcast(plan, 1)?;
                let (ping_rx, pong_rx) = (only(&mut ping_rx)?, only(&mut pong_rx)?);
                drive::ping_pong((ping_tx, pong_rx), (ping_rx, pong_tx), plan)
            }
            System::Rtrb => {
                let ((ping_tx, ping_rx), (pong_tx, pong_rx)) =
                    (rtrb_ring::pair(plan), rtrb_ring::pair(plan));
                drive::ping_pong((ping_tx, pong_rx), (ping_rx, pong_tx), plan)
            }
            System::Disruptor => disruptor_ring::ping_pong(plan),
            System::CrossbeamChannel => {
                let ((ping_tx, ping_rx), (pong_tx, pong_rx)) =
                    (crossbeam::channel(plan), crossbeam::channel(plan));
                drive::ping_pong((ping_tx, pong_rx), (ping_rx, pong_tx), plan)
            }
            System::CrossbeamQueue => {
                let ((ping_tx, ping_rx), (pong_tx, pong_rx)) =
                    (crossbeam::queue(plan), crossbeam::queue(plan));
                drive::ping_pong((ping_tx, pong_rx), (ping_rx, pong_tx), plan)
            }
            System::Bus => {
                let (ping_tx, mut ping_rx) = bus_broadcast::broadcast(plan, 1);
                let (pong_tx, mut pong_rx) = bus_broadcast::broadcast(plan, 1);
                let (ping_rx, pong_rx) = (only(&mut ping_rx)?, only(&mut pong_rx)?);
                drive::ping_pong((ping_tx, pong_rx), (ping_rx, pong_tx), plan)
            }
            System::Floor => {
                let ((ping_tx, ping_rx), (pong_tx, pong_rx)) = (floor::line(), floor::line());
                drive::ping_pong((ping_tx, pong_rx), (ping_rx, pong_tx), plan)
            }
        }
        .map(drive::RoundTrips::sample),
    }
}

fn only_ping_pong() -> String {
    "floor has no queue: it runs only ping-pong".into()
}

/// The single reader of a one-reader broadcast.
fn only<R>(readers: &mut Vec<R>) -> Result<R, String> {
    match (readers.pop(), readers.is_empty()) {
        (Some(reader), true) => Ok(reader),
        _ => Err("expected exactly one reader".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn every_system_runs_every_case_it_can() {
        let cores = Cores::new(&[]).unwrap();
        for case in Case::ALL {
            for system in System::ALL.into_iter().filter(|s| s.can_run(case)) {
                let sample = run(system, case, &plan(&cores, 1000));
                assert!(
                    sample.is_ok(),
                    "{}/{}: {:?}",
                    case.name(),
                    system.name(),
                    sample.err()
                );
            }
        }
        assert!(run(System::Rtrb, Case::Fanout3, &plan(&cores, 10)).is_err());
        for case in [Case::Mpsc, Case::Mpmc] {
            for single in [System::Rtrb, System::Bus, System::Floor] {
                assert!(!single.can_run(case));
                assert!(run(single, case, &plan(&cores, 10)).is_err());
            }
        }
        for case in [Case::Spsc, Case::SpscDrain, Case::SpscBatch, Case::Fanout3] {
            assert!(!System::Floor.can_run(case));
            assert!(run(System::Floor, case, &plan(&cores, 10)).is_err());
        }
    }

    /// Sends 99 in place of 5.
    struct Corrupting<T>(T);

    impl<T: Tx> Tx for Corrupting<T> {
        fn try_send(&mut self, value: u64) -> Result<(), u64> {
            let sent = if value == 5 { 99 } else { value };
            self.0.try_send(sent).map_err(|_| value)
        }
    }

    /// Sends a producer's message 5 as its message 99.
    struct SkipsAhead<T>(T);

    impl<T: Tx> Tx for SkipsAhead<T> {
        fn try_send(&mut self, value: u64) -> Result<(), u64> {
            let sent = if value & 0xFFFF_FFFF == 5 {
                value + 94
            } else {
                value
            };
            self.0.try_send(sent).map_err(|_| value)
        }
    }

    /// Echoes `value + 1`.
    struct OffByOne<R>(R);

    impl<R: Rx> Rx for OffByOne<R> {
        fn try_recv(&mut self) -> Option<u64> {
            // The stop message stays as it is, so the echo still stops.
            self.0
                .try_recv()
                .map(|v| if v == drive::STOP { v } else { v + 1 })
        }
    }

    #[test]
    fn a_wrong_message_fails_the_run() {
        let cores = Cores::new(&[]).unwrap();
        let plan = plan(&cores, 1000);
        for (send, receive) in [
            (None, drive::Receive::One),
            (None, drive::Receive::Drain),
            (Some(16), drive::Receive::UpTo(16)),
        ] {
            let (tx, rx) = ringgroup_ring::broadcast(&plan, 2).unwrap();
            let err = drive::stream(Corrupting(tx), rx, send, receive, &plan).err();
            assert!(err.is_some_and(|e| e.contains("received 99 where 5 was expected")));
            let (tx, rx) = ringgroup_group::broadcast(&plan, 2).unwrap();
            let err = drive::stream(Corrupting(tx), rx, send, receive, &plan).err();
            assert!(err.is_some_and(|e| e.contains("received 99 where 5 was expected")));
            let (tx, rx) = crossbeam::queue(&plan);
            let err = drive::stream(Corrupting(tx), vec![rx], send, receive, &plan).err();
            assert!(err.is_some_and(|e| e.contains("received 99 where 5 was expected")));
        }
        let ((ping_tx, ping_rx), (pong_tx, pong_rx)) =
            (rtrb_ring::pair(&plan), rtrb_ring::pair(&plan));
        let err = drive::ping_pong((ping_tx, pong_rx), (OffByOne(ping_rx), pong_tx), &plan).err();
        assert!(err.is_some_and(|e| e.contains("received 1 where 0 was expected")));
        // Two producers: message 5 (whichever producer sends it) replaced by the same
        // producer's 99 breaks that producer's order, through a broadcast and through a queue.
        let (txs, rxs) = ringgroup_ring::shared(&plan, multi::PRODUCERS, 2).unwrap();
        let txs = txs.into_iter().map(SkipsAhead).collect();
        let err = multi::stream(txs, rxs, multi::Sharing::Broadcast, &plan).err();
        assert!(err.is_some_and(|e| e.contains("where at least 100")));
        let (txs, rxs) = crossbeam::queues(&plan, multi::PRODUCERS, 1);
        let txs = txs.into_iter().map(SkipsAhead).collect();
        let err = multi::stream(txs, rxs, multi::Sharing::Queue, &plan).err();
        assert!(err.is_some_and(|e| e.contains("where at least 100")));
    }

    #[test]
    fn names_are_the_results_schemas() {
        // Every system by its schema name, in the schema's order.
        let ranks = System::ALL.map(|s| system::rank(s.name()));
        assert!(ranks.iter().all(|&r| r < system::ALL.len()), "{ranks:?}");
        assert!(ranks.windows(2).all(|w| w[0] < w[1]), "{ranks:?}");
        for s in System::ALL {
            let value = clap::ValueEnum::to_possible_value(&s).unwrap();
            assert_eq!(value.get_name(), s.name());
        }
        assert_eq!(
            Case::ALL.map(Case::name),
            ringgroup_results::names::scenario::COMPARE_CASES
        );
    }

    #[test]
    fn a_batch_check_keeps_the_first_wrong_message_too() {
        let mut expect = Expect::default();
        expect.check_all(&[0, 1, 2]);
        assert_eq!((expect.next, expect.broken()), (3, None));
        expect.check_all(&[3, 9, 5, 6]);
        assert_eq!(expect.next, 7);
        assert_eq!(expect.broken(), Some((9, 4)));
        expect.check_all(&[]);
        assert_eq!(expect.next, 7);
    }

    #[test]
    fn expect_keeps_the_first_wrong_message() {
        let mut expect = Expect::default();
        for v in [0, 1, 7, 8, 4] {
            expect.check(v);
        }
        assert_eq!(expect.next, 5);
        assert_eq!(expect.broken(), Some((7, 2)));
        assert!(expect.verdict().is_err());
    }
}
