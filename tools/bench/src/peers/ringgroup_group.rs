//! ringgroup's consumer-group API, as an application uses it: a heap [`Topic`] of `u64` with
//! one partition of `plan.capacity` slots, its [`Producer`] (`try_send`, one message per send;
//! a batch through the producer's partition writer, `try_claim(n)`), and per consumer a
//! consumer group of its own with one member, auto-commit on, receiving with
//! [`Consumer::try_poll`]: `try_poll(1)` one per receive, `try_poll(n)` up to a batch,
//! `try_poll(usize::MAX)` everything ready (what `Consumer::try_drain` does, handed on as
//! slices). Dropping the lent [`Records`](ringgroup::Records) commits them (auto-commit) and
//! releases their slots.
//!
//! Every group sees every message, so several groups are a broadcast, as the bare ring's
//! readers are (`fanout-3`: three groups; `mpmc`: two groups, consumer `k` taking the offsets
//! `k mod 2`, as the ring's readers do). The multi-producer cases use the multi-producer
//! topic (`TopicBuilder::multi_producer`), a clone of its [`SharedProducer`] per producer
//! thread. Each member owns its partition before the start line ([`groups::settle`]), so no
//! rebalance runs while the clock does.
//!
//! This is what `ringgroup-group` measures beside `ringgroup`, the bare ring
//! (`ringgroup_ring`): the same ring underneath, plus the topic's routing, the group's
//! ownership check and lease per poll, and the commit per release.

use ringgroup::{Consumer, Group, Producer, SendError, SharedProducer, Topic};

use super::ringgroup_ring::publish_batch;
use super::{Plan, Rx, Tx, Waiting};
use crate::groups;

/// The producer of a single-producer topic.
pub struct GroupTx(Producer<u64>);

/// One producer thread's clone of a multi-producer topic's producer.
pub struct SharedGroupTx(SharedProducer<u64>);

/// The only member of one consumer group.
pub struct GroupRx {
    consumer: Consumer<u64>,
    // Kept with its member for the run.
    _group: Group<u64>,
}

/// A topic of one partition of `plan.capacity` slots, and `consumers` consumer groups of one
/// member each, every member owning the partition.
pub fn broadcast(plan: &Plan, consumers: usize) -> Result<(GroupTx, Vec<GroupRx>), String> {
    let (topic, producer) = Topic::<u64>::builder("compare")
        .partitions(1)
        .capacity(plan.capacity)
        .max_groups(consumers)
        .wait_strategy(plan.waiting.ring_strategy())
        .build()
        .map_err(|e| format!("building the topic: {e}"))?;
    Ok((GroupTx(producer), members(&topic, consumers)?))
}

/// A multi-producer topic of one partition of `plan.capacity` slots, a producer handle for
/// each of `producers`, and `consumers` consumer groups of one member each.
pub fn shared(
    plan: &Plan,
    producers: usize,
    consumers: usize,
) -> Result<(Vec<SharedGroupTx>, Vec<GroupRx>), String> {
    let (topic, producer) = Topic::<u64>::builder("compare")
        .partitions(1)
        .capacity(plan.capacity)
        .max_groups(consumers)
        .wait_strategy(plan.waiting.ring_strategy())
        .multi_producer()
        .build()
        .map_err(|e| format!("building the topic: {e}"))?;
    let readers = members(&topic, consumers)?;
    let writers = (0..producers)
        .map(|_| SharedGroupTx(producer.clone()))
        .collect();
    // The clones keep the topic open; the last of them to go closes it.
    drop(producer);
    Ok((writers, readers))
}

/// `n` consumer groups with one member each (auto-commit on), each member owning the
/// topic's partition.
fn members(topic: &Topic<u64>, n: usize) -> Result<Vec<GroupRx>, String> {
    (0..n)
        .map(|g| {
            let group = topic
                .group(format!("g{g}"))
                .auto_commit(true)
                .build()
                .map_err(|e| format!("building group {g}: {e}"))?;
            let consumer = group
                .join()
                .map_err(|e| format!("joining group {g}: {e}"))?;
            let mut member = [consumer];
            groups::settle(&group, &mut member, 1).map_err(|e| format!("group {g}: {e}"))?;
            let [consumer] = member;
            Ok(GroupRx {
                consumer,
                _group: group,
            })
        })
        .collect()
}

impl Tx for GroupTx {
    #[inline(always)]
    fn try_send(&mut self, value: u64) -> Result<(), u64> {
        self.0
            .try_send(value)
            .map(drop)
            .map_err(SendError::into_inner)
    }

    fn send_batch(&mut self, first: u64, n: usize, waiting: Waiting) -> Result<(), String> {
        let writer = self
            .0
            .partition_writer(0)
            .ok_or("the topic has no partition 0")?;
        publish_batch(writer, first, n, waiting)
    }
}

impl Tx for SharedGroupTx {
    #[inline(always)]
    fn try_send(&mut self, value: u64) -> Result<(), u64> {
        self.0
            .try_send(value)
            .map(drop)
            .map_err(SendError::into_inner)
    }
}

impl Rx for GroupRx {
    #[inline(always)]
    fn try_recv(&mut self) -> Option<u64> {
        // Dropping the records commits and releases them.
        let records = self.consumer.try_poll(1).ok()?;
        records.as_slices().0.first().copied()
    }

    #[inline(always)]
    fn try_recv_batch(&mut self, max: usize, each: &mut impl FnMut(&[u64])) -> usize {
        let Ok(records) = self.consumer.try_poll(max) else {
            return 0;
        };
        let (head, tail) = records.as_slices();
        each(head);
        if !tail.is_empty() {
            each(tail);
        }
        records.len()
    }

    #[inline(always)]
    fn try_drain(&mut self, _limit: usize, each: &mut impl FnMut(&[u64])) -> usize {
        // Everything published, lent as one batch, committed and released when dropped.
        self.try_recv_batch(usize::MAX, each)
    }
}
