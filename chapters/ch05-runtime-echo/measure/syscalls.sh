#!/usr/bin/env bash
# System calls per echoed message, counted in the kernel by `perf stat` on
# the syscall tracepoints (at full speed: perf does not stop the process as
# strace does), for chapter 5, chapter 3 (epoll-edge) and the minimal epoll
# server, under the same fixed workloads: 1 connection, then 100, each
# sending 5,000 messages of 64 B one at a time (`echo-bench --messages`).
# Needs perf, and root or a lower kernel.perf_event_paranoid.
#
#   chapters/ch05-runtime-echo/measure/syscalls.sh
source "$(dirname "$0")/../../common/measure.sh"
needs perf=linux-perf
cargo build -q --release -p ch05-runtime-echo -p ch03-multiplexed-echo -p echo-bench --bins
messages=$(smoke 100 5000)
calls="epoll_wait epoll_pwait epoll_ctl recvfrom sendto read write futex"
events=$(for call in $calls; do printf 'syscalls:sys_enter_%s,' "$call"; done)
declare -A servers=(
    [ch05-runtime]="target/release/ch05-runtime-echo --quiet"
    [ch03-epoll-edge]="target/release/ch03-multiplexed-echo --quiet --backend epoll-edge"
    [minimal-epoll]="target/release/minimal-epoll-echo"
)
printf '| server | connections | system calls per message | of which |\n'
printf '|---|---:|---:|---|\n'
for name in ch05-runtime ch03-epoll-edge minimal-epoll; do
    for connections in 1 100; do
        # shellcheck disable=SC2086 # the server's command line, split
        start_server ${servers[$name]}
        perf stat -x, -o "$work/perf" -e "${events%,}" -p "$server_pid" &
        perf=$!
        wait_until "perf to attach" perf_is_counting "$perf"
        target/release/echo-bench --connect "$server_addr" --connections "$connections" \
            --messages "$messages" --json >"$work/bench.json"
        stop_server "$server_pid"
        wait "$perf" || true
        python3 - "$work/perf" "$work/bench.json" "$name" "$connections" <<'PY'
import json, sys
perf, bench, name, connections = sys.argv[1:]
messages = json.load(open(bench))["messages"]
counts = {}
for line in open(perf):
    fields = line.strip().split(",")
    if len(fields) > 2 and fields[2].startswith("syscalls:sys_enter_"):
        counts[fields[2].removeprefix("syscalls:sys_enter_")] = int(fields[0] or 0)
total = sum(counts.values())
parts = ", ".join(f"`{call}` {n / messages:.2f}"
                  for call, n in sorted(counts.items(), key=lambda kv: -kv[1])
                  if n / messages >= 0.005)
print(f"| `{name}` | {connections} | {total / messages:.2f} | {parts} |")
PY
    done
done
