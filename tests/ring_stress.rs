//! Stress (not loom): one writer, three readers that join and leave mid-stream, several
//! million messages. Each message's value is its offset, and every reader session checks it
//! saw an unbroken, in-order run from where it started. One reader stays for the whole stream
//! to check nothing is lost.

use ringgroup::ring::{Reader, Ring, StartAt, Subscriber, WaitStrategy};
use ringgroup::PollError;
use ringgroup_testkit::random::next_random;

const MESSAGES: u64 = 3_000_000;

/// Reads up to `budget` messages (or to the close); returns (first offset, count, closed).
fn read_session(reader: &mut Reader<u64>, budget: u64) -> (u64, u64, bool) {
    let first = reader.position();
    let mut expected = first;
    while expected - first < budget {
        match reader.poll(256) {
            Ok(batch) => {
                for (offset, value) in batch.iter_with_offsets() {
                    assert_eq!(offset, expected, "gap or reorder");
                    assert_eq!(*value, offset, "slot holds another offset's message");
                    expected += 1;
                }
            }
            Err(PollError::Closed) => return (first, expected - first, true),
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    (first, expected - first, false)
}

fn churning_reader(subscriber: Subscriber<u64>, seed: u64) -> u64 {
    let mut state = seed;
    let mut sessions = 0;
    loop {
        let start = match next_random(&mut state) % 3 {
            0 => StartAt::Earliest,
            1 => StartAt::Latest,
            _ => StartAt::Offset(subscriber.earliest_offset()),
        };
        let mut reader = match subscriber.subscribe(start) {
            Ok(reader) => reader,
            Err(ringgroup::SubscribeError::Closed) => return sessions,
            // The offset was overwritten between the two calls: try again.
            Err(ringgroup::SubscribeError::NotRetained { .. }) => continue,
            Err(e) => panic!("unexpected {e:?}"),
        };
        sessions += 1;
        let budget = next_random(&mut state) % 200_000;
        let (_, _, closed) = read_session(&mut reader, budget);
        if closed {
            return sessions;
        }
    }
}

#[test]
fn one_writer_three_readers_joining_and_leaving() {
    let (mut writer, subscriber) = Ring::<u64>::builder()
        .capacity(1024)
        .max_readers(4)
        .wait_strategy(WaitStrategy::SpinThenPark)
        .build()
        .unwrap();
    let mut steady = subscriber.subscribe(StartAt::Earliest).unwrap();
    let steady = std::thread::spawn(move || read_session(&mut steady, u64::MAX));
    let churners: Vec<_> = (1..=2)
        .map(|seed| {
            let subscriber = subscriber.clone();
            std::thread::spawn(move || churning_reader(subscriber, seed * 0x9E37_79B9))
        })
        .collect();
    drop(subscriber);
    let mut offset = 0;
    while offset < MESSAGES {
        // Mix single publishes and batches.
        if offset % 3 == 0 {
            writer.publish(offset);
            offset += 1;
        } else {
            let end = (offset + 100).min(MESSAGES);
            writer.publish_batch(offset..end);
            offset = end;
        }
    }
    drop(writer);
    let (first, count, closed) = steady.join().unwrap();
    assert_eq!(
        (first, count, closed),
        (0, MESSAGES, true),
        "the steady reader lost messages"
    );
    for churner in churners {
        assert!(churner.join().unwrap() >= 1);
    }
}
