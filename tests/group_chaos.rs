//! Chaos (bounded in count and time): two groups on one 4-partition topic while a producer
//! publishes a numbered sequence per partition. Members join, leave, panic mid-batch and stall
//! past `max_poll_interval` (and are evicted) at random. Checked by instrumentation, not timing:
//!
//! - nothing is lost: every offset reaches every group;
//! - order: each member sees each partition's offsets strictly increasing;
//! - exclusive ownership: no two members of a group hold a partition's batch at once;
//! - duplicates come only from uncommitted windows (batches abandoned by a panic);
//! - with the dedupe window, no message is processed twice.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringgroup::dedupe::DedupeWindow;
use ringgroup::group::assignor::{RoundRobinAssignor, StickyAssignor};
use ringgroup::group::Group;
use ringgroup::ring::WaitStrategy;
use ringgroup::topic::Topic;
use ringgroup::ConsumeError;

const PARTITIONS: u32 = 4;
const PER_PARTITION: u64 = 100_000;
/// Per-partition dedupe window: a correct group replays at most one uncommitted batch (64).
const DEDUPE_WINDOW: usize = 256;
const WORKERS: usize = 3;
const POLL_INTERVAL: Duration = Duration::from_millis(40);

/// What one group's members report, shared by its workers.
struct Ledger {
    /// Deliveries per (partition, offset).
    delivered: Vec<Vec<AtomicU32>>,
    /// Messages whose processing took effect, through the dedupe window.
    processed: Vec<Vec<AtomicU32>>,
    /// The member holding each partition's batch, 0 when none.
    holder: Vec<AtomicU32>,
    /// Messages in batches abandoned by a panic (the uncommitted window).
    abandoned: AtomicU64,
    /// One window per partition, shared by whichever member owns it.
    dedupe: Vec<Mutex<DedupeWindow>>,
    violations: Mutex<Vec<String>>,
}

impl Ledger {
    fn new() -> Self {
        let table = || {
            (0..PARTITIONS)
                .map(|_| (0..PER_PARTITION).map(|_| AtomicU32::new(0)).collect())
                .collect()
        };
        Self {
            delivered: table(),
            processed: table(),
            holder: (0..PARTITIONS).map(|_| AtomicU32::new(0)).collect(),
            abandoned: AtomicU64::new(0),
            dedupe: (0..PARTITIONS)
                .map(|_| Mutex::new(DedupeWindow::new(DEDUPE_WINDOW).unwrap()))
                .collect(),
            violations: Mutex::new(Vec::new()),
        }
    }

    fn violation(&self, what: String) {
        self.violations.lock().unwrap().push(what);
    }

    fn complete(&self) -> bool {
        self.delivered
            .iter()
            .all(|p| p.iter().all(|count| count.load(Ordering::Relaxed) > 0))
    }
}

/// xorshift64: deterministic, no dependency.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

enum Fate {
    Leave,
    Panic,
    Stall,
}

/// One member's life: join, poll a random number of batches, then leave, panic or stall.
fn member_life(group: &Group<u64>, ledger: &Ledger, seed: u64, done: &AtomicBool) {
    let mut state = seed;
    let member = group.join().unwrap();
    let id = member.id().get();
    let polls = 20 + next_random(&mut state) % 400;
    let fate = match next_random(&mut state) % 10 {
        0 => Fate::Panic,
        1 => Fate::Stall,
        _ => Fate::Leave,
    };
    let mut last_seen: HashMap<u32, u64> = HashMap::new();
    for round in 0..polls {
        if done.load(Ordering::Relaxed) {
            return;
        }
        let records = match member.poll(64, Duration::from_millis(5)) {
            Ok(records) => records,
            Err(ConsumeError::Timeout) => continue,
            Err(ConsumeError::Closed) => return,
            Err(ConsumeError::Fenced) => return, // evicted after a stall elsewhere
            Err(e) => panic!("member {id}: unexpected {e:?}"),
        };
        let partition = records.partition();
        if let Err(other) = ledger.holder[partition as usize].compare_exchange(
            0,
            id,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            ledger.violation(format!(
                "partition {partition}: members {other} and {id} at once"
            ));
        }
        let panic_here = matches!(fate, Fate::Panic) && round + 1 == polls;
        for (i, record) in records.iter().enumerate() {
            if *record.value != record.offset {
                ledger.violation(format!(
                    "p{partition} offset {} holds {}",
                    record.offset, record.value
                ));
            }
            if let Some(&last) = last_seen.get(&partition) {
                if record.offset <= last {
                    ledger.violation(format!(
                        "member {id} p{partition}: {} after {last}",
                        record.offset
                    ));
                }
            }
            last_seen.insert(partition, record.offset);
            ledger.delivered[partition as usize][record.offset as usize]
                .fetch_add(1, Ordering::Relaxed);
            let first = ledger.dedupe[partition as usize]
                .lock()
                .unwrap()
                .first_time(ringgroup::dedupe::message_id(partition, record.offset));
            if first {
                ledger.processed[partition as usize][record.offset as usize]
                    .fetch_add(1, Ordering::Relaxed);
            }
            if panic_here && i + 1 == records.len() / 2 + 1 {
                ledger
                    .abandoned
                    .fetch_add(records.len() as u64, Ordering::Relaxed);
                ledger.holder[partition as usize].store(0, Ordering::Release);
                panic!("chaos: member {id} dies mid-batch");
            }
        }
        ledger.holder[partition as usize].store(0, Ordering::Release);
    }
    if let Fate::Stall = fate {
        // A stuck member: it neither polls nor heartbeats, so the supervisor evicts it.
        std::thread::sleep(POLL_INTERVAL * 3);
        match member.poll(64, Duration::ZERO) {
            Err(ConsumeError::Fenced) | Err(ConsumeError::Closed) => {}
            Err(ConsumeError::Timeout) if done.load(Ordering::Relaxed) => {}
            other => ledger.violation(format!(
                "member {id} stalled past max_poll_interval but was not fenced: {:?}",
                other.map(|r| r.first_offset())
            )),
        }
    }
}

fn run_workers(group: Group<u64>, ledger: Arc<Ledger>, seed: u64, done: Arc<AtomicBool>) -> u64 {
    let workers: Vec<_> = (0..WORKERS as u64)
        .map(|w| {
            let (group, ledger, done) = (group.clone(), ledger.clone(), done.clone());
            std::thread::spawn(move || {
                let mut state = seed ^ (w + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let mut lives = 0;
                while !done.load(Ordering::Relaxed) && !ledger.complete() {
                    let life_seed = next_random(&mut state);
                    let _ = catch_unwind(AssertUnwindSafe(|| {
                        member_life(&group, &ledger, life_seed, &done)
                    }));
                    lives += 1;
                }
                lives
            })
        })
        .collect();
    workers.into_iter().map(|w| w.join().unwrap()).sum()
}

#[test]
fn groups_survive_joins_leaves_panics_and_stalls() {
    std::panic::set_hook(Box::new(|info| {
        let chaos = info
            .payload()
            .downcast_ref::<String>()
            .is_some_and(|m| m.starts_with("chaos:"));
        if !chaos {
            eprintln!("{info}");
        }
    }));
    let (topic, producer) = Topic::<u64>::builder("chaos")
        .partitions(PARTITIONS)
        .capacity(1024)
        .wait_strategy(WaitStrategy::SpinThenPark)
        .build()
        .unwrap();
    let groups = [
        topic
            .group("sticky")
            .assignor(StickyAssignor)
            .max_poll_interval(POLL_INTERVAL)
            .build()
            .unwrap(),
        topic
            .group("round-robin")
            .assignor(RoundRobinAssignor)
            .max_poll_interval(POLL_INTERVAL)
            .build()
            .unwrap(),
    ];
    let ledgers: Vec<Arc<Ledger>> = groups.iter().map(|_| Arc::new(Ledger::new())).collect();
    let done = Arc::new(AtomicBool::new(false));
    let runners: Vec<_> = groups
        .iter()
        .zip(&ledgers)
        .enumerate()
        .map(|(g, (group, ledger))| {
            let (group, ledger, done) = (group.clone(), ledger.clone(), done.clone());
            std::thread::spawn(move || run_workers(group, ledger, 0xC0FFEE + g as u64, done))
        })
        .collect();
    let producers: Vec<_> = producer
        .into_partition_writers()
        .into_iter()
        .map(|mut writer| {
            std::thread::spawn(move || {
                for offset in 0..PER_PARTITION {
                    writer.publish(offset);
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ledgers.iter().all(|l| l.complete()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20)); // progress poll, not synchronisation
    }
    done.store(true, Ordering::Relaxed);
    let lives: Vec<u64> = runners.into_iter().map(|r| r.join().unwrap()).collect();

    for (ledger, group) in ledgers.iter().zip(&groups) {
        if !ledger.complete() {
            for partition in 0..PARTITIONS as usize {
                let missing = (0..PER_PARTITION as usize)
                    .find(|&o| ledger.delivered[partition][o].load(Ordering::Relaxed) == 0);
                eprintln!("{} p{partition}: first missing {missing:?}", group.name());
            }
            eprintln!("{}: {:#?}", group.name(), group.metrics());
        }
        let violations = ledger.violations.lock().unwrap();
        assert!(
            violations.is_empty(),
            "{}: {:?}",
            group.name(),
            &violations[..violations.len().min(10)]
        );
        let mut lost = 0;
        let mut duplicates = 0_u64;
        for partition in 0..PARTITIONS as usize {
            for offset in 0..PER_PARTITION as usize {
                let delivered = ledger.delivered[partition][offset].load(Ordering::Relaxed);
                lost += u64::from(delivered == 0);
                duplicates += u64::from(delivered.saturating_sub(1));
                assert_eq!(
                    ledger.processed[partition][offset].load(Ordering::Relaxed),
                    u32::from(delivered > 0),
                    "{}: p{partition} offset {offset} processed twice despite dedupe",
                    group.name()
                );
            }
        }
        eprintln!(
            "{}: lives {:?}, rebalances {}, abandoned {}, duplicates {duplicates}, lost {lost}",
            group.name(),
            lives,
            group.metrics().rebalances,
            ledger.abandoned.load(Ordering::Relaxed)
        );
        assert_eq!(lost, 0, "{}: lost messages", group.name());
        let abandoned = ledger.abandoned.load(Ordering::Relaxed);
        assert!(
            duplicates <= abandoned,
            "{}: {duplicates} duplicates but only {abandoned} uncommitted messages",
            group.name()
        );
    }
    assert!(
        lives.iter().all(|&l| l > WORKERS as u64),
        "too little churn: {lives:?}"
    );
}
