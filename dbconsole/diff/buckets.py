"""The dense step: checksums of fine buckets first, then per-row hashes of the differing buckets.

When changes are spread evenly (one key in a hundred, as a nightly job leaves them), every
first-level range differs and bisection would find every child differing again. Streaming each
row's (key, 64-bit hash) settles a range in one pass, but costs ~40 bytes a row on the wire:
through an 80 Mbit/s link that was most of a 1%-changed re-sync's time. So a dense range of
more than ``leaf_rows`` rows is first split into fine buckets of ~``bucket_rows`` rows by a hash
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
from dbconsole.diff.strategy import Checksum, RangeCompare, Tuning
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

    def wanted(self, compare: RangeCompare) -> bool:
        return not self.gave_up and compare.rows > self.tuning.leaf_rows

    def settle(self, batch: list[RangeCompare],
               compare_hashes: Callable[[RangeCompare, Hashes, Hashes], None]) -> list[RangeCompare]:
        """Buckets of every range in ``batch``, then the rows of the differing ones, compared by
        ``compare_hashes``. Returns the ranges left unsettled because a statement timed out: the
        caller streams those its own way (which splits slow ranges)."""
        settled: set[int] = set()
        try:
            plans = self._differing(batch)
            for index, plan in enumerate(plans):
                if not plan.differing:  # cannot happen for a differing range, but then it is settled
                    compare_hashes(plan.compare, {}, {})
                    settled.add(index)
            for chunk in self._row_chunks(plans):
                hashes = self.io.both(lambda side, cur: [as_hashes(rows) for rows in fetch_pipelined(
                    cur.connection, [self.sides[side].row_hashes(plans[i].compare.range,
                                                                 (plans[i].buckets, plans[i].differing))
                                     for i in chunk])])
                for index, left, right in zip(chunk, hashes["left"], hashes["right"]):
                    compare_hashes(plans[index].compare, left, right)
                    settled.add(index)
        except psycopg.errors.QueryCanceled:
            if self.cancel_set():
                raise Cancelled("cancelled") from None
        return [compare for index, compare in enumerate(batch) if index not in settled]

    def _differing(self, batch: list[RangeCompare]) -> list[BucketedRange]:
        counts = [bucket_count(c.rows, self.tuning) for c in batch]
        sums = self.io.both(lambda side, cur: [as_checksums(rows) for rows in fetch_pipelined(
            cur.connection, [self.sides[side].key_hash_checksums(c.range, n) for c, n in zip(batch, counts)])])
        plans: list[BucketedRange] = []
        for index, (compare, count) in enumerate(zip(batch, counts)):
            left, right = sums["left"][index], sums["right"][index]
            differing = sorted(b for b in set(left) | set(right) if left.get(b, Checksum()) != right.get(b, Checksum()))
            rows = sum(max(left.get(b, Checksum()).rows, right.get(b, Checksum()).rows) for b in differing)
            plans.append(BucketedRange(compare, count, tuple(differing), rows))
            self.buckets_compared += count
            self.buckets_differing += len(differing)
        if self.buckets_differing > self.tuning.bucket_giveup_share * self.buckets_compared:
            self.gave_up = True
        return plans

    def _row_chunks(self, plans: list[BucketedRange]) -> list[list[int]]:
        """Indexes of ranges with differing buckets, grouped to hold at most ``stream_rows`` rows."""
        chunks: list[list[int]] = []
        rows = 0
        for index, plan in enumerate(plans):
            if not plan.differing:
                continue
            if chunks and len(chunks[-1]) < self.pipeline and rows + plan.differing_rows <= self.tuning.stream_rows:
                chunks[-1].append(index)
                rows += plan.differing_rows
            else:
                chunks.append([index])
                rows = plan.differing_rows
        return chunks
