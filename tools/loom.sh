#!/usr/bin/env bash
# Runs the loom models (loom-tests/) in release mode, in their own target dir so the
# `--cfg ringgroup_loom` build never evicts the normal one. Extra arguments go to the test binary,
# e.g. `tools/loom.sh wrap_around`.
set -euo pipefail
cd "$(dirname "$0")/.."
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export RUSTFLAGS="${RUSTFLAGS:-} --cfg ringgroup_loom"
exec cargo test -p loom-tests --release --target-dir target-loom -- --test-threads=1 "$@"
