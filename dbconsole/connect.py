"""Open a database connection for a profile: through its SSH tunnel, and read-only when it must be.

There is one way in (:func:`connect`) so that every caller gets the same guarantees:

* a profile with ``ssh`` goes through a tunnel built with sshtunnel, whose SSH host key is
  checked against ``known_hosts`` (sshtunnel and paramiko accept any key by default; we fail
  closed on an unknown or changed key), bound to 127.0.0.1 only, reused per profile and closed
  at exit;
* a read-only profile gets a session the *server* keeps read-only
  (``default_transaction_read_only=on``), checked right after connecting;
* ``connect_timeout`` bounds the SSH hop and the database handshake, ``application_name`` is
  ``dbconsole``, and libpq's own conventions (``PG*`` variables, ``~/.pgpass``, ``service=``,
  ``sslmode``) keep working, also through the tunnel;
* every failure becomes one readable :class:`ConnectError` line without any secret in it.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
import psycopg
import sshtunnel
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from dbconsole.config import Profile, SshSettings
from dbconsole.errors import ConnectError, TunnelError
from dbconsole.redact import redact, register_secret

APPLICATION_NAME = "dbconsole"
log = logging.getLogger(__name__)
# sshtunnel logs every failed attempt at ERROR level on its own logger; we report instead.
logging.getLogger("sshtunnel").setLevel(logging.CRITICAL)
logging.getLogger("paramiko").setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class ServerInfo:
    """What ``dbconsole check`` reports about a live connection."""

    version: str
    version_num: int
    read_only: bool
    in_recovery: bool
    ssl: bool
    latency_ms: float
    tunnel: bool
    database: str
    user: str


# --------------------------------------------------------------------------- connections


def connect(
    profile: Profile,
    *,
    autocommit: bool = False,
    read_only: bool | None = None,
    options: dict[str, str] | None = None,
    connect_timeout: int | None = None,
    purpose: str | None = None,
) -> psycopg.Connection[Any]:
    """A psycopg connection to ``profile``'s database, through its tunnel if it has one.

    ``read_only`` defaults to the profile's setting and can only make a session stricter: a
    read-only profile never gets a writable session. ``options`` become ``-c name=value``
    server settings for the whole session.
    """
    session_read_only = profile.read_only or bool(read_only)
    timeout = connect_timeout or profile.connect_timeout
    params = _conninfo_params(profile)
    settings = dict(options or {})
    if session_read_only:
        settings["default_transaction_read_only"] = "on"
    if settings:
        extra = " ".join(f"-c {name}={value}" for name, value in settings.items())
        params["options"] = f"{params['options']} {extra}" if params.get("options") else extra
    params.setdefault("application_name", APPLICATION_NAME if not purpose else f"{APPLICATION_NAME} {purpose}")
    params["connect_timeout"] = str(timeout)

    if profile.ssh is not None:
        remote_host, remote_port = _remote_target(params)
        _fill_password_from_pgpass(params, remote_host, remote_port)
        tunnel = tunnels.get(profile, remote_host, remote_port, timeout)
        params["hostaddr"] = "127.0.0.1"
        params["port"] = str(tunnel.local_bind_port)
        params.setdefault("host", remote_host)  # kept for sslmode=verify-full and messages
    conninfo = make_conninfo(**{k: v for k, v in params.items() if v is not None})
    try:
        conn = psycopg.connect(conninfo, autocommit=autocommit)
    except psycopg.Error as exc:
        raise ConnectError(f"{profile.name}: {describe_pg_error(exc)}") from None
    if session_read_only:
        _ensure_read_only(conn, profile)
    return conn


def _conninfo_params(profile: Profile) -> dict[str, Any]:
    try:
        params = conninfo_to_dict(profile.url)
    except psycopg.Error:
        raise ConnectError(f"{profile.name}: malformed connection URL {profile.display_url!r}") from None
    register_secret(params.get("password"))
    return dict(params)


def _ensure_read_only(conn: psycopg.Connection[Any], profile: Profile) -> None:
    """Prove the server itself will refuse writes in this session; close it otherwise.

    Poolers can drop startup options, so the option is not trusted until the server says so.
    """
    try:
        state = _scalar(conn, "SHOW default_transaction_read_only")
        if state != "on":
            with conn.cursor() as cur:
                cur.execute("SET SESSION default_transaction_read_only = on")
            state = _scalar(conn, "SHOW default_transaction_read_only")
        if not conn.autocommit:
            conn.rollback()
    except psycopg.Error as exc:
        conn.close()
        raise ConnectError(f"{profile.name}: {describe_pg_error(exc)}") from None
    if state != "on":
        conn.close()
        raise ConnectError(f"{profile.name}: the server did not accept a read-only session; refusing to use it")


def _scalar(conn: psycopg.Connection[Any], query: str) -> Any:
    with conn.cursor() as cur:
        cur.execute(query)
        row = cur.fetchone()
    return row[0] if row else None


def server_info(profile: Profile, conn: psycopg.Connection[Any]) -> ServerInfo:
    """Version, read-only state (as the server enforces it), SSL and round-trip latency."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT version(), current_setting('server_version_num')::int,"
            " current_setting('default_transaction_read_only') = 'on' OR current_setting('transaction_read_only') = 'on',"
            " pg_is_in_recovery(), current_database(), current_user"
        )
        version, version_num, read_only, in_recovery, database, user = cur.fetchone()
        samples = []
        for _ in range(3):
            started = time.perf_counter()
            cur.execute("SELECT 1")
            cur.fetchone()
            samples.append((time.perf_counter() - started) * 1000)
    if not conn.autocommit:
        conn.rollback()
    return ServerInfo(
        version=version.split(" on ")[0].split(",")[0],
        version_num=version_num,
        read_only=bool(read_only or in_recovery),
        in_recovery=bool(in_recovery),
        ssl=bool(conn.pgconn.ssl_in_use),
        latency_ms=sorted(samples)[1],
        tunnel=profile.ssh is not None,
        database=database,
        user=user,
    )


def describe_pg_error(exc: BaseException) -> str:
    """One line for a psycopg error: the server's primary message, secrets removed."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    text = primary or str(exc) or exc.__class__.__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return exc.__class__.__name__
    first = lines[0]
    if first.startswith("connection failed:") and len(lines) > 1 and first.endswith("failed:"):
        first = f"{first} {lines[1]}"
    return redact(first.replace("connection failed: ", ""))


# --------------------------------------------------------------------------- libpq details


def _remote_target(params: dict[str, Any]) -> tuple[str, int]:
    """The database host:port as seen from the SSH host (default localhost:5432)."""
    host = str(params.get("host") or os.environ.get("PGHOST") or "localhost")
    if "," in host:
        raise ConnectError("a profile with ssh can name only one database host")
    if host.startswith("/"):
        host = "localhost"  # a socket path means "on the SSH host itself"
    port = str(params.get("port") or os.environ.get("PGPORT") or "5432")
    if not port.isdigit():
        raise ConnectError(f"bad database port {port!r}")
    return host, int(port)


def _fill_password_from_pgpass(params: dict[str, Any], host: str, port: int) -> None:
    """Look ``~/.pgpass`` up by the *remote* host:port, which libpq can no longer see."""
    if params.get("password") or os.environ.get("PGPASSWORD"):
        return
    passfile = Path(params.get("passfile") or os.environ.get("PGPASSFILE") or Path.home() / ".pgpass")
    if not passfile.is_file():
        return
    user = params.get("user") or os.environ.get("PGUSER") or _login_name()
    dbname = params.get("dbname") or os.environ.get("PGDATABASE") or user
    wanted = (host, str(port), dbname, user)
    try:
        lines = passfile.read_text(encoding="utf-8").splitlines()
    except OSError:
        return
    for line in lines:
        if not line or line.startswith("#"):
            continue
        fields = _split_pgpass(line)
        if len(fields) == 5 and all(f in ("*", w) for f, w in zip(fields[:4], wanted)):
            params["password"] = fields[4]
            register_secret(fields[4])
            return


def _split_pgpass(line: str) -> list[str]:
    fields, current, escaped = [], [], False
    for char in line:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ":" and len(fields) < 4:
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
    fields.append("".join(current))
    return fields


def _login_name() -> str:
    try:
        import getpass

        return getpass.getuser()
    except Exception:
        return "postgres"


# --------------------------------------------------------------------------- SSH tunnels


@dataclass(frozen=True)
class ResolvedSsh:
    """SSH settings after ``~/.ssh/config`` has been applied to the profile's values."""

    alias: str
    hostname: str
    port: int
    user: str
    key_files: tuple[str, ...]
    password: str | None
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
            raise TunnelError(f"cannot read {config_path}: {exc.__class__.__name__}") from None
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
        user=ssh.user or found.get("user") or _login_name(),
        key_files=key_files,
        password=ssh.password,
        known_hosts_files=known,
        proxy_command=found.get("proxycommand"),
    )


def _load_private_key(path: str) -> paramiko.PKey:
    if not Path(path).is_file():
        raise TunnelError(f"SSH key file not found: {path}")
    try:
        return paramiko.PKey.from_path(path)
    except paramiko.PasswordRequiredException:
        raise TunnelError(f"SSH key {path} is protected by a passphrase: add it to ssh-agent (ssh-add {path})") from None
    except (paramiko.SSHException, OSError, ValueError) as exc:
        raise TunnelError(f"cannot load SSH key {path}: {exc.__class__.__name__}") from None


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
            raise TunnelError(f"cannot read known_hosts file {path}: {exc.__class__.__name__}") from None
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
                    f"remove the old key with: ssh-keygen -R '{names[0]}'")
            known_types.update(entry.keys())
    if known_types:
        raise TunnelError(
            f"SSH host key for {names[0]} does not match known_hosts (server offers {offered.get_name()} "
            f"{fingerprint}, known_hosts holds {', '.join(sorted(known_types))}): refusing to connect")
    raise TunnelError(
        f"SSH host key for {names[0]} is unknown (server offers {offered.get_name()} {fingerprint}; "
        f"not in {', '.join(resolved.known_hosts_files[:1])}): verify it and record it with "
        f"ssh-keyscan -p {resolved.port} {resolved.hostname} >> ~/.ssh/known_hosts, or connect once with ssh")


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
            raise TunnelError(f"SSH host {target} did not answer within {self._timeout:g} s") from None
        except OSError as exc:
            raise TunnelError(f"cannot reach SSH host {target}: {_os_reason(exc)}") from None
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
                              f"{redact(str(exc)) or exc.__class__.__name__}") from None
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
            raise TunnelError(f"SSH connection to {target} failed: {redact(str(exc)) or exc.__class__.__name__}") from None
        transport.close()
        tried = f"{len(self._keys)} key(s)" + (" and a password" if resolved.password else "")
        raise TunnelError(f"SSH authentication failed for {target} (tried {tried})")


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, socket.gaierror):
        return "unknown host name"
    return (exc.strerror or str(exc)).lower()


class TunnelPool:
    """One live tunnel per profile, rebuilt when its SSH connection died, all closed at exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tunnels: dict[tuple[Any, ...], _VerifiedForwarder] = {}

    def get(self, profile: Profile, remote_host: str, remote_port: int, timeout: float) -> _VerifiedForwarder:
        assert profile.ssh is not None
        key = (profile.name, profile.ssh, remote_host, remote_port)
        with self._lock:
            tunnel = self._tunnels.get(key)
            if tunnel is not None and tunnel.is_active and tunnel.is_alive:
                return tunnel
            if tunnel is not None:
                self._stop(tunnel)
                del self._tunnels[key]
            tunnel = self._open(profile.ssh, remote_host, remote_port, timeout)
            self._tunnels[key] = tunnel
            return tunnel

    def _open(self, ssh: SshSettings, remote_host: str, remote_port: int, timeout: float) -> _VerifiedForwarder:
        resolved = resolve_ssh(ssh)
        keys = [_load_private_key(path) for path in resolved.key_files]
        keys += _agent_keys()
        if not keys and not resolved.password:
            raise TunnelError(f"no SSH key for {resolved.user}@{resolved.hostname}: set ssh.key, "
                              "add an IdentityFile in ~/.ssh/config, or load a key into ssh-agent")
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
        )
        try:
            tunnel.start()
        except TunnelError:
            self._stop(tunnel)
            raise
        except sshtunnel.BaseSSHTunnelForwarderError as exc:
            self._stop(tunnel)
            raise TunnelError(f"SSH tunnel to {remote_host}:{remote_port} via {resolved.hostname} failed: "
                              f"{redact(str(exc))}") from None
        return tunnel

    def close_all(self) -> None:
        with self._lock:
            tunnels = list(self._tunnels.values())
            self._tunnels.clear()
        for tunnel in tunnels:
            self._stop(tunnel)

    def close(self, profile_name: str) -> None:
        with self._lock:
            keys = [k for k in self._tunnels if k[0] == profile_name]
            tunnels = [self._tunnels.pop(k) for k in keys]
        for tunnel in tunnels:
            self._stop(tunnel)

    @staticmethod
    def _stop(tunnel: _VerifiedForwarder) -> None:
        try:
            tunnel.stop(force=True)
        except Exception:  # a half-open tunnel may fail to stop; nothing else to release
            log.debug("tunnel stop failed", exc_info=True)


def _agent_keys() -> list[paramiko.PKey]:
    if not os.environ.get("SSH_AUTH_SOCK"):
        return []
    try:
        return list(paramiko.Agent().get_keys())
    except Exception:
        return []


tunnels = TunnelPool()
atexit.register(tunnels.close_all)
