//! Stress: four requesters of a producer group send into one multi-producer topic of four
//! partitions; two consumer groups with churning members (joining, leaving, dying mid-batch)
//! consume everything and answer every request. Checked, not timed:
//!
//! - no loss: every offset of every partition reaches both groups;
//! - one total order per partition, the same in both groups, and redeliveries carry the same
//!   message (at-least-once never invents or reorders);
//! - per-producer order in every group and partition;
//! - every request is answered (both groups answer, so duplicates are expected and counted) or
//!   counted as timed out, and no reply reaches its caller twice.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ringgroup::producer_group::{
    PendingReply, ProducerGroup, Request, Requester, RequesterMetrics, WaitError,
};
use ringgroup::{Group, ProducerRecord, Topic, WaitStrategy};
use ringgroup_testkit::random::next_random;

const PARTITIONS: u32 = 4;
const PRODUCERS: u64 = 4;
const PER_PRODUCER: u64 = 750_000;
/// Every this many messages of a producer, one is a request.
const REQUEST_EVERY: u64 = 64;
const IN_FLIGHT: usize = 32;
const WORKERS_PER_GROUP: u64 = 2;

type Req = Request<u64, u64>;

/// Producer `p`'s message `seq` (the partition is `seq % PARTITIONS`).
fn tag(p: u64, seq: u64) -> u64 {
    (p << 40) | seq
}

/// What one group saw: per partition, per offset, the message + 1 (0: not yet).
struct Ledger {
    offsets: Vec<Vec<AtomicU64>>,
}

impl Ledger {
    fn new() -> Self {
        let per_partition = (PRODUCERS * PER_PRODUCER / u64::from(PARTITIONS)) as usize;
        Self {
            offsets: (0..PARTITIONS)
                .map(|_| (0..per_partition).map(|_| AtomicU64::new(0)).collect())
                .collect(),
        }
    }

    /// Records a delivery; a redelivery must carry the same message.
    fn record(&self, partition: u32, offset: u64, value: u64) {
        let slot = &self.offsets[partition as usize][offset as usize];
        if let Err(seen) = slot.compare_exchange(0, value + 1, Ordering::Relaxed, Ordering::Relaxed)
        {
            assert_eq!(
                seen,
                value + 1,
                "p{partition} offset {offset} changed on redelivery"
            );
        }
    }

    fn complete(&self) -> bool {
        self.offsets
            .iter()
            .all(|p| p.iter().all(|o| o.load(Ordering::Relaxed) != 0))
    }
}

/// One requester: sends its messages, every `REQUEST_EVERY`th as a request, keeping up to
/// `IN_FLIGHT` requests waiting; returns (requests, answered, timed out) and its counters.
fn produce(requester: Requester<u64, u64>, p: u64) -> ((u64, u64, u64), RequesterMetrics) {
    let mut pending: VecDeque<(u64, PendingReply<'_, u64, u64>)> = VecDeque::new();
    let (mut requests, mut answered, mut timed_out) = (0, 0, 0);
    let mut settle = |(expected, ticket): (u64, PendingReply<'_, u64, u64>)| match ticket
        .wait(Duration::from_secs(20))
    {
        Ok(reply) => {
            assert_eq!(reply, expected + 1, "a reply to another request");
            answered += 1;
            assert_eq!(
                ticket.wait(Duration::from_millis(1)),
                Err(WaitError::Finished),
                "a reply reached its caller twice"
            );
        }
        Err(_) => timed_out += 1,
    };
    for seq in 0..PER_PRODUCER {
        let value = tag(p, seq);
        let record = ProducerRecord::new(value).partition((seq % u64::from(PARTITIONS)) as u32);
        if seq % REQUEST_EVERY == 0 {
            if pending.len() == IN_FLIGHT {
                settle(pending.pop_front().unwrap());
            }
            pending.push_back((value, requester.request_record(record).unwrap()));
            requests += 1;
        } else {
            requester.send(record).unwrap();
        }
    }
    while let Some(oldest) = pending.pop_front() {
        settle(oldest);
    }
    ((requests, answered, timed_out), requester.metrics())
}

/// A worker of `group`: joins, consumes a random number of batches answering every request,
/// then leaves, or dies mid-batch (its batch is redelivered), and joins again, until `done`.
fn work(group: Group<Req>, ledger: Arc<Ledger>, done: Arc<AtomicBool>, seed: u64) {
    let mut state = seed | 1;
    while !done.load(Ordering::Relaxed) {
        let batches = 20 + next_random(&mut state) % 200;
        let dies = next_random(&mut state) % 8 == 0;
        let _ = catch_unwind(AssertUnwindSafe(|| {
            let member = group.join().unwrap();
            for round in 0..batches {
                if done.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(records) = member.poll(64, Duration::from_millis(5)) else {
                    continue;
                };
                for (i, record) in records.iter().enumerate() {
                    ledger.record(record.partition, record.offset, record.value.value);
                    if record.value.reply_to().wants_reply() {
                        // Errors (the requester moved on) are counted by the group.
                        let _ = records.reply(&record, record.value.value + 1);
                    }
                    if dies && round + 1 == batches && i == records.len() / 2 {
                        std::panic::resume_unwind(Box::new("worker dies mid-batch"));
                    }
                }
            }
        }));
    }
}

#[test]
fn requesters_and_churning_groups_keep_every_rule() {
    let (topic, _producer) = Topic::<Req>::builder("requests")
        .partitions(PARTITIONS)
        .capacity(1024)
        .wait_strategy(WaitStrategy::Yield)
        .multi_producer()
        .build()
        .unwrap();
    let groups: Vec<Group<Req>> = ["a", "b"]
        .iter()
        .map(|name| {
            topic
                .group(*name)
                .max_poll_interval(Duration::from_secs(60))
                .build()
                .unwrap()
        })
        .collect();
    let clients: ProducerGroup<u64, u64> = topic
        .producer_group("clients")
        .max_pending(IN_FLIGHT)
        .reply_capacity(256)
        .reply_wait(Duration::from_millis(50))
        .build()
        .unwrap();
    let ledgers: Vec<Arc<Ledger>> = groups.iter().map(|_| Arc::new(Ledger::new())).collect();
    let done = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = groups
        .iter()
        .zip(&ledgers)
        .flat_map(|(group, ledger)| {
            (0..WORKERS_PER_GROUP).map(|w| {
                let (group, ledger, done) = (group.clone(), ledger.clone(), done.clone());
                std::thread::spawn(move || work(group, ledger, done, 0x5EED ^ w))
            })
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let requester = clients.join().unwrap();
            std::thread::spawn(move || produce(requester, p))
        })
        .collect();
    let (outcomes, counters): (Vec<(u64, u64, u64)>, Vec<RequesterMetrics>) =
        producers.into_iter().map(|p| p.join().unwrap()).unzip();
    // Everything was sent; the workers finish the rest.
    while !ledgers.iter().all(|l| l.complete()) {
        std::thread::sleep(Duration::from_millis(10)); // progress poll, not synchronisation
    }
    done.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().unwrap();
    }

    for (p, &(requests, answered, timed_out)) in outcomes.iter().enumerate() {
        assert_eq!(
            requests,
            PER_PRODUCER.div_ceil(REQUEST_EVERY),
            "producer {p}"
        );
        assert_eq!(
            answered + timed_out,
            requests,
            "producer {p}: a request vanished"
        );
    }
    let answered: u64 = outcomes.iter().map(|o| o.1).sum();
    assert!(answered > 0, "no request was ever answered");
    for partition in 0..PARTITIONS as usize {
        let a = &ledgers[0].offsets[partition];
        let b = &ledgers[1].offsets[partition];
        let mut last = [None::<u64>; PRODUCERS as usize];
        for (offset, (x, y)) in a.iter().zip(b).enumerate() {
            let (x, y) = (x.load(Ordering::Relaxed), y.load(Ordering::Relaxed));
            assert_eq!(
                x, y,
                "p{partition} offset {offset}: the groups saw different orders"
            );
            let value = x - 1;
            let (producer, seq) = ((value >> 40) as usize, value & ((1 << 40) - 1));
            assert!(
                last[producer].is_none_or(|l| l < seq),
                "p{partition} offset {offset}: producer {producer} out of order"
            );
            last[producer] = Some(seq);
        }
    }
    for (p, (outcome, counters)) in outcomes.iter().zip(&counters).enumerate() {
        assert_eq!(counters.sent, PER_PRODUCER, "producer {p}");
        assert_eq!(
            counters.replies_received, outcome.1,
            "producer {p}: delivered twice?"
        );
        assert_eq!(counters.replies_timed_out, outcome.2, "producer {p}");
    }
    // Both groups answer every request, so the second answers arrive as duplicates (or, for
    // a requester gone by then, are dropped on the consumer side).
    let duplicates: u64 = counters.iter().map(|c| c.duplicates + c.late).sum();
    let metrics = clients.metrics();
    assert!(duplicates + metrics.replies_to_gone + metrics.replies_dropped > 0);
}
