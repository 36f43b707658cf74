#!/usr/bin/env bash
# Chapter 6's targets, measured beside chapter 3 and the minimal epoll
# server in one run: system calls per message, server CPU per message and
# messages per second. Every server runs pinned to CPU 0 (taskset; with
# --sqpoll its polling thread is pinned there too) and the generator to
# CPU 1, with a fresh server per measurement and ROUNDS rounds (servers
# interleaved, so a disturbance on the machine spreads over all of them):
#
#   - 100 connections x 64 B, 2,000 messages each (closed loop), under
#     `perf stat` counting the server's system calls in the kernel
#     (raw_syscalls:sys_enter, every thread of the process); server CPU
#     per message from /proc/PID/stat (every thread, SQPOLL's included);
#   - 1,000 connections x 64 B for DURATION seconds: messages per second.
#
# Prints the table the book shows (medians, min-max in brackets).
# ROUNDS, DURATION and MESSAGES override the workload.
#
#   chapters/ch06-uring-echo/measure/targets.sh
source "$(dirname "$0")/../../common/measure.sh"
needs perf=linux-perf taskset=util-linux
ROUNDS=${ROUNDS:-$(smoke 1 3)}
DURATION=${DURATION:-$(smoke 0.5 3)}
MESSAGES=${MESSAGES:-$(smoke 100 2000)}

cargo build -q --release -p ch03-multiplexed-echo -p ch06-uring-echo -p echo-bench
out=$work
names=(ch03-epoll-edge minimal-epoll ch06-single ch06-multishot ch06-fixed-files ch06-sqpoll)
declare -A servers=(
    [ch03-epoll-edge]="target/release/ch03-multiplexed-echo"
    [minimal-epoll]="target/release/minimal-epoll-echo"
    [ch06-single]="target/release/ch06-uring-echo --step single"
    [ch06-multishot]="target/release/ch06-uring-echo"
    [ch06-fixed-files]="target/release/ch06-uring-echo --fixed-files"
    [ch06-sqpoll]="target/release/ch06-uring-echo --sqpoll"
)

# Starts server $1 pinned to CPU 0; sets $server and $addr.
start() {
    # shellcheck disable=SC2086 # the server's command line, split
    start_server taskset -c 0 ${servers[$1]} --quiet --max-connections 20000
    server=$server_pid
    addr=$server_addr
}

stop() {
    stop_server "$server"
}

bench() {
    taskset -c 1 target/release/echo-bench --connect "$addr" --size 64 --server-pid "$server" --json "$@"
}

for round in $(seq "$ROUNDS"); do
  for name in "${names[@]}"; do
    echo "[round $round/$ROUNDS] $name" >&2
    start "$name"
    perf stat -x, -o "$out/$name-$round.perf" -p "$server" \
      -e raw_syscalls:sys_enter -e syscalls:sys_enter_io_uring_enter \
      -e syscalls:sys_enter_epoll_wait -e syscalls:sys_enter_epoll_pwait \
      -- bash -c "$(declare -f bench); addr=$addr server=$server; \
                  bench --connections 100 --messages $MESSAGES" \
      > "$out/$name-$round-c100.json" || true # a failed run is left out of the table
    stop
    start "$name"
    bench --connections 1000 --duration "$DURATION" --warmup 1 > "$out/$name-$round-c1000.json" || true
    stop
  done
done
python3 chapters/ch06-uring-echo/measure/summarize.py "$out" "${names[@]}"
