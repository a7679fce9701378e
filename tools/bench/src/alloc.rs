//! A counting global allocator, so every scenario can report `allocs_per_msg`.
//!
//! Counting is switched on per thread ([`count_this_thread`]): a scenario enables it on its data
//! path threads (producers and consumers) after their setup, so building rings, spawning threads
//! and printing stay out of the figure. The count is one global Relaxed counter: it is read only
//! after the counted threads were joined, and the join orders their increments before the read.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// The system allocator, counting allocations made by threads that opted in.
pub struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

#[inline]
fn note() {
    // `try_with`: a thread-local being torn down counts nothing rather than panicking.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` unchanged; counting touches only a const-initialised
// thread-local `Cell` and an atomic, neither of which allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: as for `alloc`: `ptr` and `layout` come from this allocator, i.e. `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Counts this thread's allocations from now until it ends.
pub fn count_this_thread() {
    COUNTING.with(|c| c.set(true));
}

/// Stops counting this thread's allocations.
pub fn stop_counting_this_thread() {
    COUNTING.with(|c| c.set(false));
}

/// Allocations counted so far, across all threads. Read it after joining the counted threads.
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Allocation count of the counted threads while `run` executes, per message.
pub fn per_message(before: u64, messages: u64) -> f64 {
    (allocations() - before) as f64 / messages.max(1) as f64
}
