"""``replace``: every replace table of a run made equal to its source rows, in one transaction.

Deletes run children-first and inserts parents-first, so foreign keys hold at each step; a
failure anywhere rolls the whole group back to what the target was. The story is told once
here; what each step *does* is a :class:`ReplaceSteps`: :class:`WriteSteps` below writes, the
preview's steps (:mod:`.preview`) count and roll back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

from psycopg import Transaction, sql

from dbconsole.sync import statements as q
from dbconsole.sync import triggers, undo
from dbconsole.sync.context import RunContext
from dbconsole.sync.copying import apply_stage, copy_batch
from dbconsole.sync.counts import RowCounts
from dbconsole.sync.events import TableStart
from dbconsole.sync.plan import TablePlan
from dbconsole.sync.table_run import finish_table


@dataclass
class ReplaceTally:
    """Counts and stages of the group while its transaction is open."""

    counts: dict[str, RowCounts]
    stages: dict[str, sql.Identifier] = field(default_factory=dict)
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


class ReplaceSteps(Protocol):
    def begin(self, ctx: RunContext, group: list[TablePlan]) -> None:
        """Inside the transaction, before any row moves (a writing run disables triggers)."""

    def empty_keyless(self, ctx: RunContext, plan: TablePlan) -> int:
        """A keyless table is emptied and refilled: the rows deleted."""

    def load_keyless(self, ctx: RunContext, plan: TablePlan, row_filter: sql.Composable | None) -> int:
        """The source rows put into the emptied keyless table."""

    def merge(self, ctx: RunContext, plan: TablePlan, stage: sql.Identifier) -> tuple[int, int]:
        """The staged rows into a keyed table: (inserted, updated)."""

    def delete_missing(self, ctx: RunContext, plan: TablePlan, stage: sql.Identifier) -> int:
        """Target rows the source no longer has, by key."""

    def end(self, ctx: RunContext, group: list[TablePlan], tally: ReplaceTally, tx: Transaction) -> None:
        """Last thing inside the transaction: commit the group's state, or roll it all back."""


def replace_group(ctx: RunContext, group: list[TablePlan], steps: ReplaceSteps) -> None:
    """Make every table of the group equal to the selected source rows, atomically."""
    began = time.monotonic()
    tally = ReplaceTally(counts={str(t.name): RowCounts() for t in group})
    ledger = ctx.ledger
    with ctx.target.transaction() as tx:
        ctx.execute(ctx.target, "SET CONSTRAINTS ALL DEFERRED")
        steps.begin(ctx, group)
        undo.keep_old_tables(ctx, group)  # undo: the old rows, before any row moves
        ledger.phase = "delete"
        for plan in reversed(group):  # keyless tables: emptied children-first
            if plan.key is None:
                tally.counts[str(plan.name)] = RowCounts(deleted=steps.empty_keyless(ctx, plan))
        ledger.phase = "insert"
        for plan in group:
            ctx.start_table(plan)
            ctx.check_cancel()
            ctx.emit(TableStart(str(plan.name), plan.mode, plan.source.estimated_rows))
            row_filter = q.user_filter(plan.where) if plan.where else None
            if plan.key is None:
                rows = steps.load_keyless(ctx, plan, row_filter)
                tally.counts[str(plan.name)] += RowCounts(inserted=rows)
            else:
                tally.stages[str(plan.name)] = stage = ctx.create_stage(plan, on_commit="DROP")
                rows = copy_batch(ctx, plan, row_filter, None, None, stage)
                inserted, updated = steps.merge(ctx, plan, stage)
                tally.counts[str(plan.name)] = RowCounts.of_batch(rows, inserted, updated)
            ctx.progress(plan, rows, rows, began)
        ledger.phase = "delete"
        for plan in reversed(group):  # keyed tables: rows the source no longer has, children-first
            if plan.key is not None:
                ctx.start_table(plan)  # a refused delete names the table it deletes from
                deleted = steps.delete_missing(ctx, plan, tally.stages[str(plan.name)])
                tally.counts[str(plan.name)] += RowCounts(deleted=deleted)
        steps.end(ctx, group, tally, tx)
    for plan in group:
        ctx.table_done(plan, tally.counts[str(plan.name)], began, rows_read=tally.counts[str(plan.name)].total)


class WriteSteps:
    """The replace for real: delete, copy, apply, and record each table's history at the end."""

    def begin(self, ctx: RunContext, group: list[TablePlan]) -> None:
        for plan in group:
            triggers.disable(ctx.target, plan.disable_triggers)

    def empty_keyless(self, ctx: RunContext, plan: TablePlan) -> int:
        return ctx.execute(ctx.target, q.delete_all(plan))

    def load_keyless(self, ctx: RunContext, plan: TablePlan, row_filter: sql.Composable | None) -> int:
        return copy_batch(ctx, plan, row_filter, None, None, plan.target.qualified.ident)

    def merge(self, ctx: RunContext, plan: TablePlan, stage: sql.Identifier) -> tuple[int, int]:
        return apply_stage(ctx, plan, stage)

    def delete_missing(self, ctx: RunContext, plan: TablePlan, stage: sql.Identifier) -> int:
        return ctx.execute(ctx.target, q.delete_missing(plan, stage))

    def end(self, ctx: RunContext, group: list[TablePlan], tally: ReplaceTally, tx: Transaction) -> None:
        for plan in group:
            finish_table(ctx, plan, None, tally.counts[str(plan.name)], tally.started_at)
        for plan in group:
            triggers.restore(ctx.target, plan.restore_triggers)
