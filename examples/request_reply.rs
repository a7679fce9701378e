//! Request / reply through the queue: a producer group of three requesters sends work into a
//! multi-producer topic, a consumer group of two workers shares it out and answers each request,
//! and every answer travels back to the member that asked. Prints per-member counts.
//!
//! `cargo run --release --example request_reply [requests per requester]`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ringgroup::producer_group::Request;
use ringgroup::{ConsumeError, Topic};

const REQUESTERS: u64 = 3;
const WORKERS: usize = 2;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let per_requester: u64 = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(20_000);
    // Requests of a number, answered with its square.
    let (topic, producer) = Topic::<Request<u64, u64>>::builder("squares")
        .partitions(4)
        .multi_producer()
        .build()?;
    let workers = topic.group("workers").build()?;
    let clients = topic.producer_group("clients").build()?;

    let answered: Vec<Arc<AtomicU64>> = (0..WORKERS).map(|_| Arc::default()).collect();
    let worker_threads: Vec<_> = answered
        .iter()
        .map(|count| {
            let (member, count) = (workers.join()?, count.clone());
            Ok(std::thread::spawn(move || loop {
                match member.poll(64, Duration::from_millis(100)) {
                    Ok(records) => {
                        for record in &records {
                            let n = record.value.value;
                            if records.reply(&record, n * n).is_ok() {
                                count.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    Err(ConsumeError::Timeout) => {}
                    Err(_) => return, // closed: every request was answered
                }
            }))
        })
        .collect::<Result<_, ringgroup::GroupError>>()?;

    let requesters: Vec<_> = (0..REQUESTERS)
        .map(|r| {
            let requester = clients.join()?;
            Ok(std::thread::spawn(move || {
                let mut wrong = 0;
                for i in 0..per_requester {
                    let n = r * per_requester + i;
                    let pending = requester.request(&n.to_le_bytes(), n).expect("request");
                    match pending.wait(Duration::from_secs(10)) {
                        Ok(square) if square == n * n => {}
                        _ => wrong += 1,
                    }
                }
                (requester.metrics(), wrong)
            }))
        })
        .collect::<Result<_, ringgroup::producer_group::ProducerGroupError>>()?;

    let mut ok = true;
    for thread in requesters {
        let (metrics, wrong) = thread.join().expect("requester");
        println!(
            "requester {}: sent {}, replies {}, timed out {}, duplicates {}, wrong {wrong}",
            metrics.id,
            metrics.sent,
            metrics.replies_received,
            metrics.replies_timed_out,
            metrics.duplicates
        );
        ok &= wrong == 0 && metrics.replies_received == per_requester;
    }
    drop((producer, clients)); // the last producers: the topic closes, the workers finish
    for thread in worker_threads {
        thread.join().expect("worker");
    }
    for (w, count) in answered.iter().enumerate() {
        println!("worker {w}: answered {}", count.load(Ordering::Relaxed));
    }
    if !ok {
        return Err("a request went unanswered or got a wrong answer".into());
    }
    println!(
        "every one of {} requests was answered by the worker that took it",
        REQUESTERS * per_requester
    );
    Ok(())
}
