"""The blocking work behind the console, kept free of Textual.

Why a separate module: each function here runs inside a thread worker and may wait on the
network for seconds; keeping them plain functions (connection in, data out, one readable error
line on failure) means the widgets only schedule them and react to messages, and the logic can
be tested without a screen.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
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
COUNT_TIMEOUT_MS = 30_000
CELL_CHARS = 200
# A LOCK TABLE (or a query stuck behind a migration) in the SQL box must not queue production
# behind it, and a transaction left open must not hold a snapshot for long.
SQL_BOX_SESSION = {"lock_timeout": "3000", "idle_in_transaction_session_timeout": "60000"}


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


class ExactCounter:
    """``count(*)`` table by table, each under a statement timeout, stoppable from the UI thread.

    One table at a time so that a cancel stops the table being read (the server is asked to
    cancel it) rather than a batch of them, and results are handed over in small time-boxed
    batches: a fast local server does not flood the UI with a thousand messages while a slow
    remote one still shows each count as soon as it lands.
    """

    def __init__(self, *, timeout_ms: int = COUNT_TIMEOUT_MS, flush_every: float = 0.1) -> None:
        self.timeout_ms = timeout_ms
        self.flush_every = flush_every
        self._cancelled = threading.Event()
        self._conn: psycopg.Connection[Any] | None = None

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def run(self, conn: psycopg.Connection[Any], tables: Iterable[TableName],
            emit: Callable[[list[CountResult]], None]) -> None:
        self._conn = conn
        pending: list[CountResult] = []
        last = time.monotonic()
        try:
            for table in tables:
                if self.cancelled:
                    break
                try:
                    result = exact_count(conn, table, timeout_ms=self.timeout_ms)
                except psycopg.Error as exc:
                    if self.cancelled:
                        break
                    pending.append(CountResult(table, None, describe_pg_error(exc)))
                    if conn.closed or conn.broken:
                        break
                    continue
                if self.cancelled:
                    break  # the count that was running when cancel came is not a result
                pending.append(result)
                now = time.monotonic()
                if now - last >= self.flush_every:
                    emit(pending)
                    pending = []
                    last = now
        finally:
            self._conn = None
            if pending:
                emit(pending)

    def cancel(self) -> None:
        """Stop before the next table and ask the server to stop the current one (any thread)."""
        self._cancelled.set()
        conn = self._conn
        if conn is not None and not conn.closed:
            try:
                conn.cancel_safe(timeout=5.0)
            except psycopg.Error:
                pass


# --------------------------------------------------------------------------- inspector


def preview_rows(profile: Profile, table: Table, limit: int = PREVIEW_ROWS) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The first rows of a table ordered by its key, read in a read-only session."""
    order = table.key or ()
    query = sql.SQL("SELECT * FROM {}").format(table.qualified.ident)
    if order:
        query += sql.SQL(" ORDER BY {}").format(sql.SQL(", ").join(sql.Identifier(c) for c in order))
    query += sql.SQL(" LIMIT {}").format(sql.Literal(limit))
    conn = connect(profile, read_only=True, purpose="preview")
    try:
        with conn.transaction():
            with conn.cursor() as cur:
                cur.execute("SET TRANSACTION READ ONLY")
                cur.execute("SELECT set_config('statement_timeout', %s, true)", (str(QUERY_TIMEOUT_MS),))
                cur.execute(query)
                columns = [d.name for d in cur.description or ()]
                rows = [display_row(row, cur.description) for row in cur.fetchall()]
        return columns, rows
    finally:
        conn.close()


JSON_TYPES = {114, 3802}  # json, jsonb
JSON_ARRAY_TYPES = {199, 3807}  # json[], jsonb[]


def display_row(row: Sequence[Any], description: Sequence[Any] | None) -> tuple[Any, ...]:
    """A row as cells, each shown as the database would print it (JSON as JSON, not Python)."""
    types = [getattr(d, "type_code", None) for d in (description or ())]
    return tuple(display_value(v, json_value=i < len(types) and types[i] in JSON_TYPES | JSON_ARRAY_TYPES)
                 for i, v in enumerate(row))


def display_value(value: Any, *, json_value: bool = False) -> Any:
    """A cell as text a table can show: NULL marked, JSON as JSON, long values cut."""
    if value is None:
        return "NULL"
    if json_value:
        text = json.dumps(value, ensure_ascii=False, default=str)
        return text[:CELL_CHARS - 1] + "…" if len(text) > CELL_CHARS else text
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


BOX_CURSOR = "dbconsole_sql_box"
# Leading comments and parentheses, then the statement's first word.
_FIRST_WORD = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/|\()*([A-Za-z]+)", re.DOTALL)
QUERY_WORDS = {"select", "with", "values", "table"}


def is_query(statement: str) -> bool:
    """Does the statement return rows a cursor can hold (a query, not SHOW or EXPLAIN)?"""
    match = _FIRST_WORD.match(statement)
    return bool(match) and match.group(1).lower() in QUERY_WORDS


class ReadOnlyQuery:
    """Runs what the SQL box holds, with no way to write, and can be cancelled from another thread.

    Layers, each enough on its own: the session is opened read-only (the server's default),
    every statement runs inside ``BEGIN READ ONLY`` after a ``SELECT 1`` (so a
    ``SET transaction_read_only = off`` comes too late to take effect), the statement is
    *prepared* (the extended protocol takes exactly one statement, so ``COMMIT; ...`` cannot
    escape the transaction), and the transaction is always rolled back. A statement timeout and
    a fetch limit keep a careless ``SELECT *`` from hurting the server or the screen: a query
    (``SELECT``, ``WITH``, ``VALUES``, ``TABLE``) runs as a server-side cursor and only
    ``limit + 1`` rows are ever fetched, so 3 million rows stay on the server instead of
    streaming through the tunnel into this process. Other statements (``SHOW``, ``EXPLAIN``)
    return a handful of rows and are fetched as they are.
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
            self._conn = connect(self.profile, read_only=True, autocommit=True, purpose="sql box",
                                 options=SQL_BOX_SESSION)
        return self._conn

    def run(self, text: str) -> QueryResult:
        statement = text.strip().rstrip(";").strip()
        if not statement:
            raise DbconsoleError("nothing to run: type a SELECT")
        with self._lock:
            started = time.perf_counter()
            self._running.set()
            try:
                try:
                    columns, rows, truncated, status = self._run_once(statement, through_cursor=is_query(statement))
                except psycopg.errors.FeatureNotSupported:
                    # PostgreSQL will not hold this query in a cursor (a data-modifying WITH): the
                    # statement runs as it is, in a fresh read-only transaction that refuses it
                    # in its own words
                    columns, rows, truncated, status = self._run_once(statement, through_cursor=False)
                return QueryResult(columns, rows, truncated, time.perf_counter() - started, status)
            except psycopg.errors.QueryCanceled as exc:
                message = describe_pg_error(exc)
                if "user request" in message:
                    raise DbconsoleError("query cancelled") from None
                if "lock timeout" in message:
                    raise DbconsoleError(f"{message}: a table it needs is locked (the box waits "
                                         f"{int(SQL_BOX_SESSION['lock_timeout']) / 1000:g} s at most)") from None
                raise DbconsoleError(f"{message} (limit {self.timeout_ms / 1000:g} s)") from None
            except psycopg.Error as exc:
                if exc.sqlstate is None and "COPY" in str(exc):  # psycopg's own refusal, not the server's
                    raise DbconsoleError("COPY is not available in the SQL box: use a SELECT") from None
                raise DbconsoleError(describe_pg_error(exc)) from None
            finally:
                self._running.clear()

    def _run_once(self, statement: str, *, through_cursor: bool) -> tuple[list[str], list[tuple[Any, ...]], bool, str]:
        conn = self._connection()
        with conn.cursor() as cur:
            cur.execute("BEGIN READ ONLY")
            try:
                cur.execute("SELECT 1")
                cur.execute("SELECT set_config('statement_timeout', %s, true)", (str(self.timeout_ms),))
                if through_cursor:
                    cur.execute(sql.SQL("DECLARE {} NO SCROLL CURSOR FOR {}").format(
                        sql.Identifier(BOX_CURSOR), sql.SQL(statement)), prepare=True)  # type: ignore[arg-type]
                    cur.execute(sql.SQL("FETCH FORWARD {} FROM {}").format(
                        sql.Literal(self.limit + 1), sql.Identifier(BOX_CURSOR)))
                else:
                    cur.execute(statement, prepare=True)  # type: ignore[arg-type]
                columns = [d.name for d in cur.description or ()]
                rows: list[tuple[Any, ...]] = []
                truncated = False
                if cur.description is not None:
                    fetched = cur.fetchmany(self.limit + 1)
                    truncated = len(fetched) > self.limit
                    rows = [display_row(row, cur.description) for row in fetched[:self.limit]]
                status = cur.statusmessage or ""
                if status.startswith("FETCH"):
                    status = "SELECT"
            finally:
                self._end_transaction(conn)
        return columns, rows, truncated, status

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
