//! `DedupeWindow` allocates only in `new`: a counting global allocator watches a million
//! `first_time` calls (new ids, duplicates and evictions), `contains` and `clear`.
//!
//! Counting is per thread (`counted` measures the calling thread only), so a parallel test in
//! this binary could not add to the figure.

use ringgroup::dedupe::{message_id, DedupeWindow};
use ringgroup_testkit::alloc::{assert_counting, counted, Counting};
use ringgroup_testkit::random::next_random;

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn first_time_allocates_nothing_after_new() {
    // Counts this thread; the counter itself must see an allocation, or the checks below would
    // assert on nothing.
    assert_counting();

    let mut window = DedupeWindow::new(1024).unwrap();
    let ((new, duplicates, found), allocations) = counted(|| {
        let (mut new, mut duplicates, mut found) = (0_u64, 0_u64, 0_u64);
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for call in 0..1_000_000_u64 {
            let x = next_random(&mut state);
            let id = match call % 4 {
                // Random ids from a space 4x the window: duplicates and evictions both common.
                0 | 1 => x % 4096,
                // Replayed (partition, offset) ids, as a handoff redelivers them.
                2 => message_id((x % 8) as u32, (call / 4) % 3000),
                // Fresh ids only: every one evicts.
                _ => call << 16,
            };
            if window.first_time(id) {
                new += 1;
            } else {
                duplicates += 1;
            }
            found += u64::from(window.contains(x % 4096));
            if call == 500_000 {
                window.clear();
            }
        }
        (new, duplicates, found)
    });
    println!("{new} new ids, {duplicates} duplicates, {allocations} allocations");
    assert_eq!(allocations, 0, "DedupeWindow allocated after new");
    assert_eq!(new + duplicates, 1_000_000);
    assert!(new > 250_000, "too few evictions exercised: {new} new ids");
    assert!(
        duplicates > 50_000,
        "too few duplicates exercised: {duplicates}"
    );
    assert!(found > 0);
    assert_eq!(window.len(), window.capacity());
}
