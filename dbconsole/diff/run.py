"""A whole ``dbconsole diff`` run: connect both sides, pick the tables, diff each one.

Each side gets one read-only session (server-enforced) with the shared rendering settings and a
statement timeout; each table is read in one REPEATABLE READ transaction per side, so its
checksums and its per-row hashes come from one snapshot. Nothing is ever written: the diff
only runs SELECTs, inside read-only transactions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg

from dbconsole.catalog import Table, read_catalog
from dbconsole.config import Profile, SyncSettings
from dbconsole.connect import describe_pg_error
from dbconsole.diff.columns import NoKey, Refused, TablePair, pair_table, rules_for
from dbconsole.diff.events import DiffDone, DiffEvent, DiffTableDone, DiffTableStart
from dbconsole.diff.model import DIFFERING, DiffError, DiffReport, RowDifference, Side, TableDiff
from dbconsole.diff.strategy import Tuning
from dbconsole.diff.checksum import HashKind
from dbconsole.diff.sides import choose_hash
from dbconsole.diff.table import TableDiffer
from dbconsole.errors import Cancelled, UsageError
from dbconsole.names import TableName, resolve_name
from dbconsole.sessions import open_read_snapshot

DEFAULT_TIMEOUT_MS = 300_000


@dataclass(frozen=True)
class DiffRequest:
    """What the user asked for. ``source`` is the side whose keys bound the ranges and whose rows
    are masked by ``[sync.tables]`` rules (the side a sync between the two would read)."""

    left: Profile
    right: Profile
    tables: tuple[str, ...] = ()
    where: str | None = None
    row_limit: int | None = 100
    source: Side = "right"
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    settings: SyncSettings = field(default_factory=SyncSettings)
    tuning: Tuning = field(default_factory=Tuning)
    hash_kind: HashKind | None = None  # None: hashtext when both servers agree on it (probed), else md5


def default_source(left: Profile, right: Profile) -> Side:
    """The side a sync would read from: the read-only one when only one is; else the right."""
    if left.read_only and not right.read_only:
        return "left"
    return "right"


def diff_tables(request: DiffRequest, on_event: Callable[[DiffEvent], None] | None = None,
                cancel: threading.Event | None = None,
                on_difference: Callable[[str, RowDifference], None] | None = None) -> DiffReport:
    """Diff every selected table; blocking, so run it off the UI thread. Raises only for the run
    as a whole (connection, bad usage, bad ``--where``); a table's own failure is its ``error``."""
    emit = on_event or (lambda event: None)
    cancel = cancel or threading.Event()
    if request.where and not request.tables:
        raise UsageError("--where needs --tables: it filters only the tables you name")
    began = time.monotonic()
    report = DiffReport(left=request.left.name, right=request.right.name)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="dbconsole-diff") as pool:
        opened = {side: pool.submit(open_read_snapshot, profile, purpose="diff", statement_timeout_ms=request.timeout_ms)
                  for side, profile in (("left", request.left), ("right", request.right))}
        conns: dict[Side, psycopg.Connection[Any]] = {}
        try:
            for side, future in opened.items():
                conns[side] = future.result()  # type: ignore[index]
            catalogs = {side: pool.submit(read_catalog, conn) for side, conn in conns.items()}
            left_tables = {t.qualified: t for t in catalogs["left"].result()}
            right_tables = {t.qualified: t for t in catalogs["right"].result()}
            hash_kind = request.hash_kind or choose_hash(conns)
            for name in select_tables(request, left_tables, right_tables):
                if cancel.is_set():
                    report.cancelled = True
                    break
                try:
                    result = _diff_one(request, name, left_tables.get(name), right_tables.get(name), conns, pool,
                                       emit, cancel, on_difference, hash_kind)
                except Cancelled:
                    report.cancelled = True
                    break
                report.tables.append(result)
                emit(DiffTableDone(result.table, result.status, result.changed, result.only_left, result.only_right,
                                   result.rows_compared, round(result.seconds, 3), result.error))
        except psycopg.Error as exc:
            raise DiffError(describe_pg_error(exc)) from None
        finally:
            for conn in conns.values():
                conn.close()
            for future in opened.values():  # a side that connected after the other failed
                if future.done() and future.exception() is None and not future.result().closed:
                    future.result().close()
    report.seconds = time.monotonic() - began
    emit(DiffDone(len(report.tables), sum(1 for t in report.tables if t.status in DIFFERING),
                  round(report.seconds, 3), report.cancelled))
    return report


def select_tables(request: DiffRequest, left: dict[TableName, Table], right: dict[TableName, Table]) -> list[TableName]:
    """``--tables`` resolved against both sides, or every table on either side, sorted."""
    every = sorted(set(left) | set(right))
    if not request.tables:
        return every
    where = f"{request.left.name} or {request.right.name}"
    return list(dict.fromkeys(resolve_name(text, every, where=where) for text in request.tables))


def _diff_one(request: DiffRequest, name: TableName, left: Table | None, right: Table | None,
              conns: dict[Side, psycopg.Connection[Any]], pool: ThreadPoolExecutor, emit: Callable[[DiffEvent], None],
              cancel: threading.Event, on_difference: Callable[[str, RowDifference], None] | None,
              hash_kind: HashKind) -> TableDiff:
    if left is None or right is None:
        return TableDiff(table=str(name), status="only_right" if left is None else "only_left",
                         notes=[f"table exists only on {request.right.name if left is None else request.left.name}"])
    rules = rules_for(name, request.settings)
    try:
        pair = pair_table(left, right, left_name=request.left.name, right_name=request.right.name,
                          masks=dict(rules.mask), masked_side=request.source)
    except NoKey as exc:
        return TableDiff(table=str(name), status="no_key", notes=[str(exc)])
    except Refused as exc:
        return TableDiff(table=str(name), status="error", error=str(exc))
    where = request.where or rules.where
    if where:
        _validate_where(pair, where, conns, request)
    source_table = pair.table(request.source)
    emit(DiffTableStart(str(name), source_table.estimated_rows))
    differ = TableDiffer(pair, conns, pool, source=request.source, where=where, tuning=request.tuning,
                         row_limit=request.row_limit, timeout_ms=request.timeout_ms, emit=emit, cancel=cancel,
                         on_difference=(lambda d: on_difference(str(name), d)) if on_difference else None,
                         hash_kind=hash_kind)
    return differ.run()


def _validate_where(pair: TablePair, where: str, conns: dict[Side, psycopg.Connection[Any]],
                    request: DiffRequest) -> None:
    """Prove ``--where`` is one valid expression on both sides before any checksum runs."""
    from dbconsole.diff.checksum import SideSql

    for side, profile in (("left", request.left), ("right", request.right)):
        conn = conns[side]  # type: ignore[index]
        view = SideSql(table=pair.table(side).qualified.ident, key=pair.key, columns=pair.side(side),
                       compared=pair.columns, where=where)
        try:
            with conn.cursor() as cur:
                cur.execute(view.validate_where(), prepare=True)
        except psycopg.Error as exc:
            raise DiffError(f"{pair.name}: bad --where {where!r} on {profile.name}: {describe_pg_error(exc)}") from None
        finally:
            conn.rollback()
