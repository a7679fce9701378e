//! Threads that start together, and joins that report instead of panicking.

use std::hint::spin_loop;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::ScopedJoinHandle;

/// Waits until `n` threads have arrived: a start line that adds no futex wake-up to a timed
/// span. It spins with the CPU's spin hint, and also yields while there are more threads than
/// the machine runs in parallel (a spinner on a shared core waits for the scheduler's time
/// slice). The parallelism is read once, on arrival, not while waiting.
pub fn start_line(arrived: &AtomicUsize, n: usize) {
    let crowded = n > parallelism();
    start_line_with(arrived, n, || {
        spin_loop();
        if crowded {
            std::thread::yield_now();
        }
    });
}

/// [`start_line`] with the caller's `pause` between looks (spin or yield, as every system of a
/// comparison waits alike). It asks nothing of the OS itself, so it neither allocates nor makes
/// system calls while waiting.
pub fn start_line_with(arrived: &AtomicUsize, n: usize, mut pause: impl FnMut()) {
    // AcqRel/Acquire: every thread's setup happens-before every thread leaves the line.
    arrived.fetch_add(1, Ordering::AcqRel);
    while arrived.load(Ordering::Acquire) < n {
        pause();
    }
}

/// Threads the machine runs in parallel (1 when it cannot say).
pub fn parallelism() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Joins a scoped thread that returns a `Result`, turning a panic into an error; errors are
/// prefixed with `who`.
pub fn join<T>(handle: ScopedJoinHandle<'_, Result<T, String>>, who: &str) -> Result<T, String> {
    handle
        .join()
        .map_err(|_| format!("{who} thread panicked"))?
        .map_err(|e| format!("{who}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_leave_the_line_together_and_joins_report() {
        let arrived = AtomicUsize::new(0);
        let results = std::thread::scope(|s| {
            let arrived = &arrived;
            let handles: Vec<_> = (0..3)
                .map(|i| {
                    s.spawn(move || {
                        start_line(arrived, 3);
                        Ok::<_, String>(i)
                    })
                })
                .collect();
            let failing = s.spawn(|| Err::<u32, _>("broken".to_owned()));
            let panicking = s.spawn(|| -> Result<u32, String> { panic!("on purpose") });
            let ok: Vec<_> = handles.into_iter().map(|h| join(h, "worker")).collect();
            (ok, join(failing, "checker"), join(panicking, "panicker"))
        });
        assert_eq!(results.0, [Ok(0), Ok(1), Ok(2)]);
        assert_eq!(results.1, Err("checker: broken".to_owned()));
        assert_eq!(results.2, Err("panicker thread panicked".to_owned()));
        assert_eq!(arrived.load(Ordering::Relaxed), 3);
    }
}
