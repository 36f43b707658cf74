#!/usr/bin/env bash
# The system calls of each backend under a fixed workload (`ch03-cost
# --connect`: 10 idle connections, then 1,000 round trips of 64 bytes on an
# eleventh), counted from the moment the server is ready until it has shut
# down after a SIGTERM.
#
#   chapters/ch03-multiplexed-echo/measure/syscalls.sh strace|perf
#
# strace -c -f names and counts every call, but stops the server at each
# one; perf stat counts the syscall tracepoints in the kernel, at full
# speed (`sys_exit_recvfrom` filtered on `ret == -11` counts the reads that
# returned EAGAIN). Both need root, or for perf a lower
# kernel.perf_event_paranoid.
source "$(dirname "$0")/../../common/measure.sh"
tool=$1
case $tool in
strace) needs strace ;;
perf) needs perf=linux-perf ;;
*) echo "the tool is strace or perf, not '$tool'" >&2 && exit 2 ;;
esac
cargo build --quiet --release -p ch03-multiplexed-echo --bins --examples
workload_flags=()
if [ "${MEASURE_SMOKE:-0}" = 1 ]; then workload_flags=(--idle-connections 2 --round-trips 20); fi

count=syscalls:sys_enter_ppoll,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_epoll_ctl
count=$count,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto
for backend in poll epoll-level epoll-edge; do
    echo "--backend $backend:"
    start_server target/release/ch03-multiplexed-echo --quiet --backend "$backend"
    case $tool in
    strace)
        strace -c -f -p "$server_pid" -o "$work/strace-$backend.txt" 2>/dev/null &
        wait_until "strace to attach" grep -q 'TracerPid:[[:space:]]*[1-9]' "/proc/$server_pid/status"
        ;;
    perf)
        perf stat -o "$work/perf-$backend.txt" -p "$server_pid" -e "$count" \
            -e syscalls:sys_exit_recvfrom --filter 'ret == -11' &
        # perf says nothing when it is attached; its counters are open once
        # they show in its descriptor table.
        wait_until "perf to attach" perf_is_counting $!
        ;;
    esac
    tracer=$!
    target/release/examples/ch03-cost --connect "$server_addr" "${workload_flags[@]}"
    # The server exits when it has shut down; the tracer with it.
    stop_server "$server_pid"
    wait "$tracer" || true
    case $tool in
    strace) cat "$work/strace-$backend.txt" ;;
    perf) grep syscalls: "$work/perf-$backend.txt" ;;
    esac
done
