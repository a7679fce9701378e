//! How much CPU the process got: the check that tells a clean run from one disturbed by other
//! work on the machine (another benchmark, a build, the host taking the vCPU away).
//!
//! A run's threads spin (or, on shared cores, yield to each other), so while nothing else runs
//! they keep `min(threads, cores)` cores busy for the whole run: the process's CPU time grows
//! by that many seconds per second of wall time. Another task on one of those cores, or the
//! host stealing the vCPU (the guest scheduler does not charge stolen time to the task), shows
//! as a shortfall. [`Share`] is that ratio, process CPU time ÷ (busy cores × wall time),
//! measured with `CLOCK_PROCESS_CPUTIME_ID`, which counts every thread of the process in
//! nanoseconds, threads that have already exited included.

use std::time::{Duration, Instant};

/// The CPU time of the whole process so far; `None` where the clock is not available.
pub fn process_cpu_time() -> Option<Duration> {
    imp::process_cpu_time()
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
mod imp {
    use std::time::Duration;

    /// `struct timespec` on 64-bit Linux: `time_t` and `long` are both 64 bits.
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }

    /// `CLOCK_PROCESS_CPUTIME_ID` in Linux's `<time.h>`.
    const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;

    extern "C" {
        /// The C library's `clock_gettime(2)`, which std already links.
        fn clock_gettime(clock: i32, time: *mut Timespec) -> i32;
    }

    pub fn process_cpu_time() -> Option<Duration> {
        let mut time = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `time` is a valid, writable `struct timespec` for the duration of the call
        // (the layout above is the 64-bit Linux one), and `clock_gettime` only writes to it.
        let status = unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut time) };
        let secs = u64::try_from(time.tv_sec).ok()?;
        let nanos = u32::try_from(time.tv_nsec).ok()?;
        (status == 0).then(|| Duration::new(secs, nanos))
    }
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
mod imp {
    pub fn process_cpu_time() -> Option<std::time::Duration> {
        None
    }
}

/// Measures the share of `busy` cores the process got between [`Share::start`] and
/// [`Share::finish`].
#[derive(Clone, Copy, Debug)]
pub struct Share {
    wall: Instant,
    cpu: Option<Duration>,
    busy: usize,
}

impl Share {
    /// Starts measuring a span in which `busy` cores should be kept busy by this process.
    pub fn start(busy: usize) -> Self {
        Self {
            cpu: process_cpu_time(),
            wall: Instant::now(),
            busy: busy.max(1),
        }
    }

    /// The wall time since the start, and the share of the busy cores the process got (about
    /// 1 when nothing else ran; `None` without a CPU clock).
    pub fn finish(self) -> (Duration, Option<f64>) {
        let wall = self.wall.elapsed();
        let cpu = process_cpu_time()
            .zip(self.cpu)
            .map(|(now, then)| now - then);
        let share = cpu.map(|cpu| {
            cpu.as_secs_f64() / (self.busy as f64 * wall.as_secs_f64()).max(f64::MIN_POSITIVE)
        });
        (wall, share)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_counts_this_process_spinning() {
        let Some(before) = process_cpu_time() else {
            return;
        };
        let share = Share::start(1);
        // No timing assumption: spin until the clock has moved (or give up after 10 s).
        let deadline = Instant::now() + Duration::from_secs(10);
        while process_cpu_time().unwrap() < before + Duration::from_millis(5) {
            assert!(
                Instant::now() < deadline,
                "the process CPU clock did not move"
            );
            std::hint::spin_loop();
        }
        let (wall, share) = share.finish();
        assert!(wall > Duration::ZERO);
        assert!(share.unwrap() > 0.0);
    }
}
