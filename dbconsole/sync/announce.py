"""What a run says once its plan holds: the plan event, then the notices the plan implies."""

from __future__ import annotations

from collections.abc import Iterator

from dbconsole.sync import triggers
from dbconsole.sync.events import Notice, PlannedTable, PlanEvent, SyncEvent
from dbconsole.sync.plan import SyncPlan, SyncRequest
from dbconsole.sync.snapshot_guard import plan_warnings as snapshot_warnings


def plan_events(request: SyncRequest, plan: SyncPlan, resume: dict[str, int]) -> Iterator[SyncEvent]:
    """The ``plan`` event (``resume`` holds rows an interrupted run committed, per table), then notices."""
    yield PlanEvent(
        source=request.source.name, target=request.target.name,
        mode=request.mode or "per-table", dry_run=request.dry_run,
        tables=[PlannedTable(
            table=str(t.name), mode=t.mode, estimated_rows=t.source.estimated_rows, copy_format=t.copy_format,
            batch_size=t.batch_size, key=list(t.key) if t.key else None, columns=t.columns,
            resume_rows=resume.get(str(t.name), 0), where=t.where, masked=t.masks, preserved=t.preserve,
            warnings=t.warnings, triggers_disabled=[str(tg) for tg in t.disable_triggers],
            partitions=[str(p.qualified) for p in t.target.partitions]) for t in plan.tables],
        warnings=plan.warnings + [f"skipped {name}: {why}" for name, why in plan.skipped]
        + snapshot_warnings(request, plan),
        matviews=[str(m) for m in plan.matviews])
    for name, message in plan.notices:
        yield Notice(str(name), message)
    verb = "would disable" if request.dry_run else "disabling"
    for table in plan.tables:
        if table.disable_triggers:
            yield Notice(str(table.name), f"{verb} user triggers {triggers.describe(table.disable_triggers)} "
                         "during the apply, each back as it was before every commit "
                         "(--triggers keep lets them fire)")
    if plan.matviews and not request.refresh_matviews:
        yield Notice(None, f"materialized views {', '.join(str(m) for m in plan.matviews)} read synced tables "
                     "and will be stale after the sync; --refresh-matviews refreshes them", kind="warning")
    for need in plan.missing_parents:
        yield Notice(str(need.child), f"references {need.parent} (foreign key {need.constraint}), which is "
                     "not part of this sync; the target must already hold the parent rows", kind="warning")
