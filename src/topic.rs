//! Topics and the producer.
//!
//! A [`Topic`] is a name and N partitions, each a broadcast [ring](crate::ring). The
//! [`Producer`] owns every partition's writer and routes each message: by key (Kafka's murmur2,
//! so a key lands on the same partition number as in Kafka), round-robin, or to an explicit
//! partition. [`Producer::into_partition_writers`] splits it so several threads can produce,
//! each to its own disjoint partitions (and each pinned to its own core).
//!
//! A message's coordinates are its partition and offset; they are not stored beside it, since
//! the ring already knows them. There is no per-message timestamp: reading a clock on every
//! publish would cost more than the publish itself.

use std::ops::{Deref, DerefMut};

use crate::error::{SendError, TopicError};
use crate::group::GroupBuilder;
use crate::partitioner::kafka_partition;
use crate::ring::{Ring, Subscriber, WaitStrategy, Writer};
use crate::sync::Arc;

/// A topic: a name and its partitions. Cheap to clone; consumer groups are made from it.
///
/// # Examples
///
/// ```
/// use ringgroup::topic::Topic;
///
/// let (topic, mut producer) = Topic::<String>::builder("events").partitions(4).build()?;
/// let (partition, offset) = producer.send_keyed(b"user-42", "signed up".to_string());
/// assert!(partition < 4);
/// assert_eq!(offset, 0);
/// assert_eq!(topic.partitions(), 4);
/// # Ok::<(), ringgroup::TopicError>(())
/// ```
pub struct Topic<T> {
    inner: Arc<TopicInner<T>>,
}

struct TopicInner<T> {
    name: String,
    subscribers: Vec<Subscriber<T>>,
    strategy: WaitStrategy,
}

impl<T> Clone for Topic<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Topic<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topic")
            .field("name", &self.inner.name)
            .field("partitions", &self.inner.subscribers.len())
            .finish()
    }
}

impl<T> Topic<T> {
    /// A builder: 1 partition of 4096 slots, busy-spin waiting, up to 16 groups.
    pub fn builder(name: impl Into<String>) -> TopicBuilder<T> {
        TopicBuilder {
            name: name.into(),
            partitions: 1,
            capacity: 4096,
            strategy: WaitStrategy::BusySpin,
            max_groups: 16,
            _marker: std::marker::PhantomData,
        }
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// How many partitions it has.
    pub fn partitions(&self) -> u32 {
        self.inner.subscribers.len() as u32
    }

    /// How blocked writers, readers and group members of this topic wait.
    pub(crate) fn wait_strategy(&self) -> WaitStrategy {
        self.inner.strategy
    }

    /// The next offset to be published on `partition`, or `None` if there is no such partition.
    pub fn latest_offset(&self, partition: u32) -> Option<u64> {
        self.inner
            .subscribers
            .get(partition as usize)
            .map(Subscriber::latest_offset)
    }

    pub(crate) fn subscriber(&self, partition: u32) -> &Subscriber<T> {
        &self.inner.subscribers[partition as usize]
    }
}

impl<T: Send + Sync + 'static> Topic<T> {
    /// Starts configuring a consumer group named `name` on this topic.
    pub fn group(&self, name: impl Into<String>) -> GroupBuilder<T> {
        GroupBuilder::new(self.clone(), name.into())
    }
}

/// Configures a [`Topic`].
#[must_use]
pub struct TopicBuilder<T> {
    name: String,
    partitions: u32,
    capacity: usize,
    strategy: WaitStrategy,
    max_groups: usize,
    _marker: std::marker::PhantomData<T>,
}

impl<T> TopicBuilder<T> {
    /// Number of partitions (at least 1).
    pub fn partitions(mut self, partitions: u32) -> Self {
        self.partitions = partitions;
        self
    }

    /// Slots per partition: a power of two.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// How blocked producers and readers wait.
    pub fn wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// How many consumer groups (and plain readers) may read each partition at once.
    pub fn max_groups(mut self, max_groups: usize) -> Self {
        self.max_groups = max_groups;
        self
    }

    /// Builds the topic and its producer.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::{topic::Topic, BuildError, TopicError};
    ///
    /// assert_eq!(Topic::<u8>::builder("t").partitions(0).build().err(), Some(TopicError::NoPartitions));
    /// assert_eq!(
    ///     Topic::<u8>::builder("t").capacity(100).build().err(),
    ///     Some(TopicError::Ring(BuildError::CapacityNotPowerOfTwo(100)))
    /// );
    /// ```
    pub fn build(self) -> Result<(Topic<T>, Producer<T>), TopicError> {
        if self.name.is_empty() {
            return Err(TopicError::EmptyName);
        }
        if self.partitions == 0 {
            return Err(TopicError::NoPartitions);
        }
        let mut writers = Vec::with_capacity(self.partitions as usize);
        let mut subscribers = Vec::with_capacity(self.partitions as usize);
        for _ in 0..self.partitions {
            let (writer, subscriber) = Ring::builder()
                .capacity(self.capacity)
                .wait_strategy(self.strategy)
                .max_readers(self.max_groups)
                .build()
                .map_err(TopicError::Ring)?;
            writers.push(writer);
            subscribers.push(subscriber);
        }
        let topic = Topic {
            inner: Arc::new(TopicInner {
                name: self.name,
                subscribers,
                strategy: self.strategy,
            }),
        };
        Ok((
            topic,
            Producer {
                writers,
                next_round_robin: 0,
            },
        ))
    }
}

/// Publishes to every partition of a topic. Dropping it closes the topic: groups drain what is
/// left and then see `Closed`.
pub struct Producer<T> {
    writers: Vec<Writer<T>>,
    next_round_robin: u32,
}

impl<T> Producer<T> {
    /// Publishes to the partition Kafka's default partitioner picks for `key` (murmur2 of the
    /// key bytes, masked positive, modulo the partition count). Waits while that partition is
    /// full. Returns `(partition, offset)`.
    pub fn send_keyed(&mut self, key: &[u8], value: T) -> (u32, u64) {
        let partition = kafka_partition(key, self.writers.len() as u32);
        (partition, self.publish(partition, value))
    }

    /// Publishes to the next partition in round-robin order. Returns `(partition, offset)`.
    pub fn send(&mut self, value: T) -> (u32, u64) {
        let partition = self.next_round_robin;
        self.next_round_robin = (partition + 1) % self.writers.len() as u32;
        (partition, self.publish(partition, value))
    }

    /// Publishes to `partition`. Returns the offset, or hands the value back for a partition
    /// that does not exist.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::{topic::Topic, SendError};
    ///
    /// let (_topic, mut producer) = Topic::<u32>::builder("t").partitions(2).build()?;
    /// assert_eq!(producer.send_to(1, 10), Ok(0));
    /// assert!(matches!(producer.send_to(2, 11), Err(SendError::UnknownPartition { value: 11, .. })));
    /// # Ok::<(), ringgroup::TopicError>(())
    /// ```
    pub fn send_to(&mut self, partition: u32, value: T) -> Result<u64, SendError<T>> {
        if partition as usize >= self.writers.len() {
            return Err(SendError::UnknownPartition {
                partition,
                partitions: self.writers.len() as u32,
                value,
            });
        }
        Ok(self.publish(partition, value))
    }

    fn publish(&mut self, partition: u32, value: T) -> u64 {
        let writer = &mut self.writers[partition as usize];
        let offset = writer.next_offset();
        writer.publish(value);
        offset
    }

    /// The writer of one partition, for batch publishing and claims.
    pub fn partition_writer(&mut self, partition: u32) -> Option<&mut Writer<T>> {
        self.writers.get_mut(partition as usize)
    }

    /// Splits into one writer per partition, so several threads can produce to disjoint
    /// partitions (a producer group).
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::topic::Topic;
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

/// The writer of one partition, split off a [`Producer`]. Dereferences to the ring
/// [`Writer`].
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
