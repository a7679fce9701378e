//! Shared-memory topics across real processes (this binary re-executes itself in a role):
//!
//! - a reader process sees every message a producer process publishes, in order;
//! - a producer process killed with SIGKILL at a random moment, over and over, is taken over
//!   by the next one, which goes on at the published offset: the reader sees one gap-free,
//!   in-order run (every value equals its offset, so a half-written slot would show), and
//!   nothing published is lost;
//! - a reader process killed with SIGKILL while it holds a reader slot does not stall the
//!   producer: once the ring is full the producer takes the dead reader's slot back and goes on,
//!   a live reader process still gets every message in order, and the slot is reusable;
//! - a reader process that is alive but stopped (SIGSTOP) keeps its slot: the producer times
//!   out instead of reclaiming it, and the reader, resumed, reads everything in order.
//!
//! A `harness = false` test: `main` runs the checks, or a child's role.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ringgroup::shm::remove;
use ringgroup::{PollError, StartAt, Topic, TopicError, WaitStrategy};

const ROLE: &str = "RINGGROUP_SHM_ROLE";
const REGION: &str = "RINGGROUP_SHM_REGION";
const PATIENCE: Duration = Duration::from_secs(30);

fn child(role: &str, region: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .env(ROLE, role)
        .env(REGION, region)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for the child's "ready" line (written once it has subscribed).
fn await_ready(child: &mut Child) {
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready", "the child did not get ready");
}

/// Child: takes the producer over (or creates the topic), then publishes offsets forever.
fn produce_forever(region: &str) {
    let mut producer = match Topic::<u64>::open(region) {
        Ok(topic) => topic
            .take_over_producer()
            .expect("the previous producer is dead"),
        Err(_) => {
            Topic::<u64>::builder("t")
                .capacity(64)
                .wait_strategy(WaitStrategy::Yield)
                .shared_memory(region)
                .build()
                .unwrap()
                .1
        }
    };
    let writer = producer.partition_writer(0).unwrap();
    loop {
        let offset = writer.next_offset();
        // Bursts, so deaths land inside batches as well as between publishes.
        if offset % 7 == 0 {
            writer.publish_batch(offset..offset + 5);
        } else {
            writer.publish(offset);
        }
    }
}

/// Child: reads `count` messages from the start and checks them.
fn read_all(region: &str, count: u64) {
    let topic = Topic::<u64>::open(region).unwrap();
    let mut reader = topic
        .subscriber(0)
        .unwrap()
        .subscribe(StartAt::Offset(0))
        .unwrap();
    println!("ready");
    std::io::stdout().flush().unwrap();
    let mut next = 0;
    while next < count {
        match reader.poll(64) {
            Ok(batch) => {
                for (offset, value) in batch.iter_with_offsets() {
                    assert_eq!((offset, *value), (next, next));
                    next += 1;
                }
            }
            Err(PollError::Closed) => break,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(next, count, "the reader process missed messages");
}

/// Child: subscribes at offset 0, says "ready", reads `first` messages, says "read", then
/// waits (holding its reader slot, to be killed or stopped) for a line on stdin, and then
/// reads on up to `total`, checking order.
fn read_then_wait(region: &str, first: u64, total: u64) {
    let topic = Topic::<u64>::open(region).unwrap();
    let mut reader = topic
        .subscriber(0)
        .unwrap()
        .subscribe(StartAt::Offset(0))
        .unwrap();
    // Hand back each message as it is read, so the registered cursor is exactly where the
    // reading stopped (by default a reader hands slots back in runs).
    reader.set_release_every(1);
    println!("ready");
    std::io::stdout().flush().unwrap();
    let mut next = 0;
    let mut read_up_to = |reader: &mut ringgroup::ring::Reader<u64>, end: u64| {
        while next < end {
            let batch = reader.poll(1).unwrap();
            assert_eq!((batch.first_offset(), *batch.get(0).unwrap()), (next, next));
            next += 1;
        }
    };
    read_up_to(&mut reader, first);
    println!("read");
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    read_up_to(&mut reader, total);
}

/// Reads one line from the child and checks it.
fn await_line(child: &mut Child, expected: &str) {
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), expected, "the child did not say {expected:?}");
}

/// Sends `signal` (a `kill` name: STOP, CONT) to the child.
fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} failed");
}

const CAPACITY: usize = 64;

/// A shared-memory topic with a small ring and two reader slots.
fn small_topic(region: &str) -> (Topic<u64>, ringgroup::Producer<u64>) {
    Topic::<u64>::builder("t")
        .capacity(CAPACITY)
        .max_groups(2)
        .wait_strategy(WaitStrategy::SpinThenPark)
        .shared_memory(region)
        .build()
        .unwrap()
}

/// A reader process killed while it holds a slot: the producer reclaims it once the ring is
/// full, and a live reader process still gets everything in order.
fn a_killed_reader_does_not_stall_the_producer() {
    let region = format!("proc-{}-dead-reader", std::process::id());
    let (topic, mut producer) = small_topic(&region);
    let total = 5 * CAPACITY as u64;
    let mut doomed = child("read_then_wait:10:20", &region);
    await_ready(&mut doomed);
    let mut live = child(&format!("read:{total}"), &region);
    await_ready(&mut live);
    let writer = producer.partition_writer(0).unwrap();
    while writer.next_offset() < 20 {
        writer.publish(writer.next_offset());
    }
    await_line(&mut doomed, "read");
    doomed.kill().unwrap(); // SIGKILL: its reader slot stays registered at offset 10
    doomed.wait().unwrap();
    assert_eq!(topic.reclaimed_readers(0), Some(0));
    // Far more than the ring holds: each publish must find room (or make it) in time.
    while writer.next_offset() < total {
        let offset = writer.next_offset();
        writer
            .publish_timeout(offset, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("the producer stalled at {offset} on a dead reader: {e:?}"));
    }
    assert_eq!(topic.reclaimed_readers(0), Some(1), "one slot reclaimed");
    // The reclaimed slot takes a new subscriber (two slots: the live reader's and this one).
    let late = topic.subscriber(0).unwrap().subscribe(StartAt::Latest);
    assert!(late.is_ok(), "the reclaimed slot is reusable: {late:?}");
    drop(late);
    drop(producer); // closes: the live reader drains and ends
    assert!(
        live.wait().unwrap().success(),
        "the live reader process missed or misordered messages"
    );
    let _ = remove(&region);
    println!("test a_killed_reader_does_not_stall_the_producer ... ok");
}

/// A reader process that is alive but stopped keeps its slot: the producer waits (and times
/// out) rather than take it, and the reader, resumed, reads everything in order.
fn a_stopped_reader_keeps_its_slot() {
    let region = format!("proc-{}-stopped-reader", std::process::id());
    let (topic, mut producer) = small_topic(&region);
    let total = 3 * CAPACITY as u64;
    let mut stopped = child(&format!("read_then_wait:10:{total}"), &region);
    await_ready(&mut stopped);
    let writer = producer.partition_writer(0).unwrap();
    while writer.next_offset() < 20 {
        writer.publish(writer.next_offset());
    }
    await_line(&mut stopped, "read");
    signal(&stopped, "STOP");
    // Fill the ring up to the stopped reader's cursor (offset 10), then wait for several
    // reclaim intervals: the slot is its live holder's, and stays so.
    while writer.next_offset() < 10 + CAPACITY as u64 {
        let offset = writer.next_offset();
        writer
            .publish_timeout(offset, Duration::from_secs(5))
            .unwrap();
    }
    let offset = writer.next_offset();
    assert!(matches!(
        writer.publish_timeout(offset, Duration::from_millis(100)),
        Err(ringgroup::PublishError::Timeout(_))
    ));
    assert_eq!(
        topic.reclaimed_readers(0),
        Some(0),
        "a live reader was reclaimed"
    );
    signal(&stopped, "CONT");
    let stdin = stopped.stdin.as_mut().unwrap();
    stdin.write_all(b"go\n").unwrap();
    stdin.flush().unwrap();
    while writer.next_offset() < total {
        let offset = writer.next_offset();
        writer
            .publish_timeout(offset, Duration::from_secs(5))
            .unwrap();
    }
    assert!(
        stopped.wait().unwrap().success(),
        "the resumed reader process missed or misordered messages"
    );
    assert_eq!(topic.reclaimed_readers(0), Some(0));
    drop(producer);
    let _ = remove(&region);
    println!("test a_stopped_reader_keeps_its_slot ... ok");
}

fn open_when_ready(region: &str) -> Topic<u64> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match Topic::<u64>::open(region) {
            Ok(topic) => return topic,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::yield_now();
            }
            Err(e) => panic!("the region never appeared: {e}"),
        }
    }
}

/// A reader in another process sees what this one publishes.
fn a_reader_process_sees_everything() {
    let region = format!("proc-{}-reader", std::process::id());
    let (_topic, mut producer) = Topic::<u64>::builder("t")
        .capacity(64)
        .wait_strategy(WaitStrategy::SpinThenPark)
        .shared_memory(&region)
        .build()
        .unwrap();
    // The reader starts at offset 0, so publish after it has subscribed: the ring gates on it.
    let mut reader = child(&format!("read:{}", 10_000), &region);
    await_ready(&mut reader);
    let writer = producer.partition_writer(0).unwrap();
    while writer.next_offset() < 10_000 {
        writer.publish(writer.next_offset());
    }
    drop(producer); // closes: the reader drains and ends
    assert!(
        reader.wait().unwrap().success(),
        "the reader process failed"
    );
    let _ = remove(&region);
    println!("test a_reader_process_sees_everything ... ok");
}

/// Producers killed at random moments are taken over; the reader sees one unbroken run.
fn killed_producers_are_taken_over_without_loss() {
    let region = format!("proc-{}-takeover", std::process::id());
    let mut producer = child("produce", &region);
    let topic = open_when_ready(&region);
    let mut reader = topic
        .subscriber(0)
        .unwrap()
        .subscribe(StartAt::Earliest)
        .unwrap();
    let mut next = reader.position();
    let start = next;
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    let mut kills = 0;
    let deadline = Instant::now() + PATIENCE;
    while kills < 12 {
        assert!(Instant::now() < deadline, "no progress");
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let read_before_kill = 50 + seed % 400;
        let target = next + read_before_kill;
        while next < target {
            let batch = reader
                .poll_timeout(64, PATIENCE)
                .expect("the producer stalled");
            for (offset, value) in batch.iter_with_offsets() {
                assert_eq!(offset, next, "a gap in the offsets");
                assert_eq!(*value, offset, "a half-written or foreign slot at {offset}");
                next += 1;
            }
        }
        producer.kill().unwrap(); // SIGKILL
        producer.wait().unwrap();
        kills += 1;
        // The dead producer still "holds" the topic until the next one sees it is dead.
        producer = child("produce", &region);
    }
    producer.kill().unwrap();
    producer.wait().unwrap();
    // Everything published before the last kill is still readable.
    let published = topic.latest_offset(0).unwrap();
    while next < published {
        let batch = reader.try_poll(64).unwrap();
        for (offset, value) in batch.iter_with_offsets() {
            assert_eq!((offset, *value), (next, next));
            next += 1;
        }
    }
    assert!(next - start > 12 * 50);
    // The last producer is dead too: this process can take over, and goes on in order.
    let mut last = topic.take_over_producer().expect("its producer is dead");
    last.send_to(0, next).unwrap();
    let batch = reader.try_poll(1).unwrap();
    assert_eq!((batch.first_offset(), *batch.get(0).unwrap()), (next, next));
    drop(batch);
    assert!(matches!(
        Topic::<u64>::open(&region).unwrap().take_over_producer(),
        Err(TopicError::ProducerAlive { .. })
    ));
    let _ = remove(&region);
    println!(
        "test killed_producers_are_taken_over_without_loss ... ok ({kills} kills, {} messages)",
        next - start
    );
}

/// Child: on the multi-producer topic, claims three offsets of partition 0, pushes one, says
/// "claimed" and waits with the claim open (to be killed).
fn claim_and_wait(region: &str) {
    let topic = Topic::<u64>::open(region).unwrap();
    let producer = topic.producer().expect("a multi-producer topic");
    let writer = producer.partition_writer(0).unwrap();
    let mut claim = writer.claim(3).unwrap();
    claim.push(999).unwrap();
    println!("claimed");
    std::io::stdout().flush().unwrap();
    loop {
        std::thread::park();
    }
}

/// Polls `reader` for `window`, returning what it read (values).
fn read_for(reader: &mut ringgroup::ring::Reader<u64>, window: Duration) -> Vec<u64> {
    let mut seen = Vec::new();
    let started = Instant::now();
    while started.elapsed() < window {
        match reader.poll_timeout(64, Duration::from_millis(5)) {
            Ok(batch) => seen.extend(batch.iter().copied()),
            Err(PollError::Timeout) => {}
            Err(e) => panic!("{e}"),
        }
    }
    seen
}

/// A fresh multi-producer shared-memory topic with a small ring.
fn multi_producer_topic(region: &str) -> (Topic<u64>, ringgroup::SharedProducer<u64>) {
    let _ = remove(region);
    Topic::<u64>::builder("t")
        .capacity(CAPACITY)
        .multi_producer()
        .wait_strategy(WaitStrategy::SpinThenPark)
        .shared_memory(region)
        .build()
        .unwrap()
}

/// A producer process killed mid-claim on a multi-producer partition: while it lives its open
/// claim holds the readers (a slow producer is never overtaken); once it is dead, a reader
/// stamps its unwritten offsets as tombstones and goes on, and nothing published is lost.
fn a_dead_producers_claim_does_not_stall_a_multi_producer_partition() {
    let region = format!("proc-{}-dead-claim", std::process::id());
    let (topic, producer) = multi_producer_topic(&region);
    let mut reader = topic
        .subscriber(0)
        .unwrap()
        .subscribe(StartAt::Earliest)
        .unwrap();
    for value in 0..5 {
        producer.send_to(0, value).unwrap();
    }
    /// Kills the child however this test ends (a failed assert must not leave it parked).
    struct KillOnDrop(Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut claimer = KillOnDrop(child("claim", &region));
    await_line(&mut claimer.0, "claimed");
    // Offsets 5 (written: 999), 6 and 7 are the child's; then ours again.
    for value in 8..18 {
        producer.send_to(0, value).unwrap();
    }
    let before = read_for(&mut reader, Duration::from_millis(200));
    assert_eq!(
        before,
        [0, 1, 2, 3, 4, 999],
        "read past a live producer's open claim"
    );
    drop(claimer);
    let deadline = Instant::now() + PATIENCE;
    let mut after = Vec::new();
    while after.len() < 10 {
        assert!(
            Instant::now() < deadline,
            "the dead claim stalled the reader: {after:?}"
        );
        if let Ok(batch) = reader.poll_timeout(64, Duration::from_millis(10)) {
            after.extend(batch.iter().copied());
        }
    }
    assert_eq!(after, (8..18).collect::<Vec<_>>());
    assert_eq!(reader.tombstones_skipped(), 2);
    drop((reader, producer, topic));
    let _ = remove(&region);
    println!("test a_dead_producers_claim_does_not_stall_a_multi_producer_partition ... ok");
}

/// The same with a lossy consumer group instead of a reader (a soft gate, so the producer is
/// free to lap it): a producer must not lap the dead claim's slots and wait behind them for
/// ever; the group reads past the dead claim and the producer finishes.
fn a_dead_claim_does_not_stall_a_producer_that_laps_a_lossy_group() {
    let region = format!("proc-{}-dead-claim-lossy", std::process::id());
    let (topic, producer) = multi_producer_topic(&region);
    let group = topic
        .group("g")
        .backpressure(ringgroup::Backpressure::Lossy)
        .build()
        .unwrap();
    let member = group.join().unwrap();
    for value in 0..5 {
        producer.send_to(0, value).unwrap();
    }
    let mut claimer = child("claim", &region);
    await_line(&mut claimer, "claimed");
    claimer.kill().unwrap();
    claimer.wait().unwrap();
    let last = 10 * CAPACITY as u64;
    let sender = std::thread::spawn(move || {
        for value in 8..=last {
            producer.send_to(0, value).unwrap();
        }
    });
    let deadline = Instant::now() + PATIENCE;
    let mut newest = 0;
    while newest != last {
        assert!(
            Instant::now() < deadline,
            "stalled at {newest}: the producer waits behind the dead claim"
        );
        if let Ok(records) = member.poll(64, Duration::from_millis(10)) {
            newest = records.iter().map(|r| *r.value).max().unwrap_or(newest);
        }
    }
    sender.join().unwrap();
    drop((member, group, topic));
    let _ = remove(&region);
    println!("test a_dead_claim_does_not_stall_a_producer_that_laps_a_lossy_group ... ok");
}

fn main() {
    if let (Ok(role), Ok(region)) = (std::env::var(ROLE), std::env::var(REGION)) {
        match role.split_once(':') {
            Some(("read", count)) => read_all(&region, count.parse().unwrap()),
            Some(("read_then_wait", counts)) => {
                let (first, total) = counts.split_once(':').unwrap();
                read_then_wait(&region, first.parse().unwrap(), total.parse().unwrap())
            }
            _ if role == "produce" => produce_forever(&region),
            _ if role == "claim" => claim_and_wait(&region),
            _ => panic!("unknown role {role}"),
        }
        return;
    }
    a_reader_process_sees_everything();
    killed_producers_are_taken_over_without_loss();
    a_killed_reader_does_not_stall_the_producer();
    a_stopped_reader_keeps_its_slot();
    a_dead_producers_claim_does_not_stall_a_multi_producer_partition();
    a_dead_claim_does_not_stall_a_producer_that_laps_a_lossy_group();
}
