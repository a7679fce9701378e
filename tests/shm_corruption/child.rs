//! A child's side: the parent's orders (ping, stop), the loop that runs a role and
//! answers pings, and the watchdog that names the call a hung loop is in.

use std::fmt::{Debug, Display};
use std::io::BufRead;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use crate::roles;
use crate::{INVALID, OK, SETUP, STALL, STUCK, TYPED};

/// What the parent asked, and where the loop is (for the watchdog).
struct Control {
    stop: AtomicBool,
    ping: AtomicU64,
    turns: AtomicU64,
    phase: AtomicU8,
}

static CONTROL: Control = Control {
    stop: AtomicBool::new(false),
    ping: AtomicU64::new(0),
    turns: AtomicU64::new(0),
    phase: AtomicU8::new(0),
};

/// The library call a child is in.
#[derive(Clone, Copy)]
#[repr(u8)]
pub(crate) enum Phase {
    Setup,
    Open,
    Send,
    Poll,
    Request,
    Wait,
    Reply,
    Drop,
}

const PHASES: [&str; 8] = [
    "setup", "open", "send", "poll", "request", "wait", "reply", "drop",
];

/// Notes the library call the loop is about to make.
pub(crate) fn enter(phase: Phase) {
    CONTROL.phase.store(phase as u8, Ordering::Relaxed);
}

/// What one turn of a role's loop did.
pub(crate) enum Turn {
    /// Records moved.
    Progress,
    /// Nothing moved; why (a timeout's text). Counts towards [`STALL`].
    Idle(String),
    /// Nothing to do by design (a group member that owns no partition).
    Unassigned,
}

/// Why a role ends early.
pub(crate) enum End {
    Typed(String),
    Invalid(String),
}

/// The end on a typed error: where it came from, its Display and its Debug.
pub(crate) fn typed(context: &str, error: &(impl Display + Debug)) -> End {
    End::Typed(format!("{context}: {error} | {error:?}"))
}

/// Plays `role` on region `region`; the exit code.
pub(crate) fn run(role: &str, region: &str) -> i32 {
    listen();
    watch();
    enter(Phase::Setup);
    let code = match role {
        "sp-producer" => roles::single_producer(region),
        "member" => roles::member(region, true),
        "mp-member" => roles::member(region, false),
        "reader" => roles::reader(region),
        "mp-producer-0" => roles::multi_producer(region, 0),
        "mp-producer-1" => roles::multi_producer(region, 1),
        "requester" => roles::requester(region),
        "worker" => roles::worker(region),
        "opener" => roles::opener(region, true),
        "mp-opener" => roles::opener(region, false),
        "rq-opener" => roles::request_opener(region),
        "plant-abort" => std::process::abort(),
        "plant-panic" => panic!("planted panic"),
        "plant-invalid" => drive(|| Err(End::Invalid("planted bad record".into()))),
        "plant-hang" => drive(|| loop {
            std::thread::park();
        }),
        other => {
            println!("setup unknown role {other}");
            SETUP
        }
    };
    enter(Phase::Drop);
    code
}

/// Reads the parent's orders: `ping <n>`, `stop` (or the end of stdin).
fn listen() {
    std::thread::spawn(|| {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if let Some(id) = line.strip_prefix("ping ") {
                CONTROL
                    .ping
                    .store(id.parse().unwrap_or(0), Ordering::Relaxed);
            } else if line == "stop" {
                break;
            }
        }
        CONTROL.stop.store(true, Ordering::Relaxed);
    });
}

/// Says once which call the loop is stuck in, when it has not turned for [`STUCK`].
fn watch() {
    std::thread::spawn(|| {
        let mut seen = (u64::MAX, Instant::now());
        let mut told = false;
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let turns = CONTROL.turns.load(Ordering::Relaxed);
            if turns != seen.0 {
                seen = (turns, Instant::now());
                told = false;
            } else if !told && seen.1.elapsed() >= STUCK {
                let phase = PHASES[CONTROL.phase.load(Ordering::Relaxed) as usize];
                println!("stuck {phase}");
                told = true;
            }
        }
    });
}

/// Turns `turn` until stopped, answering pings and ending on an error; the exit code.
pub(crate) fn drive(mut turn: impl FnMut() -> Result<Turn, End>) -> i32 {
    let mut progress = 0_u64;
    let mut last_progress = Instant::now();
    // The ping being answered, and the turn count at which it is due.
    let mut answering: Option<(u64, u64)> = None;
    let mut answered = 0;
    let mut turns = 0_u64;
    loop {
        if CONTROL.stop.load(Ordering::Relaxed) {
            return OK;
        }
        let ping = CONTROL.ping.load(Ordering::Relaxed);
        if ping > answered && answering.is_none_or(|(id, _)| id != ping) {
            answering = Some((ping, turns + 2));
        }
        match turn() {
            Ok(Turn::Progress) => {
                progress += 1;
                last_progress = Instant::now();
            }
            Ok(Turn::Unassigned) => last_progress = Instant::now(),
            Ok(Turn::Idle(why)) => {
                if last_progress.elapsed() >= STALL {
                    println!("typed stalled ({why})");
                    return TYPED;
                }
            }
            Err(End::Typed(error)) => {
                println!("typed {error}");
                return TYPED;
            }
            Err(End::Invalid(what)) => {
                println!("invalid {what}");
                return INVALID;
            }
        }
        turns += 1;
        CONTROL.turns.store(turns, Ordering::Relaxed);
        if let Some((id, due)) = answering {
            if turns >= due {
                println!("pong {id} {progress}");
                answered = id;
                answering = None;
            }
        }
    }
}

/// The value of `result`, or the end of the child: its setup failed (on a fresh region,
/// a failure of the walk itself).
pub(crate) fn setup<T, E: Debug + Display>(result: Result<T, E>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(error) => {
            println!("setup {what}: {error} | {error:?}");
            std::process::exit(SETUP);
        }
    }
}
