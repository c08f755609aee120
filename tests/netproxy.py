"""A TCP proxy on loopback that can stall: connections stay open, bytes stop moving.

That is what a hung server, a frozen VM or a half-dead VPN looks like from the client: no
error, no reset, just silence. Tests put it between dbconsole and a real server to prove that
every operation gives up within its timeout instead of hanging.
"""

from __future__ import annotations

import socket
import threading


class StallableProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.flowing = threading.Event()
        self.flowing.set()
        self.closed = threading.Event()
        self.sockets: list[socket.socket] = []
        self.bytes_to_client = 0  # what the server sent through the proxy (a test's "rows sent")
        threading.Thread(target=self._accept, daemon=True).start()

    def stall(self) -> None:
        """From now on, hold every byte (both directions) without closing anything."""
        self.flowing.clear()

    def resume(self) -> None:
        self.flowing.set()

    def close(self) -> None:
        self.closed.set()
        self.flowing.set()
        for sock in [self.listener, *self.sockets]:
            try:
                sock.close()
            except OSError:
                pass

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
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst, src is upstream), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, to_client: bool = False) -> None:
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
            self.flowing.wait()
            if self.closed.is_set():
                return
            try:
                dst.sendall(data)
            except OSError:
                return
            if to_client:
                self.bytes_to_client += len(data)
