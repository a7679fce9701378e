//! Bad input is an error, never a panic or an abort: every size a user passes is checked or
//! allocated fallibly, and names are required everywhere.

use ringgroup::ring::{Ring, MAX_READERS};
use ringgroup::topic::MAX_PARTITIONS;
use ringgroup::{AssignorError, BuildError, ConsistentHashAssignor, GroupError, Topic, TopicError};

#[test]
fn absurd_reader_counts_are_errors() {
    for requested in [usize::MAX, 1 << 36, MAX_READERS + 1] {
        assert_eq!(
            Ring::<u64>::builder().max_readers(requested).build().err(),
            Some(BuildError::TooManyReaders {
                requested,
                max: MAX_READERS
            })
        );
        assert_eq!(
            Topic::<u64>::builder("t")
                .max_groups(requested)
                .build()
                .err(),
            Some(TopicError::Ring(BuildError::TooManyReaders {
                requested,
                max: MAX_READERS
            }))
        );
    }
    assert!(Ring::<u64>::builder()
        .max_readers(MAX_READERS)
        .capacity(2)
        .build()
        .is_ok());
}

#[test]
fn absurd_partition_counts_are_errors() {
    for requested in [u32::MAX, MAX_PARTITIONS + 1] {
        assert_eq!(
            Topic::<u64>::builder("t")
                .partitions(requested)
                .build()
                .err(),
            Some(TopicError::TooManyPartitions {
                requested,
                max: MAX_PARTITIONS
            })
        );
    }
}

#[test]
fn a_ring_too_large_for_memory_is_an_error() {
    // Within the capacity limit, but far more than any machine has.
    let result = Ring::<[u8; 1 << 16]>::builder().capacity(1 << 30).build();
    assert!(matches!(
        result.err(),
        Some(BuildError::CapacityTooLarge { .. } | BuildError::AllocationFailed { .. })
    ));
    // A topic's total is checked before any allocation (`MAX_TOPIC_BYTES`).
    let topic = Topic::<[u8; 4096]>::builder("t")
        .partitions(4)
        .capacity(1 << 30)
        .build();
    assert!(matches!(topic.err(), Some(TopicError::TooLarge { .. })));
}

#[test]
fn absurd_virtual_node_counts_are_errors() {
    assert_eq!(
        ConsistentHashAssignor::new(u32::MAX).err(),
        Some(AssignorError::TooManyVirtualNodes {
            requested: u32::MAX,
            max: ConsistentHashAssignor::MAX_VIRTUAL_NODES
        })
    );
    assert_eq!(
        ConsistentHashAssignor::new(0).err(),
        Some(AssignorError::ZeroVirtualNodes)
    );
}

#[test]
fn names_are_required_for_topics_and_groups() {
    assert_eq!(
        Topic::<u8>::builder("").build().err(),
        Some(TopicError::EmptyName)
    );
    let (topic, _producer) = Topic::<u8>::builder("t").build().unwrap();
    assert_eq!(topic.group("").build().err(), Some(GroupError::EmptyName));
}

#[test]
fn wrapped_errors_are_their_sources() {
    use std::error::Error;
    let err = Topic::<u8>::builder("t").capacity(3).build().unwrap_err();
    let source = err.source().expect("TopicError::Ring has a source");
    assert_eq!(
        source.to_string(),
        BuildError::CapacityNotPowerOfTwo(3).to_string()
    );

    let (topic, _producer) = Topic::<u8>::builder("t").max_groups(1).build().unwrap();
    let _first = topic.group("a").build().unwrap();
    let err = topic.group("b").build().unwrap_err();
    assert!(matches!(err, GroupError::Subscribe { partition: 0, .. }));
    assert!(err.source().is_some(), "GroupError::Subscribe has a source");
}
