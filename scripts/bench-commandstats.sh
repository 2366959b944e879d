#!/usr/bin/env bash
# The hot-path cost of a change, per core: two workingdb binaries (an old one built from a
# `git archive` export, and a new one) each run with one event loop pinned to cpu 0 while
# redis-benchmark -t set,get -c 50 -r 100000 -d 32 -P 16 runs pinned to cpu 1, alternating
# old and new in every round; prints one line per run (requests/s and the 1-minute load
# average) and writes them to OUT. Take the medians and the per-round ratios; see
# bench-results/commandstats.md for how it was used.
#
# Usage: scripts/bench-commandstats.sh OLD_BIN NEW_BIN [ROUNDS=5] [N=1000000] [OUT=bench.txt]
set -u
base=$1; new=$2; rounds=${3:-5}; n=${4:-1000000}
out=${5:-bench.txt}; : > "$out"
for round in $(seq 1 $rounds); do
  for label in base new; do
    bin=$base; [[ $label == new ]] && bin=$new
    port=$((7400 + RANDOM % 500))
    dir=$(mktemp -d)
    taskset -c 0 $bin --port $port --memcache-port 0 --threads 1 --appendonly no --dir $dir >/dev/null 2>&1 &
    pid=$!
    for i in $(seq 50); do redis-cli -p $port ping >/dev/null 2>&1 && break; sleep 0.1; done
    res=$(taskset -c 1 redis-benchmark -p $port -t set,get -c 50 -r 100000 -d 32 -n $n -P 16 --csv 2>/dev/null | tr -d '"' | awk -F, '/^SET|^GET/{printf "%s=%s ", $1, $2}')
    echo "$round $label $res load=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$out"
    kill $pid; wait $pid 2>/dev/null; rm -rf $dir
  done
done
