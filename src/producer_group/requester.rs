//! The member of a producer group: [`Requester`] sends requests and gets their replies, each
//! through a [`PendingReply`] ticket or all at once in arrival order.
//!
//! # Algorithm
//!
//! A request takes a ticket from the member's bounded correlation table; its correlation id is
//! the ticket's index and a sequence number that changes every time the ticket is reused, so a
//! late reply to an earlier use is recognised. In a heap group, taking a ticket arms its cell
//! (see `producer_group::cell`), and a lone, final reply lands there with one CAS and one
//! store. Every other reply (a stream's parts, a duplicate, a reply to a group in shared
//! memory) arrives in the member's reply ring, in arrival order; whoever reads the ring (a
//! waiting ticket, or [`Requester::drain_replies`]) routes each reply: to the ticket it
//! answers, or into a bounded FIFO of replies for tickets not waited on right now. A reply to a part the ticket already had is a duplicate (a request
//! redelivered after a rebalance and answered twice): counted and dropped. A reply to a ticket
//! no longer pending, or from an earlier holder of the member's slot, is late: counted and
//! dropped. Nothing reaches the caller twice.
//!
//! A wait first spins (under `BusySpin` and `SpinThenPark`) without reading the clock; it
//! fixes its deadline only once the spin budget is spent and it is about to yield or park.
//!
//! # Invariants
//! - No allocation per request or reply: the table, the FIFO and the cells are sized at join.
//! - A reply is handed to the caller at most once, and only to the member that asked.
//! - The member's counters have one writer, the member: plain loads and stores.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::Duration;

use super::cell::{tag, ReplyCell, SEQUENCE_MASK};
use super::error::{ProducerGroupError, RequestError, WaitError};
use super::message::{Reply, ReplyTo, Request};
use super::registry::{GroupShared, Joined, MemberCounters, SlotWords};
use crate::group::MemberId;
use crate::ring::{PollError, Reader, WaitStrategy};
use crate::shm::Corruption;
use crate::sync::{Deadline, StdArc};

/// Looks at the ticket (cell, ring) a wait makes before it reads the clock, spinning between
/// them (`BusySpin`, `SpinThenPark`; `Yield` yields from the first look on).
const SPINS_BEFORE_CLOCK: u32 = 256;
/// Spin rounds between two looks at the clock once the deadline is fixed (`BusySpin`).
const SPINS_PER_CLOCK_READ: u32 = 32;
/// Yields before a `SpinThenPark` wait parks.
const YIELDS_BEFORE_PARK: u32 = 16;
use crate::topic::{ProducerRecord, RecordMetadata, SharedProducer};

/// A member of a producer group: a producer with an id, its own counters and reply ring. Use it
/// from one thread (it is `Send`, not `Sync`); dropping it leaves the group, and replies to it
/// are dropped from then on.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ringgroup::producer_group::Request;
/// use ringgroup::Topic;
///
/// let (topic, _producer) = Topic::<Request<String, usize>>::builder("lengths")
///     .multi_producer()
///     .build()?;
/// let workers = topic.group("workers").build()?;
/// let client = topic.producer_group("clients").build()?.join()?;
/// let worker = workers.join()?;
///
/// let short = client.request(b"a", "hi".to_string())?;
/// let long = client.request(b"b", "hello".to_string())?;
/// let records = worker.poll(8, Duration::from_secs(1))?;
/// for record in &records {
///     records.reply(&record, record.value.value.len())?;
/// }
/// drop(records);
/// // Each ticket gets its own reply, whatever order they arrive in.
/// assert_eq!(long.wait(Duration::from_secs(1))?, 5);
/// assert_eq!(short.wait(Duration::from_secs(1))?, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Requester<Q, R> {
    group: StdArc<GroupShared<R>>,
    slot: u32,
    generation: u32,
    id: MemberId,
    producer: SharedProducer<Request<Q, R>>,
    state: RefCell<State<R>>,
}

struct State<R> {
    /// `None` only while the member is dropped (its reader goes before its slot).
    replies: Option<Reader<Reply<R>>>,
    tickets: Vec<Ticket>,
    free: Vec<u32>,
    /// Replies for tickets nobody was waiting on when they arrived, in arrival order.
    parked: VecDeque<Parked<R>>,
}

impl<R> State<R> {
    /// `pending` free tickets and room for as many parked replies, no reader yet; allocated
    /// fallibly. `pending` is at most `MAX_PENDING_PER_MEMBER` (checked at build), so ticket
    /// indexes fit a `u32`.
    fn with_tickets(pending: usize) -> Result<Self, ProducerGroupError> {
        let failed = |_| ProducerGroupError::AllocationFailed {
            bytes: table_bytes::<R>(pending).unwrap_or(usize::MAX),
        };
        let mut tickets = Vec::new();
        tickets.try_reserve_exact(pending).map_err(failed)?;
        tickets.resize(pending, Ticket::FREE);
        let mut free = Vec::new();
        free.try_reserve_exact(pending).map_err(failed)?;
        free.extend((0..pending as u32).rev());
        let mut parked = VecDeque::new();
        parked.try_reserve_exact(pending).map_err(failed)?;
        Ok(Self {
            replies: None,
            tickets,
            free,
            parked,
        })
    }
}

/// The bytes a member's correlation table takes for `pending` tickets (a ticket, its place in
/// the free list, room for a parked reply, its cell), or `None` past `usize::MAX`.
pub(super) fn table_bytes<R>(pending: usize) -> Option<usize> {
    let per_ticket =
        size_of::<Ticket>() + size_of::<u32>() + size_of::<Parked<R>>() + size_of::<ReplyCell<R>>();
    pending.checked_mul(per_ticket)
}

#[derive(Clone, Copy)]
struct Ticket {
    /// Changes at every reuse; the low half of the correlation id.
    sequence: u32,
    pending: bool,
    /// The next reply part expected; earlier parts are duplicates.
    next_part: u32,
    /// The last part arrived.
    finished: bool,
}

impl Ticket {
    /// A ticket never used.
    const FREE: Ticket = Ticket {
        sequence: 0,
        pending: false,
        next_part: 0,
        finished: false,
    };
}

struct Parked<R> {
    ticket: u32,
    value: R,
}

/// A reply taken by [`Requester::drain_replies`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered<R> {
    /// The request's correlation id ([`PendingReply::correlation`]).
    pub correlation: u64,
    /// The reply.
    pub value: R,
    /// True for the last reply of the request.
    pub last: bool,
}

impl<Q, R> Requester<Q, R>
where
    Q: Send + Sync + 'static,
    R: Send + Sync + Clone + 'static,
{
    pub(super) fn join(
        group: StdArc<GroupShared<R>>,
        producer: SharedProducer<Request<Q, R>>,
        pending: usize,
    ) -> Result<Self, ProducerGroupError> {
        // Before the slot is taken: a refusal leaves the group as it was.
        let mut state = State::with_tickets(pending)?;
        let Joined {
            slot,
            id,
            generation,
            replies,
        } = group.join(pending)?;
        state.replies = Some(replies);
        Ok(Self {
            slot,
            generation,
            id: MemberId::from(id),
            producer,
            state: RefCell::new(state),
            group,
        })
    }

    /// This member's id within its group.
    pub fn id(&self) -> MemberId {
        self.id
    }

    /// This member's counters.
    pub fn metrics(&self) -> super::RequesterMetrics {
        super::RequesterMetrics::of(self.words())
    }

    /// Sends a request keyed by `key` (routed as Kafka's default partitioner would) and
    /// returns its ticket; waits while the partition is full.
    pub fn request(&self, key: &[u8], value: Q) -> Result<PendingReply<'_, Q, R>, RequestError<Q>> {
        self.request_record(ProducerRecord::new(value).key(key))
    }

    /// Like [`request`](Self::request), waiting at most `timeout` while the partition is full
    /// ([`SendError::Timeout`](crate::SendError::Timeout) inside [`RequestError::Send`] after).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ringgroup::producer_group::{RequestError, Request};
    /// use ringgroup::{SendError, Topic};
    ///
    /// let (topic, _producer) = Topic::<Request<u32, u32>>::builder("rpc")
    ///     .capacity(1)
    ///     .multi_producer()
    ///     .build()?;
    /// let _workers = topic.group("workers").build()?; // gates the ring; nobody polls it
    /// let clients = topic.producer_group("clients").build()?;
    /// let requester = clients.join()?;
    /// let first = requester.request_timeout(b"k", 1, Duration::from_millis(1))?;
    /// let second = requester.request_timeout(b"k", 2, Duration::from_millis(1));
    /// assert!(matches!(second, Err(RequestError::Send(SendError::Timeout(2)))));
    /// # drop(first);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn request_timeout(
        &self,
        key: &[u8],
        value: Q,
        timeout: Duration,
    ) -> Result<PendingReply<'_, Q, R>, RequestError<Q>> {
        self.request_within(ProducerRecord::new(value).key(key), Some(timeout))
    }

    /// Sends a request (a record, or a bare value routed round-robin) and returns its ticket.
    pub fn request_record<'k>(
        &self,
        record: impl Into<ProducerRecord<'k, Q>>,
    ) -> Result<PendingReply<'_, Q, R>, RequestError<Q>> {
        self.request_within(record.into(), None)
    }

    /// Sends a request, waiting for room at most `timeout` (`None`: as long as it takes).
    fn request_within(
        &self,
        record: ProducerRecord<'_, Q>,
        timeout: Option<Duration>,
    ) -> Result<PendingReply<'_, Q, R>, RequestError<Q>> {
        let Some((ticket, sequence)) = self.take_ticket() else {
            return Err(RequestError::TooManyPending(record.value));
        };
        let reply_to = ReplyTo {
            group: self.group.index,
            slot: self.slot,
            generation: self.generation,
            correlation: (u64::from(ticket) << 32) | u64::from(sequence),
            reserved: 0,
        };
        match self.send_routed(record, reply_to, timeout) {
            Ok(sent) => Ok(PendingReply {
                requester: self,
                ticket,
                correlation: reply_to.correlation,
                sent,
            }),
            Err(error) => {
                self.free_ticket(ticket);
                Err(RequestError::Send(error))
            }
        }
    }

    /// Sends a message that wants no reply.
    pub fn send<'k>(
        &self,
        record: impl Into<ProducerRecord<'k, Q>>,
    ) -> Result<RecordMetadata, crate::topic::SendError<Q>> {
        self.send_routed(record.into(), ReplyTo::NONE, None)
    }

    /// Sends `record` with its reply route, waiting for room at most `timeout` (`None`: as
    /// long as it takes).
    fn send_routed(
        &self,
        record: ProducerRecord<'_, Q>,
        reply_to: ReplyTo,
        timeout: Option<Duration>,
    ) -> Result<RecordMetadata, crate::topic::SendError<Q>> {
        let ProducerRecord {
            value,
            key,
            partition,
        } = record;
        let record = ProducerRecord {
            value: Request::routed(value, reply_to),
            key,
            partition,
        };
        let sent = match timeout {
            None => self.producer.send(record),
            Some(timeout) => self.producer.send_timeout(record, timeout),
        }
        .map_err(|error| error.map(|request| request.value))?;
        MemberCounters::bump(&self.words().counters.sent);
        Ok(sent)
    }

    /// Hands every reply that has arrived to `each`, and returns how many: those of the reply
    /// ring (and set aside from it) in arrival order, then the lone, final replies waiting in
    /// their tickets' cells (heap groups), in ticket order. A request's parts always come in
    /// order. Replies taken here are not delivered to their [`PendingReply`] again.
    pub fn drain_replies(&self, mut each: impl FnMut(Delivered<R>)) -> usize {
        let mut count = 0;
        loop {
            let mut state = self.state.borrow_mut();
            let parked = state.parked.pop_front();
            let taken = match parked {
                Some(parked) => Some(self.deliver_parked(&mut state, parked)),
                // A corrupt reply region ends the draining; waiting on a reply says why.
                None => self
                    .read_one(&mut state, None)
                    .ok()
                    .flatten()
                    .map(|(ticket, value)| {
                        let last = state.tickets[ticket as usize].finished;
                        let sequence = state.tickets[ticket as usize].sequence;
                        Delivered {
                            correlation: (u64::from(ticket) << 32) | u64::from(sequence),
                            value,
                            last,
                        }
                    }),
            };
            let taken = match taken {
                Some(taken) => Some(taken),
                None => self.take_any_cell(&mut state),
            };
            drop(state);
            match taken {
                Some(delivered) => {
                    count += 1;
                    each(delivered);
                }
                None => return count,
            }
        }
    }

    /// A reply some pending ticket's cell holds (in ticket order), as delivered.
    fn take_any_cell(&self, state: &mut State<R>) -> Option<Delivered<R>> {
        let cells = self.cells()?;
        for (ticket, cell) in cells.iter().enumerate().take(state.tickets.len()) {
            let entry = state.tickets[ticket];
            if !entry.pending {
                continue;
            }
            let Some(value) = cell.take(tag(self.generation, entry.sequence)) else {
                continue;
            };
            if self.accept_part(state, ticket as u32, 0, true).is_some() {
                return Some(Delivered {
                    correlation: ((ticket as u64) << 32) | u64::from(entry.sequence),
                    value,
                    last: true,
                });
            }
        }
        None
    }

    fn deliver_parked(&self, state: &mut State<R>, parked: Parked<R>) -> Delivered<R> {
        let ticket = state.tickets[parked.ticket as usize];
        Delivered {
            correlation: (u64::from(parked.ticket) << 32) | u64::from(ticket.sequence),
            value: parked.value,
            last: ticket.finished
                && !state
                    .parked
                    .iter()
                    .any(|other| other.ticket == parked.ticket),
        }
    }

    /// The next reply for `ticket`, from its cell, the parked ones or the ring; `None` if none
    /// is here.
    #[inline]
    fn next_for(&self, ticket: u32) -> Result<Option<R>, WaitError> {
        let mut state = self.state.borrow_mut();
        if let Some(cell) = self.cell(ticket) {
            let sequence = state.tickets[ticket as usize].sequence;
            if let Some(value) = cell.take(tag(self.generation, sequence)) {
                if self.accept_part(&mut state, ticket, 0, true).is_some() {
                    return Ok(Some(value));
                }
            }
        }
        if !state.parked.is_empty() {
            if let Some(at) = state.parked.iter().position(|p| p.ticket == ticket) {
                return Ok(state.parked.remove(at).map(|p| p.value));
            }
        }
        while let Some((for_ticket, value)) = self.read_one(&mut state, Some(ticket))? {
            if for_ticket == ticket {
                return Ok(Some(value));
            }
        }
        if state.tickets[ticket as usize].finished {
            Err(WaitError::Finished)
        } else {
            Ok(None)
        }
    }

    /// Reads the ring until one reply is accepted: returned if it is for `wanted` (or `wanted`
    /// is `None`), else parked for its ticket (or dropped when the FIFO is full). `Err` when
    /// the reply region is found corrupt (see `shm::trust`).
    fn read_one(
        &self,
        state: &mut State<R>,
        wanted: Option<u32>,
    ) -> Result<Option<(u32, R)>, Corruption> {
        loop {
            let Some(replies) = state.replies.as_mut() else {
                return Ok(None);
            };
            let reply = match replies.try_poll(1) {
                Ok(batch) => match batch.get(0) {
                    Some(reply) => reply.clone(),
                    None => return Ok(None),
                },
                Err(PollError::Corrupt(corruption)) => return Err(corruption),
                Err(_) => return Ok(None),
            };
            let Some(ticket) = self.accept(state, &reply) else {
                continue;
            };
            if wanted.is_none() || wanted == Some(ticket) {
                return Ok(Some((ticket, reply.value)));
            }
            if state.parked.len() == state.parked.capacity() {
                MemberCounters::bump(&self.words().counters.overflowed);
            } else {
                state.parked.push_back(Parked {
                    ticket,
                    value: reply.value,
                });
            }
        }
    }

    /// Checks a reply against the member and its ticket; the ticket it answers, or `None`
    /// (counted) for a late reply or a duplicate.
    fn accept(&self, state: &mut State<R>, reply: &Reply<R>) -> Option<u32> {
        let ticket = (reply.correlation >> 32) as u32;
        let sequence = reply.correlation as u32;
        let current = state.tickets.get(ticket as usize).is_some_and(|t| {
            reply.generation == self.generation && t.pending && t.sequence == sequence
        });
        if !current {
            MemberCounters::bump(&self.words().counters.late);
            return None;
        }
        self.accept_part(state, ticket, reply.part, reply.is_last())
    }

    /// Checks part `part` (`last` or not) of a reply to the pending `ticket`: the ticket, or
    /// `None` (counted) for a duplicate.
    #[inline]
    fn accept_part(&self, state: &mut State<R>, ticket: u32, part: u32, last: bool) -> Option<u32> {
        let counters = &self.words().counters;
        let entry = state.tickets.get_mut(ticket as usize)?;
        if part < entry.next_part || entry.finished {
            MemberCounters::bump(&counters.duplicates);
            return None;
        }
        // Any part number is taken as found (another process wrote it): one at the very end
        // leaves every later part counted as a duplicate, never an overflow.
        entry.next_part = part.saturating_add(1);
        entry.finished = last;
        MemberCounters::bump(&counters.received);
        Some(ticket)
    }

    #[inline]
    fn take_ticket(&self) -> Option<(u32, u32)> {
        let mut state = self.state.borrow_mut();
        let ticket = state.free.pop()?;
        let entry = &mut state.tickets[ticket as usize];
        // Within the bits a cell's stamp keeps.
        entry.sequence = entry.sequence.wrapping_add(1) & SEQUENCE_MASK;
        entry.pending = true;
        entry.next_part = 0;
        entry.finished = false;
        let sequence = entry.sequence;
        if let Some(cell) = self.cell(ticket) {
            cell.arm(tag(self.generation, sequence));
        }
        Some((ticket, sequence))
    }

    #[inline]
    fn free_ticket(&self, ticket: u32) {
        let mut state = self.state.borrow_mut();
        let entry = &mut state.tickets[ticket as usize];
        entry.pending = false;
        let sequence = entry.sequence;
        if !state.parked.is_empty() {
            state.parked.retain(|p| p.ticket != ticket);
        }
        state.free.push(ticket);
        drop(state);
        // A reply that got into the cell before the ticket went: late, as in the ring.
        let late = self
            .cell(ticket)
            .and_then(|cell| cell.disarm(tag(self.generation, sequence)));
        if late.is_some() {
            MemberCounters::bump(&self.words().counters.late);
        }
    }

    fn words(&self) -> &SlotWords {
        &self.group.table.slots()[self.slot as usize]
    }

    /// The strategy waits follow before they park: the group's (heap groups, whose members
    /// park on their slot's wake-up), else `None` (the reply ring's wait).
    #[inline]
    fn strategy(&self) -> Option<WaitStrategy> {
        self.group.local.as_ref().map(|local| local.strategy)
    }

    /// True when `ticket`'s cell holds its reply or the reply ring has news.
    fn has_news(&self, ticket: u32) -> bool {
        let state = self.state.borrow();
        let sequence = state.tickets[ticket as usize].sequence;
        self.cell(ticket)
            .is_some_and(|cell| cell.is_full(tag(self.generation, sequence)))
            || state
                .replies
                .as_ref()
                .is_some_and(|replies| replies.lag() > 0)
    }

    /// Waits for news for `ticket` (its cell or the reply ring) until `deadline`, for one step
    /// of `strategy` (`round` counts the steps since the deadline was fixed); false when the
    /// deadline passed.
    fn wait_for_replies(&self, ticket: u32, deadline: Deadline, round: u32) -> bool {
        match self.strategy() {
            Some(WaitStrategy::BusySpin) => {
                for _ in 0..SPINS_PER_CLOCK_READ {
                    if self.has_news(ticket) {
                        return true;
                    }
                    crate::sync::spin_hint();
                }
                !deadline.passed()
            }
            Some(WaitStrategy::Yield) => {
                crate::sync::thread::yield_now();
                !deadline.passed()
            }
            Some(WaitStrategy::SpinThenPark) if round < YIELDS_BEFORE_PARK => {
                crate::sync::thread::yield_now();
                !deadline.passed()
            }
            Some(WaitStrategy::SpinThenPark) => {
                let slot = &self.group.slots[self.slot as usize];
                slot.wakeup.park_until(deadline, || self.has_news(ticket))
            }
            // A group in shared memory: its reply ring's wait, which another process's
            // publish wakes.
            None => self
                .state
                .borrow_mut()
                .replies
                .as_mut()
                .is_some_and(|replies| replies.wait_ready(deadline)),
        }
    }
}

impl<Q, R> Requester<Q, R> {
    /// This member's tickets' cells (heap groups).
    #[inline]
    fn cells(&self) -> Option<&[ReplyCell<R>]> {
        self.group
            .slots
            .get(self.slot as usize)
            .and_then(|slot| slot.cells.get())
            .map(|cells| &cells[..])
    }

    /// The cell of `ticket`, if it has one.
    #[inline]
    fn cell(&self, ticket: u32) -> Option<&ReplyCell<R>> {
        self.cells().and_then(|cells| cells.get(ticket as usize))
    }
}

impl<Q, R> Drop for Requester<Q, R> {
    fn drop(&mut self) {
        // A ticket still pending here was forgotten (`mem::forget` of its `PendingReply`):
        // no reply gets into its cell any more.
        if let Some(cells) = self.cells() {
            let state = self.state.borrow();
            for (entry, cell) in state.tickets.iter().zip(cells) {
                if entry.pending {
                    drop(cell.disarm(tag(self.generation, entry.sequence)));
                }
            }
        }
        // The reader first: the slot's next member then finds its registration free.
        self.state.get_mut().replies = None;
        self.group.leave(self.slot, self.generation);
    }
}

impl<Q, R> std::fmt::Debug for Requester<Q, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Requester")
            .field("group", &self.group.name)
            .field("id", &self.id)
            .finish()
    }
}

/// A request's ticket: wait for its reply (or its stream of replies). Dropping it frees the
/// ticket; replies that arrive later are counted as late and dropped.
pub struct PendingReply<'a, Q, R>
where
    Q: Send + Sync + 'static,
    R: Send + Sync + Clone + 'static,
{
    requester: &'a Requester<Q, R>,
    ticket: u32,
    correlation: u64,
    sent: RecordMetadata,
}

impl<Q, R> PendingReply<'_, Q, R>
where
    Q: Send + Sync + 'static,
    R: Send + Sync + Clone + 'static,
{
    /// The request's correlation id.
    pub fn correlation(&self) -> u64 {
        self.correlation
    }

    /// Where the request went.
    pub fn sent(&self) -> RecordMetadata {
        self.sent
    }

    /// The next reply, if one has arrived; never waits. [`WaitError::Finished`] once the last
    /// reply was taken.
    pub fn try_recv(&self) -> Result<Option<R>, WaitError> {
        self.requester.next_for(self.ticket)
    }

    /// Waits up to `timeout` for the next reply ([`WaitError::Timeout`], counted, when none
    /// came; [`WaitError::Finished`] once the last reply was taken).
    pub fn wait(&self, timeout: Duration) -> Result<R, WaitError> {
        let requester = self.requester;
        if let Some(value) = requester.next_for(self.ticket)? {
            return Ok(value);
        }
        // Spin first, without the clock: a reply on its way costs no clock read.
        if !timeout.is_zero() && requester.strategy() != Some(WaitStrategy::Yield) {
            for _ in 0..SPINS_BEFORE_CLOCK {
                crate::sync::spin_hint();
                if let Some(value) = requester.next_for(self.ticket)? {
                    return Ok(value);
                }
            }
        }
        // The spin budget is spent: fix the deadline, then yield or park.
        let deadline = Deadline::after(Some(timeout));
        let mut round = 0_u32;
        loop {
            if !requester.wait_for_replies(self.ticket, deadline, round) {
                // A last look: the reply may have come as the deadline passed.
                if let Some(value) = requester.next_for(self.ticket)? {
                    return Ok(value);
                }
                MemberCounters::bump(&requester.words().counters.timed_out);
                return Err(WaitError::Timeout);
            }
            if let Some(value) = requester.next_for(self.ticket)? {
                return Ok(value);
            }
            round = round.saturating_add(1);
        }
    }
}

impl<Q, R> Drop for PendingReply<'_, Q, R>
where
    Q: Send + Sync + 'static,
    R: Send + Sync + Clone + 'static,
{
    fn drop(&mut self) {
        self.requester.free_ticket(self.ticket);
    }
}

impl<Q, R> std::fmt::Debug for PendingReply<'_, Q, R>
where
    Q: Send + Sync + 'static,
    R: Send + Sync + Clone + 'static,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingReply")
            .field("correlation", &self.correlation)
            .field("sent", &self.sent)
            .finish()
    }
}
