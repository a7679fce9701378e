//! The corruption walk: memory another process can write is untrusted input, so no word of a
//! region, whatever it holds, may make a process attached to it crash, hang, or report a
//! record that was never published.
//!
//! # Scenes
//!
//! A scene is a fresh region (2 partitions, capacity 8, 3 groups) and child processes (this
//! binary re-run in a role) using it:
//! - `single`: a single-producer topic, a producer process, two consumer processes that are
//!   members of one group, and a process with a plain reader on each partition;
//! - `multi`: a multi-producer topic, two producer processes and a group consumer (stamps,
//!   the claim head and claimer records are live);
//! - `request`: a request topic with a producer group, a requester process and a worker
//!   process that replies (the directory and a reply region are live; both regions are walked).
//!
//! Records are tagged (`check = seq ^ K ^ partition`, never all zeros), and a single
//! producer's `seq` is its offset, so an unwritten slot, a stale lap or garbage shows. Every
//! child checks every record it gets, and a requester checks each reply against its request.
//! One allowance, the one `shm::trust` documents ("What no check can do"): a gating word forged
//! forward lets the producer lap a reader, so a lent batch may hold a later lap's record; the
//! reader must then get `Corrupt` at its next poll of that partition, and a poll that lends
//! records there again is a failure.
//!
//! # A case
//!
//! One word of the layout (`ringgroup::shm::layout::describe`) and one value: 0, 1,
//! capacity - 1, capacity, capacity + 1, the word's maximum, or a seeded random value. The
//! parent swaps the value into the word (through its own mapping) and starts a late opener (a
//! process that opens the topic, reads and, for a request topic, opens the producer group and
//! its reply region); the workload runs on it for a short dwell, then the parent pings every
//! child: a child answers once it has run two more iterations of its work, so each has met the
//! corrupt word. Then the parent puts the old value back if the word still holds the planted
//! one, so cases stay apart.
//!
//! A child's outcome is *normal* (it answered, or exited 0 when stopped), a *typed error* (it
//! printed an error's Display and Debug and exited [`TYPED`]; a child that makes no progress
//! for [`STALL`] exits so, with its last timeout) or a **failure**: killed by a signal, a
//! panic, no answer within [`DEADLINE`] (a hang: it is killed), or a record that was not
//! published ([`INVALID`]). Children use timed waits only (`poll(max, timeout)`,
//! `send_timeout`, `poll_timeout`, `request_timeout`, `wait(timeout)`), so a stall is a typed
//! timeout and an unbounded loop in the library is the parent's deadline; a hung child says
//! which call it is stuck in.
//!
//! A scene's processes live on across cases while they answer; once one exits (or hangs) the
//! scene is stopped, its outcomes recorded, its files removed, and the next case gets a fresh
//! scene. A failing case is run again alone, on a fresh scene, to tell whether it fails by
//! itself.
//!
//! # Modes (environment)
//!
//! - default: random words (three in four from the words in use) and random values for
//!   `RINGGROUP_WALK_SECONDS` (30) from seed `RINGGROUP_WALK_SEED` (fixed);
//! - `RINGGROUP_WALK=full`: every word of every scene with every value;
//! - `RINGGROUP_WALK_CASE='<scene>:<region>/<word>=<value>'`: one case on a fresh scene;
//! - `RINGGROUP_WALK_WORDS=<text>`, `RINGGROUP_WALK_SCENES=single,multi,request`: filters;
//! - `RINGGROUP_WALK_LOG=<file>`: every case's outcome, one line each.
//!
//! A self-check first proves that the classifier fails a child killed by a signal, a panic, a
//! hang and a reported bad record. A `harness = false` test: `main` runs the walk, or a role.

use std::time::Duration;

use ringgroup::producer_group::Request;

const ROLE: &str = "RINGGROUP_WALK_ROLE";
const PARTITIONS: u32 = 2;
const CAPACITY: usize = 8;
const MAX_GROUPS: usize = 3;
/// The tag's key: `check = seq ^ K ^ partition`.
const K: u64 = 0x5eed_c0de_7a66_ed01;
/// What a reply's tag is salted with instead of a partition.
const REPLY_SALT: u64 = 0x00ff_0000;
const MAX_BATCH: usize = 4;
/// Every wait a child makes.
const OP_TIMEOUT: Duration = Duration::from_millis(20);
/// A child that makes no progress for this long exits with its last timeout (a typed error).
const STALL: Duration = Duration::from_secs(1);
/// A child whose loop has not turned for this long says which call it is in.
const STUCK: Duration = Duration::from_secs(3);
/// How long the parent waits for an answer, an exit or a scene's start.
/// More than the library's longest bounded wait (an opener waits 5 s for a region's creator).
const DEADLINE: Duration = Duration::from_secs(8);
const START_DEADLINE: Duration = Duration::from_secs(30);
/// How long the workload runs on a corrupt word before the ping (some checks look only every
/// 10 ms). The workload's time, not a synchronisation: the ping is.
const DWELL: Duration = Duration::from_millis(25);
/// Cases a scene runs in the randomized mode before it is stopped (and a fresh one started).
const CASES_PER_SCENE: usize = 40;
/// Failing cases run again alone, at most.
const MAX_RERUNS: usize = 24;
const DEFAULT_SEED: u64 = 0x2026_c0aa_0571_5eed;
const DEFAULT_SECONDS: u64 = 30;

/// Exit codes of a child.
const OK: i32 = 0;
const TYPED: i32 = 10;
const INVALID: i32 = 12;
const SETUP: i32 = 13;

/// A record: `check` ties `seq` to the partition, and is never 0 for a written record.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
struct Tagged {
    seq: u64,
    check: u64,
}

impl Tagged {
    fn new(seq: u64, salt: u64) -> Self {
        Self {
            seq,
            check: seq ^ K ^ salt,
        }
    }

    fn is_valid(&self, salt: u64) -> bool {
        self.check == self.seq ^ K ^ salt
    }
}

type Job = Request<Tagged, Tagged>;

/// The reply a worker gives to request `value`.
fn answer(value: &Tagged) -> Tagged {
    Tagged::new(value.seq.wrapping_mul(3).wrapping_add(1), REPLY_SALT)
}

#[path = "shm_corruption/child.rs"]
mod child;
#[path = "shm_corruption/process.rs"]
mod process;
#[path = "shm_corruption/roles.rs"]
mod roles;
#[path = "shm_corruption/scene.rs"]
mod scene;
#[path = "shm_corruption/walk.rs"]
mod walk;

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        let (role, region) = role.split_once(' ').unwrap_or((role.as_str(), ""));
        let code = child::run(role, region);
        std::process::exit(code);
    }
    walk::run();
}
