//! loom models of the partition ring (I2, I3, I7, I8).
//!
//! Each model is small (at most 3 threads, capacity 1-4). Every message's value is its offset,
//! so a reader checks order and gap-freedom by value. Slot accesses go through loom's
//! `UnsafeCell`, which fails a model whenever a write to a slot does not happen-after every
//! earlier read of it (or a read does not happen-after the write it observes), so reading an
//! unwritten slot or overwriting a borrowed one is caught, not just a wrong value.
#![cfg(ringgroup_loom)]

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use ringgroup::ring::{Reader, Ring, StartAt, WaitStrategy, Writer};
use ringgroup::PollError;

fn ring(
    capacity: usize,
    strategy: WaitStrategy,
) -> (Writer<u64>, ringgroup::ring::Subscriber<u64>) {
    Ring::builder()
        .capacity(capacity)
        .max_readers(2)
        .wait_strategy(strategy)
        .build()
        .unwrap()
}

/// Reads until the ring closes; asserts the values are `first, first+1, ...` and returns them.
fn drain(reader: &mut Reader<u64>, max: usize) -> Vec<u64> {
    let mut seen = Vec::new();
    loop {
        match reader.poll(max) {
            Ok(batch) => {
                for (offset, value) in batch.iter_with_offsets() {
                    assert_eq!(*value, offset, "slot holds another offset's message");
                    seen.push(*value);
                }
            }
            Err(PollError::Closed) => return seen,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
}

fn assert_contiguous(seen: &[u64], first: u64, end: u64) {
    let expected: Vec<u64> = (first..end).collect();
    assert_eq!(seen, expected.as_slice(), "lost, duplicated or reordered");
}

/// A reader never sees an unwritten slot, and sees every published message in order.
#[test]
fn publish_then_consume_is_visible() {
    loom::model(|| {
        let (mut writer, subscriber) = ring(2, WaitStrategy::BusySpin);
        let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
        let consumer = thread::spawn(move || drain(&mut reader, 1));
        writer.publish(0);
        writer.publish(1);
        drop(writer);
        assert_contiguous(&consumer.join().unwrap(), 0, 2);
    });
}

/// Capacity 2, four messages: the writer wraps twice and never overwrites a slot the reader
/// still borrows (the reader reads values inside each batch).
#[test]
fn wrap_around_never_overwrites_a_borrowed_slot() {
    loom::model(|| {
        let (mut writer, subscriber) = ring(2, WaitStrategy::BusySpin);
        let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
        let consumer = thread::spawn(move || drain(&mut reader, 2));
        for value in 0..4 {
            writer.publish(value);
        }
        drop(writer);
        assert_contiguous(&consumer.join().unwrap(), 0, 4);
    });
}

/// Lazy release: the reader hands slots back every second message (`release_every(2)`, capacity
/// 2, one message per poll), and at once when it runs dry. The writer, wrapping twice, never
/// overwrites a slot the reader still reads, and nothing is lost.
#[test]
fn lazy_release_never_frees_a_slot_still_read() {
    loom::model(|| {
        let (mut writer, subscriber) = ring(2, WaitStrategy::BusySpin);
        let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
        reader.set_release_every(2);
        let consumer = thread::spawn(move || drain(&mut reader, 1));
        for value in 0..4 {
            writer.publish(value);
        }
        drop(writer);
        assert_contiguous(&consumer.join().unwrap(), 0, 4);
    });
}

/// A batch published with one release store is seen whole and in order, across a wrap.
#[test]
fn batch_publish_is_atomic_per_store() {
    loom::model(|| {
        let (mut writer, subscriber) = ring(4, WaitStrategy::BusySpin);
        let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
        let consumer = thread::spawn(move || drain(&mut reader, 4));
        assert_eq!(writer.publish_batch(0..3), 3);
        let mut claim = writer.claim(2).unwrap();
        claim.push(3).unwrap();
        claim.push(4).unwrap();
        claim.publish();
        drop(writer);
        assert_contiguous(&consumer.join().unwrap(), 0, 5);
    });
}

/// Two readers gate one writer: with capacity 1 the second publish must wait for both readers
/// to release the first message, and both see everything. (Parking, not spinning: three
/// spinning threads exceed loom's branch budget.)
#[test]
fn two_cursors_gate_one_writer() {
    loom::model(|| {
        let (mut writer, subscriber) = ring(1, WaitStrategy::SpinThenPark);
        let mut a = subscriber.subscribe(StartAt::Earliest).unwrap();
        let mut b = subscriber.subscribe(StartAt::Earliest).unwrap();
        let ta = thread::spawn(move || drain(&mut a, 1));
        let tb = thread::spawn(move || drain(&mut b, 1));
        writer.publish(0);
        writer.publish(1);
        drop(writer);
        assert_contiguous(&ta.join().unwrap(), 0, 2);
        assert_contiguous(&tb.join().unwrap(), 0, 2);
    });
}

/// A reader joins (at the earliest retained offset) while the writer wraps, reads one batch and
/// leaves. It sees a contiguous run from where it started, never a slot being rewritten; and
/// after it leaves the writer is not gated on its dead cursor.
#[test]
fn reader_joins_and_leaves_while_writer_runs() {
    loom::model(|| {
        let (mut writer, subscriber) = ring(2, WaitStrategy::BusySpin);
        let joiner = thread::spawn(move || {
            let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
            let start = reader.position();
            if let Ok(batch) = reader.try_poll(2) {
                for (offset, value) in batch.iter_with_offsets() {
                    assert_eq!(*value, offset);
                    assert!(offset >= start);
                }
            };
            // Dropping the reader frees its slot.
        });
        // Three messages in capacity 2: the third waits for the joiner to release or leave.
        for value in 0..3 {
            writer.publish(value);
        }
        joiner.join().unwrap();
        // With no reader left, the writer runs free.
        for value in 3..6 {
            assert!(writer.try_publish(value).is_ok());
        }
    });
}

/// A reader may join at an explicit offset only if it is still retained.
#[test]
fn joining_at_an_offset_is_checked_against_the_writer() {
    loom::model(|| {
        let (mut writer, subscriber) = ring(2, WaitStrategy::BusySpin);
        writer.publish(0);
        let joiner = thread::spawn(move || match subscriber.subscribe(StartAt::Offset(0)) {
            Ok(mut reader) => {
                let seen = drain(&mut reader, 2);
                assert_eq!(seen.first(), Some(&0));
                assert_contiguous(&seen, 0, seen.len() as u64);
            }
            Err(ringgroup::SubscribeError::NotRetained {
                requested: 0,
                earliest,
            }) => {
                assert!(earliest >= 1)
            }
            // The writer may already be gone; no reader joins a closed ring.
            Err(ringgroup::SubscribeError::Closed) => {}
            Err(e) => panic!("unexpected {e:?}"),
        });
        writer.publish(1);
        writer.publish(2);
        drop(writer);
        joiner.join().unwrap();
    });
}

/// A reader parked waiting for data is always woken by the publish (I7).
#[test]
fn parked_reader_is_woken() {
    loom::model(|| {
        let (mut writer, subscriber) = ring(2, WaitStrategy::SpinThenPark);
        let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
        let consumer = thread::spawn(move || {
            let batch = reader.poll(1).unwrap();
            assert_eq!(batch.get(0), Some(&0));
        });
        writer.publish(0);
        consumer.join().unwrap();
        drop(writer);
    });
}

/// A reader parked on an empty ring drains to `Closed` when the writer goes (I7): the close is
/// the only event, so a notify that misses the parked reader leaves it asleep for good.
#[test]
fn parked_reader_drains_to_closed() {
    loom::model(|| {
        let (writer, subscriber) = ring(2, WaitStrategy::SpinThenPark);
        let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
        let consumer = thread::spawn(move || drain(&mut reader, 1));
        drop(writer);
        assert!(consumer.join().unwrap().is_empty());
    });
}

/// A writer parked waiting for space is always woken by the reader's release (I7), and a
/// reader parked on an empty ring is woken by the close.
#[test]
fn parked_writer_is_woken_and_close_wakes_reader() {
    loom::model(|| {
        let (mut writer, subscriber) = ring(1, WaitStrategy::SpinThenPark);
        let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
        let consumer = thread::spawn(move || drain(&mut reader, 1));
        writer.publish(0);
        writer.publish(1); // waits until the reader releases offset 0
        drop(writer);
        assert_contiguous(&consumer.join().unwrap(), 0, 2);
    });
}

/// Counts drops, to check every message is dropped exactly once (I8).
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Messages overwritten on wrap and messages left in the ring are each dropped exactly once,
/// whichever handle is dropped last.
#[test]
fn every_message_is_dropped_once() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (mut writer, subscriber) = Ring::<Counted>::builder()
            .capacity(2)
            .max_readers(1)
            .build()
            .unwrap();
        let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
        drop(subscriber);
        let consumer = thread::spawn(move || {
            let _ = reader.poll(1).map(|batch| batch.len());
        });
        for _ in 0..3 {
            writer.publish(Counted(drops.clone()));
        }
        drop(writer);
        consumer.join().unwrap();
        assert_eq!(drops.load(Ordering::Relaxed), 3);
    });
}
