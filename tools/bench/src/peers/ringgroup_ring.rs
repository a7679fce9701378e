//! ringgroup's partition ring: `try_publish` / `try_poll(1)`, `try_claim(n)` / `try_poll(n)`
//! for batches, and `try_poll(usize::MAX)` to drain everything published as one batch (what
//! `Reader::try_drain` does, handed on as slices rather than one call per message, so that the
//! consumer's check is the one every system's batch runs). Readers release as the library
//! does by default (lazily: see `ringgroup::ring`'s reader). One ring with `readers` readers is a broadcast: every reader sees
//! every message. The multi-producer ring (`mpsc`, `mpmc`) gives each producer thread its own
//! clone of the `SharedWriter`, publishing with `try_publish`.

use ringgroup::ring::{Reader, Ring, SharedWriter, StartAt, Writer};
use ringgroup::ClaimError;

use super::{Idle, Plan, Rx, Tx, Waiting};

/// The writer of a ring.
pub struct RingTx(Writer<u64>);

/// One reader of a ring.
pub struct RingRx(Reader<u64>);

/// A ring of `plan.capacity` slots with `readers` readers, all starting at offset 0.
pub fn broadcast(plan: &Plan, readers: usize) -> Result<(RingTx, Vec<RingRx>), String> {
    let (writer, subscriber) = Ring::<u64>::builder()
        .capacity(plan.capacity)
        .max_readers(readers)
        .wait_strategy(plan.waiting.ring_strategy())
        .build()
        .map_err(|e| format!("building the ring: {e}"))?;
    let readers = (0..readers)
        .map(|_| subscriber.subscribe(StartAt::Earliest).map(RingRx))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("subscribing: {e}"))?;
    Ok((RingTx(writer), readers))
}

/// One producer's handle on a multi-producer ring.
pub struct SharedTx(SharedWriter<u64>);

/// A multi-producer ring of `plan.capacity` slots with a handle for each of `producers`
/// producers and `readers` readers, all starting at offset 0.
pub fn shared(
    plan: &Plan,
    producers: usize,
    readers: usize,
) -> Result<(Vec<SharedTx>, Vec<RingRx>), String> {
    let (writer, subscriber) = Ring::<u64>::builder()
        .capacity(plan.capacity)
        .max_readers(readers)
        .wait_strategy(plan.waiting.ring_strategy())
        .multi_producer()
        .build()
        .map_err(|e| format!("building the ring: {e}"))?;
    let readers = (0..readers)
        .map(|_| subscriber.subscribe(StartAt::Earliest).map(RingRx))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("subscribing: {e}"))?;
    let writers = (0..producers).map(|_| SharedTx(writer.clone())).collect();
    // The clones keep the ring open; the last of them to go closes it.
    drop(writer);
    Ok((writers, readers))
}

impl Tx for SharedTx {
    #[inline(always)]
    fn try_send(&mut self, value: u64) -> Result<(), u64> {
        self.0
            .try_publish(value)
            .map(drop)
            .map_err(|e| e.into_inner())
    }
}

impl Tx for RingTx {
    #[inline(always)]
    fn try_send(&mut self, value: u64) -> Result<(), u64> {
        self.0.try_publish(value).map_err(|e| e.into_inner())
    }

    fn send_batch(&mut self, first: u64, n: usize, waiting: Waiting) -> Result<(), String> {
        publish_batch(&mut self.0, first, n, waiting)
    }
}

/// Publishes `first..first + n` on `writer` as one claim (`try_claim(n)`, one publish),
/// waiting under `waiting` while the ring has no room for all of them.
#[inline(always)]
pub fn publish_batch(
    writer: &mut Writer<u64>,
    first: u64,
    n: usize,
    waiting: Waiting,
) -> Result<(), String> {
    let mut idle = Idle::new(waiting);
    loop {
        match writer.try_claim(n) {
            Ok(mut claim) => {
                claim.extend(first..first + n as u64);
                claim.publish();
                return Ok(());
            }
            Err(ClaimError::Full) => idle.wait()?,
            Err(e) => return Err(format!("claiming {n} slots: {e}")),
        }
    }
}

impl Rx for RingRx {
    #[inline(always)]
    fn try_recv(&mut self) -> Option<u64> {
        // Dropping the batch releases its slot.
        self.0
            .try_poll(1)
            .ok()
            .and_then(|batch| batch.get(0).copied())
    }

    #[inline(always)]
    fn try_recv_batch(&mut self, max: usize, each: &mut impl FnMut(&[u64])) -> usize {
        let Ok(batch) = self.0.try_poll(max) else {
            return 0;
        };
        let (head, tail) = batch.as_slices();
        each(head);
        if !tail.is_empty() {
            each(tail);
        }
        batch.len()
    }

    #[inline(always)]
    fn try_drain(&mut self, _limit: usize, each: &mut impl FnMut(&[u64])) -> usize {
        // Everything published, lent as one batch and released when it is dropped.
        self.try_recv_batch(usize::MAX, each)
    }
}
