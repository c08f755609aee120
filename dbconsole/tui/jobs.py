"""The blocking work behind the console, kept free of Textual.

Why a separate module: each function here runs inside a thread worker and may wait on the
network for seconds; keeping them plain functions (connection in, data out, one readable error
line on failure) means the widgets only schedule them and react to messages, and the logic can
be tested without a screen.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from dbconsole.catalog import CountResult, Table, exact_count, read_catalog
from dbconsole.config import Profile
from dbconsole.connect import ServerInfo, connect, describe_pg_error, server_info
from dbconsole.errors import DbconsoleError
from dbconsole.names import TableName
from dbconsole.redact import redact

PREVIEW_ROWS = 50
QUERY_FETCH_LIMIT = 500
QUERY_TIMEOUT_MS = 15_000
CELL_CHARS = 200


def error_line(exc: BaseException) -> str:
    """The one line a person sees for any failure: never a traceback, never a secret."""
    if isinstance(exc, DbconsoleError):
        return redact(str(exc))
    if isinstance(exc, psycopg.Error):
        return describe_pg_error(exc)
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    return redact(f"{exc.__class__.__name__}: {text}" if not isinstance(exc, OSError) else text)


# --------------------------------------------------------------------------- one side of a compare


@dataclass
class SideSnapshot:
    info: ServerInfo
    tables: list[Table]
    last_synced: dict[TableName, Any] = field(default_factory=dict)


def read_side(conn: psycopg.Connection[Any], profile: Profile) -> SideSnapshot:
    """Server facts, every table with its estimate, and the engine's sync history, read-only."""
    info = server_info(profile, conn, latency_samples=0)  # runs on every refresh: one round trip
    tables = read_catalog(conn)
    return SideSnapshot(info=info, tables=tables, last_synced=read_last_synced(conn))


def read_last_synced(conn: psycopg.Connection[Any]) -> dict[TableName, Any]:
    """The engine's per-table history, or nothing when the engine or its state is not there."""
    try:
        from dbconsole.sync.state import last_synced
    except ImportError:
        return {}
    try:
        result = dict(last_synced(conn))
    except (psycopg.Error, DbconsoleError):
        result = {}
    if not conn.autocommit:
        try:
            conn.rollback()
        except psycopg.Error:
            pass
    return result


def stream_counts(conn: psycopg.Connection[Any], tables: Iterable[TableName], emit: Callable[[list[CountResult]], None],
                  *, cancelled: Callable[[], bool], flush_every: float = 0.1, timeout_ms: int = 30_000) -> None:
    """``count(*)`` table by table, handing results over in small time-boxed batches.

    Batching by time (not by number) keeps a fast local server from flooding the UI with a
    thousand messages while a slow remote one still shows each count as soon as it lands.
    """
    pending: list[CountResult] = []
    last = time.monotonic()
    for table in tables:
        if cancelled():
            break
        try:
            pending.append(exact_count(conn, table, timeout_ms=timeout_ms))
        except psycopg.Error as exc:
            pending.append(CountResult(table, None, describe_pg_error(exc)))
            if conn.closed or conn.broken:
                break
        now = time.monotonic()
        if now - last >= flush_every:
            emit(pending)
            pending = []
            last = now
    if pending:
        emit(pending)


def probe(profile: Profile) -> ServerInfo:
    """Connect read-only and describe the server (the profile "test" key and the form's Test)."""
    conn = connect(profile, read_only=True, purpose="test")
    try:
        return server_info(profile, conn)
    finally:
        conn.close()


def describe_info(info: ServerInfo) -> str:
    parts = [info.version, f"{info.latency_ms:.1f} ms", f"db {info.database} as {info.user}"]
    if info.read_only:
        parts.append("read-only session")
    if info.tunnel:
        parts.append("via SSH")
    if info.ssl:
        parts.append("SSL")
    return " · ".join(parts)


# --------------------------------------------------------------------------- inspector


def preview_rows(profile: Profile, table: Table, limit: int = PREVIEW_ROWS) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The first rows of a table ordered by its key, read in a read-only session."""
    order = table.key or ()
    query = sql.SQL("SELECT * FROM {}").format(table.qualified.ident)
    if order:
        query += sql.SQL(" ORDER BY {}").format(sql.SQL(", ").join(sql.Identifier(c) for c in order))
    query += sql.SQL(" LIMIT {}").format(sql.Literal(limit))
    conn = connect(profile, read_only=True, purpose="inspect")
    try:
        with conn.transaction():
            with conn.cursor() as cur:
                cur.execute("SET TRANSACTION READ ONLY")
                cur.execute("SELECT set_config('statement_timeout', %s, true)", (str(QUERY_TIMEOUT_MS),))
                cur.execute(query)
                columns = [d.name for d in cur.description or ()]
                rows = [tuple(display_value(v) for v in row) for row in cur.fetchall()]
        return columns, rows
    finally:
        conn.close()


def display_value(value: Any) -> Any:
    """A cell as text a table can show: NULL marked, long values cut."""
    if value is None:
        return "NULL"
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        text = "\\x" + data[:32].hex() + ("…" if len(data) > 32 else "")
        return text
    text = str(value)
    if len(text) > CELL_CHARS:
        return text[:CELL_CHARS - 1] + "…"
    return text


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool
    seconds: float
    status: str


class ReadOnlyQuery:
    """Runs what the SQL box holds, with no way to write, and can be cancelled from another thread.

    Layers, each enough on its own: the session is opened read-only (the server's default),
    every statement runs inside ``BEGIN READ ONLY`` after a ``SELECT 1`` (so a
    ``SET transaction_read_only = off`` comes too late to take effect), the statement is
    *prepared* (the extended protocol takes exactly one statement, so ``COMMIT; ...`` cannot
    escape the transaction), and the transaction is always rolled back. A statement timeout and
    a fetch limit keep a careless ``SELECT *`` from hurting the server or the screen.
    """

    def __init__(self, profile: Profile, *, limit: int = QUERY_FETCH_LIMIT, timeout_ms: int = QUERY_TIMEOUT_MS) -> None:
        self.profile = profile
        self.limit = limit
        self.timeout_ms = timeout_ms
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()
        self._running = threading.Event()

    @property
    def running(self) -> bool:
        return self._running.is_set()

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = connect(self.profile, read_only=True, autocommit=True, purpose="query")
        return self._conn

    def run(self, text: str) -> QueryResult:
        statement = text.strip().rstrip(";").strip()
        if not statement:
            raise DbconsoleError("nothing to run: type a SELECT")
        with self._lock:
            conn = self._connection()
            started = time.perf_counter()
            self._running.set()
            try:
                with conn.cursor() as cur:
                    cur.execute("BEGIN READ ONLY")
                    try:
                        cur.execute("SELECT 1")
                        cur.execute("SELECT set_config('statement_timeout', %s, true)", (str(self.timeout_ms),))
                        cur.execute(statement, prepare=True)
                        columns = [d.name for d in cur.description or ()]
                        rows: list[tuple[Any, ...]] = []
                        truncated = False
                        if cur.description is not None:
                            fetched = cur.fetchmany(self.limit + 1)
                            truncated = len(fetched) > self.limit
                            rows = [tuple(display_value(v) for v in row) for row in fetched[:self.limit]]
                        status = cur.statusmessage or ""
                    finally:
                        self._end_transaction(conn)
                return QueryResult(columns, rows, truncated, time.perf_counter() - started, status)
            except psycopg.errors.QueryCanceled as exc:
                message = describe_pg_error(exc)
                if "user request" in message:
                    raise DbconsoleError("query cancelled") from None
                raise DbconsoleError(f"{message} (limit {self.timeout_ms / 1000:g} s)") from None
            except psycopg.Error as exc:
                if exc.sqlstate is None and "COPY" in str(exc):  # psycopg's own refusal, not the server's
                    raise DbconsoleError("COPY is not available in the SQL box: use a SELECT") from None
                raise DbconsoleError(describe_pg_error(exc)) from None
            finally:
                self._running.clear()

    def _end_transaction(self, conn: psycopg.Connection[Any]) -> None:
        """Roll back; a session that cannot (left mid-``COPY ... TO STDOUT``, say) is closed, so
        the next statement gets a fresh one instead of "another command is already in progress"."""
        if conn.closed or conn.broken:
            return
        if conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.ACTIVE:
            conn.close()
            return
        try:
            conn.execute("ROLLBACK")
        except psycopg.Error:
            conn.close()

    def cancel(self) -> None:
        """Ask the server to stop the running statement (safe to call from any thread)."""
        conn = self._conn
        if conn is None or conn.closed or not self.running:
            return
        try:
            conn.cancel_safe(timeout=5.0)
        except psycopg.Error:
            pass

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:
                pass
