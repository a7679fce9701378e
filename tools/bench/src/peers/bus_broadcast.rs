//! `bus`: `try_broadcast` / `try_recv`. A broadcast: every reader sees every message. No batch
//! operation: batches go one by one, and a drain takes messages until none is ready. Each `Bus` also runs its own idle unparking thread, which
//! our try-only use never wakes.

use bus::{Bus, BusReader};

use super::{Plan, Rx, Tx};

/// The broadcasting side of a bus.
pub struct BusTx(Bus<u64>);

/// One reader of a bus.
pub struct BusRx(BusReader<u64>);

/// A bus of `plan.capacity` slots with `readers` readers, added before any broadcast.
pub fn broadcast(plan: &Plan, readers: usize) -> (BusTx, Vec<BusRx>) {
    let mut bus = Bus::new(plan.capacity);
    let readers = (0..readers).map(|_| BusRx(bus.add_rx())).collect();
    (BusTx(bus), readers)
}

impl Tx for BusTx {
    #[inline(always)]
    fn try_send(&mut self, value: u64) -> Result<(), u64> {
        self.0.try_broadcast(value)
    }
}

impl Rx for BusRx {
    #[inline(always)]
    fn try_recv(&mut self) -> Option<u64> {
        self.0.try_recv().ok()
    }
}
