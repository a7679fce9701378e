//! Consumer groups: every group sees every message; inside a group each partition has exactly
//! one owner at a time.
//!
//! # Design
//!
//! - A group holds, per partition, one ring cursor whose registered value is the group's
//!   **committed offset**. Because the ring gates the writer on it, uncommitted messages stay in
//!   the ring, and a new owner can resume from the commit (I3, I4). Delivery is at-least-once;
//!   [`dedupe`](crate::dedupe) makes processing idempotent.
//! - Who owns what is the assignment table (`table`): one packed `epoch | owner | flags` word per
//!   partition. The data path (poll, commit, ownership check) only loads and CASes those words:
//!   no lock, no allocation.
//! - The **controller** (`controller`) is a lock taken on the control path (join, leave,
//!   eviction, handoff). It computes the target with the group's [`Assignor`] and moves only what
//!   must move, release before acquire: a partition's owner hands it on between batches.
//! - The **supervisor** (`supervisor`), one thread per group, evicts members that stop polling
//!   and owners that keep a revoked partition past its deadline.
//! - The **member** ([`Consumer`]) polls [`Records`], commits, seeks, pauses; its rebalance
//!   callbacks ([`RebalanceListener`]) run on its own thread, inside `poll`.
//!
//! # Liveness
//!
//! - A member that neither polls nor calls [`Consumer::heartbeat`] for `max_poll_interval` is
//!   evicted; so is one that keeps a partition it was asked to hand on for `max_poll_interval`,
//!   heartbeats or not (Kafka's rebalance timeout). Its next poll says `Fenced`; the poll after
//!   joins again.
//! - Dropping a member (or a panic unwinding through it) is a clean leave.
//! - A forgotten batch (`mem::forget` of [`Records`]) keeps its partition until its member is
//!   dropped; the drop frees it, and the batch is delivered again.
//!
//! # Invariants
//! - **I1** a partition changes owner only by CAS on an unleased word, so two members never hold
//!   it at once.
//! - **I4** a member sees a partition's offsets in increasing order; a new owner starts at the
//!   committed offset.
//! - **I5** a commit or seek is done under a lease taken for the member's tenure; after a
//!   revoke the lease CAS fails and the call returns `Fenced`, changing nothing.
//! - **I6** a commit below the committed offset, or beyond what was delivered, is an error; only
//!   [`Consumer::seek`] moves the commit back.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use ringgroup::{RebalanceListener, Consumer, JoinOptions, Topic};
//!
//! /// Commits what was processed when partitions move away.
//! struct CommitOnRevoke;
//! impl RebalanceListener<u64> for CommitOnRevoke {
//!     fn on_revoked(&mut self, consumer: &Consumer<u64>, _partitions: &[u32]) {
//!         consumer.commit().ok();
//!     }
//! }
//!
//! let (topic, mut producer) = Topic::<u64>::builder("t").partitions(2).build()?;
//! let group = topic.group("g").auto_commit(false).build()?;
//! let first = group.join_with(JoinOptions::new().listener(CommitOnRevoke))?;
//! producer.send_to(1, 42)?;
//! drop(first.poll(10, Duration::from_secs(1))?); // owns both partitions, reads 42
//! let second = group.join()?;                      // partition 1 moves to `second`
//! let _ = first.poll(10, Duration::ZERO);          // hands it over, committing in on_revoked
//! assert_eq!(group.metrics().partitions[1].committed, 1);
//! # drop(second);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod assignor;
mod builder;
mod consumer;
mod controller;
mod error;
mod member_id;
mod metrics;
mod offsets;
mod records;
#[cfg(not(ringgroup_loom))]
mod shared_memory;
mod supervisor;
pub(crate) mod table;

pub use assignor::{
    Assignor, AssignorError, ConsistentHashAssignor, MemberInfo, RangeAssignor, RoundRobinAssignor,
    StickyAssignor, WeightedAssignor,
};
pub use builder::{
    Backpressure, Group, GroupBuilder, JoinOptions, DEFAULT_MAX_POLL_INTERVAL,
    DEFAULT_SESSION_TIMEOUT, MAX_GROUP_NAME_LEN, MAX_INSTANCE_ID_LEN,
};
pub use consumer::Consumer;
pub use error::{CommitError, ConsumeError, GroupError, OwnershipError, SeekError};
pub use member_id::MemberId;
pub use metrics::{AssignedPartition, GroupMetrics, PartitionLag, PartitionMetrics};
pub use records::{Record, Records, RecordsIter};

/// Callbacks a member receives when its assignment changes (Kafka's
/// `ConsumerRebalanceListener`). All run on the member's own thread, inside `poll` (and, for
/// `on_revoked`/`on_lost`, when the member is dropped). A callback may commit, seek, pause and
/// ask questions of the consumer; a poll from inside it returns
/// [`ConsumeError::InCallback`].
pub trait RebalanceListener<T>: Send {
    /// Partitions newly assigned to this member (Kafka's `onPartitionsAssigned`).
    fn on_assigned(&mut self, _consumer: &Consumer<T>, _partitions: &[u32]) {}
    /// Partitions about to be handed to another member, or given up because the member is
    /// leaving (Kafka's `onPartitionsRevoked`). Commits are still allowed here.
    fn on_revoked(&mut self, _consumer: &Consumer<T>, _partitions: &[u32]) {}
    /// Partitions taken without a clean revoke: this member was evicted or fenced (Kafka's
    /// `onPartitionsLost`). Commits are no longer possible.
    fn on_lost(&mut self, _consumer: &Consumer<T>, _partitions: &[u32]) {}
}
