//! Multi-producer rings through the public API: no loss, per-producer order, one total order
//! seen by every reader, back-pressure, abandoned claims, drop-exactly-once, close.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ringgroup::ring::{Reader, Ring, StartAt, WaitStrategy};
use ringgroup::{ClaimError, PollError, PublishError};

/// A message: producer id in the high bits, sequence in the low.
fn tag(producer: u64, seq: u64) -> u64 {
    (producer << 40) | seq
}

fn drain(reader: &mut Reader<u64>) -> Vec<u64> {
    let mut seen = Vec::new();
    loop {
        match reader.poll(64) {
            Ok(batch) => seen.extend(batch.iter().copied()),
            Err(PollError::Closed) => return seen,
            Err(e) => panic!("{e:?}"),
        }
    }
}

#[test]
fn many_producers_one_total_order_for_every_reader() {
    const PRODUCERS: u64 = 4;
    const EACH: u64 = 50_000;
    let (writer, subscriber) = Ring::<u64>::builder()
        .capacity(256)
        .wait_strategy(WaitStrategy::Yield) // 6 threads on as few as 2 cores
        .multi_producer()
        .build()
        .unwrap();
    let mut readers: Vec<_> = (0..2)
        .map(|_| subscriber.subscribe(StartAt::Earliest).unwrap())
        .collect();
    let consumers: Vec<_> = readers
        .drain(..)
        .map(|mut reader| std::thread::spawn(move || drain(&mut reader)))
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let writer = writer.clone();
            std::thread::spawn(move || {
                for seq in 0..EACH {
                    if seq % 3 == 0 {
                        writer.publish_batch([tag(p, seq)]);
                    } else {
                        writer.publish(tag(p, seq));
                    }
                }
            })
        })
        .collect();
    drop(writer);
    for producer in producers {
        producer.join().unwrap();
    }
    let seen: Vec<Vec<u64>> = consumers.into_iter().map(|c| c.join().unwrap()).collect();
    assert_eq!(seen[0].len() as u64, PRODUCERS * EACH, "lost or duplicated");
    assert_eq!(seen[0], seen[1], "readers saw different orders");
    for p in 0..PRODUCERS {
        let mine: Vec<u64> = seen[0].iter().copied().filter(|v| v >> 40 == p).collect();
        assert_eq!(mine, (0..EACH).map(|s| tag(p, s)).collect::<Vec<_>>());
    }
}

#[test]
fn a_gating_reader_holds_every_producer_back() {
    let (writer, subscriber) = Ring::<u64>::builder()
        .capacity(4)
        .multi_producer()
        .build()
        .unwrap();
    let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
    let other = writer.clone();
    for i in 0..4 {
        assert_eq!(writer.try_publish(i), Ok(i));
    }
    assert_eq!(other.try_publish(9), Err(PublishError::Full(9)));
    assert_eq!(
        writer.publish_timeout(9, Duration::from_millis(1)),
        Err(PublishError::Timeout(9))
    );
    assert!(matches!(writer.try_claim(1), Err(ClaimError::Full)));
    assert!(matches!(
        writer.try_claim(5),
        Err(ClaimError::TooLarge { requested: 5, .. })
    ));
    drop(reader.try_poll(2).unwrap());
    assert_eq!(other.try_publish(4), Ok(4));
}

#[test]
fn an_abandoned_claim_becomes_tombstones_the_readers_skip() {
    let (writer, subscriber) = Ring::<u64>::builder()
        .capacity(8)
        .multi_producer()
        .build()
        .unwrap();
    let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
    writer.publish(0);
    {
        let mut claim = writer.claim(3).unwrap();
        claim.push(1).unwrap(); // offset 1; offsets 2 and 3 are abandoned
    }
    // A panic inside a claim's iterator abandons the rest too.
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut claim = writer.claim(2).unwrap();
        claim.extend((10..).inspect(|&v| {
            if v == 11 {
                std::panic::resume_unwind(Box::new("source failed"));
            }
        }));
    }));
    assert!(unwound.is_err());
    writer.publish(6);
    drop(writer);
    assert_eq!(drain(&mut reader), [0, 1, 10, 6]);
    assert_eq!(reader.tombstones_skipped(), 3);
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
    let drops = Arc::new(AtomicUsize::new(0));
    let (writer, subscriber) = Ring::<Counted>::builder()
        .capacity(4)
        .multi_producer()
        .build()
        .unwrap();
    let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
    let mut created = 0;
    for round in 0..5 {
        let mut claim = writer.claim(3).unwrap();
        claim.push(Counted(drops.clone())).ok().unwrap();
        created += 1;
        if round % 2 == 0 {
            claim.push(Counted(drops.clone())).ok().unwrap();
            created += 1;
        }
        drop(claim); // the rest are tombstones
        drop(reader.try_poll(4));
        drop(reader.try_poll(4));
    }
    assert!(
        drops.load(Ordering::Relaxed) + 4 >= created,
        "at most a ring's worth alive"
    );
    drop((writer, reader, subscriber));
    assert_eq!(drops.load(Ordering::Relaxed), created);
}

#[test]
fn the_last_producer_closes_the_ring_and_new_readers_start_at_the_latest() {
    let (writer, subscriber) = Ring::<u64>::builder()
        .capacity(8)
        .multi_producer()
        .build()
        .unwrap();
    let second = writer.clone();
    writer.publish(1);
    second.publish(2);
    assert_eq!(subscriber.latest_offset(), 2);
    let mut late = subscriber.subscribe(StartAt::Latest).unwrap();
    drop(writer);
    second.publish(3);
    assert_eq!(
        late.try_poll(8)
            .unwrap()
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [3]
    );
    drop(second);
    assert_eq!(late.try_poll(8).err(), Some(PollError::Closed));
    assert!(subscriber.subscribe(StartAt::Earliest).is_err(), "closed");
}
