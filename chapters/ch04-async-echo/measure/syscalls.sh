#!/usr/bin/env bash
# System calls per echoed message, counted in the kernel by `perf stat`
# (it does not stop the process as strace does), for both runtime flavours.
# Workload: chapter 3's `cost --connect` (10 idle connections, then 1,000
# round trips of 64 bytes on an eleventh), so the figures compare with
# chapter 3's table. Run from the workspace root.
set -euo pipefail
cargo build -q --release -p ch04-async-echo -p ch03-multiplexed-echo --bins --examples
count=syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_recvfrom
count=$count,syscalls:sys_enter_sendto,syscalls:sys_enter_futex,syscalls:sys_enter_write
for threads in 1 2; do
  target/release/ch04-async-echo --quiet --threads $threads --listen 127.0.0.1:7979 > /dev/null &
  server=$!
  sleep 0.5
  perf stat -o /tmp/perf-ch04-threads-$threads.txt -p $server -e $count \
    -e syscalls:sys_exit_recvfrom --filter 'ret == -11' &
  sleep 1
  target/release/examples/cost --connect 127.0.0.1:7979
  kill -INT $server
  wait
  echo "--threads $threads:"
  grep syscalls: /tmp/perf-ch04-threads-$threads.txt
done
