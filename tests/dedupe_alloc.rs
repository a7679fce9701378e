//! `DedupeWindow` allocates only in `new`: a counting global allocator watches a million
//! `first_time` calls (new ids, duplicates and evictions), `contains` and `clear`.
//!
//! This file holds one test so no other test allocates concurrently.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use ringgroup::dedupe::{message_id, DedupeWindow};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static COUNTING: AtomicBool = AtomicBool::new(false);

// SAFETY: every method forwards to the system allocator unchanged; the only addition is a
// relaxed counter update, which neither allocates nor touches the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which is System's too.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller upholds `GlobalAlloc::alloc_zeroed`'s contract, which is System's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, i.e. from System, with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: `ptr` came from System with `layout`; the caller upholds the rest of
        // `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns its result with the number of allocations (and reallocations) it made.
fn counted<R>(f: impl FnOnce() -> R) -> (R, usize) {
    ALLOCATIONS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    let result = f();
    COUNTING.store(false, Ordering::SeqCst);
    (result, ALLOCATIONS.load(Ordering::SeqCst))
}

#[test]
fn first_time_allocates_nothing_after_new() {
    // The counter itself sees an allocation, or the checks below would assert on nothing.
    let (boxed, probe) = counted(|| Box::new(1_u8));
    assert_eq!(probe, 1, "the counting allocator missed a Box::new");
    drop(boxed);

    let mut window = DedupeWindow::new(1024).unwrap();
    let ((new, duplicates, found), allocations) = counted(|| {
        let (mut new, mut duplicates, mut found) = (0_u64, 0_u64, 0_u64);
        let mut x = 0x2545_f491_4f6c_dd1d_u64; // xorshift64 state
        for call in 0..1_000_000_u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let id = match call % 4 {
                // Random ids from a space 4x the window: duplicates and evictions both common.
                0 | 1 => x % 4096,
                // Replayed (partition, offset) ids, as a handoff redelivers them.
                2 => message_id((x % 8) as u32, (call / 4) % 3000),
                // Fresh ids only: every one evicts.
                _ => call << 16,
            };
            if window.first_time(id) {
                new += 1;
            } else {
                duplicates += 1;
            }
            found += u64::from(window.contains(x % 4096));
            if call == 500_000 {
                window.clear();
            }
        }
        (new, duplicates, found)
    });
    println!("{new} new ids, {duplicates} duplicates, {allocations} allocations");
    assert_eq!(allocations, 0, "DedupeWindow allocated after new");
    assert_eq!(new + duplicates, 1_000_000);
    assert!(new > 250_000, "too few evictions exercised: {new} new ids");
    assert!(
        duplicates > 50_000,
        "too few duplicates exercised: {duplicates}"
    );
    assert!(found > 0);
    assert_eq!(window.len(), window.capacity());
}
