//! A bridge between ringgroup topics and Kafka, for when one machine is no longer enough: the
//! same topics flow to and from Kafka with the same key partitioning (ringgroup hashes keys as
//! Kafka's Java client does) and at-least-once delivery end to end.
//!
//! - [`Sink`] (ringgroup to Kafka): a member of a ringgroup consumer group that produces what it
//!   polls to a Kafka topic and commits its ringgroup offsets only once Kafka acknowledged every
//!   record below them.
//! - [`Source`] (Kafka to ringgroup): a member of a Kafka consumer group that publishes what it
//!   consumes into a ringgroup topic and commits Kafka offsets once the records are published,
//!   or once given ringgroup groups committed past them ([`CommitPolicy`]).
//! - A [`Codec`] turns messages into keys and payloads and back; [`KeyedBytes`] and
//!   [`BytesCodec`] serve byte topics.
//!
//! The core `ringgroup` crate has no Kafka dependency; this crate adds it (librdkafka, through
//! the `rdkafka` crate, built from its bundled sources).
//!
//! # Example
//!
//! ```no_run
//! use ringgroup::Topic;
//! use ringgroup_kafka::{BytesCodec, KeyedBytes, Sink};
//!
//! let (topic, mut producer) = Topic::<KeyedBytes>::builder("orders").partitions(4).build()?;
//! let group = topic.group("to-kafka").auto_commit(false).build()?;
//! let mut sink = Sink::builder(&group, BytesCodec)
//!     .brokers("127.0.0.1:9092")
//!     .kafka_topic("orders")
//!     .build()?;
//! producer.send_keyed("customer-7", KeyedBytes::new(b"customer-7", b"order 1"))?;
//! while sink.metrics().committed < 1 {
//!     sink.step(std::time::Duration::from_millis(10))?;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod codec;
mod error;
mod inline;
mod local_broker;
mod sink;
mod source;

pub use codec::{BytesCodec, Codec, CodecError, KeyedBytes};
pub use error::BridgeError;
pub use inline::{InlineCodec, InlineRecord};
pub use local_broker::LocalBroker;

/// The record type of the `ringgroup-kafka` command's topics: a key of up to 64 bytes and a
/// payload of up to 448 (512 bytes in all).
pub type BridgeRecord = InlineRecord<64, 448>;
pub use sink::{PartitionMapping, Sink, SinkBuilder, SinkMetrics};
pub use source::{CommitPolicy, Publisher, Source, SourceBuilder, SourceMetrics};
