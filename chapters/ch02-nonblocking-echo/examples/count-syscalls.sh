#!/usr/bin/env bash
# Counts an echo server's syscalls while `examples/cost.rs --connect` runs
# a fixed workload: 10 connections each echo one byte and stay open, then
# an 11th makes round trips of 64 bytes: 1,000 back to back, or 300 each
# after a random pause of up to 20 ms ("paused").
#
#   chapters/ch02-nonblocking-echo/examples/count-syscalls.sh \
#       strace|perf back-to-back|paused SERVER [FLAGS...]
#
# e.g. ... perf paused target/release/ch02-nonblocking-echo --idle-sleep 0.001
# strace shows every syscall by name but slows each one down; perf only
# counts (in the kernel), so the server runs at its normal speed.
set -euo pipefail
cd "$(dirname "$0")/../../.."
tool=$1
pace=$2
shift 2
cargo build --quiet --release -p ch01-blocking-echo -p ch02-nonblocking-echo --bins --examples
workload=(target/release/examples/cost --connect 127.0.0.1:7878)
if [ "$pace" = paused ]; then workload+=(--paused); fi

"$@" --quiet --listen 127.0.0.1:7878 >/dev/null &
server=$!
trap 'kill $server' EXIT
sleep 0.5 # until it listens

case $tool in
strace)
    strace -c -f -p $server -o /tmp/strace.txt 2>/dev/null &
    tracer=$!
    # Start the workload the moment strace is attached, stop tracing the
    # moment it ends: the server spins all the time, and every pass of
    # idling before or after would count.
    until grep -q 'TracerPid:[[:space:]]*[1-9]' /proc/$server/status; do sleep 0.01; done
    "${workload[@]}"
    kill -INT $tracer
    wait $tracer || true
    cat /tmp/strace.txt
    ;;
perf)
    # With a command, perf counts only while that command runs.
    perf stat -p $server -e raw_syscalls:sys_enter \
        -e syscalls:sys_enter_accept4,syscalls:sys_enter_recvfrom \
        -e syscalls:sys_enter_sendto,syscalls:sys_enter_clock_nanosleep \
        -- "${workload[@]}"
    ;;
esac
