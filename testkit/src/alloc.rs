//! A counting global allocator: the system allocator, counting the allocations (and
//! reallocations) made by threads that opted in.
//!
//! A binary installs it and marks the threads whose allocations count:
//!
//! ```
//! use ringgroup_testkit::alloc::{assert_counting, counted, Counting};
//!
//! #[global_allocator]
//! static GLOBAL: Counting = Counting;
//!
//! fn main() {
//!     assert_counting(); // counts this thread, and checks a Box::new is seen
//!     let (sum, allocations) = counted(|| (0..10_u64).sum::<u64>());
//!     assert_eq!((sum, allocations), (45, 0));
//! }
//! ```
//!
//! Threads opt in with [`count_this_thread`]: in a test, the threads that run the code under
//! test; in the harness, its data-path threads after their setup, so building rings, spawning
//! threads and printing stay out of the figure. Other threads, such as a group's supervisor
//! starting up, are never counted.
//!
//! The count is one global Relaxed counter that only grows. [`counted`] and [`per_message`] take
//! the difference over a span: read the end after the counted threads were joined (the join
//! orders their increments before the read) or, for a span on the calling thread alone, at once.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// The system allocator, counting allocations made by threads that opted in.
pub struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Whether this thread's allocations count. Const-initialised, so reading it never
    /// allocates.
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
// thread-local `Cell` and an atomic, neither of which allocates nor touches the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which is System's too.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: the caller upholds `GlobalAlloc::alloc_zeroed`'s contract, which is System's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: `ptr` came from this allocator, i.e. from System, with `layout`; the caller
        // upholds the rest of `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, i.e. from System, with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Counts this thread's allocations from now until it ends (or [`stop_counting_this_thread`]).
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

/// Allocations counted since `before` (an earlier [`allocations`]), per message.
pub fn per_message(before: u64, messages: u64) -> f64 {
    (allocations() - before) as f64 / messages.max(1) as f64
}

/// Runs `f` and returns its result with the allocations that counted threads made meanwhile.
pub fn counted<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = allocations();
    let result = f();
    (result, allocations() - before)
}

/// Counts this thread from now on and checks that the allocator is installed and sees it: a
/// `Box::new` must count as one allocation, or a later "allocated nothing" would assert on
/// nothing.
///
/// # Panics
///
/// When the allocation was not counted (the binary does not install [`Counting`]).
pub fn assert_counting() {
    count_this_thread();
    let (boxed, probe) = counted(|| Box::new(1_u8));
    drop(boxed);
    assert_eq!(
        probe, 1,
        "the counting allocator missed a Box::new: is it the #[global_allocator]?"
    );
}
