"""The dry run: what a sync would insert, update, leave and delete, with nothing written.

Every batch is staged and counted inside a target transaction that rolls back; predictions
that the real run would fail (rows pointing at parents the target lacks, a replace's deletes
refused by another table's foreign key) are told as ``Notice(fails=True)`` with a remedy.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg import Transaction, sql

from dbconsole.sync import state
from dbconsole.sync import statements as q
from dbconsole.sync.conflicts import replace_conflicts
from dbconsole.sync.by_diff import SOURCE, compared_pair, copy_conditions, find_differences, side_sql, strategy_for
from dbconsole.sync.context import RunContext
from dbconsole.sync.copying import batch_size, copy_batch, count_stage, upper_bound
from dbconsole.sync.counts import RowCounts
from dbconsole.sync.events import Notice, TableStart
from dbconsole.sync.plan import TablePlan
from dbconsole.sync.refill import Emptied
from dbconsole.sync.replace import ReplaceTally, replace_group
from dbconsole.sync.subset_deletes import delete_conflicts
from dbconsole.sync.table_run import stored_watermark, table_filter


class PreviewRunner:
    """Runs a plan without writing: the engine's choice for ``--dry-run``."""

    def prepare_state(self, target: psycopg.Connection[Any]) -> bool:
        exists = state.state_exists(target)  # a dry run never creates the state tables
        target.rollback()
        return exists

    def before_tables(self, ctx: RunContext) -> None:
        pass  # nothing is written, so no table's sync lock is needed

    def run_table(self, ctx: RunContext, plan: TablePlan) -> None:
        ctx.start_table(plan)
        if strategy_for(ctx, plan) == "diff":
            return preview_by_diff(ctx, plan)
        began = time.monotonic()
        row_filter = table_filter(ctx, plan, stored_watermark(ctx, plan))
        ctx.emit(TableStart(str(plan.name), plan.mode, plan.source.estimated_rows))
        preview_table(ctx, plan, row_filter, began)

    def run_replace(self, ctx: RunContext, group: list[TablePlan]) -> None:
        replace_group(ctx, group, PreviewSteps())

    def after_tables(self, ctx: RunContext) -> None:
        """Materialized views are only refreshed by a run that wrote; a subset's mirror predicts
        the deletes another table's FK would refuse."""
        for notice in delete_conflicts(ctx):
            ctx.emit(notice)


def preview_table(ctx: RunContext, plan: TablePlan, row_filter: sql.Composable | None, began: float) -> None:
    """Count what would be inserted / updated / unchanged, in transactions that roll back."""
    outside = ctx.parents_outside_plan(plan)
    if not outside and ctx.scalar(ctx.target, q.target_is_empty(plan)):
        rows = int(ctx.scalar(ctx.source, q.count_source(plan, row_filter)))
        ctx.target.rollback()
        ctx.progress(plan, rows, rows, began)
        return ctx.table_done(plan, RowCounts(inserted=rows), began, rows_read=rows)
    totals = RowCounts()
    orphans = dict.fromkeys((fk.name for fk in outside), 0)
    lower: list[str] | None = None
    while True:
        ctx.check_cancel()
        upper = upper_bound(ctx, plan, row_filter, lower, batch_size(plan, row_filter))
        with ctx.target.transaction() as tx:
            stage = ctx.create_stage(plan, on_commit="DROP")
            rows = copy_batch(ctx, plan, row_filter, lower, upper, stage)
            inserted, updated = count_stage(ctx, plan, stage)
            for fk in outside:
                orphans[fk.name] += ctx.scalar(ctx.target, q.orphan_count(fk, stage))
            raise psycopg.Rollback(tx)
        totals += RowCounts.of_batch(rows, inserted, updated)
        ctx.progress(plan, totals.total, totals.total, began)
        if upper is None:
            break
        lower = upper
    warn_orphans(ctx, plan, orphans)
    if plan.mode == "mirror" and plan.subset is not None:  # the subset's target-only rows (.subset_target)
        totals += RowCounts(deleted=len(plan.subset.deletes))
    ctx.table_done(plan, totals, began, rows_read=totals.total)


def preview_by_diff(ctx: RunContext, plan: TablePlan) -> None:
    """A dry run by diff: only the differing rows are staged and counted (``rows_read`` is what
    the real run would copy); rows in equal ranges are unchanged; a mirror's deletes come from
    the diff's count of target-only rows."""
    began = time.monotonic()
    ctx.emit(TableStart(str(plan.name), plan.mode, plan.source.estimated_rows))
    found = find_differences(ctx, plan, compared_pair(ctx, plan))
    outside = ctx.parents_outside_plan(plan)
    orphans = dict.fromkeys((fk.name for fk in outside), 0)
    row_filter = q.user_filter(plan.where) if plan.where else None
    counts, rows_read = RowCounts(), 0
    for condition in copy_conditions(found, side_sql(found.pair, SOURCE), plan):
        ctx.check_cancel()
        with ctx.target.transaction(force_rollback=True):
            stage = ctx.create_stage(plan, on_commit="DROP")
            rows = copy_batch(ctx, plan, q.combine(row_filter, condition), None, None, stage)
            inserted, updated = count_stage(ctx, plan, stage)
            for fk in outside:
                orphans[fk.name] += ctx.scalar(ctx.target, q.orphan_count(fk, stage))
        rows_read += rows
        counts += RowCounts.of_batch(rows, inserted, updated)
    counts += RowCounts(unchanged=max(found.source_rows - counts.total, 0))
    if plan.mode == "mirror":
        counts += RowCounts(deleted=found.deletes)
    warn_orphans(ctx, plan, orphans)
    ctx.table_done(plan, counts, began, rows_read=rows_read, ranges_skipped=found.ranges_skipped, strategy="diff")


def warn_orphans(ctx: RunContext, plan: TablePlan, orphans: dict[str, int]) -> None:
    """Staged rows pointing at parents the target lacks: the real run would stop there."""
    for fk in ctx.parents_outside_plan(plan):
        if orphans.get(fk.name):
            ctx.emit(Notice(str(plan.name), f"{orphans[fk.name]:,} rows reference {fk.parent} rows that "
                            f"{ctx.request.target.name} lacks (foreign key {fk.name}): the sync would stop "
                            "here; include the FK parents (--with-parents)", kind="warning", fails=True,
                            remedy="add_parents"))


class PreviewSteps:
    """The replace counted, not done: every step reads, and the transaction rolls back."""

    def begin(self, ctx: RunContext, group: list[TablePlan]) -> None:
        pass  # triggers only matter to writes

    def refilled(self, ctx: RunContext, group: list[TablePlan]) -> list[TablePlan]:
        return [plan for plan in group if plan.key is None]  # keyed tables are counted by key, as a merge

    def empty(self, ctx: RunContext, plans: list[TablePlan]) -> dict[str, Emptied]:
        return {str(plan.name): Emptied(rows=int(ctx.scalar(ctx.target, q.count_target(plan)))) for plan in plans}

    def load(self, ctx: RunContext, plan: TablePlan, row_filter: sql.Composable | None) -> int:
        return int(ctx.scalar(ctx.source, q.count_source(plan, row_filter)))

    def refill_counts(self, ctx: RunContext, plan: TablePlan, emptied: Emptied, rows: int) -> RowCounts:
        return RowCounts(inserted=rows, deleted=emptied.rows)

    def merge(self, ctx: RunContext, plan: TablePlan, stage: sql.Identifier) -> tuple[int, int]:
        return count_stage(ctx, plan, stage)

    def delete_missing(self, ctx: RunContext, plan: TablePlan, stage: sql.Identifier) -> int:
        return int(ctx.scalar(ctx.target, q.preview_deletes(plan, stage)))

    def end(self, ctx: RunContext, group: list[TablePlan], tally: ReplaceTally, tx: Transaction) -> None:
        """The replace dry run also proves its deletes and inserts would hold (see :mod:`.conflicts`)."""
        written = [t.name for t in ctx.plan.tables]
        for found in replace_conflicts(ctx.target, group, tally.stages, written, ctx.request.target.name,
                                       ctx.target_tables):
            ctx.emit(Notice(found.table, found.message, kind="warning", fails=found.fails, remedy=found.remedy))
        raise psycopg.Rollback(tx)
