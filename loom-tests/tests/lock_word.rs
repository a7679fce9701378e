//! loom model of the region's lock word (issue 13): a lock a process holds is broken only when
//! its holder is confirmed dead, and two processes breaking it at once never both hold it.
//!
//! Processes are threads with identities 1, 2, 3; `alive[i]` stands for the kernel's view of
//! process `i` (`/proc`), set to false when it "dies". The protected data is a loom
//! `UnsafeCell`, so two holders at once, or a holder that does not see the previous one's
//! writes, fail the model.
#![cfg(ringgroup_loom)]

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;
use ringgroup::shm::LockWord;

struct World {
    lock: LockWord,
    alive: [AtomicBool; 4],
    /// How many critical sections ran: written only under the lock.
    sections: UnsafeCell<u64>,
}

impl World {
    fn alive(&self, id: u64) -> bool {
        // Acquire: pairs with the dying process's Release store (the kernel orders a death
        // before anyone who observes it).
        self.alive[id as usize].load(Ordering::Acquire)
    }

    /// Tries to take the lock; on success counts a critical section (and keeps the lock).
    fn try_section(&self, me: u64) -> bool {
        let taken = self.lock.take(me, false, |id| self.alive(id)).is_ok();
        if taken {
            // SAFETY (of the model): only the lock's holder touches the cell.
            self.sections.with_mut(|n| unsafe { *n += 1 });
        }
        taken
    }
}

/// Process 1 holds the lock, writes under it and dies holding it; processes 2 and 3 each try
/// twice, at any moment, to take it. Nobody gets in while process 1 lives (its write would race
/// theirs), at most one at a time gets in afterwards, and each sees the writes before it.
#[test]
fn a_dead_holders_lock_is_broken_only_after_death_and_once() {
    loom::model(|| {
        let world = Arc::new(World {
            lock: LockWord::new(),
            alive: [(); 4].map(|_| AtomicBool::new(true)),
            sections: UnsafeCell::new(0),
        });
        assert!(world.try_section(1));
        let dying = {
            let world = world.clone();
            thread::spawn(move || {
                // SAFETY (of the model): process 1 holds the lock.
                world.sections.with_mut(|n| unsafe { *n += 10 });
                // Dies holding the lock. Release: pairs with the breakers' Acquire.
                world.alive[1].store(false, Ordering::Release);
            })
        };
        let breakers: Vec<_> = [2, 3]
            .map(|me| {
                let world = world.clone();
                thread::spawn(move || {
                    let got = world.try_section(me) || world.try_section(me);
                    if got {
                        world.lock.release(me);
                    }
                    got
                })
            })
            .into_iter()
            .collect();
        dying.join().unwrap();
        let got = breakers
            .into_iter()
            .map(|b| u64::from(b.join().unwrap()))
            .sum::<u64>();
        world.sections.with(|n| assert_eq!(unsafe { *n }, 11 + got));
    });
}

/// A live holder keeps the lock: a taker gets in only after it is given up.
#[test]
fn a_live_holders_lock_is_never_broken() {
    loom::model(|| {
        let world = Arc::new(World {
            lock: LockWord::new(),
            alive: [(); 4].map(|_| AtomicBool::new(true)),
            sections: UnsafeCell::new(0),
        });
        assert!(world.try_section(1));
        let taker = {
            let world = world.clone();
            thread::spawn(move || {
                let got = world.try_section(2);
                if got {
                    world.lock.release(2);
                }
                got
            })
        };
        // SAFETY (of the model): process 1 holds the lock.
        world.sections.with_mut(|n| unsafe { *n += 10 });
        world.lock.release(1);
        let got = u64::from(taker.join().unwrap());
        world.sections.with(|n| assert_eq!(unsafe { *n }, 11 + got));
    });
}
