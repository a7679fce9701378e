//! The supervisor: one thread per group that evicts members which stopped making progress and
//! finishes handoffs whose owner is gone.
//!
//! # Algorithm
//!
//! Every tick (a quarter of `max_poll_interval`, at least 1 ms) it takes the control lock and:
//!
//! - evicts each member whose poll-and-heartbeat counter has not moved for `max_poll_interval`;
//! - enforces the **revoke deadline** (Kafka's rebalance timeout): a member that has held a
//!   partition past `max_poll_interval` after being asked to hand it on is evicted, heartbeats
//!   or not, so an owner that heartbeats but never polls, blocks in `on_revoked`, or panics
//!   there every time cannot starve the member waiting for the partition;
//! - under [`Backpressure::Detach`], detaches the cursor of a partition whose ring is full and
//!   whose commit has not moved for the detach time;
//! - rebalances if it evicted anyone or a handoff is stuck on an owner that is gone;
//! - for a shared-memory group, syncs with the region's plan when it changed (see
//!   `shared_memory`; such a group's supervisor ticks at least every few milliseconds).
//!
//! An evicted member's partitions move at once if it holds no batch, else as soon as its batch
//! is dropped (the lease); its next call returns `Fenced`.
//!
//! # Invariants
//! - The thread holds only a `Weak` reference to the group and sleeps on a condition variable
//!   that the group's drop signals, so it ends as soon as the group is gone (every thread the
//!   library starts ends when its owner is dropped), whatever the tick.
//! - A failed spawn is an error of `GroupBuilder::build`, never a group without a supervisor.

use std::time::Duration;
#[cfg(not(ringgroup_loom))]
use std::time::Instant;

use super::builder::Backpressure;
use crate::sync::{Arc, Condvar, Mutex};
#[cfg(not(ringgroup_loom))]
use {
    super::controller::{GroupInner, Hold},
    super::table::REVOKING,
    crate::sync::{StdArc, Weak},
};

/// The group's side of its supervisor: stops the thread when the group is dropped.
#[derive(Debug)]
pub(crate) struct SupervisorHandle {
    signal: Arc<StopSignal>,
}

#[derive(Debug)]
struct StopSignal {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl SupervisorHandle {
    pub(crate) fn new() -> Self {
        Self {
            signal: Arc::new(StopSignal {
                stopped: Mutex::new(false),
                wake: Condvar::new(),
            }),
        }
    }

    /// Tells the thread to end now.
    pub(crate) fn stop(&self) {
        *self.signal.stopped.lock() = true;
        self.signal.wake.notify_all();
    }

    /// How often the supervisor looks: a quarter of the shortest time it enforces.
    #[cfg_attr(ringgroup_loom, allow(dead_code))]
    pub(crate) fn tick(
        max_poll_interval: Duration,
        session_timeout: Duration,
        backpressure: Backpressure,
    ) -> Duration {
        let mut shortest = match backpressure {
            Backpressure::Detach { after } => after.min(max_poll_interval),
            _ => max_poll_interval,
        };
        if !session_timeout.is_zero() {
            shortest = shortest.min(session_timeout);
        }
        (shortest / 4).max(Duration::from_millis(1))
    }

    /// Starts the supervisor thread of `group` (not under loom, which models no time).
    #[cfg(not(ringgroup_loom))]
    pub(crate) fn spawn<T: Send + Sync + 'static>(
        &self,
        group: Weak<GroupInner<T>>,
        tick: Duration,
    ) -> Result<(), super::GroupError> {
        let signal = self.signal.clone();
        std::thread::Builder::new()
            .name("ringgroup-supervisor".into())
            .spawn(move || loop {
                {
                    let stopped = signal.stopped.lock();
                    if *stopped {
                        return;
                    }
                    if *signal.wake.wait_timeout(stopped, tick) {
                        return;
                    }
                }
                match group.upgrade() {
                    Some(group) => group.supervise(Instant::now()),
                    None => return,
                }
            })
            .map(drop)
            .map_err(|source| super::GroupError::SupervisorSpawn {
                source: StdArc::new(source),
            })
    }
}

#[cfg(not(ringgroup_loom))]
impl<T> GroupInner<T> {
    /// One supervisor round at time `now`.
    pub(crate) fn supervise(&self, now: Instant) {
        let mut control = self.lock();
        let before = control.members.len();
        let interval = self.max_poll_interval;
        let expired = control.expire_departed(now, self.session_timeout);
        let stalled: Vec<u32> = control
            .members
            .iter_mut()
            .filter(|member| member.departed.is_none())
            .filter_map(|member| {
                let beats = member.liveness.beats();
                if beats != member.last_seen.0 {
                    member.last_seen = (beats, now);
                    return None;
                }
                (now.duration_since(member.last_seen.1) >= interval).then_some(member.id)
            })
            .collect();
        let late: Vec<u32> = self
            .entries
            .iter()
            .zip(&control.revoke_since)
            .filter_map(|(entry, since)| {
                let word = entry.load();
                let overdue = since.is_some_and(|since| now.duration_since(since) >= interval);
                (word.has(REVOKING) && overdue).then_some(word.owner())
            })
            .collect();
        for id in stalled.into_iter().chain(late) {
            control.evict(id);
        }
        if let Backpressure::Detach { after } = self.backpressure {
            self.detach_stalled(&mut control, now, after);
        }
        let stuck = self.has_orphans(&control, true);
        if control.members.len() != before || stuck || expired {
            self.rebalance(&mut control);
        } else if self.sync_due(&control, now)
            // A corrupt region (poisoned) stays as it is: the consumers learn it at their poll.
            && self.sync_shared(&mut control, now).unwrap_or(false)
        {
            self.assign(&mut control);
        }
    }

    /// Detaches the cursor of every partition where the group has not committed for `after`
    /// while the ring is full. Control lock held, so no transfer races the lease taken here.
    fn detach_stalled(
        &self,
        control: &mut super::controller::Control,
        now: Instant,
        after: Duration,
    ) {
        for ((entry, progress), hold) in self
            .entries
            .iter()
            .zip(&mut control.progress)
            .zip(&control.hold)
        {
            if *hold != Hold::Held {
                continue; // another process's cursor to manage
            }
            let committed = entry.committed();
            if committed != progress.0 {
                *progress = (committed, now);
                continue;
            }
            let full = entry.lag() >= entry.ring().capacity() as u64;
            if !full || now.duration_since(progress.1) < after {
                continue;
            }
            // A member holding a batch holds the lease: its batch is not lapped; try next tick.
            if let Some(mut lease) = entry.lease_any() {
                lease.cursor().detach();
            }
        }
    }
}
