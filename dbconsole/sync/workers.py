"""The sessions of a ``--jobs`` worker, and what several threads may share safely.

A worker is a thread of :mod:`.parallel` with a source and a target session of its own (and a
diff session once a diff-read table needs one), opened by the engine as its own are (same
options, same purposes, closed with them). Every unit of work starts a fresh source transaction
that imports the coordinator's exported snapshot.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from psycopg import sql

SessionKind = Literal["source", "target", "diff"]
OpenSession = Callable[[SessionKind], psycopg.Connection[Any]]


@dataclass
class Worker:
    """A worker's sessions; the diff session is opened only when a diff-read table needs it."""

    source: psycopg.Connection[Any]
    target: psycopg.Connection[Any]
    open_session: OpenSession
    diff: psycopg.Connection[Any] | None = None

    def begin(self, snapshot: str) -> None:
        """A fresh source transaction in the coordinator's snapshot."""
        import_snapshot(self.source, snapshot)

    def diff_session(self, snapshot: str) -> psycopg.Connection[Any]:
        if self.diff is None or self.diff.closed:
            self.diff = self.open_session("diff")
        import_snapshot(self.diff, snapshot)
        return self.diff

    @property
    def connections(self) -> list[psycopg.Connection[Any]]:
        return [c for c in (self.source, self.target, self.diff) if c is not None]


def import_snapshot(conn: psycopg.Connection[Any], snapshot: str) -> None:
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        conn.rollback()
    conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))


class LockedIterator(Iterator[str]):
    """Stage names drawn from several threads (a generator raises when two draw at once)."""

    def __init__(self, names: Iterator[str]) -> None:
        self._names = names
        self._lock = threading.Lock()

    def __next__(self) -> str:
        with self._lock:
            return next(self._names)
