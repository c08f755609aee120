"""How a server is doing, read the way a DBA would: ``dbconsole health`` and the console's health view.

Why it is here: dbconsole is pointed at production, and the checks people otherwise do by hand
(sizes, connections, long queries, locks, replication, wraparound, vacuum) belong next to it.
It is read-only by construction (a read-only session, statistics views only), every query is
time-boxed by the session's ``statement_timeout`` and ``lock_timeout``, and one panel failing
(a timeout, a missing privilege) leaves the other panels standing: the report carries the
panel's error instead. dbconsole's own sessions (``application_name`` ``dbconsole/...``) are
listed apart and flagged wherever they appear, so a DBA can tell them from the application.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import psycopg

from dbconsole import health_sql as q
from dbconsole.config import Profile
from dbconsole.connect import connect, describe_pg_error, is_own_session
from dbconsole.errors import ConnectError
from dbconsole.redact import redact

DEFAULT_THRESHOLD_SECONDS = 30.0
TOP = 10
HEALTH_SESSION = {"statement_timeout": "5000", "lock_timeout": "1000", "idle_in_transaction_session_timeout": "10000"}

PanelName = Literal["size", "connections", "long_queries", "locks", "replication", "wraparound", "vacuum",
                    "own_sessions"]
PANELS: tuple[PanelName, ...] = ("size", "connections", "long_queries", "locks", "replication", "wraparound",
                                 "vacuum", "own_sessions")


@dataclass(frozen=True)
class Session:
    """One row of pg_stat_activity, as every session list shows it."""

    pid: int
    user: str | None
    database: str | None
    application: str | None
    state: str | None
    backend_type: str | None
    query_seconds: float | None
    transaction_seconds: float | None
    wait_event_type: str | None
    wait_event: str | None
    query: str | None
    xmin_age: int | None
    current: bool  # the health session itself
    query_id: int | None
    dbconsole: bool = False
    blocked_by: tuple[int, ...] = ()
    blocking: bool = False


def _session(row: tuple[Any, ...]) -> Session:
    base = list(row[:14])
    base[10] = redact(base[10]) if base[10] is not None else None  # a query may spell out one of our secrets
    return Session(*base, dbconsole=is_own_session(base[3]))


@dataclass(frozen=True)
class Relation:
    schema: str
    name: str
    bytes: int
    table: str | None = None  # an index's table


@dataclass(frozen=True)
class SizePanel:
    database_bytes: int
    largest_tables: list[Relation]
    largest_indexes: list[Relation]


@dataclass(frozen=True)
class ConnectionsPanel:
    total: int
    max_connections: int
    by_state: dict[str, int]
    by_application: dict[str, int]


@dataclass(frozen=True)
class LocksPanel:
    blocked: list[Session]
    blocking: list[Session]


@dataclass(frozen=True)
class Standby:
    """A standby streaming from this primary (pg_stat_replication)."""

    application: str | None
    client_addr: str | None
    state: str | None
    sync_state: str | None
    replay_lag_bytes: float | None
    write_lag_seconds: float | None
    flush_lag_seconds: float | None
    replay_lag_seconds: float | None


@dataclass(frozen=True)
class Slot:
    name: str
    type: str
    active: bool
    xmin_age: int | None
    catalog_xmin_age: int | None
    retained_bytes: float | None


@dataclass(frozen=True)
class ReplicationPanel:
    """``role`` is what this server is; ``standbys`` on a primary, the ``replay_*`` fields on a standby.

    ``replay_delay_seconds`` is the time since the last replayed transaction: it also grows
    while the primary is idle, which ``receive_replay_gap_bytes`` (0 then) tells apart.
    """

    role: Literal["primary", "standby"]
    standbys: list[Standby] = field(default_factory=list)
    slots: list[Slot] = field(default_factory=list)
    replay_delay_seconds: float | None = None
    receive_replay_gap_bytes: float | None = None
    wal_receiver_status: str | None = None
    upstream_host: str | None = None


@dataclass(frozen=True)
class DatabaseAge:
    database: str
    xid_age: int
    mxid_age: int


@dataclass(frozen=True)
class PreparedTransaction:
    gid: str
    seconds: float
    xid_age: int
    database: str


@dataclass(frozen=True)
class WraparoundPanel:
    freeze_max_age: int
    databases: list[DatabaseAge]
    oldest_transactions: list[Session]
    prepared: list[PreparedTransaction]


@dataclass(frozen=True)
class VacuumProgress:
    pid: int
    database: str | None
    table: str | None
    phase: str
    heap_blocks_total: int
    heap_blocks_scanned: int
    heap_blocks_vacuumed: int
    index_vacuum_count: int
    autovacuum: bool
    seconds: float | None
    indexes_total: int | None  # PostgreSQL 17+
    indexes_processed: int | None  # PostgreSQL 17+


@dataclass(frozen=True)
class VacuumPanel:
    autovacuum_on: bool
    max_workers: int
    workers_running: int
    running: list[VacuumProgress]


@dataclass
class HealthReport:
    """Every panel, or (in ``errors``) why a panel could not be read. ``to_json`` is what ``--json`` prints."""

    profile: str
    server_version: str
    server_version_num: int
    in_recovery: bool
    collected_at: str
    threshold_seconds: float
    size: SizePanel | None = None
    connections: ConnectionsPanel | None = None
    long_queries: list[Session] | None = None
    locks: LocksPanel | None = None
    replication: ReplicationPanel | None = None
    wraparound: WraparoundPanel | None = None
    vacuum: VacuumPanel | None = None
    own_sessions: list[Session] | None = None
    errors: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- reading


def open_health_session(profile: Profile) -> psycopg.Connection[Any]:
    """A read-only, autocommit session whose every statement is time-boxed (``dbconsole/health``)."""
    return connect(profile, read_only=True, autocommit=True, purpose="health", options=HEALTH_SESSION)


def read_health(conn: psycopg.Connection[Any], profile_name: str, *,
                threshold_seconds: float = DEFAULT_THRESHOLD_SECONDS, top: int = TOP) -> HealthReport:
    """Every panel, one query each; a panel that fails is reported in ``errors``, the others still read.

    A lost connection is not a panel's failure: it raises :class:`ConnectError`.
    """
    with conn.cursor() as cur:
        cur.execute("SELECT current_setting('server_version'), current_setting('server_version_num')::int,"
                    " pg_is_in_recovery()")
        version, version_num, in_recovery = cur.fetchone()  # type: ignore[misc]
    report = HealthReport(profile=profile_name, server_version=version, server_version_num=version_num,
                          in_recovery=in_recovery, threshold_seconds=threshold_seconds,
                          collected_at=datetime.now(UTC).isoformat(timespec="seconds"))
    params = {"top": top, "threshold": threshold_seconds, "query_chars": q.QUERY_CHARS}
    readers: dict[PanelName, Callable[[psycopg.Cursor[Any]], Any]] = {
        "size": lambda cur: _size(cur, params),
        "connections": _connections,
        "long_queries": lambda cur: _sessions(cur, q.with_session_columns(q.LONG_QUERIES_SQL, version_num), params),
        "locks": lambda cur: _locks(cur, version_num, params),
        "replication": lambda cur: _replication(cur, in_recovery),
        "wraparound": lambda cur: _wraparound(cur, version_num, params),
        "vacuum": lambda cur: _vacuum(cur, version_num),
        "own_sessions": lambda cur: _sessions(cur, q.with_session_columns(q.OWN_SESSIONS_SQL, version_num), params),
    }
    for name, reader in readers.items():
        try:
            with conn.cursor() as cur:
                setattr(report, name, reader(cur))
        except psycopg.Error as exc:
            if conn.closed or conn.broken:
                raise ConnectError(f"{profile_name}: lost the connection: {describe_pg_error(exc)}") from None
            report.errors[name] = describe_pg_error(exc)
    return report


def _sessions(cur: psycopg.Cursor[Any], query: Any, params: dict[str, Any]) -> list[Session]:
    cur.execute(query, params)
    return [_session(row) for row in cur.fetchall()]


def _size(cur: psycopg.Cursor[Any], params: dict[str, Any]) -> SizePanel:
    cur.execute(q.SIZE_SQL, params)
    database_bytes, tables, indexes = cur.fetchone()  # type: ignore[misc]
    return SizePanel(database_bytes=database_bytes, largest_tables=[Relation(**t) for t in tables],
                     largest_indexes=[Relation(**i) for i in indexes])


def _connections(cur: psycopg.Cursor[Any]) -> ConnectionsPanel:
    cur.execute(q.CONNECTIONS_SQL)
    by_state: dict[str, int] = {}
    by_application: dict[str, int] = {}
    max_connections = 0
    for is_state, state, application, count, max_connections in cur.fetchall():
        if is_state:
            by_state[state] = count
        else:
            by_application[application] = count
    if not max_connections:
        cur.execute("SELECT current_setting('max_connections')::int")
        max_connections = cur.fetchone()[0]  # type: ignore[index]
    return ConnectionsPanel(total=sum(by_state.values()), max_connections=max_connections,
                            by_state=by_state, by_application=by_application)


def _locks(cur: psycopg.Cursor[Any], version_num: int, params: dict[str, Any]) -> LocksPanel:
    cur.execute(q.with_session_columns(q.LOCKS_SQL, version_num), params)
    blocked, blocking = [], []
    for row in cur.fetchall():
        session = dataclasses.replace(_session(row), blocked_by=tuple(row[14]), blocking=bool(row[15]))
        if session.blocked_by:
            blocked.append(session)
        if session.blocking:
            blocking.append(session)
    return LocksPanel(blocked=blocked, blocking=blocking)


def _replication(cur: psycopg.Cursor[Any], in_recovery: bool) -> ReplicationPanel:
    cur.execute(q.REPLICATION_SLOTS_SQL)
    slots = [Slot(*row) for row in cur.fetchall()]
    if in_recovery:
        cur.execute(q.REPLICATION_STANDBY_SQL)
        delay, gap, status, upstream = cur.fetchone()  # type: ignore[misc]
        return ReplicationPanel(role="standby", slots=slots, replay_delay_seconds=delay,
                                receive_replay_gap_bytes=gap, wal_receiver_status=status, upstream_host=upstream)
    cur.execute(q.REPLICATION_PRIMARY_SQL)
    return ReplicationPanel(role="primary", standbys=[Standby(*row) for row in cur.fetchall()], slots=slots)


def _wraparound(cur: psycopg.Cursor[Any], version_num: int, params: dict[str, Any]) -> WraparoundPanel:
    cur.execute(q.WRAPAROUND_SQL)
    rows = cur.fetchall()
    freeze_max_age = rows[0][3] if rows else 0
    databases = [DatabaseAge(name, xid_age, mxid_age) for name, xid_age, mxid_age, _ in rows]
    oldest = _sessions(cur, q.with_session_columns(q.OLDEST_TRANSACTIONS_SQL, version_num), params)
    cur.execute(q.PREPARED_SQL)
    prepared = [PreparedTransaction(*row) for row in cur.fetchall()]
    return WraparoundPanel(freeze_max_age=freeze_max_age, databases=databases, oldest_transactions=oldest,
                           prepared=prepared)


def _vacuum(cur: psycopg.Cursor[Any], version_num: int) -> VacuumPanel:
    cur.execute(q.VACUUM_WORKERS_SQL)
    max_workers, workers, autovacuum_on = cur.fetchone()  # type: ignore[misc]
    cur.execute(q.vacuum_sql(version_num))
    running = [VacuumProgress(*row) for row in cur.fetchall()]
    return VacuumPanel(autovacuum_on=autovacuum_on, max_workers=max_workers, workers_running=workers,
                       running=running)


def collect_health(profile: Profile, *, threshold_seconds: float = DEFAULT_THRESHOLD_SECONDS,
                   top: int = TOP) -> HealthReport:
    """Open a health session, read every panel, close it: what ``dbconsole health`` does."""
    with open_health_session(profile) as conn:
        return read_health(conn, profile.name, threshold_seconds=threshold_seconds, top=top)
