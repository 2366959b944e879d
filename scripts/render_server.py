#!/usr/bin/env python3
"""Render bench-results/server.md from the rounds scripts/bench-server.sh collected.

Usage: scripts/render_server.py [--work target/server-bench] [--out bench-results]

Standard library only. Reads, under --work (default target/server-bench):

* raw/round<N>/<section>/<system>.meta: key=value lines of one measurement (the client's
  exit status, wall and CPU time, the server's CPU time, RSS, INFO fields, ...);
* raw/round<N>/<section>/<system>.out: the client's output (redis-benchmark --csv, memcaslap);
* meta.txt: key=value lines describing the run and the machine;
* problems.txt: what went wrong during the run, one line per problem.

Sections: p1, p16 (the default comparison), pc1, pc16 (per core: server and client pinned to
different cpus), aof16 (both servers with appendonly yes, appendfsync everysec), c1000
(redis-benchmark), memcaslap, idle, memory. Systems: redis, memcached, wdb-<engine> (the
measured binary) and base-<engine> (SERVER_BENCH_BASE_BIN, an older binary: the page then
compares the two, new / base, in "Old against new").

Writes, under --out (default bench-results): server.md, server-data.csv (one row per metric
per measurement, every round) and server-throughput.svg. The hand-written explanation in the
"Where we lose" section of an existing server.md is carried over, so re-rendering never
loses it.

Across rounds we report the median and the min-max; a ratio is the median over rounds of the
same-round ratio (the two systems ran a minute or two apart in the same round, which is what
makes a ratio on a noisy machine meaningful). A measurement whose client failed, timed out or
got error replies is left out of the medians and listed under "Run problems".
"""

import argparse
import csv
import html
import os
import re
import statistics
import sys
from collections import defaultdict

# The pieces both result pages share come from the engine page's renderer.
from render_engine import HUMAN_BEGIN, HUMAN_END, fmt_ratio, nice_step

SUBJECT = "wdb-lockfree"
ENGINE_ORDER = ["lockfree", "sharded", "dashmap", "flurry"]
REFERENCE = {"p1": "redis", "p16": "redis", "pc1": "redis", "pc16": "redis", "aof16": "redis",
             "c1000": "redis", "memcaslap": "memcached", "idle": "redis", "memory": "redis"}
RESP_SECTIONS = {
    "p1": ("-P 1, 50 clients", "set,get,incr,lpush,mset", 50, 1, "n_p1"),
    "p16": ("-P 16, 50 clients", "set,get,incr,lpush,mset", 50, 16, "n_p16"),
    "pc1": ("Per core, -P 1, 50 clients", "set,get,incr,lpush,mset", 50, 1, "n_p1"),
    "pc16": ("Per core, -P 16, 50 clients", "set,get,incr,lpush,mset", 50, 16, "n_p16"),
    "aof16": ("Same persistence (appendfsync everysec on both), -P 16, 50 clients", "set,get",
              50, 16, "n_p16"),
    "c1000": ("-c 1000 (connection scaling), -P 1", "set,get", 1000, 1, "n_c1000"),
}
SECTION_TITLES = {"p1": "-P 1", "p16": "-P 16", "pc1": "per core -P 1", "pc16": "per core -P 16",
                  "aof16": "same persistence -P 16", "c1000": "-c 1000",
                  "memcaslap": "memcaslap"}
# What the page calls the two workingdb binaries (SERVER_BENCH_BIN_LABEL and
# SERVER_BENCH_BASE_LABEL, or the commit); set from meta.txt in main().
NAMES = {"wdb": "", "base": "base", "base_present": False}
TESTS = ["SET", "GET", "INCR", "LPUSH", "MSET"]
COLORS = {
    "redis": "#2ca02c",
    "memcached": "#ff7f0e",
    "wdb-lockfree": "#d62728",
    "wdb-sharded": "#7f7f7f",
    "wdb-dashmap": "#1f77b4",
    "wdb-flurry": "#9467bd",
    "wdb-lockfree@1": "#ff9896",
    "base-lockfree": "#8c564b",
    "base-lockfree@1": "#c49c94",
}
IDLE_LIMIT_MB = 50.0
HUMAN_PLACEHOLDER = (
    "_To be written by a person after reading profiles: why workingdb loses in each case "
    "listed above (design trade-off, fixable cost, the client's share of the two cores, or "
    "noise). This block between the `where-we-lose:human` markers is kept when the page is "
    "re-rendered._"
)


# ------------------------------------------------------------------------------------------
# Loading
# ------------------------------------------------------------------------------------------


def read_key_values(path):
    values = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if "=" in line:
                    key, value = line.rstrip("\n").split("=", 1)
                    values[key.strip()] = value.strip()
    return values


def system_rank(system):
    if system in ("redis", "memcached"):
        return (0, system)
    binary, _, spec = system.partition("-")
    engine, _, loops = spec.partition("@")
    rank = ENGINE_ORDER.index(engine) if engine in ENGINE_ORDER else 99
    return (1, rank, loops, engine, 0 if binary == "base" else 1)


def label(system, bold=True):
    if system == "redis":
        return "redis-server"
    if system == "memcached":
        return "memcached"
    name = "workingdb " + short(system)
    return f"**{name}**" if bold and system == SUBJECT else name


def short(system):
    if system in ("redis", "memcached"):
        return {"redis": "redis-server", "memcached": "memcached"}[system]
    binary, _, spec = system.partition("-")
    engine, _, loops = spec.partition("@")
    text = f"{engine}, {loops} loop{'s' if loops != '1' else ''}" if loops else engine
    # Only named when two binaries ran: the base one always, the measured one then too.
    if binary == "base" or NAMES["base_present"]:
        text += f" ({NAMES[binary] or 'new'})"
    return text


def base_of(system):
    """The base-binary twin of a measured system (wdb-x -> base-x)."""
    return "base-" + system[len("wdb-"):]


def as_float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def parse_redis_benchmark(path):
    """{test: {rps, avg_ms, p50_ms, p95_ms, p99_ms, max_ms}} from redis-benchmark --csv."""
    results = {}
    if not os.path.exists(path):
        return results
    with open(path, encoding="utf-8", errors="replace") as f:
        rows = [line for line in f if line.startswith('"')]
    if not rows:
        return results
    reader = csv.reader(rows)
    header = next(reader)
    for row in reader:
        if len(row) != len(header) or row[0] == "test":
            continue
        fields = dict(zip(header, row))
        test = fields["test"].split()[0].upper()
        results[test] = {
            "rps": as_float(fields.get("rps")),
            "avg_ms": as_float(fields.get("avg_latency_ms")),
            "p50_ms": as_float(fields.get("p50_latency_ms")),
            "p95_ms": as_float(fields.get("p95_latency_ms")),
            "p99_ms": as_float(fields.get("p99_latency_ms")),
            "max_ms": as_float(fields.get("max_latency_ms")),
        }
    return results


def parse_memcaslap(path):
    out = {}
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    for key in ("cmd_get", "cmd_set", "get_misses"):
        match = re.search(rf"^{key}: (\d+)", text, re.M)
        if match:
            out[key] = float(match.group(1))
    # The final summary line: "Run time: 10.0s Ops: 923455 TPS: 92318 Net_rate: 13.7M/s".
    matches = re.findall(r"Run time: ([\d.]+)s Ops: (\d+) TPS: (\d+)", text)
    if matches:
        seconds, ops, tps = matches[-1]
        out["run_s"], out["ops"], out["ops_per_s"] = float(seconds), float(ops), float(tps)
    return out


class Measurement:
    """One system in one section of one round."""

    def __init__(self, round_number, section, system, meta, metrics):
        self.round = round_number
        self.section = section
        self.system = system
        self.meta = meta
        # {test: {metric: value}}; sections without tests use the test "".
        self.metrics = metrics
        self.invalid = self.judge()

    def judge(self):
        """Why the measurement is left out of the medians, or ""."""
        meta = self.meta
        reasons = []
        if meta.get("client_timed_out") == "1":
            reasons.append("client killed after the timeout")
        elif meta.get("client_rc", "0") != "0":
            reasons.append(f"client exit status {meta['client_rc']}")
        errors = as_float(meta.get("total_error_replies"))
        if errors:
            reasons.append(f"{errors:.0f} error replies")
        lines = as_float(meta.get("client_error_lines"))
        if lines:
            reasons.append(f"{lines:.0f} ERROR replies reported by the client")
        if meta.get("foreign_listener") == "1":
            reasons.append("another process listened on the port")
        for key in ("idle_error", "load_error"):
            if meta.get(key):
                reasons.append(meta[key])
        if self.section in RESP_SECTIONS:
            expected = [t.upper() for t in RESP_SECTIONS[self.section][1].split(",")]
            missing = [t for t in expected if t not in self.metrics]
            if missing:
                reasons.append("no result for " + ", ".join(missing))
            requests = re.search(r" -n (\d+)", meta.get("command", ""))
            llen = meta.get("llen_mylist")
            if "LPUSH" in expected and llen is not None and requests and not missing:
                if llen != requests.group(1):
                    reasons.append(f"LLEN mylist is {llen!r} after {requests.group(1)} LPUSH")
        elif self.section == "memcaslap":
            m = self.metrics.get("", {})
            if "ops_per_s" not in m:
                reasons.append("no memcaslap summary")
            elif not m.get("cmd_get"):
                reasons.append("memcaslap issued no get (its sets failed)")
        elif self.section == "idle" and "rss_kb_after" not in self.meta:
            reasons.append("no RSS figures")
        elif self.section == "memory" and not as_float(self.meta.get("dbsize")):
            reasons.append("no DBSIZE")
        return "; ".join(reasons)


def load_measurements(work):
    measurements = []
    raw = os.path.join(work, "raw")
    if not os.path.isdir(raw):
        return measurements
    for round_name in sorted(os.listdir(raw)):
        match = re.fullmatch(r"round(\d+)", round_name)
        if not match:
            continue
        number = int(match.group(1))
        for section in sorted(os.listdir(os.path.join(raw, round_name))):
            directory = os.path.join(raw, round_name, section)
            for name in sorted(os.listdir(directory)):
                if not name.endswith(".meta"):
                    continue
                system = name[: -len(".meta")]
                meta = read_key_values(os.path.join(directory, name))
                out_path = os.path.join(directory, system + ".out")
                metrics = measurement_metrics(section, meta, out_path)
                measurements.append(Measurement(number, section, system, meta, metrics))
    return measurements


def measurement_metrics(section, meta, out_path):
    metrics = {}
    if section in RESP_SECTIONS:
        metrics = parse_redis_benchmark(out_path)
    elif section == "memcaslap":
        metrics = {"": parse_memcaslap(out_path)}
    elif section == "idle":
        before, after = as_float(meta.get("rss_kb_before")), as_float(meta.get("rss_kb_after"))
        closed = as_float(meta.get("rss_kb_closed"))
        m = {}
        if before is not None and after is not None:
            connections = as_float(meta.get("connections")) or 0
            m = {
                "rss_mb_before": before / 1024,
                "rss_mb_after": after / 1024,
                "conn_mb": (after - before) / 1024,
                "kb_per_conn": (after - before) / connections if connections else None,
                "connections": connections,
                "pongs": as_float(meta.get("pongs")),
            }
            if closed is not None:
                m["rss_mb_closed"] = closed / 1024
        metrics = {"": {k: v for k, v in m.items() if v is not None}}
    elif section == "memory":
        keys = as_float(meta.get("dbsize"))
        before, after = as_float(meta.get("rss_kb_before")), as_float(meta.get("rss_kb_after"))
        used0, used1 = as_float(meta.get("before_used_memory")), as_float(meta.get("used_memory"))
        m = {}
        if keys:
            m["keys"] = keys
            if before is not None and after is not None:
                m["rss_b_per_key"] = (after - before) * 1024 / keys
            if used0 is not None and used1 is not None:
                m["used_b_per_key"] = (used1 - used0) / keys
        metrics = {"": m}
    # Resource use of the client and the server, for the CPU split.
    cpu = {}
    wall = as_float(meta.get("client_wall_s"))
    if wall:
        cpu["client_wall_s"] = wall
        for key, name in (("client_cpu_s", "client_cores"), ("server_cpu_s", "server_cores")):
            value = as_float(meta.get(key))
            if value is not None:
                cpu[name] = value / wall
    if cpu:
        metrics["_cpu"] = cpu
    return metrics


# ------------------------------------------------------------------------------------------
# Statistics
# ------------------------------------------------------------------------------------------


class Results:
    def __init__(self, measurements):
        # (section, system, test, metric) -> {round: value}, valid measurements only.
        self.values = defaultdict(dict)
        self.invalid = defaultdict(dict)  # (section, system) -> {round: reason}
        self.systems = defaultdict(set)  # section -> systems
        self.rounds = sorted({m.round for m in measurements})
        for m in measurements:
            self.systems[m.section].add(m.system)
            if m.invalid:
                self.invalid[(m.section, m.system)][m.round] = m.invalid
                # CPU figures of an invalid run are still what the processes did.
            for test, metrics in m.metrics.items():
                if m.invalid and test != "_cpu":
                    continue
                for metric, value in metrics.items():
                    if value is not None:
                        self.values[(m.section, m.system, test, metric)][m.round] = value

    def ordered_systems(self, section):
        return sorted(self.systems.get(section, ()), key=system_rank)

    def engines(self, section):
        return [s for s in self.ordered_systems(section) if s.startswith("wdb-")]

    def compared(self, section):
        """Every system of a section but its reference: base and measured binaries."""
        return [s for s in self.ordered_systems(section)
                if s.startswith(("wdb-", "base-"))]

    def summary(self, section, system, test, metric):
        values = list(self.values.get((section, system, test, metric), {}).values())
        if not values:
            return None
        return statistics.median(values), min(values), max(values), len(values)

    def ratio(self, section, system, reference, test, metric):
        a = self.values.get((section, system, test, metric), {})
        b = self.values.get((section, reference, test, metric), {})
        ratios = [a[r] / b[r] for r in a if r in b and b[r]]
        if not ratios:
            return None
        return statistics.median(ratios), min(ratios), max(ratios), len(ratios)

    def invalid_note(self, section, system):
        reasons = self.invalid.get((section, system), {})
        if not reasons:
            return ""
        first = next(iter(reasons.values()))
        return f"invalid in {len(reasons)} round(s): {first}"


def fmt_num(value):
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def fmt_k(value):
    return fmt_num(value / 1000)


def fmt_summary(summary, fmt=fmt_num):
    if summary is None:
        return "—"
    median, low, high, n = summary
    if n == 1:
        return fmt(median)
    return f"{fmt(median)} ({fmt(low)}–{fmt(high)})"


def cell_or_invalid(results, section, system, text):
    if text == "—":
        note = results.invalid_note(section, system)
        if note:
            return "invalid"
    return text


# ------------------------------------------------------------------------------------------
# The page
# ------------------------------------------------------------------------------------------


def profile_lines(cargo_toml):
    """The [profile.release] section of the workspace manifest, without comments."""
    lines = []
    section = None
    try:
        with open(cargo_toml, encoding="utf-8") as f:
            for raw in f:
                line = raw.split("#", 1)[0].strip()
                if line.startswith("["):
                    section = line if line == "[profile.release]" else None
                    if section:
                        lines.append(section)
                elif section and line:
                    lines.append(line)
    except OSError:
        pass
    return lines


def workingdb_allocator(repo_root):
    """The global allocator the server binary sets, or the system allocator."""
    for directory in ("src", "net/src"):
        root = os.path.join(repo_root, directory)
        for dirpath, _, files in os.walk(root):
            for name in files:
                if not name.endswith(".rs"):
                    continue
                with open(os.path.join(dirpath, name), encoding="utf-8", errors="replace") as f:
                    text = f.read()
                match = re.search(r"#\[global_allocator\]\s*static\s+\w+\s*:\s*([\w:]+)", text)
                if match:
                    return f"`{match.group(1)}` (the `#[global_allocator]` in {directory}/{name})"
    return "the system allocator (glibc malloc; no `#[global_allocator]` in src/ or net/)"


def binary_allocator(meta):
    found = meta.get("binary_allocator")
    return {"mimalloc": "mimalloc (`mi_malloc` symbols)", "jemalloc": "jemalloc",
            "system": "no allocator of its own (no mimalloc or jemalloc symbols)"}.get(
        found, "an allocator the script did not record")


def header_section(meta, results, repo_root):
    quick = meta.get("quick") == "1"
    out = ["# Server benchmarks: workingdb against redis-server and memcached", ""]
    if quick:
        out += [
            "> **Quick mode** (`--quick`: one short round). This page checks that the pipeline "
            "works; its numbers are not results. Run `scripts/bench-server.sh` without "
            "`--quick` on an otherwise idle machine for a page worth reading.",
            "",
        ]
    threads = meta.get("threads", "2")
    redis_malloc = re.search(r"malloc=(\S+)", meta.get("redis_server_version", ""))
    profile = profile_lines(os.path.join(repo_root, "Cargo.toml"))
    engines = ", ".join(meta.get("engines", "").split()) or "?"
    out += [
        f"- **Date:** {meta.get('started_utc', 'unknown')} (finished "
        f"{meta.get('finished_utc', '?')})",
        f"- **Command:** `{meta.get('command', 'scripts/bench-server.sh')}`, which runs "
        f"{meta.get('rounds', len(results.rounds))} round(s); in each round every measurement "
        "runs every system once, in the same order (redis-server or memcached first, then "
        f"workingdb with each engine: {engines}), each started fresh on free ports; then "
        "`scripts/render_server.py`.",
        (f"- **Commit:** {meta['bin_label']} (the measured binary; the checkout that ran the "
         f"script was at {meta.get('git_commit', '?')})" if meta.get("bin_label")
         else f"- **Commit:** {meta.get('git_commit', '?')}"
         + (" with uncommitted changes to the server or engine"
            if meta.get("git_dirty") == "yes" else ""))
        + f"; binary from {meta.get('build', '?')}, {meta.get('workingdb_version', '?')}, "
        f"sha256 {meta.get('workingdb_sha256', '?')}…"
        + (f"; old binary for \"Old against new\": {meta.get('base_label')}, "
           f"`{meta.get('base_bin')}`, sha256 {meta.get('base_sha256', '?')}…"
           if meta.get("base_bin") else ""),
        f"- **Machine:** {meta.get('nproc', '?')} CPUs (`nproc`), {meta.get('cpu_model', '?')}, "
        f"{meta.get('memory_total', '?')} RAM, {meta.get('kernel', '?')}, {meta.get('libc', '?')}; "
        f"load average {meta.get('load_average_start', '?')} at the start, "
        f"{meta.get('load_average_end', '?')} at the end",
        f"- **Toolchain:** {meta.get('rustc', '?')}",
        "- **Build profile:** `cargo build --release`: "
        + (", ".join(f"`{line}`" for line in profile) if profile else "see Cargo.toml"),
        f"- **Allocator:** workingdb: the source sets {workingdb_allocator(repo_root)}, and "
        f"the measured binary links {binary_allocator(meta)}; redis-server: "
        f"{redis_malloc.group(1) if redis_malloc else 'its own build'}; memcached: its slab "
        "allocator (`-m 1024`).",
        f"- **References:** {meta.get('redis_server_version', '?')}; "
        f"{meta.get('redis_benchmark_version', '?')}; {meta.get('memcached_version', '?')}; "
        f"{meta.get('memcaslap_version', '?')}.",
        f"- **Threads:** workingdb runs {threads} event loops (`--threads {threads}`, one per "
        "core here, the default) except where a system is named with its loops (`lockfree, 1 "
        "loop`: `--threads 1`); redis-server is single-threaded (one event loop; its "
        f"background threads do no request work); memcached runs `-t {threads}` worker "
        "threads.",
        "- **The client shares the cores:** redis-benchmark and memcaslap run on the same "
        f"{meta.get('nproc', '?')} cores as the server, so a server that saturates one core "
        "leaves the client and any second event loop to share the other. The CPU split table "
        "below gives the cores each side used.",
        f"- **Rounds:** {len(results.rounds)}, taking {meta.get('round_seconds', '?')} s "
        f"(load average at each round's start: {meta.get('load_average_rounds', '?')})",
        *quiet_lines(meta),
        "- **Raw data:** `server-data.csv` beside this page, one row per metric per measurement "
        "per round (with p95, average and maximum latency, CPU and RSS figures not shown here).",
        "",
    ]
    return out


def quiet_lines(meta):
    if not meta.get("quiet_wait_s") or meta.get("quiet_wait_s") == "0":
        return ["- **Quiet machine:** not checked (SERVER_BENCH_QUIET_WAIT_S unset)."]
    states = [s.strip() for s in meta.get("round_quiet", "").split("|") if s.strip()]
    noisy = [s for s in states if "NOT quiet" in s]
    text = (f"- **Quiet machine:** before round 1 the script waited (at most "
            f"{meta['quiet_wait_s']} s in all, polling every 30 s) until no process matched "
            f"`pgrep -f '{meta.get('quiet_pattern', '?')}'` and the 1-minute load average was "
            f"below {meta.get('quiet_load', '?')}; before later rounds until no such process "
            "ran. " + "; ".join(states) + ".")
    if noisy:
        text += (" **Some rounds ran while other work was running: their figures, and the "
                 "ratios most of all, are noisier than on an idle machine.**")
    return [text]


def what_section(meta):
    idle = int(meta.get("idle_conns", "10000"))
    keys = int(meta.get("keys", "1000000"))
    return [
        "## What is measured",
        "",
        "Every measurement starts its server fresh on free ports (a port is free when a plain "
        "bind succeeds and nothing answers; afterwards every listener on it must be the "
        "started server) and stops it afterwards. Servers: `redis-server --port <p> --bind "
        "127.0.0.1 --save \"\" --appendonly no --maxclients "
        f"{meta.get('maxclients', '?')}`; `memcached -t {meta.get('threads', '?')} -m 1024 -p "
        f"<p> -U 0 -l 127.0.0.1 -c {meta.get('maxclients', '?')}`; `workingdb --port <p> "
        f"--memcache-port <q> --threads {meta.get('threads', '?')} --engine <e> --maxclients "
        f"{meta.get('maxclients', '?')} --loglevel warning`.",
        "",
        f"- **RESP, -P 1 and -P 16:** `redis-benchmark -t set,get,incr,lpush,mset -c 50 -r "
        f"100000 -d 32 -n N -P 1|16 --csv` with N = {meta.get('n_p1', '?')} at -P 1 and "
        f"{meta.get('n_p16', '?')} at -P 16. Requests/s and the p50/p99 latencies are "
        "redis-benchmark's own (`--csv` in redis 7 prints `rps`, `p50_latency_ms` and "
        "`p99_latency_ms`; with -P 16 a request's latency runs from the write of its batch). "
        "MSET sets 10 keys per request. After each run the script reads `INFO stats` "
        "(`total_error_replies` must be 0) and `LLEN mylist`.",
        f"- **Connection scaling:** `redis-benchmark -t set,get -c 1000 -r 100000 -d 32 -n "
        f"{meta.get('n_c1000', '?')} -P 1 --csv`.",
        f"- **memcached protocol:** `memcaslap -s 127.0.0.1:<port> -T 1 -c 50 -X 32 -t "
        f"{meta.get('memcaslap_time', '?')}` against memcached and against workingdb's memcache "
        "port; memcaslap's default mix is 90% get / 10% set (it prints `set_prop=0.10`, "
        "`get_prop=0.90`), with its default 64-byte keys. We report its final TPS.",
        f"- **Idle connections:** a Python client opens {idle:,} TCP connections to the RESP "
        "port, sends one PING on each and reads the PONG, waits 1 s and reads the server's "
        "`VmRSS` from `/proc/<pid>/status`; the figure is RSS with the connections minus RSS "
        "of the freshly started server. RSS after closing them all is also recorded (CSV).",
        f"- **Memory per key:** a Python loader sends {keys:,} `SET key:%012d <32 bytes>` "
        f"(16-byte keys, 32-byte values), {meta.get('load_batch', '?')} per round trip, and "
        "checks every reply; 1 s later, (RSS after − RSS before) / DBSIZE, and for every "
        "server (INFO memory `used_memory` after − before) / DBSIZE. The raw payload is 48 "
        "B/key.",
        "",
        f"- **Per core (pc1, pc16):** the -P 1 and -P 16 runs with every server started under "
        f"`taskset -c {meta.get('server_cpu', '?')}` and redis-benchmark under `taskset -c "
        f"{meta.get('client_cpu', '?')}`, workingdb with "
        f"{', '.join(meta.get('percore_engines', '?').split())} (`@1`: `--threads 1`). This "
        "measures cost per request on one core, without the client competing for it: the "
        "headline comparison of BENCHMARKS.md.",
        f"- **Same persistence (aof16):** `redis-benchmark -t set,get -c 50 -r 100000 -d 32 -n "
        f"{meta.get('n_p16', '?')} -P 16 --csv` with both servers started with `--appendonly "
        "yes --appendfsync everysec --dir <fresh dir>` (redis-server still `--save \"\"`), "
        f"workingdb with {', '.join(meta.get('aof_engines', '?').split())}; not pinned.",
        "- **Old against new:** when a second workingdb binary is given "
        "(SERVER_BENCH_BASE_BIN), it runs as `<engine> (old)` right before the measured one in "
        f"{', '.join(meta.get('base_sections', '').split()) or 'no section'}.",
        "",
        "A measurement whose client failed, timed out or received error replies is left out "
        "of the medians and listed under Run problems.",
        "",
    ]


def targets_section(results, meta):
    idle_conns = int(meta.get("idle_conns", "10000"))
    # The targets judge the default comparison (and the memcached, idle and memory sections);
    # the per-core and same-persistence sections have their own tables.
    engines = sorted({s for sec in ("p1", "p16", "c1000", "memcaslap", "idle", "memory")
                      for s in results.systems.get(sec, ()) if s.startswith("wdb-")},
                     key=system_rank)
    out = [
        "Each cell: the median of same-round ratios (min–max over rounds) and the verdict, "
        "judged on the median.",
        "",
        "| target | " + " | ".join(label(e) for e in engines) + " |",
        "|---|" + "---|" * len(engines),
    ]
    tally = defaultdict(lambda: [0, 0])

    def at(value, threshold):
        # redis-benchmark's rates are requests over whole milliseconds, so a ratio that is
        # exactly the threshold can come out as 1.4999999.
        return abs(value - threshold) <= threshold * 1e-6

    def shown(ratio, threshold):
        # Three digits when two would round onto the threshold ("1.50x missed" reads wrong).
        digits = 2
        while digits < 4 and round(ratio[0], digits) == threshold and not at(ratio[0], threshold):
            digits += 1
        return fmt_ratio(ratio, digits)

    def invalid_cell(section, engine):
        rounds = len(results.invalid.get((section, engine), {}))
        return f"invalid in {rounds} round(s), see Run problems: **missed**"

    def verdict(engine, ok):
        tally[engine][0 if ok else 1] += 1
        return "**met**" if ok else "**missed**"

    def throughput_row(section, test, minimum, name):
        cells = []
        for engine in engines:
            ratio = results.ratio(section, engine, "redis", test, "rps")
            if ratio is None:
                note = results.invalid_note(section, engine)
                if note:
                    tally[engine][1] += 1
                    cells.append(invalid_cell(section, engine))
                else:
                    cells.append("no data")
            else:
                ok = ratio[0] >= minimum or at(ratio[0], minimum)
                cells.append(f"{shown(ratio, minimum)} {verdict(engine, ok)}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")

    def p99_row(section, test, name):
        cells = []
        for engine in engines:
            ratio = results.ratio(section, engine, "redis", test, "p99_ms")
            if ratio is None and results.invalid_note(section, engine):
                tally[engine][1] += 1
                cells.append(invalid_cell(section, engine))
            elif ratio is None:
                cells.append("no data")
            else:
                ok = ratio[0] <= 1.0 or at(ratio[0], 1.0)
                cells.append(f"{shown(ratio, 1.0)} {verdict(engine, ok)}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")

    for test in ("SET", "GET"):
        throughput_row("p16", test, 1.5, f"-P 16 {test}: ≥ 1.5x redis-server requests/s")
    for test in ("SET", "GET"):
        throughput_row("p1", test, 1.0, f"-P 1 {test}: ≥ 1.0x redis-server requests/s")
        p99_row("p1", test, f"-P 1 {test}: p99 no worse than redis-server (ratio ≤ 1)")
    # memcaslap
    cells = []
    for engine in engines:
        ratio = results.ratio("memcaslap", engine, "memcached", "", "ops_per_s")
        if ratio is None:
            note = results.invalid_note("memcaslap", engine)
            if note:
                tally[engine][1] += 1
                cells.append(invalid_cell("memcaslap", engine))
            else:
                cells.append("no data")
        else:
            ok = ratio[0] >= 1.2 or at(ratio[0], 1.2)
            cells.append(f"{shown(ratio, 1.2)} {verdict(engine, ok)}")
    out.append("| memcaslap: ≥ 1.2x memcached ops/s | " + " | ".join(cells) + " |")
    # Idle connections: the server's whole RSS while it holds them.
    cells = []
    for engine in engines:
        total = results.summary("idle", engine, "", "rss_mb_after")
        delta = results.summary("idle", engine, "", "conn_mb")
        if total is None:
            note = results.invalid_note("idle", engine)
            if note:
                tally[engine][1] += 1
                cells.append(invalid_cell("idle", engine))
            else:
                cells.append("no data")
        else:
            cells.append(
                f"{fmt_summary(total)} MB RSS ({fmt_num(delta[0])} MB for the connections) "
                f"{verdict(engine, total[0] < IDLE_LIMIT_MB)}"
            )
    out.append(
        f"| {idle_conns:,} idle connections: server RSS < {IDLE_LIMIT_MB:g} MB | "
        + " | ".join(cells) + " |"
    )
    # Memory per key: reported.
    redis = results.summary("memory", "redis", "", "rss_b_per_key")
    cells = []
    for engine in engines:
        ours = results.summary("memory", engine, "", "rss_b_per_key")
        if ours is None:
            cells.append("no data")
        else:
            cells.append(
                f"{fmt_num(ours[0])} B/key vs redis-server "
                f"{fmt_num(redis[0]) + ' B/key' if redis else '—'} **reported**"
            )
    out.append("| RSS per key reported next to redis-server's | " + " | ".join(cells) + " |")
    out.append("")
    out.append(
        "; ".join(f"{label(e)}: {tally[e][0]} met, {tally[e][1]} missed" for e in engines)
        + " (judged on the median ratio; an invalid measurement counts as missed)."
    )
    return out


def resp_section(results, section, meta):
    title, tests, clients, pipeline, n_key = RESP_SECTIONS[section]
    tests = [t.upper() for t in tests.split(",")]
    systems = results.ordered_systems(section)
    if not systems:
        return []
    engines = results.compared(section)
    client = ""
    servers = ""
    if section in ("pc1", "pc16"):
        client = f"taskset -c {meta.get('client_cpu', '?')} "
        servers = (f" Every server runs under `taskset -c {meta.get('server_cpu', '?')}` (its "
                   "threads share that one cpu), the client on the other cpu.")
    elif section == "aof16":
        servers = (" Both servers append every write: `redis-server ... --appendonly yes "
                   "--appendfsync everysec --dir <fresh dir>` and `workingdb ... --appendonly "
                   "yes --appendfsync everysec --dir <fresh dir>`; neither is pinned.")
    out = [
        f"### {title}",
        "",
        f"`{client}redis-benchmark -t {','.join(t.lower() for t in tests)} -c {clients} -r "
        f"100000 -d 32 -n {meta.get(n_key, '?')} -P {pipeline} --csv`. Thousand requests/s, "
        f"median over rounds (min–max).{servers}",
        "",
        "| system | " + " | ".join(tests) + " |",
        "|---|" + "---:|" * len(tests),
    ]
    for system in systems:
        cells = [
            cell_or_invalid(results, section, system,
                            fmt_summary(results.summary(section, system, t, "rps"), fmt_k))
            for t in tests
        ]
        out.append(f"| {label(system)} | " + " | ".join(cells) + " |")
    for engine in engines:
        cells = [fmt_ratio(results.ratio(section, engine, "redis", t, "rps")) for t in tests]
        out.append(f"| *{short(engine)} / redis-server* | " + " | ".join(cells) + " |")
    out += [
        "",
        "Latency in ms, p50 / p99, medians over rounds; then the same-round ratio of p99 to "
        "redis-server's (below 1 is better).",
        "",
        "| system | " + " | ".join(tests) + " |",
        "|---|" + "---:|" * len(tests),
    ]
    for system in systems:
        cells = []
        for t in tests:
            p50 = results.summary(section, system, t, "p50_ms")
            p99 = results.summary(section, system, t, "p99_ms")
            cells.append(
                "—" if p50 is None else f"{p50[0]:.3f} / {p99[0]:.3f}"
            )
        cells = [cell_or_invalid(results, section, system, c) for c in cells]
        out.append(f"| {label(system)} | " + " | ".join(cells) + " |")
    for engine in engines:
        cells = [fmt_ratio(results.ratio(section, engine, "redis", t, "p99_ms")) for t in tests]
        out.append(f"| *{short(engine)} p99 / redis-server p99* | " + " | ".join(cells) + " |")
    out.append("")
    return out


def cpu_section(results):
    sections = [s for s in ("p1", "p16", "pc1", "pc16", "aof16", "c1000", "memcaslap")
                if results.systems.get(s)]
    if not sections:
        return []
    titles = SECTION_TITLES
    systems = sorted({s for sec in sections for s in results.systems[sec]}, key=system_rank)
    out = [
        "### CPU split",
        "",
        "Cores used during the client's run (CPU seconds / the client's wall seconds), "
        "server / client, medians over rounds (invalid runs included: this is what the "
        "processes did). On 2 cores, server + client cannot exceed 2; per core, each is held "
        "to its one cpu.",
        "",
        "| system | " + " | ".join(titles[s] for s in sections) + " |",
        "|---|" + "---:|" * len(sections),
    ]
    for system in systems:
        cells = []
        for section in sections:
            server = results.summary(section, system, "_cpu", "server_cores")
            client = results.summary(section, system, "_cpu", "client_cores")
            if server is None or client is None:
                cells.append("—")
            else:
                cells.append(f"{server[0]:.2f} / {client[0]:.2f}")
        out.append(f"| {label(system)} | " + " | ".join(cells) + " |")
    out.append("")
    return out


def memcaslap_section(results, meta):
    systems = results.ordered_systems("memcaslap")
    if not systems:
        return []
    out = [
        "### memcached protocol",
        "",
        f"`memcaslap -s 127.0.0.1:<port> -T 1 -c 50 -X 32 -t {meta.get('memcaslap_time', '?')}` "
        "(90% get / 10% set). Thousand ops/s, median over rounds (min–max); the counts are "
        "medians of memcaslap's own counts.",
        "",
        "| system | k ops/s | gets | sets | get misses | ratio to memcached |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for system in systems:
        ops = results.summary("memcaslap", system, "", "ops_per_s")
        if ops is None:
            note = results.invalid_note("memcaslap", system) or "no data"
            out.append(f"| {label(system)} | {note} | | | | |")
            continue
        counts = [results.summary("memcaslap", system, "", k)
                  for k in ("cmd_get", "cmd_set", "get_misses")]
        ratio = (
            "—" if system == "memcached"
            else fmt_ratio(results.ratio("memcaslap", system, "memcached", "", "ops_per_s"))
        )
        out.append(
            f"| {label(system)} | {fmt_summary(ops, fmt_k)} | "
            + " | ".join("—" if c is None else f"{c[0]:.0f}" for c in counts)
            + f" | {ratio} |"
        )
    out.append("")
    return out


def idle_section(results, meta):
    systems = results.ordered_systems("idle")
    if not systems:
        return []
    out = [
        f"### {int(meta.get('idle_conns', '10000')):,} idle connections",
        "",
        "Server RSS in MB, median over rounds (min–max).",
        "",
        "| system | connections / PONGs | RSS at start | RSS with the connections | for the "
        "connections | KB per connection | RSS after closing |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for system in systems:
        s = {k: results.summary("idle", system, "", k) for k in
             ("connections", "pongs", "rss_mb_before", "rss_mb_after", "conn_mb", "kb_per_conn",
              "rss_mb_closed")}
        if s["rss_mb_after"] is None:
            note = results.invalid_note("idle", system) or "no data"
            out.append(f"| {label(system)} | {note} | | | | | |")
            continue
        conns = f"{s['connections'][0]:.0f} / {s['pongs'][0]:.0f}" if s["pongs"] else "—"
        out.append(
            f"| {label(system)} | {conns} | {fmt_summary(s['rss_mb_before'])} | "
            f"{fmt_summary(s['rss_mb_after'])} | {fmt_summary(s['conn_mb'])} | "
            f"{fmt_summary(s['kb_per_conn'])} | {fmt_summary(s['rss_mb_closed'])} |"
        )
    out.append("")
    return out


def memory_section(results, measurements, meta):
    systems = results.ordered_systems("memory")
    if not systems:
        return []
    out = [
        "### Memory per key",
        "",
        "Bytes per key, median over rounds (min–max).",
        "",
        "| system | keys (DBSIZE) | RSS B/key | INFO used_memory B/key "
        "| RSS B/key / redis-server |",
        "|---|---:|---:|---:|---:|",
    ]
    for system in systems:
        rss = results.summary("memory", system, "", "rss_b_per_key")
        if rss is None:
            note = results.invalid_note("memory", system) or "no data"
            out.append(f"| {label(system)} | {note} | | | |")
            continue
        keys = results.summary("memory", system, "", "keys")
        used = results.summary("memory", system, "", "used_b_per_key")
        ratio = "—" if system == "redis" else fmt_ratio(
            results.ratio("memory", system, "redis", "", "rss_b_per_key"))
        out.append(
            f"| {label(system)} | {keys[0]:.0f} | {fmt_summary(rss)} | {fmt_summary(used)} | "
            f"{ratio} |"
        )
    out.append("")
    # What INFO used_memory means for each server.
    allocators = {}
    rss_like = set()
    for m in measurements:
        if m.section == "memory":
            allocators[m.system] = m.meta.get("mem_allocator", "?")
            used = m.meta.get("used_memory")
            if used and used == m.meta.get("used_memory_rss"):
                rss_like.add(m.system)
    notes = [f"{short(s)}: `mem_allocator:{allocators[s]}`"
             for s in sorted(allocators, key=system_rank)]
    text = ("`used_memory` is what the server's allocator reports (" + "; ".join(notes) + ")."
            if notes else "")
    reported = {a for s, a in allocators.items() if s.startswith("wdb-")}
    linked = meta.get("binary_allocator")
    if linked in ("mimalloc", "jemalloc") and reported and linked not in " ".join(reported):
        text += (f" workingdb's INFO names `{', '.join(sorted(reported))}`, but the binary links "
                 f"{linked}.")
    if any(s.startswith("wdb-") for s in rss_like):
        text += (" workingdb reports its RSS as `used_memory` (the two fields are equal), so its "
                 "used_memory column is RSS too, measured by the server instead of /proc.")
    out += [text, ""] if text else []
    return out


def losses(results):
    """Generated lines: every case where a workingdb engine is behind the reference."""
    found = defaultdict(list)  # engine -> [line]
    for section in ("p1", "p16", "pc1", "pc16", "aof16", "c1000"):
        title = SECTION_TITLES[section]
        tests = [t.upper() for t in RESP_SECTIONS[section][1].split(",")]
        for engine in results.engines(section):
            note = results.invalid_note(section, engine)
            if note:
                found[engine].append(f"{title}: {note}")
            for test in tests:
                ratio = results.ratio(section, engine, "redis", test, "rps")
                if ratio is not None and ratio[0] < 1.0:
                    ours = results.summary(section, engine, test, "rps")[0]
                    theirs = results.summary(section, "redis", test, "rps")[0]
                    spread = "" if ratio[3] == 1 else f", rounds {ratio[1]:.3f}–{ratio[2]:.3f}"
                    found[engine].append(
                        f"{title} {test}: {fmt_k(ours)}k vs redis-server {fmt_k(theirs)}k "
                        f"requests/s, {ratio[0]:.3f}x{spread}"
                    )
                if section in ("p16", "pc16", "aof16"):
                    continue  # p99 with 16 requests in flight per client says little
                ratio = results.ratio(section, engine, "redis", test, "p99_ms")
                if ratio is not None and ratio[0] > 1.0:
                    ours = results.summary(section, engine, test, "p99_ms")[0]
                    theirs = results.summary(section, "redis", test, "p99_ms")[0]
                    spread = "" if ratio[3] == 1 else f", rounds {ratio[1]:.2f}–{ratio[2]:.2f}"
                    found[engine].append(
                        f"{title} {test} p99: {ours:.3f} vs redis-server {theirs:.3f} ms, "
                        f"{ratio[0]:.2f}x{spread}"
                    )
    for engine in results.engines("memcaslap"):
        note = results.invalid_note("memcaslap", engine)
        if note:
            found[engine].append(f"memcaslap: {note}")
        ratio = results.ratio("memcaslap", engine, "memcached", "", "ops_per_s")
        if ratio is not None and ratio[0] < 1.0:
            found[engine].append(f"memcaslap: {ratio[0]:.3f}x memcached's ops/s")
    for section, metric, what, unit in (
        ("idle", "conn_mb", "RSS for the idle connections", "MB"),
        ("memory", "rss_b_per_key", "RSS per key", "B"),
    ):
        theirs = results.summary(section, "redis", "", metric)
        for engine in results.engines(section):
            note = results.invalid_note(section, engine)
            if note:
                found[engine].append(f"{section}: {note}")
            ours = results.summary(section, engine, "", metric)
            if ours and theirs and ours[0] > theirs[0]:
                found[engine].append(
                    f"{what}: {fmt_num(ours[0])} vs redis-server {fmt_num(theirs[0])} {unit} "
                    f"({ours[0] / theirs[0]:.2f}x)"
                )
    return found


def old_vs_new_section(results, meta):
    """new / base for every measured system that ran beside its base-binary twin."""
    pairs = [(section, system) for section in ("p1", "p16", "pc1", "pc16", "aof16", "c1000")
             for system in results.engines(section)
             if base_of(system) in results.systems.get(section, ())]
    if not pairs:
        return []
    base, new = NAMES["base"], NAMES["wdb"] or "new"
    out = [
        f"### Old against new: {new} / {base}",
        "",
        f"The binary of {base} (`{meta.get('base_bin', '?')}`, sha256 "
        f"{meta.get('base_sha256', '?')}…) ran right before the binary of {new} in every "
        "section below, same options, same round, so each round gives one same-round ratio. "
        "Thousand requests/s and ms, medians over rounds; the ratio is the median of the "
        "same-round ratios (min–max over rounds); **noise is that min–max**. A cell is a "
        "regression beyond noise only when every round has the new binary behind (throughput "
        "ratio below 1 in every round, or p99 ratio above 1 in every round).",
        "",
        f"| section | system | test | {base} k/s | {new} k/s | {new} / {base} | "
        f"{base} p50 / p99 | {new} p50 / p99 | p99 {new} / {base} | verdict |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    beyond, widths, ratios = [], [], []
    for section, system in pairs:
        twin = base_of(system)
        tests = [t.upper() for t in RESP_SECTIONS[section][1].split(",")]
        for test in tests:
            old_rps = results.summary(section, twin, test, "rps")
            new_rps = results.summary(section, system, test, "rps")
            ratio = results.ratio(section, system, twin, test, "rps")
            p99 = results.ratio(section, system, twin, test, "p99_ms")

            def latency(which):
                p50 = results.summary(section, which, test, "p50_ms")
                p99_ms = results.summary(section, which, test, "p99_ms")
                return "—" if p50 is None else f"{p50[0]:.3f} / {p99_ms[0]:.3f}"

            verdict = "no data"
            if ratio is not None:
                ratios.append(ratio[0])
                widths.append(ratio[2] - ratio[1])
                notes = []
                if ratio[2] < 1.0 and ratio[3] > 1:
                    notes.append("**slower in every round**")
                elif ratio[1] > 1.0 and ratio[3] > 1:
                    notes.append("faster in every round")
                # p99 with 16 requests in flight per client says little; judged at -P 1 only.
                if p99 is not None and p99[1] > 1.0 and p99[3] > 1 and section in ("pc1", "p1"):
                    notes.append("**p99 worse in every round**")
                verdict = "; ".join(notes) or ("within noise" if ratio[3] > 1
                                                else "one round: no noise estimate")
                if "**" in verdict:
                    beyond.append(f"{SECTION_TITLES[section]} {short(system)} {test}: "
                                  f"{fmt_ratio(ratio)} throughput, {fmt_ratio(p99)} p99")
            out.append(
                f"| {SECTION_TITLES[section]} | {short(system)} | {test} | "
                f"{fmt_summary(old_rps, fmt_k)} | {fmt_summary(new_rps, fmt_k)} | "
                f"{fmt_ratio(ratio)} | {latency(twin)} | {latency(system)} | {fmt_ratio(p99)} | "
                f"{verdict} |"
            )
    out.append("")
    if widths:
        out.append(
            f"Generated summary: {len(ratios)} throughput ratios, median {statistics.median(ratios):.2f}x "
            f"(lowest {min(ratios):.2f}x, highest {max(ratios):.2f}x); the noise, the width of a "
            f"ratio's min–max over rounds, is {statistics.median(widths):.2f} at the median "
            f"({min(widths):.2f}–{max(widths):.2f}). "
            + ("Behind in every round: " + "; ".join(beyond) + "."
               if beyond else "No cell is behind in every round: no regression beyond noise.")
        )
        out.append("")
    return out


def existing_human_block(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    start, end = text.find(HUMAN_BEGIN), text.find(HUMAN_END)
    if start < 0 or end < start:
        return None
    return text[start + len(HUMAN_BEGIN): end].strip("\n")


def render_page(meta, results, measurements, problems, repo_root, human_block, svg_name):
    out = header_section(meta, results, repo_root)
    out += what_section(meta)
    out += [f"![median throughput per system]({svg_name})", "", "## Targets", ""]
    out += targets_section(results, meta)
    out += ["", "## Results", ""]
    for section in RESP_SECTIONS:
        out += resp_section(results, section, meta)
    out += old_vs_new_section(results, meta)
    out += memcaslap_section(results, meta)
    out += cpu_section(results)
    out += idle_section(results, meta)
    out += memory_section(results, measurements, meta)
    out += ["## Run problems", ""]
    if problems:
        out.append("Generated from the run's checks (client exit status, timeouts, error "
                   "replies, listeners, server exits):")
        out.append("")
        out += [f"- {line}" for line in problems]
    else:
        out.append("None: every client exited 0 within its timeout, no server answered an "
                   "error, exited early or outlived SIGTERM by 15 s, and every port was the "
                   "started server's alone.")
    out += ["", "## Where we lose", ""]
    found = losses(results)
    engines = sorted(found, key=system_rank)
    if found:
        out.append("Every case where a workingdb engine is behind the reference (generated; "
                   "median of same-round ratios; p99 at -P 1 and -c 1000 only). The old binary "
                   "of \"Old against new\" is left out here:")
        out.append("")
        for engine in engines:
            out.append(f"- **{label(engine, bold=False)}**")
            out += [f"  - {line}" for line in found[engine]]
    elif any(results.engines(s) for s in results.systems):
        out.append("workingdb is at or ahead of the reference in every case measured.")
    else:
        out.append("No figures for workingdb in this run, so nothing to compare.")
    out += ["", "### Why", "", HUMAN_BEGIN, human_block or HUMAN_PLACEHOLDER, HUMAN_END, ""]
    return "\n".join(out)


# ------------------------------------------------------------------------------------------
# The plot
# ------------------------------------------------------------------------------------------


def render_svg(results):
    panels = []
    for section, (title, tests, _, _, _) in RESP_SECTIONS.items():
        if results.systems.get(section):
            groups = [t.upper() for t in tests.split(",")]
            panels.append((section, f"redis-benchmark {title}: thousand requests/s", groups, "rps"))
    if results.systems.get("memcaslap"):
        panels.append(
            ("memcaslap", "memcaslap, 90% get / 10% set: thousand ops/s", [""], "ops_per_s"))
    systems = sorted({s for p in panels for s in results.systems[p[0]]}, key=system_rank)
    width, panel_height, top, left, right, gap = 960, 260, 60, 60, 20, 50
    height = top + len(panels) * (panel_height + gap) + 10
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="15">'
        "Median throughput (whiskers: min–max over rounds; missing bar: no valid run)</text>",
    ]
    x = left
    for system in systems:
        name = short(system)
        color = COLORS.get(system, "#000")
        svg.append(f'<rect x="{x}" y="32" width="12" height="12" fill="{color}"/>')
        svg.append(f'<text x="{x + 16}" y="42">{html.escape(name)}</text>')
        x += 28 + 8 * len(name)
    if any(s.startswith("wdb-") for s in systems):
        svg.append(f'<text x="{x}" y="42" fill="#555">(engines: workingdb --engine)</text>')
    for index, (section, title, groups, metric) in enumerate(panels):
        y0 = top + index * (panel_height + gap)
        plot_height = panel_height - 30
        present = results.ordered_systems(section)
        values = [results.summary(section, s, g, metric) for g in groups for s in present]
        maximum = max([v[2] / 1000 for v in values if v] + [1e-9])
        step = nice_step(maximum)
        top_value = step * (int(maximum / step) + 1)
        scale = plot_height / top_value
        base = y0 + 20 + plot_height
        svg.append(f'<text x="{left}" y="{y0 + 12}" font-weight="bold">{html.escape(title)}</text>')
        tick = 0.0
        while tick <= top_value + 1e-9:
            y = base - tick * scale
            svg.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
                       'stroke="#ddd"/>')
            svg.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>')
            tick += step
        group_width = (width - left - right) / len(groups)
        bar_width = min(36, (group_width - 20) / max(1, len(present)))
        for g, group in enumerate(groups):
            gx = left + g * group_width + (group_width - bar_width * len(present)) / 2
            for b, system in enumerate(present):
                summary = results.summary(section, system, group, metric)
                if not summary:
                    continue
                median, low, high = (v / 1000 for v in summary[:3])
                bx = gx + b * bar_width
                svg.append(
                    f'<rect x="{bx:.1f}" y="{base - median * scale:.1f}" '
                    f'width="{bar_width - 2:.1f}" '
                    f'height="{median * scale:.1f}" fill="{COLORS.get(system, "#000")}">'
                    f"<title>{html.escape(short(system))} {html.escape(group)}: "
                    f"{median:.1f}k/s</title></rect>"
                )
                cx = bx + (bar_width - 2) / 2
                svg.append(
                    f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{base - high * scale:.1f}" '
                    f'y2="{base - low * scale:.1f}" stroke="black"/>'
                )
            if group:
                svg.append(
                    f'<text x="{left + (g + 0.5) * group_width:.1f}" y="{base + 16}" '
                    f'text-anchor="middle">{html.escape(group)}</text>'
                )
        svg.append(f'<line x1="{left}" x2="{width - right}" y1="{base}" y2="{base}" '
                   'stroke="black"/>')
        svg.append(
            f'<text x="14" y="{y0 + 20 + plot_height / 2}" transform="rotate(-90 14 '
            f'{y0 + 20 + plot_height / 2})" text-anchor="middle">k/s</text>'
        )
    svg.append("</svg>")
    return "\n".join(svg) + "\n"


# ------------------------------------------------------------------------------------------


def csv_rows(measurements):
    for m in sorted(measurements, key=lambda m: (m.round, m.section, system_rank(m.system))):
        for test, metrics in sorted(m.metrics.items()):
            for metric, value in sorted(metrics.items()):
                if value is None:
                    continue
                yield {
                    "round": m.round,
                    "section": m.section,
                    "system": m.system,
                    "test": "cpu" if test == "_cpu" else test,
                    "metric": metric,
                    "value": f"{value:.6g}",
                    "valid": 0 if m.invalid else 1,
                    "invalid_reason": m.invalid,
                }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default="target/server-bench", help="the script's raw data")
    parser.add_argument("--out", default="bench-results", help="where the page goes")
    args = parser.parse_args()

    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    meta = read_key_values(os.path.join(args.work, "meta.txt"))
    NAMES["wdb"] = meta.get("bin_label") or meta.get("git_commit", "")
    NAMES["base"] = meta.get("base_label", "base")
    NAMES["base_present"] = bool(meta.get("base_bin"))
    measurements = load_measurements(args.work)
    if not measurements:
        sys.exit(f"render_server: no measurements under {args.work}/raw/round*/")
    results = Results(measurements)
    problems = []
    problems_path = os.path.join(args.work, "problems.txt")
    if os.path.exists(problems_path):
        with open(problems_path, encoding="utf-8", errors="replace") as f:
            problems = [line.strip() for line in f if line.strip()]

    os.makedirs(args.out, exist_ok=True)
    csv_path = os.path.join(args.out, "server-data.csv")
    rows = list(csv_rows(measurements))
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["round", "section", "system", "test", "metric",
                                               "value", "valid", "invalid_reason"])
        writer.writeheader()
        writer.writerows(rows)

    svg_name = "server-throughput.svg"
    with open(os.path.join(args.out, svg_name), "w", encoding="utf-8") as f:
        f.write(render_svg(results))

    page_path = os.path.join(args.out, "server.md")
    page = render_page(meta, results, measurements, problems, repo_root,
                       existing_human_block(page_path), svg_name)
    with open(page_path, "w", encoding="utf-8") as f:
        f.write(page)
    print(f"render_server: wrote {page_path}, {csv_path} and {svg_name} "
          f"({len(measurements)} measurements, {len(rows)} rows)")


if __name__ == "__main__":
    main()
