"""``tables``, ``schema`` and ``diff`` when one side is a SQLite file and the other PostgreSQL.

Why not the PostgreSQL code paths: they ask both servers the same SQL (catalog queries,
checksums computed on each server). SQLite cannot answer those, so here the SQLite side is
read in Python and the results are the same values the faces already render
(:class:`~dbconsole.compare.TableComparison`, a :class:`~dbconsole.schema.run.SchemaReport`,
a :class:`~dbconsole.diff.model.DiffReport`).

* ``tables``: counts are exact on the SQLite side (a local file; SQLite keeps no estimates).
* ``schema``: tables, columns, nullability, keys and foreign keys by name; a column type is a
  difference only when its value cannot load (SQLite declares loose types: ``bool`` and
  ``datetime`` are NUMERIC affinity, and load into boolean and timestamptz); Django's
  ``django_migrations`` is read on both sides and compared.
* ``diff``: counts, and the content of every table with a key: each SQLite row is converted to
  the PostgreSQL column's type exactly as a sync would write it (masks included), then both
  sides' rows are rendered one canonical way and hashed in Python, by key. The SQLite side's
  ``{key: hash}`` is held in memory (about 100 bytes a row); the PostgreSQL side is streamed.
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

from dbconsole.catalog import CountResult, Table, iter_exact_counts, read_catalog
from dbconsole.compare import TableComparison, compare_tables
from dbconsole.config import Profile, SyncSettings
from dbconsole.connect import connect, describe_pg_error
from dbconsole.diff.model import DiffReport, RowDifference, TableDiff
from dbconsole.errors import UsageError
from dbconsole.names import TableName, select_tables
from dbconsole.schema.compare import Difference, SchemaDiff
from dbconsole.schema.migrations import MigrationHistory, compare_migrations
from dbconsole.schema.model import Schema
from dbconsole.schema.run import SchemaReport, SideSchema, read_side
from dbconsole.sqlite import SQLITE_SCHEMA
from dbconsole.sqlite import convert
from dbconsole.sqlite.source import open_sqlite, select_all
from dbconsole.sqlite.source import read_catalog as read_sqlite_catalog
from dbconsole.sync.column_types import base_type

SAMPLE_ROWS_FETCH = 10_000  # rows per round trip of the PostgreSQL side's server-side cursor


def involves_sqlite(*profiles: Profile) -> bool:
    return any(p.is_sqlite for p in profiles)


def _refuse_two_files(left: Profile, right: Profile) -> None:
    if left.is_sqlite and right.is_sqlite:
        raise UsageError("both sides are SQLite files: dbconsole compares a SQLite file with PostgreSQL")


def _catalog(profile: Profile, *, purpose: Any) -> tuple[list[Table], Any]:
    """(tables, exact counts or None) of one side, SQLite or PostgreSQL."""
    if profile.is_sqlite:
        conn = open_sqlite(profile)
        try:
            tables = read_sqlite_catalog(conn)
        finally:
            conn.close()
        return tables, {t.qualified: CountResult(t.qualified, t.estimated_rows) for t in tables}
    with connect(profile, read_only=True, purpose=purpose) as conn:
        return read_catalog(conn), None


# --------------------------------------------------------------------------- tables


def compare_with_sqlite(left: Profile, right: Profile, *, asked_exact: bool, timeout_ms: int,
                        wanted: Sequence[str] = (), excluded: Sequence[str] = ()) -> list[TableComparison]:
    """``dbconsole tables`` with a SQLite side: its counts exact, the PostgreSQL side's as asked."""
    _refuse_two_files(left, right)
    (left_tables, left_counts), (right_tables, right_counts) = (_catalog(p, purpose="tables") for p in (left, right))
    every = sorted({t.qualified for t in left_tables} | {t.qualified for t in right_tables})
    chosen = set(select_tables(list(wanted), every, exclude=list(excluded)))
    if asked_exact or any(p.live_exact_counts for p in (left, right)):
        pg_profile = right if left.is_sqlite else left
        pg_tables = right_tables if left.is_sqlite else left_tables
        with connect(pg_profile, read_only=True, purpose="counts") as conn:
            names = [t.qualified for t in pg_tables if t.qualified in chosen]
            exact = {r.table: r for r in iter_exact_counts(conn, names, timeout_ms=timeout_ms)}
        if left.is_sqlite:
            right_counts = exact
        else:
            left_counts = exact
    rows = compare_tables(left_tables, right_tables, left_counts=left_counts, right_counts=right_counts)
    return [r for r in rows if r.name in chosen]


# --------------------------------------------------------------------------- schema


def schema_with_sqlite(left: Profile, right: Profile, *, tables: Sequence[str] = (),
                       exclude: Sequence[str] = ()) -> SchemaReport:
    """``dbconsole schema`` with a SQLite side (see the module docstring for what is compared)."""
    _refuse_two_files(left, right)
    sides: list[tuple[list[Table], SideSchema]] = []
    for profile in (left, right):
        if profile.is_sqlite:
            conn = open_sqlite(profile)
            try:
                sides.append((read_sqlite_catalog(conn, counts=False),
                              SideSchema(Schema(version_num=0, schemas=()), _django_migrations(conn))))
            finally:
                conn.close()
        else:
            with connect(profile, read_only=True, purpose="schema") as pg:
                catalog = read_catalog(pg)
                pg.rollback()
                sides.append((catalog, read_side(pg)))
    (left_tables, left_side), (right_tables, right_side) = sides
    every = sorted({t.qualified for t in left_tables} | {t.qualified for t in right_tables})
    chosen = set(select_tables(list(tables), every, exclude=list(exclude))) if tables or exclude else set(every)
    diff = SchemaDiff()
    left_by, right_by = {t.qualified: t for t in left_tables}, {t.qualified: t for t in right_tables}
    for name in sorted(chosen):
        found = _table_differences(left_by.get(name), right_by.get(name), sqlite_left=left.is_sqlite)
        if found:
            diff.tables[name] = found
    return SchemaReport(left_side, right_side, diff,
                        compare_migrations(left_side.migrations, right_side.migrations, left.name, right.name))


def _table_differences(left: Table | None, right: Table | None, *, sqlite_left: bool) -> list[Difference]:
    if left is None or right is None:
        name = str((left or right).qualified)  # type: ignore[union-attr]
        return [Difference("table", name, "table" if left else None, "table" if right else None)]
    found: list[Difference] = []
    left_cols, right_cols = {c.name: c for c in left.columns}, {c.name: c for c in right.columns}
    for name in list(left_cols) + [n for n in right_cols if n not in left_cols]:
        lc, rc = left_cols.get(name), right_cols.get(name)
        if lc is None or rc is None:
            found.append(Difference("column", name, lc and (lc.type or "untyped"), rc and (rc.type or "untyped")))
            continue
        sqlite_col, pg_col = (lc, rc) if sqlite_left else (rc, lc)
        if not loads_into(sqlite_col.type, pg_col.type):
            found.append(Difference("type", name, lc.type, rc.type))
        if lc.not_null != rc.not_null:
            found.append(Difference("nullable", name, not lc.not_null, not rc.not_null))
    if tuple(left.primary_key or ()) != tuple(right.primary_key or ()):
        found.append(Difference("primary_key", "primary key", list(left.primary_key or ()) or None,
                                list(right.primary_key or ()) or None))
    for kind, lvals, rvals in (("unique", _uniques(left), _uniques(right)),
                               ("foreign_key", _references(left), _references(right))):
        for text in sorted(lvals ^ rvals):
            found.append(Difference(kind, text, text if text in lvals else None,  # type: ignore[arg-type]
                                    text if text in rvals else None))
    return found


def _uniques(table: Table) -> set[str]:
    return {"(" + ", ".join(k) + ")" for k in table.unique_keys}


def _references(table: Table) -> set[str]:
    return {f"({', '.join(fk.columns)}) -> {fk.parent}({', '.join(fk.parent_columns)})" for fk in table.foreign_keys}


def sqlite_affinity(declared: str) -> str:
    """SQLite's column affinity rules (section 3.1 of its datatype page), in order."""
    text = declared.upper()
    if "INT" in text:
        return "INTEGER"
    if any(word in text for word in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in text or not text:
        return "BLOB"
    if any(word in text for word in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def loads_into(sqlite_type: str, pg_type: str) -> bool:
    """Whether values declared ``sqlite_type`` can load into ``pg_type`` at all (row values may
    still fail, each said by the sync): bytes go only into bytea, bytea takes only bytes."""
    blob = sqlite_affinity(sqlite_type) == "BLOB" and bool(sqlite_type)
    return blob == (base_type(pg_type) == "bytea")


def _django_migrations(conn: sqlite3.Connection) -> MigrationHistory | None:
    """Django's history on the SQLite side, in the form the PostgreSQL side's is read."""
    table = TableName(SQLITE_SCHEMA, "django_migrations")
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'django_migrations'").fetchone()
    if not exists:
        return None
    applied = tuple(r[0] for r in conn.execute("SELECT app || '.' || name FROM django_migrations ORDER BY id"))
    return MigrationHistory("django", table, applied[-1] if applied else None, applied)


# --------------------------------------------------------------------------- diff


def diff_with_sqlite(left: Profile, right: Profile, *, tables: Sequence[str] = (), row_limit: int | None = 100,
                     settings: SyncSettings | None = None, cancel: threading.Event | None = None) -> DiffReport:
    """``dbconsole diff`` with a SQLite side: counts, and content by key (module docstring)."""
    _refuse_two_files(left, right)
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
    except convert.Unconvertible as exc:
        return TableDiff(str(name), status="error", key=tuple(key), error=str(exc), seconds=time.monotonic() - began)
    result = TableDiff(str(name), key=tuple(key))
    differing: list[RowDifference] = []
    left_kind, right_kind = ("only_left", "only_right") if sqlite_left else ("only_right", "only_left")
    compared = 0
    try:
        with pg.transaction(force_rollback=True), pg.cursor(name="dbconsole_sqlite_diff") as cur:
            cur.itersize = SAMPLE_ROWS_FETCH
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


def _count(result: TableDiff, kind: str) -> None:
    if kind == "changed":
        result.changed += 1
    elif kind == "only_left":
        result.only_left += 1
    else:
        result.only_right += 1


def _pg_count(pg: psycopg.Connection[Any], name: TableName) -> int:
    from psycopg import sql

    with pg.transaction(force_rollback=True), pg.cursor() as cur:
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(name.ident))
        return int(cur.fetchone()[0])  # type: ignore[index]


def _pg_select(name: TableName, columns: list[str]) -> Any:
    from psycopg import sql

    return sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(map(sql.Identifier, columns)), name.ident)


def _sqlite_hashes(file: sqlite3.Connection, table: str, columns: list[str], types: list[str],
                   masks: dict[str, str], key_at: list[int], key: Sequence[str]) -> dict[tuple[str, ...], tuple[bytes, tuple[Any, ...]]]:
    """``{canonical key: (row hash, key as converted)}`` of every SQLite row, converted as a sync would."""
    converters = [convert.converter_for(t) for t in types]
    rules = [masks.get(c) for c in columns]
    statement = select_all(table, columns)
    out: dict[tuple[str, ...], tuple[bytes, tuple[Any, ...]]] = {}
    for raw in file.execute(statement):
        values = []
        for value, converter, rule in zip(raw, converters, rules, strict=True):
            if rule is not None:
                value = convert.mask_value(value, rule)
            values.append(None if value is None else converter(value))
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
