"""Which migrations a database has applied, read from the migration tool's own table.

Known tables (looked up in every schema on the session's search path): ``alembic_version``,
``_prisma_migrations``, ``django_migrations``, ``flyway_schema_history``, ``schema_migrations``
(Rails keeps every version; golang-migrate keeps one row, the current version and a dirty flag)
and ``knex_migrations``. Alembic and golang-migrate record only where the database is, not the
way there, so for them ``applied`` is ``None`` and "behind by which" cannot be answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from psycopg import sql

from dbconsole.names import TableName

Tool = Literal["alembic", "prisma", "django", "flyway", "rails", "golang-migrate", "knex"]
Side = Literal["left", "right"]

# Table name -> how to list what it says was applied, oldest first (``{t}``: the table).
_READERS: dict[str, tuple[Tool, str]] = {
    "alembic_version": ("alembic", "SELECT json_agg(version_num ORDER BY version_num) FROM {t}"),
    "_prisma_migrations": ("prisma", "SELECT json_agg(migration_name ORDER BY started_at, migration_name) FROM {t} "
                                     "WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL"),
    "django_migrations": ("django", "SELECT json_agg(app || '.' || name ORDER BY id) FROM {t}"),
    "flyway_schema_history": ("flyway", "SELECT json_agg(coalesce(version, description) ORDER BY installed_rank) "
                                        "FROM {t} WHERE success AND type <> 'BASELINE'"),
    "schema_migrations": ("rails", "SELECT json_agg(version::text ORDER BY version) FROM {t}"),
    "knex_migrations": ("knex", "SELECT json_agg(name ORDER BY id) FROM {t}"),
}
_GOLANG_MIGRATE = "SELECT json_agg(version::text || CASE WHEN dirty THEN ' (dirty)' ELSE '' END) FROM {t}"
MIGRATION_TABLES = tuple(_READERS)
ONLY_CURRENT: frozenset[Tool] = frozenset({"alembic", "golang-migrate"})

_DETECT_SQL = """
SELECT n.nspname, c.relname, (SELECT json_agg(a.attname) FROM pg_attribute a
                               WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND c.relname = ANY(%(names)s) AND n.nspname = ANY(current_schemas(false))
 ORDER BY array_position(current_schemas(false), n.nspname::name)
"""


@dataclass(frozen=True)
class MigrationHistory:
    tool: Tool
    table: TableName
    current: str | None  # the newest applied migration (alembic: the head(s))
    applied: tuple[str, ...] | None  # oldest first; None when the tool keeps only the current one
    error: str | None = None  # the table is there but this login may not read it

    def to_json(self) -> dict[str, Any]:
        return {"tool": self.tool, "table": str(self.table), "current": self.current,
                "applied": list(self.applied) if self.applied is not None else None, "error": self.error}


@dataclass(frozen=True)
class MigrationComparison:
    behind: Side | Literal["both"] | None  # "both": each side has migrations the other lacks
    missing_left: tuple[str, ...]  # applied on the right, not on the left
    missing_right: tuple[str, ...]
    summary: str  # one sentence for people

    def to_json(self) -> dict[str, Any]:
        return {"behind": self.behind, "missing_left": list(self.missing_left),
                "missing_right": list(self.missing_right), "summary": self.summary}


def read_migrations(conn: psycopg.Connection[Any]) -> MigrationHistory | None:
    """The first known migration table on the search path, read; ``None`` when there is none."""
    with conn.cursor() as cur:
        cur.execute(_DETECT_SQL, {"names": list(MIGRATION_TABLES)})
        found = cur.fetchall()
    if not found:
        return None
    schema, name, columns = found[0]
    return _read(conn, TableName(schema, name), set(columns or ()))


def read_migrations_at(conn: psycopg.Connection[Any], table: TableName, columns: set[str]) -> MigrationHistory:
    """Read a migration table already found (by the schema query), without looking for it again."""
    return _read(conn, table, columns)


def _read(conn: psycopg.Connection[Any], table: TableName, columns: set[str]) -> MigrationHistory:
    tool, query = _READERS[table.name]
    if tool == "rails" and "dirty" in columns:
        tool, query = "golang-migrate", _GOLANG_MIGRATE
    try:
        with conn.transaction(), conn.cursor() as cur:  # a savepoint: a refusal leaves the session usable
            cur.execute(sql.SQL(query).format(t=table.ident))  # type: ignore[arg-type]
            row = cur.fetchone()
    except psycopg.errors.InsufficientPrivilege:
        return MigrationHistory(tool, table, None, None, error=f"permission denied for {table}")
    listed = tuple(row[0] or ()) if row else ()
    if tool in ONLY_CURRENT:
        return MigrationHistory(tool, table, ", ".join(listed) or None, None)
    return MigrationHistory(tool, table, listed[-1] if listed else None, listed)


def compare_migrations(left: MigrationHistory | None, right: MigrationHistory | None,
                       left_name: str = "left", right_name: str = "right") -> MigrationComparison | None:
    """Which side is behind, and by which migrations where the tables list them."""
    if left is None and right is None:
        return None
    if left is None or right is None:
        has, lacks = (right_name, left_name) if left is None else (left_name, right_name)
        tool = (left or right).tool  # type: ignore[union-attr]
        return MigrationComparison(None, (), (), f"{has} has {tool} migrations, {lacks} has no migration table")
    if left.error or right.error:
        return MigrationComparison(None, (), (), f"{left_name if left.error else right_name}: {left.error or right.error}")
    if left.tool != right.tool:
        return MigrationComparison(None, (), (), f"{left_name} uses {left.tool}, {right_name} uses {right.tool}")
    if left.applied is None or right.applied is None:
        return _compare_current(left, right, left_name, right_name)
    missing_left = tuple(m for m in right.applied if m not in set(left.applied))
    missing_right = tuple(m for m in left.applied if m not in set(right.applied))
    if not missing_left and not missing_right:
        return MigrationComparison(None, (), (), f"in step at {left.current}")
    if missing_left and missing_right:
        return MigrationComparison("both", missing_left, missing_right,
                                   f"diverged: {left_name} lacks {len(missing_left)}, {right_name} lacks "
                                   f"{len(missing_right)}")
    side, lacks, name = ("left", missing_left, left_name) if missing_left else ("right", missing_right, right_name)
    noun = "migration" if len(lacks) == 1 else "migrations"
    return MigrationComparison(side, missing_left, missing_right,  # type: ignore[arg-type]
                               f"{name} is {len(lacks)} {noun} behind: {', '.join(lacks)}")


def _compare_current(left: MigrationHistory, right: MigrationHistory, left_name: str,
                     right_name: str) -> MigrationComparison:
    if left.current == right.current:
        return MigrationComparison(None, (), (), f"in step at {left.current}")
    if left.tool == "golang-migrate":
        lv, rv = (_version_number(h.current) for h in (left, right))
        if lv is not None and rv is not None:
            side, name = ("left", left_name) if lv < rv else ("right", right_name)
            return MigrationComparison(side, (), (),  # type: ignore[arg-type]
                                       f"{name} is behind ({left_name} at {left.current}, {right_name} at "
                                       f"{right.current}); golang-migrate keeps only the current version")
    return MigrationComparison(None, (), (), f"{left_name} at {left.current}, {right_name} at {right.current}; "
                                             f"{left.tool} records only the head, so which is behind (and by which "
                                             "migrations) cannot be read from the database")


def _version_number(text: str | None) -> int | None:
    try:
        return int((text or "").split()[0])
    except (ValueError, IndexError):
        return None
