"""``dbconsole diff`` with a SQLite side: counts, and content by key, compared in Python.

SQLite cannot compute the checksums the PostgreSQL diff asks each server for, so both sides'
rows come to Python: each SQLite row is converted to the PostgreSQL column's type exactly as a
sync would write it (masks included, :mod:`.convert`), then the rows of both sides are rendered
one canonical way (:func:`_canonical`) and hashed, by key. The SQLite side's ``{key: hash}`` is
held in memory (about 100 bytes a row; SQLite files are rarely large), the PostgreSQL side is
streamed through a server-side cursor in a read-only session. Tables without a key both sides
have get counts only, said in the table's notes.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

from dbconsole.catalog import Table, read_catalog
from dbconsole.config import Profile, SyncSettings
from dbconsole.connect import connect, describe_pg_error
from dbconsole.diff.model import DiffReport, RowDifference, TableDiff
from dbconsole.names import TableName, select_tables
from dbconsole.sqlite import convert
from dbconsole.sqlite.sides import refuse_two_files
from dbconsole.sqlite.source import open_sqlite, select_all
from dbconsole.sqlite.source import read_catalog as read_sqlite_catalog
from dbconsole.sync.column_types import base_type

ROWS_PER_FETCH = 10_000  # rows per round trip of the PostgreSQL side's server-side cursor



def diff_with_sqlite(left: Profile, right: Profile, *, tables: Sequence[str] = (), row_limit: int | None = 100,
                     settings: SyncSettings | None = None, cancel: threading.Event | None = None) -> DiffReport:
    """``dbconsole diff`` with a SQLite side: counts, and content by key (module docstring)."""
    refuse_two_files(left, right)
    started = time.monotonic()
    settings = settings or SyncSettings()
    sqlite_profile, pg_profile = (left, right) if left.is_sqlite else (right, left)
    report = DiffReport(left=left.name, right=right.name)
    file = open_sqlite(sqlite_profile)
    try:
        file.execute("BEGIN")  # one read snapshot of the file
        lite_tables = {t.qualified: t for t in read_sqlite_catalog(file)}
        with connect(pg_profile, read_only=True, purpose="diff") as pg:
            pg_tables = {t.qualified: t for t in read_catalog(pg)}
            every = sorted(set(lite_tables) | set(pg_tables))
            for name in select_tables(list(tables), every):
                if cancel is not None and cancel.is_set():
                    report.cancelled = True
                    break
                lite, other = lite_tables.get(name), pg_tables.get(name)
                result = _diff_table(file, pg, name, lite, other, settings, row_limit, sqlite_left=left.is_sqlite)
                report.tables.append(result)
    finally:
        file.close()
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _diff_table(file: sqlite3.Connection, pg: psycopg.Connection[Any], name: TableName, lite: Table | None,
                other: Table | None, settings: SyncSettings, row_limit: int | None, *, sqlite_left: bool) -> TableDiff:
    began = time.monotonic()
    if lite is None or other is None:
        status = "only_left" if (lite is not None) == sqlite_left else "only_right"
        return TableDiff(str(name), status=status)  # type: ignore[arg-type]
    shared = [c.name for c in other.columns if not c.generated and lite.column(c.name) is not None]
    key = other.primary_key or next(iter(other.unique_keys), None)
    if key is None or not set(key) <= set(shared):
        pg_count = _pg_count(pg, name)
        note = f"counts only (no key both sides have): {lite.estimated_rows:,} rows in SQLite, {pg_count:,} in PostgreSQL"
        return TableDiff(str(name), status="no_key", notes=[note], seconds=time.monotonic() - began)
    rules = settings.tables.get(str(name)) or settings.tables.get(name.name)
    masks = dict(rules.mask) if rules else {}
    key_at = [shared.index(k) for k in key]
    try:
        lite_rows = _sqlite_hashes(file, name.name, shared, [other.column(c).type for c in shared],  # type: ignore[union-attr]
                                   masks, key_at, key)
    except _Unreadable as exc:
        return TableDiff(str(name), status="error", key=tuple(key), error=str(exc), seconds=time.monotonic() - began)
    result = TableDiff(str(name), key=tuple(key))
    differing: list[RowDifference] = []
    left_kind, right_kind = ("only_left", "only_right") if sqlite_left else ("only_right", "only_left")
    compared = 0
    try:
        with pg.transaction(force_rollback=True), pg.cursor(name="dbconsole_sqlite_diff") as cur:
            cur.itersize = ROWS_PER_FETCH
            cur.execute(_pg_select(name, shared))
            types = [other.column(c).type for c in shared]  # type: ignore[union-attr]
            for row in cur:
                compared += 1
                row_key = tuple(_canonical(row[i], types[i]) for i in key_at)
                digest = _row_hash(row, types)
                mine = lite_rows.pop(row_key, None)
                if mine is None:
                    kind = right_kind
                elif mine[0] != digest:
                    kind = "changed"
                else:
                    continue
                _count(result, kind)
                if row_limit is None or len(differing) < row_limit:
                    differing.append(RowDifference({k: row[i] for k, i in zip(key, key_at, strict=True)}, kind))  # type: ignore[arg-type]
    except psycopg.Error as exc:
        return TableDiff(str(name), status="error", key=tuple(key), error=describe_pg_error(exc))
    for _, raw_key in lite_rows.values():
        _count(result, left_kind)
        if row_limit is None or len(differing) < row_limit:
            differing.append(RowDifference(dict(zip(key, raw_key, strict=True)), left_kind))  # type: ignore[arg-type]
    result.rows = differing
    result.rows_compared = compared
    result.status = "differ" if result.differences else "same"
    result.notes.append(f"{lite.estimated_rows:,} rows in SQLite, {compared:,} in PostgreSQL; "
                        "compared in Python after converting SQLite's values to the PostgreSQL types")
    result.seconds = time.monotonic() - began
    return result


class _Unreadable(ValueError):
    """A SQLite value the PostgreSQL column's type cannot take: the table's diff is an error."""


def _count(result: TableDiff, kind: str) -> None:
    if kind == "changed":
        result.changed += 1
    elif kind == "only_left":
        result.only_left += 1
    else:
        result.only_right += 1


def _pg_count(pg: psycopg.Connection[Any], name: TableName) -> int:
    with pg.transaction(force_rollback=True), pg.cursor() as cur:
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(name.ident))
        return int(cur.fetchone()[0])  # type: ignore[index]


def _pg_select(name: TableName, columns: list[str]) -> Any:
    return sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(map(sql.Identifier, columns)), name.ident)


def _sqlite_hashes(file: sqlite3.Connection, table: str, columns: list[str], types: list[str],
                   masks: dict[str, str], key_at: list[int], key: Sequence[str]) -> dict[tuple[str, ...], tuple[bytes, tuple[Any, ...]]]:
    """``{canonical key: (row hash, key as converted)}`` of every SQLite row, converted as a sync would."""
    convert_row = convert.row_converter(types, [masks.get(c) for c in columns])
    statement = select_all(table, columns)
    out: dict[tuple[str, ...], tuple[bytes, tuple[Any, ...]]] = {}
    for raw in file.execute(statement):
        try:
            values = convert_row(raw)
        except convert.ColumnUnconvertible as exc:
            shown = ", ".join(str(raw[i]) for i in key_at)
            raise _Unreadable(f"key ({', '.join(key)})=({shown}), column {columns[exc.index]} "
                              f"({types[exc.index]}): {exc}") from None
        row_key = tuple(_canonical(values[i], types[i]) for i in key_at)
        out[row_key] = (_row_hash(values, types), tuple(values[i] for i in key_at))
    return out


def _row_hash(values: Sequence[Any], types: Sequence[str]) -> bytes:
    text = "\x1f".join(_canonical(v, t) for v, t in zip(values, types, strict=True))
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _canonical(value: Any, pg_type: str) -> str:
    """One text per value, whichever side it came from (psycopg's Python values, or converted SQLite ones)."""
    if value is None:
        return "\x00"
    base = base_type(pg_type)
    if base in ("json", "jsonb"):
        parsed = json.loads(value) if isinstance(value, str) else value
        return json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, Decimal):
        return str(value.normalize()) if value else "0"
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return str(value)
