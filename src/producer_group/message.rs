//! What requests and replies carry: plain data (ids, a correlation id, a reply route), no
//! pointers, laid out `repr(C)`, so a request topic and its replies can live in shared memory:
//! a [`Request<Q, R>`] is [`bytemuck::AnyBitPattern`] when `Q` and `R` are.

use std::marker::PhantomData;

/// Where a reply goes: the producer group, the member's slot and the generation of the member
/// that holds it (a slot is reused after its member leaves), and the request's correlation id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct ReplyTo {
    pub(crate) correlation: u64,
    pub(crate) group: u32,
    pub(crate) slot: u32,
    pub(crate) generation: u32,
    /// Always 0: the struct has no padding.
    pub(crate) reserved: u32,
}

impl ReplyTo {
    /// The route of a message that wants no reply.
    pub const NONE: ReplyTo = ReplyTo {
        group: u32::MAX,
        slot: u32::MAX,
        generation: 0,
        correlation: 0,
        reserved: 0,
    };

    /// True when a reply is wanted.
    pub fn wants_reply(&self) -> bool {
        *self != Self::NONE
    }

    /// The request's correlation id (unique among the member's pending requests).
    pub fn correlation(&self) -> u64 {
        self.correlation
    }
}

/// A request: a value and where its replies go. The message type of a topic that serves a
/// producer group: `Topic<Request<Q, R>>` carries requests of `Q` answered with `R`.
///
/// # Examples
///
/// ```
/// use ringgroup::producer_group::Request;
///
/// let request: Request<u32, String> = Request::new(7);
/// assert_eq!(request.value, 7);
/// assert!(!request.reply_to().wants_reply());
/// ```
#[repr(C)]
pub struct Request<Q, R> {
    reply_to: ReplyTo,
    /// The request itself.
    pub value: Q,
    _reply: PhantomData<fn() -> R>,
}

// By hand, not derived: a derive would ask the same of `R`, which a request only names.
impl<Q: Clone, R> Clone for Request<Q, R> {
    fn clone(&self) -> Self {
        Self::routed(self.value.clone(), self.reply_to)
    }
}

impl<Q: Copy, R> Copy for Request<Q, R> {}

impl<Q: PartialEq, R> PartialEq for Request<Q, R> {
    fn eq(&self, other: &Self) -> bool {
        self.reply_to == other.reply_to && self.value == other.value
    }
}

impl<Q: Eq, R> Eq for Request<Q, R> {}

// SAFETY: all-zero bytes are a valid `ReplyTo` (it is `Zeroable`) and a valid `Q` (the bound);
// the marker is zero-sized.
unsafe impl<Q: bytemuck::Zeroable, R> bytemuck::Zeroable for Request<Q, R> {}

// SAFETY: a `repr(C)` struct of a `Pod` route and an `AnyBitPattern` value (any padding
// between or after them is never read as a value), no pointers, no `Drop`, `Copy` since `Q`
// is; `R` is bound too because a shared-memory request topic's replies of `R` travel in a
// region made on the strength of this impl.
unsafe impl<Q: bytemuck::AnyBitPattern, R: bytemuck::AnyBitPattern> bytemuck::AnyBitPattern
    for Request<Q, R>
{
}

impl<Q: std::fmt::Debug, R> std::fmt::Debug for Request<Q, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("reply_to", &self.reply_to)
            .field("value", &self.value)
            .finish()
    }
}

impl<Q, R> Request<Q, R> {
    /// A request that wants no reply (a plain message on a request topic).
    pub fn new(value: Q) -> Self {
        Self::routed(value, ReplyTo::NONE)
    }

    pub(crate) fn routed(value: Q, reply_to: ReplyTo) -> Self {
        Self {
            reply_to,
            value,
            _reply: PhantomData,
        }
    }

    /// Where its replies go.
    pub fn reply_to(&self) -> ReplyTo {
        self.reply_to
    }
}

/// A reply as it travels back: the request's correlation id, the requester's generation, the
/// part number in a stream of replies, and whether it is the last (a word, not a `bool`, so any
/// bit pattern in a region is a valid reply).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(crate) struct Reply<R> {
    pub(crate) correlation: u64,
    pub(crate) generation: u32,
    pub(crate) part: u32,
    last: u64,
    pub(crate) value: R,
}

impl<R> Reply<R> {
    pub(crate) fn new(to: ReplyTo, part: u32, last: bool, value: R) -> Self {
        Self {
            correlation: to.correlation,
            generation: to.generation,
            part,
            last: u64::from(last),
            value,
        }
    }

    /// True for the last reply of its request.
    pub(crate) fn is_last(&self) -> bool {
        self.last != 0
    }
}
