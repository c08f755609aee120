"""The schema commands' stories, on connections: compare two databases, or create what a
sync's target lacks. Faces (CLI, console) call these and only render the results."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from dbconsole.names import TableName, select_tables
from dbconsole.schema.compare import SchemaDiff, compare_schemas
from dbconsole.schema.create import CreatePlan, apply_create_missing, plan_create_missing, render_steps
from dbconsole.schema.migrations import MigrationComparison, MigrationHistory, compare_migrations, read_migrations_at
from dbconsole.schema.model import Schema
from dbconsole.schema.read import read_schema


@dataclass(frozen=True)
class SideSchema:
    schema: Schema
    migrations: MigrationHistory | None


def read_side(conn: psycopg.Connection[Any]) -> SideSchema:
    """One side's schema (one query) and, when it has a migration table, its history (one more)."""
    schema = read_schema(conn)
    history = None
    if schema.migration_tables:
        table = schema.migration_tables[0]
        columns = {c.name for c in schema.relations[table].columns}
        with conn.transaction(force_rollback=True):
            history = read_migrations_at(conn, table, columns)
    return SideSchema(schema, history)


@dataclass(frozen=True)
class SchemaReport:
    left: SideSchema
    right: SideSchema
    diff: SchemaDiff
    migrations: MigrationComparison | None

    def to_json(self, left_name: str, right_name: str) -> dict[str, Any]:
        return {"left": left_name, "right": right_name, **self.diff.to_json(),
                "migrations": {"left": self.left.migrations.to_json() if self.left.migrations else None,
                               "right": self.right.migrations.to_json() if self.right.migrations else None,
                               "comparison": self.migrations.to_json() if self.migrations else None}}


def schema_report(left: SideSchema, right: SideSchema, *, left_name: str, right_name: str,
                  tables: Sequence[str] = (), exclude: Sequence[str] = ()) -> SchemaReport:
    chosen = None
    if tables or exclude:
        every = sorted({r.qualified for side in (left, right) for r in side.schema.root_tables()})
        chosen = set(select_tables(list(tables), every, exclude=exclude))
    diff = compare_schemas(left.schema, right.schema, tables=chosen)
    return SchemaReport(left, right, diff,
                        compare_migrations(left.migrations, right.migrations, left_name, right_name))


@dataclass
class CreateOutcome:
    plan: CreatePlan
    statements: list[str] = field(default_factory=list)
    selection: list[TableName] = field(default_factory=list)
    applied: bool = False


def create_missing(source_conn: psycopg.Connection[Any], target_conn: psycopg.Connection[Any], *,
                   source_name: str, target_name: str, tables: Sequence[str] = (), exclude: Sequence[str] = (),
                   with_parents: bool = False, dry_run: bool = False) -> CreateOutcome:
    """Plan (and unless ``dry_run``, run) the DDL that gives the target the selected source tables.
    No ``tables``: every table of the source. ``with_parents``: their FK parents too, as the sync
    will then copy them."""
    source, target = read_schema(source_conn), read_schema(target_conn)
    every = [r.qualified for r in source.relations.values() if r.is_table]  # a partition named means its root
    selection = list(dict.fromkeys(_root(source, name) for name in
                                   select_tables(list(tables), every, exclude=exclude, where=source_name)))
    if with_parents:
        selection = _with_parents(source, selection)
    plan = plan_create_missing(source, target, selection, source_name=source_name, target_name=target_name)
    outcome = CreateOutcome(plan, render_steps(target_conn, plan), selection)
    if not dry_run and plan.steps:
        apply_create_missing(target_conn, plan, target_name=target_name, source_version=source.version_num,
                             target_version=target.version_num)
        outcome.applied = True
    return outcome


def _with_parents(source: Schema, selection: list[TableName]) -> list[TableName]:
    """The selection and every table its foreign keys reach (transitively), parents first."""
    ordered: list[TableName] = []
    seen: set[TableName] = set()

    def visit(name: TableName) -> None:
        if name in seen or name not in source.relations:
            return
        seen.add(name)
        relations = [source.relations[name], *_all_partitions(source, name)]
        for relation in relations:
            for con in relation.constraints:
                if con.kind == "f" and con.references is not None:
                    visit(con.references)
        ordered.append(name)

    for name in selection:
        visit(name)
    return ordered


def _all_partitions(source: Schema, name: TableName) -> list:
    found = []
    for part in source.partitions_of(name):
        found += [part, *_all_partitions(source, part.qualified)]
    return found


def _root(source: Schema, name: TableName) -> TableName:
    while (parent := source.relations[name].parent) is not None:
        name = parent
    return name
