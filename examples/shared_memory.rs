//! Two kinds of process sharing one topic through a named shared-memory region.
//!
//! The producer process creates the region `ringgroup_<name>` under `/dev/shm`, starts
//! consumer processes (this same program in the `consumer` role), waits until each has
//! subscribed, then sends keyed byte records ("order <n> for customer-<k>") over two
//! partitions and closes the topic. Each consumer opens the region, reads both partitions to
//! the end and checks what it got: every offset once, in order, and per customer the orders in
//! the order they were sent.
//!
//! ```text
//! cargo run --release --example shared_memory [MESSAGES] [CONSUMERS]
//! cargo run --release --example shared_memory -- consumer <name>   # one more consumer, by hand
//! ```

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ringgroup::shm::{remove, InlineBytes};
use ringgroup::{PollError, StartAt, Topic, WaitStrategy};

type Order = InlineBytes<40>;
const CUSTOMERS: u64 = 16;
const PARTITIONS: u32 = 2;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("consumer") {
        let name = args.get(1).ok_or("usage: shared_memory consumer <name>")?;
        return consume(name);
    }
    let messages: u64 = args.first().map_or(Ok(1_000_000), |a| a.parse())?;
    let consumers: usize = args.get(1).map_or(Ok(2), |a| a.parse())?;
    produce(messages, consumers)
}

/// The producer process: creates the topic, starts the consumers, sends, closes; removes the
/// region whatever happened.
fn produce(messages: u64, consumers: usize) -> Result<(), Box<dyn std::error::Error>> {
    let name = format!("example-{}", std::process::id());
    let result = produce_in(&name, messages, consumers);
    let _ = remove(&name);
    result
}

fn produce_in(
    name: &str,
    messages: u64,
    consumers: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let (topic, mut producer) = Topic::<Order>::builder("orders")
        .partitions(PARTITIONS)
        .capacity(4096)
        .wait_strategy(WaitStrategy::SpinThenPark)
        .shared_memory(name)
        .build()?;
    println!("region /dev/shm/ringgroup_{name}: {PARTITIONS} partitions, {messages} orders, {consumers} consumer processes");

    let mut children = Vec::new();
    for _ in 0..consumers {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["consumer", name])
            .stdout(Stdio::piped())
            .spawn()?;
        let mut out = BufReader::new(child.stdout.take().ok_or("no child stdout")?);
        let mut line = String::new();
        out.read_line(&mut line)?; // "subscribed": from now on the child gates the producer
        if line.trim() != "subscribed" {
            return Err(format!("consumer said {line:?}").into());
        }
        children.push((child, out));
    }

    let keys: Vec<String> = (0..CUSTOMERS).map(|k| format!("customer-{k}")).collect();
    let started = Instant::now();
    for n in 0..messages {
        let customer = n % CUSTOMERS;
        let mut text = [0_u8; Order::CAPACITY];
        let mut cursor = &mut text[..];
        write!(cursor, "order {n} for customer-{customer}")?;
        let len = Order::CAPACITY - cursor.len();
        let order = Order::new(&text[..len]).ok_or("order text too long")?;
        producer.send_keyed(keys[customer as usize].as_bytes(), order);
    }
    drop(producer); // closes the topic: consumers read what is left, then see `Closed`
    let elapsed = started.elapsed();

    let mut ok = true;
    for (mut child, mut out) in children {
        let mut report = String::new();
        out.read_line(&mut report)?;
        ok &= child.wait()?.success();
        print!("  {report}");
    }
    println!(
        "sent {messages} in {:.1} ms ({:.1} M/s)",
        elapsed.as_secs_f64() * 1e3,
        messages as f64 / elapsed.as_secs_f64().max(1e-9) / 1e6
    );
    drop(topic);
    if ok {
        Ok(())
    } else {
        Err("a consumer process found a problem".into())
    }
}

/// A consumer process: opens the region, reads every partition to the end, checks order.
fn consume(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let topic = open(name, Duration::from_secs(10))?;
    let mut readers = (0..topic.partitions())
        .map(|p| {
            let subscriber = topic.subscriber(p).ok_or("no such partition")?;
            Ok(subscriber.subscribe(StartAt::Earliest)?)
        })
        .collect::<Result<Vec<_>, Box<dyn std::error::Error>>>()?;
    println!("subscribed");
    std::io::stdout().flush()?;

    let mut last_order = vec![None::<u64>; CUSTOMERS as usize];
    let mut next_offset = vec![0_u64; readers.len()];
    let mut closed = vec![false; readers.len()];
    let mut received = 0_u64;
    while closed.contains(&false) {
        for (partition, reader) in readers.iter_mut().enumerate() {
            if closed[partition] {
                continue;
            }
            let batch = match reader.poll_timeout(256, Duration::from_millis(1)) {
                Ok(batch) => batch,
                Err(PollError::Timeout) => continue,
                Err(PollError::Closed) => {
                    closed[partition] = true;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            for (offset, order) in batch.iter_with_offsets() {
                if offset != next_offset[partition] {
                    return Err(format!(
                        "partition {partition}: offset {offset}, expected {}",
                        next_offset[partition]
                    )
                    .into());
                }
                next_offset[partition] += 1;
                let (n, customer) = parse(order.as_bytes()).ok_or("unreadable order")?;
                let last = &mut last_order[customer as usize];
                if last.is_some_and(|last| last >= n) {
                    return Err(format!("customer-{customer}: order {n} after {last:?}").into());
                }
                *last = Some(n);
                received += 1;
            }
        }
    }
    println!(
        "consumer {}: {received} orders, every partition in order, every customer's orders in order",
        std::process::id()
    );
    Ok(())
}

/// Opens the region, waiting for its creator to make it.
fn open(name: &str, patience: Duration) -> Result<Topic<Order>, ringgroup::TopicError> {
    let deadline = Instant::now() + patience;
    loop {
        match Topic::open(name) {
            Err(_) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            result => return result,
        }
    }
}

/// `order <n> for customer-<k>` → `(n, k)`.
fn parse(text: &[u8]) -> Option<(u64, u64)> {
    let text = std::str::from_utf8(text).ok()?;
    let rest = text.strip_prefix("order ")?;
    let (n, customer) = rest.split_once(" for customer-")?;
    Some((n.parse().ok()?, customer.parse().ok()?))
}
