//! Crash test across real processes (this binary re-executing itself in a role): one producer
//! process and, for each of two consumer groups, an active consumer process and a standby,
//! killed with SIGKILL at random moments and restarted, for `RINGGROUP_CRASH_SECS` seconds
//! (30 by default). A killed producer is taken over by the next (`Topic::take_over_producer`);
//! a killed group holder's group passes to its standby at the group's commits.
//!
//! Every consumer process reports to the parent, on stdout, when it got its group (with the
//! commits it resumed at, and the time), each contiguous run of offsets it received, each
//! commit, and the end of the topic. The ledger then checks, per group and partition:
//! - every value equals its offset (no half-written slot was ever read);
//! - within a session, offsets arrive contiguous and in order, from the commit it resumed at;
//! - a session resumes between the previous session's last commit and one past the last
//!   offset it received: duplicates only from the uncommitted window, nothing skipped;
//! - the last session reaches the end of the topic, so nothing published is lost.
//!
//! A `harness = false` test: `main` runs the check, or a child's role.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ringgroup::shm::remove;
use ringgroup::{ConsumeError, GroupError, Topic, WaitStrategy};
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

/// Child: a consumer process of `group`: waits for the group, then reports what it receives.
fn consume(region: &str, group_name: &str) {
    let topic = open(region);
    let group = loop {
        match topic.group(group_name).auto_commit(false).build() {
            Ok(group) => break group,
            Err(GroupError::HeldByProcess { .. }) => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => panic!("{e}"),
        }
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let resumed: Vec<String> = (0..PARTITIONS as usize)
        .map(|p| group.metrics().partitions[p].committed.to_string())
        .collect();
    writeln!(out, "S {} {}", now_ns(), resumed.join(" ")).unwrap();
    out.flush().unwrap();
    let member = group.join().unwrap();
    let mut batches = 0_u64;
    loop {
        let records = match member.poll(64, Duration::from_millis(1)) {
            Ok(records) => records,
            Err(ConsumeError::Timeout) => {
                // Idle: commit what was delivered (the commit gates the producer).
                if member.commit().is_ok() {
                    for p in 0..PARTITIONS {
                        if let Some(offset) = member.committed(p) {
                            writeln!(out, "C {p} {offset}").unwrap();
                        }
                    }
                    out.flush().unwrap();
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
        out.flush().unwrap();
        batches += 1;
        // Commit every third batch, so kills leave uncommitted windows.
        if batches % 3 == 0 {
            for (p, _, last) in &runs {
                if member.commit_offset(*p, last + 1).is_ok() {
                    writeln!(out, "C {p} {}", last + 1).unwrap();
                }
            }
            out.flush().unwrap();
        }
    }
    writeln!(out, "D").unwrap();
    out.flush().unwrap();
    // Keep the group (a clean drop would delete it, and the standby would start it afresh).
    loop {
        std::thread::park();
    }
}

/// One line a consumer process reported.
#[derive(Clone, Debug)]
enum Event {
    Start {
        at: u128,
        resumed: Vec<u64>,
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
    Broken(String),
}

fn parse(line: &str) -> Event {
    let words: Vec<&str> = line.split_whitespace().collect();
    let num = |i: usize| -> u64 { words[i].parse().unwrap() };
    match words.first().copied() {
        Some("S") => Event::Start {
            at: words[1].parse().unwrap(),
            resumed: (2..words.len()).map(num).collect(),
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
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
    }
}

/// Checks one group's sessions (ordered by when they got the group); returns how far each
/// partition was read.
fn check_group(group: &str, sessions: &[(u32, Vec<Event>)], end: u64) {
    let mut ordered: Vec<(u128, u32, &Vec<Event>)> = sessions
        .iter()
        .filter_map(|(pid, events)| match events.first() {
            Some(Event::Start { at, .. }) => Some((*at, *pid, events)),
            _ => None,
        })
        .collect();
    ordered.sort_by_key(|s| s.0);
    assert!(
        !ordered.is_empty(),
        "{group}: no session ever got the group"
    );
    // Per partition: (last commit, one past the last offset received) of the sessions so far.
    let mut committed = vec![0_u64; PARTITIONS as usize];
    let mut received = vec![0_u64; PARTITIONS as usize];
    let mut done = false;
    for (index, (_, pid, events)) in ordered.iter().enumerate() {
        let Some(Event::Start { resumed, .. }) = events.first() else {
            unreachable!()
        };
        let mut next = resumed.clone();
        for p in 0..PARTITIONS as usize {
            assert!(
                committed[p] <= next[p] && next[p] <= received[p],
                "{group} session {index} (pid {pid}) resumed partition {p} at {} outside [{}, {}]",
                next[p],
                committed[p],
                received[p]
            );
        }
        for event in &events[1..] {
            match event {
                Event::Run {
                    partition,
                    first,
                    last,
                } => {
                    let p = *partition as usize;
                    assert_eq!(
                        *first, next[p],
                        "{group} pid {pid} partition {p}: a gap or a repeat inside a session"
                    );
                    next[p] = last + 1;
                    received[p] = received[p].max(next[p]);
                }
                Event::Commit { partition, offset } => {
                    let p = *partition as usize;
                    assert!(
                        *offset <= next[p],
                        "{group}: committed past what it received"
                    );
                    committed[p] = committed[p].max(*offset);
                }
                Event::Done => done = true,
                Event::Broken(line) => panic!("{group} pid {pid}: {line}"),
                Event::Start { .. } => panic!("{group} pid {pid}: started twice"),
            }
        }
    }
    assert!(done, "{group}: no session reached the end of the topic");
    for (p, &got) in received.iter().enumerate() {
        assert_eq!(got, end, "{group} partition {p}: lost the end of the topic");
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
    // Two consumer processes per group: one gets the group, the other waits for it.
    let mut consumers: Vec<(usize, Process)> = (0..GROUPS.len())
        .flat_map(|g| [g, g])
        .map(|g| (g, spawn("consume", &region, Some(GROUPS[g]), &ledger)))
        .collect();
    // Let both groups start before anything is sent, so each sees offset 0.
    let deadline = Instant::now() + PATIENCE;
    while ledger.lock().unwrap().len() < GROUPS.len() {
        assert!(Instant::now() < deadline, "the groups never started");
        std::thread::sleep(Duration::from_millis(1));
    }
    writeln!(producer.child.stdin.as_mut().unwrap(), "go").unwrap();

    let (mut kills, started) = (0, Instant::now());
    while started.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_millis(5 + next_random(&mut rng) % 100));
        let victim = (next_random(&mut rng) % (consumers.len() as u64 + 1)) as usize;
        kills += 1;
        if victim == consumers.len() {
            producer.kill();
            producer = spawn("produce", &region, None, &ledger);
        } else {
            let (g, process) = consumers.swap_remove(victim);
            process.kill();
            consumers.push((g, spawn("consume", &region, Some(GROUPS[g]), &ledger)));
        }
    }
    // The last producer publishes up to a common end and closes the topic.
    producer.kill();
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
    // Each group's holder reads to the end and says so; then the standbys are stopped.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let finished = ledger
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, events)| matches!(events.last(), Some(Event::Done)))
            .count();
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
        process.kill();
    }
    drop(topic);
    let _ = remove(&region);

    let ledger = ledger.lock().unwrap();
    let mut sessions = 0;
    for group in GROUPS {
        let of_group: Vec<(u32, Vec<Event>)> = ledger
            .iter()
            .filter(|((g, _), _)| g == group)
            .map(|((_, pid), events)| (*pid, events.clone()))
            .collect();
        sessions += of_group.len();
        check_group(group, &of_group, end);
    }
    println!(
        "shm crash test: {seconds} s, {kills} kills, {sessions} consumer sessions, {end} offsets per partition: ok"
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
