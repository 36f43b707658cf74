#!/usr/bin/env bash
# One runtime against two side by side (--threads 1 and 2): echo-bench,
# closed loop, 64-byte messages, 100 connections, three runs of 5 s each,
# server and generator unpinned (two runtimes need both cores). Prints the
# medians as a Markdown table. Run from the workspace root:
#
#     bash chapters/ch05-runtime-echo/measure/threads.sh
set -euo pipefail
echo "\$ bash chapters/ch05-runtime-echo/measure/threads.sh"
cargo build -q --release -p ch05-runtime-echo -p echo-bench
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Starts the server in the background on a free port; sets $server (its
# pid) and $addr once it has printed `listening on ADDR`.
start_server() {
  "$@" --listen 127.0.0.1:0 > "$out/stdout" 2> "$out/stderr" &
  server=$!
  for _ in $(seq 300); do
    addr=$(sed -n 's/^listening on //p' "$out/stdout")
    [ -n "$addr" ] && return 0
    kill -0 $server 2> /dev/null || { cat "$out/stderr" >&2; exit 1; }
    sleep 0.01
  done
  echo "no 'listening on' line within 3 s" >&2
  exit 1
}

for threads in 1 2; do
  for run in 1 2 3; do
    start_server target/release/ch05-runtime-echo --quiet --threads $threads
    target/release/echo-bench --connect "$addr" --connections 100 --size 64 \
      --duration 5 --server-pid $server --json > "$out/threads-$threads-100-$run.json"
    kill -TERM $server
    wait $server
  done
done
rm "$out/stdout" "$out/stderr"
python3 chapters/ch04-async-echo/measure/summarize.py "$out"
