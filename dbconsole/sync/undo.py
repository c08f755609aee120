"""Undo's pre-images, kept at each write point inside the batch's own transaction.

One call per write point: :func:`apply_batch` / :func:`apply_stage` (upsert, incremental, xmin,
the diff strategy), :func:`keep_deleted` (mirror's deletes), :func:`keep_old_tables` (replace,
once at the start of its transaction). Each does nothing when the run keeps no pre-images
(``[sync] undo_keep_runs = 0``, or a dry run). The stores are described in :mod:`.undo_sql`;
putting them back is :mod:`dbconsole.history.undo`.

Every function takes a :class:`WriteSession`, only what keeping pre-images needs: the target
session the batch is written on, the run's journal, a heartbeat. The PostgreSQL engine passes
its :class:`~.context.RunContext`; the SQLite writer (:mod:`dbconsole.sqlite.sync`), which has
none, passes a :class:`BareSession`. So both keep the same pre-images with the same statements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import psycopg
from psycopg import sql

from dbconsole.sync import copying, undo_sql
from dbconsole.sync.column_types import base_type

_INTEGER_TYPES = {"smallint", "integer", "bigint"}

if TYPE_CHECKING:
    from dbconsole.sync.journal import RunJournal, TableEntry
    from dbconsole.sync.plan import TablePlan


class WriteSession(Protocol):
    """What a write point hands to undo: satisfied by a RunContext and by a :class:`BareSession`."""

    @property
    def target(self) -> psycopg.Connection[Any]: ...

    @property
    def journal(self) -> RunJournal | None: ...

    def beat(self) -> None:
        """Tell the run's watchdog (if any) that the target answered."""


@dataclass(frozen=True)
class BareSession:
    """A :class:`WriteSession` for a writer without a RunContext: no watchdog to beat."""

    target: psycopg.Connection[Any]
    journal: RunJournal | None

    def beat(self) -> None:
        """Nothing to tell: such a writer runs no watchdog (a failure is not retried, it resumes)."""


def _store(ctx: WriteSession, plan: TablePlan) -> tuple[RunJournal, TableEntry] | None:
    journal = ctx.journal
    if journal is None or not journal.keeping:
        return None
    entry = journal.entry(plan)
    return (journal, entry) if entry.store is not None else None


def apply_stage(ctx: WriteSession, plan: TablePlan, stage: sql.Identifier) -> tuple[int, int]:
    """The staged rows applied as an upsert, keeping what undo needs: (inserted, updated).

    Without an undo store this is :func:`~.copying.apply_stage`. With one, the target is probed
    once per staged row (not twice: "is it new?", then "does it differ?") and what that finds
    is held in a small per-batch temp table (:class:`~.undo_sql.Delta`): the inserts and the
    updates are then written from it (the updates probe only the changed rows) and it is
    appended to the run's store. Measured per batch (``bench/bench_undo_statements.py``: 50,000
    staged rows, 10% changed, a 1M-row table): 0.73x the time of the plain apply, where a
    separate pre-select before it cost 1.65x and ``RETURNING`` old rows 1.47x.
    """
    if (found := _store(ctx, plan)) is None or plan.key is None:
        return copying.apply_stage_on(ctx.target, plan, stage)
    journal, entry = found
    key = tuple(plan.key)
    delta = undo_sql.Delta(sql.Identifier(f"dbconsole_undo_delta_{entry.position}"), key,
                           tuple(c for c in entry.columns if c not in key), tuple(c for c in plan.columns if c not in key))
    with ctx.target.cursor() as cur, copying.probe_by_key(cur):
        session = (id(ctx.target), ctx.target.info.backend_pid, entry.position)
        if session not in journal.deltas:
            cur.execute(delta.create(plan.target))
            journal.deltas.add(session)
        cur.execute(delta.find(plan.target, plan.updatable, stage))
        cur.execute(delta.insert(plan.target, plan.columns, plan.overriding_system_value))
        inserted = max(cur.rowcount, 0)
        updated = 0
        if (update := delta.update(plan.target, plan.updatable)) is not None:
            cur.execute(update)
            updated = max(cur.rowcount, 0)
        cur.execute(delta.keep(entry.store))  # type: ignore[arg-type]
    ctx.beat()
    return inserted, updated


def apply_batch(ctx: WriteSession, plan: TablePlan, stage: sql.Identifier | None, rows: int,
                lower: list[str] | None, upper: list[str] | None) -> tuple[int, int]:
    """A batched table's batch, applied: through its stage (:func:`apply_stage`), or, when it was
    copied straight into the empty target, all ``rows`` inserted (their keys kept for undo)."""
    if stage is not None:
        return apply_stage(ctx, plan, stage)
    keep_inserted_range(ctx, plan, lower, upper)
    return rows, 0


def keep_inserted_range(ctx: WriteSession, plan: TablePlan, lower: list[str] | None, upper: list[str] | None) -> None:
    """After a batch went straight into the (empty) target table: the keys it inserted."""
    if (found := _store(ctx, plan)) is None or plan.key is None:
        return
    journal, entry = found
    journal.keep(ctx, undo_sql.keep_inserted_range(entry.store, plan.target, plan.key, lower, upper))  # type: ignore[arg-type]


def keep_inserted_keys(ctx: WriteSession, plan: TablePlan, keys: Sequence[Sequence[Any]],
                       after: list[str] | None) -> None:
    """After a batch of Python values went straight into the (empty) target, in another
    database's key order (the SQLite writer), after key ``after``: the keys it put there.

    Integer keys sort alike everywhere, so the batch is its key range, read back server side
    (:func:`keep_inserted_range`). Other keys need not (SQLite's BINARY text order is not the
    target's collation): the keys themselves are sent again, by COPY.
    """
    if (found := _store(ctx, plan)) is None or plan.key is None or not keys:
        return
    if all(base_type(plan.target.column(k).type) in _INTEGER_TYPES for k in plan.key):  # type: ignore[union-attr]
        keep_inserted_range(ctx, plan, after, [str(v) for v in keys[-1]])
        return
    _, entry = found
    with ctx.target.cursor() as cur, cur.copy(undo_sql.copy_keys(entry.store, plan.key)) as copy:  # type: ignore[arg-type]
        for key in keys:
            copy.write_row(("i", *key))
    ctx.beat()


def keep_deleted(ctx: WriteSession, plan: TablePlan, condition: sql.Composable) -> None:
    """Before a mirror deletes the rows matching ``condition``: those rows."""
    if (found := _store(ctx, plan)) is None:
        return
    journal, entry = found
    journal.keep(ctx, undo_sql.keep_rows(entry.store, plan.target, entry.columns, "d", condition))  # type: ignore[arg-type]


def keep_old_tables(ctx: WriteSession, group: list[TablePlan]) -> None:
    """At the start of replace's transaction: the whole old table of each table of the group."""
    for plan in group:
        if (found := _store(ctx, plan)) is not None:
            journal, entry = found
            journal.keep(ctx, undo_sql.keep_rows(entry.store, plan.target, entry.columns, "o"))  # type: ignore[arg-type]

