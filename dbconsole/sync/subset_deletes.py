"""``--subset`` with ``--mode mirror``: the deletes, once every table's upserts are in.

A mirror table of a subset is upserted like any subset table (:mod:`.table_run`, through the
subset's key filter), but its finish waits (:class:`~.table_run.HeldTable`): its target-only rows of the
subset (found by :mod:`.subset_target`, kept in ``plan.subset.deletes``) are deleted after *every*
table's upserts, since a selected row may still point at a row to delete until it is upserted.
Only then is the table finished (history line, ``table_done``) with truthful counts.

Order: children first along the walk's edges (declared FKs and virtual ones alike), because a
row is found through its parents on the target: deleting a parent first and being killed would
leave its child unfindable by the re-run. Tables whose edges form a cycle (through a virtual FK,
or a table referencing itself) are deleted in one transaction; any other table in committed
batches of keys. Every delete keeps its pre-images for undo and its counts in the run's history
inside the same transaction, so a kill leaves history, undo store and rows agreeing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from psycopg import sql

from dbconsole.errors import UsageError
from dbconsole.names import TableName
from dbconsole.sync import journal, triggers, undo
from dbconsole.sync import statements as q
from dbconsole.sync.context import RunContext
from dbconsole.sync.counts import RowCounts
from dbconsole.sync.events import Notice
from dbconsole.sync.plan import TablePlan
from dbconsole.sync.subset import Edge, Key, subset_edges
from dbconsole.sync.subset_reads import key_filter
from dbconsole.sync.table_run import HeldTable, finish_table, holds_finish

KEYS_PER_DELETE = 5_000  # keys named in one DELETE: the statement stays small


@dataclass(frozen=True)
class DeleteGroup:
    """Tables deleted together, children first; ``atomic``: in one transaction (a cycle)."""

    tables: tuple[TableName, ...]
    atomic: bool


def delete_groups(order: Sequence[TableName], deleting: set[TableName],
                  edges: Iterable[tuple[TableName, TableName]]) -> list[DeleteGroup]:
    """The mirror tables' delete order: the (child, parent) graph's strongly connected
    components, children first (ties: later in the plan's FK order first); a component with a
    cycle is one atomic group. Pure: the tables and edges are given."""
    position = {name: i for i, name in enumerate(order)}
    graph: dict[TableName, set[TableName]] = {name: set() for name in order}
    for child, parent in edges:
        if child in graph and parent in graph:
            graph[child].add(parent)
    components = _components(order, graph)
    owner = {name: i for i, component in enumerate(components) for name in component}
    waits_for: dict[int, set[int]] = {i: set() for i in range(len(components))}  # a parent waits for its children
    for child, parents in graph.items():
        for parent in parents:
            if owner[child] != owner[parent]:
                waits_for[owner[parent]].add(owner[child])
    groups: list[DeleteGroup] = []
    done: set[int] = set()
    while len(done) < len(components):
        ready = [i for i in waits_for if i not in done and waits_for[i] <= done]
        chosen = max(ready, key=lambda i: max(position[n] for n in components[i]))
        done.add(chosen)
        members = sorted(components[chosen], key=lambda n: -position[n])
        cyclic = len(members) > 1 or members[0] in graph[members[0]]
        tables = tuple(n for n in members if n in deleting)
        if tables:
            groups.append(DeleteGroup(tables, atomic=cyclic))
    return groups


def _components(order: Sequence[TableName], graph: dict[TableName, set[TableName]]) -> list[set[TableName]]:
    """Strongly connected components by mutual reachability (a sync has tens of tables, not thousands)."""
    reach: dict[TableName, set[TableName]] = {}
    for start in order:
        seen, stack = set(), [start]
        while stack:
            for parent in graph[stack.pop()]:
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
        reach[start] = seen
    components: list[set[TableName]] = []
    placed: set[TableName] = set()
    for name in order:
        if name not in placed:
            component = {name} | {other for other in reach[name] if name in reach[other]}
            placed |= component
            components.append(component)
    return components


def finish_subset_mirrors(ctx: RunContext) -> None:
    """Every held table's deletes, children first, then each table's finish and ``table_done``."""
    held = {h.plan.name: h for h in ctx.ledger.held_for_deletes}
    ctx.ledger.held_for_deletes = []
    if not held:
        return
    deleted = {name: 0 for name in held}
    for group in delete_groups([t.name for t in ctx.plan.tables], set(held), _walk_edges(ctx)):
        plans = [held[name].plan for name in group.tables]
        if group.atomic:
            with ctx.target.transaction():
                for plan in plans:
                    triggers.disable(ctx.target, plan.disable_triggers)
                for plan in plans:
                    for condition in _conditions(plan):
                        deleted[plan.name] += _delete(ctx, held[plan.name], condition, deleted[plan.name])
                for plan in plans:
                    triggers.restore(ctx.target, plan.restore_triggers)
            continue
        for plan in plans:
            for condition in _conditions(plan):
                ctx.check_cancel()
                with ctx.target.transaction():
                    triggers.disable(ctx.target, plan.disable_triggers)
                    deleted[plan.name] += _delete(ctx, held[plan.name], condition, deleted[plan.name])
                    triggers.restore(ctx.target, plan.restore_triggers)
    ctx.ledger.phase = "insert"
    for plan in ctx.plan.tables:  # plan order, as the other tables were told
        if (table := held.get(plan.name)) is not None:
            counts = table.counts + RowCounts(deleted=deleted[plan.name])
            with ctx.target.transaction():
                finish_table(ctx, plan, None, counts, table.started_at)
            ctx.table_done(plan, counts, table.began, rows_read=table.rows_read)


def delete_conflicts(ctx: RunContext) -> Iterator[Notice]:
    """The dry run's prediction: target rows outside the deletes that still point at a row to
    delete. A plain FK would stop the run there (``fails``); a cascading one would change rows
    outside the subset, which undo does not keep (a warning)."""
    doomed = {t.name: t for t in ctx.plan.tables if holds_finish(t) and t.subset is not None and t.subset.deletes}
    for child in ctx.target_tables:
        for fk in child.foreign_keys:
            parent = doomed.get(fk.parent)
            if parent is None or parent.subset is None:
                continue
            own = doomed.get(child.qualified)
            rows = 0
            keys = parent.subset.deletes
            for start in range(0, len(keys), KEYS_PER_DELETE):
                referenced = sql.SQL("SELECT {cols} FROM {p} AS _dbconsole_p WHERE {doomed}").format(
                    cols=sql.SQL(", ").join(sql.Identifier("_dbconsole_p", c) for c in fk.parent_columns),
                    p=q.relation(parent.target), doomed=key_filter(parent.target, keys[start:start + KEYS_PER_DELETE],
                                                                   "_dbconsole_p"))
                spared = (sql.SQL(" AND NOT {}").format(key_filter(child, own.subset.deletes, "_dbconsole_c"))
                          if own is not None and own.subset is not None else sql.SQL(""))
                rows += int(ctx.scalar(ctx.target, sql.SQL(
                    "SELECT count(*) FROM {c} AS _dbconsole_c WHERE ({cols}) IN ({referenced}){spared}").format(
                    c=q.relation(child), cols=sql.SQL(", ").join(sql.Identifier("_dbconsole_c", c) for c in fk.columns),
                    referenced=referenced, spared=spared)))
            ctx.target.rollback()
            if not rows:
                continue
            if fk.cascades:
                yield Notice(str(child.qualified), f"{rows:,} rows of {child.qualified} on {ctx.request.target.name} "
                             f"reference rows the subset's mirror deletes from {fk.parent}; foreign key {fk.name} "
                             "changes them on delete (ON DELETE), outside the subset and without undo",
                             kind="warning")
            else:
                yield Notice(str(child.qualified), f"{rows:,} rows of {child.qualified} on {ctx.request.target.name} "
                             f"still reference rows the subset's mirror deletes from {fk.parent} (foreign key "
                             f"{fk.name}): the sync would stop there; include {child.qualified} in the sync or use "
                             "upsert", kind="warning", fails=True)


def _delete(ctx: RunContext, table: HeldTable, condition: sql.Composable, before: int) -> int:
    """One DELETE, its pre-images kept first and its counts recorded, in the caller's transaction."""
    plan = table.plan
    ctx.start_table(plan)
    ctx.ledger.phase = "delete"
    undo.keep_deleted(ctx, plan, condition)
    rows = ctx.execute(ctx.target, sql.SQL("DELETE FROM {} WHERE {}").format(q.relation(plan.target), condition))
    journal.record(ctx, plan, table.counts + RowCounts(deleted=before + rows))
    return rows


def _conditions(plan: TablePlan) -> Iterator[sql.Composable]:
    """The table's doomed keys as ``key IN (...)`` conditions; a table referencing itself gets one,
    since its FK is checked per statement and a row may point at any other row."""
    assert plan.subset is not None
    keys: Sequence[Key] = plan.subset.deletes
    per = len(keys) if plan.self_referencing else min(plan.batch_size, KEYS_PER_DELETE)
    for start in range(0, len(keys), max(per, 1)):
        yield key_filter(plan.target, keys[start:start + per])


def _walk_edges(ctx: RunContext) -> list[tuple[TableName, TableName]]:
    """(child, parent) pairs the deletes must respect: the walk's edges (declared on the source,
    virtual from the config) and the target's own FKs among the planned tables."""
    source = {t.name: t.source for t in ctx.plan.tables}
    walk: list[Edge] = subset_edges(source, (), within=set(source))
    for relation in (r for spec in ctx.request.subsets for r in spec.relations):
        try:
            walk += subset_edges(source, [relation], within=set())
        except UsageError:
            continue  # a relation of a table this run does not write: no delete of ours to order
    declared = [(t.name, fk.parent) for t in ctx.plan.tables for fk in t.target.foreign_keys]
    return [(e.child, e.parent) for e in walk] + declared


__all__ = ["DeleteGroup", "delete_conflicts", "delete_groups", "finish_subset_mirrors"]
