#!/usr/bin/env bash
# The persistence benchmarks, measured the way BENCHMARKS.md asks: several rounds, each running
# every system once per measurement in the same fixed order (so rounds alternate over the
# whole set), every server started fresh on a free port and a fresh, empty data directory for
# every measurement; then bench-results/persistence.md rendered from the medians by
# scripts/render_persistence.py.
#
# Usage, from anywhere in the repository:
#   scripts/bench-persistence.sh            # the full run (5 rounds)
#   scripts/bench-persistence.sh --quick    # one short round: checks the pipeline, not a result
#
# The systems, named <server>-<appendfsync>[-<aof-io>]:
#   redis-always, redis-everysec, redis-no   redis-server --save "" --appendonly yes
#                                            --appendfsync <policy>
#   wdb-always, wdb-everysec, wdb-no         workingdb --appendonly yes --appendfsync <policy>
#                                            with the default --aof-io (auto: io_uring when the
#                                            kernel allows it; the log says which it used)
#   wdb-off                                  workingdb --appendonly no: the baseline of the
#                                            "everysec >= 0.9x our AOF-off throughput" target
#   wdb-always-sync, wdb-everysec-sync       the same with --aof-io sync (pwrite + fdatasync)
# Every server runs with --auto-aof-rewrite-percentage 0: no automatic rewrite, so the only
# rewrite is the one the rewrite measurement asks for.
# Each round runs, in this order:
#   ack1     redis-benchmark -t set -r 100000 -d 32 -P 1 -c 1 -n N --csv, every system
#   ack50    the same with -c 50
#   replay   K SETs (16-byte keys, 32-byte values, by a Python loader) into redis-everysec and
#            wdb-everysec; a clean stop; a restart on the same directory; the load time from
#            the server's "DB loaded from append only file" log line and from the start of
#            the process to its first PONG. Neither log is rewritten before the restart, so
#            both replay an incremental log of K SETs
#   rewrite  K SETs into redis-everysec and wdb-everysec, then a redis-benchmark SET load
#            (-c 50 -P 1) with BGREWRITEAOF issued 2 s into it; INFO persistence polled every
#            5 ms until the rewrite is over; a probe (8 connections in turn, one SET at a
#            time) times every SET it sends meanwhile, so the page has the worst latency
#            during the rewrite
#
# Environment (all optional):
#   PERSIST_BENCH_ROUNDS          rounds (default 5; --quick: 1)
#   PERSIST_BENCH_SECTIONS        measurements to run, comma-separated, in run order
#                                 (default ack1,ack50,replay,rewrite)
#   PERSIST_BENCH_SYSTEMS         the ack systems, comma-separated, in run order (default
#                                 redis-always,wdb-always,wdb-always-sync,redis-everysec,
#                                 wdb-everysec,wdb-everysec-sync,redis-no,wdb-no,wdb-off)
#   PERSIST_BENCH_THREADS         workingdb --threads (default 2)
#   PERSIST_BENCH_ENGINE          workingdb --engine (default lockfree)
#   PERSIST_BENCH_AOF_IO          workingdb --aof-io of the systems without -sync (default auto)
#   PERSIST_BENCH_N_C1_ALWAYS     redis-benchmark -n at -c 1 under always (default 20000;
#                                 --quick: 2000)
#   PERSIST_BENCH_N_C1            -n at -c 1 otherwise (default 150000; --quick: 10000)
#   PERSIST_BENCH_N_C50_ALWAYS    -n at -c 50 under always (default 200000; --quick: 10000)
#   PERSIST_BENCH_N_C50           -n at -c 50 otherwise (default 400000; --quick: 20000)
#   PERSIST_BENCH_KEYS            keys loaded for replay and rewrite (default 1000000;
#                                 --quick: 100000)
#   PERSIST_BENCH_N_REWRITE       redis-benchmark -n of the load during the rewrite (default
#                                 600000; --quick: 300000); it must outlast the rewrite, which
#                                 the page checks
#   PERSIST_BENCH_LOAD_BATCH      SETs the loader sends per round trip (default 200: 15 KB)
#   PERSIST_BENCH_CLIENT_TIMEOUT  seconds before a client run is killed as hung (default 300)
#   PERSIST_BENCH_BIN             a prebuilt workingdb binary to measure instead of building one
#   PERSIST_BENCH_OUT             where the page, CSV and SVG go (default bench-results)
#   PERSIST_BENCH_DATA            where the servers' data directories go (default
#                                 $CARGO_TARGET_DIR/persistence-bench/data); its file system is
#                                 what is measured, and the page names it
#   CARGO_TARGET_DIR              as for cargo; the raw runs go to
#                                 $CARGO_TARGET_DIR/persistence-bench
#
# Time on our 2-core VMs: a full round takes 4-5 minutes: ack1 about 1-3 minutes (the
# three systems under always run at 1-6k SET/s, whatever the disk's fsync costs at the time),
# ack50 about 2 minutes, replay about 30 s and rewrite about 1 minute (most of both is loading
# 1M keys through the Python loader), each measurement with a server start and stop. One
# full-size round took 310 s on a busy machine (another process was running a disk test), so
# the default five rounds take 20-26 minutes, plus a fat-LTO build after a change. --quick
# takes 45-80 s after the build. The machine must be otherwise idle: the clients run on the
# same cores as the servers, and the disk is shared.
set -euo pipefail

usage() { sed -n '2,74p' "$0" | sed 's/^# \{0,1\}//'; }

quick=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) quick=1 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "bench-persistence.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done

# The exact invocation, with every setting that changes the result, for the page.
invocation=""
for var in PERSIST_BENCH_ROUNDS PERSIST_BENCH_SECTIONS PERSIST_BENCH_SYSTEMS \
    PERSIST_BENCH_THREADS PERSIST_BENCH_ENGINE PERSIST_BENCH_AOF_IO PERSIST_BENCH_N_C1_ALWAYS \
    PERSIST_BENCH_N_C1 PERSIST_BENCH_N_C50_ALWAYS PERSIST_BENCH_N_C50 PERSIST_BENCH_KEYS \
    PERSIST_BENCH_N_REWRITE PERSIST_BENCH_LOAD_BATCH PERSIST_BENCH_BIN PERSIST_BENCH_OUT \
    PERSIST_BENCH_DATA; do
    if [[ -n "${!var:-}" ]]; then invocation+="$var=$(printf '%q' "${!var}") "; fi
done
invocation+="scripts/bench-persistence.sh"
[[ $quick == 1 ]] && invocation+=" --quick"

cd "$(dirname "$0")/.."

if [[ $quick == 1 ]]; then
    rounds=${PERSIST_BENCH_ROUNDS:-1}
    n_c1_always=${PERSIST_BENCH_N_C1_ALWAYS:-2000}
    n_c1=${PERSIST_BENCH_N_C1:-10000}
    n_c50_always=${PERSIST_BENCH_N_C50_ALWAYS:-10000}
    n_c50=${PERSIST_BENCH_N_C50:-20000}
    keys=${PERSIST_BENCH_KEYS:-100000}
    n_rewrite=${PERSIST_BENCH_N_REWRITE:-300000}
else
    rounds=${PERSIST_BENCH_ROUNDS:-5}
    n_c1_always=${PERSIST_BENCH_N_C1_ALWAYS:-20000}
    n_c1=${PERSIST_BENCH_N_C1:-150000}
    n_c50_always=${PERSIST_BENCH_N_C50_ALWAYS:-200000}
    n_c50=${PERSIST_BENCH_N_C50:-400000}
    keys=${PERSIST_BENCH_KEYS:-1000000}
    n_rewrite=${PERSIST_BENCH_N_REWRITE:-600000}
fi
IFS=, read -r -a sections <<<"${PERSIST_BENCH_SECTIONS:-ack1,ack50,replay,rewrite}"
default_systems=redis-always,wdb-always,wdb-always-sync,redis-everysec,wdb-everysec
default_systems+=,wdb-everysec-sync,redis-no,wdb-no,wdb-off
IFS=, read -r -a ack_systems <<<"${PERSIST_BENCH_SYSTEMS:-$default_systems}"
threads=${PERSIST_BENCH_THREADS:-2}
engine=${PERSIST_BENCH_ENGINE:-lockfree}
aof_io=${PERSIST_BENCH_AOF_IO:-auto}
load_batch=${PERSIST_BENCH_LOAD_BATCH:-200}
client_timeout=${PERSIST_BENCH_CLIENT_TIMEOUT:-300}
out_dir=${PERSIST_BENCH_OUT:-bench-results}
target_dir=${CARGO_TARGET_DIR:-target}
[[ $target_dir == /* ]] || target_dir="$PWD/$target_dir"
work="$target_dir/persistence-bench"
data_root=${PERSIST_BENCH_DATA:-$work/data}
# The load runs this long before BGREWRITEAOF, and the probe goes on this long after it.
rewrite_margin_s=2
# The probe's connections: with 8, the chance that all land on one of 2 event loops is 1/128.
probe_conns=8

for system in "${ack_systems[@]}"; do
    case "$system" in
        redis-always | redis-everysec | redis-no) ;;
        wdb-always | wdb-everysec | wdb-no | wdb-off | wdb-always-sync | wdb-everysec-sync | \
            wdb-no-sync) ;;
        *)
            echo "bench-persistence.sh: unknown system '$system' in PERSIST_BENCH_SYSTEMS" >&2
            exit 2
            ;;
    esac
done
for section in "${sections[@]}"; do
    case "$section" in
        ack1 | ack50 | replay | rewrite) ;;
        *)
            echo "bench-persistence.sh: unknown section '$section' in PERSIST_BENCH_SECTIONS" >&2
            exit 2
            ;;
    esac
done
case "$aof_io" in
    auto | uring | sync) ;;
    *) echo "bench-persistence.sh: PERSIST_BENCH_AOF_IO must be auto, uring or sync" >&2; exit 2 ;;
esac

missing=()
for tool in redis-server redis-benchmark redis-cli python3 ss findmnt; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "bench-persistence.sh: missing ${missing[*]}; run scripts/install-deps.sh" \
        "(ss: iproute2, findmnt: util-linux)" >&2
    exit 2
fi

rm -rf "$work"
mkdir -p "$work/raw" "$out_dir" "$data_root"
data_root=$(cd "$data_root" && pwd)

# ------------------------------------------------------------------------------------------
# The helper: free ports, readiness, the key loader, the client runner, and the rewrite
# measurement with its latency probe.
# ------------------------------------------------------------------------------------------
cat >"$work/helper.py" <<'PYTHON'
"""Helper of scripts/bench-persistence.sh (written by it; not a separate tool)."""
import array
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import time

PING = b"*1\r\n$4\r\nPING\r\n"


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


def alive(pid):
    """False once the process is gone or a zombie (exited, not yet reaped by the script)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait(port, timeout, pid):
    """Polls PING every 2 ms until +PONG (a server loading its log refuses the connection or
    answers -LOADING); prints the wall-clock time of the first PONG. Gives up at once when
    the server process has exited."""
    deadline = time.time() + float(timeout)
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", int(port)), timeout=1) as s:
                s.sendall(PING)
                if s.recv(64).startswith(b"+PONG"):
                    print(f"first_pong_epoch={time.time():.6f}")
                    return
        except OSError:
            pass
        if not alive(pid):
            raise SystemExit(f"helper: the server (pid {pid}) exited before answering PING")
        time.sleep(0.002)
    raise SystemExit(f"helper: no PONG on port {port} within {timeout} s")


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


def run(stdout_path, timeout, *command):
    """Runs a client; keeps the first 20 lines that mention ERROR and counts the rest, so a
    server answering errors cannot fill the disk; prints wall and CPU time and the exit
    status as key=value lines. SIGTERM and SIGINT kill the client too."""
    started = time.time()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    timed_out = False

    def on_alarm(*_):
        nonlocal timed_out
        timed_out = True
        os.killpg(process.pid, signal.SIGKILL)

    def on_term(number, _frame):
        os.killpg(process.pid, signal.SIGKILL)
        # Die of the same signal: bash acts on a Ctrl-C only when its foreground child did.
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    # Ctrl-C reaches this process, not the client in its own session.
    signal.signal(signal.SIGINT, on_term)
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


def probe(port, samples_path, seconds_max, conns):
    """`conns` connections, taken in turn, each sending SET probe:<i> <32 bytes> one at a time
    until SIGTERM (or seconds_max); writes (start, latency) pairs in seconds on
    CLOCK_MONOTONIC to samples_path, plus the first error. Several connections because
    workingdb's event loops each own the connections the kernel hands them (SO_REUSEPORT
    hashing), and a stall of one loop is only seen by its own connections."""
    stop = False

    def on_term(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    samples = array.array("d")
    error = ""
    deadline = time.monotonic() + float(seconds_max)
    try:
        socks = []
        for _ in range(int(conns)):
            s = socket.create_connection(("127.0.0.1", int(port)), timeout=30)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            socks.append(s)
        value = b"p" * 32
        i = 0
        while not stop and time.monotonic() < deadline:
            s = socks[i % len(socks)]
            request = b"*3\r\n$3\r\nSET\r\n$10\r\nprobe:%04d\r\n$32\r\n%s\r\n" % (i % 10000, value)
            start = time.monotonic()
            s.sendall(request)
            reply = b""
            while not reply.endswith(b"\r\n"):
                chunk = s.recv(64)
                if not chunk:
                    raise OSError("connection closed")
                reply += chunk
            end = time.monotonic()
            if reply != b"+OK\r\n":
                error = f"reply {reply[:60]!r}"
                break
            samples.append(start)
            samples.append(end - start)
            i += 1
    except OSError as e:
        error = str(e)
    with open(samples_path, "wb") as f:
        samples.tofile(f)
    if error:
        with open(samples_path + ".error", "w", encoding="utf-8") as f:
            f.write(error + "\n")


class Info:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def command(self, *args):
        """Sends a command; returns the reply as text (bulk payload, or the status line)."""
        payload = b"*%d\r\n" % len(args) + b"".join(
            b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in args)
        self.sock.sendall(payload)
        data = b""
        while b"\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise OSError("connection closed")
            data += chunk
        head, rest = data.split(b"\r\n", 1)
        if head[:1] != b"$":
            return head.decode("ascii", "replace")
        size = int(head[1:])
        while len(rest) < size + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise OSError("connection closed")
            rest += chunk
        return rest[:size].decode("ascii", "replace")

    def fields(self, section):
        out = {}
        for line in self.command("INFO", section).split("\r\n"):
            if ":" in line and not line.startswith("#"):
                key, value = line.split(":", 1)
                out[key] = value
        return out


def percentile(values, fraction):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def rewrite(port, margin, timeout, samples_path, load_pid, probe_conns):
    """Starts the probe (`probe_conns` connections), waits `margin` s, sends BGREWRITEAOF,
    polls INFO persistence every 5 ms until the rewrite is over (nothing in progress or
    scheduled, and one more finished rewrite than before), lets the probe run `margin` s
    more, and prints key=value lines."""
    margin, timeout, load_pid = float(margin), float(timeout), int(load_pid)
    info = Info(port)
    before = info.fields("persistence")
    rewrites_before = int(before.get("aof_rewrites", "0") or 0)
    print(f"before_aof_current_size={before.get('aof_current_size', '')}")
    print(f"before_aof_base_size={before.get('aof_base_size', '')}")
    prober = subprocess.Popen([sys.executable, os.path.abspath(__file__), "probe", port,
                               samples_path, str(timeout + 4 * margin), probe_conns])
    time.sleep(margin)
    requested = time.monotonic()
    reply = info.command("BGREWRITEAOF")
    print(f"bgrewriteaof_reply={reply}")
    finished = None
    polls = 0
    fields = {}
    if reply.startswith("+"):
        while time.monotonic() - requested < timeout:
            fields = info.fields("persistence")
            polls += 1
            done = (fields.get("aof_rewrite_in_progress") == "0"
                    and fields.get("aof_rewrite_scheduled", "0") == "0"
                    and int(fields.get("aof_rewrites", "0") or 0) > rewrites_before)
            if done or fields.get("aof_last_bgrewrite_status") == "err":
                finished = time.monotonic()
                break
            time.sleep(0.005)
        if finished is None:
            print(f"rewrite_error=still rewriting {timeout:.0f} s after BGREWRITEAOF")
        elif fields.get("aof_last_bgrewrite_status") != "ok":
            print("rewrite_error=aof_last_bgrewrite_status:"
                  f"{fields.get('aof_last_bgrewrite_status')}")
    else:
        print(f"rewrite_error=BGREWRITEAOF answered {reply[:100]}")
    end_of_window = finished if finished is not None else time.monotonic()
    load_alive_at_end = 1
    try:
        os.kill(load_pid, 0)
    except OSError:
        load_alive_at_end = 0
    time.sleep(margin)
    prober.send_signal(signal.SIGTERM)
    prober.wait(timeout=30)
    if finished is not None:
        print(f"rewrite_polled_ms={(finished - requested) * 1000:.1f}")
    print(f"rewrite_polls={polls}")
    print(f"load_running_at_rewrite_end={load_alive_at_end}")
    for key in ("aof_last_rewrite_time_sec", "aof_longest_rewrite_switch_us", "aof_current_size",
                "aof_base_size", "aof_rewrites", "aof_last_bgrewrite_status"):
        if key in fields:
            print(f"{key}={fields[key]}")
    stats = info.fields("stats")
    if "latest_fork_usec" in stats:
        print(f"latest_fork_usec={stats['latest_fork_usec']}")
    samples = array.array("d")
    try:
        with open(samples_path, "rb") as f:
            samples.frombytes(f.read())
    except OSError as e:
        print(f"probe_error=no samples: {e}")
    if os.path.exists(samples_path + ".error"):
        with open(samples_path + ".error", encoding="utf-8") as f:
            print(f"probe_error={f.read().strip()}")
    pairs = list(zip(samples[0::2], samples[1::2]))
    # A SET is "during the rewrite" when any part of it overlaps the window.
    def overlaps(start, latency):
        return start <= end_of_window and start + latency >= requested

    inside = [latency for start, latency in pairs if overlaps(start, latency)]
    outside = [latency for start, latency in pairs if not overlaps(start, latency)]
    print(f"probe_sets={len(pairs)}")
    print(f"probe_sets_during={len(inside)}")
    for name, values in (("during", inside), ("outside", outside)):
        if values:
            print(f"probe_max_ms_{name}={max(values) * 1000:.3f}")
            print(f"probe_p99_ms_{name}={percentile(values, 0.99) * 1000:.3f}")
            print(f"probe_p50_ms_{name}={percentile(values, 0.50) * 1000:.3f}")


if __name__ == "__main__":
    {"ports": ports, "wait": wait, "load": load, "run": run, "probe": probe,
     "rewrite": rewrite}[sys.argv[1]](*sys.argv[2:])
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
if [[ -n "${PERSIST_BENCH_BIN:-}" ]]; then
    echo "== using the prebuilt $PERSIST_BENCH_BIN"
    cp "$PERSIST_BENCH_BIN" "$work/workingdb"
    build_note="prebuilt binary $PERSIST_BENCH_BIN (PERSIST_BENCH_BIN)"
else
    echo "== building (cargo build --release: fat LTO, one codegen unit)"
    cargo build --release
    cp "$target_dir/release/workingdb" "$work/workingdb"
    build_note="cargo build --release"
fi
workingdb="$work/workingdb"

clk_tck=$(getconf CLK_TCK)

# ------------------------------------------------------------------------------------------
# Starting and stopping servers
# ------------------------------------------------------------------------------------------
server_pid=""
port=""
client_pid=""
data_dir=""

cleanup() {
    if [[ -n "$client_pid" ]] && kill -0 "$client_pid" 2>/dev/null; then
        kill -TERM "$client_pid" 2>/dev/null || true
        wait "$client_pid" 2>/dev/null || true
    fi
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [[ -n "$data_dir" && -d "$data_dir" ]]; then
        rm -rf "$data_dir"
    fi
}
trap cleanup EXIT
trap 'echo "bench-persistence.sh: interrupted" >&2; exit 130' INT TERM

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

# Bytes the process caused to be written to storage (dirtied pages and direct writes).
write_bytes() { awk '/^write_bytes:/ { print $2 }' "/proc/$1/io" 2>/dev/null || echo ""; }

# server_cpu PID TICKS_BEFORE: the CPU seconds PID used since TICKS_BEFORE, as a meta line.
server_cpu() {
    local ticks=$(($(cpu_ticks "$1") - $2))
    awk -v t="$ticks" -v h="$clk_tck" 'BEGIN { printf "server_cpu_s=%.2f\n", t / h }'
}

# Every listener on the port must be the server we started.
check_listeners() {
    local lines foreign
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

# server_command SYSTEM: the command line of SYSTEM on $port and $data_dir, into $command.
server_command() {
    local system=$1 policy io
    case "$system" in
        redis-*)
            command=(redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly yes
                --appendfsync "${system#redis-}" --auto-aof-rewrite-percentage 0
                --dir "$data_dir" --daemonize no)
            ;;
        wdb-*)
            command=("$workingdb" --port "$port" --memcache-port 0 --threads "$threads"
                --engine "$engine" --loglevel notice --dir "$data_dir"
                --auto-aof-rewrite-percentage 0)
            policy=${system#wdb-}
            io=$aof_io
            if [[ $policy == *-sync ]]; then
                policy=${policy%-sync}
                io=sync
            fi
            if [[ $policy == off ]]; then
                command+=(--appendonly no)
            else
                command+=(--appendonly yes --appendfsync "$policy" --aof-io "$io")
            fi
            ;;
    esac
}

# start_server SYSTEM LOG [FRESH]: starts SYSTEM on a free port and, unless FRESH is 0, a new
# empty data directory; sets server_pid and port; LOG.ready gets the time of the first PONG.
start_server() {
    local system=$1 log=$2 fresh=${3:-1}
    if [[ $fresh == 1 ]]; then
        read -r port <<<"$("${helper[@]}" ports 1)" || true
        if [[ -z "$port" ]]; then
            problem "no free port"
            return 1
        fi
        data_dir="$data_root/r$round-$section-$system"
        rm -rf "$data_dir"
        mkdir -p "$data_dir"
    fi
    server_command "$system"
    # The command as a shell would read it (redis-server's --save "" shows as --save '').
    printf 'server_command=%s\n' "$(printf '%q ' "${command[@]}" | sed 's/ $//')" |
        sed "s|$data_root|<data>|g; s|$work|<work>|g" >>"$log.command"
    "${command[@]}" >"$log" 2>&1 &
    server_pid=$!
    if ! "${helper[@]}" wait "$port" 120 "$server_pid" >"$log.ready"; then
        problem "did not start: $(tail -3 "$log" | tr '\n' ' ')"
        return 1
    fi
    check_listeners || return 1
}

stop_server() {
    [[ -n "$server_pid" ]] || return 0
    if kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        local waited=0
        while kill -0 "$server_pid" 2>/dev/null && [[ $waited -lt 300 ]]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        if kill -0 "$server_pid" 2>/dev/null; then
            problem "still running 30 s after SIGTERM; killed"
            kill -KILL "$server_pid" 2>/dev/null || true
        fi
    else
        problem "the server had exited before the end of the measurement: $(tail -2 "$1")"
    fi
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}

# Removes the measurement's data directory (the raw directory keeps its file list).
drop_data() {
    if [[ -n "$data_dir" ]]; then
        rm -rf "$data_dir"
        data_dir=""
    fi
}

# abandon BASE: after a failed start, records why in BASE.meta, stops what is left of the
# server and removes the data directory.
abandon() {
    echo "start_error=did not start: $(tail -3 "$1.log" | tr '\n' ' ')" >>"$1.meta"
    if [[ -n "$server_pid" ]]; then
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
    drop_data
}

# info_fields SECTION FIELD...: FIELD=value lines from INFO.
info_fields() {
    local section=$1 text field
    shift
    text=$(timeout 10 redis-cli -p "$port" INFO "$section" 2>/dev/null | tr -d '\r' || true)
    for field in "$@"; do
        echo "$field=$(sed -n "s/^$field://p" <<<"$text" | head -1)"
    done
}

# aof_files: the log directory's files and their sizes, as meta lines.
aof_files() {
    local dir="$data_dir/appendonlydir" listing
    if [[ -d "$dir" ]]; then
        listing=$(find "$dir" -maxdepth 1 -type f -printf '%f:%s ' | sed 's/ $//')
        echo "aof_files=$listing"
        echo "aof_dir_bytes=$(find "$dir" -maxdepth 1 -type f -printf '%s\n' |
            awk '{ s += $1 } END { print s + 0 }')"
    else
        echo "aof_files="
        echo "aof_dir_bytes=0"
    fi
}

# The log line naming the I/O the AOF writer uses (workingdb at --loglevel notice).
aof_io_used() {
    local line
    line=$(grep -m1 -o 'AOF: .*' "$1" 2>/dev/null || true)
    case "$line" in
        *io_uring*) echo "aof_io_used=io_uring" ;;
        *pwrite*) echo "aof_io_used=pwrite/fdatasync" ;;
        *) echo "aof_io_used=" ;;
    esac
}

# ------------------------------------------------------------------------------------------
# The measurements. Each writes $dir/$system.meta (key=value lines), the client's output
# ($system.out) and the server's log ($system.log).
# ------------------------------------------------------------------------------------------
ack_run() {
    local clients=$1 n=$2
    local base="$dir/$system" cpu0 wb0 wb1
    {
        echo "tool=redis-benchmark"
        echo "clients=$clients"
        echo "requests=$n"
        echo "command=redis-benchmark -h 127.0.0.1 -p <port> -t set -c $clients -r 100000" \
            "-d 32 -n $n -P 1 --csv"
    } >"$base.meta"
    start_server "$system" "$base.log" || { abandon "$base"; return 0; }
    cat "$base.log.command" >>"$base.meta"
    cpu0=$(cpu_ticks "$server_pid")
    wb0=$(write_bytes "$server_pid")
    "${helper[@]}" run "$base.out" "$client_timeout" redis-benchmark -h 127.0.0.1 -p "$port" \
        -t set -c "$clients" -r 100000 -d 32 -n "$n" -P 1 --csv >>"$base.meta" ||
        problem "the client runner failed"
    if kill -0 "$server_pid" 2>/dev/null; then
        server_cpu "$server_pid" "$cpu0" >>"$base.meta"
        wb1=$(write_bytes "$server_pid")
        [[ -n "$wb0" && -n "$wb1" ]] && echo "server_write_bytes=$((wb1 - wb0))" >>"$base.meta"
        info_fields stats total_commands_processed total_error_replies >>"$base.meta"
        if [[ $system != wdb-off ]]; then
            info_fields persistence aof_enabled aof_current_size aof_last_write_status \
                aof_rewrites >>"$base.meta"
        fi
        echo "dbsize=$(timeout 10 redis-cli -p "$port" DBSIZE 2>&1 | head -1)" >>"$base.meta"
        check_listeners || echo "foreign_listener=1" >>"$base.meta"
    fi
    stop_server "$base.log"
    aof_files >>"$base.meta"
    aof_io_used "$base.log" >>"$base.meta"
    drop_data
    problems_from "$base.meta" '^client_(rc|timed_out)=[^0]'
    problems_from "$base.meta" '^total_error_replies=[1-9]'
    problems_from "$base.meta" '^aof_last_write_status=[^o]'
    return 0
}

replay_run() {
    local base="$dir/$system" t0
    {
        echo "tool=replay"
        echo "keys_wanted=$keys"
        echo "load_batch=$load_batch"
    } >"$base.meta"
    start_server "$system" "$base.log" || { abandon "$base"; return 0; }
    cat "$base.log.command" >>"$base.meta"
    "${helper[@]}" load "$port" "$keys" "$load_batch" 60 >>"$base.meta" ||
        problem "the loader failed"
    echo "dbsize_before=$(timeout 10 redis-cli -p "$port" DBSIZE 2>&1 | head -1)" >>"$base.meta"
    info_fields persistence aof_current_size aof_base_size aof_rewrites |
        sed 's/^/before_/' >>"$base.meta"
    stop_server "$base.log"
    aof_files >>"$base.meta"
    aof_io_used "$base.log" >>"$base.meta"
    # The restart: same port, same directory; timed from just before the process starts.
    t0=$EPOCHREALTIME
    if start_server "$system" "$base.restart.log" 0; then
        echo "start_epoch=$t0" >>"$base.meta"
        cat "$base.restart.log.ready" >>"$base.meta"
        echo "dbsize_after=$(timeout 10 redis-cli -p "$port" DBSIZE 2>&1 | head -1)" \
            >>"$base.meta"
        info_fields persistence loading aof_rewrites | sed 's/^/after_/' >>"$base.meta"
        echo "loaded_line=$(grep -m1 -o 'DB loaded from append only file: .*' \
            "$base.restart.log" || true)" >>"$base.meta"
        stop_server "$base.restart.log"
    else
        echo "restart_error=no PONG after the restart: $(tail -2 "$base.restart.log" |
            tr '\n' ' ')" >>"$base.meta"
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
    drop_data
    problems_from "$base.meta" '^load_error='
    return 0
}

rewrite_run() {
    local base="$dir/$system" cpu0
    {
        echo "tool=rewrite"
        echo "keys_wanted=$keys"
        echo "load_batch=$load_batch"
        echo "requests=$n_rewrite"
        echo "command=redis-benchmark -h 127.0.0.1 -p <port> -t set -c 50 -r 100000" \
            "-d 32 -n $n_rewrite -P 1 --csv"
    } >"$base.meta"
    start_server "$system" "$base.log" || { abandon "$base"; return 0; }
    cat "$base.log.command" >>"$base.meta"
    "${helper[@]}" load "$port" "$keys" "$load_batch" 60 >>"$base.meta" ||
        problem "the loader failed"
    echo "dbsize_before=$(timeout 10 redis-cli -p "$port" DBSIZE 2>&1 | head -1)" >>"$base.meta"
    cpu0=$(cpu_ticks "$server_pid")
    "${helper[@]}" run "$base.out" "$client_timeout" redis-benchmark -h 127.0.0.1 -p "$port" \
        -t set -c 50 -r 100000 -d 32 -n "$n_rewrite" -P 1 --csv >"$base.client" &
    client_pid=$!
    "${helper[@]}" rewrite "$port" "$rewrite_margin_s" 120 "$base.probe" "$client_pid" \
        "$probe_conns" >>"$base.meta" || problem "the rewrite helper failed"
    wait "$client_pid" || problem "the client runner failed"
    client_pid=""
    cat "$base.client" >>"$base.meta"
    rm -f "$base.probe"
    if kill -0 "$server_pid" 2>/dev/null; then
        server_cpu "$server_pid" "$cpu0" >>"$base.meta"
        info_fields stats total_error_replies >>"$base.meta"
        echo "dbsize_after=$(timeout 10 redis-cli -p "$port" DBSIZE 2>&1 | head -1)" \
            >>"$base.meta"
        check_listeners || echo "foreign_listener=1" >>"$base.meta"
    fi
    stop_server "$base.log"
    aof_files >>"$base.meta"
    aof_io_used "$base.log" >>"$base.meta"
    drop_data
    problems_from "$base.meta" '^(load_error|rewrite_error|probe_error)='
    problems_from "$base.meta" '^client_(rc|timed_out)=[^0]'
    problems_from "$base.meta" '^total_error_replies=[1-9]'
    problems_from "$base.meta" '^load_running_at_rewrite_end=0' \
        " (the SET load ended before the rewrite did: raise PERSIST_BENCH_N_REWRITE)"
    return 0
}

# ------------------------------------------------------------------------------------------
# The rounds
# ------------------------------------------------------------------------------------------
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
round_seconds=()
round_loads=()
round=0
section=""
system=""
for round in $(seq 1 "$rounds"); do
    echo "== round $round of $rounds (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    round_loads+=("$(cut -d' ' -f1 /proc/loadavg)")
    round_start=$(date +%s)
    for section in "${sections[@]}"; do
        dir="$work/raw/round$round/$section"
        mkdir -p "$dir"
        case "$section" in
            ack1 | ack50) systems=("${ack_systems[@]}") ;;
            replay | rewrite) systems=(redis-everysec wdb-everysec) ;;
        esac
        for system in "${systems[@]}"; do
            echo "-- round $round, $section, $system"
            case "$section" in
                ack1)
                    if [[ $system == *always* ]]; then ack_run 1 "$n_c1_always"
                    else ack_run 1 "$n_c1"; fi
                    ;;
                ack50)
                    if [[ $system == *always* ]]; then ack_run 50 "$n_c50_always"
                    else ack_run 50 "$n_c50"; fi
                    ;;
                replay) replay_run ;;
                rewrite) rewrite_run ;;
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
    echo "sections=${sections[*]}"
    echo "ack_systems=${ack_systems[*]}"
    echo "threads=$threads"
    echo "engine=$engine"
    echo "aof_io=$aof_io"
    echo "n_c1_always=$n_c1_always"
    echo "n_c1=$n_c1"
    echo "n_c50_always=$n_c50_always"
    echo "n_c50=$n_c50"
    echo "keys=$keys"
    echo "n_rewrite=$n_rewrite"
    echo "load_batch=$load_batch"
    echo "rewrite_margin_s=$rewrite_margin_s"
    echo "probe_conns=$probe_conns"
    echo "data_root=$data_root"
    echo "data_fs=$(findmnt -n -o FSTYPE -T "$data_root" 2>/dev/null || echo '?')"
    echo "data_source=$(findmnt -n -o SOURCE -T "$data_root" 2>/dev/null || echo '?')"
    echo "data_mount=$(findmnt -n -o TARGET -T "$data_root" 2>/dev/null || echo '?')"
    echo "data_options=$(findmnt -n -o OPTIONS -T "$data_root" 2>/dev/null || echo '?')"
    echo "data_df=$(df -hT "$data_root" 2>/dev/null | tail -1 | tr -s ' ')"
    data_device=$(basename "$(findmnt -n -o SOURCE -T "$data_root" 2>/dev/null || echo '?')")
    if [[ -r "/sys/block/$data_device/queue/rotational" ]]; then
        echo "data_rotational=$(<"/sys/block/$data_device/queue/rotational")"
        echo "data_device_model=$(cat "/sys/block/$data_device/device/model" 2>/dev/null |
            sed 's/ *$//' || true)"
        echo "data_scheduler=$(<"/sys/block/$data_device/queue/scheduler")"
    fi
    echo "io_uring_disabled=$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null ||
        echo 'not present')"
    echo "workingdb_version=$("$workingdb" --version 2>&1 | head -1)"
    echo "workingdb_sha256=$(sha256sum "$workingdb" | cut -c1-16)"
    # Which allocator the binary links (its symbols), whatever INFO memory says.
    if grep -q -a -m1 mi_malloc "$workingdb"; then echo "binary_allocator=mimalloc"
    elif grep -q -a -m1 -i jemalloc "$workingdb"; then echo "binary_allocator=jemalloc"
    else echo "binary_allocator=system"; fi
    echo "redis_server_version=$(redis-server --version | head -1)"
    echo "redis_benchmark_version=$(redis-benchmark --version 2>&1 | head -1)"
    echo "git_commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "git_dirty=$git_dirty"
    echo "rustc=$(rustc --version)"
    echo "nproc=$(nproc)"
    echo "cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "kernel=$(uname -sr)"
    echo "libc=$(ldd --version 2>&1 | head -1)"
    echo "memory_total=$(grep -m1 MemTotal /proc/meminfo | awk '{printf "%.1f GiB", $2 / 1048576}')"
} >"$work/meta.txt"

echo "== rendering $out_dir/persistence.md"
# No __pycache__ in scripts/ from importing the other renderers.
PYTHONDONTWRITEBYTECODE=1 python3 scripts/render_persistence.py --work "$work" --out "$out_dir"
