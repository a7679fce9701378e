//! Counter lanes: a cache line per responder thread for a heap group's `replies_sent`, so
//! responders never share (or bounce) a counter line, and each lane has one writer and is
//! bumped with a plain load and store.
//!
//! A thread takes a lane (a bit of a process-wide mask, by CAS) the first time it replies and
//! gives it back when it exits; the next thread to take the bit continues the count (the give
//! back is `Release`, the take `Acquire`, so the counts it sees are the last holder's). Past
//! [`LANES`] threads at once, a thread has no lane and bumps the group's shared counter with a
//! read-modify-write. Under loom every thread uses the shared counter.

#[cfg(not(ringgroup_loom))]
use crate::sync::{StdAtomicU64, StdOrdering};

/// Lanes per group (and threads with a lane at once).
pub(crate) const LANES: usize = 64;

/// Which lanes are taken, one bit each.
#[cfg(not(ringgroup_loom))]
static TAKEN: StdAtomicU64 = StdAtomicU64::new(0);

/// A lane held by the current thread until it exits.
#[cfg(not(ringgroup_loom))]
struct Lane(Option<u32>);

#[cfg(not(ringgroup_loom))]
impl Lane {
    fn take() -> Self {
        // Relaxed: a first guess, checked by the CAS.
        let mut taken = TAKEN.load(StdOrdering::Relaxed);
        loop {
            if taken == u64::MAX {
                return Lane(None);
            }
            let bit = (!taken).trailing_zeros();
            // Acquire: pairs with the Release in `drop`: the last holder's counts happen
            // before this thread's. Relaxed on failure: try again with what is there.
            match TAKEN.compare_exchange_weak(
                taken,
                taken | (1 << bit),
                StdOrdering::Acquire,
                StdOrdering::Relaxed,
            ) {
                Ok(_) => return Lane(Some(bit)),
                Err(now) => taken = now,
            }
        }
    }
}

#[cfg(not(ringgroup_loom))]
impl Drop for Lane {
    fn drop(&mut self) {
        if let Some(bit) = self.0 {
            // Release: pairs with the Acquire in `take`: this thread's counts happen before the
            // next holder's.
            TAKEN.fetch_and(!(1 << bit), StdOrdering::Release);
        }
    }
}

#[cfg(not(ringgroup_loom))]
thread_local! {
    static LANE: Lane = Lane::take();
}

/// The calling thread's lane, if it has one (`None` while the thread exits, or when every lane
/// is taken).
#[inline]
pub(crate) fn current() -> Option<usize> {
    #[cfg(not(ringgroup_loom))]
    return LANE
        .try_with(|lane| lane.0)
        .ok()
        .flatten()
        .map(|bit| bit as usize);
    #[cfg(ringgroup_loom)]
    None
}
