//! `crossbeam-channel` (bounded: `try_send` / `try_recv`) and `crossbeam-queue`
//! (`ArrayQueue`: `push` / `pop`). Neither has a batch operation: batches go one by one, and a
//! drain (`spsc-drain`) takes messages one by one until none is ready (the channel through
//! `try_iter()`, the queue by popping until empty). Both
//! are multi-producer, multi-consumer work queues: with several producers each has its own
//! clone of the sender (of the `Arc`), and each message goes to one of the consumers.

use std::sync::Arc;

use crossbeam_queue::ArrayQueue;

use super::{Plan, Rx, Tx};

/// The sender of a bounded channel.
pub struct ChannelTx(crossbeam_channel::Sender<u64>);

/// The receiver of a bounded channel.
pub struct ChannelRx(crossbeam_channel::Receiver<u64>);

/// A bounded channel of `plan.capacity` slots.
pub fn channel(plan: &Plan) -> (ChannelTx, ChannelRx) {
    let (tx, rx) = crossbeam_channel::bounded(plan.capacity);
    (ChannelTx(tx), ChannelRx(rx))
}

/// A bounded channel of `plan.capacity` slots with a sender for each of `producers` and a
/// receiver for each of `consumers`.
pub fn channels(
    plan: &Plan,
    producers: usize,
    consumers: usize,
) -> (Vec<ChannelTx>, Vec<ChannelRx>) {
    let (tx, rx) = crossbeam_channel::bounded(plan.capacity);
    (
        (0..producers).map(|_| ChannelTx(tx.clone())).collect(),
        (0..consumers).map(|_| ChannelRx(rx.clone())).collect(),
    )
}

impl Tx for ChannelTx {
    #[inline(always)]
    fn try_send(&mut self, value: u64) -> Result<(), u64> {
        self.0.try_send(value).map_err(|e| e.into_inner())
    }
}

impl Rx for ChannelRx {
    #[inline(always)]
    fn try_recv(&mut self) -> Option<u64> {
        self.0.try_recv().ok()
    }

    #[inline(always)]
    fn try_drain(&mut self, limit: usize, each: &mut impl FnMut(&[u64])) -> usize {
        let mut taken = 0;
        for value in self.0.try_iter().take(limit) {
            each(&[value]);
            taken += 1;
        }
        taken
    }
}

/// The pushing side of a shared `ArrayQueue`.
pub struct QueueTx(Arc<ArrayQueue<u64>>);

/// The popping side of a shared `ArrayQueue`.
pub struct QueueRx(Arc<ArrayQueue<u64>>);

/// An `ArrayQueue` of `plan.capacity` slots, shared by one pusher and one popper.
pub fn queue(plan: &Plan) -> (QueueTx, QueueRx) {
    let queue = Arc::new(ArrayQueue::new(plan.capacity));
    (QueueTx(Arc::clone(&queue)), QueueRx(queue))
}

/// An `ArrayQueue` of `plan.capacity` slots shared by `producers` pushers and `consumers`
/// poppers.
pub fn queues(plan: &Plan, producers: usize, consumers: usize) -> (Vec<QueueTx>, Vec<QueueRx>) {
    let queue = Arc::new(ArrayQueue::new(plan.capacity));
    (
        (0..producers)
            .map(|_| QueueTx(Arc::clone(&queue)))
            .collect(),
        (0..consumers)
            .map(|_| QueueRx(Arc::clone(&queue)))
            .collect(),
    )
}

impl Tx for QueueTx {
    #[inline(always)]
    fn try_send(&mut self, value: u64) -> Result<(), u64> {
        self.0.push(value)
    }
}

impl Rx for QueueRx {
    #[inline(always)]
    fn try_recv(&mut self) -> Option<u64> {
        self.0.pop()
    }
}
