"""A replace that empties its tables and loads the source rows straight in: ``TRUNCATE`` + ``COPY``.

Merging through a stage (copy every source row into a temp table, insert the new ones, update
the changed ones, delete the missing ones) writes each row twice and probes the target's
indexes for every one; measured on 1M rows into an empty table it was 2-3x slower than a plain
COPY. Inside the replace's one transaction, ``TRUNCATE`` gives the table a fresh, empty file
(no dead rows left behind, and PostgreSQL may skip WAL for it), and ``COPY`` fills it once. A
failure or a kill rolls the ``TRUNCATE`` back with everything else, so the old rows come back.

Not every table may be emptied that way; such a table keeps the stage-and-merge path:

* a table another table points at (a foreign key), unless that table is emptied in the same
  ``TRUNCATE``: PostgreSQL refuses it, and the merge keeps the rows the children still need;
* ``preserve_columns``, or target columns the source lacks: their values live only in the
  target's old rows;
* user triggers left on (``--triggers keep``): ``TRUNCATE`` fires no ``DELETE`` triggers and
  the merge fires the row triggers only for rows that change;
* a table this role does not own (``TRUNCATE`` is a privilege of its own).

``TRUNCATE`` takes an ``ACCESS EXCLUSIVE`` lock until the commit: readers of the target wait
(``--mode mirror`` is the mode for a target that applications use while it syncs).

Nor is it always faster. Measured on 1M rows (bench/bench_replace.py): into an empty table the
refill is 1.1x the COPY floor where the merge ran past 150 s (its anti-join planned against a
target the statistics called empty); over a target already holding the same rows, the merge
(nothing written) took 6 s and the refill 33 s (every row rewritten). So a keyed table is
refilled only while it holds less than half the source's rows (:func:`worth_refilling`, on the
catalog's estimates, exact when the target is empty); a keyless table is always emptied, so
``TRUNCATE`` (no dead rows) beats ``DELETE`` there.

The counts stay the merge's (inserted, updated, unchanged, deleted by key): before a non-empty
keyed table is emptied, each old row's key and a hash of its updatable columns are kept in a
temp table, and compared with the loaded rows afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from dbconsole.catalog import Table
from dbconsole.names import TableName
from dbconsole.sync import statements as q
from dbconsole.sync.counts import RowCounts
from dbconsole.sync.plan import TablePlan


@dataclass(frozen=True)
class Emptied:
    """What a refilled table held before its ``TRUNCATE``, enough to count the replace by key."""

    rows: int  # rows it held
    prior: sql.Identifier | None = None  # temp table of (key, row hash) when it held keyed rows


def worth_refilling(plan: TablePlan, target_is_empty: bool) -> bool:
    """Refill a keyed table that holds less than half the source's rows; merge into a fuller one."""
    if plan.key is None or target_is_empty:
        return True
    source, target = plan.source.estimated_rows, plan.target.estimated_rows
    return source is not None and target is not None and target * 2 < source


def refillable(group: list[TablePlan], target_tables: Iterable[Table],
               wanted: Callable[[TablePlan], bool] = lambda plan: True) -> list[TablePlan]:
    """The tables of ``group`` that may be truncated and loaded straight (see the module's list)
    and are ``wanted`` so.

    A table stays out while any table outside the set points at it, so the set is shrunk
    until no such reference is left (a child on the merge path keeps its parent there too).
    """
    chosen = {plan.name: plan for plan in group if _may_refill(plan) and wanted(plan)}
    referencing: dict[TableName, set[TableName]] = {}
    for table in target_tables:
        for fk in table.foreign_keys:
            if fk.parent != table.qualified:
                referencing.setdefault(fk.parent, set()).add(table.qualified)
    changed = True
    while changed:
        changed = False
        for name in list(chosen):
            if referencing.get(name, set()) - set(chosen):
                del chosen[name]
                changed = True
    return [plan for plan in group if plan.name in chosen]


def _may_refill(plan: TablePlan) -> bool:
    target = plan.target
    if plan.preserve or not target.owned:
        return False
    if target.enabled_triggers and not plan.disable_triggers:
        return False
    written = set(plan.columns)
    return all(c.name in written or c.generated for c in target.columns)


def empty(conn: psycopg.Connection[Any], plans: list[TablePlan], prior_names: Iterable[str]) -> dict[str, Emptied]:
    """Remember what each table holds (for the counts), then ``TRUNCATE`` them all in one statement.

    One statement, because PostgreSQL truncates a table that others point at only together
    with them. This is the point where the old rows go: anything that must keep them (a copy
    of the pre-images) runs before this call.
    """
    names = iter(prior_names)
    emptied: dict[str, Emptied] = {}
    with conn.cursor() as cur:
        for plan in plans:
            if plan.key is None:
                cur.execute(q.count_target(plan))
                emptied[str(plan.name)] = Emptied(rows=int(cur.fetchone()[0]))  # type: ignore[index]
                continue
            cur.execute(q.target_is_empty(plan))
            if cur.fetchone()[0]:  # type: ignore[index]
                emptied[str(plan.name)] = Emptied(rows=0)
                continue
            prior = sql.Identifier(next(names))
            cur.execute(_keep_prior(plan, prior))
            emptied[str(plan.name)] = Emptied(rows=max(cur.rowcount, 0), prior=prior)
        if plans:
            cur.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(q.relation(p.target) for p in plans)))
    return emptied


def counts_after_load(conn: psycopg.Connection[Any], plan: TablePlan, emptied: Emptied, loaded: int) -> RowCounts:
    """The replace's counts by key, as the merge would have counted them: old rows against new."""
    if emptied.prior is None:
        return RowCounts(inserted=loaded, deleted=emptied.rows)
    with conn.cursor() as cur:
        cur.execute(_compare_prior(plan, emptied.prior))
        kept, updated = cur.fetchone()  # type: ignore[misc]
    kept, updated = int(kept), int(updated)
    return RowCounts(inserted=loaded - kept, updated=updated, unchanged=kept - updated, deleted=emptied.rows - kept)


_ROW_HASH = "_dbconsole_row"


def _row_hash(plan: TablePlan, alias: str) -> sql.Composable:
    """A hash of the columns an update would set: equal hashes, unchanged row."""
    columns = plan.updatable
    if not columns:
        return sql.SQL("''")
    return sql.SQL("md5(ROW({})::text)").format(sql.SQL(", ").join(sql.Identifier(alias, c) for c in columns))


def _keep_prior(plan: TablePlan, prior: sql.Identifier) -> sql.Composable:
    assert plan.key is not None
    return sql.SQL("CREATE TEMP TABLE {prior} ON COMMIT DROP AS SELECT {keys}, {hash} AS {h} FROM {target} t").format(
        prior=prior, keys=sql.SQL(", ").join(sql.Identifier("t", k) for k in plan.key),
        hash=_row_hash(plan, "t"), h=sql.Identifier(_ROW_HASH), target=q.relation(plan.target))


def _compare_prior(plan: TablePlan, prior: sql.Identifier) -> sql.Composable:
    """(old rows still there, of which changed): one join of the old keys to the loaded table."""
    assert plan.key is not None
    match = sql.SQL(" AND ").join(sql.SQL("{} = {}").format(sql.Identifier("t", k), sql.Identifier("p", k))
                                  for k in plan.key)
    return sql.SQL("SELECT count(*), count(*) FILTER (WHERE {old} IS DISTINCT FROM {new}) "
                   "FROM {prior} p JOIN {target} t ON {match}").format(
        old=sql.Identifier("p", _ROW_HASH), new=_row_hash(plan, "t"), prior=prior,
        target=q.relation(plan.target), match=match)
