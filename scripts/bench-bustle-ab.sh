#!/usr/bin/env bash
# An A/B of bustle bench binaries (engine/benches/bustle.rs) built from different commits:
# rounds alternate the binaries, case by case, so that both sides see the same machine.
#
#   scripts/bench-bustle-ab.sh OUT.csv NAME=BINARY NAME=BINARY [...]
#
# Build a side with `cargo bench -p engine --bench bustle --no-run` and copy the executable it
# names (target/release/deps/bustle-*) away before building the other side.
# Environment: AB_ROUNDS (default 5), AB_WORKLOADS (default "Exchange RapidGrow"),
# AB_THREADS (default 2), BUSTLE_MAP (default lockfree). Writes one row per run to OUT.csv
# (round, workload, threads, binary, mops) and prints each side's median per workload and its
# ratio to the first side's. Benchmarks are noisy here: read the ratios, and the per-round rows.
set -euo pipefail
out=${1:?usage: bench-bustle-ab.sh OUT.csv NAME=BINARY NAME=BINARY [...]}
shift
(($# >= 2)) || { echo "give at least two NAME=BINARY sides" >&2; exit 2; }
rounds=${AB_ROUNDS:-5}
workloads=${AB_WORKLOADS:-Exchange RapidGrow}
threads=${AB_THREADS:-2}
map=${BUSTLE_MAP:-lockfree}
for side in "$@"; do
    [[ $side == *=* && -x ${side#*=} ]] || { echo "not NAME=EXECUTABLE: $side" >&2; exit 2; }
done

echo "round,workload,threads,binary,mops" >"$out"
for round in $(seq 1 "$rounds"); do
    for workload in $workloads; do
        # Alternate which side goes first, so neither always runs on a warmer machine.
        sides=("$@")
        if ((round % 2 == 0)); then
            mapfile -t sides < <(printf '%s\n' "$@" | tac)
        fi
        for side in "${sides[@]}"; do
            line=$(BUSTLE_MAP=$map BUSTLE_WORKLOAD=$workload BUSTLE_THREADS=$threads \
                "${side#*=}" --bench 2>/dev/null | grep '^bustle ')
            mops=${line##*mops=}
            echo "$round,$workload,$threads,${side%%=*},$mops" | tee -a "$out"
        done
    done
done

python3 - "$out" "${1%%=*}" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
base = sys.argv[2]
for workload in dict.fromkeys(r["workload"] for r in rows):
    by = {}
    for r in rows:
        if r["workload"] == workload:
            by.setdefault(r["binary"], {})[r["round"]] = float(r["mops"])
    for name, runs in by.items():
        line = f"{workload} {name}: median {statistics.median(runs.values()):.2f} Mop/s"
        if name != base:
            ratios = [runs[k] / by[base][k] for k in runs if k in by[base]]
            line += (f", {statistics.median(ratios):.2f}x {base} "
                     f"(same-round ratios {min(ratios):.2f}-{max(ratios):.2f})")
        print(line)
EOF
