#!/usr/bin/env python3
"""Render bench-results/persistence.md from the rounds scripts/bench-persistence.sh collected.

Usage: scripts/render_persistence.py [--work target/persistence-bench] [--out bench-results]

Standard library only. Reads, under --work (default target/persistence-bench):

* raw/round<N>/<section>/<system>.meta: key=value lines of one measurement (the client's exit
  status, wall and CPU time, the server's CPU time and bytes written, INFO fields, the log
  files' sizes, the restart's times, the rewrite's poll and probe figures, ...);
* raw/round<N>/<section>/<system>.out: redis-benchmark --csv output (ack1, ack50, rewrite);
* raw/round<N>/replay/<system>.restart.log: the restarted server's log;
* meta.txt: key=value lines describing the run and the machine;
* problems.txt: what went wrong during the run, one line per problem.

Sections: ack1, ack50 (acknowledged SET/s at 1 and 50 clients), replay, rewrite. Systems:
redis-<appendfsync>, wdb-<appendfsync>, wdb-<appendfsync>-sync and wdb-off.

Writes, under --out (default bench-results): persistence.md, persistence-data.csv (one row
per metric per measurement, every round) and persistence-ack.svg. The hand-written
explanation in the "Where we lose" section of an existing persistence.md is carried over, so
re-rendering never loses it.

Across rounds we report the median and the min-max; a ratio is the median over rounds of the
same-round ratio (the two systems ran seconds or minutes apart in the same round, which is
what makes a ratio on a noisy machine meaningful). A measurement whose client failed, timed
out, got error replies, or whose server lost or did not reload data, is left out of the
medians and listed under "Run problems".
"""

import argparse
import csv
import html
import os
import re
import statistics
import sys
from collections import defaultdict

# The pieces the result pages share.
from render_engine import HUMAN_BEGIN, HUMAN_END, fmt_ratio, nice_step
from render_server import (
    as_float,
    binary_allocator,
    existing_human_block,
    fmt_num,
    parse_redis_benchmark,
    profile_lines,
    read_key_values,
    workingdb_allocator,
)

ACK_SECTIONS = {"ack1": 1, "ack50": 50}
POLICIES = ["always", "everysec", "no", "off"]
SYSTEM_ORDER = [
    "redis-always", "wdb-always", "wdb-always-sync",
    "redis-everysec", "wdb-everysec", "wdb-everysec-sync",
    "redis-no", "wdb-no", "wdb-no-sync",
    "wdb-off",
]
# The three kinds of bar in the plot, and their colours.
KINDS = {
    "redis": ("redis-server", "#2ca02c"),
    "wdb": ("workingdb (default --aof-io)", "#d62728"),
    "wdb-sync": ("workingdb --aof-io sync", "#ff9896"),
}
REPLAY_TARGET = 2.0
ALWAYS_TARGET = 2.0
EVERYSEC_TARGET = 0.9
HUMAN_PLACEHOLDER = (
    "**TODO (a person, after reading profiles and traces): why workingdb loses in each case "
    "listed above** — design trade-off, fixable cost, the client's share of the two cores, "
    "the disk, or noise. Nothing here is generated; this block between the "
    "`where-we-lose:human` markers is kept when the page is re-rendered."
)


# ------------------------------------------------------------------------------------------
# Systems
# ------------------------------------------------------------------------------------------


def system_rank(system):
    return (SYSTEM_ORDER.index(system) if system in SYSTEM_ORDER else 99, system)


def policy_of(system):
    """always, everysec, no or off."""
    name = system.split("-", 1)[1] if "-" in system else system
    return name[: -len("-sync")] if name.endswith("-sync") else name


def kind_of(system):
    if system.startswith("redis-"):
        return "redis"
    return "wdb-sync" if system.endswith("-sync") else "wdb"


def label(system, meta=None):
    policy = policy_of(system)
    if system.startswith("redis-"):
        return f"redis-server, appendfsync {policy}"
    if policy == "off":
        return "**workingdb, appendonly no**"
    io = "sync" if system.endswith("-sync") else (meta or {}).get("aof_io", "auto")
    text = f"workingdb, appendfsync {policy}, --aof-io {io}"
    return text if system.endswith("-sync") else f"**{text}**"


def short(system):
    policy = policy_of(system)
    if system.startswith("redis-"):
        return f"redis {policy}"
    if policy == "off":
        return "workingdb AOF off"
    return f"workingdb {policy}" + (" sync" if system.endswith("-sync") else "")


def redis_peer(system):
    """The redis-server system with the same appendfsync, for a workingdb system."""
    policy = policy_of(system)
    return None if policy == "off" or system.startswith("redis-") else f"redis-{policy}"


# ------------------------------------------------------------------------------------------
# Loading
# ------------------------------------------------------------------------------------------

LOADED = re.compile(
    r"DB loaded from append only file: ([\d.]+) seconds"
    r"(?:, (\d+) records, ([\d.]+) MB \(([\d.]+) records/s, ([\d.]+) MB/s\), (\d+) keys)?"
)


class Measurement:
    """One system in one section of one round."""

    def __init__(self, round_number, section, system, meta, metrics):
        self.round = round_number
        self.section = section
        self.system = system
        self.meta = meta
        self.metrics = metrics  # {metric: value}
        self.invalid = self.judge()

    def judge(self):
        """Why the measurement is left out of the medians, or ""."""
        meta, m = self.meta, self.metrics
        if meta.get("start_error"):
            return meta["start_error"]
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
            reasons.append(f"{lines:.0f} ERROR lines in the client's output")
        if meta.get("foreign_listener") == "1":
            reasons.append("another process listened on the port")
        for key in ("load_error", "restart_error", "rewrite_error", "probe_error"):
            if meta.get(key):
                reasons.append(meta[key])
        if meta.get("aof_last_write_status", "ok") not in ("ok", ""):
            reasons.append(f"aof_last_write_status:{meta['aof_last_write_status']}")
        if self.section in ACK_SECTIONS:
            if "rps" not in m:
                reasons.append("no SET result from redis-benchmark")
            if policy_of(self.system) != "off" and not as_float(meta.get("aof_current_size")):
                reasons.append("the log is empty after the run (aof_current_size 0)")
            wanted_io = "pwrite/fdatasync" if self.system.endswith("-sync") else None
            used = meta.get("aof_io_used", "")
            if wanted_io and used and used != wanted_io:
                reasons.append(f"the log says it wrote with {used}, not {wanted_io}")
        elif self.section == "replay":
            wanted = meta.get("keys_wanted")
            if meta.get("dbsize_before") != wanted:
                reasons.append(f"DBSIZE {meta.get('dbsize_before')!r} after loading {wanted} keys")
            elif "restart_error" not in meta and meta.get("dbsize_after") != wanted:
                reasons.append(f"DBSIZE {meta.get('dbsize_after')!r} after the restart, "
                               f"{wanted} before")
            if meta.get("before_aof_rewrites", "0") not in ("0", ""):
                reasons.append("the log was rewritten before the restart")
            if "load_s" not in m and "restart_error" not in meta:
                reasons.append("no 'DB loaded from append only file' line in the log")
        elif self.section == "rewrite":
            if "rewrite_polled_ms" not in m and not meta.get("rewrite_error"):
                reasons.append("no rewrite time")
            if meta.get("load_running_at_rewrite_end") == "0":
                reasons.append("the SET load ended before the rewrite did")
            if "rps" not in m:
                reasons.append("no SET result from redis-benchmark")
        return "; ".join(reasons)


def ack_metrics(meta, out_path):
    m = {}
    result = parse_redis_benchmark(out_path).get("SET", {})
    for key in ("rps", "p50_ms", "p99_ms", "max_ms", "avg_ms"):
        if result.get(key) is not None:
            m[key] = result[key]
    wall = as_float(meta.get("client_wall_s"))
    if wall:
        for key, name in (("client_cpu_s", "client_cores"), ("server_cpu_s", "server_cores")):
            value = as_float(meta.get(key))
            if value is not None:
                m[name] = value / wall
    requests = as_float(meta.get("requests"))
    written = as_float(meta.get("server_write_bytes"))
    if requests and written is not None:
        m["disk_bytes_per_set"] = written / requests
    size = as_float(meta.get("aof_current_size"))
    if requests and size:
        m["log_bytes_per_set"] = size / requests
    return m


def replay_metrics(meta, restart_log):
    m = {}
    line = meta.get("loaded_line", "")
    if not line and os.path.exists(restart_log):
        with open(restart_log, encoding="utf-8", errors="replace") as f:
            found = LOADED.search(f.read())
            line = found.group(0) if found else ""
    found = LOADED.search(line)
    if found:
        m["load_s"] = float(found.group(1))
        if found.group(2):
            m["log_records"] = float(found.group(2))
            m["log_mb"] = float(found.group(3))
            m["log_records_per_s"] = float(found.group(4))
            m["log_mb_per_s"] = float(found.group(5))
    start, pong = as_float(meta.get("start_epoch")), as_float(meta.get("first_pong_epoch"))
    if start and pong:
        m["wall_to_pong_s"] = pong - start
    keys = as_float(meta.get("dbsize_after"))
    size = as_float(meta.get("aof_dir_bytes"))
    if keys:
        m["keys"] = keys
    if size:
        m["files_mb"] = size / 1e6
        if keys:
            m["file_bytes_per_key"] = size / keys
    if m.get("load_s"):
        if keys:
            m["keys_per_s"] = keys / m["load_s"]
        if size:
            m["files_mb_per_s"] = size / 1e6 / m["load_s"]
    loader = as_float(meta.get("load_seconds"))
    if loader:
        m["loader_s"] = loader
    return m


def rewrite_metrics(meta, out_path):
    m = {}
    for key in ("rewrite_polled_ms", "aof_last_rewrite_time_sec", "aof_longest_rewrite_switch_us",
                "latest_fork_usec", "probe_max_ms_during", "probe_p99_ms_during",
                "probe_p50_ms_during", "probe_max_ms_outside", "probe_p99_ms_outside",
                "probe_sets_during", "probe_sets", "rewrite_polls"):
        value = as_float(meta.get(key))
        if value is not None:
            m[key] = value
    for key, name in (("aof_base_size", "base_mb_after"), ("aof_current_size", "log_mb_after"),
                      ("before_aof_current_size", "log_mb_before")):
        value = as_float(meta.get(key))
        if value is not None:
            m[name] = value / 1e6
    result = parse_redis_benchmark(out_path).get("SET", {})
    for key in ("rps", "p99_ms", "max_ms"):
        if result.get(key) is not None:
            m[key] = result[key]
    return m


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
                base = os.path.join(directory, system)
                if section in ACK_SECTIONS:
                    metrics = ack_metrics(meta, base + ".out")
                elif section == "replay":
                    metrics = replay_metrics(meta, base + ".restart.log")
                elif section == "rewrite":
                    metrics = rewrite_metrics(meta, base + ".out")
                else:
                    continue
                measurements.append(Measurement(number, section, system, meta, metrics))
    return measurements


# ------------------------------------------------------------------------------------------
# Statistics
# ------------------------------------------------------------------------------------------

# Figures that describe what the processes did, kept even from an invalid run.
ALWAYS_KEPT = {"server_cores", "client_cores"}


class Results:
    def __init__(self, measurements):
        self.values = defaultdict(dict)  # (section, system, metric) -> {round: value}
        self.invalid = defaultdict(dict)  # (section, system) -> {round: reason}
        self.systems = defaultdict(set)  # section -> systems
        self.rounds = sorted({m.round for m in measurements})
        self.meta = {}  # (section, system) -> the meta of its last round
        for m in measurements:
            self.systems[m.section].add(m.system)
            self.meta[(m.section, m.system)] = m.meta
            if m.invalid:
                self.invalid[(m.section, m.system)][m.round] = m.invalid
            for metric, value in m.metrics.items():
                if value is not None and (not m.invalid or metric in ALWAYS_KEPT):
                    self.values[(m.section, m.system, metric)][m.round] = value

    def ordered_systems(self, section):
        return sorted(self.systems.get(section, ()), key=system_rank)

    def summary(self, section, system, metric):
        values = list(self.values.get((section, system, metric), {}).values())
        if not values:
            return None
        return statistics.median(values), min(values), max(values), len(values)

    def ratio(self, section, system, reference, metric):
        """Median of the same-round ratios system / reference."""
        a = self.values.get((section, system, metric), {})
        b = self.values.get((section, reference, metric), {})
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


def fmt_k(value):
    return fmt_num(value / 1000)


def fmt_ms(value):
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def fmt_int(value):
    return f"{value:.0f}"


def fmt_s(value):
    return f"{value:.3f}"


def fmt_summary(summary, fmt=fmt_num):
    if summary is None:
        return "—"
    median, low, high, n = summary
    if n == 1:
        return fmt(median)
    return f"{fmt(median)} ({fmt(low)}–{fmt(high)})"


def cell(results, section, system, metric, fmt=fmt_num):
    text = fmt_summary(results.summary(section, system, metric), fmt)
    if text == "—" and results.invalid_note(section, system):
        return "invalid"
    return text


def at(value, threshold):
    # redis-benchmark's rates are requests over whole milliseconds: a ratio exactly at the
    # threshold can come out a hair below it.
    return abs(value - threshold) <= threshold * 1e-6


def shown(ratio, threshold):
    # Three digits when two would round onto the threshold ("2.00x missed" reads wrong).
    digits = 2
    while digits < 4 and round(ratio[0], digits) == threshold and not at(ratio[0], threshold):
        digits += 1
    return fmt_ratio(ratio, digits)


# ------------------------------------------------------------------------------------------
# The page
# ------------------------------------------------------------------------------------------


def header_section(meta, results, repo_root):
    out = ["# Persistence benchmarks: workingdb's append-only file against redis-server's", ""]
    if meta.get("quick") == "1":
        out += [
            "> **Quick mode** (`--quick`: one short round, small sizes). This page checks that "
            "the pipeline works; its numbers are not results. Run "
            "`scripts/bench-persistence.sh` without `--quick` on an otherwise idle machine for "
            "a page worth reading.",
            "",
        ]
    redis_malloc = re.search(r"malloc=(\S+)", meta.get("redis_server_version", ""))
    profile = profile_lines(os.path.join(repo_root, "Cargo.toml"))
    rotational = {"0": "the kernel reports it non-rotational",
                  "1": "the kernel reports it rotational"}.get(meta.get("data_rotational", ""))
    device = ", ".join(x for x in (meta.get("data_device_model", ""), rotational,
                                    "scheduler " + meta["data_scheduler"]
                                    if meta.get("data_scheduler") else "") if x)
    out += [
        f"- **Date:** {meta.get('started_utc', 'unknown')} (finished "
        f"{meta.get('finished_utc', '?')})",
        f"- **Command:** `{meta.get('command', 'scripts/bench-persistence.sh')}`, which runs "
        f"{meta.get('rounds', len(results.rounds))} round(s); in each round every measurement "
        "runs every system once, in the same order (the order of the tables below), each "
        "started fresh on a free port and an empty data directory; then "
        "`scripts/render_persistence.py`.",
        f"- **Commit:** {meta.get('git_commit', '?')}"
        + (" with uncommitted changes to the server, engine or persistence crates"
           if meta.get("git_dirty") == "yes" else "")
        + f"; binary from {meta.get('build', '?')}, {meta.get('workingdb_version', '?')}, "
        f"sha256 {meta.get('workingdb_sha256', '?')}…",
        f"- **Machine:** {meta.get('nproc', '?')} CPUs (`nproc`), {meta.get('cpu_model', '?')}, "
        f"{meta.get('memory_total', '?')} RAM, {meta.get('kernel', '?')}, {meta.get('libc', '?')}; "
        f"load average {meta.get('load_average_start', '?')} at the start, "
        f"{meta.get('load_average_end', '?')} at the end",
        f"- **Data directory:** `{meta.get('data_root', '?')}` on "
        f"{meta.get('data_fs', '?')} (`{meta.get('data_source', '?')}` mounted at "
        f"`{meta.get('data_mount', '?')}`, options `{meta.get('data_options', '?')}`"
        + (f"; {device}" if device else "")
        + f"); `df -hT`: `{meta.get('data_df', '?')}`. Every fsync in this page goes to this "
        "file system.",
        f"- **io_uring:** `/proc/sys/kernel/io_uring_disabled` = "
        f"{meta.get('io_uring_disabled', '?')}; the I/O each workingdb run used is the one its "
        "log names at start (column *I/O used*).",
        f"- **Toolchain:** {meta.get('rustc', '?')}",
        "- **Build profile:** `cargo build --release`: "
        + (", ".join(f"`{line}`" for line in profile) if profile else "see Cargo.toml"),
        f"- **Allocator:** workingdb: the source sets {workingdb_allocator(repo_root)}, and "
        f"the measured binary links {binary_allocator(meta)}; redis-server: "
        f"{redis_malloc.group(1) if redis_malloc else 'its own build'}.",
        f"- **References:** {meta.get('redis_server_version', '?')}; "
        f"{meta.get('redis_benchmark_version', '?')}.",
        f"- **Threads:** workingdb runs {meta.get('threads', '?')} event loops "
        f"(`--threads {meta.get('threads', '?')}`, engine `{meta.get('engine', '?')}`) and its "
        "log writer thread; redis-server runs one event loop, with its background threads for "
        "fsync under everysec and a forked child for BGREWRITEAOF.",
        "- **The client shares the cores and the disk:** redis-benchmark and the Python "
        f"loader and probe run on the same {meta.get('nproc', '?')} cores as the server.",
        f"- **Rounds:** {len(results.rounds)}, taking {meta.get('round_seconds', '?')} s "
        f"(load average at each round's start: {meta.get('load_average_rounds', '?')})",
        "- **Raw data:** `persistence-data.csv` beside this page, one row per metric per "
        "measurement per round (with average and maximum latency, CPU and byte counts not "
        "all shown here).",
        "",
    ]
    return out


def what_section(meta):
    keys = int(meta.get("keys", "0") or 0)
    ran = set(meta.get("sections", "ack1 ack50 replay rewrite").split())
    out = [
        "## What is measured",
        "",
        "Servers: `redis-server --port <p> --bind 127.0.0.1 --save \"\" --appendonly yes "
        "--appendfsync <policy> --auto-aof-rewrite-percentage 0 --dir <fresh dir> --daemonize "
        "no` (Redis 7's multi-part AOF in `<dir>/appendonlydir`); `workingdb --port <p> "
        f"--memcache-port 0 --threads {meta.get('threads', '?')} --engine "
        f"{meta.get('engine', '?')} --loglevel notice --dir <fresh dir> "
        "--auto-aof-rewrite-percentage 0 --appendonly yes --appendfsync <policy> --aof-io "
        f"{meta.get('aof_io', '?')}|sync`, or `--appendonly no` for the baseline. No automatic "
        "rewrite runs anywhere. Servers are stopped with SIGTERM (for redis-server the same "
        "shutdown as `redis-cli shutdown`: the AOF is flushed and fsynced), and the data "
        "directory is deleted after each measurement.",
        "",
    ]
    ack = [
        f"- **Acknowledged SET/s:** `redis-benchmark -t set -r 100000 -d 32 -P 1 -c 1|50 -n N "
        f"--csv`, with N = {meta.get('n_c1_always', '?')} at 1 client under `always` and "
        f"{meta.get('n_c1', '?')} otherwise, {meta.get('n_c50_always', '?')} at 50 clients "
        f"under `always` and {meta.get('n_c50', '?')} otherwise. A SET counts when its reply "
        "arrives; under `always` both servers reply only after the record is on disk. "
        "Requests/s and p50/p99 are redis-benchmark's. After each run: `INFO stats` "
        "(`total_error_replies` must be 0), `INFO persistence` (`aof_last_write_status:ok`, "
        "a non-empty log) and the bytes the server wrote to storage (`write_bytes` of "
        "`/proc/<pid>/io`, which counts each page dirtied again after an fsync).",
    ]
    replay = [
        f"- **Replay:** a Python loader sends {keys:,} `SET key:%012d <32 bytes>` (16-byte "
        f"keys, 32-byte values, {meta.get('load_batch', '?')} per round trip, every reply "
        "checked) to the server under `appendfsync everysec`, which is stopped and restarted "
        "on the same directory. Neither log is rewritten before the restart, so both servers "
        f"replay an incremental log of {keys:,} SETs (Redis 7 writes its base file as RDB "
        "only on a rewrite; its base here is the empty one it creates at the first start). "
        "The load time is the server's own log line, `DB loaded from append only file: <s> "
        "seconds` (workingdb adds records, MB and rates to it). Keys/s is DBSIZE after the "
        "restart over that time; MB/s is the log directory's bytes on disk over that time. "
        "As a cross-check, *start to PONG* is the wall-clock time from the start of the "
        "process to its first `+PONG` (PING every 2 ms; a loading redis-server answers "
        "`-LOADING`). DBSIZE must equal the keys loaded before and after the restart.",
    ]
    rewrite = [
        f"- **Rewrite under load:** {keys:,} keys loaded as above (everysec), then "
        f"`redis-benchmark -t set -c 50 -r 100000 -d 32 -n {meta.get('n_rewrite', '?')} -P 1 "
        f"--csv` in the background; {meta.get('rewrite_margin_s', '?')} s into it, "
        "`BGREWRITEAOF`, then `INFO persistence` every 5 ms until no rewrite is in progress "
        "or scheduled and `aof_rewrites` went up by one (the *polled* time, from the request "
        "to that poll). A probe sends one SET at a time through the whole run, over "
        f"{meta.get('probe_conns', '?')} connections in turn (workingdb's event loops each "
        "own the connections the kernel hands them, and a stalled loop is seen only by its "
        "own connections), and times each; *probe max during* is the slowest SET that "
        "overlapped the rewrite, *outside* the slowest of the rest. *Load max* is "
        "redis-benchmark's slowest SET over its whole run. The longest pause of the writer "
        "for the segment switch is workingdb's "
        "`aof_longest_rewrite_switch_us`; redis-server's nearest figure is the fork, "
        "`latest_fork_usec` of `INFO stats`. redis-server writes its new base as RDB "
        "(`aof-use-rdb-preamble yes`, the default); workingdb writes its own record format. "
        "The load must still be running when the rewrite ends, or the run is invalid.",
    ]
    if ran & set(ACK_SECTIONS):
        out += ack
    if "replay" in ran:
        out += replay
    if "rewrite" in ran:
        out += rewrite
    return out + [
        "",
        "A measurement whose client failed, timed out or received error replies, or whose "
        "server lost keys, is left out of the medians and listed under Run problems.",
        "",
    ]


def targets_section(results):
    out = [
        "Each row: the median of same-round ratios (min–max over rounds), judged on the "
        "median; an invalid measurement counts as missed.",
        "",
        "| target | measured | status |",
        "|---|---|---|",
    ]
    tally = [0, 0]

    def row(name, ratio, threshold, invalid_sections):
        if ratio is None:
            notes = [results.invalid_note(s, sys_) for s, sys_ in invalid_sections]
            notes = [n for n in notes if n]
            if notes:
                tally[1] += 1
                out.append(f"| {name} | {notes[0]}, see Run problems | **missed** |")
            else:
                out.append(f"| {name} | no data | — |")
            return
        ok = ratio[0] >= threshold or at(ratio[0], threshold)
        tally[0 if ok else 1] += 1
        out.append(f"| {name} | {shown(ratio, threshold)} | {'**met**' if ok else '**missed**'} |")

    row(f"`appendfsync always`, 50 clients: workingdb ≥ {ALWAYS_TARGET:g}x redis-server "
        "acknowledged SET/s",
        results.ratio("ack50", "wdb-always", "redis-always", "rps"), ALWAYS_TARGET,
        [("ack50", "wdb-always"), ("ack50", "redis-always")])
    for section, clients in ACK_SECTIONS.items():
        row(f"`appendfsync everysec`, {clients} client{'s' if clients > 1 else ''}: ≥ "
            f"{EVERYSEC_TARGET:g}x workingdb's own SET/s with `appendonly no`",
            results.ratio(section, "wdb-everysec", "wdb-off", "rps"), EVERYSEC_TARGET,
            [(section, "wdb-everysec"), (section, "wdb-off")])
    # Replay: redis-server's time over ours, so "2x faster" is a ratio of 2.
    row(f"Replay of the log: ≥ {REPLAY_TARGET:g}x faster than redis-server's load "
        "(redis-server's seconds / ours, from the log lines)",
        results.ratio("replay", "redis-everysec", "wdb-everysec", "load_s"), REPLAY_TARGET,
        [("replay", "wdb-everysec"), ("replay", "redis-everysec")])
    out.append("")
    out.append(f"{tally[0]} met, {tally[1]} missed.")
    return out


def ack_section(results, section, meta):
    clients = ACK_SECTIONS[section]
    systems = results.ordered_systems(section)
    if not systems:
        return []
    n_always, n_other = (meta.get("n_c1_always"), meta.get("n_c1")) if clients == 1 else (
        meta.get("n_c50_always"), meta.get("n_c50"))
    out = [
        f"### Acknowledged SET/s, {clients} client{'s' if clients > 1 else ''}",
        "",
        f"`redis-benchmark -t set -c {clients} -r 100000 -d 32 -P 1 -n N --csv`, N = {n_always} "
        f"under always, {n_other} otherwise. Thousand SET/s and latency in ms, medians over "
        "rounds (min–max); ratios are medians of same-round ratios.",
        "",
        "| system | I/O used | k SET/s | p50 ms | p99 ms | SET/s / redis-server, same policy "
        "| SET/s / workingdb AOF off | p99 / redis-server p99 |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for system in systems:
        io = results.meta.get((section, system), {}).get("aof_io_used", "") or (
            "—" if system.startswith("redis-") or policy_of(system) == "off" else "?")
        if system.startswith("redis-"):
            io = "write + fsync" if policy_of(system) != "no" else "write"
        peer = redis_peer(system)
        vs_redis = fmt_ratio(results.ratio(section, system, peer, "rps")) if peer else "—"
        p99_vs = fmt_ratio(results.ratio(section, system, peer, "p99_ms")) if peer else "—"
        vs_off = ("—" if system == "wdb-off"
                  else fmt_ratio(results.ratio(section, system, "wdb-off", "rps")))
        out.append(
            f"| {label(system, meta)} | {io} | {cell(results, section, system, 'rps', fmt_k)} | "
            f"{cell(results, section, system, 'p50_ms', fmt_ms)} | "
            f"{cell(results, section, system, 'p99_ms', fmt_ms)} | {vs_redis} | {vs_off} | "
            f"{p99_vs} |"
        )
    # io_uring against plain writes.
    pairs = [(s, s + "-sync") for s in systems if s + "-sync" in systems]
    if pairs:
        out += ["", "io_uring against plain writes (the same policy, `--aof-io "
                f"{meta.get('aof_io', 'auto')}` SET/s over `--aof-io sync` SET/s): "
                + "; ".join(f"{policy_of(a)}: {fmt_ratio(results.ratio(section, a, b, 'rps'))}"
                            for a, b in pairs) + "."]
    out += [
        "",
        "Cost per SET: cores used during the run (CPU seconds over the client's wall "
        "seconds, server / client; invalid runs included) and bytes per acknowledged SET, in "
        "the log (`aof_current_size` / N) and written to storage by the server "
        "(`/proc/<pid>/io` `write_bytes` / N).",
        "",
        "| system | server / client cores | log B/SET | storage B/SET |",
        "|---|---:|---:|---:|",
    ]
    for system in systems:
        server = results.summary(section, system, "server_cores")
        client = results.summary(section, system, "client_cores")
        cores = "—" if server is None or client is None else f"{server[0]:.2f} / {client[0]:.2f}"
        log_bytes = results.summary(section, system, "log_bytes_per_set")
        disk = results.summary(section, system, "disk_bytes_per_set")
        out.append(
            f"| {label(system, meta)} | {cores} | "
            f"{'—' if log_bytes is None else f'{log_bytes[0]:.0f}'} | "
            f"{'—' if disk is None else f'{disk[0]:.0f}'} |"
        )
    out.append("")
    return out


def replay_section(results, meta):
    systems = results.ordered_systems("replay")
    if not systems:
        return []
    out = [
        "### Replay at start",
        "",
        f"{int(meta.get('keys', '0') or 0):,} SETs in an incremental log, loaded at restart. "
        "Medians over rounds (min–max).",
        "",
        "| system | keys after restart | log on disk MB | B/key on disk | load s (log line) | "
        "k keys/s | MB/s | start to PONG s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for system in systems:
        if results.summary("replay", system, "load_s") is None:
            note = results.invalid_note("replay", system) or "no data"
            out.append(f"| {label(system, meta)} | {note} | | | | | | |")
            continue
        out.append(
            f"| {label(system, meta)} | {cell(results, 'replay', system, 'keys', fmt_int)} | "
            f"{cell(results, 'replay', system, 'files_mb')} | "
            f"{cell(results, 'replay', system, 'file_bytes_per_key', fmt_int)} | "
            f"{cell(results, 'replay', system, 'load_s', fmt_s)} | "
            f"{cell(results, 'replay', system, 'keys_per_s', fmt_k)} | "
            f"{cell(results, 'replay', system, 'files_mb_per_s')} | "
            f"{cell(results, 'replay', system, 'wall_to_pong_s', fmt_s)} |"
        )
    ours, theirs = "wdb-everysec", "redis-everysec"
    load = results.ratio("replay", theirs, ours, "load_s")
    wall = results.ratio("replay", theirs, ours, "wall_to_pong_s")
    out += [
        "",
        f"redis-server's time over workingdb's (above 1: workingdb is faster): load time "
        f"from the log lines {fmt_ratio(load)}; start to first PONG {fmt_ratio(wall)}.",
    ]
    records = results.summary("replay", ours, "log_records_per_s")
    mb = results.summary("replay", ours, "log_mb_per_s")
    if records:
        out += [
            "",
            f"workingdb's own log line: {fmt_summary(records, fmt_k)} thousand records/s, "
            f"{fmt_summary(mb)} MB/s (its MB are the bytes of the records it read).",
        ]
    out.append("")
    return out


def rewrite_section(results, meta):
    systems = results.ordered_systems("rewrite")
    if not systems:
        return []
    out = [
        "### BGREWRITEAOF under load",
        "",
        f"{int(meta.get('keys', '0') or 0):,} keys, then BGREWRITEAOF during a 50-client SET "
        "load. Medians over rounds (min–max). *Pause*: workingdb's "
        "`aof_longest_rewrite_switch_us` (the writer thread held for the segment switch), "
        "redis-server's `latest_fork_usec`.",
        "",
        "| system | rewrite ms (polled) | aof_last_rewrite_time_sec | pause µs | probe SET max ms "
        "during / outside | probe p99 ms during | load k SET/s | load max ms | base MB after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for system in systems:
        if results.summary("rewrite", system, "rewrite_polled_ms") is None:
            note = results.invalid_note("rewrite", system) or "no data"
            out.append(f"| {label(system, meta)} | {note} | | | | | | | |")
            continue
        pause_metric = ("latest_fork_usec" if system.startswith("redis-")
                        else "aof_longest_rewrite_switch_us")
        during = results.summary("rewrite", system, "probe_max_ms_during")
        outside = results.summary("rewrite", system, "probe_max_ms_outside")
        probe = ("—" if during is None else fmt_summary(during, fmt_ms)) + " / " + (
            "—" if outside is None else fmt_ms(outside[0]))
        out.append(
            f"| {label(system, meta)} | "
            f"{cell(results, 'rewrite', system, 'rewrite_polled_ms', fmt_int)} | "
            f"{cell(results, 'rewrite', system, 'aof_last_rewrite_time_sec', fmt_int)} | "
            f"{cell(results, 'rewrite', system, pause_metric, fmt_int)} | "
            f"{probe} | {cell(results, 'rewrite', system, 'probe_p99_ms_during', fmt_ms)} | "
            f"{cell(results, 'rewrite', system, 'rps', fmt_k)} | "
            f"{cell(results, 'rewrite', system, 'max_ms', fmt_ms)} | "
            f"{cell(results, 'rewrite', system, 'base_mb_after')} |"
        )
    ours, theirs = "wdb-everysec", "redis-everysec"
    out += [
        "",
        "workingdb over redis-server, same round (below 1: workingdb is lower): rewrite time "
        f"{fmt_ratio(results.ratio('rewrite', ours, theirs, 'rewrite_polled_ms'))}; probe max "
        "during the rewrite "
        f"{fmt_ratio(results.ratio('rewrite', ours, theirs, 'probe_max_ms_during'))}; "
        f"load SET/s {fmt_ratio(results.ratio('rewrite', ours, theirs, 'rps'))}. "
        "`aof_last_rewrite_time_sec` is whole seconds in both servers, so a rewrite under a "
        "second shows 0.",
        "",
    ]
    return out


def losses(results, meta):
    """Generated lines: every case where workingdb is behind redis-server or misses a target."""
    found = []
    for section, clients in ACK_SECTIONS.items():
        title = f"{clients} client{'s' if clients > 1 else ''}"
        for system in results.ordered_systems(section):
            if system.startswith("redis-"):
                continue
            note = results.invalid_note(section, system)
            if note:
                found.append(f"{short(system)}, {title}: {note}")
            peer = redis_peer(system)
            if peer:
                ratio = results.ratio(section, system, peer, "rps")
                if ratio is not None and ratio[0] < 1.0:
                    ours = results.summary(section, system, "rps")[0]
                    theirs = results.summary(section, peer, "rps")[0]
                    found.append(
                        f"{short(system)}, {title}: {fmt_k(ours)}k vs redis-server "
                        f"{fmt_k(theirs)}k SET/s, {fmt_ratio(ratio, 3)}")
                ratio = results.ratio(section, system, peer, "p99_ms")
                if ratio is not None and ratio[0] > 1.0:
                    ours = results.summary(section, system, "p99_ms")[0]
                    theirs = results.summary(section, peer, "p99_ms")[0]
                    found.append(
                        f"{short(system)}, {title}: p99 {fmt_ms(ours)} vs redis-server "
                        f"{fmt_ms(theirs)} ms, {fmt_ratio(ratio)}")
            if system.endswith("-sync"):
                default = system[: -len("-sync")]
                ratio = results.ratio(section, default, system, "rps")
                if ratio is not None and ratio[0] < 1.0:
                    found.append(
                        f"{short(default)}, {title}: io_uring is slower than `--aof-io sync`, "
                        f"{fmt_ratio(ratio, 3)} of its SET/s")
        ratio = results.ratio(section, "wdb-everysec", "wdb-off", "rps")
        if ratio is not None and ratio[0] < EVERYSEC_TARGET:
            found.append(f"everysec, {title}: {fmt_ratio(ratio, 3)} of workingdb's AOF-off "
                         f"SET/s (target {EVERYSEC_TARGET:g}x)")
    ratio = results.ratio("ack50", "wdb-always", "redis-always", "rps")
    if ratio is not None and 1.0 <= ratio[0] < ALWAYS_TARGET:
        found.append(f"always, 50 clients: {fmt_ratio(ratio)} redis-server's SET/s, ahead but "
                     f"short of the {ALWAYS_TARGET:g}x target")
    ours, theirs = "wdb-everysec", "redis-everysec"
    for section in ("replay", "rewrite"):
        for system in (ours, theirs):
            note = results.invalid_note(section, system)
            if note:
                found.append(f"{section}, {short(system)}: {note}")
    load = results.ratio("replay", theirs, ours, "load_s")
    if load is not None and load[0] < REPLAY_TARGET:
        a = results.summary("replay", ours, "load_s")[0]
        b = results.summary("replay", theirs, "load_s")[0]
        found.append(
            f"replay: {fmt_s(a)} s vs redis-server {fmt_s(b)} s, redis-server's time over "
            f"ours {fmt_ratio(load)} (target {REPLAY_TARGET:g}x)")
    size = results.ratio("replay", ours, theirs, "file_bytes_per_key")
    if size is not None and size[0] > 1.0:
        a = results.summary("replay", ours, "file_bytes_per_key")[0]
        b = results.summary("replay", theirs, "file_bytes_per_key")[0]
        found.append(f"log size: {a:.0f} vs redis-server {b:.0f} bytes per SET on disk "
                     f"({size[0]:.2f}x)")
    for metric, what, unit, fmt in (
        ("rewrite_polled_ms", "rewrite time", "ms", lambda v: f"{v:.0f}"),
        ("probe_max_ms_during", "slowest probe SET during the rewrite", "ms", fmt_ms),
        ("probe_p99_ms_during", "probe p99 during the rewrite", "ms", fmt_ms),
        ("max_ms", "slowest SET of the load (whole run)", "ms", fmt_ms),
        ("base_mb_after", "base file after the rewrite", "MB", fmt_num),
    ):
        ratio = results.ratio("rewrite", ours, theirs, metric)
        if ratio is not None and ratio[0] > 1.0:
            a = results.summary("rewrite", ours, metric)[0]
            b = results.summary("rewrite", theirs, metric)[0]
            found.append(f"{what}: {fmt(a)} vs redis-server {fmt(b)} {unit}, "
                         f"{fmt_ratio(ratio)}")
    ratio = results.ratio("rewrite", ours, theirs, "rps")
    if ratio is not None and ratio[0] < 1.0:
        found.append(f"SET/s of the load during the rewrite run: {fmt_ratio(ratio, 3)} "
                     "redis-server's")
    return found


def render_page(meta, results, problems, repo_root, human_block, svg_name):
    out = header_section(meta, results, repo_root)
    out += what_section(meta)
    if any(results.systems.get(s) for s in ACK_SECTIONS):
        out += [f"![median acknowledged SET/s per fsync policy]({svg_name})", ""]
    out += ["## Targets", ""]
    out += targets_section(results)
    out += ["", "## Results", ""]
    for section in ACK_SECTIONS:
        out += ack_section(results, section, meta)
    out += replay_section(results, meta)
    out += rewrite_section(results, meta)
    out += ["## Run problems", ""]
    if problems:
        out.append("Generated from the run's checks (client exit status, timeouts, error "
                   "replies, write status, keys after the restart, the rewrite's end, server "
                   "exits):")
        out.append("")
        out += [f"- {line}" for line in problems]
    else:
        out.append("None: every client exited 0 within its timeout, no server answered an "
                   "error, reported a failed write, lost a key over the restart, exited early "
                   "or outlived SIGTERM by 30 s, every rewrite ended under load, and every port "
                   "was the started server's alone.")
    out += ["", "## Where we lose", ""]
    found = losses(results, meta)
    ours_measured = any(s.startswith("wdb-") for sec in results.systems
                        for s in results.systems[sec])
    if found:
        out.append("Every case where workingdb is behind redis-server, behind its own other "
                   "I/O mode, or short of a target (generated from the figures above; medians "
                   "of same-round ratios):")
        out.append("")
        out += [f"- {line}" for line in found]
    elif ours_measured:
        out.append("workingdb is at or ahead of redis-server, and meets the targets, in every "
                   "case measured.")
    else:
        out.append("No figures for workingdb in this run, so nothing to compare.")
    out += ["", "### Why", "", HUMAN_BEGIN, human_block or HUMAN_PLACEHOLDER, HUMAN_END, ""]
    return "\n".join(out)


# ------------------------------------------------------------------------------------------
# The plot
# ------------------------------------------------------------------------------------------


def render_svg(results):
    panels = [s for s in ACK_SECTIONS if results.systems.get(s)]
    width, panel_height, top, left, right, gap = 960, 260, 60, 60, 20, 50
    height = top + len(panels) * (panel_height + gap) + 10
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="15">'
        "Median acknowledged SET/s (whiskers: min–max over rounds; missing bar: not run or "
        "no valid run)</text>",
    ]
    x = left
    for kind, (name, color) in KINDS.items():
        svg.append(f'<rect x="{x}" y="32" width="12" height="12" fill="{color}"/>')
        svg.append(f'<text x="{x + 16}" y="42">{html.escape(name)}</text>')
        x += 40 + 7 * len(name)
    for index, section in enumerate(panels):
        clients = ACK_SECTIONS[section]
        present = results.ordered_systems(section)
        groups = [p for p in POLICIES if any(policy_of(s) == p for s in present)]
        kinds = [k for k in KINDS if any(kind_of(s) == k for s in present)]
        y0 = top + index * (panel_height + gap)
        plot_height = panel_height - 30
        values = [results.summary(section, s, "rps") for s in present]
        maximum = max([v[2] / 1000 for v in values if v] + [1e-9])
        step = nice_step(maximum)
        top_value = step * (int(maximum / step) + 1)
        scale = plot_height / top_value
        base = y0 + 20 + plot_height
        title = f"{clients} client{'s' if clients > 1 else ''}, -P 1: thousand SET/s"
        svg.append(f'<text x="{left}" y="{y0 + 12}" font-weight="bold">{html.escape(title)}</text>')
        tick = 0.0
        while tick <= top_value + 1e-9:
            y = base - tick * scale
            svg.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
                       'stroke="#ddd"/>')
            svg.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>')
            tick += step
        group_width = (width - left - right) / max(1, len(groups))
        bar_width = min(48, (group_width - 20) / max(1, len(kinds)))
        for g, policy in enumerate(groups):
            gx = left + g * group_width + (group_width - bar_width * len(kinds)) / 2
            for b, kind in enumerate(kinds):
                system = next((s for s in present if policy_of(s) == policy
                               and kind_of(s) == kind), None)
                summary = results.summary(section, system, "rps") if system else None
                if not summary:
                    continue
                median, low, high = (v / 1000 for v in summary[:3])
                bx = gx + b * bar_width
                svg.append(
                    f'<rect x="{bx:.1f}" y="{base - median * scale:.1f}" '
                    f'width="{bar_width - 2:.1f}" height="{median * scale:.1f}" '
                    f'fill="{KINDS[kind][1]}"><title>{html.escape(short(system))}: '
                    f"{median:.1f}k SET/s</title></rect>"
                )
                cx = bx + (bar_width - 2) / 2
                svg.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{base - high * scale:.1f}" '
                           f'y2="{base - low * scale:.1f}" stroke="black"/>')
            name = "appendonly no" if policy == "off" else f"appendfsync {policy}"
            svg.append(f'<text x="{left + (g + 0.5) * group_width:.1f}" y="{base + 16}" '
                       f'text-anchor="middle">{html.escape(name)}</text>')
        svg.append(f'<line x1="{left}" x2="{width - right}" y1="{base}" y2="{base}" '
                   'stroke="black"/>')
        svg.append(
            f'<text x="14" y="{y0 + 20 + plot_height / 2}" transform="rotate(-90 14 '
            f'{y0 + 20 + plot_height / 2})" text-anchor="middle">k SET/s</text>'
        )
    svg.append("</svg>")
    return "\n".join(svg) + "\n"


# ------------------------------------------------------------------------------------------


def csv_rows(measurements):
    for m in sorted(measurements, key=lambda m: (m.round, m.section, system_rank(m.system))):
        for metric, value in sorted(m.metrics.items()):
            if value is None:
                continue
            yield {
                "round": m.round,
                "section": m.section,
                "system": m.system,
                "metric": metric,
                "value": f"{value:.6g}",
                "valid": 0 if m.invalid else 1,
                "invalid_reason": m.invalid,
            }
        if not m.metrics:
            yield {"round": m.round, "section": m.section, "system": m.system, "metric": "",
                   "value": "", "valid": 0 if m.invalid else 1, "invalid_reason": m.invalid}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default="target/persistence-bench",
                        help="the script's raw data")
    parser.add_argument("--out", default="bench-results", help="where the page goes")
    args = parser.parse_args()

    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    meta = read_key_values(os.path.join(args.work, "meta.txt"))
    measurements = load_measurements(args.work)
    if not measurements:
        sys.exit(f"render_persistence: no measurements under {args.work}/raw/round*/")
    results = Results(measurements)
    problems = []
    problems_path = os.path.join(args.work, "problems.txt")
    if os.path.exists(problems_path):
        with open(problems_path, encoding="utf-8", errors="replace") as f:
            problems = [line.strip() for line in f if line.strip()]
    # An invalid measurement the script did not flag itself is listed too, so none is
    # dropped silently.
    for m in measurements:
        if m.invalid and not any(line.startswith(f"round {m.round}, {m.section}, {m.system}:")
                                 for line in problems):
            problems.append(f"round {m.round}, {m.section}, {m.system}: left out: {m.invalid}")

    os.makedirs(args.out, exist_ok=True)
    csv_path = os.path.join(args.out, "persistence-data.csv")
    rows = list(csv_rows(measurements))
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["round", "section", "system", "metric", "value",
                                               "valid", "invalid_reason"])
        writer.writeheader()
        writer.writerows(rows)

    svg_name = "persistence-ack.svg"
    with open(os.path.join(args.out, svg_name), "w", encoding="utf-8") as f:
        f.write(render_svg(results))

    page_path = os.path.join(args.out, "persistence.md")
    page = render_page(meta, results, problems, repo_root, existing_human_block(page_path),
                       svg_name)
    with open(page_path, "w", encoding="utf-8") as f:
        f.write(page)
    print(f"render_persistence: wrote {page_path}, {csv_path} and {svg_name} "
          f"({len(measurements)} measurements, {len(rows)} rows)")


if __name__ == "__main__":
    main()
