//! The loom facade: the one place that names `std` or `loom` synchronisation types.
//!
//! Built with `RUSTFLAGS="--cfg ringgroup_loom"`, every atomic, cell, lock, thread and spin hint
//! resolves to loom's model checker; otherwise to `std`. Code elsewhere imports from
//! `crate::sync` only, so a loom model exercises exactly the code that ships (the pattern of
//! tokio's `src/loom` and crossbeam's `primitive` module). The cfg is namespaced, as crossbeam's
//! `crossbeam_loom` is, so a downstream crate's own `--cfg loom` run leaves ringgroup alone.
//!
//! [`UnsafeCell`] exposes `with`/`with_mut` closures (loom's API) so that loom can track each
//! access causally: a write must happen-after every earlier read of the same cell, or the model
//! fails. [`Mutex`] never poisons (tokio's pattern): a panic while the lock is held cannot turn
//! every later `lock` into a panic, and the code under the lock keeps its own invariants.

#[cfg(ringgroup_loom)]
pub(crate) use loom::sync::{
    atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering},
    Arc,
};
/// Process-wide lazy statics (core lists); loom has no model of them and needs none.
pub(crate) use std::sync::OnceLock;

#[cfg(not(ringgroup_loom))]
pub(crate) use std::sync::{
    atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering},
    Arc, Weak,
};

/// std's `Arc` in every build, for values no model races on (an error's source).
pub(crate) type StdArc<T> = std::sync::Arc<T>;

/// std's `AtomicU64` in every build, for process-local hints no model races on (a rate
/// limit's next time).
#[cfg_attr(ringgroup_loom, allow(dead_code))]
pub(crate) type StdAtomicU64 = std::sync::atomic::AtomicU64;

/// std's `Ordering`, for the std atomics above.
#[cfg_attr(ringgroup_loom, allow(unused_imports))]
pub(crate) use std::sync::atomic::Ordering as StdOrdering;

#[cfg(ringgroup_loom)]
use loom::sync as imp;
#[cfg(not(ringgroup_loom))]
use std::sync as imp;

/// A mutual-exclusion lock that ignores poisoning.
#[derive(Debug)]
pub(crate) struct Mutex<T>(imp::Mutex<T>);

/// The guard of a [`Mutex`].
pub(crate) type MutexGuard<'a, T> = imp::MutexGuard<'a, T>;

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(imp::Mutex::new(value))
    }

    /// Locks, waiting as long as it takes. A previous holder's panic does not poison it.
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Locks if no one holds the lock now.
    pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        match self.0.try_lock() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }
}

/// A condition variable for [`Mutex`], ignoring poisoning.
#[derive(Debug)]
pub(crate) struct Condvar(imp::Condvar);

impl Condvar {
    pub(crate) fn new() -> Self {
        Self(imp::Condvar::new())
    }

    /// Waits for a notification (or a spurious wake-up).
    #[cfg_attr(not(ringgroup_loom), allow(dead_code))] // the loom event count's
    pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.0
            .wait(guard)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits for a notification, a spurious wake-up or `timeout`.
    pub(crate) fn wait_timeout<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: std::time::Duration,
    ) -> MutexGuard<'a, T> {
        #[cfg(ringgroup_loom)]
        {
            // loom does not model time: a timed wait is an untimed one.
            let _ = timeout;
            self.wait(guard)
        }
        #[cfg(not(ringgroup_loom))]
        self.0
            .wait_timeout(guard, timeout)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
    }

    pub(crate) fn notify_all(&self) {
        self.0.notify_all()
    }
}

/// Threads, under loom or std.
pub(crate) mod thread {
    #[cfg(ringgroup_loom)]
    pub(crate) use loom::thread::yield_now;
    #[cfg(not(ringgroup_loom))]
    pub(crate) use std::thread::yield_now;

    /// Sleeps for `duration`; under loom (which has no time) it yields instead.
    pub(crate) fn sleep(duration: std::time::Duration) {
        #[cfg(ringgroup_loom)]
        {
            let _ = duration;
            yield_now();
        }
        #[cfg(not(ringgroup_loom))]
        std::thread::sleep(duration);
    }
}

/// The process a loom thread acts as, for models of reader-slot holders (`ring::owners`):
/// every thread starts as holder 1.
#[cfg(ringgroup_loom)]
pub(crate) mod model_holder {
    use std::cell::Cell;

    loom::thread_local! {
        static HOLDER: Cell<u64> = Cell::new(1);
    }

    /// The calling thread's holder id.
    pub(crate) fn get() -> u64 {
        HOLDER.with(Cell::get)
    }

    /// Makes the calling thread act as `holder`.
    pub(crate) fn set(holder: u64) {
        HOLDER.with(|h| h.set(holder));
    }
}

/// The hint to call inside every spin loop. Under loom it yields to the scheduler, so a spin
/// loop cannot hang a model.
#[inline(always)]
pub(crate) fn spin_hint() {
    #[cfg(ringgroup_loom)]
    loom::hint::spin_loop();
    #[cfg(not(ringgroup_loom))]
    std::hint::spin_loop();
}

/// An `UnsafeCell` with loom's closure API.
#[cfg(ringgroup_loom)]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(loom::cell::UnsafeCell<T>);

/// An `UnsafeCell` with loom's closure API.
#[cfg(not(ringgroup_loom))]
#[derive(Debug)]
#[repr(transparent)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

impl<T> UnsafeCell<T> {
    pub(crate) fn new(value: T) -> Self {
        #[cfg(ringgroup_loom)]
        return Self(loom::cell::UnsafeCell::new(value));
        #[cfg(not(ringgroup_loom))]
        Self(std::cell::UnsafeCell::new(value))
    }

    /// Runs `f` with a shared pointer to the contents.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        #[cfg(ringgroup_loom)]
        return self.0.with(f);
        #[cfg(not(ringgroup_loom))]
        f(self.0.get())
    }

    /// Runs `f` with a unique pointer to the contents.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        #[cfg(ringgroup_loom)]
        return self.0.with_mut(f);
        #[cfg(not(ringgroup_loom))]
        f(self.0.get())
    }
}

/// A time source that loom can live with: loom does not model time, so under loom a deadline
/// never passes and a timed wait behaves as an untimed one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline(#[cfg(not(ringgroup_loom))] Option<std::time::Instant>);

impl Deadline {
    /// A deadline `timeout` from now; `None` waits forever.
    pub(crate) fn after(timeout: Option<std::time::Duration>) -> Self {
        #[cfg(ringgroup_loom)]
        {
            let _ = timeout;
            Self()
        }
        #[cfg(not(ringgroup_loom))]
        Self(timeout.and_then(|t| std::time::Instant::now().checked_add(t)))
    }

    /// Time left, or `None` when waiting forever.
    pub(crate) fn remaining(&self) -> Option<std::time::Duration> {
        #[cfg(ringgroup_loom)]
        return None;
        #[cfg(not(ringgroup_loom))]
        self.0
            .map(|d| d.saturating_duration_since(std::time::Instant::now()))
    }

    /// The earlier of two deadlines.
    pub(crate) fn min(self, other: Self) -> Self {
        #[cfg(ringgroup_loom)]
        {
            let _ = other;
            self
        }
        #[cfg(not(ringgroup_loom))]
        match (self.0, other.0) {
            (Some(a), Some(b)) => Self(Some(a.min(b))),
            (a, b) => Self(a.or(b)),
        }
    }

    /// True once the deadline has passed.
    pub(crate) fn passed(&self) -> bool {
        self.remaining().is_some_and(|left| left.is_zero())
    }
}
