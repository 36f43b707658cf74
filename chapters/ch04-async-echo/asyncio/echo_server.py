#!/usr/bin/env python3
"""Chapter 4's echo server in Python's asyncio, for readers coming from Python.

It keeps the project's echo contract, like every Rust server in the book:
bytes, not lines; a half-close gets back everything still pending, then the
close; a client that sends without reading is slowed down by drain(), so
memory stays bounded. Run it with:

    python3 chapters/ch04-async-echo/asyncio/echo_server.py [--listen ADDR] [--quiet]
"""

import argparse
import asyncio
import sys

DEFAULT_ADDR = "127.0.0.1:7878"
BUF_SIZE = 8 * 1024
# As in the Rust servers: a burst of clients waits in the kernel's queue.
LISTEN_BACKLOG = 1024


def log(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def show(addr) -> str:
    """('127.0.0.1', 7878) -> 127.0.0.1:7878, ('::1', 7878, 0, 0) -> [::1]:7878"""
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# ANCHOR: handle
async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 quiet: bool) -> None:
    peer = show(writer.get_extra_info("peername"))
    log(quiet, f"{peer}: connected")
    echoed = 0
    try:
        # read() returns b"" at end of stream: the client half-closed.
        while data := await reader.read(BUF_SIZE):
            # write() never waits: it sends what the kernel takes now and
            # keeps the rest in the transport's buffer.
            writer.write(data)
            # Returns at once unless the buffer has grown above its
            # high-water mark (64 KiB by default), which pauses writing;
            # then waits until it is down to the low-water mark (a quarter
            # of that). Without this line a client that never reads makes
            # the buffer, and our memory, grow without bound.
            await writer.drain()
            echoed += len(data)
    except OSError as err:  # reset, broken pipe: this connection only
        log(quiet, f"{peer}: closed on error: {err}")
    else:
        log(quiet, f"{peer}: closed after echoing {echoed} bytes")
    finally:
        # close() sends whatever is still buffered, then closes;
        # wait_closed() waits until it has.
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
# ANCHOR_END: handle


# ANCHOR: main
async def serve(host: str, port: int, quiet: bool) -> None:
    server = await asyncio.start_server(
        lambda reader, writer: handle(reader, writer, quiet),
        host, port, backlog=LISTEN_BACKLOG)
    # The project's contract: the real address, flushed, on the first line.
    print(f"listening on {show(server.sockets[0].getsockname())}", flush=True)
    async with server:
        await server.serve_forever()
# ANCHOR_END: main


def parse_addr(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(
            f"bad --listen address '{text}' (expected HOST:PORT, e.g. {DEFAULT_ADDR})")
    return host.strip("[]"), int(port)


def main() -> int:
    parser = argparse.ArgumentParser(
        description="An asyncio TCP echo server: everything a client sends comes back to it.")
    parser.add_argument("--listen", metavar="ADDR", default=DEFAULT_ADDR,
                        help="address to listen on, as HOST:PORT; port 0 picks any free port")
    parser.add_argument("--quiet", action="store_true",
                        help="don't log connections opened and closed on stderr")
    args = parser.parse_args()
    try:
        host, port = parse_addr(args.listen)
        asyncio.run(serve(host, port, args.quiet))
    except KeyboardInterrupt:  # Ctrl-C: asyncio.run has cancelled the tasks
        return 130
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"error: cannot listen on {args.listen}: {err.strerror or err}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
