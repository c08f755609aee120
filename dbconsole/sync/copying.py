"""Moving one batch: find its upper key, stream it source -> target COPY, apply or count it.

Rows never become Python objects: COPY blocks from the source are joined into ~128 KiB writes
(:mod:`.pump`) and handed to the target's COPY, binary when both sides' column types are
identical. Shared by the writing run (:mod:`.table_run`), :mod:`.replace` and the preview.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from queue import Queue
from typing import Any

import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from dbconsole.sync import fanout
from dbconsole.sync import statements as q
from dbconsole.sync.context import RunContext
from dbconsole.sync.plan import TablePlan
from dbconsole.sync.pump import copy_out_chunks

WRITE_QUEUE = 32  # chunks in flight to the target writer thread (bounds memory: ~4 MiB)
SINGLE_BATCH = 2**62


def batch_size(plan: TablePlan, row_filter: sql.Composable | None) -> int:
    """Rows per committed batch.

    Two cases take the whole table in one batch: a self-referencing table (one statement, so a
    row may point at any other row of it), and a filtered read (``--where``, or the delta of
    ``incremental`` / ``xmin``), because finding keyset boundaries under a filter the indexes
    don't serve would scan the table once per batch. A filtered run is cheap to repeat: its
    watermark only moves when it succeeds.
    """
    if plan.self_referencing or row_filter is not None:
        return SINGLE_BATCH
    return plan.batch_size


def upper_bound(ctx: RunContext, plan: TablePlan, row_filter: sql.Composable | None, lower: list[str] | None,
                size: int) -> list[str] | None:
    """The last key of the batch that starts after ``lower``; None when it is the last batch."""
    if size >= SINGLE_BATCH:
        return None
    with ctx.source.cursor() as cur:
        cur.execute(q.upper_bound_query(plan, row_filter, lower, size))
        row = cur.fetchone()
    return list(row) if row else None


def copy_batch(ctx: RunContext, plan: TablePlan, row_filter: sql.Composable | None, lower: list[str] | None,
               upper: list[str] | None, into: sql.Composable) -> int:
    """Stream the batch's rows from source to target COPY without parsing them, on this thread
    (a batched table reads ahead instead: :mod:`.readahead`)."""
    copy_out = q.copy_out(q.source_select(plan, row_filter, lower, upper), plan.copy_format)
    with ctx.target.cursor() as tgt:
        with tgt.copy(q.copy_in(plan, into), writer=_BoundedQueuedWriter(tgt)) as sink:
            with source_chunks(ctx, copy_out) as chunks:
                for chunk in chunks:
                    sink.write(chunk)
        return max(tgt.rowcount, 0)


def copy_rows_in(ctx: RunContext, plan: TablePlan, into: sql.Composable, rows: Iterable[bytes | memoryview]) -> int:
    """The target's COPY of a batch whose source data arrives from elsewhere (:mod:`.readahead`)."""
    with ctx.target.cursor() as tgt:
        with tgt.copy(q.copy_in(plan, into), writer=_BoundedQueuedWriter(tgt)) as sink:
            for chunk in rows:
                sink.write(chunk)
        return max(tgt.rowcount, 0)


@contextlib.contextmanager
def source_chunks(ctx: RunContext, copy_out: sql.Composable, cancel: Any = None) -> Iterator[Iterator[Any]]:
    """The batch's COPY data: read by this run, or, in ``sync --to A,B``, by the one shared read
    that feeds every target reading the same batch (:mod:`.fanout`). ``cancel`` (default: the
    run's) is what stops the read: a read-ahead thread passes its own."""
    cancel = ctx.cancel if cancel is None else cancel
    shared = fanout.current()
    if shared is not None:
        with shared.chunks(copy_out.as_string(ctx.source), copy_out, cancel, ctx.watchdog.beat) as chunks:
            if chunks is not None:
                yield chunks
                return
    with ctx.source.cursor() as src, src.copy(copy_out):
        yield copy_out_chunks(ctx.source, cancel=cancel, on_data=ctx.watchdog.beat)


def apply_stage(ctx: RunContext, plan: TablePlan, stage: sql.Identifier) -> tuple[int, int]:
    """Insert the new rows, then update the changed ones; return (inserted, updated)."""
    return apply_stage_on(ctx.target, plan, stage)


def count_stage(ctx: RunContext, plan: TablePlan, stage: sql.Identifier) -> tuple[int, int]:
    """What :func:`apply_stage` would do with the staged rows: (would insert, would update)."""
    return count_stage_on(ctx.target, plan, stage)


def apply_stage_on(target: psycopg.Connection[Any], plan: TablePlan, stage: sql.Identifier) -> tuple[int, int]:
    """:func:`apply_stage` on a bare target session (a SQLite source's writer has no RunContext)."""
    with target.cursor() as cur, probe_by_key(cur):
        cur.execute(q.insert_new(plan, stage))
        inserted = max(cur.rowcount, 0)
        update = q.update_changed(plan, stage)
        updated = 0
        if update is not None:
            cur.execute(update)
            updated = max(cur.rowcount, 0)
    return inserted, updated


def count_stage_on(target: psycopg.Connection[Any], plan: TablePlan, stage: sql.Identifier) -> tuple[int, int]:
    """:func:`count_stage` on a bare target session."""
    with target.cursor() as cur, probe_by_key(cur):
        cur.execute(q.preview_counts(plan, stage))
        inserted, updated = cur.fetchone()  # type: ignore[misc]
    return int(inserted), int(updated)


@contextlib.contextmanager
def probe_by_key(cur: psycopg.Cursor[Any]) -> Iterator[None]:
    """Join staged rows to the target through the target's key index, not a hash of the table.

    The stage holds one batch; the target may hold millions. The planner knows nothing of the
    fresh temp table and readily hashes the whole target once per batch (measured: 10x slower
    on a 1M-row table, and every batch pays it again). An index probe per staged row is always
    available, since the key is a primary key or unique index. Only these statements are
    steered: the replace's "rows the source no longer has" runs the other way round.
    """
    cur.execute("SET LOCAL enable_hashjoin = off")
    cur.execute("SET LOCAL enable_mergejoin = off")
    try:
        yield
    finally:
        if not cur.connection.broken and cur.connection.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS:
            cur.execute("SET LOCAL enable_hashjoin TO DEFAULT")
            cur.execute("SET LOCAL enable_mergejoin TO DEFAULT")


class _BoundedQueuedWriter(QueuedLibpqWriter):
    """psycopg's threaded COPY writer with a short queue, so memory stays flat on big tables."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        super().__init__(cursor)
        self._queue = Queue(maxsize=WRITE_QUEUE)
