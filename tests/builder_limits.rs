//! Every name and size a builder takes has a maximum, and going past it is a typed error at
//! `build()` (or `join_static`), before anything is allocated: never a panic, an abort, or a
//! machine's worth of memory. Huge durations are accepted and mean "never".

use std::time::Duration;

use ringgroup::group::{Backpressure, MAX_GROUP_NAME_LEN, MAX_INSTANCE_ID_LEN};
use ringgroup::producer_group::{
    ProducerGroupError, Request, MAX_PENDING_PER_MEMBER, MAX_PRODUCER_GROUP_BYTES,
    MAX_PRODUCER_GROUP_MEMBERS, MAX_PRODUCER_GROUP_NAME_LEN,
};
use ringgroup::ring::{MAX_CAPACITY, MAX_READERS};
use ringgroup::topic::{MAX_PARTITIONS, MAX_TOPIC_BYTES, MAX_TOPIC_NAME_LEN};
use ringgroup::{
    BuildError, GroupError, JoinOptions, SharedProducer, Topic, TopicError, WeightedAssignor,
};

type Job = Request<u64, u64>;

/// A multi-producer request topic on the heap, and the producer that keeps it open.
fn request_topic() -> (Topic<Job>, SharedProducer<Job>) {
    Topic::<Job>::builder("requests")
        .multi_producer()
        .build()
        .unwrap()
}

/// A region name no other test (or run) uses, removed when dropped.
struct Region(String);

impl Region {
    fn new(test: &str) -> Self {
        Self(format!("limits-{}-{test}", std::process::id()))
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        let _ = ringgroup::shm::remove(&self.0);
    }
}

#[test]
fn topic_names_have_a_maximum_length() {
    assert!(Topic::<u8>::builder("t".repeat(MAX_TOPIC_NAME_LEN))
        .build()
        .is_ok());
    assert_eq!(
        Topic::<u8>::builder("t".repeat(MAX_TOPIC_NAME_LEN + 1))
            .build()
            .err(),
        Some(TopicError::NameTooLong {
            max: MAX_TOPIC_NAME_LEN
        })
    );
    assert_eq!(
        Topic::<u8>::builder("t".repeat(100_000)).build().err(),
        Some(TopicError::NameTooLong {
            max: MAX_TOPIC_NAME_LEN
        })
    );
    assert_eq!(
        Topic::<u8>::builder("t".repeat(100_000))
            .multi_producer()
            .build()
            .err(),
        Some(TopicError::NameTooLong {
            max: MAX_TOPIC_NAME_LEN
        })
    );
    assert_eq!(
        Topic::<u8>::builder("").build().err(),
        Some(TopicError::EmptyName)
    );
}

#[test]
fn group_names_have_a_maximum_length() {
    let (topic, _producer) = Topic::<u8>::builder("t").build().unwrap();
    assert!(topic.group("g".repeat(MAX_GROUP_NAME_LEN)).build().is_ok());
    for len in [MAX_GROUP_NAME_LEN + 1, 100_000] {
        assert_eq!(
            topic.group("g".repeat(len)).build().err(),
            Some(GroupError::NameTooLong {
                max: MAX_GROUP_NAME_LEN
            })
        );
    }
    assert_eq!(topic.group("").build().err(), Some(GroupError::EmptyName));
}

#[test]
fn instance_ids_have_a_maximum_length() {
    let (topic, _producer) = Topic::<u8>::builder("t").build().unwrap();
    let group = topic.group("g").build().unwrap();
    let longest = group
        .join_static("i".repeat(MAX_INSTANCE_ID_LEN), JoinOptions::new())
        .unwrap();
    for len in [MAX_INSTANCE_ID_LEN + 1, 100_000] {
        assert_eq!(
            group.join_static("i".repeat(len), JoinOptions::new()).err(),
            Some(GroupError::InstanceIdTooLong {
                max: MAX_INSTANCE_ID_LEN
            })
        );
    }
    assert_eq!(
        group.join_static("", JoinOptions::new()).err(),
        Some(GroupError::EmptyInstanceId)
    );
    assert_eq!(group.metrics().members, 1, "refused joins add no member");
    drop(longest);
}

#[test]
fn producer_group_names_have_a_maximum_length() {
    let (topic, _producer) = request_topic();
    assert!(topic
        .producer_group("p".repeat(MAX_PRODUCER_GROUP_NAME_LEN))
        .build()
        .is_ok());
    for len in [MAX_PRODUCER_GROUP_NAME_LEN + 1, 100_000] {
        assert_eq!(
            topic.producer_group("p".repeat(len)).build().err(),
            Some(ProducerGroupError::NameTooLong {
                max: MAX_PRODUCER_GROUP_NAME_LEN
            })
        );
    }
    assert_eq!(
        topic.producer_group("").build().err(),
        Some(ProducerGroupError::EmptyName)
    );
}

#[test]
fn absurd_topic_sizes_are_errors() {
    for capacity in [usize::MAX, MAX_CAPACITY * 2] {
        assert_eq!(
            Topic::<u64>::builder("t").capacity(capacity).build().err(),
            Some(TopicError::Ring(BuildError::CapacityTooLarge {
                requested: capacity,
                max: MAX_CAPACITY
            }))
        );
    }
    assert_eq!(
        Topic::<u64>::builder("t")
            .partitions(u32::MAX)
            .build()
            .err(),
        Some(TopicError::TooManyPartitions {
            requested: u32::MAX,
            max: MAX_PARTITIONS
        })
    );
    assert_eq!(
        Topic::<u64>::builder("t")
            .max_groups(usize::MAX)
            .build()
            .err(),
        Some(TopicError::Ring(BuildError::TooManyReaders {
            requested: usize::MAX,
            max: MAX_READERS
        }))
    );
}

/// The bytes of a `TooLarge` error, after checking it names the topic maximum.
fn topic_too_large(result: Result<impl Sized, TopicError>) -> u64 {
    match result.err() {
        Some(TopicError::TooLarge { bytes, max }) => {
            assert_eq!(max, MAX_TOPIC_BYTES);
            bytes
        }
        other => panic!("expected TopicError::TooLarge, got {other:?}"),
    }
}

#[test]
fn absurd_topic_totals_are_errors() {
    // Each size within its own bound; their products are not.
    let slots = Topic::<u64>::builder("t")
        .partitions(MAX_PARTITIONS)
        .capacity(MAX_CAPACITY)
        .build();
    assert!(topic_too_large(slots) >= u64::from(MAX_PARTITIONS) * (MAX_CAPACITY as u64) * 8);
    let stamps = Topic::<u8>::builder("t")
        .partitions(MAX_PARTITIONS)
        .capacity(MAX_CAPACITY / 2)
        .multi_producer()
        .build();
    assert!(topic_too_large(stamps) > MAX_TOPIC_BYTES);
    let cursors = Topic::<u8>::builder("t")
        .partitions(MAX_PARTITIONS)
        .max_groups(MAX_READERS)
        .build();
    assert!(topic_too_large(cursors) >= (MAX_PARTITIONS as u64) * (MAX_READERS as u64) * 128);
    let huge_messages = Topic::<[u8; 1 << 20]>::builder("t")
        .capacity(1 << 20)
        .build();
    assert!(topic_too_large(huge_messages) > MAX_TOPIC_BYTES);
}

#[test]
fn an_absurd_shared_memory_topic_is_refused_before_its_region_is_made() {
    let region = Region::new("total");
    let result = Topic::<u64>::builder("t")
        .partitions(MAX_PARTITIONS)
        .capacity(MAX_CAPACITY)
        .shared_memory(&region.0)
        .build();
    assert!(topic_too_large(result) > MAX_TOPIC_BYTES);
    assert!(
        !ringgroup::shm::default_path(&region.0).exists(),
        "no region file is made for a refused topic"
    );
}

#[test]
fn absurd_producer_group_sizes_are_errors_at_build() {
    let (topic, _producer) = request_topic();
    for pending in [usize::MAX, MAX_PENDING_PER_MEMBER + 1] {
        assert_eq!(
            topic.producer_group("p").max_pending(pending).build().err(),
            Some(ProducerGroupError::MaxPendingTooLarge {
                requested: pending,
                max: MAX_PENDING_PER_MEMBER
            })
        );
    }
    for members in [
        usize::MAX,
        u32::MAX as usize,
        MAX_PRODUCER_GROUP_MEMBERS + 1,
    ] {
        assert_eq!(
            topic.producer_group("p").max_members(members).build().err(),
            Some(ProducerGroupError::TooManyMembers {
                max: MAX_PRODUCER_GROUP_MEMBERS
            })
        );
    }
    for (capacity, error) in [
        (
            usize::MAX,
            BuildError::CapacityTooLarge {
                requested: usize::MAX,
                max: MAX_CAPACITY,
            },
        ),
        (3, BuildError::CapacityNotPowerOfTwo(3)),
        (0, BuildError::ZeroCapacity),
    ] {
        assert_eq!(
            topic
                .producer_group("p")
                .reply_capacity(capacity)
                .build()
                .err(),
            Some(ProducerGroupError::Ring(error))
        );
    }
    assert_eq!(
        topic.producer_group("p").max_pending(0).build().err(),
        Some(ProducerGroupError::ZeroSize)
    );
}

/// The bytes of a `TooLarge` error, after checking it names the producer group maximum.
fn group_too_large<Q, R>(
    result: Result<ringgroup::producer_group::ProducerGroup<Q, R>, ProducerGroupError>,
) -> u64 {
    match result.err() {
        Some(ProducerGroupError::TooLarge { bytes, max }) => {
            assert_eq!(max, MAX_PRODUCER_GROUP_BYTES);
            bytes
        }
        other => panic!("expected ProducerGroupError::TooLarge, got {other:?}"),
    }
}

#[test]
fn absurd_producer_group_totals_are_errors_at_build() {
    let (topic, _producer) = request_topic();
    let rings = topic
        .producer_group("p")
        .max_members(MAX_PRODUCER_GROUP_MEMBERS)
        .reply_capacity(MAX_CAPACITY)
        .build();
    assert!(group_too_large(rings) > MAX_PRODUCER_GROUP_BYTES);
    let tables = topic
        .producer_group("p")
        .max_members(MAX_PRODUCER_GROUP_MEMBERS)
        .max_pending(MAX_PENDING_PER_MEMBER)
        .build();
    assert!(
        group_too_large(tables)
            >= (MAX_PRODUCER_GROUP_MEMBERS * MAX_PENDING_PER_MEMBER) as u64 * 16
    );
    // The refused builds registered nothing: the name is free for other settings.
    let other = topic.producer_group("p").build();
    assert!(other.is_ok(), "no mismatch: {:?}", other.err());
}

#[test]
fn a_member_joins_with_the_most_pending_requests() {
    let (topic, _producer) = request_topic();
    let group = topic
        .producer_group("p")
        .max_pending(MAX_PENDING_PER_MEMBER)
        .build()
        .unwrap();
    let member = group.join().unwrap();
    let _ticket = member.request(b"k", 1).unwrap();
}

#[test]
fn huge_group_durations_mean_never() {
    let (topic, mut producer) = Topic::<u64>::builder("t").partitions(2).build().unwrap();
    let group = topic
        .group("g")
        .max_poll_interval(Duration::MAX)
        .session_timeout(Duration::MAX)
        .backpressure(Backpressure::Detach {
            after: Duration::MAX,
        })
        .assignor(WeightedAssignor)
        .build()
        .unwrap();
    let member = group
        .join_static("s", JoinOptions::new().weight(u32::MAX))
        .unwrap();
    let other = group
        .join_with(JoinOptions::new().weight(u32::MAX))
        .unwrap();
    for _ in 0..2 {
        for consumer in [&member, &other] {
            let _ = consumer.poll(1, Duration::ZERO); // hands over, picks up
        }
    }
    for consumer in [&member, &other] {
        assert_eq!(consumer.assignment().len(), 1, "equal weights, one each");
    }
    producer.send_to(0, 7).unwrap();
    producer.send_to(1, 8).unwrap();
    let mut seen = Vec::new();
    for consumer in [&member, &other] {
        // Its partition has a record: a poll with no deadline returns it at once.
        let records = consumer.poll(1, Duration::MAX).unwrap();
        seen.extend(records.iter().map(|record| *record.value));
    }
    seen.sort_unstable();
    assert_eq!(seen, [7, 8]);
    drop(member); // a static member leaves, its partitions kept "forever"
    let back = group.join_static("s", JoinOptions::new()).unwrap();
    let _ = back.poll(1, Duration::ZERO);
    assert_eq!(group.metrics().members, 2);
}

#[test]
fn huge_durations_on_a_shared_memory_group_mean_never() {
    let region = Region::new("durations");
    let (topic, mut producer) = Topic::<u64>::builder("t")
        .shared_memory(&region.0)
        .build()
        .unwrap();
    let group = topic
        .group("g")
        .max_poll_interval(Duration::MAX)
        .session_timeout(Duration::MAX)
        .build()
        .unwrap();
    let member = group.join_static("s", JoinOptions::new()).unwrap();
    let _ = member.poll(1, Duration::ZERO);
    assert_eq!(member.assignment().len(), 1);
    producer.send(5).unwrap();
    let records = member.poll(1, Duration::MAX).unwrap();
    assert_eq!(records.iter().map(|r| *r.value).collect::<Vec<_>>(), [5]);
}

#[test]
fn a_huge_reply_wait_means_never_and_matches_itself() {
    let (topic, _producer) = request_topic();
    let workers = topic.group("workers").build().unwrap();
    let clients = topic
        .producer_group("clients")
        .reply_wait(Duration::MAX)
        .build()
        .unwrap();
    let again = topic
        .producer_group("clients")
        .reply_wait(Duration::MAX)
        .build();
    assert!(again.is_ok(), "the same settings: {:?}", again.err());
    let client = clients.join().unwrap();
    let worker = workers.join().unwrap();
    let _ = worker.poll(1, Duration::ZERO);
    assert_eq!(worker.assignment().len(), 1);
    let pending = client.request(b"k", 6).unwrap();
    let records = worker.poll(1, Duration::MAX).unwrap();
    for record in &records {
        records.reply(&record, record.value.value * 2).unwrap();
    }
    drop(records);
    assert_eq!(pending.wait(Duration::MAX).unwrap(), 12);
}

#[test]
fn a_huge_reply_wait_matches_itself_across_processes() {
    let region = Region::new("reply-wait");
    let (topic, _producer) = Topic::<Job>::builder("requests")
        .multi_producer()
        .shared_memory(&region.0)
        .build()
        .unwrap();
    let _first = topic
        .producer_group("clients")
        .reply_wait(Duration::MAX)
        .build()
        .unwrap();
    // Another process sees the group as the region records it.
    let other = Topic::<Job>::open(&region.0).unwrap();
    let second = other
        .producer_group("clients")
        .reply_wait(Duration::MAX)
        .build();
    assert!(second.is_ok(), "the same settings: {:?}", second.err());
}
