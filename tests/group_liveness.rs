//! Liveness through the public API: no member, forgotten handle or idle group stalls a topic
//! for good. Each test would wait forever (and fail on its generous deadline) without the
//! mechanism it checks; none of them times anything.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringgroup::{
    Backpressure, ConsumeError, Consumer, Group, JoinOptions, RebalanceListener, SendError, Topic,
};

/// Long enough that only a missing mechanism (not a slow machine) runs into it.
const PATIENCE: Duration = Duration::from_secs(20);
const INTERVAL: Duration = Duration::from_millis(100);

/// A two-partition group whose first member `a` owns both partitions; then `b` joins, and
/// range moves partition 1 to it.
fn handoff_fixture(
    listener: Option<Box<dyn RebalanceListener<u64>>>,
) -> (Group<u64>, Consumer<u64>) {
    let (topic, mut producer) = Topic::<u64>::builder("t").partitions(2).build().unwrap();
    let group = topic
        .group("g")
        .max_poll_interval(INTERVAL)
        .build()
        .unwrap();
    let a = group
        .join_with(JoinOptions {
            weight: 1,
            listener,
        })
        .unwrap();
    assert!(matches!(
        a.poll(1, Duration::ZERO),
        Err(ConsumeError::Timeout)
    ));
    assert_eq!(a.assignment().len(), 2);
    producer.send_to(1, 7).unwrap();
    std::mem::forget(producer); // keep the topic open
    (group, a)
}

/// `b` polls until it gets partition 1's record.
fn served(b: &Consumer<u64>) -> (u32, u64) {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        match b.poll(8, Duration::from_millis(20)) {
            Ok(records) => {
                let record = records.iter().next().unwrap();
                return (record.partition, *record.value);
            }
            Err(ConsumeError::Timeout) => {}
            Err(e) => panic!("b: {e:?}"),
        }
    }
    panic!("the joiner was never served: the revoke has no deadline");
}

#[test]
fn an_owner_that_heartbeats_but_never_polls_loses_a_revoked_partition() {
    let (group, a) = handoff_fixture(None);
    let b = group.join().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let beating = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                a.heartbeat();
                std::thread::sleep(Duration::from_millis(2)); // the slow work being simulated
            }
            a
        })
    };
    assert_eq!(served(&b), (1, 7));
    stop.store(true, Ordering::Relaxed);
    let a = beating.join().unwrap();
    assert_eq!(a.poll(1, Duration::ZERO).err(), Some(ConsumeError::Fenced));
}

/// Blocks in `on_revoked`, heartbeating, until released.
struct BlockInRevoke(Arc<AtomicBool>);

impl RebalanceListener<u64> for BlockInRevoke {
    fn on_revoked(&mut self, consumer: &Consumer<u64>, _partitions: &[u32]) {
        while !self.0.load(Ordering::Relaxed) {
            consumer.heartbeat();
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

#[test]
fn an_owner_blocked_in_on_revoked_loses_the_partition_at_the_deadline() {
    let release = Arc::new(AtomicBool::new(false));
    let (group, a) = handoff_fixture(Some(Box::new(BlockInRevoke(release.clone()))));
    let b = group.join().unwrap();
    let blocked = std::thread::spawn(move || {
        let outcome = a.poll(1, Duration::ZERO).err();
        (outcome, a)
    });
    assert_eq!(served(&b), (1, 7));
    release.store(true, Ordering::Relaxed);
    let (outcome, _a) = blocked.join().unwrap();
    assert_eq!(outcome, Some(ConsumeError::Fenced));
}

/// Panics in every `on_revoked`.
struct PanicInRevoke;

impl RebalanceListener<u64> for PanicInRevoke {
    fn on_revoked(&mut self, _consumer: &Consumer<u64>, _partitions: &[u32]) {
        // Unwinds like a panic, without the panic hook's message for every one of them.
        std::panic::resume_unwind(Box::new("on_revoked fails"));
    }
}

#[test]
fn an_owner_whose_on_revoked_always_panics_loses_the_partition_at_the_deadline() {
    let (group, a) = handoff_fixture(Some(Box::new(PanicInRevoke)));
    let b = group.join().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let retrying = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut panics = 0_u64;
            while !stop.load(Ordering::Relaxed) {
                // The caller catches the panic and polls again, as a supervisor loop might,
                // until it learns it was evicted (a poll after that would join again).
                match catch_unwind(AssertUnwindSafe(|| a.poll(1, Duration::ZERO).err())) {
                    Err(_) => panics += 1,
                    Ok(Some(ConsumeError::Fenced)) => break,
                    Ok(_) => {}
                }
            }
            panics
        })
    };
    assert_eq!(served(&b), (1, 7));
    stop.store(true, Ordering::Relaxed);
    assert!(retrying.join().unwrap() > 0, "on_revoked never ran");
}

#[test]
fn a_forgotten_batch_is_freed_when_its_member_leaves_and_is_delivered_again() {
    let (topic, mut producer) = Topic::<u64>::builder("t").capacity(4).build().unwrap();
    let group = topic.group("g").build().unwrap();
    let member = group.join().unwrap();
    for value in 0..4 {
        producer.send(value).unwrap();
    }
    std::mem::forget(member.poll(2, PATIENCE).unwrap());
    assert_eq!(
        member.poll(2, Duration::ZERO).err(),
        Some(ConsumeError::BatchOutstanding { partition: 0 }),
        "the member knows its batch is still lent"
    );
    assert!(matches!(producer.try_send(4), Err(SendError::Full(4))));
    drop(member);
    let next = group.join().unwrap();
    let records = next.poll(8, PATIENCE).unwrap();
    assert_eq!(
        records.first_offset(),
        0,
        "the forgotten batch is delivered again"
    );
    assert_eq!(records.len(), 4);
    drop(records);
    producer
        .send_timeout(4, PATIENCE)
        .expect("the ring moves again");
}

#[test]
fn a_blocking_group_with_no_members_holds_the_producer() {
    let (topic, mut producer) = Topic::<u64>::builder("t").capacity(4).build().unwrap();
    let _group = topic.group("g").build().unwrap();
    for value in 0..4 {
        producer.try_send(value).unwrap();
    }
    assert!(matches!(producer.try_send(4), Err(SendError::Full(4))));
}

#[test]
fn a_detaching_group_stops_gating_after_its_idle_time_and_counts_what_it_skipped() {
    let (topic, mut producer) = Topic::<u64>::builder("t").capacity(4).build().unwrap();
    let group = topic
        .group("g")
        .backpressure(Backpressure::Detach {
            after: Duration::from_millis(20),
        })
        .build()
        .unwrap();
    for value in 0..4 {
        producer.try_send(value).unwrap();
    }
    // Full until the group has been idle for 20 ms; then the producer goes on.
    for value in 4..20 {
        producer
            .send_timeout(value, PATIENCE)
            .expect("the detached group no longer gates");
    }
    let member = group.join().unwrap();
    let mut seen = Vec::new();
    while let Ok(records) = member.poll(8, Duration::from_millis(10)) {
        seen.extend(records.iter().map(|r| {
            assert_eq!(*r.value, r.offset);
            r.offset
        }));
    }
    let first = *seen
        .first()
        .expect("resumes at the earliest retained offset");
    assert!(
        first >= 16,
        "offsets the ring no longer holds were delivered: {seen:?}"
    );
    assert_eq!(seen, (first..20).collect::<Vec<_>>());
    let partition = group.metrics().partitions[0];
    assert_eq!(partition.skipped, first);
    assert_eq!(partition.committed, 20);
}

/// A one-partition topic of `capacity` slots and a lossy group on it.
fn lossy_group(capacity: usize) -> (Group<u64>, ringgroup::Producer<u64>) {
    let (topic, producer) = Topic::<u64>::builder("t")
        .capacity(capacity)
        .build()
        .unwrap();
    let group = topic
        .group("g")
        .backpressure(Backpressure::Lossy)
        .build()
        .unwrap();
    (group, producer)
}

#[test]
fn a_lossy_group_never_gates_but_a_lent_batch_is_never_overwritten() {
    let (group, mut producer) = lossy_group(8);
    for value in 0..100 {
        producer.try_send(value).expect("a lossy group never gates");
    }
    let member = group.join().unwrap();
    let records = member.poll(8, PATIENCE).unwrap();
    let first = records.first_offset();
    assert!(first >= 92, "lapped records were delivered");
    // While the batch is lent it gates: the producer may not overwrite it.
    let mut sent = 100;
    while producer.try_send(sent).is_ok() {
        sent += 1;
    }
    assert!(sent <= first + 8, "the producer overwrote a lent batch");
    for record in records.iter() {
        assert_eq!(*record.value, record.offset);
    }
    drop(records);
    producer
        .try_send(sent)
        .expect("gates no longer once dropped");
    assert_eq!(group.metrics().partitions[0].skipped, first);
}

#[test]
fn a_lossy_member_that_keeps_up_loses_nothing() {
    let (group, mut producer) = lossy_group(8);
    let member = group.join().unwrap();
    let mut next = 0;
    for value in 0..1000 {
        producer.try_send(value).unwrap();
        if value % 5 == 4 {
            while let Ok(records) = member.try_poll(3) {
                for record in records.iter() {
                    assert_eq!(record.offset, next);
                    next += 1;
                }
            }
        }
    }
    assert_eq!(next, 1000);
    assert_eq!(group.metrics().partitions[0].skipped, 0);
}

/// A lossy member of a multi-producer topic that the producers lap (its read position's slot
/// already holds a later offset) moves on to what the ring still holds, counting the rest as
/// skipped, instead of waiting for an offset that will never come.
#[test]
fn a_lapped_lossy_member_of_a_multi_producer_topic_moves_on() {
    let (topic, producer) = Topic::<u64>::builder("t")
        .capacity(8)
        .multi_producer()
        .build()
        .unwrap();
    let group = topic
        .group("g")
        .backpressure(Backpressure::Lossy)
        .build()
        .unwrap();
    let member = group.join().unwrap();
    for value in 0..3 {
        producer.try_send(value).unwrap();
    }
    let first = member.poll(8, PATIENCE).unwrap();
    assert_eq!(
        first.iter().map(|r| *r.value).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    drop(first);
    for value in 3..100 {
        producer.try_send(value).expect("a lossy group never gates");
    }
    // Bounded: each poll either delivers or finds nothing new; without the lap check it waits
    // at offset 3 for good.
    let mut newest = 2;
    for _ in 0..100 {
        if let Ok(records) = member.poll(8, Duration::from_millis(1)) {
            for record in records.iter() {
                assert_eq!(*record.value, record.offset);
                newest = newest.max(*record.value);
            }
        }
        if newest == 99 {
            break;
        }
    }
    assert_eq!(newest, 99, "the lapped member never moved on");
    assert!(group.metrics().partitions[0].skipped > 0);
}

/// Polls from inside a callback and logs what happened.
#[derive(Clone, Default)]
struct Nested(Arc<Mutex<Vec<String>>>);

impl RebalanceListener<u64> for Nested {
    fn on_assigned(&mut self, consumer: &Consumer<u64>, partitions: &[u32]) {
        let nested = consumer.poll(1, Duration::ZERO).err();
        self.0
            .lock()
            .unwrap()
            .push(format!("assigned {partitions:?}, nested poll: {nested:?}"));
    }
    fn on_revoked(&mut self, consumer: &Consumer<u64>, partitions: &[u32]) {
        consumer.commit().unwrap();
        self.0
            .lock()
            .unwrap()
            .push(format!("revoked {partitions:?}"));
    }
}

#[test]
fn a_poll_inside_a_callback_is_an_error_and_a_clean_leave_runs_on_revoked() {
    let (topic, mut producer) = Topic::<u64>::builder("t").partitions(2).build().unwrap();
    let group = topic.group("g").auto_commit(false).build().unwrap();
    let log = Nested::default();
    let member = group
        .join_with(JoinOptions::new().listener(log.clone()))
        .unwrap();
    producer.send_to(0, 1).unwrap();
    producer.send_to(1, 2).unwrap();
    let mut read = 0;
    while read < 2 {
        read += member.poll(8, PATIENCE).unwrap().len();
    }
    drop(member); // commits in on_revoked
    assert_eq!(
        *log.0.lock().unwrap(),
        [
            "assigned [0, 1], nested poll: Some(InCallback)".to_string(),
            "revoked [0, 1]".to_string()
        ]
    );
    let committed: Vec<u64> = group
        .metrics()
        .partitions
        .iter()
        .map(|p| p.committed)
        .collect();
    assert_eq!(committed, [1, 1], "on_revoked committed on leave");
}
