//! One producer, two consumer groups, members joining and leaving while messages flow.
//! Prints who owns what after each rebalance and the final per-group counts.
//!
//! `cargo run --release --example consumer_group`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use ringgroup::{
    ConsumeError, Consumer, Group, JoinOptions, RangeAssignor, RebalanceListener, StickyAssignor,
    Topic,
};

const PARTITIONS: u32 = 6;
const MESSAGES: u64 = 600_000;

/// Prints each assignment change.
struct Announce {
    group: &'static str,
}

impl RebalanceListener<u64> for Announce {
    fn on_assigned(&mut self, consumer: &Consumer<u64>, partitions: &[u32]) {
        println!(
            "[{}] member {} assigned {partitions:?}",
            self.group,
            consumer.id()
        );
    }
    fn on_revoked(&mut self, consumer: &Consumer<u64>, partitions: &[u32]) {
        println!(
            "[{}] member {} hands over {partitions:?}",
            self.group,
            consumer.id()
        );
    }
    fn on_lost(&mut self, consumer: &Consumer<u64>, partitions: &[u32]) {
        println!(
            "[{}] member {} lost {partitions:?}",
            self.group,
            consumer.id()
        );
    }
}

/// Consumes until the topic is closed (or `budget` batches), adding to `count`.
fn consume(group: &Group<u64>, name: &'static str, count: &AtomicU64, budget: Option<u64>) {
    let member = group
        .join_with(JoinOptions::new().listener(Announce { group: name }))
        .expect("join");
    let mut batches = 0;
    while budget.is_none_or(|b| batches < b) {
        match member.poll(256, Duration::from_millis(100)) {
            Ok(records) => {
                count.fetch_add(records.len() as u64, Ordering::Relaxed);
                batches += 1;
            }
            Err(ConsumeError::Timeout) => {}
            Err(ConsumeError::Closed) | Err(ConsumeError::Fenced) => break,
            Err(e) => panic!("[{name}] unexpected {e}"),
        }
    }
    println!(
        "[{name}] member {} leaves after {batches} batches",
        member.id()
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (topic, producer) = Topic::<u64>::builder("orders")
        .partitions(PARTITIONS)
        .capacity(1024)
        .build()?; // idle members spin, yield, then sleep (the topic default)
    let billing = topic.group("billing").assignor(RangeAssignor).build()?;
    let audit = topic.group("audit").assignor(StickyAssignor).build()?;
    let counts = [Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0))];

    let start = Arc::new(Barrier::new(3));
    let mut threads = Vec::new();
    for (group, name, count) in [
        (&billing, "billing", &counts[0]),
        (&audit, "audit", &counts[1]),
    ] {
        // A steady member that stays to the end, and one that leaves after a while.
        for budget in [None, Some(200)] {
            let (group, count) = (group.clone(), count.clone());
            threads.push(std::thread::spawn(move || {
                consume(&group, name, &count, budget)
            }));
        }
    }
    // A member that joins the audit group late.
    {
        let (group, count, start) = (audit.clone(), counts[1].clone(), start.clone());
        threads.push(std::thread::spawn(move || {
            start.wait();
            consume(&group, "audit", &count, None)
        }));
    }
    let producer_thread = {
        let start = start.clone();
        std::thread::spawn(move || {
            let mut producer = producer;
            for i in 0..MESSAGES {
                producer
                    .send_keyed(i.to_le_bytes(), i)
                    .expect("a heap topic never refuses a blocking send");
                if i == MESSAGES / 2 {
                    start.wait();
                }
            }
        })
    };
    start.wait();
    producer_thread.join().expect("producer");
    for thread in threads {
        thread.join().expect("consumer thread");
    }

    let mut ok = true;
    for (group, count) in [(&billing, &counts[0]), (&audit, &counts[1])] {
        let metrics = group.metrics();
        let received = count.load(Ordering::Relaxed);
        let committed: u64 = metrics.partitions.iter().map(|p| p.committed).sum();
        println!(
            "group {:8} received {received} (committed {committed}) of {MESSAGES}; {} rebalances",
            group.name(),
            metrics.rebalances
        );
        ok &= committed == MESSAGES && received >= MESSAGES;
    }
    if !ok {
        return Err("a group missed messages".into());
    }
    println!("every message reached every group");
    Ok(())
}
