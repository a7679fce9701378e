//! The state the writer and every reader share: slots, cursors, the announced write limit.
//!
//! # Gating (I2, I3)
//!
//! Each reader owns a registration slot holding its *release cursor*: the lowest offset it may
//! still read. The writer may write offset `o` only while `o < gate + capacity`, where `gate` is
//! the minimum over registered cursors. It caches that bound as its *effective limit* and rescans
//! the cursors only when it reaches it (the Disruptor's cached-gating trick), so the common
//! publish touches no reader line.
//!
//! # Joining at runtime
//!
//! A reader can register while the writer runs. Before the writer raises its effective limit it
//! *announces* the limit (`write_limit`, monotone), issues a `SeqCst` fence and scans the cursors
//! again. A joining reader stores its cursor, issues a `SeqCst` fence and reads the announcement.
//! By the total order of the two fences, either the writer's second scan sees the new cursor, or
//! the reader sees the announcement and moves its start to at least `announced - capacity`. Every
//! offset the writer may ever write is below the announcement, so a registered reader's slots
//! are never overwritten under it.
//!
//! # Soft gates
//!
//! A cursor with the [`SOFT`] bit set (a consumer group that detached, or a lossy one between
//! batches) holds no slot: it is a *soft gate*. The writer keeps below it while it can, so a
//! lossy reader that keeps up loses nothing, but when only soft gates stand in its way it laps
//! them instead of waiting. A soft cursor becomes a hard one again only through the joining
//! protocol (store, fence, check the announcement), so it never reads a slot it was lapped on.
//!
//! # Layout
//!
//! `published`, `write_limit`, every reader cursor and each wait signal sit on their own cache
//! line. The control words hold no pointers, so they can later move into a mapped region.

use std::mem::MaybeUninit;

use super::block::{Block, Geometry, Header};
use super::cursor::Cursor;
use super::error::BuildError;
use super::multi::{Multi, Stamp};
use super::wait::{wait_until, WaitStrategy};
use crate::shm::{Boundary, Corruption};
use crate::sync::{fence, AtomicU64, Deadline, Ordering, UnsafeCell};
use std::marker::PhantomData;
use std::ptr::NonNull;

/// Marks a registered cursor as a soft gate (see the module docs); the offset is the rest.
pub(crate) const SOFT: u64 = 1 << 63;

/// The value of a free reader registration slot. No real cursor reaches it.
pub(crate) const FREE: u64 = u64::MAX;

/// The lowest registered cursors, from [`Shared::gates`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Gates {
    /// The lowest cursor that holds its slots: never overwritten.
    pub(crate) hard: u64,
    /// The lowest cursor of all, soft ones included (at most `hard`).
    pub(crate) soft: u64,
}

pub(crate) struct Shared<T> {
    /// The ring's memory; the pointers below point into it.
    block: Block,
    header: NonNull<Header>,
    readers: NonNull<Cursor>,
    n_readers: usize,
    stamps: Option<NonNull<AtomicU64>>,
    /// The holder words of an owned block (a ring in a region; see `owners`).
    pub(crate) owners: Option<NonNull<AtomicU64>>,
    /// Process-local: paces this process's looks for dead holders.
    pub(crate) reclaim_throttle: super::owners::Throttle,
    /// Paces the looks for dead producers' claims (see `claimers`).
    pub(crate) repair_throttle: super::owners::Throttle,
    /// For a ring in a region: its region's poison and its partition, to check the words it
    /// reads against (see `shm::trust`). None on the heap, where no other process writes.
    pub(crate) boundary: Option<Boundary>,
    /// Under loom, the holders the model has declared dead (bit `h` for holder `h`).
    #[cfg(ringgroup_loom)]
    pub(crate) model_dead: AtomicU64,
    slots: NonNull<UnsafeCell<MaybeUninit<T>>>,
    pub(crate) strategy: WaitStrategy,
    pub(crate) capacity: u64,
    mask: u64,
    _owns: PhantomData<T>,
}

// SAFETY: slots are written only by the ring's writers (one, or claim holders of distinct
// offsets) and read by readers through `&T` after an acquire of their publication; values
// move in from a writer's thread and are dropped on whichever thread overwrites or drops them,
// so `T: Send` (moves) and `T: Sync` (shared reads) are what sharing needs. The control words
// are atomics; the pointers point into the block the struct owns.
unsafe impl<T: Send + Sync> Sync for Shared<T> {}
// SAFETY: as above; the struct owns `T`s that may be dropped on another thread.
unsafe impl<T: Send> Send for Shared<T> {}

impl<T> std::ops::Deref for Shared<T> {
    type Target = Header;

    #[inline(always)]
    fn deref(&self) -> &Header {
        // SAFETY: the header was initialised with the block, which lives as long as `self`.
        unsafe { self.header.as_ref() }
    }
}

impl<T> Shared<T> {
    /// Allocates the ring's block fallibly: an absurd capacity is an error, not an abort.
    pub(crate) fn new(
        capacity: usize,
        max_readers: usize,
        strategy: WaitStrategy,
        multi_producer: bool,
        owned: bool,
    ) -> Result<Self, BuildError> {
        let geometry = Geometry::of::<T>(capacity, max_readers, multi_producer, owned)?;
        Ok(Self::over(Block::allocate::<T>(geometry)?, strategy))
    }

    /// A ring over an initialised block.
    pub(crate) fn over(block: Block, strategy: WaitStrategy) -> Self {
        let geometry = *block.geometry();
        Self {
            header: block.header_ptr(),
            readers: block.readers_ptr(),
            n_readers: geometry.max_readers,
            stamps: block.stamps_ptr(),
            owners: block.owners_ptr(),
            reclaim_throttle: super::owners::Throttle::new(),
            repair_throttle: super::owners::Throttle::new(),
            boundary: None,
            #[cfg(ringgroup_loom)]
            model_dead: AtomicU64::new(0),
            slots: block.slots_ptr::<T>(),
            block,
            strategy,
            capacity: geometry.capacity as u64,
            mask: geometry.capacity as u64 - 1,
            _owns: PhantomData,
        }
    }

    /// The ring, checking the words it reads against `boundary` (a ring in a region).
    pub(crate) fn guarded(mut self, boundary: Boundary) -> Self {
        self.boundary = Some(boundary);
        self
    }

    /// The reader registration slots.
    #[inline(always)]
    pub(crate) fn readers(&self) -> &[Cursor] {
        // SAFETY: `n_readers` cursors were initialised in the block, which outlives `self`.
        unsafe { std::slice::from_raw_parts(self.readers.as_ptr(), self.n_readers) }
    }

    /// The claims and stamps of a multi-producer ring.
    #[inline(always)]
    pub(crate) fn multi(&self) -> Option<Multi<'_>> {
        let stamps = self.stamps?;
        Some(Multi {
            header: &self.multi,
            // SAFETY: a multi-producer block holds `capacity` initialised stamps.
            stamps: unsafe { std::slice::from_raw_parts(stamps.as_ptr(), self.capacity as usize) },
        })
    }

    /// The `capacity` slots in use.
    #[inline(always)]
    fn slot_array(&self) -> &[UnsafeCell<MaybeUninit<T>>] {
        // SAFETY: the block holds `capacity` slots from `slots` (pads on both sides).
        unsafe { std::slice::from_raw_parts(self.slots.as_ptr(), self.capacity as usize) }
    }

    #[inline(always)]
    fn slot(&self, offset: u64) -> &UnsafeCell<MaybeUninit<T>> {
        let slots = self.slot_array();
        let index = (offset & self.mask) as usize;
        debug_assert!(index < slots.len());
        // SAFETY: `mask == capacity - 1` and the capacity is a power of two, so the masked
        // index is in bounds.
        unsafe { slots.get_unchecked(index) }
    }

    /// The slots, mask and capacity as a small copy for a run of writes (see [`SlotWriter`]).
    #[inline(always)]
    pub(crate) fn slot_writer(&self) -> SlotWriter<'_, T> {
        SlotWriter {
            slots: self.slot_array(),
            mask: self.mask,
            capacity: self.capacity,
        }
    }

    /// Writes `value` into `offset`'s slot; returns the message it replaces when `occupied`.
    ///
    /// # Safety
    /// The caller is the only writer of the slot now, no reader can still read its previous
    /// message, and `occupied` says truly whether the slot holds one.
    #[inline(always)]
    pub(crate) unsafe fn replace_slot(&self, offset: u64, value: T, occupied: bool) -> Option<T> {
        self.slot(offset).with_mut(|slot| {
            if occupied {
                // SAFETY: the slot holds an initialised message no one reads (caller's
                // contract); it is read out as the new one goes in.
                Some(unsafe { slot.replace(MaybeUninit::new(value)).assume_init() })
            } else {
                // SAFETY: the slot is uninitialised and ours (caller's contract).
                unsafe { slot.write(MaybeUninit::new(value)) };
                None
            }
        })
    }

    /// Takes the message out of `offset`'s slot when `occupied`, leaving it uninitialised.
    ///
    /// # Safety
    /// As for [`replace_slot`](Self::replace_slot).
    pub(crate) unsafe fn take_slot(&self, offset: u64, occupied: bool) -> Option<T> {
        self.slot(offset).with_mut(|slot| {
            // SAFETY: as in `replace_slot`.
            occupied.then(|| unsafe { slot.read().assume_init() })
        })
    }

    /// One past the last offset every reader could read now (messages and tombstones).
    pub(crate) fn latest(&self) -> u64 {
        // Acquire: pairs with the writer's `store_release` of `published`.
        let hint = self.published.load_acquire();
        let Some(multi) = self.multi() else {
            return hint;
        };
        let claimed = multi.claimed();
        if hint > claimed {
            // The hint only ever names stamped offsets, so it is never past the claim head.
            self.violated("published", hint);
            return claimed;
        }
        // A hint more than a lap behind would walk into slots a later lap already holds (and
        // stop there, far too early): every offset below a lap before the claim head is
        // stamped (claims never run a lap past a reader, and readers pass only stamped
        // offsets; a ring in a region never laps an unstamped slot at all).
        let mut end = hint.max(claimed.saturating_sub(self.capacity));
        while end < claimed && multi.state_of(end) != Stamp::Pending {
            end += 1;
        }
        if end > hint {
            // AcqRel: the hint only grows; readers of it still check the stamps.
            self.published.fetch_max_acqrel(end);
        }
        end
    }

    /// Called when a reader of a ring in a region releases a batch it was lent from `first`
    /// while its registration `slot` gated the writers: if the registration no longer holds a
    /// gate at or below `first` (a forged cursor or holder word let the writers pass it), or a
    /// multi-producer slot at `first` already holds a later lap, the records lent may have
    /// changed under the reader.
    /// That cannot be true of honest processes (see `shm::trust`): the region is poisoned, so
    /// the reader's next poll says so. It reads the reader's own line (and a stamp it just
    /// read), never the writers': a lap written through a forged `readers_high` is kept from
    /// happening instead (see [`gates`](Self::gates)), and one through a forged claim limit
    /// shows in the stamp.
    #[cold]
    #[inline(never)]
    pub(crate) fn check_lent(&self, slot: usize, first: u64) {
        // Relaxed: the reader's own cursor, which only it stores (an honest process never
        // writes another's); the reader is about to store it anyway. A soft cursor (bit 63)
        // is past any offset too.
        let found = self.reader_cursor(slot).load_relaxed();
        if found > first {
            self.violated("reader cursor", found);
        } else if self.stamps.is_some() {
            if let Some(stamp) = self.lapped_at(first) {
                self.violated("stamp", stamp);
            }
        }
    }

    /// One past the last offset ever published (single producer) or claimed (multi-producer):
    /// no reader has read, and so no group has committed, past it.
    pub(crate) fn written_end(&self) -> u64 {
        match self.multi() {
            // Acquire: pairs with the writer's `store_release` of `published`.
            None => self.published.load_acquire(),
            // Acquire: pairs with the claims' Release CAS; a commit past an offset was made
            // after reading its stamp, written after its claim.
            Some(multi) => multi.header.head.load(Ordering::Acquire),
        }
    }

    /// True when a reader at `next` has something to do: a message or tombstone at `next`.
    #[inline]
    fn has_data_at(&self, next: u64) -> bool {
        match self.multi() {
            // Acquire: pairs with the writer's `store_release` of `published`.
            None => self.published.load_acquire() > next,
            Some(multi) => multi.state_of(next) != Stamp::Pending,
        }
    }

    /// The stamp of `offset`'s slot when it already holds a later offset (multi-producer
    /// rings: the writers lapped a soft gate at `offset`). A single-producer ring's lapping
    /// shows in `published` instead.
    pub(crate) fn lapped_at(&self, offset: u64) -> Option<u64> {
        let multi = self.multi()?;
        // Acquire: pairs with the producer's Release stamp, like `state_of`.
        let stamp = multi.stamp(offset).load(Ordering::Acquire);
        (stamp & !super::multi::TOMBSTONE > offset.saturating_add(1)).then_some(stamp)
    }

    /// The stamp of `offset`'s slot, for a reader stopped at `offset`, when it cannot be true
    /// (multi-producer rings): it names an offset of another slot (a stamp is only ever
    /// written into its own offset's slot), or, for a reader that gates the writers
    /// (`gating`), a later lap (they never lap it).
    pub(crate) fn stamp_at_odds(&self, offset: u64, gating: bool) -> Option<u64> {
        let multi = self.multi()?;
        // Acquire: pairs with the producer's Release stamp, like `state_of`.
        let stamp = multi.stamp(offset).load(Ordering::Acquire);
        let named = (stamp & !super::multi::TOMBSTONE).checked_sub(1)?;
        let foreign = named & self.mask != offset & self.mask;
        (foreign || (gating && named > offset)).then_some(stamp)
    }

    /// Makes every offset below `head` visible to readers and wakes parked ones.
    #[inline(always)]
    pub(crate) fn publish(&self, head: u64) {
        // Release: pairs with the reader's `load_acquire` of `published`; orders the slot
        // writes before the new cursor.
        self.published.store_release(head);
        self.notify_data();
    }

    /// A shared reference to the message at `offset`.
    ///
    /// # Safety
    /// `offset` is below a value of `published` that the caller loaded with acquire, and the
    /// caller's registered cursor is at most `offset` for as long as the reference lives.
    #[inline(always)]
    pub(crate) unsafe fn slot_ref(&self, offset: u64) -> &T {
        self.slot(offset).with(|slot| {
            // SAFETY: the message was written and published before the caller's acquire, and
            // the writer cannot overwrite it while the caller's cursor gates it (caller's
            // contract).
            unsafe { (*slot).assume_init_ref() }
        })
    }

    /// The messages `start..start + len` as at most two contiguous slices.
    ///
    /// # Safety
    /// As for [`slot_ref`](Self::slot_ref), for every offset in the range; `len <= capacity`.
    #[cfg(not(ringgroup_loom))]
    #[inline(always)]
    pub(crate) unsafe fn slices(&self, start: u64, len: u64) -> (&[T], &[T]) {
        let first = (start & self.mask) as usize;
        let len = len as usize;
        let slots = self.slot_array();
        let head_len = len.min(slots.len() - first);
        let base = slots.as_ptr() as *const T;
        // SAFETY: `UnsafeCell<MaybeUninit<T>>` has `T`'s layout (both wrappers are
        // `repr(transparent)`); the ranges `first..first + head_len` and `0..len - head_len`
        // are in bounds and initialised, and the writer does not write them while the caller's
        // cursor gates them (caller's contract).
        unsafe {
            (
                std::slice::from_raw_parts(base.add(first), head_len),
                std::slice::from_raw_parts(base, len - head_len),
            )
        }
    }

    /// The registration slot `slot`.
    #[inline(always)]
    pub(crate) fn reader_cursor(&self, slot: usize) -> &Cursor {
        let readers = self.readers();
        debug_assert!(slot < readers.len());
        // SAFETY: every slot index in use came from a position in `readers` at registration,
        // and the array never changes length.
        unsafe { readers.get_unchecked(slot) }
    }

    /// Waits under the strategy until an offset at or above `next` is published or the ring
    /// closes (or, for a ring in a region, the region is found corrupt); false when the
    /// deadline passed first.
    #[cold]
    pub(crate) fn wait_for_data(&self, next: u64, deadline: Deadline) -> bool {
        #[cfg(not(ringgroup_loom))]
        if self.owners.is_some() && (self.multi().is_some() || self.strategy.parks()) {
            return self.wait_for_data_in_region(next, deadline);
        }
        wait_until(self.strategy, &self.data_signal, deadline, || {
            self.has_data_at(next) || self.is_closed() || self.is_poisoned()
        })
    }

    /// [`wait_for_data`](Self::wait_for_data) for a ring in a region that may park, or may
    /// have a dead producer's claim: waits in steps of the dead-claim look's pace, so a reader
    /// stopped at a dead producer's claim repairs it (see `claimers`) even when no one
    /// publishes to wake it, and a wake-up another process fails to give (its process died
    /// mid-publish, or it wrote the signal's words) is never waited for longer than a step.
    #[cfg(not(ringgroup_loom))]
    #[cold]
    fn wait_for_data_in_region(&self, next: u64, deadline: Deadline) -> bool {
        loop {
            let step = deadline.min(Deadline::after(Some(super::owners::RECLAIM_INTERVAL)));
            let ready = wait_until(self.strategy, &self.data_signal, step, || {
                self.has_data_at(next)
                    || self.is_closed()
                    || self.repair_stalled(next)
                    || self.is_poisoned()
            });
            if ready {
                return true;
            }
            if deadline.passed() {
                return false;
            }
        }
    }

    /// A word of this ring holds `found`, which cannot be true: the ring's region is
    /// poisoned for this process (see `shm::trust`). On the heap, where only this process
    /// writes the words, it would be a bug; it is reported the same way, without a partition.
    #[cold]
    #[inline(never)]
    pub(crate) fn violated(&self, word: &'static str, found: u64) -> Corruption {
        match &self.boundary {
            Some(boundary) => boundary.violated(word, found),
            None => Corruption::new(None, word, found),
        }
    }

    /// `Err` once this ring's region is poisoned for this process (never on the heap).
    #[inline(always)]
    pub(crate) fn check_poison(&self) -> Result<(), Corruption> {
        match &self.boundary {
            Some(boundary) => boundary.check(),
            None => Ok(()),
        }
    }

    /// True once this ring's region is poisoned for this process.
    #[inline]
    pub(crate) fn is_poisoned(&self) -> bool {
        self.check_poison().is_err()
    }

    /// The minimum registered cursor, hard and soft, each at most `head` (the writers' next
    /// offset, as the caller last saw it).
    ///
    /// A registered cursor is never past the next offset to be written: readers register at
    /// or below `published`, and release or commit only what they read. A cursor past `head`
    /// is looked at again against `fresh_head()` (a multi-producer head may have moved since
    /// the caller read it, and the cursor with it); past that too, it cannot be true: the
    /// ring's region is corrupt (see `shm::trust`).
    pub(crate) fn gates(
        &self,
        head: u64,
        fresh_head: impl FnOnce() -> u64,
    ) -> Result<Gates, Corruption> {
        // Relaxed: a joining reader raises `readers_high` before its SeqCst fence, so any scan
        // that must see its cursor (one after the matching writer fence) sees this too. A ring
        // in a region scans every slot instead: another process could lower `readers_high`
        // and hide a reader from the writers.
        let used = if self.owners.is_some() {
            self.readers().len()
        } else {
            self.readers_high
                .load(Ordering::Relaxed)
                .min(self.readers().len() as u64) as usize
        };
        let (hard, soft, furthest) = self.readers()[..used].iter().fold(
            (head, head, 0),
            |(hard, soft, furthest), cursor| {
                // Acquire: pairs with the reader's `store_release` when it releases slots,
                // so its reads of those slots happen-before the writer overwrites them.
                let value = cursor.load_acquire();
                if value == FREE {
                    (hard, soft, furthest)
                } else if value & SOFT == 0 {
                    (hard.min(value), soft, furthest.max(value))
                } else {
                    (hard, soft.min(value & !SOFT), furthest.max(value & !SOFT))
                }
            },
        );
        if furthest > head && furthest > fresh_head() {
            return Err(self.violated("reader cursor", furthest));
        }
        Ok(Gates {
            hard,
            soft: soft.min(hard),
        })
    }

    /// The earliest offset a reader joining now could be sure to read.
    pub(crate) fn earliest_retained(&self) -> u64 {
        self.write_limit
            .load_relaxed()
            .saturating_sub(self.capacity)
    }

    /// Validates a cursor just stored at `position` (by a joining or rewinding reader).
    ///
    /// Returns the position to use, raised to the earliest retained offset when `exact` is
    /// false, or `Err(earliest)` when `exact` is true and `position` is no longer retained.
    pub(crate) fn confirm_start(
        &self,
        cursor: &Cursor,
        position: u64,
        exact: bool,
    ) -> Result<u64, u64> {
        // SeqCst fence: pairs with the fence in `announce_limit` (Dekker): either the writer's
        // next scan sees this cursor, or the load below sees its announcement.
        fence(Ordering::SeqCst);
        let earliest = self.earliest_retained();
        if position >= earliest {
            // The writer may be parked, gated on an earlier value of this cursor.
            self.notify_space();
            return Ok(position);
        }
        if exact {
            return Err(earliest);
        }
        // Raising a cursor never endangers the reader; no fence needed.
        cursor.fetch_max_acqrel(earliest);
        self.notify_space();
        Ok(earliest)
    }

    /// Tells a parked writer that a reader released slots. Free unless the strategy parks.
    #[inline(always)]
    pub(crate) fn notify_space(&self) {
        if self.strategy.parks() {
            self.space_signal.notify();
        }
    }

    /// Tells parked readers that messages were published. Free unless the strategy parks.
    #[inline(always)]
    pub(crate) fn notify_data(&self) {
        if self.strategy.parks() {
            self.data_signal.notify();
        }
    }

    /// True once the writer is gone.
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        // Acquire: pairs with the writer's release store in `Writer::drop`, so every offset it
        // published is visible to a reader that sees the ring closed.
        self.closed.load(Ordering::Acquire) != 0
    }

    /// Announces a new write limit; must precede the fence and rescan that validate it.
    pub(crate) fn announce_limit(&self, limit: u64) {
        // Relaxed: ordered before the writer's rescan by the SeqCst fence that follows.
        self.write_limit.store_relaxed(limit);
        // SeqCst fence: pairs with the fence in `confirm_start` (Dekker): a joining
        // reader sees this announcement or the writer's next scan sees the reader's cursor.
        fence(Ordering::SeqCst);
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        if std::mem::needs_drop::<T>() {
            self.drop_messages();
        }
        // SAFETY: `&mut self`: every handle is gone, and this is the block's one release.
        unsafe { self.block.release::<T>() };
    }
}

impl<T> Shared<T> {
    /// Drops every message the ring still holds, each once; if a message's `Drop` panics, the
    /// rest are still dropped (as `Vec` does) during unwinding, so none leaks.
    fn drop_messages(&mut self) {
        /// The slots still to look at; its own drop finishes the job on unwind.
        struct Remaining<'a, T> {
            shared: &'a Shared<T>,
            next: u64,
            end: u64,
        }
        impl<T> Remaining<'_, T> {
            fn drop_all(&mut self) {
                while self.next < self.end {
                    let at = self.next;
                    self.next += 1;
                    // A single-producer ring holds the last `capacity` offsets below
                    // `published`; a multi-producer one holds what each slot's stamp names.
                    let offset = match self.shared.multi() {
                        None => Some(at),
                        Some(multi) => multi.live_offset(at as usize),
                    };
                    let Some(offset) = offset else { continue };
                    self.shared.slot(offset).with_mut(|slot| {
                        // SAFETY: the slot holds the initialised message of `offset` (above);
                        // `next` moves past each slot before it is dropped, so none is visited
                        // twice, and nothing else can reach them now.
                        unsafe { (*slot).assume_init_drop() }
                    });
                }
            }
        }
        impl<T> Drop for Remaining<'_, T> {
            fn drop(&mut self) {
                self.drop_all();
            }
        }
        // Every handle is gone (`&mut self`), so plain loads see the final state.
        let (next, end) = if self.multi().is_some() {
            (0, self.capacity)
        } else {
            let published = self.published.load_relaxed();
            (published.saturating_sub(self.capacity), published)
        };
        Remaining {
            shared: self,
            next,
            end,
        }
        .drop_all();
    }
}

/// The writer's view of the slots, copied out of [`Shared`]: a write through a slot pointer could
/// alias `Shared`'s own fields as far as the compiler knows, so writing through `&Shared` reloads
/// the slot base and mask for every message. Held in locals, they stay in registers for a run.
pub(crate) struct SlotWriter<'a, T> {
    slots: &'a [UnsafeCell<MaybeUninit<T>>],
    mask: u64,
    capacity: u64,
}

impl<T> Clone for SlotWriter<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for SlotWriter<'_, T> {}

impl<T> SlotWriter<'_, T> {
    /// Writes `value` at `*head` and moves `*head` past it, then drops the message it replaced.
    /// If that `Drop` panics, `*head` already counts the new message, so it is published and
    /// dropped like any other (I8).
    ///
    /// # Safety
    /// Only the writer calls this, with `*head` below its effective limit (so no registered
    /// reader can still read `*head - capacity`), and offsets are written in order, so the slot
    /// holds the message `*head - capacity` exactly when `*head >= capacity`.
    #[inline(always)]
    pub(crate) unsafe fn write_next(&self, head: &mut u64, value: T) {
        let offset = *head;
        let index = (offset & self.mask) as usize;
        debug_assert!(index < self.slots.len());
        // SAFETY: `mask == slots.len() - 1` and the length is a power of two, so the masked
        // index is in bounds.
        let slot = unsafe { self.slots.get_unchecked(index) };
        // SAFETY: `slot` is `offset`'s slot; the rest is the caller's contract.
        let replaced = unsafe { self.write_into(slot, offset, value) };
        *head = offset + 1;
        drop(replaced);
    }

    /// Writes `value` into `slot`, the slot of `offset`, and returns the message it replaced
    /// (for the caller to drop once it has counted the new one).
    ///
    /// # Safety
    /// `slot` is the slot of `offset` (`slots[offset & mask]`), and the contract of
    /// [`write_next`](Self::write_next) holds for `offset`.
    #[inline(always)]
    unsafe fn write_into(
        &self,
        slot: &UnsafeCell<MaybeUninit<T>>,
        offset: u64,
        value: T,
    ) -> Option<T> {
        let replaces = std::mem::needs_drop::<T>() && offset >= self.capacity;
        slot.with_mut(|slot| {
            if replaces {
                // SAFETY: the slot holds the initialised message `offset - capacity` (caller's
                // contract) and no reader references it. It is read out in the same step as
                // the new value goes in, so the slot is never dropped yet marked initialised.
                Some(unsafe { slot.replace(MaybeUninit::new(value)).assume_init() })
            } else {
                // SAFETY: the pointer is valid and unaliased (caller's contract); the slot is
                // either uninitialised or holds a value that needs no drop.
                unsafe { slot.write(MaybeUninit::new(value)) };
                None
            }
        })
    }

    /// Writes messages from `messages` at `*head, *head + 1, ...`, stopping before `to` or when
    /// the iterator ends. `*head` ends one past the last message written, even when the
    /// iterator or a replaced message's `Drop` panics midway (I8: nothing written is lost to
    /// the count).
    ///
    /// The range is walked as at most two contiguous runs of slots (up to the end of the array,
    /// then from its start), so the loop is a plain slice walk: no masking per message, and the
    /// compiler vectorises it for small `T` (half the stores for `u64`, which matters when each
    /// store waits for a line the readers hold).
    ///
    /// # Safety
    /// As for [`write_next`](Self::write_next), for every offset in `*head..to`.
    #[inline(always)]
    pub(crate) unsafe fn write_run(
        &self,
        head: &mut u64,
        to: u64,
        messages: &mut impl Iterator<Item = T>,
    ) {
        /// Stores the progress into the writer's head on every exit, unwinding included.
        struct Progress<'h> {
            head: &'h mut u64,
            at: u64,
        }
        impl Drop for Progress<'_> {
            #[inline(always)]
            fn drop(&mut self) {
                *self.head = self.at;
            }
        }
        let mut progress = Progress { at: *head, head };
        while progress.at < to {
            let index = (progress.at & self.mask) as usize;
            let len = (to - progress.at).min((self.slots.len() - index) as u64) as usize;
            // SAFETY: `index < slots.len()` (masked) and `index + len <= slots.len()` by the
            // `min` above.
            let run = unsafe { self.slots.get_unchecked(index..index + len) };
            let start = progress.at;
            for slot in run {
                let Some(value) = messages.next() else { return };
                // SAFETY: `slot` is the slot of `progress.at`, which lies in `*head..to`
                // (caller's contract).
                let replaced = unsafe { self.write_into(slot, progress.at, value) };
                progress.at += 1;
                drop(replaced);
            }
            debug_assert_eq!(progress.at, start + len as u64);
        }
    }
}
