//! loom models of the consumer-group protocols (I1, I3, I4, I5).
//!
//! Each partition's group cursor sits in a loom `UnsafeCell` reached only under the owner's
//! lease, so two members touching one partition without a happens-before edge fails the model
//! (I1) on top of the explicit checks below. Values equal offsets.
#![cfg(ringgroup_loom)]

use std::time::Duration;

use loom::thread;
use ringgroup::group::MemberInfo;
use ringgroup::{
    Assignor, Backpressure, CommitError, ConsumeError, Consumer, Group, Producer, SeekError, Topic,
    WaitStrategy,
};

const WAIT: Duration = Duration::from_secs(3600);

fn topic(capacity: usize) -> (Topic<u64>, Producer<u64>) {
    topic_with(1, capacity, WaitStrategy::BusySpin)
}

/// A topic of `partitions`, one reader slot each.
fn topic_with(
    partitions: u32,
    capacity: usize,
    strategy: WaitStrategy,
) -> (Topic<u64>, Producer<u64>) {
    Topic::builder("t")
        .partitions(partitions)
        .capacity(capacity)
        .max_groups(1)
        .wait_strategy(strategy)
        .build()
        .unwrap()
}

/// Polls once without waiting.
fn poll_offsets_now(member: &Consumer<u64>) -> Result<Vec<u64>, ConsumeError> {
    let records = member.poll(1, Duration::ZERO)?;
    Ok(records.iter().map(|r| r.offset).collect())
}

/// Polls twice without waiting; the offsets of whatever came (errors are a normal outcome).
fn poll_twice(member: &Consumer<u64>) -> Vec<u64> {
    (0..2)
        .filter_map(|_| poll_offsets_now(member).ok())
        .flatten()
        .collect()
}

/// Polls one batch and returns its offsets, checking each value equals its offset.
fn poll_offsets(member: &Consumer<u64>, max: usize) -> Result<Vec<u64>, ConsumeError> {
    let records = member.poll(max, WAIT)?;
    Ok(records
        .iter()
        .map(|r| {
            assert_eq!(*r.value, r.offset);
            r.offset
        })
        .collect())
}

/// Gives every partition to the newest member, so a join always moves partitions.
#[derive(Debug)]
struct Newest;

impl Assignor for Newest {
    fn name(&self) -> &'static str {
        "newest"
    }
    fn assign(&self, partitions: u32, members: &[MemberInfo]) -> Vec<usize> {
        vec![members.len() - 1; partitions as usize]
    }
}

/// A group that gives every partition to its newest member, its first member A, and offsets 0
/// and 1 published on its one partition of capacity 2.
fn newest_owner_of_two() -> (Group<u64>, Producer<u64>, Consumer<u64>) {
    let (topic, mut producer) = topic(2);
    let group: Group<u64> = topic.group("g").assignor(Newest).build().unwrap();
    let a = group.join().unwrap();
    producer.send_to(0, 0).unwrap();
    producer.send_to(0, 1).unwrap();
    (group, producer, a)
}

/// Handoff: A consumes while B joins and polls. B's join asks for the partition; A hands it
/// over between batches (release before acquire) and B resumes at A's commit, all while B polls
/// concurrently: 0 and 1 are seen once each, in order, and the two never touch the cursor at
/// once (the cell check).
#[test]
fn handoff_moves_one_partition_without_loss() {
    loom::model(|| {
        let (group, _producer, a) = newest_owner_of_two();
        let mut seen = poll_offsets(&a, 1).unwrap(); // A owns partition 0, read 0
        let consumer_a = thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..2 {
                match poll_offsets_now(&a) {
                    Ok(offsets) => seen.extend(offsets),
                    Err(ConsumeError::Timeout) => {}
                    Err(e) => panic!("{e:?}"),
                }
            }
            (seen, a)
        });
        let joiner = {
            let group = group.clone();
            thread::spawn(move || {
                let b = group.join().unwrap();
                let seen = poll_twice(&b);
                (seen, b)
            })
        };
        let (seen_by_b, b) = joiner.join().unwrap();
        let (seen_by_a, a) = consumer_a.join().unwrap();
        seen.extend(seen_by_a);
        seen.extend(seen_by_b);
        // If A has not seen the revoke yet, its next poll hands over before reading.
        let _ = poll_offsets_now(&a);
        if seen.len() < 2 {
            seen.extend(poll_offsets(&b, 2).unwrap());
        }
        assert_eq!(poll_offsets_now(&b), Err(ConsumeError::Timeout)); // B has synced
        seen.sort();
        assert_eq!(seen, vec![0, 1]);
        assert_eq!(a.assignment(), vec![]);
        assert_eq!(b.assignment().len(), 1);
    });
}

/// The new owner's first sync races the old owner's handoff: B has joined (so A is asked to
/// hand over) and both poll at once. B may find the partition assigned to it before the epoch
/// bump that announces it; it then leases the cursor on the strength of the table word alone,
/// so the word's acquire (load and lease CAS) must order B's cursor accesses after A's commit.
/// B resumes at A's commit: it sees 1, never 0.
#[test]
fn the_new_owners_first_sync_races_the_handoff() {
    loom::model(|| {
        let (group, _producer, a) = newest_owner_of_two();
        assert_eq!(poll_offsets(&a, 1).unwrap(), vec![0]); // committed 1 (auto-commit)
        let b = group.join().unwrap(); // asks A to hand partition 0 over
        let handing = thread::spawn(move || {
            let seen = poll_offsets_now(&a); // syncs first: hands over before reading
            (seen, a)
        });
        let taking = thread::spawn(move || {
            let seen = poll_twice(&b);
            (seen, b)
        });
        let (by_a, _a) = handing.join().unwrap();
        let (mut by_b, b) = taking.join().unwrap();
        assert_eq!(
            by_a,
            Err(ConsumeError::Timeout),
            "A read after it was asked to hand over"
        );
        if by_b.is_empty() {
            by_b = poll_offsets(&b, 2).unwrap();
        }
        assert_eq!(by_b, vec![1]);
    });
}

/// A seek back races the writer (the rewind protocol: store the old offset, fence, check the
/// writer's announcement). Either the ring still holds offset 0 and the member reads 0 and 1
/// again, intact (the cells check no slot is rewritten under the read), or the seek is refused
/// and changes nothing.
#[test]
fn a_seek_back_races_the_writer() {
    let mut model = loom::model::Builder::new();
    model.max_branches = 100_000;
    model.check(|| {
        let (topic, mut producer) = topic(2);
        let group: Group<u64> = topic.group("g").build().unwrap();
        let a = group.join().unwrap();
        producer.send_to(0, 0).unwrap();
        producer.send_to(0, 1).unwrap();
        assert_eq!(poll_offsets(&a, 2).unwrap(), vec![0, 1]); // committed 2
        let writer = thread::spawn(move || {
            producer.send_to(0, 2).unwrap(); // may reuse slot 0 unless the seek holds it
            producer
        });
        let mut seen = Vec::new();
        match a.seek(0, 0) {
            Ok(()) => {
                while seen.len() < 2 {
                    seen.extend(poll_offsets(&a, 2).unwrap());
                }
                assert_eq!(&seen[..2], &[0, 1]);
            }
            Err(SeekError::NotRetained { partition: 0, .. }) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
        let _producer = writer.join().unwrap();
        while seen.last() != Some(&2) {
            seen.extend(poll_offsets(&a, 2).unwrap());
        }
    });
}

/// A lossy member between batches does not gate the writer, which may lap it; a lent batch
/// does. Whatever the interleaving, the member reads only intact slots (the cells check), in
/// increasing order, and what it skipped is counted.
#[test]
fn a_lossy_member_is_lapped_but_reads_only_intact_slots() {
    let mut model = loom::model::Builder::new();
    model.max_branches = 100_000;
    model.check(|| {
        let (topic, mut producer) = topic(2);
        let group: Group<u64> = topic
            .group("g")
            .backpressure(Backpressure::Lossy)
            .build()
            .unwrap();
        let a = group.join().unwrap();
        assert_eq!(poll_offsets_now(&a), Err(ConsumeError::Timeout)); // takes partition 0
        let writer = thread::spawn(move || {
            for value in 0..4 {
                producer.send_to(0, value).unwrap();
            }
            producer
        });
        let mut seen = poll_twice(&a);
        let _producer = writer.join().unwrap();
        while seen.last() != Some(&3) {
            seen.extend(poll_offsets(&a, 2).unwrap());
        }
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
        let skipped = group.metrics().partitions[0].skipped;
        assert_eq!(
            seen.len() as u64 + skipped,
            4,
            "{seen:?}, skipped {skipped}"
        );
    });
}

/// Fenced commit: A's commit of offset 2 races A's eviction and B taking over, reading and
/// committing. Either A's commit landed first (B starts at 2), or it is fenced and changes
/// nothing (B starts at 0). It never lands under B: B's own commit always stands.
#[test]
fn a_revoked_members_commit_never_lands() {
    loom::model(|| {
        let (topic, mut producer) = topic(4);
        let group: Group<u64> = topic.group("g").auto_commit(false).build().unwrap();
        let a = group.join().unwrap();
        for value in 0..3 {
            producer.send_to(0, value).unwrap();
        }
        assert_eq!(poll_offsets(&a, 2).unwrap(), vec![0, 1]);
        let a_id = a.id();
        // The thread hands `a` back: dropping it would be a clean leave, not the race we want.
        let committer = thread::spawn(move || (a.commit_offset(0, 2), a));
        assert!(group.evict(a_id));
        let b = group.join().unwrap();
        let first_for_b = poll_offsets(&b, 1).unwrap()[0];
        b.commit_offset(0, first_for_b + 1)
            .expect("the owner's commit stands");
        let (commit, _a) = committer.join().unwrap();
        match commit {
            Ok(()) => assert_eq!(first_for_b, 2, "a landed commit must precede B's start"),
            Err(CommitError::Fenced { partition: 0, .. }) => {
                assert_eq!(first_for_b, 0, "a fenced commit must change nothing")
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
        assert_eq!(group.metrics().partitions[0].committed, first_for_b + 1);
    });
}

/// Eviction during a borrowed batch: A may hold a batch while it is evicted and the producer
/// publishes into a full ring of 2. The slots A borrows are not overwritten (loom checks the
/// cells), B cannot touch the partition until A drops the batch (the cursor cell again), and
/// between them A and B see 0, 1, 2 exactly once, in order.
#[test]
fn eviction_waits_for_the_borrowed_batch() {
    // B spins in `poll` while A holds its batch: more branches than loom's default budget.
    let mut model = loom::model::Builder::new();
    model.max_branches = 100_000;
    model.check(|| {
        let (topic, mut producer) = topic_with(1, 2, WaitStrategy::SpinThenPark);
        let group: Group<u64> = topic.group("g").build().unwrap();
        let a = group.join().unwrap();
        producer.send_to(0, 0).unwrap();
        producer.send_to(0, 1).unwrap();
        let a_id = a.id();
        let holder = thread::spawn(move || {
            let seen = match poll_offsets(&a, 2) {
                Ok(seen) => seen, // read inside the batch, committed when it dropped
                Err(ConsumeError::Fenced) => Vec::new(), // evicted before its first poll
                Err(e) => panic!("{e:?}"),
            };
            (seen, a)
        });
        let publisher = thread::spawn(move || {
            producer.send_to(0, 2).unwrap(); // waits while offset 0 is uncommitted
            producer
        });
        assert!(group.evict(a_id));
        // B joins while A may still hold its batch: it gets the partition only after.
        let b = group.join().unwrap();
        let mut seen_by_b = Vec::new();
        while seen_by_b.last() != Some(&2) {
            seen_by_b.extend(poll_offsets(&b, 4).unwrap());
        }
        let (mut seen, _a) = holder.join().unwrap();
        let _producer = publisher.join().unwrap();
        seen.extend(seen_by_b);
        assert_eq!(seen, vec![0, 1, 2]);
    });
}

/// Epoch publication: B's join rewrites a two-partition table (range: partition 1 moves from A
/// to B) while A polls and syncs, possibly between the controller's word writes. A never acts
/// on a half-written assignment: the members end with disjoint assignments covering both
/// partitions, and each partition's message is seen exactly once.
#[test]
fn members_never_act_on_a_half_written_assignment() {
    loom::model(|| {
        let (topic, mut producer) = topic_with(2, 2, WaitStrategy::BusySpin);
        let group: Group<u64> = topic.group("g").build().unwrap();
        let a = group.join().unwrap();
        producer.send_to(0, 0).unwrap();
        producer.send_to(1, 0).unwrap();
        let joiner = {
            let group = group.clone();
            thread::spawn(move || group.join().unwrap())
        };
        let mut seen: Vec<(u32, u64)> = Vec::new();
        for _ in 0..2 {
            if let Ok(records) = a.poll(4, Duration::ZERO) {
                seen.extend(records.iter().map(|r| (r.partition, r.offset)));
            }
        }
        let b = joiner.join().unwrap();
        // Both catch up with the final table (A hands partition 1 over if it still has it).
        for _ in 0..2 {
            for member in [&a, &b] {
                if let Ok(records) = member.poll(4, Duration::ZERO) {
                    seen.extend(records.iter().map(|r| (r.partition, r.offset)));
                }
            }
        }
        let owned_a: Vec<u32> = a.assignment().iter().map(|x| x.partition).collect();
        let owned_b: Vec<u32> = b.assignment().iter().map(|x| x.partition).collect();
        assert_eq!((owned_a, owned_b), (vec![0], vec![1]));
        seen.sort();
        assert_eq!(seen, vec![(0, 0), (1, 0)], "each message exactly once");
    });
}

/// Static membership: static member S read offset 0, committed, and left (its partition waits
/// for it). Its return (a new handle with the same instance id) races a dynamic member B's join
/// and the rebalance it starts. Whoever ends up owning the partition resumes at S's commit: no
/// one sees 0 again, 1 is delivered, and the partition's cursor is never touched by two members
/// without a happens-before edge (the cell would fail the model).
#[test]
fn a_static_members_return_races_a_rebalance() {
    loom::model(|| {
        let (topic, mut producer) = topic(2);
        let group = topic.group("g").assignor(Newest).build().unwrap();
        let s = group
            .join_static("s", ringgroup::JoinOptions::new())
            .unwrap();
        producer.send_to(0, 0).unwrap();
        producer.send_to(0, 1).unwrap();
        assert_eq!(poll_offsets(&s, 1).unwrap(), vec![0]);
        s.commit().unwrap();
        drop(s);
        let returning = {
            let group = group.clone();
            thread::spawn(move || {
                let s = group
                    .join_static("s", ringgroup::JoinOptions::new())
                    .unwrap();
                (poll_twice(&s), s)
            })
        };
        let joining = {
            let group = group.clone();
            thread::spawn(move || {
                let b = group.join().unwrap();
                (poll_twice(&b), b)
            })
        };
        let (mut seen, s) = returning.join().unwrap();
        let (seen_by_b, b) = joining.join().unwrap();
        seen.extend(seen_by_b);
        // Let pending handoffs finish, then drain.
        for _ in 0..2 {
            seen.extend(poll_twice(&s));
            seen.extend(poll_twice(&b));
        }
        assert!(!seen.contains(&0), "offset 0 was committed: {seen:?}");
        assert!(seen.contains(&1), "offset 1 was lost: {seen:?}");
        assert_eq!(s.assignment().len() + b.assignment().len(), 1);
    });
}
