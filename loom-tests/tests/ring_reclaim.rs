//! loom models of reclaiming the reader slots of dead processes (`ring::owners`).
//!
//! Process liveness is abstracted: each thread acts as a holder (`model::act_as`), and
//! `model::die(reader)` is a process dying with that reader registered: the registration stays
//! as it was and the holder is dead from then on. The ring is the ring of a region (holder
//! words per reader slot). Values equal offsets, and slot accesses go through loom's
//! `UnsafeCell`, so a slot overwritten while a live reader reads it fails the model.
#![cfg(ringgroup_loom)]

use loom::thread;
use ringgroup::ring::{model, Reader, Ring, StartAt, Subscriber, WaitStrategy, Writer};
use ringgroup::{PollError, SubscribeError};

fn owned_ring(capacity: usize, readers: usize) -> (Writer<u64>, Subscriber<u64>) {
    model::owned_ring(
        Ring::builder()
            .capacity(capacity)
            .max_readers(readers)
            .wait_strategy(WaitStrategy::BusySpin),
    )
    .unwrap()
}

/// Reads until the ring closes, checking each value is its offset.
fn drain(reader: &mut Reader<u64>) -> Vec<u64> {
    let mut seen = Vec::new();
    loop {
        match reader.poll(1) {
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

/// Subscribes as holder 3, retrying while every slot is taken (a reclaim in progress), and
/// reads to the end: a contiguous run from its start to `end`. `None` if the ring closed first.
fn join_and_drain(subscriber: Subscriber<u64>, end: u64) -> Option<u64> {
    model::act_as(3);
    let mut reader = loop {
        match subscriber.subscribe(StartAt::Earliest) {
            Ok(reader) => break reader,
            Err(SubscribeError::TooManyReaders { .. }) => thread::yield_now(),
            Err(SubscribeError::Closed) => return None,
            Err(e) => panic!("unexpected {e:?}"),
        }
    };
    let start = reader.position();
    let seen = drain(&mut reader);
    let expected: Vec<u64> = (start..end).collect();
    assert_eq!(
        seen, expected,
        "the new reader lost its gating: lost or lapped messages"
    );
    Some(start)
}

/// One reader slot, held by a dead reader that gates the full ring. The writer reclaims it while
/// a new reader, finding every slot taken, reclaims it too and registers into it. Exactly one
/// of them reclaims; the new reader's registration is never undone, so it gates the writer and
/// sees every message from its start, and the writer never overwrites a slot it reads.
#[test]
fn reclaim_races_a_registration_into_the_same_slot() {
    loom::model(|| {
        let (mut writer, subscriber) = owned_ring(1, 1);
        model::act_as(2);
        let doomed = subscriber.subscribe(StartAt::Earliest).unwrap();
        model::act_as(1);
        writer.publish(0); // full: the doomed reader at 0 holds the only slot
        model::die(doomed);
        let probe = subscriber.clone();
        let joiner = thread::spawn(move || join_and_drain(subscriber, 3));
        writer.publish(1); // waits until the dead reader's slot is reclaimed (by either side)
        writer.publish(2); // gated by the new reader once it registered
        drop(writer);
        joiner.join().unwrap();
        assert_eq!(
            probe.reclaimed_readers(),
            1,
            "reclaimed once, by one of the two"
        );
    });
}

/// Two reader slots: the dead reader's and a free one. A new reader registers into the free
/// slot while the writer reclaims the dead one's; the writer then gates on the new reader
/// alone, which sees every message from its start.
#[test]
fn reclaim_beside_a_registration_into_a_free_slot() {
    loom::model(|| {
        let (mut writer, subscriber) = owned_ring(1, 2);
        model::act_as(2);
        let doomed = subscriber.subscribe(StartAt::Earliest).unwrap();
        model::act_as(1);
        writer.publish(0);
        model::die(doomed);
        let probe = subscriber.clone();
        let joiner = thread::spawn(move || join_and_drain(subscriber, 3));
        writer.publish(1);
        writer.publish(2);
        drop(writer);
        joiner.join().unwrap();
        assert_eq!(probe.reclaimed_readers(), 1);
    });
}

/// A reader reads offset 0 in a batch and its process dies before the batch is released. The
/// writer reclaims its slot, and overwrites offset 0's slot only after the dead reader's read:
/// the death is seen after everything the process did.
#[test]
fn a_reader_dying_mid_batch_is_reclaimed_after_its_reads() {
    loom::model(|| {
        let (mut writer, subscriber) = owned_ring(1, 1);
        model::act_as(2);
        let mut doomed = subscriber.subscribe(StartAt::Earliest).unwrap();
        model::act_as(1);
        let dying = thread::spawn(move || {
            model::act_as(2);
            let batch = doomed.poll(1).unwrap();
            assert_eq!(batch.get(0), Some(&0));
            std::mem::forget(batch); // dies holding the batch: offset 0 is never released
            model::die(doomed);
        });
        writer.publish(0);
        writer.publish(1); // needs offset 0's slot: waits for the death, then reclaims
        drop(writer);
        dying.join().unwrap();
        assert_eq!(subscriber.reclaimed_readers(), 1);
    });
}
