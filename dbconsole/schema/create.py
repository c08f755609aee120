"""``sync --create-missing``: create on the target what the selected tables need and it lacks.

Runs before the sync's own plan, on its own target connection, in one transaction, so the sync
engine sees a target that has the tables and knows nothing of this step. **Additive only**: it
creates schemas, enum and domain types, sequences, tables, partitions, keys, indexes and
foreign keys, adds missing enum labels and missing columns, and never drops, renames or
retypes anything. A table whose target counterpart conflicts (another kind of relation of that
name, a column of another type, a type that cannot be created) is left alone and reported.

Order: schemas, types (a domain after its base), sequences, tables and their partitions,
added columns, then primary / unique / check / exclusion constraints, indexes, and foreign keys
last, once both ends exist; then sequence ownership.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from dbconsole.connect import describe_pg_error
from dbconsole.errors import SyncError
from dbconsole.names import TableName, quote_if_needed
from dbconsole.schema import ddl
from dbconsole.schema.model import KIND_WORDS, TYPE_WORDS, Relation, Schema, SchemaColumn
from dbconsole.sync.plan import types_compatible

_CONSTRAINT_ORDER = {"p": 0, "u": 1, "x": 2, "c": 3}


@dataclass(frozen=True)
class Step:
    """One DDL statement and what it makes, for the dry run and error messages."""

    what: str
    statement: sql.Composable


@dataclass
class CreatePlan:
    steps: list[Step] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # one line per skipped table
    notes: list[str] = field(default_factory=list)  # things left as they are, said once
    created_tables: list[TableName] = field(default_factory=list)
    conflicted_tables: list[TableName] = field(default_factory=list)


def plan_create_missing(source: Schema, target: Schema, selection: Iterable[TableName], *,
                        source_name: str = "source", target_name: str = "target") -> CreatePlan:
    """The DDL that gives ``target`` what the ``selection`` (root tables of ``source``) needs."""
    builder = _Builder(source, target, source_name, target_name)
    for name in selection:
        builder.add_table(source.relations[name])
    return builder.finish()


class _Builder:
    def __init__(self, source: Schema, target: Schema, source_name: str, target_name: str) -> None:
        self.source, self.target = source, target
        self.names = (source_name, target_name)
        self.plan = CreatePlan()
        self.schemas: list[Step] = []
        self.types: list[Step] = []
        self.sequences: list[Step] = []
        self.tables: list[Step] = []
        self.columns: list[Step] = []
        self.keys: list[Step] = []
        self.indexes: list[Step] = []
        self.foreign: list[tuple[Relation, Any]] = []
        self.ownership: list[Step] = []
        self.owners: list[tuple[str, str, str]] = []  # (schema, table, column) of each ownership step
        self.added_columns: set[tuple[TableName, str]] = set()
        self.done: set[TableName] = set()  # types, sequences, schemas and tables already planned
        self.made_schemas: set[str] = set()
        self.made_relations: set[TableName] = set()

    # ------------------------------------------------------------------ one selected table

    def add_table(self, relation: Relation) -> None:
        existing = self.target.relations.get(relation.qualified)
        problem = self._conflict(relation, existing)
        if problem:
            self.plan.conflicts.append(problem)
            self.plan.conflicted_tables.append(relation.qualified)
            return
        if existing is None:
            self._schema(relation.schema)
            self.tables.append(Step(f"table {relation.qualified}", ddl.create_table(relation)))
            self.made_relations.add(relation.qualified)
            self.plan.created_tables.append(relation.qualified)
            self._relation_parts(relation)
            new_columns = list(relation.columns)
        else:
            new_columns = [c for c in relation.columns if existing.column(c.name) is None]
            for column in new_columns:
                self.columns.append(Step(f"column {relation.qualified}.{column.name}", ddl.add_column(relation, column)))
                self.added_columns.add((relation.qualified, column.name))
            for column in relation.columns:  # an enum the target has may lack labels the rows carry
                if not column.builtin and existing.column(column.name) is not None:
                    self._type(column.type_ref)
        for column in new_columns:
            self._column_needs(column)
        self._partitions(relation)
        if relation.triggers:
            self.plan.notes.append(f"{relation.qualified}: triggers are not created ({', '.join(relation.triggers)})")

    def _partitions(self, parent: Relation) -> None:
        for part in self.source.partitions_of(parent.qualified):
            if part.qualified in self.target.relations:
                self._partitions(part)
                continue
            self._schema(part.schema)
            self.tables.append(Step(f"partition {part.qualified}", ddl.create_partition(part)))
            self.made_relations.add(part.qualified)
            self._relation_parts(part)
            self._partitions(part)

    def _relation_parts(self, relation: Relation) -> None:
        """Keys, indexes and FKs of a relation this plan creates (a partition: only its own)."""
        for con in sorted(relation.constraints, key=lambda c: (_CONSTRAINT_ORDER.get(c.kind, 9), c.name)):
            if con.kind == "f":
                self.foreign.append((relation, con))
            else:
                self.keys.append(Step(f"constraint {con.name} on {relation.qualified}", ddl.add_constraint(relation, con)))
        for index in relation.indexes:
            self.indexes.append(Step(f"index {index.name}", ddl.create_index(index)))

    # ------------------------------------------------------------------ what columns need

    def _conflict(self, relation: Relation, existing: Relation | None) -> str | None:
        source_name, target_name = self.names
        if existing is not None and existing.kind != relation.kind:
            return (f"{relation.qualified}: {source_name} has a {KIND_WORDS[relation.kind]}, {target_name} a "
                    f"{KIND_WORDS[existing.kind]} of that name; table skipped")
        if existing is not None:
            for column in relation.columns:
                other = existing.column(column.name)
                if other is not None and not types_compatible(column, other)[0]:  # type: ignore[arg-type]  # the sync's rule reads .type only
                    return (f"{relation.qualified}.{quote_if_needed(column.name)}: {source_name} has {column.type}, "
                            f"{target_name} has {other.type}; table skipped (dbconsole never changes a column's type)")
            candidates = [c for c in relation.columns if existing.column(c.name) is None]
        else:
            candidates = list(relation.columns)
        for column in candidates:
            problem = self._type_problem(column.type_ref, column) if not column.builtin else None
            if problem:
                return f"{relation.qualified}.{quote_if_needed(column.name)}: {problem}; table skipped"
        return None

    def _type_problem(self, ref: TableName, column: SchemaColumn) -> str | None:
        target_type = self.target.types.get(ref)
        source_type = self.source.types.get(ref)
        if target_type is not None:
            if source_type is not None and target_type.kind != source_type.kind:
                return (f"type {ref} is a {TYPE_WORDS[source_type.kind]} on {self.names[0]} and a "
                        f"{TYPE_WORDS[target_type.kind]} on {self.names[1]}")
            return None
        if source_type is None:
            return f"type {column.type} is not an enum or domain, which dbconsole does not create"
        if source_type.extension:
            return (f"type {ref} comes from extension {source_type.extension}, which {self.names[1]} lacks "
                    f"(CREATE EXTENSION {source_type.extension} there first)")
        if source_type.kind not in ("e", "d"):
            return f"type {ref} is a {TYPE_WORDS[source_type.kind]}, which dbconsole does not create"
        if source_type.kind == "d" and source_type.base_ref and source_type.base_ref.schema != "pg_catalog":
            return self._type_problem(source_type.base_ref, column)
        return None

    def _column_needs(self, column: SchemaColumn) -> None:
        if not column.builtin:
            self._type(column.type_ref)
        for name in column.sequences:
            self._sequence(name)

    def _type(self, ref: TableName) -> None:
        if ref in self.done or ref.schema == "pg_catalog":
            return
        self.done.add(ref)
        source_type = self.source.types.get(ref)
        target_type = self.target.types.get(ref)
        if source_type is None:
            return  # not a type of ours to create (a table's row type): the conflict check said so
        if target_type is not None:
            if source_type.kind == "e":
                self._missing_labels(source_type, target_type.labels)
            return
        if source_type.kind == "d" and source_type.base_ref:
            self._type(source_type.base_ref)
        self._schema(ref.schema)
        build = ddl.create_enum if source_type.kind == "e" else ddl.create_domain
        self.types.append(Step(f"{TYPE_WORDS[source_type.kind]} {ref}", build(source_type)))

    def _missing_labels(self, source_type: Any, present: tuple[str, ...]) -> None:
        """Enum labels the target lacks, each placed beside a neighbour it has (additive)."""
        have = set(present)
        labels = source_type.labels
        for i, label in enumerate(labels):
            if label in have:
                continue
            after = labels[i - 1] if i > 0 else None
            before = labels[i + 1] if after is None and i + 1 < len(labels) and labels[i + 1] in have else None
            self.types.append(Step(f"enum label {source_type.qualified}.{label}",
                                   ddl.add_enum_label(source_type, label, after=after, before=before)))
            have.add(label)

    def _sequence(self, name: TableName) -> None:
        if name in self.done or name in self.target.sequences:
            return
        self.done.add(name)
        sequence = self.source.sequences.get(name)
        if sequence is None:
            return  # an identity's own sequence: made with its column
        self._schema(name.schema)
        self.sequences.append(Step(f"sequence {name}", ddl.create_sequence(sequence)))
        if sequence.owned_by:
            self.ownership.append(Step(f"sequence {name} owner", ddl.sequence_owned_by(sequence)))
            self.owners.append(sequence.owned_by)

    def _schema(self, name: str) -> None:
        if name in self.target.schemas or name in self.made_schemas:
            return
        self.made_schemas.add(name)
        self.schemas.append(Step(f"schema {name}", ddl.create_schema(name)))

    def _will_have(self, schema: str, table: str, column: str) -> bool:
        """Whether the target has (or this plan gives it) ``table.column``: a sequence owned by a
        table that is not selected stays unowned on the target rather than fail the step."""
        name = TableName(schema, table)
        if name in self.made_relations:
            return True
        existing = self.target.relations.get(name)
        return existing is not None and (existing.column(column) is not None or (name, column) in self.added_columns)

    # ------------------------------------------------------------------ the result

    def finish(self) -> CreatePlan:
        foreign: list[Step] = []
        for relation, con in self.foreign:
            parent = con.references  # a partitioned table's FKs name its root
            if parent in self.target.relations or parent in self.made_relations:
                foreign.append(Step(f"foreign key {con.name} on {relation.qualified}", ddl.add_constraint(relation, con)))
            else:
                self.plan.notes.append(f"{relation.qualified}: foreign key {con.name} not created: its parent "
                                       f"{con.references} is not on {self.names[1]} (select it too)")
        ownership = [step for step, owner in zip(self.ownership, self.owners) if self._will_have(*owner)]
        self.plan.steps = (self.schemas + self.types + self.sequences + self.tables + self.columns + self.keys
                           + self.indexes + foreign + ownership)
        return self.plan


def apply_create_missing(conn: psycopg.Connection[Any], plan: CreatePlan, *, target_name: str,
                         source_version: int, target_version: int) -> None:
    """Run the plan's DDL in one transaction: all of it, or (on any refusal) none of it."""
    if not plan.steps:
        return
    step = None
    try:
        with conn.transaction():
            conn.execute("SET LOCAL lock_timeout = '10s'")
            for step in plan.steps:
                conn.execute(step.statement)
    except psycopg.Error as exc:
        versions = ""
        if source_version // 10000 != target_version // 10000:
            versions = f" (source is PostgreSQL {source_version // 10000}, {target_name} is {target_version // 10000})"
        what = step.what if step else "the schema"
        raise SyncError(f"{target_name} refused to create {what}: {describe_pg_error(exc)}{versions}; "
                        "nothing was created") from None


def render_steps(conn: psycopg.Connection[Any], plan: CreatePlan) -> list[str]:
    """The DDL as text, for ``--dry-run``."""
    return [step.statement.as_string(conn) + ";" for step in plan.steps]
