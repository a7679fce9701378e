//! The hot path allocates nothing: a counting global allocator watches publish, batch publish,
//! claim, poll and release after construction, on one thread and across two.
//!
//! This file holds one test so no other test allocates concurrently.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use ringgroup::ring::{Ring, StartAt, WaitStrategy};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static COUNTING: AtomicBool = AtomicBool::new(false);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counted<R>(f: impl FnOnce() -> R) -> (R, usize) {
    ALLOCATIONS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    let result = f();
    COUNTING.store(false, Ordering::SeqCst);
    (result, ALLOCATIONS.load(Ordering::SeqCst))
}

#[test]
fn publish_and_poll_allocate_nothing() {
    // The counter itself can see an allocation, or the check would assert on nothing.
    let (_, probe) = counted(|| Box::new(1_u8));
    assert_eq!(probe, 1);

    // One thread.
    let (mut writer, subscriber) = Ring::<u64>::builder().capacity(64).build().unwrap();
    let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
    let (sum, allocations) = counted(|| {
        let mut sum = 0;
        for round in 0..1_000_u64 {
            writer.publish(round);
            writer.try_publish(round).unwrap();
            writer.publish_batch([round; 8]);
            let mut claim = writer.claim(4).unwrap();
            claim.extend([round; 4]);
            claim.publish();
            while let Ok(batch) = reader.try_poll(5) {
                sum += batch.iter().sum::<u64>();
            }
        }
        sum
    });
    assert_eq!(sum, (0..1_000_u64).map(|r| r * 14).sum::<u64>());
    assert_eq!(allocations, 0, "single-threaded hot path allocated");

    // Two threads, parking strategy (the park/unpark path must not allocate either).
    let (mut writer, subscriber) = Ring::<u64>::builder()
        .capacity(64)
        .wait_strategy(WaitStrategy::SpinThenPark)
        .build()
        .unwrap();
    let mut reader = subscriber.subscribe(StartAt::Earliest).unwrap();
    let consumer = std::thread::spawn(move || {
        let mut count = 0_u64;
        while let Ok(batch) = reader.poll(32) {
            count += batch.len() as u64;
        }
        count
    });
    let ((), allocations) = counted(|| {
        for value in 0..200_000_u64 {
            writer.publish(value);
        }
    });
    drop(writer);
    assert_eq!(consumer.join().unwrap(), 200_000);
    assert_eq!(allocations, 0, "cross-thread hot path allocated");
}
