//! The source: Kafka to ringgroup. A member of a Kafka consumer group that publishes what it
//! consumes into a ringgroup topic, and commits Kafka offsets only once the records below them
//! are where the [`CommitPolicy`] says: published, or committed by every given ringgroup group.
//!
//! # Algorithm
//!
//! Each Kafka record is decoded by the [`Codec`] and published to ringgroup partition `p`
//! when it came from Kafka partition `p` and the counts match, otherwise by its key (ringgroup
//! hashes keys as Kafka does). A record that finds its ringgroup partition full is held, and
//! Kafka consumption is paused until it and any record fetched meanwhile are published, so a
//! slow ringgroup slows the source and loses nothing. Per Kafka partition the source keeps the
//! published records' places (Kafka offset, ringgroup partition and offset) until the policy
//! lets it commit past them.
//!
//! When Kafka takes a partition away (a rebalance between bridge instances), the source
//! commits, synchronously and before the partition moves, everything of it that it has
//! published (under `AfterGroups`: what the groups have covered), so the next owner starts
//! after it and no record is published twice into ringgroup; what it held unpublished is
//! dropped, left to the next owner. A source that dies without that commit leaves its
//! published-but-uncommitted records to be published again by the next owner
//! (at-least-once). Transient Kafka errors (a broker down) are counted and passed over;
//! librdkafka reconnects by itself.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use ringgroup::{Group, Producer, ProducerRecord, RecordMetadata, SendError, SharedProducer};

use crate::codec::Codec;
use crate::error::{BridgeError, Stopped};
use crate::sink::{partitions_of, PartitionMapping};

/// Where ringgroup records are published: a topic's [`Producer`] or [`SharedProducer`].
pub trait Publisher<T>: Send {
    /// The topic's partition count.
    fn partitions(&self) -> u32;

    /// Publishes, waiting up to `timeout` for room.
    fn send_timeout(
        &mut self,
        record: ProducerRecord<'_, T>,
        timeout: Duration,
    ) -> Result<RecordMetadata, SendError<T>>;
}

impl<T: Send + Sync> Publisher<T> for Producer<T> {
    fn partitions(&self) -> u32 {
        Producer::partitions(self)
    }

    fn send_timeout(
        &mut self,
        record: ProducerRecord<'_, T>,
        timeout: Duration,
    ) -> Result<RecordMetadata, SendError<T>> {
        Producer::send_timeout(self, record, timeout)
    }
}

impl<T: Send + Sync> Publisher<T> for SharedProducer<T> {
    fn partitions(&self) -> u32 {
        SharedProducer::partitions(self)
    }

    fn send_timeout(
        &mut self,
        record: ProducerRecord<'_, T>,
        timeout: Duration,
    ) -> Result<RecordMetadata, SendError<T>> {
        SharedProducer::send_timeout(self, record, timeout)
    }
}

/// When the source commits a Kafka offset.
pub enum CommitPolicy<T> {
    /// Once every record below it is published into ringgroup.
    OncePublished,
    /// Once every record below it is committed by each of these ringgroup groups (of the
    /// topic the source publishes to).
    AfterGroups(Vec<Group<T>>),
}

impl<T> std::fmt::Debug for CommitPolicy<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommitPolicy::OncePublished => f.write_str("OncePublished"),
            CommitPolicy::AfterGroups(groups) => write!(f, "AfterGroups({} groups)", groups.len()),
        }
    }
}

/// Configures a [`Source`]; from [`Source::builder`].
#[must_use]
pub struct SourceBuilder<T, C, P> {
    publisher: P,
    codec: C,
    brokers: Option<String>,
    kafka_topic: Option<String>,
    kafka_group: Option<String>,
    mapping: PartitionMapping,
    policy: CommitPolicy<T>,
    metadata_timeout: Duration,
    commit_interval: Duration,
    config: Vec<(String, String)>,
}

impl<T, C, P> std::fmt::Debug for SourceBuilder<T, C, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceBuilder")
            .field("brokers", &self.brokers)
            .field("kafka_topic", &self.kafka_topic)
            .field("kafka_group", &self.kafka_group)
            .field("policy", &self.policy)
            .finish()
    }
}

impl<T, C, P> SourceBuilder<T, C, P>
where
    T: Send + Sync + 'static,
    C: Codec<T>,
    P: Publisher<T>,
{
    /// The Kafka brokers (`host:port,...`; required).
    pub fn brokers(mut self, brokers: impl Into<String>) -> Self {
        self.brokers = Some(brokers.into());
        self
    }

    /// The Kafka topic to consume (required; it must exist).
    pub fn kafka_topic(mut self, topic: impl Into<String>) -> Self {
        self.kafka_topic = Some(topic.into());
        self
    }

    /// The Kafka consumer group (`group.id`; required). Bridge instances of one group share
    /// the topic's partitions.
    pub fn kafka_group(mut self, group: impl Into<String>) -> Self {
        self.kafka_group = Some(group.into());
        self
    }

    /// How partitions map (default [`PartitionMapping::Auto`]).
    pub fn mapping(mut self, mapping: PartitionMapping) -> Self {
        self.mapping = mapping;
        self
    }

    /// When Kafka offsets are committed (default [`CommitPolicy::OncePublished`]).
    pub fn commit_policy(mut self, policy: CommitPolicy<T>) -> Self {
        self.policy = policy;
        self
    }

    /// How long the build waits for the topic's metadata (default 10 s).
    pub fn metadata_timeout(mut self, timeout: Duration) -> Self {
        self.metadata_timeout = timeout;
        self
    }

    /// How often at most the source commits Kafka offsets (default 100 ms; a revoked
    /// partition is committed at once). Longer: fewer commit requests, more redelivered after
    /// a crash.
    pub fn commit_interval(mut self, interval: Duration) -> Self {
        self.commit_interval = interval;
        self
    }

    /// A librdkafka consumer property (`session.timeout.ms`, `auto.offset.reset`, ...).
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.push((key.into(), value.into()));
        self
    }

    /// Connects, checks the Kafka topic and subscribes to it.
    pub fn build(self) -> Result<Source<T, C, P>, BridgeError> {
        let brokers = self
            .brokers
            .ok_or_else(|| BridgeError::Config("no brokers".into()))?;
        let kafka_topic = self
            .kafka_topic
            .ok_or_else(|| BridgeError::Config("no Kafka topic".into()))?;
        let kafka_group = self
            .kafka_group
            .ok_or_else(|| BridgeError::Config("no Kafka group".into()))?;
        if let CommitPolicy::AfterGroups(groups) = &self.policy {
            if groups.is_empty() {
                return Err(BridgeError::Config("AfterGroups needs a group".into()));
            }
        }
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &brokers)
            .set("group.id", &kafka_group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("allow.auto.create.topics", "false")
            // Kafka's classic 10 s session (librdkafka's default is 45 s): a dead bridge
            // instance's partitions move sooner, and a group forms sooner.
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000");
        for (key, value) in &self.config {
            config.set(key, value);
        }
        let state = Arc::new(Mutex::new(Tracking {
            partitions: BTreeMap::new(),
            held: VecDeque::new(),
            after_groups: matches!(self.policy, CommitPolicy::AfterGroups(_)),
            failed_commits: 0,
        }));
        let consumer: BaseConsumer<SourceContext<T>> =
            config.create_with_context(SourceContext {
                state: state.clone(),
                topic: kafka_topic.clone(),
            })?;
        let kafka_partitions = partitions_of(
            consumer.client(),
            &brokers,
            &kafka_topic,
            self.metadata_timeout,
        )?;
        let partitions = self.publisher.partitions();
        let one_to_one = self.mapping.one_to_one(partitions, kafka_partitions)?;
        consumer.subscribe(&[&kafka_topic])?;
        Ok(Source {
            consumer,
            publisher: self.publisher,
            codec: self.codec,
            kafka_topic,
            one_to_one,
            policy: self.policy,
            state,
            failed: Stopped::default(),
            paused: false,
            commit_interval: self.commit_interval,
            last_commit: Instant::now(),
            metrics: SourceMetrics::default(),
        })
    }
}

/// What the source and its rebalance callback share: per Kafka partition the published
/// records' places not yet committed, and the records consumed but not yet published.
struct Tracking<T> {
    partitions: BTreeMap<i32, Track>,
    /// In consumption order.
    held: VecDeque<Held<T>>,
    /// Under `AfterGroups`, a revoked partition is committed only as far as the groups
    /// covered it (its `next`), not as far as it was published.
    after_groups: bool,
    /// Commits the revoke callback could not make.
    failed_commits: u64,
}

#[derive(Default)]
struct Track {
    /// (Kafka offset, ringgroup partition, ringgroup offset), in Kafka offset order.
    published: VecDeque<(i64, u32, u64)>,
    /// The next Kafka offset to commit (one past the last record covered).
    next: Option<i64>,
    /// The last offset whose commit was sent (asynchronously: it may yet fail).
    sent: Option<i64>,
}

/// Commits a revoked partition before it moves, and forgets what this member held of it.
struct SourceContext<T> {
    state: Arc<Mutex<Tracking<T>>>,
    topic: String,
}

impl<T: Send + Sync + 'static> ClientContext for SourceContext<T> {}

impl<T: Send + Sync + 'static> ConsumerContext for SourceContext<T> {
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Assign(assigned) = rebalance else {
            return;
        };
        // A partition keeps its pause across assignments: set it as the source stands now.
        let holding = !self
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .held
            .is_empty();
        let _ = if holding {
            consumer.pause(assigned)
        } else {
            consumer.resume(assigned)
        };
    }

    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(revoked) = rebalance else {
            return;
        };
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let after_groups = state.after_groups;
        let mut commit = TopicPartitionList::new();
        for element in revoked.elements() {
            let partition = element.partition();
            // Consumed and not published: the next owner consumes it again from the commit.
            state.held.retain(|held| held.kafka_partition != partition);
            if let Some(track) = state.partitions.remove(&partition) {
                let published = track.published.back().map(|(offset, _, _)| offset + 1);
                let next = if after_groups {
                    track.next
                } else {
                    published.or(track.next)
                };
                // Sent again even if an asynchronous commit of it was sent: that one may fail.
                if let Some(next) = next {
                    let _ =
                        commit.add_partition_offset(&self.topic, partition, Offset::Offset(next));
                }
            }
        }
        if commit.count() > 0 && !consumer.assignment_lost() {
            // Before the partition moves: the next owner starts after what was published.
            if consumer.commit(&commit, CommitMode::Sync).is_err() {
                state.failed_commits += 1;
            }
        }
    }
}

/// A record consumed from Kafka and not yet published (its ringgroup partition was full).
struct Held<T> {
    kafka_partition: i32,
    kafka_offset: i64,
    key: Option<Vec<u8>>,
    value: T,
}

/// The source's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceMetrics {
    /// Records consumed from Kafka and published into ringgroup.
    pub bridged: u64,
    /// Times a full ringgroup partition paused Kafka consumption.
    pub paused: u64,
    /// Records consumed and not yet published (held for room).
    pub held: u64,
    /// Kafka commits made.
    pub commits: u64,
    /// Records published whose Kafka offset is not committed yet (the Kafka-side commit lag
    /// this source can see).
    pub uncommitted: u64,
    /// Transient Kafka errors polled and passed over (a broker down, say).
    pub transient_errors: u64,
    /// Commits of revoked partitions that failed.
    pub failed_commits: u64,
}

/// A member of a Kafka consumer group that publishes what it consumes into ringgroup; see the
/// module docs. Use it from one thread: call [`step`](Source::step) in a loop.
pub struct Source<T: Send + Sync + 'static, C, P> {
    consumer: BaseConsumer<SourceContext<T>>,
    publisher: P,
    codec: C,
    kafka_topic: String,
    one_to_one: bool,
    policy: CommitPolicy<T>,
    state: Arc<Mutex<Tracking<T>>>,
    /// The error that stopped the source: every later call returns it.
    failed: Stopped,
    paused: bool,
    commit_interval: Duration,
    last_commit: Instant,
    metrics: SourceMetrics,
}

impl<T: Send + Sync + 'static, C, P> std::fmt::Debug for Source<T, C, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("kafka_topic", &self.kafka_topic)
            .field("one_to_one", &self.one_to_one)
            .field("metrics", &self.metrics)
            .finish()
    }
}

impl<T, C, P> Source<T, C, P>
where
    T: Send + Sync + 'static,
    C: Codec<T>,
    P: Publisher<T>,
{
    /// A source that publishes through `publisher`, decoding with `codec`.
    pub fn builder(publisher: P, codec: C) -> SourceBuilder<T, C, P> {
        SourceBuilder {
            publisher,
            codec,
            brokers: None,
            kafka_topic: None,
            kafka_group: None,
            mapping: PartitionMapping::Auto,
            policy: CommitPolicy::OncePublished,
            metadata_timeout: Duration::from_secs(10),
            commit_interval: Duration::from_millis(100),
            config: Vec::new(),
        }
    }

    /// One round: publishes what is held (waiting up to `timeout` for room), consumes from
    /// Kafka (waiting up to `timeout`) and publishes it, and commits what the policy allows.
    /// Returns how many records it published.
    pub fn step(&mut self, timeout: Duration) -> Result<usize, BridgeError> {
        self.failed.check()?;
        let result = self.step_inner(timeout);
        self.failed.keep(result)
    }

    fn step_inner(&mut self, timeout: Duration) -> Result<usize, BridgeError> {
        let mut published = self.publish_held(timeout)?;
        let stalled = self.holding();
        // Up to a batch per round; a paused consumer still serves rebalances here.
        for round in 0..256 {
            let wait = if round == 0 && !stalled {
                timeout
            } else {
                Duration::ZERO
            };
            let message = match self.consumer.poll(wait) {
                Some(Ok(message)) => message,
                Some(Err(KafkaError::MessageConsumptionFatal(code))) => {
                    return Err(BridgeError::Kafka(KafkaError::MessageConsumptionFatal(
                        code,
                    )))
                }
                Some(Err(_)) => {
                    // A broker down, a transport error: librdkafka goes on by itself.
                    self.metrics.transient_errors += 1;
                    break;
                }
                None => break,
            };
            let value = self
                .codec
                .decode(message.key(), message.payload().unwrap_or_default())
                .map_err(|error| BridgeError::Decode {
                    partition: message.partition(),
                    offset: message.offset(),
                    error,
                })?;
            let held = Held {
                kafka_partition: message.partition(),
                kafka_offset: message.offset(),
                // Routing by key needs it; one to one, the partition says all.
                key: if self.one_to_one {
                    None
                } else {
                    message.key().map(<[u8]>::to_vec)
                },
                value,
            };
            self.lock().held.push_back(held);
            published += self.publish_held(Duration::ZERO)?;
            if self.holding() {
                break;
            }
        }
        if self.last_commit.elapsed() >= self.commit_interval {
            self.commit()?;
            self.last_commit = Instant::now();
        }
        Ok(published)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tracking<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// True while records wait for room.
    fn holding(&self) -> bool {
        !self.lock().held.is_empty()
    }

    /// Publishes held records in order until one finds no room (the first waits up to
    /// `timeout`); pauses Kafka while any is held, resumes it when none is.
    fn publish_held(&mut self, timeout: Duration) -> Result<usize, BridgeError> {
        let mut published = 0;
        let mut wait = timeout;
        loop {
            let Some(held) = self.lock().held.pop_front() else {
                break;
            };
            let mut record = ProducerRecord::new(held.value);
            if let Some(key) = &held.key {
                record = record.key(&key[..]);
            }
            if self.one_to_one {
                record = record.partition(held.kafka_partition as u32);
            }
            match self.publisher.send_timeout(record, wait) {
                Ok(meta) => {
                    self.lock()
                        .partitions
                        .entry(held.kafka_partition)
                        .or_default()
                        .published
                        .push_back((held.kafka_offset, meta.partition, meta.offset));
                    self.metrics.bridged += 1;
                    published += 1;
                    wait = Duration::ZERO;
                }
                Err(SendError::Full(value)) | Err(SendError::Timeout(value)) => {
                    self.lock().held.push_front(Held { value, ..held });
                    // Every assigned partition, each time: one assigned since the last pause
                    // must stop too.
                    let assignment = self.consumer.assignment()?;
                    self.consumer.pause(&assignment)?;
                    if !self.paused {
                        self.paused = true;
                        self.metrics.paused += 1;
                    }
                    return Ok(published);
                }
                Err(error) => return Err(BridgeError::Publish(error.to_string())),
            }
        }
        if self.paused {
            let assignment = self.consumer.assignment()?;
            self.consumer.resume(&assignment)?;
            self.paused = false;
        }
        Ok(published)
    }

    /// Commits each Kafka partition as far as the policy allows.
    fn commit(&mut self) -> Result<(), BridgeError> {
        let committed: Option<Vec<u64>> = match &self.policy {
            CommitPolicy::OncePublished => None,
            CommitPolicy::AfterGroups(groups) => {
                let mut least: Vec<u64> = Vec::new();
                for group in groups {
                    let metrics = group.metrics();
                    if least.is_empty() {
                        least = vec![u64::MAX; metrics.partitions.len()];
                    }
                    for (p, partition) in metrics.partitions.iter().enumerate() {
                        if let Some(slot) = least.get_mut(p) {
                            *slot = (*slot).min(partition.committed);
                        }
                    }
                }
                Some(least)
            }
        };
        let mut list = TopicPartitionList::new();
        let mut uncommitted = 0;
        {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            self.metrics.failed_commits = state.failed_commits;
            for (&partition, track) in state.partitions.iter_mut() {
                while let Some(&(offset, rg_partition, rg_offset)) = track.published.front() {
                    let covered = match &committed {
                        None => true,
                        Some(least) => least
                            .get(rg_partition as usize)
                            .is_some_and(|&c| c > rg_offset),
                    };
                    if !covered {
                        break;
                    }
                    track.published.pop_front();
                    track.next = Some(offset + 1);
                }
                uncommitted += track.published.len() as u64;
                if let Some(next) = track.next.filter(|&n| Some(n) != track.sent) {
                    list.add_partition_offset(&self.kafka_topic, partition, Offset::Offset(next))?;
                    track.sent = Some(next);
                }
            }
        }
        self.metrics.uncommitted = uncommitted;
        if list.count() > 0 {
            self.consumer.commit(&list, CommitMode::Async)?;
            self.metrics.commits += 1;
        }
        Ok(())
    }

    /// The source's counters.
    pub fn metrics(&self) -> SourceMetrics {
        SourceMetrics {
            held: self.lock().held.len() as u64,
            ..self.metrics
        }
    }

    /// The Kafka partitions this source is assigned now.
    pub fn assignment(&self) -> Result<Vec<i32>, BridgeError> {
        Ok(self
            .consumer
            .assignment()?
            .elements()
            .iter()
            .map(|e| e.partition())
            .collect())
    }

    /// The Kafka offsets the group has committed for the topic's partitions (asks the broker).
    pub fn committed_offsets(&self, timeout: Duration) -> Result<BTreeMap<i32, i64>, BridgeError> {
        let list = self.consumer.committed(timeout)?;
        Ok(list
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect())
    }
}
