"""``TCP_NODELAY`` on every TCP socket a tunnelled session's small messages cross.

libpq sets it on its own socket (checked here, not assumed); the paramiko transport sets it on
its SSH connection and on the local end of each forwarded connection. (OpenSSH's ``ssh``
sets it on the forwarded sockets itself.)
"""

from __future__ import annotations

import os
import socket

import pytest

from dbconsole.connect import connect, tunnels
from tests.profiles import isolate_from_machine, load, write_config


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    isolate_from_machine(tmp_path, monkeypatch)
    yield
    tunnels.close_all()


def no_delay(fd: int) -> bool:
    sock = socket.socket(fileno=os.dup(fd))
    try:
        return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    finally:
        sock.close()


def test_libpq_and_the_paramiko_tunnel_send_small_messages_without_delay(dbs, sshd, tmp_path) -> None:
    config = load(write_config(tmp_path, dbs, sshd))
    with connect(config.profile("server"), purpose="test") as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert no_delay(conn.pgconn.socket)
        if sshd.transport == "paramiko":
            tunnel = next(iter(tunnels._tunnels.values()))
            assert no_delay(tunnel._forwarder._transport.sock.fileno())  # the SSH connection
            accepted = forwarded_ends(tunnel.local_port)  # the forward's end of libpq's connection
            assert accepted and all(no_delay(fd) for fd in accepted), accepted


def forwarded_ends(port: int) -> list[int]:
    """This process's connected TCP sockets whose local port is the forward's: accepted ones."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if not os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                continue
            sock = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        try:
            if sock.family == socket.AF_INET and sock.getsockname()[1] == port:
                sock.getpeername()  # the listener has no peer
                found.append(fd)
        except OSError:
            pass
        finally:
            sock.close()
    return found
