//! The handles of a multi-producer ring: [`SharedWriter`], which any number of threads clone
//! and publish through at once, and [`SharedClaim`], a run of claimed slots written in place.
//!
//! # Algorithm
//!
//! A handle is a thin front on the claim protocol of the `multi` module (claim below a
//! validated limit, write, stamp): it adds this handle's cached copy of the write limit, this
//! process's claimer record (rings in a region), and the handle count whose last drop closes
//! the ring.
//!
//! # Invariants
//! - Every claimed offset is written or tombstoned exactly once, by the handle or claim that
//!   took it (an abandoned claim stamps the rest as tombstones when dropped).
//! - The ring closes when the last handle is dropped, after every claim was stamped.

use std::time::Duration;

use super::claimers::Activity;
use super::error::{ClaimError, PublishError};
use super::shared::Shared;
use super::wait::Patience;
use super::writer::refused;
use crate::sync::{Arc, AtomicU64, Ordering};

/// A producing end of a multi-producer ring: `Clone + Send + Sync`, and every method takes
/// `&self`, so any number of threads publish at once, each in its own claimed offsets. Created
/// by [`RingBuilder::multi_producer`](super::RingBuilder::multi_producer).
///
/// # Examples
///
/// ```
/// use ringgroup::ring::{Ring, StartAt};
///
/// let (writer, subscriber) = Ring::<u64>::builder().capacity(64).multi_producer().build()?;
/// let mut reader = subscriber.subscribe(StartAt::Earliest)?;
/// let threads: Vec<_> = (0..2)
///     .map(|t| {
///         let writer = writer.clone();
///         std::thread::spawn(move || for i in 0..10 { writer.publish(t * 100 + i); })
///     })
///     .collect();
/// threads.into_iter().for_each(|t| t.join().unwrap());
/// drop(writer); // the last handle closes the ring
/// let mut seen = Vec::new();
/// while let Ok(batch) = reader.poll(64) {
///     seen.extend(batch.iter().copied());
/// }
/// assert_eq!(seen.len(), 20);
/// // Each producer's messages keep their order.
/// let first: Vec<u64> = seen.iter().copied().filter(|v| *v < 100).collect();
/// assert_eq!(first, (0..10).collect::<Vec<_>>());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SharedWriter<T> {
    shared: Arc<Shared<T>>,
    /// This process's claimer record, for a ring in a region (see `claimers`).
    claimer: Option<usize>,
    /// This handle's copy of the shared write limit: claims below it touch no shared limit.
    limit: AtomicU64,
}

impl<T> SharedWriter<T> {
    /// The first handle of a new multi-producer ring.
    pub(crate) fn new(shared: Arc<Shared<T>>) -> Self {
        let claimer = shared.claimer();
        Self {
            shared,
            claimer,
            limit: AtomicU64::new(0),
        }
    }

    /// The ring (for the loom models' hooks).
    #[cfg(ringgroup_loom)]
    pub(crate) fn shared(&self) -> &Arc<Shared<T>> {
        &self.shared
    }

    #[inline(always)]
    fn activity(&self) -> Activity<'_> {
        self.shared.activity(self.claimer)
    }

    /// Another handle on `shared`, unless the ring already closed (its last handle is gone).
    pub(crate) fn attach(shared: &Arc<Shared<T>>) -> Option<Self> {
        let producers = &shared.multi()?.header.producers;
        let mut count = producers.load(Ordering::Relaxed);
        loop {
            if count == 0 {
                return None;
            }
            let Some(more) = count.checked_add(1) else {
                // No ring has 2^64 producer handles: a corrupt region, where nothing attaches.
                shared.violated("producers", count);
                return None;
            };
            // Relaxed: a handle count; closing is published by the last drop's Release.
            match producers.compare_exchange_weak(count, more, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Some(Self::new(shared.clone())),
                Err(seen) => count = seen,
            }
        }
    }

    /// Counts a producer no handle stands for, so the ring never closes (a region's reply
    /// rings, which processes attach to and leave at will).
    #[cfg(not(ringgroup_loom))]
    pub(crate) fn hold_open(shared: &Arc<Shared<T>>) {
        if let Some(multi) = shared.multi() {
            // Relaxed: a handle count; the caller's handle keeps it above zero meanwhile.
            multi.header.producers.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The ring's capacity in messages.
    pub fn capacity(&self) -> usize {
        self.shared.capacity as usize
    }

    /// Publishes one message if there is room now and returns its offset; otherwise hands it
    /// back as [`PublishError::Full`] (or [`PublishError::Corrupt`], for a ring in a
    /// shared-memory region found corrupt: see `shm::trust`).
    #[inline]
    pub fn try_publish(&self, value: T) -> Result<u64, PublishError<T>> {
        match self
            .shared
            .try_claim_offsets(1, self.activity(), &self.limit)
        {
            Some(offset) => self.publish_at(offset, value),
            None => Err(refused(&self.shared, value, PublishError::Full)),
        }
    }

    /// Publishes one message, waiting under the ring's wait strategy while the slowest reader
    /// holds the slot it needs; returns its offset.
    ///
    /// A ring in a shared-memory region that this process found corrupt never has room again,
    /// so this waits for ever there: a producer of a shared-memory topic learns of it from
    /// [`SharedProducer::send`](crate::SharedProducer::send), [`try_publish`](Self::try_publish)
    /// or [`publish_timeout`](Self::publish_timeout).
    pub fn publish(&self, mut value: T) -> u64 {
        loop {
            let offset = self
                .shared
                .claim_offsets_waiting(1, self.activity(), &self.limit);
            match self.publish_at(offset, value) {
                Ok(offset) => return offset,
                // The region is poisoned now: the next claim waits for ever.
                Err(error) => value = error.into_inner(),
            }
        }
    }

    /// Like [`publish`](Self::publish), giving up after `timeout` with
    /// [`PublishError::Timeout`] (or at once with [`PublishError::Corrupt`]).
    pub fn publish_timeout(&self, value: T, timeout: Duration) -> Result<u64, PublishError<T>> {
        match self.shared.claim_offsets(
            1,
            Patience::For(timeout),
            true,
            self.activity(),
            &self.limit,
        ) {
            Some(offset) => self.publish_at(offset, value),
            None => Err(refused(&self.shared, value, PublishError::Timeout)),
        }
    }

    /// [`publish`](Self::publish) that gives up with [`PublishError::Corrupt`] once the ring's
    /// region is found corrupt (a topic's blocking send).
    pub(crate) fn publish_checked(&self, value: T) -> Result<u64, PublishError<T>> {
        match self
            .shared
            .claim_offsets(1, Patience::Forever, true, self.activity(), &self.limit)
        {
            Some(offset) => self.publish_at(offset, value),
            None => Err(refused(&self.shared, value, PublishError::Full)),
        }
    }

    #[inline]
    fn publish_at(&self, offset: u64, value: T) -> Result<u64, PublishError<T>> {
        // SAFETY: `offset` was just claimed by this call, which writes it once.
        let written = unsafe { self.shared.write_claimed(offset, value) };
        self.activity().exit();
        self.shared.notify_data();
        match written {
            Ok(()) => Ok(offset),
            Err((value, corruption)) => Err(PublishError::Corrupt(value, corruption)),
        }
    }

    /// Claims `n` consecutive slots, waiting for room; fails only if `n` exceeds the capacity.
    /// Each message pushed into the claim is visible at once; the claimed slots not pushed when
    /// the claim is dropped become tombstones, which readers skip.
    pub fn claim(&self, n: usize) -> Result<SharedClaim<'_, T>, ClaimError> {
        self.claim_inner(n, Patience::Forever)
    }

    /// Claims `n` slots if they are free now, else [`ClaimError::Full`].
    pub fn try_claim(&self, n: usize) -> Result<SharedClaim<'_, T>, ClaimError> {
        self.claim_inner(n, Patience::Never)
    }

    /// Claims `n` slots, waiting at most `timeout`.
    pub fn claim_timeout(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<SharedClaim<'_, T>, ClaimError> {
        self.claim_inner(n, Patience::For(timeout))
    }

    fn claim_inner(&self, n: usize, patience: Patience) -> Result<SharedClaim<'_, T>, ClaimError> {
        if n as u64 > self.shared.capacity {
            return Err(ClaimError::TooLarge {
                requested: n,
                capacity: self.shared.capacity as usize,
            });
        }
        match self
            .shared
            .claim_offsets(n as u64, patience, true, self.activity(), &self.limit)
        {
            Some(first) => Ok(SharedClaim {
                shared: &self.shared,
                next: first,
                end: first + n as u64,
                activity: self.activity(),
            }),
            None => Err(match self.shared.check_poison() {
                Err(corruption) => ClaimError::Corrupt(corruption),
                Ok(()) if patience == Patience::Never => ClaimError::Full,
                Ok(()) => ClaimError::Timeout,
            }),
        }
    }

    /// Publishes every message of `messages` in claims of at most half the ring, waiting for
    /// room as needed; returns the offset of the first (or of the next to claim, if there were
    /// none). Messages of one call keep their order; another producer's may fall between claims.
    pub fn publish_batch<I>(&self, messages: I) -> u64
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: ExactSizeIterator,
    {
        let mut messages = messages.into_iter();
        let chunk = (self.shared.capacity / 2).max(1) as usize;
        let mut first = None;
        while messages.len() > 0 {
            let n = messages.len().min(chunk) as u64;
            let start = self
                .shared
                .claim_offsets_waiting(n, self.activity(), &self.limit);
            let mut claim = SharedClaim {
                shared: &self.shared,
                next: start,
                end: start + n,
                activity: self.activity(),
            };
            first.get_or_insert(start);
            claim.extend(messages.by_ref().take(n as usize));
        }
        first.unwrap_or_else(|| self.shared.multi_state().claimed())
    }
}

impl<T> Clone for SharedWriter<T> {
    fn clone(&self) -> Self {
        // Relaxed: a handle count; the handle being cloned keeps it above zero.
        self.shared
            .multi_state()
            .header
            .producers
            .fetch_add(1, Ordering::Relaxed);
        Self {
            shared: self.shared.clone(),
            claimer: self.claimer,
            limit: AtomicU64::new(0),
        }
    }
}

impl<T> Drop for SharedWriter<T> {
    fn drop(&mut self) {
        // AcqRel: the last handle acquires every other handle's stamps (their Release
        // decrements) before it closes the ring.
        if self
            .shared
            .multi_state()
            .header
            .producers
            .fetch_sub(1, Ordering::AcqRel)
            == 1
        {
            // Release: pairs with the Acquire in `Shared::is_closed`; a reader that sees the
            // ring closed sees every stamp.
            self.shared.closed.store(1, Ordering::Release);
            self.shared.data_signal.notify();
        }
    }
}

impl<T> std::fmt::Debug for SharedWriter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedWriter")
            .field("capacity", &self.shared.capacity)
            .field("claimed", &self.shared.multi_state().claimed())
            .finish()
    }
}

/// Slots claimed by [`SharedWriter::claim`]. Each pushed message is visible at once; the slots
/// still unpushed when the claim is dropped (or unwound by a panic) become tombstones that
/// readers skip and count, so an abandoned claim never stalls the ring.
pub struct SharedClaim<'a, T> {
    shared: &'a Shared<T>,
    /// The next claimed offset to write.
    next: u64,
    /// One past the last claimed offset.
    end: u64,
    /// Counts the claim in flight until it is dropped.
    activity: Activity<'a>,
}

impl<T> SharedClaim<'_, T> {
    /// Slots still free in this claim.
    pub fn remaining(&self) -> usize {
        (self.end - self.next) as usize
    }

    /// The offset the next pushed message gets.
    pub fn next_offset(&self) -> u64 {
        self.next
    }

    /// Writes `value` into the next claimed slot and makes it visible. Hands it back when the
    /// claim is full, or when the ring's shared-memory region is found corrupt (the slot then
    /// becomes a tombstone; see `shm::trust`).
    pub fn push(&mut self, value: T) -> Result<(), T> {
        if self.next == self.end {
            return Err(value);
        }
        let offset = self.next;
        self.next += 1;
        // SAFETY: `offset` is claimed by this claim, and `next` moved past it, so it is written
        // once (not tombstoned by the drop below either).
        let written = unsafe { self.shared.write_claimed(offset, value) };
        self.shared.notify_data();
        written.map_err(|(value, _)| value)
    }

    /// Ends the claim (what was not pushed becomes tombstones).
    pub fn publish(self) {}
}

impl<T> Extend<T> for SharedClaim<'_, T> {
    /// Pushes messages until the claim is full; the rest of the iterator is not consumed. On a
    /// ring whose shared-memory region is found corrupt it stops, and the rest of the claim
    /// becomes tombstones when it is dropped.
    fn extend<I: IntoIterator<Item = T>>(&mut self, messages: I) {
        let mut messages = messages.into_iter();
        while self.next < self.end {
            let Some(value) = messages.next() else { break };
            let offset = self.next;
            self.next += 1;
            // SAFETY: as in `push`.
            if unsafe { self.shared.write_claimed(offset, value) }.is_err() {
                break;
            }
        }
        self.shared.notify_data();
    }
}

impl<T> Drop for SharedClaim<'_, T> {
    fn drop(&mut self) {
        if self.next == self.end {
            self.activity.exit();
            return;
        }
        while self.next < self.end {
            let offset = self.next;
            self.next += 1;
            // SAFETY: `offset` is claimed and was never written: stamped once, here.
            unsafe { self.shared.tombstone_claimed(offset) };
        }
        self.activity.exit();
        self.shared.notify_data();
    }
}

impl<T> std::fmt::Debug for SharedClaim<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedClaim")
            .field("next_offset", &self.next)
            .field("remaining", &self.remaining())
            .finish()
    }
}
