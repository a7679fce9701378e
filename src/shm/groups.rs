//! The region's group registry: which processes are members of each consumer group of a
//! shared-memory topic, which of them owns each partition, and which reader slot holds the
//! group's committed offset on each partition.
//!
//! # Layout
//!
//! `max_groups` entries after the header page, each an `EntryHeader` then, per partition, the
//! reader slot of the group's cursor there (`NO_SLOT` if none) and then, per partition, its
//! *plan word*: the member process that owns it and the one it is asked to go to.
//!
//! # Protocol
//!
//! - Every read or write of an entry happens under the registry lock, an [`OwnerWord`] in the
//!   region header, taken by CAS and broken only when its holder is confirmed dead (pid and
//!   start time), never on a timeout; threads of one process take turns (it is not reentrant).
//!   The one exception is the entry's `generation`, bumped under the lock (Release) and read
//!   without it (Acquire) so a member process looks at the entry only when it changed.
//! - A group has up to [`MAX_GROUP_PROCESSES`] member processes (each a group handle: one
//!   process may hold several), each in a member slot (an [`OwnerWord`]). A slot whose process
//!   is confirmed dead is *reaped* by the next process that looks: freed, and the partitions it
//!   owned go back to no owner, to be planned again. A name with no live member is taken over
//!   by the next build, which adopts the group's cursors: it resumes at the commits.
//! - A partition's plan word says which member owns it and, when a rebalance asked it to move,
//!   where to. The owner hands it on itself once its consumers let it go (release before
//!   acquire); the new owner then takes it. So at most one live member process owns a
//!   partition of a group, and a dead one's partitions move without its help.
//! - A group's cursors carry the group's tag (its entry) in their reader slot's holder word
//!   (`ring::owners`), so the ring never reclaims them for a dead process, and a new member
//!   adopts a recorded slot only while that tag is on it. A claim takes a member slot, then
//!   writes the name, then records each slot before tagging it; the last member's release
//!   (after the cursors are freed) clears the name, the slots, then its member slot. A process
//!   killed anywhere leaves either a named entry (reaped and taken over by the next build), an
//!   unnamed one with a dead member (cleared by the next claim, its group cursors freed), or a
//!   tagged cursor no named entry records, which every claim and delete sweeps away.
//!
//! # Trust
//!
//! Every process of the topic can write the registry, so each word is checked where it is
//! read (`Entry`'s accessors), against the range its writers use: a name length is at most
//! [`MAX_GROUP_NAME`], a recorded reader slot is one of the ring's slots, a plan names a member
//! slot or nobody. A word out of range is a [`Corruption`], which poisons the region for this
//! process (see `shm::trust`). Other words (counts, tags, times, generations) may hold any
//! value without harm and are used as found.

use super::process::{OwnerWord, ProcessId};
use super::trust::{Corruption, Poison};
use crate::sync::{AtomicU32, AtomicU64, Ordering};

/// Longest group name a shared-memory topic records.
pub const MAX_GROUP_NAME: usize = 112;
/// Most member processes (group handles) a group of a shared-memory topic has at once.
pub const MAX_GROUP_PROCESSES: usize = 16;
/// Most static members (instance ids) a member process publishes; a process with more still
/// works, but only these get their partitions back when it restarts.
pub(crate) const MAX_STATIC_PER_PROCESS: usize = 8;
/// No reader slot recorded.
pub(crate) const NO_SLOT: u32 = u32::MAX;

/// A member process's number in its group: its member slot plus one (0 is nobody).
pub(crate) type MemberProcess = u16;

/// The fixed part of an entry.
#[repr(C)]
pub(crate) struct EntryHeader {
    /// The member processes, by slot.
    members: [OwnerWord; MAX_GROUP_PROCESSES],
    /// Each member's count of consumers (its weight when partitions are planned).
    consumers: [AtomicU32; MAX_GROUP_PROCESSES],
    /// Each member's session timeout, in nanoseconds: how long the partitions of its static
    /// members wait for them after it dies.
    sessions: [AtomicU64; MAX_GROUP_PROCESSES],
    /// The instance tags (`group::controller::instance_tag`) of each member's static
    /// consumers (0: none).
    instances: [[AtomicU64; MAX_STATIC_PER_PROCESS]; MAX_GROUP_PROCESSES],
    /// Bumped after every change to the plan.
    generation: AtomicU64,
    /// 0: no name (a free or half-made entry).
    name_len: AtomicU64,
    /// The name's bytes, little-endian, eight to a word.
    name: [AtomicU64; MAX_GROUP_NAME / 8],
}

/// Bytes one entry takes for `partitions` partitions (a multiple of 64): the header, then per
/// partition a slot and a plan word (4 bytes each), a tag and a reservation (8 bytes each).
pub(crate) fn entry_stride(partitions: u32) -> usize {
    (std::mem::size_of::<EntryHeader>() + 24 * partitions as usize).div_ceil(64) * 64
}

/// One entry: its header and per-partition words, in the mapping.
pub(crate) struct Entry<'r> {
    /// The region's poison, raised by an accessor that reads a word out of range.
    poison: &'r Poison,
    /// The reader slots of each ring: a recorded slot is below it.
    readers: u32,
    header: &'r EntryHeader,
    slots: &'r [AtomicU32],
    plans: &'r [AtomicU32],
    /// The instance-id hash of the static consumer that owns (or owned) the partition; 0 for
    /// a dynamic one.
    tags: &'r [AtomicU64],
    /// While the partition waits for its static consumer to come back: until when (the
    /// monotonic clock, in nanoseconds); 0 otherwise.
    reserved: &'r [AtomicU64],
}

/// The monotonic clock (the same for every process of the machine), in nanoseconds.
pub(crate) fn monotonic_ns() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (now.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(now.tv_nsec as u64)
}

/// The registry, borrowed from a mapped region under its lock.
pub(crate) struct Registry<'r> {
    lock: &'r OwnerWord,
    entries: Vec<Entry<'r>>,
}

/// What [`Registry::claim`] found for a name. In each case this process is now member
/// `member` of entry `entry`.
pub(crate) enum Claim {
    /// A free entry: register cursors and [`Registry::record`] them.
    New { entry: usize, member: usize },
    /// A group with no live member (its processes died): adopt its recorded slots.
    TakenOver {
        entry: usize,
        member: usize,
        slots: Vec<Option<u32>>,
    },
    /// A group with live members: adopt its slots, which they use too.
    Joined {
        entry: usize,
        member: usize,
        slots: Vec<Option<u32>>,
    },
}

/// Why a name could not be claimed.
#[derive(Debug)]
pub(crate) enum ClaimError {
    /// Every entry is in use.
    Full,
    /// The name is longer than [`MAX_GROUP_NAME`] bytes.
    NameTooLong,
    /// The group has [`MAX_GROUP_PROCESSES`] live members.
    TooManyMembers,
    /// A registry word is out of range.
    Corrupt(Corruption),
}

impl From<Corruption> for ClaimError {
    fn from(corruption: Corruption) -> Self {
        ClaimError::Corrupt(corruption)
    }
}

/// Why a group could not be deleted.
#[derive(Debug)]
pub(crate) enum DeleteError {
    /// A live process is a member.
    HeldBy(ProcessId),
    /// A registry word is out of range.
    Corrupt(Corruption),
}

impl<'r> Registry<'r> {
    /// Takes the registry lock (waiting while a live holder has it; breaking a dead one's).
    /// Reader slots recorded in it are below `count` (each ring has a slot per group entry);
    /// words found out of range raise `poison`.
    ///
    /// # Safety
    /// `base` points at `count` entries of `entry_stride(partitions)` bytes in a mapping that
    /// outlives `'r`, laid out by [`initialise`].
    pub(crate) unsafe fn lock(
        lock: &'r OwnerWord,
        poison: &'r Poison,
        base: *const u8,
        count: usize,
        partitions: u32,
    ) -> Self {
        lock.take_waiting();
        let entries = (0..count)
            // SAFETY: the caller's contract, passed on.
            .map(|i| unsafe { Entry::at(poison, base, i, count, partitions) })
            .collect();
        Registry { lock, entries }
    }

    /// Joins or takes an entry for `name`. Unnamed entries of dead processes (half released)
    /// are cleared for reuse; the cursors they recorded are the caller's sweep's to free.
    pub(crate) fn claim(&self, name: &str) -> Result<Claim, ClaimError> {
        let name = name.as_bytes();
        if name.len() > MAX_GROUP_NAME {
            return Err(ClaimError::NameTooLong);
        }
        for entry in &self.entries {
            if entry.name()?.is_none() && entry.reap()? && !entry.has_members() {
                entry.clear();
            }
        }
        if let Some((index, entry)) = self.find(name)? {
            if entry.reap()? {
                entry.bump();
            }
            let live = entry.has_members();
            let slots = (0..entry.slots.len())
                .map(|p| entry.slot(p as u32))
                .collect::<Result<_, _>>()?;
            let member = entry.join()?.ok_or(ClaimError::TooManyMembers)?;
            return Ok(if live {
                Claim::Joined {
                    entry: index,
                    member,
                    slots,
                }
            } else {
                Claim::TakenOver {
                    entry: index,
                    member,
                    slots,
                }
            });
        }
        for (index, entry) in self.entries.iter().enumerate() {
            if entry.name()?.is_none() && !entry.has_members() {
                if let Some(member) = entry.join()? {
                    entry.clear();
                    entry.write_name(name);
                    return Ok(Claim::New {
                        entry: index,
                        member,
                    });
                }
            }
        }
        Err(ClaimError::Full)
    }

    /// The entry named `name`, with its index.
    fn find(&self, name: &[u8]) -> Result<Option<(usize, &Entry<'r>)>, Corruption> {
        for (index, entry) in self.entries.iter().enumerate() {
            if entry.name()?.as_deref() == Some(name) {
                return Ok(Some((index, entry)));
            }
        }
        Ok(None)
    }

    /// Deletes the entry of `name` if no live process is a member (the caller's sweep then
    /// frees its cursors): true if there was one, `Err` with a member while one lives.
    pub(crate) fn delete(&self, name: &str) -> Result<bool, DeleteError> {
        let Some((_, entry)) = self.find(name.as_bytes()).map_err(DeleteError::Corrupt)? else {
            return Ok(false);
        };
        entry.reap().map_err(DeleteError::Corrupt)?;
        if let Some(member) = entry.header.members.iter().find_map(OwnerWord::holder) {
            return Err(DeleteError::HeldBy(member));
        }
        entry.header.name_len.store(0, Ordering::Relaxed);
        entry.clear();
        Ok(true)
    }

    /// The slot entry `entry` records on `partition`, if the entry is named (a group's).
    pub(crate) fn recorded_slot(
        &self,
        entry: usize,
        partition: u32,
    ) -> Result<Option<u32>, Corruption> {
        let Some(entry) = self.entries.get(entry) else {
            return Ok(None);
        };
        if entry.name()?.is_none() {
            return Ok(None);
        }
        entry.slot(partition)
    }

    /// Records `slot` as the group's cursor on `partition`.
    pub(crate) fn record(&self, entry: usize, partition: u32, slot: u32) {
        self.entries[entry].slots[partition as usize].store(slot, Ordering::Relaxed);
    }

    /// Hands this process's member slot of entry `entry` on as a dead process's, name and
    /// slots kept, so the next look reaps it and the next build adopts the cursors.
    pub(crate) fn hand_back(&self, entry: usize, member: usize) {
        self.entries[entry].header.members[member].orphan();
    }

    /// True when a member of entry `entry` other than `member` is alive.
    pub(crate) fn others_alive(&self, entry: usize, member: usize) -> bool {
        self.entries[entry]
            .header
            .members
            .iter()
            .enumerate()
            .any(|(k, word)| k != member && word.holder().is_some_and(|p| p.is_alive_low()))
    }

    /// Member `member` leaves entry `entry`, which others keep: what it owned or was to get
    /// goes back to no owner (the caller plans it again; its static consumers' partitions
    /// wait for them for its session timeout, as Kafka keeps a static member's), and its slot
    /// is freed.
    pub(crate) fn leave(&self, entry: usize, member: usize) -> Result<(), Corruption> {
        let entry = &self.entries[entry];
        let forgotten = entry.forget(member);
        entry.header.members[member].release();
        forgotten
    }

    /// The last member gives entry `entry` up: its cursors are freed by the caller before.
    pub(crate) fn release(&self, entry: usize, member: usize) {
        let entry = &self.entries[entry];
        entry.header.name_len.store(0, Ordering::Relaxed);
        entry.clear();
        entry.header.members[member].release();
    }

    /// Frees the member slots of dead processes in entry `entry`: true if there were any.
    pub(crate) fn reap(&self, entry: usize) -> Result<bool, Corruption> {
        self.entries[entry].reap()
    }

    /// Records member `member`'s count of consumers: true if it changed.
    pub(crate) fn set_consumers(&self, entry: usize, member: usize, count: u32) -> bool {
        let word = &self.entries[entry].header.consumers[member];
        word.swap(count, Ordering::Relaxed) != count
    }

    /// The members of entry `entry` with their counts of consumers (live, or not yet reaped).
    pub(crate) fn members(&self, entry: usize) -> Vec<(MemberProcess, u32)> {
        let header = self.entries[entry].header;
        (0..MAX_GROUP_PROCESSES)
            .filter(|&k| header.members[k].holder().is_some())
            .map(|k| {
                let count = header.consumers[k].load(Ordering::Relaxed);
                (k as MemberProcess + 1, count)
            })
            .collect()
    }

    /// Partition `partition`'s owner in entry `entry` and where it is asked to go (0: nobody).
    pub(crate) fn plan(
        &self,
        entry: usize,
        partition: u32,
    ) -> Result<(MemberProcess, MemberProcess), Corruption> {
        self.entries[entry].plan(partition)
    }

    /// Sets partition `partition`'s owner and destination.
    pub(crate) fn set_plan(
        &self,
        entry: usize,
        partition: u32,
        owner: MemberProcess,
        want: MemberProcess,
    ) {
        self.entries[entry].set_plan(partition, owner, want);
    }

    /// Records what member `member` publishes: its session timeout and its static
    /// consumers' instance tags (the first [`MAX_STATIC_PER_PROCESS`]).
    pub(crate) fn set_statics(&self, entry: usize, member: usize, session_ns: u64, tags: &[u64]) {
        let header = self.entries[entry].header;
        header.sessions[member].store(session_ns, Ordering::Relaxed);
        for (k, word) in header.instances[member].iter().enumerate() {
            word.store(tags.get(k).copied().unwrap_or(0), Ordering::Relaxed);
        }
    }

    /// The live member whose static consumers include `tag`.
    pub(crate) fn host_of(&self, entry: usize, tag: u64) -> Option<MemberProcess> {
        let header = self.entries[entry].header;
        (0..MAX_GROUP_PROCESSES)
            .find(|&k| {
                header.members[k].holder().is_some()
                    && header.instances[k]
                        .iter()
                        .any(|word| word.load(Ordering::Relaxed) == tag)
            })
            .map(|k| k as MemberProcess + 1)
    }

    /// Partition `partition`'s tag (see `Entry::tags`).
    pub(crate) fn tag(&self, entry: usize, partition: u32) -> u64 {
        self.entries[entry].tags[partition as usize].load(Ordering::Relaxed)
    }

    /// Sets partition `partition`'s tag.
    pub(crate) fn set_tag(&self, entry: usize, partition: u32, tag: u64) {
        self.entries[entry].tags[partition as usize].store(tag, Ordering::Relaxed);
    }

    /// Until when partition `partition` waits for its static consumer (0: it does not).
    pub(crate) fn reserved(&self, entry: usize, partition: u32) -> u64 {
        self.entries[entry].reserved[partition as usize].load(Ordering::Relaxed)
    }

    /// Ends partition `partition`'s wait for its static consumer.
    pub(crate) fn unreserve(&self, entry: usize, partition: u32) {
        self.entries[entry].reserved[partition as usize].store(0, Ordering::Relaxed);
    }

    /// Tells the members of entry `entry` that its plan changed.
    pub(crate) fn bump(&self, entry: usize) {
        self.entries[entry].bump();
    }
}

impl Drop for Registry<'_> {
    fn drop(&mut self) {
        self.lock.release();
    }
}

impl<'r> Entry<'r> {
    /// Entry `index` of the registry at `base`, of a region whose rings have `readers` slots.
    ///
    /// # Safety
    /// As [`Registry::lock`].
    unsafe fn at(
        poison: &'r Poison,
        base: *const u8,
        index: usize,
        readers: usize,
        partitions: u32,
    ) -> Self {
        let header_size = std::mem::size_of::<EntryHeader>();
        let count = partitions as usize;
        // SAFETY: entry `index` lies inside the mapping (the caller's contract), aligned to 64
        // bytes; its words are only atomics, valid for any bit pattern.
        unsafe {
            let at = base.add(index * entry_stride(partitions));
            let slots = at.add(header_size) as *const AtomicU32;
            // The header is a multiple of 8 bytes, so the 8-byte words after 8 bytes per
            // partition are aligned.
            let tags = slots.add(2 * count) as *const AtomicU64;
            Entry {
                poison,
                readers: u32::try_from(readers).unwrap_or(u32::MAX),
                header: &*(at as *const EntryHeader),
                slots: std::slice::from_raw_parts(slots, count),
                plans: std::slice::from_raw_parts(slots.add(count), count),
                tags: std::slice::from_raw_parts(tags, count),
                reserved: std::slice::from_raw_parts(tags.add(count), count),
            }
        }
    }

    /// A word of this entry holds `found`, which cannot be true: poisons the region.
    #[cold]
    fn violated(&self, word: &'static str, partition: Option<u32>, found: u64) -> Corruption {
        self.poison.raise(Corruption::new(partition, word, found))
    }

    /// The recorded name, if any. Relaxed loads throughout: entries are read and written only
    /// under the registry lock, whose Acquire/AcqRel take orders them.
    fn name(&self) -> Result<Option<Vec<u8>>, Corruption> {
        let len = self.header.name_len.load(Ordering::Relaxed);
        if len == 0 {
            return Ok(None);
        }
        if len > MAX_GROUP_NAME as u64 {
            return Err(self.violated("group name length", None, len));
        }
        let mut bytes: Vec<u8> = self
            .header
            .name
            .iter()
            .flat_map(|word| word.load(Ordering::Relaxed).to_le_bytes())
            .collect();
        bytes.truncate(len as usize);
        Ok(Some(bytes))
    }

    /// Records `name` (at most [`MAX_GROUP_NAME`] bytes): bytes first, length last.
    fn write_name(&self, name: &[u8]) {
        for (word, chunk) in self.header.name.iter().zip(name.chunks(8)) {
            let mut bytes = [0; 8];
            bytes[..chunk.len()].copy_from_slice(chunk);
            word.store(u64::from_le_bytes(bytes), Ordering::Relaxed);
        }
        self.header
            .name_len
            .store(name.len() as u64, Ordering::Relaxed);
    }

    /// The reader slot recorded for the group's cursor on `partition`: one of the ring's.
    fn slot(&self, partition: u32) -> Result<Option<u32>, Corruption> {
        let slot = self.slots[partition as usize].load(Ordering::Relaxed);
        match slot {
            NO_SLOT => Ok(None),
            slot if slot < self.readers => Ok(Some(slot)),
            slot => Err(self.violated("group slot", Some(partition), u64::from(slot))),
        }
    }

    /// `partition`'s owner and where it is asked to go: member slots plus one, or 0.
    fn plan(&self, partition: u32) -> Result<(MemberProcess, MemberProcess), Corruption> {
        let word = self.plans[partition as usize].load(Ordering::Relaxed);
        let (owner, want) = (word as MemberProcess, (word >> 16) as MemberProcess);
        let max = MAX_GROUP_PROCESSES as MemberProcess;
        if owner > max || want > max {
            return Err(self.violated("plan", Some(partition), u64::from(word)));
        }
        Ok((owner, want))
    }

    fn set_plan(&self, partition: u32, owner: MemberProcess, want: MemberProcess) {
        let word = u32::from(owner) | (u32::from(want) << 16);
        self.plans[partition as usize].store(word, Ordering::Relaxed);
    }

    fn bump(&self) {
        // Release: pairs with the Acquire in `generation`; a member that sees the new value
        // takes the lock to read the plan, so this only needs to be seen, not to carry data.
        self.header.generation.fetch_add(1, Ordering::Release);
    }

    /// True while some member slot is held (by a live process, once reaped).
    fn has_members(&self) -> bool {
        self.header.members.iter().any(|m| m.holder().is_some())
    }

    /// Takes a free member slot for this process (or one whose process died since the last
    /// reap: forgotten first), if one is left.
    fn join(&self) -> Result<Option<usize>, Corruption> {
        let mut taken = None;
        for k in 0..MAX_GROUP_PROCESSES {
            match self.header.members[k].take_over() {
                Ok(None) => {}
                Ok(Some(_dead)) => {
                    if let Err(corruption) = self.forget(k) {
                        self.header.members[k].release();
                        return Err(corruption);
                    }
                }
                Err(_) => continue,
            }
            taken = Some(k);
            break;
        }
        let Some(member) = taken else {
            return Ok(None);
        };
        self.header.consumers[member].store(0, Ordering::Relaxed);
        self.header.sessions[member].store(0, Ordering::Relaxed);
        for instance in &self.header.instances[member] {
            instance.store(0, Ordering::Relaxed);
        }
        Ok(Some(member))
    }

    /// Frees the slots of members confirmed dead, and what they owned: true if any.
    fn reap(&self) -> Result<bool, Corruption> {
        let mut reaped = false;
        for (k, word) in self.header.members.iter().enumerate() {
            let dead = word.holder().is_some_and(|p| !p.is_alive_low());
            if dead && matches!(word.take_over(), Ok(Some(_))) {
                let forgotten = self.forget(k);
                word.release();
                forgotten?;
                reaped = true;
            }
        }
        Ok(reaped)
    }

    /// Takes member `k`'s partitions (owned or on their way to it) back to no owner; those of
    /// its static consumers wait for them for its session timeout.
    fn forget(&self, k: usize) -> Result<(), Corruption> {
        let gone = k as MemberProcess + 1;
        let until = monotonic_ns().saturating_add(self.header.sessions[k].load(Ordering::Relaxed));
        self.header.consumers[k].store(0, Ordering::Relaxed);
        for instance in &self.header.instances[k] {
            instance.store(0, Ordering::Relaxed);
        }
        for partition in 0..self.plans.len() as u32 {
            let (owner, want) = self.plan(partition)?;
            let want = if want == gone { 0 } else { want };
            if owner == gone {
                let p = partition as usize;
                if self.tags[p].load(Ordering::Relaxed) != 0 {
                    self.reserved[p].store(until.max(1), Ordering::Relaxed);
                } else {
                    self.tags[p].store(0, Ordering::Relaxed);
                }
                self.set_plan(partition, 0, want);
            } else {
                self.set_plan(partition, owner, want);
            }
        }
        Ok(())
    }

    fn clear(&self) {
        for (slot, plan) in self.slots.iter().zip(self.plans) {
            slot.store(NO_SLOT, Ordering::Relaxed);
            plan.store(0, Ordering::Relaxed);
        }
        for (tag, reserved) in self.tags.iter().zip(self.reserved) {
            tag.store(0, Ordering::Relaxed);
            reserved.store(0, Ordering::Relaxed);
        }
        for count in &self.header.consumers {
            count.store(0, Ordering::Relaxed);
        }
    }
}

/// Entry `entry`'s plan generation, read without the registry lock.
///
/// # Safety
/// As [`Registry::lock`].
pub(crate) unsafe fn generation(
    poison: &Poison,
    base: *const u8,
    entry: usize,
    count: usize,
    partitions: u32,
) -> u64 {
    // SAFETY: the caller's contract.
    let entry = unsafe { Entry::at(poison, base, entry, count, partitions) };
    // Acquire: pairs with the Release in `Entry::bump`.
    entry.header.generation.load(Ordering::Acquire)
}

/// Writes `count` empty entries at `base`.
///
/// # Safety
/// As [`Registry::lock`], on a mapping no one else uses yet.
pub(crate) unsafe fn initialise(base: *mut u8, count: usize, partitions: u32) {
    for i in 0..count {
        // SAFETY: entry `i` lies in the zeroed mapping (the caller's contract); a zeroed
        // header is an empty one (no members, no name) and zeroed plans own nothing.
        unsafe {
            let at = base.add(i * entry_stride(partitions));
            let slots = at.add(std::mem::size_of::<EntryHeader>()) as *mut AtomicU32;
            for p in 0..partitions as usize {
                slots.add(p).write(AtomicU32::new(NO_SLOT));
            }
        }
    }
}

/// Every word of one registry entry for `partitions` partitions, by offset in the entry,
/// measured on an entry that `Entry::at` lays out (see `shm::layout`).
pub(crate) fn entry_fields(partitions: u32) -> Vec<super::layout::Field> {
    use super::layout::Field;

    #[repr(C, align(64))]
    struct Line([u8; 64]);
    let mut lines: Vec<Line> = (0..entry_stride(partitions) / 64)
        .map(|_| Line([0; 64]))
        .collect();
    let base = lines.as_mut_ptr().cast::<u8>();
    let poison = Poison::new();
    // SAFETY: the buffer is one entry long, aligned to 64 bytes and zeroed (atomics are valid
    // at any bit pattern); it outlives every use of `entry`, and nothing writes through it.
    let entry = unsafe { Entry::at(&poison, base, 0, 1, partitions) };
    let at = |word: *const u8| word.addr() - base.addr();
    let header = entry.header;
    let mut fields = Vec::new();
    for (k, member) in header.members.iter().enumerate() {
        let offset = at(std::ptr::from_ref(member).cast());
        fields.push(Field::of::<OwnerWord>(format!("member[{k}]"), offset));
    }
    for (k, count) in header.consumers.iter().enumerate() {
        let offset = at(std::ptr::from_ref(count).cast());
        fields.push(Field::of::<AtomicU32>(format!("consumers[{k}]"), offset));
    }
    for (k, session) in header.sessions.iter().enumerate() {
        let offset = at(std::ptr::from_ref(session).cast());
        fields.push(Field::of::<AtomicU64>(format!("session[{k}]"), offset));
    }
    for (k, instances) in header.instances.iter().enumerate() {
        for (j, tag) in instances.iter().enumerate() {
            let offset = at(std::ptr::from_ref(tag).cast());
            fields.push(Field::of::<AtomicU64>(
                format!("instance[{k}][{j}]"),
                offset,
            ));
        }
    }
    let generation = at(std::ptr::from_ref(&header.generation).cast());
    fields.push(Field::of::<AtomicU64>("generation", generation));
    let name_len = at(std::ptr::from_ref(&header.name_len).cast());
    fields.push(Field::of::<AtomicU64>("name_len", name_len));
    for (i, word) in header.name.iter().enumerate() {
        let offset = at(std::ptr::from_ref(word).cast());
        fields.push(Field::of::<AtomicU64>(format!("name[{i}]"), offset));
    }
    for p in 0..partitions as usize {
        let slot = at(std::ptr::from_ref(&entry.slots[p]).cast());
        fields.push(Field::of::<AtomicU32>(format!("slot[{p}]"), slot));
        let plan = at(std::ptr::from_ref(&entry.plans[p]).cast());
        fields.push(Field::of::<AtomicU32>(format!("plan[{p}]"), plan));
        let tag = at(std::ptr::from_ref(&entry.tags[p]).cast());
        fields.push(Field::of::<AtomicU64>(format!("tag[{p}]"), tag));
        let reserved = at(std::ptr::from_ref(&entry.reserved[p]).cast());
        fields.push(Field::of::<AtomicU64>(format!("reserved[{p}]"), reserved));
    }
    fields
}
