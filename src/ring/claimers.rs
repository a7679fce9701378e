//! Repair of a multi-producer ring in a region whose producer process died mid-claim.
//!
//! # The problem
//!
//! A producer claims offsets with one CAS on the ring's `head`, then writes and stamps them
//! (see `multi`). A process killed between the two leaves offsets claimed that no one will
//! ever stamp; readers see offsets only in order, so they would stop there for good, and so
//! would every producer once the ring filled behind them.
//!
//! # Algorithm: quiescence of the live producers
//!
//! - Each process that produces into a ring in a region has a *claimer record* in the ring's
//!   block: its holder word (pid and start time) and `active`, the number of its claims in
//!   flight (its threads share it). A claim attempt increments `active` just before its CAS on
//!   `head` (decrementing it again if the CAS fails) and decrements it (Release) once every
//!   offset it got is stamped; a producer waiting for room holds no claim and does not count.
//!   Record 0 is shared by producers that found every record taken and is never taken for dead.
//! - Such a ring never lets a claim lap a slot whose offset is unstamped (the claim limit is at
//!   most the first unstamped offset plus the capacity), so no claim in flight waits behind a
//!   dead producer's; it waits for room instead, uncounted. So `head` is at most one lap past a
//!   stopped reader's position.
//! - A reader that finds its next offset `o` claimed (`o < head`) but unstamped (a look at most
//!   every 10 ms per process, as for dead readers) reads `head` (Acquire), then `active` of
//!   every record whose holder is not confirmed dead. If all are zero, no live process has a
//!   claim in flight that began before `head` was read, so every offset in `o..head` still
//!   unstamped belongs to a dead process: the reader stamps each as a tombstone (a CAS from the
//!   previous lap's stamp), and readers skip them as they skip an abandoned claim's. If some
//!   live process has a claim in flight, it looks again later: a slow or stopped producer is
//!   never overtaken (no timeout decides).
//!
//! # Invariants
//! - A claimant's increment is sequenced before its claim CAS (Release), and the repairer's
//!   load of `head` (Acquire) follows that CAS in the release sequence of `head`, so the
//!   repairer sees the increment of any claimant of an offset below the `head` it read.
//! - A claimant's stamps are sequenced before its decrement (Release), and the repairer loads
//!   `active` with Acquire: a zero it reads comes after those stamps, which it then sees.
//! - Only unstamped offsets become tombstones, by CAS, so a stamp is never overwritten and two
//!   repairers count a tombstone once. What a dead producer wrote but had not stamped was never
//!   visible, and nothing stamped is lost.
//! - Only rings of types without drop glue are repaired (regions hold plain data,
//!   `bytemuck::AnyBitPattern`), so a half-written slot needs no drop.

use super::multi::TOMBSTONE;
use super::owners::liveness;
use super::shared::Shared;
use crate::sync::{AtomicU64, Ordering};

/// Claimer records per ring (record 0 is the shared overflow record).
#[cfg(not(ringgroup_loom))]
pub(crate) const CLAIMERS: usize = 64;
#[cfg(ringgroup_loom)]
pub(crate) const CLAIMERS: usize = 4;

/// One producing process's record in a ring's block.
#[repr(C)]
pub(crate) struct Claimer {
    /// The process (its holder word); 0 for a free record.
    holder: AtomicU64,
    /// Its claims in flight.
    active: AtomicU64,
}

impl Claimer {
    pub(crate) fn new() -> Self {
        Self {
            holder: AtomicU64::new(0),
            active: AtomicU64::new(0),
        }
    }
}

/// A producer handle's record, or none for a heap ring (whose producers cannot die alone).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Activity<'a>(Option<&'a AtomicU64>);

impl Activity<'_> {
    /// Counts a claim attempt in flight (before its CAS).
    #[inline(always)]
    pub(crate) fn enter(self) {
        if let Some(active) = self.0 {
            // Relaxed: ordered before the claim by the claim CAS's Release (module docs).
            active.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Ends a claim attempt: it failed, or every offset it got is stamped.
    #[inline(always)]
    pub(crate) fn exit(self) {
        if let Some(active) = self.0 {
            // Release: pairs with the repairer's Acquire load; the stamps come first.
            active.fetch_sub(1, Ordering::Release);
        }
    }
}

impl<T> Shared<T> {
    /// The claimer record of this process in a ring in a region (taking a free one, or one
    /// whose process is confirmed dead); `None` for a heap ring.
    pub(crate) fn claimer(&self) -> Option<usize> {
        self.owners.as_ref()?;
        let records = &self.multi()?.header.claimers;
        let me = liveness::current();
        // Relaxed: only this process writes `me`, so a record that holds it is ours already.
        if let Some(index) =
            (1..CLAIMERS).find(|&i| records[i].holder.load(Ordering::Relaxed) == me)
        {
            return Some(index);
        }
        for (index, record) in records.iter().enumerate().skip(1) {
            // Relaxed: a candidate; the CAS decides.
            let holder = record.holder.load(Ordering::Relaxed);
            if holder != 0 && !liveness::is_dead(self, holder) {
                continue;
            }
            // Acquire: a dead holder's accesses to the record come before ours.
            if record
                .holder
                .compare_exchange(holder, me, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                // Relaxed: published to repairers by our claims' Release CAS.
                record.active.store(0, Ordering::Relaxed);
                return Some(index);
            }
        }
        Some(0)
    }

    /// The activity counter of record `claimer`.
    #[inline(always)]
    pub(crate) fn activity(&self, claimer: Option<usize>) -> Activity<'_> {
        Activity(claimer.and_then(|i| Some(&self.multi()?.header.claimers.get(i)?.active)))
    }

    /// A reader's hook when offset `next` is claimed but unstamped: if a look is due and no
    /// live producer has a claim in flight, stamps the unstamped claimed offsets from `next` as
    /// tombstones (module docs). True when it stamped any.
    #[cold]
    #[inline(never)]
    pub(crate) fn repair_stalled(&self, next: u64) -> bool {
        if self.owners.is_none() || std::mem::needs_drop::<T>() {
            return false;
        }
        let Some(multi) = self.multi() else {
            return false;
        };
        // Acquire: pairs with the claims' Release CAS (module docs).
        let head = multi.header.head.load(Ordering::Acquire);
        if next >= head || !self.repair_throttle.due() {
            return false;
        }
        if let Some(stamp) = self.stamp_at_odds(next, false) {
            // A stamp of another slot's offset: a stopped reader waits there for ever.
            self.violated("stamp", stamp);
            return false;
        }
        if self.lapped_at(next).is_some() {
            // A detached reader the writers lapped: nothing here is a dead claim.
            return false;
        }
        if head - next > self.capacity {
            // Claims never lap an unstamped slot, so the head is at most a lap past a reader
            // stopped at one: anything else cannot be true (and would make the loop below all
            // but endless).
            self.violated("claim head", head);
            return false;
        }
        for (index, record) in multi.header.claimers.iter().enumerate() {
            // Relaxed: a dead holder's record is ignored; a live one's count decides.
            let holder = record.holder.load(Ordering::Relaxed);
            if index > 0 && (holder == 0 || liveness::is_dead(self, holder)) {
                continue;
            }
            // Acquire: pairs with the Release in `Activity::exit`.
            if record.active.load(Ordering::Acquire) != 0 {
                return false;
            }
        }
        let mut repaired = false;
        for offset in next..head {
            let stamp = multi.stamp(offset);
            // Acquire: pairs with a producer's Release stamp.
            let seen = stamp.load(Ordering::Acquire);
            let previous = offset.checked_sub(self.capacity).map_or(0, |p| p + 1);
            if seen & !TOMBSTONE != previous {
                continue; // stamped already (or not this lap's slot yet)
            }
            // Release: pairs with the readers' Acquire in `state_of`.
            if stamp
                .compare_exchange(
                    seen,
                    (offset + 1) | TOMBSTONE,
                    Ordering::Release,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                // Relaxed: a statistic.
                multi.header.tombstones.fetch_add(1, Ordering::Relaxed);
                repaired = true;
            }
        }
        if repaired {
            self.notify_data();
        }
        repaired
    }
}

#[cfg(not(ringgroup_loom))]
impl Claimer {
    /// A record's words (see `shm::layout`).
    pub(crate) fn fields() -> [crate::shm::layout::Field; 2] {
        use crate::shm::layout::Field;
        use std::mem::offset_of;
        [
            Field::of::<AtomicU64>("holder", offset_of!(Claimer, holder)),
            Field::of::<AtomicU64>("active", offset_of!(Claimer, active)),
        ]
    }
}
