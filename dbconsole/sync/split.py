"""A large table as key ranges: where the ranges end, and one range written batch by batch.

Boundaries come from the source's key index by a keyset walk (``WHERE key > previous ORDER BY
key OFFSET step LIMIT 1``, the same statement a batch uses to find its end), read in the run's
snapshot: an index-only walk over the keys, never a sort of the table in Python or in SQL, and
exact where ``pg_stats`` histograms are only as fresh as the last ANALYZE.

A range is written like :mod:`.table_run` writes a whole table: batches of ``batch_size`` rows,
each copied, applied and checkpointed (:mod:`.range_state`) in one target transaction. Only
``upsert`` tables read by copy without a filter are split (see :func:`splittable`); everything
else is copied whole by one worker.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

from psycopg import sql

from dbconsole.sync import statements as q
from dbconsole.sync.context import RunContext
from dbconsole.sync import journal, undo
from dbconsole.sync.copying import copy_rows_in, upper_bound
from dbconsole.sync.counts import RowCounts
from dbconsole.sync.plan import TablePlan
from dbconsole.sync.range_state import KeyRange, save_range
from dbconsole.sync.readahead import BatchReader

MAX_RANGES = 64  # per table: each boundary is one index walk, each range one more checkpoint row


def splittable(plan: TablePlan, split_rows: int) -> bool:
    """Whether ``plan``'s table may be copied as key ranges.

    Only an ``upsert`` of a keyed table without a filter (``--where`` or a subset): a filtered
    read is one batch already (see :func:`.copying.batch_size`), incremental and xmin read a
    delta, mirror and replace need the whole table in one place. A self-referencing table stays
    one statement; a table whose target triggers are disabled per batch would serialize its
    workers on the ``ALTER TABLE`` lock anyway.
    """
    return (plan.mode == "upsert" and plan.key is not None and not plan.where and plan.subset is None
            and not plan.self_referencing and not plan.disable_triggers
            and plan.source.estimated_rows > split_rows)


def range_count(estimated_rows: int, split_rows: int) -> int:
    """Ranges of about ``split_rows`` rows each (at least 2, at most :data:`MAX_RANGES`)."""
    return max(2, min(MAX_RANGES, math.ceil(estimated_rows / split_rows)))


def key_ranges(ctx: RunContext, plan: TablePlan, split_rows: int, *, fast_path: bool) -> list[KeyRange]:
    """Consecutive ranges covering every key, bounded by keys walked on the source's index."""
    count = range_count(plan.source.estimated_rows, split_rows)
    step = max(1, math.ceil(plan.source.estimated_rows / count))
    bounds: list[list[str]] = []
    lower: list[str] | None = None
    for _ in range(count - 1):
        bound = upper_bound(ctx, plan, None, lower, step)
        if bound is None:  # fewer rows than the estimate: the last range takes the rest
            break
        bounds.append(bound)
        lower = bound
    edges: list[list[str] | None] = [None, *bounds, None]
    fingerprint = plan.fingerprint()
    return [KeyRange(number=i, fingerprint=fingerprint, lower=edges[i], upper=edges[i + 1], fast_path=fast_path)
            for i in range(len(edges) - 1)]


def range_filter(plan: TablePlan, upper: list[str] | None) -> sql.Composable | None:
    """``key <= upper`` on the source: the range's end, under every batch of it."""
    if upper is None:
        return None
    return sql.SQL("{} <= {}").format(q.key_columns(plan), q.key_tuple(plan, upper))


def fast_path_still_holds(ctx: RunContext, plan: TablePlan, key_range: KeyRange) -> bool:
    """A resumed fast-path range may go on straight into the target only if the target holds no
    row of what is left of the range (someone may have written there between the runs); asked in
    the target's key order, so not when the two sides order keys differently."""
    if not key_range.fast_path:
        return False
    if plan.keys_collate_differently:
        return False
    conditions = [sql.SQL("{} {} {}").format(q.key_columns(plan), sql.SQL(op), _target_tuple(plan, bound))
                  for op, bound in ((">", key_range.resume_from), ("<=", key_range.upper)) if bound is not None]
    beyond = ctx.scalar(ctx.target, sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE {})").format(
        q.relation(plan.target), sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("true")))
    ctx.target.rollback()
    return not beyond


def _target_tuple(plan: TablePlan, values: list[str]) -> sql.Composable:
    return sql.SQL("({})").format(sql.SQL(", ").join(
        sql.SQL("{}::{}").format(sql.Literal(v), sql.SQL(plan.target.column(k).type))  # type: ignore[union-attr]
        for k, v in zip(plan.key or (), values)))


def write_range(ctx: RunContext, plan: TablePlan, key_range: KeyRange,
                on_batch: Callable[[int], None]) -> KeyRange:
    """Copy one range batch after batch, each committed with the range's checkpoint.

    The source is read a batch ahead (:class:`~.readahead.BatchReader`, as a whole table is);
    each batch keeps undo's pre-images (:func:`.undo.apply_batch`) and adds its counts to the
    run's history row (:func:`.journal.add`) in the batch's own transaction, so a kill leaves
    the range's checkpoint, its undo store and the history in step.
    ``on_batch(rows)`` is told every committed batch (the table's progress adds up its ranges).
    Returns the range as finally committed (``done``).
    """
    if key_range.done:
        return key_range
    key_range = replace(key_range, fast_path=fast_path_still_holds(ctx, plan, key_range))
    stage = None if key_range.fast_path else ctx.create_stage(plan)
    row_filter = range_filter(plan, key_range.upper)
    with BatchReader(ctx, plan, row_filter, key_range.resume_from, plan.batch_size) as reader:
        for batch in reader:
            ctx.check_cancel()
            with ctx.target.transaction():
                into = stage or plan.target.qualified.ident
                rows = copy_rows_in(ctx, plan, into, reader.rows(batch))
                # The batch's keys end at the range's end, not the table's.
                batch_end = batch.upper if batch.upper is not None else key_range.upper
                inserted, updated = undo.apply_batch(ctx, plan, stage, rows, batch.lower, batch_end)
                delta = RowCounts.of_batch(rows, inserted, updated)
                key_range = replace(key_range, last_key=batch.upper, rows_done=key_range.rows_done + rows,
                                    done=batch.upper is None, counts=key_range.counts + delta)
                save_range(ctx.target, plan.name, ctx.source_id, key_range)
                journal.add(ctx, plan, delta)
            on_batch(rows)
    if stage is not None:
        ctx.drop_stage(stage)
    return key_range
