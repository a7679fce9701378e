//! loom models of ringgroup's protocols live in `tests/`. They compile to nothing unless built
//! with `RUSTFLAGS="--cfg ringgroup_loom"`; run them through `tools/loom.sh`.
