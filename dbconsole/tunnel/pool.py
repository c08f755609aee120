"""One live tunnel per profile, rebuilt when its SSH connection died, all closed at exit.

The pool is what :mod:`dbconsole.connect` talks to; it never imports connect (an import-linter
contract keeps it so), and it loads a transport only when a profile with ``ssh`` connects.
"""

from __future__ import annotations

import atexit
import threading
from typing import Any

from dbconsole.config import Profile
from dbconsole.tunnel.base import Tunnel, open_tunnel


class TunnelPool:
    """One live tunnel per (profile, SSH settings, database target)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tunnels: dict[tuple[Any, ...], Tunnel] = {}

    def get(self, profile: Profile, remote_host: str, remote_port: int, timeout: float) -> Tunnel:
        """The running tunnel for this profile (``.local_port`` is where to connect)."""
        assert profile.ssh is not None
        key = (profile.name, profile.ssh, remote_host, remote_port)
        with self._lock:
            current = self._tunnels.get(key)
            if current is not None and current.is_alive():
                return current
            if current is not None:
                current.close()
                del self._tunnels[key]
            current = open_tunnel(profile.ssh, remote_host, remote_port, timeout)
            self._tunnels[key] = current
            return current

    def close_all(self) -> None:
        with self._lock:
            opened = list(self._tunnels.values())
            self._tunnels.clear()
        for tunnel in opened:
            tunnel.close()

    def close(self, profile_name: str) -> None:
        with self._lock:
            keys = [k for k in self._tunnels if k[0] == profile_name]
            opened = [self._tunnels.pop(k) for k in keys]
        for tunnel in opened:
            tunnel.close()


tunnels = TunnelPool()
atexit.register(tunnels.close_all)
