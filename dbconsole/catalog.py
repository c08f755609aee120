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
from typing import Any, Literal

import psycopg
from psycopg import sql

from dbconsole.catalog_sql import CATALOG_SQL
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
    collation: str | None = None  # collation name; "default:<datcollate>" for the database default
    enum_labels: tuple[str, ...] | None = None  # labels in sort order, when the type is an enum (or array of one)
    extension: str | None = None  # extension that owns the type (citext, hstore), if any

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
    declared_on: TableName | None = None  # the partition it is declared on, when not on the table itself
    on_delete: str = "a"  # pg_constraint.confdeltype: a no action, r restrict, c cascade, n set null, d set default

    @property
    def cascades(self) -> bool:
        """Deleting a parent row changes child rows (instead of failing)."""
        return self.on_delete in ("c", "n", "d")


@dataclass(frozen=True)
class Partition:
    """One partition of a partitioned table (any level): shown beneath its root, never synced alone."""

    schema: str
    name: str
    leaf: bool
    bound: str
    estimated_rows: int | None
    size_bytes: int

    @property
    def qualified(self) -> TableName:
        return TableName(self.schema, self.name)


TriggerState = Literal["O", "D", "R", "A"]  # pg_trigger.tgenabled: origin, disabled, replica, always


@dataclass(frozen=True)
class Trigger:
    """A user trigger on a table or one of its partitions."""

    table: TableName
    name: str
    enabled: TriggerState

    def __str__(self) -> str:
        return f"{self.table}.{self.name}"


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
    partitions: tuple[Partition, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    owned: bool = True  # this role may ALTER the table and every partition (it owns them)
    row_security_applies: bool = False  # RLS would filter this role's reads and writes
    matviews: tuple[TableName, ...] = ()  # materialized views that read this table

    @property
    def partitioned(self) -> bool:
        return self.kind == "p"

    @property
    def enabled_triggers(self) -> tuple[Trigger, ...]:
        return tuple(t for t in self.triggers if t.enabled != "D")

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




def read_catalog(conn: psycopg.Connection[Any]) -> list[Table]:
    """Every user table, with columns, keys, FKs, sequences, estimated rows and size, in one query."""
    with conn.cursor() as cur:
        cur.execute(CATALOG_SQL, {"hidden": list(HIDDEN_SCHEMAS)})
        rows = cur.fetchall()
    if not conn.autocommit:
        conn.rollback()
    return [_table_from_row(row) for row in rows]


def _table_from_row(row: Sequence[Any]) -> Table:
    (schema, name, kind, reltuples, relpages, total_size, heap_size, live, has_stats,
     columns, constraints, unique_indexes, sequences, partitions, triggers, owned, row_security,
     matviews) = row
    columns = [_decode(c) for c in (columns or [])]
    constraints = _decode(constraints) or []
    parts = _decode(partitions) or []
    leaves = {p["oid"] for p in parts if p["leaf"]}
    part_names = {p["oid"]: TableName(p["schema"], p["name"]) for p in parts}
    primary = next((tuple(c["columns"]) for c in constraints if c["type"] == "p" and not c["on_partition"]), None)
    uniques = [tuple(c["columns"]) for c in constraints if c["type"] == "u" and not c["on_partition"]]
    indexes = _decode(unique_indexes) or []
    uniques += [tuple(i["columns"]) for i in indexes if i["columns"] and i["rel"] not in part_names]
    # Keys declared on each partition only (pg_dump of such schemas): a key every leaf has identifies rows.
    leaf_pks = {tuple(c["columns"]) for c in constraints if c["rel"] in leaves and c["type"] == "p"}
    if primary is None and len(leaf_pks) == 1 and sum(
            1 for c in constraints if c["rel"] in leaves and c["type"] == "p") == len(leaves):
        primary = next(iter(leaf_pks))
    per_leaf = [{tuple(c["columns"]) for c in constraints if c["rel"] == leaf and c["type"] in ("p", "u")}
                | {tuple(i["columns"]) for i in indexes if i["rel"] == leaf and i["columns"]}
                for leaf in leaves]
    if per_leaf:
        uniques += sorted(set.intersection(*per_leaf) - set(uniques) - {primary})
    fks = tuple(
        ForeignKey(name=c["name"], columns=tuple(c["columns"]),
                   parent=TableName(c["ref_schema"], c["ref_table"]),
                   parent_columns=tuple(c["ref_columns"]), deferrable=c["deferrable"],
                   declared_on=part_names.get(c["rel"]), on_delete=c["on_delete"] or "a")
        for c in constraints if c["type"] == "f")
    partition_list = tuple(
        Partition(schema=p["schema"], name=p["name"], leaf=p["leaf"], bound=p["bound"] or "",
                  estimated_rows=estimate_rows(p["reltuples"], p["relpages"], p["heap_size"], p["live"],
                                               p["has_stats"], "r" if p["leaf"] else "p"),
                  size_bytes=int(p["total_size"] or 0))
        for p in parts)
    estimated = estimate_rows(reltuples, relpages, heap_size, live, has_stats, kind)
    size = int(total_size or 0)
    if kind == "p":
        leaf_estimates = [p.estimated_rows for p in partition_list if p.leaf]
        estimated = None if any(e is None for e in leaf_estimates) else sum(leaf_estimates)  # type: ignore[misc]
        size += sum(p.size_bytes for p in partition_list)
    return Table(
        schema=schema, name=name, kind=kind, estimated_rows=estimated, size_bytes=size,
        columns=tuple(Column(name=c["name"], type=c["type"], type_oid=c["type_oid"], not_null=c["not_null"],
                             has_default=c["has_default"], generated=c["generated"], identity=c["identity"],
                             builtin_type=c["builtin"], collation=c["collation"],
                             enum_labels=tuple(c["enum_labels"]) if c["enum_labels"] else None,
                             extension=c["extension"]) for c in columns),
        primary_key=primary, unique_keys=tuple(dict.fromkeys(uniques)), foreign_keys=fks,
        sequences=dict(_decode(sequences) or {}), partitions=partition_list,
        triggers=tuple(Trigger(TableName(t["schema"], t["table"]), t["name"], t["enabled"])
                       for t in (_decode(triggers) or [])),
        owned=bool(owned) if owned is not None else True, row_security_applies=bool(row_security),
        matviews=tuple(sorted(TableName(m["schema"], m["name"]) for m in (_decode(matviews) or []))),
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
