//! The loom facade: the one place that names `std` or `loom` synchronisation types.
//!
//! Under `--cfg loom` every atomic, cell, lock, thread and spin hint resolves to loom's model
//! checker; otherwise to `std`. Code elsewhere imports from `crate::sync` only, so a loom model
//! exercises exactly the code that ships (the pattern of tokio's `src/loom` and crossbeam's
//! `primitive` module).
//!
//! [`UnsafeCell`] exposes `with`/`with_mut` closures (loom's API) so that loom can track each
//! access causally: a write must happen-after every earlier read of the same cell, or the model
//! fails.

#[cfg(loom)]
pub(crate) use loom::{
    sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering},
    sync::{Arc, Condvar, Mutex, MutexGuard},
};

#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering},
    Arc, Condvar, Mutex, MutexGuard,
};

/// Threads, under loom or std.
pub mod thread {
    #[cfg(loom)]
    pub use loom::thread::{current, park, spawn, yield_now, JoinHandle, Thread};
    #[cfg(not(loom))]
    pub use std::thread::{current, park, spawn, yield_now, JoinHandle, Thread};
}

/// The hint to call inside every spin loop. Under loom it yields to the scheduler, so a spin
/// loop cannot hang a model.
#[inline(always)]
pub fn spin_hint() {
    #[cfg(loom)]
    loom::hint::spin_loop();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}

/// An `UnsafeCell` with loom's closure API.
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(loom::cell::UnsafeCell<T>);

/// An `UnsafeCell` with loom's closure API.
#[cfg(not(loom))]
#[derive(Debug)]
#[repr(transparent)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

impl<T> UnsafeCell<T> {
    pub(crate) fn new(value: T) -> Self {
        #[cfg(loom)]
        return Self(loom::cell::UnsafeCell::new(value));
        #[cfg(not(loom))]
        Self(std::cell::UnsafeCell::new(value))
    }

    /// Runs `f` with a shared pointer to the contents.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        #[cfg(loom)]
        return self.0.with(f);
        #[cfg(not(loom))]
        f(self.0.get())
    }

    /// Runs `f` with a unique pointer to the contents.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        #[cfg(loom)]
        return self.0.with_mut(f);
        #[cfg(not(loom))]
        f(self.0.get())
    }
}

/// A time source that loom can live with: loom does not model time, so under loom a deadline
/// never passes and a timed wait behaves as an untimed one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline(#[cfg(not(loom))] Option<std::time::Instant>);

impl Deadline {
    /// A deadline `timeout` from now; `None` waits forever.
    pub(crate) fn after(timeout: Option<std::time::Duration>) -> Self {
        #[cfg(loom)]
        {
            let _ = timeout;
            Self()
        }
        #[cfg(not(loom))]
        Self(timeout.and_then(|t| std::time::Instant::now().checked_add(t)))
    }

    /// Time left, or `None` when waiting forever.
    pub(crate) fn remaining(&self) -> Option<std::time::Duration> {
        #[cfg(loom)]
        return None;
        #[cfg(not(loom))]
        self.0
            .map(|d| d.saturating_duration_since(std::time::Instant::now()))
    }

    /// True once the deadline has passed.
    pub(crate) fn passed(&self) -> bool {
        self.remaining().is_some_and(|left| left.is_zero())
    }
}
