"""One keyed table synced from its diff: only the rows whose checksums differ cross the network.

``--strategy diff`` (and ``auto`` when the target already holds most of the source's rows)
first runs the content diff (:class:`~dbconsole.diff.TableDiffer`) between the source, in the
sync's own snapshot (a second session that imports it, so the diff and the copy read the same
rows), and the target. Then only what differs is copied through the usual batch path: the
changed and new keys in batches (COPY of those rows into the stage, applied as an upsert), and
ranges the target lacks entirely as whole ranges. Equal ranges are skipped.

``mirror`` also deletes the target's rows the source lacks. Those deletes wait until every
table's upserts are in and then run children-first (:func:`finish_mirrors`), as ``replace``
does, so a parent's target-only row goes after its target-only children.

Every batch commits on its own. A run killed at any instant simply diffs again on the next
run: what was committed now compares equal and is skipped, so the re-run ends exact without
a checkpoint of its own (a stale checkpoint of an earlier copy run is dropped at the end).
Why no checkpoint: a recorded "range done" would be wrong as soon as the source changed
between the runs (the re-run reads a new snapshot), while the re-diff costs the checksums
only -- about what an unchanged re-sync costs (0.3x a copy through a slow link) -- and reads
only the rows still differing, so the work a killed run committed is never read again
(``tests/test_sync_strategy.py`` kills runs at random points and checks both).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from psycopg import sql

from dbconsole.diff.checksum import SideSql
from dbconsole.diff.columns import NoKey, Refused, TablePair, pair_table
from dbconsole.diff.model import RowDifference, Side
from dbconsole.diff.ranges import KeyRange
from dbconsole.diff.sides import choose_hash
from dbconsole.diff.table import TableDiffer
from dbconsole.errors import SyncError
from dbconsole.modes import Strategy
from dbconsole.sync import journal, state, triggers, undo
from dbconsole.sync import statements as q
from dbconsole.sync.context import RunContext
from dbconsole.sync.copying import copy_batch
from dbconsole.sync.counts import RowCounts
from dbconsole.sync.events import Notice, TableStart
from dbconsole.sync.plan import TablePlan
from dbconsole.sync.table_run import finish_table

TARGET: Side = "left"
SOURCE: Side = "right"
KEYS_PER_BATCH = 5_000  # keys named in one COPY's condition
# auto diffs when the target holds at least this share of the source's rows. Measured on the demo
# (1M rows, a composite text key, local loopback): unchanged, diff 1.8 s vs copy 6.3 s; 21% of the
# rows differing (target at 81% of the source), diff 19 s vs copy 7.4 s, since rows that differ are
# read by key lists at ~12k rows/s where a copy streams ~140k rows/s. A few percent of differing
# rows is where the diff stops paying on a fast link, hence 0.9 (on a slow link it pays far longer).
AUTO_SHARE = 0.9


# --------------------------------------------------------------------------- choosing


def choose_strategy(plan: TablePlan, requested: Strategy, *, target_empty: bool,
                    resuming: bool) -> tuple[Strategy, str | None]:
    """``diff`` or ``copy`` for this table, and a line to tell when a request is not followed.

    Only upsert and mirror (without a subset) read by diff: replace rewrites in one transaction, incremental and
    xmin already read only changed rows. A filtered or keyless table is copied (the diff would
    compare the filter on both sides). ``auto``: an interrupted copy resumes; an empty target is copied; otherwise
    diff when the target's estimate is at least 90% of the source's (see AUTO_SHARE).
    """
    if plan.mode == "mirror" and plan.subset is None:
        return "diff", None  # mirror writes only differing rows: it always reads by diff
    if plan.mode == "mirror":  # a subset's mirror reads the subset's keys; its deletes are .subset_deletes'
        return "copy", ("read by the subset's keys: a --subset chooses its rows" if requested == "diff" else None)
    if requested == "copy" or plan.mode != "upsert":
        if requested == "diff":
            return "copy", f"--strategy diff applies to upsert and mirror; {plan.mode} reads its rows as usual"
        return "copy", None
    obstacle = ("it has no key" if plan.key is None else "a --where filter applies" if plan.where
                else "a --subset chooses its rows" if plan.subset is not None else None)
    if obstacle:
        return "copy", (f"copied in full: {obstacle}" if requested == "diff" else None)
    if requested == "diff":
        return "diff", None
    if resuming or target_empty:
        return "copy", None
    source_rows, target_rows = plan.source.estimated_rows, plan.target.estimated_rows
    if not source_rows or target_rows is None:
        return "diff", None  # estimates unknown, target not empty: checksums cost less than a full read
    return ("diff" if target_rows >= AUTO_SHARE * source_rows else "copy"), None


# --------------------------------------------------------------------------- what differs


@dataclass
class Differences:
    """What a table's diff found, as the sync needs it: keys and whole ranges, by side."""

    pair: TablePair
    copy_keys: list[tuple[Any, ...]] = field(default_factory=list)  # changed or only on the source
    delete_keys: list[tuple[Any, ...]] = field(default_factory=list)  # only on the target
    copy_ranges: list[tuple[KeyRange, int]] = field(default_factory=list)  # ranges only the source has rows in
    delete_ranges: list[tuple[KeyRange, int]] = field(default_factory=list)  # ranges only the target has rows in
    source_rows: int = 0
    ranges_skipped: int = 0

    def note(self, difference: RowDifference) -> None:
        key = tuple(difference.key[name] for name in self.pair.key)
        (self.delete_keys if difference.kind == "only_left" else self.copy_keys).append(key)

    def note_range(self, key_range: KeyRange, side: Side, rows: int) -> None:
        (self.copy_ranges if side == SOURCE else self.delete_ranges).append((key_range, rows))

    @property
    def deletes(self) -> int:
        return len(self.delete_keys) + sum(rows for _, rows in self.delete_ranges)


def compared_pair(ctx: RunContext, plan: TablePlan) -> TablePair:
    """The diff's view of the table: only the columns this sync writes (key and updatable ones),
    so a preserved or target-generated column never makes rows look different forever."""
    written = set(plan.key or ()) | set(plan.updatable)

    def only_written(table: Any) -> Any:
        return replace(table, columns=tuple(c for c in table.columns if c.name in written))

    return pair_table(only_written(plan.target), only_written(plan.source), left_name=ctx.request.target.name,
                      right_name=ctx.request.source.name, masks=plan.masks, masked_side=SOURCE)


def find_differences(ctx: RunContext, plan: TablePlan, pair: TablePair) -> Differences:
    """Run the diff: the source side in the sync's snapshot, the target side on the sync's session."""
    found = Differences(pair)
    ctx.target.rollback()
    if ctx.ledger.hash_kind is None:  # probed once per run; the probe ends its transactions
        ctx.ledger.hash_kind = choose_hash({TARGET: ctx.target, SOURCE: ctx.diff_source()})
    conns = {TARGET: ctx.target, SOURCE: ctx.diff_source()}

    def beat(_event: Any) -> None:  # the diff's progress is the run's sign of life
        ctx.watchdog.beat()

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="dbconsole-sync-diff") as pool:
        # No statement timeout: a timed-out range would be retried in a fresh snapshot, not the sync's.
        result = TableDiffer(pair, conns, pool, source=SOURCE, row_limit=0, timeout_ms=0, emit=beat,
                             cancel=ctx.cancel, on_difference=found.note, on_one_sided=found.note_range,
                             hash_kind=ctx.ledger.hash_kind).run()
    if result.status == "error":
        raise SyncError(f"{plan.name}: the diff failed: {result.error}", table=str(plan.name))
    ctx.check_cancel()
    found.source_rows = result.rows_compared - result.only_left
    found.ranges_skipped = result.steps.get("same", 0)
    return found


# --------------------------------------------------------------------------- the run


@dataclass
class PendingMirror:
    """A mirror table whose upserts are in and whose deletes wait for the children-first pass."""

    plan: TablePlan
    found: Differences
    counts: RowCounts
    rows_read: int
    began: float
    started_at: datetime


def diff_table(ctx: RunContext, plan: TablePlan) -> None:
    """Copy only what differs; a mirror table's deletes are queued for :func:`finish_mirrors`."""
    began = time.monotonic()
    started_at = datetime.now(timezone.utc)
    ctx.emit(TableStart(str(plan.name), plan.mode, plan.source.estimated_rows))
    found = find_differences(ctx, plan, compared_pair(ctx, plan))
    source_side = side_sql(found.pair, SOURCE)
    row_filter = q.user_filter(plan.where) if plan.where else None
    stage = ctx.create_stage(plan) if found.copy_keys or found.copy_ranges else None
    counts, rows_read = RowCounts(), 0
    for condition in copy_conditions(found, source_side, plan):
        ctx.check_cancel()
        with ctx.target.transaction():
            triggers.disable(ctx.target, plan.disable_triggers)
            assert stage is not None
            rows = copy_batch(ctx, plan, q.combine(row_filter, condition), None, None, stage)
            inserted, updated = undo.apply_stage(ctx, plan, stage)  # keeps undo's pre-images
            journal.record(ctx, plan, counts + RowCounts.of_batch(rows, inserted, updated), strategy="diff")
            triggers.restore(ctx.target, plan.restore_triggers)
        rows_read += rows
        counts += RowCounts.of_batch(rows, inserted, updated)
        ctx.progress(plan, rows_read, rows_read, began)
    if stage is not None:
        ctx.drop_stage(stage)
    # Rows in skipped ranges and rows the diff found equal are unchanged source rows.
    counts += RowCounts(unchanged=max(found.source_rows - counts.total, 0))
    if plan.mode == "mirror":
        ctx.ledger.pending_mirrors.append(PendingMirror(plan, found, counts, rows_read, began, started_at))
        return
    with ctx.target.transaction():
        finish_table(ctx, plan, None, counts, started_at, strategy="diff")
    ctx.table_done(plan, counts, began, rows_read=rows_read, ranges_skipped=found.ranges_skipped, strategy="diff")


def finish_mirrors(ctx: RunContext) -> None:
    """Every mirror table's deletes, children first, each batch committed; then its table_done."""
    pending, ctx.ledger.pending_mirrors = ctx.ledger.pending_mirrors, []
    for mirror in reversed(pending):
        plan, found = mirror.plan, mirror.found
        ctx.start_table(plan)
        ctx.ledger.phase = "delete"
        target_side = side_sql(found.pair, TARGET)
        deleted = 0
        for condition in _delete_conditions(found, target_side, plan):
            ctx.check_cancel()
            with ctx.target.transaction():
                triggers.disable(ctx.target, plan.disable_triggers)
                undo.keep_deleted(ctx, plan, condition)  # pre-images, before the delete
                deleted += ctx.execute(ctx.target, sql.SQL("DELETE FROM {} WHERE {}").format(
                    q.relation(plan.target), condition))
                journal.record(ctx, plan, mirror.counts + RowCounts(deleted=deleted), strategy="diff")
                triggers.restore(ctx.target, plan.restore_triggers)
        counts = mirror.counts + RowCounts(deleted=deleted)
        with ctx.target.transaction():
            finish_table(ctx, plan, None, counts, mirror.started_at, strategy="diff")
        ctx.ledger.phase = "insert"
        ctx.table_done(plan, counts, mirror.began, rows_read=mirror.rows_read,
                       ranges_skipped=found.ranges_skipped, strategy="diff")


def strategy_for(ctx: RunContext, plan: TablePlan) -> Strategy:
    """This table's strategy for this run (told in a notice when the request is not followed)."""
    requested = ctx.request.effective_strategy
    if plan.mode not in ("upsert", "mirror") or (requested == "copy" and plan.mode != "mirror"):
        return choose_strategy(plan, requested, target_empty=False, resuming=False)[0]
    target_empty = bool(ctx.scalar(ctx.target, q.target_is_empty(plan)))
    point = state.load_checkpoint(ctx.target, plan.name, ctx.source_id) if ctx.state_ready else None
    ctx.target.rollback()
    resuming = point is not None and point.fingerprint == plan.fingerprint()
    chosen, message = choose_strategy(plan, requested, target_empty=target_empty, resuming=resuming)
    if chosen == "diff":
        try:
            compared_pair(ctx, plan)
        except (NoKey, Refused) as exc:
            if plan.mode == "mirror":
                        raise SyncError(f"{plan.name}: mirror needs the diff, which refuses this table: {exc}",
                                table=str(plan.name)) from None
            chosen, message = "copy", f"copied in full: the diff cannot compare it ({exc})"
    if message:
        ctx.emit(Notice(str(plan.name), message))
    return chosen


# --------------------------------------------------------------------------- conditions


def side_sql(pair: TablePair, side: Side) -> SideSql:
    return SideSql(table=pair.table(side).qualified.ident, key=pair.key, columns=pair.side(side),
                   compared=pair.columns)


def copy_conditions(found: Differences, side: SideSql, plan: TablePlan) -> Iterator[sql.Composable]:
    yield from _one_batch_if_self_referencing(plan, [
        *_range_conditions(found.copy_ranges, side, plan.batch_size),
        *_key_conditions(found.copy_keys, side, min(plan.batch_size, KEYS_PER_BATCH))])


def _delete_conditions(found: Differences, side: SideSql, plan: TablePlan) -> Iterator[sql.Composable]:
    yield from _one_batch_if_self_referencing(plan, [
        *_range_conditions(found.delete_ranges, side, plan.batch_size),
        *_key_conditions(found.delete_keys, side, min(plan.batch_size, KEYS_PER_BATCH))])


def _one_batch_if_self_referencing(plan: TablePlan, conditions: list[sql.Composable]) -> list[sql.Composable]:
    """A table that references itself gets one statement for all its rows, as the copy gives it:
    a row may point at any other row of the table, and a foreign key is checked per statement."""
    if not plan.self_referencing or len(conditions) < 2:
        return conditions
    return [sql.SQL("({})").format(sql.SQL(") OR (").join(conditions))]


def _range_conditions(ranges: Sequence[tuple[KeyRange, int]], side: SideSql,
                      batch_rows: int) -> Iterator[sql.Composable]:
    """Whole ranges, adjacent ones merged while the merged range holds at most ``batch_rows`` rows."""
    merged: KeyRange | None = None
    rows = 0
    for key_range, count in sorted(ranges, key=lambda r: (r[0].lower is not None, r[0].lower or ())):
        if merged is not None and merged.upper == key_range.lower and merged.upper is not None \
                and rows + count <= batch_rows:
            merged, rows = KeyRange(merged.lower, key_range.upper), rows + count
            continue
        if merged is not None:
            yield side.conditions(merged)
        merged, rows = key_range, count
    if merged is not None:
        yield side.conditions(merged)


def _key_conditions(keys: list[tuple[Any, ...]], side: SideSql, per_batch: int) -> Iterator[sql.Composable]:
    """``key IN (...)`` over the key, ``per_batch`` keys at a time, compared in the column's own
    collation so the key's index serves it: a key is unique under that collation, and equality
    under a deterministic one is byte equality, so this names exactly the rows the diff found.
    (Range bounds, by contrast, keep the "C" order the ranges were cut in.)"""
    items = [side.columns[name] for name in side.key]
    for start in range(0, len(keys), per_batch):
        chunk = keys[start:start + per_batch]
        if len(items) == 1:
            item = items[0]
            yield sql.SQL("{} = ANY({}::{}[])").format(
                item.expression, sql.Literal([key[0] for key in chunk]), sql.SQL(item.type))
            continue
        rows = sql.SQL(", ").join(
            sql.SQL("({})").format(sql.SQL(", ").join(
                sql.SQL("{}::{}").format(sql.Literal(value), sql.SQL(c.type)) for c, value in zip(items, key)))
            for key in chunk)
        yield sql.SQL("({}) IN (VALUES {})").format(sql.SQL(", ").join(c.expression for c in items), rows)


__all__ = ["AUTO_SHARE", "Differences", "NoKey", "copy_conditions", "side_sql", "PendingMirror", "Refused", "choose_strategy", "diff_table",
           "finish_mirrors", "strategy_for"]
