"""``--jobs N``: the run's batched tables on N workers, all reading one exported source snapshot.

The engine's own source session is the coordinator: its REPEATABLE READ transaction (the run's
snapshot) exports itself with ``pg_export_snapshot()`` and stays open until the tables are
done, and each worker starts every unit of work with ``SET TRANSACTION SNAPSHOT`` of that
export. So every worker reads exactly the rows one stream would read: a row committed on the
source after the run started is in no range and no table. Workers are threads with a source
and a target session each (through the profile's one tunnel); the target's advisory locks
stay on the engine's session, which holds them for the run.

A table starts once its FK parents in the plan (those before it in FK order) are done, so a
child never lands before its parents. A table larger than ``[sync] split_rows`` that is
copied (see :func:`.split.splittable`) becomes key ranges (:mod:`.split`), each a unit of its
own that checkpoints on its own (:mod:`.range_state`); the coordinator finishes the table
(sequences, history) once its last range is in. Any other table is one unit, run by the same
code as without ``--jobs`` (:meth:`~.context.Runner.run_table`). ``replace`` is not run here:
the engine keeps it one target transaction, after these tables.

Events keep their per-table shape: one ``table_start`` and one ``table_done`` per table, and a
split table's ``progress`` adds up its ranges. A failure or a cancel stops every worker at its
next block; the engine's retry then resumes every range from its own checkpoint.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import psycopg

from dbconsole.errors import Cancelled
from dbconsole.names import TableName
from dbconsole.sync import journal, state
from dbconsole.sync import statements as q
from dbconsole.sync.by_diff import diff_table, strategy_for
from dbconsole.sync.context import RunContext, Runner
from dbconsole.sync.counts import RowCounts
from dbconsole.sync.events import Notice, SyncEvent, TableStart
from dbconsole.sync.plan import TablePlan
from dbconsole.sync.range_state import KeyRange, clear_ranges, ensure_range_table, load_ranges, save_ranges
from dbconsole.sync.snapshot_guard import SnapshotGuard
from dbconsole.sync.split import key_ranges, range_count, splittable, write_range
from dbconsole.sync.table_run import finish_table
from dbconsole.sync.workers import LockedIterator, OpenSession, Worker

POLL_SECONDS = 0.2  # how often the coordinator looks at the user's cancel while workers run


def wanted(ctx: RunContext, jobs: int) -> bool:
    """Whether this (writing) run goes through the scheduler: more than one job, or a split
    table of an interrupted ``--jobs`` run to resume (its ranges resume even with one job)."""
    if jobs > 1:
        return True
    ranges = load_ranges(ctx.target, ctx.source_id)
    ctx.target.rollback()
    return any(t.name in ranges for t in ctx.plan.tables)


@dataclass(frozen=True)
class Unit:
    """One piece of work for a worker: a whole table, or one key range of a split table."""

    table: TablePlan
    key_range: KeyRange | None = None
    by_diff: bool = False  # the strategy was already chosen (diff) by the coordinator


@dataclass
class SplitTable:
    """A split table's progress, added up over its ranges as workers commit them."""

    plan: TablePlan
    ranges: dict[int, KeyRange]
    began: float = field(default_factory=time.monotonic)
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    resumed_rows: int = 0
    rows: int = 0

    @property
    def done(self) -> bool:
        return all(r.done for r in self.ranges.values())

    @property
    def counts(self) -> RowCounts:
        return RowCounts.sum(r.counts for r in self.ranges.values())


def sync_tables(ctx: RunContext, runner: Runner, *, jobs: int, split_rows: int, open_session: OpenSession,
                snapshot_guard: SnapshotGuard, renew_snapshot: Callable[[TablePlan], None]) -> None:
    """Every batched (non-replace) table of the plan not yet finished, on ``jobs`` workers."""
    tables = [t for t in ctx.plan.tables if t.mode != "replace" and str(t.name) not in ctx.ledger.finished]
    if not tables:
        return
    ParallelRun(ctx, runner, tables, jobs=jobs, split_rows=split_rows, open_session=open_session,
                snapshot_guard=snapshot_guard, renew_snapshot=renew_snapshot).run()


class ParallelRun:
    """One attempt's batched tables: the coordinator's schedule, the workers, the split tables."""

    def __init__(self, ctx: RunContext, runner: Runner, tables: list[TablePlan], *, jobs: int, split_rows: int,
                 open_session: OpenSession, snapshot_guard: SnapshotGuard,
                 renew_snapshot: Callable[[TablePlan], None]) -> None:
        self.engine_ctx = ctx
        self.runner = runner
        self.tables = tables
        self.jobs = max(1, jobs)
        self.split_rows = split_rows
        self.open_session = open_session
        self.snapshot_guard = snapshot_guard
        self.renew_snapshot = renew_snapshot
        self.stop = threading.Event()  # set on a failure or the user's cancel: every worker stops
        self._emit_lock = threading.Lock()
        self._progress_lock = threading.Lock()
        self.work: queue.Queue[Unit | None] = queue.Queue()
        self.results: queue.Queue[tuple[Unit, KeyRange | None, BaseException | None]] = queue.Queue()
        self.splits: dict[str, SplitTable] = {}
        self.workers: list[Worker] = []
        self.snapshot = ""
        self.stored_ranges: dict[TableName, list[KeyRange]] = {}
        self.single_points: dict[TableName, state.Checkpoint] = {}
        if not isinstance(ctx.ledger.stage_names, LockedIterator):
            ctx.ledger.stage_names = LockedIterator(ctx.ledger.stage_names)  # workers take stage names concurrently
        # The coordinator's own view: same sessions as the engine, events serialized for every thread.
        self.ctx = replace(ctx, emit=self._emit)

    # -- the story ---------------------------------------------------------------

    def run(self) -> None:
        ctx = self.ctx
        ensure_range_table(ctx.target)
        self.stored_ranges = load_ranges(ctx.target, ctx.source_id)  # this run's locks keep them ours
        self.single_points = state.load_checkpoints(ctx.target, ctx.source_id)
        ctx.target.rollback()
        self.snapshot = self._export()
        self.jobs = min(self.jobs, self._most_units())  # never a session that could have nothing to do
        self._open_workers()
        ctx.emit(Notice(None, f"{self.jobs} worker{'s' if self.jobs > 1 else ''} reading one source snapshot"
                        f" (tables over {self.split_rows:,} rows are copied as key ranges)"))
        threads = [threading.Thread(target=self._work, args=(w,), name=f"dbconsole-sync-worker-{i + 1}", daemon=True)
                   for i, w in enumerate(self.workers)]
        for thread in threads:
            thread.start()
        try:
            self._schedule()
        except BaseException:
            self._abort()
            raise
        finally:
            for _ in threads:
                self.work.put(None)
            for thread in threads:
                thread.join()
            self._close_workers()
            self.engine_ctx.watchdog.watch(self.engine_ctx.source, self.engine_ctx.target)
        self._order_pending_mirrors()

    def _schedule(self) -> None:
        """Hand out every table whose parents are done; finish split tables; stop on the first failure."""
        waiting = list(self.tables)
        done = set(self.engine_ctx.ledger.finished)
        planned = {str(t.name) for t in self.tables}
        order = {str(t.name): i for i, t in enumerate(self.ctx.plan.tables)}
        units_out = 0
        read_any = False
        while waiting or units_out:
            if self.engine_ctx.cancel.is_set():
                raise Cancelled("cancelled")
            ready = [t for t in waiting if _parents(t, order) & planned <= done]
            # Past max_snapshot_age, no new table starts until the workers are idle; then the
            # engine renews the snapshot (or keeps it, for a subset) and it is exported again.
            renewal_due = read_any and self.snapshot_guard.due() and not self.ctx.request.subsets
            if ready and renewal_due and units_out == 0:
                self.renew_snapshot(ready[0])
                self.ctx = replace(self.engine_ctx, emit=self._emit)
                self.snapshot = self._export()
                renewal_due = False
            for table in ready if not renewal_due else ():
                waiting.remove(table)
                read_any = True
                units = self._units(table)
                if not units:  # a split table whose ranges were all in: only its finish was left
                    self._finish_split(self.splits[str(table.name)])
                    done.add(str(table.name))
                for unit in units:
                    self.work.put(unit)
                units_out += len(units)
            if not units_out:
                if waiting and not ready and not renewal_due:
                    raise RuntimeError(f"no table can start: {', '.join(str(t.name) for t in waiting)}")
                continue
            try:
                unit, key_range, error = self.results.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            units_out -= 1
            if error is not None:
                self.engine_ctx.ledger.current = str(unit.table.name)
                raise error
            if unit.key_range is None:
                done.add(str(unit.table.name))
                continue
            split = self.splits[str(unit.table.name)]
            assert key_range is not None
            split.ranges[key_range.number] = key_range
            if split.done:
                self._finish_split(split)
                done.add(str(unit.table.name))

    def _most_units(self) -> int:
        """At most how many units could run at once: one per table, or its ranges if it splits."""
        return sum(len(self.stored_ranges.get(t.name, ())) or
                   (range_count(t.source.estimated_rows, self.split_rows) if splittable(t, self.split_rows) else 1)
                   for t in self.tables)

    def _abort(self) -> None:
        """Stop every worker: at its next block, and its statement in flight cancelled on the server."""
        self.stop.set()
        for worker in self.workers:
            for conn in worker.connections:
                if not conn.closed:
                    with contextlib.suppress(Exception):
                        conn.cancel_safe(timeout=2)

    # -- units ---------------------------------------------------------------

    def _units(self, table: TablePlan) -> list[Unit]:
        """The table as one unit, or as its key ranges (resumed, or walked afresh on the source)."""
        ctx = self.ctx
        ctx.start_table(table)
        name = str(table.name)
        stored = self.stored_ranges.get(table.name, [])
        single = self.single_points.get(table.name)
        fingerprint = table.fingerprint()
        if stored and all(r.fingerprint == fingerprint for r in stored):
            return self._split_units(table, stored)
        if stored:
            ctx.emit(Notice(name, "an interrupted earlier run had other settings; starting over"))
            with ctx.target.transaction():
                clear_ranges(ctx.target, table.name, ctx.source_id)
        if single is not None or not splittable(table, self.split_rows):
            return [Unit(table)]  # an interrupted single-stream copy resumes as it started
        if strategy_for(ctx, table) == "diff":
            return [Unit(table, by_diff=True)]
        fast = bool(ctx.scalar(ctx.target, q.target_is_empty(table)))
        ctx.target.rollback()
        ranges = key_ranges(ctx, table, self.split_rows, fast_path=fast)
        save_ranges(ctx.target, table.name, ctx.source_id, ranges)
        return self._split_units(table, ranges)

    def _split_units(self, table: TablePlan, ranges: list[KeyRange]) -> list[Unit]:
        split = SplitTable(table, {r.number: r for r in ranges})
        split.resumed_rows = split.rows = sum(r.rows_done for r in ranges)
        # What an earlier run's ranges committed is that run's history, not this one's.
        journal.table_started(self.ctx, table, RowCounts.sum(r.counts for r in ranges))
        self.splits[str(table.name)] = split
        open_ranges = [r for r in ranges if not r.done]
        self.ctx.emit(TableStart(str(table.name), table.mode, table.source.estimated_rows,
                                 resume_rows=split.resumed_rows))
        if open_ranges:
            self.ctx.emit(Notice(str(table.name), f"copying in {len(ranges)} key ranges"
                                 + (f" ({len(ranges) - len(open_ranges)} already done)"
                                    if len(open_ranges) < len(ranges) else ""), kind="split"))
        return [Unit(table, r) for r in open_ranges]

    def _finish_split(self, split: SplitTable) -> None:
        """Sequences, history and the checkpoints gone, in one target transaction; then table_done."""
        ctx, plan = self.ctx, split.plan
        ctx.start_table(plan)
        with ctx.target.transaction():
            finish_table(ctx, plan, None, split.counts, split.started_at)
            clear_ranges(ctx.target, plan.name, ctx.source_id)
        ctx.table_done(plan, split.counts, split.began, rows_read=split.rows - split.resumed_rows)

    def _range_committed(self, plan: TablePlan, worker_ctx: RunContext, rows: int) -> None:
        split = self.splits[str(plan.name)]
        with self._progress_lock:
            split.rows += rows
            total = split.rows
        worker_ctx.progress(plan, total, total - split.resumed_rows, split.began)

    # -- workers ---------------------------------------------------------------

    def _work(self, worker: Worker) -> None:
        while (unit := self.work.get()) is not None:
            if self.stop.is_set():
                self.results.put((unit, None, Cancelled("stopped")))
                continue
            try:
                result = self._run_unit(worker, unit)
            except BaseException as exc:  # noqa: BLE001 - handed to the coordinator, which raises it
                self.results.put((unit, None, exc))
            else:
                self.results.put((unit, result, None))

    def _run_unit(self, worker: Worker, unit: Unit) -> KeyRange | None:
        snapshot = self.snapshot
        ctx = replace(self.ctx, source=worker.source, target=worker.target, cancel=self.stop,
                      diff_source=lambda: worker.diff_session(snapshot))
        worker.begin(snapshot)
        try:
            if unit.key_range is not None:
                return write_range(ctx, unit.table, unit.key_range,
                                   on_batch=lambda rows: self._range_committed(unit.table, ctx, rows))
            if unit.by_diff:
                ctx.start_table(unit.table)
                diff_table(ctx, unit.table)
            else:
                self.runner.run_table(ctx, unit.table)
            return None
        finally:
            if not worker.source.closed and not worker.source.broken:
                with contextlib.suppress(psycopg.Error):
                    worker.source.rollback()

    def _open_workers(self) -> None:
        for _ in range(self.jobs):
            self.workers.append(Worker(self.open_session("source"), self.open_session("target"), self.open_session))
        self._watch_all()

    def _watch_all(self) -> None:
        connections = [c for w in self.workers for c in w.connections]
        self.engine_ctx.watchdog.watch(self.engine_ctx.source, self.engine_ctx.target, *connections)

    def _close_workers(self) -> None:
        for worker in self.workers:
            for conn in worker.connections:
                with contextlib.suppress(Exception):
                    conn.close()
        self.workers.clear()

    # -- helpers ---------------------------------------------------------------

    def _export(self) -> str:
        """The coordinator's snapshot, exported for the workers (held until its transaction ends)."""
        with self.engine_ctx.source.cursor() as cur:
            cur.execute("SELECT pg_export_snapshot()")
            return str(cur.fetchone()[0])  # type: ignore[index]

    def _emit(self, event: SyncEvent) -> None:
        with self._emit_lock:
            self.engine_ctx.emit(event)

    def _order_pending_mirrors(self) -> None:
        """Mirror deletes run children first (:func:`.by_diff.finish_mirrors` walks the list
        backwards), so the list goes back to plan order, whatever order the workers finished in."""
        order = {str(t.name): i for i, t in enumerate(self.engine_ctx.plan.tables)}
        self.engine_ctx.ledger.pending_mirrors.sort(key=lambda m: order.get(str(m.plan.name), 0))


def _parents(table: TablePlan, order: dict[str, int]) -> set[str]:
    """The table's FK parents that come before it in the plan's FK order (a cycle's back edge is
    left to the order, as a single stream would)."""
    position = order[str(table.name)]
    names = {str(fk.parent) for fk in (*table.target.foreign_keys, *table.source.foreign_keys)}
    return {n for n in names if n != str(table.name) and order.get(n, position) < position}
