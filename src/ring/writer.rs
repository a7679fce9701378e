//! The writer: the unique producing end of a ring.
//!
//! # Algorithm
//!
//! The writer keeps `head` (the next offset to write) and a cached *effective limit* in its own
//! struct, not in shared memory. A publish checks `head < limit` (a register compare), writes the
//! slot, and stores `published` with `Release`, one store per call whatever the batch size.
//! Only when `head` reaches the limit does it announce, fence and rescan the reader cursors (see
//! `shared` module), then spin, yield or park under the wait strategy until space frees.
//!
//! # Invariants
//! - Single writer: [`Writer`] is `Send`, not `Clone`, and every write takes `&mut self`.
//! - A slot is written only below the effective limit, which is never above the announced limit
//!   (I3).
//! - Offsets are written in order and published in order; `published` only grows.
//! - Dropping the writer publishes what was written, then marks the ring closed and wakes readers.

use crossbeam_utils::CachePadded;

use super::error::{ClaimError, PublishError};
use super::shared::{Shared, SlotWriter};
use super::wait::Patience;
use crate::shm::Corruption;
use crate::sync::{Arc, Deadline, Ordering};
use std::time::Duration;

/// The producing end of a ring. Created by [`RingBuilder::build`](super::RingBuilder::build).
///
/// # Examples
///
/// ```
/// use ringgroup::ring::{Ring, StartAt};
///
/// let (mut writer, subscriber) = Ring::<u64>::builder().capacity(8).build()?;
/// let mut reader = subscriber.subscribe(StartAt::Earliest)?;
/// writer.publish(7);
/// writer.publish_batch([8, 9]);
/// let batch = reader.try_poll(16)?;
/// assert_eq!(batch.iter().copied().collect::<Vec<_>>(), [7, 8, 9]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Writer<T> {
    shared: Arc<Shared<T>>,
    /// Padded: the handle may sit next to a reader handle (same struct, same stack frame), and
    /// `head` is written on every publish.
    gate: CachePadded<Gate>,
}

/// The writer's private view of how far it may write.
#[derive(Debug)]
struct Gate {
    /// The next offset to write.
    head: u64,
    /// Effective limit: every offset below it may be written without a rescan.
    limit: u64,
    /// The highest limit announced so far (the announcement is monotone).
    announced: u64,
}

impl Gate {
    /// Makes room for `n` more slots if the readers allow it, without waiting.
    #[inline]
    fn refresh<T>(&mut self, shared: &Shared<T>, n: u64) -> bool {
        let need = self.head + n;
        need <= self.limit || self.rescan(shared, need)
    }

    /// Rescans the reader cursors; true when `need` is now below the effective limit.
    ///
    /// An announcement runs up to a quarter of the capacity ahead of what the writer needs (but
    /// never past `head + capacity`), so a writer that keeps the ring full pays the fence about
    /// once per quarter-ring, not per rescan. Over-announcing is safe: it only moves a joining
    /// reader's earliest start forward, and the cap keeps that start at or below `published`.
    ///
    /// Soft gates are kept while `need` fits below them, and then announced exactly, so a soft
    /// reader that attaches again loses nothing; once they are in the way, they are lapped.
    ///
    /// A ring in a region whose rescan finds it full looks for readers whose process died
    /// (at a bounded rate, see `owners`), and rescans once more if it reclaimed any.
    ///
    /// A ring in a region found corrupt (a cursor past anything written, see `shm::trust`)
    /// has no room any more: its region is poisoned for this process.
    #[cold]
    #[inline(never)]
    fn rescan<T>(&mut self, shared: &Shared<T>, need: u64) -> bool {
        !shared.is_poisoned()
            && (self.scan(shared, need) || (shared.reclaim_when_full() && self.scan(shared, need)))
    }

    /// One rescan (see [`rescan`](Self::rescan)).
    #[inline(always)]
    fn scan<T>(&mut self, shared: &Shared<T>, need: u64) -> bool {
        let head = self.head;
        let Ok(gates) = shared.gates(head, || head) else {
            return false;
        };
        let soft_limit = gates.soft + shared.capacity;
        let (wanted, slack) = if need <= soft_limit && gates.soft < gates.hard {
            (soft_limit, 0)
        } else {
            (gates.hard + shared.capacity, shared.capacity / 4)
        };
        if wanted > self.announced {
            self.announced = (wanted + slack).min(self.head + shared.capacity);
            shared.announce_limit(self.announced);
            // A reader that joined before the fence in `announce_limit` is visible now; one
            // that joins after it sees the announcement and starts at or above
            // `wanted - capacity`.
            let Ok(gates) = shared.gates(head, || head) else {
                return false;
            };
            self.limit = wanted.min(gates.hard + shared.capacity);
        } else {
            // Covered by an earlier announcement, whose fence precedes this scan.
            self.limit = wanted;
        }
        need <= self.limit
    }
}

impl<T> Writer<T> {
    pub(crate) fn new(shared: Arc<Shared<T>>) -> Self {
        let capacity = shared.capacity;
        Self {
            shared,
            gate: CachePadded::new(Gate {
                head: 0,
                limit: capacity,
                announced: capacity,
            }),
        }
    }

    /// Takes over a ring whose writer is gone without closing it (its process died): writing
    /// resumes at the published end. Whatever the old writer wrote past it was never visible
    /// and is overwritten; the first write rescans the readers.
    ///
    /// The two words it resumes from are checked first: the dead writer announced a limit at
    /// or above everything it published, and at most two laps past it (one lap past its head,
    /// which its readers kept within a lap of `published`); anything else is a corrupt region.
    pub(crate) fn resume(shared: Arc<Shared<T>>) -> Result<Self, Corruption> {
        let head = shared.published.load_acquire();
        let announced = shared.write_limit.load_relaxed();
        if announced < head {
            return Err(shared.violated("published", head));
        }
        if announced - head > 2 * shared.capacity {
            return Err(shared.violated("write limit", announced));
        }
        Ok(Self {
            shared,
            gate: CachePadded::new(Gate {
                head,
                // At the head: the first write rescans (announce, fence, scan) before it
                // writes anything.
                limit: head,
                announced,
            }),
        })
    }

    /// The ring's capacity in messages.
    pub fn capacity(&self) -> usize {
        self.shared.capacity as usize
    }

    /// The offset the next message will get.
    pub fn next_offset(&self) -> u64 {
        self.gate.head
    }

    /// Messages that can be written now without waiting (rescans the readers if needed).
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut writer, _subscriber) = ringgroup::ring::Ring::<u8>::builder().capacity(4).build()?;
    /// assert_eq!(writer.free_slots(), 4);
    /// # Ok::<(), ringgroup::BuildError>(())
    /// ```
    pub fn free_slots(&mut self) -> usize {
        self.gate.refresh(&self.shared, self.shared.capacity);
        self.gate.limit.saturating_sub(self.gate.head) as usize
    }

    /// Publishes one message if there is space now; otherwise hands it back as
    /// [`PublishError::Full`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::{ring::{Ring, StartAt}, PublishError};
    ///
    /// let (mut writer, subscriber) = Ring::builder().capacity(1).build()?;
    /// let _reader = subscriber.subscribe(StartAt::Earliest)?;
    /// assert_eq!(writer.try_publish("a"), Ok(()));
    /// assert_eq!(writer.try_publish("b"), Err(PublishError::Full("b")));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// A ring in a shared-memory region found corrupt hands the message back as
    /// [`PublishError::Corrupt`] instead (see `shm::trust`).
    #[inline]
    pub fn try_publish(&mut self, value: T) -> Result<(), PublishError<T>> {
        if self.gate.head >= self.gate.limit && !self.gate.refresh(&self.shared, 1) {
            return Err(refused(&self.shared, value, PublishError::Full));
        }
        self.write_and_publish(value);
        Ok(())
    }

    /// Publishes one message, waiting under the ring's wait strategy while the slowest reader
    /// holds the slot it needs (lossless back-pressure).
    ///
    /// Do not call it from a thread that holds a [`Batch`](super::Batch) of the same ring: the
    /// writer may be waiting for exactly that batch to be released.
    ///
    /// A ring in a shared-memory region that this process found corrupt never has room
    /// again, so this waits for ever there: a producer of a shared-memory topic learns of it
    /// from [`Producer::send`](crate::Producer::send), [`try_publish`](Self::try_publish) or
    /// [`publish_timeout`](Self::publish_timeout).
    #[inline]
    pub fn publish(&mut self, value: T) {
        if self.gate.head >= self.gate.limit {
            self.wait_for_space(1, Deadline::after(None), false);
        }
        self.write_and_publish(value);
    }

    /// [`publish`](Self::publish) that gives up with [`PublishError::Corrupt`] once the ring's
    /// region is found corrupt (a topic's blocking send).
    #[inline]
    pub(crate) fn publish_checked(&mut self, value: T) -> Result<(), PublishError<T>> {
        if self.gate.head >= self.gate.limit && !self.wait_for_space(1, Deadline::after(None), true)
        {
            return Err(refused(&self.shared, value, PublishError::Full));
        }
        self.write_and_publish(value);
        Ok(())
    }

    /// Like [`publish`](Self::publish), giving up after `timeout` with
    /// [`PublishError::Timeout`] (or at once with [`PublishError::Corrupt`], for a ring in a
    /// shared-memory region found corrupt).
    #[inline]
    pub fn publish_timeout(&mut self, value: T, timeout: Duration) -> Result<(), PublishError<T>> {
        if self.gate.head >= self.gate.limit
            && !self.wait_for_space(1, Deadline::after(Some(timeout)), true)
        {
            return Err(refused(&self.shared, value, PublishError::Timeout));
        }
        self.write_and_publish(value);
        Ok(())
    }

    /// Publishes every message of `messages`, in order, waiting for space as needed. Each run of
    /// messages that fits in the free space is made visible with a single `Release` store.
    /// Returns how many were published.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut writer, subscriber) = ringgroup::ring::Ring::builder().capacity(4).build()?;
    /// let mut reader = subscriber.subscribe(ringgroup::ring::StartAt::Earliest)?;
    /// assert_eq!(writer.publish_batch(1..=3_u32), 3);
    /// assert_eq!(reader.try_poll(8)?.len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn publish_batch<I: IntoIterator<Item = T>>(&mut self, messages: I) -> usize {
        /// Publishes what was written if the iterator (or a replaced message's `Drop`) panics,
        /// so no written message is left unpublished (I8). Forgotten on the normal path.
        struct PublishOnUnwind<'w, T>(&'w mut Writer<T>);
        impl<T> Drop for PublishOnUnwind<'_, T> {
            fn drop(&mut self) {
                self.0.publish_head();
            }
        }
        let mut messages = messages.into_iter();
        let start = self.gate.head;
        let guard = PublishOnUnwind(self);
        let this = &mut *guard.0;
        // The first message is taken before waiting for space, so an empty iterator never
        // waits on a full ring.
        while let Some(first) = messages.next() {
            let wanted = (messages.size_hint().0 as u64)
                .saturating_add(1)
                .min(this.shared.capacity / 2);
            if this.gate.head + wanted > this.gate.limit {
                this.gate.refresh(&this.shared, wanted);
            }
            if this.gate.head >= this.gate.limit {
                this.wait_for_space(1, Deadline::after(None), false);
            }
            let slots = this.shared.slot_writer();
            let gate = &mut *this.gate;
            // SAFETY: `head` is below the effective limit and is the next offset in order.
            unsafe { slots.write_next(&mut gate.head, first) };
            // SAFETY: every offset from `head` up to the effective limit may be written, in
            // order.
            unsafe { slots.write_run(&mut gate.head, gate.limit, &mut messages) };
            this.publish_head();
        }
        let published = (this.gate.head - start) as usize;
        std::mem::forget(guard);
        published
    }

    /// Claims `n` consecutive slots to write in place, then publish with one store; waits for
    /// space as needed. Fails only if `n` exceeds the capacity.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut writer, subscriber) = ringgroup::ring::Ring::builder().capacity(8).build()?;
    /// let mut reader = subscriber.subscribe(ringgroup::ring::StartAt::Earliest)?;
    /// let mut claim = writer.claim(3)?;
    /// for i in 0..3_u64 {
    ///     claim.push(i * 10).unwrap();
    /// }
    /// claim.publish();
    /// assert_eq!(reader.try_poll(8)?.iter().sum::<u64>(), 30);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn claim(&mut self, n: usize) -> Result<Claim<'_, T>, ClaimError> {
        self.claim_inner(n, Patience::Forever)
    }

    /// Claims `n` slots if they are free now, else [`ClaimError::Full`].
    pub fn try_claim(&mut self, n: usize) -> Result<Claim<'_, T>, ClaimError> {
        self.claim_inner(n, Patience::Never)
    }

    /// Claims `n` slots, waiting at most `timeout`.
    pub fn claim_timeout(
        &mut self,
        n: usize,
        timeout: Duration,
    ) -> Result<Claim<'_, T>, ClaimError> {
        self.claim_inner(n, Patience::For(timeout))
    }

    fn claim_inner(&mut self, n: usize, patience: Patience) -> Result<Claim<'_, T>, ClaimError> {
        if n as u64 > self.shared.capacity {
            return Err(ClaimError::TooLarge {
                requested: n,
                capacity: self.shared.capacity as usize,
            });
        }
        let n = n as u64;
        if !self.gate.refresh(&self.shared, n) {
            let failed = match patience.deadline() {
                None => Some(ClaimError::Full),
                Some(deadline) => {
                    (!self.wait_for_space(n, deadline, true)).then_some(ClaimError::Timeout)
                }
            };
            if let Some(failed) = failed {
                return Err(self
                    .shared
                    .check_poison()
                    .map_or_else(ClaimError::Corrupt, |()| failed));
            }
        }
        let end = self.gate.head + n;
        Ok(Claim {
            shared: &self.shared,
            slots: self.shared.slot_writer(),
            head: &mut self.gate.head,
            end,
        })
    }

    /// Waits until `n` slots are free or the deadline passes; false when it passed. With
    /// `fallible`, it gives up (false) once the ring's region is found corrupt; without, it
    /// waits on, for a caller that has no way to say so (see [`publish`](Self::publish)).
    /// Never inlined: the publishing calls stay small enough to inline into their callers.
    #[cold]
    #[inline(never)]
    fn wait_for_space(&mut self, n: u64, deadline: Deadline, fallible: bool) -> bool {
        let shared = &*self.shared;
        let gate = &mut self.gate;
        shared.wait_for_space(deadline, || {
            gate.refresh(shared, n) || (fallible && shared.is_poisoned())
        }) && !(fallible && shared.is_poisoned())
    }

    #[inline(always)]
    fn write_and_publish(&mut self, value: T) {
        // SAFETY: the callers checked `head < limit`; `head` is the next offset in order.
        unsafe {
            self.shared
                .slot_writer()
                .write_next(&mut self.gate.head, value)
        };
        self.publish_head();
    }

    /// Makes every written offset visible to readers.
    #[inline(always)]
    fn publish_head(&self) {
        self.shared.publish(self.gate.head);
    }
}

/// The error for `value` that found no room: `otherwise` (full, timed out), unless the ring's
/// region was found corrupt.
#[cold]
#[inline(never)]
pub(super) fn refused<T>(
    shared: &Shared<T>,
    value: T,
    otherwise: fn(T) -> PublishError<T>,
) -> PublishError<T> {
    match shared.check_poison() {
        Err(corruption) => PublishError::Corrupt(value, corruption),
        Ok(()) => otherwise(value),
    }
}

impl<T> Drop for Writer<T> {
    fn drop(&mut self) {
        self.publish_head();
        // Release: pairs with the acquire in `Shared::is_closed`; a reader that sees the ring
        // closed also sees every published offset.
        self.shared.closed.store(1, Ordering::Release);
        if self.shared.strategy.parks() {
            self.shared.data_signal.notify();
        }
    }
}

impl<T> std::fmt::Debug for Writer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("capacity", &self.shared.capacity)
            .field("next_offset", &self.gate.head)
            .finish()
    }
}

/// Slots claimed by [`Writer::claim`]: write them in place with [`push`](Claim::push), then
/// [`publish`](Claim::publish). Dropping the claim publishes what was pushed; so does the
/// writer's next publish, or its drop, if the claim is forgotten (every pushed message counts
/// in the writer's head at once, so none is lost or leaked).
pub struct Claim<'a, T> {
    shared: &'a Shared<T>,
    slots: SlotWriter<'a, T>,
    /// The writer's head: the next offset to write.
    head: &'a mut u64,
    /// One past the last claimed offset.
    end: u64,
}

impl<T> Claim<'_, T> {
    /// Slots still free in this claim.
    pub fn remaining(&self) -> usize {
        (self.end - *self.head) as usize
    }

    /// The offset the next pushed message gets.
    pub fn next_offset(&self) -> u64 {
        *self.head
    }

    /// Writes `value` straight into the next claimed slot. Hands it back when the claim is full.
    #[inline]
    pub fn push(&mut self, value: T) -> Result<(), T> {
        if *self.head == self.end {
            return Err(value);
        }
        // SAFETY: the claim holds `head < end <= limit`; `head` is the next offset in order.
        unsafe { self.slots.write_next(self.head, value) };
        Ok(())
    }

    /// Makes every pushed message visible with one `Release` store.
    pub fn publish(self) {}
}

impl<T> Extend<T> for Claim<'_, T> {
    /// Pushes messages until the claim is full; the rest of the iterator is not consumed.
    fn extend<I: IntoIterator<Item = T>>(&mut self, messages: I) {
        // SAFETY: the claim holds `head <= end <= limit`, offsets written in order.
        unsafe {
            self.slots
                .write_run(self.head, self.end, &mut messages.into_iter())
        };
    }
}

impl<T> Drop for Claim<'_, T> {
    fn drop(&mut self) {
        self.shared.publish(*self.head);
    }
}

impl<T> std::fmt::Debug for Claim<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claim")
            .field("next_offset", &*self.head)
            .field("remaining", &self.remaining())
            .finish()
    }
}

/// A writer whose process died: its ring is neither closed nor written any more. Only the loom
/// models make one, to check the takeover that a shared-memory topic does
/// (`Topic::take_over_producer`, through [`Writer::resume`]).
#[cfg(ringgroup_loom)]
#[doc(hidden)]
pub struct DeadWriter<T>(Arc<Shared<T>>);

#[cfg(ringgroup_loom)]
impl<T> std::fmt::Debug for DeadWriter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadWriter").finish_non_exhaustive()
    }
}

#[cfg(ringgroup_loom)]
impl<T> Writer<T> {
    /// Dies as a killed process would, mid-claim: the next message is written into its slot if
    /// the readers allow, but never published, and the ring is not closed.
    #[doc(hidden)]
    pub fn die_mid_write(mut self, value: T) -> DeadWriter<T> {
        if self.gate.head < self.gate.limit || self.gate.refresh(&self.shared, 1) {
            // SAFETY: `head < limit` was just checked; `head` is the next offset in order.
            unsafe {
                self.shared
                    .slot_writer()
                    .write_next(&mut self.gate.head, value)
            };
        }
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again, so the `Arc` is moved out exactly once
        // (the gate holds plain integers: nothing else to drop).
        DeadWriter(unsafe { std::ptr::read(&this.shared) })
    }
}

#[cfg(ringgroup_loom)]
impl<T> DeadWriter<T> {
    /// Takes the ring over, as another process would once the dead one is confirmed gone.
    #[doc(hidden)]
    pub fn take_over(self) -> Writer<T> {
        Writer::resume(self.0).expect("a model's words are never corrupt")
    }
}
