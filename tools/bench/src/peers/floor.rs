//! `floor`: the physical floor of a ping-pong on this machine, a reference rather than a queue.
//!
//! Each direction is one cache line (`CachePadded<AtomicU64>`) and nothing else: sending stores
//! the value + 1 (Release), receiving spins (the same [`Waiting`](super::Waiting) as every
//! system, through the drivers) until an Acquire load sees the word change. A round trip is
//! then the line moving to the echo's core and the other line moving back, which no queue can
//! beat: it has no slots, no indices and no back-pressure (a second send before the first was
//! seen would overwrite it), so it only runs `ping-pong`, where each message waits for its echo.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_utils::CachePadded;

use super::{Rx, Tx};

/// The sending side of one line.
pub struct FloorTx(Arc<CachePadded<AtomicU64>>);

/// The receiving side of one line, with the last word it saw.
pub struct FloorRx {
    line: Arc<CachePadded<AtomicU64>>,
    seen: u64,
}

/// One direction: a single cache line, zero ("nothing sent yet") at first.
pub fn line() -> (FloorTx, FloorRx) {
    let line = Arc::new(CachePadded::new(AtomicU64::new(0)));
    (FloorTx(Arc::clone(&line)), FloorRx { line, seen: 0 })
}

impl Tx for FloorTx {
    #[inline(always)]
    fn try_send(&mut self, value: u64) -> Result<(), u64> {
        // Release: pairs with the Acquire load in `FloorRx::try_recv`. `+ 1` keeps the first
        // message (0) apart from the initial word; the values sent are 0, 1, 2, ..., so every
        // send changes the word.
        self.0.store(value.wrapping_add(1), Ordering::Release);
        Ok(())
    }
}

impl Rx for FloorRx {
    #[inline(always)]
    fn try_recv(&mut self) -> Option<u64> {
        // Acquire: pairs with the Release store in `FloorTx::try_send`.
        let word = self.line.load(Ordering::Acquire);
        if word == self.seen {
            return None;
        }
        self.seen = word;
        Some(word.wrapping_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_hands_over_each_value_once() {
        let (mut tx, mut rx) = line();
        assert_eq!(rx.try_recv(), None);
        for value in 0..3 {
            tx.try_send(value).unwrap();
            assert_eq!(rx.try_recv(), Some(value));
            assert_eq!(rx.try_recv(), None);
        }
    }
}
