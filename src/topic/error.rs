//! The topic layer's errors: building a topic, and sending to it.

use std::fmt;

use crate::partitioner::RouteError;
use crate::ring::BuildError;
use crate::shm::Corruption;

/// Why a topic could not be built.
///
/// # Examples
///
/// ```
/// use ringgroup::{Topic, TopicError};
///
/// let err = Topic::<u8>::builder("t").partitions(0).build().unwrap_err();
/// assert_eq!(err, TopicError::NoPartitions);
/// assert_eq!(err.to_string(), "a topic needs at least one partition");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopicError {
    /// A topic needs at least one partition.
    NoPartitions,
    /// More partitions than [`MAX_PARTITIONS`](crate::topic::MAX_PARTITIONS) were asked for.
    TooManyPartitions {
        /// What was asked for.
        requested: u32,
        /// The largest partition count a topic supports.
        max: u32,
    },
    /// The name is empty.
    EmptyName,
    /// The name is longer than [`MAX_TOPIC_NAME_LEN`](crate::topic::MAX_TOPIC_NAME_LEN) bytes.
    NameTooLong {
        /// The longest name, in bytes.
        max: usize,
    },
    /// The rings would take more than [`MAX_TOPIC_BYTES`](crate::topic::MAX_TOPIC_BYTES)
    /// together (partitions × the bytes of one ring).
    TooLarge {
        /// What the rings would take (saturated at `u64::MAX`).
        bytes: u64,
        /// The most a topic's rings may take.
        max: u64,
    },
    /// A partition's ring could not be built (bad capacity or reader count, or no memory).
    Ring(BuildError),
    /// The shared-memory region could not be created or opened.
    #[cfg(not(ringgroup_loom))]
    Region(crate::shm::RegionError),
    /// The producer of this shared-memory topic belongs to a process that is still alive.
    ProducerAlive {
        /// That process.
        pid: u32,
    },
    /// The topic's producer closed it.
    Closed,
    /// Only a single-producer topic in shared memory has a producer to take over.
    NotSharedMemory,
    /// The topic's shared-memory region holds a word that cannot be true (another process
    /// wrote it); the region is poisoned for this process.
    Corrupt(Corruption),
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopicError::NoPartitions => write!(f, "a topic needs at least one partition"),
            TopicError::TooManyPartitions { requested, max } => {
                write!(f, "{requested} partitions exceed the maximum of {max}")
            }
            TopicError::EmptyName => write!(f, "a topic needs a name"),
            TopicError::NameTooLong { max } => write!(f, "a topic name is at most {max} bytes"),
            TopicError::TooLarge { bytes, max } => write!(
                f,
                "the topic's rings would take {bytes} bytes, above the maximum of {max}"
            ),
            TopicError::Ring(_) => write!(f, "a partition's ring could not be built"),
            #[cfg(not(ringgroup_loom))]
            TopicError::Region(_) => write!(f, "the shared-memory region is unusable"),
            TopicError::ProducerAlive { pid } => {
                write!(f, "the topic's producer belongs to live process {pid}")
            }
            TopicError::Closed => write!(f, "the topic's producer closed it"),
            TopicError::NotSharedMemory => {
                write!(
                    f,
                    "only a single-producer shared-memory topic has a producer to take over"
                )
            }
            TopicError::Corrupt(_) => write!(f, "the topic's shared-memory region is corrupt"),
        }
    }
}

impl std::error::Error for TopicError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TopicError::Ring(source) => Some(source),
            #[cfg(not(ringgroup_loom))]
            TopicError::Region(source) => Some(source),
            TopicError::Corrupt(source) => Some(source),
            _ => None,
        }
    }
}

#[cfg(not(ringgroup_loom))]
impl From<crate::shm::RegionError> for TopicError {
    fn from(source: crate::shm::RegionError) -> Self {
        TopicError::Region(source)
    }
}

impl From<Corruption> for TopicError {
    fn from(source: Corruption) -> Self {
        TopicError::Corrupt(source)
    }
}

impl From<BuildError> for TopicError {
    fn from(source: BuildError) -> Self {
        TopicError::Ring(source)
    }
}

/// Why a record was not sent. The value is handed back.
///
/// # Examples
///
/// ```
/// use ringgroup::{ProducerRecord, SendError, Topic};
///
/// let (_topic, mut producer) = Topic::<u32>::builder("t").partitions(2).capacity(1).build()?;
/// let err = producer.send(ProducerRecord::new(7).partition(5)).unwrap_err();
/// assert!(matches!(err, SendError::UnknownPartition { partition: 5, partitions: 2, .. }));
/// assert_eq!(err.into_inner(), 7);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum SendError<T> {
    /// The partition is full now: its slowest group has not committed the slot the record
    /// needs ([`try_send`](crate::Producer::try_send)).
    Full(T),
    /// The partition stayed full for the whole timeout
    /// ([`send_timeout`](crate::Producer::send_timeout)).
    Timeout(T),
    /// No such partition.
    UnknownPartition {
        /// The partition asked for.
        partition: u32,
        /// How many the topic has (valid ones are `0..partitions`).
        partitions: u32,
        /// The record's value.
        value: T,
    },
    /// The topic's partitioner could not place the record (a key-hash partitioner and no key,
    /// or an explicit partitioner and no partition).
    Unroutable {
        /// Why.
        source: RouteError,
        /// The record's value.
        value: T,
    },
    /// The topic's shared-memory region is corrupt (another process wrote a word that cannot
    /// be true): it is poisoned for this process, and nothing more is sent to it.
    Corrupt {
        /// The word found corrupt.
        source: Corruption,
        /// The record's value.
        value: T,
    },
}

impl<T> SendError<T> {
    /// The same error with the value mapped (for wrappers of a topic's message type).
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> SendError<U> {
        match self {
            SendError::Full(value) => SendError::Full(f(value)),
            SendError::Timeout(value) => SendError::Timeout(f(value)),
            SendError::UnknownPartition {
                partition,
                partitions,
                value,
            } => SendError::UnknownPartition {
                partition,
                partitions,
                value: f(value),
            },
            SendError::Unroutable { source, value } => SendError::Unroutable {
                source,
                value: f(value),
            },
            SendError::Corrupt { source, value } => SendError::Corrupt {
                source,
                value: f(value),
            },
        }
    }

    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            SendError::Full(value)
            | SendError::Timeout(value)
            | SendError::UnknownPartition { value, .. }
            | SendError::Unroutable { value, .. }
            | SendError::Corrupt { value, .. } => value,
        }
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Full(_) => f.write_str("Full(..)"),
            SendError::Timeout(_) => f.write_str("Timeout(..)"),
            SendError::UnknownPartition {
                partition,
                partitions,
                ..
            } => f
                .debug_struct("UnknownPartition")
                .field("partition", partition)
                .field("partitions", partitions)
                .finish_non_exhaustive(),
            SendError::Unroutable { source, .. } => f
                .debug_struct("Unroutable")
                .field("source", source)
                .finish_non_exhaustive(),
            SendError::Corrupt { source, .. } => f
                .debug_struct("Corrupt")
                .field("source", source)
                .finish_non_exhaustive(),
        }
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Full(_) => write!(f, "the partition is full"),
            SendError::Timeout(_) => write!(f, "timed out waiting for space in the partition"),
            SendError::UnknownPartition {
                partition,
                partitions,
                ..
            } => write!(
                f,
                "partition {partition} does not exist (the topic has {partitions})"
            ),
            SendError::Unroutable { .. } => write!(f, "the record could not be routed"),
            SendError::Corrupt { .. } => write!(f, "the topic's shared-memory region is corrupt"),
        }
    }
}

impl<T> std::error::Error for SendError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SendError::Unroutable { source, .. } => Some(source),
            SendError::Corrupt { source, .. } => Some(source),
            _ => None,
        }
    }
}
