//! ringgroup: Kafka-style consumer groups on one machine, at memory speed.
//!
//! A [`Topic`] is split into partitions; each partition is a cache-padded, lock-free broadcast
//! [ring](ring) that one [`Producer`] writes. Consumer [groups](group) each see every message;
//! inside a group each partition has exactly one owner at a time, so members share the load and
//! per-partition order is kept. Members commit offsets with atomics, and a member whose
//! partition moved away is fenced: its commit is rejected and changes nothing.
//!
//! - [`topic`]: topics, the producer, Kafka-compatible key partitioning ([`partitioner`]).
//! - [`group`]: groups, members ([`Consumer`]), records, commits, rebalances, assignors.
//! - [`ring`]: the partition ring on its own, for single-producer broadcast without groups.
//! - [`dedupe`]: a bounded window that makes at-least-once delivery idempotent.
//! - [`affinity`]: core pinning that survives its own pinning.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use ringgroup::{CommitError, ConsumeError, StickyAssignor, Topic};
//!
//! let (topic, mut producer) = Topic::<String>::builder("orders").partitions(4).build()?;
//! let billing = topic.group("billing").build()?; // auto-commit, range assignor
//! let audit = topic.group("audit").assignor(StickyAssignor).auto_commit(false).build()?;
//! let biller = billing.join()?;
//! let auditor = audit.join()?;
//!
//! // Keys are hashed as Kafka's default partitioner does.
//! let sent = producer.send_keyed("customer-42", "order #1".to_string())?;
//!
//! // Every group sees every record; inside a group each partition has one owner.
//! match biller.poll(100, Duration::from_secs(1)) {
//!     Ok(records) => {
//!         let record = records.iter().next().unwrap();
//!         assert_eq!((record.partition, record.offset), (sent.partition, sent.offset));
//!         assert_eq!(record.value, "order #1");
//!     } // dropping the records commits them (auto-commit)
//!     Err(ConsumeError::Timeout) => println!("nothing yet; holding {:?}", biller.assignment()),
//!     Err(e) => return Err(e.into()),
//! }
//!
//! let records = auditor.poll(100, Duration::from_secs(1))?;
//! let next = records.end_offset();
//! drop(records);
//! auditor.commit_offset(sent.partition, next)?; // explicit, fenced commit
//! assert!(matches!(auditor.commit_offset(sent.partition, 0), Err(CommitError::Behind { .. })));
//! assert_eq!(auditor.committed(sent.partition), Some(next));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(unsafe_op_in_unsafe_fn, missing_docs, missing_debug_implementations)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod affinity;
pub mod dedupe;
pub mod group;
pub mod partitioner;
pub mod producer_group;
pub mod ring;
pub mod shm;
mod sync;
pub mod topic;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use affinity::AffinityError;
pub use dedupe::{DedupeError, DedupeWindow};
pub use group::{
    AssignedPartition, Assignor, AssignorError, Backpressure, CommitError, ConsistentHashAssignor,
    ConsumeError, Consumer, Group, GroupBuilder, GroupError, GroupMetrics, JoinOptions, MemberId,
    OwnershipError, PartitionLag, PartitionMetrics, RangeAssignor, RebalanceListener, Record,
    Records, RoundRobinAssignor, SeekError, StickyAssignor, WeightedAssignor,
};
pub use partitioner::{Partitioner, RouteError};
pub use ring::{
    BuildError, ClaimError, PollError, PublishError, StartAt, SubscribeError, WaitStrategy,
};
pub use topic::{
    PartitionWriter, Producer, ProducerRecord, RecordMetadata, SendError, SharedProducer, Topic,
    TopicBuilder, TopicError,
};
