//! The supervisor thread: a failed spawn is an error of `build`, and a dropped group's thread
//! ends at once, whatever its tick. A `harness = false` binary: the spawn-failure case runs in
//! a child process with an absurd `RUST_MIN_STACK`, which std reads once, before its first spawn.

use std::process::Command;
use std::time::{Duration, Instant};

use ringgroup::{GroupError, Topic};

const CHILD: &str = "RINGGROUP_SUPERVISOR_TEST_CHILD";

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| tasks.count())
        .unwrap_or(0)
}

/// Child: every thread spawn fails, so building a group must say so.
fn spawn_failure_is_an_error() {
    let (topic, _producer) = Topic::<u64>::builder("t").build().unwrap();
    match topic.group("g").build() {
        Err(GroupError::SupervisorSpawn { .. }) => {}
        other => panic!("expected SupervisorSpawn, got {other:?}"),
    }
}

/// Groups with a one-hour interval, built and dropped: their threads end without waiting out
/// a tick.
fn dropped_groups_stop_their_supervisors() {
    let (topic, _producer) = Topic::<u64>::builder("t").max_groups(4).build().unwrap();
    let before = threads();
    for _ in 0..200 {
        let group = topic
            .group("g")
            .max_poll_interval(Duration::from_secs(3600))
            .build()
            .unwrap();
        drop(group);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while threads() > before {
        assert!(
            Instant::now() < deadline,
            "{} supervisor threads outlived their groups",
            threads() - before
        );
        std::thread::yield_now();
    }
    let group = topic
        .group("g")
        .max_poll_interval(Duration::MAX)
        .build()
        .unwrap();
    assert_eq!(threads(), before + 1);
    drop(group);
    while threads() > before {
        assert!(
            Instant::now() < deadline,
            "a Duration::MAX supervisor never ended"
        );
        std::thread::yield_now();
    }
}

fn main() {
    if std::env::var_os(CHILD).is_some() {
        spawn_failure_is_an_error();
        return;
    }
    // Every thread of the child asks for a 64 TiB stack: the spawn fails.
    let status = Command::new(std::env::current_exe().unwrap())
        .env(CHILD, "1")
        .env("RUST_MIN_STACK", (1_u64 << 46).to_string())
        .status()
        .unwrap();
    assert!(status.success(), "spawn-failure child: {status}");
    println!("test spawn_failure_is_an_error ... ok");
    dropped_groups_stop_their_supervisors();
    println!("test dropped_groups_stop_their_supervisors ... ok");
}
