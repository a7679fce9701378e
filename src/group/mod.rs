//! Consumer groups: every group sees every message; inside a group each partition has exactly
//! one owner at a time.
//!
//! # Design
//!
//! - A group holds, per partition, one ring cursor (a [`Reader`](crate::ring::Reader)) whose
//!   *released* offset is the group's **committed offset**. Because the ring gates the writer on
//!   it, uncommitted messages stay in the ring, and a new owner can resume from the commit
//!   (I3, I4). Delivery is at-least-once; [`dedupe`](crate::dedupe) makes processing idempotent.
//! - Who owns what is the [assignment table](table): one packed `epoch | owner | flags` word per
//!   partition. The data path (poll, commit, ownership check) only loads and CASes those words:
//!   no lock, no allocation.
//! - The **controller** is not a thread but a lock (`control`) taken on the control path: join,
//!   leave, eviction, handoff. It computes the target with the group's [`Assignor`], then per
//!   partition: a free partition is handed over at once; a partition owned by a live member gets
//!   a *revoke request*; the owner finishes its batch, runs `on_revoked` (where it may commit),
//!   and hands the partition on itself (release before acquire). Partitions that do not move are
//!   never touched, so they never pause.
//! - **Eviction**: a supervisor thread per group samples each member's poll counter; a member
//!   that has not polled (or called [`Consumer::heartbeat`]) for `max_poll_interval` is evicted.
//!   Its partitions move only when it holds no batch (the lease); its next call returns
//!   [`ConsumeError::Fenced`].
//!
//! # Invariants
//! - **I1** a partition changes owner only by CAS on an unleased word, so two members never hold
//!   it at once.
//! - **I4** a member sees a partition's offsets in increasing order; a new owner starts at the
//!   committed offset.
//! - **I5** a commit or seek is done under a lease taken for the member's tenure; after a
//!   revoke the lease CAS fails and the call returns `Fenced`, changing nothing.
//! - **I6** a commit below the committed offset, or beyond what was polled, is an error; only
//!   [`Consumer::seek`] moves the commit back.

pub mod assignor;
mod member_id;
pub(crate) mod table;

use std::fmt;
#[cfg(not(loom))]
use std::sync::Weak;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::error::{CommitError, ConsumeError, GroupError};
use crate::ring::{Batch, StartAt, WaitStrategy};
use crate::sync::{Arc, AtomicBool, AtomicU64, Mutex, Ordering};
use crate::topic::Topic;
use assignor::{Assignor, MemberInfo, RangeAssignor};
pub use member_id::MemberId;
use table::{Lease, LeaseEnd, PartitionEntry, BUSY, MAX_OWNER, REVOKING};

/// Callbacks a member receives when its assignment changes (Kafka's
/// `ConsumerRebalanceListener`). All run on the member's own thread, inside `poll`.
pub trait RebalanceListener<T>: Send {
    /// Partitions newly assigned to this member.
    fn on_assigned(&mut self, _consumer: &mut Consumer<T>, _partitions: &[u32]) {}
    /// Partitions about to be handed to another member. Commits are still allowed here.
    fn on_revoked(&mut self, _consumer: &mut Consumer<T>, _partitions: &[u32]) {}
    /// Partitions taken without a clean revoke (this member was evicted or fenced).
    fn on_lost(&mut self, _consumer: &mut Consumer<T>, _partitions: &[u32]) {}
}

/// Configures a consumer group. Created by [`Topic::group`].
#[must_use]
pub struct GroupBuilder<T> {
    topic: Topic<T>,
    name: String,
    start: StartAt,
    assignor: Box<dyn Assignor>,
    #[cfg_attr(loom, allow(dead_code))] // read by the supervisor, which loom does not run
    max_poll_interval: Duration,
    auto_commit: bool,
}

impl<T: Send + Sync + 'static> GroupBuilder<T> {
    pub(crate) fn new(topic: Topic<T>, name: String) -> Self {
        Self {
            topic,
            name,
            start: StartAt::Earliest,
            assignor: Box::new(RangeAssignor),
            max_poll_interval: Duration::from_secs(5),
            auto_commit: true,
        }
    }

    /// Where a new group starts on every partition (default: earliest retained).
    pub fn start(mut self, start: StartAt) -> Self {
        self.start = start;
        self
    }

    /// The assignor (default: range).
    pub fn assignor(mut self, assignor: impl Assignor) -> Self {
        self.assignor = Box::new(assignor);
        self
    }

    /// How long a member may go without polling or heartbeating before it is evicted.
    pub fn max_poll_interval(mut self, interval: Duration) -> Self {
        self.max_poll_interval = interval;
        self
    }

    /// Auto-commit (default on): each batch is committed when it is dropped, after the caller
    /// has processed it.
    pub fn auto_commit(mut self, on: bool) -> Self {
        self.auto_commit = on;
        self
    }

    /// Creates the group: one cursor per partition at the start position.
    pub fn build(self) -> Result<Group<T>, GroupError> {
        if self.max_poll_interval.is_zero() {
            return Err(GroupError::ZeroPollInterval);
        }
        let mut entries = Vec::with_capacity(self.topic.partitions() as usize);
        for partition in 0..self.topic.partitions() {
            let mut cursor = self
                .topic
                .subscriber(partition)
                .subscribe(self.start)
                .map_err(|source| GroupError::Subscribe { partition, source })?;
            cursor.release_on_commit_only();
            entries.push(PartitionEntry::new(
                self.topic.subscriber(partition).clone(),
                cursor,
            ));
        }
        let inner = Arc::new(GroupInner {
            name: self.name,
            topic: self.topic,
            entries: entries.into_boxed_slice(),
            epoch: CachePadded::new(AtomicU64::new(0)),
            control: Mutex::new(Control {
                members: Vec::new(),
                next_id: 1,
            }),
            assignor: self.assignor,
            max_poll_interval: self.max_poll_interval,
            auto_commit: self.auto_commit,
            rebalances: AtomicU64::new(0),
            last_rebalance_ns: AtomicU64::new(0),
        });
        #[cfg(not(loom))]
        spawn_supervisor(Arc::downgrade(&inner));
        Ok(Group { inner })
    }
}

/// A consumer group on one topic. Cheap to clone; members join through [`Group::join`].
///
/// # Examples
///
/// ```
/// use ringgroup::topic::Topic;
///
/// let (topic, mut producer) = Topic::<u64>::builder("orders").partitions(2).build()?;
/// let group = topic.group("billing").build()?;
/// let mut member = group.join()?;
/// producer.send_to(0, 7)?;
/// let records = member.poll(16, std::time::Duration::from_secs(1))?;
/// assert_eq!(records.iter().next().map(|r| (r.partition, r.offset, *r.value)), Some((0, 0, 7)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Group<T> {
    inner: Arc<GroupInner<T>>,
}

impl<T> Clone for Group<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct GroupInner<T> {
    name: String,
    topic: Topic<T>,
    entries: Box<[PartitionEntry<T>]>,
    /// Bumped (Release) after every change to the table.
    epoch: CachePadded<AtomicU64>,
    control: Mutex<Control>,
    assignor: Box<dyn Assignor>,
    #[cfg_attr(loom, allow(dead_code))] // read by the supervisor, which loom does not run
    max_poll_interval: Duration,
    auto_commit: bool,
    rebalances: AtomicU64,
    last_rebalance_ns: AtomicU64,
}

/// The controller's state; only touched under `GroupInner::control`.
struct Control {
    members: Vec<MemberRecord>,
    next_id: u32,
}

struct MemberRecord {
    id: u32,
    weight: u32,
    liveness: Arc<Liveness>,
    /// The supervisor's last sample: (poll count, when it last changed).
    #[cfg_attr(loom, allow(dead_code))]
    last_seen: (u64, Instant),
}

/// What the supervisor watches and the member reads.
struct Liveness {
    polls: CachePadded<AtomicU64>,
    evicted: AtomicBool,
}

impl Liveness {
    #[inline]
    fn beat(&self) {
        // Relaxed: a progress counter; the supervisor only compares samples.
        self.polls.fetch_add(1, Ordering::Relaxed);
    }
}

/// Options for [`Group::join_with`].
pub struct JoinOptions<T> {
    /// Capacity weight for the weighted assignor (default 1).
    pub weight: u32,
    /// Rebalance callbacks.
    pub listener: Option<Box<dyn RebalanceListener<T>>>,
}

impl<T> Default for JoinOptions<T> {
    fn default() -> Self {
        Self {
            weight: 1,
            listener: None,
        }
    }
}

impl<T: Send + Sync + 'static> Group<T> {
    /// Joins as a new member with weight 1 and no listener.
    pub fn join(&self) -> Result<Consumer<T>, GroupError> {
        self.join_with(JoinOptions::default())
    }

    /// Joins as a new member.
    pub fn join_with(&self, options: JoinOptions<T>) -> Result<Consumer<T>, GroupError> {
        let liveness = Arc::new(Liveness {
            polls: CachePadded::new(AtomicU64::new(0)),
            evicted: AtomicBool::new(false),
        });
        let id = {
            let mut control = self.inner.lock();
            let id = control.next_id;
            if id > MAX_OWNER {
                return Err(GroupError::TooManyJoins);
            }
            control.next_id += 1;
            control.members.push(MemberRecord {
                id,
                weight: options.weight.max(1),
                liveness: liveness.clone(),
                last_seen: (0, Instant::now()),
            });
            self.inner.rebalance(&mut control);
            id
        };
        Ok(Consumer {
            group: self.inner.clone(),
            id,
            owned: Vec::new(),
            seen_epoch: u64::MAX,
            next_turn: 0,
            listener: options.listener,
            liveness,
        })
    }

    /// Evicts member `member` now, as the supervisor does for one that stopped polling. Its
    /// partitions move as soon as it holds no batch; its next poll or commit is fenced.
    /// Returns false if no such member is in the group.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::{topic::Topic, CommitError};
    ///
    /// let (topic, _producer) = Topic::<u64>::builder("t").build()?;
    /// let group = topic.group("g").auto_commit(false).build()?;
    /// let mut member = group.join()?;
    /// let _ = member.poll(1, std::time::Duration::ZERO); // picks up partition 0
    /// assert!(group.evict(member.id()));
    /// assert!(matches!(member.commit_offset(0, 0), Err(CommitError::Fenced { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn evict(&self, member: u32) -> bool {
        let mut control = self.inner.lock();
        let Some(index) = control.members.iter().position(|m| m.id == member) else {
            return false;
        };
        let record = control.members.remove(index);
        // Release: pairs with the member's Acquire load; it learns it was fenced.
        record.liveness.evicted.store(true, Ordering::Release);
        self.inner.rebalance(&mut control);
        true
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Per-partition committed offset, lag, owner and epoch, plus rebalance counters. Reads
    /// atomics only; never slows the data path.
    pub fn metrics(&self) -> GroupMetrics {
        let inner = &*self.inner;
        let partitions = (0..inner.entries.len() as u32)
            .map(|partition| {
                let word = inner.entries[partition as usize].load();
                let committed = inner.entries[partition as usize].committed();
                let latest = inner.topic.subscriber(partition).latest_offset();
                PartitionMetrics {
                    partition,
                    committed,
                    lag: latest.saturating_sub(committed),
                    owner: (word.owner() != 0).then_some(word.owner()),
                    epoch: word.epoch(),
                }
            })
            .collect();
        GroupMetrics {
            partitions,
            rebalances: inner.rebalances.load(Ordering::Relaxed),
            last_rebalance: Duration::from_nanos(inner.last_rebalance_ns.load(Ordering::Relaxed)),
        }
    }
}

impl<T> GroupInner<T> {
    fn lock(&self) -> crate::sync::MutexGuard<'_, Control> {
        self.control
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Recomputes the target assignment and moves what must move. Control lock held.
    fn rebalance(&self, control: &mut Control) {
        let started = Instant::now();
        control.members.sort_by_key(|m| m.id);
        if !control.members.is_empty() {
            let infos: Vec<MemberInfo> = control
                .members
                .iter()
                .map(|m| MemberInfo {
                    id: MemberId::from(m.id),
                    weight: m.weight,
                    owned: (0..self.entries.len() as u32)
                        .filter(|&p| self.entries[p as usize].load().owner() == m.id)
                        .collect(),
                })
                .collect();
            let target = self.target(&infos);
            for (partition, &member) in target.iter().enumerate() {
                self.move_partition(control, partition, control.members[member].id);
            }
        } else {
            for partition in 0..self.entries.len() {
                self.move_partition(control, partition, 0);
            }
        }
        self.rebalances.fetch_add(1, Ordering::Relaxed);
        self.last_rebalance_ns
            .store(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.publish_epoch();
    }

    /// The assignor's target, checked: a custom assignor that panics or breaks the contract
    /// (wrong length, index out of range) is replaced by the range assignor for this round, so
    /// the controller never panics while holding the lock.
    fn target(&self, infos: &[MemberInfo]) -> Vec<usize> {
        let partitions = self.entries.len() as u32;
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
    fn move_partition(&self, control: &Control, partition: usize, want: u32) {
        let entry = &self.entries[partition];
        let mut word = entry.load();
        loop {
            let owner = word.owner();
            if owner == want {
                if word.has(REVOKING) {
                    entry.cancel_revoke();
                }
                return;
            }
            let owner_alive = owner != 0 && control.members.iter().any(|m| m.id == owner);
            if owner_alive || word.has(BUSY) {
                // A live owner hands over itself. A dead one still holding a batch is fenced
                // (no new lease: no commit or seek after its batch) and the move finishes once
                // the batch is dropped (`rescue_orphans`, or the supervisor).
                entry.request_revoke(want);
                if !owner_alive {
                    entry.fence_owner();
                }
                return;
            }
            match entry.transfer(word, want) {
                Ok(_) => return,
                Err(seen) => word = seen,
            }
        }
    }

    fn publish_epoch(&self) {
        // Release: pairs with the member's Acquire load in `poll`; the table changes made
        // before it are visible to a member that sees the new epoch.
        self.epoch.fetch_add(1, Ordering::Release);
    }

    /// Finishes handoffs whose owner left or was evicted while it held a lease. Called by idle
    /// members, so such a partition moves as soon as the lease ends, not at the supervisor's
    /// next tick. Looks only when some partition has a pending revoke, and only if the control
    /// lock is free: a held lock means a handoff or rebalance is under way, and blocking it
    /// (idle members poll often) would only delay that handoff.
    fn rescue_orphans(&self) {
        if !self.entries.iter().any(|entry| entry.load().has(REVOKING)) {
            return;
        }
        let mut control = match self.control.try_lock() {
            Ok(control) => control,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return,
        };
        let orphaned = self.entries.iter().any(|entry| {
            let word = entry.load();
            word.has(REVOKING)
                && !word.has(BUSY)
                && !control.members.iter().any(|m| m.id == word.owner())
        });
        if orphaned {
            self.rebalance(&mut control);
        }
    }

    /// Finishes handoffs whose owner is gone and evicts members that stopped polling.
    #[cfg(not(loom))]
    fn supervise(&self) {
        let mut control = self.lock();
        let now = Instant::now();
        let before = control.members.len();
        control.members.retain_mut(|member| {
            let polls = member.liveness.polls.load(Ordering::Relaxed);
            if polls != member.last_seen.0 {
                member.last_seen = (polls, now);
                return true;
            }
            if now.duration_since(member.last_seen.1) < self.max_poll_interval {
                return true;
            }
            // Release: pairs with the member's Acquire load; it learns it was fenced.
            member.liveness.evicted.store(true, Ordering::Release);
            false
        });
        let stuck = self.entries.iter().any(|entry| {
            let word = entry.load();
            word.has(REVOKING) && !control.members.iter().any(|m| m.id == word.owner())
        });
        if control.members.len() != before || stuck {
            self.rebalance(&mut control);
        }
    }
}

/// Runs `supervise` every quarter of `max_poll_interval` until the group is dropped.
#[cfg(not(loom))]
fn spawn_supervisor<T: Send + Sync + 'static>(group: Weak<GroupInner<T>>) {
    let Some(tick) = group
        .upgrade()
        .map(|g| (g.max_poll_interval / 4).max(Duration::from_millis(1)))
    else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("ringgroup-supervisor".into())
        .spawn(move || loop {
            std::thread::sleep(tick);
            match group.upgrade() {
                Some(group) => group.supervise(),
                None => return,
            }
        });
}

/// A partition this member holds, at the epoch it acquired it.
#[derive(Clone, Copy, Debug)]
struct Owned {
    partition: u32,
    epoch: u32,
}

/// A member of a consumer group. Poll it from one thread; dropping it leaves the group
/// (committing first when auto-commit is on).
pub struct Consumer<T> {
    group: Arc<GroupInner<T>>,
    id: u32,
    owned: Vec<Owned>,
    seen_epoch: u64,
    next_turn: usize,
    listener: Option<Box<dyn RebalanceListener<T>>>,
    liveness: Arc<Liveness>,
}

/// One message with its coordinates.
#[derive(Debug)]
pub struct Record<'a, T> {
    /// The partition it was published to.
    pub partition: u32,
    /// Its offset in that partition.
    pub offset: u64,
    /// The message, borrowed in place.
    pub value: &'a T,
}

/// A batch from one partition. Holds the partition's lease: the partition cannot move until
/// the batch is dropped. With auto-commit, dropping it commits it (unless the thread is
/// panicking: an unfinished batch is redelivered).
#[must_use = "a batch is committed (with auto-commit) and released when dropped"]
pub struct Records<'a, T> {
    partition: u32,
    batch: Batch<'a, T>,
    auto_commit: bool,
    liveness: &'a Liveness,
    // Declared after `batch`: the lease ends after the batch has released the cursor.
    _lease: LeaseEnd<'a, T>,
}

impl<'a, T> Records<'a, T> {
    /// The partition the batch comes from.
    pub fn partition(&self) -> u32 {
        self.partition
    }

    /// Number of messages.
    pub fn len(&self) -> usize {
        self.batch.len()
    }

    /// Always false: a poll that finds nothing returns an error.
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// The first offset in the batch.
    pub fn first_offset(&self) -> u64 {
        self.batch.first_offset()
    }

    /// Tells the group this member is alive while it works through a long batch.
    pub fn heartbeat(&self) {
        self.liveness.beat();
    }

    /// The messages with partition and offset, in offset order.
    pub fn iter(&self) -> impl Iterator<Item = Record<'_, T>> + '_ {
        let partition = self.partition;
        self.batch
            .iter_with_offsets()
            .map(move |(offset, value)| Record {
                partition,
                offset,
                value,
            })
    }
}

impl<T> Drop for Records<'_, T> {
    fn drop(&mut self) {
        // A batch dropped by a panic was not processed: neither advance past it nor commit
        // it, so it is delivered again (at-least-once).
        if std::thread::panicking() {
            self.batch.abandon();
        } else if self.auto_commit {
            let end = self.batch.first_offset() + self.batch.len() as u64;
            self.batch.commit_through(end);
        }
    }
}

impl<T: Send + Sync + 'static> Consumer<T> {
    /// This member's id within the group.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Lends a batch of up to `max` messages from one of this member's partitions, taking
    /// turns so that no partition starves the others. Waits up to `timeout`.
    ///
    /// Errors: [`ConsumeError::Timeout`], [`ConsumeError::Fenced`] once this member was
    /// evicted, [`ConsumeError::Closed`] when the producer is gone and this member's partitions
    /// are drained.
    pub fn poll<'a>(
        &'a mut self,
        max: usize,
        timeout: Duration,
    ) -> Result<Records<'a, T>, ConsumeError> {
        // Read the clock only once nothing was found: a clock read costs more than a poll.
        let mut deadline: Option<Option<Instant>> = None;
        let mut idle_rounds: u32 = 0;
        loop {
            self.heartbeat();
            // Acquire: pairs with the controller's Release bump in `publish_epoch`.
            let epoch = self.group.epoch.load(Ordering::Acquire);
            if epoch != self.seen_epoch {
                self.sync(epoch)?;
            }
            if self.liveness.evicted.load(Ordering::Acquire) {
                return Err(ConsumeError::Fenced);
            }
            // SAFETY: `self.group` is an `Arc` that `self` keeps alive and never replaces; the
            // returned batch borrows `self` mutably for `'a` (the signature), so the group
            // outlives every use of this reference. It is taken from a raw pointer only so that
            // returning a batch from inside the loop does not hold `self` borrowed across
            // iterations (a borrow-checker limitation, not an aliasing need).
            let group: &'a GroupInner<T> = unsafe { &*(&*self.group as *const GroupInner<T>) };
            // SAFETY: as above: `self.liveness` is an `Arc` kept alive and unchanged by `self`.
            let liveness: &'a Liveness = unsafe { &*(&*self.liveness as *const Liveness) };
            match self.next_batch(group, liveness, max) {
                Found::Batch(records) => return Ok(records),
                Found::AllClosed => return Err(ConsumeError::Closed),
                Found::Nothing => {}
            }
            if idle_rounds % 64 == 0 {
                self.group.rescue_orphans();
            }
            let deadline = *deadline.get_or_insert_with(|| Instant::now().checked_add(timeout));
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(ConsumeError::Timeout);
            }
            idle_rounds = idle_rounds.saturating_add(1);
            backoff(idle_rounds, self.group.topic.wait_strategy());
        }
    }

    /// Takes a batch from the next partition, in turn order, that has one. The lease taken to
    /// look is the lease the batch keeps: a partition moved meanwhile is just skipped.
    fn next_batch<'a>(
        &mut self,
        group: &'a GroupInner<T>,
        liveness: &'a Liveness,
        max: usize,
    ) -> Found<'a, T> {
        let count = self.owned.len();
        let mut closed = 0;
        for step in 0..count {
            let turn = (self.next_turn + step) % count;
            let Owned { partition, epoch } = self.owned[turn];
            let Ok(lease) = group.entries[partition as usize].lease(self.id, epoch) else {
                continue; // the tenure ended; the next sync drops it
            };
            let (cursor, lease) = lease.into_parts();
            match cursor.try_poll(max) {
                Ok(batch) => {
                    self.next_turn = turn + 1;
                    return Found::Batch(Records {
                        partition,
                        batch,
                        auto_commit: group.auto_commit,
                        liveness,
                        _lease: lease,
                    });
                }
                Err(crate::PollError::Closed) => closed += 1,
                Err(_) => {}
            }
        }
        let drained = if count == 0 {
            // A member with no partitions is done once every partition is closed and drained.
            group.entries.iter().all(PartitionEntry::drained)
        } else {
            closed == count
        };
        if drained {
            Found::AllClosed
        } else {
            Found::Nothing
        }
    }

    /// Tells the group this member is alive without polling (a slow but healthy member).
    #[inline]
    pub fn heartbeat(&mut self) {
        self.liveness.beat();
    }

    /// Picks up assignment changes: new partitions, revoke requests, lost partitions.
    fn sync(&mut self, epoch: u64) -> Result<(), ConsumeError> {
        let (mut assigned, mut revoked, mut lost) = (Vec::new(), Vec::new(), Vec::new());
        let group = self.group.clone();
        for (partition, entry) in group.entries.iter().enumerate() {
            let partition = partition as u32;
            let word = entry.load();
            let held = self.owned.iter().position(|o| o.partition == partition);
            match held {
                Some(i) if word.owner() != self.id || word.epoch() != self.owned[i].epoch => {
                    self.owned.remove(i);
                    lost.push(partition);
                }
                Some(_) if word.has(REVOKING) => revoked.push(partition),
                Some(_) => {}
                None if word.owner() == self.id => {
                    if let Ok(mut lease) = entry.lease(self.id, word.epoch()) {
                        let cursor = lease.cursor();
                        let committed = cursor.released();
                        cursor.set_position(committed);
                        self.owned.push(Owned {
                            partition,
                            epoch: word.epoch(),
                        });
                        assigned.push(partition);
                        // Assigned and already asked for (a later join): hand it on now, or no
                        // later epoch change would make this member look at it again.
                        if word.has(REVOKING) {
                            revoked.push(partition);
                        }
                    }
                }
                None => {}
            }
        }
        self.owned.sort_by_key(|o| o.partition);
        self.notify(&lost, Change::Lost);
        self.notify(&assigned, Change::Assigned);
        if !revoked.is_empty() {
            self.notify(&revoked, Change::Revoked);
            // A revoke cancelled meanwhile leaves the partition here: say it is ours again.
            let kept = self.hand_off(&revoked);
            self.notify(&kept, Change::Assigned);
        }
        // Only now: a panicking listener leaves the epoch unseen, so the next poll syncs again.
        self.seen_epoch = epoch;
        if self.liveness.evicted.load(Ordering::Acquire) {
            let all: Vec<u32> = self.owned.drain(..).map(|o| o.partition).collect();
            self.notify(&all, Change::Lost);
            return Err(ConsumeError::Fenced);
        }
        Ok(())
    }

    fn notify(&mut self, partitions: &[u32], change: Change) {
        if partitions.is_empty() {
            return;
        }
        if let Some(mut listener) = self.listener.take() {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match change {
                Change::Assigned => listener.on_assigned(self, partitions),
                Change::Revoked => listener.on_revoked(self, partitions),
                Change::Lost => listener.on_lost(self, partitions),
            }));
            // Put the listener back even if it panicked, then let the panic go on.
            self.listener = Some(listener);
            if let Err(panic) = outcome {
                std::panic::resume_unwind(panic);
            }
        }
    }

    /// Commits (when auto-commit is on) and hands each revoked partition to its new owner.
    /// Returns the partitions it kept because their revoke was cancelled.
    fn hand_off(&mut self, partitions: &[u32]) -> Vec<u32> {
        let mut kept = Vec::new();
        let group = self.group.clone();
        let control = group.lock();
        for &partition in partitions {
            let Some(i) = self.owned.iter().position(|o| o.partition == partition) else {
                continue;
            };
            let entry = &group.entries[partition as usize];
            if group.auto_commit {
                // A failure means the tenure already ended; the handoff below then skips it.
                let _ = entry.commit_polled(self.id, self.owned[i].epoch);
            }
            let word = entry.load();
            if word.owner() != self.id || !word.has(REVOKING) {
                if word.owner() == self.id {
                    kept.push(partition);
                }
                continue;
            }
            let pending = entry.pending();
            let target = if control.members.iter().any(|m| m.id == pending) {
                pending
            } else {
                0
            };
            if entry.transfer(word, target).is_ok() {
                self.owned.remove(i);
            }
        }
        drop(control);
        group.publish_epoch();
        kept
    }

    /// Commits every polled offset of every owned partition.
    ///
    /// Every partition is tried; the first error (a partition whose tenure ended) is returned
    /// after the others were committed.
    pub fn commit(&mut self) -> Result<(), CommitError> {
        let mut first_error = Ok(());
        for i in 0..self.owned.len() {
            let Owned { partition, epoch } = self.owned[i];
            let entry = &self.group.entries[partition as usize];
            if entry.commit_polled(self.id, epoch).is_err() && first_error.is_ok() {
                first_error = Err(CommitError::Fenced { partition, epoch });
            }
        }
        first_error
    }

    /// Commits `offset` (the next offset to read) on `partition`.
    ///
    /// Errors: `NotOwned` / `Fenced` if this member does not own it now, `BeyondPolled` past
    /// what was polled, `Behind` below the committed offset (commits never move back).
    pub fn commit_offset(&mut self, partition: u32, offset: u64) -> Result<(), CommitError> {
        let epoch = self.epoch_of(partition)?;
        let mut lease = self.lease_for(partition, epoch)?;
        let cursor = lease.cursor();
        let (committed, polled) = (cursor.released(), cursor.position());
        if offset > polled {
            return Err(CommitError::BeyondPolled {
                partition,
                offset,
                polled,
            });
        }
        if offset < committed {
            return Err(CommitError::Behind {
                partition,
                offset,
                committed,
            });
        }
        cursor.release_to(offset);
        Ok(())
    }

    /// Moves this member's read position on `partition` to `offset`. Seeking below the
    /// committed offset rewinds the commit too, if the messages are still retained.
    pub fn seek(&mut self, partition: u32, offset: u64) -> Result<(), CommitError> {
        let epoch = self.epoch_of(partition)?;
        let mut lease = self.lease_for(partition, epoch)?;
        let cursor = lease.cursor();
        if offset < cursor.released() {
            cursor
                .rewind_release(offset)
                .map_err(|source| CommitError::Seek { partition, source })?;
        } else {
            let latest = self.group.topic.subscriber(partition).latest_offset();
            if offset > latest {
                return Err(CommitError::BeyondLatest {
                    partition,
                    offset,
                    latest,
                });
            }
        }
        cursor.set_position(offset);
        Ok(())
    }

    /// True while this member still owns `partition` at the epoch it acquired it. Use it to
    /// fence side effects, not just commits.
    #[inline]
    pub fn is_owner(&self, partition: u32) -> bool {
        self.owned.iter().any(|o| {
            o.partition == partition && {
                let word = self.group.entries[partition as usize].load();
                word.owner() == self.id && word.epoch() == o.epoch
            }
        })
    }

    /// The partitions this member holds, with the epoch of each tenure.
    pub fn assignment(&self) -> Vec<(u32, u32)> {
        self.owned.iter().map(|o| (o.partition, o.epoch)).collect()
    }

    /// Messages published but not yet committed by the group, per owned partition.
    pub fn lag(&self) -> Vec<(u32, u64)> {
        self.owned
            .iter()
            .map(|o| (o.partition, self.group.entries[o.partition as usize].lag()))
            .collect()
    }

    fn epoch_of(&self, partition: u32) -> Result<u32, CommitError> {
        if partition as usize >= self.group.entries.len() {
            return Err(CommitError::UnknownPartition { partition });
        }
        self.owned
            .iter()
            .find(|o| o.partition == partition)
            .map(|o| o.epoch)
            .ok_or(CommitError::NotOwned { partition })
    }

    fn lease_for(&self, partition: u32, epoch: u32) -> Result<Lease<'_, T>, CommitError> {
        self.group.entries[partition as usize]
            .lease(self.id, epoch)
            .map_err(|_| CommitError::Fenced { partition, epoch })
    }
}

/// Which listener callback to run.
enum Change {
    Assigned,
    Revoked,
    Lost,
}

enum Found<'a, T> {
    Batch(Records<'a, T>),
    AllClosed,
    Nothing,
}

/// An idle member's wait between looks, under the topic's wait strategy: `BusySpin` spins,
/// `Yield` yields, and `SpinThenPark` spins, yields, then sleeps in 50 µs steps (a member may
/// own many partitions, so it cannot park on one ring's signal).
fn backoff(round: u32, strategy: WaitStrategy) {
    match strategy {
        WaitStrategy::BusySpin => crate::sync::spin_hint(),
        WaitStrategy::Yield => crate::sync::thread::yield_now(),
        WaitStrategy::SpinThenPark if round < 64 => crate::sync::spin_hint(),
        WaitStrategy::SpinThenPark if round < 128 => crate::sync::thread::yield_now(),
        WaitStrategy::SpinThenPark => {
            #[cfg(not(loom))]
            std::thread::sleep(Duration::from_micros(50));
            #[cfg(loom)]
            crate::sync::thread::yield_now();
        }
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        let group = self.group.clone();
        let mut control = group.lock();
        for owned in self.owned.drain(..) {
            let entry = &group.entries[owned.partition as usize];
            if group.auto_commit {
                // A failure means the tenure already ended: nothing of ours to commit.
                let _ = entry.commit_polled(self.id, owned.epoch);
            }
            let word = entry.load();
            if word.owner() == self.id && word.epoch() == owned.epoch {
                let _ = entry.transfer(word, 0);
            }
        }
        control.members.retain(|m| m.id != self.id);
        group.rebalance(&mut control);
    }
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("group", &self.group.name)
            .field("id", &self.id)
            .field("owned", &self.owned)
            .finish()
    }
}

/// A snapshot of a group's state.
#[derive(Clone, Debug)]
pub struct GroupMetrics {
    /// One entry per partition.
    pub partitions: Vec<PartitionMetrics>,
    /// Rebalances so far.
    pub rebalances: u64,
    /// How long the last rebalance took the controller.
    pub last_rebalance: Duration,
}

/// One partition as a group sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionMetrics {
    /// The partition.
    pub partition: u32,
    /// The group's committed offset.
    pub committed: u64,
    /// Published messages not yet committed.
    pub lag: u64,
    /// The owning member, if any.
    pub owner: Option<u32>,
    /// The epoch of the current tenure.
    pub epoch: u32,
}
