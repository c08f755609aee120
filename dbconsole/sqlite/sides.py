"""``tables``, ``schema`` and ``diff`` when one side is a SQLite file and the other PostgreSQL.

Why not the PostgreSQL code paths: they ask both servers the same SQL (catalog queries,
checksums computed on each server). SQLite cannot answer those, so here the SQLite side is
read in Python and the results are the same values the faces already render
(:class:`~dbconsole.compare.TableComparison`, a :class:`~dbconsole.schema.run.SchemaReport`;
the diff's :class:`~dbconsole.diff.model.DiffReport` in :mod:`.content`).

* ``tables``: counts are exact on the SQLite side (a local file; SQLite keeps no estimates).
* ``schema``: tables, columns, nullability, keys and foreign keys by name; a column type is a
  difference only when its value cannot load (SQLite declares loose types: ``bool`` and
  ``datetime`` are NUMERIC affinity, and load into boolean and timestamptz); Django's
  ``django_migrations`` is read on both sides and compared.
* ``diff``: in :mod:`.content`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from dbconsole.catalog import CountResult, Table, iter_exact_counts, read_catalog
from dbconsole.compare import TableComparison, compare_tables
from dbconsole.config import Profile
from dbconsole.connect import connect
from dbconsole.errors import UsageError
from dbconsole.names import TableName, select_tables
from dbconsole.schema.compare import Difference, SchemaDiff
from dbconsole.schema.migrations import MigrationHistory, compare_migrations
from dbconsole.schema.model import Schema
from dbconsole.schema.run import SchemaReport, SideSchema, read_side
from dbconsole.sqlite import SQLITE_SCHEMA
from dbconsole.sqlite.source import open_sqlite
from dbconsole.sqlite.source import read_catalog as read_sqlite_catalog
from dbconsole.sync.column_types import base_type

def involves_sqlite(*profiles: Profile) -> bool:
    return any(p.is_sqlite for p in profiles)


def refuse_two_files(left: Profile, right: Profile) -> None:
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
    refuse_two_files(left, right)
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
    refuse_two_files(left, right)
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
