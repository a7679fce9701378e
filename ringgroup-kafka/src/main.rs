//! `ringgroup-kafka`: bridges a ringgroup topic in shared memory to and from Kafka.
//!
//! ```text
//! ringgroup-kafka sink   --brokers HOST:PORT --kafka-topic T --region NAME --group G
//! ringgroup-kafka source --brokers HOST:PORT --kafka-topic T --region NAME --kafka-group G
//! ```
//!
//! The region's topic holds [`BridgeRecord`]s (a key of up to 64 bytes, a payload of up to
//! 448). `sink` is a member of the region's consumer group `G` producing to Kafka topic `T`;
//! `source` is a member of Kafka group `G` publishing into the region's (multi-producer)
//! topic. Both run until killed, printing their counters every second on stderr; a killed
//! bridge redelivers what it had not committed when it is started again (at-least-once).

use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use ringgroup::Topic;
use ringgroup_kafka::{BridgeRecord, InlineCodec, PartitionMapping, Sink, Source};

#[derive(Parser)]
#[command(about = "Bridges a ringgroup topic in shared memory to and from Kafka")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// ringgroup to Kafka: a member of the region's consumer group producing to Kafka.
    Sink {
        /// Kafka brokers, host:port[,host:port...].
        #[arg(long)]
        brokers: String,
        /// The Kafka topic to produce to.
        #[arg(long)]
        kafka_topic: String,
        /// The shared-memory region of the ringgroup topic.
        #[arg(long)]
        region: String,
        /// The ringgroup consumer group the sink is a member of.
        #[arg(long)]
        group: String,
        /// Map partitions by key even when the counts match.
        #[arg(long)]
        by_key: bool,
    },
    /// Kafka to ringgroup: a member of a Kafka consumer group publishing into the region.
    Source {
        /// Kafka brokers, host:port[,host:port...].
        #[arg(long)]
        brokers: String,
        /// The Kafka topic to consume.
        #[arg(long)]
        kafka_topic: String,
        /// The Kafka consumer group the source is a member of.
        #[arg(long)]
        kafka_group: String,
        /// The shared-memory region of the ringgroup topic (multi-producer).
        #[arg(long)]
        region: String,
        /// Map partitions by key even when the counts match.
        #[arg(long)]
        by_key: bool,
        /// librdkafka's `session.timeout.ms`.
        #[arg(long, default_value_t = 10_000)]
        session_timeout_ms: u32,
        /// How often at most Kafka offsets are committed (what a killed source publishes
        /// again is about what it published since its last commit).
        #[arg(long, default_value_t = 100)]
        commit_interval_ms: u64,
    },
}

fn mapping(by_key: bool) -> PartitionMapping {
    if by_key {
        PartitionMapping::ByKey
    } else {
        PartitionMapping::Auto
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut report = Instant::now();
    match Cli::parse().command {
        Command::Sink {
            brokers,
            kafka_topic,
            region,
            group,
            by_key,
        } => {
            let topic = Topic::<BridgeRecord>::open(&region)?;
            let group = topic.group(group).auto_commit(false).build()?;
            let mut sink = Sink::builder(&group, InlineCodec)
                .brokers(brokers)
                .kafka_topic(kafka_topic)
                .mapping(mapping(by_key))
                .build()?;
            eprintln!("sink ready");
            loop {
                sink.step(Duration::from_millis(10))?;
                if report.elapsed() >= Duration::from_secs(1) {
                    eprintln!("{:?}", sink.metrics());
                    report = Instant::now();
                }
            }
        }
        Command::Source {
            brokers,
            kafka_topic,
            kafka_group,
            region,
            by_key,
            session_timeout_ms,
            commit_interval_ms,
        } => {
            let topic = Topic::<BridgeRecord>::open(&region)?;
            let producer = topic
                .producer()
                .ok_or("the region's topic is single-producer, or closed")?;
            let mut source = Source::builder(producer, InlineCodec)
                .brokers(brokers)
                .kafka_topic(kafka_topic)
                .kafka_group(kafka_group)
                .mapping(mapping(by_key))
                .config("session.timeout.ms", session_timeout_ms.to_string())
                .commit_interval(Duration::from_millis(commit_interval_ms))
                .build()?;
            eprintln!("source ready");
            loop {
                source.step(Duration::from_millis(10))?;
                if report.elapsed() >= Duration::from_secs(1) {
                    eprintln!("{:?}", source.metrics());
                    report = Instant::now();
                }
            }
        }
    }
}
