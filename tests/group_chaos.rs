//! Chaos (bounded in count and time): two groups on one 4-partition topic while a producer
//! publishes a numbered sequence per partition. Members join, leave, panic mid-batch and stall
//! past `max_poll_interval` (and are evicted) at random. Checked by instrumentation, not timing:
//!
//! - nothing is lost: every offset reaches every group;
//! - order: each member sees each partition's offsets strictly increasing;
//! - exclusive ownership: no two members of a group hold a partition's batch at once;
//! - duplicates come only from uncommitted windows (batches abandoned by a panic);
//! - with the dedupe window, no message is processed twice.
//!
//! The bookkeeping is `ringgroup_testkit::chaos` (the fate draw and a bounded ledger), shared
//! with the harness's `chaos` subcommand.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringgroup::dedupe::DedupeWindow;
use ringgroup::group::assignor::{RoundRobinAssignor, StickyAssignor};
use ringgroup::group::Group;
use ringgroup::ring::WaitStrategy;
use ringgroup::topic::Topic;
use ringgroup::ConsumeError;
use ringgroup_testkit::chaos::{draw_life, panic_point, Fate};
use ringgroup_testkit::random::next_random;

const PARTITIONS: u32 = 4;
const PER_PARTITION: u64 = 100_000;
/// Per-partition dedupe window: a correct group replays at most one uncommitted batch (64).
const DEDUPE_WINDOW: usize = 256;
const WORKERS: usize = 3;
const POLL_INTERVAL: Duration = Duration::from_millis(40);
/// What each partition is sent.
const PUBLISHED: [u64; PARTITIONS as usize] = [PER_PARTITION; PARTITIONS as usize];

/// What one group's members report, shared by its workers.
type Ledger = ringgroup_testkit::chaos::Ledger<DedupeWindow>;

fn ledger() -> Ledger {
    Ledger::new(PARTITIONS, || DedupeWindow::new(DEDUPE_WINDOW)).unwrap()
}

/// One member's life: join, poll a random number of batches, then leave, panic or stall.
fn member_life(group: &Group<u64>, ledger: &Ledger, seed: u64, done: &AtomicBool) {
    let mut state = seed;
    let mut seen = ledger.life();
    let member = group.join().unwrap();
    let id = member.id().get();
    let (polls, fate) = draw_life(&mut state);
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
        ledger.hold(partition, id);
        let panic_here = matches!(fate, Fate::Panic) && round + 1 == polls;
        for (i, record) in records.iter().enumerate() {
            ledger.record(
                &mut seen,
                id,
                partition,
                record.offset,
                *record.value,
                |window| window.first_time(ringgroup::dedupe::message_id(partition, record.offset)),
            );
            if panic_here && i == panic_point(records.len()) {
                ledger.abandon(records.len());
                ledger.release(partition);
                panic!("chaos: member {id} dies mid-batch");
            }
        }
        ledger.release(partition);
    }
    if let Fate::Stall = fate {
        // A stuck member: it neither polls nor heartbeats, so the supervisor evicts it.
        std::thread::sleep(POLL_INTERVAL * 3);
        match member.poll(64, Duration::ZERO) {
            Err(ConsumeError::Fenced) | Err(ConsumeError::Closed) => {}
            Err(ConsumeError::Timeout) if done.load(Ordering::Relaxed) => {}
            other => ledger.unfenced_stall(|| {
                format!(
                    "member {id} stalled past max_poll_interval but was not fenced: {:?}",
                    other.map(|r| r.first_offset())
                )
            }),
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
                while !done.load(Ordering::Relaxed) && !ledger.delivered_all(&PUBLISHED) {
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
    let ledgers: Vec<Arc<Ledger>> = groups.iter().map(|_| Arc::new(ledger())).collect();
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
    while !ledgers.iter().all(|l| l.delivered_all(&PUBLISHED)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20)); // progress poll, not synchronisation
    }
    done.store(true, Ordering::Relaxed);
    let lives: Vec<u64> = runners.into_iter().map(|r| r.join().unwrap()).collect();

    for (ledger, group) in ledgers.iter().zip(&groups) {
        if !ledger.delivered_all(&PUBLISHED) {
            for partition in 0..PARTITIONS {
                let missing = ledger.delivered_below(partition);
                eprintln!("{} p{partition}: first missing {missing}", group.name());
            }
            eprintln!("{}: {:#?}", group.name(), group.metrics());
        }
        let tally = ledger.tally(&PUBLISHED);
        eprintln!(
            "{}: lives {:?}, rebalances {}, abandoned {}, duplicates {}, lost {}",
            group.name(),
            lives,
            group.metrics().rebalances,
            tally.uncommitted_window,
            tally.duplicates,
            tally.lost
        );
        // Lost, reordered or concurrently owned messages, duplicates beyond the abandoned
        // batches, and messages processed twice (or never) despite the dedupe window.
        assert!(
            tally.broken().is_empty(),
            "{}: {:?}; first violations: {:?}",
            group.name(),
            tally.broken(),
            ledger.notes()
        );
    }
    assert!(
        lives.iter().all(|&l| l > WORKERS as u64),
        "too little churn: {lives:?}"
    );
}
