//! Shared-memory topics across real processes (this binary re-executes itself in a role):
//!
//! - a reader process sees every message a producer process publishes, in order;
//! - a producer process killed with SIGKILL at a random moment, over and over, is taken over
//!   by the next one, which goes on at the published offset: the reader sees one gap-free,
//!   in-order run (every value equals its offset, so a half-written slot would show), and
//!   nothing published is lost.
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

fn main() {
    if let (Ok(role), Ok(region)) = (std::env::var(ROLE), std::env::var(REGION)) {
        match role.split_once(':') {
            Some(("read", count)) => read_all(&region, count.parse().unwrap()),
            _ if role == "produce" => produce_forever(&region),
            _ => panic!("unknown role {role}"),
        }
        return;
    }
    a_reader_process_sees_everything();
    killed_producers_are_taken_over_without_loss();
}
