#!/usr/bin/env python3
"""Render bench-results/engine.md from the rounds scripts/bench-engine.sh collected.

Standard library only. Reads, under --work (default target/engine-bench):

* round<N>/<group>/<map>/new/{benchmark.json,estimates.json}: criterion's output of round N
  (the script points CRITERION_HOME at round<N> for that round);
* memory.txt: the `memory map=... key=value ...` lines of the memory benchmark;
* meta.txt: key=value lines describing the run and the machine.

Writes, under --out (default bench-results): engine.md, engine-data.csv (one row per benchmark
per round) and engine-throughput.svg. The hand-written explanation in the "Where we lose"
section of an existing engine.md is carried over, so re-rendering never loses it.

Throughput of one benchmark in one round is operations per iteration divided by criterion's
median time per iteration. Across rounds we report the median and the min-max; a ratio is the
median over rounds of the same-round ratio (the two maps ran minutes apart in the same round,
which is what makes a ratio on a noisy machine meaningful).
"""

import argparse
import csv
import html
import json
import os
import re
import statistics
import sys
from collections import defaultdict

WORKLOADS = {
    "ReadHeavy": "98% read, 1% insert, 1% remove; prefilled to 75% of 2^20 slots",
    "Exchange": "10% read, 40% insert, 40% remove, 10% update; prefilled to 75%",
    "RapidGrow": "5% read, 80% insert, 5% remove, 10% update; a new pre-sized table per iteration",
    "ReadOnly": "100% read; prefilled to 75% (37.5% of reads hit, as in every bustle mix)",
}
KEYTYPES = {"u64": "u64 keys (8 bytes)", "bytes16": "16-byte keys"}
THREADS = [1, 2, 4]
SUBJECT = "lockfree"
OURS = ["lockfree", "sharded", "dashmap", "flurry"]
ANCHORS = ["papaya", "scc", "hashbrown"]
NATIVE = ["papaya-u64native", "scc-u64native", "hashbrown-u64native"]
MAP_ORDER = OURS + ANCHORS + NATIVE
COLORS = {
    "lockfree": "#d62728",
    "sharded": "#7f7f7f",
    "dashmap": "#1f77b4",
    "flurry": "#9467bd",
    "papaya": "#2ca02c",
    "scc": "#ff7f0e",
    "hashbrown": "#8c564b",
    "papaya-u64native": "#98df8a",
    "scc-u64native": "#ffbb78",
    "hashbrown-u64native": "#c49c94",
}
# (workload, threads, reference map, minimum ratio of lockfree to it), from the issue.
TARGETS = [
    ("ReadHeavy", 2, "dashmap", 1.3),
    ("ReadOnly", 2, "dashmap", 1.3),
    ("ReadHeavy", 2, "papaya", 1.0),
    ("ReadOnly", 2, "papaya", 1.0),
    ("Exchange", 2, "dashmap", 1.0),
    ("ReadHeavy", 1, "hashbrown", 0.8),
    ("ReadOnly", 1, "hashbrown", 0.8),
]
# The references "Where we lose" compares against.
RIVALS = ["dashmap", "papaya"]
HUMAN_BEGIN = "<!-- where-we-lose:human:begin -->"
HUMAN_END = "<!-- where-we-lose:human:end -->"
HUMAN_PLACEHOLDER = (
    "_To be written by a person after reading profiles: why lockfree loses in each case "
    "listed above (design trade-off, fixable cost, or noise). This block between the "
    "`where-we-lose:human` markers is kept when the page is re-rendered._"
)


# ------------------------------------------------------------------------------------------
# Loading
# ------------------------------------------------------------------------------------------


def load_meta(work):
    meta = {}
    path = os.path.join(work, "meta.txt")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if "=" in line:
                    key, value = line.rstrip("\n").split("=", 1)
                    meta[key] = value
    return meta


def load_rounds(work):
    """Returns a list of dicts, one per benchmark per round."""
    rows = []
    rounds = []
    for name in os.listdir(work):
        match = re.fullmatch(r"round(\d+)", name)
        if match and os.path.isdir(os.path.join(work, name)):
            rounds.append((int(match.group(1)), os.path.join(work, name)))
    for number, home in sorted(rounds):
        for directory, _, files in os.walk(home):
            if os.path.basename(directory) != "new" or "benchmark.json" not in files:
                continue
            with open(os.path.join(directory, "benchmark.json"), encoding="utf-8") as f:
                benchmark = json.load(f)
            with open(os.path.join(directory, "estimates.json"), encoding="utf-8") as f:
                estimates = json.load(f)
            match = re.fullmatch(r"(\w+)/(\w+)/(\d+)t", benchmark["group_id"])
            throughput = benchmark.get("throughput") or {}
            if not match or "Elements" not in throughput:
                print(f"render_engine: skipping {benchmark['full_id']}", file=sys.stderr)
                continue
            operations = throughput["Elements"]
            median_ns = estimates["median"]["point_estimate"]
            rows.append(
                {
                    "round": number,
                    "workload": match.group(1),
                    "keytype": match.group(2),
                    "threads": int(match.group(3)),
                    "map": benchmark["function_id"],
                    "operations_per_iteration": operations,
                    "median_ns_per_iteration": median_ns,
                    "mean_ns_per_iteration": estimates["mean"]["point_estimate"],
                    "mops": operations / median_ns * 1e3,
                }
            )
    rows.sort(key=lambda r: (r["round"], r["workload"], r["keytype"], r["threads"], r["map"]))
    return rows


def load_memory(work, shape="bytes"):
    """Returns {map: {field: value}} from the memory benchmark's lines of one shape (`bytes`:
    16-byte keys and 32-byte boxed values; `u64`: u64 keys and values; lines written before
    the benchmark had shapes are `bytes`)."""
    memory = {}
    path = os.path.join(work, "memory.txt")
    if not os.path.exists(path):
        return memory
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.startswith("memory "):
                continue
            fields = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))
            if "map" in fields and fields.get("shape", "bytes") == shape:
                memory[fields["map"]] = {k: v.strip('"') for k, v in fields.items()}
    return memory


# ------------------------------------------------------------------------------------------
# Statistics
# ------------------------------------------------------------------------------------------


class Results:
    def __init__(self, rows):
        # (workload, keytype, threads, map) -> {round: Mop/s}
        self.by_key = defaultdict(dict)
        for row in rows:
            key = (row["workload"], row["keytype"], row["threads"], row["map"])
            self.by_key[key][row["round"]] = row["mops"]
        self.maps = sorted({k[3] for k in self.by_key}, key=map_rank)
        self.rounds = sorted({row["round"] for row in rows})

    def summary(self, workload, keytype, threads, name):
        """(median, min, max, rounds) of Mop/s, or None."""
        values = list(self.by_key.get((workload, keytype, threads, name), {}).values())
        if not values:
            return None
        return statistics.median(values), min(values), max(values), len(values)

    def ratio(self, workload, keytype, threads, name, reference):
        """(median, min, max, rounds) of the same-round ratio name / reference, or None."""
        a = self.by_key.get((workload, keytype, threads, name), {})
        b = self.by_key.get((workload, keytype, threads, reference), {})
        ratios = [a[r] / b[r] for r in a if r in b and b[r] > 0]
        if not ratios:
            return None
        return statistics.median(ratios), min(ratios), max(ratios), len(ratios)


def map_rank(name):
    return (MAP_ORDER.index(name) if name in MAP_ORDER else len(MAP_ORDER), name)


def fmt_mops(value):
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def fmt_summary(summary):
    if summary is None:
        return "—"
    median, low, high, n = summary
    if n == 1:
        return fmt_mops(median)
    return f"{fmt_mops(median)} ({fmt_mops(low)}–{fmt_mops(high)})"


def fmt_ratio(ratio, digits=2):
    if ratio is None:
        return "—"
    median, low, high, n = ratio
    if n == 1:
        return f"{median:.{digits}f}x"
    return f"{median:.{digits}f}x ({low:.{digits}f}–{high:.{digits}f})"


# ------------------------------------------------------------------------------------------
# The page
# ------------------------------------------------------------------------------------------


def profile_lines(cargo_toml):
    """The [profile.*] sections of the workspace manifest, without comments."""
    lines = []
    section = None
    try:
        with open(cargo_toml, encoding="utf-8") as f:
            for raw in f:
                line = raw.split("#", 1)[0].strip()
                if line.startswith("["):
                    section = line if line.startswith("[profile.") else None
                    if section:
                        lines.append(section)
                elif section and line:
                    lines.append(line)
    except OSError:
        pass
    return lines


def engine_hashers(engine_src):
    """Which foldhash builder each of our back-ends names in its source."""
    found = {}
    for name in ["sharded", "dashmap", "flurry", "lockfree"]:
        candidates = [os.path.join(engine_src, f"{name}.rs")]
        directory = os.path.join(engine_src, name)
        if os.path.isdir(directory):
            candidates += [os.path.join(directory, f) for f in sorted(os.listdir(directory))]
        text = ""
        for path in candidates:
            if path.endswith(".rs") and os.path.exists(path):
                with open(path, encoding="utf-8") as f:
                    text += f.read()
        hashers = sorted(set(re.findall(r"foldhash::(fast|quality)", text)))
        found[name] = ", ".join(f"foldhash::{h}" for h in hashers) or "not found in source"
    return found


def throughput_section(results):
    out = []
    for workload, description in WORKLOADS.items():
        for keytype, key_description in KEYTYPES.items():
            names = [
                m
                for m in results.maps
                if any(results.summary(workload, keytype, t, m) for t in THREADS)
            ]
            if not names:
                continue
            out.append(f"### {workload}, {key_description}")
            out.append("")
            out.append(f"{description}. Median Mop/s over rounds (min–max).")
            out.append("")
            out.append("| map | 1 thread | 2 threads | 4 threads |")
            out.append("|---|---:|---:|---:|")
            for name in names:
                label = f"**{name}**" if name == SUBJECT else name
                if name in NATIVE:
                    label += " (native u64 key)"
                cells = [fmt_summary(results.summary(workload, keytype, t, name)) for t in THREADS]
                out.append(f"| {label} | " + " | ".join(cells) + " |")
            for reference in ["dashmap", "papaya", "scc", "hashbrown"]:
                cells = [
                    fmt_ratio(results.ratio(workload, keytype, t, SUBJECT, reference))
                    for t in THREADS
                ]
                if any(c != "—" for c in cells) or reference in ("dashmap", "papaya"):
                    out.append(f"| *{SUBJECT} / {reference}* | " + " | ".join(cells) + " |")
            out.append("")
    return out


def targets_section(results):
    out = [
        "| target | key type | measured (median of same-round ratios, min–max) | status |",
        "|---|---|---|---|",
    ]
    met = missed = 0
    for workload, threads, reference, minimum in TARGETS:
        for keytype in KEYTYPES:
            ratio = results.ratio(workload, keytype, threads, SUBJECT, reference)
            if ratio is None:
                status = "no data"
            elif ratio[0] >= minimum:
                status = "**met**"
                met += 1
            else:
                status = "**missed**"
                missed += 1
            out.append(
                f"| {workload} at {threads} thread{'s' if threads > 1 else ''}: {SUBJECT} ≥ "
                f"{minimum:g}x {reference} | {keytype} | {fmt_ratio(ratio)} | {status} |"
            )
    out.append("")
    out.append(f"{met} met, {missed} missed (judged on the median ratio).")
    return out


def losses(results, memory):
    """One line per case where the subject is slower than a rival, then the memory ones."""
    found = []
    for workload in WORKLOADS:
        for keytype in KEYTYPES:
            for threads in THREADS:
                for rival in RIVALS:
                    ratio = results.ratio(workload, keytype, threads, SUBJECT, rival)
                    if ratio is None or ratio[0] >= 1.0:
                        continue
                    ours = results.summary(workload, keytype, threads, SUBJECT)
                    theirs = results.summary(workload, keytype, threads, rival)
                    # Three digits, so a ratio just below one does not read as "1.00x".
                    spread = "" if ratio[3] == 1 else f", rounds {ratio[1]:.3f}–{ratio[2]:.3f}"
                    found.append(
                        f"{workload}, {keytype}, {threads} thread{'s' if threads > 1 else ''}: "
                        f"{SUBJECT} {fmt_mops(ours[0])} vs {rival} {fmt_mops(theirs[0])} Mop/s, "
                        f"{ratio[0]:.3f}x{spread}"
                    )
    return found + memory_losses(memory)


def memory_losses(memory):
    """Every memory figure where the subject needs more bytes per entry than a rival."""
    found = []
    subject = memory.get(SUBJECT, {})
    for rival in RIVALS:
        theirs = memory.get(rival, {})
        for field, label in [("alloc_bytes_per_entry", "heap"), ("rss_bytes_per_entry", "RSS")]:
            try:
                a, b = float(subject[field]), float(theirs[field])
            except (KeyError, ValueError):
                continue
            if a > b:
                found.append(
                    f"Memory ({label}): {SUBJECT} {a:.0f} B/entry vs {rival} {b:.0f} B/entry "
                    f"({a / b:.2f}x)"
                )
    return found


def memory_section(memory):
    if not memory:
        return ["No memory figures (the memory benchmark did not run)."]
    out = [
        "| map | heap B/entry | RSS B/entry | allocations/entry | heap left after drop (B) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in sorted(memory, key=map_rank):
        fields = memory[name]
        label = f"**{name}**" if name == SUBJECT else name
        if "error" in fields:
            out.append(f"| {label} | failed: {fields['error']} | | | |")
            continue
        out.append(
            f"| {label} | {fields.get('alloc_bytes_per_entry', '—')} | "
            f"{fields.get('rss_bytes_per_entry', '—')} | {fields.get('allocs_per_entry', '—')} | "
            f"{fields.get('alloc_bytes_after_drop', '—')} |"
        )
    entries = next((f.get("entries") for f in memory.values() if "entries" in f), "?")
    out.append("")
    out.append(
        f"{entries} entries of 16-byte keys and 32-byte `Box<[u8]>` values, each map grown from "
        "empty in a fresh process. Heap bytes are what the program asked `malloc` for; RSS "
        "also counts malloc's headers and free space. The raw payload is 48 B/entry; our "
        "back-ends also keep a version, metadata and an access clock per entry (about 32 B), "
        "the anchors do not. For orientation only (BENCHMARKS.md, not re-measured here): "
        "redis ≈ 139 B/key allocated and 159 B/key RSS, memcached ≈ 107 B/item and 123 B/key "
        "RSS for the same sizes."
    )
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
    return text[start + len(HUMAN_BEGIN) : end].strip("\n")


def render_page(meta, results, memory, repo_root, human_block, svg_name):
    quick = meta.get("quick") == "1"
    date = meta.get("started_utc", "unknown")
    out = ["# Engine benchmarks: throughput and memory of the concurrent maps", ""]
    if quick:
        out += [
            "> **Quick mode** (`--quick`: one short round). This page checks that the pipeline "
            "works; its numbers are not results. Run `scripts/bench-engine.sh` without "
            "`--quick` for a page worth reading.",
            "",
        ]
    rounds = meta.get("rounds", str(len(results.rounds)))
    out += [
        f"- **Date:** {date} (finished {meta.get('finished_utc', '?')})",
        f"- **Command:** `{meta.get('command', 'scripts/bench-engine.sh')}`, which runs "
        f"{rounds} round(s) of `{meta.get('cargo_command', '?')}` (every benchmark once per "
        "round, in the same order, so rounds alternate over the whole set), then "
        f"`{meta.get('memory_command', 'cargo bench -p engine --bench memory')}`, then "
        "`scripts/render_engine.py`.",
        f"- **Commit:** {meta.get('git_commit', '?')}"
        + (" with uncommitted changes to the engine" if meta.get("git_dirty") == "yes" else ""),
        f"- **Machine:** {meta.get('nproc', '?')} CPUs (`nproc`), "
        f"{meta.get('cpu_model', '?')}, {meta.get('memory_total', '?')} RAM, "
        f"{meta.get('kernel', '?')}, {meta.get('libc', '?')}",
        f"- **Toolchain:** {meta.get('rustc', '?')}",
    ]
    profile = profile_lines(os.path.join(repo_root, "Cargo.toml"))
    out.append(
        "- **Build profile:** `cargo bench` uses the bench profile: "
        + (", ".join(f"`{line}`" for line in profile) if profile else "see Cargo.toml")
    )
    hashers = engine_hashers(os.path.join(repo_root, "engine", "src"))
    out += [
        "- **Allocator:** the system allocator (glibc malloc) for every map; the memory "
        "benchmark wraps it in a counting allocator.",
        "- **Hashers:** ours: "
        + ", ".join(f"{name} {hasher}" for name, hasher in hashers.items())
        + "; anchors (papaya, scc, hashbrown): `foldhash::fast::RandomState`, set by the benchmark.",
        f"- **Criterion:** {meta.get('warmup_s', '?')} s warm-up and "
        f"{meta.get('measure_s', '?')} s measurement per benchmark per round, 10 flat samples; "
        "per round we take criterion's median time per iteration.",
        f"- **Rounds:** {len(results.rounds)}, taking {meta.get('round_seconds', '?')} s"
        + (f"; maps skipped: {meta['skip']}" if meta.get("skip") else ""),
        "",
        "## What is measured",
        "",
        "The mixes of conc-map-bench (bustle): each thread owns a stream of distinct keys, "
        "inserts walk it, removals follow the oldest key, reads and updates pick positions over "
        "the whole stream (so some miss). One iteration is 2^18 operations split over the "
        f"threads; steady-state tables have 2^{meta.get('capacity_log2', '20')} slots and "
        "persist across iterations; every map stores `u64` values. Our back-ends are called "
        "through the `Engine` trait with `&[u8]` keys (a u64 key is its 8 bytes); the anchors "
        "store `Box<[u8]>` keys so they do the same work, and `hashbrown` runs on one thread "
        "with no lock (the one-core limit). 4 threads oversubscribe the 2 cores. Details and "
        "the deliberate differences from bustle: `engine/benches/engine.rs`.",
        "",
        f"![median Mop/s at 2 threads]({svg_name})",
        "",
        "## Targets",
        "",
    ]
    out += targets_section(results)
    out += ["", "## Throughput", ""]
    out += throughput_section(results)
    out += ["## Memory per entry", ""]
    out += memory_section(memory)
    out += ["", "## Where we lose", ""]
    found = losses(results, memory)
    if not results.by_key or not any(k[3] == SUBJECT for k in results.by_key):
        out.append(f"No figures for {SUBJECT} in this run, so nothing to compare.")
    elif found:
        out.append(
            f"Every case where {SUBJECT} is below {' or '.join(RIVALS)} "
            "(generated; median of same-round ratios):"
        )
        out.append("")
        out += [f"- {line}" for line in found]
    else:
        out.append(f"{SUBJECT} is at or above {' and '.join(RIVALS)} in every case measured.")
    out += ["", "### Why", "", HUMAN_BEGIN, human_block or HUMAN_PLACEHOLDER, HUMAN_END, ""]
    return "\n".join(out)


# ------------------------------------------------------------------------------------------
# The plot
# ------------------------------------------------------------------------------------------


def nice_step(maximum, ticks=5):
    raw = maximum / ticks
    magnitude = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 0.1
    for factor in (1, 2, 2.5, 5, 10):
        if magnitude * factor >= raw:
            return magnitude * factor
    return magnitude * 10


def render_svg(results, threads=2):
    width, panel_height, top, left, right, bottom = 960, 300, 60, 60, 20, 40
    keytypes = [k for k in KEYTYPES if any(key[1] == k for key in results.by_key)]
    names = [
        m
        for m in results.maps
        if any(results.summary(w, k, threads, m) for w in WORKLOADS for k in KEYTYPES)
    ]
    height = top + len(keytypes) * (panel_height + bottom) + 10
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="15">'
        f"Median Mop/s at {threads} threads (whiskers: min–max over rounds)</text>",
    ]
    # Legend.
    x = left
    for name in names:
        svg.append(f'<rect x="{x}" y="32" width="12" height="12" fill="{COLORS.get(name, "#000")}"/>')
        svg.append(f'<text x="{x + 16}" y="42">{html.escape(name)}</text>')
        x += 28 + 8 * len(name)
    for index, keytype in enumerate(keytypes):
        y0 = top + index * (panel_height + bottom)
        plot_height = panel_height - 30
        # Only the maps measured with this key type take a slot (native variants are u64-only).
        present = [m for m in names if any(results.summary(w, keytype, threads, m) for w in WORKLOADS)]
        values = [
            results.summary(w, keytype, threads, m) for w in WORKLOADS for m in present
        ]
        maximum = max([v[2] for v in values if v] + [1e-9])
        step = nice_step(maximum)
        top_value = step * (int(maximum / step) + 1)
        scale = plot_height / top_value
        base = y0 + 20 + plot_height
        svg.append(
            f'<text x="{left}" y="{y0 + 12}" font-weight="bold">{html.escape(KEYTYPES[keytype])}</text>'
        )
        tick = 0.0
        while tick <= top_value + 1e-9:
            y = base - tick * scale
            svg.append(
                f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
            )
            svg.append(
                f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>'
            )
            tick += step
        group_width = (width - left - right) / len(WORKLOADS)
        bar_width = min(28, (group_width - 20) / max(1, len(present)))
        for g, workload in enumerate(WORKLOADS):
            gx = left + g * group_width + (group_width - bar_width * len(present)) / 2
            for b, name in enumerate(present):
                summary = results.summary(workload, keytype, threads, name)
                if not summary:
                    continue
                median, low, high, _ = summary
                bx = gx + b * bar_width
                svg.append(
                    f'<rect x="{bx:.1f}" y="{base - median * scale:.1f}" width="{bar_width - 2:.1f}" '
                    f'height="{median * scale:.1f}" fill="{COLORS.get(name, "#000")}">'
                    f"<title>{html.escape(name)} {workload} {keytype}: {fmt_mops(median)} Mop/s"
                    f"</title></rect>"
                )
                cx = bx + (bar_width - 2) / 2
                svg.append(
                    f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{base - high * scale:.1f}" '
                    f'y2="{base - low * scale:.1f}" stroke="black"/>'
                )
            svg.append(
                f'<text x="{left + (g + 0.5) * group_width:.1f}" y="{base + 16}" '
                f'text-anchor="middle">{workload}</text>'
            )
        svg.append(
            f'<line x1="{left}" x2="{width - right}" y1="{base}" y2="{base}" stroke="black"/>'
        )
        svg.append(
            f'<text x="14" y="{y0 + 20 + plot_height / 2}" transform="rotate(-90 14 '
            f'{y0 + 20 + plot_height / 2})" text-anchor="middle">Mop/s</text>'
        )
    svg.append("</svg>")
    return "\n".join(svg) + "\n"


# ------------------------------------------------------------------------------------------


# ------------------------------------------------------------------------------------------
# The bustle harness (scripts/bench-engine.sh --bustle): bench-results/engine-bustle.md
# ------------------------------------------------------------------------------------------

BUSTLE_WORKLOADS = {
    "ReadHeavy": "98% read, 1% insert, 1% remove; prefilled to 75% of 2^23",
    "ReadOnly": "100% read; prefilled to 75% (reads pick keys over the whole key array, so "
    "some miss, as in every bustle mix)",
    "Exchange": "10% read, 40% insert, 40% remove, 10% update; prefilled to 75%",
    "RapidGrow": "5% read, 80% insert, 5% remove, 10% update; no prefill",
}
BUSTLE_MAPS = [
    "lockfree",
    "lockfree-system",
    "engine-dashmap",
    "dashmap",
    "papaya",
    "scc",
    "hashbrown",
    "hashbrown-rwlock",
]
# (workload, threads, reference, minimum ratio of lockfree to it): issue 16's targets.
BUSTLE_TARGETS = [
    ("Exchange", 2, "scc", 1.0),
    ("RapidGrow", 2, "scc", 1.0),
    ("ReadHeavy", 2, "papaya", 1.0),
    ("ReadOnly", 2, "papaya", 1.0),
    ("ReadHeavy", 1, "hashbrown", 0.8),
]
BUSTLE_RATIO_REFERENCES = ["dashmap", "papaya", "scc", "hashbrown", "engine-dashmap"]
# Further ratio rows (map, reference): the table with its nodes from the system allocator
# against the write-heavy leader, and what the node allocator is worth to the table.
BUSTLE_EXTRA_RATIOS = [("lockfree-system", "scc"), ("lockfree", "lockfree-system")]
# Issue 16's memory target: lockfree at most 1.5x dashmap per entry for 1M small entries. It
# is judged in the issue's own setting (u64 entries, lockfree through the trait, dashmap
# itself); the rows after it are the other readings, shown and not counted.
MEMORY_TARGET_RATIO = 1.5
# (shape, reference, the reading's words with {ratio} for the target ratio, counted).
MEMORY_READINGS = [
    ("u64", "dashmap-native", "1M `u64` entries (the issue's setting): lockfree through the "
     "trait ≤ {ratio}x dashmap itself", True),
    ("bytes", "dashmap-native", "1M entries of 16-byte keys and 32-byte values: lockfree through "
     "the trait ≤ {ratio}x dashmap itself", False),
    ("bytes", "dashmap", "the same entries, both through the trait", False),
]


def load_bustle(work):
    """Returns one dict per measured case per round from bustle.txt."""
    rows = []
    path = os.path.join(work, "bustle.txt")
    if not os.path.exists(path):
        return rows
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))
            if "mops" not in fields:
                continue
            rows.append(
                {
                    "round": int(fields["round"]),
                    "workload": fields["workload"],
                    "keytype": "u64",
                    "threads": int(fields["threads"]),
                    "map": fields["map"],
                    "seconds": float(fields["seconds"]),
                    "mops": float(fields["mops"]),
                }
            )
    return rows


def bustle_failures(work):
    path = os.path.join(work, "bustle.txt")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if "error=" in line]


MEMORY_SHAPES = [
    ("u64", "`u64` keys and values (conc-map-bench's entries; ours take the key's 8 bytes)"),
    ("bytes", "16-byte keys and 32-byte `Box<[u8]>` values (anchors: `Box<[u8]>` keys)"),
]


def render_bustle_page(meta, results, memory, failures, human_block):
    """`memory` is {shape: {map: fields}}."""
    maps = [m for m in BUSTLE_MAPS if m in results.maps] + [
        m for m in results.maps if m not in BUSTLE_MAPS
    ]
    threads_all = sorted({k[2] for k in results.by_key})
    out = []
    out.append("# Engine benchmarks: conc-map-bench's harness (bustle 0.5.1)\n")
    out.append(
        f"- **Date:** {meta.get('started_utc', '?')} (finished {meta.get('finished_utc', '?')})"
    )
    out.append(
        f"- **Command:** `{meta.get('command', 'scripts/bench-engine.sh --bustle')}`: "
        f"{meta.get('rounds', '?')} round(s); a round runs every case once "
        "(`BUSTLE_MAP=... BUSTLE_WORKLOAD=... BUSTLE_THREADS=... cargo bench -p engine --bench "
        "bustle`, one process per case), workload by workload with the maps in a fixed order, "
        "so the maps of one case alternate within minutes; then `cargo bench -p engine --bench "
        "memory`; then `scripts/render_engine.py --bustle`."
    )
    dirty = " with uncommitted changes to the engine" if meta.get("git_dirty") == "yes" else ""
    out.append(f"- **Commit:** {meta.get('git_commit', '?')}{dirty}")
    note = meta.get("machine_note", "").strip()
    if note:
        note = note.rstrip(".") + ". "
    out.append(
        f"- **Machine:** {meta.get('nproc', '?')} CPUs (`nproc`), {meta.get('cpu_model', '?')}, "
        f"{meta.get('memory_total', '?')} RAM, {meta.get('kernel', '?')}, transparent huge "
        f"pages `{meta.get('thp', '?')}`. {note}Load average at the end: "
        f"{meta.get('loadavg_end', '?')}; absolute figures are noisy on these VMs, same-round "
        "ratios less so."
    )
    out.append(f"- **Toolchain:** {meta.get('rustc', '?')}; bench profile (fat LTO, one codegen unit)")
    out.append(
        "- **Allocator:** the system allocator (glibc malloc) for every map, except the nodes of "
        "`lockfree`, which come from mimalloc, the table's default node allocator "
        "(`engine::lockfree::NodeAllocator`; the server links mimalloc as its global allocator "
        "anyway); `lockfree-system` is the same table with its nodes from the system allocator. "
        "**Hasher:** `foldhash::fast::RandomState` for every map."
    )
    out.append(
        f"- **Workload size:** every map `with_capacity(2^{meta.get('capacity_log2', '23')})`, "
        f"{meta.get('operations', '1')} x 2^{meta.get('capacity_log2', '23')} operations per "
        "run (conc-map-bench: 2^25 and 1x); rounds took "
        f"{meta.get('round_seconds', '?')} s."
    )
    out.append("")
    out.append("## What is measured\n")
    out.append(
        "The real `bustle` crate runs conc-map-bench's mixes (`engine/benches/bustle.rs` has the "
        "details): random distinct `u64` keys, inserts walk each thread's key array, removals "
        "follow the oldest key, reads and updates pick keys across the whole array with an LCG "
        "(so some miss); bustle asserts every answer. **Ours** (`lockfree`, `lockfree-system`, "
        "`engine-dashmap`) "
        "are called through the `Engine` trait as the server calls them: the key is the `u64`'s "
        "8 bytes as `&[u8]`, the value a `u64`, and every write draws a version from the "
        "engine's one clock and stores the entry's metadata and access clock. **Anchors** "
        "(`dashmap`, `papaya`, `scc`, `hashbrown`, `hashbrown-rwlock`) run as conc-map-bench "
        "runs them: native `u64` keys and values. `hashbrown` has no lock and runs at one "
        "thread only (the one-core limit); `hashbrown-rwlock` sits behind a std `RwLock`. "
        "`engine-dashmap` is our trait adapter over the same dashmap, so `engine-dashmap` / "
        "`dashmap` is what the trait's entry shape costs."
    )
    out.append("")
    # Targets.
    out.append("## Targets (issue 16)\n")
    out.append("| target | measured: median of same-round ratios (min–max) | status |")
    out.append("|---|---|---|")
    met = missed = 0
    for workload, threads, reference, minimum in BUSTLE_TARGETS:
        ratio = results.ratio(workload, "u64", threads, SUBJECT, reference)
        if ratio is None:
            status = "not measured"
        elif ratio[0] >= minimum:
            status = "**met**"
            met += 1
        else:
            status = "**missed**"
            missed += 1
        out.append(
            f"| {workload} at {threads} thread{'s' if threads > 1 else ''}: lockfree ≥ "
            f"{minimum:g}x {reference} | {fmt_ratio(ratio)} | {status} |"
        )
    for shape, reference, label, counted in MEMORY_READINGS:
        figures = memory.get(shape, {})
        subject_memory = figures.get(SUBJECT, {}).get("alloc_bytes_per_entry")
        reference_memory = figures.get(reference, {}).get("alloc_bytes_per_entry")
        if not (subject_memory and reference_memory):
            continue
        ratio = float(subject_memory) / float(reference_memory)
        ok = ratio <= MEMORY_TARGET_RATIO
        word = "met" if ok else "missed"
        if counted:
            met, missed = (met + 1, missed) if ok else (met, missed + 1)
            status = f"**{word}**"
        else:
            status = word
            label += " (not counted)"
        label = label.format(ratio=f"{MEMORY_TARGET_RATIO:g}")
        out.append(
            f"| memory per entry, {label} | {ratio:.2f}x ({float(subject_memory):.0f} "
            f"vs {float(reference_memory):.0f} B allocated) | {status} |"
        )
    out.append(f"\n{met} met, {missed} missed (judged on the median ratio).\n")
    # Throughput tables.
    out.append("## Throughput\n")
    for workload, description in BUSTLE_WORKLOADS.items():
        if not any(k[0] == workload for k in results.by_key):
            continue
        out.append(f"### {workload}\n")
        out.append(f"{description}. Median Mop/s over rounds (min–max).\n")
        out.append("| map | " + " | ".join(f"{t} thread{'s' if t > 1 else ''}" for t in threads_all) + " |")
        out.append("|---|" + "---:|" * len(threads_all))
        for name in maps:
            cells = [fmt_summary(results.summary(workload, "u64", t, name)) for t in threads_all]
            label = f"**{name}**" if name == SUBJECT else name
            out.append(f"| {label} | " + " | ".join(cells) + " |")
        pairs = [(SUBJECT, reference) for reference in BUSTLE_RATIO_REFERENCES]
        for name, reference in pairs + list(BUSTLE_EXTRA_RATIOS):
            if name not in maps or reference not in maps:
                continue
            cells = [
                fmt_ratio(results.ratio(workload, "u64", t, name, reference)) for t in threads_all
            ]
            if all(c == "—" for c in cells):
                continue
            out.append(f"| *{name} / {reference}* | " + " | ".join(cells) + " |")
        out.append("")
    if failures:
        out.append("### Failed cases\n")
        for line in failures:
            out.append(f"- `{line}`")
        out.append("")
    # Memory.
    if any(memory.values()):
        out.append("## Memory per entry\n")
        out.append(
            "`cargo bench -p engine --bench memory`: 1M entries, each map grown from empty in a "
            "fresh process; ours through the trait (version, metadata, access clock per entry; "
            "`dashmap` is our adapter over dashmap), the anchors as they are (`dashmap-native` "
            "is dashmap itself). Bytes allocated per entry (what the map asked malloc for), RSS "
            "growth per entry, allocations per entry. `lockfree` and `keyspace-lockfree` are "
            "measured with their nodes from the global allocator, so that the benchmark's "
            "counting allocator sees them (the bytes asked for are the same as from mimalloc).\n"
        )
        for shape, title in MEMORY_SHAPES:
            if not memory.get(shape):
                continue
            out.append(f"### {title}\n")
            out.append("| map | allocated B/entry | RSS B/entry | allocations/entry |")
            out.append("|---|---:|---:|---:|")
            for name, fields in memory[shape].items():
                if "error" in fields:
                    out.append(f"| {name} | error: {fields['error']} | | |")
                    continue
                out.append(
                    f"| {name} | {float(fields['alloc_bytes_per_entry']):.1f} | "
                    f"{float(fields['rss_bytes_per_entry']):.1f} | "
                    f"{float(fields['allocs_per_entry']):.2f} |"
                )
            out.append("")
    out.append("## Where we lose\n")
    out.append(HUMAN_BEGIN)
    out.append(human_block if human_block is not None else HUMAN_PLACEHOLDER)
    out.append(HUMAN_END)
    out.append("")
    return "\n".join(out)


def render_bustle(work, out_dir):
    meta = load_meta(work)
    rows = load_bustle(work)
    if not rows:
        sys.exit(f"render_engine: no bustle results in {work}/bustle.txt")
    results = Results(rows)
    memory = {shape: load_memory(work, shape) for shape, _ in MEMORY_SHAPES}
    os.makedirs(out_dir, exist_ok=True)
    csv_path = os.path.join(out_dir, "engine-bustle-data.csv")
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
    page_path = os.path.join(out_dir, "engine-bustle.md")
    page = render_bustle_page(
        meta, results, memory, bustle_failures(work), existing_human_block(page_path)
    )
    with open(page_path, "w", encoding="utf-8") as f:
        f.write(page)
    print(f"render_engine: wrote {page_path} and {csv_path} ({len(rows)} measurements)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default="target/engine-bench", help="the script's raw data")
    parser.add_argument("--out", default="bench-results", help="where the page goes")
    parser.add_argument(
        "--bustle",
        action="store_true",
        help="render engine-bustle.md from scripts/bench-engine.sh --bustle's data instead",
    )
    args = parser.parse_args()
    if args.bustle:
        render_bustle(args.work, args.out)
        return

    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    meta = load_meta(args.work)
    rows = load_rounds(args.work)
    if not rows:
        sys.exit(f"render_engine: no criterion results under {args.work}/round*/")
    results = Results(rows)
    memory = load_memory(args.work)

    os.makedirs(args.out, exist_ok=True)
    csv_path = os.path.join(args.out, "engine-data.csv")
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "mops": f"{row['mops']:.4f}"})

    svg_name = "engine-throughput.svg"
    with open(os.path.join(args.out, svg_name), "w", encoding="utf-8") as f:
        f.write(render_svg(results))

    page_path = os.path.join(args.out, "engine.md")
    page = render_page(meta, results, memory, repo_root, existing_human_block(page_path), svg_name)
    with open(page_path, "w", encoding="utf-8") as f:
        f.write(page)
    print(f"render_engine: wrote {page_path}, {csv_path} and {svg_name} ({len(rows)} measurements)")


if __name__ == "__main__":
    main()
