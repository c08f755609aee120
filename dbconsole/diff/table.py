"""One table's diff over two open connections: checksum ranges, compare, bisect or stream.

This is the unit the rest of dbconsole drives: the CLI runs it for each table, the console
runs it in a worker for one table with progress messages, and a diff-driven sync asks it for
the differing key ranges (:attr:`TableDiff.differing_ranges`) and keys (``on_difference``).
Both sides run each step at the same time (one thread each), so the wall time of a level is
the slower server's, not the sum.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import psycopg

from dbconsole.connect import describe_pg_error
from dbconsole.diff.buckets import BucketStreamer
from dbconsole.diff.checksum import INTEGER_TYPES, HashKind, SideSql
from dbconsole.diff.columns import TablePair
from dbconsole.diff.events import DiffEvent, DiffProgress
from dbconsole.diff.model import RowDifference, RowKind, Side, TableDiff
from dbconsole.diff.ranges import Bound, KeyRange, even_integer_cuts, first_level_parts, pick_boundaries
from dbconsole.diff.sides import (
    BothSides, as_checksums, as_hashes, bucket_sums, fetch_bounds, fetch_hashes, fetch_keys, fetch_pipelined)
from dbconsole.diff.strategy import (
    Checksum, RangeCompare, Step, Tuning, batches_of, decide, merge_neighbours, split_step)
from dbconsole.errors import Cancelled
from dbconsole.sync.plan import base_type

SAMPLE_KEYS_PER_RANGE = 20  # sampled keys per first-level range: enough for even cut points
PAGES_PER_RANGE = 4  # sampled pages per first-level range (size_bytes counts indexes too, hence 4)
PAGE_BYTES = 8192
PROGRESS_SECONDS = 0.2  # progress events at most this often
PIPELINE = 64  # statements sent in one pipelined round trip at most


class RangeTimeout(Exception):
    """A statement hit the statement timeout and the range could not be split further."""

    def __init__(self, key_range: KeyRange) -> None:
        super().__init__(str(key_range))
        self.range = key_range


class TableDiffer:
    """Diffs one table; ``run`` returns its :class:`TableDiff` (never raises for the table's own faults)."""

    def __init__(self, pair: TablePair, conns: dict[Side, psycopg.Connection[Any]], pool: Executor, *,
                 source: Side = "right", where: str | None = None, tuning: Tuning = Tuning(),
                 row_limit: int | None = 100, timeout_ms: int = 0,
                 emit: Callable[[DiffEvent], None] | None = None, cancel: threading.Event | None = None,
                 on_difference: Callable[[RowDifference], None] | None = None, hash_kind: HashKind = "hashtext",
                 on_one_sided: Callable[[KeyRange, Side, int], None] | None = None) -> None:
        self.pair = pair
        self.conns = conns
        self.pool = pool
        self.source: Side = source
        self.tuning = tuning
        self.row_limit = row_limit
        self.timeout_ms = timeout_ms
        self.emit = emit or (lambda event: None)
        self.cancel = cancel or threading.Event()
        self.on_difference = on_difference
        # A sync copies (or deletes) a range held by one side only as a whole: told the range,
        # the side holding rows and their number, it needs none of the range's keys.
        self.on_one_sided = on_one_sided
        self.io = BothSides(conns, pool, self.cancel)
        self.sides: dict[Side, SideSql] = {
            side: SideSql(table=pair.table(side).qualified.ident, key=pair.key, columns=pair.side(side),
                          compared=pair.columns, where=where, hash_kind=hash_kind) for side in ("left", "right")}
        self.buckets = BucketStreamer(self.io, self.sides, tuning, self.cancel.is_set, PIPELINE)
        if hash_kind != "hashtext":
            self.buckets.gave_up = True  # the fine buckets hash keys with hashtextextended
        self.result = TableDiff(table=str(pair.name), key=pair.key, notes=list(pair.notes))
        self.rows_total = 0
        self.rows_settled = 0
        self._last_progress = 0.0

    # -- the story -----------------------------------------------------------------------

    def run(self) -> TableDiff:
        began = time.monotonic()
        try:
            root = KeyRange()
            first = self._level(root, self._first_cuts())
            left_rows = sum(c.left.rows for c in first)
            self.rows_total = sum(c.rows for c in first)
            self._settle(first)
            result = self.result
            result.rows_compared = left_rows + result.only_right
            if result.differences:
                result.status = "differ"
        except RangeTimeout as exc:
            self._fail(f"statement timeout ({self.timeout_ms / 1000:g} s) on range {exc.range} even after "
                       "splitting it; raise --timeout or diff a --where subset")
        except psycopg.Error as exc:
            if self.cancel.is_set():
                raise Cancelled("cancelled") from None
            if any(conn.broken or conn.closed for conn in self.conns.values()):
                raise
            self._fail(describe_pg_error(exc))
        finally:
            for conn in self.conns.values():
                if not conn.closed and not conn.broken:
                    with contextlib.suppress(psycopg.Error):
                        conn.rollback()
        self.result.seconds = time.monotonic() - began
        return self.result

    def _first_cuts(self) -> list[Bound]:
        """First-level cut points from a page sample of the source's keys (cheap at any size)."""
        table = self.pair.table(self.source)
        estimate = table.estimated_rows
        parts = first_level_parts(estimate, rows_per_range=self.tuning.rows_per_range,
                                  max_ranges=self.tuning.max_ranges)
        if parts < 2 or not estimate:
            return []
        # The sample is of whole pages, so enough *pages* too (PAGES_PER_RANGE per range), or
        # the cut points bunch up inside the few pages picked and the ranges come out lopsided.
        pages = max(1, table.size_bytes // PAGE_BYTES)
        percent = min(100.0, max(100.0 * parts * SAMPLE_KEYS_PER_RANGE / estimate, 100.0 * parts * PAGES_PER_RANGE / pages))
        side = self.sides[self.source]
        key_type = self.pair.side(self.source)[self.pair.key[0]].type
        integer = len(self.pair.key) == 1 and base_type(key_type) in INTEGER_TYPES
        if integer and not side.where:
            # The sample's first and last keys are not the table's: without the true ends the
            # first and last even ranges would hold everything beyond them (measured: 12,700
            # rows instead of 2,000 on the bench's table, re-read to bisect when one differs).
            sample, extremes = self.io.one(self.source, lambda cur: fetch_pipelined(
                cur.connection, [side.sample_keys(percent), side.key_extremes()]))
            low, high = extremes[0] if extremes else (None, None)
            keys = [tuple(row) for row in sample]
            keys = ([(low,)] if low is not None else []) + keys + ([(high,)] if high is not None else [])
        else:
            keys = self.io.one(self.source, lambda cur: fetch_bounds(cur, side.sample_keys(percent)))
        if integer:
            finer = max(1, min(self.tuning.even_split, self.tuning.max_ranges // parts))
            even = even_integer_cuts(keys, parts, finer=finer)
            if even is not None:
                return even
        return pick_boundaries(keys, parts)

    def _settle(self, first: list[RangeCompare]) -> None:
        """Resolve every differing range, one level at a time.

        A level's work goes out in batches, one round trip per side for each kind of step
        (cut points of every range to bisect, then their children's checksums, then the
        per-row hashes of every range to stream), because through a tunnel each round trip
        costs tens of milliseconds and a level may hold dozens of ranges. Only differing
        ranges are carried to the next level, so what is held is bounded by the differences.
        """
        level = decide(first, self.tuning)
        while level:
            self._check_cancel()
            streams: list[RangeCompare] = []
            bisects: list[RangeCompare] = []
            for compare, step in level:
                self._count_steps(step, 1)
                if step is Step.SAME:
                    self.rows_settled += compare.rows
                elif step is Step.ONE_SIDED:
                    self._one_sided(compare)
                elif step is Step.STREAM:
                    streams.append(compare)
                else:
                    bisects.append(compare)
            following: list[tuple[RangeCompare, Step]] = []
            for group in self._bisect_many(bisects, streams):
                following += decide(group, self.tuning)
            self._stream_all(streams)
            level = following
        self._progress(final=True)
        with contextlib.suppress(TypeError):  # keys of types Python cannot order stay in found order
            self.result.rows.sort(key=lambda f: tuple(f.key.values()))

    def _bisect_many(self, bisects: list[RangeCompare], streams: list[RangeCompare]) -> list[list[RangeCompare]]:
        """Children of every range to bisect; a range that cannot be cut joins ``streams``."""
        groups: list[list[RangeCompare]] = []
        for start in range(0, len(bisects), PIPELINE):
            chunk = [c for c in bisects[start:start + PIPELINE] if getattr(c, self.source).rows >= 2]
            streams += [c for c in bisects[start:start + PIPELINE] if getattr(c, self.source).rows < 2]
            if not chunk:
                continue
            source = self.sides[self.source]
            statements = [source.cut_points(c.range, split_step(getattr(c, self.source).rows, self.tuning))
                          for c in chunk]
            try:
                cut_lists = self.io.one(self.source, lambda cur: fetch_pipelined(cur.connection, statements))
                cuts = [[tuple(row) for row in rows] for rows in cut_lists]
                cut = [(c, k) for c, k in zip(chunk, cuts) if k]
                streams += [c for c, k in zip(chunk, cuts) if not k]
                sums = self.io.both(lambda side, cur: fetch_pipelined(
                    cur.connection, [self.sides[side].bucket_checksums(c.range, k) for c, k in cut]))
            except psycopg.errors.QueryCanceled:
                if self.cancel.is_set():
                    raise Cancelled("cancelled") from None
                for compare in chunk:  # one by one, so a slow range is split on its own
                    children = self._bisect(compare)
                    if children is None:
                        streams.append(compare)
                    else:
                        groups.append(children)
                continue
            for index, (compare, k) in enumerate(cut):
                left, right = (as_checksums(sums[side][index]) for side in ("left", "right"))
                groups.append([RangeCompare(child, left.get(i, Checksum()), right.get(i, Checksum()))
                               for i, child in enumerate(compare.range.split(k))])
        return groups

    def _stream_all(self, streams: list[RangeCompare]) -> None:
        """Per-row hashes of every range to stream: big ones by fine buckets first (see
        :mod:`.buckets`) while that pays, small ones (and the rest once it stops) directly."""
        streams = merge_neighbours(streams, self.tuning.rows_per_range)
        bucketed = [c for c in streams if self.buckets.wanted(c)]
        direct = [c for c in streams if not self.buckets.wanted(c)]
        batches = self._stream_batches(bucketed, self.tuning.bucket_batch_rows)
        if batches:
            before = self.buckets.ranges_bucketed
            direct += self.buckets.settle(batches, self._compare_hashes, lambda: self._progress(final=False))
            self._count_steps_named("buckets", self.buckets.ranges_bucketed - before)
        for batch in self._stream_batches(direct, self.tuning.stream_rows):
            self._stream_many(batch)
            self._progress(final=False)

    def _stream_batches(self, streams: list[RangeCompare], max_rows: int) -> list[list[RangeCompare]]:
        """Ranges to stream, grouped so a group holds at most ``max_rows`` rows (memory)."""
        return batches_of(streams, lambda c: c.rows, max_rows=max_rows, max_items=PIPELINE)

    def _count_steps(self, step: Step, count: int) -> None:
        self._count_steps_named(step.value, count)

    def _count_steps_named(self, name: str, count: int) -> None:
        self.result.steps[name] = self.result.steps.get(name, 0) + count

    def _progress(self, *, final: bool) -> None:
        """A progress event at most every PROGRESS_SECONDS (and once at the end)."""
        now = time.monotonic()
        if not final and now - self._last_progress < PROGRESS_SECONDS:
            return
        if final and self._last_progress == float("inf"):
            return
        self._last_progress = float("inf") if final else now
        self.emit(DiffProgress(self.result.table, self.rows_settled, self.rows_total, self.result.differences))

    # -- steps ---------------------------------------------------------------------------

    def _level(self, parent: KeyRange, cuts: list[Bound]) -> list[RangeCompare]:
        """Checksums of ``parent`` cut at ``cuts``, both sides at once; timeouts split the work."""
        children = parent.split(cuts)
        try:
            sums = self.io.both(lambda side, cur: bucket_sums(cur, self.sides[side].bucket_checksums(parent, cuts)))
            return [RangeCompare(child, sums["left"].get(i, Checksum()), sums["right"].get(i, Checksum()))
                    for i, child in enumerate(children)]
        except psycopg.errors.QueryCanceled:
            if self.cancel.is_set() or not cuts:
                raise self._timeout(parent) from None
        # One statement over the whole parent was too slow: one statement per child instead.
        return [self._level(child, [])[0] for child in children]

    def _bisect(self, compare: RangeCompare) -> list[RangeCompare] | None:
        """Children of a differing range, cut every ``rows / fanout`` source keys (None: cannot cut)."""
        source_rows = getattr(compare, self.source).rows
        if source_rows < 2:
            return None
        statement = self.sides[self.source].cut_points(compare.range, split_step(source_rows, self.tuning))
        try:
            cuts = self.io.one(self.source, lambda cur: fetch_bounds(cur, statement))
        except psycopg.errors.QueryCanceled:
            raise self._timeout(compare.range) from None
        if not cuts:
            return None
        return self._level(compare.range, cuts)

    def _stream_many(self, batch: list[RangeCompare]) -> None:
        """Per-row hashes of several ranges in one round trip per side (a psycopg pipeline):
        through a tunnel, one range after the other would cost a round trip each."""
        if len(batch) == 1:
            return self._stream(batch[0])
        try:
            hashes = self.io.both(lambda side, cur: [as_hashes(rows) for rows in fetch_pipelined(
                cur.connection, [self.sides[side].row_hashes(c.range) for c in batch])])
        except psycopg.errors.QueryCanceled:
            if self.cancel.is_set():
                raise Cancelled("cancelled") from None
            for compare in batch:  # one by one, so a slow range can be split on its own
                self._stream(compare)
            return
        for compare, left, right in zip(batch, hashes["left"], hashes["right"]):
            self._compare_hashes(compare, left, right)

    def _stream(self, compare: RangeCompare) -> None:
        """Per-row (key, 64-bit hash) of one range from both sides, compared here."""
        try:
            hashes = self.io.both(lambda side, cur: fetch_hashes(cur, self.sides[side].row_hashes(compare.range)))
        except psycopg.errors.QueryCanceled:
            if self.cancel.is_set():
                raise Cancelled("cancelled") from None
            children = self._bisect(compare) if compare.range.depth < self.tuning.max_depth else None
            if children is None:
                raise self._timeout(compare.range) from None
            for child in children:  # smaller ranges, each streamed (or split again) on its own
                if child.differs:
                    self._stream(child)
                else:
                    self._count_same(child)
            return
        self._compare_hashes(compare, hashes["left"], hashes["right"])

    def _compare_hashes(self, compare: RangeCompare, left: dict[tuple[Any, ...], int],
                        right: dict[tuple[Any, ...], int]) -> None:
        found: list[RowDifference] = []
        self.result.rows_streamed += len(left) + len(right)
        for key, digest in left.items():
            other = right.pop(key, None)
            if other is None:
                found.append(self._difference(key, "only_left"))
            elif other != digest:
                found.append(self._difference(key, "changed"))
        found += [self._difference(key, "only_right") for key in right]
        self._record(compare, found)

    def _one_sided(self, compare: RangeCompare) -> None:
        """A range empty on one side: all of the other side's rows differ; keys only as far as reported."""
        side: Side = "left" if compare.left.rows else "right"
        kind: RowKind = "only_left" if side == "left" else "only_right"
        if self.on_one_sided is not None:
            self.on_one_sided(compare.range, side, compare.rows)
        wanted = compare.rows if self.on_difference and self.on_one_sided is None else self._room()
        keys = []
        if wanted:
            keys = self.io.one(side, lambda cur: fetch_keys(cur, self.sides[side].keys_in(compare.range, wanted)))
        found = [self._difference(key, kind) for key in keys]
        self._record(compare, found, count={kind: compare.rows})

    def _count_same(self, compare: RangeCompare) -> None:
        self.rows_settled += compare.rows

    # -- bookkeeping ---------------------------------------------------------------------

    def _record(self, compare: RangeCompare, found: list[RowDifference], count: dict[str, int] | None = None) -> None:
        result = self.result
        tally = count or {kind: sum(1 for f in found if f.kind == kind) for kind in ("changed", "only_left", "only_right")}
        result.changed += tally.get("changed", 0)
        result.only_left += tally.get("only_left", 0)
        result.only_right += tally.get("only_right", 0)
        if sum(tally.values()):
            result.differing_ranges.append(compare.range)
        with contextlib.suppress(TypeError):  # keys of types Python cannot order stay in server order
            found.sort(key=lambda f: tuple(f.key.values()))
        for difference in found:
            if self.on_difference:
                self.on_difference(difference)
        room = self._room()
        result.rows.extend(found[:room])
        self.rows_settled += compare.rows

    def _room(self) -> int:
        if self.row_limit is None:
            return 2**62
        return max(0, self.row_limit - len(self.result.rows))

    def _difference(self, key: tuple[Any, ...], kind: RowKind) -> RowDifference:
        return RowDifference(dict(zip(self.pair.key, key)), kind)

    def _fail(self, message: str) -> None:
        self.result.status = "error"
        self.result.error = message

    def _timeout(self, key_range: KeyRange) -> Exception:
        if self.cancel.is_set():
            return Cancelled("cancelled")
        for conn in self.conns.values():
            with contextlib.suppress(psycopg.Error):
                conn.rollback()  # the aborted transaction; the next statement opens a fresh snapshot
        return RangeTimeout(key_range)

    def _check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("cancelled")
