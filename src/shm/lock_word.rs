//! A lock word held by a process, broken only when its holder is confirmed dead.
//!
//! # Algorithm
//!
//! The word is 0 when free, else its holder's packed identity. To take it, load it; if a live
//! holder other than the taker has it, give up (`Err`); otherwise CAS the loaded value to the
//! taker. To give it up, the holder CASes itself back to 0.
//!
//! # Invariants
//! - One holder at a time: every change is a CAS from the value just loaded, so of two takers
//!   that saw the same dead holder, one wins and the other sees the winner.
//! - A live holder is never displaced: the liveness check runs between the load and the CAS,
//!   and a dead identity stays dead (an identity includes the process's start time, so a
//!   reused pid is another identity), so the CAS can only replace the holder that was checked.
//! - The taker's critical section happens-after the previous holder's: the take is `AcqRel`
//!   and the give-up `Release`; a holder that died never gave up, and what it wrote before
//!   dying is what the next holder finds (the next holder must cope with a half-done write).

use crate::sync::{AtomicU64, Ordering};

/// A lock word; see the module docs. Identities are nonzero `u64`s.
#[derive(Debug)]
#[repr(transparent)]
pub struct LockWord(AtomicU64);

impl LockWord {
    /// A free word.
    pub fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    /// Takes the word for `me` if it is free or its holder is dead by `alive`. Returns the dead
    /// holder it replaced, if any; `Err` with the holder while it lives. When `me` already
    /// holds it: `Ok(None)` if `reentrant`, else `Err(me)`.
    pub fn take(
        &self,
        me: u64,
        reentrant: bool,
        alive: impl Fn(u64) -> bool,
    ) -> Result<Option<u64>, u64> {
        debug_assert_ne!(me, 0);
        loop {
            // Acquire: pairs with the previous holder's Release give-up or its AcqRel take.
            let word = self.0.load(Ordering::Acquire);
            match word {
                0 => {}
                _ if word == me && reentrant => return Ok(None),
                _ if word == me || alive(word) => return Err(word),
                _ => {}
            }
            // AcqRel: the winner acquires what the previous holder wrote before it gave up or
            // died, and releases the word to the next taker's Acquire load.
            if self
                .0
                .compare_exchange(word, me, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return Ok((word != 0).then_some(word));
            }
        }
    }

    /// Hands the word from `from` (its holder) to `to`; false if `from` does not hold it.
    pub fn pass(&self, from: u64, to: u64) -> bool {
        // Release: pairs with the next taker's Acquire load, as a give-up does.
        self.0
            .compare_exchange(from, to, Ordering::Release, Ordering::Relaxed)
            .is_ok()
    }

    /// Gives the word up, if `me` holds it.
    pub fn release(&self, me: u64) {
        // Release: pairs with the next taker's Acquire load.
        let _ = self
            .0
            .compare_exchange(me, 0, Ordering::Release, Ordering::Relaxed);
    }

    /// The holder, 0 if none.
    pub fn holder(&self) -> u64 {
        // Acquire: pairs with the holder's take.
        self.0.load(Ordering::Acquire)
    }
}

impl Default for LockWord {
    fn default() -> Self {
        Self::new()
    }
}
