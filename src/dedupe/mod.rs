//! Idempotent processing: a bounded window of recently seen message ids.
//!
//! Delivery in a group is at-least-once: when a partition moves to a new owner, the messages
//! after its last commit are delivered again. The *idempotent consumer* pattern turns that into
//! exactly-once *processing*: remember the ids of processed messages and skip any id seen
//! before. Remembering every id forever would grow without bound, so a [`DedupeWindow`] keeps
//! only the most recent `capacity` of them, in memory fixed at construction.
//!
//! # Algorithm
//!
//! Two arrays, both allocated once in [`DedupeWindow::new`]:
//!
//! - a FIFO **ring** of the `capacity` most recently recorded ids, in recording order;
//! - an **open-addressing hash set** of the same ids: a power-of-two table of at least
//!   `2 * capacity` slots (load factor ≤ ½), linear probing, and *backward-shift deletion*, so
//!   removal leaves no tombstones and the table never needs rehashing, let alone reallocating.
//!
//! [`first_time`](DedupeWindow::first_time) looks the id up; if absent it records it, and when
//! the window is full it first evicts the oldest id (the ring's head) from the set. Each call is
//! a constant number of expected-O(1) probes and never allocates.
//!
//! The hash is a seeded `fmix64` finaliser (MurmurHash3): a few multiplies and shifts, with a
//! per-window random seed so that no fixed id pattern (strided offsets, crafted application
//! ids) can pile every id into one probe cluster. Slot value 0 means "empty"; the id 0 itself is
//! tracked by a separate flag.
//!
//! # Invariants
//!
//! - **Bounded memory.** The window holds at most `capacity` ids, whatever the input; its
//!   memory is `8 * capacity` bytes of ring plus `8 * next_power_of_two(2 * capacity)` bytes of
//!   table (at most 40 bytes per id), all allocated by `new` and never grown.
//! - **Exact, no false positives.** The *window* is the last `capacity` ids for which
//!   `first_time` returned `true`. `first_time(id)` returns `false` exactly when `id` is in the
//!   window. An id never seen is therefore never reported as a duplicate (this is not a Bloom
//!   filter), and an id recorded fewer than `capacity` recordings ago is always reported as one.
//! - **FIFO, not LRU.** A duplicate does not refresh its id's age: an id leaves the window
//!   `capacity` recordings after it was *first* recorded. For redelivery this is the right
//!   horizon: what matters is how much has been processed since the message was first
//!   processed, however many times it has been replayed since.
//!
//! # Using it with consumer groups
//!
//! - **Where it lives.** The redelivered copy goes to the partition's *new* owner, so the
//!   window must live with the side effect, not with a consumer: in the sink stage, or shared by
//!   whoever processes the partition (for example one `Mutex<DedupeWindow>` per partition).
//! - **Sizing.** `capacity` must cover every id recorded between a message's first processing
//!   and its last possible redelivery. With one window per partition, that is the most messages
//!   a partition can have processed but not committed (the commit interval plus one poll batch).
//!   A window shared by several partitions must also count what the others record meanwhile,
//!   so per-partition windows are the tighter choice.
//! - **Ids.** A message's natural id is its `(partition, offset)`; [`message_id`] packs it into
//!   one `u64`. (With one window per partition the offset alone is enough.) Application ids
//!   work too, and catch duplicates offsets cannot, such as a producer publishing the same
//!   order twice.
//! - **Fallible processing.** `first_time` checks and records in one step. If processing can
//!   fail and be retried, check with [`contains`](DedupeWindow::contains) first and record with
//!   `first_time` only after the effect succeeded, so a failed attempt is not skipped later.
//!
//! # Design notes
//!
//! - The set is written here rather than taken from `std::collections::HashSet`: the standard
//!   set does not document that a stream of inserts and removes at constant size never
//!   reallocates or rehashes, and backward-shift deletion makes that true by construction.
//! - Construction is fallible all the way: a zero capacity, one whose table size would
//!   overflow, or memory the allocator refuses are errors, not panics or aborts.
//! - Ids are plain `u64`s rather than a generic key, which keeps the hot path to one
//!   comparison per probe. [`message_id`] rejects partitions that do not fit its 16 bits
//!   (a panic) instead of silently aliasing them.
//! - If ids are `(partition, offset)` *and* each partition is processed strictly in offset
//!   order, a per-partition high-water mark ("processed up to offset n") is also exact, in O(1)
//!   memory and with no horizon. The window is the general tool: it also covers application ids
//!   and out-of-order processing.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;

/// Why a [`DedupeWindow`] could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DedupeError {
    /// Capacity 0 was asked for: such a window could never report a duplicate.
    ZeroCapacity,
    /// The capacity exceeds [`DedupeWindow::MAX_CAPACITY`].
    CapacityTooLarge {
        /// What was asked for.
        requested: usize,
        /// The largest capacity allowed.
        max: usize,
    },
    /// The allocator refused the window's memory.
    AllocationFailed {
        /// Bytes asked for (ring and table together).
        bytes: usize,
    },
}

impl fmt::Display for DedupeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DedupeError::ZeroCapacity => write!(f, "dedupe window capacity must be at least 1"),
            DedupeError::CapacityTooLarge { requested, max } => write!(
                f,
                "dedupe window capacity {requested} exceeds the maximum of {max}"
            ),
            DedupeError::AllocationFailed { bytes } => {
                write!(f, "could not allocate {bytes} bytes for the dedupe window")
            }
        }
    }
}

impl std::error::Error for DedupeError {}

/// The table's "no id here" marker. The id 0 is tracked by [`DedupeWindow::holds_zero`].
const EMPTY: u64 = 0;

/// Bits of a [`message_id`] that hold the offset.
const OFFSET_BITS: u32 = 48;

/// The largest partition [`message_id`] accepts: partitions are packed into 16 bits.
pub const MAX_MESSAGE_ID_PARTITION: u32 = (1 << (64 - OFFSET_BITS)) - 1;

/// Packs a message's natural id, `(partition, offset)`, into one `u64` for a [`DedupeWindow`]:
/// the partition in the top 16 bits, the offset in the low 48.
///
/// Distinct `(partition, offset)` pairs give distinct ids, with two limits:
///
/// - `partition` must be at most [`MAX_MESSAGE_ID_PARTITION`] (65 535).
/// - The offset is taken modulo 2⁴⁸, so offsets of one partition that differ by a multiple of
///   2⁴⁸ share an id. That never causes a false duplicate in practice: between the two, a
///   partition read in order delivers 2⁴⁸ − 1 other offsets (several days even at 10⁹ messages
///   a second), far more than any window holds, so the older id has long been evicted. Only
///   skipping 2⁴⁸ or more offsets at once could bring them together.
///
/// # Panics
///
/// If `partition` exceeds [`MAX_MESSAGE_ID_PARTITION`]: packing it would alias another
/// partition's ids and report false duplicates.
///
/// # Examples
///
/// ```
/// use ringgroup::dedupe::message_id;
///
/// assert_eq!(message_id(0, 7), 7);
/// assert_eq!(message_id(3, 7), (3 << 48) | 7);
/// assert_ne!(message_id(1, 0), message_id(0, 1));
/// ```
#[inline]
#[must_use]
pub fn message_id(partition: u32, offset: u64) -> u64 {
    assert!(
        partition <= MAX_MESSAGE_ID_PARTITION,
        "message_id: partition {partition} does not fit in 16 bits (max {MAX_MESSAGE_ID_PARTITION})"
    );
    (u64::from(partition) << OFFSET_BITS) | (offset & ((1 << OFFSET_BITS) - 1))
}

/// A bounded window of the most recently seen message ids, for idempotent processing of
/// at-least-once deliveries.
///
/// Holds at most [`capacity`](Self::capacity) ids, in memory allocated once by
/// [`new`](Self::new). [`first_time`](Self::first_time) reports whether an id is new (and
/// records it) in expected O(1) time, without allocating; when the window is full the oldest
/// recorded id is forgotten. See the [module documentation](self) for the algorithm, the exact
/// guarantees and how to size it.
///
/// # Examples
///
/// A partition's messages 0..10 are processed, then a handoff redelivers 6..10 before the next
/// offsets arrive: the replays are skipped and each message is processed once.
///
/// ```
/// use ringgroup::dedupe::{message_id, DedupeWindow};
///
/// let mut window = DedupeWindow::new(64)?;
/// let mut processed = Vec::new();
/// let deliveries = (0..10).chain(6..10).chain(10..12); // at-least-once
/// for offset in deliveries {
///     if window.first_time(message_id(2, offset)) {
///         processed.push(offset);
///     }
/// }
/// assert_eq!(processed, (0..12).collect::<Vec<u64>>());
/// assert_eq!(window.len(), 12);
/// # Ok::<(), ringgroup::dedupe::DedupeError>(())
/// ```
#[derive(Clone)]
pub struct DedupeWindow {
    /// Recorded ids in recording order: the oldest at `head`, `len` of them, wrapping.
    ring: Vec<u64>,
    /// Index of the oldest recorded id in `ring`.
    head: usize,
    /// Number of recorded ids (including 0, if recorded).
    len: usize,
    /// Open-addressing set of the recorded non-zero ids; `EMPTY` marks a free slot. Its length
    /// is a power of two greater than `ring.len()`, so a probe always reaches a free slot.
    slots: Vec<u64>,
    /// `slots.len() - 1`.
    mask: usize,
    /// `64 - log2(slots.len())`: a hash's top bits pick the home slot.
    shift: u32,
    /// Per-window hash seed.
    seed: u64,
    /// Whether the id 0 (which the table cannot hold) is in the window.
    holds_zero: bool,
}

impl DedupeWindow {
    /// The largest capacity [`new`](Self::new) accepts (2⁵⁸ on 64-bit targets). Memory, not
    /// this limit, is what bounds a real window.
    pub const MAX_CAPACITY: usize = 1 << (usize::BITS - 6);

    /// A window remembering up to `capacity` ids. Allocates all of its memory (at most 40 bytes
    /// per id; see the [module documentation](self)) here, and never again.
    ///
    /// # Errors
    ///
    /// [`DedupeError::ZeroCapacity`] if `capacity` is 0, [`DedupeError::CapacityTooLarge`]
    /// above [`MAX_CAPACITY`](Self::MAX_CAPACITY), and [`DedupeError::AllocationFailed`] if the
    /// allocator refuses the memory.
    pub fn new(capacity: usize) -> Result<Self, DedupeError> {
        if capacity == 0 {
            return Err(DedupeError::ZeroCapacity);
        }
        if capacity > Self::MAX_CAPACITY {
            return Err(DedupeError::CapacityTooLarge {
                requested: capacity,
                max: Self::MAX_CAPACITY,
            });
        }
        // Both fit: capacity ≤ 2^(BITS-6), so slots ≤ 2^(BITS-5) and the byte total below is
        // under 2^(BITS-1).
        let table_len = (2 * capacity).next_power_of_two();
        let bytes = (capacity + table_len) * std::mem::size_of::<u64>();
        let ring = zeroed(capacity).ok_or(DedupeError::AllocationFailed { bytes })?;
        let slots = zeroed(table_len).ok_or(DedupeError::AllocationFailed { bytes })?;
        Ok(Self {
            ring,
            head: 0,
            len: 0,
            slots,
            mask: table_len - 1,
            shift: u64::BITS - table_len.trailing_zeros(),
            seed: RandomState::new().hash_one(0x6465_6475_7065_u64),
            holds_zero: false,
        })
    }

    /// Whether `id` is seen for the first time: `true` if it is not in the window, and it is
    /// then recorded (evicting the oldest id if the window is full); `false` if it is a
    /// duplicate, and the window is left unchanged (a duplicate does not refresh its age).
    ///
    /// Expected O(1); never allocates.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::dedupe::DedupeWindow;
    ///
    /// let mut window = DedupeWindow::new(3)?;
    /// assert!(window.first_time(10));
    /// assert!(!window.first_time(10)); // redelivered: skip it
    /// assert!(window.first_time(11));
    /// assert!(window.first_time(12));
    /// assert!(window.first_time(13)); // full: 10, the oldest, is forgotten
    /// assert!(!window.contains(10));
    /// assert!(window.first_time(10)); // so it counts as new again
    /// assert_eq!(window.len(), 3);
    /// # Ok::<(), ringgroup::dedupe::DedupeError>(())
    /// ```
    #[inline]
    pub fn first_time(&mut self, id: u64) -> bool {
        // Look up first: a duplicate must not evict anything.
        let mut vacant = if id == EMPTY {
            if self.holds_zero {
                return false;
            }
            None
        } else {
            match self.find(id) {
                Ok(_) => return false,
                Err(slot) => Some(slot),
            }
        };
        if self.len == self.ring.len() {
            let oldest = self.ring[self.head];
            self.head = self.wrap(self.head + 1);
            self.len -= 1;
            self.forget(oldest);
            // Backward shifting may have opened a slot earlier on `id`'s probe path.
            vacant = vacant.map(|_| self.vacant_slot(id));
        }
        match vacant {
            Some(slot) => self.slots[slot] = id,
            None => self.holds_zero = true,
        }
        let tail = self.wrap(self.head + self.len);
        self.ring[tail] = id;
        self.len += 1;
        true
    }

    /// Whether `id` is in the window (it would be reported as a duplicate). Changes nothing.
    #[inline]
    #[must_use]
    pub fn contains(&self, id: u64) -> bool {
        if id == EMPTY {
            self.holds_zero
        } else {
            self.find(id).is_ok()
        }
    }

    /// How many ids the window holds, at most [`capacity`](Self::capacity).
    #[inline]
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the window holds no ids.
    #[inline]
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most ids the window holds; the oldest is evicted to record one more.
    #[inline]
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.ring.len()
    }

    /// Forgets every id, keeping the memory. O(capacity); never allocates.
    pub fn clear(&mut self) {
        self.slots.fill(EMPTY);
        self.holds_zero = false;
        self.head = 0;
        self.len = 0;
    }

    /// `index` reduced into the ring, for `index < 2 * capacity`.
    #[inline]
    fn wrap(&self, index: usize) -> usize {
        if index >= self.ring.len() {
            index - self.ring.len()
        } else {
            index
        }
    }

    /// The home slot of a non-zero id.
    #[inline]
    fn home(&self, id: u64) -> usize {
        (fmix64(id ^ self.seed) >> self.shift) as usize
    }

    /// `Ok(slot)` holding the non-zero `id`, or `Err(slot)`: the free slot ending its probe.
    #[inline]
    fn find(&self, id: u64) -> Result<usize, usize> {
        let mut slot = self.home(id);
        loop {
            match self.slots[slot] {
                key if key == id => return Ok(slot),
                EMPTY => return Err(slot),
                _ => slot = (slot + 1) & self.mask,
            }
        }
    }

    /// The free slot where the absent non-zero `id` would be stored.
    #[inline]
    fn vacant_slot(&self, id: u64) -> usize {
        let mut slot = self.home(id);
        while self.slots[slot] != EMPTY {
            slot = (slot + 1) & self.mask;
        }
        slot
    }

    /// Removes a recorded id from the set (the ring is updated by the caller).
    #[inline]
    fn forget(&mut self, id: u64) {
        if id == EMPTY {
            self.holds_zero = false;
            return;
        }
        let Ok(mut hole) = self.find(id) else {
            debug_assert!(false, "recorded id {id} missing from the table");
            return;
        };
        // Backward-shift deletion: walk the rest of the cluster and move back every entry
        // whose probe path (home ..= its slot) passes through the hole, so that no lookup
        // ever stops early at the hole. The last hole left becomes free.
        let mut slot = hole;
        loop {
            slot = (slot + 1) & self.mask;
            let key = self.slots[slot];
            if key == EMPTY {
                break;
            }
            let from_home = slot.wrapping_sub(self.home(key)) & self.mask;
            let from_hole = slot.wrapping_sub(hole) & self.mask;
            if from_home >= from_hole {
                self.slots[hole] = key;
                hole = slot;
            }
        }
        self.slots[hole] = EMPTY;
    }
}

impl fmt::Debug for DedupeWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DedupeWindow")
            .field("len", &self.len)
            .field("capacity", &self.ring.len())
            .finish_non_exhaustive()
    }
}

/// A zero-filled vector of exactly `len` elements, or `None` if the allocator refuses.
fn zeroed(len: usize) -> Option<Vec<u64>> {
    let mut vec = Vec::new();
    vec.try_reserve_exact(len).ok()?;
    vec.resize(len, 0);
    Some(vec)
}

/// MurmurHash3's 64-bit finaliser: a bijection with full avalanche.
#[inline]
fn fmix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

#[cfg(test)]
mod tests;
