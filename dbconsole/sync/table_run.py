"""One table of a batched mode (upsert, incremental, xmin), written batch after batch.

Where to start (an interrupted run's checkpoint of the same shape, or afresh; straight into an
empty target table, or through a stage), which rows (``--where`` and the mode's watermark
filter), then batches: copy, apply, checkpoint, each in one target transaction, so a run killed
at any instant resumes after its last commit. The table's last batch also advances sequences,
stores the new watermark and the history line, and drops the checkpoint (:func:`finish_table`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
import time

from psycopg import sql

from dbconsole.modes import WATERMARK_MODES
from dbconsole.sync import journal, sequences, state, triggers, undo
from dbconsole.sync import statements as q
from dbconsole.sync.context import RunContext
from dbconsole.sync.copying import batch_size, copy_rows_in
from dbconsole.sync.counts import RowCounts
from dbconsole.sync.events import Notice, TableStart
from dbconsole.sync.plan import TablePlan
from dbconsole.sync.readahead import BatchReader

XID_TRUST_HORIZON = 2**31


@dataclass
class HeldTable:
    """A subset's mirror table whose upserts are in: its deletes and its finish wait for every
    other table's upserts (:func:`.subset_deletes.finish_subset_mirrors`)."""

    plan: TablePlan
    counts: RowCounts
    rows_read: int
    began: float
    started_at: datetime


def holds_finish(plan: TablePlan) -> bool:
    """A subset's mirror table (a mirror without a subset is synced by diff, :mod:`.by_diff`)."""
    return plan.mode == "mirror" and plan.subset is not None


def write_table(ctx: RunContext, plan: TablePlan) -> None:
    """Batch after batch, each committed with its checkpoint, until the source runs out."""
    ctx.start_table(plan)
    started_at = datetime.now(timezone.utc)
    began = time.monotonic()
    stored = stored_watermark(ctx, plan)
    point = _start_point(ctx, plan, stored)
    journal.table_started(ctx, plan, point.counts)
    row_filter = table_filter(ctx, plan, stored)
    ctx.emit(TableStart(str(plan.name), plan.mode, plan.source.estimated_rows, resume_rows=point.rows_done))

    stage = None if point.fast_path else ctx.create_stage(plan)
    resumed_rows = point.rows_done
    held = holds_finish(plan)  # a subset's mirror: finished after its deletes
    # The source is read a batch ahead on its own thread; the target still commits batch by batch.
    with BatchReader(ctx, plan, row_filter, point.last_key, batch_size(plan, row_filter)) as reader:
        for batch in reader:
            ctx.check_cancel()
            with ctx.target.transaction():
                triggers.disable(ctx.target, plan.disable_triggers)
                rows = copy_rows_in(ctx, plan, stage or plan.target.qualified.ident, reader.rows(batch))
                inserted, updated = undo.apply_batch(ctx, plan, stage, rows, batch.lower, batch.upper)  # keeps undo's pre-images
                if plan.mode == "incremental" and stored is not None and stage is not None:
                    point = replace(point, watermark=ctx.scalar(ctx.target, q.stage_max_cursor(plan, stage, stored)))
                point = replace(point, last_key=batch.upper, rows_done=point.rows_done + rows,
                                counts=point.counts + RowCounts.of_batch(rows, inserted, updated))
                if batch.upper is None and held:
                    state.clear_checkpoint(ctx.target, plan.name, ctx.source_id)  # a re-run upserts the subset again
                    journal.record(ctx, plan, point.counts)
                elif batch.upper is None:
                    finish_table(ctx, plan, point.watermark, point.counts, started_at)
                else:
                    state.save_checkpoint(ctx.target, plan.name, ctx.source_id, point)
                    journal.record(ctx, plan, point.counts)
                triggers.restore(ctx.target, plan.restore_triggers)
            ctx.progress(plan, point.rows_done, point.rows_done - resumed_rows, began)
    if held:
        ctx.ledger.held_for_deletes.append(HeldTable(plan, point.counts, point.rows_done - resumed_rows, began,
                                                     started_at))
    else:
        ctx.table_done(plan, point.counts, began, rows_read=point.rows_done - resumed_rows)
    if stage is not None:
        ctx.drop_stage(stage)


def table_filter(ctx: RunContext, plan: TablePlan, stored: str | None) -> sql.Composable | None:
    """The rows this run reads: the user's ``--where`` and the mode's watermark filter together."""
    return q.combine(q.user_filter(plan.where) if plan.where else None,
                     plan.subset.filter if plan.subset else None, _mode_filter(ctx, plan, stored))


def stored_watermark(ctx: RunContext, plan: TablePlan) -> str | None:
    """The watermark of the last successful incremental / xmin run, if it can be used.

    Not used (so the table is read in full) when there is none, when the target table is
    empty (someone emptied it since), or, for xmin, when the source's transaction counter
    no longer matches it (a restored source, or 2^31 transactions later).
    """
    if plan.mode not in WATERMARK_MODES:
        return None
    if not ctx.state_ready:
        ctx.target.rollback()
        ctx.emit(Notice(str(plan.name), f"first run of {plan.mode} for this table: full scan"))
        return None
    stored = state.load_watermark(ctx.target, plan.name, ctx.source_id, plan.mode, plan.cursor)
    empty = stored is not None and bool(ctx.scalar(ctx.target, q.target_is_empty(plan)))
    ctx.target.rollback()
    if stored is None:
        ctx.emit(Notice(str(plan.name), f"first run of {plan.mode} for this table: full scan"))
        return None
    if empty:
        ctx.emit(Notice(str(plan.name), "the target table is empty: ignoring the stored watermark, full sync"))
        return None
    if plan.mode == "xmin" and (int(stored) > ctx.snapshot_xmax
                                or ctx.snapshot_xmax - int(stored) >= XID_TRUST_HORIZON):
        ctx.emit(Notice(str(plan.name), "the stored xmin watermark cannot be trusted (source restored or "
                        "too many transactions since); doing a full sync", kind="warning"))
        return None
    return stored


def _mode_filter(ctx: RunContext, plan: TablePlan, stored: str | None) -> sql.Composable | None:
    """Rows past the watermark: newer cursor (incremental) or newer transaction (xmin)."""
    if stored is None:
        return None
    if plan.mode == "incremental":
        return q.incremental_filter(plan, stored, plan.overlap)
    return q.xmin_filter(int(stored), ctx.snapshot_xmax)


def _start_point(ctx: RunContext, plan: TablePlan, stored: str | None) -> state.Checkpoint:
    """Resume the checkpoint of an interrupted run of the same shape, or start afresh."""
    fingerprint = plan.fingerprint()
    point = state.load_checkpoint(ctx.target, plan.name, ctx.source_id)
    if point is not None and point.fingerprint != fingerprint:
        ctx.emit(Notice(str(plan.name), "an interrupted earlier run had other settings; starting over"))
        point = None
    if point is not None and point.fast_path and point.last_key is not None:
        # "Rows past the last key" is asked in the target's key order; when the sides sort
        # keys differently that is not the source's order, so the rest goes through the stage.
        if plan.keys_collate_differently or ctx.scalar(ctx.target, q.target_beyond(plan, point.last_key)):
            point = replace(point, fast_path=False)
    if point is None:
        fast = plan.key is not None and bool(ctx.scalar(ctx.target, q.target_is_empty(plan)))
        point = state.Checkpoint(fingerprint=fingerprint, fast_path=fast,
                                 watermark=_watermark_candidate(ctx, plan, stored))
    ctx.target.commit()
    return point


def _watermark_candidate(ctx: RunContext, plan: TablePlan, stored: str | None) -> str | None:
    """The watermark this run will store if it succeeds, fixed when the table starts.

    xmin: the snapshot's oldest running transaction. incremental: the newest cursor in the
    snapshot; with a stored watermark the delta's own maximum is taken from the staged
    rows instead (no second scan of the source).
    """
    if plan.mode == "xmin":
        return str(ctx.snapshot_xmin)
    if plan.mode == "incremental":
        if stored is not None:
            return stored
        where = q.user_filter(plan.where) if plan.where else None
        return ctx.scalar(ctx.source, q.max_cursor(plan, where))
    return None


def finish_table(ctx: RunContext, plan: TablePlan, watermark: str | None, counts: RowCounts,
                 started_at: datetime, *, strategy: str = "copy") -> None:
    """Inside the last batch's transaction: sequences, watermark, history, checkpoint gone."""
    sequences.advance_sequences(ctx.target, plan)
    if plan.mode in WATERMARK_MODES and watermark is not None:
        state.save_watermark(ctx.target, plan.name, ctx.source_id, plan.mode, plan.cursor, watermark)
    state.record_history(ctx.target, plan.name, ctx.source_id, ctx.request.source.name, plan.mode,
                         started_at, counts)
    state.clear_checkpoint(ctx.target, plan.name, ctx.source_id)
    journal.record(ctx, plan, counts, strategy=strategy, finished=True)
