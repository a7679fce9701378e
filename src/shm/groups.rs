//! The region's group registry: which process holds each consumer group of a shared-memory
//! topic, and which reader slot holds the group's committed offset on each partition.
//!
//! # Layout
//!
//! `max_groups` entries after the header page, each `EntryHeader` then one `AtomicU32` per
//! partition (the reader slot of the group's cursor there, or `NO_SLOT`).
//!
//! # Protocol
//!
//! - Every read or write of an entry happens under the registry lock, an [`OwnerWord`] in the
//!   region header. It is taken by CAS and broken only when its holder is confirmed dead (pid
//!   and start time), never on a timeout; threads of one process take turns (the word is not
//!   reentrant).
//! - A group name belongs to one process at a time: the entry's `holder`. A build of the same
//!   name while the holder lives is refused; once the holder is confirmed dead, the next build
//!   takes the entry over and adopts its cursors, so the group resumes at its commits.
//! - A group's cursors carry the group's tag (its entry) in their reader slot's holder word
//!   (`ring::owners`), so the ring never reclaims them for a dead process, and a new holder
//!   adopts a recorded slot only while that tag is on it. A claim writes `holder`, then the
//!   name, then records each slot before tagging it; a release (after the cursors are freed)
//!   clears the name, the slots, then `holder`. A holder killed anywhere leaves either a named
//!   entry (the next build takes it over), an unnamed one with a dead holder (cleared by the
//!   next claim, its recorded group cursors freed), or a tagged cursor no named entry records,
//!   which every claim and delete sweeps away.

use super::process::{OwnerWord, ProcessId};
use crate::sync::{AtomicU32, AtomicU64, Ordering};

/// Longest group name a shared-memory topic records.
pub const MAX_GROUP_NAME: usize = 112;
/// No reader slot recorded.
pub(crate) const NO_SLOT: u32 = u32::MAX;

/// The fixed part of an entry.
#[repr(C)]
pub(crate) struct EntryHeader {
    holder: OwnerWord,
    /// 0: no name (a free or half-made entry).
    name_len: AtomicU64,
    /// The name's bytes, little-endian, eight to a word.
    name: [AtomicU64; MAX_GROUP_NAME / 8],
}

/// Bytes one entry takes for `partitions` partitions (a multiple of 64).
pub(crate) fn entry_stride(partitions: u32) -> usize {
    (std::mem::size_of::<EntryHeader>() + 4 * partitions as usize).div_ceil(64) * 64
}

/// One entry: its header and its slots, in the mapping.
pub(crate) struct Entry<'r> {
    header: &'r EntryHeader,
    slots: &'r [AtomicU32],
}

/// The registry, borrowed from a mapped region under its lock.
pub(crate) struct Registry<'r> {
    lock: &'r OwnerWord,
    entries: Vec<Entry<'r>>,
}

/// What [`Registry::claim`] found for a name.
pub(crate) enum Claim {
    /// A free entry, now held by this process: register cursors and [`Registry::record`] them.
    New {
        /// The entry.
        entry: usize,
    },
    /// The entry of a group whose process died, now held by this one: adopt its slots.
    TakenOver {
        /// The entry.
        entry: usize,
        /// Its cursor's reader slot on each partition, if recorded.
        slots: Vec<Option<u32>>,
    },
}

/// Why a name could not be claimed.
#[derive(Debug)]
pub(crate) enum ClaimError {
    /// Another live process (or another group handle of this one) holds the name.
    Held(ProcessId),
    /// Every entry is in use.
    Full,
    /// The name is longer than [`MAX_GROUP_NAME`] bytes.
    NameTooLong,
}

impl<'r> Registry<'r> {
    /// Takes the registry lock (waiting while a live holder has it; breaking a dead one's).
    ///
    /// # Safety
    /// `base` points at `count` entries of `entry_stride(partitions)` bytes in a mapping that
    /// outlives `'r`, laid out by [`initialise`].
    pub(crate) unsafe fn lock(
        lock: &'r OwnerWord,
        base: *const u8,
        count: usize,
        partitions: u32,
    ) -> Self {
        // Each look at a live holder reads its `/proc` entry: yield a little, then back off.
        let mut looks = 0_u32;
        while lock.take_over().is_err() {
            looks = looks.saturating_add(1);
            if looks < 64 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
        }
        let stride = entry_stride(partitions);
        let entries = (0..count)
            .map(|i| {
                // SAFETY: entry `i` lies inside the mapping (the caller's contract), aligned to
                // 64 bytes; its words are only atomics and bytes, valid for any bit pattern.
                unsafe {
                    let at = base.add(i * stride);
                    Entry {
                        header: &*(at as *const EntryHeader),
                        slots: std::slice::from_raw_parts(
                            at.add(std::mem::size_of::<EntryHeader>()) as *const AtomicU32,
                            partitions as usize,
                        ),
                    }
                }
            })
            .collect();
        Registry { lock, entries }
    }

    /// Finds or takes an entry for `name`. Unnamed entries of dead holders (half released) are
    /// cleared for reuse; the cursors they recorded are the caller's sweep's to free.
    pub(crate) fn claim(&self, name: &str) -> Result<Claim, ClaimError> {
        let name = name.as_bytes();
        if name.len() > MAX_GROUP_NAME {
            return Err(ClaimError::NameTooLong);
        }
        for entry in &self.entries {
            if entry.name().is_none() {
                if let Some(holder) = entry.header.holder.holder() {
                    if !holder.is_alive_low() {
                        entry.clear();
                        if entry.header.holder.take_over().is_ok() {
                            entry.header.holder.release();
                        }
                    }
                }
            }
        }
        if let Some((index, entry)) = self
            .entries
            .iter()
            .enumerate()
            .find(|(_, e)| e.name().as_deref() == Some(name))
        {
            return match entry.header.holder.take_over() {
                Ok(Some(_dead)) => {
                    let slots = (0..entry.slots.len())
                        .map(|p| entry.slot(p as u32))
                        .collect();
                    Ok(Claim::TakenOver {
                        entry: index,
                        slots,
                    })
                }
                // Named but held by no one: only a corrupt region gets here (a release clears
                // the name first). Start afresh; the caller's sweep frees its old cursors.
                Ok(None) => {
                    entry.clear();
                    entry.write_name(name);
                    Ok(Claim::New { entry: index })
                }
                Err(holder) => Err(ClaimError::Held(holder)),
            };
        }
        for (index, entry) in self.entries.iter().enumerate() {
            if entry.name().is_none() && matches!(entry.header.holder.take_over(), Ok(None)) {
                entry.clear();
                entry.write_name(name);
                return Ok(Claim::New { entry: index });
            }
        }
        Err(ClaimError::Full)
    }

    /// Deletes the entry of `name` if its holder is dead (the caller's sweep then frees its
    /// cursors): true if there was one, `Err` with the holder while it lives.
    pub(crate) fn delete(&self, name: &str) -> Result<bool, ProcessId> {
        let name = name.as_bytes();
        let Some(entry) = self
            .entries
            .iter()
            .find(|e| e.name().as_deref() == Some(name))
        else {
            return Ok(false);
        };
        entry.header.holder.take_over()?;
        entry.header.name_len.store(0, Ordering::Relaxed);
        entry.clear();
        entry.header.holder.release();
        Ok(true)
    }

    /// The slot entry `entry` records on `partition`, if the entry is named (a group's).
    pub(crate) fn recorded_slot(&self, entry: usize, partition: u32) -> Option<u32> {
        let entry = self.entries.get(entry)?;
        entry.name()?;
        entry.slot(partition)
    }

    /// Records `slot` as the group's cursor on `partition`.
    pub(crate) fn record(&self, entry: usize, partition: u32, slot: u32) {
        self.entries[entry].slots[partition as usize].store(slot, Ordering::Relaxed);
    }

    /// Hands entry `entry` (this process holds it) on as a dead holder's, name and slots kept,
    /// so the next build of the name takes it over and adopts its cursors.
    pub(crate) fn hand_back(&self, entry: usize) {
        self.entries[entry].header.holder.orphan();
    }

    /// Gives entry `entry` up (this process holds it): its slots are freed by the caller after.
    pub(crate) fn release(&self, entry: usize) {
        let entry = &self.entries[entry];
        entry.header.name_len.store(0, Ordering::Relaxed);
        entry.clear();
        entry.header.holder.release();
    }
}

impl Drop for Registry<'_> {
    fn drop(&mut self) {
        self.lock.release();
    }
}

impl Entry<'_> {
    /// The recorded name, if any. Relaxed loads throughout: entries are read and written only
    /// under the registry lock, whose Acquire/AcqRel take orders them.
    fn name(&self) -> Option<Vec<u8>> {
        let len = self.header.name_len.load(Ordering::Relaxed) as usize;
        if len == 0 || len > MAX_GROUP_NAME {
            return None;
        }
        let mut bytes: Vec<u8> = self
            .header
            .name
            .iter()
            .flat_map(|word| word.load(Ordering::Relaxed).to_le_bytes())
            .collect();
        bytes.truncate(len);
        Some(bytes)
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

    fn slot(&self, partition: u32) -> Option<u32> {
        let slot = self.slots[partition as usize].load(Ordering::Relaxed);
        (slot != NO_SLOT).then_some(slot)
    }

    fn clear(&self) {
        for slot in self.slots {
            slot.store(NO_SLOT, Ordering::Relaxed);
        }
    }
}

/// Writes `count` empty entries at `base`.
///
/// # Safety
/// As [`Registry::lock`], on a mapping no one else uses yet.
pub(crate) unsafe fn initialise(base: *mut u8, count: usize, partitions: u32) {
    let stride = entry_stride(partitions);
    for i in 0..count {
        // SAFETY: entry `i` lies in the zeroed mapping (the caller's contract).
        unsafe {
            let at = base.add(i * stride);
            let slots = at.add(std::mem::size_of::<EntryHeader>()) as *mut AtomicU32;
            for p in 0..partitions as usize {
                slots.add(p).write(AtomicU32::new(NO_SLOT));
            }
        }
    }
}
