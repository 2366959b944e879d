#!/usr/bin/env bash
# The engine benchmarks, measured the way BENCHMARKS.md asks: several rounds, each running
# every map once in the same fixed order (so rounds alternate over the whole set), then the
# memory figures, then bench-results/engine.md rendered from the medians.
#
# Usage, from anywhere in the repository:
#   scripts/bench-engine.sh                 # the full run (5 rounds)
#   scripts/bench-engine.sh --quick         # one short round: checks the pipeline, not a result
#   scripts/bench-engine.sh -- 'ReadHeavy'  # extra criterion arguments, e.g. a filter regex
#   scripts/bench-engine.sh --bustle        # conc-map-bench's harness (engine/benches/bustle.rs)
#                                           # instead of criterion: bench-results/engine-bustle.md
#
# Environment (all optional):
#   ENGINE_BENCH_ROUNDS    rounds (default 5; --quick: 1)
#   ENGINE_BENCH_WARMUP    criterion --warm-up-time per benchmark in seconds (default 1; --quick: 0.2)
#   ENGINE_BENCH_MEASURE   criterion --measurement-time per benchmark in seconds (default 1; --quick: 0.5)
#   ENGINE_BENCH_SKIP      maps to leave out, comma-separated, e.g. "lockfree" (throughput and memory)
#   ENGINE_BENCH_NATIVE=1  also the anchors keyed by native u64 (papaya-u64native, ...)
#   ENGINE_BENCH_CAPACITY_LOG2  steady-state table size (default 20, see engine/benches/engine.rs)
#   ENGINE_BENCH_OUT       where the page, CSV and SVG go (default bench-results)
#   CARGO_TARGET_DIR       as for cargo; the raw rounds go to $CARGO_TARGET_DIR/engine-bench
#   With --bustle: ENGINE_BENCH_ROUNDS (default 3), BUSTLE_MAP, BUSTLE_WORKLOAD, BUSTLE_THREADS
#   (comma-separated subsets), BUSTLE_CAPACITY_LOG2 (default 23), BUSTLE_OPERATIONS (default 1).
#   A round runs every case once, each in its own process, workload by workload, maps in
#   the same order: so the maps of one workload and thread count alternate within minutes.
#   A round of the 60 cases takes 2 to 8 minutes here (idle to loaded).
#   ENGINE_BENCH_NOTE      what else ran on the machine during the rounds, for the page (say
#   it; the page otherwise reports only the load average)
#
# Time on our 2-core VMs: a round of the 152 benchmarks takes about 7 minutes (each benchmark
# is one second of warm-up, at least ten iterations of measurement and its untimed table
# building; RapidGrow builds a table per iteration), so the default five rounds take about 35
# minutes, plus under a minute of memory figures and, after a change to the engine, 2 to 6
# minutes of fat-LTO build. --quick takes about 5 minutes after the build.
set -euo pipefail

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; }

quick=0
bustle=0
criterion_extra=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) quick=1 ;;
        --bustle) bustle=1 ;;
        -h | --help) usage; exit 0 ;;
        --) shift; criterion_extra=("$@"); break ;;
        *) echo "bench-engine.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done

# The exact invocation, with every setting that changes the result, for the page.
invocation=""
for var in ENGINE_BENCH_ROUNDS ENGINE_BENCH_WARMUP ENGINE_BENCH_MEASURE ENGINE_BENCH_SKIP \
    ENGINE_BENCH_NATIVE ENGINE_BENCH_CAPACITY_LOG2 ENGINE_BENCH_OUT; do
    if [[ -n "${!var:-}" ]]; then invocation+="$var=$(printf '%q' "${!var}") "; fi
done
invocation+="scripts/bench-engine.sh"
[[ $quick == 1 ]] && invocation+=" --quick"
if [[ ${#criterion_extra[@]} -gt 0 ]]; then
    invocation+=" --"
    for arg in "${criterion_extra[@]}"; do invocation+=" $(printf '%q' "$arg")"; done
fi

cd "$(dirname "$0")/.."

if [[ $bustle == 1 ]]; then
    for var in BUSTLE_MAP BUSTLE_WORKLOAD BUSTLE_THREADS BUSTLE_CAPACITY_LOG2 BUSTLE_OPERATIONS; do
        if [[ -n "${!var:-}" ]]; then invocation="$var=$(printf '%q' "${!var}") $invocation"; fi
    done
    invocation+=" --bustle"
    rounds=${ENGINE_BENCH_ROUNDS:-3}
    out_dir=${ENGINE_BENCH_OUT:-bench-results}
    target_dir=${CARGO_TARGET_DIR:-target}
    [[ $target_dir == /* ]] || target_dir="$PWD/$target_dir"
    work="$target_dir/engine-bustle"
    rm -rf "$work"
    mkdir -p "$work" "$out_dir"
    maps=${BUSTLE_MAP:-lockfree,lockfree-system,engine-dashmap,dashmap,papaya,scc,hashbrown,hashbrown-rwlock}
    workloads=${BUSTLE_WORKLOAD:-ReadHeavy,ReadOnly,Exchange,RapidGrow}
    threads_list=${BUSTLE_THREADS:-1,2}
    started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    echo "== building (bench profile: fat LTO, one codegen unit)"
    cargo bench -p engine --bench bustle --bench memory --no-run
    round_seconds=()
    for round in $(seq 1 "$rounds"); do
        echo "== bustle round $round of $rounds"
        round_start=$(date +%s)
        for workload in ${workloads//,/ }; do
            for threads in ${threads_list//,/ }; do
                for map in ${maps//,/ }; do
                    # The unlocked hashbrown anchor is one thread's table by construction.
                    [[ $map == hashbrown && $threads != 1 ]] && continue
                    line=$(BUSTLE_MAP=$map BUSTLE_WORKLOAD=$workload BUSTLE_THREADS=$threads \
                        cargo bench -q -p engine --bench bustle 2>>"$work/stderr.txt" |
                        grep '^bustle ' || echo "bustle map=$map workload=$workload threads=$threads error=failed")
                    echo "round=$round $line" | tee -a "$work/bustle.txt"
                done
            done
        done
        round_seconds+=("$(($(date +%s) - round_start))")
    done
    echo "== memory per entry (one process per map)"
    if ! cargo bench -p engine --bench memory 2>"$work/memory.stderr" | tee "$work/memory.txt"; then
        echo "warning: the memory benchmark failed for some map; see $work/memory.stderr" >&2
    fi
    finished=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    {
        echo "command=$invocation"
        echo "started_utc=$started"
        echo "finished_utc=$finished"
        echo "rounds=$rounds"
        echo "round_seconds=${round_seconds[*]}"
        echo "capacity_log2=${BUSTLE_CAPACITY_LOG2:-23}"
        echo "operations=${BUSTLE_OPERATIONS:-1}"
        echo "git_commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
        echo "git_dirty=$(if git diff --quiet HEAD -- engine Cargo.toml Cargo.lock 2>/dev/null; then echo no; else echo yes; fi)"
        echo "rustc=$(rustc --version)"
        echo "nproc=$(nproc)"
        echo "cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
        echo "kernel=$(uname -sr)"
        echo "thp=$(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo unknown)"
        echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)"
        echo "machine_note=${ENGINE_BENCH_NOTE:-}"
        echo "memory_total=$(grep -m1 MemTotal /proc/meminfo | awk '{printf "%.1f GiB", $2 / 1048576}')"
    } >"$work/meta.txt"
    echo "== rendering $out_dir/engine-bustle.md"
    python3 scripts/render_engine.py --bustle --work "$work" --out "$out_dir"
    exit 0
fi

if [[ $quick == 1 ]]; then
    rounds=${ENGINE_BENCH_ROUNDS:-1}
    warmup=${ENGINE_BENCH_WARMUP:-0.2}
    measure=${ENGINE_BENCH_MEASURE:-0.5}
else
    rounds=${ENGINE_BENCH_ROUNDS:-5}
    warmup=${ENGINE_BENCH_WARMUP:-1}
    measure=${ENGINE_BENCH_MEASURE:-1}
fi
out_dir=${ENGINE_BENCH_OUT:-bench-results}
target_dir=${CARGO_TARGET_DIR:-target}
# Absolute, because cargo runs a benchmark from its package directory (engine/), so a relative
# CRITERION_HOME would land under engine/.
[[ $target_dir == /* ]] || target_dir="$PWD/$target_dir"
work="$target_dir/engine-bench"

rm -rf "$work"
mkdir -p "$work" "$out_dir"

criterion_args=(--warm-up-time "$warmup" --measurement-time "$measure" "${criterion_extra[@]}")
cargo_command="cargo bench -p engine --bench engine -- ${criterion_args[*]}"

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
echo "== building (release profile: fat LTO, one codegen unit)"
cargo bench -p engine --bench engine --bench memory --no-run

round_seconds=()
for round in $(seq 1 "$rounds"); do
    echo "== round $round of $rounds: $cargo_command"
    round_start=$(date +%s)
    # Each round writes criterion's estimates to its own directory, so nothing of an earlier
    # round (or an earlier run) can be mistaken for this one's.
    CRITERION_HOME="$work/round$round" cargo bench -p engine --bench engine -- \
        "${criterion_args[@]}" 2>&1 | tee "$work/round$round.log"
    round_seconds+=("$(($(date +%s) - round_start))")
    echo "== round $round took ${round_seconds[-1]} s"
done

echo "== memory per entry (one process per map)"
if ! cargo bench -p engine --bench memory 2>"$work/memory.stderr" | tee "$work/memory.txt"; then
    echo "warning: the memory benchmark failed for some map; see $work/memory.stderr" >&2
fi
finished=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# Everything the page states about the run and the machine.
{
    echo "command=$invocation"
    echo "cargo_command=$cargo_command"
    echo "memory_command=cargo bench -p engine --bench memory"
    echo "started_utc=$started"
    echo "finished_utc=$finished"
    echo "quick=$quick"
    echo "rounds=$rounds"
    echo "warmup_s=$warmup"
    echo "measure_s=$measure"
    echo "round_seconds=${round_seconds[*]}"
    echo "skip=${ENGINE_BENCH_SKIP:-}"
    echo "native=${ENGINE_BENCH_NATIVE:-0}"
    echo "capacity_log2=${ENGINE_BENCH_CAPACITY_LOG2:-20}"
    echo "git_commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "git_dirty=$(if git diff --quiet HEAD -- engine Cargo.toml Cargo.lock 2>/dev/null; then echo no; else echo yes; fi)"
    echo "rustc=$(rustc --version)"
    echo "nproc=$(nproc)"
    echo "cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "kernel=$(uname -sr)"
    echo "libc=$(ldd --version 2>&1 | head -1)"
    echo "memory_total=$(grep -m1 MemTotal /proc/meminfo | awk '{printf "%.1f GiB", $2 / 1048576}')"
} >"$work/meta.txt"

echo "== rendering $out_dir/engine.md"
python3 scripts/render_engine.py --work "$work" --out "$out_dir"
