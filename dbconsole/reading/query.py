"""Rows shown to a person: a table's first rows, and the read-only SQL box.

Why in the core: both are reads a face schedules and shows, and both carry the rules that keep
a look from becoming a write or a full scan (read-only transactions, a statement timeout, a
fetch limit); a face only renders :class:`QueryResult` and the cells.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from dbconsole.catalog import Table
from dbconsole.config import Profile
from dbconsole.connect import close_quietly, connect, describe_pg_error
from dbconsole.errors import DbconsoleError

PREVIEW_ROWS = 50
QUERY_FETCH_LIMIT = 500
QUERY_TIMEOUT_MS = 15_000
CELL_CHARS = 200
# A LOCK TABLE (or a query stuck behind a migration) in the SQL box must not queue production
# behind it, and a transaction left open must not hold a snapshot for long.
SQL_BOX_SESSION = {"lock_timeout": "3000", "idle_in_transaction_session_timeout": "60000"}


def preview_rows(profile: Profile, table: Table, limit: int = PREVIEW_ROWS, *,
                 like: Table | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The first rows of a table ordered by its key, read in a read-only session (a SQLite
    profile's file opened read-only, its values shown as ``like``'s column types would hold
    them: :mod:`dbconsole.sqlite.preview`)."""
    if profile.is_sqlite:
        from dbconsole.sqlite.preview import preview_sqlite_rows

        return preview_sqlite_rows(profile, table, limit, like=like)
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
        close_quietly(conn)
