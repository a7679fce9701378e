//! Error types. Each is an enum that says what went wrong and, where a value was handed in,
//! hands it back (`PublishError::Full(value)`).

use std::fmt;

/// Why a ring or topic could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// Capacity 0 was asked for.
    ZeroCapacity,
    /// The capacity is not a power of two (offsets map to slots by masking).
    CapacityNotPowerOfTwo(usize),
    /// The capacity exceeds the largest supported ring.
    CapacityTooLarge {
        /// What was asked for.
        requested: usize,
        /// The largest capacity allowed for this message type.
        max: usize,
    },
    /// `max_readers` was 0.
    ZeroReaders,
    /// The memory for the slots could not be allocated.
    AllocationFailed {
        /// Bytes asked for.
        bytes: usize,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::ZeroCapacity => write!(f, "capacity must be at least 1"),
            BuildError::CapacityNotPowerOfTwo(c) => {
                write!(f, "capacity {c} is not a power of two")
            }
            BuildError::CapacityTooLarge { requested, max } => {
                write!(f, "capacity {requested} exceeds the maximum of {max}")
            }
            BuildError::ZeroReaders => write!(f, "max_readers must be at least 1"),
            BuildError::AllocationFailed { bytes } => {
                write!(f, "could not allocate {bytes} bytes for the ring's slots")
            }
        }
    }
}

impl std::error::Error for BuildError {}

/// Why a message was not published. The message is handed back.
#[derive(Clone, PartialEq, Eq)]
pub enum PublishError<T> {
    /// The ring is full: the slowest reader still holds the slot this message needs.
    Full(T),
    /// A blocking publish waited out its timeout.
    Timeout(T),
}

impl<T> PublishError<T> {
    /// The message that was not published.
    pub fn into_inner(self) -> T {
        match self {
            PublishError::Full(v) | PublishError::Timeout(v) => v,
        }
    }
}

impl<T> fmt::Debug for PublishError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::Full(_) => f.write_str("Full(..)"),
            PublishError::Timeout(_) => f.write_str("Timeout(..)"),
        }
    }
}

impl<T> fmt::Display for PublishError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::Full(_) => write!(f, "ring is full: the slowest reader has not released"),
            PublishError::Timeout(_) => write!(f, "timed out waiting for space in the ring"),
        }
    }
}

impl<T> std::error::Error for PublishError<T> {}

/// Why a claim of slots failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimError {
    /// Fewer slots are free than were asked for.
    Full,
    /// More slots were asked for than the ring holds.
    TooLarge {
        /// Slots asked for.
        requested: usize,
        /// The ring's capacity.
        capacity: usize,
    },
    /// A blocking claim waited out its timeout.
    Timeout,
}

impl fmt::Display for ClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClaimError::Full => write!(f, "not enough free slots in the ring"),
            ClaimError::TooLarge {
                requested,
                capacity,
            } => write!(
                f,
                "claim of {requested} slots exceeds the capacity {capacity}"
            ),
            ClaimError::Timeout => write!(f, "timed out waiting for free slots"),
        }
    }
}

impl std::error::Error for ClaimError {}

/// Why a poll returned no batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollError {
    /// Nothing new is published yet.
    Empty,
    /// A timed poll waited out its timeout.
    Timeout,
    /// The writer is gone and every message has been read.
    Closed,
}

impl fmt::Display for PollError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PollError::Empty => write!(f, "no message is available yet"),
            PollError::Timeout => write!(f, "timed out waiting for a message"),
            PollError::Closed => write!(f, "the writer is closed and every message was read"),
        }
    }
}

impl std::error::Error for PollError {}

/// Why a reader could not be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscribeError {
    /// The requested offset has already been overwritten.
    NotRetained {
        /// The offset asked for.
        requested: u64,
        /// The earliest offset still retained.
        earliest: u64,
    },
    /// The requested offset has not been published yet.
    OutOfRange {
        /// The offset asked for.
        requested: u64,
        /// The next offset to be published.
        latest: u64,
    },
    /// Every reader slot is taken (see `max_readers`).
    TooManyReaders {
        /// The ring's reader limit.
        max: usize,
    },
    /// The writer is gone; no new reader may join.
    Closed,
}

impl fmt::Display for SubscribeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubscribeError::NotRetained {
                requested,
                earliest,
            } => write!(
                f,
                "offset {requested} is no longer retained (earliest is {earliest})"
            ),
            SubscribeError::OutOfRange { requested, latest } => write!(
                f,
                "offset {requested} is beyond the next offset to publish ({latest})"
            ),
            SubscribeError::TooManyReaders { max } => {
                write!(f, "all {max} reader slots are taken")
            }
            SubscribeError::Closed => write!(f, "the ring is closed"),
        }
    }
}

impl std::error::Error for SubscribeError {}

/// Why a topic could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopicError {
    /// A topic needs at least one partition.
    NoPartitions,
    /// The name is empty.
    EmptyName,
    /// A partition's ring could not be built.
    Ring(BuildError),
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopicError::NoPartitions => write!(f, "a topic needs at least one partition"),
            TopicError::EmptyName => write!(f, "a topic needs a name"),
            TopicError::Ring(e) => write!(f, "partition ring: {e}"),
        }
    }
}

impl std::error::Error for TopicError {}

/// Why a message was not sent. The message is handed back.
#[derive(Clone, PartialEq, Eq)]
pub enum SendError<T> {
    /// No such partition.
    UnknownPartition {
        /// The partition asked for.
        partition: u32,
        /// How many the topic has.
        partitions: u32,
        /// The message.
        value: T,
    },
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::UnknownPartition {
                partition,
                partitions,
                ..
            } => write!(
                f,
                "UnknownPartition {{ partition: {partition}, partitions: {partitions}, .. }}"
            ),
        }
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::UnknownPartition {
                partition,
                partitions,
                ..
            } => write!(
                f,
                "partition {partition} does not exist (the topic has {partitions})"
            ),
        }
    }
}

impl<T> std::error::Error for SendError<T> {}

/// Why a group could not be created or joined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupError {
    /// `max_poll_interval` was zero.
    ZeroPollInterval,
    /// The group's cursor on a partition could not be registered.
    Subscribe {
        /// The partition.
        partition: u32,
        /// Why.
        source: SubscribeError,
    },
    /// The group has used up its 2^24 - 1 member ids.
    TooManyJoins,
}

impl fmt::Display for GroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupError::ZeroPollInterval => write!(f, "max_poll_interval must be above zero"),
            GroupError::Subscribe { partition, source } => {
                write!(
                    f,
                    "cannot start the group on partition {partition}: {source}"
                )
            }
            GroupError::TooManyJoins => write!(f, "the group has run out of member ids"),
        }
    }
}

impl std::error::Error for GroupError {}

/// Why a member's poll returned no batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsumeError {
    /// Nothing arrived within the timeout.
    Timeout,
    /// This member was evicted (it stopped polling for `max_poll_interval`); its partitions
    /// went to others. Drop it and join again.
    Fenced,
    /// The producer is gone and this member's partitions are drained.
    Closed,
}

impl fmt::Display for ConsumeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsumeError::Timeout => write!(f, "no message within the timeout"),
            ConsumeError::Fenced => write!(f, "this member was evicted from its group"),
            ConsumeError::Closed => write!(f, "the producer is gone and every message was read"),
        }
    }
}

impl std::error::Error for ConsumeError {}

/// Why a commit or seek was rejected. A rejected call changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitError {
    /// This member's tenure on the partition ended (revoked, lost or evicted).
    Fenced {
        /// The partition.
        partition: u32,
        /// The epoch of the tenure that ended.
        epoch: u32,
    },
    /// This member does not own the partition.
    NotOwned {
        /// The partition.
        partition: u32,
    },
    /// No such partition.
    UnknownPartition {
        /// The partition.
        partition: u32,
    },
    /// The offset is beyond what this member has polled.
    BeyondPolled {
        /// The partition.
        partition: u32,
        /// The offset asked for.
        offset: u64,
        /// The limit.
        polled: u64,
    },
    /// The offset is below the committed one; commits never move back (seek does).
    Behind {
        /// The partition.
        partition: u32,
        /// The offset asked for.
        offset: u64,
        /// The committed offset.
        committed: u64,
    },
    /// A seek beyond the next offset to be published.
    BeyondLatest {
        /// The partition.
        partition: u32,
        /// The offset asked for.
        offset: u64,
        /// The next offset to be published.
        latest: u64,
    },
    /// A seek back to an offset the ring no longer holds.
    Seek {
        /// The partition.
        partition: u32,
        /// Why.
        source: SubscribeError,
    },
}

impl fmt::Display for CommitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommitError::Fenced { partition, epoch } => write!(
                f,
                "fenced: this member no longer owns partition {partition} (tenure epoch {epoch})"
            ),
            CommitError::NotOwned { partition } => {
                write!(f, "this member does not own partition {partition}")
            }
            CommitError::UnknownPartition { partition } => {
                write!(f, "partition {partition} does not exist")
            }
            CommitError::BeyondPolled {
                partition,
                offset,
                polled,
            } => write!(
                f,
                "offset {offset} on partition {partition} is beyond {polled}"
            ),
            CommitError::Behind {
                partition,
                offset,
                committed,
            } => write!(
                f,
                "offset {offset} on partition {partition} is below the committed {committed}"
            ),
            CommitError::BeyondLatest {
                partition,
                offset,
                latest,
            } => write!(
                f,
                "offset {offset} on partition {partition} is beyond the next to be published ({latest})"
            ),
            CommitError::Seek { partition, source } => {
                write!(f, "cannot seek partition {partition}: {source}")
            }
        }
    }
}

impl std::error::Error for CommitError {}
