//! Building a producer group on a request topic, the [`ProducerGroup`] handle members join
//! through, and its metrics.

use std::time::Duration;

use super::error::ProducerGroupError;
use super::message::{Reply, Request};
use super::registry::{
    GroupShared, MemberCounters, ReplyRegistry, Settings, SlotWords, MAX_PRODUCER_GROUPS,
};
use super::requester::{self, Requester};
use crate::group::MemberId;
use crate::ring::block::Geometry;
use crate::sync::StdArc;
use crate::topic::{SharedProducer, Topic};

/// The longest producer group name, in bytes (Kafka's limit for names). Any other non-empty
/// UTF-8 string is a valid name. On a request topic in shared memory, where the region
/// records the name, the limit is the stricter
/// [`MAX_SHARED_PRODUCER_GROUP_NAME`](super::MAX_SHARED_PRODUCER_GROUP_NAME).
///
/// # Examples
///
/// ```
/// use ringgroup::producer_group::{ProducerGroupError, Request, MAX_PRODUCER_GROUP_NAME_LEN};
/// use ringgroup::Topic;
///
/// let (topic, _producer) = Topic::<Request<u8, u8>>::builder("t").multi_producer().build()?;
/// assert!(topic.producer_group("p".repeat(MAX_PRODUCER_GROUP_NAME_LEN)).build().is_ok());
/// assert_eq!(
///     topic.producer_group("p".repeat(MAX_PRODUCER_GROUP_NAME_LEN + 1)).build().err(),
///     Some(ProducerGroupError::NameTooLong { max: MAX_PRODUCER_GROUP_NAME_LEN })
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const MAX_PRODUCER_GROUP_NAME_LEN: usize = 249;

/// The most member slots a producer group can have: one reply ring each, as many as a topic
/// has partitions (a group in shared memory keeps its reply rings as the partitions of a
/// topic).
///
/// # Examples
///
/// ```
/// use ringgroup::producer_group::{ProducerGroupError, Request, MAX_PRODUCER_GROUP_MEMBERS};
/// use ringgroup::Topic;
///
/// let (topic, _producer) = Topic::<Request<u8, u8>>::builder("t").multi_producer().build()?;
/// assert_eq!(
///     topic.producer_group("p").max_members(MAX_PRODUCER_GROUP_MEMBERS + 1).build().err(),
///     Some(ProducerGroupError::TooManyMembers { max: MAX_PRODUCER_GROUP_MEMBERS })
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const MAX_PRODUCER_GROUP_MEMBERS: usize = crate::topic::MAX_PARTITIONS as usize;

/// The most requests one member may have waiting for replies at once (`max_pending`): its
/// correlation table, allocated when it joins, has a ticket (and room for a parked reply) for
/// each.
///
/// # Examples
///
/// ```
/// use ringgroup::producer_group::{ProducerGroupError, Request, MAX_PENDING_PER_MEMBER};
/// use ringgroup::Topic;
///
/// let (topic, _producer) = Topic::<Request<u8, u8>>::builder("t").multi_producer().build()?;
/// assert_eq!(
///     topic.producer_group("p").max_pending(usize::MAX).build().err(),
///     Some(ProducerGroupError::MaxPendingTooLarge {
///         requested: usize::MAX,
///         max: MAX_PENDING_PER_MEMBER,
///     })
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const MAX_PENDING_PER_MEMBER: usize = 1 << 20;

/// The most memory, in bytes, a producer group may take with every member slot joined (256
/// GiB, as a topic's [`MAX_TOPIC_BYTES`](crate::topic::MAX_TOPIC_BYTES)): per member slot,
/// its reply ring (control words, stamps and `reply_capacity` slots), its slot words and its
/// correlation table of `max_pending` tickets. It refuses absurd products of sizes that are
/// each within bounds.
///
/// # Examples
///
/// ```
/// use ringgroup::producer_group::{
///     ProducerGroupError, Request, MAX_PRODUCER_GROUP_BYTES, MAX_PRODUCER_GROUP_MEMBERS,
/// };
/// use ringgroup::{ring::MAX_CAPACITY, Topic};
///
/// let (topic, _producer) = Topic::<Request<u8, u8>>::builder("t").multi_producer().build()?;
/// let err = topic
///     .producer_group("p")
///     .max_members(MAX_PRODUCER_GROUP_MEMBERS)
///     .reply_capacity(MAX_CAPACITY)
///     .build()
///     .unwrap_err();
/// assert!(matches!(err, ProducerGroupError::TooLarge { max: MAX_PRODUCER_GROUP_BYTES, .. }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const MAX_PRODUCER_GROUP_BYTES: u64 = crate::topic::MAX_TOPIC_BYTES;

/// The longest `reply_wait` a group keeps: `u64::MAX` nanoseconds (about 584 years), the most a
/// region records.
const MAX_REPLY_WAIT: Duration = Duration::from_nanos(u64::MAX);

impl<Q, R> Topic<Request<Q, R>>
where
    Q: Send + Sync + 'static,
    R: Send + Sync + 'static,
{
    /// Starts configuring a producer group named `name` (1 to [`MAX_PRODUCER_GROUP_NAME_LEN`]
    /// bytes, checked by `build`) on this request topic: members that send requests and get
    /// their replies back through the queue. The topic must be multi-producer (many members
    /// send to one partition, many consumers answer one member).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ringgroup::producer_group::Request;
    /// use ringgroup::Topic;
    ///
    /// let (topic, _producer) =
    ///     Topic::<Request<u64, u64>>::builder("squares").multi_producer().build()?;
    /// let workers = topic.group("workers").build()?;
    /// let clients = topic.producer_group("clients").build()?;
    /// let client = clients.join()?;
    /// let worker = workers.join()?;
    ///
    /// let pending = client.request(b"k", 7)?;
    /// let records = worker.poll(8, Duration::from_secs(1))?;
    /// for record in &records {
    ///     records.reply(&record, record.value.value * record.value.value)?;
    /// }
    /// drop(records);
    /// assert_eq!(pending.wait(Duration::from_secs(1))?, 49);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn producer_group(&self, name: impl Into<String>) -> ProducerGroupBuilder<Q, R> {
        ProducerGroupBuilder {
            topic: self.clone(),
            name: name.into(),
            max_members: 16,
            reply_capacity: 1024,
            max_pending: 1024,
            reply_wait: Duration::from_millis(1),
        }
    }
}

/// Configures a producer group. Created by [`Topic::producer_group`](crate::Topic).
#[derive(Debug)]
#[must_use]
pub struct ProducerGroupBuilder<Q, R> {
    topic: Topic<Request<Q, R>>,
    name: String,
    max_members: usize,
    reply_capacity: usize,
    max_pending: usize,
    reply_wait: Duration,
}

impl<Q, R> ProducerGroupBuilder<Q, R>
where
    Q: Send + Sync + 'static,
    R: Send + Sync + 'static,
{
    /// How many members may be in the group at once (default 16): 1 to
    /// [`MAX_PRODUCER_GROUP_MEMBERS`]. Each has a reply ring; all together take at most
    /// [`MAX_PRODUCER_GROUP_BYTES`].
    pub fn max_members(mut self, max: usize) -> Self {
        self.max_members = max;
        self
    }

    /// Replies each member's reply ring holds (default 1024): a power of two, at most
    /// [`MAX_CAPACITY`](crate::ring::MAX_CAPACITY). The ring carries the parts of streams,
    /// duplicates and every reply of a group in shared memory; in a heap group a lone, final
    /// reply lands in its ticket's own cell instead (one per pending request, never full).
    pub fn reply_capacity(mut self, capacity: usize) -> Self {
        self.reply_capacity = capacity;
        self
    }

    /// Requests a member may have waiting for replies at once: the bound of its correlation
    /// table (default 1024), 1 to [`MAX_PENDING_PER_MEMBER`]. In a heap group, each member slot
    /// gets a reply cell per ticket at its first join (see [`reply_capacity`](Self::reply_capacity)).
    pub fn max_pending(mut self, max: usize) -> Self {
        self.max_pending = max;
        self
    }

    /// How long a consumer's reply waits for room in a requester's full reply ring before it
    /// is dropped and counted (default 1 ms; zero: never wait). A requester that stops
    /// draining its replies thus costs each consumer at most this per reply. Any duration is
    /// accepted; one above `u64::MAX` nanoseconds (about 584 years) is cut to that.
    pub fn reply_wait(mut self, wait: Duration) -> Self {
        self.reply_wait = wait;
        self
    }

    /// Creates the group (its member slots and their reply rings), or joins the topic's group of
    /// this name, built earlier in this process or, on a topic in shared memory, in any process;
    /// then its settings must match ([`ProducerGroupError::Mismatch`]).
    ///
    /// Every size is checked before anything is allocated (see each setting's maximum), and
    /// the reply rings are allocated fallibly: bad input or too little memory is an error,
    /// never a panic or an abort.
    pub fn build(self) -> Result<ProducerGroup<Q, R>, ProducerGroupError> {
        self.validate()?;
        if !self.topic.is_multi_producer() {
            return Err(ProducerGroupError::NotMultiProducer);
        }
        let producer = self.topic.producer().ok_or(ProducerGroupError::Closed)?;
        let extension = self.topic.extension();
        #[cfg(not(ringgroup_loom))]
        let region = self.topic.region().cloned();
        let registry = extension.get_or_init(|| {
            #[cfg(not(ringgroup_loom))]
            return StdArc::new(ReplyRegistry::<R>::new(region));
            #[cfg(ringgroup_loom)]
            StdArc::new(ReplyRegistry::<R>::new())
        });
        // The topic's message type names `R`, so its registry is always a `ReplyRegistry<R>`.
        let registry = registry
            .downcast_ref::<ReplyRegistry<R>>()
            .ok_or(ProducerGroupError::NotMultiProducer)?;
        let settings = Settings {
            name: self.name,
            max_members: self.max_members,
            reply_capacity: self.reply_capacity,
            reply_wait: self.reply_wait.min(MAX_REPLY_WAIT),
            strategy: self.topic.wait_strategy(),
        };
        #[cfg(not(ringgroup_loom))]
        if let Some(region) = registry.region() {
            let shared = super::shared_memory::build(registry, region, settings)?;
            return Ok(ProducerGroup {
                shared,
                producer,
                max_pending: self.max_pending,
            });
        }
        let shared = registry
            .register(settings)?
            .ok_or(ProducerGroupError::TooManyGroups {
                max: MAX_PRODUCER_GROUPS,
            })?;
        Ok(ProducerGroup {
            shared,
            producer,
            max_pending: self.max_pending,
        })
    }
}

impl<Q, R> ProducerGroupBuilder<Q, R> {
    /// Checks the name and every size against its maximum, and their product against
    /// [`MAX_PRODUCER_GROUP_BYTES`].
    fn validate(&self) -> Result<(), ProducerGroupError> {
        if self.name.is_empty() {
            return Err(ProducerGroupError::EmptyName);
        }
        if self.name.len() > MAX_PRODUCER_GROUP_NAME_LEN {
            return Err(ProducerGroupError::NameTooLong {
                max: MAX_PRODUCER_GROUP_NAME_LEN,
            });
        }
        if self.max_members == 0 || self.max_pending == 0 {
            return Err(ProducerGroupError::ZeroSize);
        }
        if self.max_members > MAX_PRODUCER_GROUP_MEMBERS {
            return Err(ProducerGroupError::TooManyMembers {
                max: MAX_PRODUCER_GROUP_MEMBERS,
            });
        }
        if self.max_pending > MAX_PENDING_PER_MEMBER {
            return Err(ProducerGroupError::MaxPendingTooLarge {
                requested: self.max_pending,
                max: MAX_PENDING_PER_MEMBER,
            });
        }
        crate::ring::validate_capacity::<Reply<R>>(self.reply_capacity)?;
        // As `MemberSlot::new` builds it: multi-producer, two reader slots.
        let ring = Geometry::of::<Reply<R>>(self.reply_capacity, 2, true, false)?;
        let member = requester::table_bytes::<R>(self.max_pending)
            .and_then(|table| table.checked_add(ring.size() + size_of::<SlotWords>()))
            .map_or(u64::MAX, |bytes| bytes as u64);
        let bytes = (self.max_members as u64).saturating_mul(member);
        if bytes > MAX_PRODUCER_GROUP_BYTES {
            return Err(ProducerGroupError::TooLarge {
                bytes,
                max: MAX_PRODUCER_GROUP_BYTES,
            });
        }
        Ok(())
    }
}

/// A producer group on one request topic. Cheap to clone; members join through
/// [`ProducerGroup::join`].
pub struct ProducerGroup<Q, R> {
    shared: StdArc<GroupShared<R>>,
    producer: SharedProducer<Request<Q, R>>,
    /// The bound of each member's correlation table.
    max_pending: usize,
}

impl<Q, R> Clone for ProducerGroup<Q, R> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            producer: self.producer.clone(),
            max_pending: self.max_pending,
        }
    }
}

impl<Q, R> std::fmt::Debug for ProducerGroup<Q, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerGroup")
            .field("name", &self.shared.name)
            .field("max_members", &self.shared.slots.len())
            .finish()
    }
}

impl<Q, R> ProducerGroup<Q, R>
where
    Q: Send + Sync + 'static,
    R: Send + Sync + Clone + 'static,
{
    /// Joins as a new member: a producer with its own id, counters and reply ring.
    pub fn join(&self) -> Result<Requester<Q, R>, ProducerGroupError> {
        Requester::join(self.shared.clone(), self.producer.clone(), self.max_pending)
    }
}

impl<Q, R> ProducerGroup<Q, R> {
    /// The group's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Per-member counters and the group's reply counters (relaxed atomics only). For a group
    /// in shared memory: the members of every process, after freeing the slots of processes
    /// confirmed dead.
    pub fn metrics(&self) -> ProducerGroupMetrics {
        let table = &self.shared.table;
        table.free_dead();
        let members = table
            .slots()
            .iter()
            .filter(|slot| slot.is_held())
            .map(RequesterMetrics::of)
            .collect();
        let group = table.group();
        ProducerGroupMetrics {
            members,
            replies_sent: self.shared.replies_sent(),
            replies_to_gone: MemberCounters::read(&group.replies_to_gone),
            replies_dropped: MemberCounters::read(&group.replies_dropped),
        }
    }
}

/// A snapshot of a producer group, from [`ProducerGroup::metrics`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducerGroupMetrics {
    /// The members now in the group.
    pub members: Vec<RequesterMetrics>,
    /// Replies consumers published to the group's members.
    pub replies_sent: u64,
    /// Replies dropped because their requester had left (counted on the consumer side).
    pub replies_to_gone: u64,
    /// Replies dropped because their requester's reply ring stayed full for `reply_wait`.
    pub replies_dropped: u64,
}

/// One member's counters, from [`ProducerGroup::metrics`] or
/// [`Requester::metrics`](super::Requester::metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequesterMetrics {
    /// The member.
    pub id: MemberId,
    /// Requests and messages it sent.
    pub sent: u64,
    /// Replies delivered to it (the first of each part).
    pub replies_received: u64,
    /// Waits for a reply that timed out.
    pub replies_timed_out: u64,
    /// Replies to a part it already had (a request redelivered after a rebalance and answered
    /// twice): dropped, never handed to the caller twice.
    pub duplicates: u64,
    /// Replies to a request no longer pending (its ticket was dropped, or an earlier member of
    /// the slot asked): dropped.
    pub late: u64,
    /// Replies dropped because the member's buffer of replies for other tickets was full.
    pub overflowed: u64,
}

impl RequesterMetrics {
    pub(super) fn of(slot: &super::registry::SlotWords) -> Self {
        let c = &slot.counters;
        Self {
            id: MemberId::from(slot.member()),
            sent: MemberCounters::read(&c.sent),
            replies_received: MemberCounters::read(&c.received),
            replies_timed_out: MemberCounters::read(&c.timed_out),
            duplicates: MemberCounters::read(&c.duplicates),
            late: MemberCounters::read(&c.late),
            overflowed: MemberCounters::read(&c.overflowed),
        }
    }
}
