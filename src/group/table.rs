//! The epoch-based assignment table: one packed atomic word per partition, plus a group epoch.
//!
//! # The word
//!
//! ```text
//!  63            32 31                 8 7       0
//! +----------------+--------------------+---------+
//! |  epoch (u32)   |  owner (24 bits)   |  flags  |     owner 0 = nobody
//! +----------------+--------------------+---------+     flags: BUSY, REVOKING, FENCED
//! ```
//!
//! - `epoch` grows by one at every change of owner, so `(epoch, owner)` names one *tenure*; a
//!   member remembers the epoch it acquired a partition at, and everything it does is checked
//!   against that tenure.
//! - `BUSY` is the owner's *lease*: set (CAS, owner and epoch checked) before the owner touches
//!   the partition's group cursor, and cleared after: for the whole life of a borrowed batch,
//!   or for the instant of a commit or seek.
//! - `REVOKING` is the controller's request that the owner hand the partition on.
//! - `FENCED` marks a tenure whose owner is gone while it held the lease: the lease it holds
//!   ends normally (its batch's commit stands, as the partition never moved), but no new lease
//!   is granted, so a zombie's later commit or seek is rejected (I5).
//!
//! # Protocol (release before acquire, KIP-848)
//!
//! - Ownership changes only by a CAS from a word *without* `BUSY` to `(epoch + 1, new, 0)`. So a
//!   partition never changes hands while its owner holds a batch or is mid-commit (I1, I3), and
//!   a commit whose lease CAS fails, because the tenure moved on, changes nothing (I5).
//! - The partition's group cursor (a ring `GroupCursor`) lives in an `UnsafeCell` and is touched
//!   only under the lease. The lease CAS is `Acquire` and its release is `Release`, and each transfer
//!   CAS is `AcqRel`, so every tenure's accesses happen-after the previous tenure's.
//! - The controller bumps the group epoch with `Release` after changing words; a member checks
//!   it with one `Acquire` load per poll and rescans the table only when it moved.

use crossbeam_utils::CachePadded;

use crate::ring::group_cursor::{committed_at, GroupCursor};
use crate::ring::Subscriber;
use crate::sync::{AtomicU64, Ordering, UnsafeCell};

/// The owner's lease on the partition's cursor.
pub(crate) const BUSY: u64 = 1;
/// The controller asks the owner to hand the partition on.
pub(crate) const REVOKING: u64 = 2;
/// The owner is gone (evicted or left) but still held the lease when it went: no new lease
/// (commit, seek, poll) is granted to it; the lease it holds still ends normally.
pub(crate) const FENCED: u64 = 4;
const FLAGS: u64 = 0xff;
const OWNER_BITS: u32 = 24;
/// Largest member id that fits the word.
pub(crate) const MAX_OWNER: u32 = (1 << OWNER_BITS) - 1;

/// One decoded assignment word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Word(pub(crate) u64);

impl Word {
    pub(crate) fn new(epoch: u32, owner: u32, flags: u64) -> Self {
        debug_assert!(owner <= MAX_OWNER && flags <= FLAGS);
        Word(((epoch as u64) << 32) | ((owner as u64) << 8) | flags)
    }

    pub(crate) fn epoch(self) -> u32 {
        (self.0 >> 32) as u32
    }

    pub(crate) fn owner(self) -> u32 {
        ((self.0 >> 8) as u32) & MAX_OWNER
    }

    pub(crate) fn has(self, flag: u64) -> bool {
        self.0 & flag != 0
    }

    /// The word after a change of owner: next epoch, no flags.
    pub(crate) fn handed_to(self, owner: u32) -> Word {
        Word::new(self.epoch().wrapping_add(1), owner, 0)
    }
}

/// Why a lease could not be taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LeaseError {
    /// The tenure ended: another owner, or another epoch.
    Fenced(Word),
}

/// A partition's entry: the word, the pending owner of a requested handoff, the group cursor.
pub(crate) struct PartitionEntry<T> {
    word: CachePadded<AtomicU64>,
    /// The member a cooperative revoke hands the partition to. Written and read under the
    /// group's control lock only.
    pending: AtomicU64,
    cursor: UnsafeCell<GroupCursor<T>>,
    /// The ring and the cursor's slot in it, to read the committed offset without a lease.
    ring: Subscriber<T>,
    slot: usize,
    /// Offsets the group skipped because the writer lapped its detached cursor.
    skipped: AtomicU64,
}

// SAFETY: the `GroupCursor` in `cursor` is reached only by the holder of the `BUSY` lease (or
// by `&mut self`), one thread at a time, with happens-before between holders (module docs); it
// owns an `Arc` of the ring, which is `Send` when `T: Send + Sync`.
unsafe impl<T: Send + Sync> Sync for PartitionEntry<T> {}

impl<T> PartitionEntry<T> {
    pub(crate) fn new(ring: Subscriber<T>, cursor: GroupCursor<T>) -> Self {
        Self {
            slot: cursor.slot(),
            ring,
            word: CachePadded::new(AtomicU64::new(Word::new(0, 0, 0).0)),
            pending: AtomicU64::new(0),
            cursor: UnsafeCell::new(cursor),
            skipped: AtomicU64::new(0),
        }
    }

    /// The current word.
    #[inline]
    pub(crate) fn load(&self) -> Word {
        // Acquire: pairs with the AcqRel transfer CAS and the Release lease end, so a member
        // that sees itself as owner also sees the cursor state the previous tenure left.
        Word(self.word.load(Ordering::Acquire))
    }

    /// Takes the lease for the tenure `(epoch, owner)`.
    #[inline]
    pub(crate) fn lease(&self, owner: u32, epoch: u32) -> Result<Lease<'_, T>, LeaseError> {
        let mut current = self.load();
        loop {
            if current.owner() != owner
                || current.epoch() != epoch
                || current.has(BUSY)
                || current.has(FENCED)
            {
                return Err(LeaseError::Fenced(current));
            }
            // Acquire on success: pairs with the Release that ended the previous lease or the
            // AcqRel transfer, so the cursor is seen as its last holder left it.
            match self.word.compare_exchange_weak(
                current.0,
                current.0 | BUSY,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(Lease { entry: self }),
                Err(seen) => current = Word(seen),
            }
        }
    }

    /// Takes the lease whoever the owner is (the supervisor detaching a cursor), if no one
    /// holds it now. Control lock held, so no transfer races it.
    #[cfg_attr(ringgroup_loom, allow(dead_code))] // the supervisor's; loom does not run it
    pub(crate) fn lease_any(&self) -> Option<Lease<'_, T>> {
        let current = self.load();
        if current.has(BUSY) {
            return None;
        }
        // Acquire on success: as in `lease`, the cursor is seen as its last holder left it.
        self.word
            .compare_exchange(
                current.0,
                current.0 | BUSY,
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .ok()
            .map(|_| Lease { entry: self })
    }

    /// The cursor, through `&mut self` (no lease needed: nothing else can reach it).
    #[cfg(not(ringgroup_loom))]
    pub(crate) fn cursor_mut(&mut self) -> &mut GroupCursor<T> {
        // SAFETY: `&mut self` excludes every lease and every other reference to the cursor.
        self.cursor.with_mut(|cursor| unsafe { &mut *cursor })
    }

    /// Frees the cursor's registration now (see `GroupCursor::deregister_now`).
    #[cfg(not(ringgroup_loom))]
    pub(crate) fn free_cursor(&mut self) {
        self.cursor_mut().deregister_now();
    }

    /// Counts offsets lapped while the group's cursor was detached.
    pub(crate) fn add_skipped(&self, skipped: u64) {
        if skipped != 0 {
            // Relaxed: a statistic.
            self.skipped.fetch_add(skipped, Ordering::Relaxed);
        }
    }

    /// Offsets lapped so far.
    pub(crate) fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// Hands the partition from the tenure in `from` (which must not be leased) to `owner`.
    /// Fails, changing nothing, if the word moved on since `from` was read.
    pub(crate) fn transfer(&self, from: Word, owner: u32) -> Result<Word, Word> {
        if from.has(BUSY) {
            return Err(from);
        }
        let to = from.handed_to(owner);
        // AcqRel: acquires the last lease holder's cursor accesses (its Release) and releases
        // them to the next owner's Acquire lease.
        self.word
            .compare_exchange(from.0, to.0, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| to)
            .map_err(Word)
    }

    /// Asks the owner in `from` to hand the partition to `pending`. Control lock held.
    pub(crate) fn request_revoke(&self, pending: u32) {
        self.pending.store(pending as u64, Ordering::Relaxed);
        // Release: pairs with the owner's Acquire load of the word; no data rides on it, but
        // the flag must not be seen before `pending` by a handoff under the same lock.
        self.word.fetch_or(REVOKING, Ordering::Release);
    }

    /// Commits everything the owner has polled, under a lease for its tenure `(owner, epoch)`.
    pub(crate) fn commit_polled(&self, owner: u32, epoch: u32) -> Result<(), LeaseError> {
        let mut lease = self.lease(owner, epoch)?;
        let cursor = lease.cursor();
        cursor.commit(cursor.position());
        Ok(())
    }

    /// Fences the current tenure: its owner is gone. Control lock held.
    pub(crate) fn fence_owner(&self) {
        // Release: pairs with the Acquire loads in `lease`; no data rides on it.
        self.word.fetch_or(FENCED, Ordering::Release);
    }

    /// Withdraws a revoke request if the owner is still `owner`. Control lock held.
    pub(crate) fn cancel_revoke(&self) {
        // Relaxed: clears a request only; no data rides on it.
        self.word.fetch_and(!REVOKING, Ordering::Relaxed);
    }

    /// The member a requested handoff goes to. Control lock held.
    pub(crate) fn pending(&self) -> u32 {
        self.pending.load(Ordering::Relaxed) as u32
    }

    /// Clears `BUSY`.
    #[inline]
    fn end_lease(&self) {
        // Release: pairs with the Acquire of the next lease or transfer; our cursor accesses
        // happen-before theirs.
        self.word.fetch_and(!BUSY, Ordering::Release);
    }

    /// True when the writer is gone and the group has committed everything published.
    ///
    /// Once the ring is closed its end is final (the close is acquired), and no commit is past
    /// it: a committed offset beyond it cannot be true (see `shm::trust`), and poisons the
    /// ring's region rather than end the group.
    pub(crate) fn drained(&self) -> bool {
        if !self.ring.is_closed() {
            return false;
        }
        let (committed, end) = (self.committed(), self.ring.latest_offset());
        if committed > end {
            self.ring.shared().violated("group cursor", committed);
            return false;
        }
        committed == end
    }

    /// Published messages the group has not committed (relaxed reads, for metrics).
    pub(crate) fn lag(&self) -> u64 {
        self.ring.latest_offset().saturating_sub(self.committed())
    }

    /// The group's committed offset (a relaxed read, for metrics and lag).
    pub(crate) fn committed(&self) -> u64 {
        committed_at(self.ring.shared(), self.slot)
    }

    /// The partition's ring.
    pub(crate) fn ring(&self) -> &Subscriber<T> {
        &self.ring
    }

    /// The group cursor, for the holder of a lease kept past its guard ([`Lease::hold`]).
    ///
    /// # Safety
    /// The caller holds this entry's lease (taken by `lease`, kept by `hold`, not yet ended by
    /// [`end_held_lease`](Self::end_held_lease)), and no other reference to the cursor is live.
    #[inline]
    #[allow(clippy::mut_from_ref)] // exclusivity comes from the lease, not from `&mut self`
    pub(crate) unsafe fn held_cursor(&self) -> &mut GroupCursor<T> {
        self.cursor.with_mut(|cursor| {
            // SAFETY: the caller holds `BUSY` for its tenure (contract above); no transfer and no
            // other lease can happen until it ends it (module docs).
            unsafe { &mut *cursor }
        })
    }

    /// Ends a lease kept past its guard.
    ///
    /// # Safety
    /// The caller holds this entry's lease through [`Lease::hold`] and uses no reference from
    /// [`held_cursor`](Self::held_cursor) after this.
    #[inline]
    pub(crate) unsafe fn end_held_lease(&self) {
        self.end_lease();
    }
}

/// The owner's lease on one partition; ends (clears `BUSY`) when dropped.
pub(crate) struct Lease<'a, T> {
    entry: &'a PartitionEntry<T>,
}

impl<T> Lease<'_, T> {
    /// The partition's group cursor, exclusively ours while the lease lives.
    #[inline]
    pub(crate) fn cursor(&mut self) -> &mut GroupCursor<T> {
        // SAFETY: we hold `BUSY` for this tenure, and `&mut self` keeps this the only reference
        // to the cursor until the lease ends.
        unsafe { self.entry.held_cursor() }
    }

    /// Keeps the lease past this guard (for records lent to the caller): it ends only through
    /// [`PartitionEntry::end_held_lease`].
    #[inline]
    pub(crate) fn hold(self) {
        std::mem::forget(self);
    }
}

impl<T> Drop for Lease<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.entry.end_lease();
    }
}
