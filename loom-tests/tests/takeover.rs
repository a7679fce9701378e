//! loom model of a producer takeover (issue 13): a single-producer ring's writer dies mid-claim
//! (a message written into its slot but not published, the ring not closed) and another writer
//! takes the ring over at the published end, while a reader joins and drains.
//!
//! In a real region the death is confirmed through the kernel (`/proc`) before the takeover, so
//! the model runs death and takeover in order on one thread; the readers race both. Every
//! message's value is its offset, the dead writer's unpublished one is not, so a reader that saw
//! it, or a slot overwritten under a reader, fails the model.
#![cfg(ringgroup_loom)]

use loom::thread;
use ringgroup::ring::{Reader, Ring, StartAt, WaitStrategy};
use ringgroup::{PollError, SubscribeError};

const UNPUBLISHED: u64 = 99;

/// Reads until the ring closes, checking each value is its offset; returns the values.
fn drain(reader: &mut Reader<u64>) -> Vec<u64> {
    let mut seen = Vec::new();
    loop {
        match reader.poll(2) {
            Ok(batch) => {
                for (offset, value) in batch.iter_with_offsets() {
                    assert_ne!(
                        *value, UNPUBLISHED,
                        "read the dead writer's unpublished slot"
                    );
                    assert_eq!(*value, offset, "slot holds another offset's message");
                    seen.push(*value);
                }
            }
            Err(PollError::Closed) => return seen,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
}

/// The new writer resumes at the published end and gates on a reader that joins at any point
/// (before the death, between death and takeover, during the new writer's first rescan): the
/// reader's run is unbroken from where it joined, it never sees the unwritten slot, and no slot
/// is overwritten under it. A one-slot ring, so the new writer's publish is a lap.
#[test]
fn a_writer_dead_mid_claim_is_taken_over_at_the_published_end() {
    loom::model(|| {
        let (mut writer, subscriber) = Ring::<u64>::builder()
            .capacity(1)
            .max_readers(2)
            .wait_strategy(WaitStrategy::SpinThenPark)
            .build()
            .unwrap();
        let joiner = thread::spawn(move || match subscriber.subscribe(StartAt::Earliest) {
            Ok(mut reader) => {
                let first = reader.position();
                (first, drain(&mut reader))
            }
            // Joined after the new writer closed the ring: nothing to check.
            Err(SubscribeError::Closed) => (2, Vec::new()),
            Err(e) => panic!("unexpected {e:?}"),
        });
        writer.publish(0);
        let dead = writer.die_mid_write(UNPUBLISHED);
        let mut writer = dead.take_over();
        assert_eq!(writer.next_offset(), 1, "resumed past the published end");
        writer.publish(1); // a lap of the one-slot ring: waits for the reader
        drop(writer);
        let (first, seen) = joiner.join().unwrap();
        let expected: Vec<u64> = (first..2).collect();
        assert_eq!(seen, expected, "the joiner's run is broken");
    });
}
