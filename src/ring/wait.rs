//! Wait strategies and the event count that makes parking safe.
//!
//! A waiting side (a reader with no data, or the writer with no space) first re-checks its
//! condition in a loop that spins (`BusySpin`), yields (`Yield`) or spins, yields and finally parks
//! (`SpinThenPark`).
//!
//! Parking uses an *event count* ([`Signal`]): a waiter count and a futex word. It is the Dekker
//! pattern, so both sides carry a `SeqCst` fence:
//!
//! ```text
//! waiter:   waiters += 1; fence(SeqCst); s = sequence; check condition; futex_wait(sequence, s)
//! notifier: make condition true;  fence(SeqCst); if waiters > 0 { sequence += 1; futex_wake }
//! ```
//!
//! Either the notifier sees the waiter count, or the waiter's check sees the new condition
//! (the two fences are totally ordered), so a wakeup is never missed (I7): a notify between the
//! waiter's read of `sequence` and its sleep changes the word, and the kernel's compare inside
//! `futex_wait` then returns at once. The futex is not private, so waiters and notifiers may be
//! in different processes mapping the same words. When nobody parks, the notifier pays one fence
//! and one relaxed load, and makes no system call. `BusySpin` and `Yield` never park, so their
//! notifier side does nothing at all.
//!
//! loom models no futex, so under loom the word and its kernel compare are a mutex and a condvar
//! (the check under the lock plays the compare's part); the fences and the waiter count, which
//! the models check, are the same code.
//!
//! `crossbeam_utils::Backoff` is not used for the spin phase because its spin hint is not loom's:
//! under loom every spin must yield to the model scheduler.

use crate::sync::{fence, thread, AtomicU32, Deadline, Ordering};
#[cfg(ringgroup_loom)]
use crate::sync::{Condvar, Mutex};

/// How a blocked reader or writer waits. A topic's strategy also sets how its idle group
/// members wait in `Consumer::poll` (with `SpinThenPark` they sleep in 50 µs steps after the
/// yield phase, since a member cannot park on several rings at once).
///
/// # Examples
///
/// ```
/// use ringgroup::ring::{Ring, WaitStrategy};
///
/// let (_writer, _subscriber) = Ring::<u64>::builder()
///     .capacity(64)
///     .wait_strategy(WaitStrategy::SpinThenPark)
///     .build()
///     .unwrap();
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WaitStrategy {
    /// Spin on the cursor with the CPU's spin hint. Lowest latency; burns a core while waiting.
    #[default]
    BusySpin,
    /// Yield the time slice between checks.
    Yield,
    /// Spin briefly, then yield, then park on a condvar. Costs one `SeqCst` fence per publish
    /// call (and per reader release) so that a parked peer is always woken (I7).
    SpinThenPark,
}

impl WaitStrategy {
    /// True when this strategy may park, so the other side must notify.
    #[inline(always)]
    pub(crate) fn parks(self) -> bool {
        matches!(self, WaitStrategy::SpinThenPark)
    }
}

#[cfg(not(ringgroup_loom))]
const SPINS_BEFORE_YIELD: u32 = 64;
#[cfg(not(ringgroup_loom))]
const YIELDS_BEFORE_PARK: u32 = 16;
#[cfg(ringgroup_loom)]
const SPINS_BEFORE_YIELD: u32 = 1;
/// Spin rounds between two looks at the clock in a timed wait.
const SPINS_PER_CLOCK_READ: u32 = 32;
#[cfg(ringgroup_loom)]
const YIELDS_BEFORE_PARK: u32 = 0;

/// How long a call may wait for its condition. The deadline is fixed only when the waiting
/// starts, so a call that finds its condition at once never reads the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Patience {
    /// Do not wait.
    Never,
    /// Wait as long as it takes.
    Forever,
    /// Wait up to this long.
    For(std::time::Duration),
}

impl Patience {
    /// The deadline, counted from now; `None` when the call must not wait.
    pub(crate) fn deadline(self) -> Option<Deadline> {
        match self {
            Patience::Never => None,
            Patience::Forever => Some(Deadline::after(None)),
            Patience::For(timeout) => Some(Deadline::after(Some(timeout))),
        }
    }
}

/// Waits under `strategy` until `ready()` returns true (then `true`) or `deadline` passes
/// (then `false`). `signal` must be the event count notified when `ready` may have changed.
pub(crate) fn wait_until(
    strategy: WaitStrategy,
    signal: &Signal,
    deadline: Deadline,
    mut ready: impl FnMut() -> bool,
) -> bool {
    let mut round: u32 = 0;
    loop {
        if ready() {
            return true;
        }
        // A clock read costs more than a spin: while spinning, look at the clock every few
        // rounds only (and always on the first, so a zero timeout fails at once).
        let spinning = match strategy {
            WaitStrategy::BusySpin => true,
            WaitStrategy::Yield => false,
            WaitStrategy::SpinThenPark => round < SPINS_BEFORE_YIELD,
        };
        if (!spinning || round % SPINS_PER_CLOCK_READ == 0) && deadline.passed() {
            return false;
        }
        match strategy {
            WaitStrategy::BusySpin => crate::sync::spin_hint(),
            WaitStrategy::Yield => thread::yield_now(),
            WaitStrategy::SpinThenPark => {
                if round < SPINS_BEFORE_YIELD {
                    crate::sync::spin_hint();
                } else if round < SPINS_BEFORE_YIELD + YIELDS_BEFORE_PARK {
                    thread::yield_now();
                } else {
                    return signal.park_until(deadline, ready);
                }
            }
        }
        round = round.wrapping_add(1);
    }
}

/// An event count: lets one side park until the other side says its condition may hold.
///
/// Outside loom it is two 32-bit words and a futex without the private flag, so it works the
/// same when the words sit in memory several processes map; under loom, a mutex and a condvar
/// (loom models no futex).
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Signal {
    waiters: AtomicU32,
    /// Bumped by every notify that finds waiters; the futex word waiters sleep on.
    #[cfg(not(ringgroup_loom))]
    sequence: AtomicU32,
    #[cfg(ringgroup_loom)]
    lock: Mutex<()>,
    #[cfg(ringgroup_loom)]
    wake: Condvar,
}

impl Signal {
    pub(crate) fn new() -> Self {
        Self {
            waiters: AtomicU32::new(0),
            #[cfg(not(ringgroup_loom))]
            sequence: AtomicU32::new(0),
            #[cfg(ringgroup_loom)]
            lock: Mutex::new(()),
            #[cfg(ringgroup_loom)]
            wake: Condvar::new(),
        }
    }

    /// Wakes every parked waiter. Call it after making a waiter's condition true.
    #[inline]
    pub(crate) fn notify(&self) {
        // SeqCst fence: pairs with the fence in `park_until`. Orders the caller's earlier store
        // (the new condition) before the load of `waiters` below (Dekker).
        fence(Ordering::SeqCst);
        if self.waiters.load(Ordering::Relaxed) != 0 {
            self.notify_slow();
        }
    }

    #[cold]
    #[cfg(not(ringgroup_loom))]
    fn notify_slow(&self) {
        // Release: pairs with the waiter's Acquire load of `sequence`; a waiter that read the
        // old value either sees the new one at its futex wait (and returns) or is woken below.
        self.sequence.fetch_add(1, Ordering::Release);
        // Not the private futex: waiters may be in other processes. An error can only mean
        // the word is not mapped, which a live `&self` rules out.
        let _ = rustix::thread::futex::wake(
            &self.sequence,
            rustix::thread::futex::Flags::empty(),
            u32::MAX,
        );
    }

    #[cold]
    #[cfg(ringgroup_loom)]
    fn notify_slow(&self) {
        // Taking the lock means a waiter is either not yet checking (it will see the condition
        // under the lock) or already inside `wait` (it gets this notification).
        let _guard = self.lock.lock();
        self.wake.notify_all();
    }

    /// Parks until `ready()` or the deadline. Returns the last value of `ready()`.
    #[cold]
    #[cfg(not(ringgroup_loom))]
    pub(crate) fn park_until(&self, deadline: Deadline, mut ready: impl FnMut() -> bool) -> bool {
        self.waiters.fetch_add(1, Ordering::Relaxed);
        // SeqCst fence: pairs with the fence in `notify`. Orders the waiter count before the
        // condition checks below (Dekker).
        fence(Ordering::SeqCst);
        let ready_now = loop {
            // Acquire: pairs with the Release bump in `notify_slow`; read before the check, so
            // a notify after the check changes it and the wait below returns at once.
            let sequence = self.sequence.load(Ordering::Acquire);
            if ready() {
                break true;
            }
            let timeout = match deadline.remaining() {
                Some(left) if left.is_zero() => break false,
                Some(left) => Some(rustix::thread::futex::Timespec {
                    tv_sec: left.as_secs().min(i64::MAX as u64) as i64,
                    tv_nsec: i64::from(left.subsec_nanos()),
                }),
                None => None,
            };
            // Returns on a wake, a changed word, a signal or the timeout: all re-checked above.
            let _ = rustix::thread::futex::wait(
                &self.sequence,
                rustix::thread::futex::Flags::empty(),
                sequence,
                timeout.as_ref(),
            );
        };
        self.waiters.fetch_sub(1, Ordering::Relaxed);
        ready_now
    }

    /// Parks until `ready()` or the deadline. Returns the last value of `ready()`.
    #[cold]
    #[cfg(ringgroup_loom)]
    pub(crate) fn park_until(&self, deadline: Deadline, mut ready: impl FnMut() -> bool) -> bool {
        self.waiters.fetch_add(1, Ordering::Relaxed);
        // SeqCst fence: pairs with the fence in `notify`. Orders the waiter count before the
        // condition check below (Dekker).
        fence(Ordering::SeqCst);
        let mut guard = self.lock.lock();
        let ready_now = loop {
            if ready() {
                break true;
            }
            guard = match deadline.remaining() {
                None => self.wake.wait(guard),
                Some(left) if left.is_zero() => break false,
                Some(left) => self.wake.wait_timeout(guard, left),
            };
        };
        drop(guard);
        self.waiters.fetch_sub(1, Ordering::Relaxed);
        ready_now
    }
}

#[cfg(not(ringgroup_loom))]
impl Signal {
    /// The event count's words (see `shm::layout`).
    pub(crate) fn fields() -> [crate::shm::layout::Field; 2] {
        use crate::shm::layout::Field;
        use std::mem::offset_of;
        [
            Field::of::<AtomicU32>("waiters", offset_of!(Signal, waiters)),
            Field::of::<AtomicU32>("sequence", offset_of!(Signal, sequence)),
        ]
    }
}
