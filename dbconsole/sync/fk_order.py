"""Parents before children, and foreign-key cycles spelled out.

A cycle among the selected tables is refused with the cycle spelled out, because batches
commit one by one and no order of batches can satisfy a cycle of immediate constraints. The
one exception is ``replace``, which runs in a single transaction: when every constraint of the
cycle is DEFERRABLE it is deferred to commit and the cycle is allowed. Self-references
(``users.referred_by -> users.id``) are not cycles: such a table is copied in one batch (one
statement), so a row may point at any other row of the same table.

A subset (``--subset``) is upserted batch by batch (a subset's mirror too, before its deletes), so
its refusal says what can be done instead.
Deferring the cycle's constraints would not help an upsert: each batch commits on its own, and a
deferred constraint is checked at that commit, before the other table's rows have been written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from dbconsole.catalog import Table
from dbconsole.errors import SyncError
from dbconsole.names import TableName


SUBSET_CYCLE_ADVICE = ("a subset is synced by upsert, batch by batch, and deferring those constraints would "
                       "not help (each batch's commit checks them before the other table's rows exist): sync "
                       "these tables whole with --mode replace after making those constraints DEFERRABLE, or "
                       "leave the cycle out of the subset (--exclude one of them and its rows with it)")


def fk_order(tables: Mapping[TableName, Table], *, allow_deferred: Iterable[TableName] = (),
             subset: bool = False) -> list[TableName]:
    """Parents before children (Kahn's algorithm; ties broken by name, so the order is stable).

    Only edges between the given tables count; self-references are ignored. A cycle raises a
    SyncError naming every table and constraint in it, unless all its tables are in
    ``allow_deferred`` and all its constraints are DEFERRABLE.
    """
    names = sorted(tables)
    parents = {n: {fk.parent for fk in tables[n].foreign_keys if fk.parent in tables and fk.parent != n}
               for n in names}
    order: list[TableName] = []
    ready = sorted(n for n in names if not parents[n])
    remaining = {n: set(p) for n, p in parents.items()}
    while ready:
        current = ready.pop(0)
        order.append(current)
        for child in names:
            if current in remaining[child]:
                remaining[child].discard(current)
                if not remaining[child] and child not in order and child not in ready:
                    ready.append(child)
                    ready.sort()
    if len(order) == len(names):
        return order
    stuck = [n for n in names if n not in order]
    cycle = _find_cycle(stuck, remaining)
    constraints = [fk for a in cycle for fk in tables[a].foreign_keys if fk.parent in cycle and fk.parent != a]
    deferrable = set(allow_deferred)
    if all(n in deferrable for n in cycle) and all(fk.deferrable for fk in constraints):
        return order + sorted(stuck)
    path = " -> ".join(str(n) for n in cycle + [cycle[0]])
    names_list = ", ".join(fk.name for fk in constraints)
    if subset:
        raise SyncError(f"foreign keys form a cycle: {path} ({names_list}); {SUBSET_CYCLE_ADVICE}",
                        table=str(cycle[0]))
    raise SyncError(f"foreign keys form a cycle: {path} ({names_list}); batches cannot satisfy it. "
                    "Sync these tables with --mode replace after making those constraints DEFERRABLE, "
                    "or sync them separately", table=str(cycle[0]))


def _find_cycle(stuck: list[TableName], edges: Mapping[TableName, set[TableName]]) -> list[TableName]:
    """One cycle among the stuck tables, following child -> parent edges."""
    start = stuck[0]
    path = [start]
    seen = {start: 0}
    current = start
    while True:
        nxt = sorted(p for p in edges[current] if p in stuck)[0]
        if nxt in seen:
            return path[seen[nxt]:]
        seen[nxt] = len(path)
        path.append(nxt)
        current = nxt
