#!/usr/bin/env bash
# The libFuzzer targets of fuzz/ (cargo-fuzz, nightly, AddressSanitizer with leak detection):
#
#   scripts/fuzz.sh --smoke [TARGET...]   each target briefly over its committed corpus
#                                         (scripts/test.sh runs this; the bound is below)
#   scripts/fuzz.sh --long [TARGET...]    each target for FUZZ_RUNS executions (10M by
#                                         default) or FUZZ_MAX_SECONDS, whichever comes
#                                         first, one at a time, logs in target/fuzz-logs/
#   scripts/fuzz.sh --cmin [TARGET...]    minimise the long runs' corpora into fuzz/corpus/
#   scripts/fuzz.sh --seeds               rewrite the hand-made seeds (fuzz/seeds.py)
#
# Every run is under `nice -n 19`: the machines are shared and a benchmark may be running.
# Pausing a run (SIGSTOP) for longer than -timeout makes libFuzzer report the input it was
# running as a timeout once it resumes: its alarm measures wall time. Replay such an input
# alone before believing it, or give a run that will be paused a longer FUZZ_TIMEOUT.
# A long run stops at the first crash, timeout (-timeout, seconds per input), out-of-memory
# (-rss_limit_mb) or leak (ASan's LeakSanitizer, which cargo fuzz enables), leaving the input
# in fuzz/artifacts/TARGET/; reproduce it with `cargo +nightly fuzz run TARGET FILE` in fuzz/.
# Results of the long runs: bench-results/fuzz.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

all_targets=(resp_parse resp_commands memcache_text memcache_meta memcache_binary aof_record
    aof_replay blocklog_recovery config_file)

# The dictionary of each target (fuzz/dicts/), if it has one.
dict_of() {
    case $1 in
    resp_parse | resp_commands) echo "$root/fuzz/dicts/resp.dict" ;;
    memcache_text) echo "$root/fuzz/dicts/memcache.dict" ;;
    memcache_meta) echo "$root/fuzz/dicts/meta.dict" ;;
    config_file) echo "$root/fuzz/dicts/config.dict" ;;
    *) echo "" ;;
    esac
}

mode=${1:---smoke}
shift || true
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=("${all_targets[@]}")
fi

if [[ $mode == --seeds ]]; then
    python3 fuzz/seeds.py
    exit 0
fi

# Each run gets its own scratch directory for the log targets' files: the AOF directory
# (tmpfs when there is one) and the block-log device image (never tmpfs: the device layer
# refuses memory file systems for O_DIRECT, so it goes under target/).
shm=/dev/shm
[[ -d $shm ]] || shm=${TMPDIR:-/tmp}
scratch=$(mktemp -d "$shm/workingdb-fuzz.XXXXXX")
device_dir=$(mktemp -d "$root/target/fuzz-device.XXXXXX" 2>/dev/null ||
    { mkdir -p "$root/target" && mktemp -d "$root/target/fuzz-device.XXXXXX"; })
trap 'rm -rf "$scratch" "$device_dir"' EXIT
export WORKINGDB_FUZZ_SCRATCH=$scratch WORKINGDB_FUZZ_DEVICE_DIR=$device_dir

cd fuzz
# One build of every target (release, debug assertions, ASan: cargo fuzz's defaults). The
# fuzz crate has its own target directory (fuzz/target) and lock file (fuzz/Cargo.lock).
nice -n 19 cargo +nightly fuzz build

# The flags every run shares: -timeout: an input taking over 10 s is a hang (the slowest
# target, blocklog_recovery, takes about a millisecond per input); FUZZ_TIMEOUT raises it for
# a long run that will be paused (SIGSTOP) while a benchmark runs, since libFuzzer's alarm
# counts wall time and a pause would otherwise end the run with a false timeout (a hang is
# still caught, only later); -rss_limit_mb: 2 GiB is far past what any target needs (the
# inputs are a few KiB), so passing it is a leak or a runaway allocation; -malloc_limit_mb:
# one allocation that large is a bug too.
common=(-timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048 -malloc_limit_mb=1024
    -print_final_stats=1)

run() {
    local target=$1
    shift
    local dict
    dict=$(dict_of "$target")
    local flags=("${common[@]}")
    [[ -n $dict ]] && flags+=("-dict=$dict")
    nice -n 19 cargo +nightly fuzz run "$target" "$@" -- "${flags[@]}" "${run_flags[@]}"
}

case $mode in
--smoke)
    # The bound: FUZZ_SMOKE_SECONDS (4 by default) per target, 9 targets, plus the replay of
    # each committed corpus, which libFuzzer runs first and whole whatever the time limit
    # (resp_commands' corpus, the largest, takes about 15 s): about a minute in all after the
    # build on a 2-core VM. So every committed input, crashes found before included, is
    # replayed each time; the seconds left are a little fresh fuzzing. The point is that the
    # targets build, the corpus still passes, and a regression on the corpus fails the tests;
    # finding new bugs is what --long is for. New inputs go to a temporary directory, never
    # into the committed corpus.
    seconds=${FUZZ_SMOKE_SECONDS:-4}
    for target in "${targets[@]}"; do
        new=$(mktemp -d "$scratch/new-$target.XXXXXX")
        run_flags=(-max_total_time="$seconds")
        echo "==> fuzz smoke: $target (${seconds}s)"
        if ! run "$target" "$new" "corpus/$target" >"$scratch/$target.log" 2>&1; then
            tail -n 80 "$scratch/$target.log"
            echo "fuzz smoke: $target failed (the input is in fuzz/artifacts/$target/)" >&2
            exit 1
        fi
        grep -E '^#[0-9]+.*DONE|stat::number_of_executed_units' "$scratch/$target.log" || true
    done
    ;;
--long)
    runs=${FUZZ_RUNS:-10000000}
    logs=$root/target/fuzz-logs
    mkdir -p "$logs"
    for target in "${targets[@]}"; do
        # The run grows its own corpus (target/fuzz-corpus/TARGET), seeded with the committed
        # one; --cmin folds it back into fuzz/corpus/.
        work=$root/target/fuzz-corpus/$target
        mkdir -p "$work"
        run_flags=(-runs="$runs")
        # FUZZ_MAX_SECONDS: stop earlier, when that much time has passed (a budget for
        # targets that cannot reach FUZZ_RUNS in the time there is).
        [[ -n ${FUZZ_MAX_SECONDS:-} ]] && run_flags+=(-max_total_time="$FUZZ_MAX_SECONDS")
        echo "==> fuzz long: $target ($runs executions), log: $logs/$target.log"
        start=$SECONDS
        run "$target" "$work" "corpus/$target" >"$logs/$target.log" 2>&1
        echo "$target: $((SECONDS - start)) s"
        grep -E '^#[0-9]+.*DONE|stat::' "$logs/$target.log" || true
    done
    ;;
--cmin)
    for target in "${targets[@]}"; do
        work=$root/target/fuzz-corpus/$target
        merged=$(mktemp -d "$scratch/cmin-$target.XXXXXX")
        # Minimise the committed corpus and the long run's into one set that keeps all their
        # coverage, then replace the committed one with it; the hand-made seeds are written
        # again beside it (libFuzzer names what it keeps by hash).
        dict=$(dict_of "$target")
        nice -n 19 cargo +nightly fuzz run "$target" "$merged" "corpus/$target" "$work" -- \
            -merge=1 "${common[@]}" >"$scratch/cmin-$target.log" 2>&1 ||
            { cat "$scratch/cmin-$target.log"; exit 1; }
        # The crash inputs kept by name (crash-*) stay as they are: the merge keeps inputs by
        # coverage and names them by hash, so it would drop or rename them.
        find "corpus/$target" -type f ! -name 'crash-*' -delete
        cp "$merged"/* "corpus/$target/"
        python3 seeds.py
        echo "$target: $(ls "corpus/$target" | wc -l) inputs, $(du -sk "corpus/$target" | cut -f1) KiB"
    done
    ;;
*)
    echo "usage: $0 --smoke|--long|--cmin|--seeds [TARGET...]" >&2
    exit 2
    ;;
esac
