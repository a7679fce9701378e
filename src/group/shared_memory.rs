//! Consumer groups on shared-memory topics: one process holds a group at a time.
//!
//! A group built on a topic in a region is recorded in the region's group registry (see
//! `shm::groups`) with its cursor's reader slot on each partition, whose value is the group's
//! committed offset. While the building process lives, another process's build of the same
//! name is refused with [`GroupError::HeldByProcess`] (so two processes never both own a
//! partition of one group). Once that process is confirmed dead (pid and start time, never a
//! timeout), the next build of the name adopts its cursors: the group resumes at its commits,
//! and what was polled but not committed is delivered again. Dropping the group (its last
//! handle) gives the name up.
//!
//! Members of one group in several processes at once, rebalancing across them, are not done
//! yet.

use super::error::GroupError;
use crate::ring::group_cursor::GroupCursor;
use crate::ring::{StartAt, Subscriber};
use crate::shm::groups::{Claim, ClaimError, MAX_GROUP_NAME};
use crate::shm::Region;
use crate::sync::StdArc;

/// This process's hold on a group's registry entry; dropping it gives the name up.
pub(crate) struct Registration {
    region: StdArc<Region>,
    entry: usize,
}

impl Drop for Registration {
    fn drop(&mut self) {
        // After the cursors are freed (the group drops them first); a taker-over adopts a
        // recorded slot only while the group's tag is on it, so never one that is someone
        // else's by now.
        self.region.groups().release(self.entry);
    }
}

/// Frees every group cursor that no named registry entry records (a holder killed between
/// changing its entry and its cursors). Registry lock held.
fn sweep<T>(registry: &crate::shm::groups::Registry<'_>, rings: &[Subscriber<T>]) {
    for (partition, ring) in rings.iter().enumerate() {
        for slot in 0..ring.shared().readers().len() {
            let Some(entry) = ring.shared().group_of(slot) else {
                continue;
            };
            if registry.recorded_slot(entry as usize, partition as u32) != Some(slot as u32) {
                GroupCursor::free_orphan(ring, slot);
            }
        }
    }
}

/// The group's cursors on `rings`: registered at `start`, or adopted from a dead holder of
/// the name.
pub(super) fn cursors<T>(
    region: &StdArc<Region>,
    rings: &[Subscriber<T>],
    name: &str,
    start: StartAt,
) -> Result<(Registration, Vec<GroupCursor<T>>), GroupError> {
    let registry = region.groups();
    let claim = registry.claim(name).map_err(|e| match e {
        ClaimError::Held(process) => GroupError::HeldByProcess { pid: process.pid },
        ClaimError::Full => GroupError::TooManyGroups {
            max: region.shape().max_groups,
        },
        ClaimError::NameTooLong => GroupError::NameTooLong {
            max: MAX_GROUP_NAME,
        },
    })?;
    // Frees the cursors of half-released and stale entries (and of holders killed mid-change).
    sweep(&registry, rings);
    let (entry, adopted, taken_over) = match claim {
        Claim::New { entry } => (entry, Vec::new(), false),
        Claim::TakenOver { entry, slots, .. } => (entry, slots, true),
    };
    // Which cursors were adopted (a failed takeover hands them back, commits and all).
    let mut kept = Vec::with_capacity(rings.len());
    let mut cursors: Vec<GroupCursor<T>> = Vec::with_capacity(rings.len());
    for (partition, ring) in rings.iter().enumerate() {
        let adopted = adopted
            .get(partition)
            .copied()
            .flatten()
            .and_then(|slot| GroupCursor::adopt(ring, slot as usize, entry as u32));
        kept.push(adopted.is_some());
        let cursor = match adopted {
            Some(cursor) => cursor,
            None => match GroupCursor::register(ring, start) {
                Ok(cursor) => cursor,
                Err(source) => {
                    if taken_over {
                        // The dead group stays as it was for the next build: its adopted
                        // cursors keep their registrations (and commits), the entry goes back
                        // to a holder that is never alive.
                        for (cursor, kept) in cursors.into_iter().zip(&kept) {
                            if *kept {
                                cursor.leave_registered();
                            }
                        }
                        registry.hand_back(entry);
                    } else {
                        drop(cursors);
                        registry.release(entry);
                    }
                    return Err(GroupError::Subscribe {
                        partition: partition as u32,
                        source,
                    });
                }
            },
        };
        // Recorded first: a kill between the two leaves a recorded slot the next holder
        // adopts or frees, never a group cursor no entry knows.
        registry.record(entry, partition as u32, cursor.slot() as u32);
        cursor.hand_to_group(entry as u32);
        cursors.push(cursor);
    }
    drop(registry);
    let registration = Registration {
        region: region.clone(),
        entry,
    };
    Ok((registration, cursors))
}

impl<T> crate::topic::Topic<T> {
    /// Deletes consumer group `name` of this shared-memory topic, if no live process holds it
    /// (Kafka's `deleteConsumerGroups`): its committed offsets are dropped and it stops gating
    /// the producer. For a group whose process died and that no one will build again. Returns
    /// false when the topic records no group of that name (and for a heap topic, whose groups
    /// end with their last handle); [`GroupError::HeldByProcess`] while a live process,
    /// this one included, holds it.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringgroup::{GroupError, Topic};
    ///
    /// let name = format!("doc-delete-{}", std::process::id());
    /// let (topic, _producer) = Topic::<u64>::builder("t").shared_memory(&name).build()?;
    /// let group = topic.group("g").build()?;
    /// assert!(matches!(topic.delete_group("g"), Err(GroupError::HeldByProcess { .. })));
    /// drop(group); // a clean drop deletes it already
    /// assert_eq!(topic.delete_group("g"), Ok(false));
    /// # ringgroup::shm::remove(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn delete_group(&self, name: &str) -> Result<bool, GroupError> {
        let Some(region) = self.region() else {
            return Ok(false);
        };
        let registry = region.groups();
        let deleted = registry.delete(name);
        // A deleted entry's cursors are no named entry's now: the sweep frees them.
        sweep(&registry, self.subscribers());
        deleted.map_err(|process| GroupError::HeldByProcess { pid: process.pid })
    }
}
