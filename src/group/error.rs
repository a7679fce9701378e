//! The group layer's errors: building and joining a group, polling, committing, seeking, and
//! asking about one partition. Each says what happened; a rejected call changes nothing.

use std::fmt;

use crate::ring::SubscribeError;
use crate::shm::Corruption;
use crate::sync::StdArc;

/// Why a group could not be created or joined.
///
/// # Examples
///
/// ```
/// use ringgroup::{GroupError, Topic};
///
/// let (topic, _producer) = Topic::<u8>::builder("t").build()?;
/// assert_eq!(topic.group("").build().err(), Some(GroupError::EmptyName));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub enum GroupError {
    /// The group name is empty.
    EmptyName,
    /// `max_poll_interval` was zero.
    ZeroPollInterval,
    /// `Backpressure::Detach` was given a zero time.
    ZeroDetachTime,
    /// The group's cursor on a partition could not be registered (for example every reader
    /// slot of the partition is taken: see `TopicBuilder::max_groups`).
    Subscribe {
        /// The partition.
        partition: u32,
        /// Why.
        source: SubscribeError,
    },
    /// Every member id is held by a live member handle (2^24 - 1 of them).
    TooManyMembers {
        /// How many member handles a group can have at once.
        max: u32,
    },
    /// The group's supervisor thread (which evicts stalled members) could not be started.
    SupervisorSpawn {
        /// What the operating system said.
        source: StdArc<std::io::Error>,
    },
    /// A newer member joined with this static member's instance id
    /// ([`Group::join_static`](crate::Group::join_static)) while it was still here: this one is
    /// fenced for good (Kafka's fenced instance id).
    FencedInstance {
        /// The instance id.
        instance_id: String,
    },
    /// (Shared-memory topics) a live process, this one or another, is a member of the group
    /// ([`Topic::delete_group`](crate::Topic::delete_group) deletes only a group whose
    /// processes are all gone).
    HeldByProcess {
        /// A member process.
        pid: u32,
    },
    /// (Shared-memory topics) the group has as many member processes (group handles, in any
    /// process) as the region records.
    TooManyProcesses {
        /// The most a group has at once.
        max: usize,
    },
    /// (Shared-memory topics) the region's record of the group is damaged: the group's cursor
    /// on a partition is missing.
    CorruptRegistry {
        /// The partition.
        partition: u32,
    },
    /// (Shared-memory topics) every group entry of the region is in use.
    TooManyGroups {
        /// How many groups the region records (`TopicBuilder::max_groups`).
        max: usize,
    },
    /// The group name is longer than
    /// [`MAX_GROUP_NAME_LEN`](crate::group::MAX_GROUP_NAME_LEN) bytes, or, on a shared-memory
    /// topic, than the region records ([`MAX_GROUP_NAME`](crate::shm::MAX_GROUP_NAME)).
    NameTooLong {
        /// The longest name, in bytes.
        max: usize,
    },
    /// A static member's instance id ([`Group::join_static`](crate::Group::join_static)) is
    /// empty.
    EmptyInstanceId,
    /// A static member's instance id is longer than
    /// [`MAX_INSTANCE_ID_LEN`](crate::group::MAX_INSTANCE_ID_LEN) bytes.
    InstanceIdTooLong {
        /// The longest instance id, in bytes.
        max: usize,
    },
    /// (Shared-memory topics) a word of the region holds a value that cannot be true (another
    /// process wrote it); the region is poisoned for this process.
    Corrupt(Corruption),
}

impl PartialEq for GroupError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (GroupError::EmptyName, GroupError::EmptyName)
            | (GroupError::EmptyInstanceId, GroupError::EmptyInstanceId)
            | (GroupError::ZeroPollInterval, GroupError::ZeroPollInterval)
            | (GroupError::ZeroDetachTime, GroupError::ZeroDetachTime) => true,
            (
                GroupError::Subscribe { partition, source },
                GroupError::Subscribe {
                    partition: p,
                    source: s,
                },
            ) => partition == p && source == s,
            (GroupError::TooManyMembers { max }, GroupError::TooManyMembers { max: m }) => max == m,
            (GroupError::HeldByProcess { pid }, GroupError::HeldByProcess { pid: p }) => pid == p,
            (
                GroupError::FencedInstance { instance_id },
                GroupError::FencedInstance { instance_id: i },
            ) => instance_id == i,
            (GroupError::TooManyGroups { max }, GroupError::TooManyGroups { max: m })
            | (GroupError::NameTooLong { max }, GroupError::NameTooLong { max: m })
            | (GroupError::InstanceIdTooLong { max }, GroupError::InstanceIdTooLong { max: m })
            | (GroupError::TooManyProcesses { max }, GroupError::TooManyProcesses { max: m }) => {
                max == m
            }
            (
                GroupError::CorruptRegistry { partition },
                GroupError::CorruptRegistry { partition: p },
            ) => partition == p,
            (GroupError::SupervisorSpawn { source }, GroupError::SupervisorSpawn { source: s }) => {
                source.kind() == s.kind()
            }
            (GroupError::Corrupt(corruption), GroupError::Corrupt(c)) => corruption == c,
            _ => false,
        }
    }
}

impl Eq for GroupError {}

impl fmt::Display for GroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupError::EmptyName => write!(f, "a group needs a name"),
            GroupError::ZeroPollInterval => write!(f, "max_poll_interval must be above zero"),
            GroupError::ZeroDetachTime => write!(f, "a detach time must be above zero"),
            GroupError::Subscribe { partition, .. } => {
                write!(f, "cannot start the group on partition {partition}")
            }
            GroupError::TooManyMembers { max } => {
                write!(f, "the group already has {max} member handles")
            }
            GroupError::SupervisorSpawn { .. } => {
                write!(f, "cannot start the group's supervisor thread")
            }
            GroupError::FencedInstance { instance_id } => {
                write!(f, "a newer member joined as static member {instance_id:?}")
            }
            GroupError::HeldByProcess { pid } => {
                write!(f, "live process {pid} is a member of the group")
            }
            GroupError::TooManyProcesses { max } => {
                write!(f, "the group already has {max} member processes")
            }
            GroupError::CorruptRegistry { partition } => {
                write!(
                    f,
                    "the region's record of the group has no cursor on partition {partition}"
                )
            }
            GroupError::TooManyGroups { max } => {
                write!(f, "the region already records {max} groups")
            }
            GroupError::NameTooLong { max } => {
                write!(f, "a group name is at most {max} bytes")
            }
            GroupError::EmptyInstanceId => write!(f, "a static member needs an instance id"),
            GroupError::InstanceIdTooLong { max } => {
                write!(f, "a static member's instance id is at most {max} bytes")
            }
            GroupError::Corrupt(_) => write!(f, "the topic's shared-memory region is corrupt"),
        }
    }
}

impl std::error::Error for GroupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GroupError::Subscribe { source, .. } => Some(source),
            GroupError::SupervisorSpawn { source } => Some(&**source),
            GroupError::Corrupt(source) => Some(source),
            _ => None,
        }
    }
}

impl From<Corruption> for GroupError {
    fn from(source: Corruption) -> Self {
        GroupError::Corrupt(source)
    }
}

/// Why a member's poll returned no records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsumeError {
    /// [`try_poll`](crate::Consumer::try_poll) found nothing to deliver now.
    Empty,
    /// [`poll`](crate::Consumer::poll) found nothing within its timeout.
    Timeout,
    /// This member was evicted (it neither polled nor heartbeat for `max_poll_interval`, or
    /// held a revoked partition past that deadline); its partitions went to others, and
    /// `on_lost` ran. The next poll joins the group again as a new member.
    Fenced,
    /// The producer is gone and the group has committed every message of every partition.
    Closed,
    /// The records of an earlier poll, from `partition`, are still lent: drop them first. A
    /// forgotten (`mem::forget`) batch stays lent until the member is dropped, which ends its
    /// lease and lets the group deliver it again.
    BatchOutstanding {
        /// The partition of the records still lent.
        partition: u32,
    },
    /// Called from inside a rebalance callback, where a poll would nest rebalances.
    InCallback,
    /// `max_records` was 0: a poll lends at least one record.
    ZeroMaxRecords,
    /// (Shared-memory topics) a word of the region holds a value that cannot be true (another
    /// process wrote it): nothing past it is lent, and the region is poisoned for this process,
    /// so every later poll says so too.
    Corrupt(Corruption),
}

impl fmt::Display for ConsumeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsumeError::Empty => write!(f, "no record is ready"),
            ConsumeError::Timeout => write!(f, "no record within the timeout"),
            ConsumeError::Fenced => write!(f, "this member was evicted from its group"),
            ConsumeError::Closed => {
                write!(
                    f,
                    "the producer is gone and the group committed every record"
                )
            }
            ConsumeError::BatchOutstanding { partition } => write!(
                f,
                "the records of an earlier poll (partition {partition}) are still lent"
            ),
            ConsumeError::InCallback => write!(f, "poll was called from a rebalance callback"),
            ConsumeError::ZeroMaxRecords => write!(f, "a poll must ask for at least one record"),
            ConsumeError::Corrupt(_) => write!(f, "the topic's shared-memory region is corrupt"),
        }
    }
}

impl std::error::Error for ConsumeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConsumeError::Corrupt(source) => Some(source),
            _ => None,
        }
    }
}

impl From<Corruption> for ConsumeError {
    fn from(source: Corruption) -> Self {
        ConsumeError::Corrupt(source)
    }
}

/// Why a question or request about one partition of this member was refused: the part that
/// commits, seeks, [`position`](crate::Consumer::position) and
/// [`pause`](crate::Consumer::pause) share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnershipError {
    /// No such partition.
    UnknownPartition {
        /// The partition asked for.
        partition: u32,
        /// How many the topic has.
        partitions: u32,
    },
    /// This member held the partition, but that tenure ended (revoked, lost or evicted).
    Fenced {
        /// The partition.
        partition: u32,
        /// The epoch of the tenure that ended.
        epoch: u32,
    },
    /// This member has never held the partition.
    NotOwned {
        /// The partition.
        partition: u32,
    },
}

impl fmt::Display for OwnershipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OwnershipError::UnknownPartition {
                partition,
                partitions,
            } => write!(
                f,
                "partition {partition} does not exist (the topic has {partitions})"
            ),
            OwnershipError::Fenced { partition, epoch } => write!(
                f,
                "fenced: this member no longer owns partition {partition} (tenure epoch {epoch})"
            ),
            OwnershipError::NotOwned { partition } => {
                write!(f, "this member does not own partition {partition}")
            }
        }
    }
}

impl std::error::Error for OwnershipError {}

/// For an error that has [`OwnershipError`]'s three variants: `From<OwnershipError>`, and
/// `ownership()` for the way back (its `Display` shows them as `OwnershipError` does).
macro_rules! ownership_variants {
    ($error:ident) => {
        impl From<OwnershipError> for $error {
            fn from(error: OwnershipError) -> Self {
                match error {
                    OwnershipError::UnknownPartition {
                        partition,
                        partitions,
                    } => $error::UnknownPartition {
                        partition,
                        partitions,
                    },
                    OwnershipError::Fenced { partition, epoch } => {
                        $error::Fenced { partition, epoch }
                    }
                    OwnershipError::NotOwned { partition } => $error::NotOwned { partition },
                }
            }
        }

        impl $error {
            /// The ownership part of the error, if that is what it is.
            fn ownership(&self) -> Option<OwnershipError> {
                match *self {
                    $error::UnknownPartition {
                        partition,
                        partitions,
                    } => Some(OwnershipError::UnknownPartition {
                        partition,
                        partitions,
                    }),
                    $error::Fenced { partition, epoch } => {
                        Some(OwnershipError::Fenced { partition, epoch })
                    }
                    $error::NotOwned { partition } => Some(OwnershipError::NotOwned { partition }),
                    _ => None,
                }
            }
        }
    };
}

ownership_variants!(CommitError);
ownership_variants!(SeekError);

/// Why a commit was rejected. A rejected commit changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitError {
    /// No such partition.
    UnknownPartition {
        /// The partition asked for.
        partition: u32,
        /// How many the topic has.
        partitions: u32,
    },
    /// This member held the partition, but that tenure ended (revoked, lost or evicted).
    Fenced {
        /// The partition.
        partition: u32,
        /// The epoch of the tenure that ended.
        epoch: u32,
    },
    /// This member has never held the partition.
    NotOwned {
        /// The partition.
        partition: u32,
    },
    /// The offset is beyond what this member has been delivered.
    BeyondPolled {
        /// The partition.
        partition: u32,
        /// The offset asked for.
        offset: u64,
        /// One past the last offset delivered.
        polled: u64,
    },
    /// The offset is below the committed one; commits never move back (a seek does).
    Behind {
        /// The partition.
        partition: u32,
        /// The offset asked for.
        offset: u64,
        /// The committed offset.
        committed: u64,
    },
}

impl fmt::Display for CommitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CommitError::BeyondPolled {
                partition,
                offset,
                polled,
            } => write!(
                f,
                "offset {offset} on partition {partition} is beyond what was delivered ({polled})"
            ),
            CommitError::Behind {
                partition,
                offset,
                committed,
            } => write!(
                f,
                "offset {offset} on partition {partition} is below the committed {committed}"
            ),
            _ => self.ownership().map_or(Ok(()), |error| error.fmt(f)),
        }
    }
}

impl std::error::Error for CommitError {}

/// Why a seek was rejected. A rejected seek changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeekError {
    /// No such partition.
    UnknownPartition {
        /// The partition asked for.
        partition: u32,
        /// How many the topic has.
        partitions: u32,
    },
    /// This member held the partition, but that tenure ended (revoked, lost or evicted).
    Fenced {
        /// The partition.
        partition: u32,
        /// The epoch of the tenure that ended.
        epoch: u32,
    },
    /// This member has never held the partition.
    NotOwned {
        /// The partition.
        partition: u32,
    },
    /// The records of an earlier poll from this partition are still lent: drop them first.
    BatchOutstanding {
        /// The partition.
        partition: u32,
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
    NotRetained {
        /// The partition.
        partition: u32,
        /// Why: the offset asked for and the earliest still held.
        source: SubscribeError,
    },
}

impl fmt::Display for SeekError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SeekError::BatchOutstanding { partition } => write!(
                f,
                "records from partition {partition} are still lent by an earlier poll"
            ),
            SeekError::BeyondLatest {
                partition,
                offset,
                latest,
            } => write!(
                f,
                "offset {offset} on partition {partition} is beyond the next to be published ({latest})"
            ),
            SeekError::NotRetained { partition, .. } => {
                write!(f, "cannot seek back on partition {partition}")
            }
            _ => self.ownership().map_or(Ok(()), |error| error.fmt(f)),
        }
    }
}

impl std::error::Error for SeekError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SeekError::NotRetained { source, .. } => Some(source),
            _ => None,
        }
    }
}
