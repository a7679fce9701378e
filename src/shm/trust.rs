//! The trust boundary: a region is memory that other processes can write, so every word read
//! from it is input.
//!
//! # The rule
//!
//! A word read from a region (a cursor, `published`, a claim head, a stamp, a plan word, a
//! reader slot, a name length, a directory entry...) is checked against what can be true
//! *before* it indexes memory, bounds a loop or reaches a user. A value that cannot be true is
//! a [`Corruption`]: the call that read it fails with it, and the region is *poisoned* for this
//! process ([`Poison`]): every later call that reads the region fails with the same corruption,
//! so nothing past it is delivered. Other processes decide for themselves.
//!
//! The checks are bounds the protocols already imply, compared against values the reader holds
//! in registers, so the data path loads nothing extra:
//!
//! - a reader whose cursor gates the writer never sees more than `capacity` offsets ahead of
//!   its position (`ring::reader`, the `published` word);
//! - a claim head is at most one lap past a stopped reader, and claims never overflow it
//!   (`ring::multi`, `ring::claimers`);
//! - in a region's multi-producer ring a claimed slot's stamp always shows its previous lap
//!   finished (`ring::multi`);
//! - a registered cursor is never past the writer's head, nor a new reader's start past the
//!   announced limit (`ring::shared`), nor a group's committed offset past `published`
//!   (`ring::group_cursor`);
//! - registry and directory words stay inside the ranges their writers use (`shm::groups`,
//!   `producer_group::shared_memory`).
//!
//! # What no check can do
//!
//! A forged value that could be true cannot be told from a true one. A process that can write
//! the region can write the slots themselves, and it can also make a producer overwrite slots a
//! reader still holds: a gating word (a reader's cursor, a holder word, `readers_high`, a
//! multi-producer claim limit) moved forward within what is possible lets the producer lap the
//! reader. The records already lent may then change under it; the reader finds itself lapped
//! at its next poll (more than a lap published past it, or its slot holding a later lap's
//! stamp), which cannot be true for a reader that gates the producer, and gets `Corrupt`. That
//! is why region files are owner-only by default (see `shm::access`): the checks keep a
//! neighbour's bug or malice from reaching memory outside the mapping or stalling a process
//! for ever, and keep what a poll lends to slots that were written.
//!
//! A [`Boundary`] is what a ring in a region carries: the region's poison and the ring's
//! partition, so a corruption names both. A ring on the heap has none, and its checks compile
//! to nothing it did not do before.
//!
//! # Invariants
//! - No region word indexes memory or sizes a lent batch before a check here or in the
//!   accessor that read it.
//! - Once poisoned, a region stays poisoned for the process, with the first corruption found.

use std::fmt;

use crate::sync::{OnceLock, StdArc};

/// A word read from a shared-memory region holds a value that cannot be true: another process
/// wrote it (a bug, or a hostile neighbour). The call that read it changed nothing past the
/// check, and the region is poisoned for this process: later calls on it return this too.
///
/// # Examples
///
/// ```
/// use ringgroup::shm::Corruption;
///
/// let corruption = Corruption::new(Some(3), "published", 1 << 40);
/// assert_eq!(corruption.partition, Some(3));
/// assert_eq!(
///     corruption.to_string(),
///     "shared-memory region corrupt: partition 3's published word holds 1099511627776"
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Corruption {
    /// The partition whose word it is (`None` for a word of the region as a whole: the
    /// header, the group registry, the producer-group directory).
    pub partition: Option<u32>,
    /// Which word.
    pub word: &'static str,
    /// The value found.
    pub found: u64,
}

impl Corruption {
    /// A corruption of `word` (of `partition`, if it is a partition's) holding `found`.
    pub fn new(partition: Option<u32>, word: &'static str, found: u64) -> Self {
        Self {
            partition,
            word,
            found,
        }
    }
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.partition {
            Some(partition) => write!(
                f,
                "shared-memory region corrupt: partition {partition}'s {} word holds {}",
                self.word, self.found
            ),
            None => write!(
                f,
                "shared-memory region corrupt: its {} word holds {}",
                self.word, self.found
            ),
        }
    }
}

impl std::error::Error for Corruption {}

/// A region's poison, for this process: the first corruption any of its handles found.
#[derive(Debug, Default)]
pub(crate) struct Poison {
    first: OnceLock<Corruption>,
}

impl Poison {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// `Err` with the first corruption once the region is poisoned.
    #[inline]
    pub(crate) fn check(&self) -> Result<(), Corruption> {
        match self.first.get() {
            None => Ok(()),
            Some(corruption) => Err(*corruption),
        }
    }

    /// Poisons the region with `corruption` (if it is not already) and returns the corruption
    /// it is poisoned with.
    #[cold]
    #[inline(never)]
    pub(crate) fn raise(&self, corruption: Corruption) -> Corruption {
        *self.first.get_or_init(|| corruption)
    }
}

/// What a ring in a region carries to check its words: the region's poison and the ring's
/// partition.
#[derive(Clone, Debug)]
pub(crate) struct Boundary {
    poison: StdArc<Poison>,
    partition: u32,
}

impl Boundary {
    pub(crate) fn new(poison: StdArc<Poison>, partition: u32) -> Self {
        Self { poison, partition }
    }

    /// `Err` once the region is poisoned.
    #[inline]
    pub(crate) fn check(&self) -> Result<(), Corruption> {
        self.poison.check()
    }

    /// The ring's `word` holds `found`, which cannot be true: poisons the region.
    #[cold]
    #[inline(never)]
    pub(crate) fn violated(&self, word: &'static str, found: u64) -> Corruption {
        self.poison
            .raise(Corruption::new(Some(self.partition), word, found))
    }
}

#[cfg(all(test, not(ringgroup_loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_first_corruption_poisons_for_good() {
        let poison = StdArc::new(Poison::new());
        let ring = Boundary::new(poison.clone(), 2);
        assert_eq!(ring.check(), Ok(()));
        let first = ring.violated("published", 9);
        assert_eq!(first, Corruption::new(Some(2), "published", 9));
        // A later corruption is reported as the first one.
        assert_eq!(ring.violated("head", 1), first);
        assert_eq!(Boundary::new(poison, 0).check(), Err(first));
    }
}
