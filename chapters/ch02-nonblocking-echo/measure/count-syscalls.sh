#!/usr/bin/env bash
# Counts an echo server's syscalls while `ch02-cost --connect` runs a fixed
# workload: 10 connections each echo one byte and stay open, then an 11th
# makes round trips of 64 bytes: 1,000 back to back, or 300 each after a
# random pause of up to 20 ms ("paused").
#
#   chapters/ch02-nonblocking-echo/measure/count-syscalls.sh \
#       strace|perf back-to-back|paused SERVER [FLAGS...]
#
# e.g. ... perf paused target/release/ch02-nonblocking-echo --idle-sleep 0.001
# strace shows every syscall by name but slows each one down; perf only
# counts (in the kernel), so the server runs at its normal speed. Both need
# root, or for perf a lower kernel.perf_event_paranoid.
source "$(dirname "$0")/../../common/measure.sh"
tool=$1
pace=$2
shift 2
case $tool in
strace) needs strace ;;
perf) needs perf=linux-perf ;;
*) echo "the tool is strace or perf, not '$tool'" >&2 && exit 2 ;;
esac
cargo build --quiet --release -p ch01-blocking-echo -p ch02-nonblocking-echo --bins --examples

start_server "$@" --quiet
workload=(target/release/examples/ch02-cost --connect "$server_addr")
if [ "$pace" = paused ]; then workload+=(--paused); fi
if [ "${MEASURE_SMOKE:-0}" = 1 ]; then
    workload+=(--idle-connections 2 --round-trips 20 --paused-round-trips 5)
fi

case $tool in
strace)
    strace -c -f -p "$server_pid" -o "$work/strace.txt" 2>/dev/null &
    tracer=$!
    # Start the workload the moment strace is attached, stop tracing the
    # moment it ends: the server spins all the time, and every pass of
    # idling before or after would count.
    wait_until "strace to attach" grep -q 'TracerPid:[[:space:]]*[1-9]' "/proc/$server_pid/status"
    "${workload[@]}"
    kill -INT "$tracer"
    wait "$tracer" || true
    cat "$work/strace.txt"
    ;;
perf)
    # With a command, perf counts only while that command runs.
    perf stat -p "$server_pid" -e raw_syscalls:sys_enter \
        -e syscalls:sys_enter_accept4,syscalls:sys_enter_recvfrom \
        -e syscalls:sys_enter_sendto,syscalls:sys_enter_clock_nanosleep \
        -- "${workload[@]}"
    ;;
esac
