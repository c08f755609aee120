"""A foreign-key violation (SQLSTATE 23503) told the right way round.

The same SQLSTATE comes from two opposite situations: rows the sync *inserts* point at parent
rows the target lacks, or rows the sync *deletes* (``replace``) are still pointed at by a child
table. PostgreSQL names the constraint and the table it is declared on (for a partitioned
table, often a partition the user never names), so the violation is mapped back through the
target's catalog to the sync unit that owns the constraint; whether that unit is the table
being written decides the side.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import psycopg

from dbconsole.catalog import ForeignKey, Table
from dbconsole.names import TableName

Phase = Literal["insert", "delete"]


def find_constraint(tables: Sequence[Table], schema: str | None, table: str | None,
                    constraint: str) -> tuple[Table, ForeignKey] | None:
    """The sync unit (a table, or a partition's root) that declares ``constraint``, and the FK."""
    for unit in tables:
        names = {unit.qualified} | {p.qualified for p in unit.partitions}
        if schema and table and TableName(schema, table) not in names:
            continue
        fk = next((f for f in unit.foreign_keys if f.name == constraint), None)
        if fk is not None:
            return unit, fk
    return None


def explain_fk_violation(exc: psycopg.errors.ForeignKeyViolation, target_tables: Sequence[Table], *,
                         current: str | None, planned: Sequence[TableName], phase: Phase,
                         target_name: str) -> str:
    """One line: which child table, which constraint, which parent, and what to do."""
    constraint = exc.diag.constraint_name or "?"
    found = find_constraint(target_tables, exc.diag.schema_name, exc.diag.table_name, constraint)
    prefix = f"{current}: " if current else ""
    if found is None:
        holder = exc.diag.table_name or "another table"
        return f"{prefix}foreign key {constraint} on {holder} refused the change: {exc.diag.message_primary or ''}"
    child, fk = found
    where = f" on partition {fk.declared_on}" if fk.declared_on else ""
    insert_side = str(child.qualified) == current and (fk.parent != child.qualified or phase == "insert")
    if insert_side:
        if fk.parent in planned:
            advice = (f"{fk.parent} is synced in this run but not with those rows (is a --where or subset "
                      "limiting it?)")
        else:
            advice = "include the FK parents in the sync (--with-parents)"
        return (f"{child.qualified}: rows reference {fk.parent} rows that {target_name} lacks (foreign key "
                f"{constraint}{where}, {child.qualified} -> {fk.parent}); {advice}")
    return (f"{prefix}rows the sync deletes are still referenced from {child.qualified} on {target_name} "
            f"(foreign key {constraint}{where}, {child.qualified} -> {fk.parent}); include {child.qualified} "
            "in the sync or use upsert")
