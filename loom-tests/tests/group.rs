//! loom models of the consumer-group protocols (I1, I3, I4, I5).
//!
//! Each partition's group cursor sits in a loom `UnsafeCell` reached only under the owner's
//! lease, so two members touching one partition without a happens-before edge fails the model
//! (I1) on top of the explicit checks below. Values equal offsets.
#![cfg(loom)]

use std::time::Duration;

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;
use ringgroup::group::{Consumer, Group};
use ringgroup::topic::{Producer, Topic};
use ringgroup::{CommitError, ConsumeError};

const WAIT: Duration = Duration::from_secs(3600);

fn topic(capacity: usize) -> (Topic<u64>, Producer<u64>) {
    Topic::builder("t")
        .partitions(1)
        .capacity(capacity)
        .max_groups(1)
        .build()
        .unwrap()
}

/// Polls one batch and returns its offsets, checking each value equals its offset.
fn poll_offsets(member: &mut Consumer<u64>, max: usize) -> Result<Vec<u64>, ConsumeError> {
    let records = member.poll(max, WAIT)?;
    Ok(records
        .iter()
        .map(|r| {
            assert_eq!(*r.value, r.offset);
            r.offset
        })
        .collect())
}

/// Handoff: A owns the partition and consumes while B waits; A leaves and B takes over at the
/// committed offset. Nothing is lost, skipped or seen twice (auto-commit), and the two never
/// touch the cursor at once.
#[test]
fn handoff_moves_one_partition_without_loss() {
    loom::model(|| {
        let (topic, mut producer) = topic(2);
        let group: Group<u64> = topic.group("g").build().unwrap();
        let mut a = group.join().unwrap();
        let mut b = group.join().unwrap(); // range: partition 0 stays with A (lower id)
        producer.send_to(0, 0).unwrap();
        producer.send_to(0, 1).unwrap();
        let leaver = thread::spawn(move || {
            let seen = poll_offsets(&mut a, 1).unwrap();
            drop(a); // leave: the commit of `seen` stands, the partition goes to B
            seen
        });
        // B polls concurrently; it gets the partition only once A has left.
        let seen_by_b = poll_offsets(&mut b, 2).unwrap();
        let seen_by_a = leaver.join().unwrap();
        let mut all = seen_by_a.clone();
        all.extend(&seen_by_b);
        assert_eq!(all, vec![0, 1], "a: {seen_by_a:?} b: {seen_by_b:?}");
    });
}

/// Fenced commit: A's commit races an eviction that hands the partition to B. Either the
/// commit landed before the eviction (B starts at 2), or it is rejected as fenced and changes
/// nothing (B starts at the old commit, 0). A stale commit never lands.
#[test]
fn a_revoked_members_commit_never_lands() {
    loom::model(|| {
        let (topic, mut producer) = topic(4);
        let group: Group<u64> = topic.group("g").auto_commit(false).build().unwrap();
        let mut a = group.join().unwrap();
        for value in 0..3 {
            producer.send_to(0, value).unwrap();
        }
        assert_eq!(poll_offsets(&mut a, 2).unwrap(), vec![0, 1]);
        let a_id = a.id();
        let committer = thread::spawn(move || a.commit_offset(0, 2));
        let evictor = {
            let group = group.clone();
            thread::spawn(move || assert!(group.evict(a_id)))
        };
        evictor.join().unwrap();
        let mut b = group.join().unwrap();
        let commit = committer.join().unwrap();
        let first_for_b = match poll_offsets(&mut b, 1) {
            Ok(offsets) => offsets[0],
            Err(ConsumeError::Timeout) => unreachable!("B waits for an hour"),
            Err(e) => panic!("{e:?}"),
        };
        match commit {
            Ok(()) => assert_eq!(first_for_b, 2, "a landed commit must move B's start"),
            Err(CommitError::Fenced { partition: 0, .. }) => {
                assert_eq!(first_for_b, 0, "a fenced commit must change nothing")
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    });
}

/// Eviction during a borrowed batch: A holds a batch while it is evicted and the producer
/// keeps publishing into a ring of 2. The slots A borrows are not overwritten (loom checks the
/// cells), and B gets the partition only after A drops the batch, starting at the commit.
#[test]
fn eviction_waits_for_the_borrowed_batch() {
    loom::model(|| {
        let (topic, mut producer) = topic(2);
        let group: Group<u64> = topic.group("g").build().unwrap();
        let mut a = group.join().unwrap();
        producer.send_to(0, 0).unwrap();
        producer.send_to(0, 1).unwrap();
        let a_id = a.id();
        let holding = Arc::new(AtomicBool::new(false));
        let holder = {
            let holding = holding.clone();
            thread::spawn(move || {
                let records = a.poll(2, WAIT).unwrap();
                // Release: pairs with the Acquire spins below.
                holding.store(true, Ordering::Release);
                let values: Vec<u64> = records.iter().map(|r| *r.value).collect();
                assert_eq!(values, vec![0, 1]);
                drop(records); // auto-commit 2, then the lease ends
                a
            })
        };
        let wait_for_holder = |holding: &AtomicBool| {
            while !holding.load(Ordering::Acquire) {
                thread::yield_now();
            }
        };
        let evictor = {
            let (group, holding) = (group.clone(), holding.clone());
            thread::spawn(move || {
                wait_for_holder(&holding);
                assert!(group.evict(a_id));
            })
        };
        wait_for_holder(&holding);
        producer.send_to(0, 2).unwrap(); // waits until A's batch is committed
        evictor.join().unwrap();
        let _a = holder.join().unwrap();
        let mut b = group.join().unwrap();
        assert_eq!(poll_offsets(&mut b, 4).unwrap(), vec![2]);
    });
}
