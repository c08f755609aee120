"""A SQLite file opened read-only, and what it holds as :class:`~dbconsole.catalog.Table` values.

Why the same ``Table`` values as PostgreSQL's catalog: compare, schema and the sync's
selection and ordering then work on a SQLite side unchanged. SQLite has no schemas, so its
tables are named ``public.<table>`` to line up with the tables a Django ``migrate`` creates on
PostgreSQL. Its catalog is read with the pragma table functions, one query per question
(columns, foreign keys, unique indexes) whatever the number of tables; counts are exact
(``count(*)`` on a local file is cheap, and SQLite keeps no estimates).

Statements for SQLite cannot use psycopg.sql; identifiers go through :func:`quote_ident`
(double quotes, embedded quotes doubled) and values are always ``?`` parameters.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dbconsole.catalog import Column, ForeignKey, Table
from dbconsole.config import Profile
from dbconsole.errors import ConnectError
from dbconsole.names import TableName
from dbconsole.sqlite import SQLITE_SCHEMA, sqlite_path

_TABLES = ("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
           "ORDER BY name")
_COLUMNS = ("SELECT m.name, c.cid, c.name, c.type, c.\"notnull\", c.dflt_value, c.pk, c.hidden "
            "FROM sqlite_master m, pragma_table_xinfo(m.name) c "
            "WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY m.name, c.cid")
_FOREIGN_KEYS = ("SELECT m.name, f.id, f.seq, f.\"table\", f.\"from\", f.\"to\", f.on_delete "
                 "FROM sqlite_master m, pragma_foreign_key_list(m.name) f "
                 "WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY m.name, f.id, f.seq")
_UNIQUE = ("SELECT m.name, i.name, ii.seqno, ii.name FROM sqlite_master m, pragma_index_list(m.name) i, "
           "pragma_index_info(i.name) ii WHERE m.type = 'table' AND i.\"unique\" AND i.partial = 0 "
           "AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY m.name, i.name, ii.seqno")
_ON_DELETE = {"NO ACTION": "a", "RESTRICT": "r", "CASCADE": "c", "SET NULL": "n", "SET DEFAULT": "d"}


def quote_ident(name: str) -> str:
    """A SQLite identifier, quoted so any name (spaces, quotes, keywords) is taken literally."""
    return '"' + name.replace('"', '""') + '"'


def open_sqlite(profile: Profile) -> sqlite3.Connection:
    """The profile's file, read-only (``mode=ro``): a missing file is an error, never created."""
    path = sqlite_path(profile.url).resolve()
    if not path.is_file():
        raise ConnectError(f"{profile.name}: no SQLite database at {path}", transient=False)
    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, check_same_thread=False)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # proves it is a SQLite file
    except sqlite3.Error as exc:
        raise ConnectError(f"{profile.name}: {path} cannot be read as SQLite ({exc})", transient=False) from None
    return conn


@contextlib.contextmanager
def sqlite_session(profile: Profile) -> Iterator[sqlite3.Connection]:
    """A read-only connection whose reads share one snapshot until it is closed (``BEGIN``)."""
    conn = open_sqlite(profile)
    try:
        conn.execute("BEGIN")  # a deferred read transaction: every later read sees the same file state
        yield conn
    finally:
        conn.close()


def source_identity(profile: Profile) -> str:
    """Which file the rows come from: checkpoints and history are kept per source."""
    return f"sqlite:{sqlite_path(profile.url).resolve()}"


def file_path(profile: Profile) -> Path:
    return sqlite_path(profile.url).resolve()


def read_catalog(conn: sqlite3.Connection, *, counts: bool = True) -> list[Table]:
    """Every user table with its columns, primary key, unique keys, foreign keys and exact count."""
    columns: dict[str, list[Column]] = {}
    primary: dict[str, list[tuple[int, str]]] = {}
    for table, _cid, name, declared, not_null, default, pk, hidden in conn.execute(_COLUMNS):
        generated = hidden in (2, 3)
        columns.setdefault(table, []).append(Column(
            name=name, type=(declared or "").lower(), type_oid=0, not_null=bool(not_null) or pk > 0 and _is_rowid(declared),
            has_default=default is not None, generated=generated, identity="", builtin_type=False))
        if pk:
            primary.setdefault(table, []).append((pk, name))
    fks: dict[str, dict[int, list[Any]]] = {}
    for table, fk_id, _seq, parent, source_col, parent_col, on_delete in conn.execute(_FOREIGN_KEYS):
        fks.setdefault(table, {}).setdefault(fk_id, []).append((parent, source_col, parent_col, on_delete))
    uniques: dict[str, dict[str, list[str]]] = {}
    for table, index, _seqno, column in conn.execute(_UNIQUE):
        if column is not None:  # an expression index names no column
            uniques.setdefault(table, {}).setdefault(index, []).append(column)
    names = [row[0] for row in conn.execute(_TABLES)]
    result = []
    for name in names:
        pk = tuple(c for _, c in sorted(primary.get(name, [])))
        keys = {tuple(cols) for cols in uniques.get(name, {}).values()}
        result.append(Table(
            schema=SQLITE_SCHEMA, name=name, kind="r",
            estimated_rows=count_rows(conn, name) if counts else None, size_bytes=0,
            columns=tuple(columns.get(name, ())), primary_key=pk or None,
            unique_keys=tuple(sorted(k for k in keys if k != pk)),
            foreign_keys=tuple(_foreign_key(name, fk_id, parts, primary) for fk_id, parts in sorted(fks.get(name, {}).items())),
        ))
    return result


def _is_rowid(declared: str | None) -> bool:
    """``INTEGER PRIMARY KEY`` is the rowid: never NULL, whatever the declaration says."""
    return (declared or "").strip().upper() == "INTEGER"


def _foreign_key(table: str, fk_id: int, parts: list[Any], primary: dict[str, list[tuple[int, str]]]) -> ForeignKey:
    parent = parts[0][0]
    parent_pk = [c for _, c in sorted(primary.get(parent, []))]
    parent_columns = tuple(p[2] if p[2] is not None else (parent_pk[i] if i < len(parent_pk) else "rowid")
                           for i, p in enumerate(parts))
    return ForeignKey(name=f"{table}_fk_{fk_id}", columns=tuple(p[1] for p in parts),
                      parent=TableName(SQLITE_SCHEMA, parent), parent_columns=parent_columns,
                      deferrable=False, on_delete=_ON_DELETE.get(str(parts[0][3]).upper(), "a"))


def count_rows(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(count_statement(table)).fetchone()[0])


def count_statement(table: str) -> str:
    return "SELECT count(*) FROM " + quote_ident(table)


def select_all(table: str, columns: Sequence[str]) -> str:
    """Every row of ``table`` (no order: the diff matches rows by key)."""
    return "SELECT " + ", ".join(quote_ident(c) for c in columns) + " FROM " + quote_ident(table)


def first_rows(table: str, key: Sequence[str]) -> str:
    """Every column of the first ``?`` rows of ``table``, in key order when it has one."""
    order = " ORDER BY " + ", ".join(quote_ident(c) for c in key) if key else ""
    return "SELECT * FROM " + quote_ident(table) + order + " LIMIT ?"


def keyset_select(table: str, columns: Sequence[str], key: Sequence[str], *, after: bool, limit: int) -> str:
    """The next ``limit`` rows in key order, after a key (row values, ``?`` parameters) or from the start."""
    cols = ", ".join(quote_ident(c) for c in columns)
    keys = ", ".join(quote_ident(c) for c in key)
    where = ""
    if after:
        where = " WHERE (" + keys + ") > (" + ", ".join("?" for _ in key) + ")"
    return "SELECT " + cols + " FROM " + quote_ident(table) + where + " ORDER BY " + keys + " LIMIT " + str(int(limit))
