"""Ways to prove what a sync did: rows compared as text, per-row checksums, what was rewritten."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from dbconsole.names import TableName, parse_name


def qualified(name: str) -> TableName:
    schema, table = parse_name(name)
    return TableName(schema[0] if schema else "public", table[0])


def key_of(conn: psycopg.Connection[Any], table: TableName) -> list[str]:
    rows = conn.execute(
        """SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
            WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)""",
        (str(table),)).fetchall()
    return [r[0] for r in rows]


def columns_of(conn: psycopg.Connection[Any], table: TableName) -> list[str]:
    rows = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
        "ORDER BY attnum", (str(table),)).fetchall()
    return [r[0] for r in rows]


def rows_by_key(conn: psycopg.Connection[Any], name: str, columns: list[str] | None = None) -> dict[tuple, tuple]:
    """Every row as text (so types compare exactly as PostgreSQL prints them), keyed by primary key."""
    table = qualified(name)
    key = key_of(conn, table)
    cols = columns or columns_of(conn, table)
    query = sql.SQL("SELECT {k}, {c} FROM {t}").format(
        k=sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(k)) for k in key),
        c=sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in cols),
        t=table.ident)
    return {tuple(r[:len(key)]): tuple(r[len(key):]) for r in conn.execute(query).fetchall()}


def all_rows(conn: psycopg.Connection[Any], name: str) -> list[tuple]:
    """Every row as text, sorted: for tables without a key."""
    table = qualified(name)
    return sorted(tuple(r) for r in conn.execute(
        sql.SQL("SELECT t::text FROM {} t").format(table.ident)).fetchall())


def table_checksum(conn: psycopg.Connection[Any], name: str) -> tuple[int, str]:
    """(rows, md5 of every row's md5 in key order): equal checksums, equal tables."""
    table = qualified(name)
    key = key_of(conn, table)
    order = sql.SQL(", ").join(sql.Identifier(k) for k in key) if key else sql.SQL("t::text")
    count, digest = conn.execute(sql.SQL("SELECT count(*), md5(coalesce(string_agg(md5(t::text), '' ORDER BY {o}), '')) "
                                         "FROM {t} t").format(o=order, t=table.ident)).fetchone()
    return count, digest


def shared_columns(a: psycopg.Connection[Any], b: psycopg.Connection[Any], name: str) -> list[str]:
    table = qualified(name)
    generated = {r[0] for r in b.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attgenerated <> ''", (str(table),))}
    other = set(columns_of(b, table))
    return [c for c in columns_of(a, table) if c in other and c not in generated]


def current_xid(conn: psycopg.Connection[Any]) -> int:
    return int(conn.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()[0])


def rows_written_since(conn: psycopg.Connection[Any], name: str, xid: int) -> int:
    """Rows whose current version was written by a transaction after ``xid`` (32-bit compare is
    fine in a fresh test cluster)."""
    table = qualified(name)
    return conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE xmin::text::bigint > %s").format(table.ident),
                        ((xid & 0xFFFFFFFF),)).fetchone()[0]


def assert_target_holds_source(dbs: Any, tables: list[str]) -> None:
    """Every source row is on the target, identical in every shared column."""
    with dbs.server_admin() as server, dbs.local_admin() as local:
        for table in tables:
            columns = shared_columns(server, local, table)
            source, target = rows_by_key(server, table, columns), rows_by_key(local, table, columns)
            missing = [k for k in source if k not in target]
            differing = [k for k in source if k in target and target[k] != source[k]]
            assert not missing and not differing, (table, missing[:3], differing[:3])
