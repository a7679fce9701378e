//! The producer-group layer's errors: building and joining a group, sending a request, waiting
//! for a reply, and replying.

use std::fmt;

use crate::ring::BuildError;
use crate::shm::Corruption;
use crate::topic::{SendError, TopicError};

/// Why a producer group could not be built or joined.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProducerGroupError {
    /// The group name is empty.
    EmptyName,
    /// Requests need many producers per partition: build the topic with
    /// [`TopicBuilder::multi_producer`](crate::TopicBuilder::multi_producer).
    NotMultiProducer,
    /// The topic already has [`MAX_PRODUCER_GROUPS`](super::MAX_PRODUCER_GROUPS) groups
    /// (a topic in shared memory: `MAX_SHARED_PRODUCER_GROUPS`).
    TooManyGroups {
        /// The limit.
        max: usize,
    },
    /// `max_members` or `max_pending` was zero.
    ZeroSize,
    /// `max_pending` is above
    /// [`MAX_PENDING_PER_MEMBER`](super::MAX_PENDING_PER_MEMBER).
    MaxPendingTooLarge {
        /// What was asked for.
        requested: usize,
        /// The limit.
        max: usize,
    },
    /// The group would take more than
    /// [`MAX_PRODUCER_GROUP_BYTES`](super::MAX_PRODUCER_GROUP_BYTES) with every member slot
    /// joined (its reply rings and correlation tables).
    TooLarge {
        /// What it would take (saturated at `u64::MAX`).
        bytes: u64,
        /// The limit.
        max: u64,
    },
    /// A member's correlation table (`max_pending` tickets) could not be allocated when it
    /// joined.
    AllocationFailed {
        /// Bytes asked for.
        bytes: usize,
    },
    /// Every member slot is taken (see `max_members`).
    Full {
        /// The group's member limit.
        max: usize,
    },
    /// The topic has closed (its last producer handle is gone).
    Closed,
    /// A member's reply ring could not be built (bad capacity, or no memory).
    Ring(BuildError),
    /// The name is longer than
    /// [`MAX_PRODUCER_GROUP_NAME_LEN`](super::MAX_PRODUCER_GROUP_NAME_LEN) bytes, or, on a
    /// request topic in shared memory, than the region records
    /// ([`MAX_SHARED_PRODUCER_GROUP_NAME`](super::MAX_SHARED_PRODUCER_GROUP_NAME) bytes).
    NameTooLong {
        /// The limit.
        max: usize,
    },
    /// `max_members` is above
    /// [`MAX_PRODUCER_GROUP_MEMBERS`](super::MAX_PRODUCER_GROUP_MEMBERS) (one reply ring
    /// each).
    TooManyMembers {
        /// The limit.
        max: usize,
    },
    /// The group exists (built by another process, or earlier) with another setting: build it
    /// with the same one.
    Mismatch {
        /// The setting: `max_members`, `reply_capacity` or `reply_wait (ns)`.
        what: &'static str,
        /// Its value in the group (`reply_wait` in nanoseconds).
        found: u64,
    },
    /// The group's reply region could not be made or opened.
    SharedMemory(TopicError),
    /// A word of the topic's region (its producer-group directory) or of the group's reply
    /// region holds a value that cannot be true; the region is poisoned for this process.
    Corrupt(Corruption),
}

impl fmt::Display for ProducerGroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProducerGroupError::EmptyName => write!(f, "a producer group needs a name"),
            ProducerGroupError::NotMultiProducer => {
                write!(f, "a producer group needs a multi-producer topic")
            }
            ProducerGroupError::TooManyGroups { max } => {
                write!(f, "the topic already has {max} producer groups")
            }
            ProducerGroupError::ZeroSize => {
                write!(f, "max_members and max_pending must be above zero")
            }
            ProducerGroupError::MaxPendingTooLarge { requested, max } => {
                write!(f, "max_pending {requested} exceeds the maximum of {max}")
            }
            ProducerGroupError::TooLarge { bytes, max } => write!(
                f,
                "the group would take {bytes} bytes, above the maximum of {max}"
            ),
            ProducerGroupError::AllocationFailed { bytes } => {
                write!(
                    f,
                    "could not allocate {bytes} bytes for a member's correlation table"
                )
            }
            ProducerGroupError::Full { max } => write!(f, "all {max} member slots are taken"),
            ProducerGroupError::Closed => write!(f, "the topic is closed"),
            ProducerGroupError::Ring(_) => write!(f, "a reply ring could not be built"),
            ProducerGroupError::NameTooLong { max } => {
                write!(f, "a producer group name is at most {max} bytes")
            }
            ProducerGroupError::TooManyMembers { max } => {
                write!(f, "a producer group has at most {max} member slots")
            }
            ProducerGroupError::Mismatch { what, found } => write!(
                f,
                "the group exists in the region with {what} = {found}; build it with the same"
            ),
            ProducerGroupError::SharedMemory(_) => {
                write!(f, "the group's reply region could not be made or opened")
            }
            ProducerGroupError::Corrupt(_) => {
                write!(f, "the group's shared-memory region is corrupt")
            }
        }
    }
}

impl std::error::Error for ProducerGroupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProducerGroupError::Ring(source) => Some(source),
            ProducerGroupError::SharedMemory(source) => Some(source),
            ProducerGroupError::Corrupt(source) => Some(source),
            _ => None,
        }
    }
}

impl From<TopicError> for ProducerGroupError {
    fn from(source: TopicError) -> Self {
        ProducerGroupError::SharedMemory(source)
    }
}

impl From<Corruption> for ProducerGroupError {
    fn from(source: Corruption) -> Self {
        ProducerGroupError::Corrupt(source)
    }
}

impl From<BuildError> for ProducerGroupError {
    fn from(source: BuildError) -> Self {
        ProducerGroupError::Ring(source)
    }
}

/// Why a request was not sent. The value is handed back.
#[derive(Clone, PartialEq, Eq)]
pub enum RequestError<Q> {
    /// Every ticket of this member's correlation table is in use (see `max_pending`): wait for
    /// (or drop) a pending reply first.
    TooManyPending(Q),
    /// The topic refused the request.
    Send(SendError<Q>),
}

impl<Q> RequestError<Q> {
    /// The request that was not sent.
    pub fn into_inner(self) -> Q {
        match self {
            RequestError::TooManyPending(value) => value,
            RequestError::Send(error) => error.into_inner(),
        }
    }
}

impl<Q> fmt::Debug for RequestError<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::TooManyPending(_) => f.write_str("TooManyPending(..)"),
            RequestError::Send(error) => f.debug_tuple("Send").field(error).finish(),
        }
    }
}

impl<Q> fmt::Display for RequestError<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::TooManyPending(_) => {
                write!(f, "every ticket of the correlation table is in use")
            }
            RequestError::Send(_) => write!(f, "the request could not be sent"),
        }
    }
}

impl<Q: 'static> std::error::Error for RequestError<Q> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RequestError::Send(error) => Some(error),
            RequestError::TooManyPending(_) => None,
        }
    }
}

/// Why a wait for a reply returned none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitError {
    /// No reply within the timeout (counted in the member's `timed_out`).
    Timeout,
    /// The last reply of the request was already taken.
    Finished,
    /// The group's reply region holds a word that cannot be true (another process wrote it);
    /// it is poisoned for this process.
    Corrupt(Corruption),
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitError::Timeout => write!(f, "no reply within the timeout"),
            WaitError::Finished => write!(f, "every reply of the request was taken"),
            WaitError::Corrupt(_) => write!(f, "the group's reply region is corrupt"),
        }
    }
}

impl std::error::Error for WaitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WaitError::Corrupt(source) => Some(source),
            _ => None,
        }
    }
}

impl From<Corruption> for WaitError {
    fn from(source: Corruption) -> Self {
        WaitError::Corrupt(source)
    }
}

/// Why a reply was not delivered. The value is handed back; the group counts the drop.
#[derive(Clone, PartialEq, Eq)]
pub enum ReplyError<R> {
    /// The record is not a request that wants a reply (or names a producer group this topic
    /// does not have).
    NoRoute(R),
    /// The member that asked has left the group: the reply is dropped, never sent to another.
    RequesterGone(R),
    /// The requester's reply ring stayed full for the group's `reply_wait`: it is not
    /// draining its replies, and the reply is dropped rather than stall this consumer.
    Full(R),
    /// The stream of replies was already finished.
    Finished(R),
    /// The requester's reply region holds a word that cannot be true (another process wrote
    /// it); it is poisoned for this process and the reply is not sent.
    Corrupt(R, Corruption),
}

impl<R> ReplyError<R> {
    /// The reply that was not delivered.
    pub fn into_inner(self) -> R {
        match self {
            ReplyError::NoRoute(value)
            | ReplyError::RequesterGone(value)
            | ReplyError::Full(value)
            | ReplyError::Finished(value)
            | ReplyError::Corrupt(value, _) => value,
        }
    }
}

impl<R> fmt::Debug for ReplyError<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReplyError::NoRoute(_) => "NoRoute(..)",
            ReplyError::RequesterGone(_) => "RequesterGone(..)",
            ReplyError::Full(_) => "Full(..)",
            ReplyError::Finished(_) => "Finished(..)",
            ReplyError::Corrupt(..) => "Corrupt(..)",
        })
    }
}

impl<R> fmt::Display for ReplyError<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::NoRoute(_) => write!(f, "the record is not a request awaiting a reply"),
            ReplyError::RequesterGone(_) => write!(f, "the requester has left its group"),
            ReplyError::Full(_) => write!(f, "the requester's reply ring stayed full"),
            ReplyError::Finished(_) => write!(f, "the reply stream is finished"),
            ReplyError::Corrupt(..) => write!(f, "the requester's reply region is corrupt"),
        }
    }
}

impl<R> std::error::Error for ReplyError<R> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReplyError::Corrupt(_, source) => Some(source),
            _ => None,
        }
    }
}
