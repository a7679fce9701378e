//! Producer groups of a request topic in shared memory: requesters in any process, consumers in
//! any process, and every reply back to the process that asked.
//!
//! # Layout
//!
//! The request topic's region keeps a *directory* in its extra area: a lock word and up to
//! [`MAX_SHARED_PRODUCER_GROUPS`] entries (state, name, member slots, reply capacity, reply
//! wait, and an *incarnation*: a number drawn when the entry is made). Group `i`'s reply rings
//! are a region of their own beside the topic's file (`<file>.replies-<i>-<incarnation>`): a
//! multi-producer topic of replies with one partition per member slot, whose extra area holds
//! the incarnation again, the group's join lock, its counters and every slot's words
//! (generation, holder process, member id, counters; see `registry::SlotWords`). The
//! incarnation ties the reply region to its entry: a process still mapping a request region
//! that was removed and made again under the same name never opens (or removes) the new
//! region's reply files.
//!
//! # Algorithm
//!
//! Building a group takes the directory lock and finds the entry of its name, or takes a free
//! one: it writes the name, the geometry and a new incarnation, marks the entry `MAKING`,
//! creates the reply region (exclusively) and marks the entry `READY` (`Release`). An entry left
//! `MAKING` was made by a process that died holding the lock (which is broken only once its
//! holder is confirmed dead): the next build removes the file that incarnation names and makes
//! the entry again. A process that replies to group `i` without knowing it reads entry `i`
//! (`Acquire`: `READY`) and opens its reply region, once (a failed open is tried again at most
//! every 100 ms; meanwhile its replies have no route).
//!
//! The directory lock (held while a group is made) and a group's join lock (held while a member
//! takes a slot) are process locks: a process stopped while it holds one (`SIGSTOP`, a
//! debugger) stalls builds and joins until it goes on or dies. Leaving needs no lock.
//!
//! A requester holds its slot by process identity. A slot whose process is confirmed dead is
//! freed by the next join, or by a reply that finds the slot's ring full; the dead requester's
//! reader of its ring is taken back by the writers once the ring is full (see `ring::owners`),
//! so replies to it never block anyone for longer than the group's `reply_wait`.
//!
//! # Invariants
//! - A `READY` entry never changes while the region lives (producer groups are not deleted),
//!   so the group index in a request's route names one group for the region's life.
//! - The region counts one producer of each reply ring for itself, so the rings never close as
//!   processes come and go.

use std::mem::{align_of, size_of};
use std::time::Duration;

use super::error::ProducerGroupError;
use super::message::Reply;
use super::registry::{
    nanos, GroupShared, GroupWords, MemberSlot, ReplyRegistry, Settings, SlotWords, Table,
};
use crate::ring::SharedWriter;
use crate::shm::process::{OwnerLock, OwnerWord};
use crate::shm::{Corruption, Region, RegionError, TOPIC_EXTRA};
use crate::sync::{AtomicU32, AtomicU64, Ordering, StdArc};
use crate::topic::{Topic, TopicError};

/// The most producer groups a request topic in shared memory can have.
pub const MAX_SHARED_PRODUCER_GROUPS: usize = 16;

/// The longest producer-group name (in bytes) a request topic in shared memory records.
pub const MAX_SHARED_PRODUCER_GROUP_NAME: usize = 64;

const NAME_WORDS: usize = MAX_SHARED_PRODUCER_GROUP_NAME / 8;
const FREE: u32 = 0;
const MAKING: u32 = 1;
const READY: u32 = 2;

/// The directory in a request region's extra area.
#[repr(C)]
struct Directory {
    lock: OwnerWord,
    entries: [Entry; MAX_SHARED_PRODUCER_GROUPS],
}

/// One producer group's directory entry. Written under the directory lock while not `READY`,
/// read by anyone once `READY`.
#[repr(C)]
struct Entry {
    state: AtomicU32,
    name_len: AtomicU32,
    name: [AtomicU64; NAME_WORDS],
    max_members: AtomicU32,
    reply_capacity: AtomicU32,
    reply_wait_ns: AtomicU64,
    /// Drawn when the entry is made; names the reply region's file and is recorded in it.
    incarnation: AtomicU64,
}

const _: () = assert!(size_of::<Directory>() <= TOPIC_EXTRA);
// Every group's reply region has a file name the region naming rule keeps short enough.
const _: () = assert!(MAX_SHARED_PRODUCER_GROUPS <= crate::shm::MAX_REPLY_REGIONS);

/// The head of a reply region's extra area; the slots' words follow at [`SLOTS_OFFSET`].
#[repr(C)]
struct TableHead {
    /// The directory entry's incarnation (written before the entry is `READY`).
    incarnation: AtomicU64,
    lock: OwnerWord,
    group: GroupWords,
}

const SLOTS_OFFSET: usize = size_of::<TableHead>().next_multiple_of(align_of::<SlotWords>());

/// The extra bytes of a reply region of `members` slots.
fn table_bytes(members: usize) -> usize {
    SLOTS_OFFSET + members * size_of::<SlotWords>()
}

/// A group's words in its reply region's extra area.
pub(crate) struct MappedTable {
    region: StdArc<Region>,
    members: usize,
}

impl MappedTable {
    fn head(&self) -> &TableHead {
        // SAFETY: the extra area holds at least `table_bytes(members)` zero-initialised bytes
        // (checked in `open_group`), page-aligned; a `TableHead` is atomics only, valid at any
        // bit pattern a process leaves, and lives as long as the mapping `self.region` keeps.
        unsafe { &*self.region.extra().as_ptr().cast::<TableHead>() }
    }

    pub(crate) fn group(&self) -> &GroupWords {
        &self.head().group
    }

    pub(crate) fn slots(&self) -> &[SlotWords] {
        // SAFETY: as in `head`: `members` slots of atomics follow at `SLOTS_OFFSET`, aligned.
        unsafe {
            std::slice::from_raw_parts(
                self.region
                    .extra()
                    .as_ptr()
                    .add(SLOTS_OFFSET)
                    .cast::<SlotWords>(),
                self.members,
            )
        }
    }

    /// The group's join lock (across processes; broken only when its holder is dead).
    pub(crate) fn lock(&self) -> OwnerLock<'_> {
        self.head().lock.lock()
    }
}

/// The directory of a request topic's region, if its extra area has room for one.
fn directory(region: &Region) -> Option<&Directory> {
    if region.shape().extra < size_of::<Directory>() {
        return None;
    }
    // SAFETY: the extra area is at least a directory long, page-aligned, zeroed at creation
    // and written only as atomics; it lives as long as `region`'s mapping.
    Some(unsafe { &*region.extra().as_ptr().cast::<Directory>() })
}

/// What a `READY` entry records, every word checked (see `shm::trust`).
struct Recorded {
    name: Vec<u8>,
    max_members: usize,
    reply_capacity: usize,
    reply_wait: Duration,
    incarnation: u64,
}

impl Entry {
    /// `FREE`, `MAKING` or `READY`; any other state cannot be true.
    fn state(&self, region: &Region) -> Result<u32, Corruption> {
        // Acquire: pairs with the Release in `make`: a `READY` entry's fields are written
        // first.
        match self.state.load(Ordering::Acquire) {
            state @ (FREE | MAKING | READY) => Ok(state),
            state => Err(directory_violated(
                region,
                "producer-group state",
                u64::from(state),
            )),
        }
    }

    /// The group the entry records, once it is `READY`: its name (at most
    /// [`MAX_SHARED_PRODUCER_GROUP_NAME`] bytes), a member count a request topic allows (one
    /// reply partition each), a reply capacity a ring allows, its reply wait and incarnation.
    fn recorded(&self, region: &Region) -> Result<Option<Recorded>, Corruption> {
        if self.state(region)? != READY {
            return Ok(None);
        }
        // Relaxed (every load below): after the Acquire of `state`.
        let len = self.name_len.load(Ordering::Relaxed);
        if len as usize > MAX_SHARED_PRODUCER_GROUP_NAME {
            return Err(directory_violated(
                region,
                "producer-group name length",
                u64::from(len),
            ));
        }
        let max_members = self.max_members.load(Ordering::Relaxed);
        if max_members == 0 || max_members > crate::topic::MAX_PARTITIONS {
            return Err(directory_violated(
                region,
                "producer-group max members",
                u64::from(max_members),
            ));
        }
        let reply_capacity = self.reply_capacity.load(Ordering::Relaxed) as usize;
        if !reply_capacity.is_power_of_two() || reply_capacity > crate::ring::MAX_CAPACITY {
            return Err(directory_violated(
                region,
                "producer-group reply capacity",
                reply_capacity as u64,
            ));
        }
        let mut name: Vec<u8> = self
            .name
            .iter()
            .flat_map(|word| word.load(Ordering::Relaxed).to_le_bytes())
            .collect();
        name.truncate(len as usize);
        Ok(Some(Recorded {
            name,
            max_members: max_members as usize,
            reply_capacity,
            reply_wait: Duration::from_nanos(self.reply_wait_ns.load(Ordering::Relaxed)),
            incarnation: self.incarnation.load(Ordering::Relaxed),
        }))
    }

    fn set_name(&self, name: &[u8]) {
        let mut words = [0_u64; NAME_WORDS];
        for (i, byte) in name.iter().enumerate() {
            words[i / 8] |= u64::from(*byte) << (8 * (i % 8));
        }
        for (word, value) in self.name.iter().zip(words) {
            // Relaxed: published by the Release store of `state`.
            word.store(value, Ordering::Relaxed);
        }
        // Relaxed: as above.
        self.name_len.store(name.len() as u32, Ordering::Relaxed);
    }
}

/// A word of the producer-group directory of `region` holds `found`, which cannot be true:
/// poisons the region (see `shm::trust`).
#[cold]
fn directory_violated(region: &Region, word: &'static str, found: u64) -> Corruption {
    region.poison().raise(Corruption::new(None, word, found))
}

/// Builds (or joins, by name) a producer group of the request topic in `region`.
pub(crate) fn build<R: Send + Sync>(
    registry: &ReplyRegistry<R>,
    region: &StdArc<Region>,
    settings: Settings,
) -> Result<StdArc<GroupShared<R>>, ProducerGroupError> {
    let directory = directory(region).ok_or(TopicError::Region(RegionError::Corrupt {
        what: "producer-group directory",
    }))?;
    let name = settings.name.as_bytes();
    if name.len() > MAX_SHARED_PRODUCER_GROUP_NAME {
        return Err(ProducerGroupError::NameTooLong {
            max: MAX_SHARED_PRODUCER_GROUP_NAME,
        });
    }
    if settings.max_members > crate::topic::MAX_PARTITIONS as usize {
        return Err(ProducerGroupError::TooManyMembers {
            max: crate::topic::MAX_PARTITIONS as usize,
        });
    }
    if settings.reply_capacity > u32::MAX as usize {
        return Err(ProducerGroupError::Ring(
            crate::ring::BuildError::CapacityTooLarge {
                requested: settings.reply_capacity,
                max: u32::MAX as usize,
            },
        ));
    }
    region.poison().check()?;
    let index = {
        let _lock = directory.lock.lock();
        let entries = &directory.entries;
        let (mut found, mut free) = (None, None);
        for (index, entry) in entries.iter().enumerate() {
            match entry.recorded(region)? {
                Some(recorded) if recorded.name == name => {
                    found = Some((index, recorded));
                    break;
                }
                Some(_) => {}
                None => {
                    free.get_or_insert(index);
                }
            }
        }
        match found {
            Some((index, recorded)) => {
                settings.check(
                    recorded.max_members,
                    recorded.reply_capacity,
                    recorded.reply_wait,
                )?;
                index
            }
            None => {
                let index = free.ok_or(ProducerGroupError::TooManyGroups {
                    max: MAX_SHARED_PRODUCER_GROUPS,
                })?;
                make::<R>(region, &entries[index], index, &settings)?;
                index
            }
        }
    };
    let mut failed = None;
    let group = registry.group_or(index, || {
        open_group(region, index)
            .map_err(|error| failed = Some(error))
            .ok()
    });
    group
        .cloned()
        .ok_or_else(|| failed.unwrap_or(ProducerGroupError::Closed))
}

/// A number no earlier entry of this directory is likely to have drawn: the clock, this
/// process and a per-process count, mixed.
fn new_incarnation() -> u64 {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, nanos);
    // Relaxed: only distinctness matters.
    let count = COUNT.fetch_add(1, Ordering::Relaxed);
    let mut x = clock ^ (u64::from(std::process::id()) << 40) ^ count.rotate_left(20);
    // splitmix64's finaliser.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (x ^ (x >> 31)).max(1)
}

/// Makes entry `index` for `settings` and its reply region. Directory lock held.
fn make<R: Send + Sync>(
    region: &Region,
    entry: &Entry,
    index: usize,
    settings: &Settings,
) -> Result<(), ProducerGroupError> {
    // Relaxed (every access here): under the directory lock, which orders them for the next
    // holder; nobody else reads an entry that is not `READY`.
    if entry.state(region)? == MAKING {
        // Its maker died holding the lock: remove the file its incarnation names, if made.
        let dead = entry.incarnation.load(Ordering::Relaxed);
        if let Ok(path) = reply_path(region, index, dead) {
            let _ = std::fs::remove_file(path);
        }
    }
    let incarnation = new_incarnation();
    entry.incarnation.store(incarnation, Ordering::Relaxed);
    entry.state.store(MAKING, Ordering::Relaxed);
    entry.set_name(settings.name.as_bytes());
    entry
        .max_members
        .store(settings.max_members as u32, Ordering::Relaxed);
    entry
        .reply_capacity
        .store(settings.reply_capacity as u32, Ordering::Relaxed);
    entry
        .reply_wait_ns
        .store(nanos(settings.reply_wait), Ordering::Relaxed);
    let path = match reply_path(region, index, incarnation) {
        Ok(path) => path,
        Err(error) => {
            entry.state.store(FREE, Ordering::Relaxed);
            return Err(TopicError::Region(error).into());
        }
    };
    let built = Topic::<Reply<R>>::builder(format!("{}.replies", settings.name))
        .partitions(settings.max_members as u32)
        .capacity(settings.reply_capacity)
        .max_groups(2)
        .wait_strategy(settings.strategy)
        .multi_producer()
        // The request region's mode: whoever may use the requests may use the replies.
        .shared_memory_unchecked_at(path, table_bytes(settings.max_members), region.mode())
        .build_unchecked();
    let (topic, producer) = match built {
        Ok(built) => built,
        Err(error) => {
            entry.state.store(FREE, Ordering::Relaxed);
            return Err(error.into());
        }
    };
    for ring in topic.subscribers() {
        SharedWriter::hold_open(ring.shared());
    }
    drop(producer);
    if let Some(replies) = topic.region() {
        let table = MappedTable {
            region: replies.clone(),
            members: settings.max_members,
        };
        // Relaxed: published by the Release below, and by the reply region's own `READY`.
        table
            .head()
            .incarnation
            .store(incarnation, Ordering::Relaxed);
    }
    // Release: pairs with the Acquire in `Entry::is_ready`: the fields and the reply region are
    // written first.
    entry.state.store(READY, Ordering::Release);
    Ok(())
}

fn reply_path(
    region: &Region,
    index: usize,
    incarnation: u64,
) -> Result<std::path::PathBuf, RegionError> {
    crate::shm::region::reply_companion(region.path(), index, incarnation)
}

/// This process's view of group `index` of the request topic in `region`, if it is `READY`.
pub(crate) fn open<R: Send + Sync>(region: &Region, index: usize) -> Option<GroupShared<R>> {
    open_group(region, index).ok()
}

fn open_group<R: Send + Sync>(
    region: &Region,
    index: usize,
) -> Result<GroupShared<R>, ProducerGroupError> {
    let corrupt =
        |what| ProducerGroupError::from(TopicError::Region(RegionError::Corrupt { what }));
    region.poison().check()?;
    let entry = directory(region)
        .and_then(|directory| directory.entries.get(index))
        .ok_or(ProducerGroupError::Closed)?;
    let Recorded {
        name,
        max_members,
        reply_wait,
        incarnation,
        ..
    } = entry.recorded(region)?.ok_or(ProducerGroupError::Closed)?;
    let name = String::from_utf8_lossy(&name).into_owned();
    let path = reply_path(region, index, incarnation).map_err(TopicError::Region)?;
    // The checks this process opened the request region with (truncation included).
    let topic = Topic::<Reply<R>>::open_unchecked_at(&path, region.options())?;
    let replies = topic.region().ok_or(corrupt("reply region"))?.clone();
    if replies.shape().partitions as usize != max_members
        || replies.shape().extra < table_bytes(max_members)
        || !replies.shape().multi
    {
        return Err(corrupt("reply region"));
    }
    let table = MappedTable {
        region: replies,
        members: max_members,
    };
    // Relaxed: after `is_ready`'s Acquire, which the maker's store happens before.
    if table.head().incarnation.load(Ordering::Relaxed) != incarnation {
        return Err(corrupt("reply region of another incarnation"));
    }
    let slots = topic
        .subscribers()
        .iter()
        .cloned()
        .map(MemberSlot::over)
        .collect::<Option<Vec<_>>>()
        .ok_or(ProducerGroupError::Closed)?;
    Ok(GroupShared {
        name,
        index: index as u32,
        slots: slots.into_boxed_slice(),
        table: Table::Mapped(table),
        reply_wait,
        local: None,
    })
}

impl crate::shm::layout::ExtraArea for crate::shm::layout::ProducerGroupDirectory {
    fn bytes(_slots: usize) -> usize {
        size_of::<Directory>()
    }

    fn fields(_slots: usize) -> Vec<crate::shm::layout::Field> {
        use crate::shm::layout::Field;
        use std::mem::offset_of;
        let mut fields = vec![Field::of::<OwnerWord>("lock", offset_of!(Directory, lock))];
        let entries = offset_of!(Directory, entries);
        for index in 0..MAX_SHARED_PRODUCER_GROUPS {
            let mut entry = vec![
                Field::of::<AtomicU32>("state", offset_of!(Entry, state)),
                Field::of::<AtomicU32>("name_len", offset_of!(Entry, name_len)),
            ];
            entry.extend((0..NAME_WORDS).map(|i| {
                Field::of::<AtomicU64>(format!("name[{i}]"), offset_of!(Entry, name) + 8 * i)
            }));
            entry.extend([
                Field::of::<AtomicU32>("max_members", offset_of!(Entry, max_members)),
                Field::of::<AtomicU32>("reply_capacity", offset_of!(Entry, reply_capacity)),
                Field::of::<AtomicU64>("reply_wait_ns", offset_of!(Entry, reply_wait_ns)),
                Field::of::<AtomicU64>("incarnation", offset_of!(Entry, incarnation)),
            ]);
            let prefix = format!("entry[{index}]");
            let base = entries + index * size_of::<Entry>();
            fields.extend(entry.into_iter().map(|field| field.within(&prefix, base)));
        }
        fields
    }
}

impl crate::shm::layout::ExtraArea for crate::shm::layout::ReplyTable {
    fn bytes(slots: usize) -> usize {
        table_bytes(slots)
    }

    fn fields(slots: usize) -> Vec<crate::shm::layout::Field> {
        use crate::shm::layout::Field;
        use std::mem::offset_of;
        let mut fields = vec![
            Field::of::<AtomicU64>("incarnation", offset_of!(TableHead, incarnation)),
            Field::of::<OwnerWord>("lock", offset_of!(TableHead, lock)),
        ];
        let group = offset_of!(TableHead, group);
        fields.extend(
            GroupWords::fields()
                .into_iter()
                .map(|field| field.within("group", group)),
        );
        for slot in 0..slots {
            let prefix = format!("slot[{slot}]");
            let base = SLOTS_OFFSET + slot * size_of::<SlotWords>();
            fields.extend(
                SlotWords::fields()
                    .into_iter()
                    .map(|field| field.within(&prefix, base)),
            );
        }
        fields
    }
}
