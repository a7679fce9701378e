//! Consumer groups on shared-memory topics: one group, members in several processes.
//!
//! # Two levels
//!
//! Each group handle ([`Group`](crate::Group)) built on a topic in a region is a *member
//! process* of the group in the region's registry (see `shm::groups`; one process may hold
//! several handles). The registry's *plan* gives each partition to one member process, by
//! weight (its count of consumers, with the sticky weighted assignor, so a change moves only
//! what must move). Inside the process, the group's own controller shares the partitions the
//! process holds among its consumers as it does for a heap topic. So a partition has at most
//! one owner in the whole group, whichever process it is in.
//!
//! # Moving a partition between processes (release before acquire)
//!
//! The plan asks the owning process to hand a partition to another. The owner's next *sync*
//! (its supervisor looks every few milliseconds, and every local rebalance looks too) marks
//! the partition *releasing*: its local controller revokes it from the consumer, which
//! finishes its batch, runs `on_revoked` (where it may commit) and hands it back. Once no
//! consumer of the process holds it, the sync writes the new owner into the plan. The new
//! owner's sync then reloads its cursor from the partition's reader slot (the group's committed
//! offset, shared by every member process) and gives the partition to one of its consumers,
//! which resumes at the commit. A consumer that does not hand over is evicted after
//! `max_poll_interval`, as in a heap group.
//!
//! # Deaths
//!
//! A member process confirmed dead (pid and start time, never a timeout) is reaped by a live
//! member's sync (each looks at most every 100 ms) or by the next build: its slot is freed and
//! its partitions are planned again then, resuming at the commits. A group whose member processes all died is taken over by the next
//! build of its name, which adopts its cursors. The last handle to go frees the cursors and
//! gives the name up; a handle that leaves others behind leaves the cursors to them.
//!
//! # Invariants
//! - A consumer leases a partition only while its process holds it in the plan; a process
//!   gives a partition up in the plan only once no consumer of its own holds it.
//! - A process takes a partition up only after reloading the cursor from the shared slot, under
//!   the registry lock that the giver released after its last commit.
//! - The control lock is taken before the registry lock, never the other way round.

use std::time::{Duration, Instant};

use super::assignor::{assign_subset, Assignor, WeightedAssignor};
use super::controller::{Control, GroupInner, Hold};
use super::error::GroupError;
use super::table::{PartitionEntry, BUSY};
use crate::ring::group_cursor::GroupCursor;
use crate::ring::{StartAt, Subscriber};
use crate::shm::groups::{
    monotonic_ns, Claim, ClaimError, DeleteError, MemberProcess, Registry, MAX_GROUP_NAME,
    MAX_GROUP_PROCESSES,
};
use crate::shm::{Corruption, Region};
use crate::sync::StdArc;

/// How often a member process looks for dead members when nothing else changed.
const REAP_EVERY: Duration = Duration::from_millis(100);
/// The longest a member process's supervisor waits between syncs.
pub(super) const SYNC_EVERY: Duration = Duration::from_millis(5);

/// This handle's membership of a group in a region.
pub(crate) struct SharedGroup {
    region: StdArc<Region>,
    entry: usize,
    member: usize,
}

impl SharedGroup {
    /// The topic's region.
    pub(crate) fn region(&self) -> &StdArc<Region> {
        &self.region
    }

    fn me(&self) -> MemberProcess {
        self.member as MemberProcess + 1
    }
}

/// The sync's bookkeeping, in the group's `Control`.
#[derive(Debug)]
pub(crate) struct SyncState {
    generation: u64,
    next_reap: Instant,
}

impl SyncState {
    pub(crate) fn new() -> Self {
        Self {
            generation: u64::MAX,
            next_reap: Instant::now(),
        }
    }
}

/// Frees every group cursor that no named registry entry records (a holder killed between
/// changing its entry and its cursors). Registry lock held.
fn sweep<T>(registry: &Registry<'_>, rings: &[Subscriber<T>]) -> Result<(), Corruption> {
    for (partition, ring) in rings.iter().enumerate() {
        for slot in 0..ring.shared().readers().len() {
            let Some(entry) = ring.shared().group_of(slot) else {
                continue;
            };
            if registry.recorded_slot(entry as usize, partition as u32)? != Some(slot as u32) {
                GroupCursor::free_orphan(ring, slot);
            }
        }
    }
    Ok(())
}

/// Plans entry `entry`'s partitions over its members by their counts of consumers: the
/// partitions of no one go to their target at once, the others are asked to move. Members
/// without consumers get nothing; with no consumer anywhere, nothing moves. A partition
/// waiting for its static consumer goes to the member hosting it, or to no one until its
/// wait ends. Registry lock held.
fn replan(registry: &Registry<'_>, entry: usize, partitions: u32) -> Result<(), Corruption> {
    let now = monotonic_ns();
    let mut assignable = Vec::with_capacity(partitions as usize);
    for partition in 0..partitions {
        let until = registry.reserved(entry, partition);
        if until != 0 {
            let tag = registry.tag(entry, partition);
            if let Some(host) = registry.host_of(entry, tag) {
                // Its static consumer is back: it gets the partition first.
                registry.unreserve(entry, partition);
                registry.set_plan(entry, partition, host, 0);
            } else if until > now {
                continue; // still waiting for it
            } else {
                registry.unreserve(entry, partition);
                registry.set_tag(entry, partition, 0);
            }
        }
        assignable.push(partition);
    }
    let members: Vec<(MemberProcess, u32)> = registry
        .members(entry)
        .into_iter()
        .filter(|&(_, consumers)| consumers > 0)
        .collect();
    // The owners, read (and checked) once.
    let owners = assignable
        .iter()
        .map(|&partition| Ok(registry.plan(entry, partition)?.0))
        .collect::<Result<Vec<MemberProcess>, Corruption>>()?;
    if members.is_empty() {
        for (&partition, &owner) in assignable.iter().zip(&owners) {
            registry.set_plan(entry, partition, owner, 0);
        }
        return Ok(());
    }
    let target = assign_subset(
        |n, infos| WeightedAssignor.assign(n, infos),
        &assignable,
        members
            .iter()
            .map(|&(member, consumers)| (u32::from(member), consumers)),
        |p| {
            let index = assignable.iter().position(|&q| q == p);
            index.map_or(0, |i| u32::from(owners[i]))
        },
    );
    for (index, (&partition, &owner)) in assignable.iter().zip(&owners).enumerate() {
        let want = target
            .get(index)
            .and_then(|&m| members.get(m))
            .map_or(0, |&(member, _)| member);
        if owner == 0 || owner == want || want == 0 {
            registry.set_plan(entry, partition, if owner == 0 { want } else { owner }, 0);
        } else {
            registry.set_plan(entry, partition, owner, want);
        }
    }
    Ok(())
}

/// True when a partition's wait for its static consumer ended or can end: it came back, or
/// its session timed out. Registry lock held.
fn reservation_due(registry: &Registry<'_>, entry: usize, partitions: u32) -> bool {
    let now = monotonic_ns();
    (0..partitions).any(|p| {
        let until = registry.reserved(entry, p);
        until != 0 && (until <= now || registry.host_of(entry, registry.tag(entry, p)).is_some())
    })
}

/// The group's cursors on `rings`: registered at `start` for a new group, adopted from the
/// slots of a group that exists (with live members, or whose members died). A group no live
/// process uses gets its cursors' mode (`lossy`: detached) here, under the registry lock, so
/// no member that joins next sees it change; one with live members keeps theirs.
pub(super) fn cursors<T>(
    region: &StdArc<Region>,
    rings: &[Subscriber<T>],
    name: &str,
    start: StartAt,
    lossy: bool,
) -> Result<(SharedGroup, Vec<GroupCursor<T>>), GroupError> {
    let registry = region.groups()?;
    let claim = registry.claim(name).map_err(|e| match e {
        ClaimError::Full => GroupError::TooManyGroups {
            max: region.shape().max_groups,
        },
        ClaimError::NameTooLong => GroupError::NameTooLong {
            max: MAX_GROUP_NAME,
        },
        ClaimError::TooManyMembers => GroupError::TooManyProcesses {
            max: MAX_GROUP_PROCESSES,
        },
        ClaimError::Corrupt(corruption) => GroupError::Corrupt(corruption),
    })?;
    // Frees the cursors of half-released and stale entries (and of holders killed mid-change).
    if let Err(corruption) = sweep(&registry, rings) {
        // Nothing is registered yet: give the claim up as it came.
        match claim {
            Claim::New { entry, member } => registry.release(entry, member),
            Claim::TakenOver { entry, member, .. } => registry.hand_back(entry, member),
            Claim::Joined { entry, member, .. } => {
                let _ = registry.leave(entry, member);
            }
        }
        return Err(corruption.into());
    }
    let (entry, member, adopted, joined) = match claim {
        Claim::New { entry, member } => (entry, member, Vec::new(), false),
        Claim::TakenOver {
            entry,
            member,
            slots,
        } => (entry, member, slots, false),
        Claim::Joined {
            entry,
            member,
            slots,
        } => (entry, member, slots, true),
    };
    let taken_over = !adopted.is_empty() && !joined;
    // Which cursors were adopted (a failed takeover hands them back, commits and all).
    let mut kept = Vec::with_capacity(rings.len());
    let mut cursors: Vec<GroupCursor<T>> = Vec::with_capacity(rings.len());
    for (partition, ring) in rings.iter().enumerate() {
        let adopted = match adopted.get(partition).copied().flatten() {
            None => Ok(None),
            Some(slot) => GroupCursor::adopt(ring, slot as usize, entry as u32),
        };
        let adopted = match adopted {
            Ok(adopted) => adopted,
            Err(corruption) => {
                // Nothing of the group changes: the cursors stay as they are for the others.
                for mut cursor in cursors {
                    cursor.keep_registration();
                }
                registry.hand_back(entry, member);
                return Err(corruption.into());
            }
        };
        kept.push(adopted.is_some());
        if joined && adopted.is_none() {
            // Live members record every slot before anyone can join: only corruption.
            for mut cursor in cursors {
                cursor.keep_registration();
            }
            let _ = registry.leave(entry, member);
            return Err(GroupError::CorruptRegistry {
                partition: partition as u32,
            });
        }
        let cursor = match adopted {
            Some(cursor) => cursor,
            None => match GroupCursor::register(ring, start) {
                Ok(cursor) => cursor,
                Err(source) => {
                    if taken_over {
                        // The dead group stays as it was for the next build: its adopted
                        // cursors keep their registrations (and commits), the member slot
                        // goes back to a holder that is never alive.
                        for (cursor, kept) in cursors.into_iter().zip(&kept) {
                            if *kept {
                                cursor.leave_registered();
                            }
                        }
                        registry.hand_back(entry, member);
                    } else {
                        drop(cursors);
                        registry.release(entry, member);
                    }
                    return Err(GroupError::Subscribe {
                        partition: partition as u32,
                        source,
                    });
                }
            },
        };
        if !joined {
            // Recorded first: a kill between the two leaves a recorded slot the next holder
            // adopts or frees, never a group cursor no entry knows.
            registry.record(entry, partition as u32, cursor.slot() as u32);
            cursor.hand_to_group(entry as u32);
        }
        cursors.push(cursor);
    }
    if !joined {
        for cursor in &mut cursors {
            if lossy {
                cursor.detach();
            } else {
                cursor.attach();
            }
        }
    }
    drop(registry);
    let shared = SharedGroup {
        region: region.clone(),
        entry,
        member,
    };
    Ok((shared, cursors))
}

impl<T> GroupInner<T> {
    /// True when this shared-memory group's member process should look at the registry: the
    /// plan changed, a partition it is releasing may be free now, or dead members are due a
    /// look. Atomics only.
    pub(crate) fn sync_due(&self, control: &Control, now: Instant) -> bool {
        let Some(shared) = &self.shared else {
            return false;
        };
        shared.region.group_generation(shared.entry) != control.sync.generation
            || now >= control.sync.next_reap
            || control.hold.contains(&Hold::Releasing)
    }

    /// Brings this member process's partitions in line with the plan: counts its consumers
    /// in, reaps dead members, releases what the plan moves away once no consumer holds it,
    /// and takes up what the plan gives it. True if the partitions its controller may assign
    /// changed (the caller then rebalances locally). Control lock held.
    ///
    /// `Err` when a registry word is out of range (see `shm::groups`): the region is then
    /// poisoned for this process, and its consumers learn it at their next poll.
    pub(crate) fn sync_shared(
        &self,
        control: &mut Control,
        now: Instant,
    ) -> Result<bool, Corruption> {
        let Some(shared) = &self.shared else {
            return Ok(false);
        };
        let registry = shared.region.groups()?;
        let (entry, me) = (shared.entry, shared.me());
        let partitions = self.entries.len() as u32;
        let mut replanned = false;
        if now >= control.sync.next_reap {
            replanned |= registry.reap(entry)?;
            control.sync.next_reap = now + REAP_EVERY;
        }
        let consumers = control.members.len() as u32;
        replanned |= registry.set_consumers(entry, shared.member, consumers);
        let statics: Vec<u64> = control
            .members
            .iter()
            .map(|m| m.tag)
            .filter(|&tag| tag != 0)
            .collect();
        let session = u64::try_from(self.session_timeout.as_nanos()).unwrap_or(u64::MAX);
        registry.set_statics(entry, shared.member, session, &statics);
        replanned |= reservation_due(&registry, entry, partitions);
        // A plan left half-done by a process killed mid-change: someone's partition has no
        // owner.
        let members = registry.members(entry);
        let known = |m: MemberProcess| m == 0 || members.iter().any(|&(k, _)| k == m);
        let mut unowned = false;
        for p in 0..partitions {
            let (owner, want) = registry.plan(entry, p)?;
            // A partition waiting for its static consumer has no owner on purpose.
            let waiting = registry.reserved(entry, p) != 0;
            unowned |= (owner == 0 && !waiting) || !known(owner) || !known(want);
        }
        if replanned || (unowned && members.iter().any(|&(_, c)| c > 0)) {
            replan(&registry, entry, partitions)?;
            replanned = true;
        }
        let mut changed = false;
        let mut handed = false;
        for partition in 0..partitions {
            let (owner, want) = registry.plan(entry, partition)?;
            let asked_away = want != 0 && want != me;
            let index = partition as usize;
            let local = &self.entries[index];
            match (owner == me, control.hold[index]) {
                (true, Hold::Held) if asked_away => {
                    control.hold[index] = Hold::Releasing;
                    changed = true;
                }
                (true, Hold::Releasing) if !asked_away => {
                    control.hold[index] = Hold::Held;
                    changed = true;
                }
                // Until its consumer here lets it go (the next sync looks again).
                (true, Hold::Releasing | Hold::Foreign) if asked_away && released(local) => {
                    registry.set_plan(entry, partition, want, 0);
                    registry.set_tag(entry, partition, 0);
                    control.hold[index] = Hold::Foreign;
                    control.pinned[index] = 0;
                    control.published_tags[index] = 0;
                    handed = true;
                }
                (true, Hold::Releasing | Hold::Foreign) if asked_away => {}
                (true, Hold::Foreign) => {
                    // No consumer here holds it (foreign partitions are assigned to no one),
                    // so the lease is free unless a zombie's batch is still out.
                    if let Some(mut lease) = local.lease_any() {
                        lease.cursor().reload()?;
                        control.hold[index] = Hold::Held;
                        // A static consumer's partition goes back to it (see `assign`).
                        let tag = registry.tag(entry, partition);
                        control.pinned[index] = tag;
                        control.published_tags[index] = tag;
                        // `Detach`'s stall clock starts now, not at the last process's commit.
                        control.progress[index] = (local.committed(), now);
                        changed = true;
                    }
                }
                (false, Hold::Held | Hold::Releasing) => {
                    // Taken from this process without a handoff (it was taken for dead):
                    // its consumers lose the partition at their next poll.
                    control.hold[index] = Hold::Foreign;
                    control.pinned[index] = 0;
                    changed = true;
                }
                _ => {}
            }
        }
        if replanned || handed {
            registry.bump(entry);
        }
        control.sync.generation = shared.region.group_generation(entry);
        Ok(changed)
    }
}

impl<T> GroupInner<T> {
    /// The consumers of this shared-memory group's other live member processes, as they last
    /// recorded them (`None` for a heap group).
    pub(crate) fn other_processes_members(&self) -> Option<usize> {
        let shared = self.shared.as_ref()?;
        let registry = shared.region.groups().ok()?;
        let me = shared.me();
        Some(
            registry
                .members(shared.entry)
                .iter()
                .filter(|&&(member, _)| member != me)
                .map(|&(_, consumers)| consumers as usize)
                .sum(),
        )
    }

    /// Records in the region which partitions go to static consumers here (by their instance
    /// tags), so that if this process dies they wait for its restart; `target` is the local
    /// assignment's target member per partition. Takes the registry lock only when a tag
    /// changed. Control lock held.
    pub(crate) fn publish_tags(&self, control: &mut Control, target: &[u32]) {
        let Some(shared) = &self.shared else {
            return;
        };
        let tags: Vec<u64> = target
            .iter()
            .zip(&control.hold)
            .enumerate()
            .map(|(partition, (&id, &hold))| {
                if hold != Hold::Held {
                    return control.published_tags[partition];
                }
                control
                    .members
                    .iter()
                    .find(|m| m.id == id)
                    .map_or(0, |m| m.tag)
            })
            .collect();
        if tags == control.published_tags {
            return;
        }
        // A poisoned region records nothing more; its consumers learn it at their next poll.
        let Ok(registry) = shared.region.groups() else {
            return;
        };
        for (partition, &tag) in tags.iter().enumerate() {
            if tag != control.published_tags[partition] {
                registry.set_tag(shared.entry, partition as u32, tag);
            }
        }
        control.published_tags = tags;
    }
}

/// True when no consumer of this process holds the partition (its owner is nobody, unleased).
fn released<T>(entry: &PartitionEntry<T>) -> bool {
    let word = entry.load();
    word.owner() == 0 && !word.has(BUSY)
}

impl SharedGroup {
    /// The handle is going: the last member frees the cursors and gives the name up; one that
    /// leaves others behind leaves the cursors registered and its partitions to them.
    ///
    /// A region this process found corrupt is left as it is: the member slot goes to an
    /// identity that is never alive, so the others reap it as a dead process's.
    pub(crate) fn leave<T>(self, entries: &mut [PartitionEntry<T>]) {
        let Ok(registry) = self.region.groups() else {
            for entry in entries.iter_mut() {
                entry.cursor_mut().keep_registration();
            }
            return;
        };
        if registry.others_alive(self.entry, self.member) {
            for entry in entries.iter_mut() {
                entry.cursor_mut().keep_registration();
            }
            // A corrupt plan leaves the entry to the others' next sync, which finds it too.
            let _ = registry
                .leave(self.entry, self.member)
                .and_then(|()| replan(&registry, self.entry, entries.len() as u32));
            registry.bump(self.entry);
        } else {
            // Freed under the lock: a build of the name meanwhile would adopt freed slots.
            for entry in entries.iter_mut() {
                entry.free_cursor();
            }
            registry.release(self.entry, self.member);
        }
    }
}

impl<T> crate::topic::Topic<T> {
    /// Deletes consumer group `name` of this shared-memory topic, if no live process is a
    /// member (Kafka's `deleteConsumerGroups`): its committed offsets are dropped and it stops
    /// gating the producer. For a group whose processes died and that no one will build again.
    /// Returns false when the topic records no group of that name (and for a heap topic, whose
    /// groups end with their last handle); [`GroupError::HeldByProcess`] while a live process,
    /// this one included, is a member.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::{GroupError, Topic};
    ///
    /// let name = format!("doc-delete-{}", std::process::id());
    /// let (topic, _producer) = Topic::<u64>::builder("t").shared_memory(&name).build()?;
    /// let group = topic.group("g").build()?;
    /// assert!(matches!(topic.delete_group("g"), Err(GroupError::HeldByProcess { .. })));
    /// drop(group); // a clean drop deletes it already
    /// assert_eq!(topic.delete_group("g"), Ok(false));
    /// # ringgroup::shm::remove(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn delete_group(&self, name: &str) -> Result<bool, GroupError> {
        let Some(region) = self.region() else {
            return Ok(false);
        };
        let registry = region.groups()?;
        let deleted = registry.delete(name).map_err(|error| match error {
            DeleteError::HeldBy(process) => GroupError::HeldByProcess { pid: process.pid },
            DeleteError::Corrupt(corruption) => GroupError::Corrupt(corruption),
        });
        // A deleted entry's cursors are no named entry's now: the sweep frees them.
        sweep(&registry, self.subscribers())?;
        deleted
    }
}
