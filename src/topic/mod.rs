//! Topics and the producer.
//!
//! A [`Topic`] is a name and N partitions, each a broadcast [ring](crate::ring). The
//! [`Producer`] owns every partition's writer and routes each record through the topic's
//! [`Partitioner`]: by key (Kafka's murmur2, so a key lands on the same partition number as in
//! Kafka), round-robin, or to the partition the record names. [`Producer::into_partition_writers`]
//! splits it so several threads can produce, each to its own disjoint partitions (and each
//! pinned to its own core).
//!
//! # What a record carries
//!
//! A record's coordinates are its partition and offset (returned as [`RecordMetadata`]); they
//! are not stored beside the value, since the ring already knows them. The key is used for
//! routing only and is not stored: a consumer that needs it back sends it inside the value (for
//! example `T = (Key, Payload)`). There is no per-record timestamp (reading a clock on every send
//! would cost more than the send) and no headers; put either in `T` when you need it.
//!
//! # Verbs
//!
//! The ring *publishes* (makes written slots visible: a memory operation); the producer *sends*
//! (routes a record to a partition of a topic, then publishes it there), as Kafka's producer
//! does. Consumers *poll*.
//!
//! # Invariants
//! - One writer per partition ([`Producer`] and [`PartitionWriter`] are `Send`, not `Clone`), so
//!   a partition's offsets are dense and in send order (I4).
//! - A send waits, fails with `Full` or times out while the slowest group still holds the slot it
//!   needs: no record is dropped to make room (I2).

mod error;
mod producer;
#[cfg(not(ringgroup_loom))]
mod shared_memory;
mod shared_producer;

pub use error::{SendError, TopicError};
pub use producer::{PartitionWriter, Producer, ProducerRecord, RecordMetadata};
#[cfg(not(ringgroup_loom))]
pub use shared_memory::SharedMemoryBuilder;
pub use shared_producer::SharedProducer;

use crate::partitioner::{Partitioner, Router};
use crate::ring::block::Geometry;
use crate::ring::{
    BuildError, MultiProducer, Ring, SharedWriter, SingleProducer, Subscriber, WaitStrategy,
};
use crate::sync::{Arc, OnceLock};

/// The most partitions a topic can have.
pub const MAX_PARTITIONS: u32 = 1 << 16;

/// The longest topic name, in bytes: Kafka's limit. Any other non-empty UTF-8 string is a
/// valid name (the name is a label, never a file name; a shared-memory region is named apart).
///
/// # Examples
///
/// ```
/// use ringgroup::topic::MAX_TOPIC_NAME_LEN;
/// use ringgroup::{Topic, TopicError};
///
/// assert!(Topic::<u8>::builder("x".repeat(MAX_TOPIC_NAME_LEN)).build().is_ok());
/// // Bytes, not characters: 125 of 'é' are 250 bytes.
/// assert_eq!(
///     Topic::<u8>::builder("é".repeat(125)).build().err(),
///     Some(TopicError::NameTooLong { max: MAX_TOPIC_NAME_LEN })
/// );
/// ```
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// The most memory, in bytes, a topic's rings may take together (256 GiB): each ring's
/// control words, reader cursors (`max_groups` cache lines), stamps (multi-producer) and
/// slots, times the partitions. It refuses absurd products of sizes that are each within
/// bounds; a topic below it that the machine cannot hold fails with
/// [`BuildError::AllocationFailed`] instead.
///
/// # Examples
///
/// ```
/// use ringgroup::topic::{MAX_PARTITIONS, MAX_TOPIC_BYTES};
/// use ringgroup::ring::MAX_READERS;
/// use ringgroup::{Topic, TopicError};
///
/// // Every count within its own bound, but 65536 × 65536 reader cursors are 512 GiB.
/// let err = Topic::<u8>::builder("t")
///     .partitions(MAX_PARTITIONS)
///     .max_groups(MAX_READERS)
///     .build()
///     .unwrap_err();
/// assert!(matches!(err, TopicError::TooLarge { max: MAX_TOPIC_BYTES, .. }));
/// ```
pub const MAX_TOPIC_BYTES: u64 = 1 << 38;

/// A topic: a name and its partitions. Cheap to clone; consumer groups are made from it with
/// [`Topic::group`](crate::Topic::group).
///
/// # Examples
///
/// ```
/// use ringgroup::Topic;
///
/// let (topic, mut producer) = Topic::<String>::builder("events").partitions(4).build()?;
/// let sent = producer.send_keyed("user-42", "signed up".to_string())?;
/// assert!(sent.partition < 4);
/// assert_eq!(sent.offset, 0);
/// assert_eq!(topic.partitions(), 4);
/// assert_eq!(topic.latest_offset(sent.partition), Some(1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Topic<T> {
    inner: Arc<TopicInner<T>>,
}

struct TopicInner<T> {
    name: String,
    subscribers: Vec<Subscriber<T>>,
    strategy: WaitStrategy,
    /// The partitioner, for the producers [`Topic::producer`] makes.
    router: Router,
    multi_producer: bool,
    /// State a layer above attaches to the topic (the reply routes of producer groups), opaque
    /// here so the topic depends on no layer above it.
    extension: Extension,
    /// The shared-memory region holding the rings, for a topic in one.
    #[cfg(not(ringgroup_loom))]
    region: Option<crate::sync::StdArc<crate::shm::Region>>,
}

/// An opaque, set-once slot on a topic for a layer above it.
pub(crate) type Extension = Arc<OnceLock<crate::sync::StdArc<dyn std::any::Any + Send + Sync>>>;

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
    /// A builder: 1 partition of 4096 slots, [`WaitStrategy::SpinThenPark`], up to 16 groups,
    /// Kafka's default partitioner. The name is 1 to [`MAX_TOPIC_NAME_LEN`] bytes (checked by
    /// `build`).
    ///
    /// The wait strategy defaults to `SpinThenPark` so that an idle consumer does not burn a
    /// core (it spins briefly, yields, then sleeps); choose [`WaitStrategy::BusySpin`] for the
    /// lowest latency when every thread has a core of its own.
    pub fn builder(name: impl Into<String>) -> TopicBuilder<T> {
        TopicBuilder {
            name: name.into(),
            partitions: 1,
            capacity: 4096,
            strategy: WaitStrategy::SpinThenPark,
            max_groups: 16,
            partitioner: Partitioner::Default,
            _marker: std::marker::PhantomData,
        }
    }

    /// A topic over rings built elsewhere (on the heap, or in a shared region).
    pub(crate) fn from_parts(
        name: String,
        subscribers: Vec<Subscriber<T>>,
        strategy: WaitStrategy,
        router: Router,
        multi_producer: bool,
    ) -> Self {
        Topic {
            inner: Arc::new(TopicInner {
                name,
                subscribers,
                strategy,
                router,
                multi_producer,
                extension: Arc::new(OnceLock::new()),
                #[cfg(not(ringgroup_loom))]
                region: None,
            }),
        }
    }

    /// Records the region the rings live in (right after `from_parts`).
    #[cfg(not(ringgroup_loom))]
    pub(crate) fn set_region(&mut self, region: crate::sync::StdArc<crate::shm::Region>) {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.region = Some(region);
        }
    }

    /// The region the rings live in, for a shared-memory topic.
    #[cfg(not(ringgroup_loom))]
    pub(crate) fn region(&self) -> Option<&crate::sync::StdArc<crate::shm::Region>> {
        self.inner.region.as_ref()
    }

    /// Another producer of a multi-producer topic, while the topic is open (some producer
    /// handle is alive). `None` for a single-producer topic, whose one [`Producer`] came with
    /// it, or once the topic has closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::Topic;
    ///
    /// let (topic, first) = Topic::<u64>::builder("t").multi_producer().build()?;
    /// let second = topic.producer().expect("open while `first` lives");
    /// drop((first, second));
    /// assert!(topic.producer().is_none(), "closed with its last producer");
    /// # Ok::<(), ringgroup::TopicError>(())
    /// ```
    pub fn producer(&self) -> Option<SharedProducer<T>> {
        if !self.inner.multi_producer {
            return None;
        }
        let writers = self
            .inner
            .subscribers
            .iter()
            .map(|ring| SharedWriter::attach(ring.shared()))
            .collect::<Option<Vec<_>>>()?;
        Some(SharedProducer::new(writers, self.inner.router.clone()))
    }

    /// True for a multi-producer topic.
    pub fn is_multi_producer(&self) -> bool {
        self.inner.multi_producer
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// How many partitions it has.
    pub fn partitions(&self) -> u32 {
        self.inner.subscribers.len() as u32
    }

    /// How blocked producers, readers and group members of this topic wait.
    pub fn wait_strategy(&self) -> WaitStrategy {
        self.inner.strategy
    }

    /// The next offset to be published on `partition`, or `None` if there is no such partition.
    pub fn latest_offset(&self, partition: u32) -> Option<u64> {
        self.subscriber(partition).map(Subscriber::latest_offset)
    }

    /// The earliest offset `partition` still holds, or `None` if there is no such partition.
    pub fn earliest_offset(&self, partition: u32) -> Option<u64> {
        self.subscriber(partition).map(Subscriber::earliest_offset)
    }

    /// Reader slots of `partition` taken back from subscribers (plain readers or group cursors)
    /// whose process died, or `None` if there is no such partition. Only a shared-memory topic
    /// has readers in other processes; see [`Topic::open`] for when slots are taken back.
    ///
    /// # Examples
    ///
    /// ```
    /// let (topic, _producer) = ringgroup::Topic::<u32>::builder("t").build()?;
    /// assert_eq!(topic.reclaimed_readers(0), Some(0));
    /// assert_eq!(topic.reclaimed_readers(1), None);
    /// # Ok::<(), ringgroup::TopicError>(())
    /// ```
    pub fn reclaimed_readers(&self, partition: u32) -> Option<u64> {
        self.subscriber(partition)
            .map(Subscriber::reclaimed_readers)
    }

    /// The ring of `partition`, to add plain readers that see every message (outside any
    /// group). Each plain reader takes one of the partition's `max_groups` reader slots.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::{StartAt, Topic};
    ///
    /// let (topic, mut producer) = Topic::<u32>::builder("t").build()?;
    /// let mut reader = topic.subscriber(0).unwrap().subscribe(StartAt::Earliest)?;
    /// producer.send(5)?;
    /// assert_eq!(reader.try_poll(8)?.iter().copied().collect::<Vec<_>>(), [5]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn subscriber(&self, partition: u32) -> Option<&Subscriber<T>> {
        self.inner.subscribers.get(partition as usize)
    }

    /// Every partition's ring, in partition order.
    pub(crate) fn subscribers(&self) -> &[Subscriber<T>] {
        &self.inner.subscribers
    }

    /// The topic's extension slot (see [`Extension`]).
    pub(crate) fn extension(&self) -> &Extension {
        &self.inner.extension
    }
}

/// Configures a [`Topic`]: single-producer by default, or
/// [`multi_producer`](TopicBuilder::multi_producer).
#[derive(Debug)]
#[must_use]
pub struct TopicBuilder<T, P = SingleProducer> {
    name: String,
    partitions: u32,
    capacity: usize,
    strategy: WaitStrategy,
    max_groups: usize,
    partitioner: Partitioner,
    _marker: std::marker::PhantomData<(T, P)>,
}

impl<T, P> TopicBuilder<T, P> {
    /// Number of partitions: 1 to [`MAX_PARTITIONS`].
    pub fn partitions(mut self, partitions: u32) -> Self {
        self.partitions = partitions;
        self
    }

    /// Slots per partition: a power of two, at most [`MAX_CAPACITY`](crate::ring::MAX_CAPACITY)
    /// (and at most `isize::MAX` bytes of slots). All partitions together take at most
    /// [`MAX_TOPIC_BYTES`].
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// How blocked producers, readers and idle group members wait.
    pub fn wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// How many consumer groups (and plain readers) may read each partition at once: 1 to
    /// [`MAX_READERS`](crate::ring::MAX_READERS). Each takes a 128-byte cursor per partition,
    /// counted in [`MAX_TOPIC_BYTES`].
    pub fn max_groups(mut self, max_groups: usize) -> Self {
        self.max_groups = max_groups;
        self
    }

    /// How the producer picks a partition for a record that names none (default: Kafka's
    /// default partitioner, [`Partitioner::Default`]).
    pub fn partitioner(mut self, partitioner: Partitioner) -> Self {
        self.partitioner = partitioner;
        self
    }

    /// Checks every size before anything is allocated, then builds each partition's ring with
    /// `ring` (allocating fallibly).
    fn build_with<W>(
        self,
        multi_producer: bool,
        mut ring: impl FnMut(crate::ring::RingBuilder<T>) -> Result<(W, Subscriber<T>), BuildError>,
    ) -> Result<(Topic<T>, Vec<W>, Router), TopicError> {
        self.validate(multi_producer)?;
        let count = self.partitions as usize;
        let (mut writers, mut subscribers) = (Vec::new(), Vec::new());
        let too_many = |_| BuildError::AllocationFailed {
            bytes: count.saturating_mul(std::mem::size_of::<Subscriber<T>>()),
        };
        writers.try_reserve_exact(count).map_err(too_many)?;
        subscribers.try_reserve_exact(count).map_err(too_many)?;
        for _ in 0..self.partitions {
            let (writer, subscriber) = ring(
                Ring::builder()
                    .capacity(self.capacity)
                    .wait_strategy(self.strategy)
                    .max_readers(self.max_groups),
            )?;
            writers.push(writer);
            subscribers.push(subscriber);
        }
        // Cannot fail: the partition count was checked above.
        let router =
            Router::new(self.partitioner, self.partitions).map_err(|_| TopicError::NoPartitions)?;
        let topic = Topic::from_parts(
            self.name,
            subscribers,
            self.strategy,
            router.clone(),
            multi_producer,
        );
        Ok((topic, writers, router))
    }

    /// Checks the name, and the sizes a topic's rings are built from (`multi_producer`: with
    /// a stamp per slot), before anything is allocated.
    fn validate(&self, multi_producer: bool) -> Result<(), TopicError> {
        if self.name.is_empty() {
            return Err(TopicError::EmptyName);
        }
        if self.name.len() > MAX_TOPIC_NAME_LEN {
            return Err(TopicError::NameTooLong {
                max: MAX_TOPIC_NAME_LEN,
            });
        }
        if self.partitions == 0 {
            return Err(TopicError::NoPartitions);
        }
        if self.partitions > MAX_PARTITIONS {
            return Err(TopicError::TooManyPartitions {
                requested: self.partitions,
                max: MAX_PARTITIONS,
            });
        }
        crate::ring::validate_capacity::<T>(self.capacity)?;
        crate::ring::validate_readers(self.max_groups)?;
        let ring = Geometry::of::<T>(self.capacity, self.max_groups, multi_producer, false)?;
        let bytes = u64::from(self.partitions).saturating_mul(ring.size() as u64);
        if bytes > MAX_TOPIC_BYTES {
            return Err(TopicError::TooLarge {
                bytes,
                max: MAX_TOPIC_BYTES,
            });
        }
        Ok(())
    }
}

impl<T> TopicBuilder<T, SingleProducer> {
    /// Any number of producers per partition: the topic is built with a [`SharedProducer`]
    /// (`Clone + Send + Sync`), and more come from [`Topic::producer`]. Every send then claims
    /// its offset with a compare-and-swap that producers share, so keep the single producer
    /// (the default, and the fastest) when one thread sends.
    pub fn multi_producer(self) -> TopicBuilder<T, MultiProducer> {
        TopicBuilder {
            name: self.name,
            partitions: self.partitions,
            capacity: self.capacity,
            strategy: self.strategy,
            max_groups: self.max_groups,
            partitioner: self.partitioner,
            _marker: std::marker::PhantomData,
        }
    }

    /// Builds the topic and its producer.
    ///
    /// Every size is checked before anything is allocated, and the slots are allocated
    /// fallibly: bad input or too little memory is an error, never a panic or an abort.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::{BuildError, Topic, TopicError};
    ///
    /// assert_eq!(Topic::<u8>::builder("t").partitions(0).build().err(), Some(TopicError::NoPartitions));
    /// assert_eq!(
    ///     Topic::<u8>::builder("t").capacity(100).build().err(),
    ///     Some(TopicError::Ring(BuildError::CapacityNotPowerOfTwo(100)))
    /// );
    /// assert!(matches!(
    ///     Topic::<u8>::builder("t").partitions(u32::MAX).build(),
    ///     Err(TopicError::TooManyPartitions { .. })
    /// ));
    /// ```
    pub fn build(self) -> Result<(Topic<T>, Producer<T>), TopicError> {
        let (topic, writers, router) = self.build_with(false, |ring| ring.build())?;
        Ok((topic, Producer::new(writers, router)))
    }
}

impl<T> TopicBuilder<T, MultiProducer> {
    /// Builds the topic and its first producer handle.
    pub fn build(self) -> Result<(Topic<T>, SharedProducer<T>), TopicError> {
        let (topic, writers, router) =
            self.build_with(true, |ring| ring.multi_producer().build())?;
        Ok((topic, SharedProducer::new(writers, router)))
    }
}
