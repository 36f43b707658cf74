#!/usr/bin/env python3
"""Turns runtimes.sh's JSON results into a Markdown table: the median of the
runs, with the range (min to max) in brackets, and the medians of msgs/s and
CPU per message as ratios to the minimal epoll server's at the same number
of connections (measured in the same run, they carry over to another
machine where the absolute figures do not)."""

import json
import pathlib
import statistics
import sys
from collections import defaultdict

runs = defaultdict(list)
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    name, connections, _run = path.stem.rsplit("-", 2)
    runs[(name, int(connections))].append(json.loads(path.read_text()))


def cell(values, fmt):
    values = sorted(values)
    return f"{fmt(statistics.median(values))} ({fmt(values[0])}–{fmt(values[-1])})"


def median(results, field):
    return statistics.median(field(r) for r in results)


def ratio(ours, reference):
    """Ours as a multiple of the reference's, or a dash if there is none."""
    return f"{ours / reference:.2f}×" if reference else "–"


def msgs_per_sec(r):
    return r["msgs_per_sec"]


def cpu_per_msg(r):
    return r["server"]["cpu_us_per_msg"]


REFERENCE = "minimal-epoll"
print("| server | connections | msgs/s | × minimal-epoll | p50 latency | p99 latency "
      "| server CPU per msg | × minimal-epoll | server context switches per msg | runs |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
ORDER = {REFERENCE: 0, "threads-1": 1, "threads-2": 2, "asyncio": 3}
for (name, connections), results in sorted(
        runs.items(), key=lambda item: (item[0][1], ORDER.get(item[0][0], 9))):
    reference = runs.get((REFERENCE, connections), [])
    print(" | ".join([
        f"| `{name}`", str(connections),
        cell([msgs_per_sec(r) for r in results], lambda v: f"{v:,.0f}"),
        ratio(median(results, msgs_per_sec), reference and median(reference, msgs_per_sec)),
        cell([r["latency_us"]["p50"] for r in results], lambda v: f"{v:,.0f} µs"),
        cell([r["latency_us"]["p99"] for r in results], lambda v: f"{v:,.0f} µs"),
        cell([cpu_per_msg(r) for r in results], lambda v: f"{v:.1f} µs"),
        ratio(median(results, cpu_per_msg), reference and median(reference, cpu_per_msg)),
        cell([r["server"]["context_switches_per_msg"] for r in results],
             lambda v: f"{v:.2f}"),
        f"{len(results)} |",
    ]))
