# What every measuring script shares (`chapters/*/measure/*.sh` source this
# file; it is not run by itself). The README's "Measuring" section is the
# convention these helpers keep:
#
# - the script runs from the repository root, and its first line of output
#   is the command that ran it (`$ chapters/.../measure/x.sh ARGS`), so an
#   output pasted into the book says where it came from;
# - servers listen on port 0, and the script reads the real address from
#   their `listening on ADDR` line (`start_server`);
# - files go to a temporary directory that is removed on exit (`$work`);
# - waits are for a condition, with a deadline (`wait_until`), never a
#   `sleep` that hopes something has happened; a `sleep` is only ever a
#   measurement window;
# - every process the script starts is stopped when it exits, even on error;
# - `MEASURE_SMOKE=1` shrinks the workload to a few seconds (`smoke`), which
#   is how `.ci/run` checks that no script has rotted.

set -euo pipefail

measure_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
measure_script=$(realpath --relative-to="$measure_root" "$0")
cd "$measure_root"

# The command that ran the script, as the first line of its output.
printf '$ %s' "$measure_script"
if (($#)); then printf ' %s' "$@"; fi
printf '\n'

work=$(mktemp -d)
measure_pids=()
measure_cleanup() {
    local pid
    for pid in "${measure_pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap measure_cleanup EXIT

# `smoke SMALL FULL`: SMALL under MEASURE_SMOKE=1, FULL otherwise.
smoke() {
    if [ "${MEASURE_SMOKE:-0}" = 1 ]; then echo "$1"; else echo "$2"; fi
}

# `wait_until WHAT COMMAND...`: runs COMMAND until it succeeds, for at most
# 60 s, then fails naming WHAT.
wait_until() {
    local what=$1 deadline=$((SECONDS + 60))
    shift
    until "$@"; do
        if ((SECONDS >= deadline)); then
            echo "gave up after 60 s waiting for: $what" >&2
            return 1
        fi
        sleep 0.01
    done
}

# `start_server COMMAND...`: starts COMMAND --listen 127.0.0.1:0 in the
# background and waits for its `listening on ADDR` line. Sets `server_pid`,
# `server_addr` (HOST:PORT), `server_host` and `server_port`.
start_server() {
    local out
    out=$(mktemp "$work/server.XXXXXX")
    "$@" --listen 127.0.0.1:0 >"$out" &
    server_pid=$!
    measure_pids+=("$server_pid")
    wait_until "'listening on' from $*" server_has_announced "$out"
    server_addr=$(sed -n 's/^listening on //p' "$out" | head -n 1)
    server_host=${server_addr%:*}
    server_port=${server_addr##*:}
}

server_has_announced() {
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "the server exited before it announced its address" >&2
        exit 1
    fi
    grep -q '^listening on ' "$1"
}

# `stop_server PID`: SIGTERM (a script's background jobs start with SIGINT
# ignored, and asyncio leaves it so), then waits for the exit.
stop_server() {
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# `cpu_ticks PID`: user + system CPU time of PID so far, in clock ticks
# (1/100 s): fields 14 and 15 of /proc/PID/stat, counted after the command
# name, which is in parentheses and may hold spaces.
cpu_ticks() {
    sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# `open_fds PID`: how many descriptors PID holds.
open_fds() {
    find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l
}

# `holds_fds PID N`: whether PID holds at least N descriptors (for
# `wait_until`, which runs it again each time).
holds_fds() {
    test "$(open_fds "$1")" -ge "$2"
}

# `needs TOOL[=DEBIAN_PACKAGE]...`: exits with status 77 ("skipped") and
# one line on stderr if a tool the script uses is missing.
needs() {
    local want tool
    for want in "$@"; do
        tool=${want%%=*}
        if ! command -v "$tool" >/dev/null 2>&1; then
            echo "$measure_script needs $tool (Debian: apt-get install ${want#*=})" >&2
            exit 77
        fi
    done
}

# `perf_is_counting PID`: whether the `perf stat` with PID has opened its
# counters (perf_event descriptors), so that what follows is counted.
perf_is_counting() {
    find "/proc/$1/fd" -mindepth 1 -maxdepth 1 -lname 'anon_inode:*perf_event*' 2>/dev/null | grep -q .
}
