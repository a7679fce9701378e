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
//! # Invariants
//! - `committed <= position <= published`: commits never pass what was delivered, and both only
//!   grow, except through [`rewind`](GroupCursor::rewind), which takes the joining protocol's
//!   store, fence and check so the writer never overwrites a slot the cursor reads again (I3).
//! - Dropping the cursor frees its registration slot: a dropped group never gates the writer.

use super::error::{PollError, SubscribeError};
use super::reader::{ReadPosition, StartAt, Subscriber};
use super::shared::{Shared, FREE};
use crate::sync::Arc;

/// A consumer group's cursor on one partition's ring.
pub(crate) struct GroupCursor<T> {
    shared: Arc<Shared<T>>,
    slot: usize,
    local: ReadPosition,
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
        })
    }

    /// The registration slot, for [`committed_at`].
    pub(crate) fn slot(&self) -> usize {
        self.slot
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
        self.local.poll_len(&self.shared, max)
    }

    /// The committed offset: every offset below it may be overwritten.
    #[inline]
    pub(crate) fn committed(&self) -> u64 {
        committed_at(&self.shared, self.slot)
    }

    /// Commits `offset` (at most the read position, at least the committed offset): the writer
    /// may reuse every slot below it.
    #[inline(always)]
    pub(crate) fn commit(&self, offset: u64) {
        debug_assert!(offset <= self.local.next && offset >= self.committed());
        // Release: pairs with the writer's acquire scan in `Shared::min_reader`; the owner's
        // reads of the committed slots happen-before the writer overwrites them.
        self.shared.reader_cursor(self.slot).store_release(offset);
        self.shared.notify_space();
    }

    /// Moves the committed offset and the read position back to `offset`, if the ring still
    /// holds it (the joining protocol again: store, fence, check the writer's announcement).
    pub(crate) fn rewind(&mut self, offset: u64) -> Result<(), SubscribeError> {
        let shared = &*self.shared;
        let cursor = shared.reader_cursor(self.slot);
        let previous = cursor.load_relaxed();
        // Relaxed: ordered before the writer's next scan by the SeqCst fence in `confirm_start`.
        cursor.store_relaxed(offset);
        match shared.confirm_start(cursor, offset, true) {
            Ok(_) => {
                self.local.next = offset;
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
        // Release: pairs with the writer's acquire scan; the group's reads are done.
        self.shared.reader_cursor(self.slot).store_release(FREE);
        self.shared.notify_space();
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

/// The committed offset of the group cursor registered in `slot`, read without the lease (a
/// relaxed load: for metrics, lag and the drained check).
#[inline]
pub(crate) fn committed_at<T>(shared: &Shared<T>, slot: usize) -> u64 {
    shared.reader_cursor(slot).load_relaxed()
}
