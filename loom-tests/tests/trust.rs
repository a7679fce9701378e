//! loom models of the trust checks of a ring in a region (`shm::trust`): every check a ring
//! makes of a word another process writes must hold in every interleaving of honest processes,
//! so a check never takes a true value for a corrupt one. A false alarm would poison the ring
//! (the models' owned rings check their words as a region's do), and every later call would
//! fail with `Corrupt`, which the models treat as a failure.
//!
//! The check most exposed to a race is the producers' "no registered cursor is past the claim
//! head": a producer reads the head, then the cursors, and meanwhile another producer may
//! claim and stamp, and a reader read and release, past the head it read.
#![cfg(ringgroup_loom)]

use loom::thread;
use ringgroup::ring::{model, Reader, Ring, StartAt, WaitStrategy};
use ringgroup::PollError;

/// Everything until the ring closes; a `Corrupt` poll fails the model.
fn drain(reader: &mut Reader<u64>) -> Vec<u64> {
    let mut seen = Vec::new();
    loop {
        match reader.poll(4) {
            Ok(batch) => seen.extend(batch.iter().copied()),
            Err(PollError::Closed) => return seen,
            Err(error) => panic!("an honest ring was found corrupt: {error:?}"),
        }
    }
}

/// Two producers lap a ring of two slots in a region while the reader releases what it read:
/// producer `a`'s scan may meet the reader's cursor past the head it read first (`b` claimed,
/// stamped and was read meanwhile). That is true, not corrupt: the check looks at the head
/// again before it cries foul. (A false alarm poisons the ring: the reader's next poll fails,
/// or a producer waits for room for ever, which loom reports.) Every message arrives, once.
#[test]
fn a_release_past_a_scans_head_is_not_corruption() {
    loom::model(|| {
        let (a, subscriber) = model::owned_multi_ring(
            Ring::builder()
                .capacity(2)
                .max_readers(1)
                .wait_strategy(WaitStrategy::SpinThenPark)
                .multi_producer(),
        )
        .unwrap();
        let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
        // A full lap, read and released: both producers' next claims need a rescan.
        a.publish(0);
        a.publish(1);
        assert_eq!(reader.try_poll(2).unwrap().len(), 2);
        let b = a.clone();
        let consumer = thread::spawn(move || drain(&mut reader));
        let other = thread::spawn(move || {
            b.publish(20);
        });
        a.publish(10);
        drop(a);
        other.join().unwrap();
        let mut seen = consumer.join().unwrap();
        seen.sort_unstable();
        assert_eq!(seen, [10, 20]);
    });
}
