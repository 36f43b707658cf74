#!/usr/bin/env bash
# System calls per echoed message, counted in the kernel by `perf stat`
# (it does not stop the process as strace does), for both runtime flavours.
# Workload: chapter 3's `ch03-cost --connect` (10 idle connections, then
# 1,000 round trips of 64 bytes on an eleventh), so the figures compare with
# chapter 3's table. Needs root, or a lower kernel.perf_event_paranoid.
#
#   chapters/ch04-async-echo/measure/syscalls.sh
source "$(dirname "$0")/../../common/measure.sh"
needs perf=linux-perf
cargo build -q --release -p ch04-async-echo -p ch03-multiplexed-echo --bins --examples
workload_flags=()
if [ "${MEASURE_SMOKE:-0}" = 1 ]; then workload_flags=(--idle-connections 2 --round-trips 20); fi

count=syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_recvfrom
count=$count,syscalls:sys_enter_sendto,syscalls:sys_enter_futex,syscalls:sys_enter_write
for threads in 1 2; do
    start_server target/release/ch04-async-echo --quiet --threads "$threads"
    perf stat -o "$work/perf-threads-$threads.txt" -p "$server_pid" -e "$count" \
        -e syscalls:sys_exit_recvfrom --filter 'ret == -11' &
    tracer=$!
    wait_until "perf to attach" perf_is_counting "$tracer"
    target/release/examples/ch03-cost --connect "$server_addr" "${workload_flags[@]}"
    # The server exits when it has shut down; perf with it.
    stop_server "$server_pid"
    wait "$tracer" || true
    echo "--threads $threads:"
    grep syscalls: "$work/perf-threads-$threads.txt"
done
