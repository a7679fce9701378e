//! Behaviour of topics, producers and consumer groups through the public API: routing,
//! commit rules (I5, I6), seek, listeners, weights, metrics, eviction and heartbeats.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringgroup::partitioner::kafka_partition;
use ringgroup::{
    CommitError, ConsumeError, Consumer, JoinOptions, RebalanceListener, SeekError, Topic,
    TopicError, WeightedAssignor,
};

const SHORT: Duration = Duration::from_millis(200);

fn drain(member: &Consumer<u64>) -> Vec<(u32, u64, u64)> {
    let mut seen = Vec::new();
    while let Ok(records) = member.poll(64, Duration::ZERO) {
        seen.extend(records.iter().map(|r| (r.partition, r.offset, *r.value)));
    }
    seen
}

#[test]
fn bad_topics_are_errors() {
    assert_eq!(
        Topic::<u8>::builder("").build().err(),
        Some(TopicError::EmptyName)
    );
    assert_eq!(
        Topic::<u8>::builder("t").partitions(0).build().err(),
        Some(TopicError::NoPartitions)
    );
    assert!(matches!(
        Topic::<u8>::builder("t").capacity(0).build().err(),
        Some(TopicError::Ring(_))
    ));
}

#[test]
fn keyed_messages_land_where_kafka_puts_them() {
    let (topic, mut producer) = Topic::<u64>::builder("t").partitions(12).build().unwrap();
    let group = topic.group("g").build().unwrap();
    let member = group.join().unwrap();
    for (i, key) in ["21", "foobar", "abc", "user-7"].iter().enumerate() {
        let sent = producer.send_keyed(key, i as u64).unwrap();
        assert_eq!(sent.partition, kafka_partition(key.as_bytes(), 12));
    }
    // Round-robin cycles through every partition.
    let partitions: Vec<u32> = (0..12)
        .map(|i| producer.send(100 + i).unwrap().partition)
        .collect();
    assert_eq!(partitions, (0..12).collect::<Vec<_>>());
    assert_eq!(drain(&member).len(), 16);
}

#[test]
fn commits_are_fenced_monotone_and_bounded_by_what_was_polled() {
    let (topic, mut producer) = Topic::<u64>::builder("t").partitions(2).build().unwrap();
    let group = topic.group("g").auto_commit(false).build().unwrap();
    let member = group.join().unwrap();
    for value in 0..10 {
        producer.send_to(0, value).unwrap();
    }
    let polled = member.poll(4, SHORT).unwrap().len() as u64;
    assert_eq!(polled, 4);
    assert_eq!(
        member.commit_offset(0, 5),
        Err(CommitError::BeyondPolled {
            partition: 0,
            offset: 5,
            polled: 4
        })
    );
    member.commit_offset(0, 3).unwrap();
    assert_eq!(
        member.commit_offset(0, 2),
        Err(CommitError::Behind {
            partition: 0,
            offset: 2,
            committed: 3
        })
    );
    assert_eq!(
        member.commit_offset(7, 0),
        Err(CommitError::UnknownPartition {
            partition: 7,
            partitions: 2
        })
    );
    member.commit().unwrap();
    assert_eq!(group.metrics().partitions[0].committed, 4);
    assert_eq!(group.metrics().partitions[0].lag, 6);
    // A second member takes partition 1 (range); the first can no longer commit it, before
    // and after it has seen the handoff.
    let other = group.join().unwrap();
    let _ = member.poll(1, Duration::ZERO);
    let _ = other.poll(1, Duration::ZERO);
    assert!(matches!(
        member.commit_offset(1, 0),
        Err(CommitError::Fenced { partition: 1, .. })
    ));
    assert_eq!(
        other.commit_offset(0, 0),
        Err(CommitError::NotOwned { partition: 0 }),
        "never held"
    );
    assert!(other.is_owner(1) && !member.is_owner(1));
}

#[test]
fn seek_rewinds_and_redelivers_while_retained() {
    let (topic, mut producer) = Topic::<u64>::builder("t").capacity(8).build().unwrap();
    let group = topic.group("g").build().unwrap();
    let member = group.join().unwrap();
    for value in 0..6 {
        producer.send_to(0, value).unwrap();
    }
    assert_eq!(drain(&member).len(), 6); // auto-committed to 6
    member.seek(0, 2).unwrap();
    let again: Vec<u64> = drain(&member).into_iter().map(|(_, o, _)| o).collect();
    assert_eq!(again, vec![2, 3, 4, 5]);
    assert!(matches!(
        member.seek(0, 100),
        Err(SeekError::BeyondLatest { .. })
    ));
    // Fill past the capacity: offset 0 is gone, so seeking to it is refused and changes nothing.
    for value in 6..20 {
        producer.send_to(0, value).unwrap();
        let _ = drain(&member);
    }
    assert!(matches!(
        member.seek(0, 0),
        Err(SeekError::NotRetained { partition: 0, .. })
    ));
    assert_eq!(group.metrics().partitions[0].committed, 20);
}

/// Records every callback.
#[derive(Default, Clone)]
struct Log(Arc<Mutex<Vec<String>>>);

impl RebalanceListener<u64> for Log {
    fn on_assigned(&mut self, consumer: &Consumer<u64>, partitions: &[u32]) {
        self.0
            .lock()
            .unwrap()
            .push(format!("{} assigned {partitions:?}", consumer.id()));
    }
    fn on_revoked(&mut self, consumer: &Consumer<u64>, partitions: &[u32]) {
        // Committing is allowed while revoking.
        consumer.commit().unwrap();
        self.0
            .lock()
            .unwrap()
            .push(format!("{} revoked {partitions:?}", consumer.id()));
    }
    fn on_lost(&mut self, consumer: &Consumer<u64>, partitions: &[u32]) {
        self.0
            .lock()
            .unwrap()
            .push(format!("{} lost {partitions:?}", consumer.id()));
    }
}

#[test]
fn listeners_hear_assign_revoke_and_handoff_is_clean() {
    let (topic, mut producer) = Topic::<u64>::builder("t").partitions(2).build().unwrap();
    let group = topic.group("g").auto_commit(false).build().unwrap();
    let log = Log::default();
    let first = group
        .join_with(JoinOptions::new().listener(log.clone()))
        .unwrap();
    producer.send_to(1, 0).unwrap();
    producer.send_to(1, 1).unwrap();
    assert_eq!(first.poll(1, SHORT).unwrap().first_offset(), 0); // polled, not committed
    let second = group
        .join_with(JoinOptions::new().listener(log.clone()))
        .unwrap();
    let _ = first.poll(1, Duration::ZERO); // hands partition 1 over, committing in on_revoked
    let got: Vec<u64> = drain(&second).into_iter().map(|(_, o, _)| o).collect();
    assert_eq!(
        got,
        vec![1],
        "the new owner resumes at the commit made in on_revoked"
    );
    let log = log.0.lock().unwrap().clone();
    assert_eq!(log[0], format!("{} assigned [0, 1]", first.id()));
    assert!(
        log.contains(&format!("{} revoked [1]", first.id())),
        "{log:?}"
    );
    assert!(
        log.contains(&format!("{} assigned [1]", second.id())),
        "{log:?}"
    );
    assert_eq!(
        first
            .assignment()
            .iter()
            .map(|a| a.partition)
            .collect::<Vec<_>>(),
        vec![0]
    );
}

#[test]
fn weights_shape_the_weighted_assignment() {
    let (topic, _producer) = Topic::<u64>::builder("t").partitions(8).build().unwrap();
    let group = topic.group("g").assignor(WeightedAssignor).build().unwrap();
    let light = group.join_with(JoinOptions::new().weight(1)).unwrap();
    let heavy = group.join_with(JoinOptions::new().weight(3)).unwrap();
    for _ in 0..3 {
        let _ = light.poll(1, Duration::ZERO);
        let _ = heavy.poll(1, Duration::ZERO);
    }
    assert_eq!((light.assignment().len(), heavy.assignment().len()), (2, 6));
}

#[test]
fn a_stalled_member_is_evicted_but_a_heartbeating_one_stays() {
    let (topic, mut producer) = Topic::<u64>::builder("t").partitions(2).build().unwrap();
    let group = topic
        .group("g")
        .max_poll_interval(Duration::from_millis(30))
        .build()
        .unwrap();
    let stalled = group.join().unwrap();
    let healthy = group.join().unwrap();
    let _ = stalled.poll(1, Duration::ZERO);
    let _ = healthy.poll(1, Duration::ZERO);
    // `healthy` heartbeats while doing slow work; `stalled` does nothing.
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(300) {
        healthy.heartbeat();
        std::thread::sleep(Duration::from_millis(3)); // the slow work being simulated
    }
    assert_eq!(
        stalled.poll(1, Duration::ZERO).err(),
        Some(ConsumeError::Fenced)
    );
    assert!(
        matches!(
            stalled.commit_offset(0, 0),
            Err(CommitError::Fenced { partition: 0, .. })
        ),
        "an evicted member's commit says what happened, before and after its poll"
    );
    producer.send_to(0, 9).unwrap();
    let records = healthy.poll(1, SHORT).unwrap();
    assert_eq!(
        (records.partition(), *records.iter().next().unwrap().value),
        (0, 9)
    );
}

#[test]
fn a_panicking_member_leaves_and_its_batch_is_redelivered() {
    let (topic, mut producer) = Topic::<u64>::builder("t").build().unwrap();
    let group = topic.group("g").build().unwrap();
    for value in 0..4 {
        producer.send_to(0, value).unwrap();
    }
    let crashing = group.clone();
    let result = std::thread::spawn(move || {
        let member = crashing.join().unwrap();
        drop(member.poll(2, SHORT).unwrap()); // 0 and 1 committed
        let _records = member.poll(2, SHORT).unwrap();
        panic!("processing 2 and 3 failed");
    })
    .join();
    assert!(result.is_err());
    let survivor = group.join().unwrap();
    let got: Vec<u64> = drain(&survivor).into_iter().map(|(_, o, _)| o).collect();
    assert_eq!(got, vec![2, 3]);
    assert!(group.metrics().rebalances >= 3);
    assert_eq!(group.metrics().partitions[0].owner, Some(survivor.id()));
}

#[test]
fn closing_the_producer_closes_the_group_after_draining() {
    let (topic, mut producer) = Topic::<u64>::builder("t").partitions(2).build().unwrap();
    let group = topic.group("g").build().unwrap();
    let member = group.join().unwrap();
    producer.send(1).unwrap();
    producer.send(2).unwrap();
    drop(producer);
    assert_eq!(drain(&member).len(), 2);
    assert_eq!(member.poll(1, SHORT).err(), Some(ConsumeError::Closed));
}

#[test]
fn a_member_evicted_while_holding_a_batch_cannot_commit_or_seek_afterwards() {
    let (topic, mut producer) = Topic::<u64>::builder("t").build().unwrap();
    let group = topic.group("g").auto_commit(false).build().unwrap();
    let zombie = group.join().unwrap();
    for value in 0..3 {
        producer.send_to(0, value).unwrap();
    }
    let zombie_id = zombie.id();
    let records = zombie.poll(2, SHORT).unwrap();
    assert!(group.evict(zombie_id));
    drop(records);
    assert!(matches!(
        zombie.commit_offset(0, 2),
        Err(CommitError::Fenced { partition: 0, .. })
    ));
    assert!(matches!(
        zombie.seek(0, 0),
        Err(SeekError::Fenced { partition: 0, .. })
    ));
    assert!(zombie.commit().is_err());
    assert_eq!(
        group.metrics().partitions[0].committed,
        0,
        "a zombie changed the commit"
    );
    // The partition moves to the next member, which starts at the untouched commit.
    let next = group.join().unwrap();
    assert_eq!(next.poll(8, SHORT).unwrap().first_offset(), 0);
}

#[test]
fn heartbeats_during_a_long_batch_keep_a_member_in() {
    let (topic, mut producer) = Topic::<u64>::builder("t").build().unwrap();
    let group = topic
        .group("g")
        .max_poll_interval(Duration::from_millis(30))
        .build()
        .unwrap();
    let member = group.join().unwrap();
    producer.send_to(0, 1).unwrap();
    {
        let records = member.poll(1, SHORT).unwrap();
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(200) {
            records.heartbeat();
            std::thread::sleep(Duration::from_millis(3)); // the slow processing simulated
        }
    }
    producer.send_to(0, 2).unwrap();
    assert_eq!(
        *member.poll(1, SHORT).unwrap().iter().next().unwrap().value,
        2
    );
}

#[test]
fn a_member_without_partitions_sees_closed_once_the_group_is_drained() {
    let (topic, mut producer) = Topic::<u64>::builder("t").build().unwrap();
    let group = topic.group("g").build().unwrap();
    let owner = group.join().unwrap();
    let idle = group.join().unwrap(); // range: partition 0 stays with `owner`
    producer.send_to(0, 1).unwrap();
    drop(producer);
    assert_eq!(
        idle.poll(1, Duration::ZERO).err(),
        Some(ConsumeError::Timeout)
    );
    assert_eq!(drain(&owner).len(), 1);
    assert_eq!(idle.poll(1, SHORT).err(), Some(ConsumeError::Closed));
}

/// Breaks the assignor contract in every way it can.
#[derive(Debug)]
struct Broken;

impl ringgroup::Assignor for Broken {
    fn name(&self) -> &'static str {
        "broken"
    }
    fn assign(&self, partitions: u32, members: &[ringgroup::group::MemberInfo]) -> Vec<usize> {
        match members.len() {
            1 => vec![7; partitions as usize],     // index out of range
            2 => vec![0; partitions as usize + 3], // too long
            _ => panic!("broken assignor"),
        }
    }
}

#[test]
fn a_broken_custom_assignor_falls_back_to_range() {
    let (topic, _producer) = Topic::<u64>::builder("t").partitions(4).build().unwrap();
    let group = topic.group("g").assignor(Broken).build().unwrap();
    let members: Vec<_> = (0..3).map(|_| group.join().unwrap()).collect();
    for _ in 0..3 {
        for member in &members {
            let _ = member.poll(1, Duration::ZERO);
        }
    }
    let counts: Vec<usize> = members.iter().map(|m| m.assignment().len()).collect();
    assert_eq!(counts, vec![2, 1, 1]);
}

/// `try_drain` hands every ready record of a partition over in order, commits them with
/// auto-commit, and says `Empty` when nothing is ready; a manual-commit member's drain commits
/// nothing.
#[test]
fn drain_delivers_and_commits_everything_ready() {
    let (topic, mut producer) = Topic::<u64>::builder("t").capacity(64).build().unwrap();
    let auto = topic.group("auto").build().unwrap().join().unwrap();
    let manual = topic
        .group("manual")
        .auto_commit(false)
        .build()
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(auto.try_drain(|_| ()).err(), Some(ConsumeError::Empty));
    for value in 0..40 {
        producer.send(value).unwrap();
    }
    for member in [&auto, &manual] {
        let mut seen = Vec::new();
        let n = member
            .try_drain(|r| seen.push((r.partition, r.offset, *r.value)))
            .unwrap();
        assert_eq!(n, 40);
        assert_eq!(seen, (0..40).map(|v| (0, v, v)).collect::<Vec<_>>());
        assert_eq!(member.position(0), Ok(40));
    }
    assert_eq!(auto.committed(0), Some(40));
    assert_eq!(manual.committed(0), Some(0));
    assert_eq!(auto.try_drain(|_| ()).err(), Some(ConsumeError::Empty));
}
