#!/usr/bin/env python3
"""A loopback TCP proxy that delays every byte sent to the upstream by a fixed time.

    latency_proxy.py --upstream 127.0.0.1:PORT --delay-ms D [--port-file FILE]

It listens on a free port of 127.0.0.1 (written to --port-file, or printed), and forwards each
connection to the upstream. What the client sends reaches the upstream D ms after it arrived,
in order; answers come back at once. For an HTTP client this adds D ms to every request however
many it sends on one connection, as a far-away object store would, while the bandwidth stays
that of loopback. Used by scripts/bench-latency.sh.
"""

import argparse
import asyncio
import os
import sys
import time


async def delayed_pipe(reader, writer, delay):
    """Copies reader to writer, each chunk held until `delay` seconds after it arrived."""
    queue = asyncio.Queue()

    async def receive():
        while True:
            data = await reader.read(1 << 16)
            await queue.put((time.monotonic() + delay, data))
            if not data:
                return

    async def send():
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                writer.write_eof() if writer.can_write_eof() else writer.close()
                return
            writer.write(data)
            await writer.drain()

    await asyncio.gather(receive(), send())


async def pipe(reader, writer):
    while True:
        data = await reader.read(1 << 16)
        if not data:
            if writer.can_write_eof():
                writer.write_eof()
            return
        writer.write(data)
        await writer.drain()


async def serve(upstream_host, upstream_port, delay):
    async def handle(client_reader, client_writer):
        try:
            up_reader, up_writer = await asyncio.open_connection(upstream_host, upstream_port)
        except OSError:
            client_writer.close()
            return
        try:
            await asyncio.gather(
                delayed_pipe(client_reader, up_writer, delay),
                pipe(up_reader, client_writer),
            )
        except (ConnectionError, OSError):
            pass
        finally:
            for w in (up_writer, client_writer):
                w.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="HOST:PORT (loopback)")
    parser.add_argument("--delay-ms", type=float, required=True)
    parser.add_argument("--port-file", help="write the listening port here")
    args = parser.parse_args()
    host, _, port = args.upstream.rpartition(":")
    if host not in ("127.0.0.1", "localhost"):
        sys.exit(f"--upstream {args.upstream}: only loopback upstreams are proxied")

    async def run():
        server = await serve(host, int(port), args.delay_ms / 1000.0)
        listening = server.sockets[0].getsockname()[1]
        if args.port_file:
            with open(args.port_file + ".tmp", "w") as f:
                f.write(f"{listening}\n")
            os.replace(args.port_file + ".tmp", args.port_file)
        else:
            print(listening, flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(run())


if __name__ == "__main__":
    main()
