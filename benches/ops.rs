//! Micro-operations on one thread: the cost of each data-path call with no peer to contend
//! with (contended figures come from the `ringgroup-bench` harness).
//!
//! Every benchmark times a run of one operation in chunks ([`Op`], [`measure`]): an untimed
//! `prepare` makes the chunk possible (publishes the messages a poll will read, or nothing),
//! the timed `run` performs the operations, and an untimed `finish` checks that they took
//! effect and frees the ring for the next chunk (drains what was published, checks the group's
//! committed offset). Messages are `u64`s equal to their offsets, and every read is checked
//! against its offset, so a bench cannot silently measure nothing. A chunk is a ring's worth of
//! operations (2^20 for the ownership check), so one clock pair per chunk keeps timer overhead
//! out of the figures. Rings are [`CAPACITY`] slots with one reader (or one group cursor), so
//! every offset of a chunk is free to write and ready to read.
//!
//! - `ops/publish`: `Writer::publish` of one message, under `BusySpin` (one `Release` store)
//!   and under `SpinThenPark` (adds the notifier's `SeqCst` fence). The reader drains outside
//!   the timed span; the writer's cached limit runs out once per chunk, so the figure includes
//!   one reader rescan per ring lap, as in steady state.
//! - `ops/publish_batch`: 256 messages per iteration, by `publish_batch` of a range and by
//!   `claim(256)` plus 256 `push`es. Drained outside the timed span, as above.
//! - `ops/poll`: `Reader::try_poll` of 1 and of 256 from a ring filled outside the timed span,
//!   released by dropping the batch. Only the first message of each batch is read (and
//!   checked); processing the rest is the caller's cost, not the poll's.
//! - `ops/commit`: on a one-partition group whose member owns the partition: `commit_offset`
//!   moving the commit one offset at a time over messages polled outside the timed span
//!   (`auto_commit(false)`); `poll(1)` plus drop under auto-commit; and `poll(1)`, drop and
//!   `commit_offset` under manual commit.
//! - `ops/ownership_check`: `Consumer::is_owner` of the owned partition (must be true).
//! - `ops/epoch_check`: the epoch check (an `Acquire` load of the group's epoch compared with
//!   the member's last seen epoch) runs inside `Consumer::poll` and is not public on its own.
//!   It is measured as `Consumer::poll(1, Duration::ZERO)` plus drop under auto-commit against
//!   the ring's bare `try_poll(1)` plus drop on the same data: both release the message when
//!   the batch drops, so the difference is the group layer on the hot path (heartbeat,
//!   deadline, epoch and eviction checks, lease taken and ended, turn choice). With no
//!   rebalance the epoch load hits a cache line nobody writes, so its share of that difference
//!   is small next to the clock read and the atomic read-modify-writes. The rows repeat
//!   `ops/commit/poll_auto_commit` and `ops/poll/try_poll_1` so that the pair sits in one
//!   criterion group.
//!
//! Group members get a one-hour `max_poll_interval`: `is_owner` and `commit_offset` do not
//! count as polls, and an eviction mid-run would fence the member.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use ringgroup::group::{Consumer, Group};
use ringgroup::ring::{Reader, Ring, StartAt, WaitStrategy, Writer};
use ringgroup::topic::{Producer, Topic};
use ringgroup::ConsumeError;

/// Slots in every ring; also the largest chunk of messages timed in one span.
const CAPACITY: usize = 4096;
/// Messages per batch in the batch benchmarks.
const BATCH: usize = 256;
/// The only partition of the group benchmarks' topic.
const PARTITION: u32 = 0;
/// Long enough that no member is evicted during a run.
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(3600);

/// One benchmarked operation and the untimed work around it.
trait Op {
    /// Most operations one timed span may run.
    fn chunk(&self) -> u64;
    /// Untimed: makes `n` operations possible.
    fn prepare(&mut self, _n: u64) {}
    /// Timed: runs `n` operations.
    fn run(&mut self, n: u64);
    /// Untimed: checks that the `n` operations took effect and frees what they hold.
    fn finish(&mut self, n: u64);
}

/// Runs `iters` operations of `op` in chunks and returns the time spent in [`Op::run`] only.
fn measure(op: &mut impl Op, iters: u64) -> Duration {
    let mut timed = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(op.chunk());
        op.prepare(n);
        let start = Instant::now();
        op.run(n);
        timed += start.elapsed();
        op.finish(n);
        left -= n;
    }
    timed
}

#[cold]
#[inline(never)]
fn mismatch(what: &str, got: u64, expected: u64) -> ! {
    panic!("{what}: got {got}, expected {expected}");
}

/// A ring of [`CAPACITY`] `u64` slots with one reader.
fn ring(strategy: WaitStrategy) -> (Writer<u64>, Reader<u64>) {
    let (writer, subscriber) = Ring::<u64>::builder()
        .capacity(CAPACITY)
        .wait_strategy(strategy)
        .build()
        .expect("valid ring configuration");
    let reader = subscriber
        .subscribe(StartAt::Earliest)
        .expect("a free reader slot");
    (writer, reader)
}

/// Publishes the next `n` values (each equal to its offset) without waiting; fails instead of
/// hanging if the readers did not release enough space.
fn fill(writer: &mut Writer<u64>, n: u64) {
    let free = writer.free_slots() as u64;
    if free < n {
        panic!("only {free} free slots for {n} messages: a reader did not release");
    }
    let first = writer.next_offset();
    let published = writer.publish_batch(first..first + n) as u64;
    if published != n {
        mismatch("messages published", published, n);
    }
}

/// Reads every message up to `end` and checks each against its offset.
fn drain(reader: &mut Reader<u64>, end: u64) {
    while reader.position() < end {
        let batch = reader
            .try_poll(CAPACITY)
            .expect("published messages are readable");
        for (offset, &value) in batch.iter_with_offsets() {
            if value != offset {
                mismatch("drained value", value, offset);
            }
        }
    }
    if reader.position() != end {
        mismatch("drained up to", reader.position(), end);
    }
}

/// `Writer::publish` of one message; drained outside the timed span.
struct Publish {
    writer: Writer<u64>,
    reader: Reader<u64>,
}

impl Publish {
    fn new(strategy: WaitStrategy) -> Self {
        let (writer, reader) = ring(strategy);
        Self { writer, reader }
    }
}

impl Op for Publish {
    fn chunk(&self) -> u64 {
        CAPACITY as u64
    }

    fn run(&mut self, n: u64) {
        let first = self.writer.next_offset();
        for value in first..first + n {
            self.writer.publish(black_box(value));
        }
    }

    fn finish(&mut self, _n: u64) {
        drain(&mut self.reader, self.writer.next_offset());
    }
}

/// How [`PublishBatch`] writes its 256 messages.
#[derive(Clone, Copy)]
enum BatchWay {
    PublishBatch,
    ClaimPush,
}

/// 256 messages per operation; drained outside the timed span.
struct PublishBatch {
    way: BatchWay,
    writer: Writer<u64>,
    reader: Reader<u64>,
}

impl PublishBatch {
    fn new(way: BatchWay) -> Self {
        let (writer, reader) = ring(WaitStrategy::BusySpin);
        Self {
            way,
            writer,
            reader,
        }
    }
}

impl Op for PublishBatch {
    fn chunk(&self) -> u64 {
        (CAPACITY / BATCH) as u64
    }

    fn run(&mut self, n: u64) {
        for _ in 0..n {
            let first = black_box(self.writer.next_offset());
            let end = first + BATCH as u64;
            match self.way {
                BatchWay::PublishBatch => {
                    self.writer.publish_batch(first..end);
                }
                BatchWay::ClaimPush => {
                    let mut claim = self.writer.claim(BATCH).expect("a batch fits the ring");
                    for value in first..end {
                        if claim.push(value).is_err() {
                            mismatch("claim full at offset", value, end);
                        }
                    }
                    claim.publish();
                }
            }
        }
    }

    fn finish(&mut self, n: u64) {
        let end = self.writer.next_offset();
        if end != self.reader.position() + n * BATCH as u64 {
            mismatch(
                "published up to",
                end,
                self.reader.position() + n * BATCH as u64,
            );
        }
        drain(&mut self.reader, end);
    }
}

/// `Reader::try_poll(max)` plus drop, on a ring filled outside the timed span.
struct Poll {
    max: u64,
    writer: Writer<u64>,
    reader: Reader<u64>,
}

impl Poll {
    fn new(max: usize) -> Self {
        let (writer, reader) = ring(WaitStrategy::BusySpin);
        Self {
            max: max as u64,
            writer,
            reader,
        }
    }
}

impl Op for Poll {
    fn chunk(&self) -> u64 {
        CAPACITY as u64 / self.max
    }

    fn prepare(&mut self, n: u64) {
        fill(&mut self.writer, n * self.max);
    }

    fn run(&mut self, n: u64) {
        let max = self.max;
        for _ in 0..n {
            let batch = self
                .reader
                .try_poll(black_box(max as usize))
                .expect("the ring was filled");
            let first = batch.first_offset();
            match batch.get(0) {
                Some(&value) if value == first && batch.len() as u64 == max => {}
                Some(&value) => mismatch("first polled value", value, first),
                None => mismatch("batch length", 0, max),
            }
        }
    }

    fn finish(&mut self, _n: u64) {
        let end = self.writer.next_offset();
        if self.reader.position() != end {
            mismatch("polled up to", self.reader.position(), end);
        }
    }
}

/// A one-partition topic, its producer, and a group with one member that owns the partition.
struct Fixture {
    group: Group<u64>,
    consumer: Consumer<u64>,
    producer: Producer<u64>,
}

impl Fixture {
    fn new(auto_commit: bool) -> Self {
        let (topic, producer) = Topic::<u64>::builder("ops")
            .partitions(1)
            .capacity(CAPACITY)
            .wait_strategy(WaitStrategy::BusySpin)
            .build()
            .expect("valid topic configuration");
        let group = topic
            .group("bench")
            .auto_commit(auto_commit)
            .max_poll_interval(MAX_POLL_INTERVAL)
            .build()
            .expect("valid group configuration");
        let consumer = group.join().expect("a member id");
        // Joining assigned the partition; the member picks it up on its first poll.
        let first = consumer.poll(1, Duration::ZERO).err();
        assert_eq!(first, Some(ConsumeError::Timeout), "the topic is empty");
        assert!(
            consumer.is_owner(PARTITION),
            "the only member owns the partition"
        );
        Self {
            group,
            consumer,
            producer,
        }
    }

    fn writer(&mut self) -> &mut Writer<u64> {
        self.producer
            .partition_writer(PARTITION)
            .expect("the partition exists")
    }

    /// Fails unless the group has committed every published message.
    fn check_committed(&mut self) {
        let end = self.writer().next_offset();
        let committed = self.group.metrics().partitions[PARTITION as usize].committed;
        if committed != end {
            mismatch("committed offset", committed, end);
        }
    }

    /// `poll(1, Duration::ZERO)` plus drop, checking the record; returns the next offset.
    #[inline(always)]
    fn poll_one(&mut self) -> u64 {
        let records = self
            .consumer
            .poll(1, Duration::ZERO)
            .expect("the partition was filled");
        let record = records.iter().next().expect("a batch is never empty");
        if *record.value != record.offset || record.partition != PARTITION {
            mismatch("polled value", *record.value, record.offset);
        }
        record.offset + 1
    }
}

/// How a [`GroupPoll`] commits.
#[derive(Clone, Copy)]
enum Commit {
    /// Auto-commit: dropping the batch commits it.
    OnDrop,
    /// Manual: `commit_offset` after each drop.
    Explicit,
}

/// `Consumer::poll(1, Duration::ZERO)` plus drop (and the commit), one record per operation.
struct GroupPoll {
    commit: Commit,
    fixture: Fixture,
}

impl GroupPoll {
    fn new(commit: Commit) -> Self {
        Self {
            commit,
            fixture: Fixture::new(matches!(commit, Commit::OnDrop)),
        }
    }
}

impl Op for GroupPoll {
    fn chunk(&self) -> u64 {
        CAPACITY as u64
    }

    fn prepare(&mut self, n: u64) {
        fill(self.fixture.writer(), n);
    }

    fn run(&mut self, n: u64) {
        for _ in 0..n {
            let next = self.fixture.poll_one();
            if let Commit::Explicit = self.commit {
                self.fixture
                    .consumer
                    .commit_offset(PARTITION, next)
                    .expect("the member owns the partition");
            }
        }
    }

    fn finish(&mut self, _n: u64) {
        self.fixture.check_committed();
    }
}

/// `Consumer::commit_offset`, one offset further each time, over records polled outside the
/// timed span (`auto_commit(false)`).
struct CommitOffset {
    fixture: Fixture,
    /// The committed offset.
    committed: u64,
}

impl CommitOffset {
    fn new() -> Self {
        Self {
            fixture: Fixture::new(false),
            committed: 0,
        }
    }
}

impl Op for CommitOffset {
    fn chunk(&self) -> u64 {
        CAPACITY as u64
    }

    fn prepare(&mut self, n: u64) {
        fill(self.fixture.writer(), n);
        let end = self.fixture.writer().next_offset();
        let mut next = self.committed;
        while next < end {
            let records = self
                .fixture
                .consumer
                .poll(CAPACITY, Duration::ZERO)
                .expect("the partition was filled");
            for record in records.iter() {
                if record.offset != next || *record.value != next {
                    mismatch("polled value", *record.value, next);
                }
                next += 1;
            }
        }
    }

    fn run(&mut self, n: u64) {
        let first = self.committed + 1;
        for offset in first..first + n {
            self.fixture
                .consumer
                .commit_offset(PARTITION, black_box(offset))
                .expect("the offset was polled by the owner");
        }
        self.committed += n;
    }

    fn finish(&mut self, _n: u64) {
        self.fixture.check_committed();
    }
}

/// `Consumer::is_owner` of the owned partition.
struct IsOwner {
    fixture: Fixture,
    owned: u64,
}

impl Op for IsOwner {
    fn chunk(&self) -> u64 {
        1 << 20
    }

    fn run(&mut self, n: u64) {
        for _ in 0..n {
            self.owned += self.fixture.consumer.is_owner(black_box(PARTITION)) as u64;
        }
    }

    fn finish(&mut self, n: u64) {
        if self.owned != n {
            mismatch("ownership checks that held", self.owned, n);
        }
        self.owned = 0;
    }
}

/// Registers one benchmark of the operation `new` builds: built on first use (not at all when
/// a command-line filter skips it), then reused by every sample.
fn bench<O: Op>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    elements: usize,
    new: impl FnOnce() -> O,
) {
    let mut new = Some(new);
    let mut op = None;
    group.throughput(Throughput::Elements(elements as u64));
    group.bench_function(name, |b| {
        let op = op.get_or_insert_with(|| new.take().expect("built once")());
        b.iter_custom(|iters| measure(op, iters))
    });
}

fn ops(c: &mut Criterion) {
    let mut group = c.benchmark_group("ops/publish");
    bench(&mut group, "busy_spin", 1, || {
        Publish::new(WaitStrategy::BusySpin)
    });
    bench(&mut group, "spin_then_park", 1, || {
        Publish::new(WaitStrategy::SpinThenPark)
    });
    group.finish();

    let mut group = c.benchmark_group("ops/publish_batch");
    bench(&mut group, "publish_batch_256", BATCH, || {
        PublishBatch::new(BatchWay::PublishBatch)
    });
    bench(&mut group, "claim_push_256", BATCH, || {
        PublishBatch::new(BatchWay::ClaimPush)
    });
    group.finish();

    let mut group = c.benchmark_group("ops/poll");
    bench(&mut group, "try_poll_1", 1, || Poll::new(1));
    bench(&mut group, "try_poll_256", BATCH, || Poll::new(BATCH));
    group.finish();

    let mut group = c.benchmark_group("ops/commit");
    bench(&mut group, "commit_offset", 1, CommitOffset::new);
    bench(&mut group, "poll_auto_commit", 1, || {
        GroupPoll::new(Commit::OnDrop)
    });
    bench(&mut group, "poll_commit_offset", 1, || {
        GroupPoll::new(Commit::Explicit)
    });
    group.finish();

    let mut group = c.benchmark_group("ops/ownership_check");
    bench(&mut group, "is_owner", 1, || IsOwner {
        fixture: Fixture::new(true),
        owned: 0,
    });
    group.finish();

    let mut group = c.benchmark_group("ops/epoch_check");
    bench(&mut group, "ring_try_poll_1", 1, || Poll::new(1));
    bench(&mut group, "group_poll_1", 1, || {
        GroupPoll::new(Commit::OnDrop)
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = ops
}
criterion_main!(benches);
