//! Typed, cache-padded 64-bit cursors (the `Cursor` wrapper of disruptor-rs).
//!
//! Every hot atomic of the ring sits behind [`Cursor`], whose method names say the ordering, so
//! each call site reads as the protocol it implements. Each cursor owns a whole
//! `CachePadded` line (128 bytes on x86_64, for the adjacent-line prefetcher), so a writer's
//! stores to one cursor never invalidate a reader's line.

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicU64, Ordering};

/// A cache-padded `u64` offset with ordering-named accessors.
#[derive(Debug)]
pub(crate) struct Cursor(CachePadded<AtomicU64>);

impl Cursor {
    pub(crate) fn new(value: u64) -> Self {
        Self(CachePadded::new(AtomicU64::new(value)))
    }

    /// A load that orders nothing: for the owner of the cursor, or a hint.
    #[inline(always)]
    pub(crate) fn load_relaxed(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// A load that acquires whatever the matching `store_release` published.
    #[inline(always)]
    pub(crate) fn load_acquire(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// A store that orders nothing: only for values ordered by a fence or by a later release.
    #[inline(always)]
    pub(crate) fn store_relaxed(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed)
    }

    /// A store that publishes every earlier write of this thread to `load_acquire` readers.
    #[inline(always)]
    pub(crate) fn store_release(&self, value: u64) {
        self.0.store(value, Ordering::Release)
    }

    /// Compare-and-swap with `AcqRel` on success (claiming a free registration slot).
    #[inline(always)]
    pub(crate) fn compare_exchange_acqrel(&self, current: u64, new: u64) -> Result<u64, u64> {
        self.0
            .compare_exchange(current, new, Ordering::AcqRel, Ordering::Relaxed)
    }

    /// Raises the cursor to at least `value` without ordering anything: for values ordered by a
    /// fence that follows.
    #[inline(always)]
    pub(crate) fn fetch_max_relaxed(&self, value: u64) -> u64 {
        self.0.fetch_max(value, Ordering::Relaxed)
    }

    /// Raises the cursor to at least `value` (never lowers it) with `AcqRel`.
    #[inline(always)]
    pub(crate) fn fetch_max_acqrel(&self, value: u64) -> u64 {
        self.0.fetch_max(value, Ordering::AcqRel)
    }
}
