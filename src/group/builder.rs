//! Building a group, and the [`Group`] handle members join through.
//!
//! [`Topic::group`](crate::Topic::group) is defined here, beside the builder it returns, so the
//! topic layer never imports the group layer (dependencies run ring ← topic ← group).

use std::time::Duration;

use crossbeam_utils::CachePadded;

use super::assignor::{Assignor, RangeAssignor};
use super::consumer::Consumer;
use super::controller::{Control, GroupInner, Liveness};
use super::error::GroupError;
use super::metrics::GroupMetrics;
use super::supervisor::SupervisorHandle;
use super::table::PartitionEntry;
use super::{MemberId, RebalanceListener};
use crate::ring::group_cursor::GroupCursor;
use crate::ring::StartAt;
use crate::sync::{Arc, AtomicU64, Mutex};
use crate::topic::Topic;

/// The default `session_timeout`: 45 seconds, as Kafka's `session.timeout.ms`.
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(45);

/// The default `max_poll_interval`: five minutes, as Kafka's `max.poll.interval.ms`.
pub const DEFAULT_MAX_POLL_INTERVAL: Duration = Duration::from_secs(300);

/// The longest consumer group name, in bytes (Kafka's limit for names). Any other non-empty
/// UTF-8 string is a valid name. A group on a shared-memory topic records its name in the
/// region, where the limit is the stricter [`MAX_GROUP_NAME`](crate::shm::MAX_GROUP_NAME).
///
/// # Examples
///
/// ```
/// use ringgroup::group::MAX_GROUP_NAME_LEN;
/// use ringgroup::{GroupError, Topic};
///
/// let (topic, _producer) = Topic::<u8>::builder("t").build()?;
/// assert!(topic.group("g".repeat(MAX_GROUP_NAME_LEN)).build().is_ok());
/// assert_eq!(
///     topic.group("g".repeat(MAX_GROUP_NAME_LEN + 1)).build().err(),
///     Some(GroupError::NameTooLong { max: MAX_GROUP_NAME_LEN })
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const MAX_GROUP_NAME_LEN: usize = 249;

/// The longest static member instance id ([`Group::join_static`]), in bytes: Kafka's limit for
/// `group.instance.id`. Any other non-empty UTF-8 string is a valid id.
///
/// # Examples
///
/// ```
/// use ringgroup::group::MAX_INSTANCE_ID_LEN;
/// use ringgroup::{GroupError, JoinOptions, Topic};
///
/// let (topic, _producer) = Topic::<u8>::builder("t").build()?;
/// let group = topic.group("g").build()?;
/// let long = "i".repeat(MAX_INSTANCE_ID_LEN + 1);
/// assert_eq!(
///     group.join_static(long, JoinOptions::new()).err(),
///     Some(GroupError::InstanceIdTooLong { max: MAX_INSTANCE_ID_LEN })
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const MAX_INSTANCE_ID_LEN: usize = 249;

impl<T: Send + Sync + 'static> Topic<T> {
    /// Starts configuring a consumer group named `name` (1 to [`MAX_GROUP_NAME_LEN`] bytes,
    /// checked by `build`) on this topic. A group sees every message; inside it, each
    /// partition has one owner at a time.
    ///
    /// A group's committed offsets gate the producer: a message stays in the ring until every
    /// group has committed it, so no group loses a message (lossless back-pressure). A group
    /// that stops committing, or has no members, therefore stops the producer once the ring is
    /// full, for every group.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::{StickyAssignor, Topic};
    ///
    /// let (topic, _producer) = Topic::<u64>::builder("orders").partitions(4).build()?;
    /// let group = topic.group("billing").assignor(StickyAssignor).auto_commit(false).build()?;
    /// assert_eq!(group.name(), "billing");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn group(&self, name: impl Into<String>) -> GroupBuilder<T> {
        GroupBuilder {
            topic: self.clone(),
            name: name.into(),
            start: StartAt::Earliest,
            assignor: Box::new(RangeAssignor),
            max_poll_interval: DEFAULT_MAX_POLL_INTERVAL,
            session_timeout: DEFAULT_SESSION_TIMEOUT,
            auto_commit: true,
            backpressure: Backpressure::Block,
        }
    }
}

/// What a group does to the producer when it falls behind, or has no members to read.
///
/// A group's committed offsets gate the topic's producer: a message stays in the ring until
/// every group has committed it. Kafka keeps messages for a time or a size instead, so a Kafka
/// consumer group that stops reading never stops the producer; here each group says which it
/// wants.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ringgroup::{group::Backpressure, Topic};
///
/// let (topic, mut producer) = Topic::<u64>::builder("t").capacity(4).build()?;
/// let _audit = topic.group("audit").build()?; // Block: lossless
/// let metrics = topic.group("metrics").backpressure(Backpressure::Lossy).build()?;
/// # drop(_audit);
/// for value in 0..100 {
///     producer.send(value)?; // a lossy group with no members never stops the producer
/// }
/// assert_eq!(metrics.metrics().partitions[0].lag, 100);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backpressure {
    /// Lossless (the default): the producer waits (or `try_send` fails) until the group has
    /// committed the slot it needs. A group with no members stops the producer once the ring
    /// is full; so does a member that stops committing.
    #[default]
    Block,
    /// Lossless until the group stalls: when it has not committed on a partition for `after`
    /// (above zero; `Duration::MAX`: never) while the ring is full, it stops gating that
    /// partition. The producer goes on; when the group reads again it resumes at the earliest
    /// message the ring still holds, and the ones it missed are counted in
    /// [`PartitionMetrics::skipped`](crate::PartitionMetrics). Reading gates the producer
    /// again.
    Detach {
        /// How long a full ring may wait on the group's commit.
        after: Duration,
    },
    /// Never gates between batches (Agrona's broadcast receiver): the producer keeps below the
    /// group's commit while it can, but laps it rather than wait, and a lapped member jumps
    /// ahead, counting what it skipped. The records of a lent batch are never overwritten.
    Lossy,
}

/// Configures a consumer group. Created by [`Topic::group`](crate::Topic::group).
#[derive(Debug)]
#[must_use]
pub struct GroupBuilder<T> {
    topic: Topic<T>,
    name: String,
    start: StartAt,
    assignor: Box<dyn Assignor>,
    max_poll_interval: Duration,
    session_timeout: Duration,
    auto_commit: bool,
    backpressure: Backpressure,
}

impl<T: Send + Sync + 'static> GroupBuilder<T> {
    /// Where a new group starts on every partition (default: the earliest retained offset, as
    /// Kafka's `auto.offset.reset=earliest`).
    pub fn start(mut self, start: StartAt) -> Self {
        self.start = start;
        self
    }

    /// The assignor (default: range, as Kafka's).
    pub fn assignor(mut self, assignor: impl Assignor) -> Self {
        self.assignor = Box::new(assignor);
        self
    }

    /// How long a member may go without polling or heartbeating before it is evicted, and how
    /// long it may keep a partition after being asked to hand it on (the revoke deadline).
    /// Default [`DEFAULT_MAX_POLL_INTERVAL`] (5 minutes, as Kafka). Above zero; any longer
    /// interval is accepted (`Duration::MAX`: never evict).
    pub fn max_poll_interval(mut self, interval: Duration) -> Self {
        self.max_poll_interval = interval;
        self
    }

    /// How long a static member (one that joined with [`Group::join_static`]) that left
    /// keeps its partitions for its return (Kafka's `session.timeout.ms`; default
    /// [`DEFAULT_SESSION_TIMEOUT`], 45 s). Its partitions are not read meanwhile; after it, they
    /// are given to the others. Zero: a static member's leave rebalances at once, as a dynamic
    /// one's. Any longer timeout is accepted (`Duration::MAX`: keep them for good).
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.session_timeout = timeout;
        self
    }

    /// Auto-commit (default on, as Kafka's `enable.auto.commit`): a batch is committed when the
    /// caller drops it, after processing it.
    pub fn auto_commit(mut self, on: bool) -> Self {
        self.auto_commit = on;
        self
    }

    /// What the group does to the producer when it falls behind (default
    /// [`Backpressure::Block`]: lossless).
    pub fn backpressure(mut self, backpressure: Backpressure) -> Self {
        self.backpressure = backpressure;
        self
    }

    /// Creates the group: one cursor per partition at the start position, and its supervisor
    /// thread.
    ///
    /// On a shared-memory topic the group lives in the region: the first build of the name (in
    /// any process) creates it at the start position; every later build, in this process or
    /// another, joins the same group as another member process and shares its partitions and
    /// committed offsets (the start position then does not apply). See the README's "Several
    /// processes" section.
    pub fn build(self) -> Result<Group<T>, GroupError> {
        if self.name.is_empty() {
            return Err(GroupError::EmptyName);
        }
        if self.name.len() > MAX_GROUP_NAME_LEN {
            return Err(GroupError::NameTooLong {
                max: MAX_GROUP_NAME_LEN,
            });
        }
        if self.max_poll_interval.is_zero() {
            return Err(GroupError::ZeroPollInterval);
        }
        if matches!(self.backpressure, Backpressure::Detach { after } if after.is_zero()) {
            return Err(GroupError::ZeroDetachTime);
        }
        #[cfg_attr(ringgroup_loom, allow(unused_variables))]
        let (registration, cursors) = self.cursors()?;
        let shared = registration.is_some();
        let entries = self
            .topic
            .subscribers()
            .iter()
            .zip(cursors)
            .map(|(ring, mut cursor)| {
                if shared {
                    // A shared-memory group's mode was set under the registry lock.
                } else if self.backpressure == Backpressure::Lossy {
                    cursor.detach();
                } else {
                    cursor.attach();
                }
                PartitionEntry::new(ring.clone(), cursor)
            })
            .collect::<Vec<_>>();
        let inner = Arc::new(GroupInner {
            #[cfg(not(ringgroup_loom))]
            shared: registration,
            name: self.name,
            control: Mutex::new(Control::new(entries.len(), shared)),
            entries: entries.into_boxed_slice(),
            strategy: self.topic.wait_strategy(),
            epoch: CachePadded::new(AtomicU64::new(0)),
            assignor: self.assignor,
            max_poll_interval: self.max_poll_interval,
            session_timeout: self.session_timeout,
            auto_commit: self.auto_commit,
            backpressure: self.backpressure,
            rebalances: AtomicU64::new(0),
            last_rebalance_ns: AtomicU64::new(0),
            supervisor: SupervisorHandle::new(),
            extension: self.topic.extension().clone(),
        });
        #[cfg(not(ringgroup_loom))]
        {
            let mut tick = SupervisorHandle::tick(
                inner.max_poll_interval,
                inner.session_timeout,
                inner.backpressure,
            );
            if shared {
                tick = tick.min(super::shared_memory::SYNC_EVERY);
            }
            inner.supervisor.spawn(Arc::downgrade(&inner), tick)?;
        }
        Ok(Group { inner })
    }
}

/// A consumer group on one topic. Cheap to clone; members join through [`Group::join`].
///
/// # Examples
///
/// ```
/// use ringgroup::Topic;
///
/// let (topic, mut producer) = Topic::<u64>::builder("orders").partitions(2).build()?;
/// let group = topic.group("billing").build()?;
/// let member = group.join()?;
/// producer.send_to(0, 7)?;
/// let records = member.poll(16, std::time::Duration::from_secs(1))?;
/// let record = records.iter().next().unwrap();
/// assert_eq!((record.partition, record.offset, *record.value), (0, 0, 7));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Group<T> {
    pub(super) inner: Arc<GroupInner<T>>,
}

impl<T> Clone for Group<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Group<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("name", &self.inner.name)
            .field("partitions", &self.inner.entries.len())
            .finish()
    }
}

/// Options for [`Group::join_with`].
///
/// # Examples
///
/// ```
/// use ringgroup::{JoinOptions, Topic, WeightedAssignor};
///
/// let (topic, _producer) = Topic::<u64>::builder("t").partitions(3).build()?;
/// let group = topic.group("g").assignor(WeightedAssignor).build()?;
/// let big = group.join_with(JoinOptions::new().weight(2))?;
/// let small = group.join()?;
/// big.poll(1, std::time::Duration::ZERO).ok();
/// assert_eq!(big.assignment().len(), 2);
/// # drop(small);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct JoinOptions<T> {
    /// Capacity weight for the weighted assignor (default 1; 0 counts as 1; any `u32` is
    /// accepted, up to `u32::MAX`).
    pub weight: u32,
    /// Rebalance callbacks.
    pub listener: Option<Box<dyn RebalanceListener<T>>>,
}

impl<T> JoinOptions<T> {
    /// Weight 1, no listener.
    pub fn new() -> Self {
        Self {
            weight: 1,
            listener: None,
        }
    }

    /// Sets the capacity weight.
    pub fn weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// Sets the rebalance listener.
    pub fn listener(mut self, listener: impl RebalanceListener<T> + 'static) -> Self {
        self.listener = Some(Box::new(listener));
        self
    }
}

impl<T> Default for JoinOptions<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> std::fmt::Debug for JoinOptions<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinOptions")
            .field("weight", &self.weight)
            .field("listener", &self.listener.is_some())
            .finish()
    }
}

impl<T: Send + Sync + 'static> Group<T> {
    /// Joins as a new member with weight 1 and no listener.
    pub fn join(&self) -> Result<Consumer<T>, GroupError> {
        self.join_with(JoinOptions::default())
    }

    /// Joins as a new member. The member picks up its partitions on its first poll.
    pub fn join_with(&self, options: JoinOptions<T>) -> Result<Consumer<T>, GroupError> {
        self.join_inner(options, None)
    }

    /// Joins as static member `instance_id` (Kafka's `group.instance.id`: 1 to
    /// [`MAX_INSTANCE_ID_LEN`] bytes), with `options`. When a static member leaves (its handle
    /// is dropped), its partitions stay its own, unread, for the group's
    /// [`session_timeout`](GroupBuilder::session_timeout): a member that joins with the same id
    /// within it gets them back, at their commits, and no other partition moves. A join with
    /// the id of a member that is still here fences that member (its next call says `Fenced`)
    /// and takes its partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ringgroup::{JoinOptions, Topic};
    ///
    /// let (topic, _producer) = Topic::<u64>::builder("t").partitions(4).build()?;
    /// let group = topic.group("g").build()?;
    /// let a = group.join_static("worker-a", JoinOptions::new())?;
    /// let b = group.join()?;
    /// for m in [&a, &b] { let _ = m.poll(1, Duration::ZERO); }
    /// for m in [&a, &b] { let _ = m.poll(1, Duration::ZERO); } // handoffs done
    /// let before: Vec<u32> = a.assignment().iter().map(|p| p.partition).collect();
    /// drop(a); // a restart: its partitions wait for it
    /// let a = group.join_static("worker-a", JoinOptions::new())?;
    /// let _ = a.poll(1, Duration::ZERO);
    /// let after: Vec<u32> = a.assignment().iter().map(|p| p.partition).collect();
    /// assert_eq!(before, after);
    /// # drop(b);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join_static(
        &self,
        instance_id: impl Into<String>,
        options: JoinOptions<T>,
    ) -> Result<Consumer<T>, GroupError> {
        let instance_id = instance_id.into();
        if instance_id.is_empty() {
            return Err(GroupError::EmptyInstanceId);
        }
        if instance_id.len() > MAX_INSTANCE_ID_LEN {
            return Err(GroupError::InstanceIdTooLong {
                max: MAX_INSTANCE_ID_LEN,
            });
        }
        self.join_inner(options, Some(instance_id))
    }

    fn join_inner(
        &self,
        options: JoinOptions<T>,
        instance: Option<String>,
    ) -> Result<Consumer<T>, GroupError> {
        let liveness = Arc::new(Liveness::new());
        let id = self
            .inner
            .add_member(options.weight, liveness.clone(), instance.clone())?;
        Ok(Consumer::new(
            self.inner.clone(),
            id,
            liveness,
            options.weight,
            instance,
            options.listener,
        ))
    }

    /// Evicts `member` now, as the supervisor does for one that stopped polling. Its
    /// partitions move as soon as it holds no batch; its next call is fenced. Returns false if
    /// no such member is in the group.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::{CommitError, Topic};
    ///
    /// let (topic, _producer) = Topic::<u64>::builder("t").build()?;
    /// let group = topic.group("g").auto_commit(false).build()?;
    /// let member = group.join()?;
    /// let _ = member.poll(1, std::time::Duration::ZERO); // picks up partition 0
    /// assert!(group.evict(member.id()));
    /// assert!(matches!(member.commit_offset(0, 0), Err(CommitError::Fenced { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn evict(&self, member: MemberId) -> bool {
        let mut control = self.inner.lock();
        if !control.evict(member.get()) {
            return false;
        }
        self.inner.rebalance(&mut control);
        true
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The topic's partition count.
    pub fn partitions(&self) -> u32 {
        self.inner.entries.len() as u32
    }

    /// True when the group commits a batch as it is dropped
    /// ([`GroupBuilder::auto_commit`], Kafka's `enable.auto.commit`).
    pub fn auto_commits(&self) -> bool {
        self.inner.auto_commit
    }

    /// Per-partition committed offset, lag, owner and epoch, plus member and rebalance counts.
    /// Reads atomics only (and the control lock for the member count); never slows the data
    /// path.
    pub fn metrics(&self) -> GroupMetrics {
        self.inner.metrics()
    }
}

impl<T: Send + Sync + 'static> GroupBuilder<T> {
    /// The group's cursor on each partition, and, on a shared-memory topic, its membership of
    /// the group in the region (adopting the group's cursors if it exists).
    #[allow(clippy::type_complexity)]
    fn cursors(&self) -> Result<(Registration, Vec<GroupCursor<T>>), GroupError> {
        #[cfg(not(ringgroup_loom))]
        if let Some(region) = self.topic.region() {
            let (registration, cursors) = super::shared_memory::cursors(
                region,
                self.topic.subscribers(),
                &self.name,
                self.start,
                self.backpressure == Backpressure::Lossy,
            )?;
            return Ok((Some(registration), cursors));
        }
        let cursors = self
            .topic
            .subscribers()
            .iter()
            .enumerate()
            .map(|(partition, ring)| {
                GroupCursor::register(ring, self.start).map_err(|source| GroupError::Subscribe {
                    partition: partition as u32,
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((None, cursors))
    }
}

/// A shared-memory group's membership of its registry entry (nothing for a heap topic).
#[cfg(not(ringgroup_loom))]
type Registration = Option<super::shared_memory::SharedGroup>;
#[cfg(ringgroup_loom)]
type Registration = Option<()>;
