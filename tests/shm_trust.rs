//! The trust boundary: a word of a region that another process forged to a value that cannot
//! be true is a typed `Corrupt` error naming the partition and the word, never a signal and
//! never a slot that was not written handed out as a record; and the region stays poisoned for
//! the process. Each word is found through the layout description (`shm::layout`) and written
//! through the file, as a neighbour process would.

use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use ringgroup::producer_group::{ProducerGroupError, Request};
use ringgroup::shm::{default_path, layout, remove, Corruption};
use ringgroup::{ConsumeError, GroupError, PollError, SendError, StartAt, Topic, TopicError};

/// A region name unique to this test and process.
fn name(test: &str) -> String {
    format!("test-{}-trust-{test}", std::process::id())
}

/// Removes the region when the test ends, however it ends.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = remove(&self.0);
    }
}

/// Writes `value` into the word called `word` of region `region` (a topic's, or `file` beside
/// it), through the file.
fn forge_at(path: &std::path::Path, word: &str, value: u64) {
    let layout = layout::describe(path).unwrap();
    let word = layout
        .word(word)
        .unwrap_or_else(|| panic!("no word {word}"));
    let bytes = value.to_ne_bytes();
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(&bytes[..word.size], word.offset).unwrap();
}

fn forge(region: &str, word: &str, value: u64) {
    forge_at(&default_path(region), word, value);
}

fn read(region: &str, word: &str) -> u64 {
    let path = default_path(region);
    let layout = layout::describe(&path).unwrap();
    let word = layout.word(word).unwrap();
    let mut bytes = [0; 8];
    let file = std::fs::File::open(&path).unwrap();
    file.read_exact_at(&mut bytes[..word.size], word.offset)
        .unwrap();
    u64::from_ne_bytes(bytes)
}

fn corruption(partition: Option<u32>, word: &'static str, found: u64) -> Corruption {
    Corruption::new(partition, word, found)
}

#[test]
fn a_forged_published_is_corrupt_for_a_reader_never_a_batch_past_the_ring() {
    let name = name("published");
    let _cleanup = Cleanup(name.clone());
    let (_topic, mut producer) = Topic::<u64>::builder("t")
        .partitions(2)
        .capacity(64)
        .shared_memory(&name)
        .build()
        .unwrap();
    let reader_topic = Topic::<u64>::open(&name).unwrap();
    let mut reader = reader_topic
        .subscriber(1)
        .unwrap()
        .subscribe(StartAt::Earliest)
        .unwrap();
    let mut other = reader_topic
        .subscriber(0)
        .unwrap()
        .subscribe(StartAt::Earliest)
        .unwrap();
    for i in 0..16 {
        producer.send_to(1, i).unwrap();
    }
    producer.send_to(0, 99).unwrap();
    forge(&name, "ring[1].published", 1 << 40);
    // The whole ask and a ring's worth both fail: nothing past the corrupt word is lent.
    let expected = corruption(Some(1), "published", 1 << 40);
    assert_eq!(
        reader.try_poll(1 << 20).err(),
        Some(PollError::Corrupt(expected))
    );
    assert_eq!(reader.poll(64).err(), Some(PollError::Corrupt(expected)));
    // Poisoned for this process: the other partition, untouched, says so too.
    assert_eq!(other.try_poll(8).err(), Some(PollError::Corrupt(expected)));
    // The producer's own process has not looked at the word: it still sends.
    producer.send_to(0, 100).unwrap();
}

#[test]
fn a_forged_published_is_corrupt_for_a_group_member() {
    let name = name("group-published");
    let _cleanup = Cleanup(name.clone());
    let (topic, mut producer) = Topic::<u64>::builder("t")
        .capacity(64)
        .shared_memory(&name)
        .build()
        .unwrap();
    let group = topic.group("g").build().unwrap();
    let member = group.join().unwrap();
    for i in 0..16 {
        producer.send(i).unwrap();
    }
    drop(member.poll(4, Duration::from_secs(5)).unwrap());
    forge(&name, "ring[0].published", 1 << 40);
    let error = member.poll(1 << 20, Duration::from_secs(5)).unwrap_err();
    assert_eq!(
        error,
        ConsumeError::Corrupt(corruption(Some(0), "published", 1 << 40))
    );
    // And so on, for every later poll.
    assert!(matches!(member.try_poll(64), Err(ConsumeError::Corrupt(_))));
}

#[test]
fn a_published_that_went_back_lends_nothing_it_did_not_publish() {
    let name = name("published-back");
    let _cleanup = Cleanup(name.clone());
    let (topic, mut producer) = Topic::<u64>::builder("t")
        .capacity(8)
        .shared_memory(&name)
        .build()
        .unwrap();
    let mut reader = topic
        .subscriber(0)
        .unwrap()
        .subscribe(StartAt::Earliest)
        .unwrap();
    for i in 0..6 {
        producer.send(i).unwrap();
    }
    let batch = reader.try_poll(8).unwrap();
    assert_eq!(
        batch.iter().copied().collect::<Vec<_>>(),
        [0, 1, 2, 3, 4, 5]
    );
    drop(batch);
    forge(&name, "ring[0].published", 1);
    assert_eq!(reader.try_poll(8).err(), Some(PollError::Empty));
    producer.send(6).unwrap();
    let batch = reader.try_poll(8).unwrap();
    assert_eq!(batch.iter().copied().collect::<Vec<_>>(), [6]);
}

#[test]
fn a_forged_claim_head_is_corrupt_for_a_producer() {
    let name = name("head");
    let _cleanup = Cleanup(name.clone());
    let (topic, producer) = Topic::<u64>::builder("t")
        .capacity(8)
        .multi_producer()
        .shared_memory(&name)
        .build()
        .unwrap();
    let group = topic.group("g").build().unwrap();
    let member = group.join().unwrap();
    producer.send(1).unwrap();
    forge(&name, "ring[0].head", u64::MAX);
    match producer.try_send(2) {
        Err(SendError::Corrupt { source, value }) => {
            assert_eq!(value, 2);
            assert_eq!(source, corruption(Some(0), "claim head", u64::MAX));
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // A blocking send says so too, instead of waiting for ever.
    assert!(matches!(producer.send(3), Err(SendError::Corrupt { .. })));
    // The member is in the same process: the region is poisoned for it.
    assert!(matches!(
        member.poll(8, Duration::from_secs(5)),
        Err(ConsumeError::Corrupt(_))
    ));
}

#[test]
fn a_forged_claim_head_is_corrupt_for_a_reader_stopped_at_a_claim() {
    let name = name("head-reader");
    let _cleanup = Cleanup(name.clone());
    let (topic, producer) = Topic::<u64>::builder("t")
        .capacity(8)
        .multi_producer()
        .shared_memory(&name)
        .build()
        .unwrap();
    let reader_topic = Topic::<u64>::open(&name).unwrap();
    let mut reader = reader_topic
        .subscriber(0)
        .unwrap()
        .subscribe(StartAt::Earliest)
        .unwrap();
    producer.send(1).unwrap();
    drop(reader.try_poll(8).unwrap());
    // A head far past the reader: repairing the "claims" up to it would be a loop of 2^40.
    forge(&name, "ring[0].head", 1 << 40);
    let started = Instant::now();
    let error = loop {
        match reader.poll_timeout(8, Duration::from_millis(50)) {
            Err(PollError::Timeout) if started.elapsed() < Duration::from_secs(10) => {}
            other => break other.err(),
        }
    };
    assert_eq!(
        error,
        Some(PollError::Corrupt(corruption(
            Some(0),
            "claim head",
            1 << 40
        )))
    );
    drop(topic);
}

#[test]
fn a_forged_stamp_is_corrupt_for_the_producer_that_laps_it() {
    let name = name("stamp");
    let _cleanup = Cleanup(name.clone());
    let (topic, producer) = Topic::<u64>::builder("t")
        .capacity(4)
        .multi_producer()
        .shared_memory(&name)
        .build()
        .unwrap();
    let mut reader = topic
        .subscriber(0)
        .unwrap()
        .subscribe(StartAt::Earliest)
        .unwrap();
    for i in 0..4 {
        producer.send(i).unwrap();
    }
    drop(reader.try_poll(8).unwrap());
    // Every offset is known stamped (so the producer's next rescan looks past slot 0).
    assert_eq!(topic.latest_offset(0), Some(4));
    // Offset 4 reuses slot 0, whose stamp must show offset 0 done (1): say offset 8 instead.
    forge(&name, "ring[0].stamp[0]", 9);
    match producer.try_send(4) {
        Err(SendError::Corrupt { source, value: 4 }) => {
            assert_eq!(source, corruption(Some(0), "stamp", 9));
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // The slot was given a tombstone, not a record: nothing unwritten is ever read.
    assert_eq!(read(&name, "ring[0].stamp[0]"), 5 | (1 << 63));
}

#[test]
fn a_forged_reader_cursor_is_corrupt_for_the_producer() {
    let name = name("cursor");
    let _cleanup = Cleanup(name.clone());
    let (topic, mut producer) = Topic::<u64>::builder("t")
        .capacity(4)
        .shared_memory(&name)
        .build()
        .unwrap();
    let _reader = topic
        .subscriber(0)
        .unwrap()
        .subscribe(StartAt::Earliest)
        .unwrap();
    for i in 0..4 {
        producer.send(i).unwrap();
    }
    // The reader has read nothing; a cursor past everything written cannot be true.
    forge(&name, "ring[0].reader[0]", 1000);
    match producer.send_timeout(4, Duration::from_secs(5)) {
        Err(SendError::Corrupt { source, value: 4 }) => {
            assert_eq!(source, corruption(Some(0), "reader cursor", 1000));
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn a_forged_plan_word_is_corrupt_for_the_members_of_its_group() {
    let name = name("plan");
    let _cleanup = Cleanup(name.clone());
    let (topic, mut producer) = Topic::<u64>::builder("t")
        .partitions(2)
        .capacity(8)
        .shared_memory(&name)
        .build()
        .unwrap();
    let group = topic.group("g").build().unwrap();
    let member = group.join().unwrap();
    producer.send_to(0, 1).unwrap();
    drop(member.poll(8, Duration::from_secs(5)).unwrap());
    // The plan word says who owns partition 1 (and who is to get it): member slots 1..=16.
    forge(&name, "registry[0].plan[1]", 0xffff_ffff);
    // The group's next sync (its supervisor's, within a reap period) finds it.
    let started = Instant::now();
    let error = loop {
        match member.poll(8, Duration::from_millis(20)) {
            Ok(records) => drop(records),
            Err(ConsumeError::Timeout) if started.elapsed() < Duration::from_secs(10) => {}
            Err(error) => break error,
        }
    };
    assert_eq!(
        error,
        ConsumeError::Corrupt(corruption(Some(1), "plan", 0xffff_ffff))
    );
}

#[test]
fn a_forged_group_name_length_is_corrupt_for_a_build() {
    let name = name("name-length");
    let _cleanup = Cleanup(name.clone());
    let (topic, _producer) = Topic::<u64>::builder("t")
        .shared_memory(&name)
        .build()
        .unwrap();
    let group = topic.group("g").build().unwrap();
    forge(&name, "registry[0].name_len", 1 << 20);
    let other = Topic::<u64>::open(&name).unwrap();
    assert_eq!(
        other.group("h").build().err(),
        Some(GroupError::Corrupt(corruption(
            None,
            "group name length",
            1 << 20
        )))
    );
    drop(group);
}

#[test]
fn a_forged_group_slot_is_corrupt_for_a_member_that_adopts_it() {
    let name = name("group-slot");
    let _cleanup = Cleanup(name.clone());
    let (topic, _producer) = Topic::<u64>::builder("t")
        .max_groups(4)
        .shared_memory(&name)
        .build()
        .unwrap();
    let group = topic.group("g").build().unwrap();
    // Each ring has 4 reader slots: slot 9 is none of them.
    forge(&name, "registry[0].slot[0]", 9);
    let other = Topic::<u64>::open(&name).unwrap();
    assert_eq!(
        other.group("g").build().err(),
        Some(GroupError::Corrupt(corruption(Some(0), "group slot", 9)))
    );
    drop(group);
}

#[test]
fn a_forged_directory_word_is_corrupt_for_a_producer_group_build() {
    let name = name("directory");
    let _cleanup = Cleanup(name.clone());
    let (topic, _producer) = Topic::<Request<u64, u64>>::builder("t")
        .multi_producer()
        .shared_memory(&name)
        .build()
        .unwrap();
    let clients = topic.producer_group("clients").build().unwrap();
    forge(&name, "directory.entry[0].name_len", 1000);
    let other = Topic::<Request<u64, u64>>::open(&name).unwrap();
    assert_eq!(
        other.producer_group("clients").build().err(),
        Some(ProducerGroupError::Corrupt(corruption(
            None,
            "producer-group name length",
            1000
        )))
    );
    drop(clients);
}

#[test]
fn a_forged_published_is_corrupt_for_a_producer_taking_over() {
    let name = name("take-over");
    let _cleanup = Cleanup(name.clone());
    let (topic, producer) = Topic::<u64>::builder("t")
        .capacity(8)
        .shared_memory(&name)
        .build()
        .unwrap();
    // The producer's process "dies": its owner word names a process that never lives.
    std::mem::forget(producer);
    forge(
        &name,
        "header.producer",
        (u64::from(u32::MAX - 1) << 32) | 7,
    );
    forge(&name, "ring[0].published", u64::MAX - 2);
    assert_eq!(
        topic.take_over_producer().err(),
        Some(TopicError::Corrupt(corruption(
            Some(0),
            "published",
            u64::MAX - 2
        )))
    );
}

#[test]
fn a_lapped_lossy_member_of_a_multi_producer_region_is_not_corruption() {
    let name = name("lapped-lossy");
    let _cleanup = Cleanup(name.clone());
    let (topic, producer) = Topic::<u64>::builder("t")
        .capacity(4)
        .multi_producer()
        .shared_memory(&name)
        .build()
        .unwrap();
    let group = topic
        .group("g")
        .backpressure(ringgroup::Backpressure::Lossy)
        .build()
        .unwrap();
    let member = group.join().unwrap();
    assert_eq!(member.try_poll(8).err(), Some(ConsumeError::Empty));
    // Three laps past the member, which gates nothing between its polls: its next offset's
    // slot holds a later lap's stamp, and the claim head is far past it. Both are true.
    for i in 0..12 {
        producer.try_send(i).unwrap();
    }
    // Its poll finds it lapped (past the dead-claim look, which finds no claim of the dead
    // there), moves past what was lapped and reads what the ring still holds.
    let records = member.poll(8, Duration::from_secs(5)).unwrap();
    let values: Vec<u64> = records.iter().map(|record| *record.value).collect();
    assert_eq!(values, [8, 9, 10, 11]);
}

#[test]
fn every_fixed_header_word_forged_makes_opening_a_typed_error() {
    let name = name("header");
    let _cleanup = Cleanup(name.clone());
    let (_topic, _producer) = Topic::<u64>::builder("t")
        .partitions(2)
        .capacity(8)
        .multi_producer()
        .shared_memory(&name)
        .build()
        .unwrap();
    let path = default_path(&name);
    let layout = layout::describe(&path).unwrap();
    // The words processes take and give back change while the region lives; every other
    // header word is written once, by the creator.
    let taken = [
        "header.state",
        "header.creator",
        "header.producer",
        "header.groups_lock",
    ];
    let fixed: Vec<_> = layout
        .words
        .iter()
        .filter(|w| w.part == layout::Part::Header && !taken.contains(&w.name.as_str()))
        .collect();
    assert!(fixed.len() > 20, "{} fixed words", fixed.len());
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    for word in fixed {
        let mut original = [0; 8];
        file.read_exact_at(&mut original[..word.size], word.offset)
            .unwrap();
        let mut forged = original;
        forged[0] ^= 1;
        file.write_all_at(&forged[..word.size], word.offset)
            .unwrap();
        match Topic::<u64>::open(&name) {
            Err(TopicError::Region(_)) => {}
            other => panic!("{} forged: {other:?}", word.name),
        }
        file.write_all_at(&original[..word.size], word.offset)
            .unwrap();
    }
    assert!(Topic::<u64>::open(&name).is_ok());
}

#[test]
fn a_reader_lapped_while_it_holds_a_batch_is_told_at_its_next_poll() {
    let name = name("lapped-lent");
    let _cleanup = Cleanup(name.clone());
    let (_topic, mut producer) = Topic::<u64>::builder("t")
        .capacity(4)
        .shared_memory(&name)
        .build()
        .unwrap();
    let reader_topic = Topic::<u64>::open(&name).unwrap();
    let mut reader = reader_topic
        .subscriber(0)
        .unwrap()
        .subscribe(StartAt::Earliest)
        .unwrap();
    for i in 0..4 {
        producer.send(i).unwrap();
    }
    let batch = reader.try_poll(4).unwrap();
    assert_eq!(batch.first_offset(), 0);
    // A neighbour frees the reader's slot (a forged cursor that could be true: free): the
    // producer no longer waits for it and laps the batch it holds.
    forge(&name, "ring[0].reader[0]", u64::MAX);
    // A whole lap: after it, the reader's position alone (4, with 8 published) looks fine.
    for i in 4..8 {
        producer
            .send_timeout(i, Duration::from_secs(5))
            .expect("the producer is not gated any more");
    }
    drop(batch);
    assert!(matches!(
        reader.try_poll(4),
        Err(PollError::Corrupt(Corruption {
            partition: Some(0),
            ..
        }))
    ));
}

#[test]
fn a_forged_readers_high_hides_no_reader_from_the_producer() {
    let name = name("readers-high");
    let _cleanup = Cleanup(name.clone());
    let (_topic, mut producer) = Topic::<u64>::builder("t")
        .capacity(4)
        .max_groups(4)
        .shared_memory(&name)
        .build()
        .unwrap();
    let reader_topic = Topic::<u64>::open(&name).unwrap();
    let subscriber = reader_topic.subscriber(0).unwrap();
    // Two readers: the second, in slot 1, holds the ring full.
    let first = subscriber.subscribe(StartAt::Earliest).unwrap();
    let mut second = subscriber.subscribe(StartAt::Earliest).unwrap();
    drop(first);
    for i in 0..4 {
        producer.send(i).unwrap();
    }
    // "No reader past slot 0": a producer that believed it would overwrite what `second` holds.
    forge(&name, "ring[0].readers_high", 0);
    assert!(matches!(
        producer.send_timeout(4, Duration::from_millis(50)),
        Err(SendError::Timeout(4))
    ));
    let batch = second.try_poll(8).unwrap();
    assert_eq!(batch.iter().copied().collect::<Vec<_>>(), [0, 1, 2, 3]);
}
