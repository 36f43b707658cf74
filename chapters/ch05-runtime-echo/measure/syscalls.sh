#!/usr/bin/env bash
# System calls per echoed message, counted in the kernel by `perf stat` on
# the syscall tracepoints (it does not stop the process, as strace does):
# chapter 5, chapter 3 (epoll-edge) and the minimal epoll server, under the
# same fixed workloads: 1 connection and then 100, each sending 5,000
# messages of 64 B one at a time (echo-bench --messages). Run from the
# workspace root (needs perf, and root or kernel.perf_event_paranoid <= 1):
#
#     bash chapters/ch05-runtime-echo/measure/syscalls.sh
set -euo pipefail
echo "\$ bash chapters/ch05-runtime-echo/measure/syscalls.sh"
cargo build -q --release -p ch05-runtime-echo -p ch03-multiplexed-echo -p echo-bench --bins
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
calls="epoll_wait epoll_pwait epoll_ctl recvfrom sendto read write futex"
events=$(for call in $calls; do printf 'syscalls:sys_enter_%s,' "$call"; done)
events=${events%,}

start_server() {
  "$@" --listen 127.0.0.1:0 > "$out/stdout" 2> "$out/stderr" &
  server=$!
  for _ in $(seq 300); do
    addr=$(sed -n 's/^listening on //p' "$out/stdout")
    [ -n "$addr" ] && return 0
    kill -0 $server 2> /dev/null || { cat "$out/stderr" >&2; exit 1; }
    sleep 0.01
  done
  echo "no 'listening on' line within 3 s" >&2
  exit 1
}

printf '| server | connections | system calls per message | of which |\n|---|---:|---:|---|\n'
for name in ch05-runtime ch03-epoll-edge minimal-epoll; do
  case $name in
    ch05-runtime) command="target/release/ch05-runtime-echo --quiet" ;;
    ch03-epoll-edge) command="target/release/ch03-multiplexed-echo --quiet --backend epoll-edge" ;;
    minimal-epoll) command="target/release/minimal-epoll-echo" ;;
  esac
  for connections in 1 100; do
    # perf starts the server itself, so that it counts from the first call
    # (start-up and accepts included: a few hundred calls in all).
    start_server perf stat -x, -o "$out/perf" -e "$events" -- $command
    target/release/echo-bench --connect "$addr" --connections $connections \
      --messages 5000 --json > "$out/bench.json"
    # Stop the server (perf's child); perf then writes its counts.
    pkill -TERM -P $server
    wait $server
    python3 - "$out/perf" "$out/bench.json" "$name" "$connections" <<'PY'
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
