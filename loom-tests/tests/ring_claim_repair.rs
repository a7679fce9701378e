//! loom models of repairing a multi-producer ring whose producer process died mid-claim
//! (`ring::claimers`).
//!
//! Process liveness is abstracted as in `ring_reclaim`: threads act as holders, and
//! `model::die_producer` is a producing process dying with its claim open. Readers use
//! `try_poll` (the repair runs when a poll finds its next offset claimed but unstamped).
#![cfg(ringgroup_loom)]

use loom::thread;
use ringgroup::ring::{model, Reader, Ring, WaitStrategy};
use ringgroup::ring::{StartAt, Subscriber};
use ringgroup::PollError;

fn ring() -> (ringgroup::ring::SharedWriter<u64>, Subscriber<u64>) {
    model::owned_multi_ring(
        Ring::builder()
            .capacity(2)
            .max_readers(1)
            .wait_strategy(WaitStrategy::BusySpin)
            .multi_producer(),
    )
    .unwrap()
}

/// Reads until it has `count` messages (yielding when empty); returns them.
fn read(reader: &mut Reader<u64>, count: usize) -> Vec<u64> {
    let mut seen = Vec::new();
    while seen.len() < count {
        match reader.try_poll(2) {
            Ok(batch) => seen.extend(batch.iter().copied()),
            Err(PollError::Empty) => thread::yield_now(),
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    seen
}

/// A live producer (holder 2) claims offset 0 and writes it while holder 1 publishes offset 1
/// and the reader polls: the reader may find offset 0 claimed and unstamped, but a live
/// claimant is never overtaken, so it reads both messages, in claim order, and skips nothing.
#[test]
fn a_live_claim_is_never_tombstoned() {
    loom::model(|| {
        let (first, subscriber) = ring();
        let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
        model::act_as(2);
        let second = model::attach_producer(&subscriber);
        model::act_as(1);
        let slow = thread::spawn(move || {
            model::act_as(2);
            second.publish(20);
        });
        let fast = thread::spawn(move || {
            first.publish(10);
        });
        let seen = read(&mut reader, 2);
        assert_eq!(
            reader.tombstones_skipped(),
            0,
            "a live producer's claim was tombstoned"
        );
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(sorted, [10, 20]);
        slow.join().unwrap();
        fast.join().unwrap();
    });
}

/// Holder 2 claims offset 0 and dies before writing it, while holder 1 publishes offset 1:
/// the reader tombstones the dead claim once holder 1 has no claim in flight, and reads
/// holder 1's message.
#[test]
fn a_dead_claim_is_skipped() {
    loom::model(|| {
        let (first, subscriber) = ring();
        let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
        model::act_as(2);
        let doomed = model::attach_producer(&subscriber);
        model::act_as(1);
        let dying = thread::spawn(move || {
            model::act_as(2);
            let claim = doomed.claim(1).unwrap();
            std::mem::forget(claim);
            model::die_producer(doomed, 2);
        });
        dying.join().unwrap();
        let live = thread::spawn(move || {
            first.publish(10);
        });
        let seen = read(&mut reader, 1);
        assert_eq!(seen, [10]);
        assert_eq!(reader.tombstones_skipped(), 1);
        live.join().unwrap();
    });
}
