//! Readers: independent cursors over the ring, added and removed at runtime.
//!
//! # Algorithm
//!
//! A [`Reader`] keeps its read position and a cached copy of `published` (rtrb's cached
//! cursor), so it touches the writer's line only when its cache runs dry. [`Reader::try_poll`]
//! lends a [`Batch`] of `&T`; releasing the batch stores the new position into the reader's
//! registration slot with `Release`, which is what lets the writer reuse those slots.
//!
//! [`Subscriber::subscribe`] registers a cursor with a CAS on a free slot, fences, and checks
//! the writer's announced limit (the joining protocol in `shared` module).
//!
//! # Invariants
//! - A reader sees offsets in strictly increasing order, with no gap from its start (I2, I4).
//! - While a [`Batch`] lives, the reader's registered cursor is at most the batch's first
//!   offset, so none of its slots can be overwritten (I3).
//! - Dropping a reader frees its slot, so the writer is never gated on a dead cursor.
//! - After the writer is dropped, readers drain what is left and then get
//!   [`PollError::Closed`].

use std::time::Duration;

use crossbeam_utils::CachePadded;

use super::shared::{Shared, FREE};
use super::wait::wait_until;
use crate::error::{PollError, SubscribeError};
use crate::sync::{Arc, Deadline, Ordering};

/// Where a new reader starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// The oldest offset the ring still holds.
    Earliest,
    /// The next offset to be published: only new messages.
    Latest,
    /// A given offset, which must still be retained and not beyond the next to be published.
    Offset(u64),
}

/// A handle that adds readers to a ring. Cheap to clone and usable from any thread.
///
/// # Examples
///
/// ```
/// use ringgroup::ring::{Ring, StartAt};
///
/// let (mut writer, subscriber) = Ring::<u32>::builder().capacity(4).build()?;
/// writer.publish(1);
/// let mut early = subscriber.subscribe(StartAt::Earliest)?;
/// let mut late = subscriber.subscribe(StartAt::Latest)?;
/// writer.publish(2);
/// assert_eq!(early.try_poll(8)?.len(), 2);
/// assert_eq!(late.try_poll(8)?.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Subscriber<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Subscriber<T> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Subscriber<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("capacity", &self.shared.capacity)
            .finish()
    }
}

impl<T> Subscriber<T> {
    pub(crate) fn new(shared: Arc<Shared<T>>) -> Self {
        Self { shared }
    }

    /// Adds a reader starting at `start`.
    ///
    /// Fails with [`SubscribeError::Closed`] once the writer is gone,
    /// [`SubscribeError::TooManyReaders`] when every slot is taken, and for
    /// [`StartAt::Offset`], with [`SubscribeError::NotRetained`] or
    /// [`SubscribeError::OutOfRange`] when the offset cannot be read.
    pub fn subscribe(&self, start: StartAt) -> Result<Reader<T>, SubscribeError> {
        let shared = &*self.shared;
        if shared.is_closed() {
            return Err(SubscribeError::Closed);
        }
        // Acquire: pairs with the writer's `store_release` of `published`.
        let latest = shared.published.load_acquire();
        let mut position = match start {
            StartAt::Earliest => shared.earliest_retained(),
            StartAt::Latest => latest,
            StartAt::Offset(offset) if offset > latest => {
                return Err(SubscribeError::OutOfRange {
                    requested: offset,
                    latest,
                })
            }
            StartAt::Offset(offset) => offset,
        };
        // AcqRel on success: the slot's previous owner released it with a Release store.
        let slot = shared
            .readers
            .iter()
            .position(|cursor| cursor.compare_exchange_acqrel(FREE, position).is_ok())
            .ok_or(SubscribeError::TooManyReaders {
                max: shared.readers.len(),
            })?;
        let cursor = &shared.readers[slot];
        // Relaxed: raised before the fence in `confirm_start`, so the writer's post-fence scan
        // covers the slot just claimed.
        shared.readers_high.fetch_max(slot + 1, Ordering::Relaxed);
        match shared.confirm_start(cursor, position, matches!(start, StartAt::Offset(_))) {
            Ok(confirmed) => position = confirmed,
            Err(earliest) => {
                // Release: pairs with the writer's acquire scan; we read nothing.
                cursor.store_release(FREE);
                shared.notify_space();
                return Err(SubscribeError::NotRetained {
                    requested: position,
                    earliest,
                });
            }
        }
        Ok(Reader {
            shared: self.shared.clone(),
            slot,
            local: CachePadded::new(ReadPosition {
                next: position,
                cached_published: latest,
            }),
            release_on_drop: true,
        })
    }

    /// The ring's capacity in messages.
    pub fn capacity(&self) -> usize {
        self.shared.capacity as usize
    }

    /// The next offset the writer will publish.
    pub fn latest_offset(&self) -> u64 {
        self.shared.published.load_acquire()
    }

    /// The earliest offset a new reader could still read.
    pub fn earliest_offset(&self) -> u64 {
        self.shared.earliest_retained()
    }

    /// True once the writer is gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// The released offset of the reader registered in `slot`.
    pub(crate) fn released_at(&self, slot: usize) -> u64 {
        self.shared.readers[slot].load_relaxed()
    }
}

/// One reading cursor. Every reader sees every message, in order, from its start.
///
/// # Examples
///
/// ```
/// use ringgroup::{ring::{Ring, StartAt}, PollError};
///
/// let (mut writer, subscriber) = Ring::<String>::builder().capacity(4).build()?;
/// let mut reader = subscriber.subscribe(StartAt::Earliest)?;
/// writer.publish("hello".to_string());
/// drop(writer);
/// {
///     let batch = reader.poll(8)?;
///     assert_eq!(batch.first_offset(), 0);
///     assert_eq!(batch.get(0).map(String::as_str), Some("hello"));
/// } // the batch's slots are released here
/// assert_eq!(reader.try_poll(8).err(), Some(PollError::Closed));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Reader<T> {
    shared: Arc<Shared<T>>,
    slot: usize,
    /// The next offset to read, and the last value of `published` this reader loaded. Padded:
    /// written on every poll, and the handle may sit next to the writer's.
    local: CachePadded<ReadPosition>,
    /// True for plain readers: a dropped batch releases its slots. Group cursors release only
    /// on commit, so uncommitted messages stay readable for a new owner.
    release_on_drop: bool,
}

impl<T> Reader<T> {
    /// Lends up to `max` messages (at least one) if any are published; never waits.
    ///
    /// Returns [`PollError::Empty`] when nothing is new, and [`PollError::Closed`] once the
    /// writer is gone and everything was read.
    #[inline]
    pub fn try_poll(&mut self, max: usize) -> Result<Batch<'_, T>, PollError> {
        let max = max.max(1) as u64;
        let available = match self.available(max) {
            // `available` found nothing even after reloading `published`.
            0 => self.nothing_new()?,
            n => n,
        };
        Ok(Batch {
            len: available.min(max),
            reader: self,
        })
    }

    /// Called when a fresh look at `published` found nothing new: `Err(Empty)`, or
    /// `Err(Closed)` once the writer is gone and everything was read. A closed ring is looked
    /// at once more, since the writer may have published just before closing.
    #[cold]
    fn nothing_new(&mut self) -> Result<u64, PollError> {
        if !self.shared.is_closed() {
            return Err(PollError::Empty);
        }
        // Closed: the acquire in `is_closed` makes the final `published` visible.
        match self.refresh_available() {
            0 => Err(PollError::Closed),
            n => Ok(n),
        }
    }

    /// Lends up to `max` messages, waiting under the ring's wait strategy until one is
    /// published. Fails only with [`PollError::Closed`].
    #[inline]
    pub fn poll(&mut self, max: usize) -> Result<Batch<'_, T>, PollError> {
        if self.available(1) == 0 {
            self.wait_for_data(Deadline::after(None));
        }
        self.try_poll(max)
    }

    /// Like [`poll`](Self::poll), giving up after `timeout` with [`PollError::Timeout`].
    pub fn poll_timeout(
        &mut self,
        max: usize,
        timeout: Duration,
    ) -> Result<Batch<'_, T>, PollError> {
        if self.available(1) == 0 && !self.wait_for_data(Deadline::after(Some(timeout))) {
            return Err(PollError::Timeout);
        }
        self.try_poll(max)
    }

    /// The next offset this reader will see.
    pub fn position(&self) -> u64 {
        self.local.next
    }

    /// How many published messages this reader has not read yet.
    pub fn lag(&self) -> u64 {
        self.shared
            .published
            .load_acquire()
            .saturating_sub(self.local.next)
    }

    #[cold]
    fn wait_for_data(&self, deadline: Deadline) -> bool {
        let shared = &*self.shared;
        let next = self.local.next;
        // Acquire: pairs with the writer's `store_release` of `published`.
        wait_until(shared.strategy, &shared.data_signal, deadline, || {
            shared.published.load_acquire() > next || shared.is_closed()
        })
    }

    /// Messages known to be readable; reloads `published` only when the cached copy holds
    /// fewer than `wanted`.
    #[inline(always)]
    fn available(&mut self, wanted: u64) -> u64 {
        let cached = self.local.cached_published.saturating_sub(self.local.next);
        if cached >= wanted {
            return cached;
        }
        self.refresh_available()
    }

    #[inline(always)]
    fn refresh_available(&mut self) -> u64 {
        // Acquire: pairs with the writer's `store_release` of `published`; the slots below it
        // are written before we read them.
        self.local.cached_published = self.shared.published.load_acquire();
        self.local.cached_published.saturating_sub(self.local.next)
    }

    /// Moves the read position past `len` messages, and the registered cursor with it unless
    /// this reader releases only on commit.
    #[inline(always)]
    fn advance(&mut self, len: u64) {
        self.local.next += len;
        if self.release_on_drop {
            self.release_to(self.local.next);
        }
    }

    /// Stores `offset` as the lowest offset this reader may still read: the writer may reuse
    /// every slot below it. Callers keep it monotone and at most `position()`.
    #[inline(always)]
    pub(crate) fn release_to(&self, offset: u64) {
        // Release: pairs with the writer's acquire scan in `Shared::min_reader`; our reads of
        // the released slots happen-before the writer overwrites them.
        self.cursor().store_release(offset);
        self.shared.notify_space();
    }

    /// This reader's registration slot index.
    pub(crate) fn slot_index(&self) -> usize {
        self.slot
    }

    /// The released offset (for a group cursor: the committed offset).
    pub(crate) fn released(&self) -> u64 {
        self.cursor().load_relaxed()
    }

    /// Moves the released offset back to `offset`, if the ring still holds it (the joining
    /// protocol again: store, fence, check the writer's announcement).
    pub(crate) fn rewind_release(&mut self, offset: u64) -> Result<(), SubscribeError> {
        let shared = &*self.shared;
        let previous = self.released();
        let cursor = self.cursor();
        cursor.store_relaxed(offset);
        match shared.confirm_start(cursor, offset, true) {
            Ok(_) => Ok(()),
            Err(earliest) => {
                cursor.store_release(previous);
                shared.notify_space();
                Err(SubscribeError::NotRetained {
                    requested: offset,
                    earliest,
                })
            }
        }
    }

    /// Makes dropped batches advance only the read position (group cursors).
    pub(crate) fn release_on_commit_only(&mut self) {
        self.release_on_drop = false;
    }

    /// Moves the read position to `offset`, which must lie between the released offset and
    /// the published end; used when an owner seeks or a new owner resumes at the commit.
    pub(crate) fn set_position(&mut self, offset: u64) {
        self.local.next = offset;
    }

    /// This reader's registration slot.
    #[inline(always)]
    fn cursor(&self) -> &super::cursor::Cursor {
        debug_assert!(self.slot < self.shared.readers.len());
        // SAFETY: `slot` came from a position in `readers` at subscribe time and the array
        // never changes length.
        unsafe { self.shared.readers.get_unchecked(self.slot) }
    }
}

impl<T> Drop for Reader<T> {
    fn drop(&mut self) {
        // Release: pairs with the writer's acquire scan; our reads are done.
        self.cursor().store_release(FREE);
        self.shared.notify_space();
    }
}

impl<T> std::fmt::Debug for Reader<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("position", &self.local.next)
            .finish()
    }
}

/// A reader's private position.
#[derive(Debug)]
struct ReadPosition {
    next: u64,
    cached_published: u64,
}

/// Messages lent by a poll. Dropping the batch releases its slots to the writer.
#[must_use = "a batch releases its messages when dropped"]
pub struct Batch<'a, T> {
    reader: &'a mut Reader<T>,
    len: u64,
}

impl<T> Batch<'_, T> {
    /// Number of messages in the batch (at least one).
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Always false: a poll that finds nothing returns an error instead of an empty batch.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The offset of the first message.
    #[inline]
    pub fn first_offset(&self) -> u64 {
        self.reader.local.next
    }

    /// The message at `index` within the batch.
    #[inline]
    pub fn get(&self, index: usize) -> Option<&T> {
        if index as u64 >= self.len {
            return None;
        }
        // SAFETY: the offset is below the acquired `published` and at or above the reader's
        // registered cursor, which cannot move while `self` borrows the reader.
        Some(unsafe {
            self.reader
                .shared
                .slot_ref(self.reader.local.next + index as u64)
        })
    }

    /// The messages in offset order.
    #[inline]
    pub fn iter(&self) -> BatchIter<'_, T> {
        #[cfg(not(loom))]
        {
            let (head, tail) = self.as_slices();
            BatchIter(head.iter().chain(tail))
        }
        #[cfg(loom)]
        BatchIter {
            shared: &self.reader.shared,
            offset: self.reader.local.next,
            end: self.reader.local.next + self.len,
        }
    }

    /// The messages as two contiguous slices (the second is empty unless the batch wraps
    /// around the end of the ring), for bulk copies and vectorised loops.
    ///
    /// # Examples
    ///
    /// ```
    /// let (mut writer, subscriber) = ringgroup::ring::Ring::builder().capacity(4).build()?;
    /// let mut reader = subscriber.subscribe(ringgroup::ring::StartAt::Earliest)?;
    /// writer.publish_batch([1, 2, 3]);
    /// drop(reader.try_poll(2)?); // read 1 and 2
    /// writer.publish_batch([4, 5]); // 5 wraps to slot 0
    /// let batch = reader.try_poll(8)?;
    /// assert_eq!(batch.as_slices(), (&[3, 4][..], &[5][..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(not(loom))]
    #[inline]
    pub fn as_slices(&self) -> (&[T], &[T]) {
        // SAFETY: every offset of the batch is below the acquired `published`, at or above the
        // reader's registered cursor (fixed while `self` borrows the reader), and `len` is at
        // most the capacity.
        unsafe { self.reader.shared.slices(self.reader.local.next, self.len) }
    }

    /// Gives the batch back unread: dropping it then moves nothing.
    pub(crate) fn abandon(&mut self) {
        self.len = 0;
    }

    /// Commits (releases to the writer) every offset below `end` of this batch.
    pub(crate) fn commit_through(&self, end: u64) {
        self.reader.release_to(end);
    }

    /// The messages with their offsets.
    pub fn iter_with_offsets(&self) -> impl Iterator<Item = (u64, &T)> + '_ {
        (self.reader.local.next..).zip(self.iter())
    }
}

impl<T> Drop for Batch<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.reader.advance(self.len);
    }
}

impl<'b, T> IntoIterator for &'b Batch<'_, T> {
    type Item = &'b T;
    type IntoIter = BatchIter<'b, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over a [`Batch`].
#[cfg(not(loom))]
pub struct BatchIter<'b, T>(std::iter::Chain<std::slice::Iter<'b, T>, std::slice::Iter<'b, T>>);

#[cfg(not(loom))]
impl<'b, T> Iterator for BatchIter<'b, T> {
    type Item = &'b T;

    #[inline]
    fn next(&mut self) -> Option<&'b T> {
        self.0.next()
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }

    #[inline]
    fn fold<B, F: FnMut(B, &'b T) -> B>(self, init: B, f: F) -> B {
        self.0.fold(init, f)
    }
}

/// Iterator over a [`Batch`] (under loom: one tracked cell access per message).
#[cfg(loom)]
pub struct BatchIter<'b, T> {
    shared: &'b Shared<T>,
    offset: u64,
    end: u64,
}

#[cfg(loom)]
impl<'b, T> Iterator for BatchIter<'b, T> {
    type Item = &'b T;

    fn next(&mut self) -> Option<&'b T> {
        if self.offset == self.end {
            return None;
        }
        // SAFETY: the iterator borrows the batch, whose offsets are published and gated.
        let value = unsafe { self.shared.slot_ref(self.offset) };
        self.offset += 1;
        Some(value)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.end - self.offset) as usize;
        (left, Some(left))
    }
}

impl<T> ExactSizeIterator for BatchIter<'_, T> {}
