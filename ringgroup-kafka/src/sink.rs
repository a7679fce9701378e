//! The sink: ringgroup to Kafka. A member of a ringgroup consumer group that produces every
//! record it polls to a Kafka topic, and commits a ringgroup offset only once Kafka has
//! acknowledged every record below it.
//!
//! # Algorithm
//!
//! Each polled record is encoded (key and payload, by the [`Codec`]) and kept, per ringgroup
//! partition in offset order, until Kafka acknowledges it: a record that fails for a reason
//! that passes (a broker down, a timeout, a full local queue) is sent again from the kept
//! bytes; one Kafka refuses for good (too large, say) stops the sink with
//! [`BridgeError::Rejected`]. After each round of acknowledgements, a partition's acknowledged
//! prefix is committed to the ringgroup group, so a sink that dies redelivers (to the member
//! that takes the partition on) what Kafka had not acknowledged: at-least-once, the duplicates
//! being at most the records in flight.
//!
//! With [`offset_headers`](SinkBuilder::offset_headers), each Kafka record carries its
//! ringgroup partition and offset in headers.
//!
//! Ringgroup partition `p` goes to Kafka partition `p` when the counts match (or when asked
//! to, with [`PartitionMapping::OneToOne`]); otherwise a record goes where a Kafka producer
//! would put its key: librdkafka's `murmur2_random` partitioner, the Java client's hashing.
//!
//! # Back-pressure
//!
//! At most `max_in_flight` records wait for Kafka; while that many do, the sink polls no more,
//! so a slow or absent Kafka makes the sink a slow member of its group (its partitions gate
//! the producer like any slow consumer's, and nothing is lost).

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;
use ringgroup::{CommitError, ConsumeError, Consumer, Group};

use crate::codec::Codec;
use crate::error::{BridgeError, Stopped};

/// How ringgroup partitions map to Kafka partitions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PartitionMapping {
    /// One to one when the counts match, else by key.
    #[default]
    Auto,
    /// Partition `p` to partition `p`; a build with different counts is an error.
    OneToOne,
    /// By key, with Kafka's partitioner, whatever the counts.
    ByKey,
}

impl PartitionMapping {
    /// Whether partition `p` maps to partition `p` between a ringgroup topic of `ringgroup`
    /// partitions and a Kafka topic of `kafka`; an error when asked to and the counts differ.
    pub(crate) fn one_to_one(self, ringgroup: u32, kafka: u32) -> Result<bool, BridgeError> {
        match self {
            PartitionMapping::Auto => Ok(ringgroup == kafka),
            PartitionMapping::OneToOne if ringgroup != kafka => {
                Err(BridgeError::PartitionMismatch { ringgroup, kafka })
            }
            PartitionMapping::OneToOne => Ok(true),
            PartitionMapping::ByKey => Ok(false),
        }
    }
}

/// Configures a [`Sink`]; from [`Sink::builder`].
#[must_use]
pub struct SinkBuilder<'t, T, C> {
    group: &'t Group<T>,
    codec: C,
    brokers: Option<String>,
    kafka_topic: Option<String>,
    mapping: PartitionMapping,
    max_in_flight: usize,
    metadata_timeout: Duration,
    offset_headers: bool,
    config: Vec<(String, String)>,
}

impl<T, C> std::fmt::Debug for SinkBuilder<'_, T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkBuilder")
            .field("brokers", &self.brokers)
            .field("kafka_topic", &self.kafka_topic)
            .field("mapping", &self.mapping)
            .finish()
    }
}

impl<T, C> SinkBuilder<'_, T, C>
where
    T: Send + Sync + 'static,
    C: Codec<T>,
{
    /// The Kafka brokers (`host:port,...`; required).
    pub fn brokers(mut self, brokers: impl Into<String>) -> Self {
        self.brokers = Some(brokers.into());
        self
    }

    /// The Kafka topic to produce to (required; it must exist).
    pub fn kafka_topic(mut self, topic: impl Into<String>) -> Self {
        self.kafka_topic = Some(topic.into());
        self
    }

    /// How partitions map (default [`PartitionMapping::Auto`]).
    pub fn mapping(mut self, mapping: PartitionMapping) -> Self {
        self.mapping = mapping;
        self
    }

    /// Records waiting for Kafka's acknowledgement at most (default 10 000).
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max;
        self
    }

    /// How long the build waits for the topic's metadata (default 10 s).
    pub fn metadata_timeout(mut self, timeout: Duration) -> Self {
        self.metadata_timeout = timeout;
        self
    }

    /// Whether each Kafka record carries its ringgroup place in headers
    /// (`ringgroup-partition` and `ringgroup-offset`, decimal; default off): a consumer can
    /// then tell a redelivered record from a new one.
    pub fn offset_headers(mut self, on: bool) -> Self {
        self.offset_headers = on;
        self
    }

    /// A librdkafka producer property (`linger.ms`, `message.timeout.ms`, ...).
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.push((key.into(), value.into()));
        self
    }

    /// Connects, checks the Kafka topic, and joins the ringgroup group.
    pub fn build(self) -> Result<Sink<T, C>, BridgeError> {
        let brokers = self
            .brokers
            .ok_or_else(|| BridgeError::Config("no brokers".into()))?;
        let kafka_topic = self
            .kafka_topic
            .ok_or_else(|| BridgeError::Config("no Kafka topic".into()))?;
        if self.max_in_flight == 0 {
            return Err(BridgeError::Config(
                "max_in_flight must be above zero".into(),
            ));
        }
        if self.group.auto_commits() {
            return Err(BridgeError::Config(
                "the sink's group must not auto-commit (build it with .auto_commit(false)): \
                 the sink commits what Kafka acknowledged"
                    .into(),
            ));
        }
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &brokers)
            .set("partitioner", "murmur2_random")
            .set("allow.auto.create.topics", "false")
            // Per-key order and no duplicates from librdkafka's own retries, and retries
            // until the broker is back: only a permanent refusal reaches the sink.
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", "0");
        for (key, value) in &self.config {
            config.set(key, value);
        }
        let producer: BaseProducer<SinkContext> =
            config.create_with_context(SinkContext::default())?;
        let kafka_partitions = partitions_of(
            producer.client(),
            &brokers,
            &kafka_topic,
            self.metadata_timeout,
        )?;
        let partitions = self.group.partitions();
        let one_to_one = self.mapping.one_to_one(partitions, kafka_partitions)?;
        let member = self.group.join()?;
        Ok(Sink {
            member,
            group: self.group.clone(),
            failed: Stopped::default(),
            max_in_flight: self.max_in_flight,
            outbox: Outbox {
                producer,
                codec: self.codec,
                kafka_topic,
                one_to_one,
                offset_headers: self.offset_headers,
                in_flight: (0..partitions).map(|_| VecDeque::new()).collect(),
                count: 0,
                metrics: SinkMetrics::default(),
            },
        })
    }
}

/// The partition count of `topic`, or why there is none.
pub(crate) fn partitions_of<C: ClientContext>(
    client: &rdkafka::client::Client<C>,
    brokers: &str,
    topic: &str,
    timeout: Duration,
) -> Result<u32, BridgeError> {
    let metadata = client
        .fetch_metadata(Some(topic), timeout)
        .map_err(|error| match error {
            KafkaError::MetadataFetch(_) => BridgeError::Unreachable {
                brokers: brokers.to_string(),
            },
            other => BridgeError::Kafka(other),
        })?;
    match metadata.topics().iter().find(|t| t.name() == topic) {
        Some(found) if found.error().is_none() && !found.partitions().is_empty() => {
            Ok(found.partitions().len() as u32)
        }
        _ => Err(BridgeError::UnknownTopic {
            topic: topic.to_string(),
        }),
    }
}

/// A record sent to Kafka and not yet acknowledged.
struct Pending {
    offset: u64,
    acked: bool,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
}

/// What Kafka said about one record.
struct Outcome {
    partition: u32,
    offset: u64,
    error: Option<KafkaError>,
}

/// Collects delivery reports (run inside `poll`, on the sink's thread).
#[derive(Default)]
struct SinkContext {
    outcomes: Mutex<Vec<Outcome>>,
}

impl ClientContext for SinkContext {}

impl ProducerContext for SinkContext {
    type DeliveryOpaque = Box<(u32, u64)>;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: Self::DeliveryOpaque) {
        let (partition, offset) = *opaque;
        let error = result.as_ref().err().map(|(error, _)| error.clone());
        self.outcomes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Outcome {
                partition,
                offset,
                error,
            });
    }
}

/// The sink's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SinkMetrics {
    /// Records polled from ringgroup and sent to Kafka.
    pub bridged: u64,
    /// Records Kafka acknowledged.
    pub acked: u64,
    /// Records sent again after a failure that passes.
    pub retried: u64,
    /// Records whose ringgroup offset was committed.
    pub committed: u64,
    /// Records dropped from the sink's keeping because their partition moved to another
    /// member before they were acknowledged (that member delivers them again).
    pub handed_back: u64,
    /// Records waiting for Kafka now.
    pub in_flight: u64,
    /// The ringgroup group's commit lag: records published and not yet committed, over its
    /// partitions.
    pub lag: u64,
}

/// A member of a ringgroup consumer group that produces what it polls to Kafka; see the
/// module docs. Use it from one thread: call [`step`](Sink::step) in a loop (or
/// [`run_until`](Sink::run_until)).
pub struct Sink<T, C> {
    member: Consumer<T>,
    group: Group<T>,
    max_in_flight: usize,
    outbox: Outbox<C>,
    /// The error that stopped the sink: every later call returns it.
    failed: Stopped,
}

/// The Kafka side of a sink: the producer and the records it has in flight.
struct Outbox<C> {
    producer: BaseProducer<SinkContext>,
    codec: C,
    kafka_topic: String,
    one_to_one: bool,
    offset_headers: bool,
    /// Per ringgroup partition, the records in flight, in offset order.
    in_flight: Vec<VecDeque<Pending>>,
    count: usize,
    metrics: SinkMetrics,
}

impl<T, C> std::fmt::Debug for Sink<T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink")
            .field("kafka_topic", &self.outbox.kafka_topic)
            .field("one_to_one", &self.outbox.one_to_one)
            .field("in_flight", &self.outbox.count)
            .finish()
    }
}

impl<T, C> Sink<T, C>
where
    T: Send + Sync + 'static,
    C: Codec<T>,
{
    /// A sink that joins `group` as a member (the group must not auto-commit: the sink commits)
    /// and encodes with `codec`. Several sinks (in one process, or, on a topic in shared
    /// memory, in several) may join one group: they share its partitions, and when one goes,
    /// the others take its partitions on at its commits.
    pub fn builder(group: &Group<T>, codec: C) -> SinkBuilder<'_, T, C> {
        SinkBuilder {
            group,
            codec,
            brokers: None,
            kafka_topic: None,
            mapping: PartitionMapping::Auto,
            max_in_flight: 10_000,
            metadata_timeout: Duration::from_secs(10),
            offset_headers: false,
            config: Vec::new(),
        }
    }

    /// One round: polls a batch from ringgroup (waiting up to `timeout`) unless
    /// `max_in_flight` records are out, sends it to Kafka, takes Kafka's acknowledgements
    /// and commits what they cover. Returns how many records it sent.
    pub fn step(&mut self, timeout: Duration) -> Result<usize, BridgeError> {
        self.failed.check()?;
        let result = self.step_inner(timeout);
        self.failed.keep(result)
    }

    fn step_inner(&mut self, timeout: Duration) -> Result<usize, BridgeError> {
        let mut sent = 0;
        let outbox = &mut self.outbox;
        if outbox.count < self.max_in_flight {
            let mut fenced = false;
            match self.member.poll(self.max_in_flight - outbox.count, timeout) {
                Ok(records) => {
                    for record in &records {
                        outbox.keep(record.partition, record.offset, record.value);
                        outbox.send(record.partition, record.offset)?;
                        sent += 1;
                    }
                }
                Err(ConsumeError::Timeout) => {}
                Err(ConsumeError::Fenced) => fenced = true,
                Err(error) => return Err(error.into()),
            }
            if fenced {
                // Evicted (a Kafka outage longer than the group's poll interval, say): the
                // partitions went on from the commits; join again.
                outbox.hand_back_all();
                self.member = self.group.join()?;
            }
            outbox.producer.poll(Duration::ZERO);
        } else {
            // Waiting for Kafka: still a live member.
            self.member.heartbeat();
            outbox.producer.poll(timeout);
        }
        outbox.settle(&self.member)?;
        Ok(sent)
    }

    /// Steps until `stop` returns true; returns the first error.
    pub fn run_until(&mut self, mut stop: impl FnMut(&Self) -> bool) -> Result<(), BridgeError> {
        while !stop(self) {
            self.step(Duration::from_millis(10))?;
        }
        Ok(())
    }

    /// Waits up to `timeout` for every record in flight to be acknowledged and committed;
    /// true if none is left. A sink stopped by an error still commits what Kafka acknowledged
    /// before the refused record, then returns the error.
    pub fn flush(&mut self, timeout: Duration) -> Result<bool, BridgeError> {
        let deadline = Instant::now() + timeout;
        while self.outbox.count > 0 && Instant::now() < deadline {
            self.outbox.producer.poll(Duration::from_millis(10));
            let settled = self.outbox.settle(&self.member);
            let _ = self.failed.keep(settled);
        }
        self.failed.check()?;
        Ok(self.outbox.count == 0)
    }

    /// The sink's counters.
    pub fn metrics(&self) -> SinkMetrics {
        SinkMetrics {
            in_flight: self.outbox.count as u64,
            lag: self.group.metrics().partitions.iter().map(|p| p.lag).sum(),
            ..self.outbox.metrics
        }
    }

    /// The ringgroup member (its assignment, committed offsets).
    pub fn member(&self) -> &Consumer<T> {
        &self.member
    }
}

impl<C> Outbox<C> {
    /// Forgets every record in flight: the partitions went to other members (or back to the
    /// group) at their commits, and are delivered again from there.
    fn hand_back_all(&mut self) {
        for list in &mut self.in_flight {
            self.metrics.handed_back += list.len() as u64;
            list.clear();
        }
        self.count = 0;
    }

    /// Encodes and keeps a polled record until Kafka acknowledges it.
    fn keep<T>(&mut self, partition: u32, offset: u64, value: &T)
    where
        C: Codec<T>,
    {
        let Some(list) = self.in_flight.get_mut(partition as usize) else {
            return;
        };
        if list.back().is_some_and(|last| last.offset >= offset) {
            // A new tenure of the partition began at an earlier offset: the old records are
            // the previous tenure's, delivered again from here.
            self.count -= list.len();
            self.metrics.handed_back += list.len() as u64;
            list.clear();
        }
        let key = self.codec.key(value).map(<[u8]>::to_vec);
        let mut payload = Vec::new();
        self.codec.encode(value, &mut payload);
        list.push_back(Pending {
            offset,
            acked: false,
            key,
            payload,
        });
        self.count += 1;
        self.metrics.bridged += 1;
    }

    /// Sends a kept record to Kafka, waiting while librdkafka's queue is full.
    fn send(&self, partition: u32, offset: u64) -> Result<(), BridgeError> {
        let Some(pending) = self.find(partition, offset) else {
            return Ok(());
        };
        loop {
            let mut record: BaseRecord<'_, [u8], [u8], Box<(u32, u64)>> =
                BaseRecord::with_opaque_to(&self.kafka_topic, Box::new((partition, offset)))
                    .payload(&pending.payload[..]);
            if let Some(key) = &pending.key {
                record = record.key(&key[..]);
            }
            if self.one_to_one {
                record = record.partition(partition as i32);
            }
            if self.offset_headers {
                record = record.headers(
                    OwnedHeaders::new()
                        .insert(Header {
                            key: "ringgroup-partition",
                            value: Some(&partition.to_string()),
                        })
                        .insert(Header {
                            key: "ringgroup-offset",
                            value: Some(&offset.to_string()),
                        }),
                );
            }
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    self.producer.poll(Duration::from_millis(10));
                }
                Err((error, _)) => {
                    return Err(BridgeError::Rejected {
                        partition,
                        offset,
                        error,
                    })
                }
            }
        }
    }

    fn find(&self, partition: u32, offset: u64) -> Option<&Pending> {
        let list = self.in_flight.get(partition as usize)?;
        let at = list.binary_search_by_key(&offset, |p| p.offset).ok()?;
        list.get(at)
    }

    /// Takes Kafka's reports, sends again what failed for a passing reason, and commits each
    /// partition's acknowledged prefix through `member`.
    fn settle<T>(&mut self, member: &Consumer<T>) -> Result<(), BridgeError> {
        let outcomes = std::mem::take(
            &mut *self
                .producer
                .context()
                .outcomes
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for outcome in outcomes {
            match outcome.error {
                None => {
                    if let Some(list) = self.in_flight.get_mut(outcome.partition as usize) {
                        if let Ok(at) = list.binary_search_by_key(&outcome.offset, |p| p.offset) {
                            list[at].acked = true;
                            self.metrics.acked += 1;
                        }
                    }
                }
                Some(error) if passes(&error) => {
                    self.metrics.retried += 1;
                    self.send(outcome.partition, outcome.offset)?;
                }
                Some(error) => {
                    return Err(BridgeError::Rejected {
                        partition: outcome.partition,
                        offset: outcome.offset,
                        error,
                    })
                }
            }
        }
        for partition in 0..self.in_flight.len() {
            let list = &mut self.in_flight[partition];
            let mut acked = 0;
            while list.get(acked).is_some_and(|p| p.acked) {
                acked += 1;
            }
            if acked == 0 {
                continue;
            }
            let last = list[acked - 1].offset;
            match member.commit_offset(partition as u32, last + 1) {
                Ok(()) => {
                    list.drain(..acked);
                    self.count -= acked;
                    self.metrics.committed += acked as u64;
                }
                Err(CommitError::UnknownPartition { .. }) => {
                    return Err(BridgeError::Commit(CommitError::UnknownPartition {
                        partition: partition as u32,
                        partitions: self.in_flight.len() as u32,
                    }))
                }
                Err(_) => {
                    // The partition moved on (fenced, not ours, or records of an earlier
                    // tenure behind or past this one's): its owner starts at its commit.
                    self.count -= list.len();
                    self.metrics.handed_back += list.len() as u64;
                    list.clear();
                }
            }
        }
        Ok(())
    }
}

/// True for a delivery failure that passes (sent again), false for one Kafka repeats.
fn passes(error: &KafkaError) -> bool {
    use RDKafkaErrorCode::*;
    !matches!(
        error.rdkafka_error_code(),
        Some(
            MessageSizeTooLarge
                | InvalidMessageSize
                | InvalidMessage
                | InvalidRecord
                | MessageBatchTooLarge
                | TopicAuthorizationFailed
                | ClusterAuthorizationFailed
                | InvalidTopic
                | UnknownTopic
                | UnsupportedForMessageFormat
        )
    )
}
