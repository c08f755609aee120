"""What every SSH transport offers the connection code, and which transport a profile gets.

Two transports build the same thing, a forward from ``127.0.0.1:<free port>`` to the database
``host:port`` as the SSH host resolves it: the user's own OpenSSH client (``ssh -N -L``), which
honours everything in ``~/.ssh/config`` (ProxyJump, certificates, agents, ControlMaster), and
paramiko, the fallback when no ``ssh`` is on PATH or the profile authenticates with a password
(OpenSSH runs in BatchMode and never asks for one). Both fail closed on an unknown or changed
host key and raise :class:`TunnelError` with one readable line.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal, Protocol

from dbconsole.config import SshSettings
from dbconsole.errors import TunnelError
from dbconsole.osuser import expand_user_path
from dbconsole.redact import redact

TransportName = Literal["openssh", "paramiko"]


class Tunnel(Protocol):
    """A running forward; ``local_port`` on 127.0.0.1 reaches the database."""

    transport: TransportName
    local_port: int
    database_ssl: bool | None  # the database's answer to an SSL probe through the forward; None: not probed

    def is_alive(self) -> bool:
        """False once the SSH connection is gone (the pool then builds a new tunnel)."""

    def close(self) -> None:
        """Stop forwarding and release everything (idempotent, never raises)."""

    def why_unreachable(self, remote_host: str, remote_port: int, timeout: float) -> str | None:
        """After a failed database connection: a reason if the SSH side is to blame, else None."""


def tunnel_error(message: str, *, transient: bool) -> TunnelError:
    """A TunnelError whose ``transient`` says if trying again later may help (a host down, a
    connection dropped) or not (a host key, a key, a config error); the retry path asks it."""
    return TunnelError(redact(message), transient=transient)


def ssh_client() -> str | None:
    """The OpenSSH client on PATH, if any."""
    return shutil.which("ssh")


def choose_transport(ssh: SshSettings) -> TransportName:
    """``auto``: OpenSSH when an ``ssh`` client is on PATH and no password is needed, else paramiko."""
    if ssh.transport == "paramiko":
        return "paramiko"
    if ssh.transport == "openssh":
        if ssh.password:
            raise tunnel_error("ssh.transport = \"openssh\" cannot use ssh.password (OpenSSH runs in BatchMode): "
                              "use a key or ssh-agent, or ssh.transport = \"paramiko\"", transient=False)
        if ssh_client() is None:
            raise tunnel_error("ssh.transport = \"openssh\" but no ssh client is on PATH: install OpenSSH, "
                              "or use ssh.transport = \"auto\"", transient=False)
        return "openssh"
    return "openssh" if ssh_client() is not None and not ssh.password else "paramiko"


def require_key_file(ssh: SshSettings) -> str | None:
    """The profile's ``ssh.key`` with ``~`` resolved; a missing file is an error before any connection."""
    if not ssh.key:
        return None
    path = expand_user_path(ssh.key)
    if not Path(path).is_file():
        raise tunnel_error(f"SSH key file not found: {path}", transient=False)
    return path


def open_tunnel(ssh: SshSettings, remote_host: str, remote_port: int, timeout: float) -> Tunnel:
    """A started tunnel through the transport :func:`choose_transport` picks for ``ssh``."""
    if choose_transport(ssh) == "openssh":
        from dbconsole.tunnel.openssh import OpenSshTunnel

        return OpenSshTunnel.start(ssh, remote_host, remote_port, timeout)
    from dbconsole.tunnel.via_paramiko import ParamikoTunnel  # paramiko only when it is used

    return ParamikoTunnel.start(ssh, remote_host, remote_port, timeout)
