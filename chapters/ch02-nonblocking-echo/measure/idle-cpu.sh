#!/usr/bin/env bash
# A server's CPU with idle connections open: for each SERVER (a binary in
# target/release), opens 10 connections that send nothing and reads the
# server's CPU time (user + system, fields 14 and 15 of /proc/PID/stat, in
# ticks of 1/100 s) before and after five seconds.
#
#   chapters/ch02-nonblocking-echo/measure/idle-cpu.sh SERVER...
#
# e.g. ... idle-cpu.sh ch01-blocking-echo ch02-nonblocking-echo
source "$(dirname "$0")/../../common/measure.sh"
connections=$(smoke 2 10)
seconds=$(smoke 1 5)

packages=()
for server in "$@"; do packages+=(-p "$server"); done
cargo build --quiet --release "${packages[@]}" --bins

for server in "$@"; do
    start_server "target/release/$server" --quiet
    idle=$(open_fds "$server_pid")
    fds=()
    for _ in $(seq "$connections"); do
        # bash opens a TCP connection on a new descriptor and keeps it.
        exec {fd}<>"/dev/tcp/$server_host/$server_port"
        fds+=("$fd")
    done
    # Accepted: the server holds a descriptor for each.
    wait_until "$server to accept $connections connections" \
        holds_fds "$server_pid" $((idle + connections))
    before=$(cpu_ticks "$server_pid")
    sleep "$seconds" # the measurement window
    after=$(cpu_ticks "$server_pid")
    echo "$server: $((after - before)) ticks of CPU (1/100 s) in $seconds s"
    for fd in "${fds[@]}"; do exec {fd}>&-; done
    stop_server "$server_pid"
done
