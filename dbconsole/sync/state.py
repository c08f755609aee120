"""What survives a crash: checkpoints, watermarks, history and the lock that keeps syncs apart.

All of it lives in the *target* database, in the ``_dbconsole`` schema, because a checkpoint is
only trustworthy if it commits in the same transaction as the rows it describes: a batch and
its checkpoint land together or not at all, so a run killed at any instant resumes exactly
where its last commit left off. Watermarks (``incremental``, ``xmin``) are written the same
way, and only when a table finished. History feeds the TUI's "last synced" column.

Two syncs into the same target table must not interleave: each run holds a session-level
advisory lock per table on the target for as long as it works on it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from dbconsole.catalog import STATE_SCHEMA
from dbconsole.modes import Mode
from dbconsole.names import TableName
from dbconsole.sync.counts import HasCounts, RowCounts

LOCK_NAMESPACE = 0x64626331  # "dbc1": keeps our advisory locks apart from the application's
SCHEMA_VERSION = 1
# The schema's name is a constant, but it still goes through sql.Identifier like every other name.
_SCHEMA = sql.Identifier(STATE_SCHEMA)
CHECKPOINT = sql.Identifier(STATE_SCHEMA, "checkpoint")
WATERMARK = sql.Identifier(STATE_SCHEMA, "watermark")
HISTORY = sql.Identifier(STATE_SCHEMA, "history")

_DDL = sql.SQL("""
CREATE SCHEMA IF NOT EXISTS {schema};
COMMENT ON SCHEMA {schema} IS 'dbconsole sync state: checkpoints, watermarks, history. Safe to drop when no sync runs.';
CREATE TABLE IF NOT EXISTS {checkpoint} (
    schema_name  text NOT NULL,
    table_name   text NOT NULL,
    source_id    text NOT NULL,
    fingerprint  text NOT NULL,
    last_key     text[],
    rows_done    bigint NOT NULL DEFAULT 0,
    inserted     bigint NOT NULL DEFAULT 0,
    updated      bigint NOT NULL DEFAULT 0,
    unchanged    bigint NOT NULL DEFAULT 0,
    fast_path    boolean NOT NULL DEFAULT false,
    watermark    text,
    started_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schema_name, table_name, source_id)
);
CREATE TABLE IF NOT EXISTS {watermark} (
    schema_name  text NOT NULL,
    table_name   text NOT NULL,
    source_id    text NOT NULL,
    mode         text NOT NULL,
    cursor_name  text,
    value        text NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schema_name, table_name, source_id, mode)
);
CREATE TABLE IF NOT EXISTS {history} (
    id           bigserial PRIMARY KEY,
    schema_name  text NOT NULL,
    table_name   text NOT NULL,
    source_id    text NOT NULL,
    source_name  text NOT NULL,
    mode         text NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL DEFAULT now(),
    inserted     bigint NOT NULL,
    updated      bigint NOT NULL,
    unchanged    bigint NOT NULL,
    deleted      bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS history_table_idx ON {history} (schema_name, table_name, finished_at DESC);
""").format(schema=_SCHEMA, checkpoint=CHECKPOINT, watermark=WATERMARK, history=HISTORY)


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """The last committed batch of an unfinished run of one table."""

    fingerprint: str
    last_key: list[str] | None = None
    rows_done: int = 0
    counts: RowCounts = RowCounts()
    fast_path: bool = False
    watermark: str | None = None


@dataclass(frozen=True)
class LastSync(HasCounts):
    finished_at: datetime
    source: str
    mode: Mode
    counts: RowCounts


_CHECKPOINT_COLUMNS = sql.SQL(", ").join(map(sql.Identifier, (
    "fingerprint", "last_key", "rows_done", "inserted", "updated", "unchanged", "fast_path", "watermark")))


def _checkpoint(row: tuple[Any, ...]) -> Checkpoint:
    """A checkpoint from a row of :data:`_CHECKPOINT_COLUMNS`."""
    fingerprint, last_key, rows_done, inserted, updated, unchanged, fast_path, watermark = row
    return Checkpoint(fingerprint=fingerprint, last_key=last_key, rows_done=rows_done,
                      counts=RowCounts(inserted, updated, unchanged), fast_path=fast_path, watermark=watermark)


def ensure_state_schema(conn: psycopg.Connection[Any]) -> None:
    """Create the state tables once; an advisory lock keeps two first runs from racing."""
    with conn.transaction():
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, 0)", (LOCK_NAMESPACE,))
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{STATE_SCHEMA}.history",))
            exists = cur.fetchone()[0]  # type: ignore[index]
            if not exists:
                cur.execute(_DDL)


def state_exists(conn: psycopg.Connection[Any]) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{STATE_SCHEMA}.checkpoint",))
        return bool(cur.fetchone()[0])  # type: ignore[index]


def load_checkpoint(conn: psycopg.Connection[Any], table: TableName, source_id: str) -> Checkpoint | None:
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("SELECT {} FROM {} WHERE schema_name = %s AND table_name = %s AND source_id = %s").format(
                _CHECKPOINT_COLUMNS, CHECKPOINT),
            (table.schema, table.name, source_id))
        row = cur.fetchone()
    return _checkpoint(row) if row else None


def load_checkpoints(conn: psycopg.Connection[Any], source_id: str) -> dict[TableName, Checkpoint]:
    """Every unfinished table's checkpoint from this source, in one round trip."""
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("SELECT schema_name, table_name, {} FROM {} WHERE source_id = %s").format(
                _CHECKPOINT_COLUMNS, CHECKPOINT),
            (source_id,))
        return {TableName(r[0], r[1]): _checkpoint(r[2:]) for r in cur.fetchall()}


def save_checkpoint(conn: psycopg.Connection[Any], table: TableName, source_id: str, point: Checkpoint) -> None:
    """Record progress; call inside the batch's own transaction."""
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("""INSERT INTO {} AS c (schema_name, table_name, source_id, fingerprint, last_key,
                    rows_done, inserted, updated, unchanged, fast_path, watermark)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (schema_name, table_name, source_id) DO UPDATE SET
                    fingerprint = EXCLUDED.fingerprint, last_key = EXCLUDED.last_key,
                    rows_done = EXCLUDED.rows_done, inserted = EXCLUDED.inserted, updated = EXCLUDED.updated,
                    unchanged = EXCLUDED.unchanged, fast_path = EXCLUDED.fast_path,
                    watermark = EXCLUDED.watermark, updated_at = now()""").format(CHECKPOINT),
            (table.schema, table.name, source_id, point.fingerprint, point.last_key, point.rows_done,
             point.counts.inserted, point.counts.updated, point.counts.unchanged, point.fast_path, point.watermark))


def clear_checkpoint(conn: psycopg.Connection[Any], table: TableName, source_id: str) -> None:
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DELETE FROM {} WHERE schema_name = %s AND table_name = %s AND source_id = %s").format(
            CHECKPOINT), (table.schema, table.name, source_id))


def load_watermark(conn: psycopg.Connection[Any], table: TableName, source_id: str, mode: Mode,
                   cursor_name: str | None) -> str | None:
    """The watermark of the last successful run, if it was taken on the same cursor column."""
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("SELECT value, cursor_name FROM {}"
                    " WHERE schema_name = %s AND table_name = %s AND source_id = %s AND mode = %s").format(WATERMARK),
            (table.schema, table.name, source_id, mode))
        row = cur.fetchone()
    if row is None or row[1] != cursor_name:
        return None
    return row[0]


def save_watermark(conn: psycopg.Connection[Any], table: TableName, source_id: str, mode: Mode,
                   cursor_name: str | None, value: str) -> None:
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("""INSERT INTO {} (schema_name, table_name, source_id, mode, cursor_name, value)
                VALUES (%s, %s, %s, %s, %s, %s)
                ON CONFLICT (schema_name, table_name, source_id, mode) DO UPDATE SET
                    cursor_name = EXCLUDED.cursor_name, value = EXCLUDED.value, updated_at = now()""").format(
                WATERMARK),
            (table.schema, table.name, source_id, mode, cursor_name, value))


def forget_run(conn: psycopg.Connection[Any], source_id: str, tables: Sequence[tuple[TableName, str]],
               since: datetime, until: datetime | None) -> None:
    """After an undo: the tables' state no longer says what the undone run did.

    Its ``history`` lines go (they finished inside the run's time; a table is written by one run
    at a time, under its lock), so "last synced" tells the sync the data reflects again. The
    watermark of an incremental or xmin table goes too: it stood for rows the undo just put
    back, and the old one was not kept, so the next such run reads the table in full once
    instead of skipping rows that are no longer there. ``tables``: (name, mode) pairs.
    """
    names = [t for t, _ in tables]
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{STATE_SCHEMA}.watermark",))
        if not cur.fetchone()[0]:  # type: ignore[index]
            return  # the state tables come with a run's first write; none: nothing to forget
        cur.execute(sql.SQL("DELETE FROM {} WHERE source_id = %s AND finished_at >= %s"
                            " AND (%s::timestamptz IS NULL OR finished_at <= %s) AND (schema_name, table_name) IN"
                            " (SELECT * FROM unnest(%s::text[], %s::text[]))").format(HISTORY),
                    (source_id, since, until, until, [n.schema for n in names], [n.name for n in names]))
        cursored = [t for t, mode in tables if mode in ("incremental", "xmin")]
        if cursored:
            cur.execute(sql.SQL("DELETE FROM {} WHERE source_id = %s AND mode IN ('incremental', 'xmin') AND"
                                " (schema_name, table_name) IN (SELECT * FROM unnest(%s::text[], %s::text[]))").format(
                WATERMARK), (source_id, [n.schema for n in cursored], [n.name for n in cursored]))


def record_history(conn: psycopg.Connection[Any], table: TableName, source_id: str, source_name: str, mode: Mode,
                   started_at: datetime, counts: RowCounts) -> None:
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("""INSERT INTO {} (schema_name, table_name, source_id, source_name, mode,
                    started_at, inserted, updated, unchanged, deleted)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""").format(HISTORY),
            (table.schema, table.name, source_id, source_name, mode, started_at, counts.inserted, counts.updated,
             counts.unchanged, counts.deleted))


def last_synced(conn: psycopg.Connection[Any]) -> dict[TableName, LastSync]:
    """When each table of this (target) database was last synced, and how; {} if never."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{STATE_SCHEMA}.history",))
        if not cur.fetchone()[0]:  # type: ignore[index]
            result: dict[TableName, LastSync] = {}
        else:
            cur.execute(
                sql.SQL("""SELECT DISTINCT ON (schema_name, table_name) schema_name, table_name, finished_at,
                           source_name, mode, inserted, updated, unchanged, deleted
                      FROM {} ORDER BY schema_name, table_name, finished_at DESC""").format(HISTORY))
            result = {TableName(r[0], r[1]): LastSync(r[2], r[3], r[4], RowCounts(*r[5:])) for r in cur.fetchall()}
    if not conn.autocommit:
        conn.rollback()
    return result


# --------------------------------------------------------------------------- locks


def lock_key(table: TableName) -> str:
    return f"{table.schema}.{table.name}"


def try_lock(conn: psycopg.Connection[Any], table: TableName) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", (LOCK_NAMESPACE, lock_key(table)))
        return bool(cur.fetchone()[0])  # type: ignore[index]


def lock_holder(conn: psycopg.Connection[Any], table: TableName) -> tuple[int | None, str | None]:
    """Backend pid and application_name of the session holding ``table``'s sync lock."""
    with conn.cursor() as cur:
        cur.execute(
            """SELECT l.pid, a.application_name FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
                WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s::oid
                  AND l.objid = hashtext(%s)::oid AND l.objsubid = 2 AND l.database =
                      (SELECT oid FROM pg_database WHERE datname = current_database())
                LIMIT 1""",
            (LOCK_NAMESPACE, lock_key(table)))
        row = cur.fetchone()
    return (row[0], row[1]) if row else (None, None)


def acquire_locks(
    conn: psycopg.Connection[Any],
    tables: list[TableName],
    *,
    on_wait: Callable[[TableName, int | None], None],
    cancelled: Callable[[], bool],
    poll_seconds: float = 0.5,
) -> None:
    """Take every table's sync lock (in a fixed order, so two runs cannot deadlock).

    A table another sync is writing is waited for, not skipped: the wait is reported once
    through ``on_wait`` and can be cancelled.
    """
    for table in sorted(tables):
        reported = False
        while not try_lock(conn, table):
            if not reported:
                pid, _ = lock_holder(conn, table)
                on_wait(table, pid)
                reported = True
            if cancelled():
                return
            time.sleep(poll_seconds)
    if not conn.autocommit and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        conn.commit()  # session locks survive the commit; an open transaction would not be wanted


def release_locks(conn: psycopg.Connection[Any]) -> None:
    if conn.closed:
        return
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_unlock_all()")
    if not conn.autocommit:
        conn.commit()
