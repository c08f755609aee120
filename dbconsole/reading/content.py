"""Content diffs for a live view, and the rows of the keys they found (the console's content column).

No Textual here, like the rest of :mod:`dbconsole.reading`: these run in the console's thread
workers and wait on the network; the widgets only schedule them and react to messages.

:class:`ContentChecks` is a queue of tables to diff for one pair of profiles, worked off one
table at a time (one diff per table, so a large ``C`` never puts several checksum scans on a
production server at once), cancellable from the UI thread: the running statements are
cancelled on the servers by the diff engine itself. :func:`rows_by_key` reads the rows of the
keys a diff reported, with one query per side, so the inspector can show them side by side.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from psycopg import sql

from dbconsole.catalog import Table
from dbconsole.config import Profile, SyncSettings
from dbconsole.connect import connect
from dbconsole.diff import DiffRequest, TableDiff, default_source, diff_tables
from dbconsole.diff.events import DiffEvent, DiffProgress
from dbconsole.names import TableName
from dbconsole.sync.masks import mask_expression
from dbconsole.reading.query import QUERY_TIMEOUT_MS, display_row
from dbconsole.reading.sides import error_line

INSPECT_ROWS = 50  # differing keys kept per table: what the inspector shows side by side
DIFF_TIMEOUT_MS = 120_000  # per statement; a range that times out is split smaller by the engine


class ContentChecks:
    """Tables waiting for a content diff between ``left`` and ``right``, checked one at a time.

    ``add`` may be called from the UI thread while :meth:`run` works in a worker thread; it
    answers whether a worker must be started (none is running), so exactly one runs at a time.
    """

    def __init__(self, run: int, left: Profile, right: Profile, settings: SyncSettings, *,
                 row_limit: int = INSPECT_ROWS, timeout_ms: int = DIFF_TIMEOUT_MS) -> None:
        self.run_id = run
        self.left = left
        self.right = right
        self.settings = settings
        self.row_limit = row_limit
        self.timeout_ms = timeout_ms
        self.cancel_event = threading.Event()
        self._queue: deque[TableName] = deque()
        self._lock = threading.Lock()
        self._working = False

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def add(self, names: Iterable[TableName]) -> bool:
        """Queue ``names`` (those not queued yet); True when the caller must start :meth:`run`."""
        with self._lock:
            for name in names:
                if name not in self._queue:
                    self._queue.append(name)
            if self._working or not self._queue:
                return False
            self._working = True
            return True

    def cancel(self) -> None:
        """Stop: nothing queued is checked, the running diff is cancelled on the servers."""
        with self._lock:
            self._queue.clear()
        self.cancel_event.set()

    def _next(self) -> TableName | None:
        with self._lock:
            if self._queue and not self.cancelled:
                return self._queue.popleft()
            self._working = False
            return None

    def run(self, progress: Callable[[TableName, float], None], done: Callable[[TableName, TableDiff], None]) -> None:
        """Check every queued table (and those added meanwhile); blocking, so call it from a worker."""
        while (name := self._next()) is not None:
            progress(name, 0.0)  # "checking… 0%" while the sessions open and the catalogs are read
            result = self.check(name, lambda event, name=name: self._progress(name, event, progress))
            if result is None:  # cancelled
                break
            done(name, result)

    def check(self, name: TableName, on_event: Callable[[DiffEvent], None]) -> TableDiff | None:
        """One table's diff; a failure of any kind is the table's ``error`` (one line), None when cancelled."""
        request = DiffRequest(left=self.left, right=self.right, tables=(str(name),), row_limit=self.row_limit,
                              source=default_source(self.left, self.right), timeout_ms=self.timeout_ms,
                              settings=self.settings)
        try:
            if self.left.is_sqlite or self.right.is_sqlite:  # one side read in Python (dbconsole.sqlite.content)
                from dbconsole.sqlite.content import diff_with_sqlite

                report = diff_with_sqlite(self.left, self.right, tables=(str(name),), row_limit=self.row_limit,
                                          settings=self.settings, cancel=self.cancel_event)
            else:
                report = diff_tables(request, on_event, self.cancel_event)
        except Exception as exc:  # every failure becomes one line on screen
            if self.cancelled:
                return None
            return TableDiff(table=str(name), status="error", error=error_line(exc))
        if report.cancelled or self.cancelled:
            return None
        if not report.tables:
            return TableDiff(table=str(name), status="error", error="the table is on neither side any more")
        return report.tables[0]

    @staticmethod
    def _progress(name: TableName, event: DiffEvent, progress: Callable[[TableName, float], None]) -> None:
        if isinstance(event, DiffProgress):
            progress(name, event.fraction)


def rows_by_key(profile: Profile, table: Table, key: Sequence[str], keys: Sequence[Mapping[str, Any]], *,
                masks: Mapping[str, str] | None = None) -> tuple[list[str], dict[tuple[Any, ...], tuple[Any, ...]]]:
    """The rows of ``keys`` on one side, in one query, read-only under a statement timeout.

    Each key value goes in as a parameter cast to this side's column type (``format_type``
    text from the catalog), so keys of any type (text, dates, uuids, composite keys) match
    exactly. Rows come back as display cells, keyed by their key's values as read (so a
    ``timestamptz`` key read in another time zone still matches: Python compares the instants).
    ``masks`` (column -> rule, on the side a sync reads) are applied in the SELECT, as the diff
    applies them, so a masked column shows the value the diff compared, never the raw one.
    """
    if not key or not keys:
        return [], {}
    types = {c.name: c.type for c in table.columns}
    one = sql.SQL("({})").format(sql.SQL(", ").join(
        sql.SQL("{}::{}").format(sql.Placeholder(), sql.SQL(types[c])) for c in key))
    masks = masks or {}
    select = sql.SQL(", ").join(
        sql.SQL("{} AS {}").format(mask_expression(c.name, c.type, masks[c.name]), sql.Identifier(c.name))
        if c.name in masks and c.name not in key else sql.Identifier(c.name) for c in table.columns)
    query = sql.SQL("SELECT {select} FROM {table} WHERE ({key}) IN (VALUES {values})").format(
        select=select, table=table.qualified.ident, key=sql.SQL(", ").join(sql.Identifier(c) for c in key),
        values=sql.SQL(", ").join([one] * len(keys)))
    params = [values.get(c) for values in keys for c in key]
    conn = connect(profile, read_only=True, purpose="preview")
    try:
        with conn.transaction():
            with conn.cursor() as cur:
                cur.execute("SET TRANSACTION READ ONLY")
                cur.execute("SELECT set_config('statement_timeout', %s, true)", (str(QUERY_TIMEOUT_MS),))
                cur.execute(query, params)
                columns = [d.name for d in cur.description or ()]
                positions = [columns.index(c) for c in key]
                rows = {tuple(row[i] for i in positions): display_row(row, cur.description) for row in cur.fetchall()}
    finally:
        conn.close()
    return columns, rows
