//! Replying: the consuming side answers a request with the record in hand.
//!
//! [`Records::reply`](crate::Records) and [`Consumer::reply`](crate::Consumer) send one, final
//! reply; a [`Responder`] sends a stream of them. The reply goes to the requesting member's
//! reply ring, found through the topic's reply routes, with a bounded wait (see
//! `producer_group::registry`).

use super::error::ReplyError;
use super::message::{ReplyTo, Request};
use super::registry::ReplyRegistry;
use crate::group::{Consumer, Record, Records};

impl<Q, R: Send + Sync + 'static> Records<'_, Request<Q, R>> {
    /// Sends `value` as the one (final) reply to `record`'s request.
    ///
    /// Errors hand the value back: [`ReplyError::NoRoute`] for a record that wants no reply,
    /// [`ReplyError::RequesterGone`] when its member left, [`ReplyError::Full`] when the
    /// member's reply ring stayed full for the group's `reply_wait`. The last two are counted
    /// in the producer group's metrics.
    pub fn reply(&self, record: &Record<'_, Request<Q, R>>, value: R) -> Result<(), ReplyError<R>> {
        self.consumer().reply(record.value, value)
    }

    /// A stream of replies to `record`'s request.
    pub fn responder(&self, record: &Record<'_, Request<Q, R>>) -> Responder<'_, R> {
        self.consumer().responder(record.value)
    }
}

impl<Q, R: Send + Sync + 'static> Consumer<Request<Q, R>> {
    /// Sends `value` as the one (final) reply to `request` (see [`Records::reply`]).
    pub fn reply(&self, request: &Request<Q, R>, value: R) -> Result<(), ReplyError<R>> {
        self.responder(request).finish(value)
    }

    /// A stream of replies to `request`.
    pub fn responder(&self, request: &Request<Q, R>) -> Responder<'_, R> {
        let extension = self.extension();
        #[cfg(not(ringgroup_loom))]
        let extension = match (extension.get(), self.region()) {
            // A process that never built a producer group replies through the region's.
            (None, Some(region)) => Some(extension.get_or_init(|| {
                crate::sync::StdArc::new(ReplyRegistry::<R>::new(Some(region.clone())))
            })),
            (found, _) => found,
        };
        #[cfg(ringgroup_loom)]
        let extension = extension.get();
        let registry = extension.and_then(|extension| extension.downcast_ref::<ReplyRegistry<R>>());
        Responder {
            registry,
            to: request.reply_to(),
            part: 0,
            finished: false,
        }
    }
}

/// Sends a stream of replies to one request: any number of [`send`](Responder::send)s, then
/// [`finish`](Responder::finish) with the last. The requester gets them in order, each once.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ringgroup::producer_group::{Request, WaitError};
/// use ringgroup::Topic;
///
/// let (topic, _p) = Topic::<Request<u32, u32>>::builder("t").multi_producer().build()?;
/// let workers = topic.group("w").build()?;
/// let client = topic.producer_group("c").build()?.join()?;
/// let worker = workers.join()?;
/// let pending = client.request(b"k", 3)?;
/// let records = worker.poll(1, Duration::from_secs(1))?;
/// let record = records.get(0).unwrap();
/// let mut stream = records.responder(&record);
/// for part in 0..record.value.value - 1 {
///     stream.send(part)?;
/// }
/// stream.finish(99)?;
/// drop(records);
/// let replies: Vec<u32> = (0..3).map(|_| pending.wait(Duration::from_secs(1))).collect::<Result<_, _>>()?;
/// assert_eq!(replies, [0, 1, 99]);
/// assert_eq!(pending.wait(Duration::ZERO), Err(WaitError::Finished));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Responder<'a, R> {
    registry: Option<&'a ReplyRegistry<R>>,
    to: ReplyTo,
    part: u32,
    finished: bool,
}

impl<R: Send + Sync> Responder<'_, R> {
    /// Sends one reply of the stream (not the last).
    pub fn send(&mut self, value: R) -> Result<(), ReplyError<R>> {
        self.send_part(value, false)
    }

    /// Sends the last reply of the stream.
    pub fn finish(mut self, value: R) -> Result<(), ReplyError<R>> {
        self.send_part(value, true)
    }

    fn send_part(&mut self, value: R, last: bool) -> Result<(), ReplyError<R>> {
        if self.finished {
            return Err(ReplyError::Finished(value));
        }
        let Some(registry) = self.registry else {
            return Err(ReplyError::NoRoute(value));
        };
        let part = self.part;
        self.part += 1;
        self.finished = last;
        registry.send(self.to, part, last, value)
    }
}

impl<R> std::fmt::Debug for Responder<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("correlation", &self.to.correlation)
            .field("part", &self.part)
            .field("finished", &self.finished)
            .finish()
    }
}
