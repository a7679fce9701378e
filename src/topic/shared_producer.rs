//! The shared producer of a multi-producer topic: `Clone + Send + Sync`, every method `&self`,
//! so any number of threads send to any partition at once.
//!
//! # Algorithm
//!
//! Routing is the single producer's ([`Router`], Kafka's partitioners); the round-robin turn is
//! an atomic counter per handle. Each partition is a multi-producer ring
//! ([`SharedWriter`](crate::ring::SharedWriter)): a send claims an offset with one
//! compare-and-swap, writes the slot and stamps it.
//!
//! # Invariants
//! - Per producer handle and partition, records keep their send order; across handles there is
//!   one total order per partition (the claim order), which every group sees.
//! - The topic closes when the last producer handle (clones, and those from
//!   [`Topic::producer`](crate::Topic::producer)) is gone.

use std::time::Duration;

use super::error::SendError;
use super::producer::{send_error, unroutable, ProducerRecord, RecordMetadata, Wait};
use crate::partitioner::Router;
use crate::ring::SharedWriter;
use crate::sync::{Arc, AtomicU32, Ordering};

/// Sends records to every partition of a multi-producer topic, from any number of threads.
/// Built by [`TopicBuilder::multi_producer`](crate::TopicBuilder::multi_producer); more handles
/// come from `clone` or [`Topic::producer`](crate::Topic::producer).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ringgroup::Topic;
///
/// let (topic, producer) = Topic::<u64>::builder("t").partitions(2).multi_producer().build()?;
/// let group = topic.group("g").build()?;
/// let threads: Vec<_> = (0..4)
///     .map(|t| {
///         let producer = producer.clone();
///         std::thread::spawn(move || producer.send_to(0, t).map(|m| m.partition))
///     })
///     .collect();
/// for thread in threads {
///     assert_eq!(thread.join().unwrap()?, 0);
/// }
/// let member = group.join()?;
/// assert_eq!(member.poll(8, Duration::from_secs(1))?.len(), 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SharedProducer<T> {
    writers: Arc<Vec<SharedWriter<T>>>,
    router: Router,
    turn: AtomicU32,
}

impl<T> SharedProducer<T> {
    pub(super) fn new(writers: Vec<SharedWriter<T>>, router: Router) -> Self {
        Self {
            writers: Arc::new(writers),
            router,
            turn: AtomicU32::new(0),
        }
    }

    /// How many partitions the topic has.
    pub fn partitions(&self) -> u32 {
        self.writers.len() as u32
    }

    /// Sends a record (or a plain value), waiting while its partition is full.
    pub fn send<'k>(
        &self,
        record: impl Into<ProducerRecord<'k, T>>,
    ) -> Result<RecordMetadata, SendError<T>> {
        self.send_inner(record.into(), Wait::Forever)
    }

    /// Sends a record if its partition has room now, else [`SendError::Full`].
    pub fn try_send<'k>(
        &self,
        record: impl Into<ProducerRecord<'k, T>>,
    ) -> Result<RecordMetadata, SendError<T>> {
        self.send_inner(record.into(), Wait::Never)
    }

    /// Sends a record, waiting at most `timeout` for room ([`SendError::Timeout`] after).
    pub fn send_timeout<'k>(
        &self,
        record: impl Into<ProducerRecord<'k, T>>,
        timeout: Duration,
    ) -> Result<RecordMetadata, SendError<T>> {
        self.send_inner(record.into(), Wait::For(timeout))
    }

    /// Sends `value` to the partition Kafka's default partitioner picks for `key`, waiting
    /// while it is full. Fails only on a shared-memory topic found corrupt
    /// ([`SendError::Corrupt`]).
    pub fn send_keyed(
        &self,
        key: impl AsRef<[u8]>,
        value: T,
    ) -> Result<RecordMetadata, SendError<T>> {
        let partition = crate::partitioner::kafka_partition(key.as_ref(), self.partitions());
        self.publish(partition, value, Wait::Forever)
    }

    /// Sends `value` to `partition`, waiting while it is full.
    pub fn send_to(&self, partition: u32, value: T) -> Result<RecordMetadata, SendError<T>> {
        self.send(ProducerRecord::new(value).partition(partition))
    }

    fn send_inner(
        &self,
        record: ProducerRecord<'_, T>,
        wait: Wait,
    ) -> Result<RecordMetadata, SendError<T>> {
        let ProducerRecord {
            value,
            key,
            partition,
        } = record;
        // Relaxed: a turn counter; any interleaving of turns is a fair spread.
        let turn = || self.turn.fetch_add(1, Ordering::Relaxed);
        match self.router.route_with(key, partition, turn) {
            Ok(partition) => self.publish(partition, value, wait),
            Err(error) => Err(unroutable(error, value)),
        }
    }

    /// Publishes on a partition known to exist.
    #[inline]
    fn publish(
        &self,
        partition: u32,
        value: T,
        wait: Wait,
    ) -> Result<RecordMetadata, SendError<T>> {
        let writer = &self.writers[partition as usize];
        let offset = match wait {
            Wait::Forever => writer.publish_checked(value),
            Wait::Never => writer.try_publish(value),
            Wait::For(timeout) => writer.publish_timeout(value, timeout),
        }
        .map_err(send_error)?;
        Ok(RecordMetadata { partition, offset })
    }

    /// The multi-producer ring of one partition, for claims and batches.
    pub fn partition_writer(&self, partition: u32) -> Option<&SharedWriter<T>> {
        self.writers.get(partition as usize)
    }
}

impl<T> Clone for SharedProducer<T> {
    /// Another handle on the same partitions, with its own round-robin turn.
    fn clone(&self) -> Self {
        Self {
            writers: self.writers.clone(),
            router: self.router.clone(),
            turn: AtomicU32::new(0),
        }
    }
}

impl<T> std::fmt::Debug for SharedProducer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedProducer")
            .field("partitions", &self.writers.len())
            .field("partitioner", &self.router.partitioner())
            .finish()
    }
}
