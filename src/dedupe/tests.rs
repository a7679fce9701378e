//! Unit tests of the dedupe window.

use super::*;
use std::collections::{HashSet, VecDeque};

/// Deterministic xorshift64 generator.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The specification: a FIFO of the last `capacity` recorded ids.
struct Oracle {
    capacity: usize,
    order: VecDeque<u64>,
    set: HashSet<u64>,
}

impl Oracle {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            order: VecDeque::new(),
            set: HashSet::new(),
        }
    }

    fn first_time(&mut self, id: u64) -> bool {
        if self.set.contains(&id) {
            return false;
        }
        if self.order.len() == self.capacity {
            let oldest = self.order.pop_front().unwrap();
            self.set.remove(&oldest);
        }
        self.order.push_back(id);
        self.set.insert(id);
        true
    }
}

/// Checks the window's internal structure against its ring.
fn assert_consistent(window: &DedupeWindow) {
    assert!(window.len <= window.capacity());
    let recorded: Vec<u64> = (0..window.len)
        .map(|i| window.ring[window.wrap(window.head + i)])
        .collect();
    let distinct: HashSet<u64> = recorded.iter().copied().collect();
    assert_eq!(distinct.len(), recorded.len(), "ring holds a duplicate");
    assert_eq!(window.holds_zero, distinct.contains(&0));
    let in_table: Vec<u64> = window
        .slots
        .iter()
        .copied()
        .filter(|&k| k != EMPTY)
        .collect();
    assert_eq!(
        in_table.len(),
        recorded.len() - usize::from(window.holds_zero)
    );
    for (slot, &key) in window.slots.iter().enumerate() {
        if key == EMPTY {
            continue;
        }
        assert!(
            distinct.contains(&key),
            "table holds {key}, not in the ring"
        );
        // Every slot from the key's home up to its own is occupied.
        let mut probe = window.home(key);
        while probe != slot {
            assert_ne!(
                window.slots[probe], EMPTY,
                "hole on the probe path of {key}"
            );
            probe = (probe + 1) & window.mask;
        }
    }
}

#[test]
fn construction_errors() {
    assert_eq!(DedupeWindow::new(0).unwrap_err(), DedupeError::ZeroCapacity);
    let too_big = DedupeWindow::MAX_CAPACITY + 1;
    assert_eq!(
        DedupeWindow::new(too_big).unwrap_err(),
        DedupeError::CapacityTooLarge {
            requested: too_big,
            max: DedupeWindow::MAX_CAPACITY
        }
    );
    assert_eq!(
        DedupeError::ZeroCapacity.to_string(),
        "dedupe window capacity must be at least 1"
    );
    let window = DedupeWindow::new(1).unwrap();
    assert_eq!(window.capacity(), 1);
    assert!(window.is_empty());
    assert_eq!(
        format!("{window:?}"),
        "DedupeWindow { len: 0, capacity: 1, .. }"
    );
}

/// 2^61 bytes exceed any 64-bit address space, so the allocator must refuse them.
#[cfg(target_pointer_width = "64")]
#[test]
fn allocation_failure_is_an_error() {
    match DedupeWindow::new(DedupeWindow::MAX_CAPACITY) {
        Err(DedupeError::AllocationFailed { bytes }) => assert!(bytes > 1 << 61),
        other => panic!("expected AllocationFailed, got {other:?}"),
    }
}

#[test]
fn duplicates_within_the_window_are_skipped() {
    let mut window = DedupeWindow::new(8).unwrap();
    for id in [5, 0, u64::MAX, 42] {
        assert!(window.first_time(id));
    }
    for id in [5, 0, u64::MAX, 42, 5, 0] {
        assert!(!window.first_time(id), "{id} should be a duplicate");
        assert!(window.contains(id));
    }
    assert_eq!(window.len(), 4);
    assert!(!window.contains(6));
    assert_consistent(&window);
}

#[test]
fn evicted_ids_are_accepted_again() {
    let mut window = DedupeWindow::new(4).unwrap();
    for id in 1..=4 {
        assert!(window.first_time(id));
    }
    assert!(!window.first_time(1)); // a duplicate does not refresh 1's age
    assert!(window.first_time(5)); // evicts 1
    assert!(!window.contains(1));
    assert!(window.contains(2));
    assert!(window.first_time(1)); // evicts 2
    assert!(!window.contains(2));
    assert!(window.first_time(2));
    assert_eq!(window.len(), 4);
    assert_consistent(&window);

    // The id 0 is evicted like any other.
    let mut window = DedupeWindow::new(1).unwrap();
    assert!(window.first_time(0));
    assert!(!window.first_time(0));
    assert!(window.first_time(9));
    assert!(!window.contains(0));
    assert!(window.first_time(0));
    assert!(!window.contains(9));
    assert_consistent(&window);
}

/// The window agrees with the reference model on every call: no false positives, no missed
/// duplicates, and `len` never exceeds the capacity.
#[test]
fn matches_the_reference_model() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for capacity in [1, 2, 3, 5, 8, 64, 100, 257] {
        let mut window = DedupeWindow::new(capacity).unwrap();
        let mut oracle = Oracle::new(capacity);
        // Id spaces from "mostly duplicates" to "mostly new", plus awkward patterns.
        for (round, universe) in [2, capacity as u64, 3 * capacity as u64, 1 << 40]
            .into_iter()
            .enumerate()
        {
            for step in 0..20_000 {
                let id = match rng.below(10) {
                    0 => 0,
                    1 => u64::MAX - rng.below(3),
                    2 => rng.below(universe) << 20, // strided
                    3 => message_id(rng.below(4) as u32, rng.below(universe)),
                    _ => rng.below(universe),
                };
                let expected = oracle.first_time(id);
                assert_eq!(
                    window.first_time(id),
                    expected,
                    "capacity {capacity}, round {round}, step {step}, id {id}"
                );
                assert!(window.len() <= capacity);
                assert_eq!(window.len(), oracle.order.len());
                let probe = rng.below(universe);
                assert_eq!(window.contains(probe), oracle.set.contains(&probe));
                if step % 997 == 0 {
                    assert_consistent(&window);
                }
            }
            assert_consistent(&window);
        }
        window.clear();
        assert!(window.is_empty());
        assert!(!window.contains(0));
        assert!(oracle.order.iter().all(|&id| !window.contains(id)));
        assert_consistent(&window);
        assert!(window.first_time(oracle.order[0]));
    }
}

#[test]
fn len_never_exceeds_capacity() {
    let mut window = DedupeWindow::new(10).unwrap();
    for id in 0..1_000 {
        assert!(window.first_time(id));
        assert_eq!(window.len(), (id as usize + 1).min(10));
    }
    // The last ten are exactly what remains.
    assert!((990..1_000).all(|id| window.contains(id)));
    assert!((0..990).all(|id| !window.contains(id)));
    assert_consistent(&window);
}

/// Offsets 0..100 are processed, a handoff replays 60..100, and processing continues: with
/// a window of 64 every replay is skipped and each offset is processed exactly once.
#[test]
fn redelivery_after_handoff_is_processed_once() {
    let partition = 3;
    let mut window = DedupeWindow::new(64).unwrap();
    let mut times_processed = [0_u32; 120];
    let deliveries = (0..100).chain(60..100).chain(100..120);
    let mut skipped = 0;
    for offset in deliveries {
        if window.first_time(message_id(partition, offset)) {
            times_processed[offset as usize] += 1;
        } else {
            skipped += 1;
            assert!(
                (60..100).contains(&offset),
                "offset {offset} wrongly skipped"
            );
        }
    }
    assert_eq!(skipped, 40);
    assert!(times_processed.iter().all(|&n| n == 1));
    assert_eq!(window.len(), 64);
    // The same offsets of another partition are different messages.
    assert!(window.first_time(message_id(partition + 1, 110)));
}

#[test]
fn message_id_packs_partition_and_offset() {
    assert_eq!(message_id(0, 0), 0);
    assert_eq!(message_id(1, 0), 1 << 48);
    assert_eq!(message_id(0xffff, (1 << 48) - 1), u64::MAX);
    assert_eq!(message_id(2, 1 << 48), message_id(2, 0)); // offsets wrap modulo 2^48
    let ids: HashSet<u64> = (0..50)
        .flat_map(|p| [0, 1, 2, 1 << 47, (1 << 48) - 1].map(|o| message_id(p * 1000, o)))
        .collect();
    assert_eq!(ids.len(), 250);
}

#[test]
#[should_panic(expected = "does not fit in 16 bits")]
fn message_id_rejects_wide_partitions() {
    let _ = message_id(MAX_MESSAGE_ID_PARTITION + 1, 0);
}

#[test]
fn clones_are_independent() {
    let mut a = DedupeWindow::new(4).unwrap();
    a.first_time(1);
    let mut b = a.clone();
    assert!(b.first_time(2));
    assert!(!a.contains(2));
    assert!(!b.first_time(1));
}
