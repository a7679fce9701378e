//! The bridge's errors.

use std::fmt;

use rdkafka::error::KafkaError;

/// Why the bridge could not start or go on. A sink or source that returned an error from
/// `step` returns it again from every later call (start a new one to go on from the commits).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum BridgeError {
    /// A setting is missing or wrong.
    Config(String),
    /// The Kafka client refused its configuration, or a request failed.
    Kafka(KafkaError),
    /// No broker answered within the metadata timeout.
    Unreachable {
        /// The brokers asked.
        brokers: String,
    },
    /// The Kafka topic does not exist.
    UnknownTopic {
        /// The topic.
        topic: String,
    },
    /// Partitions were asked to map one to one, and the counts differ.
    PartitionMismatch {
        /// The ringgroup topic's partitions.
        ringgroup: u32,
        /// The Kafka topic's partitions.
        kafka: u32,
    },
    /// Kafka refused a record for good (too large for the broker, say). Nothing after it in its
    /// partition was committed: a new sink starts again at it.
    Rejected {
        /// The ringgroup partition.
        partition: u32,
        /// The ringgroup offset.
        offset: u64,
        /// Kafka's reason.
        error: KafkaError,
    },
    /// The ringgroup side failed (building the group, or polling it).
    Group(ringgroup::GroupError),
    /// Polling the ringgroup group failed.
    Consume(ringgroup::ConsumeError),
    /// Committing to the ringgroup group failed.
    Commit(ringgroup::CommitError),
    /// The ringgroup topic refused a record (a closed topic, say).
    Publish(String),
    /// A Kafka record the codec could not decode. Its offset is not committed: a new source
    /// starts again at it.
    Decode {
        /// The Kafka partition.
        partition: i32,
        /// The Kafka offset.
        offset: i64,
        /// The codec's reason.
        error: crate::CodecError,
    },
}

impl fmt::Display for BridgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BridgeError::Config(what) => write!(f, "bad bridge configuration: {what}"),
            BridgeError::Kafka(error) => write!(f, "kafka: {error}"),
            BridgeError::Unreachable { brokers } => {
                write!(f, "no Kafka broker answered at {brokers}")
            }
            BridgeError::UnknownTopic { topic } => write!(f, "the Kafka topic {topic:?} does not exist"),
            BridgeError::PartitionMismatch { ringgroup, kafka } => write!(
                f,
                "partitions map one to one, but the ringgroup topic has {ringgroup} and the Kafka topic {kafka}"
            ),
            BridgeError::Rejected {
                partition,
                offset,
                error,
            } => write!(
                f,
                "kafka refused the record at partition {partition} offset {offset}: {error}"
            ),
            BridgeError::Group(error) => write!(f, "ringgroup: {error}"),
            BridgeError::Consume(error) => write!(f, "ringgroup: {error}"),
            BridgeError::Commit(error) => write!(f, "ringgroup: {error}"),
            BridgeError::Publish(why) => write!(f, "ringgroup refused a record: {why}"),
            BridgeError::Decode {
                partition,
                offset,
                error,
            } => write!(f, "Kafka partition {partition} offset {offset}: {error}"),
        }
    }
}

impl std::error::Error for BridgeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BridgeError::Kafka(error) | BridgeError::Rejected { error, .. } => Some(error),
            BridgeError::Group(error) => Some(error),
            BridgeError::Consume(error) => Some(error),
            BridgeError::Commit(error) => Some(error),
            BridgeError::Decode { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// The error that stopped a sink or a source: every later call returns it again.
#[derive(Debug, Default)]
pub(crate) struct Stopped(Option<BridgeError>);

impl Stopped {
    /// `Err` with the error once stopped.
    pub(crate) fn check(&self) -> Result<(), BridgeError> {
        self.0.as_ref().map_or(Ok(()), |error| Err(error.clone()))
    }

    /// Passes `result` on, stopping at its error (the first one stays).
    pub(crate) fn keep<R>(&mut self, result: Result<R, BridgeError>) -> Result<R, BridgeError> {
        if let Err(error) = &result {
            self.0.get_or_insert_with(|| error.clone());
        }
        result
    }
}

impl From<KafkaError> for BridgeError {
    fn from(error: KafkaError) -> Self {
        BridgeError::Kafka(error)
    }
}

impl From<ringgroup::GroupError> for BridgeError {
    fn from(error: ringgroup::GroupError) -> Self {
        BridgeError::Group(error)
    }
}

impl From<ringgroup::ConsumeError> for BridgeError {
    fn from(error: ringgroup::ConsumeError) -> Self {
        BridgeError::Consume(error)
    }
}
