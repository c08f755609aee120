"""``undo RUN_ID``: put a run's pre-images back and remove the rows it inserted, in one transaction.

Refused, with one line saying why, when the run cannot be undone exactly: it is still running,
was undone already, kept no pre-images (``undo_keep_runs = 0``) or had them pruned, or a later
run (not undone) changed rows this run wrote — undo that later run first. A later run that kept
no pre-images of a table both wrote is a refusal too: which rows it touched is not known.

Order, so foreign keys hold: pre-images are put back parents-first (rows still there get their
old values, rows that are gone are inserted again), then the rows the run inserted are deleted
children-first. Target user triggers are off during the restore, as during a sync. Sequences
are not rewound: an id the run's inserts consumed stays consumed. Changes made to those rows
by something other than dbconsole since the run are overwritten by the pre-images.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from dbconsole.catalog import Table, read_catalog
from dbconsole.config import Profile
from dbconsole.connect import connect, describe_pg_error
from dbconsole.errors import SyncError
from dbconsole.history.runs import RunRecord, RunTable, read_runs
from dbconsole.names import TableName
from dbconsole.sync import state, triggers, undo_sql
from dbconsole.sync.engine import TARGET_OPTIONS, refuse_read_only_target
from dbconsole.sync.journal import RUN, RUN_TABLE, store_ident
from dbconsole.sync.state import CHECKPOINT


class UndoRefused(SyncError):
    """The run cannot be undone exactly; nothing was written."""


@dataclass(frozen=True)
class UndoneTable:
    name: str
    restored: int  # pre-images put back (updated back, or inserted again)
    removed: int  # rows the run had inserted (or, for replace, rows the old table did not hold)


@dataclass(frozen=True)
class UndoResult:
    run_id: int
    tables: tuple[UndoneTable, ...]
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run_id, "seconds": self.seconds,
                "tables": [{"table": t.name, "restored": t.restored, "removed": t.removed} for t in self.tables]}


def undo_run(profile: Profile, run_id: int) -> UndoResult:
    """Undo run ``run_id`` on ``profile`` (its target), or raise :class:`UndoRefused`."""
    refuse_read_only_target(profile)
    began = time.monotonic()
    with connect(profile, options=TARGET_OPTIONS, purpose="undo") as conn:
        runs = read_runs(conn, run_id=run_id)
        conn.rollback()
        if not runs:
            raise UndoRefused(f"{profile.name} has no run {run_id} in its history (dbconsole history "
                              f"--profile {profile.name} lists them)")
        _lock_tables(conn, profile, runs[0])
        catalog = {t.qualified: t for t in read_catalog(conn)}  # in a transaction of its own
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()
        try:
            with conn.transaction():
                run = read_runs(conn, run_id=run_id, lock=True)[0]
                refuse_unless_undoable(conn, run)
                tables = _restore(conn, profile, run, catalog)
                _forget(conn, run)
        except psycopg.Error as exc:  # a constraint the restore ran into: all of it rolled back
            raise SyncError(f"undo of run {run_id} failed and wrote nothing: {describe_pg_error(exc)}") from None
    return UndoResult(run_id, tables, round(time.monotonic() - began, 3))


def _lock_tables(conn: psycopg.Connection[Any], profile: Profile, run: RunRecord) -> None:
    """The sync locks of the run's tables, so no sync writes them while they are restored."""
    for table in sorted(t.name for t in run.tables):
        if not state.try_lock(conn, table):
            raise UndoRefused(f"a sync is writing {table} on {profile.name} now; undo run {run.id} when it is done")
    conn.commit()


def refuse_unless_undoable(conn: psycopg.Connection[Any], run: RunRecord) -> None:
    """Every reason this run cannot be undone exactly, said as one line (the first that holds)."""
    if run.outcome == "running":
        raise UndoRefused(f"run {run.id} is still running; stop it first")
    if run.undo == "undone":
        raise UndoRefused(f"run {run.id} was already undone ({run.undo_text})")
    if run.undo == "off":
        raise UndoRefused(f"run {run.id} kept no pre-images ([sync] undo_keep_runs was 0 when it ran), "
                          "so it cannot be undone")
    if run.undo == "pruned":
        raise UndoRefused(f"run {run.id}'s pre-images were pruned ([sync] undo_keep_runs keeps only the newest "
                          "runs'), so it cannot be undone")
    later = _later_conflicts(conn, run)
    if later:
        runs = ", ".join(str(r) for r in later)
        them = "it" if len(later) == 1 else "them"
        raise UndoRefused(f"later run{'s' if len(later) > 1 else ''} {runs} changed rows that run {run.id} wrote; "
                          f"undo {them} first (newest first)")


def _later_conflicts(conn: psycopg.Connection[Any], run: RunRecord) -> list[int]:
    """Later runs, not undone, that wrote rows of a table this run wrote too, newest first."""
    mine = {t.name: t for t in run.tables}
    with conn.cursor() as cur:
        cur.execute(sql.SQL("""SELECT t.run_id, t.schema_name, t.table_name, t.undo_store, t.undo_whole, r.undo,
                   t.inserted + t.updated + t.deleted
              FROM {run_table} t JOIN {run} r ON r.id = t.run_id
             WHERE t.run_id > %s AND r.undo <> 'undone' AND (t.schema_name, t.table_name) IN
                   (SELECT * FROM unnest(%s::text[], %s::text[]))""").format(run=RUN, run_table=RUN_TABLE),
                    (run.id, [n.schema for n in mine], [n.name for n in mine]))
        later = cur.fetchall()
    conflicts: set[int] = set()
    for later_id, schema, name, store, whole, undo, writes in later:
        table = mine[TableName(schema, name)]
        # A replace (a "whole" store) stands for every row of its table, even an empty old table.
        if table.undo_store is None or not (table.undo_whole or _has_rows(conn, table.undo_store)):
            continue  # this run wrote nothing there: nothing of it to collide with
        if store is None or undo != "kept":
            if writes:
                conflicts.add(later_id)  # it wrote rows there and nothing says which
            continue
        if not (whole or _has_rows(conn, store)):
            continue  # the later run wrote nothing there
        if whole or table.undo_whole or _overlaps(conn, table, store):
            conflicts.add(later_id)
    return sorted(conflicts, reverse=True)


def _has_rows(conn: psycopg.Connection[Any], store: str) -> bool:
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(store_ident(store)))
        return bool(cur.fetchone()[0])  # type: ignore[index]


def _overlaps(conn: psycopg.Connection[Any], table: RunTable, later_store: str) -> bool:
    assert table.undo_store is not None and table.key
    with conn.cursor() as cur:
        cur.execute(undo_sql.overlap(store_ident(table.undo_store), store_ident(later_store), table.key))
        return bool(cur.fetchone()[0])  # type: ignore[index]


def _restore(conn: psycopg.Connection[Any], profile: Profile, run: RunRecord,
             catalog: dict[Any, Table]) -> tuple[UndoneTable, ...]:
    work = [t for t in run.tables if t.undo_store is not None]
    for entry in work:
        if entry.name not in catalog:
            raise UndoRefused(f"{entry.name} no longer exists on {profile.name}; run {run.id} cannot be undone")
    targets = {entry.name: catalog[entry.name] for entry in work}
    disabled = {name: triggers.triggers_to_disable(table, "disable", target_name=profile.name)
                for name, table in targets.items()}
    with conn.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL DEFERRED")
        for name in targets:
            triggers.disable(conn, disabled[name])
        restored = {entry.name: _put_back(cur, entry, targets[entry.name]) for entry in work}  # parents first
        removed = {entry.name: _remove(cur, entry, targets[entry.name], catalog, run)  # children first
                   for entry in reversed(work)}
        for name, table in targets.items():
            if disabled[name]:
                triggers.restore(conn, table.triggers)
    return tuple(UndoneTable(str(e.name), restored[e.name], removed[e.name]) for e in work)


def _put_back(cur: psycopg.Cursor[Any], entry: RunTable, table: Table) -> int:
    store = store_ident(entry.undo_store)  # type: ignore[arg-type]
    columns = [c for c in entry.columns if table.column(c) is not None and not table.column(c).generated]  # type: ignore[union-attr]
    overriding = any(table.column(c).identity_always for c in columns)  # type: ignore[union-attr]
    key = entry.key
    ops: list[undo_sql.UndoOp] = ["o"] if entry.undo_whole else ["u", "d"]
    if entry.undo_whole and not key:  # a keyless table: emptied and refilled with its old rows
        cur.execute(undo_sql.delete_not_kept(store, table, None))
        cur.execute(undo_sql.restore_missing(store, table, columns, None, ops, overriding))
        return max(cur.rowcount, 0)
    assert key is not None
    settable = [c for c in columns if c not in key and not table.column(c).identity_always]  # type: ignore[union-attr]
    updated = 0
    update = undo_sql.restore_updates(store, table, key, settable, ops)
    if update is not None:
        cur.execute(update)
        updated = max(cur.rowcount, 0)
    cur.execute(undo_sql.restore_missing(store, table, columns, key, ops, overriding))
    return updated + max(cur.rowcount, 0)


def _remove(cur: psycopg.Cursor[Any], entry: RunTable, table: Table, catalog: dict[Any, Table],
            run: RunRecord) -> int:
    store = store_ident(entry.undo_store)  # type: ignore[arg-type]
    if entry.undo_whole and not entry.key:
        return 0  # emptied and refilled in _put_back
    assert entry.key is not None
    if entry.undo_whole:
        cur.execute(undo_sql.delete_not_kept(store, table, entry.key))
    else:
        _refuse_if_still_referenced(cur, entry, catalog, run)
        cur.execute(undo_sql.delete_inserted(store, table, entry.key))
    return max(cur.rowcount, 0)


def _refuse_if_still_referenced(cur: psycopg.Cursor[Any], entry: RunTable, catalog: dict[Any, Table],
                                run: RunRecord) -> None:
    """Rows the run inserted that other rows now point at (written later, by a later run or the
    application) are not deleted: a foreign key would refuse, or worse, cascade. The run's own
    child rows are gone by now (children are undone first)."""
    store = store_ident(entry.undo_store)  # type: ignore[arg-type]
    for child in catalog.values():
        for fk in child.foreign_keys:
            if fk.parent != entry.name or not set(fk.parent_columns) <= set(entry.key or ()):
                continue
            cur.execute(undo_sql.referenced_inserts(store, child, fk.columns, fk.parent_columns))
            if cur.fetchone()[0]:  # type: ignore[index]
                raise UndoRefused(f"rows of {child.qualified} written after run {run.id} point at rows it inserted "
                                  f"into {entry.name} ({fk.name}); undo the later runs first (newest first)")


def _forget(conn: psycopg.Connection[Any], run: RunRecord) -> None:
    """The run is marked undone and its stores dropped, its "last synced" lines and cursor
    watermarks forgotten (:func:`~dbconsole.sync.state.forget_run`); an interrupted run's
    checkpoints go too, so the next run starts its tables over instead of resuming past the rows
    just restored."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL("UPDATE {} SET undo = 'undone', undone_at = now() WHERE id = %s").format(RUN), (run.id,))
        for entry in run.tables:
            if entry.undo_store is not None:
                cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(store_ident(entry.undo_store)))
        state.forget_run(conn, run.source_id, [(t.name, t.mode) for t in run.tables], run.started_at, run.ended_at)
        if run.outcome != "ok":
            cur.execute(sql.SQL("DELETE FROM {} WHERE source_id = %s AND (schema_name, table_name) IN "
                                "(SELECT * FROM unnest(%s::text[], %s::text[]))").format(CHECKPOINT),
                        (run.source_id, [t.name.schema for t in run.tables], [t.name.name for t in run.tables]))
