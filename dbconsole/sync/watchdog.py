"""Notice a sync that stopped moving, and cut it loose so it can retry.

A frozen server, a hung VM or a half-dead VPN sends no error and no reset: libpq just waits,
forever. Server-side timeouts cannot help (the server is the thing not answering), so the run
keeps a heartbeat (every COPY chunk, statement and batch beats it) and this watchdog, when no
beat came for ``timeout`` seconds, shuts the run's sockets down. The blocked call then fails at
once with a connection error, which the engine treats like any lost connection: retry with
backoff from the last checkpoint, or stop with a message saying the run stalled.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from typing import Any

import psycopg


class Watchdog:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.fired = False
        self._last_beat = time.monotonic()
        self._connections: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        self._last_beat = time.monotonic()

    def watch(self, *connections: psycopg.Connection[Any] | None) -> None:
        """The connections to cut if the run stalls (replacing the previous ones)."""
        with self._lock:
            self._connections = [c for c in connections if c is not None]
        self.fired = False
        self.beat()

    def __enter__(self) -> Watchdog:
        self._thread = threading.Thread(target=self._run, name="dbconsole-sync-watchdog", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(min(1.0, self.timeout / 4)):
            if time.monotonic() - self._last_beat > self.timeout:
                self._cut()

    def _cut(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(Exception):
                fd = conn.pgconn.socket
                # shutdown() on a duplicate reaches the shared socket; the blocked call wakes up.
                sock = socket.socket(fileno=os.dup(fd))
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                finally:
                    sock.close()
        if connections:
            self.fired = True
        self.beat()  # one cut per silence
