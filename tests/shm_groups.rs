//! Consumer groups on shared-memory topics: every handle of a group (in any process) is a
//! member process; they split the partitions, and a killed one's partitions go to the live
//! members, or, when none is left, to the next build of the name, at the commits.
//!
//! The cross-process test runs this test binary again as the child (`--exact` on its own name,
//! with the role in an environment variable).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use ringgroup::shm::{remove, MAX_GROUP_NAME, MAX_GROUP_PROCESSES};
use ringgroup::{ConsumeError, GroupError, Topic};

const ROLE: &str = "RINGGROUP_SHM_GROUP_ROLE";

fn name(test: &str) -> String {
    format!("groups-{}-{test}", std::process::id())
}

struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = remove(&self.0);
    }
}

/// Polls `member` until a batch comes; returns its offsets.
fn poll_some(member: &ringgroup::Consumer<u64>) -> Vec<u64> {
    loop {
        match member.poll(64, Duration::from_millis(10)) {
            Ok(records) => return records.iter().map(|r| r.offset).collect(),
            Err(ConsumeError::Timeout) => continue,
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn handles_share_a_group_and_the_last_gives_it_up() {
    let name = name("held");
    let _cleanup = Cleanup(name.clone());
    let (topic, _producer) = Topic::<u64>::builder("t")
        .max_groups(2)
        .shared_memory(&name)
        .build()
        .unwrap();
    let other = Topic::<u64>::open(&name).unwrap();
    let group = topic.group("g").build().unwrap();
    // A second handle is a second member process of the same group.
    let joined = other.group("g").build().unwrap();
    let me = GroupError::HeldByProcess {
        pid: std::process::id(),
    };
    assert_eq!(topic.delete_group("g"), Err(me.clone()));
    let long = "x".repeat(MAX_GROUP_NAME + 1);
    assert_eq!(
        other.group(&long).build().unwrap_err(),
        GroupError::NameTooLong {
            max: MAX_GROUP_NAME
        }
    );
    let second = other.group("h").build().unwrap();
    assert_eq!(
        other.group("i").build().unwrap_err(),
        GroupError::TooManyGroups { max: 2 }
    );
    drop(group);
    assert_eq!(topic.delete_group("g"), Err(me), "a member is left");
    drop(joined);
    // The last handle gave the name up: nothing left to delete, and the entry is free.
    assert_eq!(topic.delete_group("g"), Ok(false));
    let again = other.group("i").build().unwrap();
    drop((again, second));
}

#[test]
fn a_group_has_at_most_max_group_processes_handles() {
    let name = name("processes");
    let _cleanup = Cleanup(name.clone());
    let (topic, _producer) = Topic::<u64>::builder("t")
        .shared_memory(&name)
        .build()
        .unwrap();
    let handles: Vec<_> = (0..MAX_GROUP_PROCESSES)
        .map(|_| topic.group("g").build().unwrap())
        .collect();
    assert_eq!(
        topic.group("g").build().unwrap_err(),
        GroupError::TooManyProcesses {
            max: MAX_GROUP_PROCESSES
        }
    );
    drop(handles);
    topic.group("g").build().unwrap();
}

/// Polls `member` until it owns exactly `count` partitions, returning them.
fn settle(member: &ringgroup::Consumer<u64>, count: usize, seen: &mut Vec<(u32, u64)>) -> Vec<u32> {
    loop {
        match member.poll(64, Duration::from_millis(1)) {
            Ok(records) => seen.extend(records.iter().map(|r| (r.partition, r.offset))),
            Err(ConsumeError::Timeout) => {}
            Err(e) => panic!("{e}"),
        }
        let owned: Vec<u32> = member.assignment().iter().map(|a| a.partition).collect();
        if owned.len() == count {
            return owned;
        }
    }
}

/// Two member processes (two handles) of one group: the partitions are split between their
/// consumers, never owned by both, and move back when one leaves; every offset is delivered
/// once, in order per partition (auto-commit: each batch is committed when dropped).
#[test]
fn member_processes_split_the_partitions_and_lose_nothing() {
    let name = name("split");
    let _cleanup = Cleanup(name.clone());
    let (topic, mut producer) = Topic::<u64>::builder("t")
        .partitions(4)
        .capacity(64)
        .shared_memory(&name)
        .build()
        .unwrap();
    let other = Topic::<u64>::open(&name).unwrap();
    let first = topic.group("g").build().unwrap();
    let a = first.join().unwrap();
    let mut seen_a = Vec::new();
    let mut seen_b = Vec::new();
    assert_eq!(settle(&a, 4, &mut seen_a), vec![0, 1, 2, 3]);
    for value in 0..40 {
        producer.send_to((value % 4) as u32, value).unwrap();
    }
    let second = other.group("g").build().unwrap();
    let b = second.join().unwrap();
    // Release before acquire: `a` hands two partitions on at its polls, `b` takes them up;
    // at no point do both consumers hold one.
    let (mut owned_a, mut owned_b) = (Vec::new(), Vec::new());
    while owned_a.len() != 2 || owned_b.len() != 2 {
        for (member, seen) in [(&a, &mut seen_a), (&b, &mut seen_b)] {
            if let Ok(records) = member.poll(64, Duration::from_millis(1)) {
                seen.extend(records.iter().map(|r| (r.partition, r.offset)));
            }
            owned_a = a.assignment().iter().map(|x| x.partition).collect();
            owned_b = b.assignment().iter().map(|x| x.partition).collect();
            assert!(
                owned_a.iter().all(|p| !owned_b.contains(p)),
                "both hold a partition: {owned_a:?} and {owned_b:?}"
            );
        }
    }
    // Kafka's describe-group view: both processes' consumers, from either handle.
    assert_eq!(first.metrics().members, 2);
    assert_eq!(second.metrics().members, 2);
    for value in 40..80 {
        producer.send_to((value % 4) as u32, value).unwrap();
    }
    // Both drain what they own.
    while seen_a.len() + seen_b.len() < 80 {
        for (member, seen) in [(&a, &mut seen_a), (&b, &mut seen_b)] {
            if let Ok(records) = member.poll(64, Duration::from_millis(1)) {
                seen.extend(records.iter().map(|r| (r.partition, r.offset)));
            }
        }
    }
    for (p, _) in &seen_b {
        assert!(
            owned_b.contains(p),
            "b read partition {p}, which it does not own"
        );
    }
    drop(b);
    drop(second);
    // The leaving process's partitions come back to `a`, at the commits.
    settle(&a, 4, &mut seen_a);
    for value in 80..120 {
        producer.send_to((value % 4) as u32, value).unwrap();
    }
    while seen_a.len() + seen_b.len() < 120 {
        if let Ok(records) = a.poll(64, Duration::from_millis(1)) {
            seen_a.extend(records.iter().map(|r| (r.partition, r.offset)));
        }
    }
    let mut all: Vec<(u32, u64)> = seen_a.iter().chain(&seen_b).copied().collect();
    all.sort();
    let expected: Vec<(u32, u64)> = (0..4).flat_map(|p| (0..30).map(move |o| (p, o))).collect();
    assert_eq!(all, expected, "every offset once");
}

/// The child: builds group "g", polls and commits what the parent sent, says how far it
/// committed, then waits to be killed.
fn child(region: &str) {
    let topic = Topic::<u64>::open(region).unwrap();
    let group = topic.group("g").auto_commit(false).build().unwrap();
    let member = group.join().unwrap();
    println!("joined");
    let mut seen = Vec::new();
    while seen.len() < 10 {
        seen.extend(poll_some(&member));
    }
    assert_eq!(seen, (0..10).collect::<Vec<_>>());
    member.commit_offset(0, 6).unwrap();
    println!("committed 6");
    loop {
        std::thread::park();
    }
}

/// A region named after `tag` with a 16-slot topic, and this test binary's `test` running as
/// the child on it, alive, a member of group "g" that has read offsets 0..10 and committed 6.
fn child_holding_commit_6(
    test: &str,
    tag: &str,
) -> (
    Cleanup,
    Topic<u64>,
    ringgroup::Producer<u64>,
    std::process::Child,
) {
    let region = name(tag);
    let cleanup = Cleanup(region.clone());
    let (topic, mut producer) = Topic::<u64>::builder("t")
        .capacity(16)
        .shared_memory(&region)
        .build()
        .unwrap();
    let mut process = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture"])
        .env(ROLE, &region)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the child is a member, then send: it reads from the start.
    let mut out = BufReader::new(process.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("joined") {
        line.clear();
        assert_ne!(
            out.read_line(&mut line).unwrap(),
            0,
            "the child ended early"
        );
    }
    for value in 0..10 {
        producer.send_to(0, value).unwrap();
    }
    while !line.contains("committed 6") {
        line.clear();
        assert_ne!(
            out.read_line(&mut line).unwrap(),
            0,
            "the child ended early"
        );
    }
    (cleanup, topic, producer, process)
}

#[test]
fn a_killed_process_group_resumes_at_its_commit() {
    if let Ok(region) = std::env::var(ROLE) {
        child(&region);
        return;
    }
    let (_cleanup, topic, _producer, mut process) =
        child_holding_commit_6("a_killed_process_group_resumes_at_its_commit", "killed");
    let pid = process.id();
    assert_eq!(
        topic.delete_group("g"),
        Err(GroupError::HeldByProcess { pid })
    );
    process.kill().unwrap();
    process.wait().unwrap();
    let group = topic.group("g").build().unwrap();
    let member = group.join().unwrap();
    assert_eq!(group.metrics().partitions[0].committed, 6);
    assert_eq!(
        poll_some(&member).first(),
        Some(&6),
        "resumed at the commit"
    );
}

/// A partition leaves a member process only once its consumer let it go: while the consumer
/// holds a batch of it, the other process's consumer gets nothing of it, however long it polls.
#[test]
fn a_partition_moves_to_another_process_only_after_its_batch_is_dropped() {
    let name = name("batch");
    let _cleanup = Cleanup(name.clone());
    let (topic, mut producer) = Topic::<u64>::builder("t")
        .partitions(2)
        .shared_memory(&name)
        .build()
        .unwrap();
    let other = Topic::<u64>::open(&name).unwrap();
    let first = topic.group("g").build().unwrap();
    let a = first.join().unwrap();
    assert_eq!(settle(&a, 2, &mut Vec::new()), vec![0, 1]);
    for value in 0..8 {
        producer.send_to((value % 2) as u32, value).unwrap();
    }
    let mut batch = Vec::new();
    let held = loop {
        let records = a.poll(64, Duration::from_millis(10)).unwrap();
        batch.extend(records.iter().map(|r| r.partition));
        if batch.contains(&0) && batch.contains(&1) {
            break records;
        }
    };
    let second = other.group("g").build().unwrap();
    let b = second.join().unwrap();
    // Many of the other process's syncs and polls (each sync is at most a few ms apart).
    for _ in 0..100 {
        match b.poll(64, Duration::from_millis(2)) {
            Err(ConsumeError::Timeout) => {}
            Ok(records) => panic!(
                "b read {:?} while a's batch of it was out",
                records.iter().map(|r| r.partition).collect::<Vec<_>>()
            ),
            Err(e) => panic!("{e}"),
        }
        assert!(b.assignment().is_empty());
    }
    drop(held);
    let mut seen = Vec::new();
    let owned_a = settle(&a, 1, &mut seen);
    let owned_b = settle(&b, 1, &mut seen);
    assert_ne!(owned_a, owned_b);
}

/// A member process killed while it owns the partition: the live member process's consumer
/// gets it within the reaper's period (pid and start time, no timeout), at the commit.
#[test]
fn a_killed_member_processs_partition_moves_to_a_live_member() {
    if let Ok(region) = std::env::var(ROLE) {
        child(&region);
        return;
    }
    let (_cleanup, topic, _producer, mut process) = child_holding_commit_6(
        "a_killed_member_processs_partition_moves_to_a_live_member",
        "moves",
    );
    // A live member in this process: one partition, owned by the child, so it gets nothing.
    let group = topic.group("g").auto_commit(false).build().unwrap();
    let member = group.join().unwrap();
    assert_eq!(
        member.poll(64, Duration::from_millis(20)).err(),
        Some(ConsumeError::Timeout)
    );
    assert!(
        member.assignment().is_empty(),
        "the child's partition moved while it lived"
    );
    process.kill().unwrap();
    process.wait().unwrap();
    assert_eq!(
        poll_some(&member).first(),
        Some(&6),
        "resumed at the commit"
    );
    assert_eq!(member.assignment().len(), 1);
}

/// A build that fails to register its cursors gives the name up again.
#[test]
fn a_failed_build_gives_the_name_up() {
    let name = name("failed");
    let _cleanup = Cleanup(name.clone());
    let (topic, _producer) = Topic::<u64>::builder("t")
        .max_groups(1)
        .shared_memory(&name)
        .build()
        .unwrap();
    let reader = topic
        .subscriber(0)
        .unwrap()
        .subscribe(ringgroup::StartAt::Earliest)
        .unwrap();
    assert!(matches!(
        topic.group("g").build(),
        Err(GroupError::Subscribe { partition: 0, .. })
    ));
    drop(reader);
    topic.group("g").build().unwrap();
}

/// A dead process's group keeps gating the producer (it keeps its place for the next holder)
/// until `delete_group` deletes it.
#[test]
fn a_dead_processs_group_gates_until_deleted() {
    if let Ok(region) = std::env::var(ROLE) {
        child(&region);
        return;
    }
    let (_cleanup, topic, mut producer, mut process) =
        child_holding_commit_6("a_dead_processs_group_gates_until_deleted", "deleted");
    process.kill().unwrap();
    process.wait().unwrap();
    // Gated at its commit: 6 + 16 offsets at most.
    let mut sent = 10;
    while producer.try_send(sent).is_ok() {
        sent += 1;
    }
    assert_eq!(sent, 6 + 16, "the dead group no longer gates at its commit");
    assert_eq!(topic.delete_group("g"), Ok(true));
    assert_eq!(topic.delete_group("g"), Ok(false));
    for value in sent..sent + 100 {
        producer.try_send(value).unwrap();
    }
}

/// A process that cannot read `/proc` (here: out of file descriptors) must not take a live
/// holder for dead: its build of a held group is still refused.
#[test]
fn a_process_out_of_descriptors_confirms_no_death() {
    const EXHAUSTED: &str = "RINGGROUP_SHM_GROUP_EXHAUSTED";
    if let Ok(region) = std::env::var(EXHAUSTED) {
        let topic = Topic::<u64>::open(&region).unwrap();
        // Holding a group of its own makes this process know its identity first.
        let _own = topic.group("own").build().unwrap();
        // Use up every descriptor (the limit is low: see below), then try to build.
        let mut held = Vec::new();
        while let Ok(file) = std::fs::File::open("/dev/null") {
            held.push(file);
        }
        // Deleting reaps dead members first: a live one taken for dead would let it delete.
        match topic.delete_group("g") {
            Err(GroupError::HeldByProcess { .. }) => std::process::exit(0),
            Ok(_) => std::process::exit(3), // took a live member for dead
            Err(_) => std::process::exit(4),
        }
    }
    let region = name("emfile");
    let _cleanup = Cleanup(region.clone());
    let (topic, _producer) = Topic::<u64>::builder("t")
        .shared_memory(&region)
        .build()
        .unwrap();
    let _group = topic.group("g").build().unwrap();
    let exe = std::env::current_exe().unwrap();
    let status = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 64 && exec \"$0\" \"$@\"")
        .arg(&exe)
        .args([
            "--exact",
            "a_process_out_of_descriptors_confirms_no_death",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(EXHAUSTED, &region)
        .status()
        .unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "the child took a live member for dead (3) or failed otherwise (4)"
    );
}

const STATIC_ROLE: &str = "RINGGROUP_SHM_STATIC_ROLE";

/// The static child: joins group "g" as static member "i1" with the session timeout in
/// milliseconds from the role, and prints its partitions whenever they change.
fn static_child(role: &str) {
    let (region, session) = role.split_once(' ').unwrap();
    let topic = Topic::<u64>::open(region).unwrap();
    let group = topic
        .group("g")
        .session_timeout(Duration::from_millis(session.parse().unwrap()))
        .build()
        .unwrap();
    let member = group
        .join_static("i1", ringgroup::JoinOptions::new())
        .unwrap();
    let mut last = Vec::new();
    loop {
        let _ = member.poll(64, Duration::from_millis(1));
        let owned: Vec<u32> = member.assignment().iter().map(|a| a.partition).collect();
        if owned != last {
            println!("owns {owned:?}");
            last = owned;
        }
    }
}

/// Spawns the static child on `region` with `session_ms`; its lines arrive on the receiver.
fn spawn_static(
    test: &str,
    region: &str,
    session_ms: u64,
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut process = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture"])
        .env(STATIC_ROLE, format!("{region} {session_ms}"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = BufReader::new(process.stdout.take().unwrap());
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                return;
            }
        }
    });
    (process, receive)
}

/// Polls `member` (so it hands on what it is asked to) until the child says it owns two
/// partitions; returns them as printed.
fn child_owns_two(
    member: &ringgroup::Consumer<u64>,
    lines: &std::sync::mpsc::Receiver<String>,
) -> String {
    loop {
        let _ = member.poll(64, Duration::from_millis(1));
        while let Ok(line) = lines.try_recv() {
            if line.starts_with("owns [") && line.matches(',').count() == 1 {
                return line;
            }
        }
    }
}

/// A 4-partition region whose live dynamic member `b` (in this process) held everything, then
/// the static child (`session_ms`) joined and got two partitions from it.
struct StaticScene {
    b: ringgroup::Consumer<u64>,
    child: std::process::Child,
    /// The child's line for its two partitions.
    child_owns: String,
    /// `b`'s two.
    b_owns: Vec<u32>,
    _keep: (
        Cleanup,
        Topic<u64>,
        ringgroup::Producer<u64>,
        ringgroup::Group<u64>,
    ),
}

fn static_scene(test: &str, tag: &str, session_ms: u64) -> StaticScene {
    let region = name(tag);
    let cleanup = Cleanup(region.clone());
    let (topic, producer) = Topic::<u64>::builder("t")
        .partitions(4)
        .shared_memory(&region)
        .build()
        .unwrap();
    let group = topic.group("g").build().unwrap();
    let b = group.join().unwrap();
    settle(&b, 4, &mut Vec::new());
    let (child, lines) = spawn_static(test, &region, session_ms);
    let child_owns = child_owns_two(&b, &lines);
    let b_owns = settle(&b, 2, &mut Vec::new());
    StaticScene {
        b,
        child,
        child_owns,
        b_owns,
        _keep: (cleanup, topic, producer, group),
    }
}

/// Kafka's static membership across processes: a static member's process is killed and
/// restarted within its session timeout; meanwhile its partitions wait for it (the live
/// member's assignment never changes), and it gets exactly them back.
#[test]
fn a_restarted_static_member_process_gets_its_partitions_back_and_nothing_moves() {
    let test = "a_restarted_static_member_process_gets_its_partitions_back_and_nothing_moves";
    if let Ok(role) = std::env::var(STATIC_ROLE) {
        static_child(&role);
        return;
    }
    let mut scene = static_scene(test, "static", 60_000);
    scene.child.kill().unwrap();
    scene.child.wait().unwrap();
    // Several reaper periods (100 ms each): the dead member's partitions wait for it.
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_millis(400) {
        let _ = scene.b.poll(64, Duration::from_millis(5));
        let owned: Vec<u32> = scene.b.assignment().iter().map(|a| a.partition).collect();
        assert_eq!(
            owned, scene.b_owns,
            "a partition moved while the static member was away"
        );
    }
    let region = &scene._keep.0 .0;
    let (mut child, lines) = spawn_static(test, region, 60_000);
    let after = child_owns_two(&scene.b, &lines);
    assert_eq!(
        after, scene.child_owns,
        "the static member got other partitions back"
    );
    let owned: Vec<u32> = scene.b.assignment().iter().map(|a| a.partition).collect();
    assert_eq!(owned, scene.b_owns, "the live member's partitions moved");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A static member's process that stays away past its session timeout loses its partitions
/// to the live members.
#[test]
fn a_static_member_process_away_past_its_session_loses_its_partitions() {
    let test = "a_static_member_process_away_past_its_session_loses_its_partitions";
    if let Ok(role) = std::env::var(STATIC_ROLE) {
        static_child(&role);
        return;
    }
    let mut scene = static_scene(test, "session", 200);
    scene.child.kill().unwrap();
    scene.child.wait().unwrap();
    assert_eq!(settle(&scene.b, 4, &mut Vec::new()), vec![0, 1, 2, 3]);
}
