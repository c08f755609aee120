"""Loopback TCP relays that tests put between dbconsole and a real server.

:class:`LoopbackRelay` forwards bytes both ways and calls :meth:`LoopbackRelay.forwarding`
before each chunk goes on; the relays below differ only in what that hook does:

* :class:`StallableProxy` can stall: connections stay open, bytes stop moving. That is what a
  hung server, a frozen VM or a half-dead VPN looks like from the client: no error, no reset,
  just silence. Tests use it to prove that every operation gives up within its timeout.
* ``tests.turns.TurnCountingProxy`` counts conversation turns (round trips).
"""

from __future__ import annotations

import socket
import threading
from typing import Literal

Speaker = Literal["client", "server"]


class LoopbackRelay:
    """Listens on a free loopback port and relays every connection to ``target``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.closed = threading.Event()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    # -- hooks ------------------------------------------------------------------------------

    def connected(self) -> object:
        """A new connection came in; what this returns is passed to :meth:`forwarding` for it."""
        return None

    def forwarding(self, speaker: Speaker, data: bytes, connection: object) -> None:
        """Called with each chunk before it is forwarded (it may block to hold the bytes)."""

    # -- the relay --------------------------------------------------------------------------

    def close(self) -> None:
        self.closed.set()
        for sock in [self.listener, *self.sockets]:
            try:
                sock.close()
            except OSError:
                pass

    def __enter__(self) -> LoopbackRelay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            self.sockets += [client, upstream]
            connection = self.connected()
            for src, dst, speaker in ((client, upstream, "client"), (upstream, client, "server")):
                threading.Thread(target=self._pump, args=(src, dst, speaker, connection), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, speaker: Speaker, connection: object) -> None:
        while not self.closed.is_set():
            try:
                data = src.recv(65536)
            except OSError:
                return
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            self.forwarding(speaker, data, connection)
            if self.closed.is_set():
                return
            try:
                dst.sendall(data)
            except OSError:
                return


class StallableProxy(LoopbackRelay):
    def __init__(self, target_host: str, target_port: int) -> None:
        self.flowing = threading.Event()
        self.flowing.set()
        self.bytes_to_client = 0  # what the server sent through the proxy (a test's "rows sent")
        super().__init__(target_host, target_port)

    def stall(self) -> None:
        """From now on, hold every byte (both directions) without closing anything."""
        self.flowing.clear()

    def resume(self) -> None:
        self.flowing.set()

    def close(self) -> None:
        super().close()
        self.flowing.set()

    def forwarding(self, speaker: Speaker, data: bytes, connection: object) -> None:
        self.flowing.wait()
        if speaker == "server":
            self.bytes_to_client += len(data)
