#!/bin/bash
# MSET -P 1 latency, alternating systems round by round: redis-server, then each workingdb
# binary given as LABEL=PATH[@THREADS] (default 2 loops). One CSV line per run on stdout:
#   round,label,<redis-benchmark --csv line: test,rps,avg,min,p50,p95,p99,max>
# Unpinned by default, as the p1 section of scripts/bench-server.sh runs; PIN=1 pins every
# server to cpu 0 and the client to cpu 1, as its per-core section does. TESTS (default mset)
# is redis-benchmark's -t list, so another test can get the same alternating A/B. For what it
# found see bench-results/server-mset-stripes.md. Usage:
#   ROUNDS=8 scripts/bench-mset-ab.sh old=target/bench-new/release/workingdb \
#       new=target/bench-try/release/workingdb new1=target/bench-try/release/workingdb@1
set -euo pipefail
ROUNDS=${ROUNDS:-6}
PORT=${PORT:-7601}
N=${N:-200000}
TESTS=${TESTS:-mset}
server_pin=()
client_pin=()
if [[ ${PIN:-0} == 1 ]]; then
    server_pin=(taskset -c 0)
    client_pin=(taskset -c 1)
fi
for round in $(seq 1 "$ROUNDS"); do
    for system in redis "$@"; do
        dir=$(mktemp -d)
        if [[ $system == redis ]]; then
            label=redis
            "${server_pin[@]}" redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no \
                --daemonize no --dir "$dir" >/dev/null 2>&1 &
        else
            label=${system%%=*}
            path=${system#*=}
            threads=2
            if [[ $path == *@* ]]; then
                threads=${path##*@}
                path=${path%@*}
            fi
            "${server_pin[@]}" "$path" --port "$PORT" --memcache-port 0 --appendonly no --dir "$dir" \
                --threads "$threads" --loglevel warning >/dev/null 2>&1 &
        fi
        pid=$!
        for _ in $(seq 1 50); do
            redis-cli -p "$PORT" ping >/dev/null 2>&1 && break
            sleep 0.1
        done
        "${client_pin[@]}" redis-benchmark -p "$PORT" -t "$TESTS" -P 1 -c 50 -r 100000 -d 32 \
            -n "$N" --csv 2>/dev/null | tail -n +2 | sed "s/^/$round,$label,/"
        kill "$pid"
        wait "$pid" 2>/dev/null || true
        rm -rf "$dir"
    done
done
