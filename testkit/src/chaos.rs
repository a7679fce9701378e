//! The chaos workload's bookkeeping, shared by `tests/group_chaos.rs` and the harness's `chaos`
//! subcommand: how a member life ends ([`draw_life`]), and a bounded [`Ledger`] per group of
//! what its members were handed.
//!
//! The workload: a producer publishes each partition's offsets `0, 1, 2, ...` as the messages'
//! values; in each group, worker threads live member lives one after another (join, poll a
//! random number of batches, then leave, panic mid-batch or stall past `max_poll_interval`).
//!
//! The ledger keeps constant memory per partition, whatever the message count. Its counters are
//! written by the member holding the partition's batch (the holder is exclusive, and checked to
//! be, so each partition's counters have one writer at a time):
//!
//! - `lost`: an offset jumped over (a delivery beyond the next undelivered offset), or never
//!   delivered by the end;
//! - `reordered`: a record whose value is not its offset, or a member seeing a partition's
//!   offsets repeat or go backwards within one life;
//! - `concurrent_owners`: two members holding batches of one partition at once;
//! - `duplicates`: deliveries of an offset already delivered, allowed only up to
//!   `uncommitted_window`, the messages of batches abandoned by a panic;
//! - `duplicates_after_dedupe`: offsets processed twice through the caller's dedupe window;
//!   `unprocessed`: delivered offsets that the window never let through;
//! - `unfenced_stalls`: members that stalled past `max_poll_interval` and were not fenced.
//!
//! Partitions are `u32`, offsets `u64` and members `u32`, with 0 meaning "no holder". The dedupe
//! window is the caller's type `W`, one per partition, behind a mutex: the ledger only asks it,
//! through a closure, whether a delivery is the first.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::random::next_random;

/// How a member life ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Leaves cleanly (drops its consumer).
    Leave,
    /// Panics in the middle of its last batch (at [`panic_point`]), abandoning it uncommitted.
    Panic,
    /// Stops polling and heartbeating, so it must be evicted and then fenced.
    Stall,
}

/// Draws a member life from `state`: how many polls it makes (20 to 419), and its fate (one in
/// ten panics, one in ten stalls, the rest leave).
pub fn draw_life(state: &mut u64) -> (u64, Fate) {
    let polls = 20 + next_random(state) % 400;
    let fate = match next_random(state) % 10 {
        0 => Fate::Panic,
        1 => Fate::Stall,
        _ => Fate::Leave,
    };
    (polls, fate)
}

/// The index of the record in a batch of `len` at which a [`Fate::Panic`] member dies: the
/// middle, so the batch is part-processed and uncommitted.
pub fn panic_point(len: usize) -> usize {
    len / 2
}

/// Violations described in words, at most this many.
const NOTES: usize = 16;

/// One group's account of the chaos workload (module docs).
pub struct Ledger<W> {
    partitions: Vec<PartitionLedger<W>>,
    deliveries: AtomicU64,
    lost_by_gap: AtomicU64,
    reordered: AtomicU64,
    concurrent_owners: AtomicU64,
    duplicates: AtomicU64,
    duplicates_after_dedupe: AtomicU64,
    unprocessed_by_gap: AtomicU64,
    abandoned: AtomicU64,
    lives: AtomicU64,
    unfenced_stalls: AtomicU64,
    notes: Mutex<Vec<String>>,
}

struct PartitionLedger<W> {
    /// The member holding a batch of this partition, 0 when none.
    holder: AtomicU32,
    /// Every offset below this was delivered.
    delivered_below: AtomicU64,
    /// Every offset below this was processed (passed the dedupe window).
    processed_below: AtomicU64,
    dedupe: Mutex<W>,
}

/// One member life's view: the last offset it saw of each partition.
#[derive(Clone, Debug)]
pub struct Seen(Vec<Option<u64>>);

/// The ledger's counts at the end of a run (module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Messages published, over all partitions.
    pub published: u64,
    /// Records handed to members, duplicates included.
    pub deliveries: u64,
    /// Offsets jumped over or never delivered.
    pub lost: u64,
    /// Records out of order, or not carrying their offset.
    pub reordered: u64,
    /// Times a member took a batch of a partition another member held.
    pub concurrent_owners: u64,
    /// Deliveries of an offset already delivered.
    pub duplicates: u64,
    /// The bound on `duplicates`: messages of batches abandoned by a panic.
    pub uncommitted_window: u64,
    /// Offsets processed twice despite the dedupe window.
    pub duplicates_after_dedupe: u64,
    /// Delivered offsets never processed.
    pub unprocessed: u64,
    /// Member lives begun.
    pub lives: u64,
    /// Stalled members that were not fenced.
    pub unfenced_stalls: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<W> Ledger<W> {
    /// A ledger of `partitions` partitions, each with a dedupe window made by `window`.
    pub fn new<E>(partitions: u32, mut window: impl FnMut() -> Result<W, E>) -> Result<Self, E> {
        let partitions = (0..partitions)
            .map(|_| {
                Ok(PartitionLedger {
                    holder: AtomicU32::new(0),
                    delivered_below: AtomicU64::new(0),
                    processed_below: AtomicU64::new(0),
                    dedupe: Mutex::new(window()?),
                })
            })
            .collect::<Result<_, E>>()?;
        Ok(Self {
            partitions,
            deliveries: AtomicU64::new(0),
            lost_by_gap: AtomicU64::new(0),
            reordered: AtomicU64::new(0),
            concurrent_owners: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            duplicates_after_dedupe: AtomicU64::new(0),
            unprocessed_by_gap: AtomicU64::new(0),
            abandoned: AtomicU64::new(0),
            lives: AtomicU64::new(0),
            unfenced_stalls: AtomicU64::new(0),
            notes: Mutex::new(Vec::new()),
        })
    }

    /// Partitions the ledger keeps.
    pub fn partitions(&self) -> usize {
        self.partitions.len()
    }

    /// Counts a member life begun and returns its (empty) view.
    pub fn life(&self) -> Seen {
        self.lives.fetch_add(1, Ordering::Relaxed);
        Seen(vec![None; self.partitions.len()])
    }

    fn note(&self, what: impl FnOnce() -> String) {
        let mut notes = lock(&self.notes);
        if notes.len() < NOTES {
            notes.push(what());
        }
    }

    /// `member` (not 0) takes a batch of `partition`; counts a concurrent owner when another
    /// member holds one. Returns whether the partition was free.
    pub fn hold(&self, partition: u32, member: u32) -> bool {
        let p = &self.partitions[partition as usize];
        // AcqRel: pairs with the previous holder's Release store in `release`, so its ledger
        // writes happen-before ours.
        match p
            .holder
            .compare_exchange(0, member, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(other) => {
                self.concurrent_owners.fetch_add(1, Ordering::Relaxed);
                self.note(|| {
                    format!("partition {partition}: members {other} and {member} at once")
                });
                false
            }
        }
    }

    /// The holder of `partition` is done with its batch.
    pub fn release(&self, partition: u32) {
        // Release: pairs with the next holder's AcqRel compare_exchange in `hold`.
        self.partitions[partition as usize]
            .holder
            .store(0, Ordering::Release);
    }

    /// Accounts one record handed to `member` (the partition's holder) in the life `seen`:
    /// checks that it carries its offset and comes after the last one this life saw, books the
    /// delivery, and asks the partition's dedupe window (`first_time`) whether to process it.
    pub fn record(
        &self,
        seen: &mut Seen,
        member: u32,
        partition: u32,
        offset: u64,
        value: u64,
        first_time: impl FnOnce(&mut W) -> bool,
    ) {
        let last = &mut seen.0[partition as usize];
        if value != offset {
            self.reordered.fetch_add(1, Ordering::Relaxed);
            self.note(|| format!("p{partition} offset {offset} holds {value}"));
        } else if let Some(before) = last.filter(|&before| offset <= before) {
            self.reordered.fetch_add(1, Ordering::Relaxed);
            self.note(|| format!("member {member} p{partition}: {offset} after {before}"));
        }
        *last = Some(offset);
        self.deliver(partition, offset, first_time);
    }

    /// Books one delivery of `offset` by the partition's holder (see [`record`](Self::record)).
    pub fn deliver(&self, partition: u32, offset: u64, first_time: impl FnOnce(&mut W) -> bool) {
        let p = &self.partitions[partition as usize];
        self.deliveries.fetch_add(1, Ordering::Relaxed);
        let below = p.delivered_below.load(Ordering::Relaxed);
        if offset < below {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
        } else {
            self.lost_by_gap
                .fetch_add(offset - below, Ordering::Relaxed);
            p.delivered_below.store(offset + 1, Ordering::Relaxed);
        }
        if first_time(&mut lock(&p.dedupe)) {
            let processed = p.processed_below.load(Ordering::Relaxed);
            if offset < processed {
                self.duplicates_after_dedupe.fetch_add(1, Ordering::Relaxed);
                self.note(|| format!("p{partition} offset {offset} processed twice"));
            } else {
                self.unprocessed_by_gap
                    .fetch_add(offset - processed, Ordering::Relaxed);
                p.processed_below.store(offset + 1, Ordering::Relaxed);
            }
        }
    }

    /// A member abandons a batch of `messages` (it panics mid-batch): they stay uncommitted
    /// and may come again.
    pub fn abandon(&self, messages: usize) {
        self.abandoned.fetch_add(messages as u64, Ordering::Relaxed);
    }

    /// A member stalled past `max_poll_interval` but was not fenced; `what` says how it went on.
    pub fn unfenced_stall(&self, what: impl FnOnce() -> String) {
        self.unfenced_stalls.fetch_add(1, Ordering::Relaxed);
        self.note(what);
    }

    /// The first offset of `partition` not yet delivered (every one below it was).
    pub fn delivered_below(&self, partition: u32) -> u64 {
        self.partitions[partition as usize]
            .delivered_below
            .load(Ordering::Relaxed)
    }

    /// Whether every partition delivered all of its `published` offsets.
    pub fn delivered_all(&self, published: &[u64]) -> bool {
        self.partitions
            .iter()
            .zip(published)
            .all(|(p, &n)| p.delivered_below.load(Ordering::Relaxed) >= n)
    }

    /// The first violations, described (at most 16).
    pub fn notes(&self) -> Vec<String> {
        lock(&self.notes).clone()
    }

    /// The counts, given what was `published` to each partition. Read it after the members'
    /// threads were joined.
    pub fn tally(&self, published: &[u64]) -> Tally {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let mut undelivered = 0;
        let mut unprocessed = 0;
        for (p, &n) in self.partitions.iter().zip(published) {
            let delivered = p.delivered_below.load(Ordering::Relaxed);
            undelivered += n.saturating_sub(delivered);
            unprocessed += delivered.saturating_sub(p.processed_below.load(Ordering::Relaxed));
        }
        Tally {
            published: published.iter().sum(),
            deliveries: load(&self.deliveries),
            lost: load(&self.lost_by_gap) + undelivered,
            reordered: load(&self.reordered),
            concurrent_owners: load(&self.concurrent_owners),
            duplicates: load(&self.duplicates),
            uncommitted_window: load(&self.abandoned),
            duplicates_after_dedupe: load(&self.duplicates_after_dedupe),
            unprocessed: load(&self.unprocessed_by_gap) + unprocessed,
            lives: load(&self.lives),
            unfenced_stalls: load(&self.unfenced_stalls),
        }
    }
}

impl Tally {
    /// The invariants that broke, described; empty when none did.
    pub fn broken(&self) -> Vec<String> {
        let mut broken = Vec::new();
        let mut check = |ok: bool, what: String| {
            if !ok {
                broken.push(what);
            }
        };
        check(self.lost == 0, format!("{} lost", self.lost));
        check(self.reordered == 0, format!("{} reordered", self.reordered));
        check(
            self.concurrent_owners == 0,
            format!("{} concurrent owners", self.concurrent_owners),
        );
        check(
            self.duplicates <= self.uncommitted_window,
            format!(
                "{} duplicates beyond the {} uncommitted",
                self.duplicates, self.uncommitted_window
            ),
        );
        check(
            self.duplicates_after_dedupe == 0,
            format!(
                "{} processed twice despite dedupe",
                self.duplicates_after_dedupe
            ),
        );
        check(
            self.unprocessed == 0,
            format!("{} delivered but never processed", self.unprocessed),
        );
        check(
            self.unfenced_stalls == 0,
            format!("{} stalled members not fenced", self.unfenced_stalls),
        );
        broken
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// A dedupe window that remembers everything.
    fn ledger() -> Ledger<HashSet<u64>> {
        Ledger::new(2, || Ok::<_, ()>(HashSet::new())).unwrap()
    }

    fn first(offset: u64) -> impl FnOnce(&mut HashSet<u64>) -> bool {
        move |w| w.insert(offset)
    }

    #[test]
    fn a_clean_run_breaks_nothing() {
        let ledger = ledger();
        let mut seen = ledger.life();
        for partition in 0..2 {
            assert!(ledger.hold(partition, 7));
            for offset in 0..10 {
                ledger.record(&mut seen, 7, partition, offset, offset, first(offset));
            }
            ledger.release(partition);
        }
        assert!(ledger.delivered_all(&[10, 10]));
        assert!(!ledger.delivered_all(&[11, 10]));
        let tally = ledger.tally(&[10, 10]);
        assert_eq!(tally.broken(), Vec::<String>::new());
        assert_eq!(
            (tally.published, tally.deliveries, tally.lives),
            (20, 20, 1)
        );
    }

    #[test]
    fn every_violation_is_counted() {
        let ledger = ledger();
        let mut a = ledger.life();
        assert!(ledger.hold(0, 1));
        assert!(!ledger.hold(0, 2), "a second holder is a concurrent owner");
        for offset in [0, 1, 2, 5, 4] {
            ledger.record(&mut a, 1, 0, offset, offset, first(offset));
        }
        ledger.record(&mut a, 1, 0, 6, 99, first(6));
        ledger.abandon(1);
        ledger.release(0);
        // A new life redelivers 1 and 2, and a window that forgot 1 lets it through again.
        let mut b = ledger.life();
        for offset in [1, 2] {
            ledger.record(&mut b, 2, 0, offset, offset, |_| offset == 1);
        }
        ledger.unfenced_stall(|| "member 2 kept polling".into());
        let tally = ledger.tally(&[8, 1]);
        assert_eq!(tally.concurrent_owners, 1);
        assert_eq!(tally.reordered, 2, "4 after 5, and offset 6 holding 99");
        assert_eq!(
            tally.lost,
            2 + 1 + 1,
            "3 and 4 jumped, 7 and partition 1's 0 never came"
        );
        assert_eq!(tally.duplicates, 3, "4 below 6, then 1 and 2 again");
        assert_eq!(tally.uncommitted_window, 1);
        // 1 again, and 4: it came after 5 had been processed, and the bounded ledger counts
        // that as a second processing (it errs towards reporting).
        assert_eq!(tally.duplicates_after_dedupe, 2);
        assert_eq!(
            tally.unprocessed, 2,
            "3 and 4 were jumped in processing too"
        );
        assert_eq!(tally.unfenced_stalls, 1);
        assert_eq!(tally.broken().len(), 7, "{:?}", tally.broken());
        assert_eq!(ledger.notes().len(), 6, "{:?}", ledger.notes());
    }

    #[test]
    fn lives_are_drawn_as_the_workload_expects() {
        let mut state = 0xC0FFEE;
        let lives: Vec<(u64, Fate)> = (0..1000).map(|_| draw_life(&mut state)).collect();
        assert!(lives.iter().all(|&(polls, _)| (20..420).contains(&polls)));
        let count = |fate| lives.iter().filter(|&&(_, f)| f == fate).count();
        assert!(
            (50..150).contains(&count(Fate::Panic)),
            "{}",
            count(Fate::Panic)
        );
        assert!(
            (50..150).contains(&count(Fate::Stall)),
            "{}",
            count(Fate::Stall)
        );
        assert_eq!(panic_point(64), 32);
    }
}
