"""Open a database connection for a profile: through its SSH tunnel, and read-only when it must be.

There is one way in (:func:`connect`) so that every caller gets the same guarantees:

* a profile with ``ssh`` goes through a tunnel (OpenSSH or paramiko, see dbconsole.tunnel), whose SSH host key is
  checked against ``known_hosts`` (sshtunnel and paramiko accept any key by default; we fail
  closed on an unknown or changed key), bound to 127.0.0.1 only, reused per profile and closed
  at exit;
* a read-only profile gets a session the *server* keeps read-only
  (``default_transaction_read_only=on``), checked right after connecting;
* ``connect_timeout`` bounds the SSH hop and the database handshake, ``application_name`` is
  ``dbconsole/<purpose>`` (``dbconsole/sync source``, ``dbconsole/browser``...) so that a DBA
  reading ``pg_stat_activity`` sees who holds a session and why, and libpq's own conventions (``PG*`` variables, ``~/.pgpass``, ``service=``,
  ``sslmode``) keep working, also through the tunnel;
* every failure becomes one readable :class:`ConnectError` line without any secret in it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from dbconsole.config import Profile
from dbconsole.errors import ConnectError
from dbconsole.osuser import login_name
from dbconsole.redact import redact, register_secret
from dbconsole.tunnel.pool import tunnels

APPLICATION_NAME = "dbconsole"
# What a session is for; it becomes its application_name (dbconsole/<purpose>).
Purpose = Literal["sync source", "sync target", "plan", "browser", "counts", "preview", "sql box",
                  "check", "test", "tables", "diff", "health", "schema", "create-missing", "sync diff",
                  "history", "undo"]
PURPOSES: tuple[str, ...] = get_args(Purpose)
DEAD_PEER_SETTINGS = {"keepalives": "1", "keepalives_idle": "30", "keepalives_interval": "10",
                      "keepalives_count": "3", "tcp_user_timeout": "60000"}


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
    purpose: Purpose | None = None,
) -> psycopg.Connection[Any]:
    """A psycopg connection to ``profile``'s database, through its tunnel if it has one.

    ``read_only`` defaults to the profile's setting and can only make a session stricter: a
    read-only profile never gets a writable session. ``options`` become ``-c name=value``
    server settings for the whole session.
    """
    profile.require_usable()  # a profile waiting for a ${VAR} fails here, naming the variable
    if profile.is_sqlite:  # every PostgreSQL-only feature (health, check, the SQL box...) stops here
        raise ConnectError(f"{profile.name} is a SQLite file: it works as a source of tables, schema, diff "
                           "and sync only", transient=False)
    session_read_only = profile.read_only or bool(read_only)
    timeout = connect_timeout or profile.connect_timeout
    params = _conninfo_params(profile)
    settings = dict(options or {})
    if session_read_only:
        settings["default_transaction_read_only"] = "on"
    if settings:
        extra = " ".join(f"-c {name}={value}" for name, value in settings.items())
        params["options"] = f"{params['options']} {extra}" if params.get("options") else extra
    params["application_name"] = application_name(purpose)  # ours even if the URL names another
    params["connect_timeout"] = str(timeout)
    for name, value in DEAD_PEER_SETTINGS.items():  # a vanished network fails in ~a minute, not hours
        params.setdefault(name, value)

    if profile.ssh is not None:
        remote_host, remote_port = _remote_target(params)
        _fill_password_from_pgpass(params, remote_host, remote_port)
        tunnel = tunnels.get(profile, remote_host, remote_port, timeout)
        params["hostaddr"] = "127.0.0.1"
        params["port"] = str(tunnel.local_port)
        if tunnel.database_ssl is False and _ssl_optional(params):
            # The tunnel's probe just heard the database say "no SSL"; libpq's own SSLRequest
            # (sslmode prefer, the default) would only hear it again, one round trip later.
            params["sslmode"] = "disable"
        params.setdefault("host", remote_host)  # kept for sslmode=verify-full and messages
    conninfo = make_conninfo(**{k: v for k, v in params.items() if v is not None})
    try:
        conn = psycopg.connect(conninfo, autocommit=autocommit)
    except psycopg.Error as exc:
        reason = describe_pg_error(exc)
        transient = connect_failure_is_transient(exc)
        if profile.ssh is not None:
            hop = tunnel.why_unreachable(remote_host, remote_port, timeout)
            if hop is not None:  # the SSH hop lost its way to the database: a network failure
                reason, transient = hop, True
        raise ConnectError(f"{profile.name}: {reason}", transient=transient) from None
    if session_read_only:
        _ensure_read_only(conn, profile)
    return conn


def close_quietly(conn: psycopg.Connection[Any] | None) -> None:
    """Close a session whose end no longer matters (a screen going away, a reader reset): a close
    that fails on a dead connection must not replace the error or the result the caller reports."""
    if conn is None:
        return
    try:
        conn.close()
    except psycopg.Error:
        pass


def application_name(purpose: Purpose | None) -> str:
    """``dbconsole/<purpose>``: the name every dbconsole session carries (``health`` finds its own by it)."""
    return f"{APPLICATION_NAME}/{purpose}" if purpose else APPLICATION_NAME


def is_own_session(name: str | None) -> bool:
    """Was a session (by its application_name) opened by dbconsole?"""
    return name is not None and (name == APPLICATION_NAME or name.startswith(f"{APPLICATION_NAME}/"))


def _conninfo_params(profile: Profile) -> dict[str, Any]:
    try:
        params = conninfo_to_dict(profile.url)
    except psycopg.Error:
        raise ConnectError(f"{profile.name}: malformed connection URL {profile.display_url!r}",
                           transient=False) from None
    register_secret(params.get("password"))
    return dict(params)


def _ensure_read_only(conn: psycopg.Connection[Any], profile: Profile) -> None:
    """Prove the server itself will refuse writes in this session; close it otherwise.

    Poolers can drop startup options, so the option is not trusted until the server says so.
    PostgreSQL 14 and later say so unasked: ``default_transaction_read_only`` is among the
    settings the server reports in its start-up reply (``ParameterStatus``, as it does for
    ``target_session_attrs``), so a session that starts read-only costs no round trip to prove
    it; an older server, or one that reports ``off``, is asked (and told) as before.
    """
    if conn.info.parameter_status("default_transaction_read_only") == "on":
        return
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
        raise ConnectError(f"{profile.name}: {describe_pg_error(exc)}",
                           transient=isinstance(exc, psycopg.OperationalError)) from None
    if state != "on":
        conn.close()
        raise ConnectError(f"{profile.name}: the server did not accept a read-only session; refusing to use it",
                           transient=False)


def _scalar(conn: psycopg.Connection[Any], query: str) -> Any:
    with conn.cursor() as cur:
        cur.execute(query)
        row = cur.fetchone()
    return row[0] if row else None


def server_info(profile: Profile, conn: psycopg.Connection[Any], *, latency_samples: int = 3) -> ServerInfo:
    """Version, read-only state (as the server enforces it), SSL and round-trip latency.

    The latency is the median of the facts query and ``latency_samples`` extra ``SELECT 1``
    round trips; a periodic refresh asks for none, so it costs a single round trip.
    """
    with conn.cursor() as cur:
        started = time.perf_counter()
        cur.execute(
            "SELECT version(), current_setting('server_version_num')::int,"
            " current_setting('default_transaction_read_only') = 'on' OR current_setting('transaction_read_only') = 'on',"
            " pg_is_in_recovery(), current_database(), current_user"
        )
        version, version_num, read_only, in_recovery, database, user = cur.fetchone()
        samples = [(time.perf_counter() - started) * 1000]
        for _ in range(latency_samples):
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
        latency_ms=sorted(samples)[len(samples) // 2],
        tunnel=profile.ssh is not None,
        database=database,
        user=user,
    )


# SQLSTATE classes a server answers a connection attempt with that a retry cannot change:
# 28 invalid authorization (password, pg_hba.conf), 3D database does not exist, 42 permission
# denied for the database. The rest (08 connection, 53 too many connections, 57 starting up or
# shutting down) may pass.
_PERMANENT_CONNECT_SQLSTATE_CLASSES = ("28", "3D", "42")
# libpq reports a refusal the server sent during the handshake as text with no SQLSTATE; these
# are its (and the server's) words for the same permanent refusals.
_PERMANENT_HANDSHAKE_WORDS = ("password authentication failed", "authentication failed", "no pg_hba.conf entry",
                              "does not exist", "permission denied", "password supplied")


def connect_failure_is_transient(exc: psycopg.Error) -> bool:
    """Whether ``psycopg.connect`` failing with ``exc`` may succeed when tried again.

    Decided by the SQLSTATE when the server sent one, else by libpq's handshake message: the
    only place where a message is read, because libpq gives nothing else to go by.
    """
    state = exc.sqlstate
    if state:
        return state[:2] not in _PERMANENT_CONNECT_SQLSTATE_CLASSES
    if not isinstance(exc, psycopg.OperationalError):
        return False  # a ProgrammingError from a bad conninfo option
    message = str(exc)
    return not any(words in message for words in _PERMANENT_HANDSHAKE_WORDS)


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


def _ssl_optional(params: dict[str, Any]) -> bool:
    """SSL is used only if the server offers it (``prefer``, libpq's default, or ``allow``)."""
    mode = params.get("sslmode") or os.environ.get("PGSSLMODE") or "prefer"
    return mode in ("prefer", "allow") and not params.get("requiressl")


def _remote_target(params: dict[str, Any]) -> tuple[str, int]:
    """The database host:port as seen from the SSH host (default localhost:5432)."""
    host = str(params.get("host") or os.environ.get("PGHOST") or "localhost")
    if "," in host:
        raise ConnectError("a profile with ssh can name only one database host", transient=False)
    if host.startswith("/"):
        host = "localhost"  # a socket path means "on the SSH host itself"
    port = str(params.get("port") or os.environ.get("PGPORT") or "5432")
    if not port.isdigit():
        raise ConnectError(f"bad database port {port!r}", transient=False)
    return host, int(port)


def _fill_password_from_pgpass(params: dict[str, Any], host: str, port: int) -> None:
    """Look ``~/.pgpass`` up by the *remote* host:port, which libpq can no longer see."""
    if params.get("password") or os.environ.get("PGPASSWORD"):
        return
    passfile = Path(params.get("passfile") or os.environ.get("PGPASSFILE") or Path.home() / ".pgpass")
    if not passfile.is_file():
        return
    user = params.get("user") or os.environ.get("PGUSER") or login_name()
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
