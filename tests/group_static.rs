//! Static membership (Kafka's `group.instance.id`): a static member that leaves keeps its
//! partitions for the session timeout; returning within it, it gets them back at their commits
//! and no other partition moves; after it, the others take them; a second live member with the
//! same id fences the first.

use std::time::{Duration, Instant};

use ringgroup::{CommitError, ConsumeError, Consumer, JoinOptions, Topic};

const PATIENCE: Duration = Duration::from_secs(30);

/// Polls every member (discarding records) until `done` holds.
fn settle(members: &[&Consumer<u64>], mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "the group never settled");
        for member in members {
            match member.poll(64, Duration::from_millis(1)) {
                Ok(_) | Err(ConsumeError::Timeout) => {}
                Err(e) => panic!("{e}"),
            }
        }
    }
}

fn partitions(member: &Consumer<u64>) -> Vec<(u32, u32)> {
    member
        .assignment()
        .iter()
        .map(|p| (p.partition, p.epoch))
        .collect()
}

fn static_member(group: &ringgroup::Group<u64>, id: &str) -> Consumer<u64> {
    group.join_static(id, JoinOptions::new()).unwrap()
}

#[test]
fn a_static_member_that_returns_gets_its_partitions_back_and_nothing_else_moves() {
    let (topic, mut producer) = Topic::<u64>::builder("t").partitions(4).build().unwrap();
    let group = topic.group("g").auto_commit(false).build().unwrap();
    let a = static_member(&group, "a");
    let b = group.join().unwrap();
    settle(&[&a, &b], || {
        a.assignment().len() == 2 && b.assignment().len() == 2
    });
    let mine: Vec<u32> = a.assignment().iter().map(|p| p.partition).collect();
    let others = partitions(&b);
    for p in &mine {
        producer.send_to(*p, 100 + u64::from(*p)).unwrap();
        producer.send_to(*p, 200 + u64::from(*p)).unwrap();
    }
    // `a` reads and commits the first record of each of its partitions, then restarts.
    let mut polled = 0;
    while polled < 2 * mine.len() {
        if let Ok(records) = a.poll(64, Duration::from_millis(1)) {
            polled += records.len();
        }
    }
    for &p in &mine {
        a.commit_offset(p, 1).unwrap();
    }
    drop(a);
    // While it is away its partitions are nobody's to read: `b` keeps exactly its own.
    for _ in 0..50 {
        let _ = b.poll(64, Duration::from_millis(1));
    }
    assert_eq!(
        partitions(&b),
        others,
        "b's partitions moved while a was away"
    );
    let a = static_member(&group, "a");
    // It resumes at its commits: the second record of each partition, nothing lost.
    let mut seen = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while seen.len() < mine.len() {
        assert!(Instant::now() < deadline, "a never got its records back");
        if let Ok(records) = a.poll(64, Duration::from_millis(1)) {
            seen.extend(records.iter().map(|r| (r.partition, *r.value)));
        }
    }
    let back: Vec<u32> = a.assignment().iter().map(|p| p.partition).collect();
    assert_eq!(back, mine, "a got other partitions back");
    assert_eq!(partitions(&b), others, "a's return moved b's partitions");
    seen.sort();
    let expected: Vec<(u32, u64)> = mine.iter().map(|&p| (p, 200 + u64::from(p))).collect();
    assert_eq!(seen, expected);
}

#[test]
fn a_static_member_that_stays_away_past_its_session_loses_its_partitions() {
    let (topic, _producer) = Topic::<u64>::builder("t").partitions(4).build().unwrap();
    let group = topic
        .group("g")
        .session_timeout(Duration::from_millis(20))
        .build()
        .unwrap();
    let a = static_member(&group, "a");
    let b = group.join().unwrap();
    settle(&[&a, &b], || {
        a.assignment().len() == 2 && b.assignment().len() == 2
    });
    drop(a);
    // The supervisor expires the session; then `b` takes all four.
    settle(&[&b], || b.assignment().len() == 4);
    assert_eq!(group.metrics().members, 1);
}

#[test]
fn a_zero_session_timeout_rebalances_at_once() {
    let (topic, _producer) = Topic::<u64>::builder("t").partitions(2).build().unwrap();
    let group = topic
        .group("g")
        .session_timeout(Duration::ZERO)
        .build()
        .unwrap();
    let a = static_member(&group, "a");
    let b = group.join().unwrap();
    settle(&[&a, &b], || {
        a.assignment().len() == 1 && b.assignment().len() == 1
    });
    drop(a);
    assert_eq!(group.metrics().members, 1);
    settle(&[&b], || b.assignment().len() == 2);
}

#[test]
fn a_second_live_member_with_the_same_instance_id_fences_the_first() {
    let (topic, _producer) = Topic::<u64>::builder("t").partitions(2).build().unwrap();
    let group = topic.group("g").auto_commit(false).build().unwrap();
    let old = static_member(&group, "a");
    let b = group.join().unwrap();
    settle(&[&old, &b], || {
        old.assignment().len() == 1 && b.assignment().len() == 1
    });
    let held = old.assignment()[0].partition;
    let others = partitions(&b);
    let new = static_member(&group, "a");
    settle(&[&new, &b], || new.assignment().len() == 1);
    assert_eq!(new.assignment()[0].partition, held);
    assert_eq!(partitions(&b), others);
    assert!(matches!(
        old.commit_offset(held, 0),
        Err(CommitError::Fenced { .. })
    ));
    // The fenced one stays fenced: its polls do not join again and take the partition back.
    for _ in 0..3 {
        assert!(matches!(
            old.poll(1, Duration::ZERO),
            Err(ConsumeError::Fenced)
        ));
    }
    settle(&[&new, &b], || new.assignment().len() == 1);
    assert_eq!(new.assignment()[0].partition, held);
    assert!(old.assignment().is_empty());
}
