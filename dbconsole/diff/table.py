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
from concurrent.futures import FIRST_EXCEPTION, Executor, Future, wait
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from dbconsole.connect import describe_pg_error
from dbconsole.diff.checksum import INTEGER_TYPES, HashKind, SideSql, probe_hash
from dbconsole.diff.columns import TablePair
from dbconsole.diff.events import DiffEvent, DiffProgress
from dbconsole.diff.model import RowDifference, RowKind, Side, TableDiff
from dbconsole.diff.ranges import Bound, KeyRange, even_integer_cuts, first_level_parts, pick_boundaries
from dbconsole.diff.strategy import Checksum, RangeCompare, Step, Tuning, decide, split_step
from dbconsole.errors import Cancelled
from dbconsole.sync.plan import base_type

T = TypeVar("T")
SAMPLE_KEYS_PER_RANGE = 20  # sampled keys per first-level range: enough for even cut points
PAGES_PER_RANGE = 4  # sampled pages per first-level range (size_bytes counts indexes too, hence 4)
PAGE_BYTES = 8192
FETCH_ROWS = 10_000  # rows per fetchmany when streaming per-row hashes
POLL_SECONDS = 0.2  # how often a wait looks at the cancel event
PROGRESS_SECONDS = 0.2  # progress events at most this often
STREAM_BATCH = 64  # ranges streamed in one pipelined round trip at most


class RangeTimeout(Exception):
    """A statement hit the statement timeout and the range could not be split further."""

    def __init__(self, key_range: KeyRange) -> None:
        super().__init__(str(key_range))
        self.range = key_range


def choose_hash(conns: dict[Side, psycopg.Connection[Any]]) -> HashKind:
    """``hashtext`` when both servers hash alike (one probe each), else ``md5`` (same everywhere)."""
    answers = []
    for conn in conns.values():
        try:
            with conn.cursor() as cur:
                cur.execute(probe_hash())
                answers.append(cur.fetchone()[0])  # type: ignore[index]
        except psycopg.Error:
            answers.append(None)  # a server older than PG 11
        finally:
            conn.rollback()
    return "hashtext" if None not in answers and len(set(answers)) == 1 else "md5"


class TableDiffer:
    """Diffs one table; ``run`` returns its :class:`TableDiff` (never raises for the table's own faults)."""

    def __init__(self, pair: TablePair, conns: dict[Side, psycopg.Connection[Any]], pool: Executor, *,
                 source: Side = "right", where: str | None = None, tuning: Tuning = Tuning(),
                 row_limit: int | None = 100, timeout_ms: int = 0,
                 emit: Callable[[DiffEvent], None] | None = None, cancel: threading.Event | None = None,
                 on_difference: Callable[[RowDifference], None] | None = None, hash_kind: HashKind = "hashtext") -> None:
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
        self.sides: dict[Side, SideSql] = {
            side: SideSql(table=pair.table(side).qualified.ident, key=pair.key, columns=pair.side(side),
                          compared=pair.columns, where=where, hash_kind=hash_kind) for side in ("left", "right")}
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
        keys = self._one(self.source, lambda cur: self._fetch_bounds(cur, self.sides[self.source].sample_keys(percent)))
        key_type = self.pair.side(self.source)[self.pair.key[0]].type
        if len(self.pair.key) == 1 and base_type(key_type) in INTEGER_TYPES:
            even = even_integer_cuts(keys, parts)
            if even is not None:
                return even
        return pick_boundaries(keys, parts)

    def _settle(self, first: list[RangeCompare]) -> None:
        """Resolve every differing range depth first, in key order: a bisected range's children
        are settled before its next sibling, so only one path of siblings is held at a time and
        differences are found (and listed) in key order."""
        stack: list[tuple[list[tuple[RangeCompare, Step]], int]] = [(decide(first, self.tuning), 0)]
        while stack:
            self._check_cancel()
            items, index = stack.pop()
            if index >= len(items):
                continue
            compare, step = items[index]
            if step is Step.STREAM:  # neighbours streamed too go in the same round trip
                batch = self._stream_batch(items, index)
                stack.append((items, index + len(batch)))
                self._count_steps(step, len(batch))
                self._stream_many(batch)
            else:
                stack.append((items, index + 1))
                self._count_steps(step, 1)
                if step is Step.SAME:
                    self.rows_settled += compare.rows
                elif step is Step.ONE_SIDED:
                    self._one_sided(compare)
                else:
                    children = self._bisect(compare)
                    if children is None:
                        self._stream(compare)
                    else:
                        stack.append((decide(children, self.tuning), 0))
            self._progress(final=False)
        self._progress(final=True)

    def _count_steps(self, step: Step, count: int) -> None:
        self.result.steps[step.value] = self.result.steps.get(step.value, 0) + count

    def _stream_batch(self, items: list[tuple[RangeCompare, Step]], index: int) -> list[RangeCompare]:
        """Consecutive ranges to stream from ``index`` on, together at most ``stream_rows`` rows."""
        batch = [items[index][0]]
        rows = batch[0].rows
        for compare, step in items[index + 1:index + STREAM_BATCH]:
            if step is not Step.STREAM or rows + compare.rows > self.tuning.stream_rows:
                break
            batch.append(compare)
            rows += compare.rows
        return batch

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
            sums = self._both(lambda side, cur: self._bucket_sums(cur, self.sides[side].bucket_checksums(parent, cuts)))
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
            cuts = self._one(self.source, lambda cur: self._fetch_bounds(cur, statement))
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
            hashes = self._both(lambda side, cur: self._fetch_hashes_pipelined(
                side, [self.sides[side].row_hashes(c.range) for c in batch]))
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
            hashes = self._both(lambda side, cur: self._fetch_hashes(cur, self.sides[side].row_hashes(compare.range)))
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
        wanted = compare.rows if self.on_difference else self._room()
        keys = []
        if wanted:
            keys = self._one(side, lambda cur: self._fetch_keys(cur, self.sides[side].keys_in(compare.range, wanted)))
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

    # -- running statements --------------------------------------------------------------

    def _both(self, work: Callable[[Side, psycopg.Cursor[Any]], T]) -> dict[Side, T]:
        """``work`` on both sides at once; a statement timeout on either side rolls that side back."""
        futures: dict[Side, Future[T]] = {side: self.pool.submit(self._run, side, work) for side in ("left", "right")}
        self._wait(list(futures.values()))
        return {side: future.result() for side, future in futures.items()}

    def _one(self, side: Side, work: Callable[[psycopg.Cursor[Any]], T]) -> T:
        future = self.pool.submit(self._run, side, lambda _side, cur: work(cur))
        self._wait([future])
        return future.result()

    def _run(self, side: Side, work: Callable[[Side, psycopg.Cursor[Any]], T]) -> T:
        conn = self.conns[side]
        try:
            with conn.cursor() as cur:
                return work(side, cur)
        except psycopg.errors.QueryCanceled:
            with contextlib.suppress(psycopg.Error):
                conn.rollback()
            raise

    def _wait(self, futures: list[Future[Any]]) -> None:
        """Wait for statements, cancelling them on the server as soon as ``cancel`` is set."""
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_EXCEPTION)
            if any(f.exception() is not None for f in done):
                wait(pending)  # let the other side finish (or fail) before anyone reuses its connection
                return
            if pending and self.cancel.is_set():
                for conn in self.conns.values():
                    with contextlib.suppress(Exception):
                        conn.cancel_safe(timeout=5)
                wait(pending)
                raise Cancelled("cancelled")

    @staticmethod
    def _bucket_sums(cur: psycopg.Cursor[Any], statement: sql.Composable) -> dict[int, Checksum]:
        cur.execute(statement)
        return {int(b): Checksum(int(n), int(high or 0), int(low or 0)) for b, n, high, low in cur.fetchall()}

    @staticmethod
    def _fetch_bounds(cur: psycopg.Cursor[Any], statement: sql.Composable) -> list[Bound]:
        cur.execute(statement)
        return [tuple(row) for row in cur.fetchall()]

    @staticmethod
    def _fetch_keys(cur: psycopg.Cursor[Any], statement: sql.Composable) -> list[tuple[Any, ...]]:
        cur.execute(statement)
        return [tuple(row) for row in cur.fetchall()]

    def _fetch_hashes_pipelined(self, side: Side, statements: list[sql.Composable]) -> list[dict[tuple[Any, ...], int]]:
        conn = self.conns[side]
        with conn.pipeline():
            cursors = [conn.cursor() for _ in statements]
            for cur, statement in zip(cursors, statements):
                cur.execute(statement)
        results = []
        for cur in cursors:
            results.append({row[:-1]: row[-1] for row in cur.fetchall()})
            cur.close()
        return results

    @staticmethod
    def _fetch_hashes(cur: psycopg.Cursor[Any], statement: sql.Composable) -> dict[tuple[Any, ...], int]:
        cur.execute(statement)
        hashes: dict[tuple[Any, ...], int] = {}
        while rows := cur.fetchmany(FETCH_ROWS):
            for row in rows:
                hashes[row[:-1]] = row[-1]
        return hashes
