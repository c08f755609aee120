"""Create-missing as a step before a sync: the DDL, then the request the sync goes on with.

Shared by the CLI (``sync --create-missing``) and the console's wizard, so both leave out the
same tables: a table whose target counterpart conflicts is skipped (its line says why); in a dry
run the tables the DDL would create are left out of the sync's own dry run too (they exist only
once the DDL runs), and said so. Runs on its own target connection and transaction
(:func:`dbconsole.schema.run.create_missing`), so the engine sees a target that has the tables.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from dbconsole.connect import connect
from dbconsole.names import TableName
from dbconsole.schema.run import CreateOutcome, create_missing
from dbconsole.sync.plan import SyncRequest


@dataclass(frozen=True)
class CreateMissingStep:
    outcome: CreateOutcome
    request: SyncRequest | None  # what the sync then runs; None: no table left to sync
    left_out: tuple[TableName, ...]  # conflicting tables, and in a dry run the ones the DDL would create

    @property
    def conflicts(self) -> list[str]:
        return self.outcome.plan.conflicts

    @property
    def statements(self) -> list[str]:
        return self.outcome.statements


def create_missing_for_sync(request: SyncRequest) -> CreateMissingStep:
    """Plan (and unless the request is a dry run, run) the DDL for the request's tables."""
    with connect(request.source, purpose="schema", read_only=True) as source_conn, \
            connect(request.target, purpose="create-missing") as target_conn:
        outcome = create_missing(source_conn, target_conn, source_name=request.source.name,
                                 target_name=request.target.name, tables=request.tables, exclude=request.exclude,
                                 with_parents=request.with_parents or bool(request.subsets),
                                 dry_run=request.dry_run)
    plan = outcome.plan
    left_out = set(plan.conflicted_tables) | (set(plan.created_tables) if request.dry_run else set())
    remaining = [t for t in outcome.selection if t not in left_out]
    ordered = tuple(t for t in outcome.selection if t in left_out)
    if not remaining:
        return CreateMissingStep(outcome, None, ordered)
    if left_out:
        request = dataclasses.replace(request, tables=tuple(str(t) for t in remaining), exclude=())
    return CreateMissingStep(outcome, request, ordered)
