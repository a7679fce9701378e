//! The member of a producer group: [`Requester`] sends requests and gets their replies, each
//! through a [`PendingReply`] ticket or all at once in arrival order.
//!
//! # Algorithm
//!
//! A request takes a ticket from the member's bounded correlation table; its correlation id is
//! the ticket's index and a sequence number that changes every time the ticket is reused, so a
//! late reply to an earlier use is recognised. Replies arrive in the member's reply ring, in
//! arrival order; whoever reads the ring (a waiting ticket, or [`Requester::drain_replies`])
//! routes each reply: to the ticket it answers, or into a bounded FIFO of replies for tickets
//! not waited on right now. A reply to a part the ticket already had is a duplicate (a request
//! redelivered after a rebalance and answered twice): counted and dropped. A reply to a ticket
//! no longer pending, or from an earlier holder of the member's slot, is late: counted and
//! dropped. Nothing reaches the caller twice.
//!
//! # Invariants
//! - No allocation per request or reply: the table and the FIFO are sized at join.
//! - A reply is handed to the caller at most once, and only to the member that asked.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::Duration;

use super::error::{ProducerGroupError, RequestError, WaitError};
use super::message::{Reply, ReplyTo, Request};
use super::registry::{GroupShared, Joined, MemberCounters, SlotWords};
use crate::group::MemberId;
use crate::ring::{PollError, Reader};
use crate::shm::Corruption;
use crate::sync::{Deadline, StdArc};
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
/// the free list, room for a parked reply), or `None` past `usize::MAX`.
pub(super) fn table_bytes<R>(pending: usize) -> Option<usize> {
    let per_ticket = size_of::<Ticket>() + size_of::<u32>() + size_of::<Parked<R>>();
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
        } = group.join()?;
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

    /// Hands every reply that has arrived, in arrival order, to `each`, and returns how many.
    /// Replies taken here are not delivered to their [`PendingReply`] again.
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

    /// The next reply for `ticket`, from the parked ones or the ring; `None` if none is here.
    fn next_for(&self, ticket: u32) -> Result<Option<R>, WaitError> {
        let mut state = self.state.borrow_mut();
        if let Some(at) = state.parked.iter().position(|p| p.ticket == ticket) {
            return Ok(state.parked.remove(at).map(|p| p.value));
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
        let counters = &self.words().counters;
        let ticket = (reply.correlation >> 32) as u32;
        let sequence = reply.correlation as u32;
        let entry = state.tickets.get_mut(ticket as usize);
        let Some(entry) = entry
            .filter(|t| reply.generation == self.generation && t.pending && t.sequence == sequence)
        else {
            MemberCounters::bump(&counters.late);
            return None;
        };
        if reply.part < entry.next_part || entry.finished {
            MemberCounters::bump(&counters.duplicates);
            return None;
        }
        // Any part number is taken as found (another process wrote it): one at the very end
        // leaves every later part counted as a duplicate, never an overflow.
        entry.next_part = reply.part.saturating_add(1);
        entry.finished = reply.is_last();
        MemberCounters::bump(&counters.received);
        Some(ticket)
    }

    fn take_ticket(&self) -> Option<(u32, u32)> {
        let mut state = self.state.borrow_mut();
        let ticket = state.free.pop()?;
        let entry = &mut state.tickets[ticket as usize];
        entry.sequence = entry.sequence.wrapping_add(1);
        entry.pending = true;
        entry.next_part = 0;
        entry.finished = false;
        Some((ticket, entry.sequence))
    }

    fn free_ticket(&self, ticket: u32) {
        let mut state = self.state.borrow_mut();
        state.tickets[ticket as usize].pending = false;
        if !state.parked.is_empty() {
            state.parked.retain(|p| p.ticket != ticket);
        }
        state.free.push(ticket);
    }

    fn words(&self) -> &SlotWords {
        &self.group.table.slots()[self.slot as usize]
    }

    /// Waits for news in the reply ring until `deadline`; false when it passed.
    fn wait_for_replies(&self, deadline: Deadline) -> bool {
        self.state
            .borrow_mut()
            .replies
            .as_mut()
            .is_some_and(|replies| replies.wait_ready(deadline))
    }
}

impl<Q, R> Drop for Requester<Q, R> {
    fn drop(&mut self) {
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
        // Fixed only once there is something to wait for: a reply already here costs no clock read.
        let mut deadline = None;
        loop {
            if let Some(value) = self.requester.next_for(self.ticket)? {
                return Ok(value);
            }
            let deadline = *deadline.get_or_insert_with(|| Deadline::after(Some(timeout)));
            if !self.requester.wait_for_replies(deadline) {
                MemberCounters::bump(&self.requester.words().counters.timed_out);
                return Err(WaitError::Timeout);
            }
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
