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
    /// This process.
    pub fn current() -> Self {
        static CURRENT: OnceLock<ProcessId> = OnceLock::new();
        *CURRENT.get_or_init(|| {
            let pid = std::process::id();
            let start = stat(pid).map_or(0, |s| s.start);
            ProcessId { pid, start }
        })
    }

    /// True unless the process is confirmed gone (exited, killed, or its pid reused).
    pub fn is_alive(&self) -> bool {
        match stat(self.pid) {
            None => false,
            Some(stat) => stat.start == self.start && stat.state != 'Z' && stat.state != 'X',
        }
    }
}

struct Stat {
    state: char,
    start: u64,
}

/// The state and start time of `pid`, or `None` if it does not exist. Allocates nothing (a
/// writer calls it on its slow path, which must not allocate): the path and the file's first
/// bytes live on the stack.
fn stat(pid: u32) -> Option<Stat> {
    use std::io::Write;
    let mut path = [0_u8; 32];
    let mut cursor = std::io::Cursor::new(&mut path[..]);
    write!(cursor, "/proc/{pid}/stat").ok()?;
    let len = cursor.position() as usize;
    let path = std::ffi::CStr::from_bytes_until_nul(&path[..=len]).ok()?;
    let file = rustix::fs::open(
        path,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .ok()?;
    // The start time is field 22; the command name before it is at most 64 bytes, so the
    // fields needed fit well within 1 KiB.
    let mut text = [0_u8; 1024];
    let mut filled = 0;
    while filled < text.len() {
        match rustix::io::read(&file, &mut text[filled..]) {
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
    // After the state (field 3), the start time is field 22: the 19th from here.
    let start = fields.nth(18)?.parse().ok()?;
    Some(Stat { state, start })
}

/// An owner slot in a region: free (0) or held by one process, as one word (pid in the high
/// half, the low 32 bits of its start time in the low half, which tell a reused pid apart for
/// over a year of uptime at 100 ticks a second). Taken by a CAS, given up by its holder, and
/// broken only when [`ProcessId::is_alive`] confirms the holder is gone.
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

    /// Gives the slot up, if this process holds it.
    pub(crate) fn release(&self) {
        self.0.release(Self::pack(ProcessId::current()));
    }

    /// The holder, if any (its start time's low 32 bits).
    pub(crate) fn holder(&self) -> Option<ProcessId> {
        Self::unpack(self.0.holder())
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
    match OwnerWord::unpack(word) {
        None => false,
        Some(_) if ProcessId::current().start == 0 => false,
        Some(holder) => !holder.is_alive_low(),
    }
}

impl ProcessId {
    /// [`is_alive`](Self::is_alive) for an id that keeps only the low 32 bits of the start.
    pub(crate) fn is_alive_low(&self) -> bool {
        match stat(self.pid) {
            None => false,
            Some(stat) => {
                stat.start & 0xffff_ffff == self.start && stat.state != 'Z' && stat.state != 'X'
            }
        }
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
