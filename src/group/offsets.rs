//! A member's offsets: commits, seeks, positions and pauses (Kafka's `commitSync`,
//! `seek`, `position`, `committed`, `pause` and `resume`).
//!
//! # Algorithm
//!
//! Each call takes the partition's lease for the member's current tenure, so it acts only while
//! the member owns the partition: after a revoke or an eviction the lease fails and the call
//! says `Fenced`, changing nothing (I5). While a batch of the partition is lent, the member
//! already holds its lease: a commit inside the batch's range is kept and made when the batch
//! is dropped, since committing would let the writer reuse slots the batch still reads (I3).
//!
//! # Invariants
//! - **I6** a commit is at least the committed offset and at most what was delivered; only a
//!   seek moves the commit back, and only to an offset the ring still holds.

use super::consumer::Consumer;
use super::error::{CommitError, OwnershipError, SeekError};
use super::table::PartitionEntry;

impl<T> Consumer<T> {
    /// Commits everything delivered on every owned partition (records still lent are committed
    /// when they are dropped).
    ///
    /// Every partition is tried; the first error (a partition whose tenure ended) is returned
    /// after the others were committed.
    pub fn commit(&self) -> Result<(), CommitError> {
        let lent = self.outstanding.get().map(|mut lent| {
            lent.commit = Some(lent.end());
            self.outstanding.set(Some(lent));
            lent.partition
        });
        let state = self.state.borrow();
        let mut first_error = Ok(());
        for owned in state.owned.iter().filter(|o| Some(o.partition) != lent) {
            let entry = &self.group.entries[owned.partition as usize];
            if entry.commit_polled(state.id, owned.epoch).is_err() && first_error.is_ok() {
                first_error = Err(CommitError::Fenced {
                    partition: owned.partition,
                    epoch: owned.epoch,
                });
            }
        }
        first_error
    }

    /// Commits `offset` (the next offset to read) on `partition`. While records of that
    /// partition are lent, a commit inside their range takes effect when they are dropped.
    ///
    /// Errors: `UnknownPartition`; `Fenced` if this member's tenure ended, `NotOwned` if it never
    /// held the partition; `BeyondPolled` past what was delivered; `Behind` below the committed
    /// offset (commits never move back).
    pub fn commit_offset(&self, partition: u32, offset: u64) -> Result<(), CommitError> {
        let entry = self.entry(partition)?;
        if let Some(mut lent) = self.lent_on(partition) {
            let committed = entry.committed().max(lent.commit.unwrap_or(0));
            check_commit(partition, offset, committed, lent.end())?;
            if offset <= lent.first {
                // SAFETY: the lent batch's lease is ours; the records read only the ring.
                unsafe { entry.held_cursor() }.commit(offset);
            } else {
                lent.commit = Some(offset);
                self.outstanding.set(Some(lent));
            }
            return Ok(());
        }
        let (id, epoch) = self.tenure(partition)?;
        let mut lease = entry
            .lease(id, epoch)
            .map_err(|_| CommitError::Fenced { partition, epoch })?;
        let cursor = lease.cursor();
        check_commit(partition, offset, cursor.committed(), cursor.position())?;
        cursor.commit(offset);
        Ok(())
    }

    /// Moves this member's read position on `partition` to `offset`. Seeking below the
    /// committed offset rewinds the commit too, if the ring still holds the messages.
    pub fn seek(&self, partition: u32, offset: u64) -> Result<(), SeekError> {
        let entry = self.entry(partition)?;
        if self.lent_on(partition).is_some() {
            return Err(SeekError::BatchOutstanding { partition });
        }
        let (id, epoch) = self.tenure(partition)?;
        let mut lease = entry
            .lease(id, epoch)
            .map_err(|_| SeekError::Fenced { partition, epoch })?;
        let cursor = lease.cursor();
        if offset < cursor.committed() {
            return cursor
                .rewind(offset)
                .map_err(|source| SeekError::NotRetained { partition, source });
        }
        let latest = entry.ring().latest_offset();
        if offset > latest {
            return Err(SeekError::BeyondLatest {
                partition,
                offset,
                latest,
            });
        }
        cursor.set_position(offset);
        Ok(())
    }

    /// The offset of the next record this member will get from `partition` (Kafka's
    /// `position`): after a lent batch, the offset past it.
    pub fn position(&self, partition: u32) -> Result<u64, OwnershipError> {
        let entry = self.entry(partition)?;
        if let Some(lent) = self.lent_on(partition) {
            return Ok(lent.end());
        }
        let (id, epoch) = self.tenure(partition)?;
        let mut lease = entry
            .lease(id, epoch)
            .map_err(|_| OwnershipError::Fenced { partition, epoch })?;
        Ok(lease.cursor().position())
    }

    /// The group's committed offset on `partition` (any partition of the topic, owned or not),
    /// or `None` if there is no such partition.
    pub fn committed(&self, partition: u32) -> Option<u64> {
        self.group
            .entries
            .get(partition as usize)
            .map(PartitionEntry::committed)
    }

    /// Stops delivering `partitions` (Kafka's `pause`): they stay owned, keep their position,
    /// and are not returned by `poll` until [`resume`](Self::resume)d. Every partition must be
    /// owned now, or nothing changes. A partition that moves away is no longer paused.
    pub fn pause(&self, partitions: &[u32]) -> Result<(), OwnershipError> {
        self.set_paused(partitions, true)
    }

    /// Delivers paused partitions again.
    pub fn resume(&self, partitions: &[u32]) -> Result<(), OwnershipError> {
        self.set_paused(partitions, false)
    }

    /// The partitions paused now.
    pub fn paused(&self) -> Vec<u32> {
        let state = self.state.borrow();
        state
            .owned
            .iter()
            .filter(|o| o.paused)
            .map(|o| o.partition)
            .collect()
    }

    fn set_paused(&self, partitions: &[u32], paused: bool) -> Result<(), OwnershipError> {
        for &partition in partitions {
            self.entry(partition)?;
            self.tenure(partition)?;
        }
        let mut state = self.state.borrow_mut();
        for owned in state
            .owned
            .iter_mut()
            .filter(|o| partitions.contains(&o.partition))
        {
            owned.paused = paused;
        }
        Ok(())
    }
}

/// The rules of a commit: not past what was delivered, not below the commit.
fn check_commit(
    partition: u32,
    offset: u64,
    committed: u64,
    polled: u64,
) -> Result<(), CommitError> {
    if offset > polled {
        return Err(CommitError::BeyondPolled {
            partition,
            offset,
            polled,
        });
    }
    if offset < committed {
        return Err(CommitError::Behind {
            partition,
            offset,
            committed,
        });
    }
    Ok(())
}
