"""``--subset`` with ``--mode mirror``: which of the target's rows belong to the subset there but
not on the source, found read-only on the target before anything is written.

"Belongs to the subset on the target" is what the source walk's *down* half means, read on the
target: the root filter's rows there and the rows that reference them, transitively, within the
same tables, along the same edges (declared and virtual FKs), under the same ``limits`` and
``exclude``. Parents reached only going up are never the mirror's to delete (a lookup row the
rest of the local data shares must stay), so the target walk never goes up.

Why the walk is seeded with the source's *down* rows and never steps into a selected row: after
the upserts every selected row carries the source's values, and every parent of a selected row
is selected too (the source walk goes up from every row it takes), so on the synced target the
subset's rows reachable from the root are exactly the source's down rows, and a target-only row
belongs to the subset iff a chain of *unselected* target rows links it to a root row there or to
one of those down rows. Unselected rows are never written by the upserts, so this set is the
same before, during and after them: the dry run counts exactly what the run deletes, and a run
killed after some of its upserts finds the same rows again (:mod:`.subset_deletes` deletes them
children first, so a kill among the deletes never cuts a row off from the chain that finds it).

The walk reuses :class:`~.subset_reads.SourceSteps` on the target session, inside one REPEATABLE
READ READ ONLY transaction: one query per edge and page of keys, only keys reach Python.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg

from dbconsole.catalog import Table
from dbconsole.errors import SyncError
from dbconsole.names import TableName, resolve_name
from dbconsole.sync.plan import SyncPlan
from dbconsole.sync.subset import Direction, Edge, Key, close_subset
from dbconsole.sync.subset_reads import SourceSteps, require_key, root_keys, validate_expression


def target_deletes(plan: SyncPlan, target: psycopg.Connection[Any], target_tables: Sequence[Table], *,
                   edges: Sequence[Edge], scope: set[TableName], limits: Mapping[TableName, str],
                   down: Mapping[TableName, set[Key]], selected: Mapping[TableName, set[Key]],
                   ) -> dict[TableName, list[Key]]:
    """Per mirror table, the target's keys in the subset there that the source's subset lacks."""
    request = plan.request
    tables = {t.qualified: t for t in target_tables}
    roots = [(resolve_name(spec.root, tables, where=request.target.name), spec.where) for spec in request.subsets]
    walked = scope | {root for root, _ in roots}
    _check_shapes(plan, tables, walked, [e for e in edges if e.child in scope])
    if target.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        target.rollback()  # only reads were open on it: the plan's
    with target.transaction():
        target.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        for table, where in limits.items():
            if table in tables:
                validate_expression(target, tables[table], where, f"limit (on {request.target.name})")
        seeds: dict[TableName, set[Key]] = {table: set(keys) for table, keys in down.items()}
        for root, where in roots:
            validate_expression(target, tables[root], where, f"filter (on {request.target.name})")
            require_key(tables[root])
            unselected = set(root_keys(target, tables[root], where)) - selected.get(root, set())
            seeds.setdefault(root, set()).update(unselected)
        steps = SourceSteps(target, tables, edges, limits, follow_up=False)

        def unselected_children(edge: Edge, direction: Direction, keys: Sequence[Key]) -> Iterable[Key]:
            if direction == "up":
                return ()
            chosen = selected.get(edge.child, set())
            return [key for key in steps.expand(edge, "down", keys) if key not in chosen]

        found = close_subset(seeds, edges, scope, unselected_children)
    mirrored = {t.name for t in plan.tables if t.mode == "mirror"}
    return {table: sorted(keys - selected.get(table, set())) for table, keys in found.items()
            if table in mirrored and keys - selected.get(table, set())}


def _check_shapes(plan: SyncPlan, tables: Mapping[TableName, Table], walked: set[TableName],
                  edges: Sequence[Edge]) -> None:
    """The walk compares the target's keys with the source's: each walked table needs the same key
    on both sides, and each edge's columns on the target."""
    target_name = plan.request.target.name
    for name in sorted(walked, key=str):
        table_plan = plan.table(name)
        if table_plan is None or name not in tables:
            continue
        require_key(tables[name])
        if table_plan.source.key != tables[name].key:
            raise SyncError(f"{name}: its key is ({', '.join(table_plan.source.key or ())}) on "
                            f"{plan.request.source.name} but ({', '.join(tables[name].key or ())}) on {target_name}, "
                            "so a subset mirror cannot tell which target rows the source lacks; use --mode upsert",
                            table=str(name))
    for edge in edges:
        for side, columns in ((edge.child, edge.columns), (edge.parent, edge.parent_columns)):
            missing = [c for c in columns if side in tables and tables[side].column(c) is None]
            if missing:
                raise SyncError(f"{side}: the subset follows {edge.name} through column {missing[0]}, which "
                                f"{target_name} lacks, so a subset mirror cannot find its rows there; use --mode "
                                "upsert", table=str(side))
