"""One side of a compare, read live: server facts, the catalog, the sync history, exact counts.

Why in the core: the console's browser and ``dbconsole tables`` read the same things the same
way, and each function here may wait on the network for seconds; kept as plain functions
(connection in, data out, one readable error line on failure), a console schedules them in
thread workers and the CLI calls them directly.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg

from dbconsole.catalog import CountResult, Table, exact_count, iter_exact_counts, read_catalog
from dbconsole.compare import TableComparison, compare_tables
from dbconsole.config import Profile
from dbconsole.connect import Purpose, ServerInfo, connect, describe_pg_error, server_info
from dbconsole.errors import DbconsoleError, one_line
from dbconsole.live import count_kind
from dbconsole.names import TableName, select_tables

COUNT_TIMEOUT_MS = 30_000


def error_line(exc: BaseException) -> str:
    """The one line a person sees for any failure: never a traceback, never a secret."""
    if isinstance(exc, psycopg.Error):
        return describe_pg_error(exc)
    return one_line(exc)


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


# --------------------------------------------------------------------------- both sides at once


@contextlib.contextmanager
def both_sides(left: Profile, right: Profile, *, purpose: Purpose, autocommit: bool = False
               ) -> Iterator[tuple[ThreadPoolExecutor, list[psycopg.Connection[Any]]]]:
    """Read-only connections to both profiles, opened in parallel (tunnels are slow) and all
    closed on the way out; the pool is there to read both sides in parallel too.

    ``autocommit`` saves the ``BEGIN`` and ``ROLLBACK`` round trips around each single-statement
    read (one statement is one snapshot anyway)."""
    with ThreadPoolExecutor(max_workers=2) as pool, contextlib.ExitStack() as stack:
        futures = [pool.submit(connect, p, purpose=purpose, read_only=True, autocommit=autocommit)
                   for p in (left, right)]
        conns, errors = [], []
        for future in futures:  # every connection that opened is closed, even if the other failed
            try:
                conns.append(stack.enter_context(future.result()))
            except Exception as exc:  # noqa: BLE001 - re-raised below, after both were collected
                errors.append(exc)
        if errors:
            raise errors[0]
        yield pool, conns


def listing_counts(profile: Profile, conn: psycopg.Connection[Any], names: Iterable[TableName], *,
                   asked_exact: bool, timeout_ms: int) -> dict[TableName, CountResult] | None:
    """Exact counts for a listing of ``profile``, or None when its rule gives estimates
    (:func:`dbconsole.live.count_kind`): ``count(*)`` one table at a time, each time-boxed."""
    if count_kind(profile, asked_exact=asked_exact) == "estimate":
        return None
    return {r.table: r for r in iter_exact_counts(conn, names, timeout_ms=timeout_ms)}


def compare_profiles(left: Profile, right: Profile, *, asked_exact: bool, timeout_ms: int,
                     wanted: Sequence[str] = (), excluded: Sequence[str] = ()) -> list[TableComparison]:
    """Both sides' tables lined up (``dbconsole tables``): the catalogs read in parallel, the
    selection applied, then exact counts where asked or opted in, of the selected tables only."""
    if left.is_sqlite or right.is_sqlite:  # a SQLite side is read in Python, its counts exact
        from dbconsole.sqlite.sides import compare_with_sqlite

        return compare_with_sqlite(left, right, asked_exact=asked_exact, timeout_ms=timeout_ms,
                                   wanted=wanted, excluded=excluded)
    # The catalog is one statement; the counts run in transactions of their own.
    with both_sides(left, right, purpose="tables", autocommit=True) as (pool, conns):
        left_tables, right_tables = pool.map(read_catalog, conns)
        every = sorted({t.qualified for t in left_tables} | {t.qualified for t in right_tables})
        chosen = set(select_tables(list(wanted), every, exclude=list(excluded)))

        def count(profile: Profile, conn: psycopg.Connection[Any], tables: list[Table]) -> Any:
            names = [t.qualified for t in tables if t.qualified in chosen]
            return listing_counts(profile, conn, names, asked_exact=asked_exact, timeout_ms=timeout_ms)

        left_counts, right_counts = pool.map(count, (left, right), conns, (left_tables, right_tables))
    rows = compare_tables(left_tables, right_tables, left_counts=left_counts, right_counts=right_counts)
    return [r for r in rows if r.name in chosen]
