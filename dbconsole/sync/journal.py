"""A run's own record on the target: its history line and, unless turned off, its undo store.

Each writing run gets a row in ``_dbconsole.run`` (who, from where, how, which dbconsole) and one
row per table in ``_dbconsole.run_table`` (counts, and the name of the table's undo store, see
:mod:`.undo_sql`). Both are written *inside the transactions that commit the run's batches*: a
batch, its checkpoint, its counts and the pre-images of the rows it overwrote land together or
not at all, so after a SIGKILL the history and the undo store describe exactly what was
committed.

A run holds a session advisory lock on its own id while it works: a ``running`` row whose lock
nobody holds belongs to a run that died (shown as ``interrupted``); the next run from the same
source that resumes its checkpoints says which run it resumes.

The write points (:mod:`.table_run`, :mod:`.by_diff`, :mod:`.replace`) call :func:`record` for
the counts and :mod:`.undo` for the pre-images; both do nothing on a dry run (no journal in the
ledger).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import psycopg
from psycopg import sql

from dbconsole import __version__
from dbconsole.catalog import STATE_SCHEMA
from dbconsole.connect import connect
from dbconsole.names import TableName
from dbconsole.redact import redact
from dbconsole.sync import undo_sql
from dbconsole.sync.counts import RowCounts
from dbconsole.sync.state import CHECKPOINT, LOCK_NAMESPACE

if TYPE_CHECKING:
    from dbconsole.config import Profile
    from dbconsole.sync.context import RunContext, RunLedger
    from dbconsole.sync.plan import SyncRequest, TablePlan
    from dbconsole.sync.undo import WriteSession

RUN_LOCK_NAMESPACE = 0x64626332  # "dbc2": a running run holds (namespace, run id)
DEFAULT_UNDO_KEEP_RUNS = 3
RUN = sql.Identifier(STATE_SCHEMA, "run")
RUN_TABLE = sql.Identifier(STATE_SCHEMA, "run_table")
Outcome = Literal["running", "ok", "failed", "cancelled", "interrupted"]
UndoState = Literal["kept", "off", "pruned", "undone"]

_DDL = sql.SQL("""
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {run} (
    id           bigserial PRIMARY KEY,
    started_at   timestamptz NOT NULL DEFAULT now(),
    ended_at     timestamptz,
    source_name  text NOT NULL,
    source_host  text,
    source_id    text NOT NULL,
    mode         text NOT NULL,
    strategy     text NOT NULL,
    outcome      text NOT NULL DEFAULT 'running',
    error_kind   text,
    error        text,
    version      text NOT NULL,
    resumes      bigint,
    undo         text NOT NULL,
    undone_at    timestamptz
);
CREATE TABLE IF NOT EXISTS {run_table} (
    run_id       bigint NOT NULL,  -- no foreign key: a target's own FK listing stays the app's
    position     integer NOT NULL,
    schema_name  text NOT NULL,
    table_name   text NOT NULL,
    mode         text NOT NULL,
    strategy     text,
    inserted     bigint NOT NULL DEFAULT 0,
    updated      bigint NOT NULL DEFAULT 0,
    unchanged    bigint NOT NULL DEFAULT 0,
    deleted      bigint NOT NULL DEFAULT 0,
    finished     boolean NOT NULL DEFAULT false,
    key_columns  text[],
    columns      text[] NOT NULL,
    undo_store   text,
    undo_whole   boolean NOT NULL DEFAULT false,
    PRIMARY KEY (run_id, position)
);
CREATE INDEX IF NOT EXISTS run_table_name_idx ON {run_table} (schema_name, table_name, run_id);
""").format(schema=sql.Identifier(STATE_SCHEMA), run=RUN, run_table=RUN_TABLE)


def ensure_journal_schema(conn: psycopg.Connection[Any]) -> None:
    """The history tables, once (an advisory lock keeps two first runs from racing)."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{STATE_SCHEMA}.run_table",))
        if cur.fetchone()[0]:  # type: ignore[index]
            return
        cur.execute("SELECT pg_advisory_xact_lock(%s, 0)", (LOCK_NAMESPACE,))
        cur.execute(_DDL)


def store_ident(name: str) -> sql.Identifier:
    return sql.Identifier(STATE_SCHEMA, name)


def source_host(profile: Profile) -> str:
    """Where the source lives, without any secret: ``host:port/db`` and the SSH hop, if any
    (a SQLite source: its file)."""
    if profile.is_sqlite:
        return profile.url
    try:
        info = psycopg.conninfo.conninfo_to_dict(profile.url)
    except psycopg.Error:
        info = {}
    where = f"{info.get('host') or 'localhost'}:{info.get('port') or 5432}/{info.get('dbname') or ''}"
    if profile.ssh is not None:
        where += f" via ssh {profile.ssh.host}"
    return where


def undo_keep_runs(request: SyncRequest) -> int:
    """``[sync] undo_keep_runs``: how many runs keep their pre-images (0: none; a dry run keeps none)."""
    keep = getattr(request.settings, "undo_keep_runs", None)
    return DEFAULT_UNDO_KEEP_RUNS if keep is None else int(keep)


@dataclass
class TableEntry:
    position: int
    store: sql.Identifier | None
    columns: list[str]
    baseline: RowCounts | None = None  # counts a resumed checkpoint brought along: not this run's


@dataclass
class RunJournal:
    """This run's history row and undo stores; kept in the run's ledger across retries."""

    run_id: int
    keeping: bool
    tables: dict[TableName, TableEntry] = field(default_factory=dict)
    deltas: set[tuple[int, int, int]] = field(default_factory=set)  # (session, backend, table) with a delta table

    # -- the run's life ---------------------------------------------------------------

    @classmethod
    def register(cls, ctx: RunContext) -> RunJournal:
        """The run's row, a row per table and (unless off) an empty undo store per table, in
        one transaction; older stores are pruned so that exactly ``undo_keep_runs`` stay."""
        return cls.open(ctx.target, ctx.request, ctx.plan.tables, ctx.source_id, keep=undo_keep_runs(ctx.request))

    @classmethod
    def open(cls, target: psycopg.Connection[Any], request: SyncRequest, tables: Sequence[TablePlan],
             source_id: str, *, keep: int) -> RunJournal:
        """:meth:`register` for a writer without a :class:`RunContext` (a SQLite source's)."""
        ensure_journal_schema(target)
        modes = ",".join(dict.fromkeys(t.mode for t in tables)) or (request.mode or "upsert")
        with target.transaction(), target.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, 1)", (LOCK_NAMESPACE,))
            mark_interrupted(cur)
            cur.execute(sql.SQL("""INSERT INTO {} (source_name, source_host, source_id, mode, strategy, version, undo)
                VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id""").format(RUN),
                (request.source.name, source_host(request.source), source_id, modes,
                 request.effective_strategy, __version__, "kept" if keep > 0 else "off"))
            run_id = int(cur.fetchone()[0])  # type: ignore[index]
            journal = cls(run_id, keeping=keep > 0)
            for position, plan in enumerate(tables):
                columns = undo_sql.kept_columns(plan.target)
                store_name = f"undo_{run_id}_{position}" if keep > 0 else None
                store = store_ident(store_name) if store_name else None
                if store is not None:
                    cur.execute(undo_sql.create_store(store, plan.target, columns))
                cur.execute(sql.SQL("""INSERT INTO {} (run_id, position, schema_name, table_name, mode, key_columns,
                    columns, undo_store, undo_whole) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""").format(RUN_TABLE),
                    (run_id, position, plan.name.schema, plan.name.name, plan.mode,
                     list(plan.key) if plan.key else None, columns,
                     store_name, plan.mode == "replace"))
                journal.tables[plan.name] = TableEntry(position, store, columns)
            cur.execute(sql.SQL("""UPDATE {run} SET resumes = (
                    SELECT r.id FROM {run} r JOIN {run_table} t ON t.run_id = r.id
                      JOIN {checkpoint} c ON (c.schema_name, c.table_name, c.source_id)
                                           = (t.schema_name, t.table_name, r.source_id)
                     WHERE r.id < %(id)s AND r.source_id = %(source)s AND r.outcome <> 'ok'
                       AND EXISTS (SELECT 1 FROM {run_table} mine WHERE mine.run_id = %(id)s
                                   AND (mine.schema_name, mine.table_name) = (t.schema_name, t.table_name))
                     ORDER BY r.id DESC LIMIT 1)
                WHERE id = %(id)s""").format(run=RUN, run_table=RUN_TABLE, checkpoint=CHECKPOINT),
                {"id": run_id, "source": source_id})
            prune(cur, keep)
        journal.attach(target)
        return journal

    def attach(self, target: psycopg.Connection[Any]) -> None:
        """Hold the run's lock on this attempt's session (so readers can tell it is alive)."""
        with target.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s, %s)", (RUN_LOCK_NAMESPACE, self.run_id))
        target.commit()

    def finish(self, target: psycopg.Connection[Any]) -> None:
        with target.transaction(), target.cursor() as cur:
            cur.execute(sql.SQL("UPDATE {} SET outcome = 'ok', ended_at = now() WHERE id = %s").format(RUN),
                        (self.run_id,))

    # -- what the write points call, inside their batch transactions -------------------

    def entry(self, plan: TablePlan) -> TableEntry:
        return self.tables[plan.name]

    def record(self, ctx: RunContext, plan: TablePlan, counts: RowCounts, *, strategy: str,
               finished: bool = False) -> None:
        ctx.execute(ctx.target, *self._counts_update(plan, counts, strategy=strategy, finished=finished))

    def record_on(self, target: psycopg.Connection[Any], plan: TablePlan, counts: RowCounts, *, strategy: str,
                  finished: bool = False) -> None:
        """:meth:`record` on a bare session (a SQLite source's writer), inside its batch's transaction."""
        target.execute(*self._counts_update(plan, counts, strategy=strategy, finished=finished))

    def _counts_update(self, plan: TablePlan, counts: RowCounts, *, strategy: str,
                       finished: bool) -> tuple[sql.Composable, tuple[Any, ...]]:
        entry = self.entry(plan)
        base = entry.baseline or RowCounts()
        return (sql.SQL("""UPDATE {} SET inserted = %s, updated = %s, unchanged = %s, deleted = %s,
            strategy = %s, finished = %s WHERE run_id = %s AND position = %s""").format(RUN_TABLE),
            (max(counts.inserted - base.inserted, 0), max(counts.updated - base.updated, 0),
             max(counts.unchanged - base.unchanged, 0), max(counts.deleted - base.deleted, 0), strategy, finished,
             self.run_id, entry.position))

    def add(self, ctx: RunContext, plan: TablePlan, delta: RowCounts) -> None:
        """One key range's batch, added (not set): a split table's ranges commit side by side."""
        ctx.execute(ctx.target, sql.SQL("""UPDATE {} SET inserted = inserted + %s, updated = updated + %s,
            unchanged = unchanged + %s, deleted = deleted + %s WHERE run_id = %s AND position = %s""").format(RUN_TABLE),
            (delta.inserted, delta.updated, delta.unchanged, delta.deleted, self.run_id, self.entry(plan).position))

    def keep(self, session: WriteSession, statement: sql.Composable) -> None:
        """One undo statement, on the batch's own session (so in its transaction)."""
        with session.target.cursor() as cur:
            cur.execute(statement)
        session.beat()


def mark_interrupted(cur: psycopg.Cursor[Any]) -> None:
    """``running`` rows whose run no longer holds its lock died (SIGKILL, lost machine)."""
    cur.execute(sql.SQL("""UPDATE {} r SET outcome = 'interrupted' WHERE outcome = 'running' AND NOT EXISTS (
        SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s::oid
           AND l.objid = r.id::oid AND l.objsubid = 2
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))""").format(RUN),
                (RUN_LOCK_NAMESPACE,))


def prune(cur: psycopg.Cursor[Any], keep: int) -> None:
    """Drop the undo stores of every run but the ``keep`` newest that still have theirs."""
    cur.execute(sql.SQL("""SELECT t.undo_store FROM {run_table} t WHERE t.undo_store IS NOT NULL AND t.run_id IN (
            SELECT id FROM {run} WHERE undo = 'kept' ORDER BY id DESC OFFSET %s)""").format(
        run=RUN, run_table=RUN_TABLE), (keep,))
    for (name,) in cur.fetchall():
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(store_ident(name)))
    cur.execute(sql.SQL("""UPDATE {run} SET undo = 'pruned' WHERE id IN (
            SELECT id FROM {run} WHERE undo = 'kept' ORDER BY id DESC OFFSET %s)""").format(run=RUN), (keep,))


def close_run(profile: Profile, ledger: RunLedger, outcome: Outcome, error: BaseException | None = None) -> None:
    """A cancelled or failed run's outcome, on a session of its own (the run's may be broken).

    Best effort: if the target cannot be reached the row stays ``running`` and readers show it
    as interrupted, which is what it is.
    """
    close_journal(profile, ledger.journal, outcome, error)


def close_journal(profile: Profile, journal: RunJournal | None, outcome: Outcome,
                  error: BaseException | None = None) -> None:
    """:func:`close_run` for a writer without a ledger (a SQLite source's)."""
    if journal is None:
        return
    kind = error_kind(error) if error is not None else None
    text = redact(str(error)).splitlines()[0][:500] if error is not None and str(error) else None
    with contextlib.suppress(Exception):
        with connect(profile, purpose="history") as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("UPDATE {} SET outcome = %s, error_kind = %s, error = %s, ended_at = now() "
                                "WHERE id = %s AND outcome = 'running'").format(RUN),
                        (outcome, kind, text, journal.run_id))
            conn.commit()


def error_kind(error: BaseException) -> str:
    """A short, stable word for what stopped the run: the error class, as snake case."""
    name = type(error).__name__.removesuffix("Error") or "error"
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


# --------------------------------------------------------------------------- called at the write points


def _journal(ctx: RunContext) -> RunJournal | None:
    return ctx.ledger.journal


def table_started(ctx: RunContext, plan: TablePlan, resumed: RowCounts) -> None:
    """A resumed checkpoint's counts belong to the run that committed them, not to this one."""
    journal = _journal(ctx)
    if journal is not None and journal.entry(plan).baseline is None:
        journal.entry(plan).baseline = resumed


def add(ctx: RunContext, plan: TablePlan, delta: RowCounts) -> None:
    """A key range's committed batch added to the table's counts (inside the batch's transaction)."""
    journal = _journal(ctx)
    if journal is not None:
        journal.add(ctx, plan, delta)


def record(ctx: RunContext, plan: TablePlan, counts: RowCounts, *, strategy: str = "copy",
           finished: bool = False) -> None:
    """The table's counts so far (inside the batch's transaction)."""
    journal = _journal(ctx)
    if journal is not None:
        journal.record(ctx, plan, counts, strategy=strategy, finished=finished)
