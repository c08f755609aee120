"""The paramiko transport: sshtunnel, with the host key checked and every failure said plainly.

The fallback when no OpenSSH client is on PATH or the profile needs ``ssh.password``.

sshtunnel (on paramiko) accepts any host key by default and reduces every failure to "Could not
establish session to SSH gateway". Here the gateway connection is made step by step:
``~/.ssh/config`` is applied (paramiko_hosts.py: Host aliases, HostName, Port, User, IdentityFile,
UserKnownHostsFile, ProxyCommand, ProxyJump: each jump host is logged into with the same checks,
and the next hop is a channel through it), the TCP connection and the handshake are bounded by the
profile's ``connect_timeout``, the server's key must match ``known_hosts`` exactly (unknown or
changed: refuse), and authentication tries the given key, the agent's keys, then a password.
The forwarder listens on 127.0.0.1 only; ``ssh.compression`` turns on zlib. Imported only when
a profile uses this transport, so other connections don't pay for paramiko.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

import paramiko
import sshtunnel

from dbconsole.config import SshSettings
from dbconsole.errors import TunnelError
from dbconsole.redact import redact
from dbconsole.tunnel.base import TransportName, tunnel_error
from dbconsole.tunnel.paramiko_hosts import ResolvedSsh, resolve_ssh, verify_host_key

# sshtunnel and paramiko log every failed attempt (sshtunnel even adds a stderr handler of its
# own unless given a logger); we report failures as TunnelErrors instead.
_QUIET_LOGGER = logging.getLogger("dbconsole.sshtunnel")
_QUIET_LOGGER.addHandler(logging.NullHandler())
_QUIET_LOGGER.propagate = False
for _name in ("sshtunnel", "paramiko"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)

def _load_private_key(path: str) -> paramiko.PKey:
    try:
        return paramiko.PKey.from_path(path)
    except paramiko.PasswordRequiredException:
        raise tunnel_error(f"SSH key {path} is protected by a passphrase: add it to ssh-agent (ssh-add {path})", transient=False) from None
    except (paramiko.SSHException, OSError, ValueError) as exc:
        raise tunnel_error(f"cannot load SSH key {path}: {exc.__class__.__name__}", transient=False) from None


class _VerifiedForwarder(sshtunnel.SSHTunnelForwarder):
    """sshtunnel's forwarder with a checked host key, a bounded handshake and clear errors.

    sshtunnel accepts any host key and reduces every failure to "Could not establish session to
    SSH gateway"; here the gateway connection is made by us, step by step, and each step raises
    a :class:`TunnelError` saying what went wrong.
    """

    def __init__(self, resolved: ResolvedSsh, keys: list[paramiko.PKey], timeout: float, **kwargs: Any) -> None:
        self._resolved = resolved
        self._keys = keys
        self._timeout = timeout
        self._hops: list[paramiko.Transport] = []  # the jump hosts' connections, first hop first
        super().__init__(**kwargs)

    def _get_transport(self) -> paramiko.Transport:
        """The (not yet started) transport to the SSH host, through every jump host on the way."""
        through: paramiko.Transport | None = None
        reached: list[str] = []
        for hop in self._resolved.jump:
            transport = self._transport_over(self._open_socket(hop, through), compression=False)
            self._hops.append(transport)
            self._login(transport, hop, _hop_keys(hop), via=",".join(reached) or None)
            through = transport
            reached.append(hop.alias)
        return self._transport_over(self._open_socket(self._resolved, through), compression=self._resolved.compression)

    def _open_socket(self, hop: ResolvedSsh, through: paramiko.Transport | None) -> Any:
        target = f"{hop.hostname}:{hop.port}"
        if through is not None:  # resolved and connected by the jump host, never here
            try:
                return through.open_channel("direct-tcpip", (hop.hostname, hop.port), ("127.0.0.1", 0),
                                            timeout=self._timeout)
            except paramiko.ChannelException as exc:
                reason = "unknown host name" if "resolve" in (exc.text or "").lower() else (exc.text or "refused")
                raise tunnel_error(f"cannot reach SSH host {target} through the jump host: {reason}",
                                   transient=reason != "unknown host name") from None
            except (paramiko.SSHException, OSError, EOFError):
                raise tunnel_error(f"the jump host dropped the connection while opening {target}", transient=True) from None
        try:
            if hop.proxy_command:
                return paramiko.ProxyCommand(hop.proxy_command)
            sock = socket.create_connection((hop.hostname, hop.port), timeout=self._timeout)
        except socket.timeout:
            raise tunnel_error(f"SSH host {target} did not answer within {self._timeout:g} s", transient=True) from None
        except OSError as exc:
            raise tunnel_error(f"cannot reach SSH host {target}: {_os_reason(exc)}",
                               transient=not isinstance(exc, socket.gaierror) or exc.errno == socket.EAI_AGAIN) from None
        _detect_dead_peer(sock)
        send_without_delay(sock)
        return sock

    def _make_ssh_forward_handler_class(self, remote_address_: Any) -> Any:
        """sshtunnel's handler, with the local side of each forwarded connection sending at once too."""
        base = super()._make_ssh_forward_handler_class(remote_address_)

        class Handler(base):  # type: ignore[misc, valid-type]
            def setup(self) -> None:
                send_without_delay(self.request)
                super().setup()

        return Handler

    def _transport_over(self, sock: Any, *, compression: bool) -> paramiko.Transport:
        transport = paramiko.Transport(sock)
        transport.use_compression(compression)  # the last hop's stream compresses end to end
        transport.banner_timeout = self._timeout
        transport.auth_timeout = self._timeout
        transport.handshake_timeout = self._timeout
        transport.set_keepalive(15)
        transport.daemon = True
        return transport

    def _connect_to_gateway(self) -> None:
        try:
            transport = self._get_transport()
            self._transport = transport
            self._login(transport, self._resolved, self._keys, via=self._resolved.jump_spec)
        except TunnelError:
            self.close_hops()
            raise

    def close_hops(self) -> None:
        for transport in reversed(self._hops):
            transport.close()
        self._hops.clear()

    def _login(self, transport: paramiko.Transport, hop: ResolvedSsh, keys: list[paramiko.PKey],
               via: str | None) -> None:
        """Handshake, host key against known_hosts, then the keys and the password, in that order."""
        target = f"{hop.user}@{hop.hostname}:{hop.port}"
        try:
            transport.start_client(timeout=self._timeout)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            transport.close()
            raise tunnel_error(f"SSH handshake with {hop.hostname}:{hop.port} failed: "
                              f"{redact(str(exc)) or exc.__class__.__name__}", transient=True) from None
        try:
            verify_host_key(hop, transport.get_remote_server_key(), via=via)
            for key in keys:
                try:
                    transport.auth_publickey(hop.user, key)
                except paramiko.AuthenticationException:
                    continue
                if transport.is_authenticated():
                    return
            if hop.password:
                try:
                    transport.auth_password(hop.user, hop.password)
                except paramiko.AuthenticationException:
                    pass
                if transport.is_authenticated():
                    return
        except TunnelError:
            transport.close()
            raise
        except (paramiko.SSHException, EOFError, OSError) as exc:
            transport.close()
            raise tunnel_error(f"SSH connection to {target} failed: {redact(str(exc)) or exc.__class__.__name__}", transient=True) from None
        transport.close()
        tried = f"{len(keys)} key(s)" + (" and a password" if hop.password else "")
        raise tunnel_error(f"SSH authentication failed for {target} (tried {tried})", transient=False)


def _hop_keys(hop: ResolvedSsh) -> list[paramiko.PKey]:
    """A jump host's keys: its IdentityFiles from the config, then the agent's (as OpenSSH's -J does)."""
    return [_load_private_key(path) for path in hop.key_files] + _agent_keys()


def _detect_dead_peer(sock: socket.socket) -> None:
    """Keepalives and a send timeout, so a vanished network ends the tunnel within a minute
    (paramiko's own keepalive only sends; it never notices that nobody answers)."""
    options = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    for name, value in (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3), ("TCP_USER_TIMEOUT", 60_000)):
        if hasattr(socket, name):
            options.append((socket.IPPROTO_TCP, getattr(socket, name), value))
    for level, option, value in options:
        try:
            sock.setsockopt(level, option, value)
        except OSError:
            pass


def send_without_delay(sock: Any) -> None:
    """``TCP_NODELAY``: a small message (a query, a window adjust, a ``Sync``) leaves now.

    libpq sets it on its own TCP sockets; paramiko and sshtunnel set it on none of theirs, so
    Nagle's rule held a small write back until the previous one was acknowledged: up to a round
    trip (or a 40 ms delayed ACK) at every turn of the conversation. A unix socket has no such
    option, which is fine.
    """
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, socket.gaierror):
        return "unknown host name"
    return (exc.strerror or str(exc)).lower()


class ParamikoTunnel:
    """A :class:`~dbconsole.tunnel.base.Tunnel` over sshtunnel's forwarder."""

    transport: TransportName = "paramiko"

    def __init__(self, forwarder: _VerifiedForwarder) -> None:
        self._forwarder = forwarder
        self.local_port: int = forwarder.local_bind_port
        self.database_ssl: bool | None = None  # not probed

    @classmethod
    def start(cls, ssh: SshSettings, remote_host: str, remote_port: int, timeout: float) -> ParamikoTunnel:
        return cls(open_forwarder(ssh, remote_host, remote_port, timeout))

    def is_alive(self) -> bool:
        return is_alive(self._forwarder)

    def close(self) -> None:
        stop_forwarder(self._forwarder)

    def why_unreachable(self, remote_host: str, remote_port: int, timeout: float) -> str | None:
        return why_unreachable(self._forwarder, remote_host, remote_port, timeout)


def open_forwarder(ssh: SshSettings, remote_host: str, remote_port: int, timeout: float) -> _VerifiedForwarder:
    """A started forwarder from 127.0.0.1:<random port> to ``remote_host:remote_port`` via ``ssh``."""
    resolved = resolve_ssh(ssh)
    keys = [_load_private_key(path) for path in resolved.key_files]
    keys += _agent_keys()
    if not keys and not resolved.password:
        raise tunnel_error(f"no SSH key for {resolved.user}@{resolved.hostname}: set ssh.key, "
                          "add an IdentityFile in ~/.ssh/config, or load a key into ssh-agent", transient=False)
    tunnel = _VerifiedForwarder(
        resolved, keys, timeout,
        ssh_address_or_host=(resolved.hostname, resolved.port),
        ssh_username=resolved.user,
        ssh_pkey=keys[0] if keys else None,
        ssh_password=resolved.password,
        ssh_config_file=None,
        allow_agent=False,
        host_pkey_directories=[],
        remote_bind_address=(remote_host, remote_port),
        local_bind_address=("127.0.0.1", 0),  # never expose the database on other interfaces
        set_keepalive=15.0,
        logger=_QUIET_LOGGER,  # sshtunnel would otherwise print to stderr, right over the TUI
    )
    try:
        tunnel.start()
    except TunnelError:
        stop_forwarder(tunnel)
        raise
    except sshtunnel.BaseSSHTunnelForwarderError as exc:
        stop_forwarder(tunnel)
        raise tunnel_error(f"SSH tunnel to {remote_host}:{remote_port} via {resolved.hostname} failed: "
                          f"{redact(str(exc))}", transient=True) from None
    return tunnel


def stop_forwarder(tunnel: Any) -> None:
    try:
        tunnel.stop(force=True)
    except Exception:  # a half-open tunnel may fail to stop; nothing else to release
        pass
    tunnel.close_hops()


def why_unreachable(tunnel: Any, remote_host: str, remote_port: int, timeout: float) -> str | None:
    """After a failed database connection: can the SSH host reach the database at all?

    Only asked on failure, so a healthy connection costs no extra channel (and the server's
    log no "incomplete startup packet").
    """
    transport = getattr(tunnel, "_transport", None)
    if transport is None or not transport.is_active():
        return "the SSH connection is gone"
    try:
        channel = transport.open_channel("direct-tcpip", (remote_host, remote_port), ("127.0.0.1", 0),
                                         timeout=timeout)
    except paramiko.ChannelException as exc:
        return f"the SSH host cannot reach the database at {remote_host}:{remote_port} ({exc.text})"
    except (paramiko.SSHException, OSError, EOFError):
        return "the SSH connection failed while opening a channel"
    channel.close()
    return None


def is_alive(tunnel: Any) -> bool:
    return bool(tunnel.is_active and tunnel.is_alive)


def _agent_keys() -> list[paramiko.PKey]:
    if not os.environ.get("SSH_AUTH_SOCK"):
        return []
    try:
        return list(paramiko.Agent().get_keys())
    except Exception:
        return []
