#!/usr/bin/env bash
# The project's one test command (README: "Run the tests"); `.ci/run` runs exactly this.
#
# It installs what it needs (redis-server, memcached and their tools from Debian, rustfmt,
# clippy, the nightly miri component), then runs, in order:
#   1. cargo fmt --check
#   2. cargo clippy -D warnings over the workspace (all targets) and the fuzz crate (see lint())
#   3. every test of the workspace: the generic engine suite, the proptest model tests and the
#      stress tests in their short mode (WORKINGDB_STRESS=long for the long mode), the keyspace
#      and codec unit tests, and the server's integration tests, which start the real binary
#      and drive it with real clients, raw sockets, redis-server side by side, redis-benchmark
#      and memccapable
#   4. the loom models of the lock-free table, bounded (see loom() below)
#   5. miri over the lock-free table's unit tests and the generic suite's lockfree tests, with
#      the small sizes the tests pick under cfg(miri)
#   6. the fuzz targets of fuzz/ (cargo-fuzz, libFuzzer, ASan), each for 4 seconds over its
#      committed corpus (see fuzz() below)
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
    scripts/install-deps.sh
    rustup component add rustfmt clippy >/dev/null 2>&1 || rustup component add rustfmt clippy
    # Add miri to the nightly the machine has; install a nightly only when there is none
    # (`rustup toolchain install` on an existing nightly would download a newer one).
    if ! rustup run nightly rustc --version >/dev/null 2>&1; then
        rustup toolchain install nightly --profile minimal
    fi
    rustup component add --toolchain nightly miri rust-src
    cargo +nightly miri setup >/dev/null 2>&1 || cargo +nightly miri setup
}

# loom: every model states its own preemption bound (engine/tests/loom.rs explains them: 2 for
# races on one key, 1 for races with a whole migration, where 2 costs 5+ minutes per model).
# Few preemptions expose most concurrency bugs (the CHESS result loom's docs cite). The models
# run in release mode in their own target directory because the --cfg flags change every
# crate's build.
loom() {
    RUSTFLAGS="--cfg loom --cfg crossbeam_loom" CARGO_TARGET_DIR=target/loom \
        cargo test -p engine --test loom --release
}

# miri: only the lock-free table has unsafe code of ours. Tree Borrows, as crossbeam's own CI
# runs miri: crossbeam-epoch's intrusive list of participants breaks the stricter Stacked
# Borrows rules (crossbeam PR #996), which would stop every test at the first `pin()`.
# -Zmiri-ignore-leaks: the default epoch collector is a static, so at process exit its queue
# nodes and thread records are still allocated and miri would report them (crossbeam's CI
# ignores leaks for the same reason). That our own nodes and values are all freed is asserted
# by the drop-counting tests, which miri runs too. Its unit tests and the generic
# suite's `lockfree` tests shrink themselves under cfg(miri) (the other back-ends' tests are
# ignored there: they are safe code over third-party crates).
miri() {
    MIRIFLAGS="${MIRIFLAGS:--Zmiri-tree-borrows -Zmiri-ignore-leaks -Zmiri-disable-isolation}" \
        cargo +nightly miri test -p engine --lib --test suite --test model -- lockfree
    # One test under the stricter Stacked Borrows too: how a node's key is read (through the
    # node's raw pointer, never past a reference to its header) is legal under both models,
    # and Tree Borrows alone would not notice a regression. It pins no epoch, so crossbeam's
    # participant list (which Stacked Borrows rejects, see above) is never touched.
    MIRIFLAGS="-Zmiri-ignore-leaks -Zmiri-disable-isolation" \
        cargo +nightly miri test -p engine --lib -- keys_are_read_with_the_provenance_of_the_whole_node
}

# fuzz: a smoke run, bounded at 4 s per target (FUZZ_SMOKE_SECONDS), 9 targets, after a replay
# of every committed corpus input, earlier crashes included: about 1 minute (scripts/fuzz.sh
# says where it goes). So a regression on a committed input fails here; finding new bugs is
# the long runs' job (scripts/fuzz.sh --long, bench-results/fuzz.md). The build is the larger
# cost: from scratch, every crate again with ASan and coverage instrumentation, about 2.5
# minutes on 2 cores (fuzz/target, kept between runs; a few seconds when only our crates
# changed). The fuzz crate is its own workspace, so fmt is checked here too; the workspace
# steps above do not see it.
fuzz() {
    (cd fuzz && cargo fmt --check)
    scripts/fuzz.sh --smoke
}

# clippy: the workspace, and the fuzz crate, which is its own workspace (built here with the
# stable toolchain, no sanitizers: only so that a change of our crates' API breaks this step
# rather than the fuzz build at the end of the run).
lint() {
    cargo clippy --workspace --all-targets -- -D warnings
    (cd fuzz && cargo clippy --bins -- -D warnings)
}

step install install
step fmt cargo fmt --all --check
step clippy lint
step test cargo test --workspace
step loom loom
step miri miri
step fuzz fuzz
printf '%s\n' "${step_times[@]}"
