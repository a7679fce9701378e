//! `rtrb`: `push` / `pop`, `write_chunk_uninit(n)` / `read_chunk` for batches, and
//! `read_chunk(slots())` to drain everything ready as one chunk, committed at once.

use super::{Idle, Plan, Rx, Tx, Waiting};

/// The producer of an `rtrb` ring buffer.
pub struct RtrbTx(rtrb::Producer<u64>);

/// The consumer of an `rtrb` ring buffer.
pub struct RtrbRx(rtrb::Consumer<u64>);

/// A ring buffer of `plan.capacity` slots.
pub fn pair(plan: &Plan) -> (RtrbTx, RtrbRx) {
    let (producer, consumer) = rtrb::RingBuffer::new(plan.capacity);
    (RtrbTx(producer), RtrbRx(consumer))
}

impl Tx for RtrbTx {
    #[inline(always)]
    fn try_send(&mut self, value: u64) -> Result<(), u64> {
        self.0
            .push(value)
            .map_err(|rtrb::PushError::Full(value)| value)
    }

    fn send_batch(&mut self, first: u64, n: usize, waiting: Waiting) -> Result<(), String> {
        let mut idle = Idle::new(waiting);
        loop {
            match self.0.write_chunk_uninit(n) {
                Ok(chunk) => {
                    // Fills and commits all `n` slots.
                    chunk.fill_from_iter(first..first + n as u64);
                    return Ok(());
                }
                Err(rtrb::chunks::ChunkError::TooFewSlots(_)) => idle.wait()?,
            }
        }
    }
}

impl Rx for RtrbRx {
    #[inline(always)]
    fn try_recv(&mut self) -> Option<u64> {
        self.0.pop().ok()
    }

    #[inline(always)]
    fn try_recv_batch(&mut self, max: usize, each: &mut impl FnMut(&[u64])) -> usize {
        // Like ringgroup's reader: reload the shared tail only when the cached count cannot
        // fill a whole batch.
        let mut ready = self.0.cached_slots();
        if ready < max {
            ready = self.0.slots();
        }
        self.read(ready.min(max), each)
    }

    #[inline(always)]
    fn try_drain(&mut self, _limit: usize, each: &mut impl FnMut(&[u64])) -> usize {
        // Everything ready now, as one chunk.
        let ready = self.0.slots();
        self.read(ready, each)
    }
}

impl RtrbRx {
    /// Reads `n` ready messages as one chunk, hands them on as slices and commits them.
    #[inline(always)]
    fn read(&mut self, n: usize, each: &mut impl FnMut(&[u64])) -> usize {
        if n == 0 {
            return 0;
        }
        let Ok(chunk) = self.0.read_chunk(n) else {
            return 0;
        };
        let (head, tail) = chunk.as_slices();
        each(head);
        if !tail.is_empty() {
            each(tail);
        }
        let n = chunk.len();
        chunk.commit_all();
        n
    }
}
