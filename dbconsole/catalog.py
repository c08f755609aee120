"""What a database holds: tables, their columns, keys, foreign keys, row estimates and sizes.

Over an SSH tunnel every round trip costs tens of milliseconds, so each question is one query,
whatever the number of tables: :func:`read_catalog` returns every user table with its columns,
keys, foreign keys, owned sequences, estimated rows and size in a single statement (the
per-table details arrive as JSON built by the server). Exact counts are a separate, explicit
question (:func:`exact_counts`, :func:`exact_count`) because ``count(*)`` reads whole tables;
they run under a statement timeout.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from dbconsole.names import TableName

# Schemas that are never user data: PostgreSQL's own and dbconsole's state.
STATE_SCHEMA = "_dbconsole"
HIDDEN_SCHEMAS = ("pg_catalog", "information_schema", STATE_SCHEMA)
COUNT_CHUNK = 100
BLOCK_SIZE = 8192  # PostgreSQL's default page size; only used to scale estimates


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # format_type(): "numeric(12,4)", "text[]", "timestamp with time zone"
    type_oid: int
    not_null: bool
    has_default: bool
    generated: bool  # GENERATED ALWAYS AS (...) STORED: never written by us
    identity: str  # "" | "a" (ALWAYS) | "d" (BY DEFAULT)
    builtin_type: bool  # same OID on every server, so binary COPY is safe

    @property
    def identity_always(self) -> bool:
        return self.identity == "a"


@dataclass(frozen=True)
class ForeignKey:
    name: str
    columns: tuple[str, ...]
    parent: TableName
    parent_columns: tuple[str, ...]
    deferrable: bool


@dataclass(frozen=True)
class Table:
    """One table with everything a compare or a sync needs to know about it."""

    schema: str
    name: str
    kind: str  # "r" table, "p" partitioned table
    estimated_rows: int | None  # None: never analyzed and not empty, so unknown
    size_bytes: int
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] | None
    unique_keys: tuple[tuple[str, ...], ...]
    foreign_keys: tuple[ForeignKey, ...]
    sequences: dict[str, str] = field(default_factory=dict)  # column -> regclass text of its sequence

    @property
    def qualified(self) -> TableName:
        return TableName(self.schema, self.name)

    def __str__(self) -> str:
        return str(self.qualified)

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def key(self) -> tuple[str, ...] | None:
        """Columns that identify a row: the primary key, else a unique key of NOT NULL columns."""
        if self.primary_key:
            return self.primary_key
        by_name = {c.name: c for c in self.columns}
        for unique in self.unique_keys:
            if all(by_name[c].not_null for c in unique if c in by_name):
                return unique
        return None


_CATALOG_SQL = """
SELECT n.nspname, c.relname, c.relkind, c.reltuples::float8, c.relpages,
       pg_total_relation_size(c.oid), pg_relation_size(c.oid),
       s.n_live_tup, (s.n_tup_ins + s.n_tup_upd + s.n_tup_del + s.n_live_tup + s.n_dead_tup) > 0,
       (SELECT json_agg(json_build_object(
                 'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
                 'type_oid', a.atttypid, 'not_null', a.attnotnull, 'has_default', a.atthasdef,
                 'generated', a.attgenerated <> '', 'identity', a.attidentity,
                 'builtin', a.atttypid < 16384 AND (t.typelem = 0 OR t.typelem < 16384))
               ORDER BY a.attnum)
          FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
       (SELECT json_agg(json_build_object(
                 'name', con.conname, 'type', con.contype, 'deferrable', con.condeferrable,
                 'columns', (SELECT json_agg(a.attname ORDER BY k.ord)
                               FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
                               JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum),
                 'ref_schema', rn.nspname, 'ref_table', rc.relname,
                 'ref_columns', (SELECT json_agg(a.attname ORDER BY k.ord)
                                   FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
                                   JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum))
               ORDER BY con.conname)
          FROM pg_constraint con
          LEFT JOIN pg_class rc ON rc.oid = con.confrelid
          LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
         WHERE con.conrelid = c.oid AND con.contype IN ('p', 'u', 'f')),
       (SELECT json_agg((SELECT json_agg(a.attname ORDER BY k.ord)
                           FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
                           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum))
          FROM pg_index i
         WHERE i.indrelid = c.oid AND i.indisunique AND NOT i.indisprimary AND i.indisvalid
           AND i.indpred IS NULL AND i.indexprs IS NULL
           AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid)),
       (SELECT json_object_agg(a.attname, d.objid::regclass::text)
          FROM pg_depend d
          JOIN pg_class sc ON sc.oid = d.objid AND sc.relkind = 'S'
          JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
         WHERE d.refobjid = c.oid AND d.classid = 'pg_class'::regclass
           AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND n.nspname <> ALL(%(hidden)s) AND n.nspname NOT LIKE 'pg\\_%%'
   AND NOT EXISTS (SELECT 1 FROM pg_depend e
                    WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')
 ORDER BY n.nspname, c.relname
"""


def read_catalog(conn: psycopg.Connection[Any]) -> list[Table]:
    """Every user table, with columns, keys, FKs, sequences, estimated rows and size, in one query."""
    with conn.cursor() as cur:
        cur.execute(_CATALOG_SQL, {"hidden": list(HIDDEN_SCHEMAS)})
        rows = cur.fetchall()
    if not conn.autocommit:
        conn.rollback()
    return [_table_from_row(row) for row in rows]


def _table_from_row(row: Sequence[Any]) -> Table:
    (schema, name, kind, reltuples, relpages, total_size, heap_size, live, has_stats,
     columns, constraints, unique_indexes, sequences) = row
    columns = [_decode(c) for c in (columns or [])]
    constraints = constraints or []
    primary = next((tuple(c["columns"]) for c in constraints if c["type"] == "p"), None)
    uniques = [tuple(c["columns"]) for c in constraints if c["type"] == "u"]
    uniques += [tuple(cols) for cols in (unique_indexes or []) if cols]
    fks = tuple(
        ForeignKey(name=c["name"], columns=tuple(c["columns"]),
                   parent=TableName(c["ref_schema"], c["ref_table"]),
                   parent_columns=tuple(c["ref_columns"]), deferrable=c["deferrable"])
        for c in constraints if c["type"] == "f")
    return Table(
        schema=schema, name=name, kind=kind,
        estimated_rows=estimate_rows(reltuples, relpages, heap_size, live, has_stats, kind),
        size_bytes=int(total_size or 0),
        columns=tuple(Column(name=c["name"], type=c["type"], type_oid=c["type_oid"], not_null=c["not_null"],
                             has_default=c["has_default"], generated=c["generated"], identity=c["identity"],
                             builtin_type=c["builtin"]) for c in columns),
        primary_key=primary, unique_keys=tuple(uniques), foreign_keys=fks,
        sequences=dict(sequences or {}),
    )


def _decode(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def estimate_rows(reltuples: float | None, relpages: int | None, heap_size: int | None,
                  live: int | None, has_stats: bool | None, kind: str = "r") -> int | None:
    """A row estimate that is right for fresh, never-analyzed and growing tables alike.

    Like the planner: the density of the last ANALYZE/VACUUM (``reltuples / relpages``) times
    the heap's *current* number of pages, so a table that grew since is not under-counted.
    Never analyzed (``reltuples`` is -1 since PG 14): the statistics collector's live-tuple
    count. An empty heap is exactly 0 rows; a non-empty heap with neither source is unknown
    (None), not zero.
    """
    pages_now = (heap_size or 0) / BLOCK_SIZE
    if reltuples is not None and reltuples > 0 and relpages:
        return int(round(reltuples / relpages * pages_now))
    if not heap_size and kind == "r":
        return 0
    if has_stats and live is not None:
        return int(live)
    return None


def tables_by_name(tables: Iterable[Table]) -> dict[TableName, Table]:
    return {t.qualified: t for t in tables}


# --------------------------------------------------------------------------- exact counts


@dataclass(frozen=True)
class CountResult:
    table: TableName
    rows: int | None
    error: str | None = None


def exact_count(conn: psycopg.Connection[Any], table: TableName, *, timeout_ms: int = 30_000) -> CountResult:
    """``count(*)`` of one table under a statement timeout; an error is returned, not raised."""
    query = sql.SQL("SELECT count(*) FROM {}").format(table.ident)
    try:
        with conn.transaction():
            with conn.cursor() as cur:
                cur.execute("SELECT set_config('statement_timeout', %s, true)", (str(timeout_ms),))
                cur.execute(query)
                (rows,) = cur.fetchone()  # type: ignore[misc]
        return CountResult(table, int(rows))
    except psycopg.errors.QueryCanceled:
        return CountResult(table, None, f"count timed out after {timeout_ms / 1000:g} s")
    except psycopg.errors.InsufficientPrivilege:
        return CountResult(table, None, "no SELECT privilege")
    except psycopg.errors.UndefinedTable:
        return CountResult(table, None, "table no longer exists")


def exact_counts(conn: psycopg.Connection[Any], tables: Sequence[TableName], *,
                 timeout_ms: int = 30_000) -> dict[TableName, CountResult]:
    """Exact counts for many tables, one round trip per chunk of tables.

    The chunk runs as a single UNION ALL query under the timeout; if it fails (a slow or
    forbidden table), its tables are counted one by one so that only the culprit is marked.
    """
    results: dict[TableName, CountResult] = {}
    for start in range(0, len(tables), COUNT_CHUNK):
        chunk = list(tables[start:start + COUNT_CHUNK])
        query = sql.SQL(" UNION ALL ").join(
            sql.SQL("SELECT {}::int, count(*) FROM {}").format(sql.Literal(i), t.ident)
            for i, t in enumerate(chunk))
        try:
            with conn.transaction():
                with conn.cursor() as cur:
                    cur.execute("SELECT set_config('statement_timeout', %s, true)", (str(timeout_ms),))
                    cur.execute(query)
                    for index, rows in cur.fetchall():
                        results[chunk[index]] = CountResult(chunk[index], int(rows))
        except (psycopg.errors.QueryCanceled, psycopg.errors.InsufficientPrivilege, psycopg.errors.UndefinedTable):
            for table in chunk:
                results[table] = exact_count(conn, table, timeout_ms=timeout_ms)
    return results


def iter_exact_counts(conn: psycopg.Connection[Any], tables: Iterable[TableName], *,
                      timeout_ms: int = 30_000) -> Iterator[CountResult]:
    """Counts one table at a time, for a display that fills in as they arrive."""
    for table in tables:
        yield exact_count(conn, table, timeout_ms=timeout_ms)
