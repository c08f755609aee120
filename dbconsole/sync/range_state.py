"""Checkpoints of a split table: one row per key range, each committed with its own batches.

A table copied as key ranges by several workers (:mod:`.parallel`) cannot share the
single-stream checkpoint of :mod:`.state` (one ``last_key`` per table): each range moves on its
own. So each range gets a row of ``_dbconsole.range_checkpoint``, written in the same target
transaction as the range's batch, exactly as :func:`.state.save_checkpoint` is for one stream.
The row also keeps the range's bounds, so a re-run resumes the *same* ranges even if the source
has grown since (boundaries are never recomputed for a table that has range rows).

The table is created beside the others, in its own statement, so a target whose ``_dbconsole``
schema predates it just gains it; the single-stream ``checkpoint`` table is untouched and keeps
resuming runs without ``--jobs``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from dbconsole.catalog import STATE_SCHEMA
from dbconsole.names import TableName
from dbconsole.sync.counts import RowCounts
from dbconsole.sync.state import LOCK_NAMESPACE

RANGE_CHECKPOINT = sql.Identifier(STATE_SCHEMA, "range_checkpoint")

_DDL = sql.SQL("""
CREATE TABLE IF NOT EXISTS {table} (
    schema_name  text NOT NULL,
    table_name   text NOT NULL,
    source_id    text NOT NULL,
    range_no     integer NOT NULL,
    fingerprint  text NOT NULL,
    lower_key    text[],
    upper_key    text[],
    last_key     text[],
    rows_done    bigint NOT NULL DEFAULT 0,
    inserted     bigint NOT NULL DEFAULT 0,
    updated      bigint NOT NULL DEFAULT 0,
    unchanged    bigint NOT NULL DEFAULT 0,
    fast_path    boolean NOT NULL DEFAULT false,
    done         boolean NOT NULL DEFAULT false,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schema_name, table_name, source_id, range_no)
);
COMMENT ON TABLE {table} IS 'dbconsole sync --jobs: one checkpoint per key range of a split table';
""").format(table=RANGE_CHECKPOINT)

_COLUMNS = sql.SQL(", ").join(map(sql.Identifier, (
    "range_no", "fingerprint", "lower_key", "upper_key", "last_key", "rows_done", "inserted", "updated",
    "unchanged", "fast_path", "done")))


@dataclass(frozen=True, kw_only=True)
class KeyRange:
    """Rows with ``lower < key <= upper`` (None: unbounded), and how far their copy got."""

    number: int
    fingerprint: str
    lower: list[str] | None
    upper: list[str] | None
    last_key: list[str] | None = None  # the last committed batch's upper key
    rows_done: int = 0
    counts: RowCounts = RowCounts()
    fast_path: bool = False  # straight into the target (it held no row of this range)
    done: bool = False

    @property
    def resume_from(self) -> list[str] | None:
        """The exclusive lower key of the range's next batch."""
        return self.last_key if self.last_key is not None else self.lower


def ensure_range_table(conn: psycopg.Connection[Any]) -> None:
    """Create the range table once (under the state schema's lock, so two first runs don't race)."""
    with conn.transaction():
        with conn.cursor() as cur:
            cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{STATE_SCHEMA}.range_checkpoint",))
            if cur.fetchone()[0]:  # type: ignore[index]
                return
            cur.execute("SELECT pg_advisory_xact_lock(%s, 0)", (LOCK_NAMESPACE,))
            cur.execute(_DDL)


def load_ranges(conn: psycopg.Connection[Any], source_id: str) -> dict[TableName, list[KeyRange]]:
    """Every split table's ranges from this source, in one round trip ({} before the first split run)."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{STATE_SCHEMA}.range_checkpoint",))
        if not cur.fetchone()[0]:  # type: ignore[index]
            return {}
        cur.execute(sql.SQL("SELECT schema_name, table_name, {} FROM {} WHERE source_id = %s"
                            " ORDER BY schema_name, table_name, range_no").format(_COLUMNS, RANGE_CHECKPOINT),
                    (source_id,))
        rows = cur.fetchall()
    result: dict[TableName, list[KeyRange]] = {}
    for schema, table, number, fingerprint, lower, upper, last, done_rows, ins, upd, same, fast, done in rows:
        result.setdefault(TableName(schema, table), []).append(KeyRange(
            number=number, fingerprint=fingerprint, lower=lower, upper=upper, last_key=last, rows_done=done_rows,
            counts=RowCounts(ins, upd, same), fast_path=fast, done=done))
    return result


def save_range(conn: psycopg.Connection[Any], table: TableName, source_id: str, key_range: KeyRange) -> None:
    """Record a range's progress; call inside the transaction of the batch it describes."""
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("""INSERT INTO {} AS r (schema_name, table_name, source_id, range_no, fingerprint, lower_key,
                    upper_key, last_key, rows_done, inserted, updated, unchanged, fast_path, done)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (schema_name, table_name, source_id, range_no) DO UPDATE SET
                    fingerprint = EXCLUDED.fingerprint, lower_key = EXCLUDED.lower_key,
                    upper_key = EXCLUDED.upper_key, last_key = EXCLUDED.last_key, rows_done = EXCLUDED.rows_done,
                    inserted = EXCLUDED.inserted, updated = EXCLUDED.updated, unchanged = EXCLUDED.unchanged,
                    fast_path = EXCLUDED.fast_path, done = EXCLUDED.done, updated_at = now()""").format(
                RANGE_CHECKPOINT),
            (table.schema, table.name, source_id, key_range.number, key_range.fingerprint, key_range.lower,
             key_range.upper, key_range.last_key, key_range.rows_done, key_range.counts.inserted,
             key_range.counts.updated, key_range.counts.unchanged, key_range.fast_path, key_range.done))


def save_ranges(conn: psycopg.Connection[Any], table: TableName, source_id: str, ranges: list[KeyRange]) -> None:
    """A table's fresh ranges, replacing any of another shape; one transaction, so a split is
    recorded whole or not at all."""
    with conn.transaction():
        clear_ranges(conn, table, source_id)
        with conn.cursor() as cur:
            cur.executemany(
                sql.SQL("""INSERT INTO {} (schema_name, table_name, source_id, range_no, fingerprint, lower_key,
                        upper_key, fast_path) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""").format(RANGE_CHECKPOINT),
                [(table.schema, table.name, source_id, r.number, r.fingerprint, r.lower, r.upper, r.fast_path)
                 for r in ranges])


def clear_ranges(conn: psycopg.Connection[Any], table: TableName, source_id: str) -> None:
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DELETE FROM {} WHERE schema_name = %s AND table_name = %s AND source_id = %s").format(
            RANGE_CHECKPOINT), (table.schema, table.name, source_id))
