"""Summarizes targets.sh's runs as the Markdown table the book shows.

Usage: summarize.py DIR NAME...  (DIR holds NAME-ROUND.perf, the perf stat
CSV of the 100-connection run; NAME-ROUND-c100.json and NAME-ROUND-c1000.json,
echo-bench's reports.)"""

import csv
import datetime
import glob
import json
import os
import statistics
import sys


def perf_counts(path):
    counts = {}
    with open(path) as f:
        for row in csv.reader(line for line in f if line.strip() and not line.startswith("#")):
            if len(row) > 2 and row[0].strip().isdigit():
                counts[row[2]] = int(row[0])
    return counts


def cell(values, fmt):
    if not values:
        return "—"
    mid = statistics.median(values)
    lo, hi = min(values), max(values)
    return fmt(mid) if lo == hi else f"{fmt(mid)} ({fmt(lo)}–{fmt(hi)})"


def main():
    out, names = sys.argv[1], sys.argv[2:]
    rows = []
    for name in names:
        syscalls, enters, waits, cpu, rate100, rate1000 = [], [], [], [], [], []
        for path in sorted(glob.glob(f"{out}/{name}-*-c100.json")):
            round_ = path[len(f"{out}/{name}-"):-len("-c100.json")]
            try:
                report = json.load(open(path))
            except ValueError:
                continue  # the generator failed before reporting
            if report["errors"]:
                continue
            messages = report["messages"]
            counts = perf_counts(f"{out}/{name}-{round_}.perf")
            syscalls.append(counts.get("raw_syscalls:sys_enter", 0) / messages)
            enters.append(counts.get("syscalls:sys_enter_io_uring_enter", 0) / messages)
            waits.append((counts.get("syscalls:sys_enter_epoll_wait", 0)
                          + counts.get("syscalls:sys_enter_epoll_pwait", 0)) / messages)
            cpu.append(report["server"]["cpu_us_per_msg"])
            rate100.append(report["msgs_per_sec"])
        for path in sorted(glob.glob(f"{out}/{name}-*-c1000.json")):
            try:
                report = json.load(open(path))
            except ValueError:
                continue
            if not report["errors"]:
                rate1000.append(report["msgs_per_sec"])
        rows.append((name, syscalls, enters, waits, cpu, rate100, rate1000))

    two = lambda v: f"{v:.2f}"
    one = lambda v: f"{v:.1f}"
    thousands = lambda v: f"{v:,.0f}"
    print("| server | system calls per message | of which `io_uring_enter` | of which `epoll_wait` | "
          "server CPU per message, 100 conn. | msgs/s, 100 conn. | msgs/s, 1,000 conn. |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, syscalls, enters, waits, cpu, rate100, rate1000 in rows:
        print(f"| `{name}` | {cell(syscalls, two)} | {cell(enters, two)} | {cell(waits, two)} | "
              f"{cell(cpu, one)} µs | {cell(rate100, thousands)} | {cell(rate1000, thousands)} |")
    runs = max((len(r[1]) for r in rows), default=0)
    others = []
    for path in glob.glob(f"{out}/*.json"):
        try:
            value = json.load(open(path)).get("others_cpu_percent")
        except ValueError:
            continue
        if value is not None:
            others.append(value)
    kernel = open("/proc/sys/kernel/osrelease").read().strip()
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                  if line.startswith("model name")), "unknown CPU")
    print(f"\n{runs} run(s) per cell: median (lowest–highest). Measured on "
          f"{datetime.date.today()} on a {os.cpu_count()}-core {model}, Linux {kernel}; "
          f"server pinned to CPU 0, generator to CPU 1.", end="")
    if others:
        print(f" Other processes on the machine used a median of {statistics.median(others):.0f}% "
              f"of a core during the measured windows (at most {max(others):.0f}%).")
    else:
        print()


main()
