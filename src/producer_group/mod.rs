//! Producer groups and replies: members send requests into a topic, consumer groups share them
//! out and process them, and the results travel back through the queue to the member that asked
//! (request → process → reply).
//!
//! # Design
//!
//! - A request topic is a multi-producer topic of [`Request<Q, R>`]: a value `Q` and where its
//!   replies of `R` go ([`ReplyTo`]: the producer group, the member's slot and generation, and a
//!   correlation id). All of it is plain data, no pointers.
//! - A [`ProducerGroup`] is a named set of members ([`Requester`]) that join and leave at
//!   runtime. Each has an id, counters, a bounded correlation table, and a reply ring: a
//!   multi-producer ring, since many consumers answer one requester.
//! - A consumer answers with the record in hand ([`Records::reply`](crate::Records), or a
//!   [`Responder`] for a stream); the reply is routed to the requester, carrying the
//!   correlation id: in a heap group a lone, final reply lands in the request's own ticket
//!   cell (one CAS and one store, see `cell`); a stream's parts, a duplicate and every reply
//!   of a group in shared memory go through the requester's reply ring.
//! - Failure rules: a request redelivered after a rebalance may be answered twice: the
//!   requester keeps the first and counts the duplicate. A reply to a member that has left is
//!   dropped and counted on the consumer side, never blocks, never reaches another member. A
//!   requester that stops draining its replies gets the overflow of its reply ring dropped
//!   and counted after the group's bounded `reply_wait`, so it never stalls the consumers (a
//!   ticket's cell holds one reply and never waits).
//! - Across processes: on a request topic in shared memory, the groups are recorded in the
//!   region (a directory of names), and each group's reply rings and member slots are a
//!   region of their own beside it, so requesters and consumers in any process share one group
//!   and a reply reaches the process and member that asked (see `shared_memory`). A slot is
//!   held by process identity: a dead requester's slot is freed, never handed its replies on.
//! - The model for the API's shape is iceoryx2's request-response: a ticket per request
//!   ([`PendingReply`]), a stream of responses per request.
//!
//! Dependencies run one way: ring ← topic ← group ← producer_group. The topic carries the reply
//! routes in an opaque extension slot, so neither it nor the group layer knows this module.

mod builder;
mod cell;
mod error;
mod lanes;
mod message;
mod registry;
mod reply;
mod requester;
#[cfg(not(ringgroup_loom))]
mod shared_memory;

pub use builder::{
    ProducerGroup, ProducerGroupBuilder, ProducerGroupMetrics, RequesterMetrics,
    MAX_PENDING_PER_MEMBER, MAX_PRODUCER_GROUP_BYTES, MAX_PRODUCER_GROUP_MEMBERS,
    MAX_PRODUCER_GROUP_NAME_LEN,
};
pub use error::{ProducerGroupError, ReplyError, RequestError, WaitError};
pub use message::{ReplyTo, Request};
pub use registry::MAX_PRODUCER_GROUPS;
pub use reply::Responder;
pub use requester::{Delivered, PendingReply, Requester};
#[cfg(not(ringgroup_loom))]
pub use shared_memory::{MAX_SHARED_PRODUCER_GROUPS, MAX_SHARED_PRODUCER_GROUP_NAME};

/// The reply protocol's parts the loom models drive (`loom-tests/tests/reply_cell.rs`).
#[cfg(ringgroup_loom)]
#[doc(hidden)]
pub mod model {
    pub use super::cell::{tag, ReplyCell, Wakeup};
}
