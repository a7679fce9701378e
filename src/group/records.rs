//! Records: a batch from one partition, lent by [`Consumer::poll`](crate::Consumer::poll).
//!
//! # What it holds
//!
//! [`Records`] reads its messages in place from the partition's ring. While it lives, the
//! member holds the partition's lease, so the partition cannot move and its slots cannot be
//! overwritten (the group's committed offset, which gates the writer, is at most the batch's
//! first offset) (I3). Dropping it hands the batch back to the member, which moves its read
//! position past the batch, commits it when auto-commit is on, and ends the lease.
//!
//! A batch dropped while its thread panics was not processed: it is neither committed nor read
//! past, so it is delivered again (at-least-once).

use super::consumer::Consumer;
use crate::ring::{BatchIter, Span};

/// One message with its coordinates. The value is borrowed in place from the ring.
///
/// A record carries no key, timestamp or headers: the key routes a record and is not stored
/// (send it inside the value if a consumer needs it), and a clock read per record would cost
/// more than the send.
#[derive(Debug, PartialEq, Eq)]
pub struct Record<'a, T> {
    /// The partition it was sent to.
    pub partition: u32,
    /// Its offset in that partition.
    pub offset: u64,
    /// The message.
    pub value: &'a T,
}

impl<T> Clone for Record<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Record<'_, T> {}

/// A batch of consecutive records from one partition (at least one).
///
/// Holds the partition's lease: the partition cannot move to another member until the batch is
/// dropped. With auto-commit, dropping it commits it (unless the thread is panicking: an
/// unfinished batch is delivered again).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ringgroup::Topic;
///
/// let (topic, mut producer) = Topic::<u32>::builder("t").build()?;
/// let member = topic.group("g").build()?.join()?;
/// for value in [10, 20, 30] {
///     producer.send(value)?;
/// }
/// let records = member.poll(100, Duration::from_secs(1))?;
/// assert_eq!((records.partition(), records.first_offset(), records.len()), (0, 0, 3));
/// assert_eq!(records.values().sum::<u32>(), 60);
/// let offsets: Vec<u64> = records.iter().map(|r| r.offset).collect();
/// assert_eq!(offsets, [0, 1, 2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "records are committed (with auto-commit) and released when dropped"]
pub struct Records<'a, T> {
    consumer: &'a Consumer<T>,
    partition: u32,
    span: Span<'a, T>,
}

impl<'a, T> Records<'a, T> {
    pub(super) fn new(consumer: &'a Consumer<T>, partition: u32, span: Span<'a, T>) -> Self {
        Self {
            consumer,
            partition,
            span,
        }
    }

    /// The member that polled the batch.
    pub(crate) fn consumer(&self) -> &'a Consumer<T> {
        self.consumer
    }

    /// The partition the batch comes from.
    pub fn partition(&self) -> u32 {
        self.partition
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.span.len() as usize
    }

    /// Always false: a poll that finds nothing returns an error.
    pub fn is_empty(&self) -> bool {
        self.span.len() == 0
    }

    /// The first offset in the batch.
    pub fn first_offset(&self) -> u64 {
        self.span.first()
    }

    /// One past the last offset in the batch: what committing the whole batch commits.
    pub fn end_offset(&self) -> u64 {
        self.span.end()
    }

    /// The record at `index` within the batch.
    pub fn get(&self, index: usize) -> Option<Record<'_, T>> {
        self.span.get(index).map(|value| Record {
            partition: self.partition,
            offset: self.span.first() + index as u64,
            value,
        })
    }

    /// Tells the group this member is alive while it works through a long batch.
    pub fn heartbeat(&self) {
        self.consumer.heartbeat();
    }

    /// The records, with partition and offset, in offset order.
    pub fn iter(&self) -> RecordsIter<'_, T> {
        RecordsIter {
            partition: self.partition,
            offset: self.span.first(),
            values: self.values(),
        }
    }

    /// The messages alone, in offset order (the fastest way through a batch).
    pub fn values(&self) -> BatchIter<'_, T> {
        self.span.iter()
    }

    /// The messages as two contiguous slices (the second is empty unless the batch wraps
    /// around the end of the ring), for bulk copies and vectorised loops.
    #[cfg(not(ringgroup_loom))]
    pub fn as_slices(&self) -> (&[T], &[T]) {
        self.span.as_slices()
    }
}

impl<'r, T> IntoIterator for &'r Records<'_, T> {
    type Item = Record<'r, T>;
    type IntoIter = RecordsIter<'r, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over the [`Record`]s of a batch.
pub struct RecordsIter<'r, T> {
    partition: u32,
    offset: u64,
    values: BatchIter<'r, T>,
}

impl<'r, T> Iterator for RecordsIter<'r, T> {
    type Item = Record<'r, T>;

    #[inline]
    fn next(&mut self) -> Option<Record<'r, T>> {
        let value = self.values.next()?;
        let offset = self.offset;
        self.offset += 1;
        Some(Record {
            partition: self.partition,
            offset,
            value,
        })
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.values.size_hint()
    }
}

impl<T> ExactSizeIterator for RecordsIter<'_, T> {}

impl<T> std::fmt::Debug for RecordsIter<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordsIter")
            .field("partition", &self.partition)
            .field("next_offset", &self.offset)
            .field("remaining", &self.values.len())
            .finish()
    }
}

impl<T> Drop for Records<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.consumer.finish_batch(std::thread::panicking());
    }
}

impl<T> std::fmt::Debug for Records<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records")
            .field("partition", &self.partition)
            .field("first_offset", &self.span.first())
            .field("len", &self.span.len())
            .finish()
    }
}
