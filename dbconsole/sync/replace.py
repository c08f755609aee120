"""``replace``: every replace table of a run made equal to its source rows, in one transaction.

Two ways to make a table equal, chosen per table (:func:`.refill.refillable` says which):
*refill* empties it (``TRUNCATE``, or ``DELETE`` for a keyless table that may not be truncated)
and loads the source rows straight in with ``COPY``; *merge* stages the source rows, inserts the
new, updates the changed and deletes the missing ones by key. Emptying runs first, the loads
parents-first, the merge's deletes children-first, so foreign keys hold at each step; a failure
anywhere rolls the whole group back to what the target was. The story is told once here; what
each step *does* is a :class:`ReplaceSteps`: :class:`WriteSteps` below writes, the preview's
steps (:mod:`.preview`) count and roll back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

from psycopg import Transaction, sql

from dbconsole.sync import refill, triggers, undo
from dbconsole.sync import statements as q
from dbconsole.sync.context import RunContext
from dbconsole.sync.copying import apply_stage, copy_batch
from dbconsole.sync.counts import RowCounts
from dbconsole.sync.events import TableStart
from dbconsole.sync.plan import TablePlan
from dbconsole.sync.refill import Emptied
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

    def refilled(self, ctx: RunContext, group: list[TablePlan]) -> list[TablePlan]:
        """The tables emptied first and loaded straight (every keyless one among them)."""

    def empty(self, ctx: RunContext, plans: list[TablePlan]) -> dict[str, Emptied]:
        """Those tables emptied, children and parents together: what each held."""

    def load(self, ctx: RunContext, plan: TablePlan, row_filter: sql.Composable | None) -> int:
        """The source rows put into the emptied table."""

    def refill_counts(self, ctx: RunContext, plan: TablePlan, emptied: Emptied, rows: int) -> RowCounts:
        """A refilled table's counts, by key where it has one."""

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
        refilled = steps.refilled(ctx, group)
        ledger.phase = "delete"
        emptied = steps.empty(ctx, refilled)
        ledger.phase = "insert"
        for plan in group:
            ctx.start_table(plan)
            ctx.check_cancel()
            ctx.emit(TableStart(str(plan.name), plan.mode, plan.source.estimated_rows))
            row_filter = q.user_filter(plan.where) if plan.where else None
            if str(plan.name) in emptied:
                rows = steps.load(ctx, plan, row_filter)
                tally.counts[str(plan.name)] = steps.refill_counts(ctx, plan, emptied[str(plan.name)], rows)
            else:
                tally.stages[str(plan.name)] = stage = ctx.create_stage(plan, on_commit="DROP")
                rows = copy_batch(ctx, plan, row_filter, None, None, stage)
                inserted, updated = steps.merge(ctx, plan, stage)
                tally.counts[str(plan.name)] = RowCounts.of_batch(rows, inserted, updated)
            ctx.progress(plan, rows, rows, began)
        ledger.phase = "delete"
        for plan in reversed(group):  # merged tables: rows the source no longer has, children-first
            if str(plan.name) in tally.stages:
                ctx.start_table(plan)  # a refused delete names the table it deletes from
                deleted = steps.delete_missing(ctx, plan, tally.stages[str(plan.name)])
                tally.counts[str(plan.name)] += RowCounts(deleted=deleted)
        steps.end(ctx, group, tally, tx)
    for plan in group:
        ctx.table_done(plan, tally.counts[str(plan.name)], began, rows_read=tally.counts[str(plan.name)].total)


class WriteSteps:
    """The replace for real: empty or stage, copy, apply, and record each table's history at the end."""

    def begin(self, ctx: RunContext, group: list[TablePlan]) -> None:
        for plan in group:
            triggers.disable(ctx.target, plan.disable_triggers)

    def refilled(self, ctx: RunContext, group: list[TablePlan]) -> list[TablePlan]:
        def wanted(plan: TablePlan) -> bool:
            empty = plan.key is not None and bool(ctx.scalar(ctx.target, q.target_is_empty(plan)))
            return refill.worth_refilling(plan, empty)

        truncated = refill.refillable(group, ctx.target_tables, wanted)
        return [plan for plan in group if plan in truncated or plan.key is None]

    def empty(self, ctx: RunContext, plans: list[TablePlan]) -> dict[str, Emptied]:
        """The one place a replace lets go of whole tables' old rows: keeping them (pre-images
        for an undo) is one call here, before the ``DELETE`` and ``TRUNCATE`` below."""
        truncated = refill.refillable(plans, ctx.target_tables)
        emptied: dict[str, Emptied] = {}
        for plan in reversed(plans):  # keyless tables that may not be truncated: deleted, children-first
            if plan not in truncated:
                ctx.start_table(plan)
                emptied[str(plan.name)] = Emptied(rows=ctx.execute(ctx.target, q.delete_all(plan)))
        ctx.ledger.current = None
        emptied.update(refill.empty(ctx.target, truncated, ctx.ledger.stage_names))
        ctx.watchdog.beat()
        return emptied

    def load(self, ctx: RunContext, plan: TablePlan, row_filter: sql.Composable | None) -> int:
        return copy_batch(ctx, plan, row_filter, None, None, plan.target.qualified.ident)

    def refill_counts(self, ctx: RunContext, plan: TablePlan, emptied: Emptied, rows: int) -> RowCounts:
        return refill.counts_after_load(ctx.target, plan, emptied, rows)

    def merge(self, ctx: RunContext, plan: TablePlan, stage: sql.Identifier) -> tuple[int, int]:
        return apply_stage(ctx, plan, stage)

    def delete_missing(self, ctx: RunContext, plan: TablePlan, stage: sql.Identifier) -> int:
        return ctx.execute(ctx.target, q.delete_missing(plan, stage))

    def end(self, ctx: RunContext, group: list[TablePlan], tally: ReplaceTally, tx: Transaction) -> None:
        # The deferred foreign-key checks of the loaded rows run now, not at the commit: a table
        # with such checks pending refuses the ALTER TABLE that puts its triggers back.
        ctx.execute(ctx.target, "SET CONSTRAINTS ALL IMMEDIATE")
        for plan in group:
            finish_table(ctx, plan, None, tally.counts[str(plan.name)], tally.started_at)
        for plan in group:
            triggers.restore(ctx.target, plan.restore_triggers)
