//! Processes sharing one topic and one consumer group through a named shared-memory region.
//!
//! The producer process creates the region `ringgroup_<name>` under `/dev/shm`, starts
//! consumer processes (this same program in the `consumer` role), waits until each has joined
//! the consumer group `billing`, then sends keyed byte records ("order <n> for customer-<k>")
//! over four partitions and closes the topic. The consumer processes are members of the one
//! group: the partitions are split between them (and move when one joins), each partition is
//! read by one of them at a time, and each resumes a partition at the group's commit. Each
//! consumer checks what it got (offsets in order from the commit it resumed at, per customer
//! the orders in the order they were sent) and reports how many orders it read from which
//! partitions; the producer checks that together they read every order exactly once.
//!
//! ```text
//! cargo run --release --example shared_memory [MESSAGES] [CONSUMERS]
//! cargo run --release --example shared_memory -- consumer <name>   # one more consumer, by hand
//! ```

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ringgroup::shm::{remove, InlineBytes};
use ringgroup::{ConsumeError, Topic, WaitStrategy};

type Order = InlineBytes<40>;
const CUSTOMERS: u64 = 16;
const PARTITIONS: u32 = 4;

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
        out.read_line(&mut line)?; // "joined": from now on the group gates the producer
        if line.trim() != "joined" {
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
        producer.send_keyed(&keys[customer as usize], order)?;
    }
    drop(producer); // closes the topic: consumers read what is left, then see `Closed`
    let elapsed = started.elapsed();

    let mut ok = true;
    let mut read = 0_u64;
    for (mut child, mut out) in children {
        let mut report = String::new();
        out.read_line(&mut report)?;
        ok &= child.wait()?.success();
        print!("  {report}");
        read += report
            .split_whitespace()
            .nth(2)
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
    }
    if read != messages {
        println!("  the group read {read} orders, not {messages}");
        ok = false;
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

/// A consumer process: a member of group `billing`; reads what the group gives it until the
/// topic is closed and the group has committed everything, checking order.
fn consume(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let topic = open(name, Duration::from_secs(10))?;
    let group = topic.group("billing").build()?;
    let member = group.join()?;
    println!("joined");
    std::io::stdout().flush()?;

    let mut last_order = vec![None::<u64>; CUSTOMERS as usize];
    // Per partition: the next offset expected (from the commit, when it is assigned).
    let mut next_offset: Vec<Option<u64>> = vec![None; PARTITIONS as usize];
    let mut partitions_read = vec![false; PARTITIONS as usize];
    let mut received = 0_u64;
    loop {
        let records = match member.poll(256, Duration::from_millis(1)) {
            Ok(records) => records,
            Err(ConsumeError::Timeout) => continue,
            Err(ConsumeError::Closed) => break,
            Err(e) => return Err(e.into()),
        };
        // A partition newly ours resumes at the group's commit.
        let owned: Vec<u32> = member.assignment().iter().map(|a| a.partition).collect();
        for (partition, next) in next_offset.iter_mut().enumerate() {
            if !owned.contains(&(partition as u32)) {
                *next = None;
            }
        }
        for record in records.iter() {
            let partition = record.partition as usize;
            let expected = *next_offset[partition].get_or_insert(record.offset);
            if record.offset != expected {
                return Err(format!(
                    "partition {partition}: offset {}, expected {expected}",
                    record.offset
                )
                .into());
            }
            next_offset[partition] = Some(expected + 1);
            partitions_read[partition] = true;
            let (n, customer) = parse(record.value.as_bytes()).ok_or("unreadable order")?;
            let last = &mut last_order[customer as usize];
            if last.is_some_and(|last| last >= n) {
                return Err(format!("customer-{customer}: order {n} after {last:?}").into());
            }
            *last = Some(n);
            received += 1;
        }
    }
    let partitions: Vec<usize> = (0..PARTITIONS as usize)
        .filter(|&p| partitions_read[p])
        .collect();
    println!(
        "consumer {}: {received} orders from partitions {partitions:?}, each partition in order, each customer's orders in order",
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
