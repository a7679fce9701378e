//! The partition ring: a single-producer, multi-reader broadcast ring of fixed capacity.
//!
//! # What it is
//!
//! One [`Writer`] publishes messages at offsets 0, 1, 2, ... (64-bit, never wrapping); offset
//! `o` lives in slot `o & (capacity - 1)`. Any number of [`Reader`]s (up to `max_readers`), added
//! and removed at runtime through a [`Subscriber`], each see every message in order. Readers
//! borrow messages in place (`&T`); nothing is copied out.
//!
//! # Algorithm
//!
//! - Publish: write the slot(s), then one `Release` store of `published`; readers load it with
//!   `Acquire`. A batch or [`Claim`] costs one store.
//! - Gating: the writer may write offset `o` only while `o < gate + capacity`, where `gate` is the
//!   lowest registered reader cursor. It caches that bound and rescans only when it would wrap.
//! - Releasing: a reader close behind the writer stores its cursor at once (it has read all it
//!   knew to be published); one further behind stores it once `capacity / 16` messages were
//!   read since its last store ([`Reader::set_release_every`]), and at once when a poll finds
//!   nothing, before it waits and on drop; so a writer on a full ring gains slots in runs, and
//!   the reader's line moves to it once per run. [`Reader::try_drain`] takes everything ready
//!   under one release.
//! - Joining at runtime: announce, fence, rescan on the writer; register, fence, check on the
//!   reader (see the `shared` module).
//! - Waiting: [`WaitStrategy`]; parking uses an event count with a `SeqCst` fence on each side.
//! - Dead readers (rings in a shared-memory region only): each reader slot records its holding
//!   process; a writer whose rescan finds the ring full takes back, at a bounded rate, the
//!   slots of holders confirmed dead, as their drop would have (the `owners` module;
//!   [`Subscriber::reclaimed_readers`] counts them). A heap ring records no holders and its
//!   publish and poll paths do no extra work.
//!
//! # Invariants
//! - **I2 no loss**: the writer never overwrites a slot a registered reader has not released.
//! - **I3 memory safety**: a slot lent in a [`Batch`] is not written until the batch is dropped.
//! - **I7 no missed wakeup**: a parked reader or writer is woken by the event it waits for.
//! - **I8 drop**: every message is dropped exactly once: when overwritten or with the ring.
//! - **No stall by the dead**: a reader slot whose holding process is confirmed dead is taken
//!   back (a live holder's never is), so a killed reader never gates the writer for good.
//!
//! # Examples
//!
//! ```
//! use ringgroup::ring::{Ring, StartAt};
//!
//! let (mut writer, subscriber) = Ring::<u64>::builder().capacity(1024).build()?;
//! let mut reader = subscriber.subscribe(StartAt::Earliest)?;
//! let consumer = std::thread::spawn(move || {
//!     let mut sum = 0;
//!     while let Ok(batch) = reader.poll(256) {
//!         sum += batch.iter().sum::<u64>();
//!     }
//!     sum
//! });
//! for i in 0..10_000 {
//!     writer.publish(i);
//! }
//! drop(writer); // readers drain, then see `Closed`
//! assert_eq!(consumer.join().unwrap(), (0..10_000).sum::<u64>());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod batch;
pub(crate) mod block;
mod claimers;
mod cursor;
mod error;
pub(crate) mod group_cursor;
mod multi;
pub(crate) mod owners;
mod reader;
pub(crate) mod shared;
mod shared_writer;
pub(crate) mod wait;
mod writer;

pub(crate) use batch::Span;
pub use batch::{Batch, BatchIter};
pub use error::{BuildError, ClaimError, PollError, PublishError, SubscribeError};
#[cfg(ringgroup_loom)]
#[doc(hidden)]
pub use owners::model;
pub use reader::{Reader, StartAt, Subscriber};
pub use shared_writer::{SharedClaim, SharedWriter};
pub use wait::WaitStrategy;
#[cfg(ringgroup_loom)]
#[doc(hidden)]
pub use writer::DeadWriter;
pub use writer::{Claim, Writer};

use crate::sync::Arc;
use std::marker::PhantomData;

/// The largest ring, in slots, whatever the message size.
pub const MAX_CAPACITY: usize = 1 << 30;

/// The most readers (plain readers and consumer groups together) one ring can register. Each
/// takes a 128-byte cache line that the writer scans when it would wrap.
pub const MAX_READERS: usize = 1 << 16;

/// Namespace for [`Ring::builder`].
#[derive(Debug)]
pub struct Ring<T>(PhantomData<T>);

impl<T> Ring<T> {
    /// A builder with capacity 4096, [`WaitStrategy::BusySpin`], 16 reader slots and one
    /// producer.
    pub fn builder() -> RingBuilder<T> {
        RingBuilder {
            capacity: 4096,
            max_readers: 16,
            strategy: WaitStrategy::BusySpin,
            _marker: PhantomData,
        }
    }
}

/// The producer mode of a [`RingBuilder`] (or a topic's builder): one writer, the default.
#[derive(Clone, Copy, Debug, Default)]
pub struct SingleProducer;

/// The producer mode of a [`RingBuilder`] (or a topic's builder): any number of writers.
#[derive(Clone, Copy, Debug, Default)]
pub struct MultiProducer;

/// Configures and builds a ring.
///
/// # Examples
///
/// ```
/// use ringgroup::{ring::{Ring, MAX_READERS}, BuildError};
///
/// assert_eq!(Ring::<u8>::builder().capacity(0).build().err(), Some(BuildError::ZeroCapacity));
/// assert_eq!(
///     Ring::<u8>::builder().capacity(3).build().err(),
///     Some(BuildError::CapacityNotPowerOfTwo(3))
/// );
/// assert!(Ring::<u8>::builder().capacity(8).max_readers(2).build().is_ok());
/// assert_eq!(
///     Ring::<u8>::builder().max_readers(usize::MAX).build().err(),
///     Some(BuildError::TooManyReaders { requested: usize::MAX, max: MAX_READERS })
/// );
/// ```
#[derive(Debug)]
#[must_use]
pub struct RingBuilder<T, P = SingleProducer> {
    capacity: usize,
    max_readers: usize,
    strategy: WaitStrategy,
    _marker: PhantomData<(T, P)>,
}

impl<T, P> RingBuilder<T, P> {
    /// Slots in the ring: a power of two, at most [`MAX_CAPACITY`].
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// How many readers may be registered at once: 1 to [`MAX_READERS`].
    pub fn max_readers(mut self, max_readers: usize) -> Self {
        self.max_readers = max_readers;
        self
    }

    /// How blocked readers and the blocked writer wait.
    pub fn wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Checks the configuration and allocates the ring: with holder words when `owned`, and
    /// then (under loom, where a model stands in for a region) checking its words as a ring
    /// in a region does, against a poison of its own.
    fn shared(
        &self,
        multi_producer: bool,
        owned: bool,
    ) -> Result<Arc<shared::Shared<T>>, BuildError> {
        validate_capacity::<T>(self.capacity)?;
        validate_readers(self.max_readers)?;
        let shared = shared::Shared::new(
            self.capacity,
            self.max_readers,
            self.strategy,
            multi_producer,
            owned,
        )?;
        #[cfg(ringgroup_loom)]
        let shared = if owned {
            let poison = crate::sync::StdArc::new(crate::shm::Poison::new());
            shared.guarded(crate::shm::Boundary::new(poison, 0))
        } else {
            shared
        };
        Ok(Arc::new(shared))
    }
}

impl<T> RingBuilder<T, SingleProducer> {
    /// Any number of producers: the ring is built with a [`SharedWriter`] (`Clone + Sync`)
    /// instead of a [`Writer`]. Each message then costs a claim (one compare-and-swap on a line
    /// every producer shares) and a stamp per slot, so keep one producer when one will do.
    pub fn multi_producer(self) -> RingBuilder<T, MultiProducer> {
        RingBuilder {
            capacity: self.capacity,
            max_readers: self.max_readers,
            strategy: self.strategy,
            _marker: PhantomData,
        }
    }

    /// Checks the configuration and allocates the ring.
    pub fn build(self) -> Result<(Writer<T>, Subscriber<T>), BuildError> {
        let shared = self.shared(false, false)?;
        Ok((Writer::new(shared.clone()), Subscriber::new(shared)))
    }
}

impl<T> RingBuilder<T, MultiProducer> {
    /// Checks the configuration and allocates the ring and its first producer handle.
    pub fn build(self) -> Result<(SharedWriter<T>, Subscriber<T>), BuildError> {
        let shared = self.shared(true, false)?;
        Ok((SharedWriter::new(shared.clone()), Subscriber::new(shared)))
    }
}

/// Checks that `max_readers` is a usable reader count.
pub(crate) fn validate_readers(max_readers: usize) -> Result<(), BuildError> {
    if max_readers == 0 {
        Err(BuildError::ZeroReaders)
    } else if max_readers > MAX_READERS {
        Err(BuildError::TooManyReaders {
            requested: max_readers,
            max: MAX_READERS,
        })
    } else {
        Ok(())
    }
}

/// Checks that `capacity` is a usable ring size for messages of type `T`.
pub(crate) fn validate_capacity<T>(capacity: usize) -> Result<(), BuildError> {
    let max = MAX_CAPACITY.min(isize::MAX as usize / std::mem::size_of::<T>().max(1));
    if capacity == 0 {
        Err(BuildError::ZeroCapacity)
    } else if capacity > max {
        Err(BuildError::CapacityTooLarge {
            requested: capacity,
            max,
        })
    } else if !capacity.is_power_of_two() {
        Err(BuildError::CapacityNotPowerOfTwo(capacity))
    } else {
        Ok(())
    }
}
