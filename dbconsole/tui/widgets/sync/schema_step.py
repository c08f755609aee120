"""The wizard's engine calls when create-missing is ticked: the DDL first, then the sync.

Runs in the wizard's thread workers (never on the event loop). The plan and the dry run ask
:func:`dbconsole.schema.for_sync.create_missing_for_sync` in dry-run mode (nothing is created; the
new tables are left out of the sync's own plan and dry run, as the CLI does, since they exist
only once the DDL runs); a real run creates them in one transaction, re-plans (so the progress
and the summary list the new tables too) and then syncs. A table whose target counterpart
conflicts is skipped with its one line.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any

from dbconsole.errors import SyncError
from dbconsole.sync import ParentNeed, SyncPlan, SyncRequest
from dbconsole.sync.events import Notice, SyncEvent


def plan_with_create(request: SyncRequest) -> tuple[SyncPlan, Any]:
    """The sync's plan, and (create-missing ticked) the DDL the real run would run first."""
    from dbconsole.sync.engine import plan_sync

    if not request.create_missing:
        return plan_sync(request), None
    from dbconsole.schema.for_sync import create_missing_for_sync

    step = create_missing_for_sync(dataclasses.replace(request, dry_run=True))
    if step.request is None:  # every table is new (or conflicts): nothing to plan before the DDL runs
        plan = SyncPlan(request=request, tables=[])
    else:
        plan = plan_sync(step.request)
    plan.missing_parents += _parents_of_new_tables(request, step)
    return plan, step


def _parents_of_new_tables(request: SyncRequest, step: Any) -> list[ParentNeed]:
    """The FK parents a new table's rows need that the sync leaves out: the plan cannot see them
    (the table is not on the target yet), so they are read from the source's catalog, and the
    wizard ticks FK parents for them as it does for any other table."""
    created = step.outcome.plan.created_tables
    if not created or request.with_parents or request.subsets:
        return []
    from dbconsole.catalog import read_catalog
    from dbconsole.connect import connect

    with connect(request.source, read_only=True, purpose="plan") as conn:
        tables = {t.qualified: t for t in read_catalog(conn)}
    selected = set(step.outcome.selection)
    return [ParentNeed(name, fk.name, fk.parent) for name in created if name in tables
            for fk in tables[name].foreign_keys if fk.parent != name and fk.parent not in selected]


def run_with_create(request: SyncRequest, emit: Callable[[SyncEvent], None], cancel: threading.Event | None, *,
                    on_create: Callable[[Any], None], on_plan: Callable[[SyncPlan], None]) -> Any:
    """The DDL (when ticked), then the sync; returns the sync's summary (None: a dry run with
    only new tables, whose rows cannot be counted before they exist)."""
    from dbconsole.sync.engine import plan_sync, run_sync

    if request.create_missing:
        from dbconsole.schema.for_sync import create_missing_for_sync

        step = create_missing_for_sync(request)
        on_create(step)
        outcome = step.outcome
        verb = "would run" if request.dry_run else "ran"
        created = ", ".join(str(t) for t in outcome.plan.created_tables)
        emit(Notice(None, f"create-missing: {verb} {len(step.statements)} DDL statements on {request.target.name}"
                          + (f" (creates {created})" if created else "")))
        for conflict in step.conflicts:
            emit(Notice(None, f"create-missing: {conflict}", kind="warning"))
        for note in outcome.plan.notes:
            emit(Notice(None, f"create-missing: {note}"))
        if step.request is None:
            if request.dry_run:
                return None
            raise SyncError("nothing to sync: " + "; ".join(step.conflicts or ["no table left"]))
        request = step.request
        if not request.dry_run:
            on_plan(plan_sync(request))
    return run_sync(request, on_event=emit, cancel=cancel)
