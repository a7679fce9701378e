//! What ringgroup's tests (`tests/`) and its benchmark harness (`tools/bench`) share, so each
//! exists once:
//!
//! - [`alloc`]: a counting global allocator, switched on per thread;
//! - [`random`]: the xorshift64 generator behind every seeded choice;
//! - [`threads`]: a start line and a join that turns a panic into an error.
//!
//! The crate does not depend on ringgroup, so it stays put while the library's API changes.

#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod alloc;
pub mod random;
pub mod threads;
