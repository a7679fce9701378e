//! The ring's errors. Each is an enum that says what went wrong and, where a value was handed
//! in, hands it back (`PublishError::Full(value)`).

use std::fmt;

use crate::shm::Corruption;

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
    /// `max_readers` exceeds [`MAX_READERS`](crate::ring::MAX_READERS).
    TooManyReaders {
        /// What was asked for.
        requested: usize,
        /// The largest number of readers a ring supports.
        max: usize,
    },
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
            BuildError::TooManyReaders { requested, max } => {
                write!(f, "max_readers {requested} exceeds the maximum of {max}")
            }
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
    /// The ring lives in a shared-memory region whose words another process corrupted: the
    /// region is poisoned for this process, and nothing more is published to it.
    Corrupt(T, Corruption),
}

impl<T> PublishError<T> {
    /// The message that was not published.
    pub fn into_inner(self) -> T {
        match self {
            PublishError::Full(v) | PublishError::Timeout(v) | PublishError::Corrupt(v, _) => v,
        }
    }
}

impl<T> fmt::Debug for PublishError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::Full(_) => f.write_str("Full(..)"),
            PublishError::Timeout(_) => f.write_str("Timeout(..)"),
            PublishError::Corrupt(_, corruption) => f
                .debug_tuple("Corrupt")
                .field(&"..")
                .field(corruption)
                .finish(),
        }
    }
}

impl<T> fmt::Display for PublishError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::Full(_) => write!(f, "ring is full: the slowest reader has not released"),
            PublishError::Timeout(_) => write!(f, "timed out waiting for space in the ring"),
            PublishError::Corrupt(..) => write!(f, "the ring's shared-memory region is corrupt"),
        }
    }
}

impl<T> std::error::Error for PublishError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PublishError::Corrupt(_, corruption) => Some(corruption),
            _ => None,
        }
    }
}

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
    /// The ring's shared-memory region is corrupt (see [`PublishError::Corrupt`]).
    Corrupt(Corruption),
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
            ClaimError::Corrupt(_) => write!(f, "the ring's shared-memory region is corrupt"),
        }
    }
}

impl std::error::Error for ClaimError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClaimError::Corrupt(corruption) => Some(corruption),
            _ => None,
        }
    }
}

impl From<Corruption> for ClaimError {
    fn from(corruption: Corruption) -> Self {
        ClaimError::Corrupt(corruption)
    }
}

/// Why a poll returned no batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollError {
    /// Nothing new is published yet.
    Empty,
    /// A timed poll waited out its timeout.
    Timeout,
    /// The writer is gone and every message has been read.
    Closed,
    /// The ring lives in a shared-memory region whose words another process corrupted: nothing
    /// past the corrupt word is lent, and the region is poisoned for this process (every later
    /// poll of it says so too).
    Corrupt(Corruption),
}

impl fmt::Display for PollError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PollError::Empty => write!(f, "no message is available yet"),
            PollError::Timeout => write!(f, "timed out waiting for a message"),
            PollError::Closed => write!(f, "the writer is closed and every message was read"),
            PollError::Corrupt(_) => write!(f, "the ring's shared-memory region is corrupt"),
        }
    }
}

impl std::error::Error for PollError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PollError::Corrupt(corruption) => Some(corruption),
            _ => None,
        }
    }
}

impl From<Corruption> for PollError {
    fn from(corruption: Corruption) -> Self {
        PollError::Corrupt(corruption)
    }
}

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
    /// The ring's shared-memory region is corrupt (see [`PollError::Corrupt`]).
    Corrupt(Corruption),
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
            SubscribeError::Corrupt(_) => write!(f, "the ring's shared-memory region is corrupt"),
        }
    }
}

impl std::error::Error for SubscribeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SubscribeError::Corrupt(corruption) => Some(corruption),
            _ => None,
        }
    }
}

impl From<Corruption> for SubscribeError {
    fn from(corruption: Corruption) -> Self {
        SubscribeError::Corrupt(corruption)
    }
}
