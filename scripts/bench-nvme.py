#!/usr/bin/env python3
"""The nvme benchmark: the block log's sustained appends next to fio and to buffered writes.

Usage, from anywhere in the repository:
  scripts/bench-nvme.py             # the full run: 5 rounds of 10 s per measurement
  scripts/bench-nvme.py --quick     # one round of 2 s: checks the pipeline, not a result

Every round runs every measurement once, in the same order, so a ratio compares runs made
seconds apart (BENCHMARKS.md: alternating rounds, medians, ratios). Each measurement is one
process writing for a fixed time to a 1 GiB file on the repository's file system
(target/nvme-bench/), preallocated by writing it once:

* block log (`nvme/examples/append_bench.rs`): appends of BATCH bytes, each durable before
  the next (the AOF writer's pattern), its writes at queue depth QD through io_uring with
  registered buffers of BUF, durable by RWF_DSYNC writes or by one drained fdatasync;
* fio, the physical limit: `fio --ioengine=io_uring --direct=1 --rw=write --bs=BUF
  --iodepth=QD`, with `--sync=dsync` (every write O_DSYNC) or `--fdatasync=N` (one fdatasync
  per N writes, N = the writes in one of our appends);
* buffered: the same appends with pwrite through the page cache and fdatasync each, which is
  what the AOF does without a device (`--aof-io sync`).

Configurations: `block` (one 4 KiB block per append, queue depth 1: the AOF under
`appendfsync always` at a few clients) and `stream` (1 MiB of 64 KiB writes at queue depth
16: sustained throughput).

End to end, each round also runs the server under `appendfsync always` with
`redis-benchmark -t set -c 50 -P 1 -d 32 -r 100000 -n 100000`: workingdb with its segments
in files, on an `--aof-device` file (dsync and fdatasync), and redis-server.

Writes bench-results/nvme.md and bench-results/nvme-data.csv. Standard library only.
"""

import argparse
import csv
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "target", "nvme-bench")
DEVICE_MIB = 1024
HEADER_BYTES = 32

# name, buffer KiB, queue depth, blocks per append
CONFIGS = [
    ("block", 4, 1, 1),
    ("stream", 64, 16, 16 * 16),
]
SYSTEMS = ["ours-dsync", "ours-dsync-sqpoll", "fio-dsync", "ours-fdatasync", "fio-fdatasync",
           "buffered"]


def run(command, timeout):
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: exit {result.returncode}: {result.stderr.strip()}")
    return result.stdout


def ours(binary, path, config, durability, seconds, sqpoll=False):
    name, buffer_kib, depth, blocks = config
    batch = blocks * (4096 - HEADER_BYTES)
    out = run([binary, path, str(DEVICE_MIB), str(batch), str(depth), str(buffer_kib),
               durability, str(seconds)] + (["sqpoll"] if sqpoll else []),
              timeout=seconds * 4 + 120)
    appends, payload, elapsed, mbps, p50, p99, worst = out.strip().split(",")
    device_bytes = int(appends) * blocks * 4096
    return {
        "payload_mb_s": float(mbps),
        "device_mb_s": device_bytes / 1e6 / float(elapsed),
        "appends_s": int(appends) / float(elapsed),
        "p50_us": float(p50),
        "p99_us": float(p99),
        "max_us": float(worst),
    }


def fio(path, config, durability, seconds):
    name, buffer_kib, depth, blocks = config
    writes_per_append = max(1, blocks * 4096 // (buffer_kib * 1024))
    command = ["fio", "--name=nvme-bench", f"--filename={path}", f"--size={DEVICE_MIB}m",
               "--ioengine=io_uring", "--direct=1", "--rw=write", f"--bs={buffer_kib}k",
               f"--iodepth={depth}", "--time_based", f"--runtime={seconds}",
               "--output-format=json"]
    if durability == "dsync":
        command.append("--sync=dsync")
    else:
        command.append(f"--fdatasync={writes_per_append}")
    report = json.loads(run(command, timeout=seconds * 4 + 120))
    job = report["jobs"][0]
    write = job["write"]
    percentiles = write.get("clat_ns", {}).get("percentile", {})
    sync = job.get("sync", {}).get("lat_ns", {})
    return {
        "payload_mb_s": write["bw_bytes"] / 1e6,
        "device_mb_s": write["bw_bytes"] / 1e6,
        "appends_s": write["iops"] / writes_per_append,
        "p50_us": percentiles.get("50.000000", 0) / 1e3,
        "p99_us": percentiles.get("99.000000", 0) / 1e3,
        "max_us": write.get("clat_ns", {}).get("max", 0) / 1e3,
        "sync_mean_us": sync.get("mean", 0) / 1e3,
    }


SERVER_SYSTEMS = ["redis-always", "wdb-always-file", "wdb-always-device-dsync",
                  "wdb-always-device-fdatasync"]
SERVER_REQUESTS = 100000


def free_port():
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port, process, timeout=60):
    import socket
    import time
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listened on {port} within {timeout} s")


def server_run(system, server_binary, requests):
    """redis-benchmark SET at 50 clients against one freshly started server; its figures."""
    import shutil
    port = free_port()
    data = os.path.join(WORK, "server-data")
    device = os.path.join(WORK, "server-device.dev")
    shutil.rmtree(data, ignore_errors=True)
    os.makedirs(data)
    if system == "redis-always":
        command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "yes", "--appendfsync", "always", "--dir", data,
                   "--daemonize", "no", "--auto-aof-rewrite-percentage", "0"]
    else:
        command = [server_binary, "--port", str(port), "--memcache-port", "0", "--threads", "2",
                   "--dir", data, "--appendonly", "yes", "--appendfsync", "always",
                   "--auto-aof-rewrite-percentage", "0", "--loglevel", "warning"]
        if "device" in system:
            command += ["--aof-device", device, "--aof-device-size", "1gb",
                        "--aof-device-sync", system.rsplit("-", 1)[1]]
    log = open(os.path.join(WORK, f"{system}.log"), "w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_port(port, process)
        out = run(["redis-benchmark", "-p", str(port), "-t", "set", "-c", "50", "-P", "1",
                   "-d", "32", "-r", "100000", "-n", str(requests), "--csv"], timeout=600)
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(data, ignore_errors=True)
    rows = [line for line in out.splitlines() if line.startswith('"')]
    header = next(csv.reader([rows[0]]))
    fields = dict(zip(header, next(csv.reader([rows[1]]))))
    return {
        "rps": float(fields["rps"]),
        "p50_ms": float(fields["p50_latency_ms"]),
        "p99_ms": float(fields["p99_latency_ms"]),
    }


def median_and_range(values):
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


def fmt(triple, digits=1):
    if triple is None:
        return "—"
    median, low, high = triple
    return f"{median:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"


def describe_machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mounts = run(["df", "-hT", WORK], timeout=30).strip().splitlines()[-1]
    fio_version = run(["fio", "--version"], timeout=30).strip()
    commit = run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], timeout=30).strip()
    dirty = run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"], timeout=30)
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "filesystem": " ".join(mounts.split()),
        "fio": fio_version,
        "commit": commit + (" with uncommitted changes" if dirty.strip() else ""),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    arguments = parser.parse_args()
    rounds, seconds = (1, 2) if arguments.quick else (5, 10)
    os.makedirs(WORK, exist_ok=True)
    subprocess.run([os.path.join(ROOT, "scripts", "install-deps.sh")], check=True)
    subprocess.run(["cargo", "build", "--release", "-p", "nvme", "--example", "append_bench"],
                   cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "examples", "append_bench")
    subprocess.run(["cargo", "build", "--release"], cwd=ROOT, check=True)
    server_binary = os.path.join(WORK, "workingdb")
    subprocess.run(["cp", os.path.join(ROOT, "target", "release", "workingdb"), server_binary],
                   check=True)
    machine = describe_machine()
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    paths = {kind: os.path.join(WORK, f"{kind}.dev") for kind in ["ours", "fio", "buffered"]}
    results = {}  # (config, system) -> list of dicts
    problems = []
    for round_index in range(1, rounds + 1):
        for config in CONFIGS:
            for system in SYSTEMS:
                print(f"-- round {round_index}, {config[0]}, {system}", flush=True)
                kind, _, rest = system.partition("-")
                durability, _, mode = rest.partition("-")
                try:
                    if kind == "ours":
                        figures = ours(binary, paths["ours"], config, durability, seconds,
                                       sqpoll=(mode == "sqpoll"))
                    elif kind == "fio":
                        figures = fio(paths["fio"], config, durability, seconds)
                    else:
                        figures = ours(binary, paths["buffered"], config, "buffered", seconds)
                except Exception as error:  # a failed run is reported, not hidden
                    problems.append(f"round {round_index}, {config[0]}, {system}: {error}")
                    continue
                figures["round"] = round_index
                results.setdefault((config[0], system), []).append(figures)
        for system in SERVER_SYSTEMS:
            print(f"-- round {round_index}, server, {system}", flush=True)
            try:
                figures = server_run(system, server_binary,
                                     SERVER_REQUESTS // (10 if arguments.quick else 1))
            except Exception as error:
                problems.append(f"round {round_index}, server, {system}: {error}")
                continue
            figures["round"] = round_index
            results.setdefault(("server", system), []).append(figures)
    finished = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    write_page(results, problems, machine, started, finished, rounds, seconds, arguments.quick)


def same_round_ratios(results, config, numerator, denominator, field):
    by_round = {row["round"]: row[field] for row in results.get((config, denominator), [])}
    ratios = []
    for row in results.get((config, numerator), []):
        base = by_round.get(row["round"])
        if base:
            ratios.append(row[field] / base)
    return median_and_range(ratios)


def write_page(results, problems, machine, started, finished, rounds, seconds, quick):
    out_dir = os.path.join(ROOT, "bench-results")
    with open(os.path.join(out_dir, "nvme-data.csv"), "w", newline="") as data:
        writer = csv.writer(data)
        writer.writerow(["config", "system", "round", "metric", "value"])
        for (config, system), rows in sorted(results.items()):
            for row in rows:
                for metric, value in sorted(row.items()):
                    if metric != "round":
                        writer.writerow([config, system, row["round"], metric, f"{value:.3f}"])
    lines = [
        "# nvme benchmarks: the block log against fio and buffered writes",
        "",
        f"- **Date:** {started} (finished {finished})" + (" — **quick mode, not a result**" if quick else ""),
        f"- **Command:** `scripts/bench-nvme.py`, {rounds} round(s) of {seconds} s per measurement; every round runs every measurement in the order of the tables.",
        f"- **Commit:** {machine['commit']}; `cargo build --release -p nvme --example append_bench`",
        f"- **Machine:** {machine['cpus']} CPUs, {machine['cpu']}, Linux {machine['kernel']}",
        f"- **Files:** 1 GiB each under `target/nvme-bench/`, preallocated by writing them once; `df -hT`: `{machine['filesystem']}`. This is a virtual disk, not a dedicated NVMe device.",
        f"- **fio:** {machine['fio']}",
        "- **Raw data:** `nvme-data.csv` beside this page.",
        "",
        "## What is measured",
        "",
        "- **block log**: `append_bench PATH 1024 BATCH QD BUF dsync|fdatasync S`: appends of BATCH stream bytes, each durable before the next starts, written as whole 4 KiB blocks (32-byte header each) through io_uring `WRITE_FIXED` from registered buffers of BUF KiB at queue depth QD to a fixed file opened with O_DIRECT; durable by `RWF_DSYNC` on each write (*dsync*) or one `IO_DRAIN` fdatasync per append (*fdatasync*). Latency is one append's, call to durable.",
        "- **fio**: `fio --ioengine=io_uring --direct=1 --rw=write --bs=BUF --iodepth=QD --time_based`, with `--sync=dsync` or `--fdatasync=N`, N the writes of one of our appends. Its latency is one write's completion latency (`clat`), which under `--fdatasync` excludes the sync.",
        "- **block log, sqpoll**: the same as *dsync*, submitting through a kernel thread that polls the submission queue (io_uring `SQPOLL`, 100 ms idle) instead of a system call.",
        "- **buffered**: the same appends with `pwrite` through the page cache and `fdatasync` each: the AOF's `--aof-io sync` path on an ordinary file.",
        "",
        "Configurations: **block**: 1 block per append, 4 KiB buffers, QD 1 (the AOF under `appendfsync always`, a batch of a few records); **stream**: 256 blocks (1 MiB) per append, 64 KiB buffers, QD 16 (sustained throughput).",
        "",
    ]
    target_rows = []
    for config in [name for name, *_ in CONFIGS]:
        lines += [f"## {config}", "",
                  "| system | payload MB/s | device MB/s | appends/s | p50 µs | p99 µs | max µs |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for system in SYSTEMS:
            rows = results.get((config, system), [])
            column = lambda field: median_and_range([row[field] for row in rows])
            lines.append(
                f"| {system} | {fmt(column('payload_mb_s'))} | {fmt(column('device_mb_s'))} | "
                f"{fmt(column('appends_s'), 0)} | {fmt(column('p50_us'), 0)} | "
                f"{fmt(column('p99_us'), 0)} | {fmt(column('max_us'), 0)} |")
        lines.append("")
        for durability in ["dsync", "fdatasync"]:
            ratio = same_round_ratios(results, config, f"ours-{durability}", f"fio-{durability}", "device_mb_s")
            payload_ratio = same_round_ratios(results, config, f"ours-{durability}", f"fio-{durability}", "payload_mb_s")
            buffered = same_round_ratios(results, config, f"ours-{durability}", "buffered", "payload_mb_s")
            lines.append(f"- block log {durability} / fio {durability}, same round: device bytes {fmt(ratio, 2)}x, payload bytes {fmt(payload_ratio, 2)}x; / buffered: {fmt(buffered, 2)}x")
            target_rows.append((config, durability, ratio, payload_ratio))
        sqpoll = same_round_ratios(results, config, "ours-dsync-sqpoll", "ours-dsync", "payload_mb_s")
        lines.append(f"- block log dsync with SQPOLL / without, same round: {fmt(sqpoll, 2)}x")
        lines.append("")
    lines += ["## End to end: the server under `appendfsync always`", "",
              f"`redis-benchmark -t set -c 50 -P 1 -d 32 -r 100000 -n {SERVER_REQUESTS}` against a fresh server each time (workingdb `--threads 2`); thousand SET/s and latency in ms, medians over rounds (min–max).", "",
              "| system | k SET/s | p50 ms | p99 ms | SET/s / redis-server | SET/s / segments in files |",
              "|---|---:|---:|---:|---:|---:|"]
    for system in SERVER_SYSTEMS:
        rows = results.get(("server", system), [])
        column = lambda field, scale=1.0: median_and_range([row[field] * scale for row in rows])
        versus_redis = same_round_ratios(results, "server", system, "redis-always", "rps")
        versus_file = same_round_ratios(results, "server", system, "wdb-always-file", "rps")
        lines.append(f"| {system} | {fmt(column('rps', 1e-3))} | {fmt(column('p50_ms'), 3)} | {fmt(column('p99_ms'), 3)} | "
                     f"{fmt(versus_redis, 2) if system != 'redis-always' else '—'} | "
                     f"{fmt(versus_file, 2) if system.startswith('wdb') and system != 'wdb-always-file' else '—'} |")
    lines.append("")
    lines += ["## Target", "", "At least 0.9x fio's throughput (payload bytes, the stricter reading; median of same-round ratios).", "",
              "| configuration | durability | payload / fio | status |", "|---|---|---:|---|"]
    for config, durability, ratio, payload_ratio in target_rows:
        status = "—" if payload_ratio is None else ("met" if payload_ratio[0] >= 0.9 else "**missed**")
        lines.append(f"| {config} | {durability} | {fmt(payload_ratio, 2)}x | {status} |")
    lines += ["", "## Where we lose", "",
              "Every configuration where the block log is behind fio or behind buffered writes (median of same-round ratios of payload bytes):", ""]
    losses = []
    for config in [name for name, *_ in CONFIGS]:
        for durability in ["dsync", "fdatasync"]:
            for reference in [f"fio-{durability}", "buffered"]:
                ratio = same_round_ratios(results, config, f"ours-{durability}", reference, "payload_mb_s")
                if ratio is not None and ratio[0] < 1.0:
                    losses.append(f"- {config}, {durability}: {fmt(ratio, 2)}x of {reference}")
    lines += losses or ["- nowhere"]
    lines += ["", "<!-- why: written by hand after the run; re-running the script replaces this page -->"]
    lines += ["", "## Run problems", ""]
    lines += [f"- {problem}" for problem in problems] or ["None: every run exited 0."]
    lines.append("")
    with open(os.path.join(out_dir, "nvme.md"), "w") as page:
        page.write("\n".join(lines))
    print(f"wrote {os.path.join(out_dir, 'nvme.md')}")


if __name__ == "__main__":
    sys.exit(main())
