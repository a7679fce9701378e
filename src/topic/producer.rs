//! The producer: routes each record to a partition and publishes it there.
//!
//! # Algorithm
//!
//! [`Producer`] holds one ring [`Writer`] per partition and the topic's [`Router`]. A send asks
//! the router for the partition (the record's own partition if it names one, else the
//! partitioner's pick for its key), then publishes on that partition's writer: blocking
//! ([`send`](Producer::send)), never waiting ([`try_send`](Producer::try_send)) or waiting at
//! most a timeout ([`send_timeout`](Producer::send_timeout)), the triad crossbeam's channels
//! have. Routing happens before the value is moved, so a record that cannot be routed is handed
//! back whole.
//!
//! # Invariants
//! - Records sent to one partition get consecutive offsets in send order.
//! - A failed send changes nothing and hands the value back.

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use super::error::SendError;
use crate::partitioner::{RouteError, Router};
use crate::ring::{PublishError, Writer};

/// A record to send: a value, and optionally a key (for the partitioner) and a partition (which
/// wins over the key). A plain value converts into a record with neither, so
/// `producer.send(value)` works too.
///
/// # Examples
///
/// ```
/// use ringgroup::{partitioner::kafka_partition, ProducerRecord, Topic};
///
/// let (_topic, mut producer) = Topic::<u64>::builder("t").partitions(3).build()?;
/// let keyed = producer.send(ProducerRecord::new(1).key("user-7"))?;
/// assert_eq!(keyed.partition, kafka_partition(b"user-7", 3));
/// let pinned = producer.send(ProducerRecord::new(2).key("user-7").partition(2))?;
/// assert_eq!(pinned.partition, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerRecord<'k, T> {
    /// The message.
    pub value: T,
    /// Routing key: the partitioner hashes it as Kafka does. Not stored with the record.
    pub key: Option<&'k [u8]>,
    /// The partition to send to, whatever the key.
    pub partition: Option<u32>,
}

impl<'k, T> ProducerRecord<'k, T> {
    /// A record with no key and no partition: the partitioner picks (round-robin by default).
    pub fn new(value: T) -> Self {
        Self {
            value,
            key: None,
            partition: None,
        }
    }

    /// Sets the routing key.
    pub fn key<K: AsRef<[u8]> + ?Sized>(mut self, key: &'k K) -> Self {
        self.key = Some(key.as_ref());
        self
    }

    /// Sends to `partition`, whatever the key.
    pub fn partition(mut self, partition: u32) -> Self {
        self.partition = Some(partition);
        self
    }
}

impl<T> From<T> for ProducerRecord<'_, T> {
    fn from(value: T) -> Self {
        ProducerRecord::new(value)
    }
}

/// Where a sent record landed (Kafka's `RecordMetadata`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordMetadata {
    /// The partition it was sent to.
    pub partition: u32,
    /// Its offset in that partition.
    pub offset: u64,
}

/// Sends records to every partition of a topic. Dropping it closes the topic: groups drain what
/// is left and then see `Closed`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ringgroup::{SendError, Topic};
///
/// let (topic, mut producer) = Topic::<u32>::builder("t").capacity(2).build()?;
/// let _group = topic.group("g").build()?; // gates the ring until it commits
/// producer.send(1)?;                      // waits while the partition is full
/// producer.try_send(2)?;                  // or fails at once with `Full`
/// assert!(matches!(producer.try_send(3), Err(SendError::Full(3))));
/// assert!(matches!(producer.send_timeout(3, Duration::from_millis(1)), Err(SendError::Timeout(3))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Producer<T> {
    writers: Vec<Writer<T>>,
    router: Router,
}

/// How long a send may wait for space.
#[derive(Clone, Copy)]
pub(super) enum Wait {
    Never,
    Forever,
    For(Duration),
}

impl<T> Producer<T> {
    pub(super) fn new(writers: Vec<Writer<T>>, router: Router) -> Self {
        Self { writers, router }
    }

    /// How many partitions the topic has.
    pub fn partitions(&self) -> u32 {
        self.writers.len() as u32
    }

    /// Sends a record (or a plain value), waiting while its partition is full (lossless
    /// back-pressure). Fails only if the record cannot be routed.
    pub fn send<'k>(
        &mut self,
        record: impl Into<ProducerRecord<'k, T>>,
    ) -> Result<RecordMetadata, SendError<T>> {
        self.send_inner(record.into(), Wait::Forever)
    }

    /// Sends a record if its partition has room now; otherwise hands it back as
    /// [`SendError::Full`].
    pub fn try_send<'k>(
        &mut self,
        record: impl Into<ProducerRecord<'k, T>>,
    ) -> Result<RecordMetadata, SendError<T>> {
        self.send_inner(record.into(), Wait::Never)
    }

    /// Sends a record, waiting at most `timeout` for room ([`SendError::Timeout`] after).
    pub fn send_timeout<'k>(
        &mut self,
        record: impl Into<ProducerRecord<'k, T>>,
        timeout: Duration,
    ) -> Result<RecordMetadata, SendError<T>> {
        self.send_inner(record.into(), Wait::For(timeout))
    }

    /// Sends `value` to the partition Kafka's default partitioner picks for `key` (murmur2 of
    /// the key bytes, masked positive, modulo the partition count), waiting while it is full.
    /// Fails only on a shared-memory topic found corrupt ([`SendError::Corrupt`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::{partitioner::kafka_partition, Topic};
    ///
    /// let (_topic, mut producer) = Topic::<&str>::builder("t").partitions(4).build()?;
    /// let sent = producer.send_keyed("customer-42", "order #1")?;
    /// assert_eq!(sent.partition, kafka_partition(b"customer-42", 4));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_keyed(
        &mut self,
        key: impl AsRef<[u8]>,
        value: T,
    ) -> Result<RecordMetadata, SendError<T>> {
        let partition = crate::partitioner::kafka_partition(key.as_ref(), self.partitions());
        self.publish(partition, value, Wait::Forever)
    }

    /// Sends `value` to `partition`, waiting while it is full; hands the value back for a
    /// partition that does not exist.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::{SendError, Topic};
    ///
    /// let (_topic, mut producer) = Topic::<u32>::builder("t").partitions(2).build()?;
    /// assert_eq!(producer.send_to(1, 10)?.offset, 0);
    /// assert!(matches!(producer.send_to(2, 11), Err(SendError::UnknownPartition { value: 11, .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_to(&mut self, partition: u32, value: T) -> Result<RecordMetadata, SendError<T>> {
        self.send(ProducerRecord::new(value).partition(partition))
    }

    fn send_inner(
        &mut self,
        record: ProducerRecord<'_, T>,
        wait: Wait,
    ) -> Result<RecordMetadata, SendError<T>> {
        let ProducerRecord {
            value,
            key,
            partition,
        } = record;
        match self.router.route(key, partition) {
            Ok(partition) => self.publish(partition, value, wait),
            Err(error) => Err(unroutable(error, value)),
        }
    }

    /// Publishes on a partition known to exist.
    #[inline]
    fn publish(
        &mut self,
        partition: u32,
        value: T,
        wait: Wait,
    ) -> Result<RecordMetadata, SendError<T>> {
        let writer = &mut self.writers[partition as usize];
        let offset = writer.next_offset();
        match wait {
            Wait::Forever => writer.publish_checked(value),
            Wait::Never => writer.try_publish(value),
            Wait::For(timeout) => writer.publish_timeout(value, timeout),
        }
        .map_err(send_error)?;
        Ok(RecordMetadata { partition, offset })
    }

    /// The writer of one partition, for batch publishing and claims.
    pub fn partition_writer(&mut self, partition: u32) -> Option<&mut Writer<T>> {
        self.writers.get_mut(partition as usize)
    }

    /// Splits into one writer per partition, so several threads can produce to disjoint
    /// partitions, each pinned to its own core if wanted.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::Topic;
    ///
    /// let (_topic, producer) = Topic::<u64>::builder("t").partitions(2).build()?;
    /// let handles: Vec<_> = producer
    ///     .into_partition_writers()
    ///     .into_iter()
    ///     .map(|mut writer| std::thread::spawn(move || writer.publish_batch(0..100)))
    ///     .collect();
    /// for handle in handles {
    ///     assert_eq!(handle.join().unwrap(), 100);
    /// }
    /// # Ok::<(), ringgroup::TopicError>(())
    /// ```
    pub fn into_partition_writers(self) -> Vec<PartitionWriter<T>> {
        self.writers
            .into_iter()
            .enumerate()
            .map(|(partition, writer)| PartitionWriter {
                partition: partition as u32,
                writer,
            })
            .collect()
    }
}

/// A routing failure as a send error that hands `value` back.
pub(super) fn unroutable<T>(error: RouteError, value: T) -> SendError<T> {
    match error {
        RouteError::UnknownPartition {
            partition,
            partitions,
        } => SendError::UnknownPartition {
            partition,
            partitions,
            value,
        },
        source => SendError::Unroutable { source, value },
    }
}

pub(super) fn send_error<T>(error: PublishError<T>) -> SendError<T> {
    match error {
        PublishError::Full(value) => SendError::Full(value),
        PublishError::Timeout(value) => SendError::Timeout(value),
        PublishError::Corrupt(value, source) => SendError::Corrupt { source, value },
    }
}

impl<T> std::fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("partitions", &self.writers.len())
            .field("partitioner", &self.router.partitioner())
            .finish()
    }
}

/// The writer of one partition, split off a [`Producer`]. Dereferences to the ring
/// [`Writer`].
#[derive(Debug)]
pub struct PartitionWriter<T> {
    partition: u32,
    writer: Writer<T>,
}

impl<T> PartitionWriter<T> {
    /// The partition it writes.
    pub fn partition(&self) -> u32 {
        self.partition
    }
}

impl<T> Deref for PartitionWriter<T> {
    type Target = Writer<T>;
    fn deref(&self) -> &Writer<T> {
        &self.writer
    }
}

impl<T> DerefMut for PartitionWriter<T> {
    fn deref_mut(&mut self) -> &mut Writer<T> {
        &mut self.writer
    }
}
