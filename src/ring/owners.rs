//! Who holds each reader slot of a ring shared by several processes, and reclaiming the slots
//! whose holder died.
//!
//! # Why
//!
//! A reader (or a consumer group's cursor) gates the writer through its registration slot, and
//! gives the slot back when it is dropped. A process killed with `SIGKILL` drops nothing: its
//! slots would stay registered for good, and the writer would stop once the ring fills, for
//! every process of the topic. So a ring in a region (an *owned* block, see `block`) records in
//! a *holder word* per slot which process holds it, and a writer that is gated takes back the
//! slots of holders that are **confirmed dead** (pid and start time, `shm::process`; a slow or
//! stopped process is never taken for dead, whatever the time).
//!
//! # Protocol
//!
//! Holder words are 0 (free) or a process (pid and the low 32 bits of its start time). The
//! invariant: **a slot's cursor is not `FREE` only while its holder word is not 0**.
//!
//! - *Register*: CAS the holder word `0 -> me`, then CAS the cursor `FREE -> start`, then the
//!   joining protocol (`shared`). A slot whose holder word is taken is skipped untouched.
//! - *Deregister* (a reader's or group cursor's drop): store the cursor `FREE` (`Release`), then
//!   the holder word 0 (`Release`).
//! - *Reclaim*: for each slot whose holder `w` is confirmed dead: CAS the holder word
//!   `w -> me`; then exactly what the dead reader's drop would have done: store the cursor
//!   `FREE`, store the holder word 0, and wake a parked writer. The count of reclaimed slots is
//!   kept in the block ([`Shared::reclaimed`]).
//!
//! Why that is safe:
//!
//! - *Two reclaimers* (two processes, or a writer and a subscriber): one CAS from `w` wins; the
//!   loser touches nothing. `w` is never written again once its process is dead (a pid reused
//!   by a new process has another start time), so a winning CAS from `w` also proves that no
//!   registration took the slot since: there is no ABA.
//! - *A reclaim racing a registration*: a registrant takes the slot only from holder word 0,
//!   which a reclaimer stores last, after the cursor is `FREE`; until then the slot is the
//!   reclaimer's, so it never frees a cursor someone else has just registered.
//! - *A reclaimer that dies midway* leaves its own (now dead) id in the holder word; the next
//!   reclaim starts over from there (the cursor then holds the dead reader's value or `FREE`).
//! - *A live reader is never reclaimed*: its holder is alive (or is this very process).
//! - The dead reader's reads of the slots happen-before the writer overwrites them: the process
//!   is gone before its death is seen.
//!
//! # Invariants
//! - A slot's cursor is not `FREE` only while its holder word is not 0.
//! - A slot is reclaimed only from a holder confirmed dead, once, by one reclaimer (no live
//!   reader's slot is ever taken; I2, I3 hold for every live reader).
//! - A reclaim does what the dead reader's drop would have done, and nothing more: the other
//!   readers keep gating the writer and receive everything.
//!
//! # When, and what it costs
//!
//! A writer looks for dead holders only on its slow path: when a rescan of the readers finds
//! the ring full, at most once per [`RECLAIM_INTERVAL`] per ring and process; a parked writer
//! of an owned ring wakes at that interval to look. A subscriber that finds every slot taken
//! looks once before it gives up. A heap ring has no holder words: registering, dropping,
//! publishing and polling do what they did before, and a full heap ring pays one
//! never-taken branch per failed rescan.
//!
//! Holders must share a pid namespace (and see `/proc`): a process that cannot read its own
//! `/proc` entry confirms no death, so it reclaims nothing.

use std::time::Duration;

use super::shared::{Shared, FREE};
use super::wait::wait_until;
use crate::sync::{AtomicU64, Deadline, Ordering};

/// The high half of the holder word of a shared-memory consumer group's cursor, whose low
/// half is the group's registry entry: the group's, not a process's. Never reclaimed (no pid
/// is `u32::MAX`); the group registry hands the cursor to the group's next holder, or frees it
/// when the group is deleted, or when no entry records it (a holder killed mid-change).
pub(crate) const GROUP_TAG: u64 = (u32::MAX as u64) << 32;

/// The holder word of a cursor of the group in registry entry `entry`.
#[cfg(not(ringgroup_loom))]
pub(crate) fn group_holder(entry: u32) -> u64 {
    GROUP_TAG | u64::from(entry)
}
/// The least time between two looks for dead holders by one process's writer of one ring.
pub(crate) const RECLAIM_INTERVAL: Duration = Duration::from_millis(10);

/// A process-local pace for the looks for dead holders.
#[derive(Debug)]
pub(crate) struct Throttle {
    /// Milliseconds (since this process's first look) before which no look is due.
    #[cfg(not(ringgroup_loom))]
    next: crate::sync::StdAtomicU64,
}

impl Throttle {
    pub(crate) fn new() -> Self {
        Self {
            #[cfg(not(ringgroup_loom))]
            next: crate::sync::StdAtomicU64::new(0),
        }
    }

    /// True when a look is due now (and books the next one). Under loom, always.
    pub(in crate::ring) fn due(&self) -> bool {
        #[cfg(ringgroup_loom)]
        return true;
        #[cfg(not(ringgroup_loom))]
        {
            use crate::sync::{OnceLock, StdOrdering};
            use std::time::Instant;
            static EPOCH: OnceLock<Instant> = OnceLock::new();
            let now = EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64;
            // Relaxed: a process-local pace; a lost race skips one look, never a needed one
            // for long.
            let next = self.next.load(StdOrdering::Relaxed);
            now >= next
                && self
                    .next
                    .compare_exchange(
                        next,
                        now + RECLAIM_INTERVAL.as_millis() as u64,
                        StdOrdering::Relaxed,
                        StdOrdering::Relaxed,
                    )
                    .is_ok()
        }
    }
}

/// Holder identity and liveness: real processes outside loom.
#[cfg(not(ringgroup_loom))]
pub(super) mod liveness {
    use super::Shared;

    /// This process's holder word.
    pub(in crate::ring) fn current() -> u64 {
        crate::shm::process::current_word()
    }

    /// True when the holder `word` is confirmed dead.
    pub(in crate::ring) fn is_dead<T>(_shared: &Shared<T>, word: u64) -> bool {
        crate::shm::process::word_holder_is_dead(word)
    }
}

/// Holder identity and liveness under loom: each thread acts as a holder the model picks, and
/// a holder is dead once the model says so ([`model::die`]).
#[cfg(ringgroup_loom)]
pub(super) mod liveness {
    use super::Shared;
    use crate::sync::Ordering;

    pub(in crate::ring) fn current() -> u64 {
        crate::sync::model_holder::get()
    }

    pub(in crate::ring) fn is_dead<T>(shared: &Shared<T>, word: u64) -> bool {
        // Acquire: pairs with the Release `fetch_or` in `model::die`: whatever the holder did
        // before it died happens-before the reclaim (as a real process is gone, all its
        // accesses done, before `/proc` says so).
        word < 64 && shared.model_dead.load(Ordering::Acquire) & (1 << word) != 0
    }
}

/// The holder words of an owned block: one per reader slot, then the reclaim count.
#[derive(Clone, Copy)]
pub(crate) struct Owners<'a> {
    holders: &'a [AtomicU64],
    reclaimed: &'a AtomicU64,
}

impl<T> Shared<T> {
    /// The holder words, for a ring in a region (none for a heap ring).
    #[inline]
    fn owners(&self) -> Option<Owners<'_>> {
        let base = self.owners?;
        let n = self.readers().len();
        // SAFETY: an owned block holds `n + 1` initialised words from `owners` (see
        // `block::Geometry`), and lives as long as `self`.
        let words = unsafe { std::slice::from_raw_parts(base.as_ptr(), n + 1) };
        Some(Owners {
            holders: &words[..n],
            reclaimed: &words[n],
        })
    }

    /// Takes slot `slot`'s holder word for this process (registration's first step); true when
    /// taken, and always for a heap ring, which records no holders.
    #[inline]
    pub(crate) fn claim_holder(&self, slot: usize) -> bool {
        let Some(owners) = self.owners() else {
            return true;
        };
        // Acquire: pairs with the Release store of 0 in `release_holder` (a drop's or a
        // reclaim's), so that holder's `FREE` store to the cursor happens-before our claim of it.
        owners.holders[slot]
            .compare_exchange(0, liveness::current(), Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Gives slot `slot`'s holder word back (after its cursor was stored `FREE`).
    #[inline]
    pub(crate) fn release_holder(&self, slot: usize) {
        if let Some(owners) = self.owners() {
            // Release: pairs with the Acquire CAS in `claim_holder`; the cursor's `FREE` store
            // comes first.
            owners.holders[slot].store(0, Ordering::Release);
        }
    }

    /// Gives a registration slot back: what a reader's (or group cursor's) drop does.
    pub(crate) fn deregister(&self, slot: usize) {
        // Release: pairs with the writer's acquire scan in `gates`; our reads are done.
        self.reader_cursor(slot).store_release(FREE);
        self.release_holder(slot);
        self.notify_space();
    }

    #[cfg(not(ringgroup_loom))]
    /// Makes the group of registry entry `entry` the holder of slot `slot`, registered by
    /// this process for the group's cursor (see [`GROUP_TAG`]); nothing for a heap ring.
    pub(crate) fn hand_to_group(&self, slot: usize, entry: u32) {
        if let Some(owners) = self.owners() {
            // Relaxed: a reclaimer that loaded this process's word finds it alive and skips
            // the slot; one that loads this store skips it too.
            owners.holders[slot].store(group_holder(entry), Ordering::Relaxed);
        }
    }

    /// The registry entry of the group holding slot `slot`, if a group holds it. Under the
    /// group registry's lock, which orders the group holder words (they are written only
    /// under it, or by a reader's registration, which never writes a group's word).
    #[cfg(not(ringgroup_loom))]
    pub(crate) fn group_of(&self, slot: usize) -> Option<u32> {
        let owners = self.owners()?;
        // Relaxed: the registry lock orders it (see above).
        let word = owners.holders.get(slot)?.load(Ordering::Relaxed);
        (word & GROUP_TAG == GROUP_TAG).then_some(word as u32)
    }

    /// Registration slots reclaimed from dead holders so far (0 for a heap ring).
    pub(crate) fn reclaimed(&self) -> u64 {
        // Relaxed: a statistic.
        self.owners()
            .map_or(0, |owners| owners.reclaimed.load(Ordering::Relaxed))
    }

    /// The writer's hook when a rescan found the ring full: looks for dead holders if this ring
    /// records holders and a look is due. True when a slot was reclaimed (rescan again).
    #[inline]
    pub(crate) fn reclaim_when_full(&self) -> bool {
        self.owners.is_some() && self.reclaim_when_due()
    }

    #[cold]
    #[inline(never)]
    fn reclaim_when_due(&self) -> bool {
        self.reclaim_throttle.due() && self.reclaim_dead() > 0
    }

    /// Reclaims every registration slot whose holder is confirmed dead (the module docs'
    /// protocol); returns how many.
    #[cold]
    pub(crate) fn reclaim_dead(&self) -> u64 {
        let Some(owners) = self.owners() else {
            return 0;
        };
        let me = liveness::current();
        let mut reclaimed = 0;
        // The last holder looked at, and whether it is dead: a process's readers often sit in
        // neighbouring slots, and a look reads `/proc`.
        let mut known: Option<(u64, bool)> = None;
        for (slot, holder) in owners.holders.iter().enumerate() {
            // Relaxed: a candidate; the CAS below decides, and the death check orders the rest.
            let word = holder.load(Ordering::Relaxed);
            if word == 0 || word == me || word & GROUP_TAG == GROUP_TAG {
                continue;
            }
            let dead = match known {
                Some((seen, dead)) if seen == word => dead,
                _ => {
                    let dead = liveness::is_dead(self, word);
                    known = Some((word, dead));
                    dead
                }
            };
            if !dead {
                continue;
            }
            // Relaxed: the CAS decides the one reclaimer of this registration (only the dead
            // holder ever wrote `word`); the death check ordered the dead reader's accesses.
            if holder
                .compare_exchange(word, me, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            // What the dead reader's drop would have done. Release: pairs with the writer's
            // acquire scan in `gates`.
            self.reader_cursor(slot).store_release(FREE);
            self.release_holder(slot);
            reclaimed += 1;
        }
        if reclaimed > 0 {
            // Relaxed: a statistic.
            owners.reclaimed.fetch_add(reclaimed, Ordering::Relaxed);
            self.notify_space();
        }
        reclaimed
    }

    /// Waits under the strategy until `ready()` or the deadline, as `wait_until` on the space
    /// signal; a parking writer of a ring that records holders wakes every
    /// [`RECLAIM_INTERVAL`] (a dead reader never wakes it) so `ready()` can look for them.
    pub(crate) fn wait_for_space(
        &self,
        deadline: Deadline,
        mut ready: impl FnMut() -> bool,
    ) -> bool {
        if self.owners.is_none() || !self.strategy.parks() {
            return wait_until(self.strategy, &self.space_signal, deadline, ready);
        }
        loop {
            let round = deadline.min(Deadline::after(Some(RECLAIM_INTERVAL)));
            if wait_until(self.strategy, &self.space_signal, round, &mut ready) {
                return true;
            }
            if deadline.passed() {
                return false;
            }
        }
    }
}

/// Hooks for loom models of the reclaim protocol: holders are threads, death is declared.
#[cfg(ringgroup_loom)]
pub mod model {
    use super::super::{
        BuildError, MultiProducer, Reader, RingBuilder, SharedWriter, Subscriber, Writer,
    };
    use crate::sync::{Arc, Ordering};

    /// Makes the calling thread act as process `holder` (1 to 63; every thread starts as 1).
    pub fn act_as(holder: u64) {
        assert!((1..64).contains(&holder));
        crate::sync::model_holder::set(holder);
    }

    /// Builds `builder`'s ring with holder words, as a ring in a region has.
    pub fn owned_ring<T>(
        builder: RingBuilder<T>,
    ) -> Result<(Writer<T>, Subscriber<T>), BuildError> {
        let shared = builder.shared(false, true)?;
        Ok((Writer::new(shared.clone()), Subscriber::new(shared)))
    }

    /// Builds `builder`'s multi-producer ring with holder words and claimer records, as a ring
    /// in a region has; the first producer handle is the calling thread's holder's.
    pub fn owned_multi_ring<T>(
        builder: RingBuilder<T, MultiProducer>,
    ) -> Result<(SharedWriter<T>, Subscriber<T>), BuildError> {
        let shared = builder.shared(true, true)?;
        Ok((SharedWriter::new(shared.clone()), Subscriber::new(shared)))
    }

    /// A producer handle for the calling thread's holder, as a process that opens the region
    /// gets (its own claimer record).
    pub fn attach_producer<T>(subscriber: &Subscriber<T>) -> SharedWriter<T> {
        SharedWriter::attach(subscriber.shared()).expect("the ring is open")
    }

    /// The producer's process (`holder`) dies with whatever it claimed: the handle is never
    /// dropped, and the holder is confirmed dead from now on.
    pub fn die_producer<T>(writer: SharedWriter<T>, holder: u64) {
        let writer = std::mem::ManuallyDrop::new(writer);
        // SAFETY: `writer` is never used or dropped again, so its `Arc` is moved out once; its
        // drop (which would count the handle out) does not run, as in a killed process.
        let shared: Arc<_> = unsafe { std::ptr::read(writer.shared()) };
        // Release: pairs with the Acquire load in `liveness::is_dead`.
        shared.model_dead.fetch_or(1 << holder, Ordering::Release);
    }

    /// The reader's process dies: its registration stays as it is, and its holder is confirmed
    /// dead from now on.
    pub fn die<T>(reader: Reader<T>) {
        let (shared, slot) = reader.abandon();
        let owners = shared.owners().expect("a ring with holder words");
        // Relaxed: the holder's own word, read by its own thread.
        let holder = owners.holders[slot].load(Ordering::Relaxed);
        // Release: pairs with the Acquire load in `liveness::is_dead`.
        shared.model_dead.fetch_or(1 << holder, Ordering::Release);
        drop::<Arc<_>>(shared);
    }
}

#[cfg(all(test, not(ringgroup_loom)))]
mod tests {
    use super::*;
    use crate::ring::{PublishError, StartAt, Subscriber, WaitStrategy, Writer};
    use crate::sync::Arc;

    /// A holder word no live process has: pid `u32::MAX - 1`, start 7.
    const DEAD: u64 = ((u32::MAX as u64 - 1) << 32) | 7;

    fn owned_ring(capacity: usize, readers: usize) -> (Writer<u64>, Subscriber<u64>) {
        let shared =
            Arc::new(Shared::new(capacity, readers, WaitStrategy::BusySpin, false, true).unwrap());
        (Writer::new(shared.clone()), Subscriber::new(shared))
    }

    fn holder(subscriber: &Subscriber<u64>, slot: usize) -> &AtomicU64 {
        &subscriber.shared().owners().unwrap().holders[slot]
    }

    #[test]
    fn a_dead_holders_slot_is_reclaimed_and_a_live_ones_never() {
        let (mut writer, subscriber) = owned_ring(4, 2);
        let mut live = subscriber.subscribe(StartAt::Earliest).unwrap();
        let dead = subscriber.subscribe(StartAt::Earliest).unwrap();
        let me = liveness::current();
        assert_eq!(holder(&subscriber, 0).load(Ordering::Relaxed), me);
        assert_eq!(holder(&subscriber, 1).load(Ordering::Relaxed), me);
        // The second reader's process "dies": its registration stays, under a dead holder.
        holder(&subscriber, 1).store(DEAD, Ordering::Relaxed);
        std::mem::forget(dead);
        for i in 0..4 {
            writer.try_publish(i).unwrap();
        }
        assert_eq!(live.try_poll(8).unwrap().len(), 4);
        // Full only because of the dead reader at 0: the writer takes its slot back.
        assert_eq!(writer.try_publish(4), Ok(()));
        assert_eq!(subscriber.reclaimed_readers(), 1);
        assert_eq!(holder(&subscriber, 1).load(Ordering::Relaxed), 0);
        // The live reader (at 4) still gates the writer, look after look.
        for i in 5..8 {
            writer.try_publish(i).unwrap();
        }
        for _ in 0..3 {
            std::thread::sleep(RECLAIM_INTERVAL * 2);
            assert_eq!(writer.try_publish(8), Err(PublishError::Full(8)));
            assert_eq!(
                writer.publish_timeout(8, RECLAIM_INTERVAL * 3),
                Err(PublishError::Timeout(8))
            );
        }
        assert_eq!(
            subscriber.reclaimed_readers(),
            1,
            "a live reader was reclaimed"
        );
        assert_eq!(holder(&subscriber, 0).load(Ordering::Relaxed), me);
        let batch = live.try_poll(8).unwrap();
        assert_eq!(batch.iter().copied().collect::<Vec<_>>(), [4, 5, 6, 7]);
        drop(batch);
        // The reclaimed slot is free for a new subscriber.
        let again = subscriber.subscribe(StartAt::Latest).unwrap();
        assert_eq!(holder(&subscriber, 1).load(Ordering::Relaxed), me);
        drop(again);
        assert_eq!(holder(&subscriber, 1).load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_subscriber_finding_every_slot_taken_reclaims_dead_ones() {
        let (_writer, subscriber) = owned_ring(4, 1);
        let dead = subscriber.subscribe(StartAt::Earliest).unwrap();
        assert!(matches!(
            subscriber.subscribe(StartAt::Earliest),
            Err(crate::ring::SubscribeError::TooManyReaders { max: 1 })
        ));
        holder(&subscriber, 0).store(DEAD, Ordering::Relaxed);
        std::mem::forget(dead);
        let reader = subscriber.subscribe(StartAt::Earliest).unwrap();
        assert_eq!(subscriber.reclaimed_readers(), 1);
        drop(reader);
    }

    #[test]
    fn a_multi_producer_ring_reclaims_a_dead_holders_slot() {
        let shared =
            Arc::new(Shared::<u64>::new(2, 1, WaitStrategy::SpinThenPark, true, true).unwrap());
        let writer = crate::ring::SharedWriter::new(shared.clone());
        let subscriber = Subscriber::new(shared);
        let dead = subscriber.subscribe(StartAt::Earliest).unwrap();
        holder(&subscriber, 0).store(DEAD, Ordering::Relaxed);
        std::mem::forget(dead);
        for i in 0..2 {
            assert_eq!(writer.try_publish(i), Ok(i));
        }
        // Full only because of the dead reader: a parked producer takes its slot back.
        assert_eq!(writer.publish_timeout(2, Duration::from_secs(5)), Ok(2));
        assert_eq!(subscriber.reclaimed_readers(), 1);
    }

    #[test]
    fn a_heap_ring_records_no_holders() {
        let (_writer, subscriber) = crate::ring::Ring::<u64>::builder().build().unwrap();
        let _reader = subscriber.subscribe(StartAt::Earliest).unwrap();
        assert!(subscriber.shared().owners().is_none());
        assert_eq!(subscriber.shared().reclaim_dead(), 0);
        assert_eq!(subscriber.reclaimed_readers(), 0);
    }
}
