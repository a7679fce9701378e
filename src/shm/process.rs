//! Process identity and liveness, for owners recorded in a shared region.
//!
//! A process is named by its pid *and* its start time (field 22 of `/proc/<pid>/stat`, in clock
//! ticks since boot), so a pid the kernel reuses for a new process is never mistaken for the
//! old one. A process is dead when `/proc/<pid>/stat` is gone, names another start time, or says
//! the process is a zombie (killed, not yet reaped). Only a confirmed death breaks an owner's
//! claim: a slow or stopped process keeps what it holds (a timeout alone never takes it).

use super::lock_word::LockWord;
use crate::sync::OnceLock;

/// A process, as recorded in a region: pid and start time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProcessId {
    /// The pid.
    pub pid: u32,
    /// When it started, in clock ticks since boot.
    pub start: u64,
}

impl ProcessId {
    /// This process. Its start time is 0 while this process cannot read its own `/proc`
    /// entry (then it confirms no one's death), and is looked up again on the next call.
    pub fn current() -> Self {
        static CURRENT: OnceLock<ProcessId> = OnceLock::new();
        let pid = std::process::id();
        if let Some(current) = CURRENT.get().filter(|c| c.pid == pid) {
            return *current;
        }
        match stat(pid) {
            // Cached once known; a forked child (another pid) looks itself up each time.
            Seen::Process(stat) => {
                let current = ProcessId {
                    pid,
                    start: stat.start,
                };
                let cached = *CURRENT.get_or_init(|| current);
                if cached.pid == pid {
                    cached
                } else {
                    current
                }
            }
            Seen::Gone | Seen::Unknown => ProcessId { pid, start: 0 },
        }
    }

    /// True unless the process is confirmed gone (exited, killed, or its pid reused). A
    /// process whose `/proc` entry cannot be read for another reason (no descriptors left, no
    /// permission) counts as alive.
    pub fn is_alive(&self) -> bool {
        self.alive_by(|start| start == self.start)
    }

    /// The liveness rule, with `same` telling whether a `/proc` start time is this process's.
    fn alive_by(&self, same: impl Fn(u64) -> bool) -> bool {
        if ProcessId::current().start == 0 {
            // This process cannot read its own entry: it confirms no death.
            return true;
        }
        match stat(self.pid) {
            Seen::Gone => false,
            Seen::Unknown => true,
            Seen::Process(stat) => {
                let ended = stat.state == 'X' || (stat.state == 'Z' && stat.threads <= 1);
                same(stat.start) && !ended
            }
        }
    }
}

struct Stat {
    state: char,
    start: u64,
    /// Threads still running: a zombie thread-group leader whose other threads live is not
    /// dead (its leader called `pthread_exit`, or a group kill is under way).
    threads: u64,
}

/// What `/proc/<pid>/stat` says.
enum Seen {
    /// No such process (`ENOENT`, `ESRCH`).
    Gone,
    /// Could not tell (any other error, an unreadable entry): never taken for a death.
    Unknown,
    Process(Stat),
}

/// The state and start time of `pid`. Allocates nothing (a writer calls it on its slow path,
/// which must not allocate): the path and the file's first bytes live on the stack.
fn stat(pid: u32) -> Seen {
    let file = {
        use std::io::Write;
        let mut path = [0_u8; 32];
        let mut cursor = std::io::Cursor::new(&mut path[..]);
        if write!(cursor, "/proc/{pid}/stat").is_err() {
            return Seen::Unknown;
        }
        let len = cursor.position() as usize;
        let Ok(path) = std::ffi::CStr::from_bytes_until_nul(&path[..=len]) else {
            return Seen::Unknown;
        };
        match rustix::fs::open(
            path,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        ) {
            Ok(file) => file,
            Err(rustix::io::Errno::NOENT | rustix::io::Errno::SRCH) => return Seen::Gone,
            Err(_) => return Seen::Unknown,
        }
    };
    parse_stat(&file).map_or(Seen::Unknown, Seen::Process)
}

/// Reads and parses an open `/proc/<pid>/stat`; `None` if it cannot be read or parsed.
fn parse_stat(file: &rustix::fd::OwnedFd) -> Option<Stat> {
    // The start time is field 22; the command name before it is at most 64 bytes, so the
    // fields needed fit well within 1 KiB.
    let mut text = [0_u8; 1024];
    let mut filled = 0;
    while filled < text.len() {
        match rustix::io::read(file, &mut text[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return None,
        }
    }
    let text = &text[..filled];
    // The command name is in parentheses and may contain anything: parse after the last ')'.
    let rest = &text[text.iter().rposition(|&b| b == b')')? + 1..];
    let rest = std::str::from_utf8(rest).ok()?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // After the state (field 3): the thread count is field 20 (the 17th from here), the start
    // time field 22 (two after it).
    let threads = fields.nth(16)?.parse().ok()?;
    let start = fields.nth(1)?.parse().ok()?;
    Some(Stat {
        state,
        start,
        threads,
    })
}

/// An owner slot in a region: free (0) or held by one process, as one word (pid in the high
/// half, the low 32 bits of its start time in the low half, which tell a reused pid apart for
/// over a year of uptime at 100 ticks a second). Taken by a CAS, given up by its holder, and
/// broken only when the holder is confirmed gone (`ProcessId::is_alive_low`).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct OwnerWord(LockWord);

impl OwnerWord {
    pub(crate) fn free() -> Self {
        Self(LockWord::new())
    }

    fn pack(id: ProcessId) -> u64 {
        (u64::from(id.pid) << 32) | (id.start & 0xffff_ffff)
    }

    fn unpack(word: u64) -> Option<ProcessId> {
        (word != 0).then_some(ProcessId {
            pid: (word >> 32) as u32,
            start: word & 0xffff_ffff,
        })
    }

    /// Takes the slot for this process if it is free, or held by a dead process. Returns the
    /// dead holder it replaced, if any; `Err` with the holder while it lives.
    pub(crate) fn acquire(&self) -> Result<Option<ProcessId>, ProcessId> {
        self.take(true)
    }

    /// Like [`acquire`](Self::acquire), but refused when this process holds the slot already
    /// (a takeover from oneself would make two holders).
    pub(crate) fn take_over(&self) -> Result<Option<ProcessId>, ProcessId> {
        self.take(false)
    }

    fn take(&self, reentrant: bool) -> Result<Option<ProcessId>, ProcessId> {
        let alive = |word| Self::unpack(word).is_some_and(|holder| holder.is_alive_low());
        self.0
            .take(Self::pack(ProcessId::current()), reentrant, alive)
            .map(|old| old.and_then(Self::unpack))
            .map_err(|word| Self::unpack(word).unwrap_or(ProcessId { pid: 0, start: 0 }))
    }

    /// Takes the slot as a lock: waits while a live holder has it (another process, or another
    /// thread of this one: the take is not re-entrant) and breaks a dead holder's.
    pub(crate) fn take_waiting(&self) {
        // Each look at a live holder reads its `/proc` entry: yield a little, then back off.
        let mut looks = 0_u32;
        while self.take_over().is_err() {
            looks = looks.saturating_add(1);
            if looks < 64 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        }
    }

    /// [`take_waiting`](Self::take_waiting), given up when the returned guard drops.
    pub(crate) fn lock(&self) -> OwnerLock<'_> {
        self.take_waiting();
        OwnerLock(self)
    }

    /// Hands the slot, if this process holds it, to an identity that is never alive (no pid
    /// reaches `u32::MAX - 1`), so the next taker takes it over as a dead holder's.
    pub(crate) fn orphan(&self) {
        let me = Self::pack(ProcessId::current());
        let nobody = Self::pack(ProcessId {
            pid: u32::MAX - 1,
            start: 0,
        });
        self.0.pass(me, nobody);
    }

    /// Gives the slot up, if this process holds it.
    pub(crate) fn release(&self) {
        self.0.release(Self::pack(ProcessId::current()));
    }

    /// The holder, if any (its start time's low 32 bits).
    pub(crate) fn holder(&self) -> Option<ProcessId> {
        Self::unpack(self.0.holder())
    }
}

/// An [`OwnerWord`] held as a lock; given up on drop.
pub(crate) struct OwnerLock<'a>(&'a OwnerWord);

impl Drop for OwnerLock<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// This process as a holder word (what [`OwnerWord`] stores): never 0.
pub(crate) fn current_word() -> u64 {
    OwnerWord::pack(ProcessId::current())
}

/// True when the process recorded as holder word `word` is confirmed dead. A free word (0) has
/// no holder, and nothing is confirmed when this process cannot read its own `/proc` entry
/// (no `/proc`, or another pid namespace's view): a holder is never taken for dead on a guess.
pub(crate) fn word_holder_is_dead(word: u64) -> bool {
    OwnerWord::unpack(word).is_some_and(|holder| !holder.is_alive_low())
}

impl ProcessId {
    /// [`is_alive`](Self::is_alive) for an id that keeps only the low 32 bits of the start.
    pub(crate) fn is_alive_low(&self) -> bool {
        self.alive_by(|start| start & 0xffff_ffff == self.start)
    }
}

#[cfg(all(test, not(ringgroup_loom)))]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_made_up_one_is_not() {
        let me = ProcessId::current();
        assert!(me.start > 0);
        assert!(me.is_alive());
        assert!(!ProcessId {
            start: me.start + 1,
            ..me
        }
        .is_alive());
        assert!(!ProcessId {
            pid: u32::MAX - 1,
            start: 1
        }
        .is_alive());
    }

    #[test]
    fn an_owner_word_is_held_once_and_released() {
        let word = OwnerWord::free();
        assert_eq!(word.acquire(), Ok(None));
        assert_eq!(word.holder().map(|h| h.pid), Some(ProcessId::current().pid));
        assert_eq!(word.acquire(), Ok(None), "re-entrant for its holder");
        word.release();
        assert_eq!(word.holder(), None);
        // A dead holder's slot is taken over, and the caller learns whose it was.
        let dead = ProcessId {
            pid: u32::MAX - 1,
            start: 7,
        };
        assert_eq!(
            word.0.take(OwnerWord::pack(dead), false, |_| false),
            Ok(None)
        );
        assert_eq!(word.acquire(), Ok(Some(dead)));
    }
}
