#!/usr/bin/env bash
# Issue 21's check: the integration tests that start servers (ours and redis-server) run
# RUNS times (default 20) while a load opens and closes thousands of outgoing loopback
# connections, each of which takes an ephemeral port. A harness that picked a "free" port and
# released it before the server bound it failed here; one that lets the kernel pick the port
# at bind time cannot. Prints one line per run and a closing "N passed, N failed" line.
#
# usage: scripts/port-stress.sh [RUNS]     (by hand; not part of scripts/test.sh)
# PORT_STRESS_HELD (default 500) is how many connections each of the 8 load workers (4
# processes of 2) holds at once. 3000 holds about 24,000 of the 28,232 ephemeral ports
# (32768-60999) here, so a port released by a test is soon taken; the default is a lighter
# background load. bench-results/ports.md reports both against the old harness and the new.
# The load talks only to a listener of its own on 127.0.0.1 and stops when this script ends.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
tests=(--test lifecycle --test resp --test memcache --test differential --test aof --test tools)
cargo test --no-run "${tests[@]}" >/dev/null 2>&1
log_dir=$(mktemp -d)

# The load: 4 processes of 2 workers, each worker opening PORT_STRESS_HELD connections to its
# own listener, holding them a moment and closing them, over and over. Closed client sockets sit in TIME_WAIT, so the ephemeral
# range keeps changing hands. Bounded: it stops after an hour at most, or when killed below.
loads=()
for process in 1 2 3 4; do
python3 - "$log_dir/load-$process.txt" "${PORT_STRESS_HELD:-500}" <<'PY' &
import socket, sys, time, threading, os, resource
held = int(sys.argv[2])
# Each loopback connection costs two descriptors (ours and the accepted one); a process may
# not raise its hard limit here, hence four processes of two workers.
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
deadline = time.time() + 3600
opened = [0]
def worker():
    listener = socket.socket(); listener.bind(("127.0.0.1", 0)); listener.listen(4096)
    address = listener.getsockname()
    def accept():
        while True:
            try:
                connection, _ = listener.accept(); connection.close()
            except OSError:
                return
    threading.Thread(target=accept, daemon=True).start()
    while time.time() < deadline:
        batch = []
        for _ in range(held):
            s = socket.socket()
            try:
                s.connect(address); batch.append(s); opened[0] += 1
            except OSError:
                s.close(); time.sleep(0.01)
        time.sleep(0.05)
        for s in batch:
            s.close()
threads = [threading.Thread(target=worker, daemon=True) for _ in range(2)]
for t in threads: t.start()
while time.time() < deadline:
    time.sleep(5)
    open(sys.argv[1], "w").write(f"{opened[0]}\n")
PY
loads+=($!)
done
trap 'kill "${loads[@]}" 2>/dev/null || true' EXIT
sleep 3

passed=0; failed=0
for run in $(seq 1 "$runs"); do
    start=$SECONDS
    if cargo test "${tests[@]}" >"$log_dir/run-$run.log" 2>&1; then
        passed=$((passed + 1)); verdict=ok
    else
        failed=$((failed + 1)); verdict=FAILED
    fi
    echo "run $run: $verdict ($((SECONDS - start)) s, outgoing connections so far: $(cat "$log_dir"/load-*.txt 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'))"
    grep -E "panicked|did not (listen|start|write)" "$log_dir/run-$run.log" | head -5 || true
done
echo "logs: $log_dir"
echo "port-stress: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
