//! SPSC throughput: ringgroup's ring against `rtrb` and `disruptor`.
//!
//! Scenario: one producer thread sends the `u64` values `0, 1, 2, ...` through a ring of
//! capacity 4096 to one consumer thread, which checks that every value is the next one expected
//! (so the bench cannot silently measure nothing). Two modes:
//!
//! - `spsc/single`: one message per publish and one per poll.
//! - `spsc/batch256`: batches of 256 messages per publish; polls take up to 256.
//!
//! Every criterion iteration builds a fresh ring and moves a fixed number of messages; its time
//! runs from the producer's first publish until the consumer has checked the last message.
//! Thread setup and teardown are outside the timed span. The producer is pinned to the first
//! available core and the consumer to the second (no pinning on a one-core machine). All three
//! systems busy-spin while waiting.
//!
//! Every system's handles are wrapped in `CachePadded`: the handles of one ring live side by
//! side in this function's frame, and unpadded they can share a cache line that the producer
//! and the consumer both write (false sharing that halves some systems' figures by chance of
//! layout).
//!
//! Structure per system: `ringgroup` and `rtrb` run producer and consumer on two fresh threads
//! ([`run_pair`]). `disruptor` runs its consumer as its own managed event-handler thread
//! (pinned with `pin_at_core`), so only the producer is our thread ([`run_producer`]); the
//! handler signals completion through an atomic that the producer thread spins on. Note that a
//! disruptor handler always drains everything published so far before updating its cursor, so
//! its consumer batches even in `single` mode.

use std::hint::spin_loop;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use crossbeam_utils::CachePadded;
use disruptor::{BusySpin, ProcessorSettings as _, Producer as _, Sequence};
use ringgroup::affinity::{available_cores, pin_current_thread};
use ringgroup::ring::{Ring, StartAt, WaitStrategy};

/// Slots in every ring.
const CAPACITY: usize = 4096;
/// Messages per publish and at most per poll in batch mode.
const BATCH: usize = 256;
/// Index in [`available_cores`] of the producer's core.
const PRODUCER_CORE: usize = 0;
/// Index in [`available_cores`] of the consumer's core.
const CONSUMER_CORE: usize = 1;

#[derive(Clone, Copy, Debug)]
enum Mode {
    Single,
    Batch,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Single => "single",
            Mode::Batch => "batch256",
        }
    }

    /// Messages moved per criterion iteration (a multiple of [`BATCH`]).
    fn messages(self) -> u64 {
        match self {
            Mode::Single => 1 << 20,
            Mode::Batch => 1 << 22,
        }
    }
}

/// The consumer's check: every message must be the next value of `0, 1, 2, ...`.
#[derive(Default)]
struct Expect {
    next: u64,
}

impl Expect {
    #[inline(always)]
    fn check(&mut self, value: u64) {
        if value != self.next {
            mismatch(value, self.next);
        }
        self.next += 1;
    }
}

#[cold]
#[inline(never)]
fn mismatch(got: u64, expected: u64) -> ! {
    panic!("consumer received {got}, expected {expected}");
}

/// Pins the calling thread to `available_cores()[index]`; does nothing on a one-core machine.
fn pin(index: usize) {
    if available_cores().len() > CONSUMER_CORE {
        pin_current_thread(index).expect("pinning a bench thread");
    }
}

/// Spins until `n` threads have called it on the same counter: a start line that does not add a
/// futex wake-up to the timed span.
fn start_line(arrived: &AtomicUsize, n: usize) {
    arrived.fetch_add(1, Ordering::AcqRel);
    while arrived.load(Ordering::Acquire) < n {
        spin_loop();
    }
}

/// Runs `produce` on a fresh thread on the producer core and `consume` on a fresh thread on the
/// consumer core, released together; returns the time from the start of `produce` until
/// `consume` returns.
fn run_pair(produce: impl FnOnce() + Send, consume: impl FnOnce() + Send) -> Duration {
    let arrived = AtomicUsize::new(0);
    thread::scope(|s| {
        let consumer = s.spawn(|| {
            pin(CONSUMER_CORE);
            start_line(&arrived, 2);
            consume();
            Instant::now()
        });
        let producer = s.spawn(|| {
            pin(PRODUCER_CORE);
            start_line(&arrived, 2);
            let start = Instant::now();
            produce();
            start
        });
        let start = producer.join().expect("producer panicked");
        let end = consumer.join().expect("consumer panicked");
        end.saturating_duration_since(start)
    })
}

/// Runs `produce_and_wait` on a fresh thread on the producer core and times it; used when the
/// consumer is a thread owned by the system under test.
fn run_producer(produce_and_wait: impl FnOnce() + Send) -> Duration {
    thread::scope(|s| {
        s.spawn(|| {
            pin(PRODUCER_CORE);
            let start = Instant::now();
            produce_and_wait();
            start.elapsed()
        })
        .join()
        .expect("producer panicked")
    })
}

/// ringgroup: `publish` / `poll(1)`, or `claim(256)` / `poll(256)`.
fn ringgroup(mode: Mode) -> Duration {
    let n = mode.messages();
    let (writer, subscriber) = Ring::<u64>::builder()
        .capacity(CAPACITY)
        .wait_strategy(WaitStrategy::BusySpin)
        .build()
        .expect("valid ring configuration");
    let reader = subscriber
        .subscribe(StartAt::Earliest)
        .expect("a free reader slot");
    let (mut writer, mut reader) = (CachePadded::new(writer), CachePadded::new(reader));
    let max_poll = match mode {
        Mode::Single => 1,
        Mode::Batch => BATCH,
    };
    let consume = || {
        let mut expect = Expect::default();
        while expect.next < n {
            let batch = reader.poll(max_poll).expect("ring closed early");
            for &value in batch.iter() {
                expect.check(value);
            }
        }
    };
    match mode {
        Mode::Single => run_pair(
            || {
                for value in 0..n {
                    writer.publish(value);
                }
            },
            consume,
        ),
        Mode::Batch => run_pair(
            || {
                for first in (0..n).step_by(BATCH) {
                    let mut claim = writer.claim(BATCH).expect("batch fits the ring");
                    claim.extend(first..first + BATCH as u64);
                    claim.publish();
                }
            },
            consume,
        ),
    }
}

/// rtrb: `push` / `pop`, or `write_chunk_uninit(256)` / `read_chunk(up to 256)`.
fn rtrb(mode: Mode) -> Duration {
    let n = mode.messages();
    let (producer, consumer) = rtrb::RingBuffer::<u64>::new(CAPACITY);
    let (mut producer, mut consumer) = (CachePadded::new(producer), CachePadded::new(consumer));
    match mode {
        Mode::Single => run_pair(
            || {
                for value in 0..n {
                    while producer.push(value).is_err() {
                        spin_loop();
                    }
                }
            },
            || {
                let mut expect = Expect::default();
                while expect.next < n {
                    match consumer.pop() {
                        Ok(value) => expect.check(value),
                        Err(_) => spin_loop(),
                    }
                }
            },
        ),
        Mode::Batch => run_pair(
            || {
                let mut first = 0;
                while first < n {
                    match producer.write_chunk_uninit(BATCH) {
                        Ok(chunk) => {
                            chunk.fill_from_iter(first..first + BATCH as u64);
                            first += BATCH as u64;
                        }
                        Err(_) => spin_loop(),
                    }
                }
            },
            || {
                let mut expect = Expect::default();
                while expect.next < n {
                    // Like ringgroup's reader: reload the shared tail only when the cached
                    // count cannot fill a whole batch.
                    let mut ready = consumer.cached_slots();
                    if ready < BATCH {
                        ready = consumer.slots();
                    }
                    if ready == 0 {
                        spin_loop();
                        continue;
                    }
                    let chunk = consumer
                        .read_chunk(ready.min(BATCH))
                        .expect("slots were counted as readable");
                    let (head, tail) = chunk.as_slices();
                    for &value in head.iter().chain(tail) {
                        expect.check(value);
                    }
                    chunk.commit_all();
                }
            },
        ),
    }
}

/// disruptor: `publish` or `batch_publish(256)`, consumed by a managed event handler.
fn disruptor(mode: Mode) -> Duration {
    let n = mode.messages();
    let received = Arc::new(AtomicU64::new(0));
    let handler = {
        let received = Arc::clone(&received);
        let mut expect = Expect::default();
        move |value: &u64, _: Sequence, _end_of_batch: bool| {
            expect.check(*value);
            if expect.next == n {
                received.store(n, Ordering::Release);
            }
        }
    };
    // Built on the unpinned bench thread: `pin_at_core` checks the id against the calling
    // thread's own affinity mask.
    let builder = disruptor::build_single_producer(CAPACITY, || 0_u64, BusySpin);
    let builder = match available_cores().get(CONSUMER_CORE) {
        Some(core) => builder.pin_at_core(core.id),
        None => builder,
    };
    let mut producer = CachePadded::new(builder.handle_events_with(handler).build());
    run_producer(|| {
        match mode {
            Mode::Single => {
                for value in 0..n {
                    producer.publish(|slot| *slot = value);
                }
            }
            Mode::Batch => {
                for first in (0..n).step_by(BATCH) {
                    producer.batch_publish(BATCH, |slots| {
                        for (slot, value) in slots.zip(first..) {
                            *slot = value;
                        }
                    });
                }
            }
        }
        while received.load(Ordering::Acquire) < n {
            spin_loop();
        }
    })
    // Dropping `producer` here, after the clock stopped, shuts down and joins the handler.
}

type System = fn(Mode) -> Duration;

const SYSTEMS: [(&str, System); 3] = [
    ("ringgroup", ringgroup),
    ("rtrb", rtrb),
    ("disruptor", disruptor),
];

fn spsc(c: &mut Criterion) {
    // Read the full core list before any thread is pinned.
    let cores = available_cores().len();
    if cores <= CONSUMER_CORE {
        eprintln!("only {cores} core(s) available: threads are not pinned");
    }
    for mode in [Mode::Single, Mode::Batch] {
        let mut group = c.benchmark_group(format!("spsc/{}", mode.name()));
        group
            .throughput(Throughput::Elements(mode.messages()))
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(5));
        for (name, run) in SYSTEMS {
            group.bench_function(name, |b| {
                b.iter_custom(|iters| (0..iters).map(|_| run(mode)).sum())
            });
        }
        group.finish();
    }
}

criterion_group!(benches, spsc);
criterion_main!(benches);
