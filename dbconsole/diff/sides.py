"""Running a diff's statements on both servers at once, cancellably.

Each side's connection is used from one worker thread at a time; a step that needs both sides
submits one statement to each and waits for both, so a level costs the slower server's time,
not the sum. While waiting, the cancel event is watched: when it is set, the running
statements are cancelled on the servers (``cancel_safe``), not merely abandoned.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Executor, Future, wait
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from dbconsole.diff.checksum import HashKind, probe_hash
from dbconsole.diff.model import Side
from dbconsole.diff.ranges import Bound
from dbconsole.diff.strategy import Checksum
from dbconsole.errors import Cancelled

T = TypeVar("T")
FETCH_ROWS = 10_000  # rows per fetchmany when streaming per-row hashes
POLL_SECONDS = 0.2  # how often a wait looks at the cancel event


def choose_hash(conns: dict[Side, psycopg.Connection[Any]]) -> HashKind:
    """``hashtext`` when both servers hash alike (one probe each), else ``md5`` (same everywhere)."""
    answers = []
    for conn in conns.values():
        try:
            with conn.cursor() as cur:
                cur.execute(probe_hash())
                answers.append(cur.fetchone()[0])  # type: ignore[index]
        except psycopg.Error:
            answers.append(None)  # a server older than PG 11
        finally:
            conn.rollback()
    return "hashtext" if None not in answers and len(set(answers)) == 1 else "md5"


class BothSides:
    """The two connections of a diff, a thread for each, and the cancel event."""

    def __init__(self, conns: dict[Side, psycopg.Connection[Any]], pool: Executor, cancel: threading.Event) -> None:
        self.conns = conns
        self.pool = pool
        self.cancel = cancel

    def both(self, work: Callable[[Side, psycopg.Cursor[Any]], T]) -> dict[Side, T]:
        """``work`` on both sides at once; a statement timeout on either side rolls that side back."""
        futures: dict[Side, Future[T]] = {side: self.pool.submit(self._run, side, work) for side in ("left", "right")}
        self._wait(list(futures.values()))
        return {side: future.result() for side, future in futures.items()}

    def one(self, side: Side, work: Callable[[psycopg.Cursor[Any]], T]) -> T:
        future = self.pool.submit(self._run, side, lambda _side, cur: work(cur))
        self._wait([future])
        return future.result()

    def _run(self, side: Side, work: Callable[[Side, psycopg.Cursor[Any]], T]) -> T:
        conn = self.conns[side]
        try:
            with conn.cursor() as cur:
                return work(side, cur)
        except psycopg.errors.QueryCanceled:
            with contextlib.suppress(psycopg.Error):
                conn.rollback()
            raise

    def _wait(self, futures: list[Future[Any]]) -> None:
        """Wait for statements, cancelling them on the server as soon as ``cancel`` is set."""
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_EXCEPTION)
            if any(f.exception() is not None for f in done):
                wait(pending)  # let the other side finish (or fail) before anyone reuses its connection
                return
            if pending and self.cancel.is_set():
                for conn in self.conns.values():
                    with contextlib.suppress(Exception):
                        conn.cancel_safe(timeout=5)
                wait(pending)
                raise Cancelled("cancelled")


def bucket_sums(cur: psycopg.Cursor[Any], statement: sql.Composable) -> dict[int, Checksum]:
    cur.execute(statement)
    return as_checksums(cur.fetchall())


def fetch_bounds(cur: psycopg.Cursor[Any], statement: sql.Composable) -> list[Bound]:
    cur.execute(statement)
    return [tuple(row) for row in cur.fetchall()]


def fetch_keys(cur: psycopg.Cursor[Any], statement: sql.Composable) -> list[tuple[Any, ...]]:
    cur.execute(statement)
    return [tuple(row) for row in cur.fetchall()]


def fetch_hashes(cur: psycopg.Cursor[Any], statement: sql.Composable) -> dict[tuple[Any, ...], int]:
    cur.execute(statement)
    hashes: dict[tuple[Any, ...], int] = {}
    while rows := cur.fetchmany(FETCH_ROWS):
        for row in rows:
            hashes[row[:-1]] = row[-1]
    return hashes


def fetch_pipelined(conn: psycopg.Connection[Any], statements: list[sql.Composable],
                    convert: Callable[[int, list[tuple[Any, ...]]], Any] = lambda index, rows: rows) -> list[Any]:
    """Every statement's rows, all sent in one round trip (a psycopg pipeline), each passed
    through ``convert(index, rows)`` as soon as it is read (raw rows of one statement at a time)."""
    if not statements:
        return []
    with conn.pipeline():
        cursors = [conn.cursor() for _ in statements]
        for cur, statement in zip(cursors, statements):
            cur.execute(statement)
    results = []
    for index, cur in enumerate(cursors):
        results.append(convert(index, cur.fetchall()))
        cur.close()
    return results


def as_checksums(rows: list[tuple[Any, ...]]) -> dict[int, Checksum]:
    return {int(b): Checksum(int(n), int(high or 0), int(low or 0)) for b, n, high, low in rows}


def as_hashes(rows: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], int]:
    return {row[:-1]: row[-1] for row in rows}
