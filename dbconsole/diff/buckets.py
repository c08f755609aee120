"""The dense step: checksums of fine buckets first, then per-row hashes of the differing buckets.

When changes are spread evenly (one key in a hundred, as a nightly job leaves them), every
first-level range differs and bisection would find every child differing again. Streaming each
row's (key, 64-bit hash) settles a range in one pass, but costs ~40 bytes a row on the wire:
through an 80 Mbit/s link that was most of a 1%-changed re-sync's time. So a range to stream of
more than a few buckets' rows (dense or not: see :meth:`BucketStreamer.wanted`) is first split into fine buckets of ~``bucket_rows`` rows by a hash
of the key (one ``GROUP BY`` statement per range, every range of a batch in one round trip per
side), and only the rows of buckets whose checksums differ are streamed. The bucket is a hash of
the key, not a key range, so no cut points cross the network and both sides agree on it without
a word. At one changed row in a hundred, ~15% of 16-row buckets differ: ~4 bytes a row of bucket
checksums plus ~6 of per-row hashes instead of ~40 (16 minimises that sum at 1%; 8 and 32 are
within 15% of it).

When nearly every bucket differs (most rows changed), the bucket pass only adds to the stream, so
after a batch in which more than ``bucket_giveup_share`` of the buckets differed, the rest of the
table streams directly. The bucket checksums keep 128 bits per row (the two sums), so a bucket
reads "same" only when its rows are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg

from dbconsole.diff.checksum import SideSql
from dbconsole.diff.model import Side
from dbconsole.diff.sides import BothSides, as_checksums, as_hashes, fetch_pipelined
from dbconsole.diff.strategy import Checksum, RangeCompare, Tuning, batches_of
from dbconsole.errors import Cancelled

Hashes = dict[tuple[Any, ...], int]


@dataclass(frozen=True)
class BucketedRange:
    """A dense range, its number of fine buckets, and which of them differ (with their size)."""

    compare: RangeCompare
    buckets: int
    differing: tuple[int, ...]
    differing_rows: int  # rows in the differing buckets, the larger side's count


def bucket_count(rows: int, tuning: Tuning) -> int:
    return max(2, rows // max(1, tuning.bucket_rows))


class BucketStreamer:
    """Settles batches of dense ranges by fine buckets; ``gave_up`` once buckets stop paying."""

    def __init__(self, io: BothSides, sides: Mapping[Side, SideSql], tuning: Tuning, cancel_set: Callable[[], bool],
                 pipeline: int) -> None:
        self.io = io
        self.sides = sides
        self.tuning = tuning
        self.cancel_set = cancel_set
        self.pipeline = pipeline
        self.gave_up = tuning.bucket_rows <= 0
        self.buckets_compared = 0
        self.buckets_differing = 0
        self.ranges_bucketed = 0

    def wanted(self, compare: RangeCompare) -> bool:
        """Any range of more than a few buckets' rows, dense or not: a sparse range of 2,000
        rows with one change costs the servers the same pass either way, but ~140 rows (125
        bucket checksums, one bucket's 16 rows) instead of 2,000 per side cross the network and
        are read by Python (measured 35 ms less for the bench's 10 differing rows locally)."""
        if self.gave_up:
            return False
        return compare.rows > 4 * self.tuning.bucket_rows

    def settle(self, batches: list[list[RangeCompare]], compare_hashes: Callable[[RangeCompare, Hashes, Hashes], None],
               tick: Callable[[], None] = lambda: None) -> list[RangeCompare]:
        """Every batch by buckets, then the rows of its differing buckets, compared by ``compare_hashes``.

        Round trips overlap: the last rows statement of one batch goes out in the same pipeline
        as the next batch's bucket checksums, so each server computes the next checksums while
        the previous rows still cross the link. Returns the ranges left unsettled (a statement
        timed out, or buckets stopped paying): the caller streams those directly, splitting any
        slow one.
        """
        unsettled = [c for batch in batches for c in batch]
        done: set[int] = set()  # id() of settled RangeCompares

        def compare(plan: BucketedRange, left: Hashes, right: Hashes) -> None:
            compare_hashes(plan.compare, left, right)
            done.add(id(plan.compare))

        try:
            plans = self._plans(batches[0], self._round([], batches[0])[1]) if batches else []
            for following in [*batches[1:], None]:
                for plan in plans:
                    if not plan.differing:  # cannot happen for a differing range; then it is settled
                        compare(plan, {}, {})
                chunks = self._row_chunks(plans)
                for chunk in chunks[:-1]:
                    rows, _ = self._round(chunk, [])
                    for plan, (left, right) in zip(chunk, rows):
                        compare(plan, left, right)
                ahead = following if following is not None and not self.gave_up else []
                rows, sums = self._round(chunks[-1] if chunks else [], ahead)
                for plan, (left, right) in zip(chunks[-1] if chunks else [], rows):
                    compare(plan, left, right)
                tick()
                if not ahead:
                    break
                plans = self._plans(ahead, sums)
        except psycopg.errors.QueryCanceled:
            if self.cancel_set():
                raise Cancelled("cancelled") from None
        return [c for c in unsettled if id(c) not in done]

    def _round(self, rows_of: list[BucketedRange], sums_of: list[RangeCompare]
               ) -> tuple[list[tuple[Hashes, Hashes]], dict[Side, list[dict[int, Checksum]]]]:
        """One pipelined round trip per side: the rows of ``rows_of``'s differing buckets, then the
        bucket checksums of ``sums_of``."""
        def work(side: Side, cur: psycopg.Cursor[Any]) -> tuple[list[Hashes], list[dict[int, Checksum]]]:
            view = self.sides[side]
            statements = [view.row_hashes(p.compare.range, (p.buckets, p.differing)) for p in rows_of]
            statements += [view.key_hash_checksums(c.range, bucket_count(c.rows, self.tuning)) for c in sums_of]
            count = len(rows_of)
            results = fetch_pipelined(cur.connection, statements, convert=lambda index, rows: (
                as_hashes(rows) if index < count else as_checksums(rows)))
            return results[:count], results[count:]

        both = self.io.both(work)
        rows = list(zip(both["left"][0], both["right"][0]))
        return rows, {side: both[side][1] for side in ("left", "right")}

    def _plans(self, batch: list[RangeCompare], sums: dict[Side, list[dict[int, Checksum]]]) -> list[BucketedRange]:
        """Which buckets of each range differ; gives up on buckets once most of them do."""
        plans: list[BucketedRange] = []
        self.ranges_bucketed += len(batch)
        for index, compare in enumerate(batch):
            left, right = sums["left"][index], sums["right"][index]
            differing = sorted(b for b in set(left) | set(right) if left.get(b, Checksum()) != right.get(b, Checksum()))
            rows = sum(max(left.get(b, Checksum()).rows, right.get(b, Checksum()).rows) for b in differing)
            count = bucket_count(compare.rows, self.tuning)
            plans.append(BucketedRange(compare, count, tuple(differing), rows))
            self.buckets_compared += count
            self.buckets_differing += len(differing)
        if self.buckets_differing > self.tuning.bucket_giveup_share * self.buckets_compared:
            self.gave_up = True
        return plans

    def _row_chunks(self, plans: list[BucketedRange]) -> list[list[BucketedRange]]:
        """Ranges with differing buckets, grouped to hold at most ``stream_rows`` rows at a time."""
        return batches_of([p for p in plans if p.differing], lambda p: p.differing_rows,
                          max_rows=self.tuning.stream_rows, max_items=self.pipeline)
