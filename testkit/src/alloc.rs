//! A counting global allocator: the system allocator, counting the allocations (and
//! reallocations) made by threads that opted in.
//!
//! A binary installs it and measures spans of code on the threads that run them:
//!
//! ```
//! use ringgroup_testkit::alloc::{assert_counting, counted, Counting};
//!
//! #[global_allocator]
//! static GLOBAL: Counting = Counting;
//!
//! fn main() {
//!     assert_counting(); // counts this thread, and checks an allocation is seen
//!     let (sum, allocations) = counted(|| (0..10_u64).sum::<u64>());
//!     assert_eq!((sum, allocations), (45, 0));
//! }
//! ```
//!
//! Two figures are kept:
//!
//! - per thread: [`counted`] counts the calling thread's allocations over a span and nothing
//!   else, so tests running in parallel in the same binary (the harness's default) cannot add to
//!   each other's figures. Code under test on another thread measures itself there, with its own
//!   [`counted`], and hands the figure back through its join;
//! - across threads: [`allocations`] and [`per_message`] read one global Relaxed counter that only
//!   grows, fed by every thread that opted in with [`count_this_thread`]. The benchmark harness
//!   uses it, switching its data-path threads on after their setup so building rings, spawning
//!   threads and printing stay out of the figure; read the end after the counted threads were
//!   joined (the join orders their increments before the read).
//!
//! Threads that never opt in, such as a group's supervisor starting up, are never counted.
//!
//! An allocation the optimiser removes (a `Box` made and dropped unused: LLVM may delete an
//! allocator call whose result does not escape) is no allocation and is not counted. A probe of
//! the counter must therefore make its allocation escape, as [`assert_counting`] does with
//! [`std::hint::black_box`].

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

/// The system allocator, counting allocations made by threads that opted in.
pub struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Whether this thread's allocations count. Const-initialised, so reading it never
    /// allocates.
    static COUNTING: Cell<bool> = const { Cell::new(false) };

    /// This thread's counted allocations so far; only grows. Const-initialised and without a
    /// destructor, so touching it never allocates and it is never torn down.
    static THREAD_ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

#[inline]
fn note() {
    // `try_with`: a thread-local being torn down counts nothing rather than panicking.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        let _ = THREAD_ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    }
}

/// This thread's counted allocations so far.
fn thread_allocations() -> u64 {
    THREAD_ALLOCATIONS.with(Cell::get)
}

// SAFETY: every method forwards to `System` unchanged; counting touches only const-initialised
// thread-local `Cell`s and an atomic, none of which allocates nor touches the memory handed out.
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

/// Allocations counted so far, across all threads that opted in. Read it after joining the
/// counted threads.
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Allocations counted since `before` (an earlier [`allocations`]), per message.
pub fn per_message(before: u64, messages: u64) -> f64 {
    (allocations() - before) as f64 / messages.max(1) as f64
}

/// Puts this thread's counting switch back as it was, also when the span panics.
struct Restore(bool);

impl Drop for Restore {
    fn drop(&mut self) {
        COUNTING.with(|c| c.set(self.0));
    }
}

/// Runs `f` with this thread counted and returns its result with the allocations this thread
/// made meanwhile. Only the calling thread's: other threads, including other tests of the same
/// binary, never add to the figure. To measure code on another thread, call `counted` there.
pub fn counted<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let _restore = Restore(COUNTING.with(|c| c.replace(true)));
    let before = thread_allocations();
    let result = f();
    (result, thread_allocations() - before)
}

/// Counts this thread from now on and checks that the allocator is installed and sees it: a
/// `Box::new` must count as one allocation, or a later "allocated nothing" would assert on
/// nothing.
///
/// The box goes through [`black_box`] on its way in and out, so it escapes: the optimiser
/// cannot prove it unused and delete the allocation, as it did in release builds when the box
/// was only made and dropped.
///
/// # Panics
///
/// When the allocation was not counted (the binary does not install [`Counting`]).
pub fn assert_counting() {
    count_this_thread();
    let (boxed, probe) = counted(|| black_box(Box::new(black_box(1_u8))));
    assert_eq!(*black_box(boxed), 1);
    assert_eq!(
        probe, 1,
        "the counting allocator missed a Box::new: is it the #[global_allocator]?"
    );
}
