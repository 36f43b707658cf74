#!/usr/bin/env bash
# current_thread against multi_thread (and, for scale, the asyncio server),
# beside the minimal epoll server as the reference: echo-bench, closed loop,
# 64-byte messages, 1 and 100 connections, three runs of 5 s each; prints
# the medians as a Markdown table, with each server's msgs/s and CPU per
# message as a ratio to the reference's at the same number of connections.
# The server and the load generator share this machine's cores.
#
#   chapters/ch04-async-echo/measure/runtimes.sh
source "$(dirname "$0")/../../common/measure.sh"
cargo build -q --release -p ch04-async-echo -p echo-bench
runs=$(smoke 1 3)
duration=$(smoke 0.5 5)
declare -A servers=(
    [threads-1]="target/release/ch04-async-echo --quiet --threads 1"
    [threads-2]="target/release/ch04-async-echo --quiet --threads 2"
    [asyncio]="python3 chapters/ch04-async-echo/asyncio/echo_server.py --quiet"
    [minimal-epoll]="target/release/minimal-epoll-echo"
)
# Round after round, every server once per round: whatever else loads the
# machine meanwhile falls on all of them alike, not on whichever ran then.
for run in $(seq "$runs"); do
    for connections in 1 100; do
        for name in minimal-epoll threads-1 threads-2 asyncio; do
            # shellcheck disable=SC2086 # the server's command line, split
            start_server ${servers[$name]}
            target/release/echo-bench --connect "$server_addr" --connections "$connections" \
                --size 64 --duration "$duration" --warmup "$(smoke 0.2 1)" \
                --server-pid "$server_pid" --json >"$work/$name-$connections-$run.json"
            stop_server "$server_pid"
        done
    done
done
python3 chapters/ch04-async-echo/measure/summarize.py "$work"
