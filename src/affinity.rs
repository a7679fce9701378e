//! Core pinning.
//!
//! `core_affinity::get_core_ids()` returns the *calling thread's current* mask: once a thread is
//! pinned to one core, threads it spawns see only that core. This module therefore reads the
//! core list once, on first use, and caches it in a `OnceLock`. Call [`available_cores`] early
//! (before pinning anything), and every later pin still sees the whole machine.
//!
//! Asking for a core that does not exist is an error, never a panic.

use crate::sync::OnceLock;
use std::fmt;

use core_affinity::CoreId;

static CORES: OnceLock<Vec<CoreId>> = OnceLock::new();

/// The cores this process may run on, as read once at first call.
///
/// # Examples
///
/// ```
/// let cores = ringgroup::affinity::available_cores();
/// assert!(cores.len() >= 1);
/// ```
pub fn available_cores() -> &'static [CoreId] {
    CORES.get_or_init(|| core_affinity::get_core_ids().unwrap_or_default())
}

/// Pins the calling thread to the core at `index` in [`available_cores`].
///
/// # Examples
///
/// ```
/// use ringgroup::affinity::{pin_current_thread, AffinityError};
///
/// std::thread::spawn(|| pin_current_thread(0)).join().unwrap().unwrap();
/// assert!(matches!(pin_current_thread(10_000), Err(AffinityError::NoSuchCore { .. })));
/// ```
pub fn pin_current_thread(index: usize) -> Result<CoreId, AffinityError> {
    let cores = available_cores();
    let core = *cores.get(index).ok_or(AffinityError::NoSuchCore {
        index,
        available: cores.len(),
    })?;
    if core_affinity::set_for_current(core) {
        Ok(core)
    } else {
        Err(AffinityError::Refused { core: core.id })
    }
}

/// Why a thread could not be pinned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AffinityError {
    /// No core at that index.
    NoSuchCore {
        /// The index asked for.
        index: usize,
        /// How many cores there are.
        available: usize,
    },
    /// The operating system refused to pin the thread.
    Refused {
        /// The core's id.
        core: usize,
    },
}

impl fmt::Display for AffinityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AffinityError::NoSuchCore { index, available } => {
                write!(f, "no core at index {index}: {available} available")
            }
            AffinityError::Refused { core } => write!(f, "the OS refused to pin to core {core}"),
        }
    }
}

impl std::error::Error for AffinityError {}
