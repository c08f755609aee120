"""The sync engine: one run, told top to bottom; each level lives in its own module.

retries → connect (source read-only, one REPEATABLE READ snapshot) → plan (FK order, columns,
modes) → the runner's tables → done. The runner is chosen once: :class:`~.writing.WritingRunner`
(locks; :mod:`.table_run` batch by batch for upsert / incremental / xmin; :mod:`.replace` in
one transaction) or, for a dry run, :class:`~.preview.PreviewRunner` (the same reads, counted
in transactions that roll back). Every level gets one :class:`~.context.RunContext`.

A run killed at any instant resumes from its last committed batch (see :mod:`.state`);
transient failures (connection lost, server restart, tunnel drop) reconnect with backoff and
resume the same way; permanent ones stop at once with the table and the reason
(:mod:`.failures`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from dbconsole.catalog import Table, read_catalog
from dbconsole.config import Profile
from dbconsole.connect import connect, describe_pg_error
from dbconsole.errors import Cancelled, ReadOnlyError, SyncError
from dbconsole.sync import failures, journal, parallel, state
from dbconsole.sync import statements as q
from dbconsole.sync.announce import plan_events
from dbconsole.sync.context import EventSink, RunContext, RunLedger, Runner
from dbconsole.sync.counts import HasCounts, RowCounts
from dbconsole.sync.events import Done, ErrorEvent, Notice, TableDone
from dbconsole.sync.plan import SyncPlan, SyncRequest, TablePlan, build_plan
from dbconsole.sync.preview import PreviewRunner
from dbconsole.sync.snapshot_guard import SnapshotGuard
from dbconsole.sync.subset_reads import apply_subsets
from dbconsole.sync.watchdog import Watchdog
from dbconsole.sync.workers import SessionKind
from dbconsole.sync.writing import WritingRunner

# Session settings both sides share, so text COPY means the same thing on each end.
SESSION_OPTIONS = {
    "datestyle": "ISO,MDY", "intervalstyle": "postgres", "extra_float_digits": "3", "timezone": "UTC",
    "statement_timeout": "0", "idle_in_transaction_session_timeout": "0",
    "bytea_output": "hex",  # a diff-driven table hashes rows as text on both ends: one bytea form
}
# A batch commits with its checkpoint atomically; a target server crash may lose the last few
# commits, but always a batch together with its checkpoint, so resuming stays exact.
TARGET_OPTIONS = {**SESSION_OPTIONS, "synchronous_commit": "off",
                  # Row-level security that would filter the sync's reads raises instead (the plan
                  # refuses such tables first; this keeps a policy added meanwhile from hiding rows).
                  "row_security": "off"}
DIFF_SOURCE_OPTIONS = SESSION_OPTIONS  # the diff hashes rows as text: the same rendering on both ends
DEFAULT_RETRIES = 5
DEFAULT_STALL_TIMEOUT = 300.0  # seconds without any progress before a run counts as stuck
MAX_BACKOFF = 10.0

__all__ = ["EventSink", "SyncSummary", "plan_sync", "refuse_read_only_target", "run_sync"]


@dataclass
class SyncSummary(HasCounts):
    """What a run did, per table and in total (also the payload of the final ``done`` event)."""

    tables: list[TableDone] = field(default_factory=list)
    seconds: float = 0.0
    dry_run: bool = False
    cancelled: bool = False

    @property  # type: ignore[override]
    def counts(self) -> RowCounts:
        return RowCounts.sum(t.counts for t in self.tables)


# --------------------------------------------------------------------------- public API


def plan_sync(request: SyncRequest) -> SyncPlan:
    """The plan a run would follow; connects read-only to both sides and writes nothing."""
    if request.source.is_sqlite:
        from dbconsole.sqlite.sync import plan_sqlite_sync

        return plan_sqlite_sync(request)
    with open_source(request) as source, connect(request.target, read_only=True, options=SESSION_OPTIONS,
                                                 purpose="plan") as target:
        plan = build_plan(request, read_catalog(source), read_catalog(target))
        validate_filters(source, plan)
        return plan


def run_sync(request: SyncRequest, on_event: EventSink | None = None,
             cancel: threading.Event | None = None, *, shared_snapshot: str | None = None) -> SyncSummary:
    """Run a sync to the end (or until ``cancel`` is set); blocking, so call it off the UI thread.

    ``shared_snapshot``: a ``pg_export_snapshot()`` id the caller keeps open; every attempt reads
    the source in it (``sync --to A,B``: every target gets the rows of one snapshot).
    """
    refuse_read_only_target(request.target)
    if request.source.name == request.target.name:
        raise SyncError("source and target are the same profile")
    if request.source.is_sqlite:  # values converted row by row: a runner of its own
        from dbconsole.sqlite.sync import run_sqlite_sync

        return run_sqlite_sync(request, on_event, cancel)  # type: ignore[no-any-return]
    return SyncRun(request, on_event or (lambda event: None), cancel or threading.Event(),
                   shared_snapshot=shared_snapshot).run()


def refuse_read_only_target(target: Profile) -> None:
    """A read-only profile is never a target; said before any connection is opened."""
    if target.is_sqlite:
        raise ReadOnlyError(f"{target.name} is a SQLite file: dbconsole never writes SQLite, it is a source only")
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
    """A run's story: attempts with backoff, each one connect → plan (once) → snapshot → tables."""

    def __init__(self, request: SyncRequest, emit: EventSink, cancel: threading.Event, *,
                 shared_snapshot: str | None = None) -> None:
        self.request = request
        self.shared_snapshot = shared_snapshot  # imported by every attempt instead of a fresh one
        self.emit = emit
        self.cancel = cancel
        self.runner: Runner = PreviewRunner() if request.dry_run else WritingRunner()
        self.ledger = RunLedger()  # what is finished: kept across attempts
        self.plan: SyncPlan | None = None
        self.target_tables: list[Table] = []
        self.source_tables: list[Table] = []
        self.state_ready = False
        self.started = time.monotonic()
        self.retries = request.settings.retries if request.settings.retries is not None else DEFAULT_RETRIES
        self.watchdog = Watchdog(request.settings.stall_timeout or DEFAULT_STALL_TIMEOUT)
        self.snapshot_guard = SnapshotGuard.for_request(request)  # how old the source snapshot may get
        self._connections: list[psycopg.Connection[Any]] = []

    def run(self) -> SyncSummary:
        with self.watchdog:
            return self._run_with_retries()

    def _run_with_retries(self) -> SyncSummary:
        attempt = 0
        while True:
            try:
                self._sync_all(self._attempt())
                break
            except Cancelled:
                return self._done(cancelled=True)
            except Exception as exc:  # noqa: BLE001 - classified right below
                if self.cancel.is_set():
                    return self._done(cancelled=True)
                if self.watchdog.fired:
                    exc = failures.stalled(self.ledger, self.watchdog.timeout)
                if failures.is_transient(exc) and attempt < self.retries:
                    attempt += 1
                    delay = min(MAX_BACKOFF, 0.5 * 2 ** (attempt - 1))
                    self.emit(Notice(self.ledger.current, f"{failures.reason(exc)}; retrying in {delay:g} s "
                                     f"(attempt {attempt} of {self.retries}), resuming from the last checkpoint",
                                     kind="retry"))
                    self._close()
                    if self.cancel.wait(delay):
                        return self._done(cancelled=True)
                    continue
                error = failures.explain(exc, request=self.request, ledger=self.ledger, plan=self.plan,
                                         target_tables=self.target_tables)
                self.emit(ErrorEvent(error.table, str(error)))
                journal.close_run(self.request.target, self.ledger, "failed", error)
                raise error from None
            finally:
                self._close()
        return self._done(cancelled=False)

    def _attempt(self) -> RunContext:
        """Both sides open, the plan made (on the first attempt) and the source's snapshot taken."""
        source, source_id, target = self._open()
        if self.plan is None:
            self.plan = self._make_plan(source, source_id, target)
        xmin, xmax = _take_snapshot(source, imported=self.shared_snapshot)
        self.snapshot_guard.taken()
        if self.request.subsets:  # chosen in this attempt's snapshot, the one every table is read in
            self.emit(Notice(None, apply_subsets(self.plan, source, self.source_tables, target=target,
                                                 target_tables=self.target_tables)))
        return RunContext(
            request=self.request, plan=self.plan, emit=self.emit, cancel=self.cancel, watchdog=self.watchdog,
            source=source, target=target, source_id=source_id, snapshot_xmin=xmin, snapshot_xmax=xmax,
            target_tables=self.target_tables, ledger=self.ledger, state_ready=self.state_ready,
            diff_source=self._diff_sessions(source))

    def _diff_sessions(self, source: psycopg.Connection[Any]) -> Callable[[], psycopg.Connection[Any]]:
        """A second source session in ``source``'s snapshot (exported once, imported per call).

        A diff rolls its connections back when it ends, which must not end the sync's own
        snapshot; so the diff reads on a session of its own that imports that snapshot, and
        sees exactly the rows the copy then reads. Opened only when a table is synced by diff.
        """
        opened: dict[str, Any] = {}

        def session() -> psycopg.Connection[Any]:
            if "snapshot" not in opened:
                opened["snapshot"] = _scalar(source, "SELECT pg_export_snapshot()")
            conn = opened.get("conn")
            if conn is None or conn.closed:
                conn = connect(self.request.source, read_only=True, options=DIFF_SOURCE_OPTIONS, purpose="sync diff")
                self._connections.append(conn)
                conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                conn.read_only = True
                opened["conn"] = conn
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.rollback()
            conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(opened["snapshot"])))
            return conn

        return session

    def _open(self) -> tuple[psycopg.Connection[Any], str, psycopg.Connection[Any]]:
        """Connect both sides; refuse a target that cannot be written (standby, read-only server)."""
        source = connect(self.request.source, read_only=True, options=SESSION_OPTIONS, purpose="sync source")
        self._connections.append(source)
        source.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        source.read_only = True
        source_id = _source_identity(source, self.request)
        target = connect(self.request.target, options=TARGET_OPTIONS, purpose="sync target")
        self._connections.append(target)
        self.watchdog.watch(source, target)
        if _scalar(target, "SELECT pg_is_in_recovery()"):
            raise SyncError(f"{self.request.target.name} is a standby in recovery and cannot be written; "
                            "point the profile at the primary")
        if _scalar(target, "SELECT current_setting('transaction_read_only') = 'on'"):
            raise SyncError(f"{self.request.target.name} refuses writes: its server makes every session read-only "
                            "(default_transaction_read_only); nothing was written")
        target.rollback()
        return source, source_id, target

    def _worker_session(self, kind: SessionKind) -> psycopg.Connection[Any]:
        """A session of a ``--jobs`` worker, set up as the engine's own (closed with them)."""
        if kind == "target":
            conn = connect(self.request.target, options=TARGET_OPTIONS, purpose="sync target")
        else:
            conn = connect(self.request.source, read_only=True, purpose="sync source" if kind == "source" else "sync diff",
                           options=SESSION_OPTIONS if kind == "source" else DIFF_SOURCE_OPTIONS)
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
        self._connections.append(conn)
        return conn

    def _make_plan(self, source: psycopg.Connection[Any], source_id: str,
                   target: psycopg.Connection[Any]) -> SyncPlan:
        self.target_tables = read_catalog(target)
        self.source_tables = read_catalog(source)
        plan = build_plan(self.request, self.source_tables, self.target_tables)
        validate_filters(source, plan)
        source.rollback()
        self.state_ready = self.runner.prepare_state(target)
        for event in plan_events(self.request, plan, self._resume_rows(target, source_id, plan)):
            self.emit(event)
        return plan

    def _resume_rows(self, target: psycopg.Connection[Any], source_id: str, plan: SyncPlan) -> dict[str, int]:
        """Rows an interrupted run of the same shape already committed, per table (for the plan)."""
        if not self.state_ready:
            return {}
        points = state.load_checkpoints(target, source_id)
        target.rollback()
        return {str(t.name): points[t.name].rows_done for t in plan.tables
                if t.name in points and points[t.name].fingerprint == t.fingerprint()}

    def _sync_all(self, ctx: RunContext) -> None:
        finished = self.ledger.finished
        self.ledger.pending_mirrors.clear()  # an earlier attempt's diff is of an older snapshot
        self.runner.before_tables(ctx)
        replace_group = [t for t in ctx.plan.tables if t.mode == "replace"]
        snapshot_used = False  # a table read in this attempt's snapshot: renewing it may be due
        if not self.request.dry_run and parallel.wanted(ctx, self.request.effective_jobs):
            # --jobs: the batched tables on workers importing this snapshot (see parallel.py)
            parallel.sync_tables(ctx, self.runner, jobs=self.request.effective_jobs,
                                 split_rows=self.request.split_rows, open_session=self._worker_session,
                                 snapshot_guard=self.snapshot_guard,
                                 renew_snapshot=lambda table: self._renew_snapshot_if_due(ctx, table))
            snapshot_used = True
        for table in ctx.plan.tables:
            if table.mode != "replace" and str(table.name) not in finished:
                if snapshot_used:
                    self._renew_snapshot_if_due(ctx, table)
                snapshot_used = True
                self.runner.run_table(ctx, table)
        if replace_group and not all(str(t.name) in finished for t in replace_group):
            if snapshot_used:
                self._renew_snapshot_if_due(ctx, replace_group[0])  # the group itself reads one snapshot
            self.runner.run_replace(ctx, replace_group)
        self.runner.after_tables(ctx)

    def _renew_snapshot_if_due(self, ctx: RunContext, next_table: TablePlan) -> None:
        """Between tables, once the source snapshot is ``max_snapshot_age`` old: the table before
        is finished and committed, so the old snapshot ends and the next tables read a fresh one."""
        if self.shared_snapshot is not None or not self.snapshot_guard.due():
            return  # a shared snapshot is held (and ended) by the caller, for every target alike
        if self.request.subsets:
            # The subset's rows were chosen in this snapshot: a later one could hold children whose
            # parents were never chosen, so the run keeps it (said once).
            if not self.ledger.kept_snapshot_for_subset:
                self.ledger.kept_snapshot_for_subset = True
                ctx.emit(Notice(str(next_table.name), "the source snapshot is older than max_snapshot_age but is "
                                "kept: the subset's rows were chosen in it", kind="snapshot"))
            return
        ctx.emit(Notice(str(next_table.name), self.snapshot_guard.renewed_notice(str(next_table.name)),
                        kind="snapshot"))
        ctx.snapshot_xmin, ctx.snapshot_xmax = _take_snapshot(ctx.source)
        ctx.diff_source = self._diff_sessions(ctx.source)  # the old export ended with its snapshot
        self.snapshot_guard.taken()
        if self.ledger.renewed_snapshot_at is None:
            self.ledger.renewed_snapshot_at = str(next_table.name)

    def _done(self, *, cancelled: bool) -> SyncSummary:
        if cancelled:
            journal.close_run(self.request.target, self.ledger, "cancelled")
        finished = self.ledger.finished
        plan_order = [str(t.name) for t in self.plan.tables] if self.plan else list(finished)
        summary = SyncSummary(tables=[finished[n] for n in plan_order if n in finished],
                              seconds=round(time.monotonic() - self.started, 3), dry_run=self.request.dry_run,
                              cancelled=cancelled)
        self.emit(Done(summary.counts, summary.seconds, tables=len(summary.tables), dry_run=summary.dry_run,
                       cancelled=cancelled))
        return summary

    def _close(self) -> None:
        for conn in self._connections:
            if not conn.closed:
                with contextlib.suppress(Exception):
                    conn.close()  # closing the session also releases its advisory locks
        self._connections.clear()


def _take_snapshot(source: psycopg.Connection[Any], imported: str | None = None) -> tuple[int, int]:
    """Open the source transaction every later read shares; its transaction horizon (xmin, xmax).

    ``imported``: an exported snapshot id this transaction adopts instead of taking its own.
    """
    if source.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        source.rollback()
    with source.cursor() as cur:
        if imported is not None:
            cur.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(imported)))
        # 64-bit (epoch-extended) ids: pg_current_snapshot() from PG 13, txid_* before it.
        if source.info.server_version >= 130000:
            cur.execute("SELECT pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint"
                        " FROM pg_current_snapshot() s")
        else:
            cur.execute("SELECT txid_snapshot_xmin(s), txid_snapshot_xmax(s) FROM txid_current_snapshot() s")
        xmin, xmax = cur.fetchone()  # type: ignore[misc]
    return int(xmin), int(xmax)


def _source_identity(source: psycopg.Connection[Any], request: SyncRequest) -> str:
    """Which cluster and database the rows come from: checkpoints and watermarks are per source."""
    try:
        with source.cursor() as cur:
            cur.execute("SELECT (SELECT system_identifier FROM pg_control_system())::text || '/' || current_database()")
            return str(cur.fetchone()[0])  # type: ignore[index]
    except psycopg.errors.InsufficientPrivilege:
        return f"profile:{request.source.name}"
    finally:
        source.rollback()


def _scalar(conn: psycopg.Connection[Any], statement: Any) -> Any:
    with conn.cursor() as cur:
        cur.execute(statement)
        row = cur.fetchone()
    return row[0] if row else None
