#!/usr/bin/env python3
"""Memory of an echo server holding 10,000 idle connections.

    python3 chapters/ch04-async-echo/measure/idle_rss.py target/release/ch04-async-echo [server flags]

Starts the server on a free port, opens 10,000 connections (each echoes one
byte, so the server has surely accepted it and started its task), and prints
the server's resident memory before and after, from /proc (Linux). Like the
shell scripts beside it (see chapters/common/measure.sh), it prints the
command that ran it first, and MEASURE_SMOKE=1 makes it a quick check with
100 connections.
"""
import os
import resource
import socket
import subprocess
import sys
import time

SMOKE = os.environ.get("MEASURE_SMOKE") == "1"
CONNECTIONS = 100 if SMOKE else 10_000
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        kib = next(line for line in status if line.startswith("VmRSS:")).split()[1]
    return int(kib) / 1024


def settled_rss_mib(pid):
    """RSS once two readings 100 ms apart agree: the kernel folds each
    thread's page counts into VmRSS in batches, so a reading taken at once
    can lag the last pages touched. Gives up waiting after 10 s."""
    deadline = time.monotonic() + 10
    last = rss_mib(pid)
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = rss_mib(pid)
        if now == last:
            break
        last = now
    return last


def main():
    script = os.path.relpath(os.path.abspath(__file__), ROOT)
    print(" ".join(["$ python3", script] + sys.argv[1:]), flush=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    command = sys.argv[1:]
    server = subprocess.Popen(
        command + ["--quiet", "--max-connections", "20000", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
    )
    try:
        host, port = server.stdout.readline().decode().split()[-1].rsplit(":", 1)
        before = rss_mib(server.pid)
        connections = []
        for _ in range(CONNECTIONS):
            conn = socket.create_connection((host, int(port)))
            conn.sendall(b"x")
            assert conn.recv(1) == b"x"
            connections.append(conn)
        after = settled_rss_mib(server.pid)
        name = " ".join([command[0].rsplit("/", 1)[-1]] + command[1:])
        print(f"{name}: RSS {before:.1f} MiB -> {after:.1f} MiB with {CONNECTIONS:,} idle connections")
    finally:
        server.kill()


if __name__ == "__main__":
    main()
