//! Consumer groups on shared-memory topics: a group name belongs to one process at a time; a
//! process that is killed leaves its group to the next build of the name, which resumes at the
//! dead group's commits.
//!
//! The cross-process test runs this test binary again as the child (`--exact` on its own name,
//! with the role in an environment variable).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use ringgroup::shm::{remove, MAX_GROUP_NAME};
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
fn a_group_name_is_held_once_and_given_up_on_drop() {
    let name = name("held");
    let _cleanup = Cleanup(name.clone());
    let (topic, _producer) = Topic::<u64>::builder("t")
        .max_groups(2)
        .shared_memory(&name)
        .build()
        .unwrap();
    let other = Topic::<u64>::open(&name).unwrap();
    let group = topic.group("g").build().unwrap();
    assert_eq!(
        other.group("g").build().unwrap_err(),
        GroupError::HeldByProcess {
            pid: std::process::id()
        }
    );
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
    let again = other.group("g").build().unwrap();
    drop((again, second));
}

/// The child: builds group "g", polls and commits what the parent sent, says how far it
/// committed, then waits to be killed.
fn child(region: &str) {
    let topic = Topic::<u64>::open(region).unwrap();
    // The parent probes the name until this process holds it: wait out its brief holds.
    let group = loop {
        match topic.group("g").auto_commit(false).build() {
            Ok(group) => break group,
            Err(GroupError::HeldByProcess { .. }) => std::thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    };
    let member = group.join().unwrap();
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

/// Runs this test binary's `test` as the child on `region`, waits until it holds group "g",
/// sends it offsets 0..10 and waits until it has committed 6. Returns the child, alive.
fn child_holding_commit_6(
    test: &str,
    region: &str,
    topic: &Topic<u64>,
    producer: &mut ringgroup::Producer<u64>,
) -> std::process::Child {
    let mut process = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture"])
        .env(ROLE, region)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the child holds the group, then send: it reads from the start.
    while topic.group("g").build().is_ok() {
        assert!(process.try_wait().unwrap().is_none(), "the child died");
        std::thread::yield_now();
    }
    for value in 0..10 {
        producer.send_to(0, value).unwrap();
    }
    let mut out = BufReader::new(process.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("committed 6") {
        line.clear();
        assert_ne!(
            out.read_line(&mut line).unwrap(),
            0,
            "the child ended early"
        );
    }
    process
}

#[test]
fn a_killed_process_group_resumes_at_its_commit() {
    if let Ok(region) = std::env::var(ROLE) {
        child(&region);
        return;
    }
    let region = name("killed");
    let _cleanup = Cleanup(region.clone());
    let (topic, mut producer) = Topic::<u64>::builder("t")
        .capacity(16)
        .shared_memory(&region)
        .build()
        .unwrap();
    let mut process = child_holding_commit_6(
        "a_killed_process_group_resumes_at_its_commit",
        &region,
        &topic,
        &mut producer,
    );
    let pid = process.id();
    assert_eq!(
        topic.group("g").build().unwrap_err(),
        GroupError::HeldByProcess { pid }
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
    let region = name("deleted");
    let _cleanup = Cleanup(region.clone());
    let (topic, mut producer) = Topic::<u64>::builder("t")
        .capacity(16)
        .shared_memory(&region)
        .build()
        .unwrap();
    let mut process = child_holding_commit_6(
        "a_dead_processs_group_gates_until_deleted",
        &region,
        &topic,
        &mut producer,
    );
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
        match topic.group("g").build() {
            Err(GroupError::HeldByProcess { .. }) => std::process::exit(0),
            Ok(_) => std::process::exit(3), // took a live holder's group
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
        "the child took a live process's group (3) or failed otherwise (4)"
    );
}
