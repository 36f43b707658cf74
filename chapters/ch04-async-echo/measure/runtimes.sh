#!/usr/bin/env bash
# current_thread against multi_thread (and, for scale, the asyncio server):
# echo-bench, closed loop, 64-byte messages, 1 and 100 connections, three
# runs of 5 s each; prints the medians as a Markdown table. The server and
# the load generator share this machine's cores. Run from the workspace root.
set -euo pipefail
cargo build -q --release -p ch04-async-echo -p echo-bench
out=$(mktemp -d)
declare -A servers=(
  [threads-1]="target/release/ch04-async-echo --quiet --threads 1"
  [threads-2]="target/release/ch04-async-echo --quiet --threads 2"
  [asyncio]="python3 chapters/ch04-async-echo/asyncio/echo_server.py --quiet"
)
for name in threads-1 threads-2 asyncio; do
  for connections in 1 100; do
    for run in 1 2 3; do
      ${servers[$name]} --listen 127.0.0.1:7980 > /dev/null &
      server=$!
      sleep 1
      target/release/echo-bench --connect 127.0.0.1:7980 --connections $connections \
        --size 64 --duration 5 --server-pid $server --json \
        > "$out/$name-$connections-$run.json"
      # SIGTERM, not SIGINT: a script's background jobs start with SIGINT
      # ignored, and Python then leaves it ignored.
      kill -TERM $server
      wait $server || true # Python dies of SIGTERM: status 143
    done
  done
done
python3 chapters/ch04-async-echo/measure/summarize.py "$out"
