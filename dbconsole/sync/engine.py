"""The sync engine: one run, told top to bottom.

connect (source read-only, one REPEATABLE READ snapshot) → plan (FK order, columns, modes) →
lock the target tables → for each table: COPY source rows into a staging table (or straight
into an empty target) batch by batch → apply (insert new, update changed, delete missing for
``replace``) → checkpoint in the same transaction → report → done.

Rows never become Python objects: COPY blocks from the source are joined into ~128 KiB writes
and handed to the target's COPY, binary when both sides' column types are identical. A run
killed at any instant resumes from its last committed batch (see :mod:`.state`); transient
failures (connection lost, server restart, tunnel drop) reconnect with backoff and resume the
same way; permanent ones stop at once with the table and the reason.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from queue import Queue
from typing import Any

import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from dbconsole.catalog import Table, read_catalog
from dbconsole.config import Profile
from dbconsole.connect import connect, describe_pg_error
from dbconsole.errors import Cancelled, ConnectError, DbconsoleError, ReadOnlyError, SyncError
from dbconsole.sync import sequences, state, triggers
from dbconsole.sync.conflicts import replace_conflicts
from dbconsole.sync import statements as q
from dbconsole.sync.fk_errors import Phase, explain_fk_violation
from dbconsole.sync.events import (
    Done, ErrorEvent, Notice, PlannedTable, PlanEvent, Progress, SyncEvent, TableDone, TableStart)
from dbconsole.sync.plan import SyncPlan, SyncRequest, TablePlan, build_plan
from dbconsole.sync.pump import copy_out_chunks
from dbconsole.sync.watchdog import Watchdog

# Session settings both sides share, so text COPY means the same thing on each end.
SESSION_OPTIONS = {
    "datestyle": "ISO,MDY", "intervalstyle": "postgres", "extra_float_digits": "3", "timezone": "UTC",
    "statement_timeout": "0", "idle_in_transaction_session_timeout": "0",
}
# A batch commits with its checkpoint atomically; a target server crash may lose the last few
# commits, but always a batch together with its checkpoint, so resuming stays exact.
TARGET_OPTIONS = {**SESSION_OPTIONS, "synchronous_commit": "off",
                  # Row-level security that would filter the sync's reads raises instead (the plan
                  # refuses such tables first; this keeps a policy added meanwhile from hiding rows).
                  "row_security": "off"}
WRITE_QUEUE = 32  # chunks in flight to the target writer thread (bounds memory: ~4 MiB)
DEFAULT_RETRIES = 5
DEFAULT_STALL_TIMEOUT = 300.0  # seconds without any progress before a run counts as stuck
MAX_BACKOFF = 10.0
XID_TRUST_HORIZON = 2**31
SINGLE_BATCH = 2**62

EventSink = Callable[[SyncEvent], None]


@dataclass
class SyncSummary:
    """What a run did, per table and in total (also the payload of the final ``done`` event)."""

    tables: list[TableDone] = field(default_factory=list)
    seconds: float = 0.0
    dry_run: bool = False
    cancelled: bool = False

    inserted = property(lambda self: sum(t.inserted for t in self.tables))
    updated = property(lambda self: sum(t.updated for t in self.tables))
    unchanged = property(lambda self: sum(t.unchanged for t in self.tables))
    deleted = property(lambda self: sum(t.deleted for t in self.tables))


# --------------------------------------------------------------------------- public API


def plan_sync(request: SyncRequest) -> SyncPlan:
    """The plan a run would follow; connects read-only to both sides and writes nothing."""
    with open_source(request) as source, connect(request.target, read_only=True, options=SESSION_OPTIONS,
                                                 purpose="plan") as target:
        plan = build_plan(request, read_catalog(source), read_catalog(target))
        validate_filters(source, plan)
        return plan


def run_sync(request: SyncRequest, on_event: EventSink | None = None,
             cancel: threading.Event | None = None) -> SyncSummary:
    """Run a sync to the end (or until ``cancel`` is set); blocking, so call it off the UI thread."""
    refuse_read_only_target(request.target)
    if request.source.name == request.target.name:
        raise SyncError("source and target are the same profile")
    return SyncRun(request, on_event or (lambda event: None), cancel or threading.Event()).run()


def refuse_read_only_target(target: Profile) -> None:
    """A read-only profile is never a target; said before any connection is opened."""
    if target.read_only:
        raise ReadOnlyError(f"{target.name} is read-only: dbconsole never writes to it "
                            "(set read_only = false in its profile only if it really is a scratch database)")


@contextlib.contextmanager
def open_source(request: SyncRequest) -> Iterator[psycopg.Connection[Any]]:
    """The source, read in one read-only REPEATABLE READ snapshot so parents and children agree."""
    conn = connect(request.source, read_only=True, options=SESSION_OPTIONS, purpose="sync source")
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    try:
        yield conn
    finally:
        conn.close()


def validate_filters(source: psycopg.Connection[Any], plan: SyncPlan) -> None:
    """Prove each ``--where`` is one valid expression over its table before anything runs."""
    for table in plan.tables:
        if not table.where:
            continue
        try:
            with source.cursor() as cur:
                cur.execute(q.validate_where(table, table.where), prepare=True)
        except psycopg.Error as exc:
            if source.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
                source.rollback()
            raise SyncError(f"{table.name}: bad --where {table.where!r}: {describe_pg_error(exc)}",
                            table=str(table.name)) from None


# --------------------------------------------------------------------------- one run


class SyncRun:
    """A run's state: connections, plan, what is finished, and the event sink."""

    def __init__(self, request: SyncRequest, emit: EventSink, cancel: threading.Event) -> None:
        self.request = request
        self.emit = emit
        self.cancel = cancel
        self.plan: SyncPlan | None = None
        self.target_tables: list[Table] = []  # the target's whole catalog: FK errors are explained from it
        self.source: psycopg.Connection[Any] | None = None
        self.target: psycopg.Connection[Any] | None = None
        self.source_id = ""
        self.snapshot_xmin = 0
        self.snapshot_xmax = 0
        self.finished: dict[str, TableDone] = {}
        self.current: str | None = None
        self.started = time.monotonic()
        self.retries = request.settings.retries if request.settings.retries is not None else DEFAULT_RETRIES
        self.watchdog = Watchdog(request.settings.stall_timeout or DEFAULT_STALL_TIMEOUT)
        self._stage_names = (f"dbconsole_stage_{i}" for i in itertools.count())
        self.phase: Phase = "insert"  # what the target is doing now: tells an FK error's side

    # -- the story ---------------------------------------------------------

    def run(self) -> SyncSummary:
        with self.watchdog:
            return self._run_with_retries()

    def _run_with_retries(self) -> SyncSummary:
        attempt = 0
        while True:
            try:
                self._open()
                if self.plan is None:
                    self.plan = self._make_plan()
                self._take_snapshot()
                self._sync_all(self.plan)
                break
            except Cancelled:
                return self._done(cancelled=True)
            except Exception as exc:  # noqa: BLE001 - classified right below
                if self.cancel.is_set():
                    return self._done(cancelled=True)
                if self.watchdog.fired:
                    exc = SyncError(f"{self.current + ': ' if self.current else ''}nothing moved for "
                                    f"{self.watchdog.timeout:g} s: the source, the target or the network stopped "
                                    "answering", table=self.current, transient=True)
                if is_transient(exc) and attempt < self.retries:
                    attempt += 1
                    delay = min(MAX_BACKOFF, 0.5 * 2 ** (attempt - 1))
                    self.emit(Notice(self.current, f"{_reason(exc)}; retrying in {delay:g} s "
                                     f"(attempt {attempt} of {self.retries}), resuming from the last checkpoint",
                                     kind="retry"))
                    self._close()
                    if self.cancel.wait(delay):
                        return self._done(cancelled=True)
                    continue
                error = self._explain(exc)
                self.emit(ErrorEvent(error.table, str(error)))
                raise error from None
            finally:
                self._close()
        return self._done(cancelled=False)

    def _open(self) -> None:
        """Connect both sides; refuse a target that cannot be written (standby, read-only server)."""
        self.source = connect(self.request.source, read_only=True, options=SESSION_OPTIONS,
                              purpose="sync source")
        self.source.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        self.source.read_only = True
        self.source_id = self._source_identity()
        self.target = connect(self.request.target, options=TARGET_OPTIONS, purpose="sync target")
        self.watchdog.watch(self.source, self.target)
        if self._scalar(self.target, "SELECT pg_is_in_recovery()"):
            raise SyncError(f"{self.request.target.name} is a standby in recovery and cannot be written; "
                            "point the profile at the primary")
        if self._scalar(self.target, "SELECT current_setting('transaction_read_only') = 'on'"):
            raise SyncError(f"{self.request.target.name} refuses writes: its server makes every session read-only "
                            "(default_transaction_read_only); nothing was written")
        self.target.rollback()

    def _take_snapshot(self) -> None:
        """Open the source transaction every later read shares, and note its transaction horizon."""
        assert self.source is not None
        if self.source.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            self.source.rollback()
        with self.source.cursor() as cur:
            # 64-bit (epoch-extended) ids: pg_current_snapshot() from PG 13, txid_* before it.
            if self.source.info.server_version >= 130000:
                cur.execute("SELECT pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint"
                            " FROM pg_current_snapshot() s")
            else:
                cur.execute("SELECT txid_snapshot_xmin(s), txid_snapshot_xmax(s) FROM txid_current_snapshot() s")
            self.snapshot_xmin, self.snapshot_xmax = cur.fetchone()  # type: ignore[misc]

    def _make_plan(self) -> SyncPlan:
        assert self.source is not None and self.target is not None
        self.target_tables = read_catalog(self.target)
        plan = build_plan(self.request, read_catalog(self.source), self.target_tables)
        validate_filters(self.source, plan)
        self.source.rollback()
        if not self.request.dry_run:  # only once the plan holds: a refused run writes nothing at all
            state.ensure_state_schema(self.target)
        resume = self._resume_rows(plan)
        self.emit(PlanEvent(
            source=self.request.source.name, target=self.request.target.name,
            mode=self.request.mode or "per-table", dry_run=self.request.dry_run,
            tables=[PlannedTable(
                table=str(t.name), mode=t.mode, estimated_rows=t.source.estimated_rows, copy_format=t.copy_format,
                batch_size=t.batch_size, key=list(t.key) if t.key else None, columns=t.columns,
                resume_rows=resume.get(str(t.name), 0), where=t.where, masked=t.masks, preserved=t.preserve,
                warnings=t.warnings, triggers_disabled=[str(tg) for tg in t.disable_triggers],
                partitions=[str(p.qualified) for p in t.target.partitions]) for t in plan.tables],
            warnings=plan.warnings + [f"skipped {name}: {why}" for name, why in plan.skipped],
            matviews=[str(m) for m in plan.matviews]))
        for name, message in plan.notices:
            self.emit(Notice(str(name), message))
        for table in plan.tables:
            if table.disable_triggers:
                verb = "would disable" if self.request.dry_run else "disabling"
                self.emit(Notice(str(table.name), f"{verb} user triggers {triggers.describe(table.disable_triggers)} "
                                 "during the apply, each back as it was before every commit "
                                 "(--triggers keep lets them fire)"))
        if plan.matviews and not self.request.refresh_matviews:
            self.emit(Notice(None, f"materialized views {', '.join(str(m) for m in plan.matviews)} read synced tables "
                             "and will be stale after the sync; --refresh-matviews refreshes them", kind="warning"))
        for need in plan.missing_parents:
            self.emit(Notice(str(need.child), f"references {need.parent} (foreign key {need.constraint}), which is "
                             "not part of this sync; the target must already hold the parent rows", kind="warning"))
        return plan

    def _sync_all(self, plan: SyncPlan) -> None:
        assert self.target is not None
        if not self.request.dry_run:
            state.acquire_locks(self.target, [t.name for t in plan.tables], on_wait=self._on_lock_wait,
                                cancelled=self.cancel.is_set)
            self._check_cancel()
        replace_group = [t for t in plan.tables if t.mode == "replace"]
        for table in plan.tables:
            if table.mode != "replace" and str(table.name) not in self.finished:
                self._sync_table(table)
        if replace_group and not all(str(t.name) in self.finished for t in replace_group):
            self._replace_tables(replace_group)
        if self.request.refresh_matviews and plan.matviews and not self.request.dry_run:
            self._refresh_matviews(plan)

    def _refresh_matviews(self, plan: SyncPlan) -> None:
        """After every table is in: the materialized views that read them, in one transaction."""
        assert self.target is not None
        self.current = None
        with self.target.transaction():
            for view in plan.matviews:
                self._execute(self.target, sql.SQL("REFRESH MATERIALIZED VIEW {}").format(view.ident))
        self.emit(Notice(None, f"refreshed materialized views {', '.join(str(m) for m in plan.matviews)}"))

    # -- batched modes: upsert, incremental, xmin ---------------------------

    def _sync_table(self, plan: TablePlan) -> None:
        """Batch after batch, each committed with its checkpoint, until the source runs out."""
        assert self.source is not None and self.target is not None
        name = str(plan.name)
        self.current = name
        started_at = datetime.now(timezone.utc)
        began = time.monotonic()
        stored = self._stored_watermark(plan)
        point = self._start_point(plan, stored)
        row_filter = q.combine(q.user_filter(plan.where) if plan.where else None, self._mode_filter(plan, stored))
        self.emit(TableStart(name, plan.mode, plan.source.estimated_rows, resume_rows=point.rows_done))
        if self.request.dry_run:
            return self._preview_table(plan, row_filter, began)

        stage = None if point.fast_path else self._create_stage(plan)
        batch_size = _batch_size(plan, row_filter)
        resumed_rows = point.rows_done
        upper = self._upper_bound(plan, row_filter, point.last_key, batch_size)
        while True:
            self._check_cancel()
            following: list[list[str] | None] = []
            with self.target.transaction():
                triggers.disable(self.target, plan.disable_triggers)
                into = stage or plan.target.qualified.ident
                # The next batch's boundary is looked up while the target still digests this one.
                rows = self._copy(plan, row_filter, point.last_key, upper, into, meanwhile=lambda: following.append(
                    self._upper_bound(plan, row_filter, upper, batch_size) if upper is not None else None))
                inserted, updated = self._apply(plan, stage) if stage else (rows, 0)
                if plan.mode == "incremental" and stored is not None and stage is not None:
                    point = replace(point, watermark=self._scalar(self.target, q.stage_max_cursor(plan, stage, stored)))
                point = replace(point, last_key=upper, rows_done=point.rows_done + rows,
                                inserted=point.inserted + inserted, updated=point.updated + updated,
                                unchanged=point.unchanged + rows - inserted - updated)
                if upper is None:
                    self._finish_table(plan, point, started_at)
                else:
                    state.save_checkpoint(self.target, plan.name, self.source_id, point)
                triggers.restore(self.target, plan.restore_triggers)
            self._progress(plan, point.rows_done, point.rows_done - resumed_rows, began)
            if upper is None:
                break
            upper = following[0]
        self._table_done(plan, (point.inserted, point.updated, point.unchanged, 0), began)
        if stage is not None:
            self._drop_stage(stage)

    def _stored_watermark(self, plan: TablePlan) -> str | None:
        """The watermark of the last successful incremental / xmin run, if it can be used.

        Not used (so the table is read in full) when there is none, when the target table is
        empty (someone emptied it since), or, for xmin, when the source's transaction counter
        no longer matches it (a restored source, or 2^31 transactions later).
        """
        assert self.target is not None
        if plan.mode not in ("incremental", "xmin"):
            return None
        if self.request.dry_run and not state.state_exists(self.target):
            self.target.rollback()
            self.emit(Notice(str(plan.name), f"first run of {plan.mode} for this table: full scan"))
            return None
        stored = state.load_watermark(self.target, plan.name, self.source_id, plan.mode, plan.cursor)
        empty = stored is not None and bool(self._scalar(self.target, q.target_is_empty(plan)))
        self.target.rollback()
        if stored is None:
            self.emit(Notice(str(plan.name), f"first run of {plan.mode} for this table: full scan"))
            return None
        if empty:
            self.emit(Notice(str(plan.name), "the target table is empty: ignoring the stored watermark, full sync"))
            return None
        if plan.mode == "xmin" and (int(stored) > self.snapshot_xmax
                                    or self.snapshot_xmax - int(stored) >= XID_TRUST_HORIZON):
            self.emit(Notice(str(plan.name), "the stored xmin watermark cannot be trusted (source restored or "
                             "too many transactions since); doing a full sync", kind="warning"))
            return None
        return stored

    def _mode_filter(self, plan: TablePlan, stored: str | None) -> sql.Composable | None:
        """Rows past the watermark: newer cursor (incremental) or newer transaction (xmin)."""
        if stored is None:
            return None
        if plan.mode == "incremental":
            return q.incremental_filter(plan, stored, plan.overlap)
        return q.xmin_filter(int(stored), self.snapshot_xmax)

    def _start_point(self, plan: TablePlan, stored: str | None) -> state.Checkpoint:
        """Resume the checkpoint of an interrupted run of the same shape, or start afresh."""
        assert self.target is not None
        fingerprint = plan.fingerprint()
        point = None
        if not self.request.dry_run:
            point = state.load_checkpoint(self.target, plan.name, self.source_id)
            if point is not None and point.fingerprint != fingerprint:
                self.emit(Notice(str(plan.name), "an interrupted earlier run had other settings; starting over"))
                point = None
            if point is not None and point.fast_path and point.last_key is not None:
                # "Rows past the last key" is asked in the target's key order; when the sides sort
                # keys differently that is not the source's order, so the rest goes through the stage.
                if plan.keys_collate_differently or self._scalar(self.target, q.target_beyond(plan, point.last_key)):
                    point = replace(point, fast_path=False)
        if point is None:
            fast = (plan.key is not None and not self.request.dry_run
                    and bool(self._scalar(self.target, q.target_is_empty(plan))))
            point = state.Checkpoint(fingerprint, None, 0, 0, 0, 0, fast, self._watermark_candidate(plan, stored))
        self.target.commit()
        return point

    def _watermark_candidate(self, plan: TablePlan, stored: str | None) -> str | None:
        """The watermark this run will store if it succeeds, fixed when the table starts.

        xmin: the snapshot's oldest running transaction. incremental: the newest cursor in the
        snapshot; with a stored watermark the delta's own maximum is taken from the staged
        rows instead (no second scan of the source).
        """
        assert self.source is not None
        if plan.mode == "xmin":
            return str(self.snapshot_xmin)
        if plan.mode == "incremental":
            if stored is not None:
                return stored
            where = q.user_filter(plan.where) if plan.where else None
            return self._scalar(self.source, q.max_cursor(plan, where))
        return None

    def _upper_bound(self, plan: TablePlan, row_filter: sql.Composable | None, lower: list[str] | None,
                     batch_size: int) -> list[str] | None:
        if batch_size >= SINGLE_BATCH:
            return None
        assert self.source is not None
        with self.source.cursor() as cur:
            cur.execute(q.upper_bound_query(plan, row_filter, lower, batch_size))
            row = cur.fetchone()
        return list(row) if row else None

    def _copy(self, plan: TablePlan, row_filter: sql.Composable | None, lower: list[str] | None,
              upper: list[str] | None, into: sql.Composable, meanwhile: Callable[[], None] | None = None) -> int:
        """Stream the batch's rows from source to target COPY without parsing them.

        ``meanwhile`` runs once the source has sent everything, while the target's writer
        thread may still be sending: source work that would otherwise leave the target idle.
        """
        assert self.source is not None and self.target is not None
        copy_out = q.copy_out(q.source_select(plan, row_filter, lower, upper), plan.copy_format)
        with self.source.cursor() as src, self.target.cursor() as tgt:
            with tgt.copy(q.copy_in(plan, into), writer=_BoundedQueuedWriter(tgt)) as sink:
                with src.copy(copy_out):
                    for chunk in copy_out_chunks(self.source, cancel=self.cancel, on_data=self.watchdog.beat):
                        sink.write(chunk)
                if meanwhile is not None:
                    meanwhile()
            return max(tgt.rowcount, 0)

    def _apply(self, plan: TablePlan, stage: sql.Identifier) -> tuple[int, int]:
        """Insert the new rows, then update the changed ones; return (inserted, updated)."""
        assert self.target is not None
        with self.target.cursor() as cur, _probe_by_key(cur):
            cur.execute(q.insert_new(plan, stage))
            inserted = max(cur.rowcount, 0)
            update = q.update_changed(plan, stage)
            updated = 0
            if update is not None:
                cur.execute(update)
                updated = max(cur.rowcount, 0)
        return inserted, updated

    def _finish_table(self, plan: TablePlan, point: state.Checkpoint, started_at: datetime,
                      deleted: int = 0) -> None:
        """Inside the last batch's transaction: sequences, watermark, history, checkpoint gone."""
        assert self.target is not None
        sequences.advance_sequences(self.target, plan)
        if plan.mode in ("incremental", "xmin") and point.watermark is not None:
            state.save_watermark(self.target, plan.name, self.source_id, plan.mode, plan.cursor, point.watermark)
        state.record_history(self.target, plan.name, self.source_id, self.request.source.name, plan.mode,
                             started_at, (point.inserted, point.updated, point.unchanged, deleted))
        state.clear_checkpoint(self.target, plan.name, self.source_id)

    # -- replace: one transaction for the whole group -----------------------

    def _replace_tables(self, group: list[TablePlan]) -> None:
        """Make every table of the group equal to the selected source rows, atomically.

        Deletes run children-first and inserts parents-first, so foreign keys hold at each step;
        a failure anywhere rolls the whole group back to what the target was.
        """
        assert self.target is not None
        began = time.monotonic()
        started_at = datetime.now(timezone.utc)
        counts: dict[str, list[int]] = {str(t.name): [0, 0, 0, 0] for t in group}
        stages: dict[str, sql.Identifier] = {}
        with self.target.transaction() as tx:
            self._execute(self.target, "SET CONSTRAINTS ALL DEFERRED")
            if not self.request.dry_run:
                for plan in group:
                    triggers.disable(self.target, plan.disable_triggers)
            self.phase = "delete"
            for plan in reversed(group):  # keyless tables: emptied children-first
                if plan.key is None:
                    counts[str(plan.name)][3] = (self._scalar(self.target, q.count_target(plan)) if self.request.dry_run
                                                 else self._execute(self.target, q.delete_all(plan)))
            self.phase = "insert"
            for plan in group:
                self.current = str(plan.name)
                self._check_cancel()
                self.emit(TableStart(str(plan.name), plan.mode, plan.source.estimated_rows))
                row_filter = q.user_filter(plan.where) if plan.where else None
                if plan.key is None:
                    rows = (int(self._scalar(self.source, q.count_source(plan, row_filter))) if self.request.dry_run
                            else self._copy(plan, row_filter, None, None, plan.target.qualified.ident))
                    counts[str(plan.name)][0] = rows
                else:
                    stages[str(plan.name)] = stage = self._create_stage(plan, on_commit="DROP")
                    rows = self._copy(plan, row_filter, None, None, stage)
                    if self.request.dry_run:
                        inserted, updated = self._preview(plan, stage)
                    else:
                        inserted, updated = self._apply(plan, stage)
                    counts[str(plan.name)][:3] = [inserted, updated, rows - inserted - updated]
                self._progress(plan, rows, rows, began)
            self.phase = "delete"
            for plan in reversed(group):  # keyed tables: rows the source no longer has, children-first
                if plan.key is not None:
                    self.current = str(plan.name)  # a refused delete names the table it deletes from
                    stage = stages[str(plan.name)]
                    statement = q.preview_deletes(plan, stage) if self.request.dry_run else q.delete_missing(plan, stage)
                    counts[str(plan.name)][3] = (self._scalar(self.target, statement) if self.request.dry_run
                                                 else self._execute(self.target, statement))
            if self.request.dry_run:
                self._report_replace_conflicts(group, stages)
                raise psycopg.Rollback(tx)
            for plan in group:
                inserted, updated, unchanged, deleted = counts[str(plan.name)]
                self._finish_table(plan, state.Checkpoint("", None, 0, inserted, updated, unchanged, False, None),
                                   started_at, deleted=deleted)
            for plan in group:
                triggers.restore(self.target, plan.restore_triggers)
        for plan in group:
            self._table_done(plan, tuple(counts[str(plan.name)]), began)  # type: ignore[arg-type]

    def _report_replace_conflicts(self, group: list[TablePlan], stages: dict[str, sql.Identifier]) -> None:
        """The replace dry run also proves its deletes and inserts would hold (see :mod:`.conflicts`)."""
        assert self.target is not None
        written = [t.name for t in self.plan.tables] if self.plan else []
        for found in replace_conflicts(self.target, group, stages, written, self.request.target.name,
                                    self.target_tables):
            self.emit(Notice(found.table, found.message, kind="warning",
                             fails=found.fails, remedy=found.remedy))

    # -- dry run ------------------------------------------------------------

    def _preview_table(self, plan: TablePlan, row_filter: sql.Composable | None, began: float) -> None:
        """Count what would be inserted / updated / unchanged, in transactions that roll back."""
        assert self.source is not None and self.target is not None
        outside = self._parents_outside_plan(plan)
        if not outside and self._scalar(self.target, q.target_is_empty(plan)):
            rows = int(self._scalar(self.source, q.count_source(plan, row_filter)))
            self.target.rollback()
            self._progress(plan, rows, rows, began)
            return self._table_done(plan, (rows, 0, 0, 0), began)
        totals = [0, 0, 0]
        orphans = dict.fromkeys((fk.name for fk in outside), 0)
        lower: list[str] | None = None
        while True:
            self._check_cancel()
            upper = self._upper_bound(plan, row_filter, lower, _batch_size(plan, row_filter))
            with self.target.transaction() as tx:
                stage = self._create_stage(plan, on_commit="DROP")
                rows = self._copy(plan, row_filter, lower, upper, stage)
                inserted, updated = self._preview(plan, stage)
                for fk in outside:
                    orphans[fk.name] += self._scalar(self.target, q.orphan_count(fk, stage))
                raise psycopg.Rollback(tx)
            totals = [totals[0] + inserted, totals[1] + updated, totals[2] + rows - inserted - updated]
            self._progress(plan, sum(totals), sum(totals), began)
            if upper is None:
                break
            lower = upper
        for fk in outside:
            if orphans[fk.name]:
                self.emit(Notice(str(plan.name), f"{orphans[fk.name]:,} rows reference {fk.parent} rows that "
                                 f"{self.request.target.name} lacks (foreign key {fk.name}): the sync would stop "
                                 "here; include the FK parents (--with-parents)", kind="warning", fails=True,
                                 remedy="add_parents"))
        self._table_done(plan, (totals[0], totals[1], totals[2], 0), began)

    def _parents_outside_plan(self, plan: TablePlan) -> list[Any]:
        """Foreign keys of ``plan``'s table whose parent this run does not write."""
        planned = {t.name for t in self.plan.tables} if self.plan else set()
        return [fk for fk in plan.target.foreign_keys
                if fk.parent != plan.name and fk.parent not in planned and set(fk.columns) <= set(plan.columns)]

    def _preview(self, plan: TablePlan, stage: sql.Identifier) -> tuple[int, int]:
        assert self.target is not None
        with self.target.cursor() as cur, _probe_by_key(cur):
            cur.execute(q.preview_counts(plan, stage))
            inserted, updated = cur.fetchone()  # type: ignore[misc]
        return int(inserted), int(updated)

    # -- helpers ------------------------------------------------------------

    def _create_stage(self, plan: TablePlan, on_commit: str = "DELETE ROWS") -> sql.Identifier:
        assert self.target is not None
        stage = sql.Identifier(next(self._stage_names))
        self._execute(self.target, q.create_stage(plan, stage, on_commit=on_commit))
        if on_commit == "DELETE ROWS" and not self.target.autocommit:
            self.target.commit()
        return stage

    def _drop_stage(self, stage: sql.Identifier) -> None:
        assert self.target is not None
        self._execute(self.target, sql.SQL("DROP TABLE IF EXISTS {}").format(stage))
        self.target.commit()

    def _progress(self, plan: TablePlan, rows: int, rows_this_run: int, began: float) -> None:
        self.watchdog.beat()
        elapsed = max(time.monotonic() - began, 1e-6)
        rate = rows_this_run / elapsed
        estimate = plan.source.estimated_rows
        eta = max(estimate - rows, 0) / rate if estimate and rate > 0 else None
        self.emit(Progress(str(plan.name), rows, round(rate, 1), estimate, round(eta, 1) if eta is not None else None))

    def _table_done(self, plan: TablePlan, counts: tuple[int, int, int, int], began: float) -> None:
        inserted, updated, unchanged, deleted = counts
        done = TableDone(str(plan.name), inserted, updated, unchanged, deleted,
                         round(time.monotonic() - began, 3), dry_run=self.request.dry_run)
        self.finished[str(plan.name)] = done
        self.emit(done)

    def _done(self, *, cancelled: bool) -> SyncSummary:
        plan_order = [str(t.name) for t in self.plan.tables] if self.plan else list(self.finished)
        summary = SyncSummary(tables=[self.finished[n] for n in plan_order if n in self.finished],
                              seconds=round(time.monotonic() - self.started, 3), dry_run=self.request.dry_run,
                              cancelled=cancelled)
        self.emit(Done(summary.inserted, summary.updated, summary.unchanged, summary.deleted, summary.seconds,
                       tables=len(summary.tables), dry_run=summary.dry_run, cancelled=cancelled))
        return summary

    def _resume_rows(self, plan: SyncPlan) -> dict[str, int]:
        assert self.target is not None
        if self.request.dry_run and not state.state_exists(self.target):
            self.target.rollback()
            return {}
        points = state.load_checkpoints(self.target, self.source_id)
        self.target.rollback()
        return {str(t.name): points[t.name].rows_done for t in plan.tables
                if t.name in points and points[t.name].fingerprint == t.fingerprint()}

    def _source_identity(self) -> str:
        """Which cluster and database the rows come from: checkpoints and watermarks are per source."""
        assert self.source is not None
        try:
            with self.source.cursor() as cur:
                cur.execute("SELECT (SELECT system_identifier FROM pg_control_system())::text || '/' || current_database()")
                return str(cur.fetchone()[0])  # type: ignore[index]
        except psycopg.errors.InsufficientPrivilege:
            return f"profile:{self.request.source.name}"
        finally:
            self.source.rollback()

    def _on_lock_wait(self, table: Any, pid: int | None) -> None:
        holder = f" (backend pid {pid})" if pid else ""
        self.emit(Notice(str(table), f"another sync is writing this table on {self.request.target.name}{holder}; "
                         "waiting for it to finish", kind="waiting"))

    def _check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("cancelled")

    def _scalar(self, conn: psycopg.Connection[Any], statement: Any, params: Any = None) -> Any:
        with conn.cursor() as cur:
            cur.execute(statement, params)
            row = cur.fetchone()
        self.watchdog.beat()
        return row[0] if row else None

    def _execute(self, conn: psycopg.Connection[Any], statement: Any, params: Any = None) -> int:
        with conn.cursor() as cur:
            cur.execute(statement, params)
            self.watchdog.beat()
            return max(cur.rowcount, 0)

    def _close(self) -> None:
        for conn in (self.source, self.target):
            if conn is not None and not conn.closed:
                with contextlib.suppress(Exception):
                    conn.close()  # closing the session also releases its advisory locks
        self.source = self.target = None

    def _explain(self, exc: BaseException) -> SyncError:
        """A permanent failure as one line that names the table and says what to do."""
        table = self.current
        if isinstance(exc, SyncError):
            return exc
        if isinstance(exc, DbconsoleError):
            error = SyncError(str(exc), table=table)
            error.exit_code = exc.exit_code  # bad usage (a table name, --where without --tables) stays exit 2
            return error
        prefix = f"{table}: " if table else ""
        if isinstance(exc, psycopg.errors.ForeignKeyViolation):
            return SyncError(self._explain_fk(exc), table=table)
        if isinstance(exc, psycopg.errors.CheckViolation) and not exc.diag.constraint_name:
            # The one check violation without a constraint: a row that no partition's bounds accept.
            return SyncError(f"{prefix}a source row fits no partition of {exc.diag.table_name or table} on "
                             f"{self.request.target.name} ({describe_pg_error(exc)}); create the missing partition "
                             "there first (the plan lists partitions that exist on one side only)", table=table)
        if isinstance(exc, psycopg.errors.InsufficientPrivilege) and "owner" in describe_pg_error(exc):
            plan = next((t for t in self.plan.tables if str(t.name) == table), None) if self.plan else None
            if plan is not None and plan.disable_triggers:
                return SyncError(f"{prefix}{self.request.target.name} does not let this role disable the table's "
                                 f"triggers ({describe_pg_error(exc)}); use --triggers keep to let them fire",
                                 table=table)
        if isinstance(exc, psycopg.errors.UniqueViolation):
            constraint = exc.diag.constraint_name or "a unique constraint"
            return SyncError(f"{prefix}a source row collides with a different target row on {constraint} "
                             "(same value, other key); fix or remove that target row", table=table)
        if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
            # The target was proved writable when the run began (see _open), so with a filter it is
            # the source's read-only transaction refusing what the --where asked for.
            plan = next((t for t in self.plan.tables if str(t.name) == table), None) if self.plan else None
            if plan is not None and plan.where:
                return SyncError(f"{prefix}bad --where {plan.where!r}: {describe_pg_error(exc)} (the source is "
                                 "read in a read-only transaction; a filter may only read)", table=table)
            return SyncError(f"{prefix}{self.request.target.name} refuses writes (read-only server or standby)",
                             table=table)
        if isinstance(exc, psycopg.Error):
            return SyncError(prefix + describe_pg_error(exc), table=table)
        return SyncError(f"{prefix}{exc.__class__.__name__}: {exc}", table=table)

    def _explain_fk(self, exc: psycopg.errors.ForeignKeyViolation) -> str:
        planned = [t.name for t in self.plan.tables] if self.plan else []
        return explain_fk_violation(exc, self.target_tables, current=self.current, planned=planned,
                                    phase=self.phase, target_name=self.request.target.name)


@contextlib.contextmanager
def _probe_by_key(cur: psycopg.Cursor[Any]) -> Iterator[None]:
    """Join staged rows to the target through the target's key index, not a hash of the table.

    The stage holds one batch; the target may hold millions. The planner knows nothing of the
    fresh temp table and readily hashes the whole target once per batch (measured: 10x slower
    on a 1M-row table, and every batch pays it again). An index probe per staged row is always
    available, since the key is a primary key or unique index. Only these statements are
    steered: the replace's "rows the source no longer has" runs the other way round.
    """
    cur.execute("SET LOCAL enable_hashjoin = off")
    cur.execute("SET LOCAL enable_mergejoin = off")
    try:
        yield
    finally:
        if not cur.connection.broken and cur.connection.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS:
            cur.execute("SET LOCAL enable_hashjoin TO DEFAULT")
            cur.execute("SET LOCAL enable_mergejoin TO DEFAULT")


class _BoundedQueuedWriter(QueuedLibpqWriter):
    """psycopg's threaded COPY writer with a short queue, so memory stays flat on big tables."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        super().__init__(cursor)
        self._queue = Queue(maxsize=WRITE_QUEUE)


def _batch_size(plan: TablePlan, row_filter: sql.Composable | None) -> int:
    """Rows per committed batch.

    Two cases take the whole table in one batch: a self-referencing table (one statement, so a
    row may point at any other row of it), and a filtered read (``--where``, or the delta of
    ``incremental`` / ``xmin``), because finding keyset boundaries under a filter the indexes
    don't serve would scan the table once per batch. A filtered run is cheap to repeat: its
    watermark only moves when it succeeds.
    """
    if plan.self_referencing or row_filter is not None:
        return SINGLE_BATCH
    return plan.batch_size


# --------------------------------------------------------------------------- error classes


# Connection failures that a retry cannot fix, and that retried would only delay the answer (or,
# against an SSH server with fail2ban, get this machine banned): wrong credentials or settings.
_PERMANENT_CONNECT_FAILURES = (
    "password authentication failed", "authentication failed", "no pg_hba.conf entry",
    "does not exist", "permission denied", "malformed connection URL", "host key", "SSH key",
    "no SSH key", "known_hosts", "read-only session", "only one database host", "bad database port",
)


def is_transient(exc: BaseException) -> bool:
    """Worth a retry: the connection or the server went away, not our data, schema or credentials."""
    if isinstance(exc, ConnectError):
        return not any(reason in str(exc) for reason in _PERMANENT_CONNECT_FAILURES)
    if isinstance(exc, SyncError) and exc.transient:
        return True
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return False
    if isinstance(exc, (psycopg.OperationalError, psycopg.errors.TransactionRollback)):
        return True
    if isinstance(exc, psycopg.InterfaceError):
        return True  # "the connection is lost / closed": raised after the socket broke
    return isinstance(exc, (ConnectionError, TimeoutError))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, psycopg.Error):
        return describe_pg_error(exc)
    return str(exc) or exc.__class__.__name__
