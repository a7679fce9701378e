//! Readers: independent cursors over the ring, added and removed at runtime.
//!
//! # Algorithm
//!
//! A [`Reader`] keeps its read position and a cached copy of `published` (rtrb's cached
//! cursor), so it touches the writer's line only when its cache runs dry. [`Reader::try_poll`]
//! lends a [`Batch`] of `&T`; [`Reader::try_drain`] hands everything available to a closure.
//!
//! Releasing follows the reader's distance from the writer. Dropping a batch moves the private
//! read position; the position is stored into the reader's registration slot (with `Release`,
//! which is what lets the writer reuse those slots) at once when the reader has read all it
//! knew to be published (it is close behind the writer, which has room and does not look), and
//! otherwise once `release_every` messages (`capacity / 16` by default) were read since the
//! last store; also when a poll finds nothing, before the reader waits, and on drop. A writer
//! that finds the ring full (the reader far behind) therefore gains slots in runs instead of
//! one per batch, and the reader's line moves to it once per run instead of once per message.
//! The writer can never be held by this alone: while the reader holds back fewer than
//! `release_every` slots of a full ring, the rest are readable, so it keeps reading and
//! releases at the threshold.
//!
//! [`Subscriber::subscribe`] registers a cursor with a CAS on a free slot; `confirm_start` then
//! fences and checks the writer's announced limit (the joining protocol in the `shared` module).
//!
//! # Invariants
//! - A reader sees offsets in strictly increasing order, with no gap from its start (I2, I4).
//! - The registered cursor is at most the read position (it lags by less than
//!   `release_every`), so while a [`Batch`] lives it is at most the batch's first offset and
//!   none of its slots can be overwritten (I3).
//! - Dropping a reader frees its slot, so the writer is never gated on a dead cursor.
//! - After the writer is dropped, readers drain what is left and then get
//!   [`PollError::Closed`].

use std::time::Duration;

use crossbeam_utils::CachePadded;

use super::batch::{Batch, Span};
use super::error::{PollError, SubscribeError};
use super::multi::{Multi, Stamp};
use super::shared::{Shared, FREE};
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

/// A claimed registration slot: its index, the confirmed start, and `published` as loaded then.
pub(crate) struct Registration {
    pub(crate) slot: usize,
    pub(crate) position: u64,
    pub(crate) latest: u64,
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
        let registration = self.register(start)?;
        Ok(Reader {
            shared: self.shared.clone(),
            slot: registration.slot,
            local: CachePadded::new(ReaderLocal {
                position: ReadPosition::new(registration.position, registration.latest),
                released: registration.position,
                release_every: default_release_every(self.shared.capacity),
            }),
        })
    }

    /// Claims a registration slot with its cursor at `start` (the joining protocol in the
    /// `shared` module). Shared by plain readers and group cursors.
    pub(crate) fn register(&self, start: StartAt) -> Result<Registration, SubscribeError> {
        let shared = &*self.shared;
        if shared.is_closed() {
            return Err(SubscribeError::Closed);
        }
        shared.check_poison()?;
        let latest = shared.latest();
        // Nothing is published past the announced write limit; `latest` past it cannot be true.
        if latest > shared.write_limit.load_relaxed() {
            return Err(shared.violated("published", latest).into());
        }
        let position = match start {
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
        // Every slot taken: slots whose holder died are reclaimed (rings in a region), and
        // the search runs once more.
        let slot = match claim_slot(shared, position) {
            Some(slot) => Some(slot),
            None if shared.reclaim_dead() > 0 => claim_slot(shared, position),
            None => None,
        }
        .ok_or(SubscribeError::TooManyReaders {
            max: shared.readers().len(),
        })?;
        let cursor = &shared.readers()[slot];
        // Relaxed: raised before the fence in `confirm_start`, so the writer's post-fence scan
        // covers the slot just claimed.
        shared
            .readers_high
            .fetch_max(slot as u64 + 1, Ordering::Relaxed);
        match shared.confirm_start(cursor, position, matches!(start, StartAt::Offset(_))) {
            Ok(position) => Ok(Registration {
                slot,
                position,
                latest,
            }),
            Err(earliest) => {
                // We read nothing: give the slot back.
                shared.deregister(slot);
                Err(SubscribeError::NotRetained {
                    requested: position,
                    earliest,
                })
            }
        }
    }

    /// The ring this subscriber adds readers to.
    pub(crate) fn shared(&self) -> &Arc<Shared<T>> {
        &self.shared
    }

    /// The ring's capacity in messages.
    pub fn capacity(&self) -> usize {
        self.shared.capacity as usize
    }

    /// One past the last published offset: where a reader starting at the latest begins.
    pub fn latest_offset(&self) -> u64 {
        self.shared.latest()
    }

    /// Offsets whose multi-producer claim was abandoned (tombstones readers skip); 0 for a
    /// single-producer ring.
    pub fn tombstones(&self) -> u64 {
        self.shared.multi().map_or(0, |multi| multi.tombstones())
    }

    /// Registration slots taken back from readers (or group cursors) whose process died; see
    /// the ring module's docs. Always 0 for a ring on the heap, whose readers all live in this
    /// process.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_writer, subscriber) = ringgroup::ring::Ring::<u8>::builder().build()?;
    /// assert_eq!(subscriber.reclaimed_readers(), 0);
    /// # Ok::<(), ringgroup::BuildError>(())
    /// ```
    pub fn reclaimed_readers(&self) -> u64 {
        self.shared.reclaimed()
    }

    /// The earliest offset a new reader could still read.
    pub fn earliest_offset(&self) -> u64 {
        self.shared.earliest_retained()
    }

    /// True once the writer is gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.is_closed()
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
    /// The read position and what was last released. Padded: written on every poll, and the
    /// handle may sit next to the writer's.
    local: CachePadded<ReaderLocal>,
}

/// A reader's private state.
struct ReaderLocal {
    /// The next offset to read, and the last value of `published` this reader loaded.
    position: ReadPosition,
    /// The offset last stored into the registration slot (at most `position.next`).
    released: u64,
    /// Read this many messages past `released` before storing again (1 to capacity).
    release_every: u64,
}

/// The default release interval: a sixteenth of the ring, at least one message.
fn default_release_every(capacity: u64) -> u64 {
    (capacity / 16).max(1)
}

impl<T> Reader<T> {
    /// Lends up to `max` messages if any are published; never waits. A `max` of 0 is taken as 1:
    /// a batch always holds at least one message.
    ///
    /// Returns [`PollError::Empty`] when nothing is new, and [`PollError::Closed`] once the
    /// writer is gone and everything was read.
    #[inline]
    pub fn try_poll(&mut self, max: usize) -> Result<Batch<'_, T>, PollError> {
        let len = self.poll_len(max as u64)?;
        Ok(Batch::new(self, len))
    }

    /// Lends up to `max` messages, waiting under the ring's wait strategy until one is
    /// published. Fails only with [`PollError::Closed`].
    #[inline]
    pub fn poll(&mut self, max: usize) -> Result<Batch<'_, T>, PollError> {
        let len = self.poll_len_waiting(max as u64, None)?;
        Ok(Batch::new(self, len))
    }

    /// Like [`poll`](Self::poll), giving up after `timeout` with [`PollError::Timeout`].
    pub fn poll_timeout(
        &mut self,
        max: usize,
        timeout: Duration,
    ) -> Result<Batch<'_, T>, PollError> {
        let len = self.poll_len_waiting(max as u64, Some(timeout))?;
        Ok(Batch::new(self, len))
    }

    /// How many messages a poll lends now. Tombstones skipped on the way (multi-producer rings)
    /// are released at once when nothing follows them, so they never hold the writers back.
    #[inline(always)]
    fn poll_len(&mut self, max: u64) -> Result<u64, PollError> {
        let result = self.local.position.poll_len(&self.shared, max);
        if result.is_err() {
            // Nothing to read: whatever was read (or skipped) goes back to the writer now.
            self.release_now();
        }
        result
    }

    /// [`poll_len`](Self::poll_len), waiting up to `timeout` (`None`: forever) for a message.
    /// The deadline is fixed only once the reader has to wait.
    #[inline]
    fn poll_len_waiting(&mut self, max: u64, timeout: Option<Duration>) -> Result<u64, PollError> {
        let mut deadline = None;
        loop {
            if self.local.position.available(&self.shared, 1) == 0 {
                self.release_now();
                let deadline = *deadline.get_or_insert_with(|| Deadline::after(timeout));
                if !self
                    .shared
                    .wait_for_data(self.local.position.next, deadline)
                {
                    return Err(PollError::Timeout);
                }
            }
            match self.poll_len(max) {
                // Only tombstones were there: wait again.
                Err(PollError::Empty) => {}
                other => return other,
            }
        }
    }

    /// Waits until a poll would find something (or the ring closed) without lending it; false
    /// when `deadline` passed first.
    pub(crate) fn wait_ready(&mut self, deadline: Deadline) -> bool {
        if self.local.position.available(&self.shared, 1) > 0 {
            return true;
        }
        self.release_now();
        self.shared
            .wait_for_data(self.local.position.next, deadline)
    }

    /// Hands every message published now (at most a ring's worth) to `f`, in order, and
    /// releases them together; never waits. Returns how many there were.
    ///
    /// The drain form of [`try_poll`](Self::try_poll): one look at the writer's position, one
    /// release, and a plain loop over the slots in between. Errors as `try_poll`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::ring::{Ring, StartAt};
    ///
    /// let (mut writer, subscriber) = Ring::<u64>::builder().capacity(8).build()?;
    /// let mut reader = subscriber.subscribe(StartAt::Earliest)?;
    /// writer.publish_batch(1..=5);
    /// let mut sum = 0;
    /// assert_eq!(reader.try_drain(|value| sum += value)?, 5);
    /// assert_eq!(sum, 15);
    /// assert!(reader.try_drain(|_| ()).is_err()); // nothing new: `PollError::Empty`
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn try_drain(&mut self, f: impl FnMut(&T)) -> Result<usize, PollError> {
        let batch = self.try_poll(usize::MAX)?;
        let len = batch.len();
        batch.iter().for_each(f);
        Ok(len)
    }

    /// Like [`try_drain`](Self::try_drain), waiting under the ring's wait strategy until a
    /// message is published. Fails only with [`PollError::Closed`] (or `Corrupt`).
    #[inline]
    pub fn drain(&mut self, f: impl FnMut(&T)) -> Result<usize, PollError> {
        let batch = self.poll(usize::MAX)?;
        let len = batch.len();
        batch.iter().for_each(f);
        Ok(len)
    }

    /// Sets how many messages this reader reads, while it is behind the writer, before it
    /// hands their slots back: `capacity / 16` by default, clamped to `1..=capacity`. Slots are
    /// handed back at once anyway when the reader has read all it knew to be published, when
    /// a poll finds nothing, before the reader waits, and on drop.
    ///
    /// 1 hands back every batch when it is dropped (a writer that keeps the ring full then
    /// gains a slot per message read); a larger value moves the reader's line to the writer
    /// less often.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::ring::{Ring, StartAt};
    ///
    /// let (mut writer, subscriber) = Ring::<u8>::builder().capacity(2).build()?;
    /// let mut reader = subscriber.subscribe(StartAt::Earliest)?;
    /// reader.set_release_every(1);
    /// writer.publish_batch([1, 2]);
    /// drop(reader.try_poll(1)?);
    /// assert!(writer.try_publish(3).is_ok()); // the slot of 1 was handed back
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_release_every(&mut self, messages: usize) {
        self.local.release_every = (messages as u64).clamp(1, self.shared.capacity);
    }

    /// The next offset this reader will see.
    pub fn position(&self) -> u64 {
        self.local.position.next
    }

    /// How many published messages this reader has not read yet.
    pub fn lag(&self) -> u64 {
        self.shared
            .latest()
            .saturating_sub(self.local.position.next)
    }

    /// Offsets this reader skipped because their multi-producer claim was abandoned.
    pub fn tombstones_skipped(&self) -> u64 {
        self.local.position.tombstones
    }

    /// Moves the read position past `len` messages, releasing them to the writer once
    /// `release_every` messages were read since the last release. A ring in a region looks
    /// first whether the writers could have lapped the batch while it was lent (see
    /// [`Shared::check_lent`]).
    #[inline(always)]
    pub(super) fn advance(&mut self, len: u64) {
        if self.shared.boundary.is_some() {
            self.shared.check_lent(self.slot, self.local.position.next);
        }
        let position = &mut self.local.position;
        position.next += len;
        // Caught up with what it knew was published: the writer has room, so the store
        // costs it nothing, and a reader close behind its writer hands back at once.
        if position.next == position.cached_published
            || position.next - self.local.released >= self.local.release_every
        {
            self.release();
        }
    }

    /// Releases what was read, if anything is held back.
    #[inline(always)]
    fn release_now(&mut self) {
        if self.local.released != self.local.position.next {
            self.release();
        }
    }

    /// Stores the read position into the registration slot.
    #[inline]
    fn release(&mut self) {
        let next = self.local.position.next;
        self.local.released = next;
        // Release: pairs with the writer's acquire scan in `Shared::gates`; our reads of
        // the released slots happen-before the writer overwrites them.
        self.shared.reader_cursor(self.slot).store_release(next);
        self.shared.notify_space();
    }

    /// The `len` messages from the read position, lent for as long as `self` is borrowed.
    ///
    /// # Safety
    /// `len` is at most what the last `poll_len` reported.
    #[inline(always)]
    pub(super) unsafe fn span(&self, len: u64) -> Span<'_, T> {
        // SAFETY: the offsets are below an acquired `published` (caller's contract) and at or
        // above the registered cursor, which only `release` moves (never past the read
        // position), and it needs `&mut self`.
        unsafe { Span::new(&self.shared, self.local.position.next, len) }
    }
}

impl<T> Reader<T> {
    /// Leaves the registration as it is and hands back the ring and slot (a loom model's
    /// "this reader's process died").
    #[cfg(ringgroup_loom)]
    pub(crate) fn abandon(self) -> (Arc<Shared<T>>, usize) {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped or used again, so the `Arc` is moved out once.
        let shared = unsafe { std::ptr::read(&this.shared) };
        (shared, this.slot)
    }
}

impl<T> Drop for Reader<T> {
    fn drop(&mut self) {
        // Our reads are done: the slot goes back (cursor, then holder).
        self.shared.deregister(self.slot);
    }
}

/// Claims a free registration slot with its cursor at `position`: its holder word first (rings
/// in a region, see `owners`), then its cursor.
fn claim_slot<T>(shared: &Shared<T>, position: u64) -> Option<usize> {
    shared
        .readers()
        .iter()
        .enumerate()
        .position(|(slot, cursor)| {
            if !shared.claim_holder(slot) {
                return false;
            }
            // AcqRel on success: the slot's previous owner released it with a Release store.
            if cursor.compare_exchange_acqrel(FREE, position).is_ok() {
                return true;
            }
            shared.release_holder(slot);
            false
        })
}

impl<T> std::fmt::Debug for Reader<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("position", &self.local.position.next)
            .finish()
    }
}

/// A reader's private position: the next offset to read and a cached copy of `published`
/// (rtrb's cached cursor), so a poll touches the writer's line only when its cache runs dry.
/// Shared by [`Reader`] and the group cursor.
#[derive(Debug)]
pub(crate) struct ReadPosition {
    pub(crate) next: u64,
    /// One past the last offset known readable (`published` as last loaded, or the end of the
    /// stamped run a multi-producer scan found).
    cached_published: u64,
    /// Tombstones skipped (multi-producer rings).
    pub(crate) tombstones: u64,
}

impl ReadPosition {
    pub(crate) fn new(next: u64, cached_published: u64) -> Self {
        Self {
            next,
            cached_published,
            tombstones: 0,
        }
    }

    /// How many messages a poll of up to `max` (at least 1) lends now: `Err(Empty)` when nothing
    /// is new, `Err(Closed)` once the writer is gone and everything was read.
    ///
    /// Only a reader whose cursor gates the writer polls (a detached group cursor attaches
    /// first), so the writer never gets a lap ahead of it: more than `capacity` offsets
    /// available cannot be true, and is `Err(Corrupt)` (see `shm::trust`) rather than a batch
    /// that would run past the slots. So is any poll of a ring whose region this process found
    /// corrupt.
    #[inline(always)]
    pub(crate) fn poll_len<T>(&mut self, shared: &Shared<T>, max: u64) -> Result<u64, PollError> {
        let max = max.max(1);
        shared.check_poison()?;
        let available = match self.available(shared, max) {
            // `available` found nothing even after reloading `published`.
            0 => self.nothing_new(shared, max)?,
            n => n,
        };
        if available > shared.capacity {
            return Err(shared
                .violated("published", self.next.saturating_add(available))
                .into());
        }
        Ok(available.min(max))
    }

    /// Called when a fresh look at `published` found nothing new. A closed ring is looked at
    /// once more, since the writer may have published just before closing.
    ///
    /// A multi-producer ring's slot at the read position holding another slot's offset, or a
    /// later lap's (the writers lapped a reader that gates them), cannot be true.
    #[cold]
    fn nothing_new<T>(&mut self, shared: &Shared<T>, wanted: u64) -> Result<u64, PollError> {
        if let Some(stamp) = shared.stamp_at_odds(self.next, true) {
            return Err(shared.violated("stamp", stamp).into());
        }
        if !shared.is_closed() {
            return Err(PollError::Empty);
        }
        // Closed: the acquire in `is_closed` makes the final `published` visible.
        match self.refresh(shared, wanted) {
            0 => Err(PollError::Closed),
            n => Ok(n),
        }
    }

    /// Messages known to be readable; reloads `published` only when the cached copy holds
    /// fewer than `wanted`.
    #[inline(always)]
    pub(crate) fn available<T>(&mut self, shared: &Shared<T>, wanted: u64) -> u64 {
        let cached = self.cached_published.saturating_sub(self.next);
        if cached >= wanted {
            return cached;
        }
        self.refresh(shared, wanted)
    }

    #[inline(always)]
    fn refresh<T>(&mut self, shared: &Shared<T>, wanted: u64) -> u64 {
        if let Some(multi) = shared.multi() {
            let available = self.refresh_multi(multi, shared.capacity, wanted);
            if available == 0 && shared.owners.is_some() && shared.repair_stalled(self.next) {
                // A dead producer's claim was just stamped as tombstones: skip them.
                return self.refresh_multi(multi, shared.capacity, wanted);
            }
            return available;
        }
        // Acquire: pairs with the writer's `store_release` of `published`; the slots below it
        // are written before we read them.
        self.cached_published = shared.published.load_acquire();
        self.cached_published.saturating_sub(self.next)
    }

    /// Scans the stamps from the end of the known run for up to `wanted` more readable offsets,
    /// skipping tombstones at the read position (counted): a run never spans a tombstone, so a
    /// lent batch holds only messages.
    #[inline]
    fn refresh_multi(&mut self, multi: Multi<'_>, capacity: u64, wanted: u64) -> u64 {
        let mut end = self.cached_published.max(self.next);
        while end - self.next < wanted && end - self.next < capacity {
            match multi.state_of(end) {
                Stamp::Ready => end += 1,
                Stamp::Tombstone if end == self.next => {
                    self.next += 1;
                    self.tombstones += 1;
                    end += 1;
                }
                Stamp::Tombstone | Stamp::Pending => break,
            }
        }
        self.cached_published = end;
        end - self.next
    }
}
