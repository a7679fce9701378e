//! A ring's memory: one block holding its control words, reader cursors, stamps and slots, at
//! offsets fixed by its geometry. The block is allocated on the heap for an in-process ring, or
//! is a part of a mapped region shared by several processes; the ring's code is the same over
//! both.
//!
//! # Layout
//!
//! ```text
//! Header | Cursor × max_readers | AtomicU64 × (max_readers + 1) (owned only)
//!        | AtomicU64 × capacity (multi-producer only) | pad | slots | pad
//! ```
//!
//! An *owned* block (one in a region shared by several processes) records, per reader slot,
//! the process holding it, and counts the slots reclaimed from dead holders (the last word of
//! that array); see the `owners` module. A heap block has no such words.
//!
//! Every control word is in the block (nothing process-local), and the block holds no pointers,
//! only values, so any process that maps it sees the same ring. `Header` and the cursors are
//! cache-padded; the slot array has 256 bytes of unused slots on each side, so nothing else
//! shares a line (or an adjacent-line prefetch pair) with a slot.
//!
//! # Invariants
//! - A block is initialised exactly once, by whoever allocates (or creates) it, before any
//!   handle reaches it; its words are dropped (under loom, where they have state) and its memory
//!   freed only when the last handle is gone.

use std::alloc::Layout;
use std::mem::MaybeUninit;
use std::ptr::NonNull;

use crossbeam_utils::CachePadded;

use super::cursor::Cursor;
use super::error::BuildError;
use super::wait::Signal;
use crate::sync::{AtomicU32, AtomicU64, UnsafeCell};

/// Bytes of unused slots on each side of the slot array: two adjacent-line prefetch pairs.
const SLOT_PAD_BYTES: usize = 256;

/// A ring's control words.
#[repr(C)]
pub(crate) struct Header {
    /// One past the last published offset: every offset below it is readable (a lower bound
    /// that readers of a multi-producer ring advance; they read the stamps).
    pub(crate) published: Cursor,
    /// Upper bound (exclusive, monotone) on any offset a writer may write before its next
    /// announce-fence-scan round.
    pub(crate) write_limit: Cursor,
    /// One past the highest reader slot ever claimed: writers scan only below it.
    pub(crate) readers_high: CachePadded<AtomicU64>,
    /// Set (to 1) once, when the (last) writer is dropped. A word, not an `AtomicBool`: in a
    /// region another process may write any byte here, and a `bool` that is neither 0 nor 1
    /// would be undefined behaviour to load (any value but 0 reads as closed).
    pub(crate) closed: CachePadded<AtomicU32>,
    /// Readers park here waiting for data.
    pub(crate) data_signal: CachePadded<Signal>,
    /// Writers park here waiting for space.
    pub(crate) space_signal: CachePadded<Signal>,
    /// Claims of a multi-producer ring (unused by a single-producer one).
    pub(crate) multi: MultiHeader,
}

/// The control words only multi-producer rings use.
#[repr(C)]
pub(crate) struct MultiHeader {
    /// The next offset to claim.
    pub(crate) head: CachePadded<AtomicU64>,
    /// The highest write limit any producer validated.
    pub(crate) limit: CachePadded<AtomicU64>,
    /// Live producer handles.
    pub(crate) producers: CachePadded<AtomicU64>,
    /// Offsets stamped as tombstones.
    pub(crate) tombstones: CachePadded<AtomicU64>,
    /// The producing processes of a ring in a region (see `claimers`).
    pub(crate) claimers: [super::claimers::Claimer; super::claimers::CLAIMERS],
}

impl Header {
    fn new(capacity: u64, multi: bool) -> Self {
        Self {
            published: Cursor::new(0),
            write_limit: Cursor::new(capacity),
            readers_high: CachePadded::new(AtomicU64::new(0)),
            closed: CachePadded::new(AtomicU32::new(0)),
            data_signal: CachePadded::new(Signal::new()),
            space_signal: CachePadded::new(Signal::new()),
            multi: MultiHeader {
                head: CachePadded::new(AtomicU64::new(0)),
                limit: CachePadded::new(AtomicU64::new(capacity)),
                producers: CachePadded::new(AtomicU64::new(u64::from(multi))),
                tombstones: CachePadded::new(AtomicU64::new(0)),
                claimers: std::array::from_fn(|_| super::claimers::Claimer::new()),
            },
        }
    }
}

/// Where each part of a ring's block starts, for one geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub(crate) capacity: usize,
    pub(crate) max_readers: usize,
    pub(crate) multi: bool,
    /// True when the block records each reader slot's holding process (see `owners`).
    pub(crate) owned: bool,
    /// Unused slots on each side of the slot array.
    pub(crate) pad: usize,
    readers: usize,
    owners: usize,
    stamps: usize,
    slots: usize,
    layout: Layout,
}

impl Geometry {
    /// The block's layout for slots of `T`; an error when it does not fit the address space.
    /// `owned`: with a holder word per reader slot (rings in a region).
    pub(crate) fn of<T>(
        capacity: usize,
        max_readers: usize,
        multi: bool,
        owned: bool,
    ) -> Result<Self, BuildError> {
        type Slot<T> = UnsafeCell<MaybeUninit<T>>;
        Self::of_raw(
            std::mem::size_of::<Slot<T>>(),
            std::mem::align_of::<Slot<T>>(),
            capacity,
            max_readers,
            multi,
            owned,
        )
    }

    /// Bytes the block takes.
    pub(crate) fn size(&self) -> usize {
        self.layout.size()
    }
}

/// A ring's block: where it is, and who frees it.
pub(crate) struct Block {
    base: NonNull<u8>,
    geometry: Geometry,
    /// Frees the memory (the heap) or keeps it mapped (a region), once the ring is dropped.
    owner: Owner,
}

enum Owner {
    /// Allocated here with `geometry.layout`; freed by the block.
    Heap,
    /// Part of a mapping kept alive by this handle (or by its caller).
    #[allow(dead_code)] // held, never read: it keeps the mapping alive
    Mapped(Option<crate::sync::StdArc<dyn Send + Sync>>),
}

impl Block {
    /// A heap block for slots of `T`, initialised.
    pub(crate) fn allocate<T>(geometry: Geometry) -> Result<Self, BuildError> {
        let failed = BuildError::AllocationFailed {
            bytes: geometry.capacity.saturating_mul(std::mem::size_of::<T>()),
        };
        if geometry.size() == 0 {
            return Err(failed);
        }
        // SAFETY: the layout has a non-zero size (checked above).
        let base = unsafe { std::alloc::alloc(geometry.layout) };
        let base = NonNull::new(base).ok_or(failed)?;
        let block = Self {
            base,
            geometry,
            owner: Owner::Heap,
        };
        // SAFETY: the memory is fresh, sized and aligned by `geometry`, and no one else has it.
        unsafe { block.initialise::<T>() };
        Ok(block)
    }

    /// A block at `base` in a mapping, for `geometry`; `owner` keeps the mapping alive (none: the
    /// caller does, for as long as the block is used).
    ///
    /// # Safety
    /// `base` is aligned for the header and valid for `geometry.size()` bytes while the block
    /// (or `owner`) lives; the memory holds an initialised block of this geometry, or is
    /// initialised with [`initialise`](Self::initialise) before any use.
    #[cfg_attr(ringgroup_loom, allow(dead_code))] // regions are not built under loom
    pub(crate) unsafe fn mapped(
        base: NonNull<u8>,
        geometry: Geometry,
        owner: Option<crate::sync::StdArc<dyn Send + Sync>>,
    ) -> Self {
        Self {
            base,
            geometry,
            owner: Owner::Mapped(owner),
        }
    }

    /// Writes every control word, cursor and stamp (and, under loom, every slot cell).
    ///
    /// # Safety
    /// The block's memory is valid for `geometry`, and no one reads it until this returns.
    #[allow(clippy::extra_unused_type_parameters)] // `T` types the slot cells under loom
    pub(crate) unsafe fn initialise<T>(&self) {
        let g = self.geometry;
        // SAFETY: each target below lies in the block at the offset `geometry` computed for it,
        // aligned for its type, and is written once before any use.
        unsafe {
            self.header_ptr()
                .as_ptr()
                .write(Header::new(g.capacity as u64, g.multi));
            let readers = self.readers_ptr().as_ptr();
            for i in 0..g.max_readers {
                readers.add(i).write(Cursor::new(super::shared::FREE));
            }
            if let Some(owners) = self.owners_ptr() {
                for i in 0..=g.max_readers {
                    owners.as_ptr().add(i).write(AtomicU64::new(0));
                }
            }
            if let Some(stamps) = self.stamps_ptr() {
                for i in 0..g.capacity {
                    stamps.as_ptr().add(i).write(AtomicU64::new(0));
                }
            }
            // Outside loom a slot cell is `MaybeUninit` in a transparent cell: any bytes are a
            // valid (uninitialised) slot, so there is nothing to write.
            #[cfg(ringgroup_loom)]
            {
                let slots = self.all_slots_ptr::<T>().as_ptr();
                for i in 0..g.capacity + 2 * g.pad {
                    slots.add(i).write(UnsafeCell::new(MaybeUninit::uninit()));
                }
            }
        }
    }

    pub(crate) fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    pub(crate) fn header_ptr(&self) -> NonNull<Header> {
        self.base.cast()
    }

    pub(crate) fn readers_ptr(&self) -> NonNull<Cursor> {
        // SAFETY: `readers` is an offset inside the block.
        unsafe { self.base.add(self.geometry.readers).cast() }
    }

    /// The holder words (one per reader slot, then the reclaim count) of an owned block.
    pub(crate) fn owners_ptr(&self) -> Option<NonNull<AtomicU64>> {
        // SAFETY: `owners` is an offset inside the block.
        self.geometry
            .owned
            .then(|| unsafe { self.base.add(self.geometry.owners).cast() })
    }

    pub(crate) fn stamps_ptr(&self) -> Option<NonNull<AtomicU64>> {
        // SAFETY: `stamps` is an offset inside the block.
        self.geometry
            .multi
            .then(|| unsafe { self.base.add(self.geometry.stamps).cast() })
    }

    /// The whole slot array, pads included.
    fn all_slots_ptr<T>(&self) -> NonNull<UnsafeCell<MaybeUninit<T>>> {
        // SAFETY: `slots` is an offset inside the block.
        unsafe { self.base.add(self.geometry.slots).cast() }
    }

    /// The `capacity` slots in use.
    pub(crate) fn slots_ptr<T>(&self) -> NonNull<UnsafeCell<MaybeUninit<T>>> {
        // SAFETY: the pad lies inside the slot array.
        unsafe { self.all_slots_ptr::<T>().add(self.geometry.pad) }
    }
}

impl Block {
    /// Drops the block's words (state under loom), and frees a heap block. Messages are the
    /// ring's to drop first.
    ///
    /// # Safety
    /// No handle uses the block any more, and it is dropped once.
    #[allow(clippy::extra_unused_type_parameters)] // `T` types the slot cells under loom
    pub(crate) unsafe fn release<T>(&mut self) {
        if !matches!(self.owner, Owner::Heap) {
            return;
        }
        let g = self.geometry;
        // SAFETY: every word was written by `initialise` and is dropped once, here; then the
        // memory goes back with the layout it was allocated with.
        unsafe {
            std::ptr::drop_in_place(self.header_ptr().as_ptr());
            for i in 0..g.max_readers {
                std::ptr::drop_in_place(self.readers_ptr().as_ptr().add(i));
            }
            if let Some(owners) = self.owners_ptr() {
                for i in 0..=g.max_readers {
                    std::ptr::drop_in_place(owners.as_ptr().add(i));
                }
            }
            if let Some(stamps) = self.stamps_ptr() {
                for i in 0..g.capacity {
                    std::ptr::drop_in_place(stamps.as_ptr().add(i));
                }
            }
            #[cfg(ringgroup_loom)]
            for i in 0..g.capacity + 2 * g.pad {
                std::ptr::drop_in_place(self.all_slots_ptr::<T>().as_ptr().add(i));
            }
            std::alloc::dealloc(self.base.as_ptr(), g.layout);
        }
    }
}

impl Geometry {
    /// [`of`](Self::of) for a slot cell known only by its size and alignment, as a region's
    /// header records a message type's (see `shm::layout`; outside loom a slot cell is the
    /// message's bytes).
    pub(crate) fn of_raw(
        size: usize,
        align: usize,
        capacity: usize,
        max_readers: usize,
        multi: bool,
        owned: bool,
    ) -> Result<Self, BuildError> {
        let pad = if size == 0 {
            0
        } else {
            SLOT_PAD_BYTES.div_ceil(size)
        };
        let too_large = || BuildError::AllocationFailed {
            bytes: capacity.saturating_mul(size.max(1)),
        };
        let words = |count: usize| Layout::array::<AtomicU64>(count).map_err(|_| too_large());
        let (layout, readers) = Layout::new::<Header>()
            .extend(Layout::array::<Cursor>(max_readers).map_err(|_| too_large())?)
            .map_err(|_| too_large())?;
        let (layout, owners) = layout
            .extend(words(if owned { max_readers + 1 } else { 0 })?)
            .map_err(|_| too_large())?;
        let (layout, stamps) = layout
            .extend(words(if multi { capacity } else { 0 })?)
            .map_err(|_| too_large())?;
        let slots_len = capacity.checked_add(2 * pad).ok_or_else(too_large)?;
        let slots_bytes = size.checked_mul(slots_len).ok_or_else(too_large)?;
        let (layout, slots) = layout
            .extend(Layout::from_size_align(slots_bytes, align).map_err(|_| too_large())?)
            .map_err(|_| too_large())?;
        Ok(Self {
            capacity,
            max_readers,
            multi,
            owned,
            pad,
            readers,
            owners,
            stamps,
            slots,
            layout: layout.pad_to_align(),
        })
    }
}

/// Where each part starts, for a region's layout description (see `shm::layout`).
#[cfg(not(ringgroup_loom))]
impl Geometry {
    /// Where the reader cursors start in the block.
    pub(crate) fn readers_offset(&self) -> usize {
        self.readers
    }

    /// Where the holder words start in an owned block.
    pub(crate) fn owners_offset(&self) -> Option<usize> {
        self.owned.then_some(self.owners)
    }

    /// Where the stamps start in a multi-producer block.
    pub(crate) fn stamps_offset(&self) -> Option<usize> {
        self.multi.then_some(self.stamps)
    }

    /// Where the slot array (its front pad included) starts in the block.
    pub(crate) fn slot_array_offset(&self) -> usize {
        self.slots
    }
}

/// Bytes from one reader cursor to the next; a cursor's word is at its start.
#[cfg(not(ringgroup_loom))]
pub(crate) fn reader_stride() -> usize {
    std::mem::size_of::<Cursor>()
}

/// Every word of a ring's control block (`Header`), by offset in the block, measured on a real
/// header (see `shm::layout`). A cursor's word is at its start.
#[cfg(not(ringgroup_loom))]
pub(crate) fn header_fields() -> Vec<crate::shm::layout::Field> {
    use crate::shm::layout::Field;

    let header = Box::new(Header::new(1, true));
    let base = std::ptr::from_ref(&*header).addr();
    let at = |word: *const u8| word.addr() - base;
    let mut fields = vec![
        Field::of::<AtomicU64>(
            "published",
            at(std::ptr::from_ref(&header.published).cast()),
        ),
        Field::of::<AtomicU64>(
            "write_limit",
            at(std::ptr::from_ref(&header.write_limit).cast()),
        ),
        Field::of::<AtomicU64>(
            "readers_high",
            at(std::ptr::from_ref(&*header.readers_high).cast()),
        ),
        Field::of::<AtomicU32>("closed", at(std::ptr::from_ref(&*header.closed).cast())),
    ];
    for (name, signal) in [
        ("data_signal", &*header.data_signal),
        ("space_signal", &*header.space_signal),
    ] {
        let signal_at = at(std::ptr::from_ref(signal).cast());
        fields.extend(
            Signal::fields()
                .into_iter()
                .map(|field| field.within(name, signal_at)),
        );
    }
    let multi = &header.multi;
    for (name, word) in [
        ("head", &*multi.head),
        ("limit", &*multi.limit),
        ("producers", &*multi.producers),
        ("tombstones", &*multi.tombstones),
    ] {
        fields.push(Field::of::<AtomicU64>(
            name,
            at(std::ptr::from_ref(word).cast()),
        ));
    }
    for (i, claimer) in multi.claimers.iter().enumerate() {
        let claimer_at = at(std::ptr::from_ref(claimer).cast());
        let prefix = format!("claimer[{i}]");
        fields.extend(
            super::claimers::Claimer::fields()
                .into_iter()
                .map(|field| field.within(&prefix, claimer_at)),
        );
    }
    fields
}

#[cfg(all(test, not(ringgroup_loom)))]
mod layout_tests {
    use super::*;

    #[test]
    fn of_raw_lays_out_a_block_as_of_does() {
        #[repr(align(128))]
        struct Wide(#[allow(dead_code)] [u8; 200]);
        fn same<T>(capacity: usize, readers: usize, multi: bool, owned: bool) {
            let raw = Geometry::of_raw(
                std::mem::size_of::<T>(),
                std::mem::align_of::<T>(),
                capacity,
                readers,
                multi,
                owned,
            );
            assert_eq!(raw, Geometry::of::<T>(capacity, readers, multi, owned));
        }
        for (multi, owned) in [(false, false), (false, true), (true, false), (true, true)] {
            same::<u8>(8, 3, multi, owned);
            same::<u64>(64, 1, multi, owned);
            same::<[u8; 24]>(16, 5, multi, owned);
            same::<Wide>(4, 2, multi, owned);
            same::<()>(2, 1, multi, owned);
        }
    }

    #[test]
    fn a_cursors_word_is_at_its_start() {
        let cursor = Cursor::new(0x0123_4567_89ab_cdef);
        // SAFETY: a cursor is at least 8 bytes long and 8-aligned; no one writes it meanwhile.
        let first = unsafe { std::ptr::from_ref(&cursor).cast::<u64>().read() };
        assert_eq!(first, 0x0123_4567_89ab_cdef);
    }

    #[test]
    fn the_header_words_lie_apart_inside_the_header() {
        let mut fields = header_fields();
        fields.sort_by_key(|field| field.offset);
        let mut end = 0;
        for field in &fields {
            assert!(field.offset >= end, "{field:?} overlaps");
            assert_eq!(field.offset % field.size, 0, "{field:?} is aligned");
            end = field.offset + field.size;
        }
        assert!(end <= std::mem::size_of::<Header>());
        // published, write_limit, readers_high, closed, two signals of two words, four
        // multi-producer words, two per claimer record.
        assert_eq!(
            fields.len(),
            4 + 4 + 4 + 2 * super::super::claimers::CLAIMERS
        );
    }
}
