//! Wait strategies and the event count that makes parking safe.
//!
//! A waiting side (a reader with no data, or the writer with no space) first re-checks its
//! condition in a loop that spins (`BusySpin`), yields (`Yield`) or spins, yields and finally parks
//! (`SpinThenPark`).
//!
//! Parking uses an *event count* ([`Signal`]): a waiter count, a mutex and a condvar. It is the
//! Dekker pattern, so both sides carry a `SeqCst` fence:
//!
//! ```text
//! waiter:   waiters += 1; fence(SeqCst); lock; check condition; wait    (re-check on wake)
//! notifier: make condition true;  fence(SeqCst); if waiters > 0 { lock; notify_all }
//! ```
//!
//! Either the notifier sees the waiter count, or the waiter's check sees the new condition
//! (the two fences are totally ordered), so a wakeup is never missed (I7). When nobody parks,
//! the notifier pays one fence and one relaxed load, and takes no lock. `BusySpin` and `Yield`
//! never park, so their notifier side does nothing at all.
//!
//! `crossbeam_utils::Backoff` is not used for the spin phase because its spin hint is not loom's:
//! under loom every spin must yield to the model scheduler.

use crate::sync::{fence, thread, AtomicUsize, Condvar, Deadline, Mutex, Ordering};

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
#[cfg(ringgroup_loom)]
const YIELDS_BEFORE_PARK: u32 = 0;

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
        if deadline.passed() {
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
        round = round.saturating_add(1);
    }
}

/// An event count: lets one side park until the other side says its condition may hold.
#[derive(Debug)]
pub(crate) struct Signal {
    waiters: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

impl Signal {
    pub(crate) fn new() -> Self {
        Self {
            waiters: AtomicUsize::new(0),
            lock: Mutex::new(()),
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
    fn notify_slow(&self) {
        // Taking the lock means a waiter is either not yet checking (it will see the condition
        // under the lock) or already inside `wait` (it gets this notification).
        let _guard = self.lock.lock();
        self.wake.notify_all();
    }

    /// Parks until `ready()` or the deadline. Returns the last value of `ready()`.
    #[cold]
    fn park_until(&self, deadline: Deadline, mut ready: impl FnMut() -> bool) -> bool {
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
