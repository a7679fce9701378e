//! Running pinned threads that start together.

use std::hint::spin_loop;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Spins until `n` threads have arrived: a start line that adds no futex wake-up to a timed span.
pub fn start_line(arrived: &AtomicUsize, n: usize) {
    // AcqRel/Acquire: every thread's setup happens-before every thread leaves the line.
    let crowded = n > parallelism();
    arrived.fetch_add(1, Ordering::AcqRel);
    while arrived.load(Ordering::Acquire) < n {
        spin_loop();
        if crowded {
            std::thread::yield_now();
        }
    }
}

/// Threads the machine runs in parallel.
pub fn parallelism() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
