#!/usr/bin/env bash
# One runtime against two side by side (--threads 1 and 2): echo-bench,
# closed loop, 64-byte messages, 1 and 100 connections, three runs of 5 s
# each, server and generator unpinned (two runtimes need both cores).
# Prints the medians as a Markdown table.
#
#   chapters/ch05-runtime-echo/measure/threads.sh
source "$(dirname "$0")/../../common/measure.sh"
cargo build -q --release -p ch05-runtime-echo -p echo-bench
runs=$(smoke 1 3)
duration=$(smoke 0.5 5)
for threads in 1 2; do
    for connections in 1 100; do
        for run in $(seq "$runs"); do
            start_server target/release/ch05-runtime-echo --quiet --threads "$threads"
            target/release/echo-bench --connect "$server_addr" --connections "$connections" \
                --size 64 --duration "$duration" --warmup "$(smoke 0.2 1)" \
                --server-pid "$server_pid" --json >"$work/threads-$threads-$connections-$run.json"
            stop_server "$server_pid"
        done
    done
done
python3 chapters/ch04-async-echo/measure/summarize.py "$work"
