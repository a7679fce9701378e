//! The member: [`Consumer`], one thread's seat in a consumer group.
//!
//! # Algorithm
//!
//! A poll checks the group epoch with one `Acquire` load; only when it moved does the member
//! rescan the assignment table (`sync`): it drops partitions whose tenure ended (`on_lost`),
//! takes up new ones at the group's committed offset (`on_assigned`), and hands on the ones it
//! is asked to give up (`on_revoked`, then a commit with auto-commit, then the transfer). Then it
//! takes turns over its partitions, leases the next one with records and lends them as
//! [`Records`]. Data path work is loads and CASes on the partition's table word and its ring: no
//! lock, no allocation.
//!
//! Every method takes `&self`, as rust-rdkafka's consumer does, so the everyday shapes compile:
//! `match consumer.poll(..) { Ok(records) => .., Err(_) => consumer.assignment() }`, or a
//! `commit()` while the records are still in scope. The member's own state sits in cells
//! (`Consumer` is `Send`, not `Sync`: one thread polls it). The lease a lent batch needs is
//! held by the member, not by the [`Records`], which only read the ring; so a commit made while
//! records are lent is kept until they are dropped, and never releases a slot they still read.
//!
//! # Invariants
//! - **I1** at most one batch is lent at a time; its partition stays leased until it is dropped.
//! - **I4** a partition's records are delivered in offset order; a new owner starts at the
//!   committed offset.
//! - **I5** a commit or seek runs under a lease taken for the member's tenure; after a revoke
//!   or an eviction that lease fails and the call returns `Fenced`, changing nothing.
//! - **I6** a commit below the committed offset, or beyond what was delivered, is refused; only
//!   [`Consumer::seek`] moves the commit back.
//! - A batch that was `mem::forget`-ed keeps its lease until the member is dropped (the drop
//!   proves no batch is alive, since records borrow the member); the drop ends the lease without
//!   committing, so the batch is delivered again.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use super::builder::Backpressure;
use super::controller::{GroupInner, Liveness};
use super::error::{ConsumeError, OwnershipError};
use super::metrics::{AssignedPartition, PartitionLag};
use super::records::{Record, Records};
use super::table::{PartitionEntry, FENCED, REVOKING};
use super::{MemberId, RebalanceListener};
use crate::ring::{PollError, Span, WaitStrategy};
use crate::sync::Arc;

/// A member of a consumer group. Poll it from one thread (it is `Send`, not `Sync`); dropping it
/// leaves the group: `on_revoked` runs for its partitions (where a manual-commit member commits),
/// then auto-commit commits what was delivered, and the partitions move to the others.
///
/// # Examples
///
/// The everyday loop:
///
/// ```
/// use std::time::Duration;
/// use ringgroup::{ConsumeError, Topic};
///
/// let (topic, mut producer) = Topic::<u64>::builder("orders").partitions(2).build()?;
/// let group = topic.group("billing").auto_commit(false).build()?;
/// let consumer = group.join()?;
/// for value in 0..10 {
///     producer.send(value)?;
/// }
/// drop(producer);
/// let mut total = 0;
/// loop {
///     match consumer.poll(64, Duration::from_millis(100)) {
///         Ok(records) => {
///             total += records.values().sum::<u64>();
///             consumer.commit()?; // commits these records once they are dropped
///         }
///         Err(ConsumeError::Timeout) => println!("idle; holding {:?}", consumer.assignment()),
///         Err(ConsumeError::Closed) => break,
///         Err(e) => return Err(e.into()),
///     }
/// }
/// assert_eq!(total, 45);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Consumer<T> {
    pub(super) group: Arc<GroupInner<T>>,
    pub(super) state: RefCell<MemberState>,
    listener: RefCell<Option<Box<dyn RebalanceListener<T>>>>,
    /// True while a listener callback runs.
    in_callback: Cell<bool>,
    /// `try_poll`s that found nothing, to pace their look for orphaned partitions.
    empty_polls: Cell<u32>,
    /// The batch lent now, whose partition's lease the member holds.
    pub(super) outstanding: Cell<Option<Outstanding>>,
}

pub(super) struct MemberState {
    pub(super) id: u32,
    liveness: Arc<Liveness>,
    weight: u32,
    /// The static member's instance id.
    instance: Option<String>,
    /// The partitions held, sorted by partition.
    pub(super) owned: Vec<Owned>,
    /// Per partition, the epoch of this member's latest tenure (current or ended), so a call
    /// about a partition it lost says `Fenced`, and one it never held says `NotOwned`.
    last_epoch: Box<[Option<u32>]>,
    seen_epoch: u64,
    next_turn: usize,
    /// `Fenced` was returned: the next poll joins again under a new id.
    rejoin: bool,
}

/// A partition this member holds, at the epoch it acquired it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Owned {
    pub(super) partition: u32,
    pub(super) epoch: u32,
    pub(super) paused: bool,
}

/// A lent batch: its partition and tenure, its offsets, and a commit asked for while it is lent.
#[derive(Clone, Copy, Debug)]
pub(super) struct Outstanding {
    pub(super) partition: u32,
    pub(super) first: u64,
    pub(super) len: u64,
    pub(super) commit: Option<u64>,
}

impl Outstanding {
    pub(super) fn end(&self) -> u64 {
        self.first + self.len
    }
}

/// Which listener callback to run.
#[derive(Clone, Copy)]
enum Change {
    Assigned,
    Revoked,
    Lost,
}

impl<T> Consumer<T> {
    pub(super) fn new(
        group: Arc<GroupInner<T>>,
        id: u32,
        liveness: Arc<Liveness>,
        weight: u32,
        instance: Option<String>,
        listener: Option<Box<dyn RebalanceListener<T>>>,
    ) -> Self {
        let partitions = group.entries.len();
        Self {
            group,
            state: RefCell::new(MemberState {
                id,
                liveness,
                weight,
                instance,
                owned: Vec::new(),
                last_epoch: vec![None; partitions].into_boxed_slice(),
                seen_epoch: u64::MAX,
                next_turn: 0,
                rejoin: false,
            }),
            listener: RefCell::new(listener),
            in_callback: Cell::new(false),
            empty_polls: Cell::new(0),
            outstanding: Cell::new(None),
        }
    }

    /// The topic's extension slot, for the layers above (replies).
    pub(crate) fn extension(&self) -> &crate::topic::Extension {
        &self.group.extension
    }

    /// The topic's region, for a topic in shared memory.
    #[cfg(not(ringgroup_loom))]
    pub(crate) fn region(&self) -> Option<&crate::sync::StdArc<crate::shm::Region>> {
        self.group.shared.as_ref().map(|shared| shared.region())
    }

    /// This member's id within the group (a new one after it joins again).
    pub fn id(&self) -> MemberId {
        MemberId::from(self.state.borrow().id)
    }

    /// Lends a batch of up to `max_records` from one of this member's partitions, taking turns
    /// so that no partition starves the others, and waits up to `timeout` for one.
    ///
    /// Rebalance callbacks run inside it, on this thread. Errors:
    /// [`ConsumeError::Timeout`]; [`ConsumeError::Fenced`] once this member was evicted (the
    /// next poll joins again); [`ConsumeError::Closed`] once the producer is gone and the group
    /// committed everything; [`ConsumeError::BatchOutstanding`] while an earlier batch is
    /// still lent; [`ConsumeError::InCallback`] from inside a listener;
    /// [`ConsumeError::ZeroMaxRecords`].
    pub fn poll(
        &self,
        max_records: usize,
        timeout: Duration,
    ) -> Result<Records<'_, T>, ConsumeError> {
        self.check_can_poll(max_records)?;
        // Read the clock only once nothing was found: a clock read costs more than a poll.
        let mut deadline: Option<Option<Instant>> = None;
        let mut idle_rounds: u32 = 0;
        loop {
            if let Some(records) = self.poll_once(max_records)? {
                return Ok(records);
            }
            if idle_rounds % 64 == 0 {
                self.group.rescue_orphans();
            }
            // The clock is read when the wait starts and then every 16 looks (a look costs
            // far less than a clock read), or at every look once the wait sleeps.
            if deadline.is_none()
                || idle_rounds % 16 == 0
                || backoff_sleeps(idle_rounds, self.group.strategy)
            {
                let deadline = *deadline.get_or_insert_with(|| Instant::now().checked_add(timeout));
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(ConsumeError::Timeout);
                }
            }
            idle_rounds = idle_rounds.saturating_add(1);
            backoff(idle_rounds, self.group.strategy);
        }
    }

    /// Like [`poll`](Self::poll) without waiting: [`ConsumeError::Empty`] when nothing is ready.
    pub fn try_poll(&self, max_records: usize) -> Result<Records<'_, T>, ConsumeError> {
        self.check_can_poll(max_records)?;
        match self.poll_once(max_records)? {
            Some(records) => Ok(records),
            None => {
                // Every 64th empty look, as `poll` does while it waits: an empty try costs a
                // few loads, not a scan of the table.
                let empty = self.empty_polls.get();
                self.empty_polls.set(empty.wrapping_add(1));
                if empty % 64 == 0 {
                    self.group.rescue_orphans();
                }
                Err(ConsumeError::Empty)
            }
        }
    }

    /// Hands every record ready now on one of this member's partitions (at most a ring's
    /// worth) to `f`, in offset order, then ends the batch as dropping [`Records`] does
    /// (committing it with auto-commit); never waits. Returns how many there were.
    ///
    /// The drain form of [`try_poll`](Self::try_poll), with its errors: one lease, one look at
    /// the partition's end and one commit for everything that was there. If `f` panics, the
    /// batch is delivered again, as a dropped-while-panicking [`Records`] is.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::Topic;
    ///
    /// let (topic, mut producer) = Topic::<u64>::builder("ticks").build()?;
    /// let member = topic.group("stats").build()?.join()?;
    /// for value in 1..=4 {
    ///     producer.send(value)?;
    /// }
    /// let mut sum = 0;
    /// assert_eq!(member.try_drain(|record| sum += record.value)?, 4);
    /// assert_eq!(sum, 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_drain(&self, f: impl FnMut(Record<'_, T>)) -> Result<usize, ConsumeError> {
        let records = self.try_poll(usize::MAX)?;
        let len = records.len();
        records.iter().for_each(f);
        Ok(len)
    }

    /// Like [`try_drain`](Self::try_drain), waiting up to `timeout` for a record as
    /// [`poll`](Self::poll) does.
    pub fn drain(
        &self,
        f: impl FnMut(Record<'_, T>),
        timeout: Duration,
    ) -> Result<usize, ConsumeError> {
        let records = self.poll(usize::MAX, timeout)?;
        let len = records.len();
        records.iter().for_each(f);
        Ok(len)
    }

    fn check_can_poll(&self, max_records: usize) -> Result<(), ConsumeError> {
        if max_records == 0 {
            return Err(ConsumeError::ZeroMaxRecords);
        }
        if self.in_callback.get() {
            return Err(ConsumeError::InCallback);
        }
        if let Some(lent) = self.outstanding.get() {
            return Err(ConsumeError::BatchOutstanding {
                partition: lent.partition,
            });
        }
        Ok(())
    }

    /// One look: rejoin if fenced before, sync if the epoch moved, then a batch if any.
    #[inline]
    fn poll_once(&self, max_records: usize) -> Result<Option<Records<'_, T>>, ConsumeError> {
        if self.state.borrow().rejoin {
            self.rejoin()?;
        }
        let epoch = {
            let state = self.state.borrow();
            state.liveness.beat();
            if state.liveness.is_evicted() {
                drop(state);
                return Err(self.evicted());
            }
            let epoch = self.group.epoch();
            if epoch == state.seen_epoch {
                None
            } else {
                Some(epoch)
            }
        };
        if let Some(epoch) = epoch {
            self.sync(epoch)?;
        }
        self.next_batch(max_records)
    }

    /// Takes a batch from the next partition, in turn order, that has one. The lease taken to
    /// look is the lease the batch keeps: a partition moved meanwhile is just skipped.
    fn next_batch(&self, max_records: usize) -> Result<Option<Records<'_, T>>, ConsumeError> {
        let mut state = self.state.borrow_mut();
        let count = state.owned.len();
        // The turn may point past a list that shrank since.
        let start = if state.next_turn < count {
            state.next_turn
        } else {
            0
        };
        for step in 0..count {
            // `start + step < 2 * count`: a subtraction, not a division.
            let mut turn = start + step;
            if turn >= count {
                turn -= count;
            }
            let Owned {
                partition,
                epoch,
                paused,
            } = state.owned[turn];
            if paused {
                continue;
            }
            let entry = &self.group.entries[partition as usize];
            let Ok(mut lease) = entry.lease(state.id, epoch) else {
                continue; // the tenure ended; the next sync drops it
            };
            let cursor = lease.cursor();
            if !cursor.is_attached() {
                // Detached (lossy, or stalled past its detach time): gate the writer again
                // before reading, counting what it lapped meanwhile.
                if !cursor.has_news() {
                    continue;
                }
                entry.add_skipped(cursor.attach());
            }
            let len = match cursor.poll_len(max_records as u64) {
                Ok(len) => len,
                Err(PollError::Corrupt(corruption)) => return Err(corruption.into()),
                Err(_) => {
                    if self.group.backpressure == Backpressure::Lossy {
                        cursor.detach();
                    }
                    continue;
                }
            };
            let first = cursor.position();
            lease.hold();
            state.next_turn = turn + 1;
            self.outstanding.set(Some(Outstanding {
                partition,
                first,
                len,
                commit: None,
            }));
            // SAFETY: `first..first + len` is below the `published` that `poll_len` acquired,
            // and the lease kept above stays held until the records are dropped
            // (`finish_batch`), while the committed offset, which gates the writer, stays at
            // most `first` (commits asked for meanwhile wait for the drop).
            let span = unsafe { Span::new(entry.ring().shared(), first, len) };
            return Ok(Some(Records::new(self, partition, span)));
        }
        drop(state);
        // A member of a shared-memory group whose region is found corrupt learns it here even
        // when it holds no partition (the registry was found corrupt, say).
        self.group.check_region()?;
        if self.group.drained() {
            Err(ConsumeError::Closed)
        } else {
            Ok(None)
        }
    }

    /// Ends the lent batch's lease: moves past it and commits it (auto-commit, or a commit
    /// asked for while it was lent), or, when `panicking`, leaves it to be delivered again.
    #[inline]
    pub(super) fn finish_batch(&self, panicking: bool) {
        let Some(lent) = self.outstanding.take() else {
            return;
        };
        let entry = &self.group.entries[lent.partition as usize];
        // SAFETY: the lease was kept in `next_batch` and is ended only below; the records were
        // the only other user and are being dropped.
        let cursor = unsafe { entry.held_cursor() };
        let (position, commit) = if panicking {
            // Not processed: only an explicit commit moves anything.
            (
                lent.commit.map_or(lent.first, |c| c.max(lent.first)),
                lent.commit,
            )
        } else if self.group.auto_commit {
            (lent.end(), Some(lent.end()))
        } else {
            (lent.end(), lent.commit)
        };
        cursor.check_lent(lent.first);
        cursor.set_position(position);
        if let Some(offset) = commit.filter(|&c| c > cursor.committed()) {
            cursor.commit(offset);
        }
        if self.group.backpressure == Backpressure::Lossy {
            cursor.detach();
        }
        // SAFETY: the lease is ours (above) and `cursor` is not used after this.
        unsafe { entry.end_held_lease() };
    }

    /// Tells the group this member is alive without polling (a slow but healthy member). It
    /// does not stop a revoke's deadline: a member asked to hand a partition on must poll.
    #[inline]
    pub fn heartbeat(&self) {
        self.state.borrow().liveness.beat();
    }

    /// Picks up assignment changes: new partitions, revoke requests, lost partitions.
    fn sync(&self, epoch: u64) -> Result<(), ConsumeError> {
        let (mut assigned, mut revoked, mut lost) = (Vec::new(), Vec::new(), Vec::new());
        {
            let mut state = self.state.borrow_mut();
            let state = &mut *state;
            for (partition, entry) in self.group.entries.iter().enumerate() {
                let partition = partition as u32;
                let word = entry.load();
                let held = state.owned.iter().position(|o| o.partition == partition);
                match held {
                    Some(i) if word.owner() != state.id || word.epoch() != state.owned[i].epoch => {
                        state.owned.remove(i);
                        lost.push(partition);
                    }
                    Some(_) if word.has(REVOKING) => revoked.push(partition),
                    Some(_) => {}
                    None if word.owner() == state.id && !word.has(FENCED) => {
                        if let Ok(mut lease) = entry.lease(state.id, word.epoch()) {
                            let cursor = lease.cursor();
                            let committed = cursor.committed();
                            cursor.set_position(committed);
                            let at = state.owned.partition_point(|o| o.partition < partition);
                            state.owned.insert(
                                at,
                                Owned {
                                    partition,
                                    epoch: word.epoch(),
                                    paused: false,
                                },
                            );
                            state.last_epoch[partition as usize] = Some(word.epoch());
                            assigned.push(partition);
                            // Assigned and already asked for (a later join): hand it on now, or
                            // no later epoch change would make this member look at it again.
                            if word.has(REVOKING) {
                                revoked.push(partition);
                            }
                        }
                    }
                    None => {}
                }
            }
        }
        self.notify(&lost, Change::Lost);
        self.notify(&assigned, Change::Assigned);
        if !revoked.is_empty() {
            self.notify(&revoked, Change::Revoked);
            // A revoke cancelled meanwhile leaves the partition here: say it is ours again.
            let kept = self.hand_off(&revoked);
            self.notify(&kept, Change::Assigned);
        }
        // Only now: a panicking listener leaves the epoch unseen, so the next poll syncs again.
        self.state.borrow_mut().seen_epoch = epoch;
        if self.state.borrow().liveness.is_evicted() {
            return Err(self.evicted());
        }
        Ok(())
    }

    /// Runs a listener callback, if there is a listener. A callback may commit, seek, pause and
    /// ask questions; a poll from inside it is refused ([`ConsumeError::InCallback`]).
    fn notify(&self, partitions: &[u32], change: Change) {
        if partitions.is_empty() {
            return;
        }
        let Some(mut listener) = self.listener.borrow_mut().take() else {
            return;
        };
        self.in_callback.set(true);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match change {
            Change::Assigned => listener.on_assigned(self, partitions),
            Change::Revoked => listener.on_revoked(self, partitions),
            Change::Lost => listener.on_lost(self, partitions),
        }));
        self.in_callback.set(false);
        // Put the listener back even if it panicked, then let the panic go on.
        *self.listener.borrow_mut() = Some(listener);
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }

    /// Commits (when auto-commit is on) and hands each revoked partition to its new owner.
    /// Returns the partitions it kept because their revoke was cancelled.
    fn hand_off(&self, partitions: &[u32]) -> Vec<u32> {
        let mut kept = Vec::new();
        let group = &*self.group;
        let mut control = group.lock();
        let mut orphaned = false;
        {
            let mut state = self.state.borrow_mut();
            for &partition in partitions {
                let Some(i) = state.owned.iter().position(|o| o.partition == partition) else {
                    continue;
                };
                let entry = &group.entries[partition as usize];
                if group.auto_commit {
                    // A failure means the tenure already ended; the handoff below then skips it.
                    let _ = entry.commit_polled(state.id, state.owned[i].epoch);
                }
                let word = entry.load();
                if word.owner() != state.id || !word.has(REVOKING) {
                    if word.owner() == state.id {
                        kept.push(partition);
                    }
                    continue;
                }
                let pending = entry.pending();
                let target = if control.is_member(pending) {
                    pending
                } else {
                    orphaned = !control.members.is_empty();
                    0
                };
                if entry.transfer(word, target).is_ok() {
                    state.owned.remove(i);
                    control.revoke_since[partition as usize] = None;
                }
            }
        }
        if orphaned {
            // The member it was meant for left meanwhile: find it another.
            group.rebalance(&mut control);
        } else {
            group.publish_epoch();
        }
        kept
    }

    /// Called once the member sees it was evicted: its partitions are gone (`on_lost`), and the
    /// next poll joins again.
    fn evicted(&self) -> ConsumeError {
        let lost: Vec<u32> = {
            let mut state = self.state.borrow_mut();
            state.rejoin = true;
            state.owned.drain(..).map(|o| o.partition).collect()
        };
        self.notify(&lost, Change::Lost);
        ConsumeError::Fenced
    }

    /// Joins the group again under a new id, after `Fenced`.
    fn rejoin(&self) -> Result<(), ConsumeError> {
        let (old, weight, instance) = {
            let state = self.state.borrow();
            (state.id, state.weight, state.instance.clone())
        };
        let liveness = Arc::new(Liveness::new());
        let id = self
            .group
            .rejoin(old, weight, liveness.clone(), instance)
            .map_err(|_| ConsumeError::Fenced)?;
        let mut state = self.state.borrow_mut();
        state.id = id;
        state.liveness = liveness;
        state.owned.clear();
        state.seen_epoch = u64::MAX;
        state.rejoin = false;
        Ok(())
    }

    /// True while this member still owns `partition` at the epoch it acquired it. Use it to
    /// fence side effects, not just commits.
    #[inline]
    pub fn is_owner(&self, partition: u32) -> bool {
        let state = self.state.borrow();
        state.owned.iter().any(|o| {
            o.partition == partition && {
                let word = self.group.entries[partition as usize].load();
                word.owner() == state.id && word.epoch() == o.epoch
            }
        })
    }

    /// The partitions this member holds, with the epoch of each tenure, as of its last poll.
    pub fn assignment(&self) -> Vec<AssignedPartition> {
        self.state
            .borrow()
            .owned
            .iter()
            .map(|o| AssignedPartition {
                partition: o.partition,
                epoch: o.epoch,
                paused: o.paused,
            })
            .collect()
    }

    /// Messages published but not yet committed by the group, per owned partition.
    pub fn lag(&self) -> Vec<PartitionLag> {
        self.state
            .borrow()
            .owned
            .iter()
            .map(|o| PartitionLag {
                partition: o.partition,
                lag: self.group.entries[o.partition as usize].lag(),
            })
            .collect()
    }

    pub(super) fn entry(&self, partition: u32) -> Result<&PartitionEntry<T>, OwnershipError> {
        self.group
            .entries
            .get(partition as usize)
            .ok_or(OwnershipError::UnknownPartition {
                partition,
                partitions: self.group.entries.len() as u32,
            })
    }

    /// The lent batch, if it comes from `partition`.
    pub(super) fn lent_on(&self, partition: u32) -> Option<Outstanding> {
        self.outstanding.get().filter(|o| o.partition == partition)
    }

    /// This member's id and current tenure epoch on `partition`.
    pub(super) fn tenure(&self, partition: u32) -> Result<(u32, u32), OwnershipError> {
        let state = self.state.borrow();
        if let Some(owned) = state.owned.iter().find(|o| o.partition == partition) {
            return Ok((state.id, owned.epoch));
        }
        Err(match state.last_epoch[partition as usize] {
            Some(epoch) => OwnershipError::Fenced { partition, epoch },
            None => OwnershipError::NotOwned { partition },
        })
    }
}

/// An idle member's wait between looks, under the topic's wait strategy: `BusySpin` spins,
/// `Yield` yields, and `SpinThenPark` spins, yields, then sleeps in 50 µs steps (a member may
/// own many partitions, so it cannot park on one ring's signal).
fn backoff(round: u32, strategy: WaitStrategy) {
    match strategy {
        WaitStrategy::BusySpin => crate::sync::spin_hint(),
        WaitStrategy::Yield => crate::sync::thread::yield_now(),
        _ if backoff_sleeps(round, strategy) => {
            crate::sync::thread::sleep(Duration::from_micros(50))
        }
        WaitStrategy::SpinThenPark if round < 64 => crate::sync::spin_hint(),
        WaitStrategy::SpinThenPark => crate::sync::thread::yield_now(),
    }
}

/// True once [`backoff`] sleeps at `round` (`SpinThenPark`, past its spin and yield phases).
fn backoff_sleeps(round: u32, strategy: WaitStrategy) -> bool {
    strategy == WaitStrategy::SpinThenPark && round >= 128
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        let group = self.group.clone();
        // No records can be alive (they borrow the member): a lease still held is a forgotten
        // batch's. End it without committing; the batch is delivered again.
        if let Some(lent) = self.outstanding.take() {
            // SAFETY: the lease was kept for that batch and nothing references its cursor.
            unsafe { group.entries[lent.partition as usize].end_held_lease() };
        }
        let (evicted, owned) = {
            let state = self.state.borrow();
            let partitions: Vec<u32> = state.owned.iter().map(|o| o.partition).collect();
            (state.rejoin || state.liveness.is_evicted(), partitions)
        };
        // A clean leave runs `on_revoked` (Kafka's `close`), where a manual-commit member
        // commits; an evicted one, `on_lost`. Not while unwinding: user code must not panic
        // twice.
        if !std::thread::panicking() {
            let change = if evicted {
                Change::Lost
            } else {
                Change::Revoked
            };
            self.notify(&owned, change);
        }
        let mut control = group.lock();
        let state = self.state.get_mut();
        // A static member that leaves keeps its partitions for its return (the session
        // timeout); an evicted one, or any with no session timeout, leaves for good.
        let departs = state.instance.is_some() && !evicted && !group.session_timeout.is_zero();
        for owned in state.owned.drain(..) {
            let entry = &group.entries[owned.partition as usize];
            if group.auto_commit {
                // A failure means the tenure already ended: nothing of ours to commit.
                let _ = entry.commit_polled(state.id, owned.epoch);
            }
            let word = entry.load();
            if !departs && word.owner() == state.id && word.epoch() == owned.epoch {
                let _ = entry.transfer(word, 0);
            }
        }
        if departs {
            group.depart_member(&mut control, state.id);
        } else {
            group.remove_member(&mut control, state.id);
        }
    }
}

impl<T> std::fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Consumer")
            .field("group", &self.group.name)
            .field("id", &state.id)
            .field("owned", &state.owned)
            .finish()
    }
}
