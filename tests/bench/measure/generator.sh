#!/usr/bin/env bash
# Is echo-bench's closed loop as fast as the least a generator can do?
# Against chapter 4 and the two reference servers, at 100 and 1,000
# connections x 64 B, echo-bench (timing every echo) and echo-bench
# --minimal-epoll (the same epoll loop, timing nothing) take turns against
# the same fresh server, pinned: the server on CPU 0, the generator on CPU 1.
# Which of the two goes first alternates from round to round, so that
# neither always meets a server that has just warmed up. Prints each
# pair's medians and the median of the per-round ratios (min-max).
# ROUNDS and DURATION override the workload.
#
#   tests/bench/measure/generator.sh
source "$(dirname "$0")/../../../chapters/common/measure.sh"
needs taskset=util-linux
ROUNDS=${ROUNDS:-$(smoke 1 7)}
DURATION=${DURATION:-$(smoke 0.5 5)}

cargo build -q --release -p ch04-async-echo -p echo-bench
declare -A servers=(
    [ch04-async]="target/release/ch04-async-echo"
    [tokio-echo]="target/release/tokio-echo"
    [minimal-epoll]="target/release/minimal-epoll-echo"
)
names=(ch04-async tokio-echo minimal-epoll)

for round in $(seq "$ROUNDS"); do
    for name in "${names[@]}"; do
        for connections in 100 1000; do
            echo "[round $round/$ROUNDS] $name, $connections connections" >&2
            # shellcheck disable=SC2086 # the server's command line, split
            start_server taskset -c 0 ${servers[$name]} --quiet --max-connections 20000
            if ((round % 2)); then order=(bench yardstick); else order=(yardstick bench); fi
            for generator in "${order[@]}"; do
                flag=()
                if [ "$generator" = yardstick ]; then flag=(--minimal-epoll); fi
                taskset -c 1 target/release/echo-bench --connect "$server_addr" \
                    --connections "$connections" --size 64 --duration "$DURATION" \
                    --warmup "$(smoke 0.2 1)" --json "${flag[@]}" \
                    >"$work/$name-$connections-$generator-$round.json"
            done
            stop_server "$server_pid"
        done
    done
done

python3 - "$work" "$ROUNDS" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
def load(name, connections, generator, r):
    with open(f"{work}/{name}-{connections}-{generator}-{r}.json") as f:
        report = json.load(f)
    if report["errors"]:
        sys.exit(f"{name}: {report['errors']} errors")
    return report["msgs_per_sec"], report["generator_cpu"]["cpu_us_per_msg"]
def spread(values, fmt):
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}–{fmt(max(values))})"
rate = lambda v: f"{v:,.0f}"
print("| server | connections | echo-bench msgs/s | `--minimal-epoll` msgs/s | ratio | generator CPU per msg (echo-bench / `--minimal-epoll`) |")
print("|---|---:|---:|---:|---:|---:|")
for name in ["ch04-async", "tokio-echo", "minimal-epoll"]:
    for connections in [100, 1000]:
        ours = [load(name, connections, "bench", r) for r in range(1, rounds + 1)]
        theirs = [load(name, connections, "yardstick", r) for r in range(1, rounds + 1)]
        ratios = [a[0] / b[0] for a, b in zip(ours, theirs)]
        cpu = f"{statistics.median(a[1] for a in ours):.2f} / {statistics.median(b[1] for b in theirs):.2f} µs"
        print(f"| `{name}` | {connections:,} | {spread([a[0] for a in ours], rate)} | "
              f"{spread([b[0] for b in theirs], rate)} | {spread(ratios, lambda v: f'{v:.2f}×')} | {cpu} |")
print(f"\n{rounds} round(s) of {{}} s per generator, pinned (server CPU 0, generator CPU 1).".format(
    json.load(open(f"{work}/ch04-async-100-bench-1.json"))["window_secs"]))
PY
