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
//! - Data path (a reply): table lookups, two atomic loads, one publish; no lock, no allocation.
//! - A reply reaches only the member generation that sent its request.

use std::time::Duration;

use super::error::ReplyError;
use super::message::{Reply, ReplyTo};
use crate::ring::{Ring, SharedWriter, Subscriber, WaitStrategy};
use crate::sync::{AtomicU32, AtomicU64, Mutex, OnceLock, Ordering, StdArc};

/// The most producer groups one request topic can have.
pub const MAX_PRODUCER_GROUPS: usize = 64;

/// Every producer group of one request topic, by index.
pub(crate) struct ReplyRegistry<R> {
    groups: Box<[OnceLock<StdArc<GroupShared<R>>>]>,
    /// How many entries of `groups` are taken; registration only.
    registered: Mutex<usize>,
}

impl<R> ReplyRegistry<R> {
    pub(crate) fn new() -> Self {
        Self {
            groups: (0..MAX_PRODUCER_GROUPS).map(|_| OnceLock::new()).collect(),
            registered: Mutex::new(0),
        }
    }

    /// Adds a group built by `make` from its index, or `None` when the table is full.
    pub(crate) fn register<E>(
        &self,
        make: impl FnOnce(u32) -> Result<GroupShared<R>, E>,
    ) -> Result<Option<StdArc<GroupShared<R>>>, E> {
        let mut registered = self.registered.lock();
        let index = *registered;
        if index >= self.groups.len() {
            return Ok(None);
        }
        let group = StdArc::new(make(index as u32)?);
        // The slot is fresh: only this lock holder sets it.
        let _ = self.groups[index].set(group.clone());
        *registered += 1;
        Ok(Some(group))
    }

    /// Publishes a reply part to the member `to` names, if it is still there.
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
        let Some(group) = self.groups.get(to.group as usize).and_then(OnceLock::get) else {
            return Err(ReplyError::NoRoute(value));
        };
        let Some(slot) = group.slots.get(to.slot as usize) else {
            return Err(ReplyError::NoRoute(value));
        };
        if !slot.is_held_by(to.generation) {
            // Relaxed: a statistic.
            group.replies_to_gone.fetch_add(1, Ordering::Relaxed);
            return Err(ReplyError::RequesterGone(value));
        }
        let reply = Reply {
            correlation: to.correlation,
            generation: to.generation,
            part,
            last,
            value,
        };
        let published = if group.reply_wait.is_zero() {
            slot.writer.try_publish(reply)
        } else {
            slot.writer.publish_timeout(reply, group.reply_wait)
        };
        match published {
            Ok(_) => {
                // Relaxed: a statistic.
                group.replies_sent.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(error) => {
                // Relaxed: a statistic.
                group.replies_dropped.fetch_add(1, Ordering::Relaxed);
                Err(ReplyError::Full(error.into_inner().value))
            }
        }
    }
}

/// One producer group's shared state.
pub(crate) struct GroupShared<R> {
    pub(crate) name: String,
    pub(crate) index: u32,
    pub(crate) slots: Box<[MemberSlot<R>]>,
    /// Free slot indices and the next member id; join and leave only.
    pub(crate) control: Mutex<SlotControl>,
    pub(crate) reply_wait: Duration,
    pub(crate) max_pending: usize,
    pub(crate) replies_sent: AtomicU64,
    pub(crate) replies_to_gone: AtomicU64,
    pub(crate) replies_dropped: AtomicU64,
}

/// Which member slots are free; under [`GroupShared::control`].
pub(crate) struct SlotControl {
    pub(crate) free: Vec<u32>,
    pub(crate) next_id: u32,
}

impl<R> GroupShared<R> {
    /// A group with `members` slots, each with a reply ring of `capacity` replies.
    pub(crate) fn new(
        name: String,
        index: u32,
        members: usize,
        capacity: usize,
        strategy: WaitStrategy,
        reply_wait: Duration,
        max_pending: usize,
    ) -> Result<Self, crate::ring::BuildError> {
        let slots = (0..members)
            .map(|_| MemberSlot::new(capacity, strategy))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            name,
            index,
            slots: slots.into_boxed_slice(),
            control: Mutex::new(SlotControl {
                free: (0..members as u32).rev().collect(),
                next_id: 1,
            }),
            reply_wait,
            max_pending,
            replies_sent: AtomicU64::new(0),
            replies_to_gone: AtomicU64::new(0),
            replies_dropped: AtomicU64::new(0),
        })
    }
}

/// A member slot: its generation, its reply ring, its member's counters.
pub(crate) struct MemberSlot<R> {
    /// Odd while a member holds the slot.
    generation: AtomicU32,
    /// The member id of the holder (for metrics).
    pub(crate) member: AtomicU32,
    pub(crate) writer: SharedWriter<Reply<R>>,
    pub(crate) ring: Subscriber<Reply<R>>,
    pub(crate) counters: MemberCounters,
}

impl<R> MemberSlot<R> {
    fn new(capacity: usize, strategy: WaitStrategy) -> Result<Self, crate::ring::BuildError> {
        let (writer, ring) = Ring::builder()
            .capacity(capacity)
            .max_readers(2)
            .wait_strategy(strategy)
            .multi_producer()
            .build()?;
        Ok(Self {
            generation: AtomicU32::new(0),
            member: AtomicU32::new(0),
            writer,
            ring,
            counters: MemberCounters::default(),
        })
    }

    /// True while the member of `generation` holds the slot.
    pub(crate) fn is_held_by(&self, generation: u32) -> bool {
        // Acquire: pairs with the Release in `hold` and `free`.
        self.generation.load(Ordering::Acquire) == generation
    }

    /// Marks the slot held by a new member; returns its generation. Control lock held.
    pub(crate) fn hold(&self, member: u32) -> u32 {
        // Relaxed: for metrics only.
        self.member.store(member, Ordering::Relaxed);
        self.counters.reset();
        // Release: pairs with the Acquire in `is_held_by`.
        self.generation.fetch_add(1, Ordering::Release) + 1
    }

    /// Marks the slot free: replies to its member are dropped from now on. Control lock held.
    pub(crate) fn free(&self) {
        // Release: pairs with the Acquire in `is_held_by`.
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// True while some member holds the slot.
    pub(crate) fn is_held(&self) -> bool {
        // Relaxed: for metrics.
        self.generation.load(Ordering::Relaxed) % 2 == 1
    }
}

/// A member's counters (relaxed atomics, read by metrics).
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
    /// One more of `counter`.
    pub(crate) fn bump(counter: &AtomicU64) {
        // Relaxed: a statistic.
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub(crate) fn read_u32(value: &AtomicU32) -> u32 {
        value.load(Ordering::Relaxed)
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
            // Relaxed: statistics of a new member; the slot is not in use.
            counter.store(0, Ordering::Relaxed);
        }
    }
}
