//! Micro-operations: not written yet.
fn main() {}
