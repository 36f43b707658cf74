#!/usr/bin/env python3
"""Turns runtimes.sh's JSON results into a Markdown table: the median of the
runs, with the range (min to max) in brackets."""

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


print("| server | connections | msgs/s | p50 latency | p99 latency "
      "| server CPU per msg | server context switches per msg | runs |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
ORDER = {"threads-1": 0, "threads-2": 1, "asyncio": 2}
for (name, connections), results in sorted(
        runs.items(), key=lambda item: (item[0][1], ORDER.get(item[0][0], 9))):
    print(" | ".join([
        f"| `{name}`", str(connections),
        cell([r["msgs_per_sec"] for r in results], lambda v: f"{v:,.0f}"),
        cell([r["latency_us"]["p50"] for r in results], lambda v: f"{v:,.0f} µs"),
        cell([r["latency_us"]["p99"] for r in results], lambda v: f"{v:,.0f} µs"),
        cell([r["server"]["cpu_us_per_msg"] for r in results], lambda v: f"{v:.1f} µs"),
        cell([r["server"]["context_switches_per_msg"] for r in results],
             lambda v: f"{v:.2f}"),
        f"{len(results)} |",
    ]))
