//! Core placement: which core each harness thread runs on.
//!
//! `core_affinity::get_core_ids()` returns the calling thread's *current* mask, so the list is
//! read once, at start-up, before any thread is pinned (`ringgroup::affinity` caches it). A
//! scenario numbers its threads `0, 1, 2, ...` and thread `i` goes to core `i mod n` of the
//! chosen cores; with more threads than cores, [`Cores::sharing`] says how many share one.

use std::fmt;

use ringgroup::affinity::{available_cores, pin_current_thread};

/// The cores the harness places its threads on, as indices into `available_cores()`.
#[derive(Clone, Debug)]
pub struct Cores {
    chosen: Vec<usize>,
}

/// A `--cores` list that names a core this process cannot use.
#[derive(Debug)]
pub struct NoSuchCore {
    core: usize,
    available: Vec<usize>,
}

impl fmt::Display for NoSuchCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "--cores names core {}, but this process may run on cores {:?}",
            self.core, self.available
        )
    }
}

impl std::error::Error for NoSuchCore {}

impl Cores {
    /// Reads the machine's core list (once) and keeps `wanted` (core ids, as `--cores 0,1`), or
    /// every available core when `wanted` is empty.
    pub fn new(wanted: &[usize]) -> Result<Self, NoSuchCore> {
        let available: Vec<usize> = available_cores().iter().map(|c| c.id).collect();
        if wanted.is_empty() {
            return Ok(Self {
                chosen: (0..available.len()).collect(),
            });
        }
        let chosen = wanted
            .iter()
            .map(|&core| {
                available
                    .iter()
                    .position(|&id| id == core)
                    .ok_or_else(|| NoSuchCore {
                        core,
                        available: available.clone(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { chosen })
    }

    /// How many cores threads are spread over (at least 1, even when pinning is unavailable).
    pub fn count(&self) -> usize {
        self.chosen.len().max(1)
    }

    /// The core ids in use, for the report.
    pub fn ids(&self) -> Vec<usize> {
        let available = available_cores();
        self.chosen.iter().map(|&i| available[i].id).collect()
    }

    /// Pins the calling thread, the `slot`-th thread of a scenario, to core `slot mod n`. Does
    /// nothing where the OS gives no core list.
    pub fn pin(&self, slot: usize) {
        if self.chosen.is_empty() {
            return;
        }
        let index = self.chosen[slot % self.chosen.len()];
        // A refusal only costs placement, not correctness: report it and go on unpinned.
        if let Err(e) = pin_current_thread(index) {
            eprintln!("warning: could not pin thread {slot}: {e}");
        }
    }

    /// Of `threads` threads placed by [`pin`](Self::pin), how many share a core with another.
    pub fn sharing(&self, threads: usize) -> usize {
        let n = self.count();
        (0..n)
            .map(|core| threads / n + usize::from(core < threads % n))
            .filter(|&on_core| on_core >= 2)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharing_counts_threads_on_crowded_cores() {
        let two = Cores { chosen: vec![0, 1] };
        assert_eq!(two.sharing(1), 0);
        assert_eq!(two.sharing(2), 0);
        assert_eq!(two.sharing(3), 2);
        assert_eq!(two.sharing(4), 4);
        let one = Cores { chosen: vec![0] };
        assert_eq!(one.sharing(1), 0);
        assert_eq!(one.sharing(2), 2);
    }
}
