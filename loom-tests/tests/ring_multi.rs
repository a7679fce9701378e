//! loom models of the multi-producer ring: claims, stamps, laps, joins and tombstones (I2, I3,
//! I4, I8). Values name their producer and sequence; slot cells are loom cells, so reading a
//! slot not yet written, or writing one a reader still reads, fails the model.
#![cfg(ringgroup_loom)]

use loom::thread;
use ringgroup::ring::{Reader, Ring, SharedWriter, StartAt, Subscriber, WaitStrategy};
use ringgroup::PollError;

fn ring(capacity: usize) -> (SharedWriter<u64>, Subscriber<u64>) {
    ring_waiting(capacity, WaitStrategy::BusySpin)
}

/// Parking, not spinning, where a producer must wait: spinning threads exceed loom's budget.
fn ring_waiting(capacity: usize, strategy: WaitStrategy) -> (SharedWriter<u64>, Subscriber<u64>) {
    Ring::builder()
        .capacity(capacity)
        .max_readers(2)
        .wait_strategy(strategy)
        .multi_producer()
        .build()
        .unwrap()
}

/// Everything until the ring closes.
fn drain(reader: &mut Reader<u64>) -> Vec<u64> {
    let mut seen = Vec::new();
    loop {
        match reader.poll(4) {
            Ok(batch) => seen.extend(batch.iter().copied()),
            Err(PollError::Closed) => return seen,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
}

/// Producer `p`'s `i`-th message.
fn tag(p: u64, i: u64) -> u64 {
    p * 10 + i
}

/// Each producer's messages, in the order seen.
fn of(seen: &[u64], p: u64) -> Vec<u64> {
    seen.iter().copied().filter(|v| v / 10 == p).collect()
}

/// Two producers, one reader: every message is seen once, each producer's in order.
#[test]
fn two_producers_one_reader() {
    loom::model(|| {
        let (a, subscriber) = ring(4);
        let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
        let b = a.clone();
        let consumer = thread::spawn(move || drain(&mut reader));
        let other = thread::spawn(move || {
            b.publish(tag(1, 0));
        });
        a.publish(tag(0, 0));
        a.publish(tag(0, 1));
        drop(a);
        other.join().unwrap();
        let seen = consumer.join().unwrap();
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert_eq!(of(&seen, 0), [tag(0, 0), tag(0, 1)]);
        assert_eq!(of(&seen, 1), [tag(1, 0)]);
    });
}

/// Capacity 2, two producers, a reader: three messages lap the ring, never overwriting a slot
/// the reader has not released, nor one a slower producer still writes.
#[test]
fn two_producers_wrap_a_ring_of_two() {
    loom::model(|| {
        let (a, subscriber) = ring_waiting(2, WaitStrategy::SpinThenPark);
        let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
        let b = a.clone();
        let consumer = thread::spawn(move || drain(&mut reader));
        let other = thread::spawn(move || {
            b.publish(tag(1, 0));
        });
        a.publish(tag(0, 0));
        a.publish(tag(0, 1));
        drop(a);
        other.join().unwrap();
        let seen = consumer.join().unwrap();
        assert_eq!(of(&seen, 0), [tag(0, 0), tag(0, 1)]);
        assert_eq!(of(&seen, 1), [tag(1, 0)]);
    });
}

/// A batch claim races a single claim while the reader reads: the batch's messages are
/// contiguous and in order, and the reader sees all three.
#[test]
fn a_batch_claim_races_a_single_claim() {
    loom::model(|| {
        let (a, subscriber) = ring(4);
        let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
        let b = a.clone();
        let consumer = thread::spawn(move || drain(&mut reader));
        let other = thread::spawn(move || {
            b.publish(tag(1, 0));
        });
        {
            let mut claim = a.claim(2).unwrap();
            claim.push(tag(0, 0)).unwrap();
            claim.push(tag(0, 1)).unwrap();
        }
        drop(a);
        other.join().unwrap();
        let seen = consumer.join().unwrap();
        let at = seen.iter().position(|&v| v == tag(0, 0)).unwrap();
        assert_eq!(
            seen[at + 1],
            tag(0, 1),
            "a claim's messages are contiguous: {seen:?}"
        );
        assert_eq!(seen.len(), 3);
    });
}

/// A reader joins (at the earliest retained offset) while two producers publish into a ring
/// of two: it sees a gap-free run from where it started, never a slot being rewritten.
#[test]
fn a_reader_joins_while_two_producers_run() {
    loom::model(|| {
        let (a, subscriber) = ring(2);
        let b = a.clone();
        let joiner = thread::spawn(move || {
            let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
            let start = reader.position();
            if let Ok(batch) = reader.try_poll(2) {
                assert!(batch.first_offset() >= start);
                for (offset, value) in batch.iter_with_offsets() {
                    assert!(
                        offset < 3 && *value / 10 <= 1,
                        "slot {offset} holds {value}"
                    );
                }
            };
        });
        let other = thread::spawn(move || {
            b.try_publish(tag(1, 0)).ok();
        });
        a.try_publish(tag(0, 0)).ok();
        a.try_publish(tag(0, 1)).ok();
        other.join().unwrap();
        joiner.join().unwrap();
    });
}

/// A claim abandoned (dropped half-filled, as a panic would) races a producer and a reader: the
/// reader never waits on it for good, sees its pushed message and the other producer's, and
/// counts the tombstone.
#[test]
fn an_abandoned_claim_never_stalls_the_reader() {
    loom::model(|| {
        let (a, subscriber) = ring(4);
        let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
        let b = a.clone();
        let consumer = thread::spawn(move || {
            let seen = drain(&mut reader);
            (seen, reader.tombstones_skipped())
        });
        let other = thread::spawn(move || {
            b.publish(tag(1, 0));
        });
        {
            let mut claim = a.claim(2).unwrap();
            claim.push(tag(0, 0)).unwrap();
            // Dropped with one slot unfilled: it becomes a tombstone.
        }
        drop(a);
        other.join().unwrap();
        let (seen, tombstones) = consumer.join().unwrap();
        assert_eq!(of(&seen, 0), [tag(0, 0)]);
        assert_eq!(of(&seen, 1), [tag(1, 0)]);
        assert_eq!(tombstones, 1);
    });
}

/// With no reader to gate them, two producers may claim two laps of a one-slot ring at once:
/// the second waits for the first's stamp before writing the slot, so the two never write it
/// at the same time (the cell check), and the slot ends with the later claim's message.
#[test]
fn producers_of_two_laps_never_write_one_slot_at_once() {
    loom::model(|| {
        let (a, subscriber) = ring(1);
        let b = a.clone();
        let other = thread::spawn(move || b.publish(tag(1, 0)));
        let mine = a.publish(tag(0, 0));
        let theirs = other.join().unwrap();
        assert_ne!(mine, theirs);
        // The ring holds the message of offset 1 alone; joining now starts there.
        let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
        drop(a);
        let last = drain(&mut reader);
        assert_eq!(last, [if mine == 1 { tag(0, 0) } else { tag(1, 0) }]);
    });
}

/// One handle shared by two threads: the handle's cached write limit, stored by one thread
/// after its rescan, lets the other claim without reading the shared limit; the slot it then
/// writes must still come after the reader's read of it (capacity 2, four messages, a lap).
#[test]
fn a_handle_shared_by_two_threads_keeps_its_cached_limit_safe() {
    loom::model(|| {
        let (a, subscriber) = ring_waiting(2, WaitStrategy::SpinThenPark);
        let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
        let consumer = thread::spawn(move || drain(&mut reader));
        let a = loom::sync::Arc::new(a);
        let b = a.clone();
        a.publish(tag(0, 0));
        a.publish(tag(0, 1));
        let other = thread::spawn(move || {
            b.publish(tag(1, 0));
        });
        a.publish(tag(0, 2));
        other.join().unwrap();
        drop(a);
        let seen = consumer.join().unwrap();
        assert_eq!(of(&seen, 0), [tag(0, 0), tag(0, 1), tag(0, 2)]);
        assert_eq!(of(&seen, 1), [tag(1, 0)]);
    });
}
