//! Shared-memory regions: a topic made in one place and opened in another reads the same rings,
//! and every bad region is a typed error, never a crash.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;

use ringgroup::shm::{default_path, remove, InlineBytes, RegionError, LAYOUT_VERSION};
use ringgroup::{ConsumeError, StartAt, Topic, TopicError};

/// A region name unique to this test and process.
fn name(test: &str) -> String {
    format!("test-{}-{test}", std::process::id())
}

/// Removes the region when the test ends, however it ends.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = remove(&self.0);
    }
}

fn region_error(result: Result<Topic<u64>, TopicError>) -> RegionError {
    match result {
        Err(TopicError::Region(error)) => error,
        other => panic!("expected a region error, got {other:?}"),
    }
}

/// Overwrites `bytes` at `offset` of the region file.
fn patch(path: &PathBuf, offset: u64, bytes: &[u8]) {
    let mut file = OpenOptions::new().write(true).open(path).unwrap();
    file.seek(SeekFrom::Start(offset)).unwrap();
    file.write_all(bytes).unwrap();
}

#[test]
fn a_topic_opened_elsewhere_reads_the_same_rings() {
    let name = name("same");
    let _cleanup = Cleanup(name.clone());
    let (_topic, mut producer) = Topic::<u64>::builder("orders")
        .partitions(2)
        .capacity(8)
        .shared_memory(&name)
        .build()
        .unwrap();
    let opened = Topic::<u64>::open(&name).unwrap();
    assert_eq!(opened.partitions(), 2);
    let mut reader = opened
        .subscriber(1)
        .unwrap()
        .subscribe(StartAt::Earliest)
        .unwrap();
    for value in 0..20 {
        producer.send_to(1, value).unwrap_or_else(|_| {
            // The ring of 8 is full until the reader reads.
            panic!("blocked send cannot fail")
        });
        if value % 4 == 3 {
            let batch = reader.try_poll(8).unwrap();
            assert!(batch.iter().all(|v| *v <= value));
        }
    }
    drop(producer);
    assert_eq!(opened.latest_offset(1), Some(20));
    assert!(matches!(
        Topic::<u64>::builder("orders").shared_memory(&name).build(),
        Err(TopicError::Region(RegionError::AlreadyExists { .. }))
    ));
}

#[test]
fn inline_bytes_travel_through_a_region() {
    let name = name("bytes");
    let _cleanup = Cleanup(name.clone());
    let (_topic, mut producer) = Topic::<InlineBytes<32>>::builder("payloads")
        .shared_memory(&name)
        .build()
        .unwrap();
    let opened = Topic::<InlineBytes<32>>::open(&name).unwrap();
    let mut reader = opened
        .subscriber(0)
        .unwrap()
        .subscribe(StartAt::Earliest)
        .unwrap();
    producer.send(InlineBytes::new(b"hello").unwrap()).unwrap();
    assert_eq!(
        reader.try_poll(1).unwrap().get(0).unwrap().as_bytes(),
        b"hello"
    );
}

#[test]
fn bad_names_and_missing_regions_are_errors() {
    assert_eq!(region_error(Topic::<u64>::open("")), RegionError::BadName);
    assert_eq!(
        region_error(Topic::<u64>::open("a/b")),
        RegionError::BadName
    );
    assert!(matches!(
        region_error(Topic::<u64>::open(&name("missing"))),
        RegionError::NotFound { .. }
    ));
}

#[test]
fn another_message_type_is_refused() {
    let name = name("type");
    let _cleanup = Cleanup(name.clone());
    let _made = Topic::<u64>::builder("t")
        .shared_memory(&name)
        .build()
        .unwrap();
    match Topic::<u32>::open(&name) {
        Err(TopicError::Region(RegionError::TypeMismatch { expected, found })) => {
            assert!(
                expected.contains("u32") && found.contains("u64"),
                "{expected} / {found}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Same size and alignment, another type: still refused.
    assert!(matches!(
        Topic::<i64>::open(&name),
        Err(TopicError::Region(RegionError::TypeMismatch { .. }))
    ));
}

#[test]
fn another_version_a_foreign_file_and_corrupt_geometry_are_refused() {
    let name = name("corrupt");
    let _cleanup = Cleanup(name.clone());
    let path = default_path(&name);
    let made = Topic::<u64>::builder("t")
        .shared_memory(&name)
        .build()
        .unwrap();
    drop(made);
    patch(&path, 8, &(LAYOUT_VERSION + 1).to_le_bytes());
    assert_eq!(
        region_error(Topic::<u64>::open(&name)),
        RegionError::Version {
            found: LAYOUT_VERSION + 1,
            expected: LAYOUT_VERSION
        }
    );
    patch(&path, 8, &LAYOUT_VERSION.to_le_bytes());
    // The capacity (offset 184) made 3: not a power of two.
    patch(&path, 184, &3_u64.to_le_bytes());
    assert!(matches!(
        region_error(Topic::<u64>::open(&name)),
        RegionError::Corrupt { .. }
    ));
    patch(&path, 0, b"notaring");
    assert_eq!(
        region_error(Topic::<u64>::open(&name)),
        RegionError::NotARegion
    );
}

#[test]
fn a_truncated_region_is_refused_before_it_is_mapped() {
    let name = name("short");
    let _cleanup = Cleanup(name.clone());
    let path = default_path(&name);
    drop(
        Topic::<u64>::builder("t")
            .capacity(1024)
            .shared_memory(&name)
            .build()
            .unwrap(),
    );
    let file = OpenOptions::new().write(true).open(&path).unwrap();
    let full = file.metadata().unwrap().len();
    file.set_len(full - 4096).unwrap();
    assert!(matches!(
        region_error(Topic::<u64>::open(&name)),
        RegionError::Truncated { .. }
    ));
    file.set_len(100).unwrap();
    assert!(matches!(
        region_error(Topic::<u64>::open(&name)),
        RegionError::Truncated { size: 100, .. }
    ));
}

#[test]
fn a_region_whose_creator_died_mid_initialisation_is_refused() {
    let name = name("orphan");
    let _cleanup = Cleanup(name.clone());
    let path = default_path(&name);
    drop(
        Topic::<u64>::builder("t")
            .shared_memory(&name)
            .build()
            .unwrap(),
    );
    // As a creator killed before it finished: `state` (offset 12) not ready, and the creator
    // (offset 16: pid << 32 | start) a process that does not exist.
    patch(&path, 12, &0_u32.to_le_bytes());
    patch(
        &path,
        16,
        &(((u64::from(u32::MAX - 1)) << 32) | 7).to_le_bytes(),
    );
    assert!(matches!(
        region_error(Topic::<u64>::open(&name)),
        RegionError::CreatorDied { .. }
    ));
}

#[test]
fn the_producer_of_a_live_process_cannot_be_taken_over() {
    let name = name("takeover");
    let _cleanup = Cleanup(name.clone());
    let (topic, producer) = Topic::<u64>::builder("t")
        .shared_memory(&name)
        .build()
        .unwrap();
    let opened = Topic::<u64>::open(&name).unwrap();
    // This process holds it: taking it "over" from itself would make two writers.
    assert_eq!(
        opened.take_over_producer().err(),
        Some(TopicError::ProducerAlive {
            pid: std::process::id()
        })
    );
    drop((topic, producer, opened));
}

/// A consumer group on a shared-memory topic works inside one process as on the heap: once
/// the two members split the partitions, each sees only its own, and the group sees every
/// message once, in order.
#[test]
fn a_group_on_a_shared_memory_topic_shares_its_partitions() {
    use std::time::Duration;
    let name = name("group");
    let _cleanup = Cleanup(name.clone());
    let (topic, mut producer) = Topic::<u64>::builder("orders")
        .partitions(2)
        .capacity(8)
        .shared_memory(&name)
        .build()
        .unwrap();
    let group = topic.group("g").build().unwrap();
    let members = [group.join().unwrap(), group.join().unwrap()];
    // Poll (nothing is sent yet) until the handoff to the second member is done.
    while members.iter().any(|m| m.assignment().len() != 1) {
        for member in &members {
            assert!(matches!(
                member.poll(1, Duration::from_millis(1)),
                Err(ConsumeError::Timeout)
            ));
        }
    }
    let owned: Vec<u32> = members
        .iter()
        .map(|m| m.assignment()[0].partition)
        .collect();
    let sender = std::thread::spawn(move || {
        for value in 0..100 {
            producer.send_to((value % 2) as u32, value).unwrap();
        }
    });
    let mut seen = [Vec::new(), Vec::new()];
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while seen[0].len() + seen[1].len() < 100 {
        assert!(
            std::time::Instant::now() < deadline,
            "records missing: {seen:?}"
        );
        for (who, member) in members.iter().enumerate() {
            let records = match member.poll(16, Duration::from_millis(1)) {
                Ok(records) => records,
                // Closed: this member's partition is drained and the producer is gone.
                Err(ConsumeError::Timeout | ConsumeError::Closed) => continue,
                Err(e) => panic!("{e}"),
            };
            for record in records.iter() {
                assert_eq!(
                    record.partition, owned[who],
                    "a record of a partition it does not own"
                );
                seen[who].push(*record.value);
            }
        }
    }
    sender.join().unwrap();
    for (who, values) in seen.iter().enumerate() {
        let expected: Vec<u64> = (0..100)
            .filter(|v| v % 2 == u64::from(owned[who]))
            .collect();
        assert_eq!(values, &expected);
    }
}

/// A region made in another pid namespace is refused: process identities would be misread.
#[test]
fn a_region_of_another_pid_namespace_is_refused() {
    use std::os::unix::fs::MetadataExt;
    let name = name("pidns");
    let _cleanup = Cleanup(name.clone());
    let (_topic, _producer) = Topic::<u64>::builder("t")
        .shared_memory(&name)
        .build()
        .unwrap();
    let path = default_path(&name);
    // The header's pid-namespace word (after magic, version, state, creator, the type's size,
    // alignment and name, nine geometry words, the producer, the group lock and offset).
    const AT: u64 = 8 + 4 + 4 + 8 + 8 + 8 + 8 + 128 + 9 * 8 + 8 + 8 + 8;
    let here = std::fs::metadata("/proc/self/ns/pid").unwrap().ino();
    let bytes = std::fs::read(&path).unwrap();
    let recorded = u64::from_le_bytes(bytes[AT as usize..AT as usize + 8].try_into().unwrap());
    assert_eq!(recorded, here, "the creator records its pid namespace");
    assert!(Topic::<u64>::open(&name).is_ok());
    patch(&path, AT, &(here + 1).to_le_bytes());
    assert_eq!(
        region_error(Topic::<u64>::open(&name)),
        RegionError::OtherPidNamespace
    );
}
