//! ringgroup: Kafka-style consumer groups for one process, at memory speed.
//!
//! A topic is split into partitions; each partition is a cache-padded, lock-free,
//! single-producer broadcast [`ring`]. This crate version provides the ring, its wait
//! strategies and core pinning ([`affinity`]).
//!
//! # Examples
//!
//! ```
//! use ringgroup::ring::{Ring, StartAt, WaitStrategy};
//!
//! let (mut writer, subscriber) = Ring::<u64>::builder()
//!     .capacity(256)
//!     .wait_strategy(WaitStrategy::SpinThenPark)
//!     .build()?;
//! let mut a = subscriber.subscribe(StartAt::Earliest)?;
//! let mut b = subscriber.subscribe(StartAt::Earliest)?;
//! writer.publish_batch(0..100);
//! // Both readers see every message (broadcast).
//! assert_eq!(a.poll(1000)?.len(), 100);
//! assert_eq!(b.poll(1000)?.iter().sum::<u64>(), 4950);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod affinity;
pub mod dedupe;
mod error;
pub mod group;
pub mod partitioner;
pub mod ring;
#[doc(hidden)]
pub mod sync;
pub mod topic;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use error::{
    BuildError, ClaimError, CommitError, ConsumeError, GroupError, PollError, PublishError,
    SendError, SubscribeError, TopicError,
};
