//! A named shared-memory region holding a topic: a header, then every partition's ring block.
//!
//! # Layout
//!
//! ```text
//! RegionHeader (one page) | group registry (pages) | extra (pages) | ring 0 | ring 1 | ...
//! ```
//!
//! Ring `i` is at `rings_offset + i * ring_stride`; the group registry (see `groups`) holds
//! `max_groups` entries. The extra area is zeroed bytes the layers above lay out themselves
//! (a request topic's producer-group directory, a reply region's member table); the header
//! records its length.
//!
//! The header holds the magic, the layout version, the message type's fingerprint (size,
//! alignment, type name and a hash of the whole name), the geometry, the creator's and the producer's process ids, and a
//! `state` word set to `READY` last, with `Release`, once every ring block is written.
//!
//! # Creating and opening
//!
//! The creator makes the file exclusively, owner-only (or with the mode it asks for) whatever
//! the umask (see `access`), sizes it and reserves its memory with `posix_fallocate` (so a full
//! `/dev/shm` is an error now, not a `SIGBUS` later), maps it, writes every ring, then the
//! header's `state`. An opener opens the file without following a symbolic link and checks its
//! kind, owner and mode (see `access`), then its size before it maps anything past the header,
//! then every header field, and gets a typed error for each mismatch: another layout version,
//! another message type, other geometry, a file shorter than its header says, a corrupt header,
//! or a creator that died before finishing. Reply regions (companion files) are created and
//! opened by the same code, with the mode and the checks of their request region.
//!
//! # Truncation
//!
//! The size check protects only the open. A region file truncated *while* processes map it
//! (by `truncate`, or another program writing the file) makes every process touching a page
//! past the new end fault with `SIGBUS`: no user-space check can catch that. The file's mode
//! and owner (see `access`) decide who can do it.
//!
//! # Removing
//!
//! [`remove`] takes a name (checked as every region name is, see `name`) and unlinks only
//! regular files in [`DEFAULT_DIR`]: the region's file and its reply regions.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use memmap2::{MmapMut, MmapOptions};

use super::access::{self, RegionOptions};
use super::error::RegionError;
use super::groups::{self, Registry};
use super::name;
use super::process::OwnerWord;
use super::{Boundary, Corruption, Poison};
use crate::ring::block::{Block, Geometry};
use crate::sync::{AtomicU32, Ordering, StdArc};

const MAGIC: [u8; 8] = *b"RNGGRP\0\x01";
/// The region layout this build writes and reads.
pub const LAYOUT_VERSION: u32 = 5;
const READY: u32 = 1;
const PAGE: usize = 4096;
const TYPE_NAME: usize = 128;
/// How long an opener waits for a live creator to finish initialising.
const INIT_WAIT: Duration = Duration::from_secs(5);

/// The default directory of named regions.
pub const DEFAULT_DIR: &str = "/dev/shm";

/// The file of region `name` in [`DEFAULT_DIR`]: `/dev/shm/ringgroup_<name>`. The name is not
/// checked here; [`remove`], [`Topic::open`](crate::Topic::open) and
/// [`TopicBuilder::shared_memory`](crate::TopicBuilder::shared_memory) refuse the names that are
/// not regions' ([`RegionError::BadName`]).
///
/// # Examples
///
/// ```
/// use ringgroup::shm::default_path;
///
/// assert_eq!(default_path("orders"), std::path::Path::new("/dev/shm/ringgroup_orders"));
/// ```
pub fn default_path(name: &str) -> PathBuf {
    Path::new(DEFAULT_DIR).join(name::file_name(name))
}

/// Removes shared-memory region `name`: its file under [`DEFAULT_DIR`], and the reply regions
/// of its producer groups beside it. Processes that have it mapped keep their mapping; new
/// ones can no longer open it.
///
/// Only regular files are removed, and only in [`DEFAULT_DIR`]: a name that is not a region's
/// is [`RegionError::BadName`] and removes nothing; a symbolic link or another kind of file
/// under the region's name is [`RegionError::Symlink`] or [`RegionError::NotRegularFile`] and is
/// left, with the reply regions. A region whose file is gone already is
/// [`RegionError::NotFound`], once any reply regions left behind are removed.
///
/// # Examples
///
/// ```
/// use ringgroup::shm::{remove, RegionError};
///
/// assert_eq!(remove("x/../../../tmp/victim"), Err(RegionError::BadName));
/// let name = format!("doc-remove-{}", std::process::id());
/// assert!(matches!(remove(&name), Err(RegionError::NotFound { .. })));
/// ```
pub fn remove(name: &str) -> Result<(), RegionError> {
    name::check(name)?;
    let path = default_path(name);
    let removed = access::remove_regular(&path);
    if matches!(removed, Ok(()) | Err(RegionError::NotFound { .. })) {
        remove_companions(&path);
    }
    removed
}

/// The file of a request region's producer group `index` of incarnation `incarnation` (its reply
/// region), beside it: `<file>.replies-<index>-<incarnation, 16 hex digits>`. `BadName` if
/// that name does not fit the filesystem (a region at a path of the caller's can have any name).
pub(crate) fn reply_companion(
    path: &Path,
    index: usize,
    incarnation: u64,
) -> Result<PathBuf, RegionError> {
    let file = path.file_name().ok_or(RegionError::BadName)?;
    Ok(path.with_file_name(name::reply_file_name(file, index, incarnation)?))
}

/// Removes every companion file of region `path` that is a regular file (best effort).
fn remove_companions(path: &Path) {
    let (Some(dir), Some(file)) = (path.parent(), path.file_name()) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        // `file_type` does not follow a symbolic link.
        let regular = entry.file_type().is_ok_and(|kind| kind.is_file());
        if regular && name::is_reply_file_name(file, &entry.file_name()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// What a region holds, as its header records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    pub(crate) partitions: u32,
    pub(crate) capacity: usize,
    pub(crate) max_groups: usize,
    pub(crate) multi: bool,
    pub(crate) strategy: u64,
    pub(crate) partitioner: u64,
    /// Bytes of the extra area (rounded up to pages in the file).
    pub(crate) extra: usize,
}

/// The region header (the first page of the file). Plain words and atomics only.
#[repr(C)]
struct RegionHeader {
    magic: [u8; 8],
    version: u32,
    /// `READY` once the creator has written everything.
    state: AtomicU32,
    creator: OwnerWord,
    type_size: u64,
    type_align: u64,
    type_name_len: u64,
    type_name: [u8; TYPE_NAME],
    partitions: u64,
    capacity: u64,
    max_groups: u64,
    multi: u64,
    strategy: u64,
    partitioner: u64,
    ring_stride: u64,
    rings_offset: u64,
    total_size: u64,
    /// The process holding a single-producer topic's producer.
    producer: OwnerWord,
    /// The group registry's lock.
    groups_lock: OwnerWord,
    groups_offset: u64,
    /// The creator's pid namespace (the inode of `/proc/self/ns/pid`; 0 if unknown): process
    /// identities mean something only inside one namespace.
    pid_namespace: u64,
    /// The extra area's length in bytes; it starts after the group registry's pages.
    extra_len: u64,
    /// A hash (FNV-1a) of the whole type name, which `type_name` may hold only the start of.
    type_name_hash: u64,
    /// A hash (FNV-1a) of every field above that never changes once the creator wrote it (see
    /// [`fixed_bytes`]): one forged geometry word cannot pass for another region's.
    checksum: u64,
}

/// The header's fields that never change once the creator wrote them, as byte ranges: all but
/// the words processes take and give back (`state`, `creator`, `producer`, `groups_lock`) and
/// the checksum itself.
fn fixed_ranges() -> [std::ops::Range<usize>; 3] {
    use std::mem::offset_of;
    [
        0..offset_of!(RegionHeader, state),
        offset_of!(RegionHeader, type_size)..offset_of!(RegionHeader, producer),
        offset_of!(RegionHeader, groups_offset)..offset_of!(RegionHeader, checksum),
    ]
}

/// The checksum of a header's fixed fields, read from `bytes` (its page, or a copy of it).
fn fixed_checksum(bytes: impl Fn(std::ops::Range<usize>) -> Vec<u8>) -> u64 {
    let fixed: Vec<u8> = fixed_ranges().into_iter().flat_map(bytes).collect();
    name_hash(&fixed)
}

/// The checksum of the fixed fields of the header at `header`.
///
/// # Safety
/// `header` points at a region header in a live mapping.
unsafe fn header_checksum(header: *const RegionHeader) -> u64 {
    fixed_checksum(|range| {
        // SAFETY: the range lies inside the header (the caller's contract), and holds only
        // plain fields that no process writes once the region is ready.
        unsafe {
            std::slice::from_raw_parts(header.cast::<u8>().add(range.start), range.len()).to_vec()
        }
    })
}

const _: () = assert!(std::mem::size_of::<RegionHeader>() <= PAGE);

/// A mapped region.
pub(crate) struct Region {
    map: MmapMut,
    path: PathBuf,
    shape: Shape,
    /// Each ring's geometry (for the message type the region was made or opened for).
    geometry: Geometry,
    ring_stride: usize,
    rings_offset: usize,
    /// This process's verdict on the region: poisoned once any handle finds a word that cannot
    /// be true (see `trust`).
    poison: StdArc<Poison>,
    /// The mode the region's companions are created with: its file's, owner read-write kept.
    mode: u32,
    /// The checks the region's companions are opened with: the ones its own file passed.
    options: RegionOptions,
}

impl std::fmt::Debug for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Region")
            .field("path", &self.path)
            .field("shape", &self.shape)
            .field("mode", &format_args!("{:04o}", self.mode))
            .field("options", &self.options)
            .finish()
    }
}

/// FNV-1a (64 bits) of `bytes`.
fn name_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The fingerprint of `T`: size, alignment, type name.
fn fingerprint<T>() -> (u64, u64, &'static str) {
    (
        std::mem::size_of::<T>() as u64,
        std::mem::align_of::<T>() as u64,
        std::any::type_name::<T>(),
    )
}

fn stride(geometry: &Geometry) -> usize {
    geometry.size().div_ceil(PAGE) * PAGE
}

/// Where the extra area starts: after the header page and the group registry's pages.
fn extra_offset_of(shape: &Shape) -> Option<usize> {
    let registry = shape
        .max_groups
        .checked_mul(groups::entry_stride(shape.partitions))?;
    Some(PAGE + registry.div_ceil(PAGE) * PAGE)
}

/// Where the rings start: after the extra area's pages.
fn rings_offset_of(shape: &Shape) -> Option<usize> {
    extra_offset_of(shape)?.checked_add(shape.extra.checked_next_multiple_of(PAGE)?)
}

impl Region {
    /// Creates region `path` for a topic of `T` of `shape`, with every ring initialised, its
    /// file's permissions exactly `mode` (checked by the caller) whatever the umask.
    pub(crate) fn create<T>(
        path: &Path,
        shape: Shape,
        mode: u32,
    ) -> Result<StdArc<Self>, RegionError> {
        let geometry = Geometry::of::<T>(shape.capacity, shape.max_groups, shape.multi, true)
            .map_err(RegionError::Ring)?;
        let ring_stride = stride(&geometry);
        let rings_offset = rings_offset_of(&shape).ok_or(RegionError::TooLarge)?;
        let total = (shape.partitions as usize)
            .checked_mul(ring_stride)
            .and_then(|rings| rings.checked_add(rings_offset))
            .ok_or(RegionError::TooLarge)?;
        let file = access::create_exclusive(path, mode)?;
        // Removed again if anything below fails, so a failed create leaves no half region.
        let cleanup = RemoveOnError(path);
        access::set_mode(&file, path, mode)?;
        file.set_len(total as u64)
            .map_err(|e| RegionError::from_io(path, "size", e))?;
        reserve(&file, total).map_err(|e| match e.kind() {
            io::ErrorKind::StorageFull | io::ErrorKind::OutOfMemory => {
                RegionError::NoSpace { bytes: total }
            }
            _ => RegionError::from_io(path, "reserve", e),
        })?;
        // SAFETY: the file is ours, sized to `total`; no one truncates it while mapped (the
        // region's users only ever open it).
        let map = unsafe { MmapOptions::new().len(total).map_mut(&file) }
            .map_err(|e| RegionError::from_io(path, "map", e))?;
        let region = Region {
            map,
            path: path.to_path_buf(),
            shape: shape.clone(),
            geometry,
            ring_stride,
            rings_offset,
            poison: StdArc::new(Poison::new()),
            mode: mode | 0o600,
            options: RegionOptions::of_creator(mode),
        };
        // SAFETY: the mapping is fresh and zeroed, at least a page long, and page-aligned.
        let header = unsafe { &mut *(region.map.as_ptr() as *mut RegionHeader) };
        let (size, align, name) = fingerprint::<T>();
        header.magic = MAGIC;
        header.version = LAYOUT_VERSION;
        header.creator = OwnerWord::free();
        let _ = header.creator.acquire();
        header.type_size = size;
        header.type_align = align;
        let name = name.as_bytes();
        let len = name.len().min(TYPE_NAME);
        header.type_name[..len].copy_from_slice(&name[..len]);
        header.type_name_len = len as u64;
        header.type_name_hash = name_hash(name);
        header.partitions = u64::from(shape.partitions);
        header.capacity = shape.capacity as u64;
        header.max_groups = shape.max_groups as u64;
        header.multi = u64::from(shape.multi);
        header.strategy = shape.strategy;
        header.partitioner = shape.partitioner;
        header.ring_stride = ring_stride as u64;
        header.rings_offset = rings_offset as u64;
        header.total_size = total as u64;
        header.producer = OwnerWord::free();
        header.groups_lock = OwnerWord::free();
        header.groups_offset = PAGE as u64;
        header.pid_namespace = pid_namespace();
        header.extra_len = shape.extra as u64;
        // SAFETY: `header` is the fresh mapping's header, written above.
        header.checksum = unsafe { header_checksum(header) };
        // SAFETY: the registry's pages lie in the fresh mapping, between the header and the
        // rings; no one else has the region yet.
        unsafe {
            groups::initialise(
                region.map.as_ptr().add(PAGE).cast_mut(),
                shape.max_groups,
                shape.partitions,
            )
        };
        for partition in 0..shape.partitions {
            let block = region.block(partition, None);
            // SAFETY: the block's memory lies in the mapping, zeroed, and no one else has the
            // region until `state` says it is ready.
            unsafe { block.initialise::<T>() };
        }
        // Release: pairs with the opener's Acquire in `open`; every ring is written first.
        header.state.store(READY, Ordering::Release);
        cleanup.disarm();
        Ok(StdArc::new(region))
    }

    /// Opens region `path`, checking its file against `options` and that it holds a topic of
    /// `T`.
    pub(crate) fn open<T>(
        path: &Path,
        options: &RegionOptions,
    ) -> Result<StdArc<Self>, RegionError> {
        let access::Checked { file, size, mode } = access::open_checked(path, options)?;
        let size = usize::try_from(size).map_err(|_| RegionError::TooLarge)?;
        if size < PAGE {
            return Err(RegionError::Truncated {
                size,
                expected: PAGE,
            });
        }
        // SAFETY: the file is at least `size` long now; mapping exactly that never reaches past
        // its end (a region's users never truncate it).
        let map = unsafe { MmapOptions::new().len(size).map_mut(&file) }
            .map_err(|e| RegionError::from_io(path, "map", e))?;
        // SAFETY: the mapping is at least a page long and page-aligned.
        let header = unsafe { &*(map.as_ptr() as *const RegionHeader) };
        if header.magic != MAGIC {
            return Err(RegionError::NotARegion);
        }
        if header.version != LAYOUT_VERSION {
            return Err(RegionError::Version {
                found: header.version,
                expected: LAYOUT_VERSION,
            });
        }
        wait_ready(header)?;
        let here = pid_namespace();
        if header.pid_namespace != 0 && here != 0 && header.pid_namespace != here {
            return Err(RegionError::OtherPidNamespace);
        }
        // SAFETY: `header` is the mapping's header, ready.
        if header.checksum != unsafe { header_checksum(header) } {
            return Err(RegionError::Corrupt {
                what: "header checksum",
            });
        }
        let (size_t, align_t, name_t) = fingerprint::<T>();
        let name_len = (header.type_name_len as usize).min(TYPE_NAME);
        let found_name = String::from_utf8_lossy(&header.type_name[..name_len]).into_owned();
        let expected_name = &name_t[..name_t.len().min(TYPE_NAME)];
        if header.type_size != size_t
            || header.type_align != align_t
            || found_name != expected_name
            || header.type_name_hash != name_hash(name_t.as_bytes())
        {
            return Err(RegionError::TypeMismatch {
                expected: format!("{name_t} ({size_t} bytes, align {align_t})"),
                found: format!(
                    "{found_name} ({} bytes, align {})",
                    header.type_size, header.type_align
                ),
            });
        }
        let shape = Shape {
            partitions: u32::try_from(header.partitions).map_err(|_| RegionError::Corrupt {
                what: "partition count",
            })?,
            capacity: header.capacity as usize,
            max_groups: header.max_groups as usize,
            multi: header.multi == 1,
            strategy: header.strategy,
            partitioner: header.partitioner,
            extra: usize::try_from(header.extra_len)
                .map_err(|_| RegionError::Corrupt { what: "extra area" })?,
        };
        if shape.partitions == 0
            || shape.partitions > crate::topic::MAX_PARTITIONS
            || !shape.capacity.is_power_of_two()
            || header.multi > 1
        {
            return Err(RegionError::Corrupt { what: "geometry" });
        }
        let geometry = Geometry::of::<T>(shape.capacity, shape.max_groups, shape.multi, true)
            .map_err(|_| RegionError::Corrupt { what: "geometry" })?;
        let ring_stride = stride(&geometry);
        let rings_offset = rings_offset_of(&shape).ok_or(RegionError::Corrupt { what: "size" })?;
        let total = (shape.partitions as usize)
            .checked_mul(ring_stride)
            .and_then(|rings| rings.checked_add(rings_offset))
            .ok_or(RegionError::Corrupt { what: "size" })?;
        if header.ring_stride != ring_stride as u64
            || header.rings_offset != rings_offset as u64
            || header.groups_offset != PAGE as u64
            || header.total_size != total as u64
        {
            return Err(RegionError::Corrupt { what: "layout" });
        }
        if size < total {
            return Err(RegionError::Truncated {
                size,
                expected: total,
            });
        }
        Ok(StdArc::new(Region {
            map,
            path: path.to_path_buf(),
            shape,
            geometry,
            ring_stride,
            rings_offset,
            poison: StdArc::new(Poison::new()),
            mode: mode | 0o600,
            options: *options,
        }))
    }

    fn header(&self) -> &RegionHeader {
        // SAFETY: the mapping starts with a header, written before `state` was set.
        unsafe { &*(self.map.as_ptr() as *const RegionHeader) }
    }

    pub(crate) fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The owner word of a single-producer topic's producer.
    pub(crate) fn producer_owner(&self) -> &OwnerWord {
        &self.header().producer
    }

    /// The group registry, locked until the returned value is dropped; `Err` once the region
    /// is poisoned for this process (see `trust`).
    pub(crate) fn groups(&self) -> Result<Registry<'_>, Corruption> {
        self.poison.check()?;
        // SAFETY: `create` laid the registry out at `PAGE`, and `create`/`open` checked that
        // it lies in the mapping, which lives as long as `self`.
        Ok(unsafe {
            Registry::lock(
                &self.header().groups_lock,
                &self.poison,
                self.map.as_ptr().add(PAGE),
                self.shape.max_groups,
                self.shape.partitions,
            )
        })
    }

    /// The extra area: `shape().extra` zeroed (at creation) bytes, page-aligned, in the
    /// mapping for as long as `self` lives.
    pub(crate) fn extra(&self) -> std::ptr::NonNull<u8> {
        // `create`/`open` checked that the area lies in the mapping.
        let offset = extra_offset_of(&self.shape).unwrap_or(PAGE);
        // SAFETY: the offset lies inside the mapping (checked at create/open), which is not
        // null.
        unsafe { std::ptr::NonNull::new_unchecked(self.map.as_ptr().add(offset).cast_mut()) }
    }

    /// This process's poison of the region (see `trust`).
    pub(crate) fn poison(&self) -> &Poison {
        &self.poison
    }

    /// What partition `partition`'s ring checks its words with (see `trust`).
    pub(crate) fn boundary(&self, partition: u32) -> Boundary {
        Boundary::new(self.poison.clone(), partition)
    }

    /// The region's file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The mode to create the region's companions (reply regions) with.
    pub(crate) fn mode(&self) -> u32 {
        self.mode
    }

    /// The checks to open the region's companions (reply regions) with.
    pub(crate) fn options(&self) -> &RegionOptions {
        &self.options
    }

    /// Group entry `entry`'s plan generation, read without the registry lock.
    pub(crate) fn group_generation(&self, entry: usize) -> u64 {
        debug_assert!(entry < self.shape.max_groups);
        // SAFETY: as in `groups`; `entry` is one of the registry's entries.
        unsafe {
            groups::generation(
                &self.poison,
                self.map.as_ptr().add(PAGE),
                entry.min(self.shape.max_groups.saturating_sub(1)),
                self.shape.max_groups,
                self.shape.partitions,
            )
        }
    }

    /// Partition `partition`'s ring block; `owner` keeps the mapping alive while it lives.
    fn block(&self, partition: u32, owner: Option<StdArc<Region>>) -> Block {
        let offset = self.rings_offset + partition as usize * self.ring_stride;
        // SAFETY: `create`/`open` checked that every ring's block lies inside the mapping, so
        // the offset is in it (and page-aligned: `rings_offset` and `ring_stride` are pages).
        let base =
            unsafe { std::ptr::NonNull::new_unchecked(self.map.as_ptr().add(offset).cast_mut()) };
        // SAFETY: as above; the block is used only while `owner` (or, for the creator's
        // initialisation, the region itself) keeps the mapping.
        unsafe {
            Block::mapped(
                base,
                self.geometry,
                owner.map(|r| r as StdArc<dyn Send + Sync>),
            )
        }
    }

    /// Partition `partition`'s ring block, keeping the mapping alive.
    pub(crate) fn ring(self: &StdArc<Self>, partition: u32) -> Block {
        self.block(partition, Some(self.clone()))
    }
}

/// Waits (a bounded time) for the creator to finish; an error if it died first.
fn wait_ready(header: &RegionHeader) -> Result<(), RegionError> {
    let deadline = Instant::now() + INIT_WAIT;
    loop {
        // Acquire: pairs with the creator's Release store of `state`.
        if header.state.load(Ordering::Acquire) == READY {
            return Ok(());
        }
        match header.creator.holder() {
            Some(creator) if creator.is_alive_low() => {}
            creator => return Err(RegionError::CreatorDied { creator }),
        }
        if Instant::now() >= deadline {
            return Err(RegionError::NotReady);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// This process's pid namespace: the inode of `/proc/self/ns/pid`, 0 if it cannot be read.
fn pid_namespace() -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/ns/pid").map_or(0, |m| m.ino())
}

/// Reserves the file's memory now (tmpfs: the pages), so a full device fails here.
fn reserve(file: &File, len: usize) -> io::Result<()> {
    rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, len as u64)
        .map_err(io::Error::from)
}

/// Removes a half-made region file unless disarmed.
struct RemoveOnError<'a>(&'a Path);

impl RemoveOnError<'_> {
    fn disarm(self) {
        std::mem::forget(self);
    }
}

impl Drop for RemoveOnError<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.0);
    }
}

/// A region's header as its file records it, checked by [`inspect`].
#[derive(Clone, Debug)]
pub(crate) struct Inspected {
    pub(crate) shape: Shape,
    pub(crate) type_size: usize,
    pub(crate) type_align: usize,
    /// The type name's recorded bytes (at most `TYPE_NAME`), lossily as text.
    pub(crate) type_name: String,
    pub(crate) geometry: Geometry,
    pub(crate) registry_offset: usize,
    pub(crate) extra_offset: usize,
    pub(crate) rings_offset: usize,
    pub(crate) ring_stride: usize,
    /// The file's length as the header records it.
    pub(crate) total: usize,
}

/// Reads region `path`'s header without mapping the file or knowing its message type (see
/// `shm::layout`), and checks it as `Region::open` does, the type aside: a typed error for a
/// file that is not a whole, ready region of this layout version.
pub(crate) fn inspect(path: &Path) -> Result<Inspected, RegionError> {
    use std::mem::offset_of;
    use std::os::unix::fs::FileExt;

    let file = File::open(path).map_err(|e| RegionError::from_io(path, "open", e))?;
    let size = file
        .metadata()
        .map_err(|e| RegionError::from_io(path, "stat", e))?
        .len() as usize;
    if size < PAGE {
        return Err(RegionError::Truncated {
            size,
            expected: PAGE,
        });
    }
    let mut page = vec![0_u8; PAGE];
    file.read_exact_at(&mut page, 0)
        .map_err(|e| RegionError::from_io(path, "read", e))?;
    let bytes = |offset: usize, len: usize| &page[offset..offset + len];
    let word = |offset: usize| {
        let mut word = [0; 8];
        word.copy_from_slice(bytes(offset, 8));
        u64::from_ne_bytes(word)
    };
    let half = |offset: usize| {
        let mut half = [0; 4];
        half.copy_from_slice(bytes(offset, 4));
        u32::from_ne_bytes(half)
    };
    if bytes(offset_of!(RegionHeader, magic), MAGIC.len()) != MAGIC {
        return Err(RegionError::NotARegion);
    }
    let version = half(offset_of!(RegionHeader, version));
    if version != LAYOUT_VERSION {
        return Err(RegionError::Version {
            found: version,
            expected: LAYOUT_VERSION,
        });
    }
    if half(offset_of!(RegionHeader, state)) != READY {
        return Err(RegionError::NotReady);
    }
    let corrupt = |what| RegionError::Corrupt { what };
    if word(offset_of!(RegionHeader, checksum)) != fixed_checksum(|range| page[range].to_vec()) {
        return Err(corrupt("header checksum"));
    }
    let type_size = usize::try_from(word(offset_of!(RegionHeader, type_size)))
        .map_err(|_| corrupt("message type"))?;
    let type_align = usize::try_from(word(offset_of!(RegionHeader, type_align)))
        .map_err(|_| corrupt("message type"))?;
    if !type_align.is_power_of_two() || type_size % type_align != 0 {
        return Err(corrupt("message type"));
    }
    let name_len = (word(offset_of!(RegionHeader, type_name_len)) as usize).min(TYPE_NAME);
    let type_name =
        String::from_utf8_lossy(bytes(offset_of!(RegionHeader, type_name), name_len)).into_owned();
    let multi = word(offset_of!(RegionHeader, multi));
    let shape = Shape {
        partitions: u32::try_from(word(offset_of!(RegionHeader, partitions)))
            .map_err(|_| corrupt("partition count"))?,
        capacity: usize::try_from(word(offset_of!(RegionHeader, capacity)))
            .map_err(|_| corrupt("geometry"))?,
        max_groups: usize::try_from(word(offset_of!(RegionHeader, max_groups)))
            .map_err(|_| corrupt("geometry"))?,
        multi: multi == 1,
        strategy: word(offset_of!(RegionHeader, strategy)),
        partitioner: word(offset_of!(RegionHeader, partitioner)),
        extra: usize::try_from(word(offset_of!(RegionHeader, extra_len)))
            .map_err(|_| corrupt("extra area"))?,
    };
    if shape.partitions == 0
        || shape.partitions > crate::topic::MAX_PARTITIONS
        || !shape.capacity.is_power_of_two()
        || multi > 1
    {
        return Err(corrupt("geometry"));
    }
    let geometry = Geometry::of_raw(
        type_size,
        type_align,
        shape.capacity,
        shape.max_groups,
        shape.multi,
        true,
    )
    .map_err(|_| corrupt("geometry"))?;
    let ring_stride = stride(&geometry);
    let extra_offset = extra_offset_of(&shape).ok_or(corrupt("size"))?;
    let rings_offset = rings_offset_of(&shape).ok_or(corrupt("size"))?;
    let total = (shape.partitions as usize)
        .checked_mul(ring_stride)
        .and_then(|rings| rings.checked_add(rings_offset))
        .ok_or(corrupt("size"))?;
    if word(offset_of!(RegionHeader, ring_stride)) != ring_stride as u64
        || word(offset_of!(RegionHeader, rings_offset)) != rings_offset as u64
        || word(offset_of!(RegionHeader, groups_offset)) != PAGE as u64
        || word(offset_of!(RegionHeader, total_size)) != total as u64
    {
        return Err(corrupt("layout"));
    }
    if size < total {
        return Err(RegionError::Truncated {
            size,
            expected: total,
        });
    }
    Ok(Inspected {
        shape,
        type_size,
        type_align,
        type_name,
        geometry,
        registry_offset: PAGE,
        extra_offset,
        rings_offset,
        ring_stride,
        total,
    })
}

/// Every word of the region header (see `shm::layout`): the type name as eight-byte words.
pub(crate) fn header_fields() -> Vec<crate::shm::layout::Field> {
    use crate::shm::layout::Field;
    use std::mem::offset_of;

    let mut fields = vec![
        Field::of::<[u8; 8]>("magic", offset_of!(RegionHeader, magic)),
        Field::of::<u32>("version", offset_of!(RegionHeader, version)),
        Field::of::<AtomicU32>("state", offset_of!(RegionHeader, state)),
        Field::of::<OwnerWord>("creator", offset_of!(RegionHeader, creator)),
        Field::of::<u64>("type_size", offset_of!(RegionHeader, type_size)),
        Field::of::<u64>("type_align", offset_of!(RegionHeader, type_align)),
        Field::of::<u64>("type_name_len", offset_of!(RegionHeader, type_name_len)),
    ];
    let name = offset_of!(RegionHeader, type_name);
    fields.extend(
        (0..TYPE_NAME / 8).map(|i| Field::of::<u64>(format!("type_name[{i}]"), name + 8 * i)),
    );
    fields.extend([
        Field::of::<u64>("partitions", offset_of!(RegionHeader, partitions)),
        Field::of::<u64>("capacity", offset_of!(RegionHeader, capacity)),
        Field::of::<u64>("max_groups", offset_of!(RegionHeader, max_groups)),
        Field::of::<u64>("multi", offset_of!(RegionHeader, multi)),
        Field::of::<u64>("strategy", offset_of!(RegionHeader, strategy)),
        Field::of::<u64>("partitioner", offset_of!(RegionHeader, partitioner)),
        Field::of::<u64>("ring_stride", offset_of!(RegionHeader, ring_stride)),
        Field::of::<u64>("rings_offset", offset_of!(RegionHeader, rings_offset)),
        Field::of::<u64>("total_size", offset_of!(RegionHeader, total_size)),
        Field::of::<OwnerWord>("producer", offset_of!(RegionHeader, producer)),
        Field::of::<OwnerWord>("groups_lock", offset_of!(RegionHeader, groups_lock)),
        Field::of::<u64>("groups_offset", offset_of!(RegionHeader, groups_offset)),
        Field::of::<u64>("pid_namespace", offset_of!(RegionHeader, pid_namespace)),
        Field::of::<u64>("extra_len", offset_of!(RegionHeader, extra_len)),
        Field::of::<u64>("type_name_hash", offset_of!(RegionHeader, type_name_hash)),
        Field::of::<u64>("checksum", offset_of!(RegionHeader, checksum)),
    ]);
    fields
}

/// The group index and incarnation a reply region's file name records
/// (`<file>.replies-<index>-<incarnation, 16 hex digits>`, as [`reply_companion`] names it).
pub(crate) fn parse_reply_companion(name: &str) -> Option<(usize, u64)> {
    let (file, rest) = name.rsplit_once(".replies-")?;
    let (index, incarnation) = rest.split_once('-')?;
    if file.is_empty()
        || !name::is_reply_file_name(std::ffi::OsStr::new(file), std::ffi::OsStr::new(name))
    {
        return None;
    }
    Some((
        index.parse().ok()?,
        u64::from_str_radix(incarnation, 16).ok()?,
    ))
}
