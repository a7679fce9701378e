//! Crash test across real processes (this binary re-executing itself in a role): one producer
//! process and, for each of two consumer groups, two consumer processes that are members at
//! once (they split the partitions), killed with SIGKILL at random moments and restarted, for
//! `RINGGROUP_CRASH_SECS` seconds (30 by default). A killed producer is taken over by the next
//! (`Topic::take_over_producer`); a killed member's partitions move to the live member, or to
//! the next process, at the group's commits.
//!
//! Every consumer process reports to the parent, on stdout, each partition it is assigned
//! (with the commit it resumes at, and the time) and revoked (with the time), each contiguous
//! run of offsets it received, each commit, and the end of the topic; the parent notes the
//! time of each kill before sending it. The ledger then splits the reports into *tenures*
//! (a process's hold on a partition, from assignment to revoke or kill) and checks, per group
//! and partition:
//! - every value equals its offset (no half-written slot was ever read);
//! - a process reads and commits a partition only inside a tenure of its own;
//! - tenures never overlap: one begins only after the previous one's revoke or kill, so two
//!   live processes never own a partition of one group at once;
//! - within a tenure, offsets arrive contiguous and in order, from the commit it resumed at;
//! - a tenure resumes between the previous tenures' last commit and one past the last offset
//!   they received: duplicates only from the uncommitted window, nothing skipped;
//! - the partition's tenures reach the end of the topic, so nothing published is lost.
//!
//! A `harness = false` test: `main` runs the check, or a child's role.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ringgroup::shm::remove;
use ringgroup::{ConsumeError, Consumer, JoinOptions, RebalanceListener, Topic, WaitStrategy};
use ringgroup_testkit::random::next_random;

const ROLE: &str = "RINGGROUP_CRASH_ROLE";
const REGION: &str = "RINGGROUP_CRASH_REGION";
const PARTITIONS: u32 = 2;
const GROUPS: [&str; 2] = ["audit", "billing"];
const PATIENCE: Duration = Duration::from_secs(60);

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn open(region: &str) -> Topic<u64> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match Topic::<u64>::open(region) {
            Ok(topic) => return topic,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => panic!("the region never appeared: {e}"),
        }
    }
}

/// Child: takes the producer over (or creates the topic and waits for "go" on stdin), then
/// publishes `value = offset` on every partition, forever or, with `end`, up to `end` and
/// closes the topic.
fn produce(region: &str, end: Option<u64>) {
    let mut producer = match Topic::<u64>::open(region) {
        Ok(topic) => topic
            .take_over_producer()
            .expect("the last producer is dead"),
        Err(_) => {
            let (_topic, producer) = Topic::<u64>::builder("crash")
                .partitions(PARTITIONS)
                .capacity(64)
                .wait_strategy(WaitStrategy::Yield)
                .shared_memory(region)
                .build()
                .unwrap();
            println!("created");
            std::io::stdout().flush().unwrap();
            let mut go = String::new();
            std::io::stdin().read_line(&mut go).unwrap();
            producer
        }
    };
    let mut rng = u64::from(std::process::id()) | 1;
    let end = end.unwrap_or(u64::MAX);
    loop {
        let open: Vec<u32> = (0..PARTITIONS)
            .filter(|&p| producer.partition_writer(p).unwrap().next_offset() < end)
            .collect();
        let Some(&partition) =
            open.get((next_random(&mut rng) % PARTITIONS as u64) as usize % open.len().max(1))
        else {
            return; // every partition reached the end: dropping the producer closes the topic
        };
        let writer = producer.partition_writer(partition).unwrap();
        let offset = writer.next_offset();
        let burst = (1 + next_random(&mut rng) % 8).min(end - offset);
        writer.publish_batch(offset..offset + burst);
    }
}

/// Reports the member's assignment changes, each with the time and (on assignment) the
/// committed offset it resumes at. Runs inside `poll`, after the loop flushed its reports.
struct Report;

impl RebalanceListener<u64> for Report {
    fn on_assigned(&mut self, consumer: &Consumer<u64>, partitions: &[u32]) {
        for &p in partitions {
            let committed = consumer.committed(p).unwrap_or(0);
            println!("A {p} {committed} {}", now_ns());
        }
    }

    fn on_revoked(&mut self, _consumer: &Consumer<u64>, partitions: &[u32]) {
        for &p in partitions {
            println!("V {p} {}", now_ns());
        }
    }
}

/// Child: a consumer process of `group`, a member alongside the group's other processes:
/// reports what it is assigned and what it receives and commits.
fn consume(region: &str, group_name: &str) {
    let topic = open(region);
    let group = topic.group(group_name).auto_commit(false).build().unwrap();
    let mut out = BufWriter::new(std::io::stdout().lock());
    writeln!(out, "S").unwrap();
    out.flush().unwrap();
    let member = group
        .join_with(JoinOptions::new().listener(Report))
        .unwrap();
    let mut batches = 0_u64;
    loop {
        out.flush().unwrap();
        let records = match member.poll(64, Duration::from_millis(1)) {
            Ok(records) => records,
            Err(ConsumeError::Timeout) => {
                // Idle: commit what was delivered (the commit gates the producer).
                if member.commit().is_ok() {
                    for assigned in member.assignment() {
                        if let Some(offset) = member.committed(assigned.partition) {
                            writeln!(out, "C {} {offset}", assigned.partition).unwrap();
                        }
                    }
                }
                continue;
            }
            Err(ConsumeError::Closed) => break,
            Err(e) => panic!("{e}"),
        };
        // Contiguous runs, per partition: "R partition first last".
        let mut runs: Vec<(u32, u64, u64)> = Vec::new();
        for record in records.iter() {
            if *record.value != record.offset {
                writeln!(out, "X value {} at offset {}", record.value, record.offset).unwrap();
                out.flush().unwrap();
                std::process::exit(3);
            }
            match runs.last_mut() {
                Some((p, _, last)) if *p == record.partition && *last + 1 == record.offset => {
                    *last = record.offset;
                }
                _ => runs.push((record.partition, record.offset, record.offset)),
            }
        }
        drop(records);
        for (p, first, last) in &runs {
            writeln!(out, "R {p} {first} {last}").unwrap();
        }
        // Out before any commit of them: a kill after the commit must not take with it the
        // report of what was received (the ledger would see a resume past every receipt).
        out.flush().unwrap();
        batches += 1;
        // Commit every third batch, so kills leave uncommitted windows.
        if batches % 3 == 0 {
            for (p, _, last) in &runs {
                if member.commit_offset(*p, last + 1).is_ok() {
                    writeln!(out, "C {p} {}", last + 1).unwrap();
                }
            }
        }
    }
    writeln!(out, "D").unwrap();
    out.flush().unwrap();
    // Keep the group (a clean drop of the last member would delete it).
    loop {
        std::thread::park();
    }
}

/// One line a consumer process reported (or, `Killed`, the parent noted).
#[derive(Clone, Debug)]
enum Event {
    Start,
    Assigned {
        partition: u32,
        committed: u64,
        at: u128,
    },
    Revoked {
        partition: u32,
        at: u128,
    },
    Run {
        partition: u32,
        first: u64,
        last: u64,
    },
    Commit {
        partition: u32,
        offset: u64,
    },
    Done,
    /// The parent sent SIGKILL at this time (before sending it).
    Killed {
        at: u128,
    },
    Broken(String),
}

fn parse(line: &str) -> Event {
    let words: Vec<&str> = line.split_whitespace().collect();
    let num = |i: usize| -> u64 { words[i].parse().unwrap() };
    let time = |i: usize| -> u128 { words[i].parse().unwrap() };
    match words.first().copied() {
        Some("S") => Event::Start,
        Some("A") => Event::Assigned {
            partition: num(1) as u32,
            committed: num(2),
            at: time(3),
        },
        Some("V") => Event::Revoked {
            partition: num(1) as u32,
            at: time(2),
        },
        Some("R") => Event::Run {
            partition: num(1) as u32,
            first: num(2),
            last: num(3),
        },
        Some("C") => Event::Commit {
            partition: num(1) as u32,
            offset: num(2),
        },
        Some("D") => Event::Done,
        _ => Event::Broken(line.to_string()),
    }
}

/// A running child and the thread reading its reports.
struct Process {
    child: Child,
    reader: Option<JoinHandle<()>>,
}

type Ledger = Arc<Mutex<BTreeMap<(String, u32), Vec<Event>>>>;

fn spawn(role: &str, region: &str, group: Option<&str>, ledger: &Ledger) -> Process {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(ROLE, role)
        .env(REGION, region)
        .env("RINGGROUP_CRASH_GROUP", group.unwrap_or(""))
        .stdout(Stdio::piped())
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let reader = group.map(|group| {
        let out = child.stdout.take().unwrap();
        let key = (group.to_string(), child.id());
        let ledger = ledger.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                ledger
                    .lock()
                    .unwrap()
                    .entry(key.clone())
                    .or_default()
                    .push(parse(&line));
            }
        })
    });
    Process { child, reader }
}

impl Process {
    fn kill(mut self, ledger: &Ledger, group: Option<&str>) {
        let at = now_ns();
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        if let Some(group) = group {
            let key = (group.to_string(), self.child.id());
            ledger
                .lock()
                .unwrap()
                .entry(key)
                .or_default()
                .push(Event::Killed { at });
        }
    }
}

/// One tenure: a process's hold on a partition, from its assignment to its revoke or death.
struct Tenure {
    pid: u32,
    start: u128,
    end: u128,
    /// Ended by a revoke (handed to a live process), not by a kill or the end of the run.
    revoked: bool,
    resumed: u64,
    /// (first, last) runs received, then the commits, in order.
    runs: Vec<(u64, u64)>,
    commits: Vec<u64>,
}

/// Splits each process's reports into tenures per partition, checking that it reads a
/// partition only while assigned it.
fn tenures(group: &str, processes: &[(u32, Vec<Event>)]) -> Vec<Vec<Tenure>> {
    let mut per_partition: Vec<Vec<Tenure>> = (0..PARTITIONS).map(|_| Vec::new()).collect();
    for (pid, events) in processes {
        let mut open: Vec<Option<Tenure>> = (0..PARTITIONS).map(|_| None).collect();
        let close = |open: &mut Vec<Option<Tenure>>,
                     p: usize,
                     at: u128,
                     revoked: bool,
                     out: &mut Vec<Vec<Tenure>>| {
            if let Some(mut tenure) = open[p].take() {
                tenure.end = at;
                tenure.revoked = revoked;
                out[p].push(tenure);
            }
        };
        for event in events {
            match *event {
                Event::Start | Event::Done => {}
                Event::Assigned {
                    partition,
                    committed,
                    at,
                } => {
                    let p = partition as usize;
                    assert!(open[p].is_none(), "{group} pid {pid}: assigned {p} twice");
                    open[p] = Some(Tenure {
                        pid: *pid,
                        start: at,
                        end: u128::MAX,
                        revoked: false,
                        resumed: committed,
                        runs: Vec::new(),
                        commits: Vec::new(),
                    });
                }
                Event::Revoked { partition, at } => {
                    close(&mut open, partition as usize, at, true, &mut per_partition);
                }
                Event::Killed { at } => {
                    for p in 0..PARTITIONS as usize {
                        close(&mut open, p, at, false, &mut per_partition);
                    }
                }
                Event::Run {
                    partition,
                    first,
                    last,
                } => match open[partition as usize].as_mut() {
                    Some(tenure) => tenure.runs.push((first, last)),
                    None => panic!("{group} pid {pid}: read partition {partition}, not its own"),
                },
                Event::Commit { partition, offset } => match open[partition as usize].as_mut() {
                    Some(tenure) => tenure.commits.push(offset),
                    None => {
                        panic!("{group} pid {pid}: committed partition {partition}, not its own")
                    }
                },
                Event::Broken(ref line) => panic!("{group} pid {pid}: {line}"),
            }
        }
        // Still open at the end (the survivors, stopped after the check's last read).
        for p in 0..PARTITIONS as usize {
            close(&mut open, p, u128::MAX, false, &mut per_partition);
        }
    }
    for list in &mut per_partition {
        list.sort_by_key(|t| t.start);
    }
    per_partition
}

/// Checks one group's tenures of each partition, across all its processes.
fn check_group(group: &str, processes: &[(u32, Vec<Event>)], end: u64) {
    assert!(
        processes
            .iter()
            .any(|(_, events)| events.iter().any(|e| matches!(e, Event::Done))),
        "{group}: no process reached the end of the topic"
    );
    for (p, list) in tenures(group, processes).iter().enumerate() {
        assert!(
            !list.is_empty(),
            "{group}: partition {p} was never assigned"
        );
        // (last commit, one past the last offset received) of the tenures so far.
        let (mut committed, mut received) = (0_u64, 0_u64);
        let mut previous_end = 0_u128;
        for (index, tenure) in list.iter().enumerate() {
            let pid = tenure.pid;
            assert!(
                tenure.start >= previous_end,
                "{group} partition {p}: tenure {index} (pid {pid}) began while another owner held it"
            );
            previous_end = tenure.end;
            assert!(
                committed <= tenure.resumed && tenure.resumed <= received,
                "{group} partition {p}: tenure {index} (pid {pid}) resumed at {} outside [{committed}, {received}]",
                tenure.resumed
            );
            let mut next = tenure.resumed;
            for &(first, last) in &tenure.runs {
                assert_eq!(
                    first, next,
                    "{group} pid {pid} partition {p}: a gap or a repeat inside a tenure"
                );
                next = last + 1;
                received = received.max(next);
            }
            for &offset in &tenure.commits {
                assert!(
                    offset <= next.max(tenure.resumed),
                    "{group}: committed past what it received"
                );
                committed = committed.max(offset);
            }
        }
        assert_eq!(
            received, end,
            "{group} partition {p}: lost the end of the topic"
        );
    }
}

fn run_check() {
    let seconds: u64 = std::env::var("RINGGROUP_CRASH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let region = format!("crash-{}", std::process::id());
    let _ = remove(&region);
    let ledger: Ledger = Arc::default();
    let mut rng = 0x5eed ^ u64::from(std::process::id());

    let mut producer = spawn("produce", &region, None, &ledger);
    let mut line = String::new();
    BufReader::new(producer.child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "created");
    // Two consumer processes per group, members at once: they split the partitions.
    let mut consumers: Vec<(usize, Process)> = (0..GROUPS.len())
        .flat_map(|g| [g, g])
        .map(|g| (g, spawn("consume", &region, Some(GROUPS[g]), &ledger)))
        .collect();
    // Let both groups start before anything is sent, so each sees offset 0.
    let deadline = Instant::now() + PATIENCE;
    while ledger.lock().unwrap().len() < consumers.len() {
        assert!(Instant::now() < deadline, "the groups never started");
        std::thread::sleep(Duration::from_millis(1));
    }
    writeln!(producer.child.stdin.as_mut().unwrap(), "go").unwrap();

    let (mut kills, started) = (0, Instant::now());
    // Killed consumers come back at once or after up to 300 ms: by then the live member has
    // taken the dead one's partitions, so the newcomer gets one handed on by a live process.
    let mut restarts: Vec<(Instant, usize)> = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_millis(5 + next_random(&mut rng) % 100));
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = restarts.into_iter().partition(|(at, _)| *at <= now);
        restarts = later;
        for (_, g) in due {
            consumers.push((g, spawn("consume", &region, Some(GROUPS[g]), &ledger)));
        }
        let victim = (next_random(&mut rng) % (consumers.len() as u64 + 1)) as usize;
        kills += 1;
        if victim == consumers.len() {
            producer.kill(&ledger, None);
            producer = spawn("produce", &region, None, &ledger);
        } else {
            let (g, process) = consumers.swap_remove(victim);
            process.kill(&ledger, Some(GROUPS[g]));
            let delay = Duration::from_millis(next_random(&mut rng) % 300);
            restarts.push((Instant::now() + delay, g));
        }
    }
    for (_, g) in restarts {
        consumers.push((g, spawn("consume", &region, Some(GROUPS[g]), &ledger)));
    }
    // The last producer publishes up to a common end and closes the topic.
    producer.kill(&ledger, None);
    let topic = open(&region);
    let end = (0..PARTITIONS)
        .map(|p| topic.subscriber(p).unwrap().latest_offset())
        .max()
        .unwrap()
        + 1000;
    let mut last = Command::new(std::env::current_exe().unwrap())
        .env(ROLE, "produce-to")
        .env(REGION, &region)
        .env("RINGGROUP_CRASH_END", end.to_string())
        .spawn()
        .unwrap();
    assert!(last.wait().unwrap().success(), "the last producer failed");
    // Each group's members read to the end and say so; then they are stopped.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let ledger = ledger.lock().unwrap();
        let finished = GROUPS
            .iter()
            .filter(|&&group| {
                ledger.iter().any(|((g, _), events)| {
                    g == group && matches!(events.last(), Some(Event::Done))
                })
            })
            .count();
        drop(ledger);
        if finished == GROUPS.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the groups never reached the end"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    for (_, process) in consumers {
        // Stopped after the end, so their tenures stay open (not a kill mid-stream).
        process.kill(&ledger, None);
    }
    drop(topic);
    let _ = remove(&region);

    let ledger = ledger.lock().unwrap();
    let mut sessions = 0;
    let mut tenures_seen = 0;
    let mut handoffs = 0;
    for group in GROUPS {
        let of_group: Vec<(u32, Vec<Event>)> = ledger
            .iter()
            .filter(|((g, _), _)| g == group)
            .map(|((_, pid), events)| (*pid, events.clone()))
            .collect();
        sessions += of_group.len();
        for list in tenures(group, &of_group) {
            tenures_seen += list.len();
            handoffs += list.iter().filter(|t| t.revoked).count();
        }
        check_group(group, &of_group, end);
    }
    println!(
        "shm crash test: {seconds} s, {kills} kills, {sessions} consumer processes, {tenures_seen} partition tenures ({handoffs} handed on between live processes), {end} offsets per partition: ok"
    );
}

fn main() {
    let region = std::env::var(REGION).unwrap_or_default();
    match std::env::var(ROLE).as_deref() {
        Ok("produce") => produce(&region, None),
        Ok("produce-to") => {
            let end = std::env::var("RINGGROUP_CRASH_END")
                .unwrap()
                .parse()
                .unwrap();
            produce(&region, Some(end));
        }
        Ok("consume") => consume(&region, &std::env::var("RINGGROUP_CRASH_GROUP").unwrap()),
        _ => run_check(),
    }
}
