//! The group controller: membership, the target assignment, and moving partitions toward it.
//!
//! # Algorithm
//!
//! The controller is not a thread but a lock (`control`) taken on the control path: join,
//! leave, eviction, handoff. Under it, [`GroupInner::rebalance`] asks the group's [`Assignor`]
//! for a target and then, per partition:
//!
//! - a partition whose owner is gone and holds no lease is handed to its target at once (one CAS
//!   on its table word);
//! - a partition owned by a live member gets a *revoke request*: the owner finishes its batch,
//!   runs `on_revoked` (where it may commit) and hands the partition on itself (release before
//!   acquire, Kafka's KIP-848 rule), and the time of the request starts the revoke deadline the
//!   supervisor enforces;
//! - a partition whose owner is gone but still holds a lease (a batch in hand) is fenced and
//!   handed on as soon as the lease ends.
//!
//! Partitions that do not move are never touched, so they never pause. After changing words the
//! controller bumps the group epoch with `Release`; members check it with one `Acquire` load per
//! poll.
//!
//! # Member ids
//!
//! Ids go up from 1 while they last, and an id is reused only after the handle that held it is
//! gone (dropped, or rejoined under another id). An evicted member keeps its id until then, so
//! a zombie's late `sync` can never lease a partition of a new member that got its id.
//!
//! # Invariants
//! - **I1** a partition changes owner only by CAS on an unleased word (see `table`).
//! - The lock is never held across user code: listeners run on the member's thread outside it,
//!   and a panicking or misbehaving assignor is replaced by the range assignor for the round.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use super::assignor::{assign_subset, Assignor, MemberInfo, RangeAssignor};
use super::builder::Backpressure;
use super::error::GroupError;
use super::metrics::{GroupMetrics, PartitionMetrics};
use super::supervisor::SupervisorHandle;
use super::table::{PartitionEntry, BUSY, MAX_OWNER, REVOKING};
use super::MemberId;
use crate::ring::WaitStrategy;
use crate::sync::{Arc, AtomicBool, AtomicU64, Mutex, MutexGuard, Ordering};

/// What a group's handles, members and supervisor share.
pub(crate) struct GroupInner<T> {
    pub(crate) name: String,
    pub(crate) entries: Box<[PartitionEntry<T>]>,
    /// A shared-memory group's membership of its registry entry (see `shared_memory`); its
    /// drop (in this type's) frees or leaves the cursors under the registry lock.
    #[cfg(not(ringgroup_loom))]
    pub(crate) shared: Option<super::shared_memory::SharedGroup>,
    pub(crate) strategy: WaitStrategy,
    /// Bumped (Release) after every change to the table.
    pub(crate) epoch: CachePadded<AtomicU64>,
    pub(crate) control: Mutex<Control>,
    pub(crate) assignor: Box<dyn Assignor>,
    #[cfg_attr(ringgroup_loom, allow(dead_code))]
    // read by the supervisor, which loom does not run
    pub(crate) max_poll_interval: Duration,
    /// How long a departed static member keeps its partitions.
    pub(crate) session_timeout: Duration,
    pub(crate) auto_commit: bool,
    pub(crate) backpressure: Backpressure,
    pub(crate) rebalances: AtomicU64,
    pub(crate) last_rebalance_ns: AtomicU64,
    /// Wakes the supervisor thread (to stop) when the group goes away.
    pub(crate) supervisor: SupervisorHandle,
    /// The topic's extension slot (reply routes of producer groups).
    pub(crate) extension: crate::topic::Extension,
}

/// The controller's state; only touched under [`GroupInner::control`].
pub(crate) struct Control {
    /// Live members, sorted by id.
    pub(crate) members: Vec<MemberRecord>,
    /// Ids held by a member handle, live or evicted: never handed out again until released.
    held: BTreeSet<u32>,
    /// The next id to try.
    next_id: u32,
    /// Per partition: when its pending revoke was requested (the revoke deadline's start).
    pub(crate) revoke_since: Vec<Option<Instant>>,
    /// Per partition: the committed offset the supervisor last saw, and since when (for
    /// [`Backpressure::Detach`]).
    #[cfg_attr(ringgroup_loom, allow(dead_code))]
    pub(crate) progress: Vec<(u64, Instant)>,
    /// Per partition: whether this process holds it (always, for a heap topic's group).
    pub(crate) hold: Vec<Hold>,
    /// Per partition: the instance tag of the static consumer it goes to (a shared-memory
    /// group's partition that came back to its restarted static member); 0 for none.
    pub(crate) pinned: Vec<u64>,
    /// Per partition: the tag last recorded in the region for it (see `publish_tags`).
    #[cfg(not(ringgroup_loom))]
    pub(crate) published_tags: Vec<u64>,
    /// A shared-memory group's sync bookkeeping.
    #[cfg(not(ringgroup_loom))]
    pub(crate) sync: super::shared_memory::SyncState,
}

/// Whether the group's controller in this process may assign a partition: a shared-memory
/// group's member process holds only the partitions the region's plan gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hold {
    /// This process's: assigned to its consumers.
    Held,
    /// Being handed to another process: taken back from its consumer, assigned to no one.
    #[cfg_attr(ringgroup_loom, allow(dead_code))]
    Releasing,
    /// Another process's (or no one's): assigned to no one here.
    #[cfg_attr(ringgroup_loom, allow(dead_code))]
    Foreign,
}

pub(crate) struct MemberRecord {
    pub(crate) id: u32,
    pub(crate) weight: u32,
    pub(crate) liveness: Arc<Liveness>,
    /// The supervisor's last sample: (poll count, when it last changed).
    #[cfg_attr(ringgroup_loom, allow(dead_code))]
    pub(crate) last_seen: (u64, Instant),
    /// A static member's instance id.
    pub(crate) instance: Option<String>,
    /// Its [`instance_tag`] (0 for a dynamic member): how the region names it.
    pub(crate) tag: u64,
    /// For a static member whose handle is gone: when it left. It keeps its partitions (and
    /// its id) for the session timeout, and is not a live owner meanwhile.
    pub(crate) departed: Option<Instant>,
}

/// The tag of static member `instance_id` (a 64-bit FNV-1a hash, never 0).
pub(crate) fn instance_tag(instance_id: &str) -> u64 {
    let hash = instance_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    hash.max(1)
}

/// What the supervisor watches and the member reads.
#[derive(Debug)]
pub(crate) struct Liveness {
    polls: CachePadded<AtomicU64>,
    evicted: AtomicBool,
}

impl Liveness {
    pub(crate) fn new() -> Self {
        Self {
            polls: CachePadded::new(AtomicU64::new(0)),
            evicted: AtomicBool::new(false),
        }
    }

    /// Counts a sign of life (a poll or a heartbeat).
    #[inline]
    pub(crate) fn beat(&self) {
        // Relaxed: a progress counter; the supervisor only compares samples. The member's
        // thread is its only writer (a `Consumer` is not `Sync`), so a load and a store count
        // without a read-modify-write.
        self.polls.store(
            self.polls.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
    }

    /// The beats so far.
    #[cfg_attr(ringgroup_loom, allow(dead_code))]
    pub(crate) fn beats(&self) -> u64 {
        self.polls.load(Ordering::Relaxed)
    }

    /// True once the member was evicted.
    #[inline]
    pub(crate) fn is_evicted(&self) -> bool {
        // Acquire: pairs with the Release in `evict`; the table changes of the eviction's
        // rebalance are published by the epoch bump that follows.
        self.evicted.load(Ordering::Acquire)
    }

    fn evict(&self) {
        // Release: pairs with the member's Acquire load in `is_evicted`.
        self.evicted.store(true, Ordering::Release);
    }
}

impl Control {
    /// The state of a new group on `partitions` partitions; a shared-memory group's
    /// process holds none of them until the region's plan gives it some.
    pub(crate) fn new(partitions: usize, shared: bool) -> Self {
        let hold = if shared { Hold::Foreign } else { Hold::Held };
        Self {
            members: Vec::new(),
            held: BTreeSet::new(),
            next_id: 1,
            revoke_since: vec![None; partitions],
            progress: vec![(0, Instant::now()); partitions],
            hold: vec![hold; partitions],
            pinned: vec![0; partitions],
            #[cfg(not(ringgroup_loom))]
            published_tags: vec![0; partitions],
            #[cfg(not(ringgroup_loom))]
            sync: super::shared_memory::SyncState::new(),
        }
    }

    /// Hands out an id no member handle holds, or `None` when all `MAX_OWNER` are held.
    fn allocate_id(&mut self) -> Option<u32> {
        if self.held.len() >= MAX_OWNER as usize {
            return None;
        }
        loop {
            let id = self.next_id;
            self.next_id = if id >= MAX_OWNER { 1 } else { id + 1 };
            if self.held.insert(id) {
                return Some(id);
            }
        }
    }

    /// True for a member with a live handle (not a departed static member).
    pub(crate) fn is_member(&self, id: u32) -> bool {
        self.members
            .iter()
            .any(|m| m.id == id && m.departed.is_none())
    }

    /// Removes the departed static members whose session timed out (their ids are free
    /// again); true if any was.
    #[cfg_attr(ringgroup_loom, allow(dead_code))]
    pub(crate) fn expire_departed(&mut self, now: Instant, timeout: Duration) -> bool {
        let expired: Vec<u32> = self
            .members
            .iter()
            .filter(|m| {
                m.departed
                    .is_some_and(|at| now.duration_since(at) >= timeout)
            })
            .map(|m| m.id)
            .collect();
        for id in &expired {
            self.members.retain(|m| m.id != *id);
            self.held.remove(id);
        }
        !expired.is_empty()
    }

    /// Removes a live member and marks it evicted (its handle keeps the id). False if absent.
    pub(crate) fn evict(&mut self, id: u32) -> bool {
        let Some(index) = self.members.iter().position(|m| m.id == id) else {
            return false;
        };
        self.members.remove(index).liveness.evict();
        true
    }

    /// Starts the id's next holder at `id` (tests reach the wrap-around without 2^24 joins).
    #[cfg(test)]
    pub(crate) fn set_next_id(&mut self, id: u32) {
        self.next_id = id;
    }
}

impl<T> GroupInner<T> {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Control> {
        self.control.lock()
    }

    /// Adds a member under a fresh id and rebalances. Returns the id. A static member whose
    /// instance id is in the group (departed, or still here: then fenced) takes over exactly
    /// that member's partitions instead, and nothing else moves.
    pub(crate) fn add_member(
        &self,
        weight: u32,
        liveness: Arc<Liveness>,
        instance: Option<String>,
    ) -> Result<u32, GroupError> {
        let mut control = self.lock();
        let id = control
            .allocate_id()
            .ok_or(GroupError::TooManyMembers { max: MAX_OWNER })?;
        let previous = instance.as_ref().and_then(|instance| {
            let at = control
                .members
                .iter()
                .position(|m| m.instance.as_ref() == Some(instance))?;
            Some(control.members.remove(at))
        });
        control.members.push(MemberRecord {
            id,
            weight: weight.max(1),
            liveness,
            last_seen: (0, Instant::now()),
            tag: instance.as_deref().map_or(0, instance_tag),
            instance,
            departed: None,
        });
        match previous {
            Some(previous) => {
                if previous.departed.is_some() {
                    control.held.remove(&previous.id);
                } else {
                    // Still here: fenced; its handle keeps its id until dropped.
                    previous.liveness.evict();
                }
                for partition in 0..self.entries.len() {
                    let entry = &self.entries[partition];
                    let word = entry.load();
                    let pending = word.has(REVOKING) && entry.pending() == previous.id;
                    if word.owner() == previous.id || pending {
                        self.move_partition(&mut control, partition, id);
                    }
                }
                self.publish_epoch();
            }
            None => self.rebalance(&mut control),
        }
        Ok(id)
    }

    /// A static member's handle is gone: it keeps its id and its partitions (unleased, still
    /// its own) for the session timeout. Control lock held.
    pub(crate) fn depart_member(&self, control: &mut Control, id: u32) {
        if let Some(member) = control.members.iter_mut().find(|m| m.id == id) {
            member.departed = Some(Instant::now());
        }
    }

    /// Replaces the member handle's old id with a fresh one (a fenced member joining again)
    /// and rebalances. Returns the new id.
    pub(crate) fn rejoin(
        &self,
        old: u32,
        weight: u32,
        liveness: Arc<Liveness>,
        instance: Option<String>,
    ) -> Result<u32, GroupError> {
        let mut control = self.lock();
        // A static member fenced by a newer member with its instance id stays fenced (Kafka's
        // fenced instance): joining again would fence the newer one in turn.
        if let Some(instance) = &instance {
            let taken = control.members.iter().any(|m| {
                m.id != old && m.departed.is_none() && m.instance.as_ref() == Some(instance)
            });
            if taken {
                return Err(GroupError::FencedInstance {
                    instance_id: instance.clone(),
                });
            }
        }
        control.members.retain(|m| m.id != old);
        control.held.remove(&old);
        drop(control);
        self.add_member(weight, liveness, instance)
    }

    /// Removes a member whose handle is gone, frees its id and rebalances. Control lock held.
    pub(crate) fn remove_member(&self, control: &mut Control, id: u32) {
        control.members.retain(|m| m.id != id);
        control.held.remove(&id);
        self.rebalance(control);
    }

    /// Recomputes the target assignment and moves what must move (a shared-memory group first
    /// brings the partitions its process holds in line with the region's plan). Control lock
    /// held.
    pub(crate) fn rebalance(&self, control: &mut Control) {
        // A corrupt region (poisoned) is left as it is: the consumers learn it at their poll.
        #[cfg(not(ringgroup_loom))]
        let _ = self.sync_shared(control, Instant::now());
        self.assign(control);
    }

    /// Recomputes the target assignment over the partitions this process holds and moves what
    /// must move; the others go to no one. Control lock held.
    pub(crate) fn assign(&self, control: &mut Control) {
        let started = Instant::now();
        control.members.sort_by_key(|m| m.id);
        let mut target = vec![0; self.entries.len()];
        for (partition, &tag) in control.pinned.iter().enumerate() {
            if tag != 0 && control.hold[partition] == Hold::Held {
                let static_member = control
                    .members
                    .iter()
                    .find(|m| m.departed.is_none() && m.tag == tag);
                if let Some(member) = static_member {
                    target[partition] = member.id;
                }
            }
        }
        let assignable: Vec<u32> = (0..self.entries.len() as u32)
            .filter(|&p| control.hold[p as usize] == Hold::Held && target[p as usize] == 0)
            .collect();
        if !control.members.is_empty() && !assignable.is_empty() {
            let picks = assign_subset(
                |n, infos| self.target(n, infos),
                &assignable,
                control.members.iter().map(|m| (m.id, m.weight)),
                |p| self.entries[p as usize].load().owner(),
            );
            for (&partition, &member) in assignable.iter().zip(&picks) {
                target[partition as usize] = control.members[member].id;
            }
        }
        for (partition, &want) in target.iter().enumerate() {
            self.move_partition(control, partition, want);
        }
        #[cfg(not(ringgroup_loom))]
        self.publish_tags(control, &target);
        self.rebalances.fetch_add(1, Ordering::Relaxed);
        self.last_rebalance_ns
            .store(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.publish_epoch();
    }

    /// The assignor's target, checked: a custom assignor that panics or breaks the contract
    /// (wrong length, index out of range) is replaced by the range assignor for this round, so
    /// the controller never panics while holding the lock.
    fn target(&self, partitions: u32, infos: &[MemberInfo]) -> Vec<usize> {
        let valid = |target: &Vec<usize>| {
            target.len() == partitions as usize && target.iter().all(|&m| m < infos.len())
        };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.assignor.assign(partitions, infos)
        })) {
            Ok(target) if valid(&target) => target,
            _ => RangeAssignor.assign(partitions, infos),
        }
    }

    /// Moves one partition toward `want`: at once if its owner is gone, else by request.
    fn move_partition(&self, control: &mut Control, partition: usize, want: u32) {
        let entry = &self.entries[partition];
        let mut word = entry.load();
        loop {
            let owner = word.owner();
            if owner == want {
                if word.has(REVOKING) {
                    entry.cancel_revoke();
                }
                control.revoke_since[partition] = None;
                return;
            }
            let owner_alive = owner != 0 && control.is_member(owner);
            if owner_alive || word.has(BUSY) {
                // A live owner hands over itself. A dead one still holding a batch is fenced
                // (no new lease: no commit or seek after its batch) and the move finishes once
                // the batch is dropped (`rescue_orphans`, or the supervisor).
                // The deadline runs from the first request, whoever the target is now.
                let since = &mut control.revoke_since[partition];
                if !word.has(REVOKING) || since.is_none() {
                    *since = Some(Instant::now());
                }
                entry.request_revoke(want);
                if !owner_alive {
                    entry.fence_owner();
                }
                return;
            }
            match entry.transfer(word, want) {
                Ok(_) => {
                    control.revoke_since[partition] = None;
                    return;
                }
                Err(seen) => word = seen,
            }
        }
    }

    pub(crate) fn publish_epoch(&self) {
        // Release: pairs with the member's Acquire load in `Consumer::poll`; the table changes
        // made before it are visible to a member that sees the new epoch.
        self.epoch.fetch_add(1, Ordering::Release);
    }

    /// The current group epoch.
    #[inline]
    pub(crate) fn epoch(&self) -> u64 {
        // Acquire: pairs with the Release bump in `publish_epoch`.
        self.epoch.load(Ordering::Acquire)
    }

    /// True when some partition's handoff is stuck on an owner that is gone.
    pub(crate) fn has_orphans(&self, control: &Control, leased_too: bool) -> bool {
        self.entries.iter().any(|entry| {
            let word = entry.load();
            word.has(REVOKING)
                && (leased_too || !word.has(BUSY))
                && !control.is_member(word.owner())
        })
    }

    /// Finishes handoffs whose owner left or was evicted while it held a lease. Called by idle
    /// members, so such a partition moves as soon as the lease ends, not at the supervisor's
    /// next tick. Looks only when some partition has a pending revoke, and only if the control
    /// lock is free: a held lock means a handoff or rebalance is under way, and blocking it
    /// (idle members poll often) would only delay that handoff.
    pub(crate) fn rescue_orphans(&self) {
        if !self.entries.iter().any(|entry| entry.load().has(REVOKING)) {
            return;
        }
        let Some(mut control) = self.control.try_lock() else {
            return;
        };
        if self.has_orphans(&control, false) {
            self.rebalance(&mut control);
        }
    }

    /// `Err` once this group's region (a shared-memory topic's) is poisoned for this process.
    pub(crate) fn check_region(&self) -> Result<(), crate::shm::Corruption> {
        #[cfg(not(ringgroup_loom))]
        if let Some(shared) = &self.shared {
            return shared.region().poison().check();
        }
        Ok(())
    }

    /// True when every partition's producer is gone and the group committed all it published.
    pub(crate) fn drained(&self) -> bool {
        self.entries.iter().all(PartitionEntry::drained)
    }

    /// A snapshot of the group's state (atomics only).
    pub(crate) fn metrics(&self) -> GroupMetrics {
        let partitions = self
            .entries
            .iter()
            .enumerate()
            .map(|(partition, entry)| {
                let word = entry.load();
                PartitionMetrics {
                    partition: partition as u32,
                    committed: entry.committed(),
                    lag: entry.lag(),
                    owner: (word.owner() != 0).then(|| MemberId::from(word.owner())),
                    epoch: word.epoch(),
                    skipped: entry.skipped(),
                    tombstones: entry.ring().tombstones(),
                }
            })
            .collect();
        GroupMetrics {
            partitions,
            members: self.member_count(),
            rebalances: self.rebalances.load(Ordering::Relaxed),
            last_rebalance: Duration::from_nanos(self.last_rebalance_ns.load(Ordering::Relaxed)),
        }
    }
}

impl<T> GroupInner<T> {
    /// Live members now: this handle's, and for a shared-memory group those of its other
    /// member processes too (as they last recorded them in the region).
    fn member_count(&self) -> usize {
        let local = self.lock().members.len();
        #[cfg(not(ringgroup_loom))]
        if let Some(others) = self.other_processes_members() {
            return local + others;
        }
        local
    }
}

impl<T> Drop for GroupInner<T> {
    fn drop(&mut self) {
        self.supervisor.stop();
        #[cfg(not(ringgroup_loom))]
        if let Some(shared) = self.shared.take() {
            shared.leave(&mut self.entries);
        }
    }
}

#[cfg(all(test, not(ringgroup_loom)))]
mod tests {
    use super::MAX_OWNER;
    use crate::Topic;

    /// Ids are reused once their handle is gone, so joins never run out while few members are
    /// live; an evicted member's handle keeps its id, so a zombie never shares an id.
    #[test]
    fn member_ids_are_reused_only_after_their_handle_is_gone() {
        let (topic, _producer) = Topic::<u64>::builder("t").partitions(2).build().unwrap();
        let group = topic.group("g").build().unwrap();
        group.inner.lock().set_next_id(MAX_OWNER);
        let last = group.join().unwrap();
        assert_eq!(last.id().get(), MAX_OWNER);
        // Past the top the ids start again from 1, skipping ids still held.
        let first = group.join().unwrap();
        assert_eq!(first.id().get(), 1);
        for _ in 0..1000 {
            let member = group.join().unwrap();
            assert!(![1, MAX_OWNER].contains(&member.id().get()));
        }
        // An evicted member keeps its id until its handle is dropped.
        let zombie = group.join().unwrap();
        let zombie_id = zombie.id();
        assert!(group.evict(zombie_id));
        group.inner.lock().set_next_id(zombie_id.get());
        let newcomer = group.join().unwrap();
        assert_ne!(newcomer.id(), zombie_id);
        drop(zombie);
        group.inner.lock().set_next_id(zombie_id.get());
        assert_eq!(group.join().unwrap().id(), zombie_id);
        drop((last, first, newcomer));
    }
}
