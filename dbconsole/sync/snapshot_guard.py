"""How long one source snapshot may stay open: ``[sync] max_snapshot_age`` (issue 17, item 2).

Why: the source is read in one REPEATABLE READ snapshot so that parents and children agree. On
a production primary that snapshot's xmin holds vacuum back for as long as the run takes: a
multi-hour sync bloats every busy table of the server. The guard bounds it. When the snapshot
is older than the limit, the engine finishes the table in hand (a table is always read in one
snapshot), commits, and reads the next tables in a fresh snapshot, saying so; rows in the later
tables may then be newer than those in the earlier ones, which the target's foreign keys still
check (a child row whose parent came from an older moment fails clearly, naming both).

Only a read-only source is guarded (that is production; a writable local source is ours to
hold), and ``0`` turns the guard off.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dbconsole.format import format_duration
from dbconsole.sync.plan import SyncPlan, SyncRequest

DEFAULT_MAX_SNAPSHOT_AGE = 30 * 60.0  # seconds
# What the plan's estimate assumes a run reads per second: well under the measured full-sync
# rate (~85k rows/s local, ~65k through a tunnel, bench/README.md), so "may exceed" errs early.
ASSUMED_ROWS_PER_SECOND = 20_000


@dataclass
class SnapshotGuard:
    """The age of the snapshot in use, and whether it is time to take a new one."""

    max_age: float | None  # seconds; None: never renewed
    clock: Callable[[], float] = time.monotonic
    taken_at: float = field(default=0.0)
    renewals: int = 0

    @classmethod
    def for_request(cls, request: SyncRequest) -> SnapshotGuard:
        """The guard a run of ``request`` keeps (``[sync] max_snapshot_age``, read-only sources only)."""
        return cls.for_source(request.source.read_only, request.settings.max_snapshot_age)

    @classmethod
    def for_source(cls, read_only: bool, max_snapshot_age: float | None) -> SnapshotGuard:
        limit = DEFAULT_MAX_SNAPSHOT_AGE if max_snapshot_age is None else max_snapshot_age
        return cls(limit if read_only and limit > 0 else None)

    def taken(self) -> None:
        """A snapshot was just opened (the run's first, a retry's, or a renewal)."""
        self.taken_at = self.clock()

    @property
    def age(self) -> float:
        return self.clock() - self.taken_at

    def due(self) -> bool:
        """Is the snapshot in use older than the limit (checked between tables)?"""
        return self.max_age is not None and self.age >= self.max_age

    def renewed_notice(self, next_table: str) -> str:
        """What the run says when it moves to a fresh snapshot before ``next_table``."""
        self.renewals += 1
        assert self.max_age is not None
        return (f"the source snapshot was {format_duration(self.age)} old (max_snapshot_age "
                f"{format_duration(self.max_age)}): continuing with a fresh snapshot, so {next_table} and the "
                "tables after it are read at a later moment than the tables before it (the target's "
                "foreign keys still check that they fit together)")


def plan_warning(max_age: float | None, estimated_rows: Sequence[int | None]) -> str | None:
    """The plan's warning when a run at :data:`ASSUMED_ROWS_PER_SECOND` may outlive one snapshot."""
    if max_age is None:
        return None
    rows = sum(r or 0 for r in estimated_rows)
    if rows / ASSUMED_ROWS_PER_SECOND < max_age:
        return None
    why = (f"this run may take longer than max_snapshot_age ({format_duration(max_age)}; ~{rows:,} rows at "
           f"~{ASSUMED_ROWS_PER_SECOND:,} rows/s)")
    if len(estimated_rows) < 2:
        return f"{why}: a table is always read in one snapshot, so the source's snapshot stays open until it is done"
    return (f"{why}: once the source snapshot is that old, the table in hand is finished and the tables after "
            "it are read in a fresh snapshot, from a later moment")


def plan_warnings(request: SyncRequest, plan: SyncPlan) -> list[str]:
    """What the plan event says about the source snapshot's age (nothing when it cannot matter)."""
    warning = plan_warning(SnapshotGuard.for_request(request).max_age,
                           [t.source.estimated_rows for t in plan.tables])
    return [warning] if warning else []
