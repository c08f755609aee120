"""The SSH hop: sshtunnel, with the host key checked and every failure said plainly.

sshtunnel (on paramiko) accepts any host key by default and reduces every failure to "Could not
establish session to SSH gateway". Here the gateway connection is made step by step:
``~/.ssh/config`` is applied (Host aliases, HostName, Port, User, IdentityFile,
UserKnownHostsFile, ProxyCommand), the TCP connection and the handshake are bounded by the
profile's ``connect_timeout``, the server's key must match ``known_hosts`` exactly (unknown or
changed: refuse), and authentication tries the given key, the agent's keys, then a password.
The forwarder listens on 127.0.0.1 only. Imported only when a profile has ``ssh``, so plain
connections don't pay for paramiko.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko
import sshtunnel

from dbconsole.config import SshSettings
from dbconsole.connect import login_name
from dbconsole.errors import TunnelError
from dbconsole.redact import redact

# sshtunnel and paramiko log every failed attempt (sshtunnel even adds a stderr handler of its
# own unless given a logger); we report failures as TunnelErrors instead.
_QUIET_LOGGER = logging.getLogger("dbconsole.sshtunnel")
_QUIET_LOGGER.addHandler(logging.NullHandler())
_QUIET_LOGGER.propagate = False
for _name in ("sshtunnel", "paramiko"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)

@dataclass(frozen=True)
class ResolvedSsh:
    """SSH settings after ``~/.ssh/config`` has been applied to the profile's values."""

    alias: str
    hostname: str
    port: int
    user: str
    key_files: tuple[str, ...]
    password: str | None = field(repr=False)  # never in a log through repr()
    known_hosts_files: tuple[str, ...]
    proxy_command: str | None


def resolve_ssh(ssh: SshSettings) -> ResolvedSsh:
    """Apply ``~/.ssh/config`` (Host alias, HostName, Port, User, IdentityFile, ...)."""
    config = paramiko.SSHConfig()
    config_path = Path.home() / ".ssh" / "config"
    if config_path.is_file():
        try:
            config = paramiko.SSHConfig.from_path(str(config_path))
        except Exception as exc:
            raise TunnelError(f"cannot read {config_path}: {exc.__class__.__name__}", transient=False) from None
    found = config.lookup(ssh.host)
    key_files: tuple[str, ...]
    if ssh.key:
        key_files = (os.path.expanduser(ssh.key),)
    else:
        key_files = tuple(os.path.expanduser(k) for k in found.get("identityfile", []) if Path(os.path.expanduser(k)).is_file())
    if ssh.known_hosts:
        known = (os.path.expanduser(ssh.known_hosts),)
    else:
        configured = found.get("userknownhostsfile")
        configured_files = configured.split() if isinstance(configured, str) else list(configured or [])
        known = tuple(os.path.expanduser(p) for p in configured_files) or (
            os.path.expanduser("~/.ssh/known_hosts"),)
        known = known + ("/etc/ssh/ssh_known_hosts",)
    return ResolvedSsh(
        alias=ssh.host,
        hostname=found.get("hostname", ssh.host),
        port=int(ssh.port or found.get("port", 22)),
        user=ssh.user or found.get("user") or login_name(),
        key_files=key_files,
        password=ssh.password,
        known_hosts_files=known,
        proxy_command=found.get("proxycommand"),
    )


def _load_private_key(path: str) -> paramiko.PKey:
    if not Path(path).is_file():
        raise TunnelError(f"SSH key file not found: {path}", transient=False)
    try:
        return paramiko.PKey.from_path(path)
    except paramiko.PasswordRequiredException:
        raise TunnelError(f"SSH key {path} is protected by a passphrase: add it to ssh-agent (ssh-add {path})",
                          transient=False) from None
    except (paramiko.SSHException, OSError, ValueError) as exc:
        raise TunnelError(f"cannot load SSH key {path}: {exc.__class__.__name__}", transient=False) from None


def _host_key_names(hostname: str, port: int) -> list[str]:
    return [hostname] if port == 22 else [f"[{hostname}]:{port}"]


def verify_host_key(resolved: ResolvedSsh, offered: paramiko.PKey) -> None:
    """Fail closed unless ``known_hosts`` holds exactly the key the server offered."""
    names = _host_key_names(resolved.hostname, resolved.port)
    if resolved.alias != resolved.hostname:
        names += _host_key_names(resolved.alias, resolved.port)
    fingerprint = offered.fingerprint  # "SHA256:..."
    known_types: set[str] = set()
    for path in resolved.known_hosts_files:
        if not Path(path).is_file():
            continue
        try:
            host_keys = paramiko.HostKeys(path)
        except (OSError, paramiko.SSHException, ValueError) as exc:
            raise TunnelError(f"cannot read known_hosts file {path}: {exc.__class__.__name__}",
                              transient=False) from None
        for name in names:
            entry = host_keys.lookup(name)
            if not entry:
                continue
            stored = entry.get(offered.get_name())
            if stored is not None:
                if stored.asbytes() == offered.asbytes():
                    return
                raise TunnelError(
                    f"SSH host key for {names[0]} has CHANGED (server offers {offered.get_name()} {fingerprint}, "
                    f"{path} holds another): refusing to connect; if the server was really rebuilt, "
                    f"remove the old key with: ssh-keygen -R '{names[0]}'", transient=False)
            known_types.update(entry.keys())
    if known_types:
        raise TunnelError(
            f"SSH host key for {names[0]} does not match known_hosts (server offers {offered.get_name()} "
            f"{fingerprint}, known_hosts holds {', '.join(sorted(known_types))}): refusing to connect",
            transient=False)
    raise TunnelError(
        f"SSH host key for {names[0]} is unknown (server offers {offered.get_name()} {fingerprint}; "
        f"not in {', '.join(resolved.known_hosts_files[:1])}): verify it and record it with "
        f"ssh-keyscan -p {resolved.port} {resolved.hostname} >> ~/.ssh/known_hosts, or connect once with ssh",
        transient=False)


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
        super().__init__(**kwargs)

    def _get_transport(self) -> paramiko.Transport:
        resolved = self._resolved
        target = f"{resolved.hostname}:{resolved.port}"
        try:
            if resolved.proxy_command:
                sock: Any = paramiko.ProxyCommand(resolved.proxy_command)
            else:
                sock = socket.create_connection((resolved.hostname, resolved.port), timeout=self._timeout)
        except socket.timeout:
            raise TunnelError(f"SSH host {target} did not answer within {self._timeout:g} s", transient=True) from None
        except OSError as exc:
            raise TunnelError(f"cannot reach SSH host {target}: {_os_reason(exc)}", transient=True) from None
        if isinstance(sock, socket.socket):
            _detect_dead_peer(sock)
        transport = paramiko.Transport(sock)
        transport.banner_timeout = self._timeout
        transport.auth_timeout = self._timeout
        transport.handshake_timeout = self._timeout
        transport.set_keepalive(15)
        transport.daemon = True
        return transport

    def _connect_to_gateway(self) -> None:
        resolved = self._resolved
        target = f"{resolved.user}@{resolved.hostname}:{resolved.port}"
        transport = self._get_transport()
        self._transport = transport
        try:
            transport.start_client(timeout=self._timeout)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            transport.close()
            raise TunnelError(f"SSH handshake with {resolved.hostname}:{resolved.port} failed: "
                              f"{redact(str(exc)) or exc.__class__.__name__}", transient=True) from None
        try:
            verify_host_key(resolved, transport.get_remote_server_key())
            for key in self._keys:
                try:
                    transport.auth_publickey(resolved.user, key)
                except paramiko.AuthenticationException:
                    continue
                if transport.is_authenticated():
                    return
            if resolved.password:
                try:
                    transport.auth_password(resolved.user, resolved.password)
                except paramiko.AuthenticationException:
                    pass
                if transport.is_authenticated():
                    return
        except TunnelError:
            transport.close()
            raise
        except (paramiko.SSHException, EOFError, OSError) as exc:
            transport.close()
            raise TunnelError(f"SSH connection to {target} failed: {redact(str(exc)) or exc.__class__.__name__}",
                              transient=True) from None
        transport.close()
        tried = f"{len(self._keys)} key(s)" + (" and a password" if resolved.password else "")
        raise TunnelError(f"SSH authentication failed for {target} (tried {tried})", transient=False)


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


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, socket.gaierror):
        return "unknown host name"
    return (exc.strerror or str(exc)).lower()


def open_forwarder(ssh: SshSettings, remote_host: str, remote_port: int, timeout: float) -> _VerifiedForwarder:
    """A started forwarder from 127.0.0.1:<random port> to ``remote_host:remote_port`` via ``ssh``."""
    resolved = resolve_ssh(ssh)
    keys = [_load_private_key(path) for path in resolved.key_files]
    keys += _agent_keys()
    if not keys and not resolved.password:
        raise TunnelError(f"no SSH key for {resolved.user}@{resolved.hostname}: set ssh.key, "
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
        raise TunnelError(f"SSH tunnel to {remote_host}:{remote_port} via {resolved.hostname} failed: "
                          f"{redact(str(exc))}", transient=True) from None
    return tunnel


def stop_forwarder(tunnel: Any) -> None:
    try:
        tunnel.stop(force=True)
    except Exception:  # a half-open tunnel may fail to stop; nothing else to release
        pass


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
