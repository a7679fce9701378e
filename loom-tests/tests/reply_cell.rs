//! loom models of a ticket's reply cell and the requester's wake-up (`producer_group::cell`):
//! a lone, final reply is written by exactly one responder, read by the requester only after it
//! is whole, never reaches a later use of the ticket, is dropped exactly once, and a parked
//! requester is always woken by it (P1-P3).
//!
//! The value is a loom `Arc`: loom checks that every access to the cell's value happens after
//! the one before it (a reading requester and a writing responder that race fail the model),
//! and its leak check fails a model whose reply is never dropped.
#![cfg(ringgroup_loom)]

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use ringgroup::producer_group::model::{tag, ReplyCell, Wakeup};

/// A reply that counts its drops.
struct Value {
    id: u32,
    drops: Arc<AtomicUsize>,
}

impl Drop for Value {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::Relaxed);
    }
}

fn value(id: u32, drops: &Arc<AtomicUsize>) -> Value {
    Value {
        id,
        drops: drops.clone(),
    }
}

/// Spins (yielding to the model) until the cell holds the reply of `tag`.
fn take(cell: &ReplyCell<Value>, tag: u64) -> Value {
    loop {
        if let Some(value) = cell.take(tag) {
            return value;
        }
        thread::yield_now();
    }
}

/// Two responders answer the same request (a redelivery) while the requester waits: exactly
/// one reply gets in, and the requester reads it whole.
#[test]
fn one_of_two_answers_reaches_the_ticket_whole() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let cell = Arc::new(ReplyCell::<Value>::new());
        let t = tag(1, 1);
        cell.arm(t);
        let responders: Vec<_> = [10, 20]
            .into_iter()
            .map(|id| {
                let (cell, drops) = (cell.clone(), drops.clone());
                thread::spawn(move || cell.fill(t, value(id, &drops)).is_ok())
            })
            .collect();
        let got = take(&cell, t);
        let won: Vec<bool> = responders.into_iter().map(|r| r.join().unwrap()).collect();
        assert_eq!(won.iter().filter(|w| **w).count(), 1, "one reply gets in");
        let winner = if won[0] { 10 } else { 20 };
        assert_eq!(got.id, winner);
        drop(got);
        // The losing reply was handed back to its responder and dropped there.
        assert_eq!(drops.load(Ordering::Relaxed), 2);
    });
}

/// A ticket used twice: the first reply is read, the ticket armed again for its next use, and
/// a second responder tries the next use once, at any moment, while a late answer to the first
/// use races it.
/// The late answer never gets in; the next use's reply is written only after the requester
/// read the first (the arm's Release), and each value is dropped once.
#[test]
fn a_reused_ticket_takes_only_its_own_reply() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let cell = Arc::new(ReplyCell::<Value>::new());
        let (first, second) = (tag(1, 1), tag(1, 2));
        cell.arm(first);
        let answer_first = {
            let (cell, drops) = (cell.clone(), drops.clone());
            thread::spawn(move || {
                assert!(cell.fill(first, value(1, &drops)).is_ok());
                // A duplicate of the first use, at any later moment: never gets in.
                assert!(cell.fill(first, value(3, &drops)).is_err());
            })
        };
        let answer_second = {
            let (cell, drops) = (cell.clone(), drops.clone());
            // One try at the second use, at any moment: in only if it is armed by then.
            thread::spawn(move || cell.fill(second, value(2, &drops)).is_ok())
        };
        assert_eq!(take(&cell, first).id, 1);
        cell.arm(second);
        answer_first.join().unwrap();
        if answer_second.join().unwrap() {
            assert_eq!(cell.take(second).map(|v| v.id), Some(2));
        } else {
            assert!(cell.take(second).is_none());
        }
        assert_eq!(drops.load(Ordering::Relaxed), 3);
    });
}

/// The requester drops its ticket while a responder answers it: the reply is either kept out
/// (the responder gets it back) or handed to the requester as late, never left in the cell,
/// and the cell is armed again for the next use.
#[test]
fn a_dropped_ticket_hands_back_a_reply_that_raced_it() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let cell = Arc::new(ReplyCell::<Value>::new());
        let t = tag(1, 1);
        cell.arm(t);
        let responder = {
            let (cell, drops) = (cell.clone(), drops.clone());
            thread::spawn(move || cell.fill(t, value(1, &drops)).is_ok())
        };
        let late = cell.disarm(t);
        let got_in = responder.join().unwrap();
        assert_eq!(late.is_some(), got_in, "a reply that got in is handed back");
        drop(late);
        assert_eq!(drops.load(Ordering::Relaxed), 1);
        cell.arm(tag(1, 2));
        assert!(cell.take(tag(1, 2)).is_none());
    });
}

/// A requester parks until its reply is in; the responder fills the cell and notifies. The
/// requester is always woken (a missed wake-up is a deadlock loom reports).
#[test]
fn a_parked_requester_is_woken_by_its_reply() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let cell = Arc::new(ReplyCell::<Value>::new());
        let wakeup = Arc::new(Wakeup::new());
        let t = tag(1, 1);
        cell.arm(t);
        let responder = {
            let (cell, wakeup, drops) = (cell.clone(), wakeup.clone(), drops.clone());
            thread::spawn(move || {
                assert!(cell.fill(t, value(7, &drops)).is_ok());
                wakeup.notify();
            })
        };
        assert!(wakeup.park(|| cell.is_full(t)));
        assert_eq!(take(&cell, t).id, 7);
        responder.join().unwrap();
    });
}
