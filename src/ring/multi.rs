//! Multi-producer rings: any number of [`SharedWriter`] handles publish to one ring at once.
//!
//! # Algorithm
//!
//! - **Claim**: a producer claims `n` consecutive offsets with one compare-and-swap on the
//!   shared `head`, after checking that `head + n` is below the shared write limit (rescanning
//!   the readers, as the single writer does, when it is not). A claim therefore never runs past
//!   the gate: a claimed slot can always be written at once, so a `try_` or timed publish that
//!   finds no room hands its value back instead of holding a claim it could neither fill nor
//!   give back. (A plain atomic add would claim first and wait after; a producer that then timed
//!   out would hold offsets it can only tombstone once readers make room.)
//!   Each handle keeps its own copy of the limit (disruptor's cached gating sequence), so a
//!   claim below it reads no shared limit; and a rescan first looks at the readers with loads
//!   only, so a try that finds no room writes nothing the other producers read.
//! - **Publish**: each slot has a *stamp* (the disruptor's availability buffer, with the whole
//!   offset instead of a lap bit): after writing the message for offset `o` the producer stores
//!   `o + 1` into the stamp with `Release`. Readers see offset `o` only when its stamp says so
//!   and every offset before it was seen: the first unstamped offset ends what a poll lends, so
//!   there is one total order per partition, the claim order, the same for every reader.
//! - **Laps**: before writing slot `o & mask`, a producer waits until the stamp shows the slot's
//!   previous offset, `o - capacity`, finished (a slower producer of the previous lap may still
//!   be writing it). Readers gate laps as in a single-producer ring.
//! - **Abandoned claims**: a [`SharedClaim`] dropped (or unwound by a panic) before it was
//!   filled stamps the rest as *tombstones* (`o + 1 | TOMBSTONE`): readers skip them and count
//!   them, and the partition never stalls on a dead claim.
//! - **Gating and joins**: the write limit is shared by every producer and only grows through
//!   validated rescans: announce (`fetch_max` of `write_limit`), `SeqCst` fence, rescan. Every
//!   multi-producer rescan fences, so whichever producer's announcement a joining reader sees,
//!   the limit it reads from `limit` was validated against it (see `shared`).
//!
//! # Invariants
//! - **I2** no producer writes a slot a registered reader has not released: every claimed
//!   offset is below a validated limit.
//! - **I3** a reader reads only stamped slots, and a slot is rewritten only after its stamp
//!   shows the previous offset finished and every reader released it.
//! - **I8** a slot holds a live message exactly when its stamp is an offset without the
//!   tombstone bit; overwriting, tombstoning and the ring's drop each drop it once.
//! - The ring closes when the last producer handle is dropped; every claim was stamped by then.

use std::time::Duration;

use super::block::MultiHeader;
use super::claimers::Activity;
use super::error::{ClaimError, PublishError};
use super::shared::Shared;
use super::wait::Patience;
use super::writer::refused;
use crate::shm::Corruption;
use crate::sync::{fence, Arc, AtomicU64, Ordering};

/// Set in a stamp for an offset whose claim was abandoned: no message, readers skip it.
pub(crate) const TOMBSTONE: u64 = 1 << 63;

/// A multi-producer ring's claims and stamps, as a view of its block.
#[derive(Clone, Copy)]
pub(crate) struct Multi<'a> {
    pub(crate) header: &'a MultiHeader,
    /// Per slot: `offset + 1` once the message of `offset` is written (`| TOMBSTONE` when its
    /// claim was abandoned); 0 before the slot is first used.
    pub(crate) stamps: &'a [AtomicU64],
}

impl<'a> Multi<'a> {
    /// The stamp of `offset`'s slot.
    #[inline(always)]
    pub(crate) fn stamp(&self, offset: u64) -> &'a AtomicU64 {
        let index = (offset as usize) & (self.stamps.len() - 1);
        debug_assert!(index < self.stamps.len());
        // SAFETY: the length is a power of two, so the masked index is in bounds.
        unsafe { self.stamps.get_unchecked(index) }
    }

    /// What a reader may do with `offset`: read it, skip it, or wait.
    #[inline(always)]
    pub(crate) fn state_of(&self, offset: u64) -> Stamp {
        // Acquire: pairs with the producer's Release store of the stamp; the slot's message is
        // written before the reader reads it.
        let stamp = self.stamp(offset).load(Ordering::Acquire);
        if stamp == offset + 1 {
            Stamp::Ready
        } else if stamp == (offset + 1) | TOMBSTONE {
            Stamp::Tombstone
        } else {
            Stamp::Pending
        }
    }

    /// The next offset to be claimed.
    pub(crate) fn claimed(&self) -> u64 {
        self.header.head.load(Ordering::Relaxed)
    }

    /// Tombstones stamped so far.
    pub(crate) fn tombstones(&self) -> u64 {
        self.header.tombstones.load(Ordering::Relaxed)
    }

    /// The offset whose message slot `index` holds, if it holds one (for the ring's drop, when
    /// every handle is gone).
    pub(crate) fn live_offset(&self, index: usize) -> Option<u64> {
        // Relaxed: every handle is gone, so any load sees the final state.
        let stamp = self.stamps[index].load(Ordering::Relaxed);
        (stamp != 0 && stamp & TOMBSTONE == 0).then(|| stamp - 1)
    }
}

/// What a reader finds at an offset of a multi-producer ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stamp {
    /// The message is written.
    Ready,
    /// The claim was abandoned: skip the offset.
    Tombstone,
    /// Not written yet (or claimed and still being written).
    Pending,
}

impl<T> Shared<T> {
    fn multi_state(&self) -> Multi<'_> {
        // Only multi-producer handles call this, and they exist only for rings built with one.
        self.multi()
            .expect("a shared writer of a single-producer ring")
    }

    /// The shared write limit when `need` is below it, rescanning the readers if it is not;
    /// `None` when there is no room for `need` now.
    #[inline(always)]
    fn multi_refresh(&self, multi: Multi<'_>, need: u64) -> Option<u64> {
        // Acquire: pairs with the AcqRel `fetch_max` of the producer that validated the limit,
        // which acquired the readers' releases in its scan.
        let limit = multi.header.limit.load(Ordering::Acquire);
        if need <= limit {
            return Some(limit);
        }
        self.multi_rescan(multi, need)
    }

    /// Announce, fence, rescan, as the single writer does; every multi-producer rescan fences
    /// (see the module docs for why one producer cannot lean on another's announcement).
    ///
    /// A ring in a region whose rescan finds it full looks for readers whose process died (at
    /// a bounded rate, see `owners`), and rescans once more if it reclaimed any.
    ///
    /// A ring in a region found corrupt (see `shm::trust`) has no room any more.
    #[cold]
    #[inline(never)]
    fn multi_rescan(&self, multi: Multi<'_>, need: u64) -> Option<u64> {
        if self.is_poisoned() {
            return None;
        }
        self.multi_scan(multi, need).or_else(|| {
            self.reclaim_when_full()
                .then(|| self.multi_scan(multi, need))
                .flatten()
        })
    }

    /// One rescan (see [`multi_rescan`](Self::multi_rescan)): the new limit, if `need` is
    /// below it.
    ///
    /// A first look at the readers writes nothing: when even the slowest hard gate leaves no
    /// room for `need`, the try fails there, and the lines other producers read (`write_limit`,
    /// `limit`) are left alone. Only a look that finds room announces, fences and looks again.
    #[inline(always)]
    fn multi_scan(&self, multi: Multi<'_>, need: u64) -> Option<u64> {
        // In a region the head is another process's word: the sums below saturate rather
        // than trust it to be far from the top (a claim at such a head fails in
        // `try_claim_offsets`).
        let head = multi.header.head.load(Ordering::Relaxed);
        let fresh_head = || multi.header.head.load(Ordering::Relaxed);
        let gates = self.gates(head, fresh_head).ok()?;
        // Every limit below is at most the hard gate plus a lap.
        if need > gates.hard.saturating_add(self.capacity) {
            return None;
        }
        let soft_limit = gates.soft.saturating_add(self.capacity);
        let (wanted, slack) = if need <= soft_limit && gates.soft < gates.hard {
            (soft_limit, 0)
        } else {
            (gates.hard.saturating_add(self.capacity), self.capacity / 4)
        };
        let announce = wanted
            .saturating_add(slack)
            .min(head.saturating_add(self.capacity));
        // Relaxed: ordered before the rescan below by the SeqCst fence.
        self.write_limit.fetch_max_relaxed(announce.max(wanted));
        // SeqCst fence: pairs with the fence in `confirm_start` (Dekker): a joining reader sees
        // this announcement, or the scan below sees its cursor.
        fence(Ordering::SeqCst);
        let gates = self.gates(head, fresh_head).ok()?;
        let mut limit = wanted.min(gates.hard.saturating_add(self.capacity));
        if self.owners.is_some() {
            // A ring in a region never lets a claim lap a slot whose offset is still unstamped
            // (no hard reader gates it, say): the claim would wait in `lap_ready`, counted in
            // flight, behind a dead producer's claim, and no repair could run (`claimers`).
            limit = limit.min(self.latest().saturating_add(self.capacity));
        }
        // AcqRel: releases the readers' releases acquired by the scans to producers that load
        // the limit with Acquire.
        let limit = multi
            .header
            .limit
            .fetch_max(limit, Ordering::AcqRel)
            .max(limit);
        (need <= limit).then_some(limit)
    }

    /// Claims `n` offsets if they are free now: the first claimed offset. On success the claim
    /// counts in `activity` until the caller's `exit` (see `claimers`).
    ///
    /// `None` when there is no room now, or the ring's region was found corrupt (a head that
    /// a claim would overflow cannot be true: no ring reaches 2^64 offsets).
    ///
    /// `cached_limit` is the claiming handle's copy of the write limit (disruptor's cached
    /// gating sequence): a claim below it reads no shared limit at all.
    #[inline(always)]
    fn try_claim_offsets(
        &self,
        n: u64,
        activity: Activity<'_>,
        cached_limit: &AtomicU64,
    ) -> Option<u64> {
        let multi = self.multi_state();
        let mut head = multi.header.head.load(Ordering::Relaxed);
        loop {
            let Some(end) = head.checked_add(n) else {
                self.violated("claim head", head);
                return None;
            };
            // Acquire: pairs with the Release store below, made by whichever thread used this
            // handle last, after it acquired the limit from the shared word; so the readers'
            // releases below the limit happen-before this claim's writes. (Plain moves on x86.)
            if end > cached_limit.load(Ordering::Acquire) {
                let limit = self.multi_refresh(multi, end)?;
                // Release: pairs with the Acquire load above (a handle shared between threads).
                cached_limit.store(limit, Ordering::Release);
            }
            // Counted only around the CAS: a producer waiting for room holds no claim, so it
            // never keeps a repair of a dead producer's claim waiting (see `claimers`).
            activity.enter();
            // Release on success: pairs with a repairer's Acquire load of `head`, so it sees
            // the `enter` above (see `claimers`); the claim itself needs only atomicity, as
            // messages are ordered by the stamps and the limit checked above was acquired.
            match multi.header.head.compare_exchange_weak(
                head,
                end,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(head),
                Err(seen) => {
                    activity.exit();
                    head = seen;
                }
            }
        }
    }

    /// Claims `n` offsets, waiting under the wait strategy as `patience` allows. With
    /// `fallible`, it gives up once the ring's region is found corrupt; without, it waits on,
    /// for a caller that has no way to say so (see [`SharedWriter::publish`]).
    #[inline(always)]
    fn claim_offsets(
        &self,
        n: u64,
        patience: Patience,
        fallible: bool,
        activity: Activity<'_>,
        cached_limit: &AtomicU64,
    ) -> Option<u64> {
        let mut claimed = self.try_claim_offsets(n, activity, cached_limit);
        if claimed.is_none() {
            let deadline = patience.deadline()?;
            self.wait_for_space(deadline, || {
                claimed = self.try_claim_offsets(n, activity, cached_limit);
                claimed.is_some() || (fallible && self.is_poisoned())
            });
        }
        claimed
    }

    /// Claims `n` offsets (at most the capacity), waiting as long as it takes.
    fn claim_offsets_waiting(
        &self,
        n: u64,
        activity: Activity<'_>,
        cached_limit: &AtomicU64,
    ) -> u64 {
        loop {
            if let Some(first) =
                self.claim_offsets(n, Patience::Forever, false, activity, cached_limit)
            {
                return first;
            }
        }
    }

    /// Waits until the slot of `offset` is done with its previous offset, then returns whether
    /// it holds a message (which the caller must drop or replace).
    ///
    /// A ring in a region never waits here: its claims never lap an unstamped slot (see
    /// `multi_scan`), so a stamp that does not show the previous lap finished cannot be true
    /// (see `shm::trust`), and is an `Err`. Its messages are plain data, so the slot needs no
    /// drop either way.
    #[inline(always)]
    fn lap_ready(&self, multi: Multi<'_>, offset: u64) -> Result<bool, Corruption> {
        let previous = offset.checked_sub(self.capacity);
        let mut spins = 0_u32;
        loop {
            // Acquire: pairs with the previous producer's Release store of this stamp, so its
            // write of the slot happens-before ours.
            let stamp = multi.stamp(offset).load(Ordering::Acquire);
            match previous {
                None if self.owners.is_some() && stamp != 0 => {
                    return Err(self.violated("stamp", stamp))
                }
                None => return Ok(false),
                Some(previous) if stamp & !TOMBSTONE == previous + 1 => {
                    return Ok(stamp & TOMBSTONE == 0)
                }
                Some(_) if self.owners.is_some() => return Err(self.violated("stamp", stamp)),
                // A slower producer of the previous lap is still writing this slot (only
                // possible while no reader gates the ring: a reader releases a slot only
                // after reading it stamped).
                Some(_) if spins < 64 => {
                    spins += 1;
                    crate::sync::spin_hint();
                }
                Some(_) => crate::sync::thread::yield_now(),
            }
        }
    }

    /// Writes `value` at the claimed `offset` and stamps it. A ring in a region whose stamp
    /// there is corrupt (see [`lap_ready`](Self::lap_ready)) gets a tombstone at `offset`
    /// instead, so its readers move on, and `value` back with the corruption.
    ///
    /// # Safety
    /// The caller claimed `offset` and writes it once.
    #[inline(always)]
    unsafe fn write_claimed(&self, offset: u64, value: T) -> Result<(), (T, Corruption)> {
        let multi = self.multi_state();
        let occupied = match self.lap_ready(multi, offset) {
            Ok(occupied) => occupied,
            Err(corruption) => {
                self.stamp_tombstone(multi, offset);
                return Err((value, corruption));
            }
        };
        // SAFETY: the offset is claimed (only this producer writes it), below the validated
        // limit (no reader can still read `offset - capacity`), and the previous lap's writer
        // is done (`lap_ready`); `occupied` says whether the slot holds that message.
        let replaced = unsafe { self.replace_slot(offset, value, occupied) };
        // Release: pairs with the reader's Acquire in `state_of`; the message is written first.
        multi.stamp(offset).store(offset + 1, Ordering::Release);
        drop(replaced);
        Ok(())
    }

    /// Stamps the claimed `offset` as a tombstone, dropping the slot's previous message.
    ///
    /// # Safety
    /// As for [`write_claimed`](Self::write_claimed).
    unsafe fn tombstone_claimed(&self, offset: u64) {
        let multi = self.multi_state();
        // A corrupt stamp (a ring in a region, whose plain-data slots need no drop) is
        // overwritten by the tombstone all the same.
        let occupied = self.lap_ready(multi, offset).unwrap_or(false);
        // SAFETY: as in `write_claimed`.
        let dropped = unsafe { self.take_slot(offset, occupied) };
        self.stamp_tombstone(multi, offset);
        drop(dropped);
    }

    /// Stamps `offset` as a tombstone and counts it.
    fn stamp_tombstone(&self, multi: Multi<'_>, offset: u64) {
        // Release: pairs with the reader's Acquire in `state_of`.
        multi
            .stamp(offset)
            .store((offset + 1) | TOMBSTONE, Ordering::Release);
        // Relaxed: a statistic.
        multi.header.tombstones.fetch_add(1, Ordering::Relaxed);
    }
}

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
