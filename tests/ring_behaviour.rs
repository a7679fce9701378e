//! Behaviour of the ring's public API: errors on bad input, back-pressure, close, joining at
//! offsets, and every message dropped exactly once (I8).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ringgroup::ring::{Ring, StartAt, WaitStrategy};
use ringgroup::{BuildError, ClaimError, PollError, PublishError, SubscribeError};

#[test]
fn bad_configurations_are_errors() {
    assert_eq!(
        Ring::<u64>::builder().capacity(0).build().err(),
        Some(BuildError::ZeroCapacity)
    );
    assert_eq!(
        Ring::<u64>::builder().capacity(6).build().err(),
        Some(BuildError::CapacityNotPowerOfTwo(6))
    );
    assert!(matches!(
        Ring::<u64>::builder().capacity(1 << 31).build().err(),
        Some(BuildError::CapacityTooLarge { requested, .. }) if requested == 1 << 31
    ));
    // 2^48 bytes: within the type's limit, beyond any address space; an error, not an abort.
    assert!(matches!(
        Ring::<[u8; 1 << 20]>::builder().capacity(1 << 28).build().err(),
        Some(BuildError::AllocationFailed { bytes }) if bytes == 1 << 48
    ));
    assert_eq!(
        Ring::<u64>::builder().max_readers(0).build().err(),
        Some(BuildError::ZeroReaders)
    );
}

#[test]
fn a_full_ring_hands_the_message_back() {
    let (mut writer, subscriber) = Ring::builder().capacity(2).build().unwrap();
    let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
    writer.try_publish(0).unwrap();
    writer.try_publish(1).unwrap();
    assert_eq!(writer.try_publish(2), Err(PublishError::Full(2)));
    assert_eq!(
        writer.publish_timeout(2, Duration::from_millis(5)),
        Err(PublishError::Timeout(2))
    );
    assert!(matches!(writer.try_claim(1), Err(ClaimError::Full)));
    assert_eq!(
        writer.claim(3).err(),
        Some(ClaimError::TooLarge {
            requested: 3,
            capacity: 2
        })
    );
    // Releasing one message frees exactly one slot.
    drop(reader.try_poll(1).unwrap());
    writer.try_publish(2).unwrap();
    assert_eq!(writer.try_publish(3), Err(PublishError::Full(3)));
}

#[test]
fn a_borrowed_batch_holds_back_the_writer() {
    let (mut writer, subscriber) = Ring::builder().capacity(2).build().unwrap();
    let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
    writer.publish_batch([10, 11]);
    let batch = reader.try_poll(2).unwrap();
    assert_eq!(batch.len(), 2);
    // The writer cannot reuse either slot while the batch lives (checked by `try_publish`
    // through a second handle would need threads; the free-slot count says the same).
    drop(batch);
    assert_eq!(writer.free_slots(), 2);
}

#[test]
fn readers_drain_then_see_closed() {
    let (mut writer, subscriber) = Ring::builder().capacity(4).build().unwrap();
    let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
    assert_eq!(reader.try_poll(1).err(), Some(PollError::Empty));
    assert_eq!(
        reader.poll_timeout(1, Duration::from_millis(5)).err(),
        Some(PollError::Timeout)
    );
    writer.publish_batch([1, 2, 3]);
    drop(writer);
    assert_eq!(
        reader.poll(2).unwrap().iter().copied().collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(
        reader.poll(2).unwrap().iter().copied().collect::<Vec<_>>(),
        [3]
    );
    assert_eq!(reader.poll(2).err(), Some(PollError::Closed));
    assert_eq!(reader.try_poll(2).err(), Some(PollError::Closed));
    assert_eq!(
        subscriber.subscribe(StartAt::Earliest).err(),
        Some(SubscribeError::Closed)
    );
}

#[test]
fn joining_checks_offsets_and_slots() {
    let (mut writer, subscriber) = Ring::builder().capacity(4).max_readers(2).build().unwrap();
    writer.publish_batch(0..10_u64);
    // With no reader the writer ran free; only the last capacity is retained.
    let earliest = subscriber.earliest_offset();
    assert!((6..=10).contains(&earliest), "earliest {earliest}");
    assert_eq!(
        subscriber.subscribe(StartAt::Offset(0)).err(),
        Some(SubscribeError::NotRetained {
            requested: 0,
            earliest
        })
    );
    assert_eq!(
        subscriber.subscribe(StartAt::Offset(11)).err(),
        Some(SubscribeError::OutOfRange {
            requested: 11,
            latest: 10
        })
    );
    let mut at = subscriber.subscribe(StartAt::Offset(earliest)).unwrap();
    let mut latest = subscriber.subscribe(StartAt::Latest).unwrap();
    assert_eq!(
        subscriber.subscribe(StartAt::Earliest).err(),
        Some(SubscribeError::TooManyReaders { max: 2 })
    );
    let batch = at.try_poll(16).unwrap();
    assert_eq!(batch.first_offset(), earliest);
    assert!(batch
        .iter_with_offsets()
        .all(|(offset, value)| offset == *value));
    drop(batch);
    assert_eq!(latest.try_poll(1).err(), Some(PollError::Empty));
    writer.publish(10);
    assert_eq!(latest.try_poll(1).unwrap().get(0), Some(&10));
    assert_eq!(at.lag(), 1);
    // A removed reader frees its slot and stops gating the writer.
    drop(at);
    drop(latest);
    assert_eq!(writer.free_slots(), 4);
    assert!(subscriber.subscribe(StartAt::Latest).is_ok());
}

#[test]
fn a_claim_publishes_what_was_pushed() {
    let (mut writer, subscriber) = Ring::builder().capacity(8).build().unwrap();
    let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
    {
        let mut claim = writer.claim(4).unwrap();
        claim.extend([1, 2]);
        assert_eq!(claim.remaining(), 2);
        assert_eq!(claim.next_offset(), 2);
        // Dropped with two slots unused: only the pushed two become visible.
    }
    assert_eq!(writer.next_offset(), 2);
    let mut claim = writer.claim(1).unwrap();
    claim.push(3).unwrap();
    assert_eq!(claim.push(4), Err(4));
    claim.publish();
    assert_eq!(
        reader
            .try_poll(8)
            .unwrap()
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
}

#[test]
fn parking_strategies_deliver_across_threads() {
    for strategy in [
        WaitStrategy::BusySpin,
        WaitStrategy::Yield,
        WaitStrategy::SpinThenPark,
    ] {
        let (mut writer, subscriber) = Ring::builder()
            .capacity(16)
            .wait_strategy(strategy)
            .build()
            .unwrap();
        let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
        let consumer = std::thread::spawn(move || {
            let mut expected = 0_u64;
            while let Ok(batch) = reader.poll(7) {
                for value in &batch {
                    assert_eq!(*value, expected, "{strategy:?}");
                    expected += 1;
                }
            }
            expected
        });
        for value in 0..20_000_u64 {
            writer.publish(value);
        }
        drop(writer);
        assert_eq!(consumer.join().unwrap(), 20_000, "{strategy:?}");
    }
}

/// Counts its drops.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn every_message_is_dropped_exactly_once() {
    for published in [0_usize, 3, 8, 21] {
        let drops = Arc::new(AtomicUsize::new(0));
        let (mut writer, subscriber) = Ring::builder().capacity(8).build().unwrap();
        let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
        for i in 0..published {
            if i >= 8 {
                // Keep the reader a little behind so messages are overwritten on wrap.
                drop(reader.try_poll(1).unwrap());
            }
            writer.publish(Counted(drops.clone()));
        }
        // Overwritten messages are dropped by the writer, not earlier.
        assert_eq!(drops.load(Ordering::Relaxed), published.saturating_sub(8));
        drop(writer);
        drop(reader);
        assert_eq!(drops.load(Ordering::Relaxed), published.saturating_sub(8));
        drop(subscriber);
        assert_eq!(
            drops.load(Ordering::Relaxed),
            published,
            "published {published}"
        );
    }
}

/// A numbered message that counts its drops.
struct Tagged(u64, Arc<AtomicUsize>);

impl Drop for Tagged {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn batch_writes_wrap_around_the_slot_array() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (mut writer, subscriber) = Ring::builder().capacity(8).build().unwrap();
    let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
    let tagged = |from: u64, to: u64| (from..to).map(|i| Tagged(i, drops.clone()));
    let (mut next, mut read, mut wrapped) = (0_u64, Vec::new(), 0);
    let mut drain = |reader: &mut ringgroup::ring::Reader<Tagged>, read: &mut Vec<u64>| {
        let batch = reader.try_poll(8).unwrap();
        let (head, tail) = batch.as_slices();
        wrapped += usize::from(!tail.is_empty());
        read.extend(head.iter().chain(tail).map(|m| m.0));
    };
    let single = |writer: &mut ringgroup::ring::Writer<Tagged>, next: &mut u64| {
        writer.publish(Tagged(*next, drops.clone()));
        *next += 1;
    };
    // Runs of every length from every slot: each batch of `len` is followed by `pad` single
    // messages so that the stride `len + pad` is odd, hence coprime with 8, and 8 strides visit
    // all 8 start slots. Many runs cross the end of the array, the first (6, 7, 8) where the
    // writer starts replacing messages.
    for len in [3, 5, 1, 8, 2, 7, 4, 6] {
        let pad = 1 - len % 2;
        let mut starts = [false; 8];
        for _ in 0..8 {
            starts[(next % 8) as usize] = true;
            assert_eq!(writer.publish_batch(tagged(next, next + len)), len as usize);
            next += len;
            drain(&mut reader, &mut read);
            for _ in 0..pad {
                single(&mut writer, &mut next);
                drain(&mut reader, &mut read);
            }
        }
        assert_eq!(starts, [true; 8], "batches of {len} missed a start slot");
    }
    // The whole ring in one claim, from a slot other than the first.
    single(&mut writer, &mut next);
    drain(&mut reader, &mut read);
    assert_ne!(next % 8, 0);
    let mut claim = writer.claim(8).unwrap();
    claim.extend(tagged(next, next + 8));
    assert_eq!(claim.remaining(), 0);
    claim.publish();
    next += 8;
    drain(&mut reader, &mut read);
    // A claim whose iterators end early: inside the first run, then inside the second.
    while next % 8 != 6 {
        single(&mut writer, &mut next);
        drain(&mut reader, &mut read);
    }
    let mut claim = writer.claim(6).unwrap();
    claim.extend(tagged(next, next + 1));
    claim.extend(tagged(next + 1, next + 4));
    assert_eq!((claim.remaining(), claim.next_offset()), (2, next + 4));
    claim.publish();
    next += 4;
    drain(&mut reader, &mut read);
    // A guard on the set-up: the reader saw batches split by the end of the array.
    assert!(wrapped > 0, "no batch crossed the end of the slot array");
    assert_eq!(read, (0..next).collect::<Vec<_>>());
    // Every overwritten message was dropped once, by the writer; the last 8 by the ring.
    assert_eq!(drops.load(Ordering::Relaxed), next as usize - 8);
    drop((writer, reader, subscriber));
    assert_eq!(drops.load(Ordering::Relaxed), next as usize);
}

/// Panics in its drop when `explode` is set.
struct Fragile {
    drops: Arc<AtomicUsize>,
    explode: bool,
}

impl Drop for Fragile {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::Relaxed);
        if self.explode {
            panic!("fragile message");
        }
    }
}

#[test]
fn a_panicking_drop_does_not_leak_the_rest() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (mut writer, subscriber) = Ring::builder().capacity(4).build().unwrap();
    for i in 0..4 {
        writer.publish(Fragile {
            drops: drops.clone(),
            explode: i == 1,
        });
    }
    drop(writer);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(subscriber)));
    assert!(result.is_err());
    assert_eq!(drops.load(Ordering::Relaxed), 4);
}

#[test]
fn pinning_to_a_missing_core_is_an_error() {
    use ringgroup::affinity::{available_cores, pin_current_thread, AffinityError};
    let count = available_cores().len();
    assert_eq!(
        pin_current_thread(count + 5),
        Err(AffinityError::NoSuchCore {
            index: count + 5,
            available: count
        })
    );
}

/// Yields `good` messages, then panics (an iterator whose source fails midway).
fn failing_after(good: usize, drops: &Arc<AtomicUsize>) -> impl Iterator<Item = Counted> + '_ {
    (0..).map(move |i| {
        if i == good {
            // Unwinds without the panic hook's message.
            std::panic::resume_unwind(Box::new("the source failed"));
        }
        Counted(drops.clone())
    })
}

#[test]
fn a_panic_inside_a_batch_publishes_what_was_written() {
    for (capacity, before) in [(8, 0), (8, 6), (4, 9)] {
        let drops = Arc::new(AtomicUsize::new(0));
        let (mut writer, subscriber) = Ring::builder().capacity(capacity).build().unwrap();
        let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
        for _ in 0..before {
            writer.publish(Counted(drops.clone()));
            drop(reader.try_poll(1).unwrap());
        }
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            writer.publish_batch(failing_after(3, &drops))
        }));
        assert!(result.is_err());
        assert_eq!(writer.next_offset(), before as u64 + 3);
        assert_eq!(
            reader.try_poll(16).unwrap().len(),
            3,
            "the written prefix is published"
        );
        // The same through a claim's `extend`.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut claim = writer.claim(capacity).unwrap();
            claim.extend(failing_after(2, &drops));
        }));
        assert!(result.is_err());
        assert_eq!(reader.try_poll(16).unwrap().len(), 2);
        drop((writer, reader, subscriber));
        assert_eq!(
            drops.load(Ordering::Relaxed),
            before + 5,
            "I8: each dropped once"
        );
    }
}

#[test]
fn a_forgotten_claim_leaks_nothing_and_is_published_by_the_next_write() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (mut writer, subscriber) = Ring::builder().capacity(8).build().unwrap();
    let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
    let mut claim = writer.claim(4).unwrap();
    claim.push(Counted(drops.clone())).ok().unwrap();
    claim.push(Counted(drops.clone())).ok().unwrap();
    std::mem::forget(claim);
    assert_eq!(writer.next_offset(), 2, "pushed messages count at once");
    writer.publish(Counted(drops.clone()));
    assert_eq!(reader.try_poll(16).unwrap().len(), 3);
    // Forgotten last: the writer's drop publishes it, and the ring's drop frees it.
    let mut claim = writer.claim(1).unwrap();
    claim.push(Counted(drops.clone())).ok().unwrap();
    std::mem::forget(claim);
    drop(writer);
    assert_eq!(reader.try_poll(16).unwrap().len(), 1);
    drop((reader, subscriber));
    assert_eq!(drops.load(Ordering::Relaxed), 4);
}

/// Slots go back to the writer in runs of `release_every`, and at once when a poll finds
/// nothing; a reader that keeps reading a full ring always frees it.
#[test]
fn slots_are_released_in_runs_and_when_the_reader_runs_dry() {
    let (mut writer, subscriber) = Ring::<u64>::builder().capacity(64).build().unwrap();
    let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
    assert_eq!(writer.publish_batch(0..64), 64);
    // The default interval is a sixteenth of the ring: 4 messages.
    for expected in 0..3 {
        assert_eq!(*reader.try_poll(1).unwrap().get(0).unwrap(), expected);
        assert!(
            writer.try_publish(100).is_err(),
            "released before the run ended"
        );
    }
    assert_eq!(*reader.try_poll(1).unwrap().get(0).unwrap(), 3);
    for value in 64..68 {
        writer.try_publish(value).unwrap();
    }
    assert!(writer.try_publish(100).is_err());
    // Read one more, then run dry: the read slot goes back at the empty poll.
    let mut seen = Vec::new();
    while let Ok(batch) = reader.try_poll(1) {
        seen.push(*batch.get(0).unwrap());
    }
    assert_eq!(seen, (4..68).collect::<Vec<_>>());
    assert_eq!(writer.publish_batch(68..132), 64);

    // An interval of 1 releases each batch when it is dropped.
    reader.set_release_every(1);
    drop(reader.try_poll(1).unwrap());
    writer.try_publish(132).unwrap();
}

/// `try_drain` hands over everything published, in order, under one release; `drain` waits.
#[test]
fn drain_hands_over_everything_available() {
    let (mut writer, subscriber) = Ring::<u64>::builder().capacity(8).build().unwrap();
    let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
    assert_eq!(reader.try_drain(|_| ()).err(), Some(PollError::Empty));
    assert_eq!(writer.publish_batch(0..8), 8);
    let mut seen = Vec::new();
    assert_eq!(reader.try_drain(|&v| seen.push(v)), Ok(8));
    assert_eq!(seen, (0..8).collect::<Vec<_>>());
    // Everything read was released: the ring takes a full lap again.
    assert_eq!(writer.publish_batch(8..16), 8);
    let consumer = std::thread::spawn(move || {
        let mut seen = Vec::new();
        while reader.drain(|&v| seen.push(v)).is_ok() {}
        seen
    });
    for value in 16..1000 {
        writer.publish(value);
    }
    drop(writer);
    assert_eq!(consumer.join().unwrap(), (8..1000).collect::<Vec<_>>());
}
