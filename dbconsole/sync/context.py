"""What every level of a run shares: the request, the plan, both connections, the event sink.

:class:`RunContext` is built by the engine once per attempt, only after both connections are
open and the plan is made, so no level below the engine ever sees a missing connection or
plan. What must outlive an attempt (tables finished, the table being worked on) lives in the
:class:`RunLedger` the engine keeps across retries and hands to each new context.

The levels (:mod:`.table_run`, :mod:`.replace`, :mod:`.preview`) import this module and
:mod:`.copying`, never the engine or each other's runners, so the split has no import cycle.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import psycopg
from psycopg import sql

from dbconsole.catalog import ForeignKey, Table
from dbconsole.diff.checksum import HashKind
from dbconsole.errors import Cancelled
from dbconsole.modes import Strategy
from dbconsole.names import TableName
from dbconsole.sync import statements as q
from dbconsole.sync.counts import RowCounts
from dbconsole.sync.events import Progress, SyncEvent, TableDone
from dbconsole.sync.fk_errors import Phase
from dbconsole.sync.plan import SyncPlan, SyncRequest, TablePlan
from dbconsole.sync.watchdog import Watchdog

if TYPE_CHECKING:
    from dbconsole.sync.journal import RunJournal

EventSink = Callable[[SyncEvent], None]
StageLifetime = Literal["DELETE ROWS", "DROP"]  # a table's batches reuse it; or gone at commit


@dataclass
class RunLedger:
    """What a run has done so far; kept across retries so a new attempt skips finished tables."""

    finished: dict[str, TableDone] = field(default_factory=dict)
    current: str | None = None  # the table being worked on: failures name it
    phase: Phase = "insert"  # what the target is doing now: tells an FK error's side
    renewed_snapshot_at: str | None = None  # the first table read in a renewed source snapshot (max_snapshot_age)
    kept_snapshot_for_subset: bool = False  # a due renewal skipped (and said) because of --subset
    stage_names: Iterator[str] = field(default_factory=lambda: (f"dbconsole_stage_{i}" for i in itertools.count()))
    hash_kind: HashKind | None = None  # how a diff-driven table fingerprints rows (probed once)
    pending_mirrors: list[Any] = field(default_factory=list)  # mirror tables upserted, deletes still to do
    held_for_deletes: list[Any] = field(default_factory=list)  # a subset's mirror tables upserted (.subset_deletes)
    journal: RunJournal | None = None  # a writing run's history row and undo stores (.journal)


@dataclass
class RunContext:
    """One attempt of a run, with both sides connected and the plan made."""

    request: SyncRequest
    plan: SyncPlan
    emit: EventSink
    cancel: threading.Event
    watchdog: Watchdog
    source: psycopg.Connection[Any]
    target: psycopg.Connection[Any]
    source_id: str  # which cluster and database the rows come from: state is kept per source
    snapshot_xmin: int
    snapshot_xmax: int
    target_tables: list[Table]  # the target's whole catalog: FK errors are explained from it
    ledger: RunLedger
    state_ready: bool  # the target holds the _dbconsole state tables (always so for a writing run)
    # A second source session in this attempt's snapshot, in a fresh transaction at each call:
    # a diff-driven table's checksums read exactly the rows its copy reads.
    diff_source: Callable[[], psycopg.Connection[Any]] = field(default=lambda: _no_diff_source())

    @property
    def dry_run(self) -> bool:
        return self.request.dry_run

    @property
    def journal(self) -> RunJournal | None:
        """The run's history row and undo stores (None on a dry run): :class:`~.undo.WriteSession`."""
        return self.ledger.journal

    def beat(self) -> None:
        self.watchdog.beat()

    @property
    def planned(self) -> set[TableName]:
        return {t.name for t in self.plan.tables}

    def start_table(self, plan: TablePlan) -> None:
        self.ledger.current = str(plan.name)

    def parents_outside_plan(self, plan: TablePlan) -> list[ForeignKey]:
        """Foreign keys of ``plan``'s table whose parent this run does not write."""
        planned = self.planned
        return [fk for fk in plan.target.foreign_keys
                if fk.parent != plan.name and fk.parent not in planned and set(fk.columns) <= set(plan.columns)]

    # -- statements -----------------------------------------------------------

    def scalar(self, conn: psycopg.Connection[Any], statement: Any, params: Any = None) -> Any:
        with conn.cursor() as cur:
            cur.execute(statement, params)
            row = cur.fetchone()
        self.watchdog.beat()
        return row[0] if row else None

    def execute(self, conn: psycopg.Connection[Any], statement: Any, params: Any = None) -> int:
        with conn.cursor() as cur:
            cur.execute(statement, params)
            self.watchdog.beat()
            return max(cur.rowcount, 0)

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("cancelled")

    def create_stage(self, plan: TablePlan, on_commit: StageLifetime = "DELETE ROWS") -> sql.Identifier:
        stage = sql.Identifier(next(self.ledger.stage_names))
        self.execute(self.target, q.create_stage(plan, stage, on_commit=on_commit))
        if on_commit == "DELETE ROWS" and not self.target.autocommit:
            self.target.commit()
        return stage

    def drop_stage(self, stage: sql.Identifier) -> None:
        self.execute(self.target, sql.SQL("DROP TABLE IF EXISTS {}").format(stage))
        self.target.commit()

    # -- what the world sees ----------------------------------------------------

    def progress(self, plan: TablePlan, rows: int, rows_this_run: int, began: float) -> None:
        self.watchdog.beat()
        elapsed = max(time.monotonic() - began, 1e-6)
        rate = rows_this_run / elapsed
        estimate = plan.source.estimated_rows
        eta = max(estimate - rows, 0) / rate if estimate and rate > 0 else None
        self.emit(Progress(str(plan.name), rows, round(rate, 1), estimate, round(eta, 1) if eta is not None else None))

    def table_done(self, plan: TablePlan, counts: RowCounts, began: float, *, rows_read: int,
                   ranges_skipped: int = 0, strategy: Strategy = "copy") -> None:
        done = TableDone(str(plan.name), counts, round(time.monotonic() - began, 3), dry_run=self.dry_run,
                         rows_read=rows_read, ranges_skipped=ranges_skipped, strategy=strategy)
        self.ledger.finished[str(plan.name)] = done
        self.emit(done)


def _no_diff_source() -> psycopg.Connection[Any]:
    raise RuntimeError("this run context has no diff source session")


class Runner(Protocol):
    """How the tables of a plan are run: writing them, or previewing what that would do.

    The engine picks one per run (:class:`~.table_run.WritingRunner` or
    :class:`~.preview.PreviewRunner`), so dry run is decided once, not at every step.
    """

    def prepare_state(self, target: psycopg.Connection[Any]) -> bool:
        """Make (or look for) the state tables once the plan holds; whether they exist."""

    def before_tables(self, ctx: RunContext) -> None:
        """Before the first table: a writing run takes every table's sync lock."""

    def run_table(self, ctx: RunContext, plan: TablePlan) -> None:
        """One table of a batched mode (upsert, incremental, xmin)."""

    def run_replace(self, ctx: RunContext, group: list[TablePlan]) -> None:
        """Every replace table, in one transaction."""

    def after_tables(self, ctx: RunContext) -> None:
        """After the last table: a writing run refreshes materialized views when asked."""
