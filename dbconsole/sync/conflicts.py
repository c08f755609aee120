"""What a ``replace`` would break, found by its dry run before anything is written.

A replace deletes the target rows the source no longer has, in one transaction. Two kinds of
rows make that transaction fail at the end, after all the copying:

* rows of a table *outside* the replace group whose foreign key (``NO ACTION`` / ``RESTRICT``)
  points at a row the replace deletes: the delete is refused;
* staged rows whose own foreign key points at a parent the target lacks and the sync does not
  write: the insert is refused (the same check the batched modes' dry run makes).

Deletes that cascade (``ON DELETE CASCADE`` / ``SET NULL`` / ``SET DEFAULT``) do not fail, but
they change tables nobody selected, so they are reported too. Everything here only reads the
target, inside the dry run's transaction (which sees the staged rows), and is called from the
engine's replace dry run only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from dbconsole.catalog import Table
from dbconsole.names import TableName
from dbconsole.sync import statements as q
from dbconsole.sync.plan import TablePlan

_ON_DELETE = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
_REFUSING = {"a", "r"}

@dataclass(frozen=True)
class ReferencingKey:
    """A foreign key of ``child`` pointing at ``parent``, a table the replace rewrites."""

    name: str
    child: TableName
    parent: TableName
    columns: tuple[str, ...]
    parent_columns: tuple[str, ...]
    on_delete: str  # pg_constraint.confdeltype: a r c n d

    @property
    def refuses_delete(self) -> bool:
        return self.on_delete in _REFUSING


@dataclass(frozen=True)
class Conflict:
    """One predicted consequence; ``fails`` when it would make the run fail."""

    table: str
    message: str
    fails: bool
    remedy: str | None = None  # "add_parents" | "add_children"


def _rows(count: int) -> str:
    return f"{count:,} row{'' if count == 1 else 's'}"


def referencing_keys(target_tables: Iterable[Table], parents: Iterable[TableName]) -> list[ReferencingKey]:
    """Foreign keys of other tables pointing at ``parents``, from the target's catalog.

    The catalog folds partitions into their root, so a key that ``pg_dump`` declared on each
    partition counts as the partitioned table's (the table a user can name and sync).
    """
    wanted = set(parents)
    return [ReferencingKey(fk.name, table.qualified, fk.parent, tuple(fk.columns), tuple(fk.parent_columns),
                           fk.on_delete)
            for table in target_tables for fk in table.foreign_keys
            if fk.parent in wanted and table.qualified != fk.parent]


def _doomed_references(key: ReferencingKey, parent: TablePlan, stage: sql.Identifier) -> sql.Composable:
    """Child rows that point at a parent row the replace deletes (it has no staged twin)."""
    assert parent.key is not None
    return sql.SQL(
        "SELECT count(*) FROM {child} c WHERE {not_null} AND EXISTS (SELECT 1 FROM {parent} p WHERE {refs} "
        "AND NOT EXISTS (SELECT 1 FROM {stage} s WHERE {kept}))").format(
        child=key.child.ident, parent=parent.target.qualified.ident, stage=stage,
        not_null=sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(sql.Identifier("c", c)) for c in key.columns),
        refs=sql.SQL(" AND ").join(sql.SQL("{} = {}").format(sql.Identifier("p", pc), sql.Identifier("c", c))
                                   for c, pc in zip(key.columns, key.parent_columns)),
        kept=sql.SQL(" AND ").join(sql.SQL("{} = {}").format(sql.Identifier("s", k), sql.Identifier("p", k))
                                   for k in parent.key))


def _count(conn: psycopg.Connection[Any], statement: sql.Composable) -> int:
    with conn.cursor() as cur:
        cur.execute(statement)
        row = cur.fetchone()
    return int(row[0]) if row else 0


def replace_conflicts(conn: psycopg.Connection[Any], group: Sequence[TablePlan], stages: dict[str, sql.Identifier],
                      written: Iterable[TableName], target_name: str,
                      target_tables: Iterable[Table]) -> list[Conflict]:
    """What the replace of ``group`` would break; ``stages`` hold each keyed table's new rows."""
    in_group = {t.name for t in group}
    writes = set(written) | in_group
    conflicts: list[Conflict] = []
    for plan in group:  # the new rows' own parents
        stage = stages.get(str(plan.name))
        if stage is None:
            continue
        for fk in plan.target.foreign_keys:
            if fk.parent == plan.name or fk.parent in writes or not set(fk.columns) <= set(plan.columns):
                continue
            orphans = _count(conn, q.orphan_count(fk, stage))
            if orphans:
                conflicts.append(Conflict(str(plan.name), f"{_rows(orphans)} reference {fk.parent} rows that "
                                          f"{target_name} lacks (foreign key {fk.name}): the sync would stop here",
                                          fails=True, remedy="add_parents"))
    plans = {t.name: t for t in group if t.key is not None and str(t.name) in stages}
    for key in referencing_keys(target_tables, plans):
        if key.child in in_group:
            continue  # replaced as well: its own new rows are checked above
        doomed = _count(conn, _doomed_references(key, plans[key.parent], stages[str(key.parent)]))
        if not doomed:
            continue
        if key.refuses_delete:
            conflicts.append(Conflict(str(key.parent), f"{_rows(doomed)} of {key.child} reference {key.parent} rows "
                                      f"this replace deletes (foreign key {key.name}, ON DELETE "
                                      f"{_ON_DELETE[key.on_delete]}): the sync would stop here and roll back",
                                      fails=True, remedy="add_children"))
        else:
            effect = "deleted" if key.on_delete == "c" else "changed"
            conflicts.append(Conflict(str(key.parent), f"{_rows(doomed)} of {key.child} would be {effect} too "
                                      f"(foreign key {key.name}, ON DELETE {_ON_DELETE[key.on_delete]})",
                                      fails=False))
    return conflicts
