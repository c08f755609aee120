"""Sync from a SQLite file into PostgreSQL tables the app's migrations created.

The PostgreSQL engine streams COPY bytes untouched; SQLite's values must become the target
column's type first (:mod:`.convert`), so here rows are Python values: read in key order in
batches from one read transaction on the file, converted column by column, and written with
``copy.write_row`` (text COPY). Everything else is the engine's: the plan's ``TablePlan``,
the stage and its insert / update statements, checkpoints committed with each batch (a run
killed at any instant resumes after its last commit), the sync lock per table, sequences moved
past the maximum, history in the table's last transaction, and undo's pre-images (the inserted
keys and overwritten rows) kept by :mod:`dbconsole.sync.undo` inside each batch's transaction,
bounded by ``[sync] undo_keep_runs`` like any run.

A value that does not fit stops its table, with one line naming the key, the column and the
value's SQLite type, never the value; the batch it was in is not written. Only ``upsert`` is
offered: ``--where`` and subsets are PostgreSQL SQL, ``replace`` / ``mirror`` / strategy
``diff`` are refused with one line each, and so is ``--create-missing`` (the migrations make
the tables). Failures are not retried here: the next run resumes from the checkpoint.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import psycopg
from psycopg import sql

from dbconsole.catalog import Table, read_catalog
from dbconsole.connect import connect, describe_pg_error
from dbconsole.errors import Cancelled, SyncError, UsageError
from dbconsole.names import TableName, select_tables
from dbconsole.sqlite import convert
from dbconsole.sqlite.source import keyset_select, source_identity, sqlite_session
from dbconsole.sync import journal, sequences, state, undo
from dbconsole.sync import statements as q
from dbconsole.sync.copying import count_stage_on
from dbconsole.sync.counts import RowCounts
from dbconsole.sync.events import Done, ErrorEvent, Notice, PlanEvent, PlannedTable, Progress, TableDone, TableStart
from dbconsole.sync.fk_order import fk_order
from dbconsole.sync.plan import DEFAULT_BATCH_SIZE, SyncPlan, SyncRequest, TablePlan

_COPY_CONTEXT = re.compile(r"line (\d+)(?:, column ([^:]+))?")
STAGE = sql.Identifier("dbconsole_sqlite_stage")


def refuse_unsupported(request: SyncRequest) -> None:
    """What a SQLite source cannot do, each refused in one line before anything is opened."""
    if request.target.is_sqlite:
        raise SyncError(f"{request.target.name} is a SQLite file: dbconsole never writes SQLite, it is a source only")
    if request.mode not in (None, "upsert"):
        raise UsageError(f"a SQLite source syncs with --mode upsert only, not {request.mode}")
    if request.where or request.where_by_table:
        raise UsageError("--where is PostgreSQL SQL: a SQLite source takes no filter")
    if request.subsets:
        raise UsageError("--subset is PostgreSQL SQL: a SQLite source takes no subset")
    if request.strategy == "diff":
        raise UsageError("--strategy diff needs checksums on both servers: a SQLite source is always copied")
    if request.create_missing:
        raise UsageError("--create-missing reads PostgreSQL DDL: create the tables with the app's migrations")


def run_sqlite_sync(request: SyncRequest, on_event: Any = None, cancel: threading.Event | None = None) -> Any:
    """The whole run (blocking); returns the engine's :class:`~dbconsole.sync.engine.SyncSummary`."""
    from dbconsole.sync.engine import TARGET_OPTIONS, SyncSummary  # late: the engine dispatches here

    refuse_unsupported(request)
    emit = on_event or (lambda event: None)
    cancel = cancel or threading.Event()
    began = time.monotonic()
    finished: list[TableDone] = []
    current: list[str | None] = [None]
    runs: list[journal.RunJournal | None] = [None]  # the run's history row, once registered
    try:
        with sqlite_session(request.source) as source, \
                connect(request.target, options=TARGET_OPTIONS, purpose="sync target") as target:
            from dbconsole.sqlite.source import read_catalog as read_sqlite_catalog

            plans = plan_tables(request, read_sqlite_catalog(source, counts=True), read_catalog(target), emit)
            target.rollback()
            if not request.dry_run:
                state.ensure_state_schema(target)
                state.acquire_locks(target, [p.name for p in plans], cancelled=cancel.is_set,
                                    on_wait=lambda t, pid: emit(Notice(str(t), f"waiting for another sync (pid {pid})",
                                                                       kind="waiting")))
            emit(_plan_event(request, plans))
            source_id = source_identity(request.source)
            if not request.dry_run:  # in `dbconsole history` and undoable like every run
                runs[0] = journal.RunJournal.open(target, request, plans, source_id,
                                                  keep=journal.undo_keep_runs(request))
            run = _TableWriter(request, source, target, emit, cancel, source_id, runs[0])
            for plan in plans:
                current[0] = str(plan.name)
                finished.append(run.write(plan))
            if runs[0] is not None:
                runs[0].finish(target)
    except Cancelled:
        journal.close_journal(request.target, runs[0], "cancelled")
        return _done(emit, SyncSummary, finished, began, request, cancelled=True)
    except (SyncError, UsageError) as exc:
        journal.close_journal(request.target, runs[0], "failed", exc)
        emit(ErrorEvent(current[0], str(exc)))
        raise
    except psycopg.Error as exc:
        error = SyncError(f"{current[0] + ': ' if current[0] else ''}{describe_pg_error(exc)}", table=current[0])
        journal.close_journal(request.target, runs[0], "failed", error)
        emit(ErrorEvent(current[0], str(error)))
        raise error from None
    except sqlite3.Error as exc:
        error = SyncError(f"{current[0] + ': ' if current[0] else ''}SQLite: {exc}", table=current[0])
        journal.close_journal(request.target, runs[0], "failed", error)
        emit(ErrorEvent(current[0], str(error)))
        raise error from None
    return _done(emit, SyncSummary, finished, began, request, cancelled=False)


def plan_sqlite_sync(request: SyncRequest) -> SyncPlan:
    """The plan a run from the file would follow (the console's wizard asks before its dry run);
    reads the file and the target's catalog, writes nothing."""
    from dbconsole.sqlite.source import read_catalog as read_sqlite_catalog

    refuse_unsupported(request)
    with sqlite_session(request.source) as source, connect(request.target, read_only=True, purpose="plan") as target:
        plans = plan_tables(request, read_sqlite_catalog(source, counts=True), read_catalog(target), lambda e: None)
    warnings = [f"{p.name}: {w}" for p in plans for w in p.warnings]
    return SyncPlan(request=request, tables=plans, warnings=warnings, chosen=tuple(p.name for p in plans))


def _done(emit: Any, summary_type: Any, finished: list[TableDone], began: float, request: SyncRequest, *,
          cancelled: bool) -> Any:
    summary = summary_type(tables=finished, seconds=round(time.monotonic() - began, 3), dry_run=request.dry_run,
                           cancelled=cancelled)
    emit(Done(summary.counts, summary.seconds, tables=len(finished), dry_run=request.dry_run, cancelled=cancelled))
    return summary


# --------------------------------------------------------------------------- the plan


def plan_tables(request: SyncRequest, source_tables: list[Table], target_tables: list[Table],
                emit: Any) -> list[TablePlan]:
    """Which tables, in which order (the target's FKs: parents first), with which columns and key."""
    source = {t.qualified: t for t in source_tables}
    target = {t.qualified: t for t in target_tables}
    named = {n for n in request.tables if "*" not in n and "?" not in n}
    chosen = select_tables(list(request.tables), list(source), exclude=request.exclude, where=request.source.name)
    if request.with_parents:
        chosen = _with_parents(chosen, source)
    plans: dict[TableName, TablePlan] = {}
    for name in chosen:
        explicit = str(name) in named or name.name in named
        if name not in target:
            if explicit:
                raise SyncError(f"{name} does not exist on {request.target.name}: create it with the app's "
                                "migrations first", table=str(name))
            emit(Notice(str(name), f"only on {request.source.name}: skipped"))
            continue
        plan = _plan_table(request, source[name], target[name])
        if plan.key is None:
            reason = f"{name}: the target table has no primary key the SQLite table also has, so rows cannot be matched"
            if explicit:
                raise SyncError(reason, table=str(name))
            emit(Notice(str(name), reason + "; skipped", kind="warning"))
            continue
        plans[name] = plan
    order = fk_order({n: p.target for n, p in plans.items()}, allow_deferred=list(plans))
    return [plans[n] for n in order]


def _with_parents(chosen: list[TableName], source: dict[TableName, Table]) -> list[TableName]:
    result = list(chosen)
    for name in result:  # grows while it is walked: parents of parents too
        for fk in source[name].foreign_keys:
            if fk.parent in source and fk.parent not in result:
                result.append(fk.parent)
    return result


def _plan_table(request: SyncRequest, source: Table, target: Table) -> TablePlan:
    rules = request.settings.tables.get(str(target.qualified)) or request.settings.tables.get(target.name)
    source_columns = {c.name for c in source.columns if not c.generated}
    columns = [c.name for c in target.columns if not c.generated and c.name in source_columns]
    missing = [c.name for c in target.columns
               if c.name not in source_columns and c.not_null and not c.has_default and not c.generated and not c.identity]
    if missing:
        raise SyncError(f"{target.qualified}: the target's NOT NULL column(s) {', '.join(missing)} have no default "
                        f"and are not in the SQLite table", table=str(target.qualified))
    warnings = [f"SQLite column {c} is not on the target: not copied"
                for c in sorted(source_columns - {c.name for c in target.columns})]
    key = target.primary_key or next(iter(target.unique_keys), None)
    if key is not None and not set(key) <= set(columns):
        key = None
    masks = dict(rules.mask) if rules else {}
    size = request.batch_size or (rules.batch_size if rules else None) or request.settings.batch_size or DEFAULT_BATCH_SIZE
    return TablePlan(name=target.qualified, source=source, target=target, mode="upsert", columns=columns,
                     key=tuple(key) if key else None, copy_format="text", batch_size=size, masks=masks,
                     warnings=warnings)


def _plan_event(request: SyncRequest, plans: list[TablePlan]) -> PlanEvent:
    tables = [PlannedTable(table=str(p.name), mode=p.mode, estimated_rows=p.source.estimated_rows,
                           copy_format=p.copy_format, batch_size=p.batch_size, key=list(p.key or ()),
                           columns=p.columns, masked=dict(p.masks), warnings=p.warnings) for p in plans]
    return PlanEvent(source=request.source.name, target=request.target.name, mode="upsert", dry_run=request.dry_run,
                     tables=tables, warnings=[f"{p.name}: {w}" for p in plans for w in p.warnings])


# --------------------------------------------------------------------------- one table


class _TableWriter:
    """One table, batch by batch: read by key from SQLite, convert, COPY, apply, checkpoint."""

    def __init__(self, request: SyncRequest, source: sqlite3.Connection, target: psycopg.Connection[Any],
                 emit: Any, cancel: threading.Event, source_id: str, run: journal.RunJournal | None) -> None:
        self.request, self.source, self.target = request, source, target
        self.emit, self.cancel, self.source_id, self.run = emit, cancel, source_id, run
        self.session = undo.BareSession(target, run)  # what undo's pre-images are kept through

    def write(self, plan: TablePlan) -> TableDone:
        assert plan.key is not None
        started_at, began = datetime.now(timezone.utc), time.monotonic()
        point = self._start_point(plan)
        if self.run is not None and self.run.entry(plan).baseline is None:
            self.run.entry(plan).baseline = point.counts  # a resumed checkpoint's rows are the earlier run's
        self.emit(TableStart(str(plan.name), plan.mode, plan.source.estimated_rows, resume_rows=point.rows_done))
        stage = None
        if not point.fast_path or self.request.dry_run:
            self.target.execute(q.create_stage(plan, STAGE))
            self.target.commit()
            stage = STAGE
        rows_read = 0
        written_up_to: list[str] | None = None  # the last key written straight in (this call's batches)
        try:
            while True:
                if self.cancel.is_set():
                    raise Cancelled("cancelled")
                rows = self._read_batch(plan, point.last_key)
                last = len(rows) < plan.batch_size
                with self.target.transaction(force_rollback=self.request.dry_run):
                    keys = self._copy(plan, rows, stage or plan.target.qualified.ident)
                    written = len(keys)
                    inserted, updated = self._apply(plan, stage, keys, written_up_to)
                    if rows:
                        point = replace(point, last_key=[str(v) for v in _key_of(plan, rows[-1])],
                                        rows_done=point.rows_done + written,
                                        counts=point.counts + RowCounts.of_batch(written, inserted, updated))
                    if self.request.dry_run:
                        pass  # rolled back: nothing of a dry run stays
                    elif last:
                        sequences.advance_sequences(self.target, plan)
                        state.record_history(self.target, plan.name, self.source_id, self.request.source.name,
                                             plan.mode, started_at, point.counts)
                        state.clear_checkpoint(self.target, plan.name, self.source_id)
                    else:
                        state.save_checkpoint(self.target, plan.name, self.source_id, point)
                    if self.run is not None:
                        self.run.record_on(self.target, plan, point.counts, strategy="copy", finished=last)
                rows_read += len(rows)
                if keys:
                    written_up_to = [str(v) for v in keys[-1]]
                elapsed = max(time.monotonic() - began, 1e-6)
                self.emit(Progress(str(plan.name), point.rows_done, round(rows_read / elapsed, 1),
                                   plan.source.estimated_rows))
                if last:
                    break
        finally:
            if stage is not None and not self.target.broken:
                self.target.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(stage))
                self.target.commit()
        done = TableDone(str(plan.name), point.counts, round(time.monotonic() - began, 3),
                         dry_run=self.request.dry_run, rows_read=rows_read)
        self.emit(done)
        return done

    def _start_point(self, plan: TablePlan) -> state.Checkpoint:
        """An interrupted run's checkpoint of the same shape, or afresh (straight into an empty table)."""
        fingerprint = plan.fingerprint()
        point = None
        if state.state_exists(self.target):
            point = state.load_checkpoint(self.target, plan.name, self.source_id)
        if point is not None and point.fingerprint != fingerprint:
            self.emit(Notice(str(plan.name), "an interrupted earlier run had other settings; starting over"))
            point = None
        if point is not None:
            point = replace(point, fast_path=False)  # rows past the key are asked of SQLite's order, not the target's
        else:
            empty = bool(self.target.execute(q.target_is_empty(plan)).fetchone()[0])  # type: ignore[index]
            point = state.Checkpoint(fingerprint=fingerprint, fast_path=empty)
        self.target.commit()
        return point

    def _read_batch(self, plan: TablePlan, after: list[str] | None) -> list[tuple[Any, ...]]:
        statement = keyset_select(plan.source.name, plan.columns, plan.key or (), after=after is not None,
                                  limit=plan.batch_size)
        return self.source.execute(statement, tuple(after or ())).fetchall()

    def _copy(self, plan: TablePlan, rows: list[tuple[Any, ...]], into: sql.Composable) -> list[tuple[Any, ...]]:
        """The batch's rows, converted, through COPY; a value that does not fit stops the table.
        Returns the converted keys written, in order (undo keeps them when there is no stage)."""
        if not rows:
            return []
        types = [plan.target.column(c).type for c in plan.columns]  # type: ignore[union-attr]
        convert_row = convert.row_converter(types, [plan.masks.get(c) for c in plan.columns])
        key_at = [plan.columns.index(k) for k in plan.key or ()]
        keys: list[tuple[Any, ...]] = []
        row: tuple[Any, ...] = ()
        try:
            with self.target.cursor() as cur, cur.copy(q.copy_in(plan, into)) as copy:
                for row in rows:
                    values = convert_row(row)
                    copy.write_row(values)
                    keys.append(tuple(values[i] for i in key_at))
        except convert.ColumnUnconvertible as exc:
            column = plan.columns[exc.index]
            raise SyncError(f"{plan.name}: {_key_text(plan, row)}, column {column} ({types[exc.index]}): {exc}; "
                            "the table stopped here, this batch was not written", table=str(plan.name)) from None
        except psycopg.Error as exc:
            raise self._refused(plan, rows, exc) from None
        return keys

    def _refused(self, plan: TablePlan, rows: list[tuple[Any, ...]], exc: psycopg.Error) -> SyncError:
        """PostgreSQL refused a converted value: name the row's key and column, not the value."""
        context = getattr(exc.diag, "context", None) or ""
        match = _COPY_CONTEXT.search(context)
        primary = (exc.diag.message_primary or exc.__class__.__name__).split(":")[0]
        if match and 0 < int(match.group(1)) <= len(rows):
            row = rows[int(match.group(1)) - 1]
            column = f", column {match.group(2).strip()}" if match.group(2) else ""
            return SyncError(f"{plan.name}: {_key_text(plan, row)}{column}: PostgreSQL refused the value ({primary}); "
                             "the table stopped here, this batch was not written", table=str(plan.name))
        return SyncError(f"{plan.name}: {primary}", table=str(plan.name))

    def _apply(self, plan: TablePlan, stage: sql.Identifier | None, keys: list[tuple[Any, ...]],
               after: list[str] | None) -> tuple[int, int]:
        """The staged batch applied (its pre-images kept), or, copied straight into the empty
        target after key ``after``, all of it inserted (its keys kept): (inserted, updated)."""
        if not keys:
            return 0, 0
        if stage is None:
            undo.keep_inserted_keys(self.session, plan, keys, after)
            return len(keys), 0
        if self.request.dry_run:
            return count_stage_on(self.target, plan, stage)
        return undo.apply_stage(self.session, plan, stage)


def _key_of(plan: TablePlan, row: tuple[Any, ...]) -> list[Any]:
    return [row[plan.columns.index(k)] for k in plan.key or ()]


def _key_text(plan: TablePlan, row: tuple[Any, ...]) -> str:
    """``key (id)=(7)``; a masked key column is not shown."""
    values = ["(masked)" if k in plan.masks else str(v) for k, v in zip(plan.key or (), _key_of(plan, row), strict=True)]
    return f"key ({', '.join(plan.key or ())})=({', '.join(values)})"
