//! The ring's hooks for consumer groups, in one place: a group's cursor on one partition.
//!
//! # What it is
//!
//! A [`GroupCursor`] is a ring registration like a [`Reader`](super::Reader)'s, with two
//! positions instead of one:
//!
//! - the *read position*, the next offset the group delivers to the partition's owner, private
//!   to the cursor and moved by polls and seeks;
//! - the *committed offset*, the registered cursor value that gates the writer. It moves only on
//!   commit, so uncommitted messages stay in the ring and a new owner can resume at the commit.
//!
//! The group layer reaches a cursor only under the partition's lease (see `group::table`), so
//! `&mut self` here means "the current owner, between its lease's acquire and release".
//!
//! A cursor is *attached* (its committed offset gates the writer, lossless back-pressure) or
//! *detached* (a soft gate: the writer keeps below it while it can, but laps it rather than
//! wait; see `shared`). [`attach`](GroupCursor::attach) takes the joining protocol's store,
//! fence and check, and moves past whatever was lapped, counting it.
//!
//! # Invariants
//! - `committed <= position <= published`: commits never pass what was delivered, and both only
//!   grow, except through [`rewind`](GroupCursor::rewind), which takes the joining protocol's
//!   store, fence and check so the writer never overwrites a slot the cursor reads again (I3).
//! - Dropping the cursor frees its registration slot: a dropped group never gates the writer.

use super::error::{PollError, SubscribeError};
use super::reader::{ReadPosition, StartAt, Subscriber};
#[cfg(not(ringgroup_loom))]
use super::shared::FREE;
use super::shared::{Shared, SOFT};
#[cfg(not(ringgroup_loom))]
use crate::shm::Corruption;
use crate::sync::Arc;

/// A consumer group's cursor on one partition's ring.
pub(crate) struct GroupCursor<T> {
    shared: Arc<Shared<T>>,
    slot: usize,
    local: ReadPosition,
    /// The committed offset, as last stored in the registration slot. Only the lease holder
    /// stores it, so it keeps this copy rather than load the line the writer scans.
    committed: u64,
    /// True while the committed offset gates the writer.
    attached: bool,
    /// False once the registration is left in place for others (the drop does not free it).
    owns_registration: bool,
}

impl<T> GroupCursor<T> {
    /// Registers a cursor whose committed offset and read position start at `start`.
    pub(crate) fn register(
        subscriber: &Subscriber<T>,
        start: StartAt,
    ) -> Result<Self, SubscribeError> {
        let registration = subscriber.register(start)?;
        Ok(Self {
            shared: subscriber.shared().clone(),
            slot: registration.slot,
            local: ReadPosition::new(registration.position, registration.latest),
            committed: registration.position,
            attached: true,
            owns_registration: true,
        })
    }

    /// Takes over the registration in `slot`, left by a group whose process died: the committed
    /// offset is the slot's value, and reading resumes there. `None` if the slot is out of range
    /// or free. The caller must know no live cursor uses the slot (the group registry's entry
    /// for it is held by this process).
    #[cfg(not(ringgroup_loom))]
    pub(crate) fn adopt(
        subscriber: &Subscriber<T>,
        slot: usize,
        entry: u32,
    ) -> Result<Option<Self>, Corruption> {
        let shared = subscriber.shared();
        let Some(cursor) = shared.readers().get(slot) else {
            return Ok(None);
        };
        if shared.group_of(slot) != Some(entry) {
            return Ok(None);
        }
        let Some((committed, attached)) = commit_of(shared, cursor)? else {
            return Ok(None);
        };
        Ok(Some(Self {
            shared: shared.clone(),
            slot,
            local: ReadPosition::new(committed, committed),
            committed,
            attached,
            owns_registration: true,
        }))
    }

    /// Takes up the slot's state again after another process's cursor on the same slot used
    /// it (a partition coming back from another member process of the group): the committed
    /// offset and attachment are the slot's, and reading resumes at the commit.
    #[cfg(not(ringgroup_loom))]
    pub(crate) fn reload(&mut self) -> Result<(), Corruption> {
        let cursor = self.shared.reader_cursor(self.slot);
        // Free is not reached while the group holds the slot: keep what we have.
        if let Some((committed, attached)) = commit_of(&self.shared, cursor)? {
            self.committed = committed;
            self.attached = attached;
            self.local = ReadPosition::new(committed, committed);
        }
        Ok(())
    }

    /// Frees the registration in `slot`, a group cursor left by a group that is deleted or
    /// whose process died before recording its name (the same caller's contract as
    /// [`adopt`](Self::adopt)); a slot that is not a group's is left alone.
    #[cfg(not(ringgroup_loom))]
    pub(crate) fn free_orphan(subscriber: &Subscriber<T>, slot: usize) {
        let shared = subscriber.shared();
        if slot < shared.readers().len() && shared.group_of(slot).is_some() {
            shared.deregister(slot);
        }
    }

    /// Lets this handle go but leaves the registration in place (the group, not this process,
    /// holds it: a failed takeover hands it back for the next one).
    #[cfg(not(ringgroup_loom))]
    pub(crate) fn leave_registered(mut self) {
        self.keep_registration();
    }

    /// Frees the registration now (the group's last member process is leaving, under the
    /// registry lock); the drop then does nothing.
    #[cfg(not(ringgroup_loom))]
    pub(crate) fn deregister_now(&mut self) {
        if self.owns_registration {
            self.shared.deregister(self.slot);
            self.owns_registration = false;
        }
    }

    /// Makes the drop leave the registration in place (other processes' cursors of the same
    /// group still use it).
    #[cfg(not(ringgroup_loom))]
    pub(crate) fn keep_registration(&mut self) {
        self.owns_registration = false;
    }

    /// Hands the registration to the group of registry entry `entry` (a shared-memory group's
    /// cursor outlives the process that registered it; see `owners`).
    #[cfg(not(ringgroup_loom))]
    pub(crate) fn hand_to_group(&self, entry: u32) {
        self.shared.hand_to_group(self.slot, entry);
    }

    /// The registration slot, for [`committed_at`].
    pub(crate) fn slot(&self) -> usize {
        self.slot
    }

    /// Ends a batch lent from `first` (a ring in a region looks whether the writers could have
    /// lapped it meanwhile: see [`Shared::check_lent`]).
    #[inline]
    pub(crate) fn check_lent(&self, first: u64) {
        if self.shared.boundary.is_some() {
            self.shared.check_lent(self.slot, first);
        }
    }

    /// The next offset to deliver.
    #[inline]
    pub(crate) fn position(&self) -> u64 {
        self.local.next
    }

    /// Moves the read position to `offset`, which lies between the committed offset and the
    /// published end (a seek forward, or a new owner resuming at the commit).
    #[inline]
    pub(crate) fn set_position(&mut self, offset: u64) {
        debug_assert!(offset >= self.committed());
        self.local.next = offset;
    }

    /// How many messages a poll of up to `max` would deliver now, from [`position`](Self::position).
    #[inline(always)]
    pub(crate) fn poll_len(&mut self, max: u64) -> Result<u64, PollError> {
        let before = self.local.next;
        let result = self.local.poll_len(&self.shared, max);
        if self.local.next != before && self.committed == before {
            // Tombstones skipped with nothing uncommitted before them: commit past them, so an
            // abandoned claim never holds the writers back (there is nothing to redeliver).
            self.commit(self.local.next);
        }
        result
    }

    /// The committed offset: every offset below it may be overwritten.
    #[inline]
    pub(crate) fn committed(&self) -> u64 {
        // Only a heap ring's slot is this process's alone to compare with.
        debug_assert!(
            self.shared.boundary.is_some()
                || self.committed == committed_at(&self.shared, self.slot)
        );
        self.committed
    }

    /// Commits `offset` (at most the read position, at least the committed offset): the writer
    /// may reuse every slot below it.
    #[inline(always)]
    pub(crate) fn commit(&mut self, offset: u64) {
        debug_assert!(offset <= self.local.next && offset >= self.committed());
        self.committed = offset;
        let soft = if self.attached { 0 } else { SOFT };
        // Release: pairs with the writer's acquire scan in `Shared::gates`; the owner's
        // reads of the committed slots happen-before the writer overwrites them.
        self.shared
            .reader_cursor(self.slot)
            .store_release(offset | soft);
        if self.attached {
            self.shared.notify_space();
        }
    }

    /// True while the committed offset gates the writer.
    #[inline]
    pub(crate) fn is_attached(&self) -> bool {
        self.attached
    }

    /// True when something at or past the read position is published (one acquire load), or
    /// the writers lapped the read position (a detached cursor on a multi-producer ring, whose
    /// slot there already holds a later offset: `attach` moves it on).
    #[inline]
    pub(crate) fn has_news(&mut self) -> bool {
        self.local.available(&self.shared, 1) > 0
            || self.shared.lapped_at(self.local.next).is_some()
    }

    /// Stops gating the writer: the cursor becomes a soft gate at the committed offset.
    pub(crate) fn detach(&mut self) {
        if !self.attached {
            return;
        }
        let committed = self.committed();
        self.attached = false;
        // Release: pairs with the writer's acquire scan; our reads of the slots it may now
        // overwrite are done.
        self.shared
            .reader_cursor(self.slot)
            .store_release(committed | SOFT);
        self.shared.notify_space();
    }

    /// Gates the writer again from the committed offset, or from the earliest offset the ring
    /// still holds if the writer lapped the cursor meanwhile. Returns how many offsets were
    /// lapped (skipped: neither delivered nor committed).
    pub(crate) fn attach(&mut self) -> u64 {
        if self.attached {
            return 0;
        }
        let committed = self.committed();
        let cursor = self.shared.reader_cursor(self.slot);
        // Relaxed: ordered before the writer's next scan by the SeqCst fence in `confirm_start`.
        cursor.store_relaxed(committed);
        // Not exact: a lapped cursor moves up to the earliest retained offset.
        let start = self
            .shared
            .confirm_start(cursor, committed, false)
            .unwrap_or(committed);
        self.attached = true;
        self.committed = start;
        self.local.next = self.local.next.max(start);
        start - committed
    }

    /// Moves the committed offset and the read position back to `offset`, if the ring still
    /// holds it (the joining protocol again: store, fence, check the writer's announcement). A
    /// detached cursor stays detached.
    pub(crate) fn rewind(&mut self, offset: u64) -> Result<(), SubscribeError> {
        let shared = &*self.shared;
        let cursor = shared.reader_cursor(self.slot);
        let previous = cursor.load_relaxed();
        // Relaxed: ordered before the writer's next scan by the SeqCst fence in `confirm_start`.
        cursor.store_relaxed(offset);
        match shared.confirm_start(cursor, offset, true) {
            Ok(_) => {
                self.local.next = offset;
                self.committed = offset;
                if !self.attached {
                    self.attached = true;
                    self.detach();
                }
                Ok(())
            }
            Err(earliest) => {
                // Release: pairs with the writer's acquire scan; we read nothing meanwhile.
                cursor.store_release(previous);
                shared.notify_space();
                Err(SubscribeError::NotRetained {
                    requested: offset,
                    earliest,
                })
            }
        }
    }
}

impl<T> Drop for GroupCursor<T> {
    fn drop(&mut self) {
        // The group's reads are done: the slot goes back (cursor, then holder).
        if self.owns_registration {
            self.shared.deregister(self.slot);
        }
    }
}

impl<T> std::fmt::Debug for GroupCursor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCursor")
            .field("position", &self.local.next)
            .field("committed", &self.committed())
            .finish()
    }
}

/// The committed offset and attachment a group cursor's registration `cursor` holds, written by
/// another process of the group; `None` if it is free. A commit is never past what was
/// written, so one past the ring's written end cannot be true (see `shm::trust`).
#[cfg(not(ringgroup_loom))]
fn commit_of<T>(
    shared: &Shared<T>,
    cursor: &super::cursor::Cursor,
) -> Result<Option<(u64, bool)>, Corruption> {
    // Acquire: pairs with the other process's Release stores of the slot (its commits), so
    // what it read before committing is what `written_end` sees at least.
    let value = cursor.load_acquire();
    if value == FREE {
        return Ok(None);
    }
    let committed = value & !SOFT;
    if committed > shared.written_end() {
        return Err(shared.violated("group cursor", value));
    }
    Ok(Some((committed, value & SOFT == 0)))
}

/// The committed offset of the group cursor registered in `slot`, read without the lease (a
/// relaxed load: for metrics, lag and the drained check).
#[inline]
pub(crate) fn committed_at<T>(shared: &Shared<T>, slot: usize) -> u64 {
    shared.reader_cursor(slot).load_relaxed() & !SOFT
}
