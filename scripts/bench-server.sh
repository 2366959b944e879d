#!/usr/bin/env bash
# The server benchmarks, measured the way BENCHMARKS.md asks: several rounds, each running
# every system once per measurement in the same fixed order (so rounds alternate over the
# whole set), every system started fresh on free ports for every measurement; then
# bench-results/server.md rendered from the medians by scripts/render_server.py.
#
# Usage, from anywhere in the repository:
#   scripts/bench-server.sh            # the full run (5 rounds)
#   scripts/bench-server.sh --quick    # one short round: checks the pipeline, not a result
#
# The systems: redis-server (--save "" --appendonly no) and memcached (-t <threads> -m 1024
# -U 0) as references, and workingdb once per engine (--threads <threads> --engine <e>
# --appendonly no: like the references, no persistence; bench-persistence.sh measures that).
# Each round runs, in this order, every system once per measurement:
#   p1      redis-benchmark -t set,get,incr,lpush,mset -c 50 -r 100000 -d 32 -n N -P 1 --csv
#   p16     the same with -P 16
#   pc1     per core (BENCHMARKS.md, "Per core, like for like"): the p1 run with the server
#           pinned to one cpu (taskset -c SERVER_BENCH_SERVER_CPU) and redis-benchmark to
#           another (taskset -c SERVER_BENCH_CLIENT_CPU); redis-server against workingdb with
#           SERVER_BENCH_PERCORE_ENGINES (default lockfree@1: one event loop on its one core)
#   pc16    the same with -P 16
#   aof16   same persistence: redis-benchmark -t set,get -c 50 -r 100000 -d 32 -n N -P 16
#           with both servers appending (redis-server and workingdb --appendonly yes
#           --appendfsync everysec --dir <a fresh directory>), unpinned, workingdb with
#           SERVER_BENCH_AOF_ENGINES (default lockfree: the default threads)
#   c1000   redis-benchmark -t set,get -c 1000 -r 100000 -d 32 -n N -P 1 --csv
#   memcaslap  memcaslap -s 127.0.0.1:<port> -T 1 -c 50 -X 32 -t 10s (memcached, then
#           workingdb's memcache port)
#   idle    10,000 connections that each send one PING; server VmRSS before and after
#   memory  1,000,000 SETs of 16-byte keys and 32-byte values; (RSS after - before) / DBSIZE,
#           and INFO memory used_memory per key
# So p1/p16 are the default comparison, pc1/pc16 the per-core one and aof16 the same-
# persistence one, all three beside redis-server in the same rounds.
#
# Old against new: with SERVER_BENCH_BASE_BIN set (a workingdb binary of another commit, built
# from a `git archive` export, never by checking out a commit here), every workingdb system of
# the sections in SERVER_BENCH_BASE_SECTIONS (default p1,p16,pc1,pc16) also runs once with
# that binary, as `base-<engine>` right before `wdb-<engine>`, started with the same options;
# the page then adds a table of new / base ratios. For example, the run of issue 13:
#   SERVER_BENCH_BASE_BIN=target/bench-old/release/workingdb SERVER_BENCH_BASE_LABEL=1704f0f \
#   SERVER_BENCH_BIN=target/bench-new/release/workingdb SERVER_BENCH_BIN_LABEL=8c1f10d \
#   SERVER_BENCH_QUIET_WAIT_S=1500 scripts/bench-server.sh
#
# Environment (all optional):
#   SERVER_BENCH_ROUNDS     rounds (default 5; --quick: 1)
#   SERVER_BENCH_ENGINES    workingdb engines, comma-separated, in run order
#                           (default lockfree,lockfree@1,sharded,dashmap,flurry); `<engine>@<n>` runs
#                           that engine with --threads <n> instead of SERVER_BENCH_THREADS
#                           (e.g. lockfree@1: one event loop, leaving a core to the client)
#   SERVER_BENCH_PERCORE_ENGINES  workingdb engines of pc1 and pc16 (default lockfree@1)
#   SERVER_BENCH_AOF_ENGINES      workingdb engines of aof16 (default lockfree)
#   SERVER_BENCH_SECTIONS   measurements to run, comma-separated, in run order
#                           (default p1,p16,pc1,pc16,aof16,c1000,memcaslap,idle,memory)
#   SERVER_BENCH_SERVER_CPU the cpu list servers are pinned to in pc1/pc16 (default 0)
#   SERVER_BENCH_CLIENT_CPU the cpu list redis-benchmark is pinned to there (default 1)
#   SERVER_BENCH_THREADS    workingdb --threads and memcached -t (default 2)
#   SERVER_BENCH_N_P1       redis-benchmark -n at -P 1, also pc1 (default 200000; --quick: 20000)
#   SERVER_BENCH_N_P16      redis-benchmark -n at -P 16, also pc16 and aof16 (default 1000000;
#                           --quick: 100000)
#   SERVER_BENCH_N_C1000    redis-benchmark -n at -c 1000 (default 200000; --quick: 20000)
#   SERVER_BENCH_MEMCASLAP_TIME  memcaslap -t (default 10s; --quick: 2s)
#   SERVER_BENCH_IDLE_CONNS idle connections (default 10000, also in --quick)
#   SERVER_BENCH_KEYS       keys loaded for memory per key (default 1000000, also in --quick)
#   SERVER_BENCH_LOAD_BATCH SETs the loader sends per round trip (default 200: 15 KB; an
#                           early build stalled on pipelined input over 16 KiB in one write,
#                           fixed in e9bfb5d; a stall would show up as a load_error under Run
#                           problems)
#   SERVER_BENCH_CLIENT_TIMEOUT  seconds before a client run is killed as hung (default 300)
#   SERVER_BENCH_BIN        a prebuilt workingdb binary to measure instead of building one
#   SERVER_BENCH_BIN_LABEL  what the page calls that binary, e.g. its commit (default: the
#                           checkout's commit)
#   SERVER_BENCH_BASE_BIN   a second, older workingdb binary to compare with (see above)
#   SERVER_BENCH_BASE_LABEL what the page calls it, e.g. its commit (default "base")
#   SERVER_BENCH_BASE_SECTIONS  the sections that run it (default p1,p16,pc1,pc16)
#   SERVER_BENCH_QUIET_WAIT_S  wait at most this many seconds in all (default 0: no wait) for a
#                           quiet machine: before round 1 until no process matches
#                           SERVER_BENCH_QUIET_PATTERN and the 1-minute load average is below
#                           SERVER_BENCH_QUIET_LOAD; before later rounds only until no such
#                           process runs (our own rounds keep the load average up). Polls
#                           every 30 s; when the time is used up the rounds run anyway and the
#                           page says which ones were not quiet.
#   SERVER_BENCH_QUIET_PATTERN  pgrep -f pattern of other people's test runs (default
#                           'port-stress|compat.sh|runtest|cargo test')
#   SERVER_BENCH_QUIET_LOAD the load average to wait for (default 0.5)
#   SERVER_BENCH_OUT        where the page, CSV and SVG go (default bench-results)
#   CARGO_TARGET_DIR        as for cargo; the raw runs go to $CARGO_TARGET_DIR/server-bench
#
# Time on our 2-core VMs: a full round of the six default systems is about 6.5 minutes for
# p1, p16, c1000, memcaslap, idle and memory (about 19 s of redis-benchmark per system at
# -P 1, about 13 s at -P 16 and 6 s at -c 1000, 10 s of memcaslap, 5 s for the idle
# connections and 5 s for the memory load, each with a server start and stop); pc1 and pc16
# add about 1 minute for two systems and aof16 about 15 s, so the default five rounds take
# about 40 minutes, plus a fat-LTO build after a change. --quick takes about 3 minutes after
# the build. The machine must be otherwise idle: outside pc1/pc16 the clients run on the same
# cores as the servers.
set -euo pipefail

usage() { sed -n '2,95p' "$0" | sed 's/^# \{0,1\}//'; }

quick=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) quick=1 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "bench-server.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done

# The exact invocation, with every setting that changes the result, for the page.
invocation=""
for var in SERVER_BENCH_ROUNDS SERVER_BENCH_ENGINES SERVER_BENCH_PERCORE_ENGINES \
    SERVER_BENCH_AOF_ENGINES SERVER_BENCH_SECTIONS SERVER_BENCH_SERVER_CPU SERVER_BENCH_CLIENT_CPU \
    SERVER_BENCH_THREADS SERVER_BENCH_N_P1 SERVER_BENCH_N_P16 SERVER_BENCH_N_C1000 \
    SERVER_BENCH_MEMCASLAP_TIME SERVER_BENCH_IDLE_CONNS SERVER_BENCH_KEYS SERVER_BENCH_LOAD_BATCH \
    SERVER_BENCH_BIN SERVER_BENCH_BIN_LABEL SERVER_BENCH_BASE_BIN SERVER_BENCH_BASE_LABEL \
    SERVER_BENCH_BASE_SECTIONS SERVER_BENCH_QUIET_WAIT_S SERVER_BENCH_QUIET_PATTERN \
    SERVER_BENCH_QUIET_LOAD SERVER_BENCH_OUT; do
    if [[ -n "${!var:-}" ]]; then invocation+="$var=$(printf '%q' "${!var}") "; fi
done
invocation+="scripts/bench-server.sh"
[[ $quick == 1 ]] && invocation+=" --quick"

cd "$(dirname "$0")/.."

if [[ $quick == 1 ]]; then
    rounds=${SERVER_BENCH_ROUNDS:-1}
    n_p1=${SERVER_BENCH_N_P1:-20000}
    n_p16=${SERVER_BENCH_N_P16:-100000}
    n_c1000=${SERVER_BENCH_N_C1000:-20000}
    memcaslap_time=${SERVER_BENCH_MEMCASLAP_TIME:-2s}
else
    rounds=${SERVER_BENCH_ROUNDS:-5}
    n_p1=${SERVER_BENCH_N_P1:-200000}
    n_p16=${SERVER_BENCH_N_P16:-1000000}
    n_c1000=${SERVER_BENCH_N_C1000:-200000}
    memcaslap_time=${SERVER_BENCH_MEMCASLAP_TIME:-10s}
fi
IFS=, read -r -a engines <<<"${SERVER_BENCH_ENGINES:-lockfree,lockfree@1,sharded,dashmap,flurry}"
IFS=, read -r -a percore_engines <<<"${SERVER_BENCH_PERCORE_ENGINES:-lockfree@1}"
IFS=, read -r -a aof_engines <<<"${SERVER_BENCH_AOF_ENGINES:-lockfree}"
IFS=, read -r -a sections <<<"${SERVER_BENCH_SECTIONS:-p1,p16,pc1,pc16,aof16,c1000,memcaslap,idle,memory}"
IFS=, read -r -a base_sections <<<"${SERVER_BENCH_BASE_SECTIONS:-p1,p16,pc1,pc16}"
server_cpu_list=${SERVER_BENCH_SERVER_CPU:-0}
client_cpu_list=${SERVER_BENCH_CLIENT_CPU:-1}
base_bin=${SERVER_BENCH_BASE_BIN:-}
base_label=${SERVER_BENCH_BASE_LABEL:-base}
quiet_wait_s=${SERVER_BENCH_QUIET_WAIT_S:-0}
quiet_pattern=${SERVER_BENCH_QUIET_PATTERN:-port-stress|compat.sh|runtest|cargo test}
quiet_load=${SERVER_BENCH_QUIET_LOAD:-0.5}
threads=${SERVER_BENCH_THREADS:-2}
idle_conns=${SERVER_BENCH_IDLE_CONNS:-10000}
keys=${SERVER_BENCH_KEYS:-1000000}
load_batch=${SERVER_BENCH_LOAD_BATCH:-200}
client_timeout=${SERVER_BENCH_CLIENT_TIMEOUT:-300}
out_dir=${SERVER_BENCH_OUT:-bench-results}
target_dir=${CARGO_TARGET_DIR:-target}
[[ $target_dir == /* ]] || target_dir="$PWD/$target_dir"
work="$target_dir/server-bench"
# Every server accepts the idle connections plus the benchmark's own.
maxclients=$((idle_conns + 100))

for engine in "${engines[@]}" "${percore_engines[@]}" "${aof_engines[@]}"; do
    case "$engine" in
        lockfree | sharded | dashmap | flurry) ;;
        lockfree@[1-9] | sharded@[1-9] | dashmap@[1-9] | flurry@[1-9]) ;;
        *) echo "bench-server.sh: unknown engine '$engine' in SERVER_BENCH_ENGINES" >&2; exit 2 ;;
    esac
done
for section in "${sections[@]}"; do
    case "$section" in
        p1 | p16 | pc1 | pc16 | aof16 | c1000 | memcaslap | idle | memory) ;;
        *)
            echo "bench-server.sh: unknown section '$section' in SERVER_BENCH_SECTIONS" >&2
            exit 2
            ;;
    esac
done

for section in "${base_sections[@]}"; do
    case "$section" in
        p1 | p16 | pc1 | pc16 | aof16 | c1000 | memcaslap | idle | memory) ;;
        *)
            echo "bench-server.sh: unknown section '$section' in SERVER_BENCH_BASE_SECTIONS" >&2
            exit 2
            ;;
    esac
done
if [[ -n "$base_bin" && ! -x "$base_bin" ]]; then
    echo "bench-server.sh: SERVER_BENCH_BASE_BIN '$base_bin' is not an executable" >&2
    exit 2
fi

missing=()
for tool in redis-server redis-benchmark redis-cli memcached memcaslap python3 ss taskset pgrep; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "bench-server.sh: missing ${missing[*]}; run scripts/install-deps.sh (ss: iproute2)" >&2
    exit 2
fi

# File descriptors: the idle-connection client holds one per connection and so does the
# server; redis-server wants maxclients + 32.
want_fds=$((maxclients + 1000))
hard_fds=$(ulimit -Hn)
if [[ $hard_fds == unlimited || $hard_fds -ge $want_fds ]]; then
    ulimit -n "$want_fds"
else
    ulimit -n "$hard_fds"
    if [[ $hard_fds -lt $((maxclients + 64)) ]]; then
        echo "bench-server.sh: the hard limit on open files is $hard_fds, below the" \
            "$((maxclients + 64)) the idle-connection test needs; raise it (ulimit -Hn)" \
            "or set SERVER_BENCH_IDLE_CONNS lower" >&2
        exit 2
    fi
fi

rm -rf "$work"
mkdir -p "$work/raw" "$out_dir"

# ------------------------------------------------------------------------------------------
# The helper: free ports, readiness, the key loader, the idle connections, and a client
# runner that records wall and CPU time and kills a hung client.
# ------------------------------------------------------------------------------------------
cat >"$work/helper.py" <<'PYTHON'
"""Helper of scripts/bench-server.sh (written by it; not a separate tool)."""
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import time

PING = b"*1\r\n$4\r\nPING\r\n"


def rss_kb(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit(f"helper: no VmRSS for pid {pid}")


def port_is_free(port):
    """Free when nothing listens and a plain bind (no SO_REUSEADDR/SO_REUSEPORT) succeeds on
    both the loopback and the wildcard address: a SO_REUSEPORT listener of another process
    would otherwise silently share the port with the server we start."""
    for address in ("127.0.0.1", "0.0.0.0"):
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            probe.bind((address, port))
        except OSError:
            return False
        finally:
            probe.close()
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.settimeout(0.2)
    try:
        return probe.connect_ex(("127.0.0.1", port)) != 0
    finally:
        probe.close()


def ports(count):
    count = int(count)
    chosen = []
    for port in random.sample(range(20000, 32000), 2000):
        if port_is_free(port):
            chosen.append(port)
            if len(chosen) == count:
                print(" ".join(map(str, chosen)))
                return
    raise SystemExit("helper: no free ports")


def wait(protocol, port, timeout):
    deadline = time.time() + float(timeout)
    request, expect = (PING, b"+PONG") if protocol == "resp" else (b"version\r\n", b"VERSION")
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", int(port)), timeout=1) as s:
                s.sendall(request)
                if s.recv(64).startswith(expect):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"helper: nothing answered {protocol} on port {port} within {timeout} s")


def load(port, nkeys, batch, timeout):
    """SET key:%012d (16 bytes) to 32 bytes, `batch` per round trip; every reply checked."""
    nkeys, batch = int(nkeys), int(batch)
    s = socket.create_connection(("127.0.0.1", int(port)))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(float(timeout))
    tail = b"\r\n$32\r\n" + b"v" * 32 + b"\r\n"
    done = 0
    started = time.time()
    while done < nkeys:
        n = min(batch, nkeys - done)
        s.sendall(b"".join(b"*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d" % i + tail
                           for i in range(done, done + n)))
        got = bytearray()
        try:
            while len(got) < 5 * n:
                chunk = s.recv(65536)
                if not chunk:
                    print(f"load_error=connection closed after {done} keys")
                    return
                got += chunk
        except socket.timeout:
            print(f"load_error=no reply for {timeout} s after {done + len(got) // 5} of "
                  f"{nkeys} SETs ({n} per round trip)")
            return
        if got != b"+OK\r\n" * n:
            print(f"load_error=unexpected reply after {done} keys: {bytes(got[:80])!r}")
            return
        done += n
    print(f"keys_sent={done}")
    print(f"load_seconds={time.time() - started:.2f}")


def idle(port, pid, conns, settle):
    """Opens `conns` connections, one PING each, and reports the server's RSS."""
    conns, settle = int(conns), float(settle)
    out = {"rss_kb_before": rss_kb(pid)}
    socks, error = [], ""
    started = time.time()
    for _ in range(conns):
        try:
            socks.append(socket.create_connection(("127.0.0.1", int(port)), timeout=10))
        except OSError as e:
            error = f"connect #{len(socks) + 1}: {e}"
            break
    out["connect_seconds"] = f"{time.time() - started:.2f}"
    pongs = 0
    for s in socks:
        try:
            s.sendall(PING)
        except OSError as e:
            error = error or f"send PING: {e}"
    for s in socks:
        try:
            s.settimeout(10)
            reply = b""
            while len(reply) < 7:
                chunk = s.recv(7 - len(reply))
                if not chunk:
                    break
                reply += chunk
            pongs += reply == b"+PONG\r\n"
        except OSError as e:
            error = error or f"read PONG: {e}"
    time.sleep(settle)
    out["connections"] = len(socks)
    out["pongs"] = pongs
    out["rss_kb_after"] = rss_kb(pid)
    try:
        with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as s:
            s.sendall(b"*2\r\n$4\r\nINFO\r\n$7\r\nclients\r\n")
            s.settimeout(5)
            text = s.recv(65536).decode("ascii", "replace")
            for line in text.split("\r\n"):
                if line.startswith("connected_clients:"):
                    out["connected_clients"] = line.split(":", 1)[1]
    except OSError as e:
        error = error or f"INFO clients: {e}"
    for s in socks:
        s.close()
    time.sleep(settle)
    out["rss_kb_closed"] = rss_kb(pid)
    if error:
        out["idle_error"] = error
    for key, value in out.items():
        print(f"{key}={value}")


def run(stdout_path, timeout, *command):
    """Runs a client; keeps the first 20 lines that mention ERROR and counts the rest, so a
    server answering errors cannot fill the disk; prints wall and CPU time and the exit
    status as key=value lines."""
    started = time.time()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    timed_out = False

    def on_alarm(*_):
        nonlocal timed_out
        timed_out = True
        os.killpg(process.pid, signal.SIGKILL)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(timeout))
    error_lines = 0
    with open(stdout_path, "wb") as out:
        for line in process.stdout:
            if b"ERROR" in line:
                error_lines += 1
                if error_lines > 20:
                    continue
            out.write(line)
    rc = process.wait()
    signal.alarm(0)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"client_rc={rc}")
    print(f"client_timed_out={int(timed_out)}")
    print(f"client_wall_s={time.time() - started:.3f}")
    print(f"client_cpu_s={usage.ru_utime + usage.ru_stime:.3f}")
    print(f"client_error_lines={error_lines}")


if __name__ == "__main__":
    {"ports": ports, "wait": wait, "load": load, "idle": idle, "run": run}[sys.argv[1]](
        *sys.argv[2:])
PYTHON
helper=(python3 "$work/helper.py")

# ------------------------------------------------------------------------------------------
# The workingdb binary: built once, then copied, so a rebuild during the run cannot change
# what is measured.
# ------------------------------------------------------------------------------------------
# Whether the measured binary is the commit's: checked before the build, since the tree may
# change while the rounds run.
changes=$(git status --porcelain -- src net engine persistence nvme Cargo.toml Cargo.lock \
    2>/dev/null || true)
git_dirty=$(if [[ -z "$changes" ]]; then echo no; else echo yes; fi)
if [[ -n "${SERVER_BENCH_BIN:-}" ]]; then
    echo "== using the prebuilt $SERVER_BENCH_BIN"
    cp "$SERVER_BENCH_BIN" "$work/workingdb"
    build_note="prebuilt binary $SERVER_BENCH_BIN (SERVER_BENCH_BIN)"
else
    echo "== building (cargo build --release: fat LTO, one codegen unit)"
    cargo build --release
    cp "$target_dir/release/workingdb" "$work/workingdb"
    build_note="cargo build --release"
fi
workingdb="$work/workingdb"
if [[ -n "$base_bin" ]]; then
    cp "$base_bin" "$work/workingdb-base"
fi

clk_tck=$(getconf CLK_TCK)
memcached_user=()
[[ $(id -u) -eq 0 ]] && memcached_user=(-u nobody)

# ------------------------------------------------------------------------------------------
# Starting and stopping servers
# ------------------------------------------------------------------------------------------
server_pid=""
resp_port=""
mc_port=""

cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'echo "bench-server.sh: interrupted" >&2; exit 130' INT TERM

# Logs a problem for the page's "Run problems" section.
problem() {
    echo "warning: $*" >&2
    echo "round $round, $section, $system: $*" >>"$work/problems.txt"
}

# problems_from FILE PATTERN [SUFFIX]: one problem per line of FILE matching PATTERN.
problems_from() {
    local line
    while read -r line; do
        problem "$line${3:-}"
    done < <(grep -E "$2" "$1" || true)
}

cpu_ticks() {
    local stat rest fields
    stat=$(<"/proc/$1/stat")
    rest=${stat##*) }
    read -r -a fields <<<"$rest"
    echo $((fields[11] + fields[12]))
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# server_cpu PID TICKS_BEFORE: the CPU seconds PID used since TICKS_BEFORE, as a meta line.
server_cpu() {
    local ticks=$(($(cpu_ticks "$1") - $2))
    awk -v t="$ticks" -v h="$clk_tck" 'BEGIN { printf "server_cpu_s=%.2f\n", t / h }'
}

# Every listener on a port must be the server we started (a SO_REUSEPORT listener of another
# process would take a share of our connections).
check_listeners() {
    local port=$1 lines foreign
    lines=$(ss -Htlnp "sport = :$port" 2>/dev/null || true)
    foreign=$(grep -v "pid=$server_pid," <<<"$lines" || true)
    if [[ -z "$lines" ]]; then
        problem "nothing listens on port $port"
        return 1
    elif [[ -n "$foreign" ]]; then
        problem "another process listens on port $port too: $foreign"
        return 1
    fi
}

# What the current section asks of the servers and the client: a cpu pin for each (pc1,
# pc16: `taskset -c <cpus>` before the command; empty elsewhere) and persistence (aof16).
server_pin=()
client_pin=()
persistence=(--appendonly no)
data_dir=""

# start_server SYSTEM LOG: redis, memcached, wdb-<engine> or base-<engine> (the same with
# SERVER_BENCH_BASE_BIN); sets server_pid, resp_port and mc_port (workingdb: both; redis:
# resp only; memcached: mc only).
start_server() {
    local system=$1 log=$2
    read -r resp_port mc_port <<<"$("${helper[@]}" ports 2)" || true
    if [[ -z "$resp_port" || -z "$mc_port" ]]; then
        problem "no free ports"
        return 1
    fi
    # A fresh data directory per server (only read when persistence is on): no server
    # replays another's log.
    data_dir="$work/data/round$round-$section-$system"
    rm -rf "$data_dir"
    mkdir -p "$data_dir"
    case "$system" in
        redis)
            "${server_pin[@]}" redis-server --port "$resp_port" --bind 127.0.0.1 --save "" \
                "${persistence[@]}" --dir "$data_dir" \
                --maxclients "$maxclients" --daemonize no >"$log" 2>&1 &
            server_pid=$!
            mc_port=""
            ;;
        memcached)
            memcached -t "$threads" -m 1024 -p "$mc_port" -U 0 -l 127.0.0.1 \
                -c "$maxclients" "${memcached_user[@]}" >"$log" 2>&1 &
            server_pid=$!
            resp_port=""
            ;;
        wdb-* | base-*)
            local spec=${system#*-} loops=$threads binary=$workingdb
            [[ $spec == *@* ]] && loops=${spec#*@}
            [[ $system == base-* ]] && binary="$work/workingdb-base"
            "${server_pin[@]}" "$binary" --port "$resp_port" --memcache-port "$mc_port" \
                --threads "$loops" --engine "${spec%@*}" --maxclients "$maxclients" \
                --loglevel warning "${persistence[@]}" --dir "$data_dir" \
                >"$log" 2>&1 &
            server_pid=$!
            ;;
    esac
    if [[ -n "$resp_port" ]]; then
        if ! "${helper[@]}" wait resp "$resp_port" 15; then
            problem "did not start: $(tail -3 "$log")"
            return 1
        fi
        check_listeners "$resp_port" || return 1
    fi
    if [[ -n "$mc_port" ]]; then
        if ! "${helper[@]}" wait memcache "$mc_port" 15; then
            problem "did not start: $(tail -3 "$log")"
            return 1
        fi
        check_listeners "$mc_port" || return 1
    fi
}

stop_server() {
    [[ -n "$server_pid" ]] || return 0
    if kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        local waited=0
        while kill -0 "$server_pid" 2>/dev/null && [[ $waited -lt 150 ]]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        if kill -0 "$server_pid" 2>/dev/null; then
            problem "still running 15 s after SIGTERM; killed"
            kill -KILL "$server_pid" 2>/dev/null || true
        fi
    else
        problem "the server had exited before the end of the measurement"
    fi
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
    if [[ -n "$data_dir" ]]; then
        du -sk "$data_dir" 2>/dev/null | awk '{ print "data_dir_kb=" $1 }' \
            >>"$dir/$system.meta" || true
        rm -rf "$data_dir"
        data_dir=""
    fi
}

# info_fields PORT SECTION FIELD...: FIELD=value lines from INFO.
info_fields() {
    local port=$1 section=$2 text field
    shift 2
    text=$(timeout 10 redis-cli -p "$port" INFO "$section" 2>/dev/null | tr -d '\r' || true)
    for field in "$@"; do
        echo "$field=$(sed -n "s/^$field://p" <<<"$text" | head -1)"
    done
}

# ------------------------------------------------------------------------------------------
# The measurements. Each writes $dir/$system.out (the client's output), $system.meta
# (key=value lines) and $system.log (the server's log).
# ------------------------------------------------------------------------------------------
redis_benchmark() {
    local tests=$1 clients=$2 pipeline=$3 n=$4
    local base="$dir/$system" cpu0
    echo "tool=redis-benchmark" >"$base.meta"
    echo "command=${client_pin[*]:+${client_pin[*]} }redis-benchmark -h 127.0.0.1 -p <port>" \
        "-t $tests -c $clients -r 100000 -d 32 -n $n -P $pipeline --csv" >>"$base.meta"
    echo "server_pin=${server_pin[*]}" >>"$base.meta"
    echo "persistence=${persistence[*]}" >>"$base.meta"
    start_server "$system" "$base.log" || { stop_server; return 0; }
    echo "rss_kb_before=$(rss_kb "$server_pid")" >>"$base.meta"
    cpu0=$(cpu_ticks "$server_pid")
    "${helper[@]}" run "$base.out" "$client_timeout" "${client_pin[@]}" redis-benchmark \
        -h 127.0.0.1 -p "$resp_port" -t "$tests" -c "$clients" -r 100000 -d 32 -n "$n" \
        -P "$pipeline" --csv >>"$base.meta" || problem "the client runner failed"
    if kill -0 "$server_pid" 2>/dev/null; then
        server_cpu "$server_pid" "$cpu0" >>"$base.meta"
        echo "rss_kb_after=$(rss_kb "$server_pid")" >>"$base.meta"
        info_fields "$resp_port" stats total_commands_processed total_error_replies \
            rejected_connections >>"$base.meta"
        if [[ $tests == *lpush* ]]; then
            echo "llen_mylist=$(timeout 10 redis-cli -p "$resp_port" LLEN mylist 2>&1 | head -1)" \
                >>"$base.meta"
        fi
        check_listeners "$resp_port" || echo "foreign_listener=1" >>"$base.meta"
    fi
    stop_server
    problems_from "$base.meta" '^client_(rc|timed_out)=[^0]'
    problems_from "$base.meta" '^total_error_replies=[1-9]'
    return 0
}

memcaslap_run() {
    local base="$dir/$system" cpu0 first_error
    echo "tool=memcaslap" >"$base.meta"
    echo "command=memcaslap -s 127.0.0.1:<port> -T 1 -c 50 -X 32 -t $memcaslap_time" >>"$base.meta"
    start_server "$system" "$base.log" || { stop_server; return 0; }
    cpu0=$(cpu_ticks "$server_pid")
    "${helper[@]}" run "$base.out" "$client_timeout" memcaslap -s "127.0.0.1:$mc_port" -T 1 \
        -c 50 -X 32 -t "$memcaslap_time" >>"$base.meta" || problem "the client runner failed"
    if kill -0 "$server_pid" 2>/dev/null; then
        server_cpu "$server_pid" "$cpu0" >>"$base.meta"
        if [[ -n "$resp_port" ]]; then
            info_fields "$resp_port" stats total_commands_processed total_error_replies \
                >>"$base.meta"
        fi
        check_listeners "$mc_port" || echo "foreign_listener=1" >>"$base.meta"
    fi
    stop_server
    problems_from "$base.meta" '^client_(rc|timed_out)=[^0]'
    first_error=$(grep -a -m1 ERROR "$base.out" | tr -cd '[:print:]' || true)
    problems_from "$base.meta" '^client_error_lines=[1-9]' \
        " (lines of memcaslap output naming an ERROR reply; the first: $first_error)"
    problems_from "$base.meta" '^total_error_replies=[1-9]'
    return 0
}

idle_run() {
    local base="$dir/$system"
    echo "tool=idle" >"$base.meta"
    echo "connections_wanted=$idle_conns" >>"$base.meta"
    start_server "$system" "$base.log" || { stop_server; return 0; }
    "${helper[@]}" idle "$resp_port" "$server_pid" "$idle_conns" 1 >>"$base.meta" ||
        problem "the idle-connection helper failed"
    stop_server
    problems_from "$base.meta" '^idle_error='
    return 0
}

memory_run() {
    local base="$dir/$system"
    echo "tool=memory" >"$base.meta"
    echo "keys_wanted=$keys" >>"$base.meta"
    echo "load_batch=$load_batch" >>"$base.meta"
    start_server "$system" "$base.log" || { stop_server; return 0; }
    sleep 0.5
    echo "rss_kb_before=$(rss_kb "$server_pid")" >>"$base.meta"
    info_fields "$resp_port" memory used_memory | sed 's/^/before_/' >>"$base.meta"
    "${helper[@]}" load "$resp_port" "$keys" "$load_batch" 30 >>"$base.meta" ||
        problem "the loader failed"
    sleep 1
    echo "rss_kb_after=$(rss_kb "$server_pid")" >>"$base.meta"
    info_fields "$resp_port" memory used_memory used_memory_rss mem_allocator >>"$base.meta"
    echo "dbsize=$(timeout 10 redis-cli -p "$resp_port" DBSIZE 2>&1 | head -1)" >>"$base.meta"
    stop_server
    problems_from "$base.meta" '^load_error='
    return 0
}

# ------------------------------------------------------------------------------------------
# The rounds
# ------------------------------------------------------------------------------------------
# section_systems SECTION: the systems of a section, in run order (the reference first, then
# for each engine the base binary, if any, right before the measured one).
section_systems() {
    local section=$1 engine with_base=0 list=()
    local -a section_engines=("${engines[@]}")
    case "$section" in
        pc1 | pc16) section_engines=("${percore_engines[@]}") ;;
        aof16) section_engines=("${aof_engines[@]}") ;;
    esac
    if [[ -n "$base_bin" && " ${base_sections[*]} " == *" $section "* ]]; then
        with_base=1
    fi
    if [[ $section == memcaslap ]]; then list=(memcached); else list=(redis); fi
    for engine in "${section_engines[@]}"; do
        [[ $with_base == 1 ]] && list+=("base-$engine")
        list+=("wdb-$engine")
    done
    echo "${list[@]}"
}
# quiet_wait ROUND: waits, within what is left of SERVER_BENCH_QUIET_WAIT_S, until no process
# matches the pattern (and, before round 1, the load average is below the threshold); sets
# quiet_state to "quiet" or to what was still there when the time ran out.
quiet_left=$quiet_wait_s
quiet_state=""
quiet_wait() {
    local round=$1 busy load waited=0
    while true; do
        busy=$(pgrep -f "$quiet_pattern" 2>/dev/null | while read -r pid; do
            [[ $pid == "$$" ]] || ps -o args= -p "$pid" 2>/dev/null | cut -c1-60
        done | sort -u | paste -sd';' - || true)
        load=$(cut -d' ' -f1 /proc/loadavg)
        if [[ -z "$busy" ]] && { [[ $round -gt 1 ]] ||
            awk -v l="$load" -v t="$quiet_load" 'BEGIN { exit !(l < t) }'; }; then
            quiet_state="quiet after ${waited} s"
            return
        fi
        if [[ $quiet_left -le 0 ]]; then
            quiet_state="NOT quiet after ${waited} s (load $load${busy:+; running: $busy})"
            return
        fi
        echo "   waiting for a quiet machine (load $load${busy:+; running: $busy})"
        sleep 30
        waited=$((waited + 30))
        quiet_left=$((quiet_left - 30))
    done
}

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
round_seconds=()
round_loads=()
round_quiet=()
round=0
section=""
system=""
for round in $(seq 1 "$rounds"); do
    if [[ $quiet_wait_s -gt 0 ]]; then
        quiet_wait "$round"
        round_quiet+=("round $round: $quiet_state")
        echo "== round $round: $quiet_state"
        [[ $round == 1 ]] && started=$(date -u +%Y-%m-%dT%H:%M:%SZ) &&
            load_start=$(cut -d' ' -f1-3 /proc/loadavg)
    fi
    echo "== round $round of $rounds (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    round_loads+=("$(cut -d' ' -f1 /proc/loadavg)")
    round_start=$(date +%s)
    for section in "${sections[@]}"; do
        dir="$work/raw/round$round/$section"
        mkdir -p "$dir"
        read -r -a systems <<<"$(section_systems "$section")"
        server_pin=()
        client_pin=()
        persistence=(--appendonly no)
        case "$section" in
            pc1 | pc16)
                server_pin=(taskset -c "$server_cpu_list")
                client_pin=(taskset -c "$client_cpu_list")
                ;;
            aof16) persistence=(--appendonly yes --appendfsync everysec) ;;
        esac
        for system in "${systems[@]}"; do
            echo "-- round $round, $section, $system"
            case "$section" in
                p1 | pc1) redis_benchmark set,get,incr,lpush,mset 50 1 "$n_p1" ;;
                p16 | pc16) redis_benchmark set,get,incr,lpush,mset 50 16 "$n_p16" ;;
                aof16) redis_benchmark set,get 50 16 "$n_p16" ;;
                c1000) redis_benchmark set,get 1000 1 "$n_c1000" ;;
                memcaslap) memcaslap_run ;;
                idle) idle_run ;;
                memory) memory_run ;;
            esac
        done
    done
    round_seconds+=("$(($(date +%s) - round_start))")
    echo "== round $round took ${round_seconds[-1]} s"
done
finished=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# Everything the page states about the run and the machine.
{
    echo "command=$invocation"
    echo "build=$build_note"
    echo "started_utc=$started"
    echo "finished_utc=$finished"
    echo "quick=$quick"
    echo "rounds=$rounds"
    echo "round_seconds=${round_seconds[*]}"
    echo "load_average_start=$load_start"
    echo "load_average_rounds=${round_loads[*]}"
    echo "load_average_end=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "engines=${engines[*]}"
    echo "percore_engines=${percore_engines[*]}"
    echo "aof_engines=${aof_engines[*]}"
    echo "server_cpu=$server_cpu_list"
    echo "client_cpu=$client_cpu_list"
    echo "bin_label=${SERVER_BENCH_BIN_LABEL:-}"
    if [[ -n "$base_bin" ]]; then
        echo "base_bin=$base_bin"
        echo "base_label=$base_label"
        echo "base_sections=${base_sections[*]}"
        echo "base_sha256=$(sha256sum "$work/workingdb-base" | cut -c1-16)"
        echo "base_version=$("$work/workingdb-base" --version 2>&1 | head -1)"
    fi
    echo "quiet_wait_s=$quiet_wait_s"
    echo "quiet_pattern=$quiet_pattern"
    echo "quiet_load=$quiet_load"
    echo "round_quiet=$(IFS='|'; echo "${round_quiet[*]}")"
    echo "sections=${sections[*]}"
    echo "threads=$threads"
    echo "n_p1=$n_p1"
    echo "n_p16=$n_p16"
    echo "n_c1000=$n_c1000"
    echo "memcaslap_time=$memcaslap_time"
    echo "idle_conns=$idle_conns"
    echo "keys=$keys"
    echo "load_batch=$load_batch"
    echo "maxclients=$maxclients"
    echo "ulimit_n=$(ulimit -n)"
    echo "workingdb_version=$("$workingdb" --version 2>&1 | head -1)"
    echo "workingdb_sha256=$(sha256sum "$workingdb" | cut -c1-16)"
    # Which allocator the binary links (its symbols), whatever INFO memory says.
    if grep -q -a -m1 mi_malloc "$workingdb"; then echo "binary_allocator=mimalloc"
    elif grep -q -a -m1 -i jemalloc "$workingdb"; then echo "binary_allocator=jemalloc"
    else echo "binary_allocator=system"; fi
    echo "redis_server_version=$(redis-server --version | head -1)"
    echo "redis_benchmark_version=$(redis-benchmark --version 2>&1 | head -1)"
    echo "memcached_version=$(memcached -V 2>&1 | head -1)"
    echo "memcaslap_version=$(memcaslap -V 2>&1 | head -1)"
    echo "git_commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "git_dirty=$git_dirty"
    echo "rustc=$(rustc --version)"
    echo "nproc=$(nproc)"
    echo "cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "kernel=$(uname -sr)"
    echo "libc=$(ldd --version 2>&1 | head -1)"
    echo "memory_total=$(grep -m1 MemTotal /proc/meminfo | awk '{printf "%.1f GiB", $2 / 1048576}')"
} >"$work/meta.txt"

echo "== rendering $out_dir/server.md"
python3 scripts/render_server.py --work "$work" --out "$out_dir"
