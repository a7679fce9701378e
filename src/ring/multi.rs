//! Multi-producer rings: the claim protocol by which any number of
//! [`SharedWriter`](super::SharedWriter) handles (module `shared_writer`) publish to one ring
//! at once.
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
//! - **Abandoned claims**: a [`SharedClaim`](super::SharedClaim) dropped (or unwound by a
//!   panic) before it was filled stamps the rest as *tombstones* (`o + 1 | TOMBSTONE`):
//!   readers skip them and count them, and the partition never stalls on a dead claim.
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

use super::block::MultiHeader;
use super::claimers::Activity;
use super::shared::Shared;
use super::wait::Patience;
use crate::shm::Corruption;
use crate::sync::{fence, AtomicU64, Ordering};

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
    pub(super) fn multi_state(&self) -> Multi<'_> {
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
    pub(super) fn try_claim_offsets(
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
    pub(super) fn claim_offsets(
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
    pub(super) fn claim_offsets_waiting(
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
    pub(super) unsafe fn write_claimed(
        &self,
        offset: u64,
        value: T,
    ) -> Result<(), (T, Corruption)> {
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
    pub(super) unsafe fn tombstone_claimed(&self, offset: u64) {
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
