//! Reply routes: every producer group of a request topic, each member's slot and reply ring,
//! and the path a reply takes back.
//!
//! # Algorithm
//!
//! A request topic carries one [`ReplyRegistry`] (in the topic's extension slot, so the topic
//! and group layers need not know it). The registry is a fixed table of producer groups; a
//! group is a fixed table of member slots, each with a multi-producer reply ring (many
//! consumers answer one requester) read only by the member holding the slot.
//!
//! A slot's words (generation, holder, counters) and the group's counters are a [`Table`]: on
//! the heap for a heap topic, in the group's reply region for a topic in shared memory (see
//! `producer_group::shared_memory`), where every process sees the same slots; a slot held by a
//! process that died is freed by the next join, and by a reply that finds its ring full.
//!
//! A slot's `generation` is odd while a member holds it and even while it is free; a request's
//! [`ReplyTo`] names the generation of its requester. A reply checks it before it is published
//! (a reply to a member that has left is dropped and counted, never published) and again when
//! the member reads it (a reply that raced a leave and a rejoin of the slot is dropped and
//! counted as late, never delivered to the new member). A reply ring stays open for the
//! group's life; while no member reads it, nothing gates it, so a reply to nobody never blocks.
//!
//! A consumer publishes a reply with a bounded wait (`reply_wait`): a requester that stops
//! draining its replies gets its later replies dropped and counted, and never stalls the
//! consumers.
//!
//! # Invariants
//! - Data path (a reply): table lookups, two atomic loads, one publish; no lock, no allocation
//!   (a process's first reply to a shared-memory group opens the group's reply region once).
//! - A reply reaches only the member generation that sent its request.
//! - A slot's generation moves from even to odd only under the group's join lock; from odd to
//!   even only by a CAS from the holder's generation (its leave, or a reaper that confirmed the
//!   holder's process dead), so of a leave and any number of reapers exactly one frees it, and
//!   a join never takes a slot that is still held.

use std::time::Duration;

use crossbeam_utils::CachePadded;

use super::cell::{tag, ReplyCell, Wakeup};
use super::error::{ProducerGroupError, ReplyError};
use super::message::{Reply, ReplyTo};
use crate::ring::{PublishError, Reader, Ring, SharedWriter, StartAt, Subscriber, WaitStrategy};
use crate::sync::{AtomicU32, AtomicU64, Mutex, MutexGuard, OnceLock, Ordering, StdArc};

/// The most producer groups one request topic can have.
pub const MAX_PRODUCER_GROUPS: usize = 64;

/// Every producer group of one request topic, by index.
pub(crate) struct ReplyRegistry<R> {
    groups: Box<[OnceLock<StdArc<GroupShared<R>>>]>,
    /// How many entries of `groups` are taken (heap topics); registration only.
    registered: Mutex<usize>,
    /// The request topic's region, for a topic in shared memory: its groups are found in the
    /// region's directory, by every process.
    #[cfg(not(ringgroup_loom))]
    region: Option<StdArc<crate::shm::Region>>,
    /// Per group index: when this process last failed to open it (monotonic ns; 0: never), so
    /// replies to a group it cannot open try again at most every [`OPEN_RETRY`].
    #[cfg(not(ringgroup_loom))]
    open_failed_at: Box<[crate::sync::StdAtomicU64]>,
}

/// How often a process tries again to open a shared-memory group it failed to open.
#[cfg(not(ringgroup_loom))]
const OPEN_RETRY: Duration = Duration::from_millis(100);

impl<R> ReplyRegistry<R> {
    #[cfg(ringgroup_loom)]
    pub(crate) fn new() -> Self {
        Self {
            groups: (0..MAX_PRODUCER_GROUPS).map(|_| OnceLock::new()).collect(),
            registered: Mutex::new(0),
        }
    }

    /// The registry of a request topic; `region` is its region for a topic in shared memory.
    #[cfg(not(ringgroup_loom))]
    pub(crate) fn new(region: Option<StdArc<crate::shm::Region>>) -> Self {
        Self {
            groups: (0..MAX_PRODUCER_GROUPS).map(|_| OnceLock::new()).collect(),
            registered: Mutex::new(0),
            region,
            open_failed_at: (0..MAX_PRODUCER_GROUPS)
                .map(|_| crate::sync::StdAtomicU64::new(0))
                .collect(),
        }
    }

    /// The request topic's region, for a topic in shared memory.
    #[cfg(not(ringgroup_loom))]
    pub(crate) fn region(&self) -> Option<&StdArc<crate::shm::Region>> {
        self.region.as_ref()
    }

    /// The group named in `settings`: the one registered under that name (if its settings
    /// match), else a new one; `None` when the table is full.
    pub(crate) fn register(
        &self,
        settings: Settings,
    ) -> Result<Option<StdArc<GroupShared<R>>>, ProducerGroupError> {
        let mut registered = self.registered.lock();
        if let Some(group) = self.groups[..*registered]
            .iter()
            .filter_map(OnceLock::get)
            .find(|group| group.name == settings.name)
        {
            settings.check(group.slots.len(), group.capacity(), group.reply_wait)?;
            return Ok(Some(group.clone()));
        }
        let index = *registered;
        if index >= self.groups.len() {
            return Ok(None);
        }
        let group = StdArc::new(GroupShared::new(index as u32, settings)?);
        // The slot is fresh: only this lock holder sets it.
        let _ = self.groups[index].set(group.clone());
        *registered += 1;
        Ok(Some(group))
    }

    /// Group `index` as this process knows it, or as `make` opens it (once per process).
    #[cfg(not(ringgroup_loom))]
    pub(crate) fn group_or(
        &self,
        index: usize,
        make: impl FnOnce() -> Option<GroupShared<R>>,
    ) -> Option<&StdArc<GroupShared<R>>> {
        let entry = self.groups.get(index)?;
        if let Some(group) = entry.get() {
            return Some(group);
        }
        let _registration = self.registered.lock();
        if entry.get().is_none() {
            let group = make()?;
            let _ = entry.set(StdArc::new(group));
        }
        entry.get()
    }
}

impl<R: Send + Sync> ReplyRegistry<R> {
    /// The group a reply to `to` goes to.
    fn group(&self, to: ReplyTo) -> Option<&StdArc<GroupShared<R>>> {
        let index = to.group as usize;
        #[cfg(not(ringgroup_loom))]
        if let Some(region) = &self.region {
            if let Some(group) = self.groups.get(index).and_then(OnceLock::get) {
                return Some(group);
            }
            return self.open_shared(region, index);
        }
        self.groups.get(index).and_then(OnceLock::get)
    }

    /// Opens shared-memory group `index` for this process, unless that failed less than
    /// [`OPEN_RETRY`] ago.
    #[cfg(not(ringgroup_loom))]
    #[cold]
    fn open_shared(
        &self,
        region: &StdArc<crate::shm::Region>,
        index: usize,
    ) -> Option<&StdArc<GroupShared<R>>> {
        let failed_at = self.open_failed_at.get(index)?;
        let now = crate::shm::groups::monotonic_ns().max(1);
        // Relaxed: a process-local hint.
        let last = failed_at.load(crate::sync::StdOrdering::Relaxed);
        if last != 0 && now.saturating_sub(last) < OPEN_RETRY.as_nanos() as u64 {
            return None;
        }
        let group = self.group_or(index, || super::shared_memory::open(region, index));
        if group.is_none() {
            // Relaxed: as above.
            failed_at.store(now, crate::sync::StdOrdering::Relaxed);
        }
        group
    }

    /// Publishes a reply part to the member `to` names, if it is still there: a lone, final
    /// reply into its ticket's cell when the ticket waits there (see `producer_group::cell`),
    /// anything else into its reply ring.
    #[inline]
    pub(crate) fn send(
        &self,
        to: ReplyTo,
        part: u32,
        last: bool,
        value: R,
    ) -> Result<(), ReplyError<R>> {
        if !to.wants_reply() {
            return Err(ReplyError::NoRoute(value));
        }
        let Some(group) = self.group(to) else {
            return Err(ReplyError::NoRoute(value));
        };
        let (Some(slot), Some(words)) = (
            group.slots.get(to.slot as usize),
            group.table.slots().get(to.slot as usize),
        ) else {
            return Err(ReplyError::NoRoute(value));
        };
        if !words.is_held_by(to.generation) {
            MemberCounters::bump_shared(&group.table.group().replies_to_gone);
            return Err(ReplyError::RequesterGone(value));
        }
        let value = if part == 0 && last {
            let ticket = (to.correlation >> 32) as usize;
            match slot.cells.get().and_then(|cells| cells.get(ticket)) {
                Some(cell) => match cell.fill(tag(to.generation, to.correlation as u32), value) {
                    Ok(()) => {
                        group.delivered(slot);
                        return Ok(());
                    }
                    Err(value) => value,
                },
                None => value,
            }
        } else {
            value
        };
        self.publish(group, slot, to, part, last, value)
    }

    /// [`send`](Self::send) through the reply ring.
    fn publish(
        &self,
        group: &GroupShared<R>,
        slot: &MemberSlot<R>,
        to: ReplyTo,
        part: u32,
        last: bool,
        value: R,
    ) -> Result<(), ReplyError<R>> {
        let counters = group.table.group();
        let reply = Reply::new(to, part, last, value);
        let reclaimed = slot.ring.shared().reclaimed();
        let published = if group.reply_wait.is_zero() {
            slot.writer.try_publish(reply)
        } else {
            slot.writer.publish_timeout(reply, group.reply_wait)
        };
        match published {
            Ok(_) => {
                group.delivered(slot);
                // The full ring took a dead reader back: if it was the requester's, its slot
                // goes too, and later replies to it are dropped.
                if slot.ring.shared().reclaimed() != reclaimed {
                    group.table.free_if_dead(to.slot as usize, to.generation);
                }
                Ok(())
            }
            Err(PublishError::Corrupt(reply, corruption)) => {
                Err(ReplyError::Corrupt(reply.value, corruption))
            }
            Err(error) => {
                let value = error.into_inner().value;
                // A full ring of a requester process that died: free its slot.
                if group.table.free_if_dead(to.slot as usize, to.generation) {
                    MemberCounters::bump_shared(&counters.replies_to_gone);
                    return Err(ReplyError::RequesterGone(value));
                }
                MemberCounters::bump_shared(&counters.replies_dropped);
                Err(ReplyError::Full(value))
            }
        }
    }
}

/// What a build asks for.
pub(crate) struct Settings {
    pub(crate) name: String,
    pub(crate) max_members: usize,
    pub(crate) reply_capacity: usize,
    pub(crate) reply_wait: Duration,
    pub(crate) strategy: WaitStrategy,
}

/// What only a heap group has: the wait strategy its members' waits follow (their tickets'
/// cells and wake-up live in this process), and a `replies_sent` lane per responder thread.
pub(crate) struct Local {
    pub(crate) strategy: WaitStrategy,
    sent: Box<[CachePadded<AtomicU64>]>,
}

impl Local {
    fn new(strategy: WaitStrategy) -> Result<Self, crate::ring::BuildError> {
        let mut sent = Vec::new();
        reserve_exact(&mut sent, super::lanes::LANES)?;
        sent.resize_with(super::lanes::LANES, CachePadded::default);
        Ok(Self {
            strategy,
            sent: sent.into_boxed_slice(),
        })
    }
}

impl Settings {
    /// Checks a group's recorded geometry and reply wait against this build's.
    pub(crate) fn check(
        &self,
        max_members: usize,
        reply_capacity: usize,
        reply_wait: Duration,
    ) -> Result<(), ProducerGroupError> {
        let mismatch = |what, found| Err(ProducerGroupError::Mismatch { what, found });
        if max_members != self.max_members {
            return mismatch("max_members", max_members as u64);
        }
        if reply_capacity != self.reply_capacity {
            return mismatch("reply_capacity", reply_capacity as u64);
        }
        if reply_wait != self.reply_wait {
            return mismatch("reply_wait (ns)", nanos(reply_wait));
        }
        Ok(())
    }
}

pub(crate) fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// One producer group's shared state.
pub(crate) struct GroupShared<R> {
    pub(crate) name: String,
    pub(crate) index: u32,
    /// Each member slot's reply ring.
    pub(crate) slots: Box<[MemberSlot<R>]>,
    /// Each member slot's words and the group's counters.
    pub(crate) table: Table,
    pub(crate) reply_wait: Duration,
    /// A heap group's own parts (`None` in shared memory).
    pub(crate) local: Option<Local>,
}

impl<R> GroupShared<R> {
    /// A heap group of `settings`: its member slots, each with a reply ring, allocated
    /// fallibly (the builder checked the sizes).
    pub(crate) fn new(index: u32, settings: Settings) -> Result<Self, crate::ring::BuildError> {
        let mut slots = Vec::new();
        reserve_exact(&mut slots, settings.max_members)?;
        for _ in 0..settings.max_members {
            slots.push(MemberSlot::new(settings.reply_capacity, settings.strategy)?);
        }
        Ok(Self {
            name: settings.name,
            index,
            slots: slots.into_boxed_slice(),
            table: Table::heap(settings.max_members)?,
            reply_wait: settings.reply_wait,
            local: Some(Local::new(settings.strategy)?),
        })
    }

    /// Counts a reply delivered to `slot` and wakes its member if it may be parked.
    #[inline]
    fn delivered(&self, slot: &MemberSlot<R>) {
        match (&self.local, super::lanes::current()) {
            (Some(local), Some(lane)) => {
                if let Some(count) = local.sent.get(lane) {
                    // This thread's lane: one writer.
                    MemberCounters::bump(count);
                }
            }
            _ => MemberCounters::bump_shared(&self.table.group().replies_sent),
        }
        if self
            .local
            .as_ref()
            .is_some_and(|local| local.strategy.parks())
        {
            slot.wakeup.notify();
        }
    }

    /// Replies published to the group's members, every lane summed.
    pub(crate) fn replies_sent(&self) -> u64 {
        let lanes = self.local.as_ref().map_or(0, |local| {
            local
                .sent
                .iter()
                .map(|count| MemberCounters::read(count))
                .sum()
        });
        MemberCounters::read(&self.table.group().replies_sent).wrapping_add(lanes)
    }

    /// Each reply ring's capacity.
    fn capacity(&self) -> usize {
        self.slots.first().map_or(0, |slot| slot.writer.capacity())
    }

    /// Takes a slot for a new member: frees the slots of dead holders, picks a free one, gives
    /// the member an id, subscribes its reply ring from the latest reply, and marks it held.
    /// A heap group's slot gets a cell per ticket (`pending`) at its first join.
    pub(crate) fn join(&self, pending: usize) -> Result<Joined<R>, ProducerGroupError> {
        let max = self.slots.len();
        let _lock = self.table.lock();
        self.table.free_dead();
        let (slot, words) = self
            .table
            .slots()
            .iter()
            .enumerate()
            .find(|(_, words)| !words.is_held())
            .ok_or(ProducerGroupError::Full { max })?;
        // A dead earlier holder's reader would gate the ring until a full ring took it back.
        if self.table.holder_word() != 0 {
            self.slots[slot].ring.shared().reclaim_dead();
        }
        // Read only what arrives from now on: earlier replies were for earlier members.
        if self.local.is_some() && self.slots[slot].cells.get().is_none() {
            let mut cells = Vec::new();
            cells
                .try_reserve_exact(pending)
                .map_err(|_| ProducerGroupError::AllocationFailed {
                    bytes: pending.saturating_mul(size_of::<ReplyCell<R>>()),
                })?;
            cells.resize_with(pending, ReplyCell::new);
            // Under the join lock: no one else sets it.
            let _ = self.slots[slot].cells.set(cells.into_boxed_slice());
        }
        let replies = self.slots[slot]
            .ring
            .subscribe(StartAt::Latest)
            .map_err(|_| ProducerGroupError::Closed)?;
        let id = self.table.next_id();
        let generation = words.hold(id, self.table.holder_word());
        Ok(Joined {
            slot: slot as u32,
            id,
            generation,
            replies,
        })
    }

    /// Gives slot `slot` (held at `generation`) up: replies to its member are dropped from now
    /// on. No lock: a join takes only free slots, and of this CAS and a reaper's, one wins.
    pub(crate) fn leave(&self, slot: u32, generation: u32) {
        if let Some(words) = self.table.slots().get(slot as usize) {
            words.free_if(generation);
        }
    }
}

/// Reserves room for exactly `count` more items in `vec`, or says how many bytes were refused.
fn reserve_exact<T>(vec: &mut Vec<T>, count: usize) -> Result<(), crate::ring::BuildError> {
    vec.try_reserve_exact(count)
        .map_err(|_| crate::ring::BuildError::AllocationFailed {
            bytes: count.saturating_mul(size_of::<T>()),
        })
}

/// A slot taken by [`GroupShared::join`].
pub(crate) struct Joined<R> {
    pub(crate) slot: u32,
    pub(crate) id: u32,
    pub(crate) generation: u32,
    /// The slot's reply ring, read from the latest reply.
    pub(crate) replies: Reader<Reply<R>>,
}

/// A member slot's reply ring; in a heap group, its tickets' cells and its wake-up too.
pub(crate) struct MemberSlot<R> {
    pub(crate) writer: SharedWriter<Reply<R>>,
    pub(crate) ring: Subscriber<Reply<R>>,
    /// One per ticket of the slot's members (heap groups; set at the slot's first join, sized
    /// by that member's `max_pending`; a later member's tickets past it take the ring).
    pub(crate) cells: OnceLock<Box<[ReplyCell<R>]>>,
    /// Notified after every reply when the group's members may park.
    pub(crate) wakeup: Wakeup,
}

impl<R> MemberSlot<R> {
    fn new(capacity: usize, strategy: WaitStrategy) -> Result<Self, crate::ring::BuildError> {
        // Two readers, so the next member can subscribe before the last one's reader (dropped
        // right after it leaves) unregisters.
        let (writer, ring) = Ring::builder()
            .capacity(capacity)
            .max_readers(2)
            .wait_strategy(strategy)
            .multi_producer()
            .build()?;
        Ok(Self {
            writer,
            ring,
            cells: OnceLock::new(),
            wakeup: Wakeup::new(),
        })
    }

    /// The slot over a ring built elsewhere (a partition of a reply region); `None` if the
    /// ring has closed.
    #[cfg(not(ringgroup_loom))]
    pub(crate) fn over(ring: Subscriber<Reply<R>>) -> Option<Self> {
        Some(Self {
            writer: SharedWriter::attach(ring.shared())?,
            ring,
            cells: OnceLock::new(),
            wakeup: Wakeup::new(),
        })
    }
}

/// A member slot's words. `repr(C)` atomics only: in a region, every process reads the same.
/// The route (read by every reply) and the counters (written by the requester at every request
/// and reply) are on cache lines of their own.
#[repr(C)]
#[derive(Default)]
pub(crate) struct SlotWords {
    route: SlotRoute,
    pub(crate) counters: MemberCounters,
}

/// Who holds a slot.
#[repr(C, align(128))]
#[derive(Default)]
struct SlotRoute {
    /// Odd while a member holds the slot.
    generation: AtomicU32,
    /// The member id of the holder (for metrics).
    member: AtomicU32,
    /// The holder's process (a packed process identity; 0 on the heap, where no one dies).
    owner: AtomicU64,
}

impl SlotWords {
    /// True while the member of `generation` holds the slot.
    pub(crate) fn is_held_by(&self, generation: u32) -> bool {
        // Acquire: pairs with the Release in `hold` and `free_if`.
        self.route.generation.load(Ordering::Acquire) == generation
    }

    /// True while some member holds the slot.
    pub(crate) fn is_held(&self) -> bool {
        // Acquire: pairs with the Release in `hold` and `free_if`.
        self.route.generation.load(Ordering::Acquire) % 2 == 1
    }

    /// Marks the free slot held by member `member` of process `owner`; returns its generation.
    /// Join lock held.
    fn hold(&self, member: u32, owner: u64) -> u32 {
        // Relaxed: published by the Release below.
        self.route.member.store(member, Ordering::Relaxed);
        self.route.owner.store(owner, Ordering::Relaxed);
        self.counters.reset();
        // Release: pairs with the Acquire in `is_held_by` and `is_held`; the holder and the
        // counters are written first.
        self.route
            .generation
            .fetch_add(1, Ordering::Release)
            .wrapping_add(1)
    }

    /// Frees the slot if it is still held at `generation`; true if this call freed it.
    fn free_if(&self, generation: u32) -> bool {
        generation % 2 == 1
            && self
                .route
                .generation
                // Release: pairs with the Acquire in `is_held_by`. Relaxed on failure: someone
                // else freed it.
                // Wrapping: any odd generation a process left (or wrote) frees to the next one.
                .compare_exchange(
                    generation,
                    generation.wrapping_add(1),
                    Ordering::Release,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    /// The member id of the holder (for metrics).
    pub(crate) fn member(&self) -> u32 {
        // Relaxed: for metrics.
        self.route.member.load(Ordering::Relaxed)
    }

    /// The generation and holder word, when held.
    fn holder(&self) -> Option<(u32, u64)> {
        // Acquire: pairs with the Release in `hold`, so the owner read is the holder's.
        let generation = self.route.generation.load(Ordering::Acquire);
        // Relaxed: written before the generation it is read after.
        (generation % 2 == 1).then(|| (generation, self.route.owner.load(Ordering::Relaxed)))
    }
}

/// A group's words: the next member id and the reply counters.
#[repr(C)]
#[derive(Default)]
pub(crate) struct GroupWords {
    next_id: AtomicU32,
    reserved: AtomicU32,
    pub(crate) replies_sent: AtomicU64,
    pub(crate) replies_to_gone: AtomicU64,
    pub(crate) replies_dropped: AtomicU64,
}

/// Where a group's words live.
pub(crate) enum Table {
    /// A heap topic's group: its words, and a mutex for joins and leaves.
    Heap {
        group: Box<GroupWords>,
        slots: Box<[SlotWords]>,
        lock: Mutex<()>,
    },
    /// A shared-memory topic's group: in its reply region.
    #[cfg(not(ringgroup_loom))]
    Mapped(super::shared_memory::MappedTable),
}

/// The join lock of a [`Table`], held until dropped.
pub(crate) enum TableLock<'a> {
    #[allow(dead_code)] // held for its drop
    Heap(MutexGuard<'a, ()>),
    #[cfg(not(ringgroup_loom))]
    #[allow(dead_code)] // held for its drop
    Mapped(crate::shm::process::OwnerLock<'a>),
}

impl Table {
    /// A heap group's words for `members` slots, allocated fallibly.
    fn heap(members: usize) -> Result<Self, crate::ring::BuildError> {
        let mut slots = Vec::new();
        reserve_exact(&mut slots, members)?;
        slots.resize_with(members, SlotWords::default);
        Ok(Table::Heap {
            group: Box::default(),
            slots: slots.into_boxed_slice(),
            lock: Mutex::new(()),
        })
    }

    pub(crate) fn group(&self) -> &GroupWords {
        match self {
            Table::Heap { group, .. } => group,
            #[cfg(not(ringgroup_loom))]
            Table::Mapped(table) => table.group(),
        }
    }

    pub(crate) fn slots(&self) -> &[SlotWords] {
        match self {
            Table::Heap { slots, .. } => slots,
            #[cfg(not(ringgroup_loom))]
            Table::Mapped(table) => table.slots(),
        }
    }

    fn lock(&self) -> TableLock<'_> {
        match self {
            Table::Heap { lock, .. } => TableLock::Heap(lock.lock()),
            #[cfg(not(ringgroup_loom))]
            Table::Mapped(table) => TableLock::Mapped(table.lock()),
        }
    }

    /// A new member id (never 0). Join lock held.
    fn next_id(&self) -> u32 {
        // Relaxed: under the join lock, whose take and give-up order it.
        let id = self
            .group()
            .next_id
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1);
        id.max(1)
    }

    /// The holder word of a slot this process takes.
    fn holder_word(&self) -> u64 {
        match self {
            Table::Heap { .. } => 0,
            #[cfg(not(ringgroup_loom))]
            Table::Mapped(_) => crate::shm::process::current_word(),
        }
    }

    /// Frees every slot whose holder process is confirmed dead.
    pub(crate) fn free_dead(&self) {
        for index in 0..self.slots().len() {
            if let Some((generation, _)) = self.slots()[index].holder() {
                self.free_if_dead(index, generation);
            }
        }
    }

    /// Frees slot `index` if its member of `generation` belongs to a process confirmed dead;
    /// true if this call freed it.
    pub(crate) fn free_if_dead(&self, index: usize, generation: u32) -> bool {
        let Some(words) = self.slots().get(index) else {
            return false;
        };
        match words.holder() {
            Some((held, owner)) if held == generation && owner != 0 => {
                #[cfg(not(ringgroup_loom))]
                if crate::shm::process::word_holder_is_dead(owner) {
                    return words.free_if(generation);
                }
                false
            }
            _ => false,
        }
    }
}

/// A member's counters (relaxed atomics, read by metrics). Each has one writer: the member
/// holding the slot (the slot's generation hands it from one holder to the next).
#[repr(C, align(128))]
#[derive(Debug, Default)]
pub(crate) struct MemberCounters {
    pub(crate) sent: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) timed_out: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) late: AtomicU64,
    pub(crate) overflowed: AtomicU64,
}

impl MemberCounters {
    /// One more of `counter`, which only the calling thread writes: a plain load and store.
    #[inline(always)]
    pub(crate) fn bump(counter: &AtomicU64) {
        // Relaxed: a statistic with one writer; readers see some recent count.
        counter.store(
            counter.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
    }

    /// One more of `counter`, which several threads (or processes) write.
    pub(crate) fn bump_shared(counter: &AtomicU64) {
        // Relaxed: a statistic.
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn read(counter: &AtomicU64) -> u64 {
        // Relaxed: a statistic.
        counter.load(Ordering::Relaxed)
    }

    fn reset(&self) {
        for counter in [
            &self.sent,
            &self.received,
            &self.timed_out,
            &self.duplicates,
            &self.late,
            &self.overflowed,
        ] {
            // Relaxed: statistics of a new member, published by the slot's generation.
            counter.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(not(ringgroup_loom))]
impl GroupWords {
    /// The group's words (see `shm::layout`).
    pub(crate) fn fields() -> Vec<crate::shm::layout::Field> {
        use crate::shm::layout::Field;
        use std::mem::offset_of;
        vec![
            Field::of::<AtomicU32>("next_id", offset_of!(GroupWords, next_id)),
            Field::of::<AtomicU32>("reserved", offset_of!(GroupWords, reserved)),
            Field::of::<AtomicU64>("replies_sent", offset_of!(GroupWords, replies_sent)),
            Field::of::<AtomicU64>("replies_to_gone", offset_of!(GroupWords, replies_to_gone)),
            Field::of::<AtomicU64>("replies_dropped", offset_of!(GroupWords, replies_dropped)),
        ]
    }
}

#[cfg(not(ringgroup_loom))]
impl SlotWords {
    /// A member slot's words (see `shm::layout`).
    pub(crate) fn fields() -> Vec<crate::shm::layout::Field> {
        use crate::shm::layout::Field;
        use std::mem::offset_of;
        vec![
            Field::of::<AtomicU32>("generation", offset_of!(SlotWords, route.generation)),
            Field::of::<AtomicU32>("member", offset_of!(SlotWords, route.member)),
            Field::of::<AtomicU64>("owner", offset_of!(SlotWords, route.owner)),
            Field::of::<AtomicU64>("sent", offset_of!(SlotWords, counters.sent)),
            Field::of::<AtomicU64>("received", offset_of!(SlotWords, counters.received)),
            Field::of::<AtomicU64>("timed_out", offset_of!(SlotWords, counters.timed_out)),
            Field::of::<AtomicU64>("duplicates", offset_of!(SlotWords, counters.duplicates)),
            Field::of::<AtomicU64>("late", offset_of!(SlotWords, counters.late)),
            Field::of::<AtomicU64>("overflowed", offset_of!(SlotWords, counters.overflowed)),
        ]
    }
}
