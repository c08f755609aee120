"""The runner of a real sync: locks, then each table written, then materialized views.

The engine picks it for every run that is not a dry run (:class:`~.preview.PreviewRunner`
is the other); each step is one call into the level that knows it.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from dbconsole.names import TableName
from dbconsole.sync import state
from dbconsole.sync.journal import RunJournal
from dbconsole.sync.by_diff import diff_table, finish_mirrors, strategy_for
from dbconsole.sync.context import RunContext
from dbconsole.sync.events import Notice
from dbconsole.sync.plan import TablePlan
from dbconsole.sync.replace import WriteSteps, replace_group
from dbconsole.sync.subset_deletes import finish_subset_mirrors
from dbconsole.sync.table_run import write_table


class WritingRunner:
    def prepare_state(self, target: psycopg.Connection[Any]) -> bool:
        state.ensure_state_schema(target)  # only once the plan holds: a refused run writes nothing at all
        return True

    def before_tables(self, ctx: RunContext) -> None:
        def on_wait(table: TableName, pid: int | None) -> None:
            holder = f" (backend pid {pid})" if pid else ""
            ctx.emit(Notice(str(table), f"another sync is writing this table on {ctx.request.target.name}{holder}; "
                            "waiting for it to finish", kind="waiting"))

        state.acquire_locks(ctx.target, [t.name for t in ctx.plan.tables], on_wait=on_wait,
                            cancelled=ctx.cancel.is_set)
        ctx.check_cancel()
        ctx.ledger.held_for_deletes.clear()  # an earlier attempt's upserts are redone in this one's snapshot
        if ctx.ledger.journal is None:  # the run's history row and undo stores, once per run
            ctx.ledger.journal = RunJournal.register(ctx)
        else:
            ctx.ledger.journal.attach(ctx.target)

    def run_table(self, ctx: RunContext, plan: TablePlan) -> None:
        ctx.start_table(plan)
        if strategy_for(ctx, plan) == "diff":
            diff_table(ctx, plan)
        else:
            write_table(ctx, plan)

    def run_replace(self, ctx: RunContext, group: list[TablePlan]) -> None:
        replace_group(ctx, group, WriteSteps())

    def after_tables(self, ctx: RunContext) -> None:
        """After every table is in: mirror deletes (children first; a subset's mirror deletes
        its target-only rows of the subset), then the materialized views that read the tables,
        in one transaction."""
        finish_mirrors(ctx)
        finish_subset_mirrors(ctx)
        views = ctx.plan.matviews
        if not (ctx.request.refresh_matviews and views):
            self._finished(ctx)
            return
        ctx.ledger.current = None
        with ctx.target.transaction():
            for view in views:
                ctx.execute(ctx.target, sql.SQL("REFRESH MATERIALIZED VIEW {}").format(view.ident))
        ctx.emit(Notice(None, f"refreshed materialized views {', '.join(str(m) for m in views)}"))
        self._finished(ctx)

    def _finished(self, ctx: RunContext) -> None:
        if ctx.ledger.journal is not None:
            ctx.ledger.journal.finish(ctx.target)
