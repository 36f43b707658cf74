#!/usr/bin/env bash
# The mechanism behind chapter 6's first target: one connection, one
# 64-byte message at a time, so that every message is a wakeup of its own.
# Counts each server's system calls (all of them, and io_uring_enter alone)
# with `perf stat` while echo-bench sends MESSAGES messages.
#
#   chapters/ch06-uring-echo/measure/one-connection.sh
source "$(dirname "$0")/../../common/measure.sh"
needs perf=linux-perf
MESSAGES=${MESSAGES:-$(smoke 100 5000)}

cargo build -q --release -p ch03-multiplexed-echo -p ch06-uring-echo -p echo-bench
for server in ch03-multiplexed-echo ch06-uring-echo; do
    start_server "target/release/$server" --quiet
    perf stat -x, -o "$work/$server.perf" -p "$server_pid" \
        -e raw_syscalls:sys_enter -e syscalls:sys_enter_io_uring_enter -- \
        target/release/echo-bench --connect "$server_addr" --connections 1 \
        --messages "$MESSAGES" --json >/dev/null
    stop_server "$server_pid"
    # perf's CSV: count,unit,event,...; one line per event.
    echo "$server: $(grep -v '^#' "$work/$server.perf" | grep . | cut -d, -f1,3 | tr '\n' ' ')"
done
