"""The read side of sync history: the runs recorded in a target's ``_dbconsole`` schema.

One query answers "what ran here": every run with its tables and counts, newest first. A
``running`` run whose session no longer holds its lock is shown as ``interrupted`` (it was
killed, or its machine went away); its counts are what it committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from dbconsole.catalog import STATE_SCHEMA
from dbconsole.config import Profile
from dbconsole.connect import connect
from dbconsole.names import TableName
from dbconsole.sync.counts import RowCounts
from dbconsole.sync.journal import RUN, RUN_LOCK_NAMESPACE, RUN_TABLE, Outcome, UndoState

DEFAULT_LIMIT = 20

_RUNS = sql.SQL("""
SELECT r.id, r.started_at, r.ended_at, r.source_name, r.source_host, r.source_id, r.mode, r.strategy,
       CASE WHEN r.outcome = 'running' AND NOT EXISTS (
                SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %(ns)s::oid
                   AND l.objid = r.id::oid AND l.objsubid = 2
                   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))
            THEN 'interrupted' ELSE r.outcome END,
       r.error_kind, r.error, r.version, r.resumes, r.undo, r.undone_at,
       coalesce(json_agg(json_build_object(
           'position', t.position, 'schema', t.schema_name, 'name', t.table_name, 'mode', t.mode,
           'strategy', t.strategy, 'inserted', t.inserted, 'updated', t.updated, 'unchanged', t.unchanged,
           'deleted', t.deleted, 'finished', t.finished, 'key', t.key_columns, 'columns', t.columns,
           'undo_store', t.undo_store, 'undo_whole', t.undo_whole) ORDER BY t.position)
           FILTER (WHERE t.run_id IS NOT NULL), '[]')
  FROM {run} r LEFT JOIN {run_table} t ON t.run_id = r.id
 WHERE {where}
 GROUP BY r.id ORDER BY r.id DESC LIMIT %(limit)s
""")


@dataclass(frozen=True)
class RunTable:
    position: int
    name: TableName
    mode: str
    strategy: str | None
    counts: RowCounts
    finished: bool
    key: tuple[str, ...] | None
    columns: tuple[str, ...]
    undo_store: str | None
    undo_whole: bool  # the store holds the whole old table (replace)

    def to_json(self) -> dict[str, Any]:
        return {"table": str(self.name), "mode": self.mode, "strategy": self.strategy, "finished": self.finished,
                "inserted": self.counts.inserted, "updated": self.counts.updated,
                "unchanged": self.counts.unchanged, "deleted": self.counts.deleted}


@dataclass(frozen=True)
class RunRecord:
    id: int
    started_at: datetime
    ended_at: datetime | None
    source_name: str
    source_host: str | None
    source_id: str
    mode: str
    strategy: str
    outcome: Outcome
    error_kind: str | None
    error: str | None
    version: str
    resumes: int | None
    undo: UndoState
    undone_at: datetime | None
    tables: tuple[RunTable, ...]

    @property
    def counts(self) -> RowCounts:
        return RowCounts.sum(t.counts for t in self.tables)

    @property
    def undo_text(self) -> str:
        """What undo can do for this run, in a word or two."""
        if self.undo == "undone" and self.undone_at is not None:
            return f"undone {self.undone_at:%Y-%m-%d %H:%M}"
        return {"kept": "available", "off": "off (undo_keep_runs = 0)", "pruned": "pruned"}.get(self.undo, self.undo)

    def to_json(self) -> dict[str, Any]:
        counts = self.counts
        return {"run": self.id, "started_at": self.started_at.isoformat(),
                "ended_at": self.ended_at.isoformat() if self.ended_at else None,
                "source": self.source_name, "source_host": self.source_host, "mode": self.mode,
                "strategy": self.strategy, "outcome": self.outcome, "error_kind": self.error_kind,
                "error": self.error, "version": self.version, "resumes": self.resumes, "undo": self.undo,
                "undone_at": self.undone_at.isoformat() if self.undone_at else None,
                "inserted": counts.inserted, "updated": counts.updated, "unchanged": counts.unchanged,
                "deleted": counts.deleted, "tables": [t.to_json() for t in self.tables]}


def _table(item: dict[str, Any]) -> RunTable:
    return RunTable(position=item["position"], name=TableName(item["schema"], item["name"]), mode=item["mode"],
                    strategy=item["strategy"],
                    counts=RowCounts(item["inserted"], item["updated"], item["unchanged"], item["deleted"]),
                    finished=item["finished"], key=tuple(item["key"]) if item["key"] else None,
                    columns=tuple(item["columns"] or ()), undo_store=item["undo_store"],
                    undo_whole=item["undo_whole"])


def _record(row: tuple[Any, ...]) -> RunRecord:
    *head, tables = row
    return RunRecord(*head, tables=tuple(_table(item) for item in tables))  # type: ignore[misc]


def history_exists(conn: psycopg.Connection[Any]) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{STATE_SCHEMA}.run_table",))
        return bool(cur.fetchone()[0])  # type: ignore[index]


def read_runs(conn: psycopg.Connection[Any], *, limit: int = DEFAULT_LIMIT, run_id: int | None = None,
              lock: bool = False) -> list[RunRecord]:
    """The newest ``limit`` runs (or the one ``run_id``), each with its tables; [] without history."""
    if not history_exists(conn):
        return []
    where = sql.SQL("r.id = %(id)s") if run_id is not None else sql.SQL("true")
    query = _RUNS.format(run=RUN, run_table=RUN_TABLE, where=where)
    with conn.cursor() as cur:
        if lock and run_id is not None:  # two undos of one run wait for each other
            cur.execute(sql.SQL("SELECT 1 FROM {} WHERE id = %s FOR UPDATE").format(RUN), (run_id,))
        cur.execute(query, {"ns": RUN_LOCK_NAMESPACE, "limit": limit, "id": run_id})
        return [_record(row) for row in cur.fetchall()]


def load_history(profile: Profile, *, limit: int = DEFAULT_LIMIT) -> list[RunRecord]:
    """The runs recorded on ``profile`` (a target), read in a read-only session."""
    with connect(profile, read_only=True, purpose="history") as conn:
        runs = read_runs(conn, limit=limit)
        conn.rollback()
    return runs
