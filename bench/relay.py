"""A throttled loopback link: a TCP relay that limits bandwidth and adds round-trip time.

Benchmarks on loopback flatter everything that crosses the network; users reach production
over tens of Mbit/s and tens of milliseconds. This relay sits between a client and a server
on 127.0.0.1 and makes the link behave like that: each direction delivers every chunk half
the round-trip time after it was read, paced so that no direction exceeds the bandwidth.

    python bench/relay.py --target 127.0.0.1:5432 --mbit 80 --rtt-ms 30   # prints the port

or, from Python, ``with Relay(("127.0.0.1", 5432), mbit=80, rtt_ms=30) as relay: relay.port``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import threading
import time

CHUNK = 16 * 1024  # small chunks keep the pacing smooth
QUEUE_CHUNKS = 64  # per direction: bounds what is "in flight" (and the relay's memory)


class Relay:
    """The relay running on its own thread with its own event loop."""

    def __init__(self, target: tuple[str, int], *, mbit: float, rtt_ms: float, port: int = 0) -> None:
        self.target = target
        self.bytes_per_s = mbit * 1_000_000 / 8
        self.one_way = rtt_ms / 2000
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._stop: asyncio.Event | None = None

    def __enter__(self) -> Relay:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(self._direction(client_reader, server_writer),
                             self._direction(server_reader, client_writer), return_exceptions=True)
        for writer in (client_writer, server_writer):
            with contextlib.suppress(Exception):
                writer.close()

    async def _direction(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(QUEUE_CHUNKS)

        async def read() -> None:
            while data := await reader.read(CHUNK):
                await queue.put((time.monotonic() + self.one_way, data))
            await queue.put((0.0, b""))

        async def deliver() -> None:
            link_free = 0.0  # when the link has sent everything handed to it so far
            while True:
                due, data = await queue.get()
                if not data:
                    with contextlib.suppress(Exception):
                        writer.write_eof()
                    return
                start = max(due, link_free)
                link_free = start + len(data) / self.bytes_per_s
                delay = link_free - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()

        await asyncio.gather(read(), deliver())


def link_options(parser: argparse.ArgumentParser) -> None:
    """The throttled link's flags, the same in every bench that runs through it."""
    parser.add_argument("--mbit", type=float, default=80.0, help="bandwidth per direction (default 80 Mbit/s)")
    parser.add_argument("--rtt-ms", type=float, default=30.0, help="added round-trip time (default 30 ms)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", required=True, metavar="HOST:PORT")
    link_options(parser)
    parser.add_argument("--port", type=int, default=0, help="listen port on 127.0.0.1 (default: any free one)")
    args = parser.parse_args()
    host, _, port = args.target.rpartition(":")
    with Relay((host, int(port)), mbit=args.mbit, rtt_ms=args.rtt_ms, port=args.port) as relay:
        print(relay.port, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
