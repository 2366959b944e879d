#!/usr/bin/env bash
# The project's one test command (README: "Run the tests"); `.ci/run` runs exactly this.
#
# It installs what it needs (rustfmt, clippy, the nightly miri component), then runs, in order:
#   1. cargo fmt --check
#   2. cargo clippy --workspace --all-targets -D warnings
#   3. every test of the workspace (the generic engine suite, the proptest model tests and the
#      stress tests in their short mode; WORKINGDB_STRESS=long for the long mode)
#   4. the loom models of the lock-free table, bounded (see LOOM_MAX_PREEMPTIONS below)
#   5. miri over the lock-free table's unit tests and the generic suite's lockfree tests, with
#      the small sizes the tests pick under cfg(miri)
# Budget: well under 30 minutes on 2 cores (the timings of a run are printed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."

step_times=()
step() {
    local name=$1
    shift
    echo "==> $name"
    local start=$SECONDS
    "$@"
    step_times+=("$name: $((SECONDS - start))s")
}

install() {
    rustup component add rustfmt clippy >/dev/null 2>&1 || rustup component add rustfmt clippy
    rustup toolchain install nightly --profile minimal --component miri,rust-src >/dev/null 2>&1 ||
        rustup toolchain install nightly --profile minimal --component miri,rust-src
    cargo +nightly miri setup >/dev/null 2>&1 || cargo +nightly miri setup
}

# loom: a preemption bound of 2 is where loom's authors say most concurrency bugs show up
# (CHESS's result that few preemptions expose most bugs); 3 multiplies the run time by ~10
# for these models. The models run in release mode in their own target directory because the
# --cfg flags change every crate's build.
loom() {
    RUSTFLAGS="--cfg loom --cfg crossbeam_loom" LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}" \
        CARGO_TARGET_DIR=target/loom cargo test -p engine --test loom --release
}

# miri: only the lock-free table has unsafe code of ours. Its unit tests and the generic
# suite's `lockfree` tests shrink themselves under cfg(miri) (the other back-ends' tests are
# ignored there: they are safe code over third-party crates).
miri() {
    MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-isolation}" \
        cargo +nightly miri test -p engine --lib --test suite --test model -- lockfree
}

step install install
step fmt cargo fmt --all --check
step clippy cargo clippy --workspace --all-targets -- -D warnings
step test cargo test --workspace
step loom loom
step miri miri
printf '%s\n' "${step_times[@]}"
