//! Group metrics: a snapshot of committed offsets, lag, owners and rebalances, read from atomics
//! only, so taking one never slows the data path.

use std::time::Duration;

use super::MemberId;

/// A snapshot of a group's state, from [`Group::metrics`](crate::Group::metrics).
///
/// # Examples
///
/// ```
/// use ringgroup::Topic;
///
/// let (topic, mut producer) = Topic::<u64>::builder("t").partitions(2).build()?;
/// let group = topic.group("g").build()?;
/// producer.send_to(1, 7)?;
/// let metrics = group.metrics();
/// assert_eq!(metrics.members, 0);
/// assert_eq!(metrics.partitions[1].lag, 1);
/// assert_eq!(metrics.partitions[1].owner, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMetrics {
    /// One entry per partition, in partition order.
    pub partitions: Vec<PartitionMetrics>,
    /// Live members now (of a shared-memory topic's group: in every member process, as each
    /// last recorded its own in the region).
    pub members: usize,
    /// Rebalances so far.
    pub rebalances: u64,
    /// How long the last rebalance took the controller.
    pub last_rebalance: Duration,
}

/// One partition as a group sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionMetrics {
    /// The partition.
    pub partition: u32,
    /// The group's committed offset: the next offset it will read after a restart.
    pub committed: u64,
    /// Published messages not yet committed.
    pub lag: u64,
    /// The owning member, if any (of a shared-memory topic's group: if it is one of this
    /// handle's members).
    pub owner: Option<MemberId>,
    /// The epoch of the current tenure.
    pub epoch: u32,
    /// Messages the group skipped: the writer lapped its cursor while it was detached
    /// ([`Backpressure::Detach`](crate::group::Backpressure::Detach) or
    /// [`Backpressure::Lossy`](crate::group::Backpressure::Lossy)).
    pub skipped: u64,
    /// Offsets of abandoned multi-producer claims (no message; every group skips them).
    pub tombstones: u64,
}

/// A partition a member holds, from [`Consumer::assignment`](crate::Consumer::assignment).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AssignedPartition {
    /// The partition.
    pub partition: u32,
    /// The epoch of this member's tenure on it: a commit is checked against it.
    pub epoch: u32,
    /// True while [`Consumer::pause`](crate::Consumer::pause)d: held, but not polled.
    pub paused: bool,
}

/// A member's lag on one partition, from [`Consumer::lag`](crate::Consumer::lag).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PartitionLag {
    /// The partition.
    pub partition: u32,
    /// Published messages the group has not committed.
    pub lag: u64,
}
