//! Ticket cells: a single, final reply delivered straight into the requester's ticket, and the
//! wake-up that lets a requester park on its cells and its reply ring at once.
//!
//! # Algorithm
//!
//! Each member slot of a heap group has one [`ReplyCell`] per ticket of its correlation table.
//! A cell is a stamp word and a value. The stamp packs the requester's generation (high 32
//! bits), the ticket's 30-bit sequence and a 2-bit state:
//!
//! ```text
//! requester  take ticket:  stamp = tag|ARMED                       (Release)
//! responder  reply:        CAS tag|ARMED -> tag|WRITING            (Acquire)  else: the ring
//!                          write value; stamp = tag|FULL           (Release)
//! requester  wait:         stamp == tag|FULL (Acquire): read value; stamp = tag|IDLE
//! requester  drop ticket:  CAS tag|ARMED -> tag|IDLE, else wait out WRITING, take a FULL value
//! ```
//!
//! The CAS is the only read-modify-write of a reply, and it lets exactly one reply in: a
//! second answer to the same request (a redelivery), a reply to an earlier use of the ticket
//! (another sequence) or to an earlier member of the slot (another generation) finds no
//! `ARMED` stamp of its tag and takes the reply ring, where the requester counts it as a
//! duplicate or late, as before. Streams (every part but a lone, final one) take the ring too,
//! so their parts stay in order.
//!
//! [`Wakeup`] is an event count for a requester that parks (`SpinThenPark`): the ring's
//! `Signal` (a waiter count and a `SeqCst` fence on both sides, the Dekker pattern of
//! `ring::wait`, and a futex word to sleep on). A responder notifies it after every reply to a parking group, cell or
//! ring, so the requester parks on one event whichever way its reply comes.
//!
//! # Invariants
//! - P1 a reply value is written into a cell only by the one responder whose CAS won, read only
//!   by the requester after it saw `FULL`, and dropped exactly once (taken, or dropped with the
//!   cell).
//! - P2 a cell reply reaches only the member generation and ticket use that armed it.
//! - P3 no missed wake-up: a requester parked on [`Wakeup`] is woken by any reply published
//!   after it registered.

use std::mem::MaybeUninit;

use crate::ring::wait::Signal;
use crate::sync::{AtomicU64, Deadline, Ordering, UnsafeCell};

/// The stamp's state bits.
const STATE: u64 = 0b11;
/// No one waits on the cell: replies take the ring.
const IDLE: u64 = 0;
/// The ticket of the stamp's tag waits for its reply.
const ARMED: u64 = 1;
/// A responder is writing the value.
const WRITING: u64 = 2;
/// The value is there.
const FULL: u64 = 3;

/// Bits of a ticket's sequence a stamp keeps (the requester keeps its sequences within them).
pub(crate) const SEQUENCE_MASK: u32 = (1 << 30) - 1;

/// The tag of a ticket use: the member's generation and the ticket's sequence (state bits 0).
#[inline(always)]
pub fn tag(generation: u32, sequence: u32) -> u64 {
    (u64::from(generation) << 32) | (u64::from(sequence & SEQUENCE_MASK) << 2)
}

/// A ticket's cell: one final reply, delivered with one CAS and one store.
#[doc(hidden)]
pub struct ReplyCell<R> {
    stamp: AtomicU64,
    value: UnsafeCell<MaybeUninit<R>>,
}

// SAFETY: the value is written only by the responder whose CAS moved the stamp to WRITING, and
// read only by the requester after its Acquire load saw FULL (or by `Drop`, with `&mut`); the
// stamp hands the value from one thread to the other, so `R: Send` is all a shared cell needs.
unsafe impl<R: Send> Sync for ReplyCell<R> {}
// SAFETY: as above; a cell owns at most one `R`.
unsafe impl<R: Send> Send for ReplyCell<R> {}

impl<R> Default for ReplyCell<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R> ReplyCell<R> {
    /// An idle cell.
    pub fn new() -> Self {
        Self {
            stamp: AtomicU64::new(IDLE),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// Arms the cell for the ticket use `tag` (requester). Drops a value an earlier use left
    /// (none does: every use ends in [`disarm`](Self::disarm) or [`take`](Self::take)).
    #[inline]
    pub fn arm(&self, tag: u64) {
        // Relaxed: only the requester writes a non-ARMED stamp's successor; `settle` below
        // acquires a value left behind before dropping it.
        if self.stamp.load(Ordering::Relaxed) & STATE != IDLE {
            drop(self.settle());
        }
        // Release: pairs with the Acquire CAS in `fill`: the requester's last read (or drop)
        // of the value happens before the next responder writes it.
        self.stamp.store(tag | ARMED, Ordering::Release);
    }

    /// Puts `value` in the cell if it is armed for `tag` (responder); hands it back otherwise.
    #[inline]
    pub fn fill(&self, tag: u64, value: R) -> Result<(), R> {
        // Acquire: pairs with the Release in `arm` (see there). Relaxed on failure: the value
        // goes elsewhere.
        if self
            .stamp
            .compare_exchange(
                tag | ARMED,
                tag | WRITING,
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_err()
        {
            return Err(value);
        }
        // SAFETY: the CAS made this call the cell's only writer (P1), and the requester reads
        // the value only after the FULL store below.
        self.value.with_mut(|slot| unsafe { (*slot).write(value) });
        // Release: pairs with the Acquire loads in `take`, `settle` and `is_full`: the value
        // is written first.
        self.stamp.store(tag | FULL, Ordering::Release);
        Ok(())
    }

    /// True when the value of `tag` is there (requester; for a wait's readiness check).
    #[inline]
    pub fn is_full(&self, tag: u64) -> bool {
        // Acquire: pairs with the Release in `fill`.
        self.stamp.load(Ordering::Acquire) == tag | FULL
    }

    /// Takes the value of `tag` if it is there (requester); the cell is idle after.
    #[inline]
    pub fn take(&self, tag: u64) -> Option<R> {
        if !self.is_full(tag) {
            return None;
        }
        // SAFETY: FULL, seen with Acquire: the responder's write happened before, and no one
        // writes again until the requester arms the cell (P1).
        let value = self
            .value
            .with(|slot| unsafe { (*slot).assume_init_read() });
        // Relaxed: no responder acts on an IDLE stamp; the next `arm`'s Release orders this
        // read before any later write.
        self.stamp.store(tag | IDLE, Ordering::Relaxed);
        Some(value)
    }

    /// Ends the use `tag` (requester): no reply gets in from now on; a value that got in first
    /// is handed back (the caller counts it as late).
    #[inline]
    pub fn disarm(&self, tag: u64) -> Option<R> {
        // Relaxed: only the requester moves a stamp to IDLE, so an IDLE stamp stays IDLE (the
        // reply was taken); anything else is settled below.
        let stamp = self.stamp.load(Ordering::Relaxed);
        if stamp & STATE == IDLE {
            return None;
        }
        // Relaxed: on success no responder wrote (nothing to order); on failure `settle`
        // acquires what a responder wrote.
        match self.stamp.compare_exchange(
            tag | ARMED,
            tag | IDLE,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => None,
            Err(_) => self.settle(),
        }
    }

    /// Waits out a responder's write in progress (a few instructions: its CAS won, its store is
    /// next) and takes a value left in the cell; the cell is idle after.
    #[cold]
    fn settle(&self) -> Option<R> {
        let mut spins = 0_u32;
        loop {
            // Acquire: pairs with the Release in `fill`.
            let stamp = self.stamp.load(Ordering::Acquire);
            match stamp & STATE {
                WRITING => {
                    spins = spins.wrapping_add(1);
                    if spins % 64 == 0 {
                        crate::sync::thread::yield_now();
                    } else {
                        crate::sync::spin_hint();
                    }
                }
                FULL => {
                    // SAFETY: as in `take`: FULL seen with Acquire, and the responder is done.
                    let value = self
                        .value
                        .with(|slot| unsafe { (*slot).assume_init_read() });
                    // Relaxed: as in `take`.
                    self.stamp.store(stamp & !STATE, Ordering::Relaxed);
                    return Some(value);
                }
                _ => {
                    // Relaxed: ARMED or IDLE; no value, and only the requester writes these.
                    self.stamp.store(stamp & !STATE, Ordering::Relaxed);
                    return None;
                }
            }
        }
    }
}

impl<R> Drop for ReplyCell<R> {
    fn drop(&mut self) {
        // `&mut self`: every responder is gone; `settle` finds no write in progress.
        drop(self.settle());
    }
}

impl<R> std::fmt::Debug for ReplyCell<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Relaxed: for display.
        let stamp = self.stamp.load(Ordering::Relaxed);
        f.debug_struct("ReplyCell").field("stamp", &stamp).finish()
    }
}

/// An event count a requester parks on until a reply comes (cell or ring): the ring's own
/// [`Signal`] (waiter count, `SeqCst` fences on both sides, a futex word), behind the names the
/// reply layer and its loom model use.
#[doc(hidden)]
#[derive(Debug)]
pub struct Wakeup(Signal);

impl Default for Wakeup {
    fn default() -> Self {
        Self::new()
    }
}

impl Wakeup {
    /// No one parked.
    pub fn new() -> Self {
        Self(Signal::new())
    }

    /// Wakes every parked waiter; call it after making a waiter's condition true.
    #[inline]
    pub fn notify(&self) {
        self.0.notify();
    }

    /// Parks until `ready()` (a loom model's view of [`park_until`](Self::park_until), which
    /// has no time).
    #[cfg(ringgroup_loom)]
    pub fn park(&self, ready: impl FnMut() -> bool) -> bool {
        self.park_until(Deadline::after(None), ready)
    }

    /// Parks until `ready()` or `deadline`; returns the last value of `ready()`.
    #[cold]
    pub(crate) fn park_until(&self, deadline: Deadline, ready: impl FnMut() -> bool) -> bool {
        self.0.park_until(deadline, ready)
    }
}
