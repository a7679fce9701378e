//! Request and reply across processes: requesters in one process, workers in others, and every
//! answer back to the member that asked, through a request topic in shared memory.
//!
//! The client process creates the request topic (`ringgroup_<name>` under `/dev/shm`), starts
//! worker processes (this same program in the `worker` role) that join the consumer group
//! `pricers`, then runs requester threads, each a member of the producer group `clients`. Each
//! requester keeps up to 64 requests in flight, checks every answer against its own request, and
//! measures the round trips. The workers never built the producer group: their replies find it
//! in the region.
//!
//! ```text
//! cargo run --release --example shm_request_reply [REQUESTS_PER_REQUESTER] [WORKERS] [REQUESTERS]
//! ```

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ringgroup::producer_group::Request;
use ringgroup::shm::remove;
use ringgroup::{ConsumeError, Topic};

/// A price request: an item and a quantity; the answer is the total in cents.
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Quote {
    item: u32,
    quantity: u32,
}

type Job = Request<Quote, u64>;

fn price(quote: Quote) -> u64 {
    u64::from(quote.item % 1000 + 1) * u64::from(quote.quantity)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("worker") {
        let name = args
            .get(1)
            .ok_or("usage: shm_request_reply worker <name>")?;
        return work(name);
    }
    let requests: u32 = args.first().map_or(Ok(200_000), |a| a.parse())?;
    let workers: usize = args.get(1).map_or(Ok(2), |a| a.parse())?;
    let requesters: u32 = args.get(2).map_or(Ok(1), |a| a.parse())?;
    let name = format!("example-replies-{}", std::process::id());
    let result = run(&name, requests, workers, requesters);
    let _ = remove(&name);
    result
}

fn run(
    name: &str,
    requests: u32,
    workers: usize,
    requesters: u32,
) -> Result<(), Box<dyn std::error::Error>> {
    let (topic, _producer) = Topic::<Job>::builder("quotes")
        .partitions(4)
        .multi_producer()
        .shared_memory(name)
        .build()?;
    println!("region /dev/shm/ringgroup_{name}: {workers} worker processes, {requesters} requesters x {requests} requests");
    let mut children = Vec::new();
    for _ in 0..workers {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["worker", name])
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
        if !line.contains("joined") {
            return Err(format!("a worker failed to start: {line:?}").into());
        }
        children.push(child);
    }
    let clients = topic.producer_group("clients").build()?;
    let started = Instant::now();
    let threads: Vec<_> = (0..requesters)
        .map(|tag| {
            let clients = clients.clone();
            std::thread::spawn(move || -> Result<u64, String> {
                let client = clients.join().map_err(|e| e.to_string())?;
                let mut waiting = HashMap::new();
                let (mut sent, mut answered) = (0_u32, 0_u32);
                while answered < requests {
                    while sent < requests && waiting.len() < 64 {
                        let quote = Quote {
                            item: tag * requests + sent,
                            quantity: 1 + sent % 7,
                        };
                        let ticket = client
                            .request(&quote.item.to_le_bytes(), quote)
                            .map_err(|e| e.to_string())?;
                        waiting.insert(ticket.correlation(), (quote, ticket));
                        sent += 1;
                    }
                    let mut wrong = None;
                    let taken =
                        client.drain_replies(|reply| match waiting.remove(&reply.correlation) {
                            Some((quote, _ticket)) if reply.value == price(quote) => answered += 1,
                            other => wrong = Some(format!("{other:?} got {}", reply.value)),
                        });
                    if taken == 0 {
                        // Nothing yet: let the workers run (they may share this core).
                        std::thread::yield_now();
                    }
                    if let Some(wrong) = wrong {
                        return Err(format!("requester {tag}: a wrong answer: {wrong}"));
                    }
                }
                Ok(client.metrics().replies_received)
            })
        })
        .collect();
    let mut received = 0;
    for thread in threads {
        received += thread.join().map_err(|_| "a requester panicked")??;
    }
    let elapsed = started.elapsed();
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
    let metrics = clients.metrics();
    println!(
        "{received} answers, each to its own request, in {:.2} s ({:.0} round trips/s); \
         replies sent {}, to departed members {}, dropped {}",
        elapsed.as_secs_f64(),
        received as f64 / elapsed.as_secs_f64(),
        metrics.replies_sent,
        metrics.replies_to_gone,
        metrics.replies_dropped
    );
    if received != u64::from(requests) * u64::from(requesters) {
        return Err("answers were lost".into());
    }
    Ok(())
}

/// A worker process: a member of the consumer group `pricers`, answering until it is killed.
fn work(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let topic = Topic::<Job>::open(name)?;
    let worker = topic.group("pricers").build()?.join()?;
    println!("joined");
    loop {
        let records = match worker.poll(256, Duration::from_millis(100)) {
            Ok(records) => records,
            Err(ConsumeError::Timeout) => continue,
            Err(e) => return Err(e.into()),
        };
        for record in &records {
            // A requester that left (or died) gets nothing; the others go on.
            let _ = records.reply(&record, price(record.value.value));
        }
    }
}
