"""A loopback TCP relay that counts PostgreSQL round trips, one count per conversation turn.

A round trip is the client speaking and then the server answering: the relay counts each
time bytes come from the server after the last bytes came from the client, per connection.
The client cannot send its next request before it has read the answer, and the relay records
who spoke *before* forwarding, so the count is exact and the same on every run (unlike a
timing): a test asserts it.
"""

from __future__ import annotations

import socket
import threading


class TurnCountingProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.turns: list[int] = []  # per connection, in the order they were opened
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.turns)

    def reset(self) -> None:
        with self._lock:
            self.turns = []

    def close(self) -> None:
        for sock in [self.listener, *self._sockets]:
            try:
                sock.close()
            except OSError:
                pass

    def __enter__(self) -> TurnCountingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target, timeout=5)
            upstream.settimeout(None)
            self._sockets += [client, upstream]
            with self._lock:
                self.turns.append(0)
                index = len(self.turns) - 1
            last = ["server"]
            for src, dst, side in ((client, upstream, "client"), (upstream, client, "server")):
                threading.Thread(target=self._pump, args=(src, dst, side, last, index), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, side: str, last: list[str], index: int) -> None:
        while True:
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
            with self._lock:
                if side == "server" and last[0] == "client" and index < len(self.turns):
                    self.turns[index] += 1
                last[0] = side
            try:
                dst.sendall(data)
            except OSError:
                return
