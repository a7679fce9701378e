//! What ringgroup's tests (`tests/`) and its benchmark harness (`tools/bench`) share, so each
//! exists once:
//!
//! - [`alloc`]: a counting global allocator, switched on per thread;
//! - [`random`]: the xorshift64 generator behind every seeded choice;
//! - [`chaos`]: the chaos workload's fate draw and its bounded ledger of deliveries;
//! - [`threads`]: a start line and a join that turns a panic into an error.
//!
//! The crate does not depend on ringgroup: partitions, offsets and member ids are plain
//! integers, and the chaos ledger's dedupe window is whatever type the caller gives it.

#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod alloc;
pub mod chaos;
pub mod random;
pub mod threads;
