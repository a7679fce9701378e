//! Lent messages: [`Span`], a run of published offsets read in place, and [`Batch`], the span a
//! [`Reader`] poll lends.
//!
//! # Algorithm
//!
//! A span is `first..first + len` over the ring's slots. Its messages are read in place as at
//! most two contiguous slices (up to the end of the slot array, then from its start), so
//! iteration is a plain slice walk.
//!
//! Under loom the slots are loom cells, which cannot be viewed as slices, so the iterator reads
//! one tracked cell per offset through [`Shared::slot_ref`], the same path [`Span::get`] takes
//! in every build. The two agree offset by offset: `span_views_agree` (a unit test below) walks
//! spans of every length from every slot and compares the slice path with `get`.
//!
//! # Invariants
//! - A span is made only for offsets below a value of `published` loaded with acquire, and
//!   lives no longer than the cursor that keeps those slots from being overwritten (I3).
//! - Dropping a [`Batch`] moves the reader's read position past it (its registered cursor
//!   follows lazily, never past the read position); nothing moves either while the batch
//!   lives.

use super::reader::Reader;
use super::shared::Shared;

/// The messages `first..first + len` of one ring, read in place.
pub(crate) struct Span<'a, T> {
    shared: &'a Shared<T>,
    first: u64,
    len: u64,
}

impl<T> Clone for Span<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Span<'_, T> {}

impl<'a, T> Span<'a, T> {
    /// # Safety
    /// Every offset in `first..first + len` is below a value of `published` loaded with acquire,
    /// `len <= capacity`, and no slot of the range is overwritten for `'a` (a registered cursor
    /// at most `first` gates the writer for that long).
    #[inline(always)]
    pub(crate) unsafe fn new(shared: &'a Shared<T>, first: u64, len: u64) -> Self {
        Self { shared, first, len }
    }

    #[inline(always)]
    pub(crate) fn first(&self) -> u64 {
        self.first
    }

    #[inline(always)]
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// One past the last offset.
    #[inline(always)]
    pub(crate) fn end(&self) -> u64 {
        self.first + self.len
    }

    /// The message at `index` within the span.
    #[inline]
    pub(crate) fn get(&self, index: usize) -> Option<&'a T> {
        if index as u64 >= self.len {
            return None;
        }
        // SAFETY: the offset lies in the span (checked above), which is published and gated
        // for `'a` (the constructor's contract).
        Some(unsafe { self.shared.slot_ref(self.first + index as u64) })
    }

    /// The messages in offset order.
    #[inline]
    pub(crate) fn iter(&self) -> BatchIter<'a, T> {
        #[cfg(not(ringgroup_loom))]
        {
            let (head, tail) = self.as_slices();
            BatchIter(head.iter().chain(tail))
        }
        #[cfg(ringgroup_loom)]
        BatchIter { span: *self }
    }

    /// The messages as two contiguous slices.
    #[cfg(not(ringgroup_loom))]
    #[inline]
    pub(crate) fn as_slices(&self) -> (&'a [T], &'a [T]) {
        // SAFETY: the span is published, gated for `'a` and at most `capacity` long (the
        // constructor's contract).
        unsafe { self.shared.slices(self.first, self.len) }
    }
}

/// Messages lent by a poll. Dropping the batch moves the reader past them; their slots go back
/// to the writer with the reader's next release (see [`Reader::set_release_every`]).
///
/// # Examples
///
/// ```
/// let (mut writer, subscriber) = ringgroup::ring::Ring::builder().capacity(4).build()?;
/// let mut reader = subscriber.subscribe(ringgroup::ring::StartAt::Earliest)?;
/// writer.publish_batch([1, 2, 3]);
/// let batch = reader.try_poll(8)?;
/// assert_eq!((batch.first_offset(), batch.len()), (0, 3));
/// assert_eq!(batch.iter().sum::<i32>(), 6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a batch releases its messages when dropped"]
pub struct Batch<'a, T> {
    reader: &'a mut Reader<T>,
    len: u64,
}

impl<'a, T> Batch<'a, T> {
    /// # Safety-relevant contract
    /// `len` is what the reader's last `poll_len` reported.
    #[inline(always)]
    pub(super) fn new(reader: &'a mut Reader<T>, len: u64) -> Self {
        Self { reader, len }
    }

    #[inline(always)]
    fn span(&self) -> Span<'_, T> {
        // SAFETY: `len` came from the reader's `poll_len` (see `new`), and the reader cannot
        // move while the batch borrows it.
        unsafe { self.reader.span(self.len) }
    }

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
        self.reader.position()
    }

    /// The message at `index` within the batch.
    #[inline]
    pub fn get(&self, index: usize) -> Option<&T> {
        self.span().get(index)
    }

    /// The messages in offset order.
    #[inline]
    pub fn iter(&self) -> BatchIter<'_, T> {
        self.span().iter()
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
    #[cfg(not(ringgroup_loom))]
    #[inline]
    pub fn as_slices(&self) -> (&[T], &[T]) {
        self.span().as_slices()
    }

    /// The messages with their offsets.
    pub fn iter_with_offsets(&self) -> impl Iterator<Item = (u64, &T)> + '_ {
        (self.first_offset()..).zip(self.iter())
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

impl<T> std::fmt::Debug for Batch<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("first_offset", &self.first_offset())
            .field("len", &self.len)
            .finish()
    }
}

/// Iterator over a [`Batch`] (or a group's records).
#[cfg(not(ringgroup_loom))]
pub struct BatchIter<'b, T>(std::iter::Chain<std::slice::Iter<'b, T>, std::slice::Iter<'b, T>>);

#[cfg(not(ringgroup_loom))]
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

/// Iterator over a [`Batch`] (under loom: one tracked cell access per message, the path of
/// [`Span::get`]).
#[cfg(ringgroup_loom)]
pub struct BatchIter<'b, T> {
    span: Span<'b, T>,
}

#[cfg(ringgroup_loom)]
impl<'b, T> Iterator for BatchIter<'b, T> {
    type Item = &'b T;

    fn next(&mut self) -> Option<&'b T> {
        let value = self.span.get(0)?;
        self.span.first += 1;
        self.span.len -= 1;
        Some(value)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.span.len as usize, Some(self.span.len as usize))
    }
}

impl<T> ExactSizeIterator for BatchIter<'_, T> {}

impl<T> std::fmt::Debug for BatchIter<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchIter")
            .field("remaining", &self.len())
            .finish()
    }
}

#[cfg(all(test, not(ringgroup_loom)))]
mod tests {
    use crate::ring::{Ring, StartAt};

    /// The slice path (`iter`, `as_slices`) and the per-slot path (`get`, which loom checks)
    /// give the same messages for spans of every length starting at every slot.
    #[test]
    fn span_views_agree() {
        const CAPACITY: usize = 8;
        for start in 0..CAPACITY as u64 {
            for len in 1..=CAPACITY as u64 {
                let (mut writer, subscriber) =
                    Ring::<u64>::builder().capacity(CAPACITY).build().unwrap();
                let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
                writer.publish_batch(0..start);
                drop(reader.try_poll(CAPACITY));
                writer.publish_batch(start..start + len);
                let batch = reader.try_poll(CAPACITY).unwrap();
                assert_eq!(batch.len() as u64, len);
                let by_slot: Vec<u64> = (0..batch.len()).map(|i| *batch.get(i).unwrap()).collect();
                let by_slice: Vec<u64> = batch.iter().copied().collect();
                let (head, tail) = batch.as_slices();
                let joined: Vec<u64> = head.iter().chain(tail).copied().collect();
                let expected: Vec<u64> = (start..start + len).collect();
                assert_eq!(by_slot, expected, "start {start}, len {len}");
                assert_eq!(by_slice, expected, "start {start}, len {len}");
                assert_eq!(joined, expected, "start {start}, len {len}");
                assert_eq!(batch.get(batch.len()), None);
            }
        }
    }
}
